/**
 * The syntax rules of the control plane's records: IAM names, descriptions, tags and the
 * checks made on policy documents before they are stored. Pure functions; the store
 * (sqlite-control.ts) and the CLI call them.
 *
 * Sources:
 * - names, document characters and sizes: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
 * - tags: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules_creating
 * - role aliases: https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html
 * - role session names: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
import type { IamContext } from '../core/policy/iam/context.js';
import { compileIamPolicies } from '../core/policy/iam/engine.js';
import { MAX_TAGS_PER_RESOURCE } from './control.js';
import { ControlError, type PolicyDocumentProblem } from './errors.js';
import { shown } from './names.js';

const IAM_NAME_FIX = 'use letters, digits and `_+=,.@-` only';
const USER_NAME = /^[\w+=,.@-]{1,64}$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
const ROLE_ALIAS = /^[\w=,@-]{1,128}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
/** IAM descriptions: tab, line feed, carriage return, printable Latin-1 (no DEL, no C1 controls). */
const DESCRIPTION = /^[\t\n\r\u0020-\u007E\u00A1-\u00FF]{0,1000}$/;
/** Characters a policy document may contain (IAM's rule). */
const DOCUMENT_CHARS = /^[\t\n\r\u0020-\u00FF]*$/;
/** Tag keys and values: letters, digits and white space of any script, and `_ . : / = + - @`. */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** Size limit of a trust policy in characters not counting white space (IAM's default quota). */
export const TRUST_POLICY_MAX_CHARS = 2048;

export function assertUserName(name: unknown): asserts name is string {
  assertName(name, USER_NAME, 'user name', `1-64 characters; ${IAM_NAME_FIX}`);
}

export function assertRoleName(name: unknown): asserts name is string {
  assertName(name, ROLE_NAME, 'role name', `1-64 characters; ${IAM_NAME_FIX}`);
}

export function assertIamPolicyName(name: unknown): asserts name is string {
  assertName(name, POLICY_NAME, 'IAM policy name', `1-128 characters; ${IAM_NAME_FIX}`);
}

export function assertRoleAliasName(name: unknown): asserts name is string {
  assertName(name, ROLE_ALIAS, 'role alias', '1-128 characters; use letters, digits and `_=,@-` only');
}

export function assertSessionName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SESSION_NAME.test(name)) {
    throw new ControlError('CONTROL_SESSION_NAME_INVALID', `invalid role session name ${shown(name)}`, `2-64 characters; ${IAM_NAME_FIX}`);
  }
}

export function assertDescription(description: unknown): asserts description is string {
  if (typeof description !== 'string' || !DESCRIPTION.test(description)) {
    throw new ControlError('CONTROL_DESCRIPTION_INVALID', 'the description is longer than 1000 characters or has a control character',
      'shorten it to at most 1000 printable characters (tabs and line breaks are allowed)');
  }
}

function assertName(name: unknown, rule: RegExp, what: string, fix: string): void {
  if (typeof name !== 'string' || !rule.test(name)) throw new ControlError('CONTROL_NAME_INVALID', `invalid ${what} ${shown(name)}`, fix);
}

/** Checks one set of tags (keys, values, the reserved prefix and the count). */
export function assertTags(tags: Readonly<Record<string, string>>): void {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS_PER_RESOURCE) {
    throw new ControlError('CONTROL_TAG_LIMIT', `a resource has at most ${MAX_TAGS_PER_RESOURCE} tags (got ${entries.length})`, 'remove tags you do not need');
  }
  for (const [k, v] of entries) assertTag(k, v);
}

export function assertTagKey(key: unknown): asserts key is string {
  const fix = 'keys: 1-128 letters, digits, spaces and `_.:/=+-@`, not starting with `aws:`; values: up to 256 of the same characters';
  if (typeof key !== 'string' || key.length < 1 || key.length > 128 || !TAG_CHARS.test(key)) {
    throw new ControlError('CONTROL_TAG_INVALID', `invalid tag key ${shown(key)}`, fix);
  }
  if (key.toLowerCase().startsWith('aws:')) throw new ControlError('CONTROL_TAG_INVALID', `tag key ${shown(key)}: the \`aws:\` prefix is reserved for AWS`, 'choose a key without the `aws:` prefix');
}

