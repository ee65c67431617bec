import { actionMatches, type ActionCatalog, type ActionPattern } from '../iot/actions.js';
import { resolvedText, resourceMatches } from '../iot/arn.js';
import type { PolicyDialect } from '../iot/dialect.js';
import type { IotStatement } from '../iot/document.js';
import { parseTemplate, substituteParts } from '../iot/variables.js';
import type { Decision } from '../model.js';
import { statementDecision, type ExplainingIndex } from './decide.js';
import type { ActionTest, AppliedStatement, Statement } from './statement.js';

/**
 * The index of the ARN dialects (AWS IoT Core policies, and IAM identity policies on the
 * same grammar): the statements of the policies in force, each policy's Deny statements
 * first, each statement with the mask of the known actions its action test covers (one
 * 32-bit word per 32 actions of the dialect's catalog), so that a request for a known
 * action skips the statements of other actions with one AND on one word.
 *
 * A statement applies when its action test, its resource test and its condition all
 * hold (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
 * Unresolved variables: a `Resource` entry with one matches nothing, as in IAM; in a
 * `NotResource` list an unresolved entry cannot say what it excludes, so a Deny then
 * applies (fail closed) and an Allow does not.
 */

/** One request as the statement tests read it: built once per request, shared by every statement. */
export interface ArnRequest {
  /** The action as asked, lower-cased (actions are case-insensitive). */
  readonly lowerAction: string;
  /** Its bit in word `word` of the dialect's known-action masks; 0 for an action the dialect does not know. */
  readonly bit: number;
  /** The mask word that holds `bit` (known action i: word i >>> 5, bit 1 << (i & 31)). */
  readonly word: number;
  /** The action's documented spelling, named by decisions. */
  readonly action: string;
  readonly arn: string;
  /** A policy variable's value (undefined: unresolved). */
  readonly resolve: (name: string) => string | undefined;
  /** A condition key's values (undefined or empty: absent). */
  readonly lookup: (key: string) => readonly string[] | undefined;
  /** Evaluation time, epoch milliseconds. */
  readonly now: number;
}

/**
 * The engine's form of a statement of an ARN-dialect document (the grammar's
 * IotStatement), its action masks over `catalog`, the dialect's known actions (a
 * `NotAction` covers every known action outside its list).
 */
export function arnStatement(dialect: 'iot' | 'iam', policy: string, variables: boolean, s: IotStatement, catalog: ActionCatalog): Statement {
  const n = catalog.words;
  let words: readonly number[];
  if (n === 1) {
    let mask = 0;
    for (const p of s.actions) mask |= p.words[0]!;
    words = oneWord(s.notAction ? catalog.all[0]! & ~mask : mask);
  } else {
    const list = new Array<number>(n);
    for (let w = 0; w < n; w++) {
      let mask = 0;
      for (const p of s.actions) mask |= p.words[w]!;
      list[w] = s.notAction ? catalog.all[w]! & ~mask : mask;
    }
    words = list;
  }
  // Plain objects (readonly by type, never written): a fleet's set holds tens of
  // thousands of statements, and freezing each part and copying the action texts cost
  // a third of a cold compile and of the set's heap (bench:decide iotcompile).
  return {
    dialect,
    policy,
    label: s.sid ?? String(s.index),
    index: s.index,
    deny: s.effect === 'Deny',
    actionTest: new ArnActionTest(words, s.notAction, s.actions),
    resourceTest: { kind: 'arn', not: s.notResource, patterns: s.resources, variables },
    condition: s.condition,
  };
}

/** The action test of an ARN statement; the texts, for people only, are made when asked. */
class ArnActionTest implements ActionTest {
  readonly mask: number;
  readonly words: readonly number[];
  readonly not: boolean;
  readonly patterns: readonly ActionPattern[];

  constructor(words: readonly number[], not: boolean, patterns: readonly ActionPattern[]) {
    this.mask = words[0]!;
    this.words = words;
    this.not = not;
    this.patterns = patterns;
  }

  get text(): readonly string[] {
    return this.patterns.map((p) => p.text);
  }
}

