import { REFUSED, statementDecision, type StatementIndex } from './engine/decide.js';
import type { CompiledGroup, CompiledStatement, Decision } from './model.js';
import { OPERATIONS, RESOURCE_PREFIX, validNameChars } from './request.js';
import { resolvePattern, type Glob, type Principal, type ResourcePattern } from './resource.js';

/**
 * The match tables of a principal's permissions: the Greengrass dialect's index over its
 * statements (engine/decide.ts's StatementIndex), arranged so that finding the first
 * applying Deny or Allow touches few cache lines and allocates nothing.
 *
 * Per operation, an OpTable holds the grants (one resolved resource pattern of one
 * statement each) that can match a resource of that operation's type: exact resources
 * in a map (an ExactEntry each: the first Deny and the first Allow of that resource),
 * and globs — deny globs, then allow globs, each in group, statement and resource order
 * — with a few cheap necessary conditions of a match per glob (the "meta") in one typed
 * array. The order in which indexes are consulted is engine/decide.ts's; the request
 * validation and the implicit deny are evaluate.ts's.
 *
 * The tables check a resource name's characters lazily (engine/decide.ts's INVARIANT):
 * a Deny found on a name with characters no resource may hold answers
 * MALFORMED_RESOURCE, and so does an Allow whose match involves characters it did not
 * write itself; most requests are never scanned.
 */

/**
 * One resource pattern of one statement, resolved for a principal, in the table of one
 * operation. Grants of patterns without variables do not depend on the principal and
 * are shared by every view of a snapshot.
 */
export class Grant {
  // Fields in the order the hot path reads them (they share the first cache lines).
  /** Resolved from variables or wildcards: the request's characters must be checked on allow. */
  readonly checkChars: boolean;
  /**
   * For globs with middle segments whose grant is shared by the whole snapshot: the
   * match as one regular expression (native code beats a character loop), and the same
   * requiring every character to be printable ASCII. Null otherwise.
   */
  readonly re: RegExp | null;
  readonly reAscii: RegExp | null;
  // Glob matching: first * mids[0] * ... * last.
  readonly first: string;
  readonly last: string;
  readonly mids: readonly string[];
  /** Every segment is printable ASCII, so request characters matched by them are acceptable. */
  readonly asciiSegments: boolean;
  private built: Decision | undefined = undefined;
  readonly deny: boolean;
  /** The resolved pattern as text (glob.text). */
  readonly text: string;
  readonly group: CompiledGroup;
  readonly statement: CompiledStatement;
  /** `glob.segments.length === 1`: matched by a map lookup of the whole resource. */
  readonly exact: boolean;
  /** False when no resource of the operation's type can match (left out of the hot tables). */
  readonly live: boolean;
  /** Sum of the segment lengths: shorter resources cannot match. */
  readonly minLength: number;
  /** Character code a match has right after the operation's prefix (-1: any). */
  readonly firstCode: number;
  /** Character code a match ends with (-1: any). */
  readonly lastCode: number;

  constructor(glob: Glob, group: CompiledGroup, statement: CompiledStatement, pattern: ResourcePattern, deny: boolean, prefix: string, shared = false) {
    this.text = glob.text;
    this.group = group;
    this.statement = statement;
    this.deny = deny;
    const segs = glob.segments;
    const n = segs.length;
    this.checkChars = pattern.hasVariables || n > 1;
    this.exact = n === 1;
    const plen = prefix.length;
    const first = flat(segs[0]!);
    if (n === 1) {
      this.live = first.length > plen && first.startsWith(prefix);
      this.first = first;
      this.mids = NO_MIDS;
      this.last = '';
      this.minLength = first.length;
      this.firstCode = -1;
      this.lastCode = -1;
      this.asciiSegments = false;
      this.re = null;
      this.reAscii = null;
    } else {
      this.live = first.length >= plen ? first.startsWith(prefix) : prefix.startsWith(first);
      const last = flat(segs[n - 1]!);
      this.first = first;
      this.mids = n > 2 ? segs.slice(1, n - 1).map(flat) : NO_MIDS;
      this.last = last;
      let min = 0;
      for (const seg of segs) min += seg.length;
      this.minLength = min;
      this.firstCode = first.length > plen ? first.charCodeAt(plen) : -1;
      this.lastCode = last.length > 0 ? last.charCodeAt(last.length - 1) : -1;
      this.asciiSegments = segs.every(printableAscii);
      if (shared && n > 2) {
        const body = globRegexSource(this.first, this.mids, this.last);
        this.re = new RegExp(`^${body}`);
        this.reAscii = new RegExp(`^(?=[\\x20-\\x7E]*$)${body}`);
      } else {
        this.re = null;
        this.reAscii = null;
      }
    }
  }

