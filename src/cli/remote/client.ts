/**
 * The CLI's HTTPS client of a gateway's management API: every request is signed with
 * AWS Signature Version 4 by `@smithy/signature-v4` (the signer the AWS SDKs use,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
 * with the service name the route's credential scope expects (`iot` for the AWS IoT
 * operations, `greengrass` for Greengrass, `sts` for STS, `gatehouse` for Gatehouse's own, `iam` for IAM) and the
 * configured region. TLS trusts the configured CA bundle (the gateway's own CA) or the
 * system's CAs; there is no option to skip verification.
 *
 * Error answers are decoded from the wire shapes the API writes (REST-JSON:
 * `x-amzn-ErrorType` and `{"message"}`; Gatehouse's: `{"error": {"code", "message"}}`)
 * into coded CLI errors (errors.ts). Nothing here prints or logs; no error message
 * carries the secret key, the session token or the signature.
 */
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { CliError, EXIT } from '../output.js';
import { remoteAnswerError, remoteTransportError } from './errors.js';
import type { RemoteTarget } from './target.js';

/** The signing names the management API's routes accept. */
export type SigningService = 'iot' | 'greengrass' | 'gatehouse' | 'sts' | 'iam';

export interface RemoteCall {
  readonly service: SigningService;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path with its labels already encoded (use `path` below). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Sent as `application/x-www-form-urlencoded` (the STS and IAM query protocol) instead of `body`. */
  readonly form?: Readonly<Record<string, string>>;
  /** Extra headers, signed (`x-amzn-principal` of the thing-principal operations). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The operation's name, for messages (`CreateThing`). */
  readonly operation: string;
}

/** RFC 3986 encoding of one path label or query component (what the AWS SDKs send). */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `/things/{thingName}` with its labels encoded: path`/things/${name}`. */
export function path(strings: TemplateStringsArray, ...labels: string[]): string {
  return strings.reduce((acc, s, i) => acc + s + (i < labels.length ? encodeRfc3986(labels[i]!) : ''), '');
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The largest answer the CLI reads (a list page of the API is far smaller); more is a protocol error. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export class RemoteClient {
  readonly target: RemoteTarget;
  readonly #timeoutMs: number;
  readonly #signers = new Map<SigningService, SignatureV4>();
  #presentedChain: readonly string[] | undefined;

  constructor(target: RemoteTarget, options: { readonly timeoutMs?: number } = {}) {
    this.target = target;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  #signer(service: SigningService): SignatureV4 {
    let s = this.#signers.get(service);
    if (s === undefined) {
      const c = this.target.credentials;
      s = new SignatureV4({
        service,
        region: this.target.region,
        sha256: Hash.bind(null, 'sha256'),
        credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken !== undefined ? { sessionToken: c.sessionToken } : {}) },
      });
      this.#signers.set(service, s);
    }
    return s;
  }

  /**
   * The CA certificates (PEM, the issuer first, up to a self-signed one) above the
   * certificate the gateway presented in the last answered call's TLS handshake, which
   * this client verified against its CA bundle: the CA that issued the gateway's server
   * certificate and its own issuers. Undefined before the first answer.
   */
  get presentedCaChain(): readonly string[] | undefined {
    return this.#presentedChain;
  }

  /** Sends a signed request; resolves with the decoded JSON answer (`{}` when empty), rejects with a coded CliError. */
  async call<T = Record<string, unknown>>(call: RemoteCall): Promise<T> {
    const text = await this.callText(call);
    if (text.trim() === '') return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError('REMOTE_PROTOCOL_ERROR', `the gateway's answer to ${call.operation} is not JSON`, EXIT.INVALID, 'check that the endpoint is a Gatehouse management API');
    }
  }

  /** Sends a signed request; resolves with the body of a 2xx answer as text, rejects with a coded CliError. */
  async callText(call: RemoteCall): Promise<string> {
    const url = this.target.endpoint;
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) query[k] = v;
    const body = call.form !== undefined
      ? Object.entries(call.form).map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&')
      : call.body !== undefined ? JSON.stringify(call.body) : undefined;
    const hostHeader = url.host;
    const headers: Record<string, string> = { ...call.headers, host: hostHeader };
    if (body !== undefined) headers['content-type'] = call.form !== undefined ? 'application/x-www-form-urlencoded' : 'application/json';
    const unsigned = new HttpRequest({
      method: call.method,
      protocol: 'https:',
      hostname: url.hostname,
      ...(url.port !== '' ? { port: Number(url.port) } : {}),
      path: call.path,
      query,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const signed = await this.#signer(call.service).sign(unsigned);
    const search = Object.entries(query).map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&');
    const sendHeaders: Record<string, string> = { ...(signed.headers as Record<string, string>), 'user-agent': 'gatehouse-cli' };
    if (body !== undefined) sendHeaders['content-length'] = String(Buffer.byteLength(body));
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;

    const answer = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>((resolvePromise, reject) => {
      const req = httpsRequest({
        method: call.method,
        hostname,
        port: url.port === '' ? 443 : Number(url.port),
        path: call.path + (search !== '' ? `?${search}` : ''),
        headers: sendHeaders,
        ...(this.target.ca !== undefined ? { ca: this.target.ca } : {}),
        ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
        minVersion: 'TLSv1.2',
        rejectUnauthorized: true,
        agent: false,
        timeout: this.#timeoutMs,
      }, (res) => {
        this.#presentedChain = issuersOf(res.socket as TLSSocket);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            reject(new CliError('REMOTE_PROTOCOL_ERROR', `the gateway's answer to ${call.operation} is larger than ${MAX_ANSWER_BYTES} bytes`, EXIT.INVALID, 'check that the endpoint is a Gatehouse management API'));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => reject(remoteTransportError(e, this.target, call.operation)));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => reject(remoteTransportError(e, this.target, call.operation)));
      req.end(body);
    });
    if (answer.status >= 200 && answer.status < 300) return answer.text;
    throw remoteAnswerError(answer, this.target, call.operation);
  }
}

/** The issuers above a verified TLS peer's certificate, as PEM, nearest first. */
function issuersOf(socket: TLSSocket): string[] {
  const out: string[] = [];
  let cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(true) : undefined;
  const seen = new Set<string>();
  while (cert?.issuerCertificate !== undefined && cert.issuerCertificate !== cert && out.length < 10) {
    const issuer = cert.issuerCertificate;
    if (issuer.raw === undefined || seen.has(issuer.fingerprint256)) break;
    seen.add(issuer.fingerprint256);
    out.push(new X509Certificate(issuer.raw).toString());
    cert = issuer;
  }
  return out;
}
