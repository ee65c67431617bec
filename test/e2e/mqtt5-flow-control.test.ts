/**
 * MQTT 5 flow control end to end: the gateway's Maximum Packet Size and Receive Maximum
 * announced in CONNACK and enforced on what clients send (DISCONNECT 0x95 / 0x93), and the
 * client's own Maximum Packet Size and Receive Maximum from CONNECT honoured on what the
 * gateway sends (MQTT 5.0 §3.1.2.11.3, §3.1.2.11.4, §3.2.2.3.3, §3.2.2.3.6, §3.3.4).
 * Real clients: MQTT.js `protocolVersion: 5`, `mosquitto_pub`/`mosquitto_sub -V 5`, and a
 * raw mqtt-packet connection where a client has to break the flow on purpose.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket, IDisconnectPacket, IPublishPacket, Packet } from 'mqtt-packet';
import { GatewayProcess, connectDevice, type Device } from '../helpers/gateway.js';
import { RawConnection } from '../helpers/raw-mqtt.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { nextMessage, waitForEvent, waitUntil } from '../helpers/wait.js';

const hasMosquittoClients = spawnSync('mosquitto_pub', ['--help'], { encoding: 'utf8' }).error === undefined;
const skipMosquitto = !hasMosquittoClients && !process.env['CI'] ? 'mosquitto_pub/mosquitto_sub not installed (apt-get install mosquitto-clients)' : false;

const MAX_PACKET = 2048;
const RECEIVE_MAXIMUM = 5;
const PACKET_TOO_LARGE = 0x95;
const RECEIVE_MAXIMUM_EXCEEDED = 0x93;

const CONFIG = `
deviceGroups:
  definitions:
    All: { selectionRule: "thingName: fc-*", policyName: Open }
  policies:
    Open:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      PubSub: { operations: [mqtt:publish, mqtt:subscribe], resources: ["mqtt:topic:fc/*", "mqtt:topicfilter:fc/*"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1, maxPacketSizeBytes: ${MAX_PACKET}, receiveMaximum: ${RECEIVE_MAXIMUM} }
`;

/** An MQTT.js v5 client recording every packet it receives, from the CONNACK on. */
interface V5 {
  readonly client: MqttClient;
  readonly packets: Packet[];
  readonly connack: Promise<IConnackPacket>;
  /** Payloads of the PUBLISH packets received, in order. */
  payloads(): string[];
}

function v5(url: string, d: Device, opts: IClientOptions = {}): V5 {
  const client = mqtt.connect(url, { clientId: d.name, key: d.key, cert: d.cert, ca: d.ca, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts });
  client.on('error', () => {});
  const packets: Packet[] = [];
  client.on('packetreceive', (p) => packets.push(p));
  const connack = waitForEvent<[IConnackPacket]>(client as unknown as EventEmitter, 'connect').then(([p]) => p);
  return { client, packets, connack, payloads: () => packets.filter((p): p is IPublishPacket => p.cmd === 'publish').map((p) => p.payload.toString()) };
}

/**
 * A point in the connection's stream after everything the broker had written to it: a
 * SUBACK answers a SUBSCRIBE sent now, and TCP keeps the order, so any delivery the broker
 * wrote before it has been received when this resolves.
 */
async function barrier(c: V5, topic: string): Promise<void> {
  await c.client.subscribeAsync(topic, { qos: 0 });
}

/** A publish of `n` bytes. */
const bytes = (n: number): Buffer => Buffer.alloc(n, 0x61);

