/**
 * The API token: the bearer secret every API call except `GET /healthz` must present.
 *
 * It is created once, at the first start of the gateway with the API enabled, in the
 * data directory (file `api-token`, mode 0600): 256 random bits, base64url, published
 * atomically and exclusively (a hard link), so two processes starting at once agree on
 * one token. `gatehouse api token` prints it. To rotate it, delete the file and
 * restart the gateway.
 *
 * Comparison is constant-time in the token's content: a candidate of the token's
 * length is compared with timingSafeEqual; any other length is refused without a
 * comparison (the length, 43 characters, is not a secret).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../ca/atomic.js';
import { ApiError } from './errors.js';

export const API_TOKEN_FILE = 'api-token';
const TOKEN_MODE = 0o600;
/** 32 random bytes in base64url: 43 characters. */
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43,256}$/;

export function apiTokenPath(dataDir: string): string {
  return join(dataDir, API_TOKEN_FILE);
}

/**
 * Returns the data directory's API token, creating it if there is none. The caller
 * must have created the data directory. Throws API_TOKEN_INVALID for a damaged file.
 */
export async function ensureApiToken(dataDir: string): Promise<string> {
  const path = apiTokenPath(dataDir);
  const existing = await readTokenFile(path);
  if (existing !== undefined) return existing;
  try {
    await writeFileAtomic(path, `${randomBytes(32).toString('base64url')}\n`, TOKEN_MODE, { exclusive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  // Read back what is on disk: if another process won the race, its token is the one.
  const created = await readTokenFile(path);
  if (created === undefined) throw new ApiError('API_TOKEN_INVALID', `the API token file ${path} disappeared while it was being created`, 'start the gateway again');
  return created;
}

/** Reads the API token for `gatehouse api token`; throws API_TOKEN_MISSING if there is none yet. */
export async function readApiToken(dataDir: string): Promise<string> {
  const path = apiTokenPath(dataDir);
  const token = await readTokenFile(path);
  if (token === undefined) {
    throw new ApiError('API_TOKEN_MISSING', `no API token in ${dataDir} (file ${API_TOKEN_FILE})`,
      'start the gateway once with this data directory (`gatehouse start --data-dir DIR`); it creates the token. Check --data-dir if it has been started before');
  }
  return token;
}

async function readTokenFile(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ApiError('API_TOKEN_INVALID', `cannot read the API token file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'check the permissions of the data directory');
  }
  const token = text.trim();
  if (!TOKEN_FORMAT.test(token)) {
    // Never echo the content: it may be a secret typed into the wrong file.
    throw new ApiError('API_TOKEN_INVALID', `the API token file ${path} does not hold a token (43 to 256 characters of A-Z a-z 0-9 _ -)`,
      `delete ${path} and start the gateway to create a new token (then give it to every API client)`);
  }
  // The data directory is 0700 already; keep the file itself private too.
  const st = await stat(path);
  if ((st.mode & 0o077) !== 0) await chmod(path, TOKEN_MODE);
  return token;
}

/** Checks `Authorization: Bearer <token>` headers in constant time. */
export class BearerCheck {
  readonly #expected: Buffer;
  readonly #header: number;

  constructor(token: string) {
    this.#expected = Buffer.from(token, 'utf8');
    this.#header = 'Bearer '.length + this.#expected.length;
  }

  /** True when `header` is `Bearer <the token>` (scheme case-insensitive). */
  accepts(header: string | undefined): boolean {
    if (typeof header !== 'string' || header.length !== this.#header) return false;
    if (header.charCodeAt(6) !== 32 || header.slice(0, 6).toLowerCase() !== 'bearer') return false;
    const candidate = Buffer.from(header.slice(7), 'utf8');
    // A multi-byte character changes the byte length: no comparison needed then.
    return candidate.length === this.#expected.length && timingSafeEqual(candidate, this.#expected);
  }
}
