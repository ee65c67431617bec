/**
 * The broker-facing face of the session manager: (client ID, certificate chain) in,
 * verified identity and a session handle out. Shaped to match the broker's
 * `DeviceAuthenticator` (src/broker/context.ts) structurally, so identity does not
 * import from the broker (dependency direction: broker -> identity).
 *
 * The handle is the session's non-secret `id`; the token stays inside the session
 * manager, for the local API's external brokers. The session backs the connection
 * (`connection: true`): it is never evicted to make room for another, and the broker
 * releases it when the connection closes.
 */
import type { IotCertificateContext } from '../core/policy/iot/context.js';
import { readPemBlocks } from '../core/pem.js';
import type { SessionFailureReason } from './errors.js';
import { iotCertificateContextFromDer } from './iot-context.js';
import type { SessionManager } from './sessions.js';

export interface AuthenticatedIdentity {
  readonly thingName: string;
  readonly clientId: string;
  readonly certificateId: string;
  readonly attributes: Readonly<Record<string, string>>;
  /**
   * The certificate's fields as AWS IoT policy variables name them, decoded on first
   * call (only connections under IoT policies need them). Throws CERT_MALFORMED when
   * the certificate cannot be read that way.
   */
  readonly certificateContext: () => IotCertificateContext;
}

export type AuthenticationOutcome =
  | { readonly ok: true; readonly identity: AuthenticatedIdentity; readonly sessionId: string }
  | { readonly ok: false; readonly reason: SessionFailureReason; readonly message: string };

export type ScreeningOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: SessionFailureReason; readonly message: string; readonly certificateId?: string };

export interface SessionAuthenticator {
  /** The certificate alone, before any client ID is known: see SessionManager#screenCertificate. */
  screen(certificateChainPem: string): Promise<ScreeningOutcome>;
  authenticate(clientId: string, certificateChainPem: string): Promise<AuthenticationOutcome>;
  release(sessionId: string): void;
}

export function sessionAuthenticator(manager: SessionManager, clock: () => Date = () => new Date()): SessionAuthenticator {
  return {
    screen(certificateChainPem) {
      return manager.screenCertificate(certificateChainPem, clock());
    },
    async authenticate(clientId, certificateChainPem) {
      const r = await manager.createSession({ clientId, certificatePem: certificateChainPem, now: clock(), connection: true });
      if (!r.ok) return { ok: false, reason: r.reason, message: r.message };
      const s = r.session;
      // Only the leaf's DER is kept for the decoder (the session may be remembered long
      // after the connection; the chain's PEM is not).
      let leaf: Uint8Array | undefined = leafDer(certificateChainPem);
      let certificate: IotCertificateContext | undefined;
      const certificateContext = (): IotCertificateContext => {
        if (certificate === undefined) {
          certificate = iotCertificateContextFromDer(leaf!);
          leaf = undefined;
        }
        return certificate;
      };
      return { ok: true, identity: { thingName: s.thingName, clientId: s.clientId, certificateId: s.certificateId, attributes: s.attributes, certificateContext }, sessionId: s.id };
    },
    release(sessionId) {
      manager.closeById(sessionId);
    },
  };
}

/** The first certificate of a chain the session manager has already accepted. */
function leafDer(pem: string): Uint8Array {
  const r = readPemBlocks(pem); // the whole chain: the session manager has accepted it, and bounded its size
  if (!r.ok || r.blocks.length === 0) throw new Error('the certificate chain has no certificate');
  return r.blocks[0]!.der;
}
