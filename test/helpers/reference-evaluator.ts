/**
 * The reference evaluator: a deliberately naive authorization decision, written from the
 * documented behaviour without regular expressions or any code of src/core. The property
 * test (test/core/property.test.ts) checks the engine against it on random
 * configurations, and the decision benchmark (bench/decide.ts, through
 * bench/workload.ts) checks its inputs and the engine's answers against it.
 *
 * What it implements:
 * - operations `mqtt:connect`, `mqtt:publish`, `mqtt:subscribe` with the resource types
 *   `mqtt:clientId:`, `mqtt:topic:`, `mqtt:topicfilter:`; any other operation is
 *   UNKNOWN_OPERATION, a resource of another operation's type RESOURCE_TYPE_MISMATCH, a
 *   missing or empty name MALFORMED_RESOURCE;
 * - resource names of printable ASCII and letters (`é` stands for them); TAB, DEL and
 *   emoji are MALFORMED_RESOURCE (the only other characters the generators make);
 * - a thing is governed by every group that selects it (an empty thing name by none);
 * - a statement applies when one of its operations is the request's, `*` or `mqtt:*`;
 * - `*` in a resource matches any run of characters, every other character itself;
 *   variables are replaced by their value as literal text; a missing attribute drops an
 *   ALLOW resource and widens a DENY resource to `*`;
 * - a matching DENY wins over every ALLOW; no matching ALLOW is NO_MATCHING_STATEMENT,
 *   or NO_GROUP_SELECTS_THING when no group selects the thing.
 */

/** A resource pattern: literal characters, `*`, and variables. */
export type ResourceToken =
  | { readonly kind: 'char'; readonly c: string }
  | { readonly kind: 'star' }
  | { readonly kind: 'thing' }
  | { readonly kind: 'client' }
  | { readonly kind: 'attr'; readonly name: string };

export interface ReferenceStatement {
  /** `DENY` in any letter case denies; anything else (or nothing) allows. */
  readonly effect: string | undefined;
  readonly operations: readonly string[];
  readonly resources: readonly (readonly ResourceToken[])[];
}

export interface ReferenceGroup {
  readonly selects: (thingName: string) => boolean;
  readonly statements: readonly ReferenceStatement[];
}

export interface ReferencePrincipal {
  readonly thingName: string;
  readonly clientId?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface ReferenceDecision {
  readonly allowed: boolean;
  readonly reason: string;
}

/** A glob over code points: a string is a literal character, null is `*`. */
export type NaiveGlob = (string | null)[];

/** Backtracking glob match (memoised), over arrays of code points. */
export function naiveGlobMatch(glob: readonly (string | null)[], input: readonly string[]): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (input.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === glob.length) result = j === input.length;
    else if (glob[i] === null) result = go(i + 1, j) || (j < input.length && go(i, j + 1));
    else result = j < input.length && glob[i] === input[j] && go(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

const VARIABLES: readonly [string, (name: string) => ResourceToken][] = [
  ['${iot:Connection.Thing.ThingName}', () => ({ kind: 'thing' })],
  ['${iot:ClientId}', () => ({ kind: 'client' })],
];
const ATTRIBUTE_START = '${iot:Connection.Thing.Attributes[';
const ATTRIBUTE_END = ']}';

/** Splits a resource pattern as written in a policy into tokens (plain string scanning). */
export function tokenizeResource(text: string): ResourceToken[] {
  const out: ResourceToken[] = [];
  let i = 0;
  outer: while (i < text.length) {
    for (const [name, token] of VARIABLES) {
      if (text.startsWith(name, i)) {
        out.push(token(name));
        i += name.length;
        continue outer;
      }
    }
    if (text.startsWith(ATTRIBUTE_START, i)) {
      const end = text.indexOf(ATTRIBUTE_END, i + ATTRIBUTE_START.length);
      if (end !== -1) {
        out.push({ kind: 'attr', name: text.slice(i + ATTRIBUTE_START.length, end) });
        i = end + ATTRIBUTE_END.length;
        continue;
      }
    }
    const ch = String.fromCodePoint(text.codePointAt(i)!);
    out.push(ch === '*' ? { kind: 'star' } : { kind: 'char', c: ch });
    i += ch.length;
  }
  return out;
}

/** The resource type of each MQTT operation. */
export const PREFIX: Readonly<Record<string, string>> = {
  'mqtt:connect': 'mqtt:clientId:',
  'mqtt:publish': 'mqtt:topic:',
  'mqtt:subscribe': 'mqtt:topicfilter:',
};

/** The characters a resource name may hold, for the alphabet the generators use. */
function nameOk(name: string): boolean {
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x20 && cp <= 0x7e) continue;
    if (ch === 'é') continue; // a Unicode letter
    return false; // TAB, DEL, emoji: the only other characters generated
  }
  return true;
}

