/**
 * Sessions: the identity a device proved when it connected, under an opaque token.
 *
 * createSession checks, in order: the client ID is a valid thing name
 * (THING_NAME_INVALID), the certificate verifies (see verify.ts for its reasons), the
 * thing exists (THING_NOT_FOUND), the certificate is attached to it (CERT_NOT_ATTACHED).
 * The client ID is the thing name; there is no bypass for any CA and no magic token.
 *
 * Two kinds of session: one that backs a live connection (the gateway's own MQTT
 * broker creates it with `connection: true` and closes it when the connection ends),
 * and a token session handed to a local API client. A live connection holds its
 * session: it is never evicted, and it does not count against the limit.
 *
 * Unlike the Greengrass client device auth component:
 * - `performance.maxActiveAuthTokens` bounds the token sessions only, and is enforced
 *   at once, least-recently-used first (`get` counts as use), also when a reload lowers
 *   it; the reference evicts at most one session per new one, connection-backed ones
 *   included;
 * - a new session for a client ID replaces the old one (no leak on reconnect);
 * - sessions end when their certificate is revoked, deactivated, deleted or expires,
 *   when the thing is detached or deleted, or when the CA they chained to is
 *   untrusted. This is driven by the registry's change feed, so it also works when
 *   another process (the CLI) made the change.
 *
 * Tokens are 256 random bits. Only their SHA-256 is kept, so a token never sits in
 * memory after it has been handed out, and never appears in a Session, a log line or
 * an error message.
 */
import { hash, randomBytes } from 'node:crypto';
import type { InvalidationReason, SessionFailureReason, VerifyFailureReason } from './errors.js';
import { shown, thingNameProblem } from './names.js';
import type { Change, Registry, RegistryWatch } from './registry.js';
import { CertificateVerifier } from './verify.js';

export interface Session {
  /** Random, non-secret handle for logs and metrics (not the token). */
  readonly id: string;
  readonly clientId: string;
  readonly thingName: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly certificateId: string;
  /** The trusted device CA the certificate chained to. */
  readonly trustedCaId: string;
  readonly certificateNotAfter: Date;
  readonly createdAt: Date;
  readonly lastUsedAt: Date;
}

export type CreateSessionResult =
  | { readonly ok: true; readonly token: string; readonly session: Session }
  | { readonly ok: false; readonly reason: SessionFailureReason; readonly message: string; readonly certificateId?: string };

export interface CreateSessionRequest {
  /** MQTT client ID; must be the thing name. */
  readonly clientId: string;
  /** Client certificate PEM, optionally followed by intermediates. */
  readonly certificatePem: string;
  readonly now: Date;
  /**
   * The session backs a live connection, and its holder closes it (closeById) when the
   * connection ends: it is never evicted and does not count against maxActiveAuthTokens.
   */
  readonly connection?: boolean;
}

export type InvalidationListener = (session: Session, reason: InvalidationReason) => void;

export interface SessionManagerOptions {
  readonly registry: Registry;
  /** `performance.maxActiveAuthTokens`: most token sessions (not backing a connection); the least recently used is evicted. */
  readonly maxActiveAuthTokens: number;
  readonly verifier?: CertificateVerifier;
  /** Clock for `lastUsedAt` and certificate expiry of live sessions (default: system clock). */
  readonly clock?: () => Date;
  /** How often to look for other processes' registry changes (default 250 ms). */
  readonly watchIntervalMs?: number;
  /** How often to end sessions whose certificate has expired (default 60 s; 0 disables). */
  readonly expirySweepMs?: number;
  /** Background failures (registry unreadable, a listener threw). Never given a token. */
  readonly onError?: (error: unknown) => void;
}

interface Entry {
  readonly key: string;
  readonly session: MutableSession;
  /** Kept to re-verify the chain after a CA is untrusted or the change feed had a gap. */
  readonly certificatePem: string;
  /** Backs a live connection: never evicted, not counted against the limit. */
  readonly connection: boolean;
}

