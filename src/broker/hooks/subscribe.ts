import type { Client, Subscription } from 'aedes';
import { decidePacket, deciding, logDenial, type BrokerContext } from '../context.js';

/**
 * SUBSCRIBE: each filter of the packet is checked on its own as `mqtt:subscribe` on
 * `mqtt:topicfilter:<filter>`, compared as a literal string (Greengrass semantics).
 * A denied filter gets SUBACK 0x80 (MQTT 5: 0x87 "Not authorized", which aedes sends for
 * the same answer; it has no way to add a Reason String to a SUBACK); the others are granted. aedes also calls this when
 * it restores a persistent session's subscriptions, so those are re-checked too: a
 * restored filter that is no longer allowed is removed from the session's store, so no
 * message is queued for it any more.
 */
export function authorizeSubscribeHook(ctx: BrokerContext) {
  return (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void => {
    const session = ctx.sessions.ofClient(client);
    const filter = sub.topic;
    const { allowed, reason, decision } = decidePacket(ctx, session, 'mqtt:subscribe', 'mqtt:topicfilter:', filter);
    if (allowed) {
      session!.grant(filter);
      ctx.logger.debug({ event: 'allowed', thingName: session!.identity.thingName, operation: 'mqtt:subscribe', filter }, 'subscribe allowed');
      return callback(null, sub);
    }
    logDenial(ctx, session, { clientId: client.id, operation: 'mqtt:subscribe', resource: 'mqtt:topicfilter:' + filter, reason, ...deciding(decision) }, 'subscription denied');
    if (!client.clean && client.id) {
      ctx.store.removeSubscriptions(client, [filter]).catch((e: unknown) =>
        ctx.logger.error({ event: 'error', clientId: client.id, err: (e as Error).message }, 'could not remove a denied subscription from the session store'));
    }
    callback(null, null);
  };
}