describe('MQTT 5 flow control: Maximum Packet Size and Receive Maximum', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  const open: MqttClient[] = [];
  const client = (d: Device, opts: IClientOptions = {}): V5 => {
    const c = v5(gw.mqttUrl, d, opts);
    open.push(c.client);
    return c;
  };

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
  });
  after(async () => {
    for (const c of open) c.end(true);
    await gw?.stop();
    await dir?.cleanup();
  });

  test('CONNACK announces gatehouse.mqtt.maxPacketSizeBytes as Maximum Packet Size and gatehouse.mqtt.receiveMaximum as Receive Maximum', async () => {
    const c = client(await gw.device('fc-connack'));
    const ack = await c.connack;
    assert.equal(ack.reasonCode, 0);
    assert.equal(ack.properties?.maximumPacketSize, MAX_PACKET);
    assert.equal(ack.properties?.receiveMaximum, RECEIVE_MAXIMUM);
  });

  test('a packet over the limit from a connected MQTT 5 client is answered DISCONNECT 0x95 Packet too large', async () => {
    const c = client(await gw.device('fc-big-in'));
    await c.connack;
    const disconnect = waitForEvent<[IDisconnectPacket]>(c.client as unknown as EventEmitter, 'disconnect');
    c.client.publish('fc/in', bytes(MAX_PACKET), { qos: 1 });
    const [packet] = await disconnect;
    assert.equal(packet.reasonCode, PACKET_TOO_LARGE);
    await waitForEvent(c.client as unknown as EventEmitter, 'close');
    // A packet at the limit is accepted.
    const ok = client(await gw.device('fc-big-in-2'));
    await ok.connack;
    const fits = MAX_PACKET - 2 /* topic length */ - 'fc/in'.length - 2 /* packet id */ - 1 /* properties */ - 4 /* fixed header */;
    await ok.client.publishAsync('fc/in', bytes(fits), { qos: 1 });
    assert.equal(ok.client.connected, true);
  });

  test('mosquitto_pub -V 5 reads the announced Maximum Packet Size and refuses to send a larger message itself', { skip: skipMosquitto }, async () => {
    const d = await gw.device('fc-mosq-pub');
    const u = new URL(gw.mqttUrl);
    const base = ['-V', '5', '-d', '-h', 'localhost', '-p', u.port, '--cafile', d.caPath, '--cert', d.certPath, '--key', d.keyPath, '-i', d.name, '-t', 'fc/mosq', '-q', '1'];
    const big = await run('mosquitto_pub', [...base, '-m', 'a'.repeat(MAX_PACKET)]);
    assert.match(big.stdout, /received CONNACK \(0\)/);
    assert.doesNotMatch(big.stdout, /sending PUBLISH/, 'the oversized message never leaves the client');
    const small = await run('mosquitto_pub', [...base, '-m', 'small']);
    assert.equal(small.code, 0, small.stderr);
    assert.match(small.stdout, /received PUBACK/);
  });

  test('a message larger than the Maximum Packet Size a subscriber announced is not sent to it; smaller ones are, and other subscribers get both', async () => {
    const limited = client(await gw.device('fc-small-sub'), { properties: { maximumPacketSize: 600 } });
    await limited.connack;
    await limited.client.subscribeAsync('fc/out', { qos: 1 });
    const other = await connectDevice(gw.mqttUrl, await gw.device('fc-big-sub'));
    open.push(other);
    await other.subscribeAsync('fc/out', { qos: 1 });
    const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-out-pub'), { protocolVersion: 5 });
    open.push(pub);
    const toOther = nextMessage(other, (m) => m.payload.startsWith('aaaa'));
    const small = nextMessage(limited.client, (m) => m.payload === 'small');
    await pub.publishAsync('fc/out', bytes(1000), { qos: 1 });
    await pub.publishAsync('fc/out', 'small', { qos: 1 });
    await small;
    await toOther;
    assert.deepEqual(limited.payloads(), ['small'], 'only the message that fits was sent');
    // At QoS 0 (the subscription's QoS) as well.
    await limited.client.subscribeAsync('fc/out0', { qos: 0 });
    const small0 = nextMessage(limited.client, (m) => m.payload === 'small0');
    await pub.publishAsync('fc/out0', bytes(1000), { qos: 1 });
    await pub.publishAsync('fc/out0', 'small0', { qos: 1 });
    await small0;
    assert.deepEqual(limited.payloads(), ['small', 'small0']);
    assert.equal(limited.client.connected, true);
  });

  test('a retained message larger than the Maximum Packet Size a subscriber announced is not sent to it at SUBSCRIBE', async () => {
    const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-ret-pub'), { protocolVersion: 5 });
    open.push(pub);
    await pub.publishAsync('fc/ret-big', bytes(1000), { qos: 1, retain: true });
    await pub.publishAsync('fc/ret-small', 'small', { qos: 1, retain: true });
    const limited = client(await gw.device('fc-ret-sub'), { properties: { maximumPacketSize: 600 } });
    await limited.connack;
    await limited.client.subscribeAsync('fc/ret-big', { qos: 1 });
    const small = nextMessage(limited.client, (m) => m.payload === 'small');
    await limited.client.subscribeAsync('fc/ret-small', { qos: 1 });
    await small;
    assert.deepEqual(limited.payloads(), ['small']);
    assert.equal(limited.client.connected, true);
  });

  test('mosquitto_sub -V 5 -D connect maximum-packet-size: a stored message larger than that is not sent at reconnect, a smaller one is', { skip: skipMosquitto }, async () => {
    const d = await gw.device('fc-mosq-sub');
    const u = new URL(gw.mqttUrl);
    const base = ['-V', '5', '-h', 'localhost', '-p', u.port, '--cafile', d.caPath, '--cert', d.certPath, '--key', d.keyPath, '-i', d.name,
      '-t', 'fc/mosq-out', '-q', '1', '-c', '-x', '300', '-D', 'connect', 'maximum-packet-size', '600'];
    // -E: subscribe, then leave the session behind (session expiry 300 s).
    const subscribed = await run('mosquitto_sub', [...base, '-E']);
    assert.equal(subscribed.code, 0, subscribed.stderr);
    const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-mosq-out-pub'), { protocolVersion: 5 });
    open.push(pub);
    await pub.publishAsync('fc/mosq-out', bytes(1000), { qos: 1 });
    await pub.publishAsync('fc/mosq-out', 'small', { qos: 1 });
    const got = await run('mosquitto_sub', [...base, '-C', '1']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, 'small\n');
  });

  test('a persistent session\'s stored message larger than its Maximum Packet Size is dropped at reconnect, not sent', async () => {
    const d = await gw.device('fc-stored');
    const opts: IClientOptions = { clean: false, properties: { sessionExpiryInterval: 300, maximumPacketSize: 600 } };
    const first = client(d, opts);
    await first.connack;
    await first.client.subscribeAsync('fc/stored', { qos: 1 });
    await first.client.endAsync();
    const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-stored-pub'), { protocolVersion: 5 });
    open.push(pub);
    await pub.publishAsync('fc/stored', bytes(1000), { qos: 1 });
    await pub.publishAsync('fc/stored', 'small', { qos: 1 });
    const again = client(d, opts);
    assert.equal((await again.connack).sessionPresent, true);
    await nextMessage(again.client, (m) => m.payload === 'small');
    await barrier(again, 'fc/barrier');
    assert.deepEqual(again.payloads(), ['small']);
    assert.equal(again.client.connected, true);
  });

  // MQTT.js processes the packets it receives one at a time and holds the next until the
  // previous is acknowledged, so a subscriber that holds its acknowledgements is a raw one.
  test('no more unacknowledged QoS 1 deliveries than the subscriber\'s Receive Maximum: the rest wait and follow as it acknowledges', async () => {
    const d = await gw.device('fc-rm-sub');
    const c = await RawConnection.open(gw.mqttUrl, d, 5);
    try {
      await c.connect(d.name, { properties: { receiveMaximum: 2 } });
      await subscribeRaw(c, 'fc/rm', 1);
      const witness = await connectDevice(gw.mqttUrl, await gw.device('fc-rm-witness'));
      open.push(witness);
      await witness.subscribeAsync('fc/rm', { qos: 1 });
      const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-rm-pub'), { protocolVersion: 5 });
      open.push(pub);
      const routed = nextMessage(witness, (m) => m.payload === 'm5');
      for (let i = 1; i <= 5; i++) await pub.publishAsync('fc/rm', `m${i}`, { qos: 1 });
      await routed;
      await subscribeRaw(c, 'fc/barrier', 0);
      assert.deepEqual(publishes(c), ['m1', 'm2'], 'two in flight, the others held back');
      for (let n = 3; n <= 5; n++) {
        c.send({ cmd: 'puback', messageId: publishIds(c)[n - 3]! });
        await c.waitFor(isPublish, n);
      }
      await subscribeRaw(c, 'fc/barrier2', 0);
      assert.deepEqual(publishes(c), ['m1', 'm2', 'm3', 'm4', 'm5'], 'nothing lost, order kept');
    } finally {
      c.end();
    }
  });

  test('a persistent session\'s stored queue is sent within the Receive Maximum at reconnect too', async () => {
    const d = await gw.device('fc-rm-stored');
    const props = { sessionExpiryInterval: 300, receiveMaximum: 2 };
    const first = await RawConnection.open(gw.mqttUrl, d, 5);
    await first.connect(d.name, { properties: props });
    await subscribeRaw(first, 'fc/rm-stored', 1);
    first.send({ cmd: 'disconnect' });
    await first.closedWithin();
    const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-rm-stored-pub'), { protocolVersion: 5 });
    open.push(pub);
    for (let i = 1; i <= 5; i++) await pub.publishAsync('fc/rm-stored', `s${i}`, { qos: 1 });
    const c = await RawConnection.open(gw.mqttUrl, d, 5);
    try {
      const ack = await c.connect(d.name, { clean: false, properties: props }) as IConnackPacket;
      assert.equal(ack.sessionPresent, true);
      await c.waitFor(isPublish, 2);
      await subscribeRaw(c, 'fc/barrier', 0);
      assert.deepEqual(publishes(c), ['s1', 's2'], 'two in flight, the others held back');
      for (let n = 3; n <= 5; n++) {
        c.send({ cmd: 'puback', messageId: publishIds(c)[n - 3]! });
        await c.waitFor(isPublish, n);
      }
      await subscribeRaw(c, 'fc/barrier2', 0);
      assert.deepEqual(publishes(c), ['s1', 's2', 's3', 's4', 's5']);
    } finally {
      c.end();
    }
  });

  test('a stored queue aedes drops at reconnect (Session Expiry Interval 0 now) takes no room in the window: live messages still flow', async () => {
    const d = await gw.device('fc-rm-dropped');
    const first = await RawConnection.open(gw.mqttUrl, d, 5);
    await first.connect(d.name, { properties: { sessionExpiryInterval: 300 } });
    await subscribeRaw(first, 'fc/rm-dropped', 1);
    first.send({ cmd: 'disconnect' });
    await first.closedWithin();
    const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-rm-dropped-pub'), { protocolVersion: 5 });
    open.push(pub);
    for (let i = 1; i <= 3; i++) await pub.publishAsync('fc/rm-dropped', `old${i}`, { qos: 1 });
    const c = await RawConnection.open(gw.mqttUrl, d, 5);
    try {
      // Clean Start 0 resumes the session, Session Expiry Interval 0 ends it with this
      // connection: aedes drops the stored messages instead of sending them.
      const ack = await c.connect(d.name, { clean: false, properties: { receiveMaximum: 2 } }) as IConnackPacket;
      assert.equal(ack.sessionPresent, true);
      await subscribeRaw(c, 'fc/barrier', 0);
      for (let i = 1; i <= 3; i++) await pub.publishAsync('fc/rm-dropped', `new${i}`, { qos: 1 });
      await c.waitFor(isPublish, 2);
      c.send({ cmd: 'puback', messageId: publishIds(c)[0]! });
      await c.waitFor(isPublish, 3);
      assert.deepEqual(publishes(c), ['new1', 'new2', 'new3']);
    } finally {
      c.end();
    }
  });

  test('a QoS 2 delivery the subscriber refuses with PUBREC 0x80 frees its slot of the Receive Maximum', async () => {
    const limited = client(await gw.device('fc-rec-sub'), {
      properties: { receiveMaximum: 1 },
      customHandleAcks: (_topic, _message, _packet, done) => done(null as unknown as Error, 0x80),
    });
    await limited.connack;
    await limited.client.subscribeAsync('fc/rec', { qos: 2 });
    const pub = await connectDevice(gw.mqttUrl, await gw.device('fc-rec-pub'), { protocolVersion: 5 });
    open.push(pub);
    for (let i = 1; i <= 3; i++) await pub.publishAsync('fc/rec', `r${i}`, { qos: 2 });
    // MQTT.js emits no `message` for a delivery it refused: its packets are the event.
    await waitUntil(() => limited.payloads().length === 3, 5000, 'the third delivery');
    assert.deepEqual(limited.payloads(), ['r1', 'r2', 'r3']);
  });

  test(`an MQTT 5 client with more than ${RECEIVE_MAXIMUM} QoS 2 messages awaiting PUBREL gets DISCONNECT 0x93 Receive Maximum exceeded; a PUBREL frees a slot`, async () => {
    const qos2 = (messageId: number): Packet => ({ cmd: 'publish', topic: 'fc/q2', payload: Buffer.from('x'), qos: 2, messageId, retain: false, dup: false });
    const isPubrec = (p: Packet): boolean => p.cmd === 'pubrec';
    const d = await gw.device('fc-q2');
    const c = await RawConnection.open(gw.mqttUrl, d, 5);
    try {
      const ack = await c.connect(d.name) as IConnackPacket;
      assert.equal(ack.properties?.receiveMaximum, RECEIVE_MAXIMUM);
      c.send(...Array.from({ length: RECEIVE_MAXIMUM }, (_, i) => qos2(i + 1)));
      await c.waitFor(isPubrec, RECEIVE_MAXIMUM);
      c.send({ cmd: 'pubrel', messageId: 1 });
      await c.waitFor((p) => p.cmd === 'pubcomp');
      c.send(qos2(RECEIVE_MAXIMUM + 1));
      await c.waitFor(isPubrec, RECEIVE_MAXIMUM + 1);
      // The window is full again: one more.
      c.send(qos2(RECEIVE_MAXIMUM + 2));
      await c.waitFor((p) => p.cmd === 'disconnect');
      assert.equal((c.received.find((p) => p.cmd === 'disconnect') as IDisconnectPacket).reasonCode, RECEIVE_MAXIMUM_EXCEEDED);
      await c.closedWithin();
      assert.equal(c.received.filter(isPubrec).length, RECEIVE_MAXIMUM + 1, 'no PUBREC for the message over the limit');
    } finally {
      c.end();
    }
  });

  test('MQTT 3.1.1 is unchanged: no limit announced, the same QoS 2 messages are accepted', async () => {
    const qos2 = (messageId: number): Packet => ({ cmd: 'publish', topic: 'fc/q2', payload: Buffer.from('x'), qos: 2, messageId, retain: false, dup: false });
    const d = await gw.device('fc-q2-311');
    const c = await RawConnection.open(gw.mqttUrl, d, 4);
    try {
      await c.connect(d.name);
      c.send(...Array.from({ length: RECEIVE_MAXIMUM + 2 }, (_, i) => qos2(i + 1)));
      await c.waitFor((p) => p.cmd === 'pubrec', RECEIVE_MAXIMUM + 2);
      assert.equal(c.isClosed, false);
    } finally {
      c.end();
    }
  });
});

const isPublish = (p: Packet): boolean => p.cmd === 'publish';
const publishes = (c: RawConnection): string[] => c.received.filter((p): p is IPublishPacket => p.cmd === 'publish').map((p) => p.payload.toString());
const publishIds = (c: RawConnection): number[] => c.received.filter((p): p is IPublishPacket => p.cmd === 'publish').map((p) => p.messageId!);
let nextSubscribeId = 1;

/** SUBSCRIBE on a raw connection and wait for its SUBACK (also a point after every delivery written before it). */
async function subscribeRaw(c: RawConnection, topic: string, qos: 0 | 1 | 2): Promise<void> {
  const messageId = nextSubscribeId++;
  c.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] });
  await c.waitFor((p) => p.cmd === 'suback' && p.messageId === messageId);
}

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const t = setTimeout(() => p.kill(), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