/** The statements of every group that selects `thingName`, and whether any does. */
export function selectStatements(groups: readonly ReferenceGroup[], thingName: string): { readonly selected: boolean; readonly statements: readonly ReferenceStatement[] } {
  if (thingName === '') return { selected: false, statements: [] };
  const chosen = groups.filter((g) => g.selects(thingName));
  return { selected: chosen.length > 0, statements: chosen.flatMap((g) => g.statements) };
}

/** Decides with the statements already selected for the thing (see selectStatements). */
export function decideWith(selection: ReturnType<typeof selectStatements>, p: ReferencePrincipal, op: string, resource: string): ReferenceDecision {
  if (!Object.hasOwn(PREFIX, op)) return { allowed: false, reason: 'UNKNOWN_OPERATION' };
  const prefix = PREFIX[op]!;
  const hasName = (pre: string): boolean => resource.startsWith(pre) && resource.length > pre.length;
  if (!hasName(prefix)) {
    const other = Object.values(PREFIX).some(hasName);
    return { allowed: false, reason: other ? 'RESOURCE_TYPE_MISMATCH' : 'MALFORMED_RESOURCE' };
  }
  if (!nameOk(resource.slice(prefix.length))) return { allowed: false, reason: 'MALFORMED_RESOURCE' };
  const input = [...resource];
  let allowMatched = false;
  for (const st of selection.statements) {
    if (!st.operations.some((o) => o === op || o === '*' || o === 'mqtt:*')) continue;
    const deny = st.effect !== undefined && st.effect.toUpperCase() === 'DENY';
    for (const tokens of st.resources) {
      const glob: NaiveGlob = [];
      let skip = false;
      for (const t of tokens) {
        if (t.kind === 'char') glob.push(t.c);
        else if (t.kind === 'star') glob.push(null);
        else if (t.kind === 'thing') glob.push(...p.thingName);
        else if (t.kind === 'client') glob.push(...(p.clientId ?? p.thingName));
        else if (p.attributes !== undefined && Object.hasOwn(p.attributes, t.name)) glob.push(...p.attributes[t.name]!);
        else if (deny) glob.push(null); // a missing value widens a deny
        else skip = true; // and drops an allow
      }
      if (skip || !naiveGlobMatch(glob, input)) continue;
      if (deny) return { allowed: false, reason: 'DENIED_BY_STATEMENT' };
      allowMatched = true;
    }
  }
  if (allowMatched) return { allowed: true, reason: 'ALLOWED_BY_STATEMENT' };
  return { allowed: false, reason: selection.selected ? 'NO_MATCHING_STATEMENT' : 'NO_GROUP_SELECTS_THING' };
}

/** The reference decision for one request. */
export function referenceDecide(groups: readonly ReferenceGroup[], p: ReferencePrincipal, op: string, resource: string): ReferenceDecision {
  return decideWith(selectStatements(groups, p.thingName), p, op, resource);
}
