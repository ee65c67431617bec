/**
 * Parses and validates one policy document of a dialect (`dialect.ts`): an AWS IoT Core
 * policy document
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policies.html, which follows
 * the IAM grammar: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).
 *
 * Order of checks: JSON syntax, duplicate keys (text input only), size, then the
 * elements top-down. Every defect is collected (not only the first) as an
 * IotPolicyProblem with a stable code, a JSON path, a message and a fix; a document
 * with any problem is not compiled. Warnings (unknown action or variable names) do not
 * stop compilation.
 *
 * Problems are found with the IoT codes; a dialect with another code prefix (IAM) gets
 * the same codes under its own prefix (`IOT_POLICY_SYNTAX` → `IAM_POLICY_SYNTAX`), plus
 * the codes of its own grammar rules.
 */
import { actionSyntaxProblem, type ActionPattern } from './actions.js';
import { compileResourcePattern, isResourceProblem, type ResourcePattern, type ResourceProblem } from './arn.js';
import { compileCondition, conditionKeys, type CompiledCondition } from './conditions.js';
import type { IotPolicyProblem } from './context.js';
import { IOT_DIALECT, IOT_MAX_POLICY_CHARACTERS, type PolicyDialect } from './dialect.js';
import { keySegment, scanPolicyText } from './duplicate-keys.js';
import { parseTemplate } from './variables.js';

/** Every problem code a policy document can produce (documented in docs/errors.md). */
export const IOT_POLICY_CODES = [
  'IOT_POLICY_SYNTAX',
  'IOT_POLICY_DUPLICATE_KEY',
  'IOT_POLICY_NOT_AN_OBJECT',
  'IOT_POLICY_TOO_LARGE',
  'IOT_POLICY_VERSION_INVALID',
  'IOT_POLICY_ID_INVALID',
  'IOT_POLICY_UNKNOWN_ELEMENT',
  'IOT_POLICY_PRINCIPAL_NOT_ALLOWED',
  'IOT_POLICY_STATEMENT_MISSING',
  'IOT_POLICY_STATEMENT_INVALID',
  'IOT_POLICY_SID_INVALID',
  'IOT_POLICY_EFFECT_INVALID',
  'IOT_POLICY_ACTION_MISSING',
  'IOT_POLICY_ACTION_CONFLICT',
  'IOT_POLICY_ACTION_INVALID',
  'IOT_POLICY_RESOURCE_MISSING',
  'IOT_POLICY_RESOURCE_CONFLICT',
  'IOT_POLICY_RESOURCE_INVALID',
  'IOT_POLICY_RESOURCE_SERVICE_WILDCARD',
  'IOT_POLICY_VARIABLE_POSITION',
  'IOT_POLICY_VARIABLE_MALFORMED',
  'IOT_POLICY_VALUE_INVALID',
  'IOT_POLICY_NAME_DUPLICATE',
] as const;

/** Warning codes: reported, but the document still loads. */
export const IOT_POLICY_WARNING_CODES = ['IOT_POLICY_ACTION_UNKNOWN', 'IOT_POLICY_VARIABLE_UNKNOWN', 'IOT_CONDITION_KEY_UNKNOWN'] as const;

export type IotPolicyCode = (typeof IOT_POLICY_CODES)[number] | (typeof IOT_POLICY_WARNING_CODES)[number];

/**
 * AWS IoT's CreatePolicy accepts at most 2048 characters of policy document, white
 * space excluded (https://docs.aws.amazon.com/iot/latest/apireference/API_CreatePolicy.html).
 * Gatehouse counts every character that is not white space, inside strings as well.
 */
export const MAX_POLICY_CHARACTERS = IOT_MAX_POLICY_CHARACTERS;

export const POLICY_VERSIONS = ['2012-10-17', '2008-10-17'] as const;

export interface IotStatement {
  /** Position in the document's statement list (0-based). */
  readonly index: number;
  readonly sid: string | undefined;
  readonly effect: 'Allow' | 'Deny';
  readonly notAction: boolean;
  readonly actions: readonly ActionPattern[];
  readonly notResource: boolean;
  readonly resources: readonly ResourcePattern[];
  readonly condition: CompiledCondition | undefined;
}

export interface IotPolicyDocument {
  readonly version?: string;
  readonly id?: string;
  /** `${…}` are variables (Version 2012-10-17) rather than text. */
  readonly variables: boolean;
  readonly statements: readonly IotStatement[];
}

export interface ParseResult {
  /** Set only when there is no problem. */
  readonly document?: IotPolicyDocument;
  readonly problems: readonly IotPolicyProblem[];
  readonly warnings: readonly IotPolicyProblem[];
}

