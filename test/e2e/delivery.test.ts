import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { GatewayProcess, connectDevice, openReader, waitForClose, type Device, type Reader } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Authorization at the moment of delivery: a message a session may no longer receive is
 * never written to its socket and never stays queued for it — live, queued for an
 * offline persistent session, retained on subscribe, or resent at reconnect.
 */

const GRANTED = '"mqtt:topicfilter:public/#", "mqtt:topicfilter:allowed/#"';
const REVOKED = '"mqtt:topicfilter:allowed/#"';
const UNRELATED = '"mqtt:topicfilter:public/#", "mqtt:topicfilter:allowed/#", "mqtt:topicfilter:other/#"';

const CONFIG = (readerFilters: string): string => `
deviceGroups:
  definitions:
    Readers: { selectionRule: "thingName: reader-*", policyName: ReaderPolicy }
    Writers: { selectionRule: "thingName: writer-*", policyName: WriterPolicy }
  policies:
    ReaderPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Read: { operations: [mqtt:subscribe], resources: [${readerFilters}] }
    WriterPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Write: { operations: [mqtt:publish], resources: ["mqtt:topic:*"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  # The retained-message test stores 200 KiB payloads (above the 128 KiB default).
  retained: { maxPayloadBytes: 262144 }
`;

/** A reader with a persistent session (clean session 0) unless `opts` says otherwise. */
function openPersistent(url: string, d: Device, opts: IClientOptions = {}): Promise<Reader> {
  return openReader(url, d, { clean: false, ...opts });
}

