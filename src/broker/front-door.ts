/**
 * The broker's front door: everything a connection goes through before (and around)
 * the CONNECT hooks, so that an unauthenticated peer can make the gateway hold almost
 * nothing.
 *
 * Order for each connection (the first failure closes it, is logged as a
 * `connection-closed` line with a `reason` and counted per reason):
 *   1. TCP accept           more than `maxPendingConnections` connections that have not
 *                           completed CONNECT: closed at once (PENDING_CONNECTIONS_FULL).
 *                           A timer starts: CONNECT must complete within
 *                           `connectTimeoutSeconds` of the accept (CONNECT_TIMEOUT).
 *   2. TLS handshake        a client certificate chaining to a trusted device CA
 *                           (TLS_*). OpenSSL's verdict is read after the handshake, then
 *                           the connection is ended with a TLS close_notify alert. A
 *                           verdict of an unknown issuer alone (UNKNOWN_ISSUER below) is
 *                           not final: step 3 decides it, and admits the certificate only
 *                           when the identity layer trusts this exact certificate by its
 *                           registration (imported from AWS IoT Core, registered without a
 *                           CA); otherwise it is refused as TLS_CERT_UNTRUSTED, as before.
 *   3. Certificate lookup   the registry: registered, ACTIVE, attached to some thing
 *                           (the identity layer's CERT_* reasons). Until it answers,
 *                           not one byte of MQTT is read from the connection.
 *   4. MQTT framing         on mqtt-packet's parser that aedes creates per client, as
 *                           soon as a fixed header or a remaining length is known: the
 *                           first packet must be a CONNECT (MQTT_FIRST_PACKET_NOT_CONNECT,
 *                           on its first byte); until the device is authenticated a packet
 *                           may not exceed `maxConnectPacketSizeBytes`, afterwards
 *                           `maxPacketSizeBytes` (MQTT_PACKET_TOO_LARGE), checked before
 *                           the body is buffered.
 *   5. CONNECT              the authenticate hook (identity, session, policy, will,
 *                           `maxConnections`). An unsupported protocol level is answered
 *                           with CONNACK 0x01 [MQTT-3.1.2-2] (MQTT_PROTOCOL_LEVEL).
 *
 * Step 4 relies on two mqtt-packet internals: the parser runs its states through the
 * instance methods `_parseHeader` and `_parseLength` (after which `packet.cmd` and
 * `packet.length` are set), and aedes keeps each client's parser in `client._parser`.
 * test/broker/front-door-internals.test.ts fails if an upgrade changes either; if the
 * parser cannot be found at run time every connection is refused (fail closed).
 */
import type { Client } from 'aedes';
import { X509Certificate } from 'node:crypto';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { BrokerContext } from './context.js';
import { socketCertificateChain, type PeerChain } from './hooks/authenticate.js';
import { REASON } from './reason-codes.js';

export interface FrontDoorLimits {
  /** Largest packet (fixed header included) once CONNECT has completed. */
  readonly maxPacketSizeBytes: number;
  /** Largest packet (fixed header included) until CONNECT has completed. */
  readonly maxConnectPacketSizeBytes: number;
  /** From TCP accept to a completed CONNECT. */
  readonly connectTimeoutSeconds: number;
  /** Connections accepted that have not completed CONNECT (TLS handshake included). */
  readonly maxPendingConnections: number;
  /** Authenticated connections; 0 = no cap. Enforced by the authenticate hook. */
  readonly maxConnections: number;
}

/** The defaults of the `gatehouse.mqtt` keys of the same names. */
export const DEFAULT_LIMITS: FrontDoorLimits = {
  maxPacketSizeBytes: 262_144,
  maxConnectPacketSizeBytes: 65_536,
  connectTimeoutSeconds: 10,
  maxPendingConnections: 1000,
  maxConnections: 0,
};