/** One-word masks, shared: a catalog of at most 32 actions has few distinct masks. */
const ONE_WORD = new Map<number, readonly number[]>();

function oneWord(mask: number): readonly number[] {
  let w = ONE_WORD.get(mask);
  if (w === undefined) {
    if (ONE_WORD.size >= 4096) ONE_WORD.clear();
    ONE_WORD.set(mask, (w = Object.freeze([mask])));
  }
  return w;
}

/**
 * One request of an ARN dialect: `action` on `arn` for the requester described by
 * `ctx` (a connection's IoT context, a caller's IAM context), `env` what the dialect's
 * keys also need (IoT: the deployment), at `clock` (epoch milliseconds; the dialect
 * reads the evaluation time from the context when it fixes one).
 */
export function arnRequest<C, E>(dialect: PolicyDialect<C, E>, env: E, ctx: C, action: string, arn: string, clock: number): ArnRequest {
  const now = dialect.evaluationTime(ctx, clock);
  const catalog = dialect.actions;
  const lowerAction = action.toLowerCase();
  const index = catalog.indexOf(lowerAction);
  return {
    lowerAction,
    bit: index === undefined ? 0 : 1 << (index & 31),
    word: index === undefined ? 0 : index >>> 5,
    action: catalog.spellingOf(lowerAction) ?? action,
    arn,
    resolve: (name) => dialect.resolveVariable(ctx, name, env, now),
    lookup: (key) => dialect.resolveKey(ctx, key, env, now),
    now,
  };
}

/** One policy's statements, Deny first (a search for a Deny stops at the first Allow). */
export class ArnPolicy {
  readonly name: string;
  readonly statements: readonly Statement[];
  /** Mask words per statement (the dialect's catalog's). */
  readonly words: number;
  /**
   * Word w of statement i's action mask at i * words + w (a plain array of small
   * integers: lighter than a typed array for a few statements).
   */
  readonly masks: readonly number[];
  /** How many of `statements` are Deny (they come first). */
  readonly denies: number;

  constructor(name: string, statements: readonly Statement[], words: number) {
    this.name = name;
    const n = statements.length;
    let denies = 0;
    for (const s of statements) if (s.deny) denies++;
    // Most documents are in that order already (no Deny, or Deny first): share their list.
    let sorted = true;
    for (let i = 1; i < n; i++) if (statements[i]!.deny && !statements[i - 1]!.deny) sorted = false;
    let ordered = statements;
    if (!sorted) ordered = [...statements.filter((s) => s.deny), ...statements.filter((s) => !s.deny)];
    const masks = new Array<number>(n * words);
    for (let i = 0; i < n; i++) for (let w = 0; w < words; w++) masks[i * words + w] = ordered[i]!.actionTest.words[w]!;
    this.statements = ordered;
    this.words = words;
    this.masks = masks;
    this.denies = denies;
  }
}

/** Whether the statement's action test covers the request's action; `mask`: the statement's mask word `r.word`. */
export function actionApplies(s: Statement, mask: number, r: ArnRequest): boolean {
  if (r.bit !== 0) return (mask & r.bit) !== 0;
  // An action the dialect does not know: only a pattern can name it.
  const patterns: readonly ActionPattern[] = s.actionTest.patterns ?? [];
  let any = false;
  for (const p of patterns) {
    if (actionMatches(p, r.lowerAction)) {
      any = true;
      break;
    }
  }
  return s.actionTest.not ? !any : any;
}

/** Whether the statement's resource test holds; `matched` collects the matching entries (resolved). */
export function resourceApplies(s: Statement, r: ArnRequest, matched?: string[]): boolean {
  const test = s.resourceTest;
  if (test.kind !== 'arn') return false;
  let any = false;
  let unresolved = false;
  for (const p of test.patterns) {
    if (resourceMatches(p, r.arn, r.resolve)) {
      any = true;
      if (!matched) break;
      matched.push(resolvedText(p, r.resolve) ?? p.text);
    } else if (test.not && p.kind === 'template' && resolvedText(p, r.resolve) === undefined) {
      unresolved = true;
    }
  }
  if (!test.not) return any;
  if (any) return false;
  // An unresolved NotResource entry: fail closed (a Deny applies, an Allow does not).
  return unresolved ? s.deny : true;
}

