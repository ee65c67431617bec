/**
 * The AWS IoT Core policy set: the shared evaluator (`evaluator.ts`, where the
 * evaluation order is written) with the IoT dialect (`dialect.ts`), and what only IoT
 * requests have.
 *
 * A retained `iot:Publish` is decided twice, for `iot:Publish` and `iot:RetainPublish`
 * on the same topic, and is allowed only when both are
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html).
 */
import type { IotContext, IotDeployment, IotRequest } from './context.js';
import { IOT_DIALECT } from './dialect.js';
import { IotPolicyNotFoundError } from './errors.js';
import {
  compilePolicies, denyFirst, PolicyEvaluator,
  type NamedPolicyProblem, type PolicyDecision, type PolicyDecisionReason, type PolicyExplanation, type PolicyInput, type PolicyStatementMatch,
} from './evaluator.js';

export type IotPolicyInput = PolicyInput;

/** A problem or a warning of one named policy. */
export type IotNamedProblem = NamedPolicyProblem;

export type IotDecisionReason = PolicyDecisionReason;

/** `action`: the action whose evaluation decided: `iot:RetainPublish` when a retained publish fails on it. */
export type IotDecision = PolicyDecision;

export type IotStatementMatch = PolicyStatementMatch;

export type IotExplanation = PolicyExplanation<IotRequest>;

export type IotCompileResult =
  | {
    readonly ok: true;
    readonly set: IotPolicySet;
    readonly warnings: readonly IotNamedProblem[];
    /** How many policies were taken over from the previous set unchanged (not parsed again). */
    readonly reused: number;
  }
  | { readonly ok: false; readonly problems: readonly IotNamedProblem[]; readonly warnings: readonly IotNamedProblem[] };

/** The evaluator of a set, for compileIotPolicies to reuse (set in IotPolicySet's static block). */
let evaluatorOf: (set: IotPolicySet) => PolicyEvaluator<IotContext, IotDeployment>;

const missing = (name: string): Error => new IotPolicyNotFoundError(name);

/** A frozen set of compiled IoT policies. */
export class IotPolicySet {
  readonly #core: PolicyEvaluator<IotContext, IotDeployment>;

  static {
    evaluatorOf = (set) => set.#core;
  }

  /** Use compileIotPolicies. */
  constructor(core: PolicyEvaluator<IotContext, IotDeployment>) {
    this.#core = core;
    Object.freeze(this);
  }

  get deployment(): IotDeployment {
    return this.#core.env;
  }

  /** Policy names in load order. */
  get names(): readonly string[] {
    return this.#core.names;
  }

  /** How many policies the set holds. */
  get size(): number {
    return this.#core.size;
  }

  has(name: string): boolean {
    return this.#core.has(name);
  }

  #run(names: readonly string[] | 'all', ctx: IotContext, request: IotRequest, now: number, collect?: IotStatementMatch[]): IotDecision {
    const core = this.#core;
    const policies = core.select(names, missing);
    const ev = core.evaluation(ctx, request.resource, now);
    const first = core.decideAction(policies, ev, request.action, collect);
    const retained = request.retain === true && request.action.toLowerCase() === 'iot:publish';
    if (!retained) return first;
    // Only an explicit Deny of iot:Publish ends it here: without an applying iot:Publish
    // statement a Deny of iot:RetainPublish must still be found, because the caller may
    // combine this answer with another dialect's grant (combined.ts).
    if (first.reason === 'DENIED_BY_STATEMENT' && !collect) return first;
    const second = core.decideAction(policies, ev, 'iot:RetainPublish', collect);
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
    return { ...decision, request, matches: denyFirst(matches) };
  }
}

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
  const before = previous !== undefined && sameDeployment(previous.deployment, deployment) ? evaluatorOf(previous) : undefined;
  const r = compilePolicies(inputs, IOT_DIALECT, before);
  if (!r.ok) return r;
  const core = new PolicyEvaluator(r.policies, IOT_DIALECT, Object.freeze({ ...deployment }));
  return { ok: true, set: new IotPolicySet(core), warnings: r.warnings, reused: r.reused };
}
