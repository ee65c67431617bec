import type { Decision, DecisionReason } from '../model.js';
import type { AppliedStatement, Statement } from './statement.js';

/**
 * The one decision order, for every dialect and every combination of dialects
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
 * which AWS IoT Core follows and the Greengrass dialect agrees with):
 *
 *  1. The dialect validates the request; a request it cannot read is refused with the
 *     dialect's reason (UNKNOWN_OPERATION, MALFORMED_RESOURCE, RESOURCE_TYPE_MISMATCH),
 *     whatever any statement says.
 *  2. Any applying Deny, in any index in force, denies (DENIED_BY_STATEMENT; a policy in
 *     force that does not exist counts as one: IOT_POLICY_NOT_FOUND).
 *  3. Otherwise any applying Allow allows (ALLOWED_BY_STATEMENT).
 *  4. Otherwise the request is implicitly denied, with the dialect's reason
 *     (NO_GROUP_SELECTS_THING, NO_MATCHING_STATEMENT).
 *
 * Indexes are how each dialect finds its applying statements fast: the Greengrass match
 * tables of a principal (tables.ts), the IoT or IAM statements of the policies in force
 * indexed by action mask (arn-index.ts; the IoT and IAM policy sets, arn-policies.ts,
 * decide through it alone). The first applying statement of the first index that
 * has one decides, so the decision names the same statement however the indexes are
 * implemented; the indexes of a connection are consulted in a fixed order (Greengrass,
 * then missing IoT policies, then IoT), which only chooses which statement is named.
 *
 * INVARIANT: an index may find that a request is malformed only while matching (the
 * Greengrass dialect checks a name's characters lazily: most requests are never
 * scanned). It then answers that refusal from firstDeny, firstAllow or the implicit
 * answer, which gives the same decision as validating first, because a refused request
 * is refused whatever the statements say.
 */

/**
 * How one dialect finds the statements that apply to a request of form R (the hot
 * path). H is what a hit answers: the Decision the statement makes (the default), or
 * the statement itself for a dialect that builds its own answer shape from it (the IoT
 * and IAM sets' PolicyDecision names the statement's index too).
 */
export interface StatementIndex<R, H = Decision> {
  /** The first applying Deny, in the index's order, or null. */
  firstDeny(request: R): H | null;
  /** The first applying Allow, in the index's order, or null. */
  firstAllow(request: R): H | null;
}

/** An index that can also list what applies, for explanations (not the hot path). */
export interface ExplainingIndex<R, H = Decision> extends StatementIndex<R, H> {
  /** Appends every applying statement, in the index's order. */
  applying(request: R, out: AppliedStatement[]): void;
}

/**
 * Steps 2 and 3 of the order for a request the dialect has validated: the decision of
 * the statement that decides, or null when none applies. Steps 1 and 4 are the
 * dialect's (only it knows which index a request goes to, and its implicit reason).
 * Allocates nothing.
 */
export function decideValid<R, H = Decision>(indexes: readonly StatementIndex<R, H>[], request: R): H | null {
  for (let i = 0; i < indexes.length; i++) {
    const d = indexes[i]!.firstDeny(request);
    if (d !== null) return d;
  }
  for (let i = 0; i < indexes.length; i++) {
    const d = indexes[i]!.firstAllow(request);
    if (d !== null) return d;
  }
  return null;
}

/**
 * decideValid() with one index: the Greengrass view's hot path (no array). Only the
 * Greengrass tables call it, so that its calls stay monomorphic (V8 inlines them);
 * other dialects go through decideValid.
 */
export function decideOne<R, H = Decision>(index: StatementIndex<R, H>, request: R): H | null {
  return index.firstDeny(request) ?? index.firstAllow(request);
}

/** Every statement of `indexes` that applies to `request`, in order of consultation. */
export function applyingStatements<R, H>(indexes: readonly ExplainingIndex<R, H>[], request: R): AppliedStatement[] {
  const out: AppliedStatement[] = [];
  for (const index of indexes) index.applying(request, out);
  return out;
}

/** The decisions no statement makes, one frozen object each (decisions are compared by identity in caches). */
export const REFUSED: Readonly<Record<Exclude<DecisionReason, 'ALLOWED_BY_STATEMENT' | 'DENIED_BY_STATEMENT'>, Decision>> = Object.freeze({
  NO_GROUP_SELECTS_THING: Object.freeze({ allowed: false, reason: 'NO_GROUP_SELECTS_THING' }),
  NO_MATCHING_STATEMENT: Object.freeze({ allowed: false, reason: 'NO_MATCHING_STATEMENT' }),
  UNKNOWN_OPERATION: Object.freeze({ allowed: false, reason: 'UNKNOWN_OPERATION' }),
  MALFORMED_RESOURCE: Object.freeze({ allowed: false, reason: 'MALFORMED_RESOURCE' }),
  RESOURCE_TYPE_MISMATCH: Object.freeze({ allowed: false, reason: 'RESOURCE_TYPE_MISMATCH' }),
  IOT_POLICY_NOT_FOUND: Object.freeze({ allowed: false, reason: 'IOT_POLICY_NOT_FOUND', dialect: 'iot' }),
});

/** Implicit deny when the IoT policies were asked and none applied. */
export const NO_IOT_STATEMENT: Decision = Object.freeze({ allowed: false, reason: 'NO_MATCHING_STATEMENT', dialect: 'iot' });

/**
 * The decision a statement makes when it decides: the one place a statement's
 * explanation fields become a Decision (the shape the broker, the API and the CLI read,
 * for the Greengrass and IoT dialects of a connection; the IoT and IAM policy sets build
 * their PolicyDecision from the deciding Statement instead, which an ARN index returns
 * as it is, so an IAM statement never becomes a Decision). `group`: the Greengrass
 * device group it is in force through; `resourcePattern`: its matching resource,
 * resolved (Greengrass); `action`: the action whose evaluation found it (ARN dialects).
 */
export function statementDecision(statement: Statement, via: { readonly group?: string; readonly resourcePattern?: string; readonly action?: string }): Decision {
  // Object literals of fixed shape rather than spreads of a common base: a view is built
  // for every live session on each policy change, and the spread was a fifth of that.
  const allowed = !statement.deny;
  const reason = allowed ? 'ALLOWED_BY_STATEMENT' as const : 'DENIED_BY_STATEMENT' as const;
  if (statement.dialect === 'greengrass') {
    return Object.freeze({ allowed, reason, group: via.group, policy: statement.policy, statement: statement.label, resourcePattern: via.resourcePattern });
  }
  return Object.freeze({ allowed, reason, policy: statement.policy, statement: statement.label, action: via.action, dialect: 'iot' as const });
}

/**
 * The applying statements of an explanation: the deciding one first, then the others in
 * order of consultation. `deciding` tells the deciding statement (none: the order kept).
 */
export function decidingFirst<T>(found: readonly T[], deciding: (t: T) => boolean): T[] {
  const at = found.findIndex(deciding);
  return at > 0 ? [found[at]!, ...found.slice(0, at), ...found.slice(at + 1)] : [...found];
}
