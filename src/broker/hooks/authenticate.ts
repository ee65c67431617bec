import type { Client, AuthenticateError } from 'aedes';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { certificatePem } from '../../core/pem.js';
import { deciding, logDenial, type BrokerContext } from '../context.js';
import { CombinedView, type IotContext } from '../../core/index.js';
import { LiveSession, type DeviceIdentity, type SessionView } from '../live-sessions.js';
import { isReserved, isShareTopic } from '../topics.js';
import { rememberWill } from '../will-owners.js';

/** CONNACK return code 5, "not authorized" (aedes' AuthErrorCode is a const enum, unusable under isolatedModules). */
const NOT_AUTHORIZED = 5;
/** CONNACK return code 3, "server unavailable". */
const SERVER_UNAVAILABLE = 3;
/** CONNACK return code 2, "identifier rejected". */
const IDENTIFIER_REJECTED = 2;

/**
 * The CONNACK an MQTT 5 client gets for a refusal. aedes 2.0.0-beta.1 takes only the 3.1.1
 * return codes 2 to 5 from this hook and maps them to 0x85 Client Identifier not valid,
 * 0x88 Server unavailable, 0x86 Bad User Name or Password and 0x87 Not authorized; no other
 * reason code (0x89 Server busy, 0x97 Quota exceeded) and no Reason String can be sent.
 * MQTT 3.1.1 clients keep CONNACK 5 for every refusal but `maxConnections` (3).
 */
function v5ReturnCode(reason: string): number {
  switch (reason) {
    case 'THING_NAME_INVALID':
      return IDENTIFIER_REJECTED; // 0x85: the client ID cannot be a thing name
    case 'REGISTRY_BUSY':
    case 'SERVICE_ERROR':
      return SERVER_UNAVAILABLE; // 0x88: try again later (0x89 Server busy is out of reach)
    default:
      return NOT_AUTHORIZED; // 0x87
  }
}

export interface AuthenticateOptions {
  /** `gatehouse.mqtt.maxConnections`: most authenticated connections; 0 = no cap. */
  readonly maxConnections: number;
  /**
   * Whether the state shared with other nodes (Redis, docs/cluster.md) can be reached:
   * while it answers false, every CONNECT is refused (CONNACK 3 / MQTT 5 0x88, reason
   * CLUSTER_REDIS_UNAVAILABLE) before the certificate is looked up. Absent: always.
   */
  readonly available?: () => boolean;
}

/**
 * CONNECT: verify the certificate and create the session (client ID = thing name,
 * certificate attached to that thing), then `mqtt:connect` on `mqtt:clientId:<id>`,
 * then the will as a publish. Any failure answers CONNACK 5 and logs why; the device
 * learns nothing more ([MQTT-3.2.2-5]: the server closes the connection after it).
 * Last, a connection that passed everything but would exceed `maxConnections` is
 * answered CONNACK 3 "server unavailable" (it is counted as a refusal, not a denial).
 * MQTT 5 clients get the reason code that fits each refusal (v5ReturnCode).
 */