type MutableSession = { -readonly [K in keyof Session]: Session[K] };

const MAX_TOKEN_LENGTH = 128;
const RACE_RETRIES = 3;
const FEED_PAGE = 10_000;

export class SessionManager {
  private readonly registry: Registry;
  /**
   * The process's one certificate verifier: sessions verify with it, and the local API
   * (VerifyClientDeviceIdentity, EMQX authentication) uses this same instance, so its
   * caches are built once and shared.
   */
  readonly verifier: CertificateVerifier;
  private readonly clock: () => Date;
  private readonly onError: (error: unknown) => void;
  /** Token hash -> entry, in least-recently-used-first order (Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  /** The token sessions (not backing a connection) alone, least recently used first: what the limit bounds. */
  private readonly tokens = new Map<string, Entry>();
  private readonly byCertificate = new Map<string, Set<Entry>>();
  private readonly byThing = new Map<string, Set<Entry>>();
  private readonly byCa = new Map<string, Set<Entry>>();
  private readonly byClientId = new Map<string, Entry>();
  private readonly byId = new Map<string, Entry>();
  private readonly listeners = new Set<InvalidationListener>();
  private readonly watcher: RegistryWatch;
  private readonly sweeper: NodeJS.Timeout | undefined;
  private capacity: number;
  private stopped = false;

