/**
 * The evaluator of policy documents, shared by every dialect (`dialect.ts`): a compiled,
 * frozen set of named documents and the decision for one action on one resource.
 *
 * Evaluation order (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html;
 * AWS IoT Core follows it: https://docs.aws.amazon.com/iot/latest/developerguide/iot-policies.html):
 *   1. A statement applies when its action test, its resource test and its condition
 *      all hold. `NotAction`/`NotResource` apply to everything their list does not name.
 *   2. Any applying Deny, in any policy in force, denies (DENIED_BY_STATEMENT).
 *   3. Otherwise any applying Allow allows (ALLOWED_BY_STATEMENT).
 *   4. Otherwise the request is implicitly denied (NO_MATCHING_STATEMENT), also when no
 *      policy is in force.
 *
 * Unresolved variables (an absent thing, attribute, tag…): a `Resource` entry with one
 * matches nothing, as in IAM — so an Allow grants nothing through it and a Deny does
 * not fire through it. In a `NotResource` list an unresolved entry cannot say what it
 * excludes: a Deny then applies (fail closed), an Allow does not.
 *
 * Speed: each statement carries a bit mask of the dialect's known actions its action
 * test covers (one 32-bit word per 32 actions), so a decision for a known action skips
 * other statements with one AND, and patterns are precompiled (exact / prefix /
 * variable template / wildcard); a decision allocates nothing on the common paths.
 */
import { actionMatches } from './actions.js';
import { resolvedText, resourceMatches } from './arn.js';
import type { IotPolicyProblem } from './context.js';
import type { PolicyDialect } from './dialect.js';
import { parsePolicyDocument, type IotPolicyDocument, type IotStatement } from './document.js';
import { parseTemplate, substituteParts } from './variables.js';

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

export interface CompiledPolicy {
  readonly name: string;
  /** The JSON text it was compiled from (undefined for a parsed value): a later compile reuses the policy when the text is the same. */
  readonly text: string | undefined;
  /** Its warnings, reported again when it is reused. */
  readonly warnings: readonly NamedPolicyProblem[];
  readonly document: IotPolicyDocument;
  /** The statements, Deny first (a decision can stop at the first applying Deny). */
  readonly ordered: readonly IotStatement[];
  /** For each of `ordered`, `words` mask words: one bit per known action its action test covers. */
  readonly masks: readonly number[];
}

export type PolicyCompileResult =
  | { readonly ok: true; readonly policies: ReadonlyMap<string, CompiledPolicy>; readonly warnings: readonly NamedPolicyProblem[]; readonly reused: number }
  | { readonly ok: false; readonly problems: readonly NamedPolicyProblem[]; readonly warnings: readonly NamedPolicyProblem[] };

/** Per-request inputs every statement test shares. */
export interface Evaluation<C, E> {
  readonly arn: string;
  readonly ctx: C;
  readonly env: E;
  readonly now: number;
  readonly resolve: (name: string) => string | undefined;
}

function statementLabel(s: IotStatement): string {
  return s.sid ?? String(s.index);
}

function actionApplies(s: IotStatement, lowerAction: string): boolean {
  let any = false;
  for (const p of s.actions) {
    if (actionMatches(p, lowerAction)) {
      any = true;
      break;
    }
  }
  return s.notAction ? !any : any;
}

function resourceApplies<C, E>(s: IotStatement, ev: Evaluation<C, E>, matched?: string[]): boolean {
  let any = false;
  let unresolved = false;
  for (const p of s.resources) {
    if (resourceMatches(p, ev.arn, ev.resolve)) {
      any = true;
      if (!matched) break;
      matched.push(resolvedText(p, ev.resolve) ?? p.text);
    } else if (s.notResource && p.kind === 'template' && resolvedText(p, ev.resolve) === undefined) {
      unresolved = true;
    }
  }
  if (!s.notResource) return any;
  if (any) return false;
  // An unresolved NotResource entry: fail closed (a Deny applies, an Allow does not).
  return unresolved ? s.effect === 'Deny' : true;
}

/** The compiled policies of a set, for a later compile to reuse (set in PolicyEvaluator's static block). */
let compiledPolicies: <C, E>(set: PolicyEvaluator<C, E>) => ReadonlyMap<string, CompiledPolicy>;

