/**
 * The `Condition` element of AWS IoT Core policy documents: the IAM condition operators,
 * compiled once at load into a tester.
 *
 * Semantics follow the IAM reference, which AWS IoT Core policies share:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
 *
 * - several operators, and several keys under one operator: all must hold (AND);
 * - several policy values for one key: any may match (OR); for a negated operator
 *   (`StringNotEquals`, `NotIpAddress`, …) none may match (NOR);
 * - a key absent from the request: positive operators are false, negated ones true,
 *   `…IfExists` true, `ForAllValues:` true, `ForAnyValue:` false; `Null` tests presence;
 * - a policy value whose variable cannot be resolved matches nothing (so positive
 *   operators do not match on it and negated ones do);
 * - a substituted variable is always literal text: a `*` or `?` it brings is never a
 *   wildcard, so substitution cannot widen a `…Like` pattern.
 *
 * Everything malformed is reported at compile time as a coded problem and the
 * condition is not compiled (the caller rejects the document): nothing unknown is ever
 * treated as true. Pure: no I/O, no clock (`now` is passed in).
 */
import type { IotPolicyProblem } from './context.js';

export interface CompiledCondition {
  /**
   * Whether the condition holds for a request. `lookup(key)`: the request's values for
   * a condition key (undefined or empty = absent); `substitute(text)`: the value of one
   * `${…}` variable (called with the variable alone), undefined when unresolved; `now`:
   * epoch milliseconds (unused: time keys come through `lookup`).
   */
  test(lookup: (key: string) => readonly string[] | undefined, substitute: (text: string) => string | undefined, now: number): boolean;
}

/** The problem codes this module reports (each documented in docs/errors.md). */
export const IOT_CONDITION_CODES = [
  'IOT_CONDITION_NOT_AN_OBJECT',
  'IOT_CONDITION_UNKNOWN_OPERATOR',
  'IOT_CONDITION_INVALID_KEY',
  'IOT_CONDITION_EMPTY',
  'IOT_CONDITION_INVALID_VALUE',
  'IOT_CONDITION_VARIABLE_NOT_ALLOWED',
  'IOT_CONDITION_MALFORMED_VARIABLE',
] as const;
export type IotConditionCode = (typeof IOT_CONDITION_CODES)[number];

/** Longest condition key name accepted. */
export const MAX_CONDITION_KEY_LENGTH = 256;

type Family = 'String' | 'Numeric' | 'Date' | 'Bool' | 'Binary' | 'Ip' | 'Arn' | 'Null';

interface OperatorInfo {
  readonly family: Family;
  readonly negated: boolean;
  /** String: how one request value is compared with one policy value. */
  readonly compare?: 'equals' | 'ignoreCase' | 'like';
  /** Numeric and Date. */
  readonly order?: 'eq' | 'lt' | 'le' | 'gt' | 'ge';
}

const OPERATORS: ReadonlyMap<string, OperatorInfo> = new Map<string, OperatorInfo>([
  ['StringEquals', { family: 'String', negated: false, compare: 'equals' }],
  ['StringNotEquals', { family: 'String', negated: true, compare: 'equals' }],
  ['StringEqualsIgnoreCase', { family: 'String', negated: false, compare: 'ignoreCase' }],
  ['StringNotEqualsIgnoreCase', { family: 'String', negated: true, compare: 'ignoreCase' }],
  ['StringLike', { family: 'String', negated: false, compare: 'like' }],
  ['StringNotLike', { family: 'String', negated: true, compare: 'like' }],
  ['NumericEquals', { family: 'Numeric', negated: false, order: 'eq' }],
  ['NumericNotEquals', { family: 'Numeric', negated: true, order: 'eq' }],
  ['NumericLessThan', { family: 'Numeric', negated: false, order: 'lt' }],
  ['NumericLessThanEquals', { family: 'Numeric', negated: false, order: 'le' }],
  ['NumericGreaterThan', { family: 'Numeric', negated: false, order: 'gt' }],
  ['NumericGreaterThanEquals', { family: 'Numeric', negated: false, order: 'ge' }],
  ['DateEquals', { family: 'Date', negated: false, order: 'eq' }],
  ['DateNotEquals', { family: 'Date', negated: true, order: 'eq' }],
  ['DateLessThan', { family: 'Date', negated: false, order: 'lt' }],
  ['DateLessThanEquals', { family: 'Date', negated: false, order: 'le' }],
  ['DateGreaterThan', { family: 'Date', negated: false, order: 'gt' }],
  ['DateGreaterThanEquals', { family: 'Date', negated: false, order: 'ge' }],
  ['Bool', { family: 'Bool', negated: false }],
  ['BinaryEquals', { family: 'Binary', negated: false }],
  ['IpAddress', { family: 'Ip', negated: false }],
  ['NotIpAddress', { family: 'Ip', negated: true }],
  ['ArnEquals', { family: 'Arn', negated: false }],
  ['ArnLike', { family: 'Arn', negated: false }],
  ['ArnNotEquals', { family: 'Arn', negated: true }],
  ['ArnNotLike', { family: 'Arn', negated: true }],
  ['Null', { family: 'Null', negated: false }],
]);

