/**
 * The remote commands against the real AWS IoT control-plane handlers: the real CLI
 * binary, over real HTTPS (a server certificate of the gateway CA, trusted through
 * GATEHOUSE_CA_BUNDLE), to the IoT operations registered on a fastify listener over a
 * real registry and CA. Authentication is the management listener's job (remote.test.ts
 * drives it); here every signed request is accepted and each authorization check is
 * recorded, so the test sees which AWS IoT action each command performed.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { CallCheck } from '../../src/api/mgmt/call.js';
import { registerIotControlPlane } from '../../src/api/mgmt/iot/plugin.js';
import { GatewayCa } from '../../src/ca/authority.js';
import { ConnectivityInfoStore } from '../../src/ca/connectivity.js';
import { compileDeviceGroups, validateConfig, type IotDeployment } from '../../src/core/index.js';
import type { ControlStore, TagTarget } from '../../src/identity/control.js';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { PolicyStore } from '../../src/runtime/policy-store.js';
import { runCli, type CliResult } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };

/** Tags only: what the IoT handlers ask the control store for. */
function tagsOnlyControl(): ControlStore {
  const tags = new Map<string, Record<string, string>>();
  const key = (t: TagTarget): string => `${t.kind}/${'name' in t ? t.name : t.id}`;
  return { tagsOf: (t: TagTarget) => Promise.resolve(tags.get(key(t)) ?? {}) } as Partial<ControlStore> as ControlStore;
}

