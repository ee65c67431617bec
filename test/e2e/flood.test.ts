/**
 * A subscriber that stops reading while publishers flood: the gateway (the real
 * `gatehouse start`, real TLS, MQTT.js clients) drops what is beyond the session's
 * queue (`gatehouse.mqtt.maxQueuedMessages`), counts it in /metrics, keeps delivering
 * to the other sessions, and its RSS stays bounded. With the limit removed (a huge
 * maxQueuedMessages) the stuck session's socket buffer holds the whole flood and the
 * RSS bound fails.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { GatewayProcess, connectDevice } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const MAX_QUEUED = 200;
const PAYLOAD = Buffer.alloc(4096, 0x61);
const PER_PUBLISHER = 5_000; // 2 × 5,000 × 4 KiB = 40 MiB through the gateway
/**
 * Allowed RSS growth. The flood is 40 MiB; the stuck session may hold MAX_QUEUED × 4 KiB
 * (0.8 MiB), and buffers in transit and garbage not yet collected add ~20–25 MiB at the
 * peak. Measured: +23 MiB with the limit, +70 MiB without it (maxQueuedMessages
 * 10,000,000 through GATEHOUSE_TEST_FLOOD_MAX_QUEUED).
 */
const RSS_BOUND_MIB = 40;

const CONFIG = `
deviceGroups:
  definitions:
    Flooders: { selectionRule: "thingName: flooder-*", policyName: FloodPolicy }
  policies:
    FloodPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:flood/*"] }
      Subscribe: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:flood/#"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1, maxQueuedMessages: ${process.env['GATEHOUSE_TEST_FLOOD_MAX_QUEUED'] ?? MAX_QUEUED} }
`;

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]).finally(() => clearTimeout(timer));
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) / 1024;
}

describe('flood with a subscriber that stopped reading', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG, [], {});
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('messages beyond maxQueuedMessages are dropped and counted, other subscribers keep receiving, RSS stays bounded', async () => {
    const [stuckDev, healthyDev, pubA, pubB] = await Promise.all(['flooder-stuck', 'flooder-healthy', 'flooder-a', 'flooder-b'].map((n) => gw.createThing(n)));
    const stuck = await connectDevice(gw.mqttUrl, stuckDev!, { keepalive: 0 });
    const healthy = await connectDevice(gw.mqttUrl, healthyDev!);
    const publishers = [await connectDevice(gw.mqttUrl, pubA!), await connectDevice(gw.mqttUrl, pubB!)];
    try {
      await stuck.subscribeAsync('flood/#', { qos: 0 });
      // Stop reading: MQTT.js reads by piping the TLS socket; unpipe and pause it.
      const sock = stuck.stream as unknown as Socket;
      sock.unpipe();
      sock.pause();
      let healthyGot = 0;
      healthy.on('message', () => healthyGot++);
      await healthy.subscribeAsync('flood/#', { qos: 0 });

      const pid = gw.pid!;
      const rssBefore = rssMiB(pid);
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(pid))), 50);
      try {
        await Promise.all(publishers.map(async (p, k) => {
          for (let i = 0; i < PER_PUBLISHER; i++) {
            // Respect the publisher's own socket: wait when MQTT.js says its buffer is full.
            if (!p.publish(`flood/data-${k}`, PAYLOAD, { qos: 0 }) as unknown as boolean) await new Promise((r) => setImmediate(r));
            if (i % 500 === 499) await new Promise((r) => setImmediate(r));
          }
          // The broker answers a QoS 1 PUBLISH after routing it, and reads a connection's
          // packets in order: this PUBACK means the whole flood of this publisher has
          // been routed. Were the stuck session holding up routing, it would come only
          // after aedes's 60 s drain timeout ended that session: the deadline is 30 s.
          await withDeadline(p.publishAsync(`flood/end-${k}`, 'end', { qos: 1 }), 30_000, `publisher ${k}: flood not routed`);
        }));
      } finally {
        clearInterval(sampler);
      }
      rssPeak = Math.max(rssPeak, rssMiB(pid));
      // The healthy subscriber shares this process with the publishers and may fall
      // behind too (then it is limited like any slow reader): it only has to be served.
      assert.ok(healthyGot > 0, 'the healthy subscriber received messages');

      const res = await fetch(`${gw.apiUrl}/metrics`, { headers: { authorization: `Bearer ${await gw.apiToken()}` } });
      const text = await res.text();
      const dropped = Number(/^gatehouse_mqtt_queue_dropped_messages_total\{qos="0"\} (\d+)/m.exec(text)?.[1] ?? NaN);
      const growth = rssPeak - rssBefore;
      process.stderr.write(`# flood: RSS ${rssBefore.toFixed(1)} → peak ${rssPeak.toFixed(1)} MiB, ${dropped} dropped, healthy subscriber got ${healthyGot}\n`);
      assert.ok(dropped > 0, `QoS 0 drops counted: ${dropped}`);
      assert.ok(gw.lines.some((l) => l.includes('"event":"queue-full"') && l.includes('flooder-stuck')), 'the first drop is logged with the client');
      assert.ok(growth < RSS_BOUND_MIB, `RSS grew by ${growth.toFixed(1)} MiB (${rssBefore.toFixed(1)} → ${rssPeak.toFixed(1)}), ${dropped} messages dropped`);
    } finally {
      await Promise.all([stuck, healthy, ...publishers].map((c) => c.endAsync(true).catch(() => undefined)));
    }
  });
});
