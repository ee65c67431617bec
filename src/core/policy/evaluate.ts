import type { CompiledGroup, CompiledStatement, Decision, DecisionReason, Explanation, StatementMatch } from './model.js';
import { OPERATIONS, RESOURCE_PREFIX, RESOURCE_PREFIXES, operationIndex, splitResource, validNameChars } from './request.js';
import { globMatches, resolvePattern, type Glob, type Principal, type ResourcePattern } from './resource.js';
import {
  ExactEntry, MATCH, MATCH_CHECK, PRINTABLE_ASCII, buildTables, exactMayHold, globHit, globHitAllow, hasPrefix, mayMatch, planGroup,
  type Grant, type GroupPlan, type OpTable,
} from './tables.js';

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
 *
 * This file holds that order (PrincipalView.decide, the hot path), the decisions that
 * no statement makes, and the explanation of a decision. The tables it consults, and
 * how a grant matches a resource, are in tables.ts.
 */

const CONSTANT: Record<Exclude<DecisionReason, 'ALLOWED_BY_STATEMENT' | 'DENIED_BY_STATEMENT' | 'IOT_POLICY_NOT_FOUND'>, Decision> = {
  NO_GROUP_SELECTS_THING: Object.freeze({ allowed: false, reason: 'NO_GROUP_SELECTS_THING' }),
  NO_MATCHING_STATEMENT: Object.freeze({ allowed: false, reason: 'NO_MATCHING_STATEMENT' }),
  UNKNOWN_OPERATION: Object.freeze({ allowed: false, reason: 'UNKNOWN_OPERATION' }),
  MALFORMED_RESOURCE: Object.freeze({ allowed: false, reason: 'MALFORMED_RESOURCE' }),
  RESOURCE_TYPE_MISMATCH: Object.freeze({ allowed: false, reason: 'RESOURCE_TYPE_MISMATCH' }),
};

