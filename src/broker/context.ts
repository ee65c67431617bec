import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyStore } from '../runtime/policy-store.js';
import { CombinedView, type Decision, type IotContext, type Principal } from '../core/index.js';
import type { DeviceIdentity, LiveSession, LiveSessions } from './live-sessions.js';
import type { SessionStore } from './persistence.js';
import type { RetainedKeeper } from './retained.js';
import { isReserved, isShareTopic } from './topics.js';

export type AuthOutcome =
  | { readonly ok: true; readonly identity: DeviceIdentity; readonly sessionId: string }
  | { readonly ok: false; readonly reason: string; readonly message: string };

export type ScreenOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string; readonly message: string; readonly certificateId?: string };

/**
 * What the broker needs from the identity layer: turn (client ID, certificate chain)
 * into a verified identity with a session, and release that session.
 */
export interface DeviceAuthenticator {
  /**
   * Right after the TLS handshake, before any MQTT byte is read: is this a registered,
   * active certificate attached to at least one thing? No session is created; the
   * CONNECT checks (client ID, policy) still follow.
   */
  screen(certificateChainPem: string): Promise<ScreenOutcome>;
  authenticate(clientId: string, certificateChainPem: string): Promise<AuthOutcome>;
  release(sessionId: string): void;
}

/**
 * What the broker needs from the registry to re-check a persistent session whose device
 * is not connected: the identity it would connect with. The client ID is the thing name,
 * so this is the thing's name and attributes; undefined when no such thing exists.
 */
export interface OfflineIdentities {
  identityOf(clientId: string): Promise<Principal | undefined>;
}

/** Everything the hooks share. Built once by the broker; hooks hold no other state. */
export interface BrokerContext {
  readonly policy: PolicyStore;
  readonly authenticator: DeviceAuthenticator;
  readonly sessions: LiveSessions;
  /** Subscriptions and queued messages of persistent sessions (aedes' persistence). */
  readonly store: SessionStore;
  readonly offlineIdentities: OfflineIdentities;
  /**
   * The certificate and connection context each persistent session's device last
   * connected with, so a disconnected session can be re-checked under AWS IoT policies
   * (which depend on them). In memory, bounded by the number of persistent sessions.
   */
  readonly lastConnections: Map<string, { readonly certificateId: string; readonly context: IotContext }>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
  /** Durable retained messages and their limits; absent: in memory only. */
  readonly retained?: RetainedKeeper;
  /**
   * `gatehouse.mqtt.reasonStrings`: refusals to MQTT 5 clients carry a Reason String naming
   * the refusal (its reason code, never policy text). Off by default.
   */
  readonly reasonStrings: boolean;
}

/** Logs a denial with everything an operator needs, rate-limited per connection. */
export function logDenial(ctx: BrokerContext, s: LiveSession | undefined, fields: Record<string, unknown>, msg: string): void {
  const feed = ctx.metrics.denialFeed;
  feed.count(String(fields['reason']));
  let suppressed = 0;
  if (s) {
    suppressed = s.takeDenialLogSlot(ctx.now());
    if (suppressed < 0) return;
    if (suppressed > 0) fields = { ...fields, suppressedDenials: suppressed };
    fields = { thingName: s.identity.thingName, clientId: s.identity.clientId, certificateId: s.identity.certificateId, ...fields };
  }
  ctx.logger.info({ event: 'denied', ...fields }, msg);
  const text = (k: string): string | undefined => (typeof fields[k] === 'string' ? fields[k] : undefined);
  feed.record({
    at: ctx.now(), operation: String(fields['operation']), reason: String(fields['reason']), suppressed,
    clientId: text('clientId'), thingName: text('thingName'), certificateId: text('certificateId'), resource: text('resource'),
    dialect: text('dialect'), policy: text('policy'), statement: text('statement'), action: text('action'),
  });
}

/**
 * One publish or subscribe decision for a connection: no session or a reserved topic
 * (and for a publish, a topic under `$share/`, which only names shared subscriptions)
 * denies before the policy is asked; every outcome is counted.
 */
export function decidePacket(ctx: BrokerContext, session: LiveSession | undefined, operation: 'mqtt:publish' | 'mqtt:subscribe', prefix: string, name: string, retain = false): { allowed: boolean; reason: string; decision?: Decision } {
  if (session === undefined) {
    ctx.metrics.denials[operation]++;
    return { allowed: false, reason: 'NO_SESSION' };
  }
  const view = session.view;
  const d = isReserved(name) || (operation === 'mqtt:publish' && isShareTopic(name)) ? undefined : retain && view instanceof CombinedView ? view.decideRetained(name) : view.decide(operation, prefix + name);
  const allowed = d?.allowed ?? false;
  ctx.metrics.authorization(operation, allowed);
  return d === undefined ? { allowed, reason: 'RESERVED_TOPIC' } : { allowed, reason: d.reason, decision: d };
}

/** The deciding policy of a decision, for a log line (the dialect, policy, statement and action when known). */
export function deciding(d: Decision | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (d === undefined) return out;
  if (d.dialect !== undefined) out['dialect'] = d.dialect;
  if (d.policy !== undefined) out['policy'] = d.policy;
  if (d.statement !== undefined) out['statement'] = d.statement;
  if (d.action !== undefined) out['action'] = d.action;
  return out;
}