/** Why the front door closed a connection (each documented in docs/errors.md). */
export const CLOSE_REASONS = [
  'PENDING_CONNECTIONS_FULL',
  'CONNECT_TIMEOUT',
  'TLS_NO_CLIENT_CERTIFICATE',
  'TLS_CERT_EXPIRED',
  'TLS_CERT_NOT_YET_VALID',
  'TLS_CERT_UNTRUSTED',
  'TLS_CERT_WRONG_USAGE',
  'TLS_CERT_INVALID',
  'TLS_HANDSHAKE_FAILED',
  'MQTT_FIRST_PACKET_NOT_CONNECT',
  'MQTT_PACKET_TOO_LARGE',
  'MQTT_PROTOCOL_LEVEL',
  'MQTT_TOPIC_TOO_DEEP',
  'MQTT_PARSER_UNAVAILABLE',
  'MAX_CONNECTIONS',
  'SERVICE_ERROR',
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export type ClosePhase = 'accept' | 'tls' | 'certificate' | 'mqtt';

/** OpenSSL verification codes (TLSSocket#authorizationError) -> reason. */
const TLS_REASONS: Readonly<Record<string, CloseReason>> = {
  CERT_HAS_EXPIRED: 'TLS_CERT_EXPIRED',
  CERT_NOT_YET_VALID: 'TLS_CERT_NOT_YET_VALID',
  UNABLE_TO_GET_ISSUER_CERT: 'TLS_CERT_UNTRUSTED',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS_CERT_UNTRUSTED',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS_CERT_UNTRUSTED',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS_CERT_UNTRUSTED',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS_CERT_UNTRUSTED',
  CERT_UNTRUSTED: 'TLS_CERT_UNTRUSTED',
  CERT_SIGNATURE_FAILURE: 'TLS_CERT_UNTRUSTED',
  INVALID_PURPOSE: 'TLS_CERT_WRONG_USAGE',
  INVALID_CA: 'TLS_CERT_WRONG_USAGE',
};

/**
 * OpenSSL's verdicts that say only that the issuer is not among the trusted device CAs
 * (https://docs.openssl.org/3.0/man1/openssl-verification-options/#diagnostics). The
 * handshake itself succeeded, so the peer proved it holds the certificate's private key.
 * Such a connection goes on to the certificate lookup, where only a certificate trusted by
 * its exact registration passes (identity/verify.ts); any other verdict is final here.
 */
const UNKNOWN_ISSUER: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
]);

/** The identity layer's refusals that mean the chain reached no trusted CA. */
const CHAIN_REFUSALS: ReadonlySet<string> = new Set(['CERT_UNTRUSTED', 'CERT_SELF_SIGNED']);

/** What mqtt-packet's parser error says about a protocol level it does not know. */
export const INVALID_PROTOCOL_VERSION = 'Invalid protocol version';
/** The `errorCode` of aedes' error after it answered CONNACK 0x01 "unacceptable protocol version". */
export const UNACCEPTABLE_PROTOCOL_VERSION = 1;
/** What aedes' error says about a topic with more than `maxTopicLevels` levels. */
export const TOO_MANY_LEVELS = 'topic has too many levels';

/**
 * The `ws` package's error code for a message over its `maxPayload`, which the
 * WebSocket listener sets to `maxPacketSizeBytes` (ws would otherwise assemble messages
 * of up to 100 MiB before the MQTT parser sees a byte).
 */
export const WS_MESSAGE_TOO_LARGE = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';

/** At most this many `connection-closed` lines per reason per second; the rest are counted. */
const LOG_LINES_PER_SECOND = 10;

/** The parts of mqtt-packet's Parser the front door hooks (see the header comment). */
interface PacketParser {
  packet: { cmd: string; length: number };
  _parseHeader: () => boolean;
  _parseLength: () => boolean;
  emit(event: 'error', err: Error): boolean;
  prependListener(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'packet', listener: (packet: { cmd?: string; reasonCode?: number }) => void): unknown;
}

/**
 * aedes 2.0.0-beta.1's client method for a packet over its `maximumPacketSize`: it stops
 * reading the connection at once (a latch its read loop checks), then sends an MQTT 5
 * client DISCONNECT 0x95 and closes (a 3.1.1 or unconnected client is just closed).
 */
interface TooLargeRejecting {
  rejectPacketTooLarge?: (size: number) => void;
}

/** An error the front door hands to aedes to end a connection; already logged and counted. */
export class FrontDoorClose extends Error {
  constructor(readonly reason: CloseReason, message: string) {
    super(message);
    this.name = 'FrontDoorClose';
  }
}