const TOP_ELEMENTS = ['Version', 'Id', 'Statement'];
const STATEMENT_ELEMENTS = ['Sid', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition'];

/** Characters of `text` that are not white space (`\s`). */
export function nonWhitespaceLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) continue;
    if (c < 128 || !/\s/.test(text[i]!)) n++;
  }
  return n;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses an AWS IoT Core policy document given as JSON text (a string) or as an already parsed value. */
export function parseIotPolicyDocument(input: unknown): ParseResult {
  return parsePolicyDocument(input, IOT_DIALECT);
}

/** `IOT_POLICY_SYNTAX` under the dialect's prefix; codes of the dialect's own rules are kept. */
function renamed(p: IotPolicyProblem, prefix: string): IotPolicyProblem {
  return p.code.startsWith('IOT_') ? { ...p, code: `${prefix}_${p.code.slice(4)}` } : p;
}

/** Characters outside tab, LF, CR and U+0020–U+00FF (IAM's rule for policy text). */
const NOT_LATIN1 = /[^\t\n\r\u0020-\u00ff]/;

/** Parses a policy document of `dialect`, given as JSON text (a string) or as an already parsed value. */
export function parsePolicyDocument<C, E>(input: unknown, dialect: PolicyDialect<C, E>): ParseResult {
  const result = parseWith(input, dialect);
  if (dialect.codePrefix === 'IOT') return result;
  const problems = result.problems.map((p) => renamed(p, dialect.codePrefix));
  const warnings = result.warnings.map((p) => renamed(p, dialect.codePrefix));
  return result.document ? { document: result.document, problems, warnings } : { problems, warnings };
}

function parseWith<C, E>(input: unknown, dialect: PolicyDialect<C, E>): ParseResult {
  const problems: IotPolicyProblem[] = [];
  const warnings: IotPolicyProblem[] = [];
  const fail = (): ParseResult => ({ problems, warnings });
  let value: unknown = input;
  let size: number;
  const fromText = typeof input === 'string';
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (e) {
      problems.push({ code: 'IOT_POLICY_SYNTAX', path: '$', message: `the document is not valid JSON: ${(e as Error).message}`, fix: 'correct the JSON syntax (a policy document is one JSON object)' });
      return fail();
    }
    const scan = scanPolicyText(input);
    for (const d of scan.duplicates) {
      problems.push({ code: 'IOT_POLICY_DUPLICATE_KEY', path: `${d.path}${keySegment(d.key)}`, message: `\`${d.key}\` appears more than once in the same object`, fix: 'keep one occurrence: a JSON object cannot hold the same element twice' });
    }
    size = scan.nonWhitespace;
  } else {
    size = nonWhitespaceLength(JSON.stringify(input) ?? '');
  }
  if (size > dialect.maxCharacters) {
    problems.push({ code: 'IOT_POLICY_TOO_LARGE', path: '$', message: `the document has ${size} characters besides white space; ${dialect.texts.limitOwner} accepts at most ${dialect.maxCharacters}`, fix: 'split it into several policies, or use wildcards and variables to shorten it' });
  }
  if (dialect.grammar.latin1Only) {
    // The decoded names and values: JSON text can carry a control character only as an
    // escape (`\u0001`), which the text itself would not show.
    const bad = firstNotLatin1(value);
    if (bad !== undefined) {
      const code = bad.toString(16).toUpperCase().padStart(4, '0');
      problems.push({ code: 'IAM_POLICY_CHARACTER_INVALID', path: '$', message: `the document holds the character U+${code}; a policy document may hold only tab, line feed, carriage return and U+0020 to U+00FF`, fix: 'remove the character (names and values of policies are Latin-1 text)' });
    }
  }
  if (!isObject(value)) {
    problems.push({ code: 'IOT_POLICY_NOT_AN_OBJECT', path: '$', message: 'a policy document must be a JSON object', fix: 'write `{"Version": "2012-10-17", "Statement": [...]}`' });
    return fail();
  }
  for (const k of Object.keys(value)) {
    if (!TOP_ELEMENTS.includes(k)) {
      problems.push({ code: 'IOT_POLICY_UNKNOWN_ELEMENT', path: `$${keySegment(k)}`, message: `\`${k}\` is not a policy element`, fix: 'a policy document has only `Version`, `Id` and `Statement` (names are case-sensitive)' });
    }
  }
  const version = value['Version'];
  if (version !== undefined && (typeof version !== 'string' || !(POLICY_VERSIONS as readonly string[]).includes(version))) {
    problems.push({ code: 'IOT_POLICY_VERSION_INVALID', path: '$.Version', message: `\`Version\` is ${JSON.stringify(version)}`, fix: 'write `"Version": "2012-10-17"` (the only version with policy variables), or `2008-10-17`' });
  }
  const id = value['Id'];
  if (id !== undefined && !dialect.grammar.idAllowed) {
    problems.push({ code: 'IAM_POLICY_ID_NOT_ALLOWED', path: '$.Id', message: '`Id` cannot appear in an identity-based policy', fix: 'remove `Id` (a statement may carry a `Sid` instead)' });
  } else if (id !== undefined && typeof id !== 'string') {
    problems.push({ code: 'IOT_POLICY_ID_INVALID', path: '$.Id', message: '`Id` must be a string', fix: 'make `Id` a string, or remove it' });
  }
  const variables = version === '2012-10-17';
  const raw = value['Statement'];
  const statements: IotStatement[] = [];
  if (raw === undefined) {
    problems.push({ code: 'IOT_POLICY_STATEMENT_MISSING', path: '$', message: 'the document has no `Statement`', fix: `add \`"Statement": [{"Effect": "Allow", "Action": "${dialect.texts.exampleAction}", "Resource": "..."}]\`` });
  } else {
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length === 0) {
      problems.push({ code: 'IOT_POLICY_STATEMENT_INVALID', path: '$.Statement', message: '`Statement` is an empty list', fix: 'add at least one statement' });
    }
    const sids = new Set<string>();
    const many = Array.isArray(raw);
    for (let i = 0; i < list.length; i++) {
      const s: unknown = list[i];
      const st = parseStatement(s, i, many, variables, fromText, dialect, problems, warnings);
      if (st) statements.push(st);
      const sid = isObject(s) ? s['Sid'] : undefined;
      if (dialect.grammar.strictSid && typeof sid === 'string') {
        if (sids.has(sid)) problems.push({ code: 'IAM_POLICY_SID_DUPLICATE', path: `${statementPath(i, many)}.Sid`, message: `two statements have the \`Sid\` \`${sid}\``, fix: 'give every statement of a policy a distinct `Sid`, or none' });
        sids.add(sid);
      }
    }
  }
  if (problems.length > 0) return fail();
  // Object literals of a fixed shape (a conditional spread would give each document its
  // own hidden class), and lists of exact length: a fleet keeps thousands of these.
  const exact = statements.slice();
  let document: IotPolicyDocument;
  if (typeof version === 'string') document = typeof id === 'string' ? { version, id, variables, statements: exact } : { version, variables, statements: exact };
  else document = typeof id === 'string' ? { id, variables, statements: exact } : { variables, statements: exact };
  return { document, problems, warnings };
}

