/**
 * The policy sets of the ARN dialects: named documents of one dialect (its descriptor:
 * ../iot/dialect.ts for AWS IoT Core policies, ../iam/dialect.ts for IAM identity
 * policies) compiled into the engine's statements, and the decision for one action on
 * one resource in the shape the dialects' public sets (IotPolicySet, IamPolicySet)
 * answer with.
 *
 * There is no evaluation loop here: each statement of a document becomes the engine's
 * one statement form (`arnStatement`, its action mask over the dialect's catalog in one
 * 32-bit word per 32 known actions), the policies in force become the ARN index
 * (`ArnStatements`, arn-index.ts, where the statement tests and the rules for
 * unresolved variables are), and the one decision order decides (`decideValid`,
 * decide.ts: any applying Deny, else any applying Allow, else NO_MATCHING_STATEMENT;
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
 * which AWS IoT Core follows: https://docs.aws.amazon.com/iot/latest/developerguide/iot-policies.html).
 * What differs between dialects comes from the descriptor: the grammar's rules, the
 * known actions, the values of keys and variables in a request context, the evaluation
 * time, the messages.
 */
import type { ActionCatalog } from '../iot/actions.js';
import type { IotPolicyProblem } from '../iot/context.js';
import type { PolicyDialect } from '../iot/dialect.js';
import { parsePolicyDocument, type IotPolicyDocument } from '../iot/document.js';
import { ArnPolicy, arnRequest, ArnStatements, arnStatement, type ArnRequest } from './arn-index.js';
import { decideValid } from './decide.js';
import type { AppliedStatement } from './statement.js';

export interface PolicyInput {
  readonly name: string;
  /** JSON text (a string), or the parsed JSON value. */
  readonly document: unknown;
}

/** A problem or a warning of one named policy. */
export interface NamedPolicyProblem extends IotPolicyProblem {
  readonly policy: string;
}

export type PolicyDecisionReason = 'ALLOWED_BY_STATEMENT' | 'DENIED_BY_STATEMENT' | 'NO_MATCHING_STATEMENT';

export interface PolicyDecision {
  readonly allowed: boolean;
  readonly reason: PolicyDecisionReason;
  /** The action whose evaluation decided (its documented spelling when the dialect knows it). */
  readonly action: string;
  /** Set when a statement decided. */
  readonly policy?: string;
  /** The deciding statement's `Sid`, or its 0-based index as text when it has none. */
  readonly statement?: string;
  readonly statementIndex?: number;
}

export interface PolicyStatementMatch {
  readonly effect: 'Allow' | 'Deny';
  readonly action: string;
  readonly policy: string;
  readonly statement: string;
  readonly statementIndex: number;
  /** The `Resource` entries that matched, variables substituted; empty for `NotResource`. */
  readonly resources: readonly string[];
}

export interface PolicyExplanation<R> extends PolicyDecision {
  readonly request: R;
  /** Every applying statement of every policy in force, Deny first. */
  readonly matches: readonly PolicyStatementMatch[];
}

/**
 * One compiled policy: its validated document, and the engine's form of its statements,
 * built when an index first selects the policy (a fleet's set holds thousands of policies
 * of which a gateway starts with none in use: bench:decide iotcompile).
 */
export class CompiledPolicy {
  readonly name: string;
  /** The JSON text it was compiled from (undefined for a parsed value): a later compile reuses the policy when the text is the same. */
  readonly text: string | undefined;
  /** Its warnings, reported again when it is reused. */
  readonly warnings: readonly NamedPolicyProblem[];
  readonly document: IotPolicyDocument;
  readonly #kind: 'iot' | 'iam';
  readonly #catalog: ActionCatalog;
  #arn: ArnPolicy | undefined;

  constructor(name: string, text: string | undefined, warnings: readonly NamedPolicyProblem[], document: IotPolicyDocument, kind: 'iot' | 'iam', catalog: ActionCatalog) {
    this.name = name;
    this.text = text;
    this.warnings = warnings;
    this.document = document;
    this.#kind = kind;
    this.#catalog = catalog;
  }

