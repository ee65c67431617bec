/**
 * The AWS IoT Core policy evaluator: a compiled, frozen set of named policy documents
 * and the decision for one request.
 *
 * Evaluation order (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html;
 * AWS IoT Core follows it: https://docs.aws.amazon.com/iot/latest/developerguide/iot-policies.html):
 *   1. A statement applies when its action test, its resource test and its condition
 *      all hold. `NotAction`/`NotResource` apply to everything their list does not name.
 *   2. Any applying Deny, in any policy in force, denies (DENIED_BY_STATEMENT).
 *   3. Otherwise any applying Allow allows (ALLOWED_BY_STATEMENT).
 *   4. Otherwise the request is implicitly denied (NO_MATCHING_STATEMENT), also when no
 *      policy is in force.
 * A retained `iot:Publish` is decided twice, for `iot:Publish` and `iot:RetainPublish`
 * on the same topic, and is allowed only when both are
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html).
 *
 * Unresolved variables (an absent thing, attribute, certificate field…): a `Resource`
 * entry with one matches nothing, as in IAM — so an Allow grants nothing through it and
 * a Deny does not fire through it. In a `NotResource` list an unresolved entry cannot
 * say what it excludes: a Deny then applies (fail closed), an Allow does not.
 *
 * The statements compile into the engine's one statement form and are decided by its
 * one order (engine/decide.ts) over the ARN index (engine/arn-index.ts: each statement
 * carries a bit mask of the known actions its action test covers, so a decision for a
 * known action skips other statements with one AND; patterns are precompiled).
 */
import { ArnPolicy, ArnStatements, arnStatement, type ArnRequest } from '../engine/arn-index.js';
import { decideValid } from '../engine/decide.js';
import type { AppliedStatement } from '../engine/statement.js';
import { IOT_ALL_ACTIONS, iotRequest } from '../engine/iot-request.js';
import type { IotContext, IotDeployment, IotPolicyProblem, IotRequest } from './context.js';
import { IotPolicyNotFoundError } from './errors.js';
import { parseIotPolicyDocument, type IotPolicyDocument } from './document.js';

export interface IotPolicyInput {
  readonly name: string;
  /** JSON text (a string), or the parsed JSON value. */
  readonly document: unknown;
}

/** A problem or a warning of one named policy. */
export interface IotNamedProblem extends IotPolicyProblem {
  readonly policy: string;
}

export type IotDecisionReason = 'ALLOWED_BY_STATEMENT' | 'DENIED_BY_STATEMENT' | 'NO_MATCHING_STATEMENT';

export interface IotDecision {
  readonly allowed: boolean;
  readonly reason: IotDecisionReason;
  /** The action whose evaluation decided: `iot:RetainPublish` when a retained publish fails on it. */
  readonly action: string;
  /** Set when a statement decided. */
  readonly policy?: string;
  /** The deciding statement's `Sid`, or its 0-based index as text when it has none. */
  readonly statement?: string;
  readonly statementIndex?: number;
}

export interface IotStatementMatch {
  readonly effect: 'Allow' | 'Deny';
  readonly action: string;
  readonly policy: string;
  readonly statement: string;
  readonly statementIndex: number;
  /** The `Resource` entries that matched, variables substituted; empty for `NotResource`. */
  readonly resources: readonly string[];
}

export interface IotExplanation extends IotDecision {
  readonly request: IotRequest;
  /** Every applying statement of every policy in force, Deny first. */
  readonly matches: readonly IotStatementMatch[];
}

interface CompiledPolicy {
  readonly name: string;
  /** The JSON text it was compiled from (undefined for a parsed value): a later compile reuses the policy when the text is the same. */
  readonly text: string | undefined;
  /** Its warnings, reported again when it is reused. */
  readonly warnings: readonly IotNamedProblem[];
  readonly document: IotPolicyDocument;
  /** The statements in the engine's form, Deny first, with their action masks. */
  readonly arn: ArnPolicy;
}

