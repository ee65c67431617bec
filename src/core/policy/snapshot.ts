import { RuleIndex } from '../rules/match.js';
import type { CompiledGroup, CompiledStatement, Decision, DecisionReason, Explanation, StatementMatch } from './model.js';
import { OPERATIONS, RESOURCE_PREFIX, RESOURCE_PREFIXES, operationIndex, splitResource, validNameChars } from './request.js';
import { globMatches, resolvePattern, type Glob, type Principal } from './resource.js';

/**
 * Evaluation order of a decision (fail closed at every step):
 *
 *  1. The operation must be `mqtt:connect`, `mqtt:publish` or `mqtt:subscribe`
 *     (else UNKNOWN_OPERATION).
 *  2. The resource must have the operation's type (`mqtt:clientId:`, `mqtt:topic:`,
 *     `mqtt:topicfilter:`) and a non-empty name of accepted characters (else
 *     RESOURCE_TYPE_MISMATCH or MALFORMED_RESOURCE).
 *  3. Any matching DENY statement of any selecting group denies.
 *  4. Any matching ALLOW statement allows.
 *  5. Otherwise deny: NO_GROUP_SELECTS_THING or NO_MATCHING_STATEMENT.
 *
 * Group selection and variable resolution depend only on the principal, so they are
 * done once per principal and cached in a PrincipalView for the snapshot's lifetime.
 */

const CONSTANT: Record<Exclude<DecisionReason, 'ALLOWED_BY_STATEMENT' | 'DENIED_BY_STATEMENT'>, Decision> = {
  NO_GROUP_SELECTS_THING: Object.freeze({ allowed: false, reason: 'NO_GROUP_SELECTS_THING' }),
  NO_MATCHING_STATEMENT: Object.freeze({ allowed: false, reason: 'NO_MATCHING_STATEMENT' }),
  UNKNOWN_OPERATION: Object.freeze({ allowed: false, reason: 'UNKNOWN_OPERATION' }),
  MALFORMED_RESOURCE: Object.freeze({ allowed: false, reason: 'MALFORMED_RESOURCE' }),
  RESOURCE_TYPE_MISMATCH: Object.freeze({ allowed: false, reason: 'RESOURCE_TYPE_MISMATCH' }),
};

interface Grant {
  readonly glob: Glob;
  readonly group: CompiledGroup;
  readonly statement: CompiledStatement;
  readonly pattern: string;
  readonly decision: Decision;
  /** Resolved from variables or wildcards: the request's characters must be checked on allow. */
  readonly checkChars: boolean;
}

interface OpTable {
  readonly prefix: string;
  readonly denyExact: Map<string, Grant>;
  readonly denyGlobs: Grant[];
  readonly allowExact: Map<string, Grant>;
  readonly allowGlobs: Grant[];
  /** Every grant in statement order, for explanations. */
  readonly all: Grant[];
}

/** The permissions of one principal under one snapshot. Immutable once built. */
export class PrincipalView {
  readonly principal: Principal;
  readonly groups: readonly CompiledGroup[];
  private readonly tables: readonly OpTable[];
  private readonly noMatch: Decision;

  constructor(principal: Principal, groups: readonly CompiledGroup[]) {
    this.principal = principal;
    this.groups = groups;
    this.noMatch = groups.length === 0 ? CONSTANT.NO_GROUP_SELECTS_THING : CONSTANT.NO_MATCHING_STATEMENT;
    this.tables = OPERATIONS.map((op) => {
      const table: OpTable = { prefix: RESOURCE_PREFIX[op], denyExact: new Map(), denyGlobs: [], allowExact: new Map(), allowGlobs: [], all: [] };
      for (const group of groups) {
        for (const statement of group.statements) {
          if (!statement.operations.includes(op)) continue;
          const deny = statement.effect === 'DENY';
          for (const pattern of statement.resources) {
            const glob = resolvePattern(pattern, principal, deny ? 'wildcard' : 'skip');
            if (!glob) continue;
            const grant: Grant = {
              glob, group, statement, pattern: pattern.source,
              checkChars: pattern.hasVariables || glob.segments.length > 1,
              decision: Object.freeze({
                allowed: !deny,
                reason: deny ? 'DENIED_BY_STATEMENT' : 'ALLOWED_BY_STATEMENT',
                group: group.name,
                policy: statement.policy,
                statement: statement.statement,
                resourcePattern: glob.text,
              }),
            };
            table.all.push(grant);
            const exact = glob.segments.length === 1;
            if (exact) {
              const map = deny ? table.denyExact : table.allowExact;
              if (!map.has(glob.text)) map.set(glob.text, grant);
            } else (deny ? table.denyGlobs : table.allowGlobs).push(grant);
          }
        }
      }
      return table;
    });
  }

