import type { Client, PublishPacket } from 'aedes';
import { logDenial, type BrokerContext } from '../context.js';
import { DROP_TOPIC, isReserved } from '../topics.js';

/**
 * PUBLISH: `mqtt:publish` on `mqtt:topic:<topic>` for every message.
 *
 * A denied message is dropped and the client stays connected. MQTT 3.1.1 has no
 * negative PUBACK and aedes closes the connection when this hook reports an error, so
 * a denied packet is redirected to a reserved topic nobody can subscribe to, with its
 * retain flag cleared, and accepted: a QoS 1 publisher receives a normal PUBACK and the
 * message goes nowhere (as with Mosquitto under 3.1.1). The operator sees the denial in
 * the log.
 */
export function authorizePublishHook(ctx: BrokerContext) {
  return (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void => {
    const session = ctx.sessions.ofClient(client);
    const topic = packet.topic;
    let allowed = false;
    let reason = 'NO_SESSION';
    if (session !== undefined) {
      if (isReserved(topic)) reason = 'RESERVED_TOPIC';
      else {
        const d = session.view.decide('mqtt:publish', 'mqtt:topic:' + topic);
        allowed = d.allowed;
        reason = d.reason;
      }
      ctx.metrics.authorization('mqtt:publish', allowed);
    }
    if (allowed) {
      if (ctx.logger.isLevelEnabled('debug')) ctx.logger.debug({ event: 'allowed', thingName: session!.identity.thingName, operation: 'mqtt:publish', topic }, 'publish allowed');
      return callback(null);
    }
    if (session === undefined) ctx.metrics.denials['mqtt:publish']++;
    logDenial(ctx, session, { clientId: client?.id, operation: 'mqtt:publish', resource: 'mqtt:topic:' + topic, reason }, 'publish denied; message dropped');
    packet.topic = DROP_TOPIC;
    packet.retain = false;
    callback(null);
  };
}