/**
 * Compiled resource entries and conditions by their text. A fleet's policies repeat the
 * same entries and conditions (`client/${iot:ClientId}`, `"Bool": {"aws:SecureTransport":
 * "true"}`) thousands of times; compiled forms are immutable and depend only on the text
 * and on whether variables are allowed, so one object serves them all, within a compile
 * and across reloads. Bounded: each map starts over when full.
 */
const CACHE_LIMIT = 16_384;

interface ResourceEntry {
  readonly compiled: ResourcePattern | ResourceProblem;
  /** Variables the entry names (each unknown one is a warning, by the dialect's list). */
  readonly variableNames: readonly string[];
}

const RESOURCES = [new Map<string, ResourceEntry>(), new Map<string, ResourceEntry>()] as const;
const CONDITIONS = [new Map<string, CompiledCondition>(), new Map<string, CompiledCondition>()] as const;
const NO_NAMES: readonly string[] = Object.freeze([]);

function resourceEntry(text: string, variables: boolean): ResourceEntry {
  const cache = RESOURCES[variables ? 1 : 0];
  let entry = cache.get(text);
  if (entry !== undefined) return entry;
  const compiled = compileResourcePattern(text, variables);
  let names: string[] | undefined;
  const t = !isResourceProblem(compiled) && variables && text.includes('${') ? parseTemplate(text, variables) : undefined;
  if (t?.ok) {
    for (const p of t.parts) if (p.kind === 'variable') (names ??= []).push(p.name);
  }
  entry = Object.freeze({ compiled, variableNames: names ?? NO_NAMES });
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(text, entry);
  return entry;
}

/**
 * A statement's compiled condition. Only conditions read from JSON text are cached
 * (keyed by their JSON form): a parsed value given by a caller may hold what JSON cannot
 * (`undefined`, `NaN`) and would not round-trip. A condition with a problem is never
 * cached, so its problems are reported with each statement's path.
 */
