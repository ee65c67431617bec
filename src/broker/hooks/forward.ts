import type { AedesPublishPacket, Client } from 'aedes';
import type { BrokerContext } from '../context.js';
import type { DropReason } from '../../observability/metrics.js';
import { mayReceive } from '../receive.js';

/**
 * Delivery: aedes asks this synchronously before it writes any message to a connection —
 * a live message, a retained message sent after SUBSCRIBE, a message queued while a
 * persistent session was offline and a QoS 1/2 message resent at reconnect alike.
 * The decision is `mayReceive` (receive.ts), a cached lookup per session and topic.
 *
 * A refused message is never written. For a persistent session aedes then removes it
 * from the session's queue (outgoingClearMessageId), so it is not tried again. The drop
 * is counted by reason and logged at debug level. Connections without a session receive
 * nothing.
 */
export function authorizeForwardHook(ctx: BrokerContext) {
  return (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const session = ctx.sessions.ofClient(client);
    if (session !== undefined && mayReceive(session, packet.topic)) return packet;
    const reason: DropReason = session === undefined ? 'no_session' : 'not_allowed';
    ctx.metrics.deliveriesDropped[reason]++;
    if (ctx.logger.isLevelEnabled('debug')) {
      ctx.logger.debug({ event: 'delivery-dropped', thingName: session?.identity.thingName, clientId: client.id, topic: packet.topic, qos: packet.qos, reason },
        'message not delivered: the session may not receive this topic');
    }
    return null;
  };
}