type SetQualifier = 'ForAnyValue' | 'ForAllValues' | undefined;

/** One compiled policy value: does it match one request value? `undefined` = unresolved variable. */
type ValueMatcher = (requestValue: string, resolved: ResolvedValue) => boolean;
/** A policy value after variable substitution at test time. */
type ResolvedValue = unknown;

interface CompiledValue {
  /** No variables: `resolve` ignores `substitute` and always gives the same result. */
  readonly constant: boolean;
  /** Resolves the value's variables; `undefined` when one cannot be resolved. */
  resolve(substitute: (text: string) => string | undefined): ResolvedValue;
  match: ValueMatcher;
}

interface CompiledKeyTest {
  readonly key: string;
  readonly info: OperatorInfo;
  readonly qualifier: SetQualifier;
  readonly ifExists: boolean;
  /** Null: true = the key must be absent. */
  readonly nullExpected?: boolean;
  readonly values: readonly CompiledValue[];
  /** The resolved values, computed once when no value has a variable. */
  readonly fixed: readonly Resolved[] | undefined;
}

// ---------------------------------------------------------------------------------
// Compilation

export function compileCondition(block: unknown, path: string, variablesAllowed: boolean, problems: IotPolicyProblem[]): CompiledCondition | undefined {
  // `undefined` cannot come from JSON: it means the statement has no Condition element.
  if (block === undefined) return ALWAYS;
  if (!isPlainObject(block)) {
    problems.push(problem('IOT_CONDITION_NOT_AN_OBJECT', path, 'the Condition element must be an object mapping condition operators to {key: values} objects', 'write `"Condition": {"StringEquals": {"iot:ClientId": "client1"}}`'));
    return undefined;
  }
  const before = problems.length;
  const tests: CompiledKeyTest[] = [];
  for (const [operatorName, body] of Object.entries(block)) {
    const opPath = member(path, operatorName);
    const parsed = parseOperator(operatorName);
    if (typeof parsed === 'string') {
      problems.push(problem('IOT_CONDITION_UNKNOWN_OPERATOR', opPath, `unknown condition operator \`${clip(operatorName)}\``, parsed));
      continue;
    }
    if (!isPlainObject(body)) {
      problems.push(problem('IOT_CONDITION_NOT_AN_OBJECT', opPath, `the value of \`${clip(operatorName)}\` must be an object mapping condition keys to values`, `write \`"${clip(operatorName)}": {"KEY": "VALUE"}\``));
      continue;
    }
    const entries = Object.entries(body);
    if (entries.length === 0) {
      problems.push(problem('IOT_CONDITION_EMPTY', opPath, `\`${clip(operatorName)}\` names no condition key`, 'add a condition key with its values, or remove the operator'));
      continue;
    }
    for (const [key, raw] of entries) {
      const keyPath = member(opPath, key);
      if (!validKeyName(key)) {
        problems.push(problem('IOT_CONDITION_INVALID_KEY', keyPath, `\`${clip(key)}\` is not a condition key name (expected \`prefix:name\`, such as \`iot:ClientId\`)`, 'write the key as a service prefix, a colon and a name without spaces, at most 256 characters'));
        continue;
      }
      const test = compileKey(key, raw, parsed, keyPath, variablesAllowed, problems);
      if (test !== undefined) tests.push(test);
    }
  }
  if (problems.length > before) return undefined;
  const frozen = Object.freeze(tests);
  return Object.freeze({
    test(lookup: (key: string) => readonly string[] | undefined, substitute: (text: string) => string | undefined, now: number): boolean {
      void now;
      for (const t of frozen) if (!evaluateKey(t, lookup(t.key), substitute)) return false;
      return true;
    },
  });
}