function assertTag(key: string, value: unknown): void {
  assertTagKey(key);
  if (typeof value !== 'string' || value.length > 256 || !TAG_CHARS.test(value)) {
    throw new ControlError('CONTROL_TAG_INVALID', `invalid value for tag ${shown(key)}`, 'values: up to 256 letters, digits, spaces and `_.:/=+-@`');
  }
}

// ------------------------------------------------------------------ documents

/**
 * Checks an IAM identity-policy document before it is stored, with the IAM dialect's
 * compiler (core/policy/iam: IAM's character set and 6,144-character quota, grammar,
 * actions, ARNs, condition operators and keys, no Principal). Returns every problem
 * found (codes `IAM_POLICY_…`, `IAM_CONDITION_…`); warnings do not refuse a document.
 */
export function validateIamDocument(text: string): PolicyDocumentProblem[] {
  const compiled = compileIamPolicies([{ name: 'document', document: text }]);
  if (compiled.ok) return [];
  return compiled.problems.map((p) => ({ code: p.code, path: p.path, message: p.message, fix: p.fix }));
}

/** The actions a trust policy statement may name (with `*` wildcards). */
const TRUST_ACTIONS = ['sts:assumerole', 'sts:tagsession'];

/**
 * Checks a role's trust policy (a resource-based policy on the role): each statement
 * has Effect, Action `sts:AssumeRole` / `sts:TagSession` (or a wildcard covering them),
 * Principal `{"AWS": ARN | [ARN…] | "*"}` or `"*"`, optional Condition. Other principal
 * types (Service, Federated) mean nothing to this gateway and are refused.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
 */
export function validateTrustPolicy(text: string): PolicyDocumentProblem[] {
  const problems: PolicyDocumentProblem[] = [];
  const root = parseDocument(text, TRUST_POLICY_MAX_CHARS, problems);
  if (root === undefined) return problems;
  forEachStatement(root, problems, (st, path) => {
    checkEffect(st, path, problems);
    if (!('Action' in st)) {
      problems.push(problem('TRUST_POLICY_ACTION', `${path}.Action`, 'missing Action', 'add "Action": "sts:AssumeRole"'));
    } else if (checkStringList(st['Action'], `${path}.Action`, problems)) {
      for (const a of asList(st['Action'])) {
        const lower = a.toLowerCase();
        if (!TRUST_ACTIONS.some((t) => globMatches(t, lower))) {
          problems.push(problem('TRUST_POLICY_ACTION', `${path}.Action`, `action ${shown(a)} does not apply to a trust policy`, 'use sts:AssumeRole (and sts:TagSession for session tags)'));
        }
      }
    }
    if ('NotAction' in st) problems.push(problem('TRUST_POLICY_ACTION', `${path}.NotAction`, 'NotAction is not supported in a trust policy', 'list the actions in Action'));
    checkPrincipal(st, path, problems);
    for (const key of ['Resource', 'NotResource', 'NotPrincipal']) {
      if (key in st) problems.push(problem('TRUST_POLICY_ELEMENT', `${path}.${key}`, `a trust policy has no ${key}`, `remove \`${key}\`: the resource is the role itself`));
    }
    checkCondition(st, path, problems);
    checkKnownKeys(st, path, ['Sid', 'Effect', 'Action', 'NotAction', 'Principal', 'NotPrincipal', 'Resource', 'NotResource', 'Condition'], problems);
  });
  return problems;
}

