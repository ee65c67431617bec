/**
 * Two gateway processes on one private PostgreSQL (test/helpers/postgres.ts), following
 * the shared configuration (gatehouse.cluster.config.source: registry) and given the same
 * CA files: a configuration pushed through one node's configuration with the real CLI
 * changes what a live MQTT 5 device on the other node may do within a second; a bad
 * push is refused with its code and path and changes nothing anywhere; both nodes'
 * server certificates chain to the one CA with their own names, and one device
 * certificate connects to both; a node with another CA is refused and its CA is never
 * trusted.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { IDisconnectPacket, MqttClient } from 'mqtt';
import { fingerprintOf } from '../../src/identity/pg-cluster-store.js';
import { PgRegistry } from '../../src/identity/pg-registry.js';
import { clusterCa, sharedDevices, type ClusterCa, type SharedDevices } from '../helpers/cluster.js';
import { GatewayProcess, connectDevice, runCli, type Device } from '../helpers/gateway.js';
import { sharedPostgres, type PostgresServer } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitForEvent } from '../helpers/wait.js';

const SCHEMA = 'cluster_cfg';
const server = await sharedPostgres();
const skip = typeof server === 'string' ? server : false;

/** A node's own file: listeners, names, CA files, the registry; the shared sections come from the registry. */
const nodeConfig = (url: string, name: string, ca: ClusterCa | undefined): string => `
${ca?.yaml ?? ''}gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, ${name}.cluster.test]
  mqtt: { host: 127.0.0.1 }
  api: { enabled: false }
  management: { enabled: false }
  jobs: { enabled: false }
  registry: { url: "${url}", schema: ${SCHEMA}, connectTimeoutMs: 1000 }
  cluster: { config: { source: registry } }
`;

/** The shared configuration: devices dev-* may connect, publish on t/… and subscribe to `filters`. */
const shared = (filters: string): string => `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: Own }
  policies:
    Own:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:t/*"] }
      Subscribe: { operations: [mqtt:subscribe], resources: [${filters}] }
`;

