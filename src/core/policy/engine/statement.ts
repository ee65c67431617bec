import type { ActionPattern } from '../iot/actions.js';
import type { ResourcePattern as ArnPattern } from '../iot/arn.js';
import type { CompiledCondition } from '../iot/conditions.js';
import type { ResourcePattern as GlobPattern } from '../resource.js';

/**
 * The one internal form of a policy statement, whatever dialect it was written in.
 *
 * Every dialect's compiler yields statements of this form: the Greengrass device-group
 * policies (compile.ts), and the documents of the ARN dialects, AWS IoT Core policies
 * and IAM identity policies, which arn-policies.ts compiles through arnStatement
 * (arn-index.ts) from the one grammar (iot/document.ts) and the dialect's descriptor
 * (iot/dialect.ts, iam/dialect.ts). A statement says what a policy says and nothing
 * about who it is in force for: the index that holds it (a Greengrass match table of
 * one principal, the policies in force for one connection or one caller) says through
 * what it applies (a device group, an attachment). The one decision order over
 * applying statements, and the one explanation, are in decide.ts.
 *
 * INVARIANT: a statement is frozen once compiled and shared by every index that holds
 * it (a Greengrass policy named by many device groups is compiled once).
 */

/** The dialect a statement was written in; it selects the resource test's kind and the request validation. */
export type Dialect = 'greengrass' | 'iot' | 'iam';

/**
 * The action test: which actions a statement covers.
 *
 * `words` has one bit per known action of the dialect, known action i being bit
 * (i & 31) of word (i >>> 5) (Greengrass: the three MQTT operations in OPERATIONS order;
 * IoT and IAM: their action catalogs, iot/actions.ts and iam/actions.ts, whose masks are
 * as many words as they need), `not` inverting the list (`NotAction`) — already folded
 * into the words. `mask` is the first word, all a dialect of at most 32 actions reads
 * (Greengrass, IoT). `text` is the list as written, for people. `patterns` (the ARN
 * dialects) decides actions outside the known list (a wildcard pattern may name an
 * action the dialect does not know yet).
 */
export interface ActionTest {
  readonly mask: number;
  readonly words: readonly number[];
  readonly not: boolean;
  readonly text: readonly string[];
  readonly patterns?: readonly ActionPattern[];
}

/**
 * The resource test, in the dialect's pattern kind.
 *
 * - `glob` (Greengrass): `*` matches any run of characters, `${…}` variables are
 *   resolved for the principal; an unresolved variable drops an Allow's pattern and
 *   widens a Deny's to `*` (resource.ts, resolvePattern).
 * - `arn` (IoT, IAM): ARN patterns with `*`/`?` and policy variables (iot/arn.ts);
 *   `not` for `NotResource`. An unresolved variable makes a `Resource` entry match
 *   nothing; in a `NotResource` list it makes a Deny apply and an Allow not (fail closed).
 *   `variables`: the document's `${…}` are variables (Version 2012-10-17), which
 *   condition values substitute too.
 */
export type ResourceTest =
  | { readonly kind: 'glob'; readonly patterns: readonly GlobPattern[] }
  | { readonly kind: 'arn'; readonly not: boolean; readonly patterns: readonly ArnPattern[]; readonly variables: boolean };

/** A statement of any dialect, compiled. */
export interface Statement {
  readonly dialect: Dialect;
  /** The policy that holds it. */
  readonly policy: string;
  /** How people name it: a Greengrass statement's name, an IoT/IAM `Sid` or its 0-based index as text. */
  readonly label: string;
  /** Its position in its policy (0-based). */
  readonly index: number;
  /** Effect: true for Deny. */
  readonly deny: boolean;
  readonly actionTest: ActionTest;
  readonly resourceTest: ResourceTest;
  /** The `Condition` block (ARN dialects); undefined: no condition. */
  readonly condition: CompiledCondition | undefined;
}

/**
 * A statement found applying to a request, for explanations: the statement, what it is
 * in force through (`group`: the Greengrass device group), the action whose evaluation
 * found it (ARN dialects), and its resource entries that matched, as written and with
 * variables resolved.
 */
export interface AppliedStatement {
  readonly statement: Statement;
  readonly group?: string;
  readonly action?: string;
  /** The matching resource patterns as written (Greengrass; the ARN index leaves it empty). */
  readonly patterns: readonly string[];
  /**
   * The matching resource entries with variables resolved (Greengrass: `*` where an
   * unresolved variable widened a Deny; ARN dialects: the `Resource` entries that
   * matched, empty for `NotResource`).
   */
  readonly resolved: readonly string[];
}
