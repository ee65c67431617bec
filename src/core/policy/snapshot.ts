import { RuleIndex } from '../rules/match.js';
import type { CompiledGroup, CompiledStatement, Decision, DecisionReason, Explanation, StatementMatch } from './model.js';
import { OPERATIONS, RESOURCE_PREFIX, RESOURCE_PREFIXES, operationIndex, splitResource, validNameChars } from './request.js';
import { globMatches, resolvePattern, type Glob, type Principal, type ResourcePattern } from './resource.js';

/**
 * Evaluation order of a decision (fail closed at every step):
 *
 *  1. The operation must be `mqtt:connect`, `mqtt:publish` or `mqtt:subscribe`
 *     (else UNKNOWN_OPERATION).
 *  2. The resource must have the operation's type (`mqtt:clientId:`, `mqtt:topic:`,
 *     `mqtt:topicfilter:`) and a non-empty name of accepted characters (else
 *     RESOURCE_TYPE_MISMATCH or MALFORMED_RESOURCE).
 *  3. Any matching DENY statement of any selecting group denies.
 *  4. Any matching ALLOW statement allows.
 *  5. Otherwise deny: NO_GROUP_SELECTS_THING or NO_MATCHING_STATEMENT.
 *
 * Group selection and variable resolution depend only on the principal, so they are
 * done once per principal and cached in a PrincipalView for the snapshot's lifetime.
 */

const CONSTANT: Record<Exclude<DecisionReason, 'ALLOWED_BY_STATEMENT' | 'DENIED_BY_STATEMENT'>, Decision> = {
  NO_GROUP_SELECTS_THING: Object.freeze({ allowed: false, reason: 'NO_GROUP_SELECTS_THING' }),
  NO_MATCHING_STATEMENT: Object.freeze({ allowed: false, reason: 'NO_MATCHING_STATEMENT' }),
  UNKNOWN_OPERATION: Object.freeze({ allowed: false, reason: 'UNKNOWN_OPERATION' }),
  MALFORMED_RESOURCE: Object.freeze({ allowed: false, reason: 'MALFORMED_RESOURCE' }),
  RESOURCE_TYPE_MISMATCH: Object.freeze({ allowed: false, reason: 'RESOURCE_TYPE_MISMATCH' }),
};

/**
 * One resource pattern of one statement, resolved for a principal, in the table of one
 * operation. Grants of patterns without variables do not depend on the principal and
 * are shared by every view of a snapshot.
 */
class Grant {
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
  /** The first segment starts with the operation's prefix: a match implies the prefix. */
  readonly impliesPrefix: boolean;
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
      this.impliesPrefix = true;
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
      this.impliesPrefix = first.length >= plen;
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
    return this.built ?? (this.built = Object.freeze({
      allowed: !this.deny,
      reason: this.deny ? 'DENIED_BY_STATEMENT' : 'ALLOWED_BY_STATEMENT',
      group: this.group.name,
      policy: this.statement.policy,
      statement: this.statement.statement,
      resourcePattern: this.text,
    }));
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

/** The grants of one exact resource: the first deny and the first allow, in statement order. */
class ExactEntry {
  deny: Grant | null = null;
  allow: Grant | null = null;

  /** The allow grant's answer for this resource (MALFORMED_RESOURCE when its characters are not accepted). */
  private allowed: Decision | undefined = undefined;

  allowDecision(plen: number): Decision {
    if (this.allowed === undefined) {
      const g = this.allow!;
      this.allowed = g.checkChars && !validNameChars(g.text, plen) ? CONSTANT.MALFORMED_RESOURCE : g.decision();
    }
    return this.allowed;
  }
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

const FILTER_INTS = 16;

function exactFilter(bits: Int32Array, keys: Iterable<string>, plen: number): void {
  for (const k of keys) {
    const slot = exactSlot(k.length, k.charCodeAt(plen), k.charCodeAt(k.length - 1));
    bits[slot >>> 5]! |= 1 << (slot & 31);
  }
}

/** The grants of one operation, arranged for decide(). */
class OpTable {
  readonly prefix: string;
  readonly plen: number;
  /**
   * Exact resources: their entry until first decided, then the decision itself (it
   * depends on nothing else: the deny globs that could override the allow are fixed).
   */
  readonly exact: Map<string, ExactEntry | Decision> | null;
  readonly denyGlobs: readonly Grant[];
  readonly allowGlobs: readonly Grant[];
  /**
   * One array, so that a decision touches few cache lines: the exact keys' 512-bit
   * filter (16 ints at 0), then the deny globs' meta, then the allow globs' meta.
   */
  readonly bits: Int32Array;
  readonly allowBase: number;
  /** A glob's first segment is shorter than the prefix, so a match does not imply the prefix: check it first. */
  readonly prefixFirst: boolean;