/** Throws CONTROL_POLICY_DOCUMENT_INVALID with every problem of an identity-policy document. */
export function assertIamDocument(text: unknown): asserts text is string {
  const problems = typeof text === 'string' ? validateIamDocument(text) : [problem('IAM_POLICY_NOT_AN_OBJECT', '', 'the document is not a string', 'pass the JSON text')];
  if (problems.length > 0) {
    throw new ControlError('CONTROL_POLICY_DOCUMENT_INVALID', `the IAM policy document is not valid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      'fix each problem listed; see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html', problems);
  }
}

/** Throws CONTROL_TRUST_POLICY_INVALID with every problem of a trust policy. */
export function assertTrustPolicy(text: unknown): asserts text is string {
  const problems = typeof text === 'string' ? validateTrustPolicy(text) : [problem('TRUST_POLICY_JSON', '', 'the document is not a string', 'pass the JSON text')];
  if (problems.length > 0) {
    throw new ControlError('CONTROL_TRUST_POLICY_INVALID', `the trust policy is not valid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      'write statements with Effect, Action "sts:AssumeRole", Principal {"AWS": "arn:…"} and an optional Condition', problems);
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function parseDocument(text: string, maxChars: number, problems: PolicyDocumentProblem[]): JsonObject | undefined {
  if (!DOCUMENT_CHARS.test(text)) {
    problems.push(problem('TRUST_POLICY_CHARACTERS', '', 'the document has a character outside tab, line feed, carriage return and U+0020-U+00FF', 'remove the character (IAM accepts only those)'));
    return undefined;
  }
  const size = text.replace(/\s/g, '').length;
  if (size > maxChars) {
    problems.push(problem('TRUST_POLICY_TOO_LARGE', '', `the document has ${size} characters besides white space; the limit is ${maxChars}`, 'split it into several policies'));
    return undefined;
  }
  let root: Json;
  try {
    root = JSON.parse(text) as Json;
  } catch (e) {
    problems.push(problem('TRUST_POLICY_JSON', '', `not JSON: ${(e as Error).message}`, 'write the document as one JSON object'));
    return undefined;
  }
  if (!isObject(root)) {
    problems.push(problem('TRUST_POLICY_JSON', '', 'the document is not a JSON object', 'write the document as one JSON object with a Statement'));
    return undefined;
  }
  const version = root['Version'];
  if (version !== undefined && version !== '2012-10-17' && version !== '2008-10-17') {
    problems.push(problem('TRUST_POLICY_VERSION', 'Version', `unknown policy language version ${shown(JSON.stringify(version))}`, 'use "2012-10-17"'));
  }
  checkKnownKeys(root, '', ['Version', 'Id', 'Statement'], problems);
  return root;
}

function forEachStatement(root: JsonObject, problems: PolicyDocumentProblem[], check: (st: JsonObject, path: string) => void): void {
  const raw = root['Statement'];
  if (raw === undefined) {
    problems.push(problem('TRUST_POLICY_STATEMENT', 'Statement', 'missing Statement', 'add a Statement (an object or an array of objects)'));
    return;
  }
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) problems.push(problem('TRUST_POLICY_STATEMENT', 'Statement', 'Statement is empty', 'add at least one statement'));
  list.forEach((st, i) => {
    const path = Array.isArray(raw) ? `Statement[${i}]` : 'Statement';
    if (!isObject(st)) {
      problems.push(problem('TRUST_POLICY_STATEMENT', path, 'a statement is not a JSON object', 'write each statement as an object'));
      return;
    }
    if ('Sid' in st && typeof st['Sid'] !== 'string') problems.push(problem('TRUST_POLICY_SID', `${path}.Sid`, 'Sid is not a string', 'write Sid as a string'));
    check(st, path);
  });
}

function checkEffect(st: JsonObject, path: string, problems: PolicyDocumentProblem[]): void {
  if (st['Effect'] !== 'Allow' && st['Effect'] !== 'Deny') {
    problems.push(problem('TRUST_POLICY_EFFECT', `${path}.Effect`, 'Effect must be "Allow" or "Deny"', 'write "Effect": "Allow" or "Effect": "Deny"'));
  }
}

function checkStringList(v: Json, path: string, problems: PolicyDocumentProblem[]): boolean {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || list.some((x) => typeof x !== 'string' || x === '')) {
    problems.push(problem('TRUST_POLICY_ELEMENT', path, 'must be a non-empty string or an array of non-empty strings', 'write a string or an array of strings'));
    return false;
  }
  return true;
}