describe('delivery is authorized at the moment of delivery (real gateway, MQTT.js, real TLS)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let writer: MqttClient;
  let policy = GRANTED;
  const device = (name: string): Promise<Device> => gw.device(name);

  /** Writes the readers' filters and waits until live (and disconnected persistent) sessions were re-checked. */
  const setPolicy = async (filters: string): Promise<{ recheck: string; offline: Record<string, unknown> }> => {
    assert.notEqual(filters, policy, 'the test must change the policy');
    policy = filters;
    const mark = gw.lines.length;
    await gw.writeConfig(CONFIG(filters));
    const recheck = await gw.waitForLog((l) => l.includes('"event":"recheck"'), 10000, mark);
    const offline = await gw.waitForLog((l) => l.includes('"event":"recheck-offline"'), 10000, mark);
    return { recheck, offline: JSON.parse(offline) as Record<string, unknown> };
  };
  const ensurePolicy = async (filters: string): Promise<void> => {
    if (policy !== filters) await setPolicy(filters);
  };
  const droppedLines = (clientId: string, from = 0): Record<string, unknown>[] =>
    gw.lines.slice(from).filter((l) => l.includes('"event":"delivery-dropped"') && l.includes(`"clientId":"${clientId}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
  const scrapeDropped = async (): Promise<number> => {
    const r = await fetch(`${gw.apiUrl}/metrics`, { headers: { authorization: `Bearer ${await gw.apiToken()}` } });
    const text = await r.text();
    const m = /^gatehouse_deliveries_dropped_total\{reason="not_allowed"\} (\d+)$/m.exec(text);
    assert.ok(m, 'gatehouse_deliveries_dropped_total{reason="not_allowed"} is exported');
    return Number(m[1]);
  };

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG(GRANTED));
    writer = await connectDevice(gw.mqttUrl, await device('writer-1'));
  });
  after(async () => {
    await writer?.endAsync();
    await gw?.stop();
    await dir?.cleanup();
  });

  test('an offline persistent session whose grant is removed gets nothing queued before or after the change, and its queue is emptied', async () => {
    await ensurePolicy(GRANTED);
    const d = await device('reader-offline');
    const first = await openPersistent(gw.mqttUrl, d);
    await first.client.subscribeAsync(['public/#', 'allowed/#'], { qos: 1 });
    await first.client.endAsync();

    await writer.publishAsync('public/a', 'before-change', { qos: 1 });
    const droppedBefore = await scrapeDropped();
    const { offline } = await setPolicy(REVOKED);
    // The re-check reached the disconnected session: its subscription and its queued message are gone.
    assert.equal(offline['subscriptionsRemoved'], 1);
    assert.equal(offline['messagesDropped'], 1);
    assert.equal(await scrapeDropped() - droppedBefore, 1);
    await writer.publishAsync('public/a', 'after-change', { qos: 1 });
    await writer.publishAsync('allowed/x', 'marker-1', { qos: 1 });

    // Queued messages are delivered in order, so the marker proves the queue was sent.
    const second = await openPersistent(gw.mqttUrl, d);
    await second.next('marker-1');
    assert.deepEqual(second.got.map((m) => m.payload), ['marker-1']);
    await second.client.endAsync();

    // Granting the filter again brings nothing back: the messages were removed, not hidden.
    await setPolicy(GRANTED);
    const third = await openPersistent(gw.mqttUrl, d);
    await third.client.subscribeAsync('public/#', { qos: 1 });
    await third.client.endAsync();
    await writer.publishAsync('allowed/x', 'marker-2', { qos: 1 });
    const fourth = await openPersistent(gw.mqttUrl, d);
    await fourth.next('marker-2');
    assert.deepEqual(fourth.got.map((m) => m.payload), ['marker-2']);
    await fourth.client.endAsync();
  });

  test('a live subscriber whose grant is removed receives nothing more on it, and keeps what is still allowed', async () => {
    await ensurePolicy(GRANTED);
    const r = await openPersistent(gw.mqttUrl, await device('reader-live'), { clean: true });
    await r.client.subscribeAsync(['public/#', 'allowed/#'], { qos: 1 });
    await writer.publishAsync('public/a', 'live-before', { qos: 1 });
    await r.next('live-before');

    await setPolicy(REVOKED);
    for (let i = 0; i < 20; i++) await writer.publishAsync('public/a', `live-after-${i}`, { qos: i % 2 === 0 ? 0 : 1 });
    // Same publisher, same subscriber: delivered in order, so the marker bounds the wait.
    await writer.publishAsync('allowed/x', 'live-marker', { qos: 1 });
    await r.next('live-marker');
    assert.deepEqual(r.got.map((m) => m.payload), ['live-before', 'live-marker']);
    assert.equal(r.client.connected, true);
    await r.client.endAsync();
  });

  test('a QoS 1 message in flight (unacknowledged) is not resent at reconnect once the grant is removed', async () => {
    await ensurePolicy(GRANTED);
    const d = await device('reader-inflight');
    const first = await openPersistent(gw.mqttUrl, d);
    // Never acknowledge: the message stays in flight in the persistent session.
    first.client.handleMessage = () => undefined;
    await first.client.subscribeAsync(['public/#', 'allowed/#'], { qos: 1 });
    await writer.publishAsync('public/a', 'in-flight', { qos: 1 });
    await first.next('in-flight');

    // Revoked while the device is connected (live re-check), then it reconnects.
    await setPolicy(REVOKED);
    first.client.end(true);
    await waitForClose(first.client);
    await writer.publishAsync('allowed/x', 'inflight-marker', { qos: 1 });

    const mark = gw.lines.length;
    const second = await openPersistent(gw.mqttUrl, d);
    await second.next('inflight-marker');
    assert.deepEqual(second.got.map((m) => m.payload), ['inflight-marker']);
    // It was dropped at the delivery check, at reconnect, and removed from the queue.
    const drops = droppedLines('reader-inflight', mark);
    assert.deepEqual(drops.map((l) => [l['topic'], l['reason']]), [['public/a', 'not_allowed']]);
    await second.client.endAsync();
    await writer.publishAsync('allowed/x', 'inflight-marker-2', { qos: 1 });
    const mark2 = gw.lines.length;
    const third = await openPersistent(gw.mqttUrl, d);
    await third.next('inflight-marker-2');
    assert.deepEqual(third.got.map((m) => m.payload), ['inflight-marker-2']);
    assert.equal(droppedLines('reader-inflight', mark2).length, 0, 'the dropped message left the queue');
    await third.client.endAsync();
  });

  test('retained messages being sent after SUBSCRIBE stop at the policy change', async () => {
    await ensurePolicy(GRANTED);
    // Enough retained data that the gateway must wait for a reader that does not read.
    const count = 100;
    const payload = Buffer.alloc(200 * 1024, 0x61);
    for (let i = 0; i < count; i++) await writer.publishAsync(`public/retained/${i}`, payload, { qos: 1, retain: true });

    const r = await openPersistent(gw.mqttUrl, await device('reader-retained'), { clean: true });
    let received = 0;
    r.client.on('message', (topic, _p, packet) => {
      if (topic.startsWith('public/retained/') && packet.retain) received++;
    });
    const mark = gw.lines.length;
    r.client.subscribe('public/#', { qos: 0 });
    // Stop reading: the gateway sends until the socket is full, then waits.
    r.client.stream.pause();
    await gw.waitForLog((l) => l.includes('"event":"allowed"') && l.includes('"filter":"public/#"'), 5000, mark);
    await setPolicy(REVOKED);
    r.client.stream.resume();
    // Every retained message is either delivered (sent before the change) or dropped.
    await waitUntil(() => received + droppedLines('reader-retained', mark).length >= count, 15000,
      'every retained message delivered or dropped').catch((e: Error) => assert.fail(`${e.message}: ${received} delivered, ${droppedLines('reader-retained', mark).length} dropped of ${count}`));
    assert.ok(received < count, 'messages sent after the change were dropped');
    assert.ok(droppedLines('reader-retained', mark).every((l) => l['reason'] === 'not_allowed'));
    await r.client.endAsync();
    for (let i = 0; i < count; i++) await writer.publishAsync(`public/retained/${i}`, '', { qos: 1, retain: true });
  });

  test('filters denied in a SUBSCRIBE are not stored in the persistent session, so nothing is queued on them', async () => {
    await ensurePolicy(GRANTED);
    const d = await device('reader-mixed');
    const first = await openPersistent(gw.mqttUrl, d);
    // MQTT.js rejects a SUBACK with any refused filter; the packet has the return codes.
    const err = await first.client.subscribeAsync(['secret/#', 'allowed/#'], { qos: 1 }).then(() => undefined, (e: { packet?: { granted: number[] } }) => e);
    assert.deepEqual(err?.packet?.granted, [128, 1]);
    await first.client.endAsync();
    await writer.publishAsync('secret/x', 'secret', { qos: 1 });
    await writer.publishAsync('allowed/x', 'mixed-marker', { qos: 1 });
    const mark = gw.lines.length;
    const second = await openPersistent(gw.mqttUrl, d);
    await second.next('mixed-marker');
    assert.deepEqual(second.got.map((m) => m.payload), ['mixed-marker']);
    assert.equal(droppedLines('reader-mixed', mark).length, 0, 'the secret message was never queued');
    await second.client.endAsync();
  });

  test('a session that is still allowed keeps receiving, live and queued, across a policy change (no false drops)', async () => {
    await ensurePolicy(GRANTED);
    const d = await device('reader-kept');
    const mark = gw.lines.length;
    const first = await openPersistent(gw.mqttUrl, d);
    await first.client.subscribeAsync(['public/#', 'allowed/#'], { qos: 1 });
    await writer.publishAsync('public/k', 'kept-1', { qos: 1 });
    await first.next('kept-1');
    await setPolicy(UNRELATED);
    await writer.publishAsync('public/k', 'kept-2', { qos: 1 });
    await writer.publishAsync('allowed/k', 'kept-3', { qos: 0 });
    await first.next('kept-3');
    await first.client.endAsync();
    await setPolicy(GRANTED);
    await writer.publishAsync('public/k', 'kept-4', { qos: 1 });
    const second = await openPersistent(gw.mqttUrl, d);
    await second.next('kept-4');
    assert.deepEqual([...first.got, ...second.got].map((m) => m.payload), ['kept-1', 'kept-2', 'kept-3', 'kept-4']);
    assert.equal(droppedLines('reader-kept', mark).length, 0);
    await second.client.endAsync();
  });
});