describe('remote things, certs, thing groups and policies over the AWS IoT operations', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let app: FastifyInstance;
  let registry: SqliteRegistry;
  let endpoint: string;
  let env: NodeJS.ProcessEnv;
  const checks: CallCheck[] = [];
  const deny = new Set<string>();

  const remote = (args: string[]): Promise<CliResult> => runCli(['--endpoint', endpoint, ...args], { env });
  const actions = (from: number): string[] => checks.slice(from).map((c) => c.action);

  before(async () => {
    dir = await tempDir();
    const v = validateConfig({});
    if (!v.ok) throw new Error('the empty configuration is valid');
    const dataDir = join(dir.path, 'data');
    await mkdir(dataDir, { mode: 0o700 });
    registry = SqliteRegistry.open({ file: join(dataDir, 'registry.db') });
    const ca = await GatewayCa.open({ dataDir, config: v.config.certificateAuthority });
    await registry.trustGatewayCa(ca.certificatePem);
    const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1'], validitySeconds: 3600 });
    app = Fastify({ logger: false, maxParamLength: 1024, forceCloseConnections: true, https: { key: server.privateKeyPem, cert: [server.certificatePem, ...server.chainPem].join('') } });
    app.decorateRequest('authorizeCall', function authorizeCall(check: CallCheck): Promise<void> {
      checks.push(check);
      if (deny.has(check.action)) return Promise.reject(Object.assign(new Error(`not allowed: ${check.action} on ${check.resource}`), { denied: true }));
      return Promise.resolve();
    });
    app.setErrorHandler((error: Error & { denied?: boolean }, _request, reply) => {
      if (error.denied === true) return reply.code(403).header('x-amzn-errortype', 'AccessDeniedException').type('application/json').send(JSON.stringify({ message: error.message }));
      return reply.code(500).type('application/json').send(JSON.stringify({ message: 'internal' }));
    });
    registerIotControlPlane(app, {
      registry, control: tagsOnlyControl(), ca, policy: new PolicyStore(compileDeviceGroups(v.deviceGroups)),
      deployment: () => DEPLOYMENT, connectivity: await ConnectivityInfoStore.open(dataDir), onConnectivityChanged: async () => {}, clock: () => new Date(),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    endpoint = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const caFile = join(dir.path, 'ca.pem');
    await writeFile(caFile, ca.certificatePem);
    env = { HOME: dir.path, GATEHOUSE_ACCESS_KEY_ID: 'AKIAHARNESSHARNESS00', GATEHOUSE_SECRET_ACCESS_KEY: 'harness-secret', GATEHOUSE_CA_BUNDLE: caFile, GATEHOUSE_ENDPOINT: '', GATEHOUSE_PROFILE: '' };
  });
  after(async () => {
    await app?.close();
    await registry?.close();
    await dir?.cleanup();
  });

  test('things create, list, show, update, attach/detach and delete', async () => {
    let from = checks.length;
    const out = join(dir.path, 'devices');
    const created = await remote(['things', 'create', 'sensor-1', '--attribute', 'room=lab', '--out', out, '--json']);
    assert.equal(created.code, 0, created.stderr);
    const info = JSON.parse(created.stdout) as { certificateId: string; thing: { name: string; attributes: Record<string, string>; createdAt: string | null } };
    assert.deepEqual(info.thing.attributes, { room: 'lab' });
    assert.equal(info.thing.createdAt, null);
    assert.deepEqual(actions(from).filter((a) => ['iot:CreateThing', 'iot:CreateKeysAndCertificate', 'iot:AttachThingPrincipal'].includes(a)), ['iot:CreateThing', 'iot:CreateKeysAndCertificate', 'iot:AttachThingPrincipal']);
    // The key came over the wire once and sits in a 0600 file; the CA that issued the certificate is ca.pem.
    assert.match(await readFile(join(out, 'sensor-1.key.pem'), 'utf8'), /BEGIN PRIVATE KEY/);
    assert.match(await readFile(join(out, 'ca.pem'), 'utf8'), /BEGIN CERTIFICATE/);
    // The registry has it, attached and ACTIVE.
    assert.deepEqual(await registry.certificatesForThing('sensor-1'), [info.certificateId]);
    assert.equal((await registry.getCertificate(info.certificateId))?.status, 'ACTIVE');

    const again = await remote(['things', 'create', 'sensor-1', '--out', join(dir.path, 'other')]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error THING_EXISTS: /m);

    const list = await remote(['things', 'list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { name: string; certificates: string[] }[]).map((t) => [t.name, t.certificates]), [['sensor-1', [info.certificateId]]]);
    const text = await remote(['things', 'list']);
    assert.match(text.stdout.trim(), /^NAME\s+CERTS\s+ATTRIBUTES\nsensor-1\s+1\s+room=lab$/);

    const update = await remote(['things', 'update', 'sensor-1', '--type', 'Thermo', '--attribute', 'floor=2', '--remove-attribute', 'room']);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /^updated thing sensor-1: type Thermo, attributes floor=2$/m);
    const t = await registry.getThing('sensor-1');
    assert.deepEqual([t?.thingTypeName, t?.attributes], ['Thermo', { floor: '2' }]);

    const show = await remote(['things', 'show', 'sensor-1']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /created: {4}-/);
    assert.match(show.stdout, new RegExp(`${info.certificateId}\\s+ACTIVE`));
    const missing = await remote(['things', 'show', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error THING_NOT_FOUND: /m);

    const detach = await remote(['things', 'detach', 'sensor-1', info.certificateId.slice(0, 10)]);
    assert.equal(detach.code, 0, detach.stderr);
    assert.deepEqual(await registry.certificatesForThing('sensor-1'), []);
    const attach = await remote(['things', 'attach', 'sensor-1', info.certificateId]);
    assert.equal(attach.code, 0, attach.stderr);
    assert.match(attach.stdout, /^attached /);

    from = checks.length;
    const del = await remote(['things', 'delete', 'sensor-1', '--json']);
    assert.equal(del.code, 0, del.stderr);
    assert.ok(actions(from).includes('iot:DetachThingPrincipal') && actions(from).includes('iot:DeleteThing'));
    assert.equal(await registry.getThing('sensor-1'), undefined);
  });

  test('certs list, show and status changes', async () => {
    const created = await remote(['things', 'create', 'cert-owner', '--out', join(dir.path, 'c'), '--json']);
    assert.equal(created.code, 0, created.stderr);
    const id = (JSON.parse(created.stdout) as { certificateId: string }).certificateId;
    const list = await remote(['certs', 'list', '--thing', 'cert-owner', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const certs = JSON.parse(list.stdout) as { id: string; status: string; subject: string; things: string[] }[];
    assert.deepEqual(certs.map((c) => [c.id, c.status, c.things]), [[id, 'ACTIVE', ['cert-owner']]]);
    assert.match(certs[0]!.subject, /CN=/);
    const pem = await remote(['certs', 'show', id.slice(0, 16), '--pem']);
    assert.match(pem.stdout, /^-----BEGIN CERTIFICATE-----/);
    const off = await remote(['certs', 'deactivate', id]);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /ACTIVE -> INACTIVE/);
    assert.equal((await registry.getCertificate(id))?.status, 'INACTIVE');
    const same = await remote(['certs', 'deactivate', id]);
    assert.match(same.stdout, /already INACTIVE/);
  });

  test('thing groups and policies: create, attach to a certificate and a group, versions, list-targets, detach, delete', async () => {
    const created = await remote(['things', 'create', 'pol-dev', '--out', join(dir.path, 'p'), '--json']);
    const id = (JSON.parse(created.stdout) as { certificateId: string }).certificateId;
    assert.equal((await remote(['thing-groups', 'create', 'sensors', '--description', 'all sensors'])).code, 0);
    const add = await remote(['thing-groups', 'add-thing', 'sensors', 'pol-dev']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^added pol-dev to sensors$/m);
    const g = await remote(['thing-groups', 'show', 'sensors', '--json']);
    assert.deepEqual((JSON.parse(g.stdout) as { things: string[]; description: string }).things, ['pol-dev']);

    const doc = join(dir.path, 'doc.json');
    await writeFile(doc, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }));
    const create = await remote(['policies', 'create', 'connect', '--file', doc]);
    assert.equal(create.code, 0, create.stderr);
    assert.match(create.stdout, /^created policy connect \(version 1, default\)$/m);
    assert.equal((await remote(['policies', 'attach', 'connect', '--cert', id.slice(0, 12)])).code, 0);
    assert.equal((await remote(['policies', 'attach', 'connect', '--thing-group', 'sensors'])).code, 0);
    const again = await remote(['policies', 'attach', 'connect', '--thing-group', 'sensors']);
    assert.match(again.stdout, /already attached/);
    const targets = await remote(['policies', 'list-targets', 'connect', '--json']);
    assert.deepEqual(new Set((JSON.parse(targets.stdout) as unknown[]).map((x) => JSON.stringify(x))), new Set([JSON.stringify({ certificateId: id }), JSON.stringify({ thingGroup: 'sensors' })]));
    assert.deepEqual(await registry.policiesForTarget({ kind: 'thingGroup', groupName: 'sensors' }), ['connect']);

    const v2 = await remote(['policies', 'create-version', 'connect', '--file', doc, '--set-default']);
    assert.equal(v2.code, 0, v2.stderr);
    assert.match(v2.stdout, /created version 2 of policy connect \(now the default\)/);
    const show = await remote(['policies', 'show', 'connect', '--version', '1', '--json']);
    const shown = JSON.parse(show.stdout) as { defaultVersion: number; versions: number[]; version: { version: number; isDefault: boolean } };
    assert.deepEqual([shown.defaultVersion, shown.versions, shown.version.version, shown.version.isDefault], [2, [1, 2], 1, false]);
    assert.equal((await remote(['policies', 'delete-version', 'connect', '1'])).code, 0);
    const list = await remote(['policies', 'list', '--json']);
    assert.deepEqual((JSON.parse(list.stdout) as { name: string; versions: number[] }[]).map((p) => [p.name, p.versions]), [['connect', [2]]]);

    const bad = join(dir.path, 'bad.json');
    await writeFile(bad, '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}');
    const refused = await remote(['policies', 'create', 'broken', '--file', bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error REMOTE_INVALID_REQUEST: .*MalformedPolicyException/m);

    assert.equal((await remote(['policies', 'detach', 'connect', '--thing-group', 'sensors'])).code, 0);
    assert.equal((await remote(['policies', 'detach', 'connect', '--cert', id])).code, 0);
    assert.equal((await remote(['policies', 'delete', 'connect'])).code, 0);
    assert.equal(await registry.getPolicy('connect'), undefined);
    assert.equal((await remote(['thing-groups', 'remove-thing', 'sensors', 'pol-dev'])).code, 0);
    assert.equal((await remote(['thing-groups', 'delete', 'sensors'])).code, 0);
    assert.equal(await registry.getThingGroup('sensors'), undefined);
  });

  test('a denied action: REMOTE_ACCESS_DENIED with the server\'s message, exit 1, nothing done', async () => {
    deny.add('iot:CreateThing');
    try {
      const r = await remote(['things', 'create', 'denied-1', '--out', join(dir.path, 'd')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error REMOTE_ACCESS_DENIED: not allowed: iot:CreateThing on arn:aws:iot:us-east-1:123456789012:thing\/denied-1 \(CreateThing at /m);
      assert.equal(await registry.getThing('denied-1'), undefined);
    } finally {
      deny.delete('iot:CreateThing');
    }
  });
});
