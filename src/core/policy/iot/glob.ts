/**
 * The wildcard matcher shared by IoT policy actions and resources: `*` matches any run
 * of characters (including none), `?` exactly one. In the five colon-separated segments
 * that open an ARN, a wildcard stays inside its segment unless the `*` is the last
 * character of the segment, in which case it may run past colons
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
 *
 * A pattern is compiled once into tokens (character codes for literals, negative
 * numbers for wildcards) and, where it can be, into a cheaper form: `*`, an exact
 * string, or a literal prefix followed by one final `*`.
 */

/** `*` that may match any character, `:` included. */
export const ANY = -1;
/** `*` inside an ARN segment: matches any run without `:`. */
export const ANY_IN_SEGMENT = -2;
/** `?` that may match any character. */
export const ONE = -3;
/** `?` inside an ARN segment: one character that is not `:`. */
export const ONE_IN_SEGMENT = -4;

const COLON = 58;

export type GlobTokens = readonly number[];

/** Tokenizes a wildcard pattern whose `*` and `?` all match freely (actions, resource parts). */
export function freeTokens(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out.push(c === 42 ? ANY : c === 63 ? ONE : c);
  }
  return out;
}

/** Literal tokens (substituted values, escapes): wildcard characters are plain characters. */
export function literalTokens(text: string, out: number[] = []): number[] {
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i));
  return out;
}

/**
 * Tokenizes a resource pattern's text. `colonsBefore` is how many `:` of the pattern
 * precede `text` (text that is part of a longer pattern); a wildcard in one of the first
 * five segments is confined to its segment unless it is a `*` ending the segment.
 */
export function arnTokens(text: string, colonsBefore: number, out: number[] = []): { tokens: number[]; colons: number } {
  let colons = colonsBefore;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const inSegments = colons < 5;
    if (c === COLON) {
      colons++;
      out.push(c);
    } else if (c === 42) {
      // A `*` ending a segment (next char is `:` or the end of the pattern) may cross colons.
      const endsSegment = i + 1 === text.length || text.charCodeAt(i + 1) === COLON;
      out.push(!inSegments || endsSegment ? ANY : ANY_IN_SEGMENT);
    } else if (c === 63) {
      out.push(inSegments ? ONE_IN_SEGMENT : ONE);
    } else {
      out.push(c);
    }
  }
  return { tokens: out, colons };
}

/** True when every token is a literal character. */
export function isLiteral(tokens: GlobTokens): boolean {
  for (const t of tokens) if (t < 0) return false;
  return true;
}

/** Matches `s` against `tokens` (fully anchored). */
export function globMatch(tokens: GlobTokens, s: string): boolean {
  let confined = false;
  for (const t of tokens) if (t === ANY_IN_SEGMENT || t === ONE_IN_SEGMENT) confined = true;
  return confined ? matchTable(tokens, s) : matchGreedy(tokens, s);
}

/** The classic linear-time-in-practice matcher for patterns whose wildcards all match freely. */
function matchGreedy(p: GlobTokens, s: string): boolean {
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    const t = pi < p.length ? p[pi]! : 0;
    if (pi < p.length && (t === ONE || t === s.charCodeAt(si))) {
      pi++;
      si++;
    } else if (pi < p.length && t === ANY) {
      star = pi++;
      mark = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === ANY) pi++;
  return pi === p.length;
}

/**
 * A row-by-row table (O(pattern × text)) for patterns with segment-confined wildcards;
 * it stops at the first character after which no prefix of the pattern matches.
 */
function matchTable(p: GlobTokens, s: string): boolean {
  const m = p.length;
  let prev = new Uint8Array(m + 1);
  let cur = new Uint8Array(m + 1);
  prev[0] = 1;
  for (let j = 1; j <= m; j++) prev[j] = prev[j - 1]! && (p[j - 1] === ANY || p[j - 1] === ANY_IN_SEGMENT) ? 1 : 0;
  for (let i = 1; i <= s.length; i++) {
    const c = s.charCodeAt(i - 1);
    cur[0] = 0;
    let alive = 0;
    for (let j = 1; j <= m; j++) {
      const t = p[j - 1]!;
      if (t === ANY) cur[j] = cur[j - 1]! || prev[j]! ? 1 : 0;
      else if (t === ANY_IN_SEGMENT) cur[j] = cur[j - 1]! || (prev[j]! && c !== COLON) ? 1 : 0;
      else if (t === ONE) cur[j] = prev[j - 1]!;
      else if (t === ONE_IN_SEGMENT) cur[j] = c !== COLON ? prev[j - 1]! : 0;
      else cur[j] = t === c ? prev[j - 1]! : 0;
      alive |= cur[j]!;
    }
    // No prefix of the pattern matches any more: the rest of a long topic cannot change that.
    if (alive === 0) return false;
    const swap = prev;
    prev = cur;
    cur = swap;
  }
  return prev[m] === 1;
}

/** A compiled pattern: the cheapest form that decides the same strings as the tokens. */
export type FastPattern =
  | { readonly kind: 'all' }
  | { readonly kind: 'exact'; readonly text: string }
  | { readonly kind: 'prefix'; readonly text: string }
  | { readonly kind: 'glob'; readonly tokens: GlobTokens };

export function fastPattern(tokens: GlobTokens): FastPattern {
  if (tokens.length === 1 && tokens[0] === ANY) return { kind: 'all' };
  let firstWild = tokens.length;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]! < 0) {
      firstWild = i;
      break;
    }
  }
  const text = String.fromCharCode(...tokens.slice(0, firstWild));
  if (firstWild === tokens.length) return { kind: 'exact', text };
  if (firstWild === tokens.length - 1 && tokens[firstWild] === ANY) return { kind: 'prefix', text };
  return { kind: 'glob', tokens };
}

export function fastMatch(p: FastPattern, s: string): boolean {
  switch (p.kind) {
    case 'all':
      return true;
    case 'exact':
      return p.text === s;
    case 'prefix':
      return s.startsWith(p.text);
    case 'glob':
      return globMatch(p.tokens, s);
  }
}