  constructor(prefix: string, exact: Map<string, ExactEntry | Decision> | null, denyGlobs: readonly Grant[], allowGlobs: readonly Grant[], prefixFirst: boolean) {
    this.prefix = prefix;
    this.plen = prefix.length;
    this.exact = exact;
    this.denyGlobs = denyGlobs;
    this.allowGlobs = allowGlobs;
    const bits = new Int32Array(FILTER_INTS + (denyGlobs.length + allowGlobs.length) * META);
    if (exact !== null) exactFilter(bits, exact.keys(), prefix.length);
    globMeta(bits, FILTER_INTS, denyGlobs, prefix.length);
    this.allowBase = FILTER_INTS + denyGlobs.length * META;
    globMeta(bits, this.allowBase, allowGlobs, prefix.length);
    this.bits = bits;
    this.prefixFirst = prefixFirst;
  }
}

/**
 * False when the meta at `j` rules out a match of a resource of length `len` whose
 * code after the prefix is `c0` and whose last code is `cz`.
 */
function mayMatch(meta: Int32Array, j: number, s: string, len: number, c0: number, cz: number): boolean {
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

const EMPTY_TABLES: readonly OpTable[] = OPERATIONS.map((op) => new OpTable(RESOURCE_PREFIX[op], null, NO_GRANTS(), NO_GRANTS(), false));

function NO_GRANTS(): readonly Grant[] {
  return Object.freeze([]);
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
type GroupPlan = readonly (readonly PlanItem[])[];

const NOBODY: Principal = Object.freeze({ thingName: '' });

function planGroup(group: CompiledGroup): GroupPlan {
  return OPERATIONS.map((op) => {
    const items: PlanItem[] = [];
    const prefix = RESOURCE_PREFIX[op];
    for (const statement of group.statements) {
      if (!statement.operations.includes(op)) continue;
      const deny = statement.effect === 'DENY';
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

const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

/** True when `s` starts with `prefix` (a native search beats a character loop here). */
function hasPrefix(s: string, prefix: string): boolean {
  return s.indexOf(prefix) === 0;
}

/**
 * The glob match of globMatches() for a resource known to start with the operation's
 * prefix (which the glob's first segment starts with, or is a prefix of) and to be at
 * least g.minLength long. Middle segments take their leftmost place.
 */
function globHit(g: Grant, s: string, len: number, plen: number): boolean {
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

/** globHit() for an allow grant, checking the request's characters on the way. */
const NO_MATCH = 0;
const MATCH = 1;
/** Matched, but a character is not printable ASCII: validNameChars() must decide. */
const MATCH_CHECK = 2;

function globHitAllow(g: Grant, s: string, len: number, plen: number): number {
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

/** A resolved grant for explanations. */
interface ExplainedGrant {
  readonly glob: Glob;
  readonly group: CompiledGroup;
  readonly statement: CompiledStatement;
  readonly pattern: ResourcePattern;
}

/** The permissions of one principal under one snapshot. Immutable once built. */
export class PrincipalView {
  readonly principal: Principal;
  readonly groups: readonly CompiledGroup[];
  private readonly connect: OpTable;
  private readonly publish: OpTable;
  private readonly subscribe: OpTable;
  private readonly noMatch: Decision;
  /** Every grant in statement order, per operation, for explanations (built on first use). */
  private all: readonly (readonly ExplainedGrant[])[] | undefined = undefined;

  constructor(principal: Principal, groups: readonly CompiledGroup[], plans?: (group: CompiledGroup) => GroupPlan) {
    this.principal = principal;
    this.groups = groups;
    this.noMatch = groups.length === 0 ? CONSTANT.NO_GROUP_SELECTS_THING : CONSTANT.NO_MATCHING_STATEMENT;
    const groupPlans = groups.map(plans ?? planGroup);
    const tables = OPERATIONS.map((op, k) => {
      const prefix = RESOURCE_PREFIX[op];
      let exact: Map<string, ExactEntry | Decision> | null = null;
      let denyGlobs: Grant[] | null = null;
      let allowGlobs: Grant[] | null = null;
      let prefixFirst = false;
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
            let e = exact.get(grant.first) as ExactEntry | undefined;
            if (e === undefined) exact.set(grant.first, (e = new ExactEntry()));
            if (grant.deny) e.deny ??= grant;
            else e.allow ??= grant;
          } else {
            if (grant.deny) (denyGlobs ??= []).push(grant);
            else (allowGlobs ??= []).push(grant);
            if (grant.first.length < prefix.length) prefixFirst = true;
          }
        }
      }
      if (exact === null && denyGlobs === null && allowGlobs === null) return EMPTY_TABLES[k]!;
      return new OpTable(prefix, exact, denyGlobs ?? EMPTY_TABLES[k]!.denyGlobs, allowGlobs ?? EMPTY_TABLES[k]!.allowGlobs, prefixFirst);
    });
    this.connect = tables[0]!;
    this.publish = tables[1]!;
    this.subscribe = tables[2]!;
  }

  /**
   * The hot path: one decision, no allocation. The order of evaluation is that of the
   * comment at the top of this file: deny (exact, then globs in statement order), then
   * allow (exact, then globs); the resource's prefix is checked as soon as a glob could
   * match and before answering no-match, which gives the same answers as checking it first.
   */
  decide(operation: string, resource: string): Decision {
    let t: OpTable;
    switch (operation) {
      case 'mqtt:connect':
        t = this.connect;
        break;
      case 'mqtt:publish':
        t = this.publish;
        break;
      case 'mqtt:subscribe':
        t = this.subscribe;
        break;
      default:
        return CONSTANT.UNKNOWN_OPERATION;
    }
    const len = resource.length;
    const plen = t.plen;
    if (len <= plen) return rejectResource(resource);
    const exact = t.exact;
    if (exact !== null) {
      const slot = exactSlot(len, resource.charCodeAt(plen), resource.charCodeAt(len - 1));
      if ((t.bits[slot >>> 5]! & (1 << (slot & 31))) !== 0) {
        // Exact keys start with the prefix, so a hit implies it.
        const e = exact.get(resource);
        if (e !== undefined) {
          if (!(e instanceof ExactEntry)) return e;
          const d = this.evaluate(t, resource, e);
          exact.set(resource, d);
          return d;
        }
      }
    }
    return this.evaluate(t, resource, undefined);
  }

  /** decide() past the exact lookup: `exact` is the resource's exact entry, if any. */
  private evaluate(t: OpTable, resource: string, exact: ExactEntry | undefined): Decision {
    const plen = t.plen;
    const len = resource.length;
    let prefixOk = exact !== undefined;
    if (!prefixOk && t.prefixFirst) {
      if (!hasPrefix(resource, t.prefix)) return rejectResource(resource);
      prefixOk = true;
    }
    if (exact !== undefined && exact.deny !== null) return checked(resource, plen, exact.deny.decision());
    const c0 = resource.charCodeAt(plen);
    const cz = resource.charCodeAt(len - 1);
    const meta = t.bits;
    const denies = t.denyGlobs;
    for (let i = 0; i < denies.length; i++) {
      if (!mayMatch(meta, FILTER_INTS + i * META, resource, len, c0, cz)) continue;
      const g = denies[i]!;
      if (g.re !== null && g.impliesPrefix) {
        if (g.re.test(resource)) return checked(resource, plen, g.decision());
        continue;
      }
      if (!prefixOk) {
        if (!hasPrefix(resource, t.prefix)) return rejectResource(resource);
        prefixOk = true;
      }
      if (globHit(g, resource, len, plen)) return checked(resource, plen, g.decision());
    }
    if (exact !== undefined && exact.allow !== null) return exact.allowDecision(plen);
    const allows = t.allowGlobs;
    const allowBase = t.allowBase;
    // Whether the resource is printable ASCII throughout: 0 not known yet, 1 yes, 2 no.
    let ascii = 0;
    for (let i = 0; i < allows.length; i++) {
      if (!mayMatch(meta, allowBase + i * META, resource, len, c0, cz)) continue;
      const g = allows[i]!;
      if (g.reAscii !== null && g.impliesPrefix) {
        // A match implies the prefix. Without one, the glob may still match a resource
        // with other characters, which validNameChars() then judges.
        if (g.reAscii.test(resource)) return g.decision();
        if (ascii === 0) ascii = PRINTABLE_ASCII.test(resource) ? 1 : 2;
        if (ascii === 1 || !g.re!.test(resource)) continue;
        return validNameChars(resource, plen) ? g.decision() : CONSTANT.MALFORMED_RESOURCE;
      }
      if (!prefixOk) {
        if (!hasPrefix(resource, t.prefix)) return rejectResource(resource);
        prefixOk = true;
      }
      if (g.checkChars) {
        const hit = globHitAllow(g, resource, len, plen);
        if (hit === MATCH) return g.decision();
        if (hit === MATCH_CHECK) return validNameChars(resource, plen) ? g.decision() : CONSTANT.MALFORMED_RESOURCE;
      } else if (globHit(g, resource, len, plen)) return g.decision();
    }
    if (!prefixOk && !hasPrefix(resource, t.prefix)) return rejectResource(resource);
    return checked(resource, plen, this.noMatch);
  }

  /** Every statement that matches, using the same matcher as decide(). */
  matches(operation: string, resource: string): StatementMatch[] {
    const k = operationIndex(operation);
    if (k < 0) return [];
    const all = (this.all ??= this.allGrants())[k]!;
    return all.filter((g) => globMatches(g.glob, resource)).map((g) => ({
      effect: g.statement.effect, group: g.group.name, policy: g.statement.policy, statement: g.statement.statement,
      pattern: g.pattern.source, resolved: g.glob.text,
    }));
  }

  private allGrants(): ExplainedGrant[][] {
    return OPERATIONS.map((op) => {
      const all: ExplainedGrant[] = [];
      for (const group of this.groups) {
        for (const statement of group.statements) {
          if (!statement.operations.includes(op)) continue;
          const deny = statement.effect === 'DENY';
          for (const pattern of statement.resources) {
            const glob = resolvePattern(pattern, this.principal, deny ? 'wildcard' : 'skip');
            if (glob) all.push({ glob, group, statement, pattern });
          }
        }
      }
      return all;
    });
  }
}

/**
 * `decision` unless the resource's name has characters no resource may hold: then
 * MALFORMED_RESOURCE, whichever statement matched or failed to. (Allow paths check the
 * characters themselves, only where a grant could match a name the check refuses.)
 */
function checked(resource: string, plen: number, decision: Decision): Decision {
  return validNameChars(resource, plen) ? decision : CONSTANT.MALFORMED_RESOURCE;
}

function rejectResource(resource: string): Decision {
  const parts = splitResource(resource);
  if (parts && parts.name !== '' && RESOURCE_PREFIXES.includes(`${parts.service}:${parts.type}:`)) return CONSTANT.RESOURCE_TYPE_MISMATCH;
  return CONSTANT.MALFORMED_RESOURCE;
}

interface ObjectCacheEntry {
  readonly view: PrincipalView;
  readonly thingName: string;
  readonly clientId: string | undefined;
  readonly attributes: readonly (string | undefined)[] | undefined;
}

/** Bound on cached principal views per snapshot; the oldest is dropped beyond it. */
const MAX_VIEWS = 65536;

/**
 * A compiled, frozen policy configuration. Build one per configuration; swap the
 * whole snapshot on reload.
 */
export class PolicySnapshot {
  readonly groups: readonly CompiledGroup[];
  private readonly index = new RuleIndex<CompiledGroup>();
  private readonly views = new Map<string, PrincipalView>();
  private readonly usesClientId: boolean;
  private readonly attributeNames: readonly string[];
  /** Per group, its statements arranged per operation (built when a view first needs the group). */
  private readonly plans = new Map<CompiledGroup, GroupPlan>();
  private readonly planOf = (group: CompiledGroup): GroupPlan => {
    let plan = this.plans.get(group);
    if (plan === undefined) this.plans.set(group, (plan = planGroup(group)));
    return plan;
  };
  /**
   * The view last returned for a principal object, with the values its cache key was
   * made of: a caller that keeps its principal object skips building the key.
   */
  private readonly byObject = new WeakMap<object, ObjectCacheEntry>();

  /**
   * `variables`, when given, must be what the scan of the groups' statements below would
   * find (compileDeviceGroups knows it from validation without compiling every statement).
   */
  constructor(groups: readonly CompiledGroup[], variables?: { readonly usesClientId: boolean; readonly attributeNames: readonly string[] }) {
    this.groups = Object.freeze([...groups]);
    for (const g of this.groups) this.index.add(g.rule, g);
    if (variables !== undefined) {
      this.usesClientId = variables.usesClientId;
      this.attributeNames = variables.attributeNames;
      return;
    }
    const attrs = new Set<string>();
    let usesClientId = false;
    const seen = new Set<readonly CompiledStatement[]>();
    for (const g of this.groups) {
      // Groups that share a policy share its statement list.
      if (seen.has(g.statements)) continue;
      seen.add(g.statements);
      for (const s of g.statements) {
        for (const r of s.resources) {
          if (!r.hasVariables) continue;
          for (const p of r.parts) {
            if (p.kind !== 'variable') continue;
            if (p.variable.kind === 'clientId') usesClientId = true;
            if (p.variable.kind === 'attribute') attrs.add(p.variable.name);
          }
        }
      }
    }
    this.usesClientId = usesClientId;
    this.attributeNames = [...attrs].sort();
  }

  /** Names of the groups whose selection rule selects a thing, in configuration order. */
  selectGroups(thingName: string): readonly CompiledGroup[] {
    return thingName === '' ? [] : this.index.select(thingName);
  }

  /** The cached permission view of a principal (built on first use). */
  view(principal: Principal): PrincipalView {
    if (!this.usesClientId && this.attributeNames.length === 0) {
      // The key is the thing name itself: one lookup.
      let v = this.views.get(principal.thingName);
      if (v === undefined) v = this.addView(principal.thingName, principal);
      return v;
    }
    const isObject = typeof principal === 'object' && principal !== null;
    if (isObject) {
      const hit = this.byObject.get(principal);
      if (hit !== undefined && this.sameKey(hit, principal)) return hit.view;
    }
    const key = this.cacheKey(principal);
    let v = this.views.get(key);
    if (v === undefined) v = this.addView(key, principal);
    if (isObject) this.byObject.set(principal, this.objectEntry(principal, v));
    return v;
  }

  private addView(key: string, principal: Principal): PrincipalView {
    const v = new PrincipalView(principal, this.selectGroups(principal.thingName), this.planOf);
    if (this.views.size >= MAX_VIEWS) this.views.delete(this.views.keys().next().value!);
    this.views.set(key, v);
    return v;
  }

  decide(principal: Principal, operation: string, resource: string): Decision {
    return this.view(principal).decide(operation, resource);
  }

  explain(principal: Principal, operation: string, resource: string): Explanation {
    const view = this.view(principal);
    const decision = view.decide(operation, resource);
    const found = decision.reason === 'UNKNOWN_OPERATION' || decision.reason === 'MALFORMED_RESOURCE' || decision.reason === 'RESOURCE_TYPE_MISMATCH'
      ? []
      : view.matches(operation, resource);
    // The deciding statement first, then the others in configuration order.
    const deciding = found.findIndex((m) => m.group === decision.group && m.statement === decision.statement && m.policy === decision.policy && m.resolved === decision.resourcePattern);
    const matches = deciding > 0 ? [found[deciding]!, ...found.slice(0, deciding), ...found.slice(deciding + 1)] : found;
    const clientId = principal.clientId ?? principal.thingName;
    return {
      ...decision,
      thingName: principal.thingName,
      clientId,
      operation,
      resource,
      groups: view.groups.map((g) => ({ name: g.name, policy: g.policy })),
      matches,
      message: describeDecision(decision, principal.thingName, operation, resource, view.groups.length),
    };
  }

  private objectEntry(p: Principal, view: PrincipalView): ObjectCacheEntry {
    const names = this.attributeNames;
    let attributes: (string | undefined)[] | undefined;
    if (names.length > 0) {
      attributes = [];
      for (const a of names) attributes.push(p.attributes && Object.hasOwn(p.attributes, a) ? p.attributes[a] : undefined);
    }
    return { view, thingName: p.thingName, clientId: this.usesClientId ? (p.clientId ?? p.thingName) : undefined, attributes };
  }

  /** True when cacheKey(p) is the key the entry's view was cached under (compares the key's parts). */
  private sameKey(e: ObjectCacheEntry, p: Principal): boolean {
    if (e.thingName !== p.thingName) return false;
    if (this.usesClientId && e.clientId !== (p.clientId ?? p.thingName)) return false;
    const attributes = e.attributes;
    if (attributes !== undefined) {
      const names = this.attributeNames;
      for (let i = 0; i < names.length; i++) {
        const a = names[i]!;
        const v = p.attributes && Object.hasOwn(p.attributes, a) ? p.attributes[a] : undefined;
        if (v !== attributes[i]) return false;
      }
    }
    return true;
  }

  /**
   * Distinct for distinct principals (as far as this snapshot can tell them apart):
   * with more than one component, each is length-prefixed and a missing attribute is
   * `-`, so no choice of characters in names or values makes two keys collide.
   */
  private cacheKey(p: Principal): string {
    if (!this.usesClientId && this.attributeNames.length === 0) return p.thingName;
    let key = `${p.thingName.length}:${p.thingName}`;
    if (this.usesClientId) {
      const clientId = p.clientId ?? p.thingName;
      key += `${clientId.length}:${clientId}`;
    }
    for (const a of this.attributeNames) {
      const v = p.attributes && Object.hasOwn(p.attributes, a) ? p.attributes[a] : undefined;
      key += v === undefined ? '-' : `${String(v).length}:${v}`;
    }
    return key;
  }
}

function describeDecision(d: Decision, thing: string, op: string, resource: string, groups: number): string {
  const who = `thing \`${thing}\``;
  switch (d.reason) {
    case 'ALLOWED_BY_STATEMENT':
      return `allowed: statement \`${d.statement}\` of policy \`${d.policy}\` (group \`${d.group}\`) allows \`${op}\` on \`${d.resourcePattern}\`, and no statement denies it`;
    case 'DENIED_BY_STATEMENT':
      return `denied: statement \`${d.statement}\` of policy \`${d.policy}\` (group \`${d.group}\`) denies \`${op}\` on \`${d.resourcePattern}\`; a deny overrides every allow`;
    case 'NO_GROUP_SELECTS_THING':
      return thing === '' ? 'denied: the request has no thing name' : `denied: no device group's selection rule selects ${who}`;
    case 'NO_MATCHING_STATEMENT':
      return `denied: ${groups} group${groups === 1 ? '' : 's'} select${groups === 1 ? 's' : ''} ${who}, but no statement allows \`${op}\` on \`${resource}\``;
    case 'UNKNOWN_OPERATION':
      return `denied: \`${op}\` is not an operation Gatehouse authorizes (mqtt:connect, mqtt:publish, mqtt:subscribe)`;
    case 'RESOURCE_TYPE_MISMATCH':
      return `denied: \`${op}\` is checked on \`${RESOURCE_PREFIX[op as keyof typeof RESOURCE_PREFIX]}…\` resources, not \`${resource}\``;
    case 'MALFORMED_RESOURCE':
      return `denied: \`${resource}\` is not a well-formed resource`;
  }
}