/**
 * The condition keys a `Condition` element names, each once (the first spelling met;
 * keys are compared without regard to case), in document order. For reports such as
 * "this policy depends on aws:SourceIp"; malformed parts are skipped (compileCondition
 * reports them).
 */
export function conditionKeys(block: unknown): string[] {
  const seen = new Map<string, string>();
  if (!isPlainObject(block)) return [];
  for (const body of Object.values(block)) {
    if (!isPlainObject(body)) continue;
    for (const key of Object.keys(body)) {
      if (validKeyName(key) && !seen.has(key.toLowerCase())) seen.set(key.toLowerCase(), key);
    }
  }
  return [...seen.values()];
}

const ALWAYS: CompiledCondition = Object.freeze({ test: () => true });

interface ParsedOperator {
  readonly info: OperatorInfo;
  readonly qualifier: SetQualifier;
  readonly ifExists: boolean;
}

/** The operator, or the fix to report when it is unknown. */
function parseOperator(name: string): ParsedOperator | string {
  let rest = name;
  let qualifier: SetQualifier;
  if (rest.startsWith('ForAnyValue:')) { qualifier = 'ForAnyValue'; rest = rest.slice('ForAnyValue:'.length); }
  else if (rest.startsWith('ForAllValues:')) { qualifier = 'ForAllValues'; rest = rest.slice('ForAllValues:'.length); }
  let ifExists = false;
  let info = OPERATORS.get(rest);
  if (info === undefined && rest.endsWith('IfExists')) {
    info = OPERATORS.get(rest.slice(0, -'IfExists'.length));
    ifExists = info !== undefined;
  }
  if (info === undefined) {
    const wanted = name.toLowerCase();
    for (const candidate of allOperatorNames()) {
      if (candidate.toLowerCase() === wanted) return `operator names are case-sensitive: did you mean \`${candidate}\`?`;
    }
    return 'use one of the IAM condition operators (StringEquals, StringLike, NumericLessThan, DateGreaterThan, Bool, BinaryEquals, IpAddress, ArnLike, Null, …), optionally with `IfExists` and a `ForAnyValue:` or `ForAllValues:` prefix';
  }
  if (info.family === 'Null' && (ifExists || qualifier !== undefined)) {
    return '`Null` takes neither `IfExists` nor a `ForAnyValue:`/`ForAllValues:` prefix: write `"Null": {"KEY": "true"}`';
  }
  return { info, qualifier, ifExists };
}

function* allOperatorNames(): Generator<string> {
  for (const base of OPERATORS.keys()) {
    yield base;
    if (base === 'Null') continue;
    yield `${base}IfExists`;
    for (const q of ['ForAnyValue:', 'ForAllValues:']) { yield q + base; yield `${q}${base}IfExists`; }
  }
}

const KEY_PREFIX = /^[A-Za-z0-9-]+$/;