  /** The hot path: one decision, no allocation. */
  decide(operation: string, resource: string): Decision {
    const t = this.tables[operationIndex(operation)];
    if (t === undefined) return CONSTANT.UNKNOWN_OPERATION;
    const prefix = t.prefix;
    if (resource.length <= prefix.length || !resource.startsWith(prefix)) return rejectResource(resource);
    if (t.denyExact.size > 0) {
      const g = t.denyExact.get(resource);
      if (g !== undefined) return g.decision;
    }
    for (const g of t.denyGlobs) if (globMatches(g.glob, resource)) return g.decision;
    const exact = t.allowExact.get(resource);
    if (exact !== undefined) return allowIfWellFormed(exact, resource, prefix.length);
    for (const g of t.allowGlobs) if (globMatches(g.glob, resource)) return allowIfWellFormed(g, resource, prefix.length);
    return this.noMatch;
  }

  /** Every statement that matches, using the same matcher as decide(). */
  matches(operation: string, resource: string): StatementMatch[] {
    const t = this.tables[operationIndex(operation)];
    if (t === undefined) return [];
    return t.all.filter((g) => globMatches(g.glob, resource)).map((g) => ({
      effect: g.statement.effect, group: g.group.name, policy: g.statement.policy, statement: g.statement.statement,
      pattern: g.pattern, resolved: g.glob.text,
    }));
  }
}

function allowIfWellFormed(g: Grant, resource: string, from: number): Decision {
  return g.checkChars && !validNameChars(resource, from) ? CONSTANT.MALFORMED_RESOURCE : g.decision;
}

function rejectResource(resource: string): Decision {
  const parts = splitResource(resource);
  if (parts && parts.name !== '' && RESOURCE_PREFIXES.includes(`${parts.service}:${parts.type}:`)) return CONSTANT.RESOURCE_TYPE_MISMATCH;
  return CONSTANT.MALFORMED_RESOURCE;
}

/** Bound on cached principal views per snapshot; the oldest is dropped beyond it. */
const MAX_VIEWS = 65536;

/**
 * A compiled, frozen policy configuration. Build one per configuration; swap the
 * whole snapshot on reload.
 */
export class PolicySnapshot {
  readonly groups: readonly CompiledGroup[];
  private readonly index = new RuleIndex<CompiledGroup>();
  private readonly views = new Map<string, PrincipalView>();
  private readonly usesClientId: boolean;
  private readonly attributeNames: readonly string[];

  constructor(groups: readonly CompiledGroup[]) {
    this.groups = Object.freeze([...groups]);
    for (const g of this.groups) this.index.add(g.rule, g);
    const attrs = new Set<string>();
    let usesClientId = false;
    for (const g of this.groups) {
      for (const s of g.statements) {
        for (const r of s.resources) {
          for (const p of r.parts) {
            if (p.kind !== 'variable') continue;
            if (p.variable.kind === 'clientId') usesClientId = true;
            if (p.variable.kind === 'attribute') attrs.add(p.variable.name);
          }
        }
      }
    }
    this.usesClientId = usesClientId;
    this.attributeNames = [...attrs].sort();
  }

  /** Names of the groups whose selection rule selects a thing, in configuration order. */
  selectGroups(thingName: string): readonly CompiledGroup[] {
    return thingName === '' ? [] : this.index.select(thingName);
  }

