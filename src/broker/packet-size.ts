import mqttPacket from 'mqtt-packet';
import type { AedesPublishPacket } from 'aedes';
import { packetSize } from './front-door.js';

/**
 * The size in bytes of the MQTT 5 PUBLISH packet aedes writes for `packet` at `qos`
 * (fixed header included), for comparison with a client's Maximum Packet Size (MQTT 5.0
 * §3.1.2.11.4). Without properties it is counted; with properties the packet is encoded
 * by mqtt-packet, the encoder aedes writes with, so that every property counts exactly
 * as it will be sent.
 */
export function publishPacketSize(packet: AedesPublishPacket, qos: 0 | 1 | 2): number {
  const payload = packet.payload as Buffer | string | undefined;
  const payloadBytes = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const properties = (packet as { properties?: Record<string, unknown> }).properties;
  if (properties === undefined || Object.values(properties).every((v) => v === undefined)) {
    // Topic (2-byte length + UTF-8), packet identifier at QoS 1/2, property length 0 (1 byte), payload.
    return packetSize(2 + Buffer.byteLength(packet.topic) + (qos > 0 ? 2 : 0) + 1 + payloadBytes);
  }
  return mqttPacket.generate({
    cmd: 'publish', topic: packet.topic, payload: payload ?? Buffer.alloc(0), qos, dup: false, retain: Boolean(packet.retain),
    ...(qos > 0 ? { messageId: 1 } : {}), properties,
  }, { protocolVersion: 5 }).length;
}