export type IotCompileResult =
  | {
    readonly ok: true;
    readonly set: IotPolicySet;
    readonly warnings: readonly IotNamedProblem[];
    /** How many policies were taken over from the previous set unchanged (not parsed again). */
    readonly reused: number;
  }
  | { readonly ok: false; readonly problems: readonly IotNamedProblem[]; readonly warnings: readonly IotNamedProblem[] };

/** The compiled policies of a set, for compileIotPolicies to reuse (set in IotPolicySet's static block). */
let compiledPolicies: (set: IotPolicySet) => ReadonlyMap<string, CompiledPolicy>;

/**
 * The index of the named policies of `set` (the engine's ARN index over their
 * statements), for deciding them together with another dialect's index. Throws
 * IotPolicyNotFoundError when a name is not in the set.
 */
export function iotPolicyIndex(set: IotPolicySet, names: readonly string[]): ArnStatements {
  return policyIndex(set, names);
}

let policyIndex: (set: IotPolicySet, names: readonly string[]) => ArnStatements;

/** A frozen set of compiled IoT policies. */
export class IotPolicySet {
  readonly #policies: ReadonlyMap<string, CompiledPolicy>;
  readonly #deployment: IotDeployment;

  static {
    compiledPolicies = (set) => set.#policies;
    policyIndex = (set, names) => set.#select(names);
  }

  /** Use compileIotPolicies. */
  constructor(policies: ReadonlyMap<string, CompiledPolicy>, deployment: IotDeployment) {
    this.#policies = policies;
    this.#deployment = deployment;
    Object.freeze(this);
  }

  get deployment(): IotDeployment {
    return this.#deployment;
  }

