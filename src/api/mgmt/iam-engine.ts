/**
 * The IAM identity-policy decisions of management calls: the caller's policies in force
 * (their default versions, from the control store), compiled by the IAM dialect and
 * cached by the exact set of policy versions, so a call compiles nothing unless a
 * policy, a version or an attachment changed since the last call of a caller with the
 * same policies.
 */
import type { IamContext, IamRequest } from '../../core/policy/iam/context.js';
import { compileIamPolicies } from '../../core/policy/iam/index.js';

export interface PolicyInForce {
  readonly name: string;
  readonly versionId: string;
  readonly document: string;
}

export interface IamCallDecision {
  readonly allowed: boolean;
  /** `ALLOWED_BY_STATEMENT`, `DENIED_BY_STATEMENT` (explicit deny) or `NO_MATCHING_STATEMENT` (implicit deny). */
  readonly reason: string;
  readonly policy: string | null;
  readonly statement: string | null;
}

/** A compiled set of policies that decides requests. */
export interface CompiledIamPolicies {
  decide(context: IamContext, request: IamRequest, now: number): IamCallDecision;
}

/** Compiles policy documents (throws on a document the dialect refuses). */
export type IamCompiler = (policies: readonly PolicyInForce[]) => CompiledIamPolicies;

const MAX_ENTRIES = 1024;

export class IamPolicyCache {
  readonly #compile: IamCompiler;
  readonly #entries = new Map<string, { readonly documents: readonly string[]; readonly compiled: CompiledIamPolicies }>();

  constructor(compile: IamCompiler) {
    this.#compile = compile;
  }

  /** The compiled form of exactly these policy versions. */
  get(policies: readonly PolicyInForce[]): CompiledIamPolicies {
    const sorted = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const key = sorted.map((p) => `${p.name}\u0000${p.versionId}`).join('\u0001');
    const hit = this.#entries.get(key);
    // A policy deleted and created again reuses its name and `v1`: the text decides.
    if (hit !== undefined && hit.documents.every((d, i) => d === sorted[i]!.document)) return hit.compiled;
    const compiled = this.#compile(sorted);
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(key, { documents: sorted.map((p) => p.document), compiled });
    return compiled;
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The compiler of the IAM dialect (core/policy/iam). A stored policy is validated when
 * it is written, so a refusal here means the store holds a document the dialect no
 * longer accepts: the call fails (500, logged) rather than being decided without it.
 */
export const compileWithIamDialect: IamCompiler = (policies) => {
  const r = compileIamPolicies(policies.map((p) => ({ name: p.name, document: p.document })));
  if (!r.ok) {
    const first = r.problems[0];
    throw new Error(`IAM policy ${first?.policy ?? '?'} cannot be compiled: ${first?.code ?? '?'}`);
  }
  const set = r.set;
  return {
    decide(context, request, now) {
      const d = set.decide('all', context, request, now);
      return { allowed: d.allowed, reason: d.reason, policy: d.policy ?? null, statement: d.statement ?? null };
    },
  };
};
