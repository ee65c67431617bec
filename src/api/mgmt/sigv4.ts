/**
 * Verification of AWS Signature Version 4 requests (the `Authorization` header form):
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 *
 * The signature is not computed by hand: the request as received (method, the path as
 * sent, the decoded query, exactly the headers the client listed in `SignedHeaders`,
 * the body's SHA-256) is signed again with `@smithy/signature-v4`, the signer the AWS
 * SDKs use, with the secret of the access key it names, and the two signatures are
 * compared in constant time.
 *
 * Order of checks (the first failure answers; nothing after it runs):
 *  1. An `Authorization` header is present (MISSING_AUTHENTICATION).
 *  2. It parses strictly: `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`,
 *     each once; a 64-hex signature; lower-case, sorted, unique signed header names that
 *     are all present once in the request and include `host` and `x-amz-date`; an
 *     `x-amz-date` of the form `YYYYMMDDTHHMMSSZ`; a path without empty, `.` or `..`
 *     segments (the signer normalises those, the router does not) (INCOMPLETE_SIGNATURE).
 *  3. The credential scope: its date is the date of `x-amz-date`, its region the
 *     gateway's `gatehouse.iot.region`, its service one the route accepts, and it ends in
 *     `aws4_request` (WRONG_CREDENTIAL_SCOPE).
 *  4. `x-amz-date` is within the allowed clock skew of the gateway's clock, either way
 *     (SIGNATURE_EXPIRED; AWS allows 15 minutes).
 *  5. The access key is known and Active (UNKNOWN_ACCESS_KEY). A temporary key whose
 *     session has expired is answered EXPIRED_SESSION_TOKEN, but only after steps 6–8
 *     passed: expiry is said only to whoever holds the credentials.
 *  6. A temporary (`ASIA`) key comes with its session token in `x-amz-security-token`,
 *     whose SHA-256 matches the stored one (constant time); a long-term key comes without
 *     one (INVALID_SESSION_TOKEN).
 *  7. `x-amz-content-sha256`, when present, is the SHA-256 of the body received
 *     (PAYLOAD_HASH_MISMATCH).
 *  8. The signature matches (SIGNATURE_DOES_NOT_MATCH).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { ResolvedAccessKey, ResolvedPrincipal } from '../../identity/control.js';
import type { AuthFailure } from './errors.js';

export interface SignedRequest {
  readonly method: string;
  /** The request target as received (`/things/a%20b?x=1`). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Alternating names and values as received (to detect repeated headers). */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

export interface VerifyOptions {
  readonly now: Date;
  readonly maxClockSkewSeconds: number;
  readonly region: string;
  /** Signing names the route accepts. */
  readonly services: readonly string[];
  readonly resolve: (accessKeyId: string, now: Date) => Promise<ResolvedAccessKey | undefined>;
  /**
   * For a temporary key `resolve` does not know: the key even if its session has
   * expired, so that a correctly signed request with expired credentials is answered
   * ExpiredToken (as STS does) rather than "invalid".
   */
  readonly resolveExpired?: (accessKeyId: string) => Promise<ResolvedAccessKey | undefined>;
}

export type VerifyResult =
  | { readonly ok: true; readonly principal: ResolvedPrincipal; readonly accessKeyId: string; readonly service: string }
  | { readonly ok: false; readonly failure: AuthFailure; readonly message: string; readonly accessKeyId?: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AMZ_DATE = /^(\d{8})T(\d{6})Z$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

function fail(failure: AuthFailure, message: string, accessKeyId?: string): VerifyResult {
  return accessKeyId === undefined ? { ok: false, failure, message } : { ok: false, failure, message, accessKeyId };
}

/** The `Authorization` header's parts, or the reason it is incomplete. */
export function parseAuthorization(header: string): ParsedAuthorization | string {
  if (!header.startsWith(`${ALGORITHM} `)) return `Authorization header must start with the algorithm ${ALGORITHM}`;
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq <= 0) return 'Authorization header has a malformed component';
    const name = p.slice(0, eq);
    if (name !== 'Credential' && name !== 'SignedHeaders' && name !== 'Signature') return `Authorization header has an unknown component '${name.slice(0, 32)}'`;
    if (fields.has(name)) return `Authorization header repeats '${name}'`;
    fields.set(name, p.slice(eq + 1));
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((n) => !fields.has(n));
  if (missing.length > 0) return missing.map((n) => `Authorization header requires '${n}' parameter.`).join(' ');
  const credential = fields.get('Credential')!.split('/');
  if (credential.length !== 5 || credential.some((c) => c.length === 0)) return 'Credential must have exactly 5 slash-separated components: key id, date, region, service and aws4_request';
  const [accessKeyId, scopeDate, region, service, terminator] = credential as [string, string, string, string, string];
  if (!ACCESS_KEY_ID.test(accessKeyId)) return 'Credential names a malformed access key id';
  if (!/^\d{8}$/.test(scopeDate)) return 'Credential has a malformed date';
  const signature = fields.get('Signature')!;
  if (!SIGNATURE.test(signature)) return 'Signature must be 64 lower-case hexadecimal characters';
  const signedHeaders = fields.get('SignedHeaders')!.split(';');
  for (let i = 0; i < signedHeaders.length; i++) {
    const h = signedHeaders[i]!;
    if (!HEADER_NAME.test(h)) return 'SignedHeaders must list lower-case header names separated by semicolons';
    if (i > 0 && signedHeaders[i - 1]! >= h) return 'SignedHeaders must be sorted and without repetition';
  }
  return { accessKeyId, scopeDate, region, service, terminator, signedHeaders, signature };
}