export function authenticateHook(ctx: BrokerContext, opts: AuthenticateOptions = { maxConnections: 0 }) {
  return (client: Client, _username: string | undefined, _password: Buffer | undefined, callback: (err: AuthenticateError | null, ok: boolean | null) => void): void => {
    // Answered once: an unexpected error after the answer is logged, never answered again.
    let answered = false;
    const done = (err: AuthenticateError | null, ok: boolean | null): void => {
      if (answered) return;
      answered = true;
      callback(err, ok);
    };
    // Denials decided by policy are counted by metrics.authorization(); the rest here.
    const refuse = (reason: string, message: string, extra: Record<string, unknown> = {}, counted = false, returnCode = NOT_AUTHORIZED): void => {
      if (!counted) ctx.metrics.denials['mqtt:connect']++;
      logDenial(ctx, undefined, { operation: 'mqtt:connect', clientId: client.id, reason, ...extra }, `connection refused: ${message}`);
      const code = client.version === 5 && returnCode === NOT_AUTHORIZED ? v5ReturnCode(reason) : returnCode;
      const err = new Error(code === NOT_AUTHORIZED ? 'not authorized' : code === IDENTIFIER_REJECTED ? 'identifier rejected' : 'server unavailable') as AuthenticateError;
      err.returnCode = code;
      done(err, false);
    };

    // Fail closed: a node that cannot reach the shared state cannot take a client id over
    // from another node, restore a session or route the device's messages.
    if (opts.available !== undefined && !opts.available()) {
      ctx.metrics.connectionClosed('CLUSTER_REDIS_UNAVAILABLE');
      return refuse('CLUSTER_REDIS_UNAVAILABLE', 'the cluster\'s Redis cannot be reached', {}, true, SERVER_UNAVAILABLE);
    }
    const chain = peerCertificateChain(client);
    if (chain === undefined) return refuse('NO_CLIENT_CERTIFICATE', 'no client certificate on the connection');

    ctx.authenticator.authenticate(client.id, chain.pem).then((outcome) => {
      if (!outcome.ok) return refuse(outcome.reason, outcome.message);
      const { identity, sessionId } = outcome;
      const will = (client as unknown as { _will?: { topic: string; retain?: boolean } })._will;
      const context = connectionContext(client, identity, will);
      const view = ctx.policy.current.connectionView({ thingName: identity.thingName, clientId: identity.clientId, attributes: identity.attributes }, identity.certificateId, context, ctx.now);
      if (!certificateReadable(view, context)) {
        ctx.authenticator.release(sessionId);
        return refuse('CERT_MALFORMED', 'the certificate\'s fields cannot be read for the AWS IoT policies in force', { thingName: identity.thingName });
      }
      const decision = view.decide('mqtt:connect', `mqtt:clientId:${client.id}`);
      ctx.metrics.authorization('mqtt:connect', decision.allowed);
      if (!decision.allowed) {
        ctx.authenticator.release(sessionId);
        return refuse(decision.reason, 'mqtt:connect not allowed', { thingName: identity.thingName, resource: `mqtt:clientId:${client.id}`, ...deciding(decision) }, true);
      }
      // The will is published on the device's behalf later; authorize it now (a retained
      // will also needs iot:RetainPublish where an IoT policy decides).
      if (will) {
        const wd = isReserved(will.topic) || isShareTopic(will.topic) ? undefined
          : will.retain === true && view instanceof CombinedView ? view.decideRetained(will.topic) : view.decide('mqtt:publish', `mqtt:topic:${will.topic}`);
        if (!wd?.allowed) {
          ctx.authenticator.release(sessionId);
          return refuse(wd?.reason ?? 'RESERVED_TOPIC', 'the will message topic is not allowed', { thingName: identity.thingName, resource: `mqtt:topic:${will.topic}`, ...deciding(wd) });
        }
      }
      if (client.closed) {
        ctx.authenticator.release(sessionId);
        return done(null, false);
      }
      // Checked after the await and with no await before ctx.sessions.add: concurrent
      // CONNECTs cannot overshoot the cap. A device reconnecting while its previous
      // connection is still open counts twice until the takeover closes the old one.
      if (opts.maxConnections > 0 && ctx.sessions.size >= opts.maxConnections) {
        ctx.authenticator.release(sessionId);
        ctx.metrics.connectionClosed('MAX_CONNECTIONS');
        return refuse('MAX_CONNECTIONS', `already ${ctx.sessions.size} connections (gatehouse.mqtt.maxConnections)`, { thingName: identity.thingName, limit: opts.maxConnections }, true, SERVER_UNAVAILABLE);
      }
      const session = new LiveSession(client, identity, sessionId, view, context, new Date(ctx.now()));
      // Decided again, without the session, if it is published after the session ended (wills.ts).
      if (will) rememberWill(client, will, identity, context, chain);
      rememberConnection(ctx, client, identity.certificateId, context);
      ctx.sessions.add(session);
      // Whatever ends the connection (disconnect, takeover, error) ends the session.
      client.conn.once('close', () => {
        if (ctx.sessions.remove(session)) ctx.authenticator.release(sessionId);
      });
      ctx.metrics.connectionsAccepted++;
      ctx.logger.debug({ event: 'connected', thingName: identity.thingName, clientId: client.id, certificateId: identity.certificateId }, 'device connected');
      done(null, true);
    }).catch((e: unknown) => {
      // The identity layer failed, or a bug in the decision above threw: refuse (fail
      // closed) rather than leave a rejected promise nobody handles.
      ctx.metrics.inc('ServiceError');
      ctx.logger.error({ event: 'error', clientId: client.id, err: (e as Error).message }, 'authentication failed unexpectedly');
      if (!answered) refuse('SERVICE_ERROR', 'internal error during authentication');
    });
  };
}