describe('two gateways sharing their configuration and CA through PostgreSQL', { skip }, () => {
  const pgServer = server as PostgresServer;
  let dir: { path: string; cleanup: () => Promise<void> };
  let gatewayCa: ClusterCa;
  let devices: SharedDevices;
  let operator: PgRegistry;
  let node1: GatewayProcess;
  let node2: GatewayProcess;
  let node1Config: string;
  const clients: MqttClient[] = [];

  const push = async (name: string, text: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const file = join(dir.path, name);
    await writeFile(file, text);
    return runCli(['config', 'push', file, '--config', node1Config, ...args]);
  };
  const storedVersion = async (): Promise<number> => operator.clusterStore().latestConfigVersion();
  const enroll = (name: string): Promise<Device> => devices.enroll(name);
  const connect = async (url: string, d: Device, v5 = false): Promise<MqttClient> => {
    const c = await connectDevice(url, d, v5 ? { protocolVersion: 5 } : {});
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = await tempDir();
    gatewayCa = await clusterCa(dir.path, 'CN=Cluster gateway CA');
    const d1 = join(dir.path, 'node1');
    const d2 = join(dir.path, 'node2');
    await Promise.all([d1, d2].map((d) => mkdir(d)));
    node1Config = join(d1, 'gatehouse.yaml');
    await writeFile(node1Config, nodeConfig(pgServer.url, 'node1', gatewayCa));
    // The first version is pushed before any node runs (the CLI migrates the schema).
    const first = await push('shared-1.yaml', shared('"mqtt:topicfilter:t/*"'));
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /stored as version 1/);
    node1 = await GatewayProcess.launch(d1, node1Config, join(d1, 'data'), [], { api: false });
    node2 = await GatewayProcess.start(d2, nodeConfig(pgServer.url, 'node2', gatewayCa), [], { api: false });
    operator = await PgRegistry.open({ url: pgServer.url, schema: SCHEMA });
    devices = await sharedDevices(operator, gatewayCa.pem, 'CN=Cluster device CA');
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await operator?.close();
    await Promise.all([node1?.stop(), node2?.stop()]);
    await dir?.cleanup();
  });

  test("both nodes' server certificates chain to the cluster's CA, each with its own names", async () => {
    const device = await enroll('dev-tls');
    const handshake = async (url: string, servername: string): Promise<TLSSocket> => {
      const u = new URL(url);
      const socket = tlsConnect({ host: u.hostname, port: Number(u.port), servername, ca: gatewayCa.pem, key: device.key, cert: device.cert });
      await once(socket, 'secureConnect');
      return socket;
    };
    const caCert = new X509Certificate(gatewayCa.pem);
    for (const [node, own, other] of [[node1, 'node1', 'node2'], [node2, 'node2', 'node1']] as const) {
      // Verified by node:tls against the cluster's CA alone, with the node's own name.
      const socket = await handshake(node.mqttUrl, `${own}.cluster.test`);
      const cert = socket.getPeerX509Certificate()!;
      socket.destroy();
      assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey), `${own}'s server certificate is issued by the cluster's CA`);
      assert.equal(cert.checkHost(`${own}.cluster.test`), `${own}.cluster.test`);
      assert.equal(cert.checkHost(`${other}.cluster.test`), undefined, `${own}'s certificate does not carry ${other}'s name`);
      // The other node's name is refused by the client's host-name check.
      await assert.rejects(handshake(node.mqttUrl, `${other}.cluster.test`), (e: NodeJS.ErrnoException) => e.code === 'ERR_TLS_CERT_ALTNAME_INVALID');
    }
    // The CA each node loaded is the one recorded for the cluster.
    assert.equal((await operator.clusterStore().gatewayCa())?.fingerprint, fingerprintOf(gatewayCa.pem));
  });

  test('a device with one certificate connects to both nodes', async () => {
    const device = await enroll('dev-both');
    const [a, b] = [await connect(node1.mqttUrl, device), await connect(node2.mqttUrl, { ...device })];
    // The same client id on two nodes: each node holds its own session (takeover across nodes is the broker's part).
    await a.publishAsync('t/dev-both', 'via node 1', { qos: 1 });
    await b.publishAsync('t/dev-both', 'via node 2', { qos: 1 });
  });

  test("a configuration pushed through node 1's CLI closes a now-forbidden subscription on node 2 within a second", async () => {
    const device = await enroll('dev-watch');
    const client = await connect(node2.mqttUrl, device, true);
    const granted = await client.subscribeAsync('t/watch', { qos: 1 });
    assert.equal(granted[0]?.qos, 1);
    const before = await storedVersion();
    const disconnected = waitForEvent<[IDisconnectPacket]>(client as unknown as NodeJS.EventEmitter, 'disconnect', () => true, 10_000).then(([p]) => ({ p, at: Date.now() }));
    const r = await push('shared-2.yaml', shared('"mqtt:topicfilter:t/other"'));
    const pushed = Date.now();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`stored as version ${before + 1}`));
    const { p, at } = await disconnected;
    // MQTT 5: a subscription the new configuration forbids ends with DISCONNECT 0x87 Not authorized.
    assert.equal(p.reasonCode, 0x87);
    assert.ok(at - pushed < 1000, `applied ${at - pushed} ms after the push returned`);
    await node2.waitForLog((l) => l.includes('"event":"cluster-config-applied"') && l.includes(`"version":${before + 1}`));
    await node1.waitForLog((l) => l.includes('"event":"cluster-config-applied"') && l.includes(`"version":${before + 1}`));
    // The same device may subscribe to what the new version allows, on either node.
    const again = await connect(node1.mqttUrl, { ...device, name: 'dev-watch' }, true);
    assert.equal((await again.subscribeAsync('t/other', { qos: 1 }))[0]?.qos, 1);
    await assert.rejects(again.subscribeAsync('t/watch', { qos: 1 }), /Not authorized/);
  });

  test('a bad push is refused with its code and path and changes nothing on any node', async () => {
    const before = await storedVersion();
    const device = await enroll('dev-steady');
    const client = await connect(node2.mqttUrl, device, true);
    assert.equal((await client.subscribeAsync('t/other', { qos: 1 }))[0]?.qos, 1);
    const lines = [node1.lines.length, node2.lines.length];

    // A node's own key in a shared document.
    const local = await push('bad-local.yaml', `${shared('"mqtt:topicfilter:t/*"')}gatehouse:\n  iot: { region: eu-west-1 }\n  mqtt: { port: 1883 }\n`);
    assert.equal(local.code, 1);
    assert.match(local.stderr, /error CONFIG_CLUSTER_LOCAL_KEY at gatehouse\.mqtt:/);
    assert.match(local.stderr, /nothing was stored/);
    // A validation error, with the path of the statement.
    const invalid = await push('bad-op.yaml', shared('"mqtt:topicfilter:t/*"').replace('[mqtt:publish]', '[mqtt:publsh]'));
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /error CONFIG_UNKNOWN_OPERATION at deviceGroups\.policies\.Own\.Publish\.operations\[0\]/);
    // A document that would remove every device group without saying so.
    const empty = await push('bad-empty.yaml', 'security: { clientDeviceTrustDurationMinutes: 5 }\n');
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /error CONFIG_RELOAD_REMOVES_ALL_GROUPS at deviceGroups\.definitions/);
    // Pushing over a version someone else pushed meanwhile.
    const stale = await push('stale.yaml', shared('"mqtt:topicfilter:t/*"'), '--expect-version', String(before - 1));
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /error CLUSTER_CONFIG_CONFLICT/);

    assert.equal(await storedVersion(), before, 'nothing was stored');
    const shown = await runCli(['config', 'show', '--config', node1Config, '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal((JSON.parse(shown.stdout) as { version: number }).version, before);
    for (const out of [local, invalid, empty, stale, shown]) assert.ok(!`${out.stdout}${out.stderr}`.includes(pgServer.password), 'the registry password is never printed');
    // The device keeps its subscription and its rights on node 2.
    await client.publishAsync('t/steady', 'still here', { qos: 1 });
    assert.ok(client.connected);
    // A SIGHUP makes each node read the newest version now: nothing new is applied anywhere.
    const from = [node1.lines.length, node2.lines.length];
    for (const n of [node1, node2]) n.signal('SIGHUP');
    await node1.waitForLog((l) => l.includes('"event":"cluster-config-unchanged"') && l.includes(`"version":${before}`), 5000, from[0]);
    await node2.waitForLog((l) => l.includes('"event":"cluster-config-unchanged"') && l.includes(`"version":${before}`), 5000, from[1]);
    const sawNothing = (n: GatewayProcess, from: number): boolean => !n.lines.slice(from).some((l) => l.includes('"event":"cluster-config-applied"') || l.includes('"event":"cluster-config-rejected"'));
    assert.ok(sawNothing(node1, lines[0]!) && sawNothing(node2, lines[1]!));
  });

  test('a bad version written to the table behind the CLI\'s back is refused by every node, which keep the last good one', async () => {
    const store = operator.clusterStore();
    const good = await store.latestConfig();
    assert.ok(good !== undefined);
    const device = await enroll('dev-keep');
    const client = await connect(node2.mqttUrl, device, true);
    assert.equal((await client.subscribeAsync('t/other', { qos: 1 }))[0]?.qos, 1);
    const from = [node1.lines.length, node2.lines.length];
    // Allows everything, but also holds a node's own key: refused whole, so nothing of it widens anyone's rights.
    const wide = `${shared('"*"')}gatehouse:\n  dataDir: /tmp/elsewhere\n`;
    const r = await store.pushConfig(wide, 'yaml', { pushedBy: 'test', check: () => Promise.resolve([]) });
    assert.ok(r.stored);
    for (const [n, i] of [[node1, 0], [node2, 1]] as const) {
      await n.waitForLog((l) => l.includes('"event":"cluster-config-rejected"') && l.includes(`"version":${r.version}`) && l.includes('CONFIG_CLUSTER_LOCAL_KEY'), 5000, from[i]);
    }
    await assert.rejects(client.subscribeAsync('t/watch', { qos: 1 }), /Not authorized/);
    assert.ok(client.connected);
    // The next good version is applied again.
    const back = await store.pushConfig(good.text.replace('t/other', 't/back'), 'yaml', { pushedBy: 'test', check: () => Promise.resolve([]) });
    assert.ok(back.stored);
    await node2.waitForLog((l) => l.includes('"event":"cluster-config-applied"') && l.includes(`"version":${back.version}`), 5000, from[1]);
  });

  test("a node with another gateway CA is refused and its CA is never trusted by the cluster", async () => {
    const d3 = join(dir.path, 'node3');
    await mkdir(d3);
    // No certificateAuthority files: the node would make its own managed CA.
    await assert.rejects(GatewayProcess.start(d3, nodeConfig(pgServer.url, 'node3', undefined), [], { api: false }), (e: Error) => {
      assert.match(e.message, /CLUSTER_CA_MISMATCH/);
      assert.ok(!e.message.includes(pgServer.password));
      return true;
    });
    const strayCa = await readFile(join(d3, 'data', 'ca', 'ca.pem'), 'utf8');
    const trusted = (await operator.listTrustedCas()).map((c) => fingerprintOf(c.pem));
    assert.ok(!trusted.includes(fingerprintOf(strayCa)), "the refused node's CA is not a trusted device CA");
    assert.ok(trusted.includes(fingerprintOf(gatewayCa.pem)));
  });
});