/** `prefix:name`: a vendor prefix, a colon, and a name of visible characters (no spaces). */
function validKeyName(key: string): boolean {
  if (key.length === 0 || key.length > MAX_CONDITION_KEY_LENGTH) return false;
  const colon = key.indexOf(':');
  if (colon <= 0 || colon === key.length - 1) return false;
  if (!KEY_PREFIX.test(key.slice(0, colon))) return false;
  for (let i = colon + 1; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

function compileKey(key: string, raw: unknown, op: ParsedOperator, path: string, variablesAllowed: boolean, problems: IotPolicyProblem[]): CompiledKeyTest | undefined {
  const list = Array.isArray(raw) ? raw as unknown[] : [raw];
  if (list.length === 0 && op.qualifier === undefined) {
    problems.push(problem('IOT_CONDITION_EMPTY', path, `\`${clip(key)}\` has an empty list of values`, 'give at least one value (an empty list is meaningful only with `ForAnyValue:` or `ForAllValues:`)'));
    return undefined;
  }
  const before = problems.length;
  const values: CompiledValue[] = [];
  let nullExpected: boolean | undefined;
  list.forEach((item, i) => {
    const itemPath = Array.isArray(raw) ? `${path}[${i}]` : path;
    const text = scalarText(item);
    if (text === undefined) {
      problems.push(problem('IOT_CONDITION_INVALID_VALUE', itemPath, `a condition value must be a string, a number or a boolean, not ${describe(item)}`, 'write the value as a string, or a list of strings'));
      return;
    }
    if (op.info.family === 'Null') {
      if (text !== 'true' && text !== 'false') {
        problems.push(problem('IOT_CONDITION_INVALID_VALUE', itemPath, `\`Null\` takes \`true\` (the key is absent) or \`false\` (the key is present), not \`${clip(text)}\``, 'write "true" or "false"'));
        return;
      }
      if (nullExpected !== undefined && nullExpected !== (text === 'true')) {
        problems.push(problem('IOT_CONDITION_INVALID_VALUE', itemPath, '`Null` lists both `true` and `false`: the condition would always hold', 'keep one value'));
        return;
      }
      nullExpected = text === 'true';
      return;
    }
    const compiled = compileValue(text, op.info, itemPath, variablesAllowed, problems);
    if (compiled !== undefined) values.push(compiled);
  });
  if (problems.length > before) return undefined;
  const fixed = values.every((v) => v.constant) ? resolveAll(values, () => undefined) : undefined;
  return { key, info: op.info, qualifier: op.qualifier, ifExists: op.ifExists, nullExpected, values, fixed };
}

/** JSON scalars become their text (`5` → "5", `true` → "true"); anything else is undefined. */
function scalarText(item: unknown): string | undefined {
  if (typeof item === 'string') return item;
  if (typeof item === 'boolean') return item ? 'true' : 'false';
  if (typeof item === 'number' && Number.isFinite(item)) return String(item);
  return undefined;
}

function compileValue(text: string, info: OperatorInfo, path: string, variablesAllowed: boolean, problems: IotPolicyProblem[]): CompiledValue | undefined {
  const templated = variablesAllowed && text.includes('${');
  if (templated && info.family !== 'String' && info.family !== 'Arn') {
    problems.push(problem('IOT_CONDITION_VARIABLE_NOT_ALLOWED', path, `policy variables are allowed only with String and ARN operators, not in \`${clip(text)}\``, 'compare with a literal value, or use a String operator'));
    return undefined;
  }
  let pieces: readonly Piece[] = [{ kind: 'text', text }];
  if (templated) {
    const split = splitVariables(text);
    if (split === undefined) {
      problems.push(problem('IOT_CONDITION_MALFORMED_VARIABLE', path, `\`${clip(text)}\` has a \`\${\` without its closing \`}\``, 'close the variable (`${iot:ClientId}`), or write a literal `$` as `${$}`'));
      return undefined;
    }
    pieces = split;
  }
  const invalid = (what: string, fix: string): undefined => {
    problems.push(problem('IOT_CONDITION_INVALID_VALUE', path, `\`${clip(text)}\` is not ${what}`, fix));
    return undefined;
  };
  switch (info.family) {
    case 'String': return compileStringValue(pieces, info.compare ?? 'equals');
    case 'Arn': {
      const compiled = compileArnValue(pieces);
      return compiled ?? invalid('an ARN (six colon-separated parts: `arn:partition:service:region:account:resource`)', 'write a full ARN; use `*` for any part');
    }
    case 'Numeric': {
      const n = parseNumber(text);
      if (n === undefined) return invalid('a number', 'write an integer or decimal number such as "10" or "2.5"');
      const order = info.order ?? 'eq';
      return constant((v) => { const x = parseNumber(v); return x !== undefined && compareOrder(x, n, order); });
    }
    case 'Date': {
      const t = parseDate(text);
      if (t === undefined) return invalid('a date', 'write an ISO 8601 date-time such as "2026-06-01T12:00:00Z" (an offset such as +02:00 is allowed) or epoch seconds');
      const order = info.order ?? 'eq';
      return constant((v) => { const x = parseDate(v); return x !== undefined && compareOrder(x, t, order); });
    }
    case 'Bool': {
      if (text !== 'true' && text !== 'false') return invalid('a boolean', 'write true or false');
      return constant((v) => v.toLowerCase() === text);
    }
    case 'Binary': {
      if (!isBase64(text)) return invalid('base64 text', 'write the bytes in standard base64 with padding');
      return constant((v) => v === text);
    }
    case 'Ip': {
      const cidr = parseCidr(text);
      if (cidr === undefined) return invalid('an IP address or CIDR block', 'write an IPv4 or IPv6 address, optionally with a prefix length: "203.0.113.0/24", "2001:db8::/32"');
      return constant((v) => ipInCidr(v, cidr));
    }
    case 'Null': return undefined;
  }
}

function constant(match: (requestValue: string) => boolean): CompiledValue {
  return { constant: true, resolve: () => true, match: (v) => match(v) };
}

// ---------------------------------------------------------------------------------
// Evaluation

function evaluateKey(t: CompiledKeyTest, requestValues: readonly string[] | undefined, substitute: (text: string) => string | undefined): boolean {
  const present = requestValues !== undefined && requestValues.length > 0;
  if (t.info.family === 'Null') return t.nullExpected === !present;
  if (!present && t.ifExists) return true;
  if (t.qualifier === 'ForAllValues') {
    if (!present) return true;
    const resolved = t.fixed ?? resolveAll(t.values, substitute);
    return requestValues.every((v) => perValue(t, v, resolved));
  }
  if (t.qualifier === 'ForAnyValue') {
    if (!present) return false;
    const resolved = t.fixed ?? resolveAll(t.values, substitute);
    return requestValues.some((v) => perValue(t, v, resolved));
  }
  if (!present) return t.info.negated;
  const resolved = t.fixed ?? resolveAll(t.values, substitute);
  const anyMatch = requestValues.some((v) => matchesAny(v, resolved));
  return t.info.negated ? !anyMatch : anyMatch;
}

interface Resolved { readonly value: CompiledValue; readonly resolved: ResolvedValue }

/** The policy values whose variables resolve; the others match nothing. */
function resolveAll(values: readonly CompiledValue[], substitute: (text: string) => string | undefined): readonly Resolved[] {
  const out: Resolved[] = [];
  for (const value of values) {
    const resolved = value.resolve(substitute);
    if (resolved !== undefined) out.push({ value, resolved });
  }
  return out;
}

function matchesAny(requestValue: string, resolved: readonly Resolved[]): boolean {
  return resolved.some((r) => r.value.match(requestValue, r.resolved));
}

/** Under a set qualifier, one request value against the policy values (negated: matches none). */
function perValue(t: CompiledKeyTest, requestValue: string, resolved: readonly Resolved[]): boolean {
  const m = matchesAny(requestValue, resolved);
  return t.info.negated ? !m : m;
}

// ---------------------------------------------------------------------------------
// Strings and wildcards

/** Text of the policy (where `*` and `?` are wildcards for Like), or a variable (literal once substituted). */
type Piece = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'var'; readonly text: string };

/** Splits `a${x}b` into text and variable pieces; undefined when a `${` is not closed. */
function splitVariables(text: string): Piece[] | undefined {
  const out: Piece[] = [];
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('${', i);
    if (start < 0) { out.push({ kind: 'text', text: text.slice(i) }); break; }
    if (start > i) out.push({ kind: 'text', text: text.slice(i, start) });
    const end = text.indexOf('}', start + 2);
    if (end < 0) return undefined;
    out.push({ kind: 'var', text: text.slice(start, end + 1) });
    i = end + 1;
  }
  return out;
}