function conditionOf(raw: unknown, path: string, variables: boolean, fromText: boolean, problems: IotPolicyProblem[]): CompiledCondition | undefined {
  if (!fromText) return compileCondition(raw, path, variables, problems);
  const cache = CONDITIONS[variables ? 1 : 0];
  const key = JSON.stringify(raw);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const before = problems.length;
  const compiled = compileCondition(raw, path, variables, problems);
  if (compiled !== undefined && problems.length === before) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, compiled);
  }
  return compiled;
}

/** The JSON path of statement `i` (`many`: `Statement` is a list). Built only for a problem. */
function statementPath(i: number, many: boolean): string {
  return many ? `$.Statement[${i}]` : '$.Statement';
}

/** The JSON path of entry `i` of a statement's element `name` (`list`: the element is a list). */
function entryPath(statement: string, name: string, i: number, list: boolean): string {
  return list ? `${statement}.${name}[${i}]` : `${statement}.${name}`;
}

/**
 * The values of `Action`/`NotAction` or `Resource`/`NotResource`: exactly one of the two,
 * a string or a non-empty array of strings. Undefined (and a problem) otherwise.
 */
function elementValues(s: Record<string, unknown>, a: 'Action' | 'Resource', index: number, many: boolean, problems: IotPolicyProblem[]):
  { readonly not: boolean; readonly name: string; readonly values: readonly string[]; readonly list: boolean } | undefined {
  const notName = a === 'Action' ? 'NotAction' : 'NotResource';
  const v = s[a];
  const nv = s[notName];
  if (v !== undefined && nv !== undefined) {
    problems.push({ code: a === 'Action' ? 'IOT_POLICY_ACTION_CONFLICT' : 'IOT_POLICY_RESOURCE_CONFLICT', path: `${statementPath(index, many)}.${notName}`, message: `the statement has both \`${a}\` and \`${notName}\``, fix: `keep exactly one of \`${a}\` and \`${notName}\`` });
    return undefined;
  }
  if (v === undefined && nv === undefined) {
    problems.push({ code: a === 'Action' ? 'IOT_POLICY_ACTION_MISSING' : 'IOT_POLICY_RESOURCE_MISSING', path: statementPath(index, many), message: `the statement has neither \`${a}\` nor \`${notName}\``, fix: `add \`"${a}": ...\`` });
    return undefined;
  }
  const not = v === undefined;
  const name = not ? notName : a;
  const value = not ? nv : v;
  if (typeof value === 'string') return { not, name, values: [value], list: false };
  if (Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === 'string')) return { not, name, values: value, list: true };
  problems.push({ code: 'IOT_POLICY_VALUE_INVALID', path: `${statementPath(index, many)}.${name}`, message: `\`${name}\` must be a string or a non-empty array of strings`, fix: `write \`"${name}": "value"\` or \`"${name}": ["value", ...]\`` });
  return undefined;
}