/** Whether the statement's condition holds (no condition: it does). */
export function conditionApplies(s: Statement, r: ArnRequest): boolean {
  const c = s.condition;
  if (c === undefined) return true;
  const variables = s.resourceTest.kind === 'arn' && s.resourceTest.variables;
  const substitute = (text: string): string | undefined => {
    const t = parseTemplate(text, variables);
    return t.ok ? substituteParts(t.parts, r.resolve) : undefined;
  };
  return c.test(r.lookup, substitute, r.now);
}

/**
 * The policies in force for one request source (a connection, a simulation), in order,
 * as an index whose hits are the applying statements themselves.
 */
export class ArnStatements implements ExplainingIndex<ArnRequest, Statement> {
  private readonly policies: readonly ArnPolicy[];
  /** This index as the list of indexes in force, for decideValid (no array per decision). */
  readonly alone: readonly ArnStatements[];

  constructor(policies: readonly ArnPolicy[]) {
    this.policies = policies;
    this.alone = [this];
  }

  firstDeny(r: ArnRequest): Statement | null {
    const policies = this.policies;
    for (let k = 0; k < policies.length; k++) {
      const p = policies[k]!;
      const list = p.statements;
      const masks = p.masks;
      const words = p.words;
      for (let i = 0; i < p.denies; i++) {
        const s = list[i]!;
        if (actionApplies(s, masks[i * words + r.word]!, r) && resourceApplies(s, r) && conditionApplies(s, r)) return s;
      }
    }
    return null;
  }

  firstAllow(r: ArnRequest): Statement | null {
    const policies = this.policies;
    for (let k = 0; k < policies.length; k++) {
      const p = policies[k]!;
      const list = p.statements;
      const masks = p.masks;
      const words = p.words;
      for (let i = p.denies; i < list.length; i++) {
        const s = list[i]!;
        if (actionApplies(s, masks[i * words + r.word]!, r) && resourceApplies(s, r) && conditionApplies(s, r)) return s;
      }
    }
    return null;
  }

  /** Every applying statement: policy by policy, each policy's Deny statements first. */
  applying(r: ArnRequest, out: AppliedStatement[]): void {
    for (const p of this.policies) {
      for (let i = 0; i < p.statements.length; i++) {
        const s = p.statements[i]!;
        if (!actionApplies(s, p.masks[i * p.words + r.word]!, r)) continue;
        const resolved: string[] = [];
        if (!resourceApplies(s, r, resolved) || !conditionApplies(s, r)) continue;
        out.push({ statement: s, action: r.action, patterns: [], resolved });
      }
    }
  }
}

/**
 * The same index answering Decisions (the engine's shape, `dialect: 'iot'`), for
 * combining with the Greengrass dialect's index. A statement's decision for an action is
 * built once.
 */
export class ArnDecisions implements ExplainingIndex<ArnRequest> {
  readonly statements: ArnStatements;
  private readonly built = new Map<Statement, Map<string, Decision>>();

  constructor(statements: ArnStatements) {
    this.statements = statements;
  }

  firstDeny(r: ArnRequest): Decision | null {
    const s = this.statements.firstDeny(r);
    return s === null ? null : this.decision(s, r.action);
  }

  firstAllow(r: ArnRequest): Decision | null {
    const s = this.statements.firstAllow(r);
    return s === null ? null : this.decision(s, r.action);
  }

  applying(r: ArnRequest, out: AppliedStatement[]): void {
    this.statements.applying(r, out);
  }

  private decision(s: Statement, action: string): Decision {
    let byAction = this.built.get(s);
    if (byAction === undefined) this.built.set(s, (byAction = new Map<string, Decision>()));
    let d = byAction.get(action);
    if (d === undefined) byAction.set(action, (d = statementDecision(s, { action })));
    return d;
  }
}