/** A pattern token: literal text, `*` (any run, empty included) or `?` (exactly one character). */
type Token = { readonly t: 'lit'; readonly s: string } | { readonly t: 'star' } | { readonly t: 'one' };

/** Resolves variables; undefined when one cannot be. Variable results are literal tokens. */
function resolvePieces(pieces: readonly Piece[], substitute: (text: string) => string | undefined, wildcards: boolean): Token[] | undefined {
  const tokens: Token[] = [];
  for (const p of pieces) {
    if (p.kind === 'var') {
      const value = substitute(p.text);
      if (value === undefined) return undefined;
      if (value.length > 0) tokens.push({ t: 'lit', s: value });
    } else if (!wildcards) {
      if (p.text.length > 0) tokens.push({ t: 'lit', s: p.text });
    } else {
      tokens.push(...globTokens(p.text));
    }
  }
  return tokens;
}

function globTokens(text: string): Token[] {
  const tokens: Token[] = [];
  let lit = '';
  for (const ch of text) {
    if (ch === '*' || ch === '?') {
      if (lit.length > 0) { tokens.push({ t: 'lit', s: lit }); lit = ''; }
      const last = tokens.at(-1);
      if (ch === '*' && last?.t === 'star') continue;
      tokens.push(ch === '*' ? { t: 'star' } : { t: 'one' });
    } else {
      lit += ch;
    }
  }
  if (lit.length > 0) tokens.push({ t: 'lit', s: lit });
  return tokens;
}

