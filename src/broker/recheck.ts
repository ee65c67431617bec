import type { PolicySnapshot } from '../core/index.js';
import { certificateReadable } from './hooks/authenticate.js';
import type { BrokerContext } from './context.js';
import type { LiveSession } from './live-sessions.js';
import { endConnection, REASON } from './reason-codes.js';

export interface RecheckResult {
  readonly sessions: number;
  readonly disconnected: number;
  readonly subscriptionsRemoved: number;
}

/**
 * Re-checks every live session against a snapshot (after a configuration swap):
 * a device no longer allowed to connect is disconnected; a subscription no longer
 * allowed is removed server-side (and from the persistent session), and an MQTT 5
 * device that lost one is then disconnected with DISCONNECT 0x87 Not authorized
 * (counted in `disconnected`); an MQTT 3.1.1 device stays connected. Runs synchronously,
 * and the forward hook decides every delivery from the session's view and filters, so
 * no message is delivered under the old decisions once it returns. Persistent sessions
 * that are not connected are re-checked afterwards (recheckOffline).
 *
 * Only the log lines of removed subscriptions come later, in batches between turns of
 * the event loop: writing them is half the work (about 27 µs a line), and with
 * thousands of sessions it would hold up routing for everyone.
 */
export function recheckSessions(ctx: BrokerContext, snapshot: PolicySnapshot): RecheckResult {
  let disconnected = 0;
  let subscriptionsRemoved = 0;
  let sessions = 0;
  const removed: Removed[] = [];
  for (const s of ctx.sessions) {
    sessions++;
    const { identity } = s;
    s.setView(snapshot.connectionView({ thingName: identity.thingName, clientId: identity.clientId, attributes: identity.attributes }, identity.certificateId, s.context, ctx.now));
    // A connection newly under IoT policies whose certificate fields cannot be read is refused (CERT_MALFORMED).
    const d = certificateReadable(s.view, s.context) ? s.view.decide('mqtt:connect', `mqtt:clientId:${identity.clientId}`) : undefined;
    if (!d?.allowed) {
      disconnected++;
      ctx.metrics.authorization('mqtt:connect', false);
      ctx.logger.info({ event: 'disconnected', thingName: identity.thingName, clientId: identity.clientId, operation: 'mqtt:connect', resource: `mqtt:clientId:${identity.clientId}`, reason: d?.reason ?? 'CERT_MALFORMED' },
        'policy change: device no longer allowed to connect; disconnected');
      disconnect(ctx, s, REASON.NOT_AUTHORIZED, d?.reason ?? 'CERT_MALFORMED');
      continue;
    }
    let firstReason: string | undefined;
    for (const filter of [...s.filters]) {
      const fd = s.view.decide('mqtt:subscribe', 'mqtt:topicfilter:' + filter);
      if (fd.allowed) continue;
      subscriptionsRemoved++;
      firstReason ??= fd.reason;
      removed.push({ thingName: identity.thingName, clientId: identity.clientId, filter, reason: fd.reason });
      revokeSubscription(ctx, s, filter);
    }
    // MQTT 5 has no server-initiated UNSUBSCRIBE: an MQTT 5 device that lost a subscription
    // is told so with DISCONNECT 0x87 (its next SUBSCRIBE of the filter gets SUBACK 0x87).
    // An MQTT 3.1.1 device keeps its connection; the filter is removed silently.
    if (firstReason !== undefined && s.client.version === 5) {
      disconnected++;
      ctx.logger.info({ event: 'disconnected', thingName: identity.thingName, clientId: identity.clientId, operation: 'mqtt:subscribe', reason: firstReason },
        'policy change: an MQTT 5 device lost a subscription; disconnected with reason code 0x87');
      disconnect(ctx, s, REASON.NOT_AUTHORIZED, firstReason);
    }
  }
  if (removed.length > 0) setImmediate(() => logInBatches(ctx, removed, 0));
  return { sessions, disconnected, subscriptionsRemoved };
}

interface Removed {
  readonly thingName: string;
  readonly clientId: string;
  readonly filter: string;
  readonly reason: string;
}

/** Log lines of removed subscriptions written per turn of the event loop. */
const LOG_LINES_PER_TURN = 500;

function logInBatches(ctx: BrokerContext, removed: readonly Removed[], from: number): void {
  const to = Math.min(removed.length, from + LOG_LINES_PER_TURN);
  for (let i = from; i < to; i++) {
    const r = removed[i]!;
    ctx.logger.info({ event: 'unsubscribed', thingName: r.thingName, clientId: r.clientId, operation: 'mqtt:subscribe', resource: 'mqtt:topicfilter:' + r.filter, reason: r.reason },
      'policy change: subscription no longer allowed; removed');
  }
  if (to < removed.length) setImmediate(() => logInBatches(ctx, removed, to));
}

/**
 * Ends a live session and its connection. An MQTT 5 client receives DISCONNECT with
 * `reasonCode` (§3.14.2.1) and, when `gatehouse.mqtt.reasonStrings` is true, `reason` as
 * the Reason String; an MQTT 3.1.1 connection is closed.
 */
export function disconnect(ctx: BrokerContext, s: LiveSession, reasonCode: number, reason: string): void {
  if (ctx.sessions.remove(s)) ctx.authenticator.release(s.sessionId);
  endConnection(ctx, s.client, reasonCode, reason);
}

function revokeSubscription(ctx: BrokerContext, s: LiveSession, filter: string): void {
  // From here on mayReceive refuses the filter's messages, before aedes has removed it.
  s.revoke(filter);
  const client = s.client;
  // Without a messageId aedes removes the subscription in memory and sends no UNSUBACK,
  // and leaves the persistent session's stored copy alone.
  client.unsubscribe({ unsubscriptions: [filter] } as never, () => {
    if (client.clean) return;
    ctx.store.removeSubscriptions(client, [filter]).catch((e: unknown) =>
      ctx.logger.error({ event: 'error', clientId: client.id, err: (e as Error).message }, 'could not remove a revoked subscription from the session store'));
  });
}