  constructor(options: SessionManagerOptions) {
    this.registry = options.registry;
    this.verifier = options.verifier ?? new CertificateVerifier(options.registry);
    this.clock = options.clock ?? (() => new Date());
    this.onError = options.onError ?? (() => undefined);
    this.capacity = checkCapacity(options.maxActiveAuthTokens);
    this.watcher = this.registry.watch((changes, info) => this.applyChanges(changes, info.complete), {
      ...(options.watchIntervalMs !== undefined ? { intervalMs: options.watchIntervalMs } : {}),
      onError: this.onError,
    });
    const sweepMs = options.expirySweepMs ?? 60_000;
    if (sweepMs > 0) {
      this.sweeper = setInterval(() => this.sweepExpired(this.clock()), sweepMs);
      this.sweeper.unref();
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Live sessions that do not back a connection: what `maxActiveAuthTokens` bounds. */
  get tokenSessions(): number {
    return this.tokens.size;
  }

  get maxActiveAuthTokens(): number {
    return this.capacity;
  }

  /**
   * Applies a new `performance.maxActiveAuthTokens`, evicting token sessions at once if
   * needed; sessions backing a connection are never touched.
   */
  setMaxActiveAuthTokens(n: number): void {
    this.capacity = checkCapacity(n);
    this.evictOverflow();
  }

  async createSession(request: CreateSessionRequest): Promise<CreateSessionResult> {
    if (this.stopped) throw new Error('the session manager has been stopped');
    const { clientId, certificatePem, now } = request;
    const connection = request.connection === true;
    const nameProblem = thingNameProblem(clientId);
    if (nameProblem !== undefined) return { ok: false, reason: 'THING_NAME_INVALID', message: `client ID ${shown(clientId)} is not a valid thing name: ${nameProblem}` };

    // The registry may change (in this or another process) while we await it. If a
    // change touching this certificate, thing or CA lands between our first read and
    // the moment the session is stored, the change feed may already have been
    // processed for it, so check again instead of storing a stale verdict.
    for (let attempt = 0; attempt < RACE_RETRIES; attempt++) {
      const seq = await this.registry.latestChangeSeq();
      const verdict = await this.check(clientId, certificatePem, now);
      if (!verdict.ok) return verdict;
      const since = await this.registry.changesSince(seq, FEED_PAGE);
      const touched = !since.complete || since.changes.length === FEED_PAGE || since.changes.some((c) => touches(c, clientId, verdict.certificateId, verdict.trustedCaId));
      if (touched) continue;
      // No await from here on: the session is in place before any later change is applied.
      return this.store(clientId, certificatePem, verdict, now, connection);
    }
    return { ok: false, reason: 'REGISTRY_BUSY', message: `the registry kept changing while verifying client ${shown(clientId)}; try again` };
  }

  /**
   * The certificate alone, as a connection presents it right after its TLS handshake:
   * it verifies (chain, validity, usage, registry status ACTIVE) and is attached to at
   * least one thing (CERT_NOT_ATTACHED otherwise). Creates no session and reads
   * nothing a later createSession would not read again.
   */
  async screenCertificate(certificatePem: string, now: Date): Promise<{ ok: true } | { ok: false; reason: SessionFailureReason; message: string; certificateId?: string }> {
    const v = await this.verifier.verify(certificatePem, now);
    if (!v.ok) return v;
    if (v.thingNames.length === 0) return { ok: false, reason: 'CERT_NOT_ATTACHED', message: `certificate ${v.certificateId} is not attached to any thing`, certificateId: v.certificateId };
    return { ok: true };
  }

  /** The live session for `token`, counting as use; undefined if unknown, ended or expired. */
  get(token: string): Session | undefined {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
    const key = hashToken(token);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.clock();
    if (now.getTime() > entry.session.certificateNotAfter.getTime()) {
      this.invalidate(entry, 'CERT_EXPIRED');
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (!entry.connection) {
      this.tokens.delete(key);
      this.tokens.set(key, entry);
    }
    entry.session.lastUsedAt = now;
    return entry.session;
  }

  /** Ends a session at the holder's request (no invalidation event). */
  close(token: string): boolean {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return false;
    const entry = this.entries.get(hashToken(token));
    if (entry === undefined) return false;
    this.remove(entry);
    return true;
  }

  /**
   * Ends a session by its non-secret `id` (no invalidation event): for in-process
   * holders such as the broker, which never need the token.
   */
  closeById(id: string): boolean {
    const entry = this.byId.get(id);
    if (entry === undefined) return false;
    this.remove(entry);
    return true;
  }

  /** The live session with this `id`, without counting as use. */
  peekById(id: string): Session | undefined {
    return this.byId.get(id)?.session;
  }

  /** Live sessions, least recently used first. */
  list(): readonly Session[] {
    return [...this.entries.values()].map((e) => e.session);
  }

  /** Calls `listener` whenever the gateway ends a session. Returns an unsubscribe function. */
  onInvalidated(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ends every session whose certificate expired before `now`. Returns how many. */
  sweepExpired(now: Date): number {
    let n = 0;
    for (const e of [...this.entries.values()]) {
      if (now.getTime() > e.session.certificateNotAfter.getTime()) {
        this.invalidate(e, 'CERT_EXPIRED');
        n++;
      }
    }
    return n;
  }

  /**
   * Re-checks every live session against the registry (certificate chain and status,
   * thing, attachment) and ends those that no longer pass. Runs by itself when the
   * change feed reports a gap. Returns how many sessions ended.
   */
  async revalidateAll(now: Date = this.clock()): Promise<number> {
    return this.revalidate([...this.entries.values()], now, undefined);
  }

  /** Stops watching the registry and drops every session without events. */
  stop(): void {
    this.stopped = true;
    this.watcher.close();
    if (this.sweeper) clearInterval(this.sweeper);
    for (const e of [...this.entries.values()]) this.remove(e);
  }

  // --------------------------------------------------------------- private

  private async check(
    clientId: string,
    pem: string,
    now: Date,
    recheck = false,
  ): Promise<{ ok: true; certificateId: string; trustedCaId: string; notAfter: Date; attributes: Readonly<Record<string, string>> } | { ok: false; reason: SessionFailureReason; message: string; certificateId?: string }> {
    const v = await this.verifier.verify(pem, now, { recheck });
    if (!v.ok) return v;
    const thing = await this.registry.getThing(clientId);
    if (thing === undefined) return { ok: false, reason: 'THING_NOT_FOUND', message: `no thing named ${shown(clientId)} (the client ID must be the thing name)`, certificateId: v.certificateId };
    if (!v.thingNames.includes(clientId)) {
      return { ok: false, reason: 'CERT_NOT_ATTACHED', message: `certificate ${v.certificateId} is not attached to thing ${shown(clientId)}`, certificateId: v.certificateId };
    }
    return { ok: true, certificateId: v.certificateId, trustedCaId: v.trustedCaId, notAfter: v.notAfter, attributes: thing.attributes };
  }

  private store(
    clientId: string,
    certificatePem: string,
    v: { certificateId: string; trustedCaId: string; notAfter: Date; attributes: Readonly<Record<string, string>> },
    now: Date,
    connection: boolean,
  ): CreateSessionResult {
    const previous = this.byClientId.get(clientId);
    if (previous) this.invalidate(previous, 'SESSION_REPLACED');
    const token = randomBytes(32).toString('base64url');
    const session: MutableSession = {
      id: randomBytes(8).toString('hex'),
      clientId,
      thingName: clientId,
      attributes: v.attributes,
      certificateId: v.certificateId,
      trustedCaId: v.trustedCaId,
      certificateNotAfter: v.notAfter,
      createdAt: now,
      lastUsedAt: now,
    };
    const entry: Entry = { key: hashToken(token), session, certificatePem, connection };
    this.entries.set(entry.key, entry);
    if (!connection) this.tokens.set(entry.key, entry);
    index(this.byCertificate, session.certificateId, entry);
    index(this.byThing, session.thingName, entry);
    index(this.byCa, session.trustedCaId, entry);
    this.byClientId.set(clientId, entry);
    this.byId.set(session.id, entry);
    this.evictOverflow();
    return { ok: true, token, session };
  }

  /** Only token sessions are evicted: a live connection holds its session. */
  private evictOverflow(): void {
    while (this.tokens.size > this.capacity) {
      const oldest = this.tokens.values().next().value;
      if (oldest === undefined) return;
      this.invalidate(oldest, 'SESSION_EVICTED');
    }
  }

  private applyChanges(changes: readonly Change[], complete: boolean): void {
    if (this.stopped) return;
    const reverify = new Set<Entry>();
    for (const c of changes) {
      switch (c.kind) {
        case 'CERT_STATUS_CHANGED':
          if (c.status !== 'ACTIVE') this.invalidateAll(this.byCertificate.get(c.certificateId), c.status === 'REVOKED' ? 'CERT_REVOKED' : 'CERT_INACTIVE');
          break;
        case 'CERT_DELETED':
          this.invalidateAll(this.byCertificate.get(c.certificateId), 'CERT_DELETED');
          break;
        case 'CERT_DETACHED':
          this.invalidateAll([...(this.byCertificate.get(c.certificateId) ?? [])].filter((e) => e.session.thingName === c.thingName), 'CERT_DETACHED');
          break;
        case 'THING_DELETED':
          this.invalidateAll(this.byThing.get(c.thingName), 'THING_DELETED');
          break;
        case 'CA_UNTRUSTED':
          // The certificate may still chain to another trusted CA: re-verify rather than drop.
          for (const e of this.byCa.get(c.caId) ?? []) reverify.add(e);
          break;
        case 'THING_CREATED':
        case 'CERT_REGISTERED':
        case 'CERT_ATTACHED':
        case 'CA_TRUSTED':
          break; // can only widen what is allowed; live sessions are unaffected
      }
    }
    const targets = complete ? [...reverify] : [...this.entries.values()];
    if (targets.length > 0) this.revalidate(targets, this.clock(), complete ? 'CA_UNTRUSTED' : undefined).catch(this.onError);
  }

  private async revalidate(targets: readonly Entry[], now: Date, forced: InvalidationReason | undefined): Promise<number> {
    let ended = 0;
    for (const e of targets) {
      if (this.entries.get(e.key) !== e) continue;
      const verdict = await this.check(e.session.clientId, e.certificatePem, now, true);
      if (verdict.ok) {
        // A certificate chaining to several trusted CAs may now rest on another one.
        if (verdict.trustedCaId !== e.session.trustedCaId && this.entries.get(e.key) === e) {
          unindex(this.byCa, e.session.trustedCaId, e);
          e.session.trustedCaId = verdict.trustedCaId;
          index(this.byCa, verdict.trustedCaId, e);
        }
        continue;
      }
      if (this.entries.get(e.key) !== e) continue;
      this.invalidate(e, forced !== undefined && isChainReason(verdict.reason) ? forced : invalidationFor(verdict.reason));
      ended++;
    }
    return ended;
  }

  private invalidateAll(entries: Iterable<Entry> | undefined, reason: InvalidationReason): void {
    for (const e of [...(entries ?? [])]) this.invalidate(e, reason);
  }

  private invalidate(entry: Entry, reason: InvalidationReason): void {
    if (!this.remove(entry)) return;
    for (const l of [...this.listeners]) {
      try {
        l(entry.session, reason);
      } catch (e) {
        this.onError(e);
      }
    }
  }

  private remove(entry: Entry): boolean {
    if (this.entries.get(entry.key) !== entry) return false;
    this.entries.delete(entry.key);
    this.tokens.delete(entry.key);
    unindex(this.byCertificate, entry.session.certificateId, entry);
    unindex(this.byThing, entry.session.thingName, entry);
    unindex(this.byCa, entry.session.trustedCaId, entry);
    if (this.byClientId.get(entry.session.clientId) === entry) this.byClientId.delete(entry.session.clientId);
    this.byId.delete(entry.session.id);
    return true;
  }
}

function hashToken(token: string): string {
  // One-shot hash: 2.5x faster than createHash() for a token, and this runs per API call.
  return hash('sha256', token, 'base64url');
}

function checkCapacity(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`maxActiveAuthTokens must be a positive integer (got ${String(n)})`);
  return n;
}

function index(map: Map<string, Set<Entry>>, key: string, e: Entry): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(e);
}

function unindex(map: Map<string, Set<Entry>>, key: string, e: Entry): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(e);
  if (set.size === 0) map.delete(key);
}

function touches(c: Change, thingName: string, certificateId: string, caId: string): boolean {
  switch (c.kind) {
    case 'CERT_STATUS_CHANGED':
    case 'CERT_DELETED':
      return c.certificateId === certificateId;
    case 'CERT_DETACHED':
      return c.certificateId === certificateId && c.thingName === thingName;
    case 'THING_DELETED':
      return c.thingName === thingName;
    case 'CA_UNTRUSTED':
      return c.caId === caId;
    default:
      return false;
  }
}

function isChainReason(r: SessionFailureReason): boolean {
  return r === 'CERT_UNTRUSTED' || r === 'CERT_SELF_SIGNED';
}

/** Maps a failed re-check of a live session to why it ended. */
function invalidationFor(reason: SessionFailureReason | VerifyFailureReason): InvalidationReason {
  switch (reason) {
    case 'CERT_REVOKED':
      return 'CERT_REVOKED';
    case 'CERT_INACTIVE':
      return 'CERT_INACTIVE';
    case 'CERT_EXPIRED':
      return 'CERT_EXPIRED';
    case 'CERT_NOT_REGISTERED':
      return 'CERT_DELETED';
    case 'CERT_NOT_ATTACHED':
      return 'CERT_DETACHED';
    case 'THING_NOT_FOUND':
      return 'THING_DELETED';
    default:
      return 'CA_UNTRUSTED';
  }
}