  /** Policy names in load order. */
  get names(): readonly string[] {
    return [...this.#policies.keys()];
  }

  /** How many policies the set holds. */
  get size(): number {
    return this.#policies.size;
  }

  has(name: string): boolean {
    return this.#policies.has(name);
  }

  #select(names: readonly string[] | 'all'): ArnStatements {
    if (names === 'all') return new ArnStatements([...this.#policies.values()].map((p) => p.arn));
    return new ArnStatements(names.map((n) => {
      const p = this.#policies.get(n);
      // A policy named but missing could hold a Deny: refuse rather than decide without it.
      if (!p) throw new IotPolicyNotFoundError(n);
      return p.arn;
    }));
  }

  /** Decides one action on one resource ARN (no retain handling): the engine's order over the policies' index. */
  #decideAction(index: ArnStatements, ctx: IotContext, arn: string, now: number, action: string, collect?: IotStatementMatch[]): IotDecision {
    const r: ArnRequest = iotRequest(this.#deployment, ctx, action, arn, now);
    if (collect) {
      const found: AppliedStatement[] = [];
      index.applying(r, found);
      for (const a of found) {
        collect.push({ effect: a.statement.deny ? 'Deny' : 'Allow', action: r.action, policy: a.statement.policy, statement: a.statement.label, statementIndex: a.statement.index, resources: a.resolved });
      }
    }
    const s = decideValid([index], r);
    if (s === null) return { allowed: false, reason: 'NO_MATCHING_STATEMENT', action: r.action };
    return {
      allowed: !s.deny,
      reason: s.deny ? 'DENIED_BY_STATEMENT' : 'ALLOWED_BY_STATEMENT',
      action: r.action,
      policy: s.policy,
      statement: s.label,
      statementIndex: s.index,
    };
  }

  #run(names: readonly string[] | 'all', ctx: IotContext, request: IotRequest, now: number, collect?: IotStatementMatch[]): IotDecision {
    const index = this.#select(names);
    const first = this.#decideAction(index, ctx, request.resource, now, request.action, collect);
    const retained = request.retain === true && request.action.toLowerCase() === 'iot:publish';
    if (!retained) return first;
    // Only an explicit Deny of iot:Publish ends it here: without an applying iot:Publish
    // statement a Deny of iot:RetainPublish must still be found, because the caller may
    // combine this answer with another dialect's grant (combined.ts).
    if (first.reason === 'DENIED_BY_STATEMENT' && !collect) return first;
    const second = this.#decideAction(index, ctx, request.resource, now, 'iot:RetainPublish', collect);
    // Deny wins across both evaluations; then a missing grant on either side denies.
    if (first.reason === 'DENIED_BY_STATEMENT') return first;
    if (second.reason === 'DENIED_BY_STATEMENT') return second;
    if (!first.allowed) return first;
    return second.allowed ? first : second;
  }

  /**
   * Decides `request` for a connection described by `ctx` under the named policies (or
   * all of them). `now` is the evaluation time in epoch milliseconds (conditions on
   * time; `ctx.currentTime` overrides it).
   */
  decide(names: readonly string[] | 'all', ctx: IotContext, request: IotRequest, now: number): IotDecision {
    return this.#run(names, ctx, request, now);
  }

  /** The decision and every statement that applies to the request, Deny first. */
  explain(names: readonly string[] | 'all', ctx: IotContext, request: IotRequest, now: number): IotExplanation {
    const matches: IotStatementMatch[] = [];
    const decision = this.#run(names, ctx, request, now, matches);
    const ordered = [...matches.filter((m) => m.effect === 'Deny'), ...matches.filter((m) => m.effect === 'Allow')];
    return { ...decision, request, matches: ordered };
  }
}

function compilePolicy(name: string, text: string | undefined, warnings: readonly IotNamedProblem[], document: IotPolicyDocument): CompiledPolicy {
  const statements = document.statements.map((st) => arnStatement('iot', name, document.variables, st, IOT_ALL_ACTIONS));
  return { name, text, warnings, document, arn: new ArnPolicy(name, statements) };
}

const NO_WARNINGS: readonly IotNamedProblem[] = Object.freeze([]);

const EMPTY_DOCUMENT: IotPolicyDocument = Object.freeze({ variables: false, statements: Object.freeze([]) });

function sameDeployment(a: IotDeployment, b: IotDeployment): boolean {
  return a.partition === b.partition && a.region === b.region && a.accountId === b.accountId;
}

/**
 * Compiles named policy documents into one set. A set with any invalid document is
 * rejected as a whole, with every problem of every policy; names must be unique.
 *
 * `previous`: the set in force. A policy given as JSON text whose name and text are
 * those of a policy of `previous` is taken over as compiled (its warnings reported
 * again), so a reload after a small change costs what changed. Nothing is reused when
 * the deployment differs (ARNs name the partition, region and account), nor for
 * documents given as parsed values.
 */
export function compileIotPolicies(inputs: readonly IotPolicyInput[], deployment: IotDeployment, previous?: IotPolicySet): IotCompileResult {
  const problems: IotNamedProblem[] = [];
  const warnings: IotNamedProblem[] = [];
  const policies = new Map<string, CompiledPolicy>();
  const before = previous !== undefined && sameDeployment(previous.deployment, deployment) ? compiledPolicies(previous) : undefined;
  let reused = 0;
  for (const input of inputs) {
    const name = input.name;
    if (policies.has(name)) {
      problems.push({ policy: name, code: 'IOT_POLICY_NAME_DUPLICATE', path: '$', message: `two policies are named \`${name}\``, fix: 'give every policy a distinct name' });
      continue;
    }
    const text = typeof input.document === 'string' ? input.document : undefined;
    const old = text !== undefined ? before?.get(name) : undefined;
    if (old !== undefined && old.text === text) {
      policies.set(name, old);
      for (const w of old.warnings) warnings.push(w);
      reused++;
      continue;
    }
    const parsed = parseIotPolicyDocument(input.document);
    let own = NO_WARNINGS;
    if (parsed.warnings.length > 0) {
      own = parsed.warnings.map((w) => ({ policy: name, ...w }));
      for (const w of own) warnings.push(w);
    }
    if (!parsed.document) {
      for (const p of parsed.problems) problems.push({ policy: name, ...p });
      // Keep the name taken so a later duplicate is still reported.
      policies.set(name, compilePolicy(name, undefined, own, EMPTY_DOCUMENT));
      continue;
    }
    policies.set(name, compilePolicy(name, text, own, parsed.document));
  }
  if (problems.length > 0) return { ok: false, problems, warnings };
  return { ok: true, set: new IotPolicySet(policies, Object.freeze({ ...deployment })), warnings, reused };
}