  /** The cached permission view of a principal (built on first use). */
  view(principal: Principal): PrincipalView {
    const key = this.cacheKey(principal);
    let v = this.views.get(key);
    if (v === undefined) {
      v = new PrincipalView(principal, this.selectGroups(principal.thingName));
      if (this.views.size >= MAX_VIEWS) this.views.delete(this.views.keys().next().value!);
      this.views.set(key, v);
    }
    return v;
  }

  decide(principal: Principal, operation: string, resource: string): Decision {
    return this.view(principal).decide(operation, resource);
  }

  explain(principal: Principal, operation: string, resource: string): Explanation {
    const view = this.view(principal);
    const decision = view.decide(operation, resource);
    const found = decision.reason === 'UNKNOWN_OPERATION' || decision.reason === 'MALFORMED_RESOURCE' || decision.reason === 'RESOURCE_TYPE_MISMATCH'
      ? []
      : view.matches(operation, resource);
    // The deciding statement first, then the others in configuration order.
    const deciding = found.findIndex((m) => m.group === decision.group && m.statement === decision.statement && m.policy === decision.policy && m.resolved === decision.resourcePattern);
    const matches = deciding > 0 ? [found[deciding]!, ...found.slice(0, deciding), ...found.slice(deciding + 1)] : found;
    const clientId = principal.clientId ?? principal.thingName;
    return {
      ...decision,
      thingName: principal.thingName,
      clientId,
      operation,
      resource,
      groups: view.groups.map((g) => ({ name: g.name, policy: g.policy })),
      matches,
      message: describeDecision(decision, principal.thingName, operation, resource, view.groups.length),
    };
  }

  /**
   * Distinct for distinct principals (as far as this snapshot can tell them apart):
   * with more than one component, each is length-prefixed and a missing attribute is
   * `-`, so no choice of characters in names or values makes two keys collide.
   */
  private cacheKey(p: Principal): string {
    if (!this.usesClientId && this.attributeNames.length === 0) return p.thingName;
    let key = `${p.thingName.length}:${p.thingName}`;
    if (this.usesClientId) {
      const clientId = p.clientId ?? p.thingName;
      key += `${clientId.length}:${clientId}`;
    }
    for (const a of this.attributeNames) {
      const v = p.attributes && Object.hasOwn(p.attributes, a) ? p.attributes[a] : undefined;
      key += v === undefined ? '-' : `${String(v).length}:${v}`;
    }
    return key;
  }
}

function describeDecision(d: Decision, thing: string, op: string, resource: string, groups: number): string {
  const who = `thing \`${thing}\``;
  switch (d.reason) {
    case 'ALLOWED_BY_STATEMENT':
      return `allowed: statement \`${d.statement}\` of policy \`${d.policy}\` (group \`${d.group}\`) allows \`${op}\` on \`${d.resourcePattern}\`, and no statement denies it`;
    case 'DENIED_BY_STATEMENT':
      return `denied: statement \`${d.statement}\` of policy \`${d.policy}\` (group \`${d.group}\`) denies \`${op}\` on \`${d.resourcePattern}\`; a deny overrides every allow`;
    case 'NO_GROUP_SELECTS_THING':
      return thing === '' ? 'denied: the request has no thing name' : `denied: no device group's selection rule selects ${who}`;
    case 'NO_MATCHING_STATEMENT':
      return `denied: ${groups} group${groups === 1 ? '' : 's'} select${groups === 1 ? 's' : ''} ${who}, but no statement allows \`${op}\` on \`${resource}\``;
    case 'UNKNOWN_OPERATION':
      return `denied: \`${op}\` is not an operation Gatehouse authorizes (mqtt:connect, mqtt:publish, mqtt:subscribe)`;
    case 'RESOURCE_TYPE_MISMATCH':
      return `denied: \`${op}\` is checked on \`${RESOURCE_PREFIX[op as keyof typeof RESOURCE_PREFIX]}…\` resources, not \`${resource}\``;
    case 'MALFORMED_RESOURCE':
      return `denied: \`${resource}\` is not a well-formed resource`;
  }
}
