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
 * Speed: each statement carries a bit mask of the known actions its action test
 * covers, so a decision for a known action skips other statements with one AND, and
 * patterns are precompiled (exact / prefix / variable template / wildcard); a
 * decision allocates nothing on the common paths.
 */
import { KNOWN_ACTIONS, actionMatches, canonicalAction } from './actions.js';
import { resolvedText, resourceMatches } from './arn.js';
import type { IotContext, IotDeployment, IotPolicyProblem, IotRequest } from './context.js';
import { IotPolicyNotFoundError } from './errors.js';
import { parseIotPolicyDocument, type IotPolicyDocument, type IotStatement } from './document.js';
import { resolveKey, resolveVariable } from './keys.js';
import { parseTemplate, substituteParts } from './variables.js';

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
  /** The statements, Deny first (a decision can stop at the first applying Deny). */
  readonly ordered: readonly IotStatement[];
  /** For each of `ordered`: one bit per known action (KNOWN_ACTIONS order) its action test covers. */
  readonly masks: readonly number[];
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

/** Known action (lower-cased) → its bit in a statement's action mask. */
const ACTION_BIT: ReadonlyMap<string, number> = new Map(KNOWN_ACTIONS.map((a, i) => [a, 1 << i]));
// INVARIANT: at most 31 known actions, so that every bit fits a Uint32 mask (tested).
const ALL_ACTIONS = 2 ** KNOWN_ACTIONS.length - 1;

/** The compiled policies of a set, for compileIotPolicies to reuse (set in IotPolicySet's static block). */
let compiledPolicies: (set: IotPolicySet) => ReadonlyMap<string, CompiledPolicy>;

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

/** Per-request inputs every statement test shares. */
interface Evaluation {
  readonly arn: string;
  readonly ctx: IotContext;
  readonly deployment: IotDeployment;
  readonly now: number;
  readonly resolve: (name: string) => string | undefined;
}

function resourceApplies(s: IotStatement, ev: Evaluation, matched?: string[]): boolean {
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

function conditionApplies(s: IotStatement, doc: IotPolicyDocument, ev: Evaluation): boolean {
  if (!s.condition) return true;
  const lookup = (key: string): readonly string[] | undefined => resolveKey(ev.ctx, key, ev.deployment, ev.now);
  const substitute = (text: string): string | undefined => {
    const t = parseTemplate(text, doc.variables);
    return t.ok ? substituteParts(t.parts, ev.resolve) : undefined;
  };
  return s.condition.test(lookup, substitute, ev.now);
}

/** A frozen set of compiled IoT policies. */
export class IotPolicySet {
  readonly #policies: ReadonlyMap<string, CompiledPolicy>;
  readonly #deployment: IotDeployment;

  static {
    compiledPolicies = (set) => set.#policies;
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

  #select(names: readonly string[] | 'all'): CompiledPolicy[] {
    if (names === 'all') return [...this.#policies.values()];
    return names.map((n) => {
      const p = this.#policies.get(n);
      // A policy named but missing could hold a Deny: refuse rather than decide without it.
      if (!p) throw new IotPolicyNotFoundError(n);
      return p;
    });
  }

  #evaluation(ctx: IotContext, arn: string, clock: number): Evaluation {
    const deployment = this.#deployment;
    // The context's own time, when it fixes one, is the evaluation time.
    const fixed = ctx.currentTime !== undefined ? Date.parse(ctx.currentTime) : NaN;
    const now = Number.isNaN(fixed) ? clock : fixed;
    return { arn, ctx, deployment, now, resolve: (name) => resolveVariable(ctx, name, deployment, now) };
  }

  /** Decides one action on one resource ARN (no retain handling). */
  #decideAction(policies: readonly CompiledPolicy[], ev: Evaluation, action: string, collect?: IotStatementMatch[]): IotDecision {
    const lower = action.toLowerCase();
    const bit = ACTION_BIT.get(lower);
    let allow: { p: CompiledPolicy; s: IotStatement } | undefined;
    let deny: { p: CompiledPolicy; s: IotStatement } | undefined;
    for (const p of policies) {
      const ordered = p.ordered;
      for (let i = 0; i < ordered.length; i++) {
        const s = ordered[i]!;
        if (bit !== undefined ? (p.masks[i]! & bit) === 0 : !actionApplies(s, lower)) continue;
        if (s.effect === 'Allow' && allow && !collect) continue;
        const matched: string[] | undefined = collect ? [] : undefined;
        if (!resourceApplies(s, ev, matched)) continue;
        if (!conditionApplies(s, p.document, ev)) continue;
        if (collect) {
          collect.push({ effect: s.effect, action: canonicalAction(action) ?? action, policy: p.name, statement: statementLabel(s), statementIndex: s.index, resources: matched ?? [] });
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
    const name = canonicalAction(action) ?? action;
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

  #run(names: readonly string[] | 'all', ctx: IotContext, request: IotRequest, now: number, collect?: IotStatementMatch[]): IotDecision {
    const policies = this.#select(names);
    const ev = this.#evaluation(ctx, request.resource, now);
    const first = this.#decideAction(policies, ev, request.action, collect);
    const retained = request.retain === true && request.action.toLowerCase() === 'iot:publish';
    if (!retained) return first;
    // Only an explicit Deny of iot:Publish ends it here: without an applying iot:Publish
    // statement a Deny of iot:RetainPublish must still be found, because the caller may
    // combine this answer with another dialect's grant (combined.ts).
    if (first.reason === 'DENIED_BY_STATEMENT' && !collect) return first;
    const second = this.#decideAction(policies, ev, 'iot:RetainPublish', collect);
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

/** The mask of known actions a statement's action test covers (each pattern knows its own). */
function actionMask(s: IotStatement): number {
  let mask = 0;
  for (const p of s.actions) mask |= p.mask;
  return s.notAction ? ALL_ACTIONS & ~mask : mask;
}

function compilePolicy(name: string, text: string | undefined, warnings: readonly IotNamedProblem[], document: IotPolicyDocument): CompiledPolicy {
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
  // A plain array of small integers of exact length: lighter than a typed array for a few statements.
  const masks = new Array<number>(n);
  for (let i = 0; i < n; i++) masks[i] = actionMask(ordered[i]!);
  return { name, text, warnings, document, ordered, masks };
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
