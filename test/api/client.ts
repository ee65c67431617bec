/**
 * A small HTTP client for the API tests, over real sockets (TCP or a Unix socket).
 * node:http rather than fetch, so that Unix sockets, raw bodies and precise headers
 * are all possible.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { z } from 'zod';
import type {
  AuthorizeResponse, EmqxAuthnResponse, EmqxAuthzResponse, ErrorResponse, ExplainResponse, SessionsResponse, TokenResponse, VerifyResponse,
} from '../../src/api/schemas.js';

/**
 * An answer. `json` is the parsed body, or undefined when the body is not JSON; its type
 * is the one the caller names (`api.get<SessionsBody>(…)`), not checked: the tests
 * assert on the values themselves.
 */
export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly json: T;
}

/** Bodies of the API's answers, as the route schemas describe them. */
export type VerifyBody = z.infer<typeof VerifyResponse>;
export type TokenBody = z.infer<typeof TokenResponse>;
export type AuthorizeBody = z.infer<typeof AuthorizeResponse>;
export type ExplainBody = z.infer<typeof ExplainResponse>;
export type SessionsBody = z.infer<typeof SessionsResponse>;
export type EmqxAuthnBody = z.infer<typeof EmqxAuthnResponse>;
export type EmqxAuthzBody = z.infer<typeof EmqxAuthzResponse>;
export type ErrorBody = z.infer<typeof ErrorResponse>;
export type ApiError = ErrorBody['error'];

/** The `error` object of an error answer; throws (failing the test) when the body has none. */
export function errorOf(r: ApiResponse): ApiError {
  const error = (r.json as { error?: ApiError } | undefined)?.error;
  if (typeof error !== 'object' || error === null) throw new Error(`expected an error answer, got ${r.status}: ${r.text}`);
  return error;
}

export interface CallOptions {
  /** Bearer token; `null` sends no Authorization header; default: the client's token. */
  readonly token?: string | null;
  /** Raw body text (instead of a JSON-encoded `body`). */
  readonly raw?: string | Buffer;
  readonly contentType?: string | null;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
  /**
   * Send the headers, with the body's Content-Length, but none of the body, and take the
   * answer the server gives on the headers alone (a 413 on the declared length). Writing
   * a body larger than the socket buffers races the server's close: the write can fail
   * with EPIPE before the answer is read.
   */
  readonly headersOnly?: boolean;
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

export class ApiClient {
  constructor(readonly url: string, readonly token: string | undefined) {}

  /** Where to connect: `{ socketPath }` for `unix:PATH`, else host and port. */
  target(): { socketPath: string } | { host: string; port: number } {
    if (this.url.startsWith('unix:')) return { socketPath: this.url.slice('unix:'.length) };
    const u = new URL(this.url);
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
  }

  get<T = unknown>(path: string, opts: CallOptions = {}): Promise<ApiResponse<T>> {
    return this.call<T>('GET', path, undefined, opts);
  }

  post<T = unknown>(path: string, body: unknown, opts: CallOptions = {}): Promise<ApiResponse<T>> {
    return this.call<T>('POST', path, body, opts);
  }

  delete<T = unknown>(path: string, opts: CallOptions = {}): Promise<ApiResponse<T>> {
    return this.call<T>('DELETE', path, undefined, opts);
  }

  call<T = unknown>(method: string, path: string, body: unknown, opts: CallOptions = {}): Promise<ApiResponse<T>> {
    const payload = opts.raw !== undefined ? opts.raw : body !== undefined ? JSON.stringify(body) : undefined;
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token !== null && token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (payload !== undefined) {
      const type = opts.contentType === undefined ? 'application/json' : opts.contentType;
      if (type !== null) headers['content-type'] = type;
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest({ ...this.target(), method, path, headers, agent }, (res) => {
        readAll(res).then((text) => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: json as T });
        }, reject);
      });
      req.setTimeout(opts.timeoutMs ?? 20_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      if (opts.headersOnly === true) {
        req.flushHeaders();
        req.on('response', (res) => res.on('end', () => req.destroy()));
      } else req.end(payload);
    });
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

export interface SseEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** An open Server-Sent Events stream: events arrive in `events`; `next()` waits for the next one. */
export class SseStream {
  readonly events: SseEvent[] = [];
  private consumed = 0;
  private waiters: (() => void)[] = [];
  private buffer = '';
  private readonly listeners: ((e: SseEvent) => void)[] = [];
  ended = false;

  private constructor(readonly status: number, readonly headers: IncomingHttpHeaders, private readonly res: IncomingMessage) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.buffer += chunk;
      let at: number;
      while ((at = this.buffer.indexOf('\n\n')) >= 0) {
        const block = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + 2);
        const parsed = parseBlock(block);
        if (parsed) {
          this.events.push(parsed);
          for (const l of this.listeners) l(parsed);
        }
      }
      this.wake();
    });
    res.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  static open(client: ApiClient, path: string, opts: CallOptions = {}): Promise<SseStream> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    const token = opts.token === undefined ? client.token : opts.token;
    if (token) headers['authorization'] = `Bearer ${token}`;
    return new Promise((resolve, reject) => {
      const req = httpRequest({ ...client.target(), method: 'GET', path, headers }, (res) => resolve(new SseStream(res.statusCode ?? 0, res.headers, res)));
      req.on('error', reject);
      req.end();
    });
  }

  /** The next event not yet returned by next(). */
  async next(timeoutMs = 10_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.consumed >= this.events.length) {
      if (this.ended) throw new Error('the event stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.events[this.consumed++]!;
  }

  /** Calls `listener` with every event parsed from now on. */
  onEvent(listener: (e: SseEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Reads the whole (non-stream) body, for error answers. */
  body(): Promise<string> {
    return readAll(this.res);
  }

  close(): void {
    this.res.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

function parseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return undefined;
  return { event, id, data: data.join('\n') };
}
