/**
 * The registry and control-plane commands against a real gateway: the real CLI binary,
 * over HTTPS (the gateway CA trusted through GATEHOUSE_CA_BUNDLE), signed with the
 * first-start administrator's key, to the AWS IoT operations of the management API.
 * What each command did is read back from the gateway's registry (the local CLI on its
 * data directory) and from the audit log (which actions were authorized).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { GatewayProcess, runCli, type CliResult } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const CONFIG = `
deviceGroups:
  definitions: {}
  policies: {}
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

interface AuditRow {
  id: number;
  action: string;
  decision: string;
  principal: string;
}

describe('remote things, certs, thing groups, policies, role aliases and tags through a real gateway', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let registry: SqliteRegistry;
  let endpoint: string;
  let env: NodeJS.ProcessEnv;

  const remote = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCli(['--endpoint', endpoint, ...args], { env: { ...env, ...extra } });
  /** The actions the gateway authorized (allowed) after audit record `from`. */
  async function actionsSince(from: number): Promise<string[]> {
    const r = await gw.cli(['audit', 'list', '--json', '--limit', '1000']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as AuditRow[]).filter((x) => x.id > from && x.decision === 'allow').map((x) => x.action).reverse();
  }
  async function lastAuditId(): Promise<number> {
    const r = await gw.cli(['audit', 'list', '--json', '--limit', '1']);
    return (JSON.parse(r.stdout) as AuditRow[])[0]?.id ?? 0;
  }

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    endpoint = await gw.managementUrl();
    env = await gw.remoteAdminEnv(dir.path);
    registry = SqliteRegistry.open({ file: join(gw.dataDir, 'registry.db') });
  });
  after(async () => {
    await registry?.close();
    await gw?.stop();
    await dir?.cleanup();
  });

  test('things create, list, show, update, attach/detach and delete', async () => {
    let from = await lastAuditId();
    const out = join(dir.path, 'devices');
    const created = await remote(['things', 'create', 'sensor-1', '--attribute', 'room=lab', '--out', out, '--json']);
    assert.equal(created.code, 0, created.stderr);
    const info = JSON.parse(created.stdout) as { certificateId: string; thing: { name: string; attributes: Record<string, string>; createdAt: string | null } };
    assert.deepEqual(info.thing.attributes, { room: 'lab' });
    assert.equal(info.thing.createdAt, null);
    assert.deepEqual((await actionsSince(from)).filter((a) => ['iot:CreateThing', 'iot:CreateKeysAndCertificate', 'iot:AttachThingPrincipal'].includes(a)), ['iot:CreateThing', 'iot:CreateKeysAndCertificate', 'iot:AttachThingPrincipal']);
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

    // A thing's type must be declared first.
    const declared = await remote(['thing-types', 'create', 'Thermo']);
    assert.equal(declared.code, 0, declared.stderr);
    const update = await remote(['things', 'update', 'sensor-1', '--type', 'Thermo', '--attribute', 'floor=2', '--remove-attribute', 'room']);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /^updated thing sensor-1: type Thermo, attributes floor=2, version 2$/m);
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

    from = await lastAuditId();
    const del = await remote(['things', 'delete', 'sensor-1', '--json']);
    assert.equal(del.code, 0, del.stderr);
    const deleted = await actionsSince(from);
    assert.ok(deleted.includes('iot:DetachThingPrincipal') && deleted.includes('iot:DeleteThing'), deleted.join(' '));
    assert.equal(await registry.getThing('sensor-1'), undefined);
  });

  test('thing-types create, list, show and deprecate remotely', async () => {
    const from = await lastAuditId();
    const created = await remote(['thing-types', 'create', 'Lamp', '--description', 'desk lamps', '--searchable-attribute', 'room', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const t = JSON.parse(created.stdout) as { name: string; description: string; searchableAttributes: string[]; deprecatedAt: string | null; createdAt: string };
    assert.deepEqual([t.name, t.description, t.searchableAttributes, t.deprecatedAt], ['Lamp', 'desk lamps', ['room'], null]);
    assert.ok(!Number.isNaN(Date.parse(t.createdAt)));
    assert.deepEqual((await actionsSince(from)).filter((a) => a === 'iot:CreateThingType'), ['iot:CreateThingType']);
    const local = await registry.getThingType('Lamp');
    assert.deepEqual([local?.description, local?.searchableAttributes], ['desk lamps', ['room']]);
    const again = await remote(['thing-types', 'create', 'Lamp']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error THING_TYPE_EXISTS: /m);

    const list = await remote(['thing-types', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^Lamp\s+-\s+room\s+desk lamps$/m);
    assert.equal((await remote(['things', 'create', 'lamp-1', '--out', join(dir.path, 'l')])).code, 0);
    assert.equal((await remote(['things', 'update', 'lamp-1', '--type', 'Lamp'])).code, 0);
    const show = await remote(['thing-types', 'show', 'Lamp', '--json']);
    assert.equal(show.code, 0, show.stderr);
    assert.deepEqual((JSON.parse(show.stdout) as { things: string[] }).things, ['lamp-1']);
    const missing = await remote(['thing-types', 'show', 'Nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error THING_TYPE_NOT_FOUND: /m);

    const dep = await remote(['thing-types', 'deprecate', 'Lamp']);
    assert.equal(dep.code, 0, dep.stderr);
    assert.match(dep.stdout, /^deprecated thing type Lamp$/m);
    assert.notEqual((await registry.getThingType('Lamp'))?.deprecatedAt ?? null, null);
    assert.match((await remote(['thing-types', 'deprecate', 'Lamp'])).stdout, /^already deprecated thing type Lamp$/m);
    const listed = await remote(['thing-types', 'list', '--json']);
    assert.ok((JSON.parse(listed.stdout) as { name: string; deprecatedAt: string | null }[]).some((x) => x.name === 'Lamp' && x.deprecatedAt !== null));
    // Deprecated less than five minutes ago: the gateway refuses the deletion.
    const del = await remote(['thing-types', 'delete', 'Lamp']);
    assert.equal(del.code, 1);
    assert.notEqual(await registry.getThingType('Lamp'), undefined);
    const undo = await remote(['thing-types', 'deprecate', 'Lamp', '--undo']);
    assert.match(undo.stdout, /^undeprecated thing type Lamp$/m);
    assert.equal((await registry.getThingType('Lamp'))?.deprecatedAt, null);
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

  test('role aliases and tags remotely', async () => {
    const trust = join(dir.path, 'trust.json');
    await writeFile(trust, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:user/admin' }, Action: 'sts:AssumeRole' }] }));
    const role = await gw.cli(['iam', 'roles', 'create', 'device-role', '--trust-policy', trust, '--json']);
    assert.equal(role.code, 0, role.stderr);
    const roleArn = (JSON.parse(role.stdout) as { arn: string }).arn;
    const created = await remote(['role-aliases', 'create', 'dev-alias', '--role-arn', roleArn, '--credential-duration', '900', '--json']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((JSON.parse(created.stdout) as { credentialDurationSeconds: number }).credentialDurationSeconds, 900);
    const list = await remote(['role-aliases', 'list']);
    assert.match(list.stdout, /dev-alias\s+arn:aws:iam::\d{12}:role\/device-role\s+900s/);
    assert.equal((await remote(['role-aliases', 'update', 'dev-alias', '--credential-duration', '1200'])).code, 0);
    const local = await gw.cli(['role-aliases', 'show', 'dev-alias', '--json']);
    assert.equal((JSON.parse(local.stdout) as { credentialDurationSeconds: number }).credentialDurationSeconds, 1200);

    assert.equal((await remote(['things', 'create', 'tagged-1', '--out', join(dir.path, 't')])).code, 0);
    const add = await remote(['tags', 'add', '--resource-arn', 'thing/tagged-1', '--tag', 'env=lab', '--tag', 'team=ops']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^tags of arn:aws:iot:us-east-1:\d{12}:thing\/tagged-1: /m);
    const rm = await remote(['tags', 'remove', '--resource-arn', 'thing/tagged-1', '--key', 'team', '--json']);
    assert.deepEqual((JSON.parse(rm.stdout) as { tags: Record<string, string> }).tags, { env: 'lab' });
    const localTags = await gw.cli(['tags', 'list', '--resource-arn', 'thing/tagged-1', '--json']);
    assert.deepEqual((JSON.parse(localTags.stdout) as { tags: Record<string, string> }).tags, { env: 'lab' });

    assert.equal((await remote(['role-aliases', 'delete', 'dev-alias'])).code, 0);
    const gone = await remote(['role-aliases', 'show', 'dev-alias']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^error CONTROL_ROLE_ALIAS_NOT_FOUND: /m);
  });

  test('a user allowed only iot:List* and iot:Describe*: listing works, creating is REMOTE_ACCESS_DENIED (exit 1) naming action and resource, nothing created', async () => {
    const doc = join(dir.path, 'list-only.json');
    await writeFile(doc, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:List*', 'iot:Describe*'], Resource: '*' }] }));
    for (const args of [['iam', 'users', 'create', 'lister'], ['iam', 'policies', 'create', 'ListOnly', '--document', doc], ['iam', 'policies', 'attach', 'ListOnly', '--user', 'lister']]) {
      const r = await gw.cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const key = await gw.cli(['iam', 'access-keys', 'create', '--user', 'lister', '--json']);
    const k = JSON.parse(key.stdout) as { accessKeyId: string; secretAccessKey: string };
    const as = { GATEHOUSE_ACCESS_KEY_ID: k.accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: k.secretAccessKey };
    const list = await remote(['thing-groups', 'list'], as);
    assert.equal(list.code, 0, list.stderr);
    const r = await remote(['things', 'create', 'denied-1', '--out', join(dir.path, 'd')], as);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error REMOTE_ACCESS_DENIED: User: arn:aws:iam::\d{12}:user\/lister is not authorized to perform: iot:CreateThing on resource: arn:aws:iot:us-east-1:\d{12}:thing\/denied-1/m);
    assert.ok(!r.stderr.includes(k.secretAccessKey));
    assert.equal(await registry.getThing('denied-1'), undefined);
  });
});
