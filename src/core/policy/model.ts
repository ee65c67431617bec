import type { Effect } from '../config/types.js';
import type { Rule } from '../rules/ast.js';
import type { Statement } from './engine/statement.js';
import type { Operation } from './request.js';
import type { ResourcePattern } from './resource.js';

/**
 * The compiled form of the Greengrass dialect, and the decision shapes every dialect
 * answers with.
 *
 * A group selects principals by a rule and carries statements; a statement has an
 * effect, the operations it covers and its resource patterns. Greengrass device groups
 * map onto it one to one (compile.ts, from what configuration validation accepted).
 *
 * A Greengrass statement is a statement of the engine's one internal form
 * (engine/statement.ts), which AWS IoT Core and IAM policy documents compile into too,
 * with the Greengrass names of its fields kept beside it. Every dialect is decided by the
 * one order of engine/decide.ts over its indexes (here: the match tables, tables.ts,
 * consulted by evaluate.ts), with the reason codes (DECISION_REASONS) and the Decision
 * shape below, which names the deciding policy and statement and, for an IoT policy,
 * `dialect: 'iot'`.
 */
export interface CompiledStatement extends Statement {
  readonly dialect: 'greengrass';
  /** The statement's name in its policy (the engine's `label`). */
  readonly statement: string;
  readonly effect: Effect;
  /** Expanded: `*` and `mqtt:*` become the three MQTT operations (the engine's action mask, bit i for OPERATIONS[i]). */
  readonly operations: readonly Operation[];
  readonly resources: readonly ResourcePattern[];
}

export interface CompiledGroup {
  readonly name: string;
  readonly rule: Rule;
  readonly policy: string;
  readonly statements: readonly CompiledStatement[];
  /** AWS IoT Core policies the group also applies (a Gatehouse extension of the definition). */
  readonly iotPolicies?: readonly string[];
}

/**
 * Why a decision came out as it did: the one list of the stable codes, documented in
 * docs/errors.md (a test keeps the two in step). The API's response schema, the
 * answer objects of the authorize handler and the docs test derive from it.
 */
export const DECISION_REASONS = [
  'ALLOWED_BY_STATEMENT',
  'DENIED_BY_STATEMENT',
  'NO_GROUP_SELECTS_THING',
  'NO_MATCHING_STATEMENT',
  'UNKNOWN_OPERATION',
  'MALFORMED_RESOURCE',
  'RESOURCE_TYPE_MISMATCH',
  'IOT_POLICY_NOT_FOUND',
] as const;

export type DecisionReason = (typeof DECISION_REASONS)[number];

export interface Decision {
  readonly allowed: boolean;
  readonly reason: DecisionReason;
  /** Set when a statement decided. */
  readonly group?: string;
  readonly policy?: string;
  readonly statement?: string;
  /** The deciding statement's resource with variables resolved (`*` for wildcards). */
  readonly resourcePattern?: string;
  /** `iot` when an AWS IoT Core policy decided (absent: the Greengrass dialect). */
  readonly dialect?: 'iot';
  /** IoT only: the action whose evaluation decided (`iot:RetainPublish` for a retained publish refused on it). */
  readonly action?: string;
}

export interface StatementMatch {
  readonly effect: Effect;
  readonly group: string;
  readonly policy: string;
  readonly statement: string;
  /** The resource as written in the policy. */
  readonly pattern: string;
  /** The resource with this principal's variables resolved. */
  readonly resolved: string;
}

export interface Explanation extends Decision {
  readonly thingName: string;
  readonly clientId: string;
  readonly operation: string;
  readonly resource: string;
  /** Every group whose selection rule selects the thing, with its policy. */
  readonly groups: readonly { readonly name: string; readonly policy: string }[];
  /** Every statement that matches the request (the deciding one first). */
  readonly matches: readonly StatementMatch[];
  /** One or two sentences for people. */
  readonly message: string;
}
