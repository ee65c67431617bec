import type { Client, Subscription } from 'aedes';
import { logDenial, type BrokerContext } from '../context.js';
import { isReserved } from '../topics.js';

/**
 * SUBSCRIBE: each filter of the packet is checked on its own as `mqtt:subscribe` on
 * `mqtt:topicfilter:<filter>`, compared as a literal string (Greengrass semantics).
 * A denied filter gets SUBACK 0x80; the others are granted. aedes also calls this when
 * it restores a persistent session's subscriptions, so those are re-checked too.
 */
export function authorizeSubscribeHook(ctx: BrokerContext) {
  return (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void => {
    const session = ctx.sessions.ofClient(client);
    const filter = sub.topic;
    let allowed = false;
    let reason = 'NO_SESSION';
    if (session !== undefined) {
      if (isReserved(filter)) reason = 'RESERVED_TOPIC';
      else {
        const d = session.view.decide('mqtt:subscribe', 'mqtt:topicfilter:' + filter);
        allowed = d.allowed;
        reason = d.reason;
      }
      ctx.metrics.authorization('mqtt:subscribe', allowed);
    }
    if (allowed) {
      session!.filters.add(filter);
      session!.revoking.delete(filter);
      ctx.logger.debug({ event: 'allowed', thingName: session!.identity.thingName, operation: 'mqtt:subscribe', filter }, 'subscribe allowed');
      return callback(null, sub);
    }
    if (session === undefined) ctx.metrics.denials['mqtt:subscribe']++;
    logDenial(ctx, session, { clientId: client.id, operation: 'mqtt:subscribe', resource: 'mqtt:topicfilter:' + filter, reason }, 'subscription denied');
    callback(null, null);
  };
}