/**
 * Glob match with single-star backtracking: O(pattern × subject) at worst, never
 * exponential. `?` stands for one character (one Unicode code point).
 */
function globMatch(tokens: readonly Token[], subject: string): boolean {
  const chars = Array.from(subject);
  let ti = 0;
  let si = 0;
  let starTi = -1;
  let starSi = 0;
  while (si < chars.length || ti < tokens.length) {
    const tok = tokens[ti];
    if (tok !== undefined) {
      if (tok.t === 'star') { starTi = ti; starSi = si; ti++; continue; }
      if (tok.t === 'one' && si < chars.length) { ti++; si++; continue; }
      if (tok.t === 'lit') {
        const lit = Array.from(tok.s);
        if (si + lit.length <= chars.length && lit.every((c, k) => chars[si + k] === c)) { ti++; si += lit.length; continue; }
      }
    }
    if (starTi >= 0 && starSi < chars.length) { starSi++; si = starSi; ti = starTi + 1; continue; }
    return false;
  }
  return true;
}

function tokensText(tokens: readonly Token[]): string {
  return tokens.map((t) => (t.t === 'lit' ? t.s : '')).join('');
}

function compileStringValue(pieces: readonly Piece[], compare: 'equals' | 'ignoreCase' | 'like'): CompiledValue {
  const wildcards = compare === 'like';
  return {
    constant: pieces.every((p) => p.kind === 'text'),
    resolve: (substitute) => resolvePieces(pieces, substitute, wildcards),
    match: (v, resolved) => {
      const tokens = resolved as Token[];
      if (compare === 'like') return globMatch(tokens, v);
      const text = tokensText(tokens);
      return compare === 'equals' ? v === text : v.toLowerCase() === text.toLowerCase();
    },
  };
}

// ---------------------------------------------------------------------------------
// ARNs

/**
 * An ARN value compared component by component (partition, service, region, account,
 * resource after `arn`), each a glob: `ArnEquals` and `ArnLike` behave the same, as the
 * IAM reference says. Colons of the policy text split components (the resource, after
 * the fifth colon, is one component that may contain colons); a substituted variable
 * stays inside its component.
 */
function compileArnValue(pieces: readonly Piece[]): CompiledValue | undefined {
  const components: Piece[][] = [[]];
  for (const p of pieces) {
    if (p.kind === 'var') { components.at(-1)!.push(p); continue; }
    let rest = p.text;
    while (components.length < 6) {
      const colon = rest.indexOf(':');
      if (colon < 0) break;
      components.at(-1)!.push({ kind: 'text', text: rest.slice(0, colon) });
      components.push([]);
      rest = rest.slice(colon + 1);
    }
    components.at(-1)!.push({ kind: 'text', text: rest });
  }
  if (components.length !== 6) return undefined;
  return {
    constant: pieces.every((p) => p.kind === 'text'),
    resolve: (substitute) => {
      const out: Token[][] = [];
      for (const c of components) {
        const tokens = resolvePieces(c, substitute, true);
        if (tokens === undefined) return undefined;
        out.push(tokens);
      }
      return out;
    },
    match: (v, resolved) => {
      const parts = splitArn(v);
      if (parts === undefined) return false;
      const patterns = resolved as Token[][];
      return patterns.every((tokens, i) => globMatch(tokens, parts[i]!));
    },
  };
}

