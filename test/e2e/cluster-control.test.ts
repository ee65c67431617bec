/**
 * Two gateway processes on one private PostgreSQL (test/helpers/postgres.ts), both with
 * the management API and the local API on: one control store for both. The official AWS
 * SDK clients talk to each node; a change made through one node (a user, an access key
 * deactivated, a policy detached, an assumed role) applies to the other node's next
 * request; the audit log holds both nodes' calls; the real CLI, given the same
 * configuration, works on the shared store; with PostgreSQL down calls fail closed (503)
 * and are served again when it is back; a node whose key file is not the cluster's
 * refuses to start.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AttachUserPolicyCommand, CreateAccessKeyCommand, CreatePolicyCommand, CreateRoleCommand, CreateUserCommand, DetachUserPolicyCommand,
  IAMClient, ListUsersCommand, UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateThingCommand, DescribeCertificateCommand, DescribeThingCommand, IoTClient, ListThingsCommand } from '@aws-sdk/client-iot';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GatewayProcess, runCli } from '../helpers/gateway.js';
import { sharedPostgres, type PostgresServer } from '../helpers/postgres.js';
import { clusterCa, type ClusterCa } from '../helpers/cluster.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const IAM_ARN = `arn:aws:iam::${ACCOUNT}`;
const server = await sharedPostgres();
const skip = typeof server === 'string' ? server : false;

const config = (url: string, keyFile: string, ca: ClusterCa): string => `
${ca.yaml}gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${REGION}, accountId: "${ACCOUNT}" }
  jobs: { enabled: false }
  registry:
    url: "${url}"
    schema: cluster_control
    controlKeyFile: ${keyFile}
`;

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

async function expectStatus(p: Promise<unknown>, status: number): Promise<Error> {
  let caught: Error | undefined;
  await assert.rejects(p, (e: unknown) => {
    caught = e as Error;
    assert.equal((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, status, String(e));
    return true;
  });
  return caught!;
}

describe('two gateways share the control store on PostgreSQL', { skip }, () => {
  const pg = server as PostgresServer;
  let dir: { path: string; cleanup: () => Promise<void> };
  let ca: ClusterCa;
  const nodes: GatewayProcess[] = [];
  let admin: Creds;
  /** The SDK clients of node i (0 or 1) with these credentials. */
  let clients: (i: number, creds: Creds) => { iot: IoTClient; iam: IAMClient; sts: STSClient };

  before(async () => {
    dir = await tempDir('gatehouse-e2e-cluster-control-');
    ca = await clusterCa(dir.path);
    // Node 1 starts first: it creates the administrator and the key file.
    const key1 = join(dir.path, 'n1', 'cluster-control.key');
    nodes.push(await GatewayProcess.start(await mk(dir.path, 'n1'), config(pg.url, key1, ca)));
    await nodes[0]!.managementUrl();
    admin = await nodes[0]!.adminCredentials();
    // Node 2 (another machine, as far as it can tell) gets a copy of the key file.
    const key2 = join(dir.path, 'n2', 'cluster-control.key');
    await mk(dir.path, 'n2');
    await copyFile(key1, key2);
    nodes.push(await GatewayProcess.start(join(dir.path, 'n2'), config(pg.url, key2, ca)));
    const endpoints = await Promise.all(nodes.map((n) => n.managementUrl()));
    clients = (i, credentials) => {
      const common = { endpoint: endpoints[i]!, region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: ca.pem }) } };
      return { iot: new IoTClient(common), iam: new IAMClient(common), sts: new STSClient(common) };
    };
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await dir?.cleanup();
  });

  test('one administrator for the cluster: created once by the first node, accepted by both; the registry is the shared one', async () => {
    assert.ok(nodes[0]!.lines.some((l) => l.includes('"event":"administrator-created"')));
    assert.ok(!nodes[1]!.lines.some((l) => l.includes('"event":"administrator-created"')), 'the second node creates no administrator of its own');
    const users = await clients(1, admin).iam.send(new ListUsersCommand({}));
    assert.deepEqual(users.Users?.map((u) => u.UserName), ['admin']);
    await clients(0, admin).iot.send(new CreateThingCommand({ thingName: 'made-on-node-1' }));
    const thing = await clients(1, admin).iot.send(new DescribeThingCommand({ thingName: 'made-on-node-1' }));
    assert.equal(thing.thingName, 'made-on-node-1');
    for (const n of nodes) assert.ok(!n.lines.some((l) => l.includes(pg.password) || l.includes(admin.secretAccessKey)), 'no password or secret in a log line');
  });

  test("a key deactivated or a policy detached through node 1 takes effect on node 2's next request", async () => {
    const a1 = clients(0, admin).iam;
    await a1.send(new CreateUserCommand({ UserName: 'lister' }));
    const key = await a1.send(new CreateAccessKeyCommand({ UserName: 'lister' }));
    const creds = { accessKeyId: key.AccessKey!.AccessKeyId!, secretAccessKey: key.AccessKey!.SecretAccessKey! };
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:ListThings', Resource: '*' }] });
    await a1.send(new CreatePolicyCommand({ PolicyName: 'list-things', PolicyDocument: doc }));
    await a1.send(new AttachUserPolicyCommand({ UserName: 'lister', PolicyArn: `${IAM_ARN}:policy/list-things` }));
    const onNode2 = clients(1, creds).iot;
    assert.ok((await onNode2.send(new ListThingsCommand({}))).things?.some((t) => t.thingName === 'made-on-node-1'));

    await a1.send(new UpdateAccessKeyCommand({ UserName: 'lister', AccessKeyId: creds.accessKeyId, Status: 'Inactive' }));
    await expectStatus(onNode2.send(new ListThingsCommand({})), 403);
    await a1.send(new UpdateAccessKeyCommand({ UserName: 'lister', AccessKeyId: creds.accessKeyId, Status: 'Active' }));
    await onNode2.send(new ListThingsCommand({}));

    await a1.send(new DetachUserPolicyCommand({ UserName: 'lister', PolicyArn: `${IAM_ARN}:policy/list-things` }));
    const denied = await expectStatus(onNode2.send(new ListThingsCommand({})), 403);
    assert.match(denied.message, /iot:ListThings/);
  });

  test('a role assumed through node 1 gives credentials node 2 accepts', async () => {
    const a1 = clients(0, admin);
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: `${IAM_ARN}:user/admin` } }] });
    await a1.iam.send(new CreateRoleCommand({ RoleName: 'operator', AssumeRolePolicyDocument: trust }));
    const assumed = await a1.sts.send(new AssumeRoleCommand({ RoleArn: `${IAM_ARN}:role/operator`, RoleSessionName: 'cluster-test' }));
    const c = assumed.Credentials!;
    const me = await clients(1, { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! }).sts.send(new GetCallerIdentityCommand({}));
    assert.equal(me.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/operator/cluster-test`);
    // The session token is checked on node 2 too: a wrong one is refused.
    await expectStatus(clients(1, { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: `${c.SessionToken!}x` }).sts.send(new GetCallerIdentityCommand({})), 403);
  });

  test('the real CLI with the same configuration works on the shared registry and control store, and the audit log has both nodes\' calls', async () => {
    const cli = (i: number, args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', nodes[i]!.configPath, '--data-dir', nodes[i]!.dataDir, '--json']);
    const created = await cli(1, ['iam', 'users', 'create', 'from-cli']);
    assert.equal(created.code, 0, created.stderr);
    const listed = await clients(0, admin).iam.send(new ListUsersCommand({}));
    assert.ok(listed.Users?.some((u) => u.UserName === 'from-cli'), 'a user created by the CLI of node 2 is seen through node 1');
    const users = await cli(0, ['iam', 'users', 'list']);
    assert.equal(users.code, 0, users.stderr);
    assert.deepEqual((JSON.parse(users.stdout) as { userName: string }[]).map((u) => u.userName), ['admin', 'from-cli', 'lister']);
    // Audit records are written in batches: wait until both nodes' denials of the detached user are there.
    await waitUntil(async () => {
      const r = await cli(0, ['audit', 'list', '--principal', `${IAM_ARN}:user/lister`, '--decision', 'deny']);
      return r.code === 0 && (JSON.parse(r.stdout) as unknown[]).length >= 1;
    }, 10_000, 'the denial on node 2 in the audit log read through node 1');
    // The registry commands too: a thing made by node 2's CLI (with node 2's CA), revoked by node 1's.
    const made = await cli(1, ['things', 'create', 'cli-thing', '--out', join(dir.path, 'cli-thing')]);
    assert.equal(made.code, 0, made.stderr);
    const certificateId = (JSON.parse(made.stdout) as { certificateId: string }).certificateId;
    assert.equal((await clients(0, admin).iot.send(new DescribeThingCommand({ thingName: 'cli-thing' }))).thingName, 'cli-thing');
    const revoked = await cli(0, ['certs', 'revoke', certificateId]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const cert = await clients(1, admin).iot.send(new DescribeCertificateCommand({ certificateId }));
    assert.equal(cert.certificateDescription?.status, 'REVOKED');
    const things = await cli(1, ['things', 'list']);
    assert.equal(things.code, 0, things.stderr);
    assert.ok(things.stdout.includes('made-on-node-1') && things.stdout.includes('cli-thing'), things.stdout);
    const all = await cli(0, ['audit', 'list', '--action', 'iam:CreateUser']);
    assert.ok((JSON.parse(all.stdout) as { resource: string }[]).some((r) => r.resource === `${IAM_ARN}:user/lister`));
    assert.ok(!all.stdout.includes(admin.secretAccessKey));
  });

  test('PostgreSQL down: management calls fail closed with 503 ServiceUnavailable, and are served again once it is back', async () => {
    const node2 = clients(1, admin).iam;
    await node2.send(new ListUsersCommand({}));
    pg.stop();
    try {
      const e = await expectStatus(node2.send(new ListUsersCommand({})), 503);
      assert.ok(!e.message.includes(pg.password));
    } finally {
      pg.start();
    }
    await waitUntil(async () => node2.send(new ListUsersCommand({})).then(() => true, () => false), 15_000, 'node 2 to serve management calls again');
  });

  test('a node whose key file is not the cluster\'s refuses to start (a missing one is not made anew while secrets exist)', async () => {
    const other = await tempDir('gatehouse-e2e-cluster-stranger-');
    try {
      const path = join(other.path, 'gatehouse.yaml');
      const start = (): ReturnType<typeof runCli> => runCli(['start', '--config', path, '--data-dir', join(other.path, 'data'), '--mqtt-port', '0', '--api-port', '0', '--management-port', '0']);
      const ownKey = join(other.path, 'own.key');
      await writeFile(path, config(pg.url, ownKey, ca));
      const missing = await start();
      assert.notEqual(missing.code, 0);
      assert.match(missing.stdout + missing.stderr, /CONTROL_KEY_FILE_MISSING/);
      await writeFile(ownKey, randomBytes(32), { mode: 0o600 });
      const wrong = await start();
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stdout + wrong.stderr, /CONTROL_KEY_MISMATCH/);
      assert.ok(!(wrong.stdout + wrong.stderr).includes(pg.password));
    } finally {
      await other.cleanup();
    }
  });
});

async function mk(root: string, name: string): Promise<string> {
  const p = join(root, name);
  await mkdir(p, { recursive: true });
  return p;
}