function checkPrincipal(st: JsonObject, path: string, problems: PolicyDocumentProblem[]): void {
  const p = st['Principal'];
  const where = `${path}.Principal`;
  if (p === undefined) {
    problems.push(problem('TRUST_POLICY_PRINCIPAL', where, 'missing Principal', 'add "Principal": {"AWS": "arn:aws:iam::ACCOUNT:user/NAME"}'));
    return;
  }
  if (p === '*') return;
  if (!isObject(p)) {
    problems.push(problem('TRUST_POLICY_PRINCIPAL', where, 'Principal must be "*" or an object', 'write "Principal": {"AWS": ARN or [ARN, …]}'));
    return;
  }
  for (const key of Object.keys(p)) {
    if (key !== 'AWS') problems.push(problem('TRUST_POLICY_PRINCIPAL', `${where}.${key}`, `principal type ${shown(key)} is not supported by this gateway`, 'name IAM users and roles under "AWS"'));
  }
  const aws = p['AWS'];
  if (aws === undefined) {
    problems.push(problem('TRUST_POLICY_PRINCIPAL', `${where}.AWS`, 'missing AWS', 'name the users and roles that may assume the role under "AWS"'));
    return;
  }
  if (!checkStringList(aws, `${where}.AWS`, problems)) return;
  for (const v of asList(aws)) {
    if (v !== '*' && !/^arn:[^:]+:(iam|sts)::\d{12}:[^\s]+$/.test(v) && !/^\d{12}$/.test(v)) {
      problems.push(problem('TRUST_POLICY_PRINCIPAL', `${where}.AWS`, `${shown(v)} is not an IAM ARN, an account id or "*"`, 'write arn:PARTITION:iam::ACCOUNT:user/NAME, …:role/NAME or …:root'));
    }
  }
}

function checkCondition(st: JsonObject, path: string, problems: PolicyDocumentProblem[]): void {
  if (!('Condition' in st)) return;
  const c = st['Condition'];
  const where = `${path}.Condition`;
  if (!isObject(c)) {
    problems.push(problem('TRUST_POLICY_CONDITION', where, 'Condition must be an object of operators', 'write {"StringEquals": {"aws:PrincipalTag/team": "x"}}'));
    return;
  }
  for (const [op, block] of Object.entries(c)) {
    if (!isObject(block)) {
      problems.push(problem('TRUST_POLICY_CONDITION', `${where}.${op}`, 'a condition operator takes an object of keys', 'write {"KEY": VALUE or [VALUES]}'));
      continue;
    }
    for (const [key, value] of Object.entries(block)) {
      const list = Array.isArray(value) ? value : [value];
      if (list.some((x) => x === null || typeof x === 'object')) {
        problems.push(problem('TRUST_POLICY_CONDITION', `${where}.${op}.${key}`, 'condition values are strings, numbers or booleans', 'write a value or an array of values'));
      }
    }
  }
  if (problems.some((p) => p.path.startsWith(`$.${where}`))) return;
  // The operators and keys are the IAM dialect's: let its compiler check them.
  for (const p of conditionProblems(c)) problems.push({ ...p, path: p.path.replace(/^\$\.Statement\[0\]\.Condition/, `$.${where}`) });
}

/** Problems of a Condition block, as the IAM dialect's compiler sees it in a one-statement policy. */
function conditionProblems(condition: Readonly<Record<string, unknown>>): PolicyDocumentProblem[] {
  const r = compileIamPolicies([{ name: 'condition', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: condition }] } }]);
  return r.ok ? [] : r.problems.map((p) => ({ code: p.code, path: p.path, message: p.message, fix: p.fix }));
}

/**
 * A `conditionMatches` for trustPolicyAllows that evaluates a Condition block with the
 * IAM dialect (operators, `...IfExists`, `Null`, the global keys of `ctx`), at `now`
 * (epoch milliseconds). An invalid block throws; trustPolicyAllows then fails closed.
 */
export function iamConditionMatcher(ctx: IamContext, now: number): (condition: Readonly<Record<string, unknown>>) => boolean {
  return (condition) => {
    const r = compileIamPolicies([{ name: 'condition', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: condition }] } }]);
    if (!r.ok) throw new Error(`invalid condition: ${r.problems.map((p) => p.message).join('; ')}`);
    return r.set.decide('all', ctx, { action: 'sts:AssumeRole', resource: '*' }, now).allowed;
  };
}