  /** The decision this grant makes (built on first use: most grants never decide). */
  decision(): Decision {
    return this.built ?? (this.built = statementDecision(this.statement, { group: this.group.name, resourcePattern: this.text }));
  }
}

const NO_MIDS: readonly string[] = Object.freeze([]);

/** Every code unit as an escape: no character of a segment is special to the expression. */
function escapeForRegex(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/**
 * globMatches() as a regular expression body (after `^`): each middle segment takes its
 * leftmost place, like the search in globHit(), and the match cannot backtrack into it:
 * a one-character segment `c` is `[^c]*c`; a longer one is found by a lazy search in a
 * lookahead (atomic) and consumed by a back-reference. The last segment ends the text.
 */
function globRegexSource(first: string, mids: readonly string[], last: string): string {
  let src = escapeForRegex(first);
  let group = 0;
  for (const m of mids) {
    const e = escapeForRegex(m);
    if (m.length === 1) src += `[^${e}]*${e}`;
    else src += `(?=([^]*?${e}))\\${++group}`;
  }
  return `${src}[^]*${escapeForRegex(last)}$`;
}

/**
 * The same text as a sequential string. Slices of the configuration text and
 * concatenations are indirect strings: every character read or comparison would go
 * through the parent string (another cache miss) in the hot path.
 */
function flat(s: string): string {
  // V8 makes slices and concatenations indirect from 13 characters on; join copies.
  return s.length < 13 ? s : [s.slice(0, 1), s.slice(1)].join('');
}

/**
 * The grants of one exact resource: the first deny and the first allow, in statement
 * order; an index of its own, consulted before the table's globs. The decision of the
 * whole order for that resource depends on nothing else (the globs are fixed): it is
 * remembered in `memo` after the first time.
 */
export class ExactEntry implements StatementIndex<string> {
  deny: Grant | null = null;
  allow: Grant | null = null;
  memo: Decision | undefined = undefined;
  private readonly plen: number;

  constructor(plen: number) {
    this.plen = plen;
  }

  firstDeny(resource: string): Decision | null {
    return this.deny === null ? null : checked(resource, this.plen, this.deny.decision());
  }

  /** The allow grant's text is the resource: MALFORMED_RESOURCE when its characters are not accepted. */
  firstAllow(): Decision | null {
    const g = this.allow;
    if (g === null) return null;
    return g.checkChars && !validNameChars(g.text, this.plen) ? REFUSED.MALFORMED_RESOURCE : g.decision();
  }
}

/**
 * `decision` unless the resource's name has characters no resource may hold: then
 * MALFORMED_RESOURCE, whichever statement matched or failed to. (Allow paths check the
 * characters themselves, only where a grant could match a name the check refuses.)
 */
export function checked(resource: string, plen: number, decision: Decision): Decision {
  return validNameChars(resource, plen) ? decision : REFUSED.MALFORMED_RESOURCE;
}

/**
 * Per glob, in one typed array (one cache line covers several globs): cheap necessary
 * conditions of a match, checked before the grant itself is touched.
 */
const META = 7;
const M_MIN_LENGTH = 0; // sum of the segment lengths
const M_FIRST_CODE = 1; // code right after the prefix, or -1
const M_END_POS = 2; // position of the last character of the first segment
const M_END_CODE = 3; // code there, or -1
const M_PROBE_POS = 4; // a position in the first segment where it differs from its neighbours'
const M_PROBE_CODE = 5; // code there, or -1
const M_LAST_CODE = 6; // code at the end of the last segment, or -1

/** Length of the common prefix of a and b from `from` on. */
function commonFrom(a: string, b: string, from: number): number {
  let i = from;
  const n = Math.min(a.length, b.length);
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

function globMeta(meta: Int32Array, base: number, grants: readonly Grant[], plen: number): void {
  grants.forEach((g, i) => {
    const first = g.first;
    const j = base + i * META;
    meta[j + M_MIN_LENGTH] = g.minLength;
    meta[j + M_FIRST_CODE] = g.firstCode;
    meta[j + M_END_POS] = first.length - 1;
    meta[j + M_END_CODE] = first.length > plen ? first.charCodeAt(first.length - 1) : -1;
    // Grants of a statement or group sit side by side and share the start of their
    // topics; the first character that tells this one from its neighbours is a good test.
    let probe = plen;
    if (i > 0) probe = Math.max(probe, commonFrom(first, grants[i - 1]!.first, plen));
    if (i + 1 < grants.length) probe = Math.max(probe, commonFrom(first, grants[i + 1]!.first, plen));
    if (probe >= first.length) probe = first.length - 1;
    meta[j + M_PROBE_POS] = probe;
    meta[j + M_PROBE_CODE] = probe >= plen ? first.charCodeAt(probe) : -1;
    meta[j + M_LAST_CODE] = g.lastCode;
  });
}

/**
 * A 512-bit filter of the exact keys by length, code after the prefix and last code:
 * most resources that are not exact keys skip the map lookup (a cache miss or two).
 */
function exactSlot(len: number, c0: number, cz: number): number {
  return ((len * 31) ^ (c0 * 7) ^ cz) & 511;
}

/**
 * False when the table's exact keys cannot hold a resource of length `len` whose code
 * after the prefix is `c0` and whose last code is `cz` (the filter is at 0 in `bits`).
 */
export function exactMayHold(bits: Int32Array, len: number, c0: number, cz: number): boolean {
  const slot = exactSlot(len, c0, cz);
  return (bits[slot >>> 5]! & (1 << (slot & 31))) !== 0;
}

const FILTER_INTS = 16;

function exactFilter(bits: Int32Array, keys: Iterable<string>, plen: number): void {
  for (const k of keys) {
    const slot = exactSlot(k.length, k.charCodeAt(plen), k.charCodeAt(k.length - 1));
    bits[slot >>> 5]! |= 1 << (slot & 31);
  }
}

/**
 * The grants of one operation, arranged for decide(). As an index, it answers for the
 * globs only and takes a resource longer than the operation's prefix that starts with
 * it (the dialect's validation; see globsImplyPrefix); exact resources are their
 * ExactEntry's.
 */
export class OpTable implements StatementIndex<string> {
  readonly prefix: string;
  readonly plen: number;
  /** Exact resources: their entry (with its remembered decision once decided). */
  readonly exact: Map<string, ExactEntry> | null;
  readonly denyGlobs: readonly Grant[];
  readonly allowGlobs: readonly Grant[];
  /**
   * One array, so that a decision touches few cache lines: the exact keys' 512-bit
   * filter (16 ints at 0), then the deny globs' meta, then the allow globs' meta.
   */
  readonly bits: Int32Array;
  /** Where the deny globs' and the allow globs' meta start in `bits`. */
  readonly denyBase: number;
  readonly allowBase: number;
  /**
   * True when a match of every glob implies the operation's prefix (each is matched by
   * an anchored regular expression whose first segment holds the prefix): the prefix
   * may then be checked only when the index found nothing, with the same answers.
   */
  readonly globsImplyPrefix: boolean;

  constructor(prefix: string, exact: Map<string, ExactEntry> | null, denyGlobs: readonly Grant[], allowGlobs: readonly Grant[]) {
    this.prefix = prefix;
    this.plen = prefix.length;
    this.exact = exact;
    this.denyGlobs = denyGlobs;
    this.allowGlobs = allowGlobs;
    const bits = new Int32Array(FILTER_INTS + (denyGlobs.length + allowGlobs.length) * META);
    if (exact !== null) exactFilter(bits, exact.keys(), prefix.length);
    this.denyBase = FILTER_INTS;
    globMeta(bits, FILTER_INTS, denyGlobs, prefix.length);
    this.allowBase = FILTER_INTS + denyGlobs.length * META;
    globMeta(bits, this.allowBase, allowGlobs, prefix.length);
    this.bits = bits;
    const plen = prefix.length;
    const implies = (g: Grant): boolean => g.re !== null && g.first.length >= plen;
    this.globsImplyPrefix = denyGlobs.every(implies) && allowGlobs.every(implies);
  }

  /** The first deny glob matching `resource`, in order. */
  firstDeny(resource: string): Decision | null {
    const denies = this.denyGlobs;
    const n = denies.length;
    if (n === 0) return null;
    const plen = this.plen;
    const len = resource.length;
    const c0 = resource.charCodeAt(plen);
    const cz = resource.charCodeAt(len - 1);
    const meta = this.bits;
    const base = this.denyBase;
    for (let i = 0; i < n; i++) {
      if (!mayMatch(meta, base, i, resource, len, c0, cz)) continue;
      const g = denies[i]!;
      if (g.re !== null ? g.re.test(resource) : globHit(g, resource, len, plen)) return checked(resource, plen, g.decision());
    }
    return null;
  }

  /** The first allow glob matching `resource`, in order. */
  firstAllow(resource: string): Decision | null {
    const allows = this.allowGlobs;
    const n = allows.length;
    if (n === 0) return null;
    const plen = this.plen;
    const len = resource.length;
    const c0 = resource.charCodeAt(plen);
    const cz = resource.charCodeAt(len - 1);
    const meta = this.bits;
    const base = this.allowBase;
    // Whether the resource is printable ASCII throughout: 0 not known yet, 1 yes, 2 no.
    let ascii = 0;
    for (let i = 0; i < n; i++) {
      if (!mayMatch(meta, base, i, resource, len, c0, cz)) continue;
      const g = allows[i]!;
      if (g.reAscii !== null) {
        // Without a match of the ASCII form, the glob may still match a resource with
        // other characters, which validNameChars() then judges.
        if (g.reAscii.test(resource)) return g.decision();
        if (ascii === 0) ascii = PRINTABLE_ASCII.test(resource) ? 1 : 2;
        if (ascii === 1 || !g.re!.test(resource)) continue;
        return validNameChars(resource, plen) ? g.decision() : REFUSED.MALFORMED_RESOURCE;
      }
      if (g.checkChars) {
        const hit = globHitAllow(g, resource, len, plen);
        if (hit === MATCH) return g.decision();
        if (hit === MATCH_CHECK) return validNameChars(resource, plen) ? g.decision() : REFUSED.MALFORMED_RESOURCE;
      } else if (globHit(g, resource, len, plen)) return g.decision();
    }
    return null;
  }
}

/**
 * False when the meta of glob `i` of the globs whose meta starts at `base` rules out a
 * match of a resource of length `len` whose code after the prefix is `c0` and whose
 * last code is `cz`.
 */
export function mayMatch(meta: Int32Array, base: number, i: number, s: string, len: number, c0: number, cz: number): boolean {
  const j = base + i * META;
  if (len < meta[j + M_MIN_LENGTH]!) return false;
  const fc = meta[j + M_FIRST_CODE]!;
  if (fc >= 0 && fc !== c0) return false;
  const lc = meta[j + M_LAST_CODE]!;
  if (lc >= 0 && lc !== cz) return false;
  const ec = meta[j + M_END_CODE]!;
  if (ec >= 0 && s.charCodeAt(meta[j + M_END_POS]!) !== ec) return false;
  const pc = meta[j + M_PROBE_CODE]!;
  return pc < 0 || s.charCodeAt(meta[j + M_PROBE_POS]!) === pc;
}

const EMPTY_TABLES: readonly OpTable[] = OPERATIONS.map((op) => new OpTable(RESOURCE_PREFIX[op], null, NO_GRANTS(), NO_GRANTS()));

function NO_GRANTS(): readonly Grant[] {
  return Object.freeze([]);
}

/**
 * The tables of a principal, one per operation in OPERATIONS order: the grants of the
 * selected groups' statements, in group, statement and resource order, with variables
 * resolved for the principal (an unresolved variable drops an allow and widens a deny:
 * see resolvePattern).
 */
export function buildTables(principal: Principal, groups: readonly CompiledGroup[], groupPlans: readonly GroupPlan[]): readonly OpTable[] {
  return OPERATIONS.map((op, k) => {
    const prefix = RESOURCE_PREFIX[op];
    let exact: Map<string, ExactEntry> | null = null;
    let denyGlobs: Grant[] | null = null;
    let allowGlobs: Grant[] | null = null;
    for (let gi = 0; gi < groups.length; gi++) {
      const items = groupPlans[gi]![k]!;
      for (let ii = 0; ii < items.length; ii++) {
        const item = items[ii]!;
        let grant = item.fixed;
        if (grant === undefined) {
          const glob = resolvePattern(item.pattern, principal, item.deny ? 'wildcard' : 'skip');
          if (!glob) continue;
          grant = new Grant(glob, groups[gi]!, item.statement, item.pattern, item.deny, prefix);
        }
        if (!grant.live) continue;
        if (grant.exact) {
          exact ??= new Map();
          let e = exact.get(grant.first);
          if (e === undefined) exact.set(grant.first, (e = new ExactEntry(prefix.length)));
          if (grant.deny) e.deny ??= grant;
          else e.allow ??= grant;
        } else {
          if (grant.deny) (denyGlobs ??= []).push(grant);
          else (allowGlobs ??= []).push(grant);
        }
      }
    }
    if (exact === null && denyGlobs === null && allowGlobs === null) return EMPTY_TABLES[k]!;
    return new OpTable(prefix, exact, denyGlobs ?? EMPTY_TABLES[k]!.denyGlobs, allowGlobs ?? EMPTY_TABLES[k]!.allowGlobs);
  });
}

/** One resource of one statement of a group, for one operation. */
interface PlanItem {
  readonly statement: CompiledStatement;
  readonly pattern: ResourcePattern;
  readonly deny: boolean;
  /** The grant itself when the pattern has no variables (the same for every principal). */
  readonly fixed: Grant | undefined;
}

/** A group's statements per operation, in statement and resource order. */
export type GroupPlan = readonly (readonly PlanItem[])[];

const NOBODY: Principal = Object.freeze({ thingName: '' });

export function planGroup(group: CompiledGroup): GroupPlan {
  return OPERATIONS.map((op) => {
    const items: PlanItem[] = [];
    const prefix = RESOURCE_PREFIX[op];
    const bit = 1 << OPERATIONS.indexOf(op);
    for (const statement of group.statements) {
      if ((statement.actionTest.mask & bit) === 0) continue;
      const deny = statement.deny;
      for (const pattern of statement.resources) {
        const fixed = pattern.hasVariables ? undefined : new Grant(resolvePattern(pattern, NOBODY, 'wildcard')!, group, statement, pattern, deny, prefix, true);
        items.push({ statement, pattern, deny, fixed });
      }
    }
    return items;
  });
}

function printableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

export const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

/** True when `s` starts with `prefix` (a native search beats a character loop here). */
export function hasPrefix(s: string, prefix: string): boolean {
  return s.indexOf(prefix) === 0;
}

/**
 * The glob match of globMatches() for a resource known to start with the operation's
 * prefix (which the glob's first segment starts with, or is a prefix of) and to be at
 * least g.minLength long. Middle segments take their leftmost place.
 */
export function globHit(g: Grant, s: string, len: number, plen: number): boolean {
  const first = g.first;
  if (first.length - plen > LONG) {
    if (!s.startsWith(first)) return false;
  } else {
    // Backwards: grants of a group tend to share the start of their topics.
    for (let i = first.length - 1; i >= plen; i--) if (s.charCodeAt(i) !== first.charCodeAt(i)) return false;
  }
  const last = g.last;
  const end = len - last.length;
  if (last.length > LONG) {
    if (!s.endsWith(last)) return false;
  } else {
    for (let i = 0; i < last.length; i++) if (s.charCodeAt(end + i) !== last.charCodeAt(i)) return false;
  }
  const mids = g.mids;
  let pos = first.length;
  for (let k = 0; k < mids.length; k++) {
    const m = mids[k]!;
    if (m.length === 1) {
      const c = m.charCodeAt(0);
      while (pos < end && s.charCodeAt(pos) !== c) pos++;
      if (pos >= end) return false;
      pos++;
    } else {
      const at = s.indexOf(m, pos);
      if (at < 0 || at + m.length > end) return false;
      pos = at + m.length;
    }
  }
  return true;
}

/** globHitAllow()'s answers. */
const NO_MATCH = 0;
export const MATCH = 1;
/** Matched, but a character is not printable ASCII: validNameChars() must decide. */
export const MATCH_CHECK = 2;

/** globHit() for an allow grant, checking the request's characters on the way. */
export function globHitAllow(g: Grant, s: string, len: number, plen: number): number {
  const first = g.first;
  if (first.length - plen > LONG) {
    if (!s.startsWith(first)) return NO_MATCH;
  } else {
    for (let i = first.length - 1; i >= plen; i--) if (s.charCodeAt(i) !== first.charCodeAt(i)) return NO_MATCH;
  }
  const last = g.last;
  const end = len - last.length;
  if (last.length > LONG) {
    if (!s.endsWith(last)) return NO_MATCH;
  } else {
    for (let i = 0; i < last.length; i++) if (s.charCodeAt(end + i) !== last.charCodeAt(i)) return NO_MATCH;
  }
  // Characters matched by a segment are the segment's; the others are checked here.
  let ascii = g.asciiSegments;
  const mids = g.mids;
  let pos = first.length;
  for (let k = 0; k < mids.length; k++) {
    const m = mids[k]!;
    if (m.length === 1) {
      const c = m.charCodeAt(0);
      for (;;) {
        if (pos >= end) return NO_MATCH;
        const d = s.charCodeAt(pos++);
        if (d === c) break;
        if (d < 0x20 || d > 0x7e) ascii = false;
      }
    } else {
      const at = s.indexOf(m, pos);
      if (at < 0 || at + m.length > end) return NO_MATCH;
      if (ascii) {
        for (let i = pos; i < at; i++) {
          const d = s.charCodeAt(i);
          if (d < 0x20 || d > 0x7e) {
            ascii = false;
            break;
          }
        }
      }
      pos = at + m.length;
    }
  }
  if (ascii) {
    // The whole resource printable ASCII (the prefix is) means the remaining characters are.
    if (end - pos > LONG) return PRINTABLE_ASCII.test(s) ? MATCH : MATCH_CHECK;
    for (let i = pos; i < end; i++) {
      const d = s.charCodeAt(i);
      if (d < 0x20 || d > 0x7e) return MATCH_CHECK;
    }
    return MATCH;
  }
  return MATCH_CHECK;
}

/** Beyond this many characters a native comparison or scan beats a character loop. */
const LONG = 12;
