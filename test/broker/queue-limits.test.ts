/**
 * Per-session queue and in-flight limits (src/broker/queue-limits.ts) on a real aedes
 * broker (the pinned version) with real MQTT.js clients over TCP. These tests also pin the aedes
 * internals the limits rely on: per-instance `deliver0`/`deliverQoS` read at delivery
 * time, the forward hook called synchronously inside them and read from
 * `broker.authorizeForward`, and the `ack` event on PUBACK. An aedes upgrade that
 * changes any of these fails here.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Aedes, type Client } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { createFifoMq } from '../../src/broker/mq.js';
import { QueueLimits, QueueLimitsIncompatibleError } from '../../src/broker/queue-limits.js';

interface Harness {
  readonly broker: Aedes;
  readonly limits: QueueLimits;
  readonly url: string;
  readonly drops: { qos: number; first: boolean }[];
  close(): Promise<void>;
}

async function startBroker(maxQueuedMessages: number, maxInflightMessages: number, now?: () => number): Promise<Harness> {
  const broker = await Aedes.createBroker({
    mq: createFifoMq(),
    // Deliveries on deny/... are refused at the moment of delivery.
    authorizeForward: (_client, packet) => (packet.topic.startsWith('deny/') ? null : packet),
  });
  const drops: { qos: number; first: boolean }[] = [];
  const limits = new QueueLimits(broker, { maxQueuedMessages, maxInflightMessages, onDrop: (qos, _c, first) => drops.push({ qos, first }), ...(now ? { now } : {}) });
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    limits.attach(broker.handle(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    broker, limits, drops, url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

function connect(url: string, clientId: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000, ...opts }, false);
}

/**
 * Keeps MQTT.js from sending PUBACKs until the test says so. (Its `handleMessage` hook
 * would also stop it from reading the next packets, so PUBACK writes are held instead.)
 */
function holdPubacks(client: MqttClient, held: (() => void)[]): void {
  type Send = (packet: { cmd: string }, cb?: () => void) => void;
  const c = client as unknown as { _sendPacket: Send };
  const send = c._sendPacket.bind(client);
  c._sendPacket = (packet, cb) => {
    if (packet.cmd !== 'puback') return send(packet, cb);
    held.push(() => send(packet));
    cb?.();
  };
}