/** The query of a request target, decoded, as the signer reads it (`key -> value` or values). */
function parseQuery(search: string): Record<string, string | string[]> | undefined {
  const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  if (search === '') return query;
  for (const pair of search.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      return undefined;
    }
    const prev = query[key];
    if (prev === undefined) query[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else query[key] = [prev, value];
  }
  return query;
}

function headerValue(headers: SignedRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function countHeaders(rawHeaders: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const n = rawHeaders[i]!.toLowerCase();
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return counts;
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Constant-time equality of two strings of any length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

/** `YYYYMMDDTHHMMSSZ` of a date (AWS's basic ISO 8601 form). */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseAmzDate(s: string): Date | undefined {
  const m = AMZ_DATE.exec(s);
  if (!m) return undefined;
  const [, ymd, hms] = m as unknown as [string, string, string];
  const iso = `${ymd.slice(0, 4)}-${ymd.slice(4, 6)}-${ymd.slice(6, 8)}T${hms.slice(0, 2)}:${hms.slice(2, 4)}:${hms.slice(4, 6)}Z`;
  const d = new Date(iso);
  // Rejects 20261340T…, which Date would roll over.
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 19) + 'Z' !== iso ? undefined : d;
}

export async function verifySigV4(request: SignedRequest, opts: VerifyOptions): Promise<VerifyResult> {
  // 1. Presence.
  const authorization = headerValue(request.headers, 'authorization');
  if (authorization === undefined || authorization === '') return fail('MISSING_AUTHENTICATION', 'Missing Authentication Token');
  const counts = countHeaders(request.rawHeaders);
  if ((counts.get('authorization') ?? 0) > 1) return fail('INCOMPLETE_SIGNATURE', 'the Authorization header must appear once');

  // 2. Syntax.
  const parsed = parseAuthorization(authorization);
  if (typeof parsed === 'string') return fail('INCOMPLETE_SIGNATURE', parsed);
  const { accessKeyId, signedHeaders } = parsed;
  if (!signedHeaders.includes('host')) return fail('INCOMPLETE_SIGNATURE', "'Host' must be a 'SignedHeader' in the AWS Authorization.", accessKeyId);
  if (!signedHeaders.includes('x-amz-date')) return fail('INCOMPLETE_SIGNATURE', "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.", accessKeyId);
  for (const h of signedHeaders) {
    const n = counts.get(h) ?? 0;
    if (n === 0) return fail('INCOMPLETE_SIGNATURE', `the signed header '${h}' is not in the request`, accessKeyId);
    if (n > 1) return fail('INCOMPLETE_SIGNATURE', `the signed header '${h}' appears more than once`, accessKeyId);
  }
  const amz = headerValue(request.headers, 'x-amz-date') ?? '';
  const signingDate = parseAmzDate(amz);
  if (signingDate === undefined) return fail('INCOMPLETE_SIGNATURE', "X-Amz-Date must be in the ISO8601 basic format 'yyyyMMddTHHmmssZ'.", accessKeyId);
  const q = request.url.indexOf('?');
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const search = q < 0 ? '' : request.url.slice(q + 1);
  if (!path.startsWith('/') || path.slice(1).split('/').some((s, i, all) => s === '.' || s === '..' || (s === '' && i < all.length - 1))) {
    return fail('INCOMPLETE_SIGNATURE', 'the request path must not contain empty, `.` or `..` segments', accessKeyId);
  }
  const query = parseQuery(search);
  if (query === undefined) return fail('INCOMPLETE_SIGNATURE', 'the query string is not correctly percent-encoded', accessKeyId);
  if ('X-Amz-Signature' in query || 'X-Amz-Credential' in query) return fail('INCOMPLETE_SIGNATURE', 'sign with the Authorization header or the query string, not both', accessKeyId);

  // 3. Credential scope.
  if (parsed.scopeDate !== amz.slice(0, 8)) {
    return fail('WRONG_CREDENTIAL_SCOPE', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scopeDate}' != '${amz.slice(0, 8)}', from '${amz}'.`, accessKeyId);
  }
  if (parsed.region !== opts.region) return fail('WRONG_CREDENTIAL_SCOPE', `Credential should be scoped to a valid region. (this gateway's region is '${opts.region}')`, accessKeyId);
  if (!opts.services.includes(parsed.service)) return fail('WRONG_CREDENTIAL_SCOPE', `Credential should be scoped to correct service: '${opts.services[0] ?? ''}'.`, accessKeyId);
  if (parsed.terminator !== 'aws4_request') return fail('WRONG_CREDENTIAL_SCOPE', "Credential should be scoped with a valid terminator: 'aws4_request'.", accessKeyId);

  // 4. Date window.
  const skewMs = opts.maxClockSkewSeconds * 1000;
  const now = opts.now.getTime();
  if (signingDate.getTime() < now - skewMs) {
    return fail('SIGNATURE_EXPIRED', `Signature expired: ${amz} is now earlier than ${amzDate(new Date(now - skewMs))} (${amzDate(opts.now)} - ${skewText(opts.maxClockSkewSeconds)}.)`, accessKeyId);
  }
  if (signingDate.getTime() > now + skewMs) {
    return fail('SIGNATURE_EXPIRED', `Signature not yet current: ${amz} is still later than ${amzDate(new Date(now + skewMs))} (${amzDate(opts.now)} + ${skewText(opts.maxClockSkewSeconds)}.)`, accessKeyId);
  }

  // 5. The key.
  let key = await opts.resolve(accessKeyId, opts.now);
  if (key === undefined && opts.resolveExpired !== undefined && accessKeyId.startsWith('ASIA')) key = await opts.resolveExpired(accessKeyId);
  if (key === undefined) return fail('UNKNOWN_ACCESS_KEY', 'The security token included in the request is invalid.', accessKeyId);
  // Said only once the token and the signature have been checked (below).
  const expired = key.principal.kind === 'role-session' && key.principal.expiration.getTime() <= now;

  // 6. The session token.
  const token = headerValue(request.headers, 'x-amz-security-token');
  if (key.sessionTokenSha256 !== undefined) {
    if (token === undefined || !constantTimeEqual(sha256Hex(token), key.sessionTokenSha256)) {
      return fail('INVALID_SESSION_TOKEN', 'The security token included in the request is invalid.', accessKeyId);
    }
  } else if (token !== undefined) {
    return fail('INVALID_SESSION_TOKEN', 'The security token included in the request is invalid.', accessKeyId);
  }

  // 7. The body's hash.
  const declared = headerValue(request.headers, 'x-amz-content-sha256');
  const bodyHash = request.body.length === 0 ? EMPTY_SHA256 : sha256Hex(request.body);
  if (declared !== undefined && declared !== bodyHash) {
    return fail('PAYLOAD_HASH_MISMATCH', "The provided 'x-amz-content-sha256' header does not match what was computed.", accessKeyId);
  }

  // 8. The signature, computed again over what was received.
  const headers: Record<string, string> = {};
  for (const h of signedHeaders) headers[h] = headerValue(request.headers, h) ?? '';
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: key.secretAccessKey },
    region: parsed.region,
    service: parsed.service,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: true,
    applyChecksum: false,
  });
  const toSign = new HttpRequest({ method: request.method.toUpperCase(), protocol: 'https:', hostname: headers['host'] ?? '', path, query, headers, body: request.body });
  const signed = await signer.sign(toSign, { signingDate, signableHeaders: new Set(signedHeaders) });
  const expected = /Signature=([0-9a-f]{64})$/.exec(String(signed.headers['authorization'] ?? ''))?.[1];
  if (expected === undefined || !timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(parsed.signature, 'latin1'))) {
    return fail('SIGNATURE_DOES_NOT_MATCH', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.', accessKeyId);
  }
  if (expired) return fail('EXPIRED_SESSION_TOKEN', 'The security token included in the request is expired', accessKeyId);
  return { ok: true, principal: key.principal, accessKeyId, service: parsed.service };
}

function skewText(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}
