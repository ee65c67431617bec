/**
 * Shared subscriptions (`$share/{ShareName}/{TopicFilter}`, MQTT 5.0 §4.8.2), which
 * Gatehouse serves itself (src/broker/share-groups.ts; aedes 2.0.0-beta.1 refuses them), for
 * MQTT 5 and MQTT 3.1.1 clients alike, as AWS IoT Core does: each message reaches one
 * member of the group; the SUBSCRIBE is authorized on the whole filter, share name
 * included, so a policy allowing `jobs/#` does not allow `$share/workers/jobs/#`; every
 * delivery is authorized for the member that receives it. MQTT.js (`protocolVersion` 5
 * and 4) and `mosquitto_sub -V 5`.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket, IDisconnectPacket, IPubackPacket, ISubackPacket, Packet } from 'mqtt-packet';
import { GatewayProcess, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const hasMosquittoClients = spawnSync('mosquitto_sub', ['--help'], { encoding: 'utf8' }).error === undefined;
const skipMosquitto = !hasMosquittoClients && !process.env['CI'] ? 'mosquitto_pub/mosquitto_sub not installed (apt-get install mosquitto-clients)' : false;

const NOT_AUTHORIZED = 0x87;

const config = (workersMaySubscribe = true): string => `
deviceGroups:
  definitions:
    Workers: { selectionRule: "thingName: w-*", policyName: WorkerPolicy }
    Plain: { selectionRule: "thingName: p-*", policyName: PlainPolicy }
  policies:
    WorkerPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Pub: { operations: [mqtt:publish], resources: ["mqtt:topic:jobs/*", "mqtt:topic:$share/*"] }
${workersMaySubscribe ? '      Sub: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:$share/*"] }\n' : ''}    PlainPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Pub: { operations: [mqtt:publish], resources: ["mqtt:topic:jobs/*"] }
      Sub: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:jobs/#"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

interface Member {
  readonly client: MqttClient;
  readonly packets: Packet[];
  readonly got: string[];
}

describe('shared subscriptions', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  const open: MqttClient[] = [];

  /** A connected client that records every packet and the payloads it receives. */
  async function member(d: Device, opts: IClientOptions = {}): Promise<Member> {
    const client = mqtt.connect(gw.mqttUrl, { clientId: d.name, key: d.key, cert: d.cert, ca: d.ca, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts });
    open.push(client);
    client.on('error', () => {});
    const packets: Packet[] = [];
    const got: string[] = [];
    client.on('packetreceive', (p) => packets.push(p));
    client.on('message', (_t, payload) => got.push(payload.toString()));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('close', () => reject(new Error(`${d.name} could not connect`)));
    });
    return { client, packets, got };
  }

  const subacks = (m: Member): number[][] => m.packets.filter((p): p is ISubackPacket => p.cmd === 'suback').map((p) => p.granted as number[]);

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, config());
  });
  after(async () => {
    for (const c of open) c.end(true);
    await gw?.stop();
    await dir?.cleanup();
  });

  test('two members (MQTT 5 and MQTT 3.1.1) share the messages, one copy each, while an ordinary subscriber gets them all; CONNACK no longer says shared subscriptions are unavailable', async () => {
    const a = await member(await gw.device('w-a'));
    const connack = a.packets.find((p): p is IConnackPacket => p.cmd === 'connack');
    assert.equal(connack?.properties?.sharedSubscriptionAvailable, undefined, 'absent: available (MQTT 5.0 §3.2.2.3.13)');
    const b = await member(await gw.device('w-b'), { protocolVersion: 4 });
    const all = await member(await gw.device('p-all'));
    await a.client.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    await b.client.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    await all.client.subscribeAsync('jobs/#', { qos: 1 });
    assert.deepEqual(subacks(a).at(-1), [1]);
    assert.deepEqual(subacks(b).at(-1), [1]);

    const pub = await member(await gw.device('p-pub'));
    const sent = Array.from({ length: 10 }, (_, i) => `m${i}`);
    for (const m of sent) await pub.client.publishAsync('jobs/work', m, { qos: 1 });
    await waitUntil(() => all.got.length === sent.length && a.got.length + b.got.length >= sent.length, 5000, 'every message delivered');
    assert.deepEqual(all.got, sent, 'the ordinary subscription gets every message');
    assert.deepEqual([...a.got, ...b.got].sort(), [...sent].sort(), 'each message reaches exactly one member');
    assert.ok(a.got.length > 0 && b.got.length > 0, `both members get a share: ${a.got.length} and ${b.got.length}`);
    // Delivered as the publisher sent it, to the topic, not the shared filter.
    const last = a.packets.filter((p) => p.cmd === 'publish').at(-1) as { topic?: string } | undefined;
    assert.equal(last?.topic, 'jobs/work');

    // A member that leaves no longer receives; the other takes every message.
    await b.client.unsubscribeAsync('$share/workers/jobs/#');
    const before = a.got.length;
    for (const m of ['n1', 'n2', 'n3']) await pub.client.publishAsync('jobs/work', m, { qos: 1 });
    await waitUntil(() => a.got.length === before + 3 && all.got.length === sent.length + 3, 5000, 'messages after the unsubscribe');
    assert.deepEqual(a.got.slice(before), ['n1', 'n2', 'n3']);
    assert.equal(b.got.some((m) => m.startsWith('n')), false);
  });

  test('authorization is on the whole filter: jobs/# allowed does not allow $share/workers/jobs/# (SUBACK 0x87 / 0x80); a reserved topic filter is refused in a share too', async () => {
    const plain = await member(await gw.device('p-s1'));
    await plain.client.subscribeAsync(['$share/workers/jobs/#', 'jobs/#'], { qos: 1 }).catch(() => undefined);
    assert.deepEqual(subacks(plain).at(-1), [NOT_AUTHORIZED, 1]);
    const plain4 = await member(await gw.device('p-s2'), { protocolVersion: 4 });
    await plain4.client.subscribeAsync('$share/workers/jobs/#', { qos: 1 }).catch(() => undefined);
    assert.deepEqual(subacks(plain4).at(-1), [0x80]);
    // The worker's policy allows `$share/*`, but $gatehouse/… is reserved, and a share without a name is malformed.
    const w = await member(await gw.device('w-s3'));
    await w.client.subscribeAsync(['$share/x/$gatehouse/#', '$share//jobs/#', '$share/workers/jobs/#'], { qos: 0 }).catch(() => undefined);
    assert.deepEqual(subacks(w).at(-1), [NOT_AUTHORIZED, NOT_AUTHORIZED, 0]);
    assert.equal(w.client.connected, true);
    const denial = JSON.parse(await gw.waitForLog((l) => l.includes('"denied"') && l.includes('$share/x/$gatehouse/#'))) as Record<string, unknown>;
    assert.equal(denial['reason'], 'RESERVED_TOPIC');
    const malformed = JSON.parse(await gw.waitForLog((l) => l.includes('"denied"') && l.includes('$share//jobs/#'))) as Record<string, unknown>;
    assert.equal(malformed['reason'], 'SHARED_FILTER_INVALID');
    // No Local on a shared subscription is forbidden by MQTT 5.0 [MQTT-3.8.3-4].
    await w.client.subscribeAsync('$share/workers/jobs/nl', { qos: 0, nl: true }).catch(() => undefined);
    assert.deepEqual(subacks(w).at(-1), [NOT_AUTHORIZED]);
    const noLocal = JSON.parse(await gw.waitForLog((l) => l.includes('"denied"') && l.includes('$share/workers/jobs/nl'))) as Record<string, unknown>;
    assert.equal(noLocal['reason'], 'SHARED_NO_LOCAL');
    // A topic under $share/ names no message: publishing there is refused whatever the policy says.
    await w.client.publishAsync('$share/workers/jobs/x', 'x', { qos: 1 }).catch(() => undefined);
    const ack = w.packets.filter((p): p is IPubackPacket => p.cmd === 'puback').at(-1);
    assert.equal(ack?.reasonCode, NOT_AUTHORIZED);
  });

  test('mosquitto_sub -V 5: two members split two messages; a refused share prints reason code 135', { skip: skipMosquitto }, async () => {
    const d1 = await gw.device('w-m1');
    const d2 = await gw.device('w-m2');
    const u = new URL(gw.mqttUrl);
    const args = (x: Device, extra: string[]): string[] => ['-h', 'localhost', '-p', u.port, '--cafile', x.caPath, '--cert', x.certPath, '--key', x.keyPath, '-i', x.name, '-V', '5', ...extra];
    const outputs = [d1, d2].map((d) => {
      const child = spawn('mosquitto_sub', args(d, ['-t', '$share/workers/jobs/m', '-q', '1', '-C', '1', '-W', '10']));
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      return new Promise<string>((resolve) => child.on('close', () => resolve(out.trim())));
    });
    const mark = gw.lines.length;
    await waitUntil(() => gw.lines.slice(mark).filter((l) => l.includes('"allowed"') && l.includes('$share/workers/jobs/m')).length === 2, 10_000, 'both mosquitto_sub subscribed');
    const pub = await member(await gw.device('p-mpub'));
    await pub.client.publishAsync('jobs/m', 'first', { qos: 1 });
    await pub.client.publishAsync('jobs/m', 'second', { qos: 1 });
    assert.deepEqual((await Promise.all(outputs)).sort(), ['first', 'second'], 'one message each');

    const d3 = await gw.device('p-m3');
    const refused = await new Promise<string>((resolve) => {
      execFile('mosquitto_sub', args(d3, ['-t', '$share/workers/jobs/#', '-d', '-W', '2']), { timeout: 10_000 }, (_e, stdout, stderr) => resolve(stdout + stderr));
    });
    assert.match(refused, /Subscribed \(mid: 1\): 135/, refused);
  });

  test('a persistent session keeps its shared subscription: after reconnecting it is a member again without subscribing, and gets its QoS 1 messages', async () => {
    const d = await gw.device('w-p1');
    const opts: IClientOptions = { clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await member(d, opts);
    await first.client.subscribeAsync('$share/workers/jobs/p', { qos: 1 });
    await first.client.endAsync();
    const again = await member(d, opts);
    assert.equal(again.packets.find((p): p is IConnackPacket => p.cmd === 'connack')?.sessionPresent, true);
    const pub = await member(await gw.device('p-ppub'));
    for (const m of ['p1', 'p2']) await pub.client.publishAsync('jobs/p', m, { qos: 1 });
    await waitUntil(() => again.got.length === 2, 5000, 'the restored member receives');
    assert.deepEqual(again.got, ['p1', 'p2']);
    assert.ok(again.packets.filter((p) => p.cmd === 'publish').every((p) => (p as { qos?: number }).qos === 1));
  });

  test('a policy change that takes the shared filter away: the MQTT 5 member gets DISCONNECT 0x87, the MQTT 3.1.1 member stays connected and receives no more', async () => {
    const v5 = await member(await gw.device('w-r5'));
    const v4 = await member(await gw.device('w-r4'), { protocolVersion: 4 });
    await v5.client.subscribeAsync('$share/workers/jobs/r', { qos: 1 });
    await v4.client.subscribeAsync('$share/workers/jobs/r', { qos: 1 });
    const mark = gw.lines.length;
    await gw.writeConfig(config(false));
    const dis = await waitUntil(() => v5.packets.some((p) => p.cmd === 'disconnect'), 15_000, 'DISCONNECT').then(() => v5.packets.find((p): p is IDisconnectPacket => p.cmd === 'disconnect'));
    assert.equal(dis?.reasonCode, NOT_AUTHORIZED);
    await gw.waitForLog((l) => l.includes('"event":"unsubscribed"') && l.includes('w-r4'), 5000, mark);
    assert.equal(v4.client.connected, true);
    const pub = await member(await gw.device('p-rpub'));
    await pub.client.publishAsync('jobs/r', 'after', { qos: 1 });
    await v4.client.subscribeAsync('$share/workers/jobs/r', { qos: 1 }).catch(() => undefined);
    assert.deepEqual(subacks(v4).at(-1), [0x80], 'subscribing again is refused');
    assert.deepEqual(v4.got, []);
    const restored = gw.lines.length;
    await gw.writeConfig(config());
    await gw.waitForLog((l) => l.includes('"event":"recheck"'), 15_000, restored);
  });
});

