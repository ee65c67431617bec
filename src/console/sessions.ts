/**
 * The operator console's sessions: what a sign-in with an access key and its secret is
 * exchanged for. Held in memory only (a restart signs everyone out), bounded, each with
 * an idle and an absolute timeout and its own CSRF token. The browser holds the session
 * token in an HttpOnly cookie; the store keeps only its SHA-256, so the map never holds
 * a usable token.
 *
 * Sign-in attempts are counted per source address over a sliding minute, successful or
 * not, before the secret is looked at.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { BrowserSessionCheck, BrowserSessionPort } from '../api/mgmt/browser-session.js';

export interface ConsoleSessionLimits {
  readonly idleTimeoutSeconds: number;
  readonly absoluteTimeoutSeconds: number;
  readonly maxSessions: number;
  readonly signInAttemptsPerMinute: number;
}

/** What the console shows about its own session. */
export interface ConsoleSessionInfo {
  readonly sessionId: string;
  readonly accessKeyId: string;
  readonly userArn: string;
  readonly userName: string;
  readonly csrfToken: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly idleExpiresAt: number;
}

interface Held {
  readonly id: string;
  readonly accessKeyId: string;
  readonly userArn: string;
  readonly userName: string;
  readonly csrf: Buffer;
  readonly createdAt: number;
  lastUsedAt: number;
}

/** The cookie's name: `__Host-` makes browsers refuse it unless Secure, Path=/ and without Domain. */
export const CONSOLE_COOKIE = '__Host-gatehouse-console';

/** Addresses whose sign-in attempts are remembered at most (beyond it the oldest are forgotten). */
const MAX_TRACKED_ADDRESSES = 10_000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

function sameSecret(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ConsoleSessions implements BrowserSessionPort {
  readonly cookieName = CONSOLE_COOKIE;
  readonly limits: ConsoleSessionLimits;
  /** By SHA-256 of the token; Map order is least recently used first (a use moves it last). */
  readonly #sessions = new Map<string, Held>();
  /** Sign-in attempt times (epoch ms) per source address, the last minute's. */
  readonly #attempts = new Map<string, number[]>();

  constructor(limits: ConsoleSessionLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Counts a sign-in attempt from `address`; `undefined` when it may proceed, else the
   * seconds until one more is allowed.
   */
  admitSignIn(address: string, now: number): number | undefined {
    const since = now - 60_000;
    const list = (this.#attempts.get(address) ?? []).filter((t) => t > since && t <= now);
    if (list.length >= this.limits.signInAttemptsPerMinute) {
      this.#attempts.set(address, list);
      return Math.max(1, Math.ceil((list[0]! + 60_000 - now) / 1000));
    }
    list.push(now);
    this.#attempts.delete(address);
    this.#attempts.set(address, list);
    while (this.#attempts.size > MAX_TRACKED_ADDRESSES) this.#attempts.delete(this.#attempts.keys().next().value!);
    return undefined;
  }

  /**
   * A new session for a user whose key and secret were checked. When the store is full,
   * expired sessions go first, then the least recently used. Returns the token (for the
   * cookie) and the session.
   */
  create(user: { readonly accessKeyId: string; readonly arn: string; readonly name: string }, now: number): { readonly token: string; readonly session: ConsoleSessionInfo } {
    this.#sweep(now);
    while (this.#sessions.size >= this.limits.maxSessions) this.#sessions.delete(this.#sessions.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    const held: Held = {
      id: randomBytes(12).toString('base64url'),
      accessKeyId: user.accessKeyId,
      userArn: user.arn,
      userName: user.name,
      csrf: Buffer.from(randomBytes(32).toString('base64url')),
      createdAt: now,
      lastUsedAt: now,
    };
    this.#sessions.set(sha256(token), held);
    return { token, session: this.#info(held) };
  }

  check(token: string, csrfToken: string | undefined, options: { readonly stateChanging: boolean; readonly touch: boolean; readonly now: number }): BrowserSessionCheck {
    const key = sha256(token);
    const held = this.#sessions.get(key);
    if (held === undefined) return { ok: false, failure: 'CONSOLE_SESSION_INVALID' };
    if (this.#expired(held, options.now)) {
      this.#sessions.delete(key);
      return { ok: false, failure: 'CONSOLE_SESSION_INVALID' };
    }
    if (options.stateChanging && (csrfToken === undefined || !sameSecret(Buffer.from(csrfToken), held.csrf))) {
      return { ok: false, failure: 'CONSOLE_CSRF_MISMATCH' };
    }
    if (options.touch) {
      held.lastUsedAt = Math.max(held.lastUsedAt, options.now);
      this.#sessions.delete(key);
      this.#sessions.set(key, held);
    }
    return { ok: true, sessionId: held.id, accessKeyId: held.accessKeyId };
  }

  /** The session a check returned, for the console's own pages (undefined once ended). */
  info(sessionId: string): ConsoleSessionInfo | undefined {
    for (const held of this.#sessions.values()) if (held.id === sessionId) return this.#info(held);
    return undefined;
  }

  end(sessionId: string): void {
    for (const [k, held] of this.#sessions) {
      if (held.id === sessionId) {
        this.#sessions.delete(k);
        return;
      }
    }
  }

  #expired(held: Held, now: number): boolean {
    return now >= held.createdAt + this.limits.absoluteTimeoutSeconds * 1000
      || now >= held.lastUsedAt + this.limits.idleTimeoutSeconds * 1000;
  }

  #sweep(now: number): void {
    for (const [k, held] of this.#sessions) if (this.#expired(held, now)) this.#sessions.delete(k);
  }

  #info(held: Held): ConsoleSessionInfo {
    const expiresAt = held.createdAt + this.limits.absoluteTimeoutSeconds * 1000;
    return {
      sessionId: held.id,
      accessKeyId: held.accessKeyId,
      userArn: held.userArn,
      userName: held.userName,
      csrfToken: held.csrf.toString(),
      createdAt: held.createdAt,
      expiresAt,
      idleExpiresAt: Math.min(expiresAt, held.lastUsedAt + this.limits.idleTimeoutSeconds * 1000),
    };
  }
}
