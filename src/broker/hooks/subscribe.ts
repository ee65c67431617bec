import type { Client, Subscription } from 'aedes';
import { decidePacket, logDenial, type BrokerContext } from '../context.js';

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
    const { allowed, reason } = decidePacket(ctx, session, 'mqtt:subscribe', 'mqtt:topicfilter:', filter);
    if (allowed) {
      session!.filters.add(filter);
      session!.revoking.delete(filter);
      ctx.logger.debug({ event: 'allowed', thingName: session!.identity.thingName, operation: 'mqtt:subscribe', filter }, 'subscribe allowed');
      return callback(null, sub);
    }
    logDenial(ctx, session, { clientId: client.id, operation: 'mqtt:subscribe', resource: 'mqtt:topicfilter:' + filter, reason }, 'subscription denied');
    callback(null, null);
  };
}
