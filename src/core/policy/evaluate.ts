import { decideOne, decideValid, decidingFirst, REFUSED, statementDecision, type ExplainingIndex } from './engine/decide.js';
import { describeDecision } from './engine/explain.js';
import type { AppliedStatement } from './engine/statement.js';
import type { CompiledGroup, CompiledStatement, Decision, Explanation, StatementMatch } from './model.js';
import { OPERATIONS, RESOURCE_PREFIX, RESOURCE_PREFIXES, operationIndex, splitResource, validNameChars } from './request.js';
import { globMatches, resolvePattern, type Glob, type Principal, type ResourcePattern } from './resource.js';
import { buildTables, checked, exactMayHold, hasPrefix, planGroup, type ExactEntry, type GroupPlan, type OpTable } from './tables.js';

/**
 * The Greengrass dialect's decisions: its request validation and implicit deny around the
 * engine's one order (engine/decide.ts), over its index (the match tables, tables.ts).
 *
 *  1. Validation: the operation must be `mqtt:connect`, `mqtt:publish` or
 *     `mqtt:subscribe` (else UNKNOWN_OPERATION); the resource must have the operation's
 *     type (`mqtt:clientId:`, `mqtt:topic:`, `mqtt:topicfilter:`) and a non-empty name of
 *     accepted characters (else RESOURCE_TYPE_MISMATCH or MALFORMED_RESOURCE; the
 *     characters are checked lazily by the tables, with the same answers).
 *  2. Any matching DENY statement of any selecting group denies.
 *  3. Any matching ALLOW statement allows.
 *  4. Otherwise deny: NO_GROUP_SELECTS_THING or NO_MATCHING_STATEMENT.
 *
 * Group selection and variable resolution depend only on the principal, so they are
 * done once per principal and cached in a PrincipalView for the snapshot's lifetime.
 *
 * This file holds PrincipalView.decide (the hot path), the statements of a principal as
 * a plain list (GreengrassStatements: the reference index explanations use) and the
 * explanation of a decision.
 */

/** A resolved grant of the plain list. */
interface ExplainedGrant {
  readonly glob: Glob;
  readonly group: CompiledGroup;
  readonly statement: CompiledStatement;
  readonly pattern: ResourcePattern;
}

/** The permissions of one principal under one snapshot. Immutable once built. */
export class PrincipalView {
  readonly principal: Principal;
  readonly groups: readonly CompiledGroup[];
  private readonly connect: OpTable;
  private readonly publish: OpTable;
  private readonly subscribe: OpTable;
  private readonly noMatch: Decision;
  /** The statements as plain lists, per operation, for explanations (built on first use). */
  private all: readonly GreengrassStatements[] | undefined = undefined;

  constructor(principal: Principal, groups: readonly CompiledGroup[], plans?: (group: CompiledGroup) => GroupPlan) {
    this.principal = principal;
    this.groups = groups;
    this.noMatch = groups.length === 0 ? REFUSED.NO_GROUP_SELECTS_THING : REFUSED.NO_MATCHING_STATEMENT;
    const groupPlans = groups.map(plans ?? planGroup);
    const tables = buildTables(principal, groups, groupPlans);
    this.connect = tables[0]!;
    this.publish = tables[1]!;
    this.subscribe = tables[2]!;
  }

  /**
   * The hot path: one decision, no allocation. Validation of the operation and the
   * resource's type, then the engine's order over the match table (an exact resource's
   * decision is remembered in its entry: it depends on nothing else), then the
   * implicit deny.
   */
  decide(operation: string, resource: string): Decision {
    let t: OpTable;
    switch (operation) {
      case 'mqtt:connect':
        t = this.connect;
        break;
      case 'mqtt:publish':
        t = this.publish;
        break;
      case 'mqtt:subscribe':
        t = this.subscribe;
        break;
      default:
        return REFUSED.UNKNOWN_OPERATION;
    }
    const len = resource.length;
    const plen = t.plen;
    if (len <= plen) return rejectResource(resource);
    const exact = t.exact;
    if (exact !== null && exactMayHold(t.bits, len, resource.charCodeAt(plen), resource.charCodeAt(len - 1))) {
      // Exact keys start with the prefix, so a hit implies it.
      const e = exact.get(resource);
      if (e !== undefined) return e.memo ?? (e.memo = this.decideExact(t, e, resource));
    }
    if (t.globsImplyPrefix) {
      // The prefix check can wait: a glob match implies it.
      const d = decideOne(t, resource);
      if (d !== null) return d;
      return hasPrefix(resource, t.prefix) ? checked(resource, plen, this.noMatch) : rejectResource(resource);
    }
    if (!hasPrefix(resource, t.prefix)) return rejectResource(resource);
    return decideOne(t, resource) ?? checked(resource, plen, this.noMatch);
  }

  /** An exact resource: its entry is an index of its own, before the table's globs. */
  private decideExact(t: OpTable, e: ExactEntry, resource: string): Decision {
    return decideValid<string>([e, t], resource) ?? checked(resource, t.plen, this.noMatch);
  }

