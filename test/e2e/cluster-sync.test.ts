/**
 * The continuous AWS IoT sync on two gateways sharing one PostgreSQL registry, as real
 * processes: a third Gatehouse instance serves the AWS IoT control plane (the "cloud",
 * test/helpers/aws-cloud.ts), and each node reaches it through a TCP relay of its own
 * that counts the node's connections. One node runs the sync for the cluster (the other
 * never calls the cloud); a certificate revoked in the cloud closes the device's
 * connection on the node that did not run it within a second of the run; both nodes
 * report the same trust window; when the running node is killed the other takes over
 * within an interval; and the one-off `gatehouse sync --from-aws --config` writes into the
 * shared registry.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AttachPolicyCommand, AttachThingPrincipalCommand, CreateKeysAndCertificateCommand, CreatePolicyCommand, CreateThingCommand, UpdateCertificateCommand } from '@aws-sdk/client-iot';
import type { MqttClient } from 'mqtt';
import { PgRegistry } from '../../src/identity/pg-registry.js';
import { CLOUD_ACCOUNT, CLOUD_ARN, CLOUD_REGION, startCloud, type Cloud } from '../helpers/aws-cloud.js';
import { clusterCa, type ClusterCa } from '../helpers/cluster.js';
import { connectDevice, GatewayProcess, runCli, waitForClose, type Device } from '../helpers/gateway.js';
import { sharedPostgres, type PostgresServer } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const SCHEMA = 'cluster_sync_e2e';
const INTERVAL_SECONDS = 2;
const server = await sharedPostgres();
const skip = typeof server === 'string' ? server : false;

const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${CLOUD_ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${CLOUD_ARN}:topic/data/\${iot:Connection.Thing.ThingName}` },
  ],
});

/** A TCP relay to the cloud that counts the connections made through it (one node's calls). */
interface Relay {
  readonly port: number;
  connections: number;
  close(): Promise<void>;
}

function relay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const r: Relay = { port: 0, connections: 0, close: () => Promise.resolve() };
  const srv = createServer((down) => {
    r.connections++;
    const up = tcpConnect(targetPort, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up).pipe(down);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      Object.assign(r, {
        port: (srv.address() as { port: number }).port,
        close: () => new Promise<void>((done) => {
          for (const s of sockets) s.destroy();
          srv.close(() => done());
        }),
      });
      resolve(r);
    });
  });
}

/** GetSyncStatus, as `gatehouse sync status --json` prints it. */
interface SyncStatus {
  readonly leading: boolean;
  readonly lastSuccessAt: string | null;
  readonly trustedUntil: string | null;
  readonly lastRun: { readonly result: string } | null;
}

const nodeConfig = (url: string, ca: ClusterCa, keyFile: string, cloud: Cloud, relayPort: number): string => `
${ca.yaml}gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${CLOUD_REGION}, accountId: "${CLOUD_ACCOUNT}" }
  api: { enabled: false }
  registry:
    url: "${url}"
    schema: ${SCHEMA}
    controlKeyFile: "${keyFile}"
  sync:
    aws: { enabled: true, region: ${CLOUD_REGION}, endpoint: "https://127.0.0.1:${relayPort}", caBundle: "${cloud.caFile}", intervalSeconds: ${INTERVAL_SECONDS} }
security:
  clientDeviceTrustDurationMinutes: 1
`;