/** A resolved grant for explanations. */
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
  /** Every grant in statement order, per operation, for explanations (built on first use). */
  private all: readonly (readonly ExplainedGrant[])[] | undefined = undefined;

  constructor(principal: Principal, groups: readonly CompiledGroup[], plans?: (group: CompiledGroup) => GroupPlan) {
    this.principal = principal;
    this.groups = groups;
    this.noMatch = groups.length === 0 ? CONSTANT.NO_GROUP_SELECTS_THING : CONSTANT.NO_MATCHING_STATEMENT;
    const groupPlans = groups.map(plans ?? planGroup);
    const tables = buildTables(principal, groups, groupPlans);
    this.connect = tables[0]!;
    this.publish = tables[1]!;
    this.subscribe = tables[2]!;
  }

  /**
   * The hot path: one decision, no allocation. The order of evaluation is that of the
   * comment at the top of this file: deny (exact, then globs in statement order), then
   * allow (exact, then globs); the resource's prefix is checked as soon as a glob could
   * match and before answering no-match, which gives the same answers as checking it first.
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
        return CONSTANT.UNKNOWN_OPERATION;
    }
    const len = resource.length;
    const plen = t.plen;
    if (len <= plen) return rejectResource(resource);
    const exact = t.exact;
    if (exact !== null) {
      if (exactMayHold(t.bits, len, resource.charCodeAt(plen), resource.charCodeAt(len - 1))) {
        // Exact keys start with the prefix, so a hit implies it.
        const e = exact.get(resource);
        if (e !== undefined) {
          if (!(e instanceof ExactEntry)) return e;
          const d = this.evaluate(t, resource, e);
          exact.set(resource, d);
          return d;
        }
      }
    }
    return this.evaluate(t, resource, undefined);
  }

  /** decide() past the exact lookup: `exact` is the resource's exact entry, if any. */
  private evaluate(t: OpTable, resource: string, exact: ExactEntry | undefined): Decision {
    const plen = t.plen;
    const len = resource.length;
    let prefixOk = exact !== undefined;
    if (!prefixOk && t.prefixFirst) {
      if (!hasPrefix(resource, t.prefix)) return rejectResource(resource);
      prefixOk = true;
    }
    if (exact !== undefined && exact.deny !== null) return checked(resource, plen, exact.deny.decision());
    const c0 = resource.charCodeAt(plen);
    const cz = resource.charCodeAt(len - 1);
    const meta = t.bits;
    const denies = t.denyGlobs;
    const denyBase = t.denyBase;
    for (let i = 0; i < denies.length; i++) {
      if (!mayMatch(meta, denyBase, i, resource, len, c0, cz)) continue;
      const g = denies[i]!;
      if (g.re !== null && g.impliesPrefix) {
        if (g.re.test(resource)) return checked(resource, plen, g.decision());
        continue;
      }
      if (!prefixOk) {
        if (!hasPrefix(resource, t.prefix)) return rejectResource(resource);
        prefixOk = true;
      }
      if (globHit(g, resource, len, plen)) return checked(resource, plen, g.decision());
    }
    if (exact !== undefined && exact.allow !== null) return exactAllow(exact.allow, plen);
    const allows = t.allowGlobs;
    const allowBase = t.allowBase;
    // Whether the resource is printable ASCII throughout: 0 not known yet, 1 yes, 2 no.
    let ascii = 0;
    for (let i = 0; i < allows.length; i++) {
      if (!mayMatch(meta, allowBase, i, resource, len, c0, cz)) continue;
      const g = allows[i]!;
      if (g.reAscii !== null && g.impliesPrefix) {
        // A match implies the prefix. Without one, the glob may still match a resource
        // with other characters, which validNameChars() then judges.
        if (g.reAscii.test(resource)) return g.decision();
        if (ascii === 0) ascii = PRINTABLE_ASCII.test(resource) ? 1 : 2;
        if (ascii === 1 || !g.re!.test(resource)) continue;
        return validNameChars(resource, plen) ? g.decision() : CONSTANT.MALFORMED_RESOURCE;
      }
      if (!prefixOk) {
        if (!hasPrefix(resource, t.prefix)) return rejectResource(resource);
        prefixOk = true;
      }
      if (g.checkChars) {
        const hit = globHitAllow(g, resource, len, plen);
        if (hit === MATCH) return g.decision();
        if (hit === MATCH_CHECK) return validNameChars(resource, plen) ? g.decision() : CONSTANT.MALFORMED_RESOURCE;
      } else if (globHit(g, resource, len, plen)) return g.decision();
    }
    if (!prefixOk && !hasPrefix(resource, t.prefix)) return rejectResource(resource);
    return checked(resource, plen, this.noMatch);
  }

  /** Every statement that matches, using the same matcher as decide(). */
  matches(operation: string, resource: string): StatementMatch[] {
    const k = operationIndex(operation);
    if (k < 0) return [];
    const all = (this.all ??= this.allGrants())[k]!;
    return all.filter((g) => globMatches(g.glob, resource)).map((g) => ({
      effect: g.statement.effect, group: g.group.name, policy: g.statement.policy, statement: g.statement.statement,
      pattern: g.pattern.source, resolved: g.glob.text,
    }));
  }

  private allGrants(): ExplainedGrant[][] {
    return OPERATIONS.map((op) => {
      const all: ExplainedGrant[] = [];
      for (const group of this.groups) {
        for (const statement of group.statements) {
          if (!statement.operations.includes(op)) continue;
          const deny = statement.effect === 'DENY';
          for (const pattern of statement.resources) {
            const glob = resolvePattern(pattern, this.principal, deny ? 'wildcard' : 'skip');
            if (glob) all.push({ glob, group, statement, pattern });
          }
        }
      }
      return all;
    });
  }
}

/**
 * `decision` unless the resource's name has characters no resource may hold: then
 * MALFORMED_RESOURCE, whichever statement matched or failed to. (Allow paths check the
 * characters themselves, only where a grant could match a name the check refuses.)
 */
function checked(resource: string, plen: number, decision: Decision): Decision {
  return validNameChars(resource, plen) ? decision : CONSTANT.MALFORMED_RESOURCE;
}

/**
 * The answer of the allow grant of an exact resource (its text is the resource):
 * MALFORMED_RESOURCE when its characters are not accepted. decide() caches it in place
 * of the exact entry.
 */
function exactAllow(g: Grant, plen: number): Decision {
  return g.checkChars && !validNameChars(g.text, plen) ? CONSTANT.MALFORMED_RESOURCE : g.decision();
}

function rejectResource(resource: string): Decision {
  const parts = splitResource(resource);
  if (parts && parts.name !== '' && RESOURCE_PREFIXES.includes(`${parts.service}:${parts.type}:`)) return CONSTANT.RESOURCE_TYPE_MISMATCH;
  return CONSTANT.MALFORMED_RESOURCE;
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
    case 'IOT_POLICY_NOT_FOUND':
      return `denied: an AWS IoT policy named for ${who} does not exist, and it might have denied \`${op}\``;
  }
}