const ARN = 'arn:aws:iot:eu-west-1:123456789012';

describe('shared subscriptions under AWS IoT policies', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let n = 0;
  const open: MqttClient[] = [];

  /** Runs a CLI command and waits until the gateway has applied the registry change it makes. */
  async function change(args: string[]): Promise<void> {
    const from = gw.lines.length;
    const r = await gw.cli(args);
    assert.equal(r.code, 0, `gatehouse ${args.join(' ')}: ${r.stderr}`);
    await gw.waitForLog((l) => l.includes('"event":"iot-policies-applied"') && l.includes('"trigger":"registry"'), 5000, from);
  }
  async function createPolicy(name: string, doc: unknown): Promise<void> {
    const p = join(dir.path, `policy-${++n}.json`);
    await writeFile(p, JSON.stringify(doc));
    await change(['policies', 'create', name, '--file', p]);
  }
  async function device(name: string, policies: string[]): Promise<{ client: MqttClient; got: string[]; granted: (filters: string[]) => Promise<number[]> }> {
    const d = await gw.device(name);
    for (const p of policies) await change(['policies', 'attach', p, '--cert', d.certificateId]);
    const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: name, key: d.key, cert: d.cert, ca: d.ca, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5 });
    open.push(client);
    const got: string[] = [];
    client.on('message', (_t, payload) => got.push(payload.toString()));
    const granted = async (filters: string[]): Promise<number[]> => {
      try {
        return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
      } catch (e) {
        return (e as { packet?: { granted?: number[] } }).packet?.granted ?? [];
      }
    };
    return { client, got, granted };
  }

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, `
deviceGroups:
  definitions: {}
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: eu-west-1, accountId: "123456789012" }
`);
    // iot:Subscribe names the shared filter; iot:Receive the topics of the messages.
    await createPolicy('Workers', {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
        { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/data/*` },
        { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/$share/workers/data/*` },
      ],
    });
    await createPolicy('NoSecrets', { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'iot:Receive', Resource: `${ARN}:topic/data/secret/*` }] });
    await createPolicy('Plain', {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
        { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/data/*` },
        { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/data/*` },
      ],
    });
  });
  after(async () => {
    for (const c of open) c.end(true);
    await gw?.stop();
    await dir?.cleanup();
  });

  test('iot:Subscribe sees topicfilter/$share/{ShareName}/{TopicFilter}; iot:Receive is decided per message for the member it would reach, and a member that may not receive it is passed over', async () => {
    const plain = await device('plain-1', ['Plain']);
    assert.deepEqual(await plain.granted(['$share/workers/data/#', 'data/#']), [NOT_AUTHORIZED, 1], 'topicfilter/data/* does not grant the shared filter');
    const a = await device('wk-a', ['Workers']);
    const b = await device('wk-b', ['Workers', 'NoSecrets']);
    assert.deepEqual(await a.granted(['$share/workers/data/#', '$share/others/data/#']), [1, NOT_AUTHORIZED]);
    assert.deepEqual(await b.granted(['$share/workers/data/#']), [1]);
    const secrets = ['s1', 's2', 's3', 's4'];
    for (const m of secrets) await plain.client.publishAsync('data/secret/x', m, { qos: 1 });
    const open4 = ['o1', 'o2', 'o3', 'o4'];
    for (const m of open4) await plain.client.publishAsync('data/open', m, { qos: 1 });
    await waitUntil(() => a.got.length + b.got.length === 8 && plain.got.length === 8, 5000, 'every message delivered');
    assert.deepEqual(a.got.filter((m) => m.startsWith('s')), secrets, 'the member denied iot:Receive is passed over: the other gets every secret');
    assert.deepEqual(b.got.filter((m) => m.startsWith('s')), []);
    assert.deepEqual([...a.got, ...b.got].filter((m) => m.startsWith('o')).sort(), open4);
    assert.ok(b.got.length > 0, 'the other member still gets its share of what it may receive');
  });
});
