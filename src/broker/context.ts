import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyStore } from '../runtime/policy-store.js';
import type { DeviceIdentity, LiveSession, LiveSessions } from './live-sessions.js';

export type AuthOutcome =
  | { readonly ok: true; readonly identity: DeviceIdentity; readonly sessionId: string }
  | { readonly ok: false; readonly reason: string; readonly message: string };

/**
 * What the broker needs from the identity layer: turn (client ID, certificate chain)
 * into a verified identity with a session, and release that session.
 */
export interface DeviceAuthenticator {
  authenticate(clientId: string, certificateChainPem: string): Promise<AuthOutcome>;
  release(sessionId: string): void;
}

/** Everything the hooks share. Built once by the broker; hooks hold no other state. */
export interface BrokerContext {
  readonly policy: PolicyStore;
  readonly authenticator: DeviceAuthenticator;
  readonly sessions: LiveSessions;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
}

/** Logs a denial with everything an operator needs, rate-limited per connection. */
export function logDenial(ctx: BrokerContext, s: LiveSession | undefined, fields: Record<string, unknown>, msg: string): void {
  if (s) {
    const suppressed = s.takeDenialLogSlot(ctx.now());
    if (suppressed < 0) return;
    if (suppressed > 0) fields = { ...fields, suppressedDenials: suppressed };
    fields = { thingName: s.identity.thingName, clientId: s.identity.clientId, ...fields };
  }
  ctx.logger.info({ event: 'denied', ...fields }, msg);
}