describe('the AWS IoT sync on two gateways sharing a PostgreSQL registry', { skip }, () => {
  const pgServer = server as PostgresServer;
  let dir: { path: string; cleanup: () => Promise<void> };
  let cloud: Cloud;
  let ca: ClusterCa;
  const relays: Relay[] = [];
  const nodes: GatewayProcess[] = [];
  const clients: MqttClient[] = [];
  const devices = new Map<string, Device>();
  let operator: PgRegistry;

  const provision = async (name: string): Promise<void> => {
    await cloud.iot.send(new CreateThingCommand({ thingName: name }));
    const c = await cloud.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await cloud.iot.send(new AttachThingPrincipalCommand({ thingName: name, principal: c.certificateArn! }));
    await cloud.iot.send(new AttachPolicyCommand({ policyName: 'DevicePolicy', target: c.certificateArn! }));
    devices.set(name, {
      name, key: Buffer.from(c.keyPair!.PrivateKey!), cert: Buffer.from(c.certificatePem!), ca: Buffer.from(ca.pem),
      keyPath: '', certPath: '', caPath: '', certificateId: c.certificateId!,
    });
  };
  const connect = async (node: GatewayProcess, name: string): Promise<MqttClient> => {
    const c = await connectDevice(node.mqttUrl, devices.get(name)!);
    clients.push(c);
    return c;
  };
  /** Lines of the node's completed runs (`sync` events, with or without change). */
  const runsOf = (node: GatewayProcess, from = 0): string[] => node.lines.slice(from).filter((l) => l.includes('"event":"sync"'));
  /** GetSyncStatus of a node, through the CLI in remote mode (the cluster's administrator, its CA). */
  const status = async (node: GatewayProcess): Promise<SyncStatus> => {
    const admin = await nodes[0]!.adminCredentials();
    const env = {
      HOME: dir.path, GATEHOUSE_ENDPOINT: '', GATEHOUSE_PROFILE: '', GATEHOUSE_CA_BUNDLE: join(dir.path, 'cluster-ca.pem'), GATEHOUSE_REGION: CLOUD_REGION,
      GATEHOUSE_ACCESS_KEY_ID: admin.accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: admin.secretAccessKey,
    };
    const r = await runCli(['--endpoint', await node.managementUrl(), 'sync', 'status', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as SyncStatus;
  };

  before(async () => {
    dir = await tempDir('gatehouse-e2e-cluster-sync-');
    cloud = await startCloud(join(dir.path, 'cloud'));
    ca = await clusterCa(dir.path);
    await cloud.iot.send(new CreatePolicyCommand({ policyName: 'DevicePolicy', policyDocument: POLICY }));
    for (const name of ['dev-1', 'dev-2']) await provision(name);
    // The nodes read the AWS credentials and region from their environment, as the SDK does.
    Object.assign(process.env, cloud.env);
    delete process.env['HOME'];
    for (let i = 0; i < 2; i++) relays.push(await relay(cloud.port));
    const key = (i: number): string => join(dir.path, `control-${i}.key`);
    const start = async (i: number): Promise<GatewayProcess> => {
      const d = join(dir.path, `node-${i}`);
      await mkdir(d);
      return GatewayProcess.start(d, nodeConfig(pgServer.url, ca, key(i), cloud, relays[i]!.port), [], { api: false });
    };
    nodes.push(await start(0));
    await nodes[0]!.waitForLog((l) => l.includes('"event":"sync-lead-taken"'), 30_000);
    await nodes[0]!.waitForLog((l) => l.includes('"event":"sync"') && l.includes('"noChange":false'), 30_000);
    await copyFile(key(0), key(1));
    nodes.push(await start(1));
    operator = await PgRegistry.open({ url: pgServer.url, schema: SCHEMA });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await operator?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(relays.map((r) => r.close()));
    cloud?.iot.destroy();
    await cloud?.gw.stop();
    await dir?.cleanup();
  });

  test('one node runs the sync for the cluster: the other never calls the cloud', async () => {
    assert.deepEqual((await operator.syncedNames('thing')).sort(), ['dev-1', 'dev-2']);
    const [leader, follower] = nodes as [GatewayProcess, GatewayProcess];
    const from = leader.lines.length;
    const before = relays[0]!.connections;
    // Three more intervals: the leader runs each time, the follower follows.
    await waitUntil(() => runsOf(leader, from).length >= 3, 30_000, 'three more runs on the leading node');
    assert.ok(relays[0]!.connections > before, 'the leading node called the cloud');
    assert.equal(relays[1]!.connections, 0, 'the other node never called the cloud');
    assert.deepEqual(runsOf(follower), []);
    assert.ok(!follower.lines.some((l) => l.includes('"event":"sync-lead-taken"')));
  });

  test('a certificate revoked in the cloud closes the device\'s connection on the other node within a second of the run', async () => {
    const [leader, follower] = nodes as [GatewayProcess, GatewayProcess];
    const client = await connect(follower, 'dev-1');
    await client.publishAsync('data/dev-1', 'hello', { qos: 1 });
    const closedAt = waitForClose(client, 30_000).then(() => Date.now());
    const from = leader.lines.length;
    await cloud.iot.send(new UpdateCertificateCommand({ certificateId: devices.get('dev-1')!.certificateId, newStatus: 'REVOKED' }));
    // The leader's run that writes the change (its log line follows the write).
    await leader.waitForLog((l) => l.includes('"event":"sync"') && l.includes('"changed":1'), 30_000, from);
    const ranAt = Date.now();
    const closed = await closedAt;
    assert.ok(closed - ranAt < 1000, `closed ${closed - ranAt} ms after the run`);
    await follower.waitForLog((l) => l.includes('"event":"disconnected"') && l.includes('dev-1') && l.includes('CERT_REVOKED'), 5000);
    await assert.rejects(connect(follower, 'dev-1'));
  });

  test('both nodes report the same last success and trust window (GetSyncStatus)', async () => {
    // A run may land between the two reads: read until both saw the same one.
    let pair: [SyncStatus, SyncStatus] | undefined;
    for (let attempt = 0; attempt < 10 && pair === undefined; attempt++) {
      const a = await status(nodes[0]!);
      const b = await status(nodes[1]!);
      if (a.trustedUntil === b.trustedUntil) pair = [a, b];
    }
    assert.ok(pair !== undefined, 'the two nodes never reported the same trust window');
    const [a, b] = pair;
    assert.ok(a.trustedUntil !== null && a.lastSuccessAt !== null);
    assert.equal(b.lastSuccessAt, a.lastSuccessAt);
    assert.equal(b.lastRun?.result, 'succeeded');
    assert.deepEqual([a.leading, b.leading], [true, false]);
    // The window is the shared last success + interval + trust duration, on both.
    assert.equal(Date.parse(b.trustedUntil!) - Date.parse(b.lastSuccessAt), INTERVAL_SECONDS * 1000 + 60_000);
  });

  test('the running node killed, the other takes over within an interval and serves the cloud\'s changes', async () => {
    const [leader, follower] = nodes as [GatewayProcess, GatewayProcess];
    const client = await connect(follower, 'dev-2');
    await client.publishAsync('data/dev-2', 'before', { qos: 1 });
    const from = follower.lines.length;
    const killedAt = Date.now();
    leader.signal('SIGKILL');
    await follower.waitForLog((l) => l.includes('"event":"sync-lead-taken"'), 10_000, from);
    // The lock is released with the dead node's session; the other node tries for it every second.
    assert.ok(Date.now() - killedAt < INTERVAL_SECONDS * 1000, `the other node took the lead ${Date.now() - killedAt} ms after the kill`);
    // It runs once an interval has passed since the last run ended (plus the run's own time).
    await follower.waitForLog((l) => l.includes('"event":"sync"'), 10_000, from);
    assert.ok(Date.now() - killedAt < (INTERVAL_SECONDS + 2) * 1000, `the other node ran ${Date.now() - killedAt} ms after the kill`);
    assert.ok(relays[1]!.connections > 0, 'the new leader calls the cloud');
    // The cloud's changes reach the devices again.
    const closed = waitForClose(client, 30_000);
    await cloud.iot.send(new UpdateCertificateCommand({ certificateId: devices.get('dev-2')!.certificateId, newStatus: 'INACTIVE' }));
    await closed;
  });

  test('`gatehouse sync --from-aws --config` imports into the shared registry', async () => {
    const configPath = join(dir.path, 'node-1', 'gatehouse.yaml');
    await cloud.iot.send(new CreateThingCommand({ thingName: 'from-cli', attributePayload: { attributes: { by: 'cli' } } }));
    const r = await runCli(['sync', '--from-aws', '--endpoint', cloud.endpoint, '--ca-bundle', cloud.caFile, '--config', configPath,
      '--data-dir', join(dir.path, 'cli-data'), '--json'], { env: cloud.env });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { added: { kind: string; name: string }[] };
    // The node may have run first: then the CLI found nothing to add.
    const thing = await operator.getThing('from-cli');
    assert.deepEqual(thing?.attributes, { by: 'cli' });
    assert.ok((await operator.syncedNames('thing')).includes('from-cli'));
    assert.ok(report.added.every((a) => a.name === 'from-cli'));
    const shared = await runCli(['sync', 'status', '--config', configPath, '--json']);
    assert.equal(shared.code, 0, shared.stderr);
    const s = JSON.parse(shared.stdout) as { sharedState: string; lastSuccessAt: string | null; trustedUntil: string | null };
    assert.match(s.sharedState, new RegExp(`schema ${SCHEMA}`));
    assert.ok(!s.sharedState.includes(pgServer.password), 'the URL password is not shown');
    assert.ok(s.lastSuccessAt !== null && s.trustedUntil !== null);
  });
});
