/**
 * Three gateway processes, one private Redis (test/helpers/redis.ts) for routing and
 * broker state, one private PostgreSQL (test/helpers/postgres.ts) for the registry they
 * share; MQTT.js devices over mutual TLS. Between nodes: QoS 0 and 1 messages, retained
 * messages, persistent sessions across a node restart and a reconnection elsewhere, a
 * node killed with SIGKILL (its devices' wills published by another node, once, under
 * the owner's policy in force, MQTT 5 delayed wills after their delay unless the device
 * connects again), a shared subscription with members on two nodes (one copy
 * per message), client-id takeover, iot:Receive decided on the receiving
 * node, and Redis down (refusal, grace, recovery).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { PgRegistry } from '../../src/identity/pg-registry.js';
import { GatewayProcess, connectDevice, openReader, runCli, waitForClose, type Device } from '../helpers/gateway.js';
import { sharedPostgres, type PostgresServer } from '../helpers/postgres.js';
import { sharedRedis, type RedisServer } from '../helpers/redis.js';
import { clusterCa, sharedDevices, type ClusterCa, type SharedDevices } from '../helpers/cluster.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const ARN = 'arn:aws:iot:eu-west-1:123456789012';
const pgServer = await sharedPostgres();
const redisServer = await sharedRedis();
const skip = typeof pgServer === 'string' ? pgServer : typeof redisServer === 'string' ? redisServer : false;
const SCHEMA = 'cluster_redis_e2e';

const nodeConfig = (pgUrl: string, ca: ClusterCa): string => `
${ca.yaml}deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: Devices }
  policies:
    Devices:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Data: { operations: [mqtt:publish, mqtt:subscribe], resources: ["mqtt:topic:t/*", "mqtt:topicfilter:t/*", "mqtt:topicfilter:$share/g1/t/sh/#"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
  iot: { region: eu-west-1, accountId: "123456789012" }
  api: { enabled: false }
  management: { enabled: false }
  jobs: { enabled: false }
  registry:
    url: "${pgUrl}"
    schema: ${SCHEMA}
`;

const clusterConfig = (redisUrl: string, node: string): string => JSON.stringify({
  gatehouse: { cluster: { redis: { url: redisUrl, keyPrefix: 'e2e:', nodeName: node, connectTimeoutMs: 1000, unavailableGraceSeconds: 3, nodeTimeoutSeconds: NODE_TIMEOUT_S } } },
});

/** The nodes' `nodeTimeoutSeconds`: a dead node's wills are published within this and a third of it (docs/cluster.md). */
const NODE_TIMEOUT_S = 2;

/** An AWS IoT policy letting a device connect as its thing and publish on `topic` (a will is a publish). */
const WILL_POLICY = (topic: string): object => ({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/${topic}` },
  ],
});

/** An AWS IoT policy letting a device connect as its thing and subscribe to (and receive) `filter`. */
const LIVE_POLICY = (filter: string): object => ({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/${filter}` },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/${filter}` },
  ],
});

/** A receiver under AWS IoT policies: subscribes to any t/ filter, receives only t/open/ topics. */
const RECEIVER_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/t/*` },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/t/open/*` },
  ],
};

/** The CONNACK return code a connection attempt ends with (0 = accepted). */
async function connackCode(url: string, d: Device, opts: IClientOptions = {}): Promise<number> {
  try {
    const c = await connectDevice(url, d, opts);
    await c.endAsync();
    return 0;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw e;
  }
}

