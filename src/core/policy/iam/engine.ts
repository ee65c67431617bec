/**
 * The IAM identity-policy set that authorizes management calls: the shared evaluator
 * (`../iot/evaluator.ts`, where the evaluation order is written) with the IAM dialect
 * (`dialect.ts`).
 *
 * Identity-based policies only: the policies attached to the caller (a user, or the
 * role of a session) are a union; an explicit Deny in any wins, then an Allow in any,
 * else the call is implicitly denied
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
 * There are no resource-based policies, permissions boundaries, service control
 * policies or session policies in Gatehouse, so nothing else can deny or limit a call.
 */
import {
  compilePolicies, denyFirst, PolicyEvaluator,
  type NamedPolicyProblem, type PolicyDecision, type PolicyDecisionReason, type PolicyExplanation, type PolicyInput, type PolicyStatementMatch,
} from '../iot/evaluator.js';
import type { IamContext, IamRequest } from './context.js';
import { IAM_DIALECT } from './dialect.js';
import { IamPolicyNotFoundError } from './errors.js';

export type IamPolicyInput = PolicyInput;
/** A problem or a warning of one named policy (codes `IAM_POLICY_…`, `IAM_CONDITION_…`). */
export type IamNamedProblem = NamedPolicyProblem;
export type IamDecisionReason = PolicyDecisionReason;
/** `action`: the request's action in its documented spelling (`IOT:creatething` → `iot:CreateThing`). */
export type IamDecision = PolicyDecision;
export type IamStatementMatch = PolicyStatementMatch;
export type IamExplanation = PolicyExplanation<IamRequest>;

export type IamCompileResult =
  | {
    readonly ok: true;
    readonly set: IamPolicySet;
    readonly warnings: readonly IamNamedProblem[];
    /** How many policies were taken over from the previous set unchanged (not parsed again). */
    readonly reused: number;
  }
  | { readonly ok: false; readonly problems: readonly IamNamedProblem[]; readonly warnings: readonly IamNamedProblem[] };

/** The evaluator of a set, for compileIamPolicies to reuse (set in IamPolicySet's static block). */
let evaluatorOf: (set: IamPolicySet) => PolicyEvaluator<IamContext, undefined>;

const missing = (name: string): Error => new IamPolicyNotFoundError(name);

/** A frozen set of compiled IAM identity policies. */
export class IamPolicySet {
  readonly #core: PolicyEvaluator<IamContext, undefined>;

  static {
    evaluatorOf = (set) => set.#core;
  }

  /** Use compileIamPolicies. */
  constructor(core: PolicyEvaluator<IamContext, undefined>) {
    this.#core = core;
    Object.freeze(this);
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

  #run(names: readonly string[] | 'all', ctx: IamContext, request: IamRequest, now: number, collect?: IamStatementMatch[]): IamDecision {
    const core = this.#core;
    const policies = core.select(names, missing);
    return core.decideAction(policies, core.evaluation(ctx, request.resource, now), request.action, collect);
  }

  /**
   * Decides `request` (an action on a resource ARN, or `*`) for the caller described by
   * `ctx`, under the named policies (those attached to the caller) or all of them.
   * `now`: the evaluation time in epoch milliseconds (`ctx.currentTime`, else
   * `ctx.epochTime`, overrides it). Throws IamPolicyNotFoundError for a name the set
   * does not hold.
   */
  decide(names: readonly string[] | 'all', ctx: IamContext, request: IamRequest, now: number): IamDecision {
    return this.#run(names, ctx, request, now);
  }

  /** The decision and every statement that applies to the request, Deny first. */
  explain(names: readonly string[] | 'all', ctx: IamContext, request: IamRequest, now: number): IamExplanation {
    const matches: IamStatementMatch[] = [];
    const decision = this.#run(names, ctx, request, now, matches);
    return { ...decision, request, matches: denyFirst(matches) };
  }
}

/**
 * Compiles named IAM policy documents (JSON text, or parsed values) into one set. A
 * set with any invalid document is rejected as a whole, with every problem of every
 * policy; names must be unique. `previous`: the set in force; a policy given as the
 * same name and JSON text is taken over as compiled.
 */
export function compileIamPolicies(inputs: readonly IamPolicyInput[], previous?: IamPolicySet): IamCompileResult {
  const r = compilePolicies(inputs, IAM_DIALECT, previous === undefined ? undefined : evaluatorOf(previous));
  if (!r.ok) return r;
  return { ok: true, set: new IamPolicySet(new PolicyEvaluator(r.policies, IAM_DIALECT, undefined)), warnings: r.warnings, reused: r.reused };
}
