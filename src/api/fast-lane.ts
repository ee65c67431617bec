/**
 * The fast lane: answers the API's hot call, `POST /v1/authorize-client-device-action`,
 * straight from the TCP (or Unix) socket, and hands everything else to the full
 * server (node:http + fastify) on the same connection.
 *
 * Why: node:http builds an IncomingMessage and a ServerResponse per request, and
 * fastify adds its request, reply, hooks and validation on top. On this project's
 * 2-core reference machine that costs ~130 µs of CPU per authorization call (the
 * decision itself is under 1 µs); bare node:http alone is ~70 µs. Reading the request
 * off the socket ourselves costs ~30 µs. See docs/benchmarks.md (bench:api).
 *
 * What the lane answers, and nothing else: an HTTP/1.1 request whose request line is
 * exactly `POST <path> HTTP/1.1`, whose header block is small, strictly formed
 * (token header names, no control characters, CRLF line ends) and has a Host, exactly
 * one Content-Length within the body limit, a JSON content type, the right bearer
 * token and no Transfer-Encoding, Expect or Upgrade; whose body is JSON the route
 * accepts as-is; and whose route answers 200. For anything else — another route, a
 * wrong token, a malformed or invalid body, an unknown session, anything unusual in
 * the framing — the lane stops at the start of that request, puts the unread bytes
 * back on the socket and gives the connection to node:http, which answers it (and
 * every later request on that connection) exactly as if the lane did not exist. A
 * head still incomplete is handed over as soon as what has come cannot become one the
 * lane answers (a bare CR or LF, a `\r\n\n` end, a malformed line), since node:http
 * refuses such a head at once rather than waiting for the rest. So
 * errors, their codes and their bodies come from one place, and the lane can only
 * ever answer what the full server would have answered with 200.
 *
 * Connection handling follows node:http: keep-alive by default, `Connection: close`
 * honoured (and the connection closed after the answer even if the client keeps its
 * side open), pipelined requests answered in order (one write per batch), reading
 * paused while the client does not read its answers, idle connections closed after
 * the server's keepAliveTimeout, and a request not complete within requestTimeout /
 * headersTimeout answered with node:http's 408. One difference: a client that closes
 * its side in the middle of a request the lane holds gets no 400, the connection just
 * ends.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

export interface FastLaneRoute {
  /** The path the lane answers (method POST). */
  readonly path: string;
  /**
   * The 200 answer's JSON text for a parsed body, or undefined to let the full server
   * answer (invalid body, unknown session…). Must have no side effect when it returns
   * undefined: the full server runs the request again.
   */
  answer(body: unknown): string | undefined;
}

export interface FastLaneOptions {
  readonly route: FastLaneRoute;
  /** The bearer check of the full server (`Authorization` header value). */
  readonly authorized: (authorization: string) => boolean;
  readonly bodyLimitBytes: number;
  /** Called for every answer the lane sends (each is a 200 of the route). */
  readonly onAnswer: () => void;
}

/** Larger header blocks go to node:http (its limit is 16 KiB; it answers 431). */
const MAX_HEAD_BYTES = 8192;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** RFC 9110 token characters, for header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, obs-text, space and tab; no other control characters. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const JSON_TYPE = /^application\/json[ \t]*(;[ \t]*charset[ \t]*=[ \t]*"?utf-8"?[ \t]*)?$/i;
const OWS = /^[ \t]+|[ \t]+$/g;
const DIGITS = /^[0-9]{1,15}$/;
/** node:http's answer to a request not complete in time (then it closes). */
const REQUEST_TIMEOUT = Buffer.from('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', 'latin1');
/** How often idle connections are looked for. */
const SWEEP_MS = 1000;

type Connection = (this: HttpServer, socket: Socket) => void;

interface Head {
  /** Where the body starts in the buffer. */
  readonly bodyAt: number;
  /** Content-Length. */
  readonly length: number;
  /** The client sent `Connection: close`. */
  readonly close: boolean;
}

/** A CR not followed by LF (a CR that ends the bytes so far may still be), or an LF not preceded by CR. */
const BARE_CR_OR_LF = /\r(?=[^\n])|(?<!\r)\n/;