  /** Every statement that matches, in group, statement and resource order (the reference matcher). */
  matches(operation: string, resource: string): StatementMatch[] {
    const k = operationIndex(operation);
    if (k < 0) return [];
    const found: AppliedStatement[] = [];
    this.statements(k).applying(resource, found);
    return found.map((a) => ({
      effect: a.statement.deny ? 'DENY' : 'ALLOW', group: a.group!, policy: a.statement.policy, statement: a.statement.label,
      pattern: a.patterns[0]!, resolved: a.resolved[0]!,
    }));
  }

  /** The principal's statements for operation `k` (OPERATIONS order) as a plain list: the reference index. */
  statements(k: number): GreengrassStatements {
    return (this.all ??= OPERATIONS.map((op) => new GreengrassStatements(op, this.principal, this.groups)))[k]!;
  }
}

/**
 * The Greengrass statements in force for a principal, for one operation, as a plain
 * list of resolved grants in group, statement and resource order, matched by the
 * reference glob match (resource.ts, globMatches): the index explanations use, and the
 * reference the match tables are tested against. It takes a validated request (the
 * prefix and the name's characters accepted).
 *
 * Within one effect the Greengrass index names a grant written for exactly the resource
 * before a wildcard one (the tables look exact resources up first); which one is named
 * never changes whether the request is allowed.
 */
export class GreengrassStatements implements ExplainingIndex<string> {
  private readonly grants: readonly ExplainedGrant[];

  constructor(op: (typeof OPERATIONS)[number], principal: Principal, groups: readonly CompiledGroup[]) {
    const bit = 1 << OPERATIONS.indexOf(op);
    const all: ExplainedGrant[] = [];
    for (const group of groups) {
      for (const statement of group.statements) {
        if ((statement.actionTest.mask & bit) === 0) continue;
        for (const pattern of statement.resources) {
          const glob = resolvePattern(pattern, principal, statement.deny ? 'wildcard' : 'skip');
          if (glob) all.push({ glob, group, statement, pattern });
        }
      }
    }
    this.grants = all;
  }

  firstDeny(resource: string): Decision | null {
    return this.first(resource, true);
  }

  firstAllow(resource: string): Decision | null {
    return this.first(resource, false);
  }

  /**
   * The statement of this effect that decides: among the applying grants, one written
   * for exactly this resource (no wildcard) first, else the first in order. The match
   * tables look exact resources up before their globs, and the decision names the
   * statement they find.
   */
  private first(resource: string, deny: boolean): Decision | null {
    let glob: ExplainedGrant | undefined;
    for (const g of this.grants) {
      if (g.statement.deny !== deny || !globMatches(g.glob, resource)) continue;
      if (g.glob.segments.length === 1) return statementDecision(g.statement, { group: g.group.name, resourcePattern: g.glob.text });
      glob ??= g;
    }
    return glob === undefined ? null : statementDecision(glob.statement, { group: glob.group.name, resourcePattern: glob.glob.text });
  }

  applying(resource: string, out: AppliedStatement[]): void {
    for (const g of this.grants) {
      if (globMatches(g.glob, resource)) out.push({ statement: g.statement, group: g.group.name, patterns: [g.pattern.source], resolved: [g.glob.text] });
    }
  }
}

function rejectResource(resource: string): Decision {
  const parts = splitResource(resource);
  if (parts && parts.name !== '' && RESOURCE_PREFIXES.includes(`${parts.service}:${parts.type}:`)) return REFUSED.RESOURCE_TYPE_MISMATCH;
  return REFUSED.MALFORMED_RESOURCE;
}

/**
 * The Greengrass dialect's validation of a request, on its own (step 1 of the order at
 * the top of this file): the refusal, or null for a request the statements decide.
 * PrincipalView.decide gives the same answers with the character check done lazily.
 */
export function validateGreengrassRequest(operation: string, resource: string): Decision | null {
  const k = operationIndex(operation);
  if (k < 0) return REFUSED.UNKNOWN_OPERATION;
  const prefix = RESOURCE_PREFIX[OPERATIONS[k]!];
  if (resource.length <= prefix.length || !hasPrefix(resource, prefix)) return rejectResource(resource);
  return validNameChars(resource, prefix.length) ? null : REFUSED.MALFORMED_RESOURCE;
}

/**
 * The decision of `view` on a request with every statement that matches it (the
 * deciding one first) and a message for people. `view` is the principal's view.
 */
export function explainDecision(view: PrincipalView, principal: Principal, operation: string, resource: string): Explanation {
  const decision = view.decide(operation, resource);
  const found = decision.reason === 'UNKNOWN_OPERATION' || decision.reason === 'MALFORMED_RESOURCE' || decision.reason === 'RESOURCE_TYPE_MISMATCH'
    ? []
    : view.matches(operation, resource);
  // The deciding statement first, then the others in configuration order.
  const matches = decidingFirst(found, (m) => m.group === decision.group && m.statement === decision.statement && m.policy === decision.policy && m.resolved === decision.resourcePattern);
  const clientId = principal.clientId ?? principal.thingName;
  return {
    ...decision,
    thingName: principal.thingName,
    clientId,
    operation,
    resource,
    groups: view.groups.map((g) => ({ name: g.name, policy: g.policy })),
    matches,
    message: describeDecision(decision, { thingName: principal.thingName, operation, resource, groups: view.groups.length, missingPolicies: [] }),
  };
}