/**
 * A frozen set of compiled policies of one dialect, and its decisions. The dialect's
 * public sets (`IotPolicySet`, `IamPolicySet`) are built on it and add what their
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

  /** The named policies (or all); `missing` makes the error for a name the set does not hold. */
  select(names: readonly string[] | 'all', missing: (name: string) => Error): CompiledPolicy[] {
    if (names === 'all') return [...this.#policies.values()];
    return names.map((n) => {
      const p = this.#policies.get(n);
      // A policy named but missing could hold a Deny: refuse rather than decide without it.
      if (!p) throw missing(n);
      return p;
    });
  }

  evaluation(ctx: C, arn: string, clock: number): Evaluation<C, E> {
    const dialect = this.#dialect;
    const env = this.#env;
    const now = dialect.evaluationTime(ctx, clock);
    return { arn, ctx, env, now, resolve: (name) => dialect.resolveVariable(ctx, name, env, now) };
  }

  #conditionApplies(s: IotStatement, doc: IotPolicyDocument, ev: Evaluation<C, E>): boolean {
    if (!s.condition) return true;
    const dialect = this.#dialect;
    const lookup = (key: string): readonly string[] | undefined => dialect.resolveKey(ev.ctx, key, ev.env, ev.now);
    const substitute = (text: string): string | undefined => {
      const t = parseTemplate(text, doc.variables);
      return t.ok ? substituteParts(t.parts, ev.resolve) : undefined;
    };
    return s.condition.test(lookup, substitute, ev.now);
  }

  /** Decides one action on the evaluation's resource under `policies`; `collect` receives every applying statement. */
  decideAction(policies: readonly CompiledPolicy[], ev: Evaluation<C, E>, action: string, collect?: PolicyStatementMatch[]): PolicyDecision {
    const catalog = this.#dialect.actions;
    const lower = action.toLowerCase();
    const index = catalog.indexOf(lower);
    const words = catalog.words;
    const word = index === undefined ? 0 : index >>> 5;
    const bit = index === undefined ? 0 : 1 << (index & 31);
    const name = catalog.canonical(action) ?? action;
    let allow: { p: CompiledPolicy; s: IotStatement } | undefined;
    let deny: { p: CompiledPolicy; s: IotStatement } | undefined;
    for (const p of policies) {
      const ordered = p.ordered;
      for (let i = 0; i < ordered.length; i++) {
        const s = ordered[i]!;
        if (index !== undefined ? (p.masks[i * words + word]! & bit) === 0 : !actionApplies(s, lower)) continue;
        if (s.effect === 'Allow' && allow && !collect) continue;
        const matched: string[] | undefined = collect ? [] : undefined;
        if (!resourceApplies(s, ev, matched)) continue;
        if (!this.#conditionApplies(s, p.document, ev)) continue;
        if (collect) {
          collect.push({ effect: s.effect, action: name, policy: p.name, statement: statementLabel(s), statementIndex: s.index, resources: matched ?? [] });
        }
        if (s.effect === 'Deny') {
          deny ??= { p, s };
          if (!collect) break;
        } else {
          allow ??= { p, s };
        }
      }
      if (deny && !collect) break;
    }
    const hit = deny ?? allow;
    if (!hit) return { allowed: false, reason: 'NO_MATCHING_STATEMENT', action: name };
    return {
      allowed: !deny,
      reason: deny ? 'DENIED_BY_STATEMENT' : 'ALLOWED_BY_STATEMENT',
      action: name,
      policy: hit.p.name,
      statement: statementLabel(hit.s),
      statementIndex: hit.s.index,
    };
  }
}

/** Orders the matches of an explanation: every Deny, then every Allow. */
export function denyFirst(matches: readonly PolicyStatementMatch[]): PolicyStatementMatch[] {
  return [...matches.filter((m) => m.effect === 'Deny'), ...matches.filter((m) => m.effect === 'Allow')];
}

/** The mask words of the known actions a statement's action test covers (each pattern knows its own). */
function actionMask(s: IotStatement, words: number, all: readonly number[], out: number[], at: number): void {
  for (let w = 0; w < words; w++) {
    let mask = 0;
    for (const p of s.actions) mask |= p.words[w]!;
    out[at + w] = s.notAction ? all[w]! & ~mask : mask;
  }
}

function compilePolicy<C, E>(name: string, text: string | undefined, warnings: readonly NamedPolicyProblem[], document: IotPolicyDocument, dialect: PolicyDialect<C, E>): CompiledPolicy {
  const all = document.statements;
  const n = all.length;
  // Deny first. Most documents are in that order already (no Deny, or Deny first): share their list.
  let sorted = true;
  for (let i = 1; i < n; i++) if (all[i]!.effect === 'Deny' && all[i - 1]!.effect === 'Allow') sorted = false;
  let ordered: readonly IotStatement[] = all;
  if (!sorted) {
    const list = new Array<IotStatement>(n);
    let k = 0;
    for (const s of all) if (s.effect === 'Deny') list[k++] = s;
    for (const s of all) if (s.effect === 'Allow') list[k++] = s;
    ordered = list;
  }
  const catalog = dialect.actions;
  const words = catalog.words;
  // A plain array of small integers of exact length: lighter than a typed array for a few statements.
  const masks = new Array<number>(n * words);
  for (let i = 0; i < n; i++) actionMask(ordered[i]!, words, catalog.all, masks, i * words);
  return { name, text, warnings, document, ordered, masks };
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
