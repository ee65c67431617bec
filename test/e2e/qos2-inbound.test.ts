import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { GatewayProcess, connectDevice } from '../helpers/gateway.js';
import { RawConnection } from '../helpers/raw-mqtt.js';
import { nextMessage } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp-dir.js';

/**
 * Inbound QoS 2 state of a connection, which the broker keeps per packet identifier
 * until PUBREL: it must be bounded (otherwise a device that never sends PUBREL makes the
 * gateway store up to 65,535 messages per connection; advisory GHSA-5jvp-3p2v-5qgf), and
 * a clean session must start without it (otherwise a message of the new session that
 * reuses an identifier is acknowledged and silently dropped, [MQTT-3.1.2-6]; advisory
 * GHSA-p8r9-qf8w-p73r). aedes 1.2.0 does both (`maxInflightInbound`, default 1000, and
 * `cleanIncoming`); these tests hold every broker upgrade to it.
 */
const CONFIG = `
deviceGroups:
  definitions:
    All: { selectionRule: "thingName: *", policyName: Open }
  policies:
    Open:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      PubSub: { operations: [mqtt:publish, mqtt:subscribe], resources: ["mqtt:topic:q2/*", "mqtt:topicfilter:q2/*"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

/** The broker's default cap on inbound QoS 2 messages awaiting PUBREL, per connection. */
const MAX_INFLIGHT_INBOUND = 1000;

function qos2(messageId: number, topic: string, payload: string): Packet {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 2, messageId, retain: false, dup: false };
}

const isPubrec = (p: Packet): boolean => p.cmd === 'pubrec';

describe('inbound QoS 2 state per connection (raw MQTT 3.1.1 over TLS)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test(`at most ${MAX_INFLIGHT_INBOUND} QoS 2 messages may await PUBREL: a PUBREL frees a slot, one more closes the connection`, async () => {
    const d = await gw.device('flooder-1');
    const c = await RawConnection.open(gw.mqttUrl, d);
    try {
      await c.connect(d.name);
      const batch: Packet[] = [];
      for (let id = 1; id <= MAX_INFLIGHT_INBOUND; id++) batch.push(qos2(id, 'q2/flood', 'x'));
      c.send(...batch);
      await c.waitFor(isPubrec, MAX_INFLIGHT_INBOUND);
      // Completing one frees its slot: the next message is accepted.
      c.send({ cmd: 'pubrel', messageId: 1 });
      await c.waitFor((p) => p.cmd === 'pubcomp' && p.messageId === 1);
      c.send(qos2(MAX_INFLIGHT_INBOUND + 1, 'q2/flood', 'x'));
      await c.waitFor(isPubrec, MAX_INFLIGHT_INBOUND + 1);
      c.send({ cmd: 'pingreq' });
      await c.waitFor((p) => p.cmd === 'pingresp');
      assert.equal(c.isClosed, false);
      // The window is full again: one more is refused by closing the connection.
      c.send(qos2(MAX_INFLIGHT_INBOUND + 2, 'q2/flood', 'x'));
      await c.closedWithin();
      assert.equal(c.received.filter(isPubrec).length, MAX_INFLIGHT_INBOUND + 1, 'no PUBREC for the message over the cap');
    } finally {
      c.end();
    }
    // The gateway itself is unaffected.
    const other = await connectDevice(gw.mqttUrl, await gw.device('flooder-2'));
    await other.endAsync();
  });

  test('a clean session starts without the previous connection\'s QoS 2 identifiers: a message reusing one is delivered', async () => {
    const d = await gw.device('reuser-1');
    const reader = await connectDevice(gw.mqttUrl, await gw.device('reader-1'));
    try {
      await reader.subscribeAsync('q2/reuse', { qos: 2 });
      const first = await RawConnection.open(gw.mqttUrl, d);
      try {
        await first.connect(d.name);
        const got1 = nextMessage(reader);
        first.send(qos2(7, 'q2/reuse', 'first'));
        await first.waitFor(isPubrec);
        assert.equal((await got1).payload.toString(), 'first');
        // Gone without PUBREL: identifier 7 is left awaiting it.
      } finally {
        first.end();
      }
      await first.closed;
      const second = await RawConnection.open(gw.mqttUrl, d);
      try {
        await second.connect(d.name);
        const got2 = nextMessage(reader);
        second.send(qos2(7, 'q2/reuse', 'second'));
        await second.waitFor(isPubrec);
        second.send({ cmd: 'pubrel', messageId: 7 });
        await second.waitFor((p) => p.cmd === 'pubcomp');
        assert.equal((await got2).payload.toString(), 'second', 'the new session\'s message is delivered, not taken for a duplicate');
      } finally {
        second.end();
      }
    } finally {
      await reader.endAsync();
    }
  });
});