  /** The statements in the engine's form, Deny first, with their action masks. */
  get arn(): ArnPolicy {
    if (this.#arn === undefined) {
      const { name, document } = this;
      const statements = document.statements.map((st) => arnStatement(this.#kind, name, document.variables, st, this.#catalog));
      this.#arn = new ArnPolicy(name, statements, this.#catalog.words);
    }
    return this.#arn;
  }
}

export type PolicyCompileResult =
  | { readonly ok: true; readonly policies: ReadonlyMap<string, CompiledPolicy>; readonly warnings: readonly NamedPolicyProblem[]; readonly reused: number }
  | { readonly ok: false; readonly problems: readonly NamedPolicyProblem[]; readonly warnings: readonly NamedPolicyProblem[] };

/** The compiled policies of a set, for a later compile to reuse (set in PolicyEvaluator's static block). */
let compiledPolicies: <C, E>(set: PolicyEvaluator<C, E>) => ReadonlyMap<string, CompiledPolicy>;

/**
 * A frozen set of compiled policies of one dialect, and its decisions through the
 * engine. The dialect's public sets (`IotPolicySet`, `IamPolicySet`) are built on it and add what their
 * requests need (the IoT set: a retained publish).
 */
export class PolicyEvaluator<C, E> {
  readonly #policies: ReadonlyMap<string, CompiledPolicy>;
  readonly #dialect: PolicyDialect<C, E>;
  readonly #env: E;

  static {
    compiledPolicies = (set) => set.#policies;
  }

  constructor(policies: ReadonlyMap<string, CompiledPolicy>, dialect: PolicyDialect<C, E>, env: E) {
    this.#policies = policies;
    this.#dialect = dialect;
    this.#env = env;
    Object.freeze(this);
  }

  get dialect(): PolicyDialect<C, E> {
    return this.#dialect;
  }

  get env(): E {
    return this.#env;
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

  /**
   * The engine's ARN index over the named policies (or all), in that order; `missing`
   * makes the error for a name the set does not hold.
   */
  select(names: readonly string[] | 'all', missing: (name: string) => Error): ArnStatements {
    if (names === 'all') return new ArnStatements([...this.#policies.values()].map((p) => p.arn));
    return new ArnStatements(names.map((n) => {
      const p = this.#policies.get(n);
      // A policy named but missing could hold a Deny: refuse rather than decide without it.
      if (!p) throw missing(n);
      return p.arn;
    }));
  }

  /** `action` on `arn` for the requester described by `ctx`, as the index reads it (`clock`: epoch ms). */
  request(ctx: C, action: string, arn: string, clock: number): ArnRequest {
    return arnRequest(this.#dialect, this.#env, ctx, action, arn, clock);
  }

  /**
   * Decides one request with the engine's order over `index`; `collect` receives every
   * applying statement (policy by policy, each policy's Deny statements first).
   */
  decideAction(index: ArnStatements, r: ArnRequest, collect?: PolicyStatementMatch[]): PolicyDecision {
    if (collect) {
      const found: AppliedStatement[] = [];
      index.applying(r, found);
      for (const a of found) {
        const s = a.statement;
        collect.push({ effect: s.deny ? 'Deny' : 'Allow', action: r.action, policy: s.policy, statement: s.label, statementIndex: s.index, resources: a.resolved });
      }
    }
    const s = decideValid(index.alone, r);
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
}

/** Orders the matches of an explanation: every Deny, then every Allow. */
export function denyFirst(matches: readonly PolicyStatementMatch[]): PolicyStatementMatch[] {
  return [...matches.filter((m) => m.effect === 'Deny'), ...matches.filter((m) => m.effect === 'Allow')];
}

function compilePolicy<C, E>(name: string, text: string | undefined, warnings: readonly NamedPolicyProblem[], document: IotPolicyDocument, dialect: PolicyDialect<C, E>): CompiledPolicy {
  return new CompiledPolicy(name, text, warnings, document, dialect.codePrefix === 'IAM' ? 'iam' : 'iot', dialect.actions);
}

const NO_WARNINGS: readonly NamedPolicyProblem[] = Object.freeze([]);

const EMPTY_DOCUMENT: IotPolicyDocument = Object.freeze({ variables: false, statements: Object.freeze([]) });

/**
 * Compiles named policy documents of one dialect. A set with any invalid document is
 * rejected as a whole, with every problem of every policy; names must be unique.
 *
 * `previous`: a set in force whose compiled policies may be reused (the caller decides
 * whether they still mean the same, e.g. the same deployment). A policy given as JSON
 * text whose name and text are those of a policy of `previous` is taken over as
 * compiled (its warnings reported again), so a reload after a small change costs what
 * changed. Documents given as parsed values are always compiled again.
 */
export function compilePolicies<C, E>(inputs: readonly PolicyInput[], dialect: PolicyDialect<C, E>, previous?: PolicyEvaluator<C, E>): PolicyCompileResult {
  const problems: NamedPolicyProblem[] = [];
  const warnings: NamedPolicyProblem[] = [];
  const policies = new Map<string, CompiledPolicy>();
  const before = previous !== undefined && previous.dialect === dialect ? compiledPolicies(previous) : undefined;
  const duplicate = `${dialect.codePrefix}_POLICY_NAME_DUPLICATE`;
  let reused = 0;
  for (const input of inputs) {
    const name = input.name;
    if (policies.has(name)) {
      problems.push({ policy: name, code: duplicate, path: '$', message: `two policies are named \`${name}\``, fix: 'give every policy a distinct name' });
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
    const parsed = parsePolicyDocument(input.document, dialect);
    let own = NO_WARNINGS;
    if (parsed.warnings.length > 0) {
      own = parsed.warnings.map((w) => ({ policy: name, ...w }));
      for (const w of own) warnings.push(w);
    }
    if (!parsed.document) {
      for (const p of parsed.problems) problems.push({ policy: name, ...p });
      // Keep the name taken so a later duplicate is still reported.
      policies.set(name, compilePolicy(name, undefined, own, EMPTY_DOCUMENT, dialect));
      continue;
    }
    policies.set(name, compilePolicy(name, text, own, parsed.document, dialect));
  }
  if (problems.length > 0) return { ok: false, problems, warnings };
  return { ok: true, policies, warnings, reused };
}
