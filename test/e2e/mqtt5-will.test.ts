/**
 * MQTT 5 wills with a Will Delay Interval, session expiry and user properties, end to end
 * with MQTT.js (`protocolVersion: 5`): a delayed will is authorized again when it is
 * published, with the policy in force then (one whose permission was revoked during the
 * delay is not published); an expired session is gone at the next connection; user
 * properties travel with authorized messages only and change no decision, and the packet
 * size limits bound what they can make the gateway hold.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket, IPubackPacket, IPublishPacket, ISubackPacket, Packet } from 'mqtt-packet';
import { GatewayProcess, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const NOT_AUTHORIZED = 0x87;

const config = (willsAllowed = true): string => `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: DevicePolicy }
  policies:
    DevicePolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Pub: { operations: [mqtt:publish], resources: ["mqtt:topic:ok/*"${willsAllowed ? ', "mqtt:topic:will/*"' : ''}] }
      Sub: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:ok/#", "mqtt:topicfilter:will/#"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

interface V5 {
  readonly client: MqttClient;
  readonly packets: Packet[];
  readonly got: IPublishPacket[];
}

describe('MQTT 5 wills, session expiry and user properties', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  const open: MqttClient[] = [];

  /** Connects (resolves at CONNACK, accepted or not) and records every packet. */
  async function v5(d: Device, opts: IClientOptions = {}): Promise<V5> {
    const client = mqtt.connect(gw.mqttUrl, { clientId: d.name, key: d.key, cert: d.cert, ca: d.ca, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts });
    open.push(client);
    client.on('error', () => {});
    const packets: Packet[] = [];
    const got: IPublishPacket[] = [];
    client.on('packetreceive', (p) => {
      packets.push(p);
      if (p.cmd === 'publish') got.push(p);
    });
    await waitUntil(() => packets.some((p) => p.cmd === 'connack') || client.disconnected || (client as unknown as { disconnecting: boolean }).disconnecting, 5000, 'CONNACK');
    return { client, packets, got };
  }
  const connack = (c: V5): IConnackPacket | undefined => c.packets.find((p): p is IConnackPacket => p.cmd === 'connack');

  /** A watcher subscribed to will/# and ok/#. */
  async function watcher(name: string): Promise<V5> {
    const w = await v5(await gw.device(name));
    await w.client.subscribeAsync(['will/#', 'ok/#'], { qos: 1 });
    return w;
  }

  /** Ends a connection without DISCONNECT, as a device losing power would. */
  function drop(c: V5): void {
    (c.client.stream as { destroy(): void }).destroy();
  }

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, config());
  });
  after(async () => {
    for (const c of open) c.end(true);
    await gw?.stop();
    await dir?.cleanup();
  });

  test('a delayed will is published after its delay, authorized again then, with its user properties', async () => {
    const w = await watcher('dev-w1');
    const d = await v5(await gw.device('dev-d1'), {
      properties: { sessionExpiryInterval: 30 },
      will: { topic: 'will/dev-d1', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 1, userProperties: { cause: 'power' } } },
    });
    assert.equal(connack(d)?.reasonCode, 0);
    const mark = gw.lines.length;
    const dropped = Date.now();
    drop(d);
    await waitUntil(() => w.got.some((p) => p.topic === 'will/dev-d1'), 10_000, 'the delayed will');
    const elapsed = Date.now() - dropped;
    assert.ok(elapsed >= 900, `published after its delay (${elapsed} ms)`);
    const will = w.got.find((p) => p.topic === 'will/dev-d1')!;
    assert.equal(will.payload.toString(), 'gone');
    assert.deepEqual({ ...will.properties?.userProperties }, { cause: 'power' });
    await gw.waitForLog((l) => l.includes('"will published"') && l.includes('dev-d1'), 5000, mark);
  });

  test('a will whose permission is revoked during its delay is not published', async () => {
    const w = await watcher('dev-w2');
    const d = await v5(await gw.device('dev-d2'), {
      properties: { sessionExpiryInterval: 30 },
      // Long enough for the reload (its settle interval included) on a loaded machine.
      will: { topic: 'will/dev-d2', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 8 } },
    });
    assert.equal(connack(d)?.reasonCode, 0);
    drop(d);
    const mark = gw.lines.length;
    await gw.writeConfig(config(false));
    await gw.waitForLog((l) => l.includes('"event":"recheck"'), 15_000, mark);
    const denied = JSON.parse(await gw.waitForLog((l) => l.includes('"event":"denied"') && l.includes('"will":true') && l.includes('dev-d2'), 25_000, mark)) as Record<string, unknown>;
    assert.deepEqual([denied['resource'], denied['reason']], ['mqtt:topic:will/dev-d2', 'NO_MATCHING_STATEMENT']);
    // The watcher's connection is still served: a message after the will's time reaches it, the will never did.
    const p = await v5(await gw.device('dev-p2'));
    await p.client.publishAsync('ok/after', 'after', { qos: 1 });
    await waitUntil(() => w.got.some((m) => m.topic === 'ok/after'), 5000, 'a later message');
    assert.equal(w.got.some((m) => m.topic === 'will/dev-d2'), false);
    const restored = gw.lines.length;
    await gw.writeConfig(config());
    await gw.waitForLog((l) => l.includes('"event":"recheck"'), 15_000, restored);
  });

  test('a delayed will of a device whose certificate is revoked during the delay is not published', async () => {
    const w = await watcher('dev-w4');
    const dev = await gw.device('dev-d4');
    const d = await v5(dev, {
      properties: { sessionExpiryInterval: 30 },
      // Long enough for the CLI to start and revoke on a loaded machine.
      will: { topic: 'will/dev-d4', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 10 } },
    });
    assert.equal(connack(d)?.reasonCode, 0);
    drop(d);
    const mark = gw.lines.length;
    assert.equal((await gw.cli(['certs', 'revoke', dev.certificateId])).code, 0);
    const denied = JSON.parse(await gw.waitForLog((l) => l.includes('"event":"denied"') && l.includes('"will":true') && l.includes('dev-d4'), 30_000, mark)) as Record<string, unknown>;
    assert.equal(denied['reason'], 'CERT_REVOKED');
    const p = await v5(await gw.device('dev-p4'));
    await p.client.publishAsync('ok/after4', 'after', { qos: 1 });
    await waitUntil(() => w.got.some((m) => m.topic === 'ok/after4'), 5000, 'a later message');
    assert.equal(w.got.some((m) => m.topic === 'will/dev-d4'), false);
  });

  test('session expiry is honoured: a session resumes within its Session Expiry Interval and is gone after it', async () => {
    const d = await gw.device('dev-e1');
    const first = await v5(d, { clean: false, properties: { sessionExpiryInterval: 1 } });
    await first.client.subscribeAsync('ok/#', { qos: 1 });
    const mark = gw.lines.length;
    await first.client.endAsync();
    await gw.waitForLog((l) => l.includes('"event":"session-expired"') && l.includes('dev-e1'), 10_000, mark);
    const again = await v5(d, { clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal(connack(again)?.sessionPresent, false, 'the expired session is not resumed');
    await again.client.subscribeAsync('ok/#', { qos: 1 });
    await again.client.endAsync();
    const third = await v5(d, { clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal(connack(third)?.sessionPresent, true, 'within its interval the session is resumed');
  });

  test('user properties travel with authorized messages only and change no decision', async () => {
    const w = await watcher('dev-w3');
    const d = await v5(await gw.device('dev-u1'), { properties: { userProperties: { role: 'admin', bypass: 'true' } } });
    assert.equal(connack(d)?.reasonCode, 0);
    await d.client.publishAsync('ok/u', 'with props', { qos: 1, properties: { userProperties: { trace: 'abc', list: ['1', '2'] } } });
    await waitUntil(() => w.got.some((p) => p.topic === 'ok/u'), 5000, 'the allowed message');
    assert.deepEqual({ ...w.got.find((p) => p.topic === 'ok/u')?.properties?.userProperties }, { trace: 'abc', list: ['1', '2'] });
    // Denied whatever the properties say: PUBACK 0x87, not delivered; SUBACK 0x87.
    await d.client.publishAsync('secret/u', 'x', { qos: 1, properties: { userProperties: { role: 'admin', authorized: 'yes' } } }).catch(() => undefined);
    assert.equal(d.packets.filter((p): p is IPubackPacket => p.cmd === 'puback').at(-1)?.reasonCode, NOT_AUTHORIZED);
    await d.client.subscribeAsync('secret/#', { qos: 1, properties: { userProperties: { role: 'admin' } } }).catch(() => undefined);
    assert.deepEqual(d.packets.filter((p): p is ISubackPacket => p.cmd === 'suback').at(-1)?.granted, [NOT_AUTHORIZED]);
    // A device that may not connect cannot talk its way in.
    const other = await gw.device('other-u2');
    const refused = await v5(other, { properties: { userProperties: { role: 'admin' } } });
    assert.equal(connack(refused)?.reasonCode, NOT_AUTHORIZED);
    assert.equal(w.got.some((p) => p.topic.startsWith('secret/')), false);
  });

  test('the packet size limits bound user properties: a CONNECT over maxConnectPacketSizeBytes is closed before it is read, a PUBLISH over maxPacketSizeBytes closes the connection', async () => {
    // A property string holds at most 65,535 bytes: many of them.
    const big = (bytes: number): Record<string, string[]> => ({ pad: Array.from({ length: Math.ceil(bytes / 30_000) }, () => 'x'.repeat(30_000)) });
    const mark = gw.lines.length;
    const c = mqtt.connect(gw.mqttUrl, { ...(await creds('dev-l1')), protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, properties: { userProperties: big(70 * 1024) } });
    open.push(c);
    c.on('error', () => {});
    const got: Packet[] = [];
    c.on('packetreceive', (p) => got.push(p));
    await new Promise<void>((resolve) => c.once('close', () => resolve()));
    assert.deepEqual(got, [], 'no CONNACK: closed as soon as the length was read');
    const closed = JSON.parse(await gw.waitForLog((l) => l.includes('"event":"connection-closed"') && l.includes('MQTT_PACKET_TOO_LARGE'), 5000, mark)) as Record<string, unknown>;
    assert.equal(closed['reason'], 'MQTT_PACKET_TOO_LARGE');

    const d = await v5(await gw.device('dev-l2'));
    assert.equal(connack(d)?.reasonCode, 0);
    const gone = new Promise<void>((resolve) => d.client.once('close', () => resolve()));
    d.client.publish('ok/big', 'x', { qos: 0, properties: { userProperties: big(300 * 1024) } });
    await gone;
  });

  async function creds(name: string): Promise<IClientOptions> {
    const d = await gw.device(name);
    return { clientId: d.name, key: d.key, cert: d.cert, ca: d.ca };
  }
});