function checkKnownKeys(o: JsonObject, path: string, known: readonly string[], problems: PolicyDocumentProblem[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) problems.push(problem('TRUST_POLICY_UNKNOWN_ELEMENT', path === '' ? k : `${path}.${k}`, `unknown element ${shown(k)}`, `use only ${known.join(', ')}`));
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asList(v: Json | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/** Paths are JSON paths from the document root, `$`, as the policy engines write them. */
function problem(code: string, path: string, message: string, fix: string): PolicyDocumentProblem {
  return { code, path: path === '' ? '$' : `$.${path}`, message, fix };
}

/** `*` matches any run of characters, `?` one character; everything else literally. */
export function globMatches(value: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(value);
}

// --------------------------------------------------------------- trust policy

export interface TrustEvaluation {
  readonly allowed: boolean;
  readonly reason: 'ALLOWED_BY_STATEMENT' | 'DENIED_BY_STATEMENT' | 'NO_MATCHING_STATEMENT';
  /** The deciding statement: its Sid, or its index when it has none. */
  readonly statement?: string;
}

export interface TrustCheckOptions {
  /** The action asked for (default `sts:AssumeRole`). */
  readonly action?: string;
  /** The account of the role (a principal `ACCOUNT` or `arn:…:iam::ACCOUNT:root` means every principal of it). */
  readonly accountId: string;
  /**
   * Decides a statement's Condition block (`iamConditionMatcher(ctx, now)` evaluates it
   * with the IAM dialect). Without it, or when it throws, an Allow with a Condition does
   * not apply and a Deny with a Condition does (fail closed).
   */
  readonly conditionMatches?: (condition: Readonly<Record<string, unknown>>) => boolean;
}

/**
 * Does the role's trust policy let `callerArn` assume it? Explicit deny wins, then an
 * allow, otherwise implicit deny. A principal matches when it is `*`, the caller's ARN
 * (case-sensitive, as IAM compares ARNs), the role ARN of an assumed-role caller
 * (`arn:…:iam::A:role/R` covers `arn:…:sts::A:assumed-role/R/any-session`), or the
 * caller's account. The caller's own identity policies must allow the action as well;
 * that check is the caller's, not this function's.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
 */
export function trustPolicyAllows(document: string, callerArn: string, options: TrustCheckOptions): TrustEvaluation {
  if (validateTrustPolicy(document).length > 0) return { allowed: false, reason: 'NO_MATCHING_STATEMENT' };
  const root = JSON.parse(document) as JsonObject;
  const raw = root['Statement'] as Json;
  const statements = (Array.isArray(raw) ? raw : [raw]) as JsonObject[];
  const action = (options.action ?? 'sts:AssumeRole').toLowerCase();
  const callerNames = principalNames(callerArn, options.accountId);
  let allow: string | undefined;
  for (const [i, st] of statements.entries()) {
    const id = typeof st['Sid'] === 'string' && st['Sid'] !== '' ? st['Sid'] : String(i);
    if (!asList(st['Action']).some((a) => globMatches(action, a.toLowerCase()))) continue;
    const p = st['Principal'] as Json;
    const principals = p === '*' ? ['*'] : asList((p as JsonObject)['AWS']);
    if (!principals.some((x) => x === '*' || callerNames.has(x))) continue;
    const condition = st['Condition'];
    const deny = st['Effect'] === 'Deny';
    const applies = condition === undefined ? true : conditionApplies(options.conditionMatches, condition as JsonObject, deny);
    if (!applies) continue;
    if (deny) return { allowed: false, reason: 'DENIED_BY_STATEMENT', statement: id };
    allow ??= id;
  }
  return allow !== undefined ? { allowed: true, reason: 'ALLOWED_BY_STATEMENT', statement: allow } : { allowed: false, reason: 'NO_MATCHING_STATEMENT' };
}

/** Without an evaluator, or when it fails, an Allow's condition does not hold and a Deny's does (fail closed). */
function conditionApplies(matches: TrustCheckOptions['conditionMatches'], condition: JsonObject, deny: boolean): boolean {
  if (matches === undefined) return deny;
  try {
    return matches(condition);
  } catch {
    return deny;
  }
}

/** The principal values that name a caller: its ARN, its role's ARN for a role session, its account. */
function principalNames(callerArn: string, accountId: string): Set<string> {
  const names = new Set<string>([callerArn]);
  const m = /^arn:([^:]+):(iam|sts)::(\d{12}):(.*)$/.exec(callerArn);
  if (m === null) return names;
  const [, partition, service, account, rest] = m as unknown as [string, string, string, string, string];
  if (account !== accountId) return names;
  names.add(account);
  names.add(`arn:${partition}:iam::${account}:root`);
  const session = /^assumed-role\/([^/]+)\/[^/]+$/.exec(rest);
  if (service === 'sts' && session !== null) names.add(`arn:${partition}:iam::${account}:role/${session[1]!}`);
  return names;
}