/**
 * Whether the start of a request head, not complete yet, may still become a head the
 * lane answers: strict CRLF line ends, and every complete header line a token name, a
 * colon and a field value. node:http refuses a head as soon as it reads such a line
 * (a `\r\n\n` end, a bare CR, a line without a colon…), so the lane must hand it over
 * at once instead of waiting for a CRLF CRLF that never comes.
 */
function headSoFar(buf: Buffer): boolean {
  const text = buf.toString('latin1');
  if (BARE_CR_OR_LF.test(text)) return false;
  const lines = text.split('\r\n');
  for (let i = 1; i < lines.length - 1; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon)) || !FIELD_VALUE.test(line.slice(colon + 1))) return false;
  }
  return true;
}

/**
 * An accepted request head with its Content-Length value cut out: the bytes before
 * and after the digits (the latter up to and including the blank line). A client
 * repeats its head but for that value, so the next one is recognised by comparing
 * bytes, without decoding or parsing it.
 */
interface Template {
  readonly before: Buffer;
  readonly after: Buffer;
  readonly close: boolean;
}

interface Lane {
  readonly socket: Socket;
  /**
   * Bytes of an incomplete request, kept as received and joined once `needed` bytes are
   * there (0: a head is incomplete, join on every read; heads are at most 8 KiB), so a
   * body sent in many small pieces is copied once, not once per piece.
   */
  pending: Buffer[];
  pendingBytes: number;
  needed: number;
  /** performance.now() when the first bytes of the pending request came. */
  pendingSince: number;
  /** performance.now() when the client last sent something. */
  lastRead: number;
  /**
   * The last request head the lane accepted on this connection. A client repeats the
   * same head but for the Content-Length value: a head equal to it around that value
   * needs no second look. The bearer token cannot change while the server runs, so an
   * accepted head stays acceptable.
   */
  accepted: Template | undefined;
  readonly onData: (chunk: Buffer) => void;
  readonly onEnd: () => void;
  /** Reading was paused until the client takes the answers already written. */
  readonly onDrain: () => void;
  readonly onClose: () => void;
  readonly onError: () => void;
}

export class FastLane {
  readonly #server: HttpServer;
  readonly #options: FastLaneOptions;
  readonly #requestLine: string;
  /** The request line and its CRLF: how every request the lane answers starts. */
  readonly #linePrefix: Buffer;
  /** node:http's own connection listener, to which connections are handed. */
  readonly #http: Connection;
  readonly #lanes = new Set<Lane>();
  #closed = false;
  /**
   * Closes connections idle for longer than the server's keepAliveTimeout. One timer
   * for all of them: a per-socket timeout is re-armed on every read and write, which
   * costs more than the rest of the call.
   */
  #sweeper: NodeJS.Timeout | undefined;
  #dateSecond = -1;
  /** Keep-alive answers by body, with this second's Date header. */
  readonly #responses = new Map<string, string>();

