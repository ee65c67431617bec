import { CombinedView, type PolicySnapshot } from '../core/index.js';
import type { BrokerContext } from './context.js';
import type { SessionView } from './live-sessions.js';
import { receivable } from './receive.js';

export interface OfflineRecheckResult {
  /** Persistent sessions without a connection that were re-checked. */
  readonly sessions: number;
  readonly subscriptionsRemoved: number;
  /** Queued messages removed because the session may no longer receive them. */
  readonly messagesDropped: number;
  /** A newer snapshot was swapped in meanwhile; its own re-check takes over. */
  readonly superseded: boolean;
}

/**
 * Re-checks the persistent sessions (clean session 0) whose device is not connected,
 * after a swap, as recheckSessions does for connected ones. A session's identity is the
 * one its device would connect with: client ID = thing name, attributes from the
 * registry.
 *
 * Order, per session: no such thing, or no longer allowed `mqtt:connect` -> every stored
 * subscription is removed; otherwise each filter no longer allowed `mqtt:subscribe` is
 * removed. Then every queued message whose topic no remaining filter matches is removed
 * from the session's queue. From then on aedes queues nothing for the removed filters,
 * and what is left would be delivered only after the forward hook's check at reconnect.
 *
 * Asynchronous (the session store's interface is), one session at a time; a session
 * whose identity cannot be read (registry error) is left as it is and logged: its
 * messages are still checked when it reconnects.
 */
export async function recheckOffline(ctx: BrokerContext, snapshot: PolicySnapshot): Promise<OfflineRecheckResult> {
  const connected = new Set<string>();
  for (const s of ctx.sessions) connected.add(s.identity.clientId);
  let sessions = 0;
  let subscriptionsRemoved = 0;
  let messagesDropped = 0;
  for (const clientId of ctx.store.persistentClientIds()) {
    if (ctx.policy.current !== snapshot) return { sessions, subscriptionsRemoved, messagesDropped, superseded: true };
    if (connected.has(clientId)) continue;
    try {
      let principal;
      try {
        principal = await ctx.offlineIdentities.identityOf(clientId);
      } catch (e) {
        ctx.logger.error({ event: 'error', clientId, err: (e as Error).message }, 'could not read the identity of a persistent session; it is checked again when the device reconnects');
        continue;
      }
      sessions++;
      const ref = { id: clientId };
      let view: SessionView | undefined;
      let refusal = 'THING_NOT_FOUND';
      if (principal !== undefined) {
        // Under AWS IoT policies the decision depends on the certificate and the connection
        // (policy variables, conditions): known only from the device's last connection in
        // this process. Without it the session is left alone; its messages are still
        // checked when it reconnects.
        const last = ctx.lastConnections.get(clientId);
        const v = last !== undefined ? snapshot.connectionView(principal, last.certificateId, last.context, ctx.now) : snapshot.view(principal);
        if (last === undefined && needsConnection(snapshot, v)) continue;
        const d = v.decide('mqtt:connect', `mqtt:clientId:${clientId}`);
        if (d.allowed) view = v;
        else refusal = d.reason;
      }
      const kept: string[] = [];
      const removed: { filter: string; reason: string }[] = [];
      for (const sub of await ctx.store.storedSubscriptions(ref)) {
        const d = view?.decide('mqtt:subscribe', 'mqtt:topicfilter:' + sub.topic);
        if (d?.allowed) kept.push(sub.topic);
        else removed.push({ filter: sub.topic, reason: d?.reason ?? refusal });
      }
      // Under IoT policies iot:Receive may refuse queued messages with every filter kept.
      if (removed.length === 0 && !(view instanceof CombinedView)) continue;
      if (removed.length > 0) await ctx.store.removeSubscriptions(ref, removed.map((r) => r.filter));
      subscriptionsRemoved += removed.length;
      for (const r of removed) {
        ctx.logger.info({ event: 'unsubscribed', thingName: principal?.thingName, clientId, offline: true, operation: 'mqtt:subscribe', resource: 'mqtt:topicfilter:' + r.filter, reason: r.reason },
          'policy change: subscription of a disconnected persistent session no longer allowed; removed');
      }
      for (const p of await ctx.store.queued(ref)) {
        if (p.cmd !== 'publish') continue;
        if (view !== undefined && receivable(view, kept, p.topic)) continue;
        if (await ctx.store.removeQueued(ref, p) === undefined) continue;
        messagesDropped++;
        ctx.metrics.deliveriesDropped.not_allowed++;
        if (ctx.logger.isLevelEnabled('debug')) {
          ctx.logger.debug({ event: 'delivery-dropped', thingName: principal?.thingName, clientId, topic: p.topic, reason: 'not_allowed', offline: true },
            'queued message removed: the persistent session may no longer receive this topic');
        }
      }
    } catch (e) {
      // One session that cannot be checked (an undecodable certificate, a store error)
      // must not leave the others unchecked; its messages are still decided at delivery.
      ctx.logger.error({ event: 'error', clientId, err: (e as Error).message }, 'could not re-check a disconnected persistent session; it is checked again when the device reconnects');
    }
  }
  return { sessions, subscriptionsRemoved, messagesDropped, superseded: false };
}

/**
 * True when AWS IoT policies could apply to this device beyond what its Greengrass view
 * says: the site has IoT policies, or one of its device groups names some.
 */
function needsConnection(snapshot: PolicySnapshot, view: SessionView): boolean {
  if (snapshot.iot !== undefined && snapshot.iot.set.size > 0) return true;
  return 'groups' in view && view.groups.some((g) => g.iotPolicies !== undefined);
}