/** The six components of an ARN in a request, or undefined when it has fewer than five colons. */
function splitArn(arn: string): string[] | undefined {
  const parts: string[] = [];
  let rest = arn;
  for (let i = 0; i < 5; i++) {
    const colon = rest.indexOf(':');
    if (colon < 0) return undefined;
    parts.push(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
  parts.push(rest);
  return parts;
}

// ---------------------------------------------------------------------------------
// Numbers, dates, booleans, binary

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseNumber(text: string): number | undefined {
  if (text.length > 64 || !NUMBER.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function compareOrder(x: number, y: number, order: 'eq' | 'lt' | 'le' | 'gt' | 'ge'): boolean {
  switch (order) {
    case 'eq': return x === y;
    case 'lt': return x < y;
    case 'le': return x <= y;
    case 'gt': return x > y;
    case 'ge': return x >= y;
  }
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const EPOCH_SECONDS = /^\d{1,12}(?:\.\d{1,9})?$/;

/**
 * Epoch milliseconds of an ISO 8601 date or date-time (`2026-06-01`, `2026-06-01T12:00Z`,
 * `2026-06-01T14:00:00.5+02:00`; no offset means UTC), or of epoch seconds (`1780000000`).
 * Every field is range-checked (no 30 February).
 */
export function parseDate(text: string): number | undefined {
  if (EPOCH_SECONDS.test(text)) return Math.round(Number(text) * 1000);
  const m = ISO.exec(text);
  if (m === null) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offset = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 23 || om > 59) return undefined;
    offset = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isBase64(text: string): boolean {
  return text.length > 0 && BASE64.test(text);
}

// ---------------------------------------------------------------------------------
// IP addresses

/** An address as bytes (4 for IPv4, 16 for IPv6) with a prefix length. */
export interface Cidr {
  readonly bytes: readonly number[];
  readonly prefix: number;
}

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Parses `address` or `address/prefix`. IPv4: four decimal octets without leading
 * zeros; IPv6: RFC 4291 text (one `::` at most, an optional dotted IPv4 tail), no zone.
 * No prefix means the single address. Host bits beyond the prefix are ignored. An
 * IPv4-mapped IPv6 block (`::ffff:10.0.0.0/104`) is the IPv4 block it maps.
 */
export function parseCidr(text: string): Cidr | undefined {
  if (text.length > 64) return undefined;
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addressText);
  if (bytes === undefined) return undefined;
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  if (bytes.length === 16 && isMapped(bytes) && prefix >= 96) return { bytes: bytes.slice(12), prefix: prefix - 96 };
  return { bytes, prefix };
}

/** True when `address` (a request value) lies in the block. An IPv4-mapped IPv6 address counts as its IPv4 address. */
export function ipInCidr(address: string, cidr: Cidr): boolean {
  let bytes = parseIp(address);
  if (bytes === undefined) return false;
  if (bytes.length === 16 && isMapped(bytes)) bytes = bytes.slice(12);
  if (bytes.length !== cidr.bytes.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (cidr.bytes[i]! & mask)) return false;
  }
  return true;
}

function isMapped(bytes: readonly number[]): boolean {
  return MAPPED_PREFIX.every((b, i) => bytes[i] === b);
}

/** Bytes of an IPv4 or IPv6 address (no prefix), or undefined. */
export function parseIp(text: string): number[] | undefined {
  if (text.includes(':')) return parseIpv6(text);
  return parseIpv4(text);
}

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseIpv6(text: string): number[] | undefined {
  if (text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string, allowV4Tail: boolean): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIpv4(g);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (head === undefined || tail === undefined) return undefined;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  }
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

// ---------------------------------------------------------------------------------
// Helpers

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function problem(code: IotConditionCode, path: string, message: string, fix: string): IotPolicyProblem {
  return { code, path, message, fix };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `path.name` for identifiers, `path["odd:name"]` otherwise. */
function member(path: string, name: string): string {
  return IDENTIFIER.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

/** Caps text quoted in messages. */
function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return 'a non-finite number';
  return `a ${typeof v}`;
}
