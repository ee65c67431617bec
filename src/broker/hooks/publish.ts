import type { Client, PublishPacket } from 'aedes';
import { decidePacket, deciding, logDenial, type BrokerContext } from '../context.js';
import { reasonString } from '../reason-codes.js';
import { DROP_TOPIC } from '../topics.js';
import { isOrphanWill } from '../will-owners.js';
import { decideWill } from '../wills.js';

/**
 * PUBLISH: `mqtt:publish` on `mqtt:topic:<topic>` for every message (for a connection
 * with AWS IoT policies in force, `iot:Publish` on the topic's ARN as well, and
 * `iot:RetainPublish` too when RETAIN is set: see core/policy/combined.ts).
 *
 * A denied message is dropped and the client stays connected. MQTT 3.1.1 has no
 * negative PUBACK and aedes closes the connection when this hook reports an error, so
 * a denied packet is redirected to a reserved topic nobody can subscribe to, with its
 * retain flag cleared, and accepted: a QoS 1 publisher receives a normal PUBACK and the
 * message goes nowhere (as with Mosquitto under 3.1.1). The operator sees the denial in
 * the log.
 *
 * A retained message the retained store cannot take (its payload over
 * `gatehouse.retained.maxPayloadBytes`, or the store full: retained.ts) is refused the
 * same way, reason `RETAINED_PAYLOAD_TOO_LARGE` or `RETAINED_STORE_FULL`: it is neither
 * stored nor delivered, and the publisher sees what a denied publish shows. An empty
 * retained payload (a delete) always passes this check.
 *
 * A will is decided here too when it is published: with the connection's session while
 * it exists, otherwise (a delayed will, or a will published after the session ended) by
 * wills.ts, with the policy in force at that moment.
 *
 * MQTT 5 has negative acknowledgements: for an MQTT 5 client the hook refuses with an
 * error, and aedes answers a QoS 1/2 message with PUBACK/PUBREC 0x87 "Not authorized" and
 * keeps the connection (a QoS 0 message is dropped without a word). aedes sends the
 * error's message as the Reason String: the decision's reason code when
 * `gatehouse.mqtt.reasonStrings` is true, empty (no Reason String) otherwise.
 */
export function authorizePublishHook(ctx: BrokerContext) {
  return (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void => {
    const session = ctx.sessions.ofClient(client);
    // A will published once its connection's session is gone (will delay): wills.ts.
    if (session === undefined && isOrphanWill(client, packet)) return decideWill(ctx, client!, packet, callback);
    const topic = packet.topic;
    const d = decidePacket(ctx, session, 'mqtt:publish', 'mqtt:topic:', topic, packet.retain);
    let { allowed, reason, decision } = d;
    if (allowed && packet.retain && ctx.retained !== undefined) {
      const a = ctx.retained.admit(topic, packet.payload.length);
      if (!a.ok) {
        allowed = false;
        reason = a.reason;
        decision = undefined;
      }
    }
    if (allowed) {
      ctx.metrics.messagesPublished++;
      if (ctx.logger.isLevelEnabled('debug')) ctx.logger.debug({ event: 'allowed', thingName: session!.identity.thingName, operation: 'mqtt:publish', topic }, 'publish allowed');
      return callback(null);
    }
    logDenial(ctx, session, { clientId: client?.id, operation: 'mqtt:publish', resource: 'mqtt:topic:' + topic, reason, ...deciding(decision) }, 'publish denied; message dropped');
    if (client?.version === 5) return callback(new Error(reasonString(ctx, reason)));
    packet.topic = DROP_TOPIC;
    packet.retain = false;
    callback(null);
  };
}
