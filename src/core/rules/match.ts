import type { Clause, Rule } from './ast.js';

/** Case-sensitive comparison of one clause with a thing name (docs/greengrass-behaviour.md, section 3.3). */
export function clauseMatches(clause: Clause, thingName: string): boolean {
  switch (clause.mode) {
    case 'any':
      return true;
    case 'exact':
      return thingName === clause.value;
    case 'prefix':
      return thingName.startsWith(clause.value);
    case 'suffix':
      return thingName.endsWith(clause.value);
    case 'contains':
      return thingName.includes(clause.value);
  }
}

export function ruleMatches(rule: Rule, thingName: string): boolean {
  return rule.terms.some((term) => term.every((c) => clauseMatches(c, thingName)));
}

/**
 * Finds the rules that select a thing without evaluating every rule.
 *
 * Each AND-term is filed under one of its clauses (the most selective one: exact, then
 * prefix, suffix, contains, any). A thing name can only satisfy a term if it satisfies
 * that clause, so looking up the name, its prefixes and its suffixes yields every
 * candidate term; the candidates are then checked in full. This keeps per-thing work
 * proportional to the name length plus the groups that actually match, even with tens
 * of thousands of groups.
 */
export class RuleIndex<T> {
  private readonly exact = new Map<string, Entry<T>[]>();
  private readonly prefix = new Map<string, Entry<T>[]>();
  private readonly suffix = new Map<string, Entry<T>[]>();
  private readonly scan: Entry<T>[] = [];
  private maxPrefix = 0;
  private maxSuffix = 0;
  private size = 0;

  add(rule: Rule, value: T): void {
    const id = this.size++;
    for (const term of rule.terms) {
      const key = pickKeyClause(term);
      const entry: Entry<T> = { id, term, value };
      switch (key.mode) {
        case 'exact':
          push(this.exact, key.value, entry);
          break;
        case 'prefix':
          push(this.prefix, key.value, entry);
          this.maxPrefix = Math.max(this.maxPrefix, key.value.length);
          break;
        case 'suffix':
          push(this.suffix, key.value, entry);
          this.maxSuffix = Math.max(this.maxSuffix, key.value.length);
          break;
        default:
          this.scan.push(entry);
      }
    }
  }

  /** Values of every rule that selects `thingName`, in the order they were added. */
  select(thingName: string): T[] {
    const hits = new Map<number, T>();
    const consider = (list: Entry<T>[] | undefined): void => {
      if (!list) return;
      for (const e of list) {
        if (!hits.has(e.id) && e.term.every((c) => clauseMatches(c, thingName))) hits.set(e.id, e.value);
      }
    };
    consider(this.exact.get(thingName));
    const n = thingName.length;
    for (let len = Math.min(n, this.maxPrefix); len >= 0; len--) consider(this.prefix.get(thingName.slice(0, len)));
    for (let len = Math.min(n, this.maxSuffix); len >= 0; len--) consider(this.suffix.get(thingName.slice(n - len)));
    consider(this.scan);
    return [...hits.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
}

interface Entry<T> {
  readonly id: number;
  readonly term: readonly Clause[];
  readonly value: T;
}

const SELECTIVITY = { exact: 0, prefix: 1, suffix: 2, contains: 3, any: 4 } as const;

function pickKeyClause(term: readonly Clause[]): Clause {
  let best = term[0]!;
  for (const c of term) {
    if (SELECTIVITY[c.mode] < SELECTIVITY[best.mode] || (c.mode === best.mode && c.value.length > best.value.length)) best = c;
  }
  return best;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