describe('three gateways on one Redis and one PostgreSQL registry', { skip, concurrency: false }, () => {
  const pg = pgServer as PostgresServer;
  const redis = redisServer as RedisServer;
  let dir: { path: string; cleanup: () => Promise<void> };
  const nodes: GatewayProcess[] = [];
  let operator: PgRegistry;
  let devices: SharedDevices;
  /** The cluster's gateway CA (every node's server certificate chains to it). */
  let ca: ClusterCa;
  let serverCas: Buffer;
  const clients: MqttClient[] = [];

  const startNode = async (i: number): Promise<GatewayProcess> => {
    const nodeDir = join(dir.path, `node-${i + 1}`);
    const clusterPath = join(dir.path, `cluster-${i + 1}.json`);
    await writeFile(clusterPath, clusterConfig(redis.url, `node-${i + 1}`));
    const configPath = join(dir.path, `node-${i + 1}.yaml`);
    await writeFile(configPath, nodeConfig(pg.url, ca));
    const gw = await GatewayProcess.launch(nodeDir, configPath, join(nodeDir, 'data'), ['--cluster-config', clusterPath], { api: false });
    nodes[i] = gw;
    return gw;
  };
  const node = (i: number): GatewayProcess => nodes[i]!;

  const enroll = (name: string): Promise<Device> => devices.enroll(name);
  const connect = async (i: number, d: Device, opts: IClientOptions = {}): Promise<MqttClient> => {
    const c = await connectDevice(node(i).mqttUrl, d, opts);
    clients.push(c);
    return c;
  };
  const reader = async (i: number, d: Device, opts: IClientOptions = {}): Promise<Awaited<ReturnType<typeof openReader>>> => {
    const r = await openReader(node(i).mqttUrl, { ...d, ca: serverCas }, opts);
    clients.push(r.client);
    return r;
  };

  before(async () => {
    dir = await tempDir('gatehouse-cluster-redis-');
    ca = await clusterCa(dir.path);
    serverCas = Buffer.from(ca.pem);
    // One node first (it creates the registry's schema), then the other two.
    await startNode(0);
    await Promise.all([startNode(1), startNode(2)]);
    operator = await PgRegistry.open({ url: pg.url, schema: SCHEMA });
    devices = await sharedDevices(operator, serverCas, 'CN=Cluster Redis device CA');
  });
  after(async () => {
    if (process.env['CLUSTER_DUMP'] !== undefined) await writeFile(process.env['CLUSTER_DUMP'], nodes.map((n, i) => `== node ${i + 1}\n${n.lines.join('\n')}`).join('\n'));
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await operator?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await dir?.cleanup();
  });

  test('every node logs its Redis cluster without the password', () => {
    for (const n of nodes) {
      assert.ok(n.lines.some((l) => l.includes('"event":"cluster"') && l.includes('"backend":"redis"')), 'cluster line');
      assert.ok(!n.lines.some((l) => l.includes(redis.password)), 'the Redis password is in no log line');
    }
  });

  test('a device on node 1 publishes; subscribers on nodes 2 and 3 receive QoS 0 and QoS 1', async () => {
    const pub = await enroll('dev-pub');
    const s2 = await reader(1, await enroll('dev-sub2'));
    const s3 = await reader(2, await enroll('dev-sub3'));
    await s2.client.subscribeAsync('t/fan/#', { qos: 1 });
    await s3.client.subscribeAsync('t/fan/#', { qos: 1 });
    const p = await connect(0, pub);
    await p.publishAsync('t/fan/a', 'fan-q0', { qos: 0 });
    await p.publishAsync('t/fan/a', 'fan-q1', { qos: 1 });
    for (const r of [s2, s3]) {
      await r.next('fan-q0');
      await r.next('fan-q1');
    }
    // Once each: a node does not deliver its own message twice (Redis echoes it back to it).
    for (const r of [s2, s3]) assert.equal(r.got.filter((m) => m.payload === 'fan-q1').length, 1);
  });

  test('a retained message published on node 1 reaches a new subscriber on node 3', async () => {
    const p = await connect(0, await enroll('dev-ret-pub'));
    await p.publishAsync('t/ret/1', 'retained-1', { qos: 1, retain: true });
    const r = await reader(2, await enroll('dev-ret-sub'));
    await r.client.subscribeAsync('t/ret/#', { qos: 1 });
    const m = await r.next('retained-1');
    assert.equal(m.retain, true);
  });

  test('iot:Receive is decided on the receiving node: a subscriber on node 3 gets nothing its policy forbids', async () => {
    const rx = await enroll('rx-1');
    const from = node(2).lines.length;
    const applied = (l: string): boolean => l.includes('"event":"iot-policies-applied"') && l.includes('"trigger":"registry"');
    await operator.createPolicy('Receiver', JSON.stringify(RECEIVER_POLICY));
    await node(2).waitForLog(applied, 5000, from);
    // The attachment is a second change: wait for node 3 to apply that one too, or the
    // receiver's CONNECT may be decided before it (and refused).
    const beforeAttach = node(2).lines.length;
    await operator.attachPolicy('Receiver', { kind: 'certificate', certificateId: rx.certificateId });
    await node(2).waitForLog(applied, 5000, beforeAttach);
    const r = await reader(2, rx);
    await r.client.subscribeAsync('t/#', { qos: 1 });
    const witness = await reader(1, await enroll('dev-witness'));
    await witness.client.subscribeAsync('t/#', { qos: 1 });
    const p = await connect(0, await enroll('dev-rx-pub'));
    await p.publishAsync('t/secret/x', 'secret-1', { qos: 1 });
    await p.publishAsync('t/open/x', 'open-1', { qos: 1 });
    await witness.next('secret-1'); // routed to the cluster...
    await r.next('open-1');
    // ...and withheld by node 3 from the receiver (it arrived before open-1 on the same connection).
    assert.deepEqual(r.got.map((m) => m.payload).filter((p) => p.startsWith('secret')), []);
    await node(2).waitForLog((l) => l.includes('"event":"delivery-dropped"') && l.includes('rx-1') && l.includes('t/secret/x') && l.includes('not_allowed'), 5000, from);
  });

  test('a persistent session survives its node\'s restart and a reconnection to another node, with no QoS 1 message lost', async () => {
    const owner = await enroll('dev-persist');
    const pub = await connect(0, await enroll('dev-persist-pub'));
    const session: IClientOptions = { clean: false, protocolVersion: 4 };
    const first = await connect(1, owner, session);
    await first.subscribeAsync('t/p/#', { qos: 1 });
    await first.endAsync();
    await pub.publishAsync('t/p/1', 'p-1', { qos: 1 });
    // Node 2 (where the session was made) restarts.
    await node(1).stop();
    await startNode(1);
    await pub.publishAsync('t/p/2', 'p-2', { qos: 1 });
    // The device comes back on node 3: both messages queued while it was away.
    const onThree = await reader(2, owner, session);
    await onThree.next('p-1');
    await onThree.next('p-2');
    await onThree.client.endAsync();
    await pub.publishAsync('t/p/3', 'p-3', { qos: 1 });
    // And back on the restarted node 2, the session still there.
    const onTwo = await reader(1, owner, session);
    await onTwo.next('p-3');
    assert.ok(!onTwo.got.some((m) => m.payload === 'p-1' || m.payload === 'p-2'), 'acknowledged messages are not sent again');
  });

  test('kill -9 of a node: its devices reconnect to another node and resume their sessions', async () => {
    const victim = await startNode(3);
    const owner = await enroll('dev-killed');
    const session: IClientOptions = { clean: false, protocolVersion: 4 };
    const c = await connectDevice(victim.mqttUrl, owner, session);
    clients.push(c);
    await c.subscribeAsync('t/k/#', { qos: 1 });
    const closed = waitForClose(c, 10_000);
    victim.signal('SIGKILL');
    await victim.exited();
    await closed;
    nodes.pop();
    const pub = await connect(0, await enroll('dev-killed-pub'));
    await pub.publishAsync('t/k/1', 'k-1', { qos: 1 });
    const resumed = await reader(0, owner, session);
    await resumed.next('k-1');
    // The subscription came with the session: a new message arrives too.
    await pub.publishAsync('t/k/2', 'k-2', { qos: 1 });
    await resumed.next('k-2');
  });

  test('kill -9 of a node: a surviving node publishes its devices\' wills, once each, decided under the owner\'s policy in force', async () => {
    const victim = await startNode(3);
    const applied = (l: string): boolean => l.includes('"event":"iot-policies-applied"') && l.includes('"trigger":"registry"');
    const allApplied = async (change: () => Promise<unknown>): Promise<void> => {
      const marks = nodes.map((n) => n.lines.length);
      await change();
      await Promise.all(nodes.map((n, i) => n.waitForLog(applied, 5000, marks[i])));
    };
    // One owner in the Greengrass group (its will allowed throughout), one under an AWS IoT
    // policy that will stop allowing its will topic while it is connected.
    const kept = await enroll('dev-will-kept');
    const revoked = await enroll('wl-will-revoked');
    await allApplied(() => operator.createPolicy('WillPolicy', JSON.stringify(WILL_POLICY('t/will/*'))));
    await allApplied(() => operator.attachPolicy('WillPolicy', { kind: 'certificate', certificateId: revoked.certificateId }));
    const sub = await reader(1, await enroll('dev-will-sub'));
    await sub.client.subscribeAsync('t/will/#', { qos: 1 });
    const a = await connectDevice(victim.mqttUrl, kept, { will: { topic: 't/will/kept', payload: Buffer.from('will-kept'), qos: 1, retain: false } });
    const b = await connectDevice(victim.mqttUrl, revoked, { will: { topic: 't/will/revoked', payload: Buffer.from('will-revoked'), qos: 1, retain: false } });
    clients.push(a, b);
    await allApplied(() => operator.createPolicyVersion('WillPolicy', JSON.stringify(WILL_POLICY('t/elsewhere/*')), { setAsDefault: true }));
    assert.ok(b.connected, 'a will is decided when it is published: the connection stays');

    const survivors = nodes.slice(0, 3);
    const marks = survivors.map((n) => n.lines.length);
    victim.signal('SIGKILL');
    const killedAt = Date.now();
    await victim.exited();
    nodes.pop();
    await sub.next('will-kept', 15_000);
    const tookMs = Date.now() - killedAt;
    // Documented: within nodeTimeoutSeconds and a third of it, plus the decision's registry
    // look-ups (a margin for a loaded machine).
    assert.ok(tookMs < NODE_TIMEOUT_S * 1000 * 4 / 3 + 3000, `the will arrived ${tookMs} ms after the kill`);
    // The other will is refused by the node that took it, with the policy's reason.
    const refusal = await Promise.any(survivors.map((n, i) => n.waitForLog((l) => l.includes('"event":"denied"') && l.includes('wl-will-revoked') && l.includes('"will":true'), 10_000, marks[i])));
    assert.match(refusal, /"reason":"NO_GROUP_SELECTS_THING"/, 'refused as a publish on that topic is now');
    assert.match(refusal, /"deadNode":"node-4\./);
    // A message sent after both were decided arrives after anything a second node would
    // have published of the same wills (one connection, in order): none was.
    const p = await connect(0, await enroll('dev-will-marker'));
    await p.publishAsync('t/will/marker', 'marker', { qos: 1 });
    await sub.next('marker');
    assert.deepEqual(sub.got.map((m) => m.payload).filter((x) => x.startsWith('will-')), ['will-kept']);
    const published = survivors.flatMap((n, i) => n.lines.slice(marks[i]).filter((l) => l.includes('"event":"cluster-will-published"')));
    assert.equal(published.length, 1, published.join('\n'));
    assert.match(published[0]!, /"clientId":"dev-will-kept"/);
  });

  test('kill -9 of a node: its MQTT 5 delayed wills wait their delay, and one whose device connects again meanwhile is not published', async () => {
    const victim = await startNode(3);
    const back = await enroll('dev-wd-back');
    const late = await enroll('dev-wd-late');
    const sub = await reader(1, await enroll('dev-wd-sub'));
    await sub.client.subscribeAsync('t/wd/#', { qos: 1 });
    const v5 = (topic: string, payload: string): IClientOptions => ({
      protocolVersion: 5, properties: { sessionExpiryInterval: 60 },
      will: { topic, payload: Buffer.from(payload), qos: 1, retain: false, properties: { willDelayInterval: 4 } },
    });
    const onVictim = [await connectDevice(victim.mqttUrl, back, v5('t/wd/back', 'wd-back')), await connectDevice(victim.mqttUrl, late, v5('t/wd/late', 'wd-late'))];
    clients.push(...onVictim);
    const survivors = nodes.slice(0, 3);
    const marks = survivors.map((n) => n.lines.length);
    const closed = onVictim.map((c) => waitForClose(c, 10_000));
    victim.signal('SIGKILL');
    const killedAt = Date.now();
    await victim.exited();
    nodes.pop();
    await Promise.all(closed);
    // One device is back at once, on another node: its session continues, no will.
    await connect(0, back, { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    await Promise.any(survivors.map((n, i) => n.waitForLog((l) => l.includes('"event":"cluster-will-cancelled"') && l.includes('dev-wd-back'), 10_000, marks[i])));
    // The other's will comes after its 4-second delay, counted from when a node took it:
    // at least 4 s and two thirds of the node timeout after the kill (taken at once, it
    // would come 1.3-3 s after the kill).
    await sub.next('wd-late', 15_000);
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs >= 4000 + NODE_TIMEOUT_S * 1000 * 2 / 3, `the delayed will arrived ${tookMs} ms after the kill, before its delay`);
    const p = await connect(0, await enroll('dev-wd-marker'));
    await p.publishAsync('t/wd/marker', 'wd-marker', { qos: 1 });
    await sub.next('wd-marker');
    assert.deepEqual(sub.got.map((m) => m.payload).filter((x) => x.startsWith('wd-') && x !== 'wd-marker'), ['wd-late']);
  });

  test('a shared subscription with members on two nodes receives each message once, not once per node', async () => {
    const members = [await reader(0, await enroll('dev-share-1')), await reader(1, await enroll('dev-share-2'))];
    for (const m of members) {
      await m.client.subscribeAsync('$share/g1/t/sh/#', { qos: 1 });
      await m.client.subscribeAsync('t/sh-mark', { qos: 1 });
    }
    const p = await connect(2, await enroll('dev-share-pub'));
    const sent = Array.from({ length: 40 }, (_, i) => `sh-${i}`);
    for (const [i, payload] of sent.entries()) await p.publishAsync(`t/sh/${i}`, payload, { qos: 1 });
    const shared = (): string[] => members.flatMap((m) => m.got.map((x) => x.payload)).filter((x) => /^sh-\d+$/.test(x));
    await waitUntil(() => new Set(shared()).size === sent.length, 10_000, 'every message reached a member');
    // A message after them, on an ordinary subscription of both members: a second copy of
    // any of them would have come before it.
    await p.publishAsync('t/sh-mark', 'sh-mark', { qos: 1 });
    for (const m of members) await m.next('sh-mark');
    assert.deepEqual(shared().sort(), [...sent].sort());
  });

  test('client-id takeover across nodes: a second connection on another node closes the first; another device cannot claim the id', async () => {
    const owner = await enroll('dev-take');
    const intruder = await enroll('dev-intruder');
    const first = await connect(0, owner);
    // Another device's certificate cannot take the client id (the client id is the thing name).
    assert.equal(await connackCode(node(1).mqttUrl, { ...intruder, name: 'dev-take' }), 5);
    assert.ok(first.connected, 'the owner stays connected after a refused claim');
    const closed = waitForClose(first, 5000);
    const second = await connect(1, owner);
    await closed;
    assert.ok(second.connected);
    // The first node let go of its session: the new connection is the only one served.
    const r = await reader(2, await enroll('dev-take-sub'));
    await r.client.subscribeAsync('t/take', { qos: 1 });
    await second.publishAsync('t/take', 'take-1', { qos: 1 });
    await r.next('take-1');
  });

  test('a certificate deactivated through node 1 (its CLI) closes the device on node 3 within a second; an IoT policy change reaches live subscriptions on every node', async () => {
    // The certificate: node 1's CLI writes to the shared registry; node 3 holds the connection.
    const doomed = await enroll('dev-doomed');
    const c = await connect(2, doomed);
    let closedAt = 0;
    c.once('close', () => { closedAt = Date.now(); });
    const cli = await runCli(['certs', 'deactivate', doomed.certificateId, '--config', join(dir.path, 'node-1.yaml'), '--data-dir', node(0).dataDir]);
    assert.equal(cli.code, 0, cli.stderr);
    const returnedAt = Date.now();
    await waitUntil(() => closedAt !== 0, 1000, "the device's connection on node 3 closed within a second of the CLI's return");
    assert.ok(closedAt - returnedAt < 1000);

    // The policy: two MQTT 5 subscribers, on nodes 2 and 3, allowed by one AWS IoT policy.
    const watchers = [await enroll('rx-live-2'), await enroll('rx-live-3')];
    const applied = (l: string): boolean => l.includes('"event":"iot-policies-applied"') && l.includes('"trigger":"registry"');
    let marks = [node(1).lines.length, node(2).lines.length];
    await operator.createPolicy('Live', JSON.stringify(LIVE_POLICY('t/live/*')));
    await Promise.all([node(1).waitForLog(applied, 5000, marks[0]), node(2).waitForLog(applied, 5000, marks[1])]);
    for (const w of watchers) {
      marks = [node(1).lines.length, node(2).lines.length];
      await operator.attachPolicy('Live', { kind: 'certificate', certificateId: w.certificateId });
      await Promise.all([node(1).waitForLog(applied, 5000, marks[0]), node(2).waitForLog(applied, 5000, marks[1])]);
    }
    const subs = [await connect(1, watchers[0]!, { protocolVersion: 5 }), await connect(2, watchers[1]!, { protocolVersion: 5 })];
    for (const sub of subs) await sub.subscribeAsync('t/live/#', { qos: 1 });
    // Each client's DISCONNECT reason code; 'none' when no DISCONNECT came within 5 s.
    const revoked = subs.map((sub) => new Promise<number | 'none'>((resolve) => {
      const timer = setTimeout(() => resolve('none'), 5000);
      sub.once('disconnect', (p: { reasonCode?: number }) => { clearTimeout(timer); resolve(p.reasonCode ?? 0); });
    }));
    // A new default version no longer allows the filter: both nodes end the subscription
    // (MQTT 5: DISCONNECT 0x87, as on one gateway).
    await operator.createPolicyVersion('Live', JSON.stringify(LIVE_POLICY('t/elsewhere/*')), { setAsDefault: true });
    assert.deepEqual(await Promise.all(revoked), [0x87, 0x87]);
  });

  test('Redis down: new connections refused, connected devices served for the grace then disconnected; back when Redis returns', async () => {
    const stay = await enroll('dev-stay');
    const local = await enroll('dev-local');
    const late = await enroll('dev-late');
    const c = await connect(0, stay);
    const r = await reader(0, local);
    await r.client.subscribeAsync('t/local', { qos: 0 });
    const froms = nodes.map((n) => n.lines.length);
    const from = froms[0]!;
    await redis.stop();
    const down = Date.now();
    try {
      await node(0).waitForLog((l) => l.includes('"event":"cluster-redis-unavailable"'), 5000, from);
      // Served on this node meanwhile: a message reaches a subscriber on the same node.
      await c.publishAsync('t/local', 'local-1', { qos: 0 });
      await r.next('local-1');
      // Fail closed: a new device cannot connect (CONNACK 3, server unavailable).
      assert.equal(await connackCode(node(0).mqttUrl, late), 3);
      await node(0).waitForLog((l) => l.includes('"event":"denied"') && l.includes('CLUSTER_REDIS_UNAVAILABLE'), 5000, from);
      // The grace (3 s) runs out: connected devices are disconnected.
      await waitForClose(c, 10_000);
      assert.ok(Date.now() - down >= 2500, `disconnected after ${Date.now() - down} ms, before the grace`);
      await node(0).waitForLog((l) => l.includes('"event":"cluster-redis-grace-expired"'), 5000, from);
    } finally {
      await redis.start();
    }
    await Promise.all(nodes.map((n, i) => n.waitForLog((l) => l.includes('"event":"cluster-redis-restored"'), 15_000, froms[i])));
    // Back: connections accepted, and messages cross nodes again.
    const sub = await reader(2, late);
    await sub.client.subscribeAsync('t/after', { qos: 1 });
    const p = await connect(0, stay);
    await p.publishAsync('t/after', 'after-1', { qos: 1 });
    await sub.next('after-1');
    for (const n of nodes) assert.ok(!n.lines.some((l) => l.includes(redis.password)), 'the Redis password is in no log line, down or up');
  });
});
