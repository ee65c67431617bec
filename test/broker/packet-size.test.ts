import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AedesPublishPacket } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { publishPacketSize } from '../../src/broker/packet-size.js';

/** What aedes writes: mqtt-packet's MQTT 5 encoding of the PUBLISH at that QoS. */
function encoded(p: AedesPublishPacket, qos: 0 | 1 | 2): number {
  return mqttPacket.generate({ cmd: 'publish', topic: p.topic, payload: p.payload, qos, dup: false, retain: p.retain, ...(qos > 0 ? { messageId: 65535 } : {}), ...(p.properties ? { properties: p.properties } : {}) }, { protocolVersion: 5 }).length;
}

test('publishPacketSize is the size mqtt-packet encodes, for every QoS, with and without properties, across the remaining-length boundaries', () => {
  const packets: AedesPublishPacket[] = [];
  for (const payloadBytes of [0, 1, 100, 120, 121, 122, 16_370, 16_383, 16_384, 70_000]) {
    for (const topic of ['a', 'devices/thing-1/telemetry', 'ü/€']) {
      const base = { cmd: 'publish', topic, payload: Buffer.alloc(payloadBytes, 1), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: 1 } as unknown as AedesPublishPacket;
      packets.push(base);
      packets.push({ ...base, properties: { topicAlias: undefined } });
      packets.push({ ...base, properties: { messageExpiryInterval: 60, subscriptionIdentifier: 300, userProperties: { k: ['v1', 'v2'] }, contentType: 'text/plain', correlationData: Buffer.from('abc') } });
    }
  }
  for (const p of packets) {
    for (const qos of [0, 1, 2] as const) assert.equal(publishPacketSize(p, qos), encoded(p, qos), `${p.topic} ${p.payload.length} bytes QoS ${qos} ${JSON.stringify(p.properties ?? null)}`);
  }
});

test('a string payload counts its UTF-8 bytes', () => {
  const p = { cmd: 'publish', topic: 't', payload: 'é€', qos: 0, retain: false, dup: false } as unknown as AedesPublishPacket;
  assert.equal(publishPacketSize(p, 0), mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from('é€'), qos: 0, dup: false, retain: false }, { protocolVersion: 5 }).length);
});