/** One accepted TCP connection until it closes. */
interface Admission {
  /** The raw socket until the handshake completes, then the TLS socket. */
  socket: Socket;
  /** The TLS socket, once known. */
  tls: TLSSocket | undefined;
  readonly remoteAddress: string | undefined;
  /** Counted in `pending` (accepted, CONNECT not completed). */
  pending: boolean;
  /** Set once the front door closed it (no second log line). */
  closing: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class FrontDoor {
  readonly limits: FrontDoorLimits;
  readonly ctx: BrokerContext;
  private pending = 0;
  /** Connections still in the TLS handshake, by `localPort|remoteAddress|remotePort`. */
  private readonly handshaking = new Map<string, Admission>();
  /** Connections by TLS socket: past the handshake, or matched to a failed handshake. */
  private readonly byTls = new Map<TLSSocket, Admission>();
  /** Connections whose raw socket closed during the TLS handshake, oldest first (see admit). */
  private readonly lostInHandshake: Admission[] = [];
  /** Certificate lookups of secured connections (WebSocket upgrades wait for them). */
  private readonly screened = new Map<TLSSocket, Promise<boolean>>();
  private readonly logWindows = new Map<CloseReason, { start: number; lines: number; suppressed: number }>();

  constructor(ctx: BrokerContext, limits: FrontDoorLimits) {
    this.ctx = ctx;
    this.limits = limits;
  }

  /** Connections accepted that have not completed CONNECT. */
  get pendingConnections(): number {
    return this.pending;
  }

  /**
   * Guards a TLS (or HTTPS) server created with `rejectUnauthorized: false`: admission,
   * connect timer, the TLS verdict and the certificate lookup. `handOver` receives each
   * connection that passed them (not called for HTTPS servers; see webSocketReady).
   */
  guard(server: TlsServer | HttpsServer, handOver?: (socket: TLSSocket) => void): void {
    server.on('connection', (raw: Socket) => this.admit(raw));
    server.on('secureConnection', (socket: TLSSocket) => this.secure(socket, handOver));
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      const a = this.admissionOf(socket);
      const fields = { err: err.message.trim(), ...(err.code === undefined ? {} : { code: err.code }) };
      // Node also reports, after the fact, connections that were already closed (by the
      // front door at accept or by a timeout, or by the peer) once their address is
      // gone; those that cannot be matched to a connection are not counted again.
      if (a === undefined) return void this.ctx.logger.debug({ event: 'client-error', ...fields }, 'TLS error on a connection already closed');
      this.close(a, 'tls', 'TLS_HANDSHAKE_FAILED', { remoteAddress: a.remoteAddress, ...fields }, 'TLS handshake failed');
    });
  }

  /**
   * Resolves true when the WebSocket upgrade on `socket` may be handed to the broker:
   * the socket passed the TLS check and its certificate lookup.
   */
  webSocketReady(socket: TLSSocket): Promise<boolean> {
    return this.screened.get(socket) ?? Promise.resolve(false);
  }

  /**
   * Hooks the client's packet parser (first packet, packet sizes, protocol level).
   * Called right after aedes.handle(), before the connection is read.
   */
  watch(client: Client): void {
    const parser = parserOf(client);
    if (parser === undefined) {
      this.ctx.logger.error({ event: 'front-door-error' }, 'the MQTT packet parser of a connection could not be hooked (aedes or mqtt-packet changed); refusing the connection');
      this.close(this.admissionOfClient(client), 'mqtt', 'MQTT_PARSER_UNAVAILABLE', {}, 'connection refused');
      client.conn.destroy();
      return;
    }
    const { ctx, limits } = this;
    const parseHeader = parser._parseHeader;
    const parseLength = parser._parseLength;
    const refuse = (p: PacketParser, reason: CloseReason, fields: Record<string, unknown>, msg: string): false => {
      this.close(this.admissionOfClient(client), 'mqtt', reason, { clientId: client.id ?? undefined, ...fields }, msg);
      p.emit('error', new FrontDoorClose(reason, msg));
      return false;
    };
    /** DISCONNECT 0x95 to a connected MQTT 5 client; false when it must be refused as any other. */
    const disconnectTooLarge = (p: PacketParser, size: number, limit: number): boolean => {
      const reject = (client as unknown as TooLargeRejecting).rejectPacketTooLarge;
      if (client.version !== 5 || !client.connected || client.closed || typeof reject !== 'function') return false;
      this.close(this.admissionOfClient(client), 'mqtt', 'MQTT_PACKET_TOO_LARGE', { clientId: client.id ?? undefined, packet: p.packet.cmd, size, limit, authenticated: true, reasonCode: REASON.PACKET_TOO_LARGE }, 'packet larger than the limit; DISCONNECT 0x95 sent');
      reject.call(client, size);
      return true;
    };
    parser._parseHeader = function (this: PacketParser): boolean {
      if (!parseHeader.call(this)) return false;
      // [MQTT-3.1.0-1]: the first packet from a client must be a CONNECT; refuse on its first byte.
      if (!client.connecting && !client.connected && this.packet.cmd !== 'connect') {
        return refuse(this, 'MQTT_FIRST_PACKET_NOT_CONNECT', { packet: this.packet.cmd }, 'first packet is not a CONNECT');
      }
      return true;
    };
    parser._parseLength = function (this: PacketParser): boolean {
      if (!parseLength.call(this)) return false;
      const size = packetSize(this.packet.length);
      // The larger limit applies once the device is authenticated (its live session
      // exists), which is before aedes sends the CONNACK and marks the client connected.
      const authenticated = client.connected || ctx.sessions.ofClient(client) !== undefined;
      const limit = authenticated ? limits.maxPacketSizeBytes : limits.maxConnectPacketSizeBytes;
      if (size > limit) {
        // A connected MQTT 5 client was told the limit in CONNACK (Maximum Packet Size):
        // it is told why it is disconnected, DISCONNECT 0x95 (MQTT 5.0 §3.2.2.3.6), by
        // aedes, which stops reading the connection before the body (see below).
        if (disconnectTooLarge(this, size, limit)) return false;
        return refuse(this, 'MQTT_PACKET_TOO_LARGE', { packet: this.packet.cmd, size, limit, authenticated }, 'packet larger than the limit');
      }
      return true;
    };
    parser.prependListener('error', (err) => {
      // mqtt-packet refuses a CONNECT with a protocol level it does not know before aedes
      // can answer (levels other than 3, 4 and 5); answer CONNACK 0x01 [MQTT-3.1.2-2].
      if (err.message !== INVALID_PROTOCOL_VERSION || client.connecting || client.connected) return;
      this.close(this.admissionOfClient(client), 'mqtt', 'MQTT_PROTOCOL_LEVEL', {}, 'unsupported MQTT protocol level; CONNACK 0x01 sent');
      if (!client.conn.destroyed) client.conn.write(CONNACK_UNACCEPTABLE_PROTOCOL);
    });
  }

  /** CONNECT completed (aedes `clientReady`): the connection no longer counts as pending. */
  connected(client: Client): void {
    const a = this.admissionOfClient(client);
    if (a === undefined) return;
    this.release(a);
    clearTimeout(a.timer);
    a.timer = undefined;
  }

  /** Logs and counts an aedes client error the front door knows the reason of. */
  clientError(client: Client, err: Error): void {
    if (err instanceof FrontDoorClose) return; // logged when it was raised
    if (err.message === TOO_MANY_LEVELS) {
      this.close(this.admissionOfClient(client), 'mqtt', 'MQTT_TOPIC_TOO_DEEP', { clientId: client.id ?? undefined }, 'topic with more levels than the broker allows; connection closed');
      return;
    }
    if ((err as { errorCode?: unknown }).errorCode === UNACCEPTABLE_PROTOCOL_VERSION) {
      // aedes answered CONNACK 0x01 itself (a level mqtt-packet parses but aedes does not speak; none today).
      this.close(this.admissionOfClient(client), 'mqtt', 'MQTT_PROTOCOL_LEVEL', {}, 'unsupported MQTT protocol level; CONNACK 0x01 sent');
      return;
    }
    if ((err as { code?: unknown }).code === WS_MESSAGE_TOO_LARGE) {
      this.close(this.admissionOfClient(client), 'mqtt', 'MQTT_PACKET_TOO_LARGE', { clientId: client.id ?? undefined, transport: 'websocket', limit: this.limits.maxPacketSizeBytes }, 'WebSocket message larger than the limit; connection closed');
      return;
    }
    this.ctx.logger.debug({ event: 'client-error', clientId: client.id ?? undefined, err: err.message }, 'client error');
  }

  // --------------------------------------------------------------- private

  private admit(raw: Socket): void {
    const key = keyOf(raw);
    const a: Admission = { socket: raw, tls: undefined, remoteAddress: raw.remoteAddress, pending: false, closing: false, timer: undefined };
    this.handshaking.set(key, a);
    raw.once('close', () => {
      clearTimeout(a.timer);
      a.timer = undefined;
      this.release(a);
      // A connection lost during the handshake is reported by Node as a TLS client error
      // ("socket hang up") just after this, when the socket no longer knows its address:
      // such errors are matched to these connections in order (see admissionOf). Entries
      // outlive the socket by one turn of the event loop.
      if (a.tls === undefined && !a.closing) this.lostInHandshake.push(a);
      setImmediate(() => {
        if (this.handshaking.get(key) === a) this.handshaking.delete(key);
        const i = this.lostInHandshake.indexOf(a);
        if (i >= 0) this.lostInHandshake.splice(i, 1);
        if (a.tls !== undefined) {
          this.byTls.delete(a.tls);
          this.screened.delete(a.tls);
        }
      });
    });
    if (this.pending >= this.limits.maxPendingConnections) {
      this.close(a, 'accept', 'PENDING_CONNECTIONS_FULL', { remoteAddress: a.remoteAddress, limit: this.limits.maxPendingConnections }, 'too many connections that have not completed CONNECT; connection closed at accept');
      raw.destroy();
      return;
    }
    a.pending = true;
    this.pending++;
    this.ctx.metrics.pendingConnections = this.pending;
    a.timer = setTimeout(() => {
      a.timer = undefined;
      this.close(a, a.socket === raw ? 'tls' : 'mqtt', 'CONNECT_TIMEOUT', { remoteAddress: a.remoteAddress, seconds: this.limits.connectTimeoutSeconds }, 'CONNECT not completed in time; connection closed');
      a.socket.destroy();
    }, this.limits.connectTimeoutSeconds * 1000);
  }

  private secure(socket: TLSSocket, handOver: ((socket: TLSSocket) => void) | undefined): void {
    const key = keyOf(socket);
    const a = this.handshaking.get(key);
    if (a === undefined) {
      // Not admitted (its raw socket is gone or was never seen): fail closed.
      socket.destroy();
      return;
    }
    this.handshaking.delete(key);
    a.socket = socket;
    a.tls = socket;
    this.byTls.set(socket, a);

    // Only WebSocket upgrades (HTTPS servers, no handOver) ask for the lookup's outcome
    // later; a TLS connection is handed over by the lookup itself, and keeps nothing here.
    const keep = handOver === undefined;
    const verdict = this.checkTls(socket, a);
    if (verdict === undefined) {
      if (keep) this.screened.set(socket, Promise.resolve(false));
      return;
    }
    const screened = this.ctx.authenticator.screen(verdict.pem).then((outcome) => {
      if (socket.destroyed || a.closing) return false;
      if (!outcome.ok && verdict.unknownIssuer !== undefined && CHAIN_REFUSALS.has(outcome.reason)) {
        // Not trusted by registration either: the handshake's refusal, with its usual reason.
        this.refuseTls(socket, a, 'TLS_CERT_UNTRUSTED', verdict.unknownIssuer, verdict.leafDer);
        return false;
      }
      if (!outcome.ok) {
        this.close(a, 'certificate', outcome.reason, { remoteAddress: a.remoteAddress, ...(outcome.certificateId === undefined ? {} : { certificateId: outcome.certificateId }), detail: outcome.message }, 'certificate refused after the TLS handshake; connection closed');
        endTls(socket);
        return false;
      }
      handOver?.(socket);
      return true;
    }, (e: unknown) => {
      this.ctx.metrics.inc('ServiceError');
      this.ctx.logger.error({ event: 'error', remoteAddress: a.remoteAddress, err: (e as Error).message }, 'certificate lookup failed unexpectedly');
      this.close(a, 'certificate', 'SERVICE_ERROR', { remoteAddress: a.remoteAddress }, 'certificate lookup failed; connection closed');
      socket.destroy();
      return false;
    });
    if (keep) this.screened.set(socket, screened);
  }

  /**
   * OpenSSL's verdict on the client certificate. The listener does not let Node refuse
   * the handshake itself (Node would drop the connection without a word and without
   * telling why): the reason is logged here and the connection ended with close_notify.
   */
  private checkTls(socket: TLSSocket, a: Admission): (PeerChain & { unknownIssuer?: string }) | undefined {
    const chain = socketCertificateChain(socket);
    let reason: CloseReason | undefined;
    const code = socket.authorizationError === null || socket.authorizationError === undefined ? undefined : String(socket.authorizationError);
    if (chain === undefined) reason = 'TLS_NO_CLIENT_CERTIFICATE';
    else if (!socket.authorized) {
      // Decided by the certificate lookup (trust by registration), which refuses all but an exact registered match.
      if (code !== undefined && UNKNOWN_ISSUER.has(code)) return { ...chain, unknownIssuer: code };
      reason = (code === undefined ? undefined : TLS_REASONS[code]) ?? 'TLS_CERT_INVALID';
    }
    if (reason === undefined && chain !== undefined) return chain;
    this.refuseTls(socket, a, reason ?? 'TLS_CERT_INVALID', code, chain?.leafDer);
    return undefined;
  }

  /** Closes a connection whose client certificate the handshake's verdict refuses. */
  private refuseTls(socket: TLSSocket, a: Admission, reason: CloseReason, code: string | undefined, leafDer: Buffer | undefined): void {
    this.close(a, 'tls', reason, {
      remoteAddress: a.remoteAddress,
      ...(code === undefined ? {} : { tlsError: code }),
      ...leafFields(leafDer),
    }, 'client certificate refused at the TLS handshake; connection closed');
    endTls(socket);
  }

  private admissionOf(socket: TLSSocket): Admission | undefined {
    const a = this.byTls.get(socket) ?? (socket.remotePort === undefined ? this.lostInHandshake.shift() : this.handshaking.get(keyOf(socket)));
    if (a !== undefined && a.tls === undefined) {
      a.tls = socket;
      this.byTls.set(socket, a);
    }
    return a;
  }

  private admissionOfClient(client: Client): Admission | undefined {
    const conn = client.conn as unknown;
    const socket = (isTlsSocket(conn) ? conn : client.req?.socket) as TLSSocket | undefined;
    return socket === undefined ? undefined : this.byTls.get(socket);
  }

  private release(a: Admission): void {
    if (!a.pending) return;
    a.pending = false;
    this.pending--;
    this.ctx.metrics.pendingConnections = this.pending;
  }

  /** Marks a connection as closed by the front door, counts and logs it once. */
  private close(a: Admission | undefined, phase: ClosePhase, reason: string, fields: Record<string, unknown>, msg: string): void {
    if (a !== undefined) {
      if (a.closing) return;
      a.closing = true;
      clearTimeout(a.timer);
      a.timer = undefined;
    }
    this.log(phase, reason, fields, msg);
  }

  /** Counts every close; logs at most LOG_LINES_PER_SECOND lines per reason per second. */
  private log(phase: ClosePhase, reason: string, fields: Record<string, unknown>, msg: string): void {
    this.ctx.metrics.connectionClosed(reason);
    const now = this.ctx.now();
    let w = this.logWindows.get(reason as CloseReason);
    if (w === undefined || now - w.start >= 1000) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: now, lines: 0, suppressed: 0 };
      this.logWindows.set(reason as CloseReason, w);
      if (suppressed > 0) fields = { ...fields, suppressed };
    }
    if (w.lines >= LOG_LINES_PER_SECOND) {
      w.suppressed++;
      return;
    }
    w.lines++;
    this.ctx.logger.info({ event: 'connection-closed', phase, reason, ...fields }, msg);
  }
}

