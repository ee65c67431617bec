/**
 * Policy resource patterns: parsing, variable resolution and glob matching.
 *
 * A policy resource is text in which `*` matches any run of characters (including
 * none, `/` and `:`) and `${...}` names a policy variable. Everything else — MQTT's `+`
 * and `#`, `?`, `$` — is literal, and matching is case-sensitive, as in the Greengrass component
 * (docs/greengrass-behaviour.md, section 4.4).
 *
 * INVARIANT: a variable's value is always inserted as literal text. A thing name that
 * contains `*` therefore never widens a grant; only a `*` written in the policy is a
 * wildcard.
 */

export type Variable =
  | { readonly kind: 'thingName' }
  | { readonly kind: 'clientId' }
  | { readonly kind: 'attribute'; readonly name: string };

export type Part =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'star' }
  | { readonly kind: 'variable'; readonly variable: Variable; readonly source: string };

export interface ResourcePattern {
  readonly source: string;
  readonly parts: readonly Part[];
  readonly hasVariables: boolean;
}

/** Who a decision is for. The thing name is required; the rest feed variables. */
export interface Principal {
  readonly thingName: string;
  /** Defaults to the thing name (Greengrass requires client ID = thing name). */
  readonly clientId?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

export const THING_NAME_VARIABLE = 'iot:Connection.Thing.ThingName';
export const CLIENT_ID_VARIABLE = 'iot:ClientId';
const ATTRIBUTE_VARIABLE = /^iot:Connection\.Thing\.Attributes\[([A-Za-z0-9_.:-]{1,128})\]$/;

/** Names offered in "did you mean" hints. */
export const KNOWN_VARIABLES = [THING_NAME_VARIABLE, CLIENT_ID_VARIABLE, 'iot:Connection.Thing.Attributes[NAME]'] as const;

export type PatternProblem =
  | { readonly kind: 'unknown-variable'; readonly name: string }
  | { readonly kind: 'malformed-variable'; readonly text: string; readonly reason: string };

export function parseVariable(name: string): Variable | undefined {
  if (name === THING_NAME_VARIABLE) return { kind: 'thingName' };
  if (name === CLIENT_ID_VARIABLE) return { kind: 'clientId' };
  const m = ATTRIBUTE_VARIABLE.exec(name);
  if (m) return { kind: 'attribute', name: m[1]! };
  return undefined;
}

// Parts every pattern may share (a large configuration has hundreds of thousands of them).
const STAR_PART: Part = Object.freeze({ kind: 'star' });
const THING_NAME_PART: Part = Object.freeze({ kind: 'variable', variable: Object.freeze({ kind: 'thingName' }), source: `\${${THING_NAME_VARIABLE}}` });
const CLIENT_ID_PART: Part = Object.freeze({ kind: 'variable', variable: Object.freeze({ kind: 'clientId' }), source: `\${${CLIENT_ID_VARIABLE}}` });

/** Splits a policy resource into literal text, `*` and variables. */
export function parseResourcePattern(source: string): { pattern?: ResourcePattern; problems: PatternProblem[] } {
  const parsed = parsePattern(source);
  return Array.isArray(parsed) ? { problems: parsed } : { pattern: parsed, problems: [] };
}

/** parseResourcePattern() without the wrapper: the pattern, or its (non-empty) problems. */
export function parsePattern(source: string): ResourcePattern | PatternProblem[] {
  const parts: Part[] = [];
  let problems: PatternProblem[] | undefined;
  let hasVariables = false;
  // The current literal run is source[from, i): literal text is only interrupted by `*`
  // or a variable (after a malformed variable the pattern is discarded anyway).
  let from = 0;
  let lastIsStar = false;
  const n = source.length;
  let i = 0;
  // Next `*` and next `${` at or after i (n: none); found with native searches.
  let star = -1;
  let dollar = -1;
  while (i < n) {
    if (star < i) {
      star = source.indexOf('*', i);
      if (star < 0) star = n;
    }
    if (dollar < i) {
      dollar = source.indexOf('${', i);
      if (dollar < 0) dollar = n;
    }
    if (star < dollar) {
      if (star > from) {
        parts.push({ kind: 'literal', text: source.slice(from, star) });
        lastIsStar = false;
      }
      // `**` is the same as `*`.
      if (!lastIsStar) {
        parts.push(STAR_PART);
        lastIsStar = true;
      }
      i = from = star + 1;
    } else if (dollar < n) {
      const at = dollar;
      const end = source.indexOf('}', at + 2);
      if (end < 0) {
        (problems ??= []).push({ kind: 'malformed-variable', text: source.slice(at), reason: 'has no closing `}`' });
        break;
      }
      // The two common variables are recognised in place (no slice, no string comparison).
      const common = problems !== undefined ? undefined
        : end - at - 2 === THING_NAME_VARIABLE.length && source.indexOf(THING_NAME_VARIABLE, at + 2) === at + 2 ? THING_NAME_PART
          : end - at - 2 === CLIENT_ID_VARIABLE.length && source.indexOf(CLIENT_ID_VARIABLE, at + 2) === at + 2 ? CLIENT_ID_PART : undefined;
      const name = common === undefined ? source.slice(at + 2, end) : '';
      if (common !== undefined) {
        if (at > from) parts.push({ kind: 'literal', text: source.slice(from, at) });
        parts.push(common);
        lastIsStar = false;
        hasVariables = true;
      } else if (name === '' || name.includes('${')) {
        (problems ??= []).push({ kind: 'malformed-variable', text: source.slice(at, end + 1), reason: name === '' ? 'names no variable' : 'is nested' });
      } else {
        const variable = parseVariable(name);
        if (!variable) (problems ??= []).push({ kind: 'unknown-variable', name });
        else if (problems === undefined) {
          if (at > from) parts.push({ kind: 'literal', text: source.slice(from, at) });
          parts.push({ kind: 'variable', variable, source: source.slice(at, end + 1) });
          lastIsStar = false;
          hasVariables = true;
        }
      }
      i = end + 1;
      if (problems === undefined) from = i;
    } else break;
  }
  if (problems !== undefined) return problems;
  if (n > from) parts.push({ kind: 'literal', text: source.slice(from, n) });
  return { source, parts, hasVariables };
}

/** The policy variables a policy's resources use. */
export interface PolicyVariables {
  /** Some pattern uses `${iot:ClientId}`. */
  clientId: boolean;
  /** Names of the thing attributes its patterns use. */
  attributes: Set<string> | undefined;
}

/**
 * A pattern with its variables resolved: literal segments separated by wildcards.
 * `segments.length === 1` means an exact string.
 */
export interface Glob {
  readonly segments: readonly string[];
  /** The resolved pattern as text, `*` for wildcards (for explanations). */
  readonly text: string;
}

/**
 * Resolves variables for a principal. Returns undefined when a variable has no value
 * for this principal (an attribute the thing lacks) and `unresolved` is 'skip'; with
 * 'wildcard' the missing value becomes `*` — used for deny statements, so that a
 * missing value can only make a deny broader, never make it disappear.
 */
export function resolvePattern(pattern: ResourcePattern, principal: Principal, unresolved: 'skip' | 'wildcard'): Glob | undefined {
  const parts = pattern.parts;
  const segments: string[] = [];
  // The current segment is seg (plus pieces when it has several), kept flat by joining.
  let seg = '';
  let pieces: string[] | undefined;
  let text = '';
  let textPieces: string[] | undefined;
  let textEndsWithStar = false;
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!;
    let value: string | undefined;
    if (part.kind === 'star') value = undefined;
    else if (part.kind === 'literal') value = part.text;
    else {
      value = variableValue(part.variable, principal);
      if (value === undefined) {
        if (unresolved === 'skip') return undefined;
      } else if (typeof value !== 'string') value = '' + (value as unknown as number); // as `+=` would
    }
    if (value === undefined) {
      const segEmpty = pieces === undefined && seg === '';
      if (!segEmpty || segments.length === 0) {
        segments.push(pieces === undefined ? seg : (pieces.push(seg), pieces.join('')));
        seg = '';
        pieces = undefined;
      }
      if (!textEndsWithStar) {
        if (text !== '') (textPieces ??= []).push(text);
        text = '*';
        textEndsWithStar = true;
      }
    } else if (value !== '') {
      if (seg === '') seg = value;
      else {
        (pieces ??= []).push(seg);
        seg = value;
      }
      if (text !== '') (textPieces ??= []).push(text);
      text = value;
      textEndsWithStar = value.charCodeAt(value.length - 1) === 42;
    }
  }
  segments.push(pieces === undefined ? seg : (pieces.push(seg), pieces.join('')));
  if (textPieces !== undefined) {
    textPieces.push(text);
    text = textPieces.join('');
  }
  return { segments, text };
}

function variableValue(v: Variable, p: Principal): string | undefined {
  switch (v.kind) {
    case 'thingName':
      return p.thingName;
    case 'clientId':
      return p.clientId ?? p.thingName;
    case 'attribute': {
      const attrs = p.attributes;
      return attrs !== undefined && Object.hasOwn(attrs, v.name) ? attrs[v.name] : undefined;
    }
  }
}

/** Whole-string glob match: `segments[0] * segments[1] * ... * segments[n]`. */
export function globMatches(glob: Glob, s: string): boolean {
  const segs = glob.segments;
  const n = segs.length;
  if (n === 1) return s === segs[0];
  const first = segs[0]!;
  const last = segs[n - 1]!;
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
  // Leftmost placement of each middle segment is optimal for `*`-only globs.
  let pos = first.length;
  const end = s.length - last.length;
  for (let i = 1; i < n - 1; i++) {
    const seg = segs[i]!;
    const at = s.indexOf(seg, pos);
    if (at < 0 || at + seg.length > end) return false;
    pos = at + seg.length;
  }
  return true;
}