/**
 * What AWS IoT policy variables and condition keys see of a connection
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-variables.html): its
 * client ID, its thing (the client ID is the thing name and the certificate is attached
 * to it, or the connection would not have authenticated), the certificate's fields, the
 * peer address, and the CONNECT's features (`iot:ConnectAttributes`: `PersistentConnect`
 * for a session that outlives the connection, `LastWill` with a Will; `iot:LastWillTopic`).
 * aedes sets `client.clean` from Clean Session for MQTT 3.1.1 and from the Session Expiry
 * Interval (0 = clean) for MQTT 5, where Clean Start only says whether to resume.
 */
export function connectionContext(client: Client, identity: DeviceIdentity, will: { topic: string } | undefined): IotContext {
  const connectAttributes: string[] = [];
  if (!client.clean) connectAttributes.push('PersistentConnect');
  if (will) connectAttributes.push('LastWill');
  const sourceIp = tlsSocketOf(client)?.remoteAddress;
  const context: IotContext = {
    clientId: client.id,
    thingName: identity.thingName,
    attributes: identity.attributes,
    isAttached: true,
    ...(sourceIp !== undefined ? { sourceIp } : {}),
    connectAttributes: Object.freeze(connectAttributes),
    ...(will ? { lastWillTopic: will.topic } : {}),
    secureTransport: true,
  };
  // Decoded only when a policy asks for a certificate field (see certificateReadable).
  if (identity.certificateContext) Object.defineProperty(context, 'certificate', { get: identity.certificateContext, enumerable: false });
  return Object.freeze(context);
}

/**
 * Whether an IoT view can read the connection's certificate fields: under IoT policies
 * a certificate that cannot be decoded would leave `iot:Certificate.*` keys missing,
 * which a negated condition reads as a match, so such a connection is refused instead.
 */
export function certificateReadable(view: SessionView, context: IotContext): boolean {
  if (!(view instanceof CombinedView)) return true;
  try {
    void context.certificate;
    return true;
  } catch {
    return false;
  }
}

/** Most persistent sessions whose last connection is remembered for the offline re-check. */
const MAX_REMEMBERED = 100_000;

function rememberConnection(ctx: BrokerContext, client: Client, certificateId: string, context: IotContext): void {
  const m = ctx.lastConnections;
  m.delete(client.id);
  if (client.clean) return;
  if (m.size >= MAX_REMEMBERED) m.delete(m.keys().next().value!);
  m.set(client.id, { certificateId, context });
}

/** The TLS socket of a connection: the connection itself, or under WebSocket the upgrade request's socket. */
export function tlsSocketOf(client: Client): TLSSocket | undefined {
  const candidates = [client.conn as unknown, client.req?.socket as unknown];
  for (const c of candidates) {
    if (c && typeof (c as TLSSocket).getPeerCertificate === 'function') return c as TLSSocket;
  }
  return undefined;
}

/**
 * The certificate chain a connection's peer presented: PEM (leaf first) for the verifier,
 * and the leaf's DER for a log line. Nothing is decoded here: the verifier decodes only
 * what its caches lack, so a device that reconnects costs no certificate parsing.
 *
 * Read with getPeerCertificate(true), not getPeerX509Certificate(): on Node.js 20.20
 * every getPeerX509Certificate() call on a server socket leaves about 4 KiB of native
 * memory (OpenSSL's copy of the client certificate) that is never freed, even after the
 * socket and the returned object are collected, so a gateway taking 10 connections a
 * second grew by 2–3 MiB a minute without end (docs/benchmarks.md, "Soak";
 * `npm run bench:tls-peer` measures both calls).
 */
export interface PeerChain {
  readonly pem: string;
  readonly leafDer: Buffer;
}

/** The chain of a connection (see PeerChain), or undefined without one. */
export function peerCertificateChain(client: Client): PeerChain | undefined {
  const sock = tlsSocketOf(client);
  return sock === undefined ? undefined : socketCertificateChain(sock);
}

/** The chain a TLS socket's peer presented (see PeerChain), or undefined without one. */
export function socketCertificateChain(sock: TLSSocket): PeerChain | undefined {
  // null once the socket is destroyed (a peer that hung up meanwhile), an empty object without a certificate.
  let cert: DetailedPeerCertificate | null | undefined = sock.getPeerCertificate(true);
  if (cert === null || cert === undefined || cert.raw === undefined) return undefined;
  const leafDer = cert.raw;
  const pems: string[] = [];
  const seen = new Set<string>();
  // A self-signed root names itself as its issuer: the walk ends at a certificate seen before.
  while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    pems.push(certificatePem(cert.raw));
    cert = cert.issuerCertificate;
  }
  return { pem: pems.join(''), leafDer };
}