const CONNACK_UNACCEPTABLE_PROTOCOL: Buffer = mqttPacket.generate({ cmd: 'connack', returnCode: 1, sessionPresent: false });

/** Size of a whole MQTT packet from its remaining length (1 byte type + 1–4 bytes length). */
export function packetSize(remainingLength: number): number {
  const lengthBytes = remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : remainingLength < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remainingLength;
}

/** The mqtt-packet parser aedes created for a client, or undefined if it is not where (or what) we expect. */
export function parserOf(client: Client): PacketParser | undefined {
  const p = (client as unknown as { _parser?: Partial<PacketParser> })._parser;
  if (p === undefined || p === null) return undefined;
  if (typeof p._parseHeader !== 'function' || typeof p._parseLength !== 'function' || typeof p.prependListener !== 'function') return undefined;
  return p as PacketParser;
}

/** Ends a TLS connection with close_notify, then destroys it once that is written. */
function endTls(socket: TLSSocket): void {
  socket.end(() => socket.destroy());
}

function keyOf(s: Socket): string {
  return `${s.localPort ?? ''}|${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;
}

function isTlsSocket(x: unknown): x is TLSSocket {
  return typeof (x as TLSSocket | undefined)?.getPeerX509Certificate === 'function';
}

/** The refused leaf's subject and fingerprint for the log line, decoded only for it; nothing when Node.js cannot read it. */
function leafFields(der: Buffer | undefined): { subject?: string; fingerprint?: string } {
  if (der === undefined) return {};
  try {
    const leaf = new X509Certificate(der);
    return { subject: leaf.subject.replaceAll('\n', ', '), fingerprint: leaf.fingerprint256 };
  } catch {
    return {};
  }
}