function parseStatement<C, E>(
  s: unknown, index: number, many: boolean, variables: boolean, fromText: boolean, dialect: PolicyDialect<C, E>, problems: IotPolicyProblem[], warnings: IotPolicyProblem[],
): IotStatement | undefined {
  const texts = dialect.texts;
  if (!isObject(s)) {
    problems.push({ code: 'IOT_POLICY_STATEMENT_INVALID', path: statementPath(index, many), message: 'a statement must be a JSON object', fix: 'write `{"Effect": ..., "Action": ..., "Resource": ...}`' });
    return undefined;
  }
  const before = problems.length;
  for (const k of Object.keys(s)) {
    if (k === 'Principal' || k === 'NotPrincipal') {
      problems.push({ code: 'IOT_POLICY_PRINCIPAL_NOT_ALLOWED', path: `${statementPath(index, many)}.${k}`, message: texts.principalMessage(k), fix: texts.principalFix(k) });
    } else if (!STATEMENT_ELEMENTS.includes(k)) {
      problems.push({ code: 'IOT_POLICY_UNKNOWN_ELEMENT', path: `${statementPath(index, many)}${keySegment(k)}`, message: `\`${k}\` is not a statement element`, fix: 'a statement has only `Sid`, `Effect`, `Action` or `NotAction`, `Resource` or `NotResource`, and `Condition` (names are case-sensitive)' });
    }
  }
  const sid = s['Sid'];
  if (sid !== undefined && typeof sid !== 'string') {
    problems.push({ code: 'IOT_POLICY_SID_INVALID', path: `${statementPath(index, many)}.Sid`, message: '`Sid` must be a string', fix: 'write a short name such as `"Sid": "PublishOwnTopics"`' });
  } else if (typeof sid === 'string' && dialect.grammar.strictSid && !/^[A-Za-z0-9]*$/.test(sid)) {
    problems.push({ code: 'IOT_POLICY_SID_INVALID', path: `${statementPath(index, many)}.Sid`, message: `\`Sid\` ${JSON.stringify(sid)} holds characters other than ASCII letters and digits`, fix: 'write a name of letters and digits only, such as `"Sid": "ReadThings"`' });
  }
  const effect = s['Effect'];
  if (effect !== 'Allow' && effect !== 'Deny') {
    problems.push({
      code: 'IOT_POLICY_EFFECT_INVALID',
      path: `${statementPath(index, many)}.Effect`,
      message: effect === undefined ? 'the statement has no `Effect`' : `\`Effect\` is ${JSON.stringify(effect)}`,
      fix: '`Effect` must be exactly `Allow` or `Deny` (case-sensitive)',
    });
  }

  const act = elementValues(s, 'Action', index, many, problems);
  const actions: ActionPattern[] = [];
  if (act) {
    const catalog = dialect.actions;
    for (let i = 0; i < act.values.length; i++) {
      const a = act.values[i]!;
      const why = actionSyntaxProblem(a, texts.examplePrefix);
      if (why) {
        problems.push({ code: 'IOT_POLICY_ACTION_INVALID', path: entryPath(statementPath(index, many), act.name, i, act.list), message: `action \`${a}\` ${why}`, fix: texts.actionFix });
        continue;
      }
      const pattern = catalog.compile(a);
      if (catalog.isUnknown(a)) {
        warnings.push({ code: 'IOT_POLICY_ACTION_UNKNOWN', path: entryPath(statementPath(index, many), act.name, i, act.list), message: texts.unknownAction(a), fix: texts.unknownActionFix });
      }
      actions.push(pattern);
    }
  }
  const res = elementValues(s, 'Resource', index, many, problems);
  const resources: ResourcePattern[] = [];
  if (res) {
    for (let i = 0; i < res.values.length; i++) {
      const entry = resourceEntry(res.values[i]!, variables);
      const compiled = entry.compiled;
      if (isResourceProblem(compiled)) {
        problems.push({ code: compiled.code, path: entryPath(statementPath(index, many), res.name, i, res.list), message: compiled.message, fix: compiled.fix });
        continue;
      }
      for (const name of entry.variableNames) {
        if (dialect.isKnownVariable(name)) continue;
        warnings.push({ code: 'IOT_POLICY_VARIABLE_UNKNOWN', path: entryPath(statementPath(index, many), res.name, i, res.list), message: `\`\${${name}}\` is not a policy variable Gatehouse can resolve: this entry matches nothing`, fix: texts.variableFix });
      }
      resources.push(compiled);
    }
  }
  let condition: CompiledCondition | undefined;
  const rawCondition = s['Condition'];
  if (rawCondition !== undefined) {
    const path = `${statementPath(index, many)}.Condition`;
    condition = conditionOf(rawCondition, path, variables, fromText, problems);
    if (condition) {
      for (const key of conditionKeys(rawCondition)) {
        if (dialect.isKnownConditionKey(key)) continue;
        warnings.push({ code: 'IOT_CONDITION_KEY_UNKNOWN', path, message: texts.unknownKey(key), fix: texts.unknownKeyFix });
      }
    }
  }

  if (problems.length > before || (effect !== 'Allow' && effect !== 'Deny') || !act || !res) return undefined;
  // One hidden class for every statement: absent elements are undefined, not missing.
  return {
    index,
    sid: typeof sid === 'string' ? sid : undefined,
    effect,
    notAction: act.not,
    // Exact-length copies: a list grown by push keeps room for 17 entries, and a fleet keeps tens of thousands.
    actions: actions.slice(),
    notResource: res.not,
    resources: resources.slice(),
    condition,
  };
}

/** The code point of the first character outside IAM's accepted set in any name or string value of `value`, if any. */
function firstNotLatin1(value: unknown, depth = 0): number | undefined {
  if (depth > 64) return undefined;
  if (typeof value === 'string') {
    const m = NOT_LATIN1.exec(value);
    return m ? m[0].codePointAt(0) : undefined;
  }
  if (Array.isArray(value)) {
    for (const v of value) {
      const c = firstNotLatin1(v, depth + 1);
      if (c !== undefined) return c;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const c = firstNotLatin1(k, depth + 1) ?? firstNotLatin1(v, depth + 1);
      if (c !== undefined) return c;
    }
  }
  return undefined;
}
