import type { Client, AuthenticateError } from 'aedes';
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { certificatePem } from '../../core/pem.js';
import { logDenial, type BrokerContext } from '../context.js';
import { LiveSession } from '../live-sessions.js';
import { isReserved } from '../topics.js';

/** CONNACK return code 5, "not authorized" (aedes' AuthErrorCode is a const enum, unusable under isolatedModules). */
const NOT_AUTHORIZED = 5;
/** CONNACK return code 3, "server unavailable". */
const SERVER_UNAVAILABLE = 3;

export interface AuthenticateOptions {
  /** `gatehouse.mqtt.maxConnections`: most authenticated connections; 0 = no cap. */
  readonly maxConnections: number;
}

/**
 * CONNECT: verify the certificate and create the session (client ID = thing name,
 * certificate attached to that thing), then `mqtt:connect` on `mqtt:clientId:<id>`,
 * then the will as a publish. Any failure answers CONNACK 5 and logs why; the device
 * learns nothing more ([MQTT-3.2.2-5]: the server closes the connection after it).
 * Last, a connection that passed everything but would exceed `maxConnections` is
 * answered CONNACK 3 "server unavailable" (it is counted as a refusal, not a denial).
 */
export function authenticateHook(ctx: BrokerContext, opts: AuthenticateOptions = { maxConnections: 0 }) {
  return (client: Client, _username: string | undefined, _password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void => {
    // Denials decided by policy are counted by metrics.authorization(); the rest here.
    const refuse = (reason: string, message: string, extra: Record<string, unknown> = {}, counted = false, returnCode = NOT_AUTHORIZED): void => {
      if (!counted) ctx.metrics.denials['mqtt:connect']++;
      logDenial(ctx, undefined, { operation: 'mqtt:connect', clientId: client.id, reason, ...extra }, `connection refused: ${message}`);
      const err = new Error(returnCode === NOT_AUTHORIZED ? 'not authorized' : 'server unavailable') as AuthenticateError;
      err.returnCode = returnCode;
      done(err, false);
    };

    const chain = peerCertificateChain(client);
    if (chain === undefined) return refuse('NO_CLIENT_CERTIFICATE', 'no client certificate on the connection');

    ctx.authenticator.authenticate(client.id, chain.pem, chain.certificates).then((outcome) => {
      if (!outcome.ok) return refuse(outcome.reason, outcome.message);
      const { identity, sessionId } = outcome;
      const view = ctx.policy.current.view({ thingName: identity.thingName, clientId: identity.clientId, attributes: identity.attributes });
      const decision = view.decide('mqtt:connect', `mqtt:clientId:${client.id}`);
      ctx.metrics.authorization('mqtt:connect', decision.allowed);
      if (!decision.allowed) {
        ctx.authenticator.release(sessionId);
        return refuse(decision.reason, 'mqtt:connect not allowed', { thingName: identity.thingName, resource: `mqtt:clientId:${client.id}` }, true);
      }
      // The will is published on the device's behalf later; authorize it now.
      const will = (client as unknown as { _will?: { topic: string } })._will;
      if (will) {
        const wd = isReserved(will.topic) ? undefined : view.decide('mqtt:publish', `mqtt:topic:${will.topic}`);
        if (!wd?.allowed) {
          ctx.authenticator.release(sessionId);
          return refuse(wd?.reason ?? 'RESERVED_TOPIC', 'the will message topic is not allowed', { thingName: identity.thingName, resource: `mqtt:topic:${will.topic}` });
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
      const session = new LiveSession(client, identity, sessionId, view);
      ctx.sessions.add(session);
      // Whatever ends the connection (disconnect, takeover, error) ends the session.
      client.conn.once('close', () => {
        if (ctx.sessions.remove(session)) ctx.authenticator.release(sessionId);
      });
      ctx.logger.debug({ event: 'connected', thingName: identity.thingName, clientId: client.id, certificateId: identity.certificateId }, 'device connected');
      done(null, true);
    }, (e: unknown) => {
      ctx.metrics.inc('ServiceError');
      ctx.logger.error({ event: 'error', clientId: client.id, err: (e as Error).message }, 'authentication failed unexpectedly');
      refuse('SERVICE_ERROR', 'internal error during authentication');
    });
  };
}

/** The TLS socket of a connection: the connection itself, or under WebSocket the upgrade request's socket. */
export function tlsSocketOf(client: Client): TLSSocket | undefined {
  const candidates = [client.conn as unknown, client.req?.socket as unknown];
  for (const c of candidates) {
    if (c && typeof (c as TLSSocket).getPeerX509Certificate === 'function') return c as TLSSocket;
  }
  return undefined;
}

/**
 * The peer's verified certificate chain (leaf first) as PEM and as the handshake's
 * decoded certificates, or undefined without one. getPeerX509Certificate() wraps the
 * certificates the TLS handshake already holds, and the verifier uses them as they are
 * instead of decoding the PEM's bytes again; getPeerCertificate(true) would convert
 * every field of the chain into objects that would never be read.
 */
export function peerCertificateChain(client: Client): { readonly pem: string; readonly certificates: readonly X509Certificate[] } | undefined {
  const sock = tlsSocketOf(client);
  return sock === undefined ? undefined : socketCertificateChain(sock);
}

/** The certificate chain a TLS socket's peer presented (leaf first), or undefined without one. */
export function socketCertificateChain(sock: TLSSocket): { readonly pem: string; readonly certificates: readonly X509Certificate[] } | undefined {
  let cert = sock.getPeerX509Certificate();
  if (!cert) return undefined;
  const pems: string[] = [];
  const certificates: X509Certificate[] = [];
  const seen = new Set<string>();
  while (cert !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    pems.push(certificatePem(cert.raw));
    certificates.push(cert);
    cert = cert.issuerCertificate;
  }
  return { pem: pems.join(''), certificates };
}