function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (pred()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

describe('queue limits on aedes', () => {
  let h: Harness;
  const clients: MqttClient[] = [];
  before(async () => {
    h = await startBroker(20, 5);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await h.close();
  });

  test('QoS 1: at most maxInflightMessages unacknowledged per session; the rest wait and follow in order as PUBACKs arrive; refused deliveries take no room', async () => {
    const held: (() => void)[] = [];
    const qos1: string[] = [];
    const markers: string[] = [];
    const sub = await connect(h.url, 'slow-acker');
    clients.push(sub);
    holdPubacks(sub, held);
    sub.on('message', (topic, payload, packet) => (packet.qos === 1 ? qos1 : markers).push(`${topic} ${payload.toString()}`));
    await sub.subscribeAsync({ 'q/#': { qos: 1 }, 'deny/#': { qos: 1 }, 'marker': { qos: 0 } });
    const observer = await connect(h.url, 'observer');
    clients.push(observer);
    let observed = 0;
    observer.on('message', () => observed++);
    await observer.subscribeAsync('q/#', { qos: 0 });
    const pub = await connect(h.url, 'pub-q1');
    clients.push(pub);
    // Refused at delivery first: if a refused delivery took a window slot, nothing below would arrive.
    for (let i = 0; i < 12; i++) await pub.publishAsync(`deny/${i}`, 'x', { qos: 1 });
    for (let i = 0; i < 15; i++) await pub.publishAsync('q/a', String(i), { qos: 1 });
    await pub.publishAsync('marker', 'm1', { qos: 0 });
    // All 15 have been routed once the observer has them; a PINGREQ answered on the
    // slow acker's own connection after that shows every write made for it so far.
    await until(() => observed === 15, 'the observer');
    await new Promise<void>((resolve) => {
      sub.once('packetreceive', (p) => p.cmd === 'pingresp' && resolve());
      (sub as unknown as { _sendPacket: (p: { cmd: string }) => void })._sendPacket({ cmd: 'pingreq' });
    });
    assert.deepEqual(qos1, ['q/a 0', 'q/a 1', 'q/a 2', 'q/a 3', 'q/a 4'], 'exactly the window (5) is in flight');
    assert.deepEqual(markers, [], 'the QoS 0 marker waits behind the QoS 1 messages (order is kept)');
    // Acknowledge one at a time: each PUBACK lets exactly one more through, in order.
    while (qos1.length < 15 || held.length > 0) {
      const ack = held.shift();
      if (ack) ack();
      await until(() => held.length > 0 || qos1.length === 15, `the next message after an ack (${qos1.length} received, ${held.length} held)`);
      if (qos1.length === 15) for (const a of held.splice(0)) a();
    }
    assert.deepEqual(qos1, Array.from({ length: 15 }, (_, i) => `q/a ${i}`));
    await until(() => markers.length === 1, 'the marker after the QoS 1 messages');
    assert.deepEqual(h.drops, []);
  });

  test('a QoS 1 message that aedes downgrades to QoS 0 (an exact QoS 0 subscription on its topic) takes no room in the window', async () => {
    const got: string[] = [];
    const sub = await connect(h.url, 'overlapping');
    clients.push(sub);
    sub.on('message', (topic) => got.push(topic));
    await sub.subscribeAsync({ 'w/#': { qos: 1 }, 'w/b': { qos: 0 } });
    const pub = await connect(h.url, 'pub-w');
    clients.push(pub);
    for (let i = 0; i < 12; i++) await pub.publishAsync('w/b', 'x', { qos: 1 });
    await pub.publishAsync('w/c', 'last', { qos: 1 });
    await until(() => got.includes('w/c'), 'the message after the downgraded ones');
  });

  test('QoS 1 beyond the window and maxQueuedMessages is dropped and counted', async () => {
    h.drops.length = 0;
    const received: string[] = [];
    const sub = await connect(h.url, 'never-acks');
    clients.push(sub);
    holdPubacks(sub, []);
    sub.on('message', (_t, payload) => received.push(payload.toString()));
    await sub.subscribeAsync({ 'r/#': { qos: 1 } });
    const pub = await connect(h.url, 'pub-r');
    clients.push(pub);
    for (let i = 0; i < 40; i++) await pub.publishAsync('r/a', String(i), { qos: 1 });
    // 5 in flight + 20 waiting; 15 dropped, reported once as the first of a stall.
    await until(() => received.length === 5, 'the window');
    assert.equal(h.drops.length, 15);
    assert.ok(h.drops.every((d) => d.qos === 1));
    assert.deepEqual(h.drops.map((d) => d.first), [true, ...Array<boolean>(14).fill(false)]);
  });

  test('QoS 0 to a subscriber that stopped reading: at most maxQueuedMessages queued, the rest dropped, other sessions unaffected', async () => {
    h.drops.length = 0;
    const stuck = await connect(h.url, 'stuck', { keepalive: 0 });
    clients.push(stuck);
    await stuck.subscribeAsync('flood/#', { qos: 0 });
    // Stop reading: MQTT.js reads by piping the socket; unpipe and pause it.
    const sock = stuck.stream as unknown as Socket;
    sock.unpipe();
    sock.pause();
    const healthy = await connect(h.url, 'healthy');
    clients.push(healthy);
    let healthyGot = 0;
    healthy.on('message', () => healthyGot++);
    await healthy.subscribeAsync('flood/#', { qos: 0 });
    const pub = await connect(h.url, 'pub-flood');
    clients.push(pub);
    const payload = Buffer.alloc(4096, 1);
    const total = 6000; // 24 MiB: far more than the socket buffers of the stuck connection hold
    for (let i = 0; i < total; i++) pub.publish('flood/x', payload, { qos: 0 });
    await pub.publishAsync('flood/end', 'end', { qos: 0 });
    await until(() => healthyGot === total + 1, 'every message at the healthy subscriber', 30_000);
    assert.ok(h.drops.length > 0 && h.drops.every((d) => d.qos === 0), `drops: ${h.drops.length}`);
    const stuckConn = [...Object.values((h.broker as unknown as { clients: Record<string, Client> }).clients)].find((c) => c.id === 'stuck')!.conn as Socket;
    // What the broker holds for the stuck session: its socket's unsent bytes, bounded by the limit.
    const heldBytes = stuckConn.writableLength;
    assert.ok(heldBytes < (20 + 120) * (payload.length + 64), `the stuck session holds ${heldBytes} bytes`);
  });

  test('attach refuses a client without the aedes internals it relies on', () => {
    assert.throws(() => h.limits.attach({ conn: {} } as unknown as Client), QueueLimitsIncompatibleError);
  });
});

describe('MQTT 5 message expiry in the session queue', () => {
  let h: Harness;
  let skewMs = 0;
  const clients: MqttClient[] = [];
  before(async () => {
    // The queue's clock runs ahead of aedes's by skewMs: messages age without waiting.
    h = await startBroker(20, 2, () => Date.now() + skewMs);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await h.close();
  });

  test('a message that expires while it waits for the window is not delivered; the others follow in order', async () => {
    const held: (() => void)[] = [];
    const got: string[] = [];
    const sub = await connect(h.url, 'v5-slow', { protocolVersion: 5 });
    clients.push(sub);
    holdPubacks(sub, held);
    sub.on('message', (_t, payload) => got.push(payload.toString()));
    await sub.subscribeAsync('exp/#', { qos: 1 });
    const pub = await connect(h.url, 'v5-pub', { protocolVersion: 5 });
    clients.push(pub);
    await pub.publishAsync('exp/a', 'fill-1', { qos: 1 });
    await pub.publishAsync('exp/a', 'fill-2', { qos: 1 });
    await until(() => got.length === 2, 'the window (2) in flight');
    // These wait: one expires after 60 s, one never.
    await pub.publishAsync('exp/a', 'expiring', { qos: 1, properties: { messageExpiryInterval: 60 } });
    await pub.publishAsync('exp/a', 'lasting', { qos: 1 });
    await pub.publishAsync('exp/a', 'fresh', { qos: 1, properties: { messageExpiryInterval: 3600 } });
    await until(() => h.limits.size > 0, 'the session is tracked');
    skewMs = 61_000;
    for (;;) {
      for (const a of held.splice(0)) a();
      if (got.includes('fresh')) break;
      await until(() => held.length > 0 || got.includes('fresh'), `deliveries after acks (${got.join(', ')})`);
    }
    assert.deepEqual(got, ['fill-1', 'fill-2', 'lasting', 'fresh']);
    assert.deepEqual(h.drops, [], 'an expired message is not a queue-full drop');
  });
});