  /**
   * Puts the lane in front of `server`'s connections. Must be called before the server
   * accepts its first connection.
   */
  constructor(server: HttpServer, options: FastLaneOptions) {
    const listeners = server.listeners('connection') as Connection[];
    if (listeners.length !== 1) throw new Error(`expected node:http's single connection listener, found ${listeners.length}`);
    this.#server = server;
    this.#options = options;
    this.#requestLine = `POST ${options.route.path} HTTP/1.1`;
    this.#linePrefix = Buffer.from(`${this.#requestLine}\r\n`, 'latin1');
    this.#http = listeners[0]!;
    server.removeListener('connection', this.#http);
    server.on('connection', (socket: Socket) => this.#accept(socket));
  }

  /** Connections the lane holds now (not yet handed to node:http). */
  get size(): number {
    return this.#lanes.size;
  }

  /** Closes every connection the lane holds; later connections go to node:http. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const lane of this.#lanes) lane.socket.destroy();
    this.#lanes.clear();
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      this.#http.call(this.#server, socket);
      return;
    }
    const lane: Lane = {
      socket,
      pending: [],
      pendingBytes: 0,
      needed: 0,
      pendingSince: 0,
      lastRead: performance.now(),
      accepted: undefined,
      onData: (chunk) => this.#read(lane, chunk),
      // The client will send nothing more; what it sent in part is abandoned.
      onEnd: () => socket.end(),
      onDrain: () => socket.resume(),
      onClose: () => this.#lanes.delete(lane),
      onError: () => socket.destroy(),
    };
    this.#lanes.add(lane);
    socket.on('data', lane.onData);
    socket.on('end', lane.onEnd);
    socket.on('close', lane.onClose);
    socket.on('error', lane.onError);
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
  }

  #sweep(): void {
    const idle = this.#server.keepAliveTimeout || 5000;
    // node:http answers 408 when a request is not complete within requestTimeout (and
    // headersTimeout for its head); a request the lane holds gets the same.
    const limits = [this.#server.requestTimeout, this.#server.headersTimeout].filter((t) => t > 0);
    const complete = limits.length > 0 ? Math.min(...limits) : Infinity;
    const now = performance.now();
    for (const lane of this.#lanes) {
      const late = lane.pending.length > 0 && now - lane.pendingSince > complete;
      // keepAliveTimeout is for the wait between requests; a request under way has the above.
      if (late || (lane.pending.length === 0 && now - lane.lastRead > idle)) {
        this.#lanes.delete(lane);
        if (late) lane.socket.write(REQUEST_TIMEOUT);
        lane.socket.destroy();
      }
    }
    if (this.#lanes.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #read(lane: Lane, chunk: Buffer): void {
    const now = performance.now();
    lane.lastRead = now;
    let requestSince = lane.pending.length > 0 ? lane.pendingSince : now;
    let buf = chunk;
    if (lane.pending.length > 0) {
      lane.pending.push(chunk);
      lane.pendingBytes += chunk.length;
      if (lane.pendingBytes < lane.needed) return;
      buf = Buffer.concat(lane.pending, lane.pendingBytes);
      lane.pending = [];
      lane.pendingBytes = 0;
      lane.needed = 0;
    }
    const socket = lane.socket;
    let out = '';
    let close = false;
    while (buf.length > 0) {
      let head = lane.accepted === undefined ? undefined : matches(lane.accepted, buf);
      if (head === undefined) {
        const headEnd = buf.indexOf(HEAD_END);
        if (headEnd < 0) {
          // A request that cannot become the lane's goes to node:http at once.
          const n = Math.min(buf.length, this.#linePrefix.length);
          if (buf.length > MAX_HEAD_BYTES || buf.compare(this.#linePrefix, 0, n, 0, n) !== 0 || !headSoFar(buf)) break;
          keep(lane, buf, 0, requestSince);
          buf = Buffer.alloc(0);
          break;
        }
        if (headEnd > MAX_HEAD_BYTES) break;
        const template = this.#head(buf.toString('latin1', 0, headEnd));
        if (template === undefined) break;
        lane.accepted = template;
        head = matches(template, buf);
        if (head === undefined) break;
      }
      if (head.length > this.#options.bodyLimitBytes) break;
      const end = head.bodyAt + head.length;
      if (buf.length < end) {
        keep(lane, buf, end, requestSince);
        buf = Buffer.alloc(0);
        break;
      }
      // Bytes after a request that asked to close: node:http refuses them (400).
      if (head.close && buf.length > end) break;
      let answer: string | undefined;
      try {
        answer = this.#options.route.answer(JSON.parse(buf.toString('utf8', head.bodyAt, end)));
      } catch {
        // Invalid JSON, or a failure in the route: the full server answers (400 or 500).
        break;
      }
      if (answer === undefined) break;
      out += this.#response(answer, head.close);
      this.#options.onAnswer();
      requestSince = now;
      buf = buf.subarray(end);
      if (head.close) {
        close = true;
        buf = Buffer.alloc(0);
        break;
      }
    }
    const flushed = out.length === 0 || socket.write(out);
    if (close) {
      this.#release(lane);
      // A reset while the last answer is flushed must not become an uncaught error.
      socket.on('error', () => socket.destroy());
      // Closed once the answer is out, whether or not the client closes its side
      // (the server allows half-open connections).
      socket.destroySoon();
    } else if (buf.length > 0) {
      this.#handOff(lane, buf);
    } else if (!flushed) {
      // A client that sends but does not read: stop reading until it does.
      socket.pause();
      socket.once('drain', lane.onDrain);
    }
  }

  /**
   * Reads a request head the lane may answer: its template (see Template). Undefined
   * for anything else.
   */
  #head(text: string): Template | undefined {
    const lines = text.split('\r\n');
    if (lines[0] !== this.#requestLine) return undefined;
    let lengthAt = -1;
    let lengthEnd = -1;
    let authorization: string | undefined;
    let type: string | undefined;
    let host = false;
    let close = false;
    let offset = lines[0].length + 2;
    for (let i = 1; i < lines.length; offset += lines[i]!.length + 2, i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) return undefined;
      const name = line.slice(0, colon);
      const raw = line.slice(colon + 1);
      // Only spaces and tabs around a value are optional whitespace (String#trim would
      // also drop vertical tabs, no-break spaces and bare CR/LF, which llhttp refuses).
      const value = raw.replace(OWS, '');
      if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return undefined;
      switch (name.toLowerCase()) {
        case 'content-length':
          if (lengthAt >= 0 || !DIGITS.test(value)) return undefined;
          lengthAt = offset + colon + 1 + raw.indexOf(value);
          lengthEnd = lengthAt + value.length;
          break;
        case 'authorization':
          if (authorization !== undefined) return undefined;
          authorization = value;
          break;
        case 'content-type':
          if (type !== undefined) return undefined;
          type = value;
          break;
        case 'host':
          if (host) return undefined;
          host = true;
          break;
        case 'connection': {
          const options = value.toLowerCase().split(',').map((s) => s.replace(OWS, ''));
          if (options.includes('upgrade')) return undefined;
          if (options.includes('close')) close = true;
          break;
        }
        // llhttp reads Proxy-Connection like Connection; node:http answers it.
        case 'proxy-connection':
        case 'transfer-encoding':
        case 'expect':
        case 'upgrade':
          return undefined;
        default:
          break;
      }
    }
    if (!host || lengthAt < 0 || type === undefined || !JSON_TYPE.test(type)) return undefined;
    if (authorization === undefined || !this.#options.authorized(authorization)) return undefined;
    return { before: Buffer.from(text.slice(0, lengthAt), 'latin1'), after: Buffer.from(`${text.slice(lengthEnd)}\r\n\r\n`, 'latin1'), close };
  }

  #response(body: string, close: boolean): string {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#dateSecond) {
      this.#dateSecond = second;
      this.#responses.clear();
    }
    let response = close ? undefined : this.#responses.get(body);
    if (response === undefined) {
      const date = new Date(second * 1000).toUTCString();
      const connection = close ? 'Connection: close\r\n' : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor((this.#server.keepAliveTimeout || 5000) / 1000)}\r\n`;
      response = `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nDate: ${date}\r\n${connection}\r\n${body}`;
      // The route's answers are a handful of fixed texts (one per decision reason).
      if (!close && this.#responses.size < 64) this.#responses.set(body, response);
    }
    return response;
  }

  /** Stops reading the connection here: node:http reads on from `rest` (the start of a request). */
  #handOff(lane: Lane, rest: Buffer): void {
    const socket = lane.socket;
    this.#release(lane);
    socket.pause();
    socket.unshift(rest);
    this.#http.call(this.#server, socket);
    socket.resume();
  }

  #release(lane: Lane): void {
    const socket = lane.socket;
    socket.removeListener('data', lane.onData);
    socket.removeListener('end', lane.onEnd);
    socket.removeListener('close', lane.onClose);
    socket.removeListener('error', lane.onError);
    socket.removeListener('drain', lane.onDrain);
    this.#lanes.delete(lane);
  }
}

/**
 * The request head at the start of `buf` read with an accepted template: undefined
 * when it differs (or is not all there yet).
 */
function matches(t: Template, buf: Buffer): Head | undefined {
  const n = t.before.length;
  if (buf.length < n + 1 + t.after.length || buf.compare(t.before, 0, n, 0, n) !== 0) return undefined;
  let at = n;
  let length = 0;
  for (; at < buf.length && at - n < 15; at++) {
    const c = buf[at]!;
    if (c < 0x30 || c > 0x39) break;
    length = length * 10 + (c - 0x30);
  }
  const bodyAt = at + t.after.length;
  if (at === n || bodyAt > buf.length || buf.compare(t.after, 0, t.after.length, at, bodyAt) !== 0) return undefined;
  return { bodyAt, length, close: t.close };
}

/** Keeps the start of an incomplete request until `needed` bytes (0: any more) have come. */
function keep(lane: Lane, buf: Buffer, needed: number, since: number): void {
  lane.pending = [buf];
  lane.pendingBytes = buf.length;
  lane.needed = needed;
  lane.pendingSince = since;
}
