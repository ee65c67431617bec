import type { Client, Subscription } from 'aedes';
import { decidePacket, deciding, logDenial, type BrokerContext } from '../context.js';
import type { SharedSubscriptions } from '../share-groups.js';
import { revealShared } from '../share-names.js';
import { isReserved, parseShared } from '../topics.js';

/**
 * SUBSCRIBE: each filter of the packet is checked on its own as `mqtt:subscribe` on
 * `mqtt:topicfilter:<filter>`, compared as a literal string (Greengrass semantics).
 * A denied filter gets SUBACK 0x80 (MQTT 5: 0x87 "Not authorized", which aedes sends for
 * the same answer; it has no way to add a Reason String to a SUBACK); the others are granted. aedes also calls this when
 * it restores a persistent session's subscriptions, so those are re-checked too: a
 * restored filter that is no longer allowed is removed from the session's store, so no
 * message is queued for it any more.
 *
 * A shared subscription (`$share/{ShareName}/{TopicFilter}`, MQTT 3.1.1 and 5 alike, see
 * share-groups.ts; behaviour and authorization in docs/gateway.md, "Shared
 * subscriptions") is decided the same way, on its whole filter, share name included; it is
 * refused without asking the policy when it is malformed (MQTT 5.0 §4.8.2), sets No Local
 * ([MQTT-3.8.3-4]) or its TopicFilter names a reserved topic. Once granted, the
 * connection joins the shared subscription's members.
 */
export function authorizeSubscribeHook(ctx: BrokerContext, shared?: SharedSubscriptions) {
  return (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void => {
    revealShared(sub);
    const session = ctx.sessions.ofClient(client);
    const filter = sub.topic;
    const parts = parseShared(filter);
    let refusal: string | undefined;
    if (parts === 'invalid') refusal = 'SHARED_FILTER_INVALID';
    else if (parts !== undefined && sub.nl === true) refusal = 'SHARED_NO_LOCAL';
    else if (parts !== undefined && isReserved(parts.topicFilter)) refusal = 'RESERVED_TOPIC';
    const { allowed, reason, decision } = refusal !== undefined ? { allowed: false, reason: refusal, decision: undefined } : decidePacket(ctx, session, 'mqtt:subscribe', 'mqtt:topicfilter:', filter);
    if (refusal !== undefined) ctx.metrics.denials['mqtt:subscribe']++;
    if (allowed) {
      session!.grant(filter);
      if (typeof parts === 'object' && shared !== undefined) {
        const si = (sub as { subscriptionIdentifier?: number }).subscriptionIdentifier;
        shared.join(client, filter, parts, { qos: sub.qos, rap: sub.rap === true, ...(si !== undefined ? { subscriptionIdentifier: si } : {}) });
      }
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
