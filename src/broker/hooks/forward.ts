import type { AedesPublishPacket, Client } from 'aedes';
import type { BrokerContext } from '../context.js';
import { topicMatchesFilter } from '../topics.js';

/**
 * Delivery (live, retained and queued messages). Synchronous and on the hot path, so it
 * does nothing unless a re-check has just revoked one of the receiver's subscriptions:
 * until aedes has removed it, a message is delivered only if a filter the receiver
 * still holds matches it. Connections without a session receive nothing.
 */
export function authorizeForwardHook(ctx: BrokerContext) {
  return (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const session = ctx.sessions.ofClient(client);
    if (session === undefined) return null;
    if (session.revoking.size === 0) return packet;
    for (const f of session.filters) if (topicMatchesFilter(packet.topic, f)) return packet;
    return null;
  };
}
