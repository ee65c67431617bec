/**
 * `gatehouse sync --from-aws` against a second Gatehouse instance that serves the AWS IoT
 * control plane (the "cloud", seeded through @aws-sdk/client-iot): the first import, a
 * second run that writes nothing, a dry run, incremental changes (add, revoke, detach,
 * policy edit, delete), local objects left alone, a scoped sync, the cloud out of reach.
 * The real CLI runs in a child process; the local registry is read with SqliteRegistry.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AddThingToThingGroupCommand, AttachPolicyCommand, AttachThingPrincipalCommand, CreateKeysAndCertificateCommand, CreatePolicyCommand,
  CreatePolicyVersionCommand, CreateThingCommand, CreateThingGroupCommand, CreateThingTypeCommand, DeleteThingCommand, DetachPolicyCommand,
  DetachThingPrincipalCommand, RegisterCertificateWithoutCACommand, UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { SqliteRegistry, registryPath } from '../../src/identity/sqlite-registry.js';
import { iotClient, syncFromAws } from '../../src/sync/aws.js';
import { SyncError } from '../../src/sync/errors.js';
import { CLOUD_ARN, startCloud, type Cloud } from '../helpers/aws-cloud.js';
import { runCli, type CliResult } from '../helpers/gateway.js';
import { EKU, makeCert } from '../helpers/pki.js';
import { tempDir } from '../helpers/tmp-dir.js';

interface Report {
  dryRun: boolean; noChange: boolean; changes: number; pages: number;
  seen: { things: number; certificates: number; thingGroups: number; policies: number; thingTypes: number; cas: number };
  added: { kind: string; name: string; detail?: string }[]; changed: { kind: string; name: string; detail?: string }[];
  removed: { kind: string; name: string }[]; refused: { kind: string; name: string; code: string; reason: string }[];
}

const doc = (topic: string): string => JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${CLOUD_ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${CLOUD_ARN}:topic/${topic}` },
  ],
});

const names = (items: readonly { kind: string; name: string }[], kind: string): string[] => items.filter((i) => i.kind === kind).map((i) => i.name).sort();

describe('gatehouse sync --from-aws against a second instance', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let cloud: Cloud;
  let localData: string;
  const certs: Record<string, string> = {};

  const sync = (extra: string[] = [], data = localData): Promise<CliResult> =>
    runCli(['sync', '--from-aws', '--endpoint', cloud.endpoint, '--ca-bundle', cloud.caFile, '--data-dir', data, '--json', ...extra], { env: cloud.env });
  const syncOk = async (extra: string[] = [], data = localData): Promise<Report> => {
    const r = await sync(extra, data);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Report;
  };
  const withLocal = async <T>(fn: (r: SqliteRegistry) => Promise<T>, data = localData): Promise<T> => {
    const r = SqliteRegistry.open({ file: registryPath(data) });
    try {
      return await fn(r);
    } finally {
      await r.close();
    }
  };
  const writeTemp = async (name: string, text: string): Promise<string> => {
    const file = join(dir.path, name);
    await writeFile(file, text);
    return file;
  };
  const newCert = async (thing: string, active = true): Promise<string> => {
    const c = await cloud.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: active }));
    await cloud.iot.send(new AttachThingPrincipalCommand({ thingName: thing, principal: c.certificateArn! }));
    return c.certificateId!;
  };

  before(async () => {
    dir = await tempDir('gatehouse-sync-');
    cloud = await startCloud(join(dir.path, 'cloud'));
    localData = join(dir.path, 'local');
    const iot = cloud.iot;
    await iot.send(new CreatePolicyCommand({ policyName: 'DevicePolicy', policyDocument: doc('data/*') }));
    await iot.send(new CreatePolicyCommand({ policyName: 'GroupPolicy', policyDocument: doc('group/*') }));
    await iot.send(new CreateThingGroupCommand({ thingGroupName: 'Site' }));
    await iot.send(new CreateThingGroupCommand({ thingGroupName: 'Line1', parentGroupName: 'Site', thingGroupProperties: { thingGroupDescription: 'line one' } }));
    await iot.send(new CreateThingGroupCommand({ thingGroupName: 'Other' }));
    await iot.send(new CreateThingTypeCommand({ thingTypeName: 'Sensor' }));
    await iot.send(new CreateThingCommand({ thingName: 's1', thingTypeName: 'Sensor', attributePayload: { attributes: { room: 'a1' } } }));
    await iot.send(new CreateThingCommand({ thingName: 's2' }));
    await iot.send(new CreateThingCommand({ thingName: 'o1' }));
    certs['s1'] = await newCert('s1');
    certs['s2'] = await newCert('s2', false);
    certs['o1'] = await newCert('o1');
    await iot.send(new AttachPolicyCommand({ policyName: 'DevicePolicy', target: `${CLOUD_ARN}:cert/${certs['s1']}` }));
    await iot.send(new AttachPolicyCommand({ policyName: 'GroupPolicy', target: `${CLOUD_ARN}:thinggroup/Site` }));
    await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'Line1', thingName: 's1' }));
    await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'Other', thingName: 'o1' }));
    // A local thing: a sync never touches it.
    const local = await runCli(['things', 'create', 'local-only', '--data-dir', localData, '--out', join(dir.path, 'devices')]);
    assert.equal(local.code, 0, local.stderr);
  });
  after(async () => {
    cloud.iot.destroy();
    await cloud.gw.stop();
    await dir.cleanup();
  });

  test('imports things with their type, attributes, groups, certificates (PEM, status, CA) and policies', async () => {
    const report = await syncOk();
    assert.equal(report.dryRun, false);
    assert.equal(report.noChange, false);
    assert.deepEqual(names(report.added, 'thing'), ['o1', 's1', 's2']);
    assert.deepEqual(names(report.added, 'certificate'), [certs['o1'], certs['s1'], certs['s2']].sort());
    assert.deepEqual(names(report.added, 'policy'), ['DevicePolicy', 'GroupPolicy']);
    assert.deepEqual(names(report.added, 'thing_group'), ['Line1', 'Other', 'Site']);
    assert.deepEqual(names(report.added, 'thing_type'), ['Sensor']);
    // The cloud's CA (its gateway CA issued the certificates) is trusted here now.
    assert.equal(names(report.added, 'ca').length, 1);
    assert.deepEqual(report.refused, []);
    await withLocal(async (r) => {
      const s1 = await r.getThing('s1');
      assert.equal(s1?.thingTypeName, 'Sensor');
      assert.deepEqual(s1?.attributes, { room: 'a1' });
      assert.deepEqual(await r.certificatesForThing('s1'), [certs['s1']]);
      assert.equal((await r.getCertificate(certs['s1']!))?.status, 'ACTIVE');
      assert.equal((await r.getCertificate(certs['s2']!))?.status, 'INACTIVE');
      assert.match((await r.getCertificate(certs['s1']!))!.pem, /^-----BEGIN CERTIFICATE-----/);
      assert.deepEqual(await r.policiesForTarget({ kind: 'certificate', certificateId: certs['s1']! }), ['DevicePolicy']);
      assert.deepEqual(await r.policiesForTarget({ kind: 'thingGroup', groupName: 'Site' }), ['GroupPolicy']);
      assert.equal((await r.getThingGroup('Line1'))?.parent, 'Site');
      assert.deepEqual(await r.groupsForThing('s1'), ['Line1']);
      assert.equal((await r.getPolicy('DevicePolicy'))?.document, doc('data/*'));
      // The authorization data sees the inherited group policy.
      const data = await r.iotAuthorizationData();
      assert.deepEqual(data.thingGroups.get('s1'), ['Line1', 'Site']);
      assert.ok(await r.getThing('local-only'));
      const issuer = (await r.getCertificate(certs['s1']!))!.issuerId;
      assert.ok(issuer !== null && (await r.getTrustedCa(issuer)) !== undefined);
    });
  });

  test('a second run with no cloud change writes nothing and says so', async () => {
    const before = await withLocal((r) => r.latestChangeSeq());
    const report = await syncOk();
    assert.equal(report.noChange, true);
    assert.equal(report.changes, 0);
    assert.deepEqual([report.added, report.changed, report.removed, report.refused], [[], [], [], []]);
    assert.equal(await withLocal((r) => r.latestChangeSeq()), before);
    const text = await sync([]).then(() => runCli(['sync', '--from-aws', '--endpoint', cloud.endpoint, '--ca-bundle', cloud.caFile, '--data-dir', localData], { env: cloud.env }));
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /no change: nothing was written/);
  });

  test('incremental changes: a dry run reports them and writes nothing; the run applies them', async () => {
    const iot = cloud.iot;
    await iot.send(new UpdateCertificateCommand({ certificateId: certs['s1'], newStatus: 'REVOKED' }));
    await iot.send(new UpdateCertificateCommand({ certificateId: certs['s2'], newStatus: 'ACTIVE' }));
    await iot.send(new DetachPolicyCommand({ policyName: 'GroupPolicy', target: `${CLOUD_ARN}:thinggroup/Site` }));
    await iot.send(new CreatePolicyVersionCommand({ policyName: 'DevicePolicy', policyDocument: doc('data/v2/*'), setAsDefault: true }));
    await iot.send(new CreateThingCommand({ thingName: 's3', attributePayload: { attributes: { room: 'b2' } } }));
    certs['s3'] = await newCert('s3');
    await iot.send(new DetachThingPrincipalCommand({ thingName: 'o1', principal: `${CLOUD_ARN}:cert/${certs['o1']}` }));
    await iot.send(new DeleteThingCommand({ thingName: 'o1' }));
    // A thing of the same name as a local one: refused, the local one untouched.
    await iot.send(new CreateThingCommand({ thingName: 'local-only', attributePayload: { attributes: { from: 'cloud' } } }));

    const seq = await withLocal((r) => r.latestChangeSeq());
    const dry = await syncOk(['--dry-run']);
    assert.equal(dry.dryRun, true);
    assert.equal(dry.noChange, false);
    assert.equal(await withLocal((r) => r.latestChangeSeq()), seq, 'a dry run writes no change');
    assert.equal(await withLocal(async (r) => (await r.getCertificate(certs['s1']!))?.status), 'ACTIVE');
    assert.equal(await withLocal(async (r) => r.getThing('s3')), undefined);

    const report = await syncOk();
    // The dry run's report was the run's.
    assert.deepEqual(names(dry.added, 'thing'), names(report.added, 'thing'));
    assert.deepEqual(names(dry.removed, 'thing'), names(report.removed, 'thing'));
    assert.deepEqual(names(report.added, 'thing'), ['s3']);
    assert.deepEqual(names(report.removed, 'thing'), ['o1']);
    assert.deepEqual(names(report.removed, 'certificate'), [certs['o1']]);
    const refusal = report.refused.find((f) => f.name === 'local-only');
    assert.equal(refusal?.code, 'SYNC_LOCAL_OBJECT');
    await withLocal(async (r) => {
      assert.equal((await r.getCertificate(certs['s1']!))?.status, 'REVOKED');
      assert.equal((await r.getCertificate(certs['s2']!))?.status, 'ACTIVE');
      assert.deepEqual(await r.policiesForTarget({ kind: 'thingGroup', groupName: 'Site' }), []);
      assert.equal((await r.getPolicy('DevicePolicy'))?.document, doc('data/v2/*'));
      assert.deepEqual(await r.certificatesForThing('s3'), [certs['s3']]);
      assert.equal(await r.getThing('o1'), undefined);
      assert.equal(await r.getCertificate(certs['o1']!), undefined);
      assert.deepEqual((await r.getThing('local-only'))?.attributes, {});
    });
    assert.equal((await syncOk()).noChange, true);
  });

  test('a local change to a synced object is put back by the next sync; a local revocation stays', async () => {
    const revoke = await runCli(['certs', 'revoke', certs['s3']!, '--data-dir', localData]);
    assert.equal(revoke.code, 0, revoke.stderr);
    const update = await runCli(['things', 'update', 's3', '--attribute', 'room=zz', '--data-dir', localData]);
    assert.equal(update.code, 0, update.stderr);
    const report = await syncOk();
    assert.deepEqual(names(report.changed, 'thing'), ['s3']);
    assert.equal(report.refused.find((f) => f.name === certs['s3'])?.code, 'CERT_REVOKED');
    await withLocal(async (r) => {
      assert.deepEqual((await r.getThing('s3'))?.attributes, { room: 'b2' });
      assert.equal((await r.getCertificate(certs['s3']!))?.status, 'REVOKED');
    });
  });

  test('a certificate whose issuer is unknown here: refused with --require-trusted-ca, else taken, trusted by its exact registration', async () => {
    const foreignCa = await makeCert({ name: 'CN=Foreign CA' });
    const leaf = await makeCert({ name: 'CN=foreign-device', issuer: foreignCa, ca: null, extendedKeyUsage: [EKU.clientAuth] });
    await cloud.iot.send(new CreateThingCommand({ thingName: 'foreign' }));
    const reg = await cloud.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: leaf.pem, status: 'ACTIVE' }));
    await cloud.iot.send(new AttachThingPrincipalCommand({ thingName: 'foreign', principal: reg.certificateArn! }));
    const report = await syncOk(['--require-trusted-ca']);
    const refusal = report.refused.find((f) => f.kind === 'certificate');
    assert.equal(refusal?.name, leaf.id);
    assert.equal(refusal?.code, 'CERT_UNTRUSTED');
    assert.match(refusal.reason, /does not chain to a trusted device CA/);
    assert.deepEqual(names(report.added, 'thing'), ['foreign']);
    await withLocal(async (r) => {
      assert.equal(await r.getCertificate(leaf.id), undefined);
      assert.deepEqual(await r.certificatesForThing('foreign'), []);
    });
    // Without the option: taken as AWS IoT takes it, trusted by its registration (no CA is trusted for it).
    const next = await syncOk();
    assert.deepEqual(names(next.added, 'certificate'), [leaf.id]);
    assert.match(next.added.find((a) => a.kind === 'certificate')?.detail ?? '', /trusted by its registration/);
    assert.equal(next.refused.find((f) => f.name === leaf.id), undefined);
    await withLocal(async (r) => {
      assert.deepEqual(await r.certificatesForThing('foreign'), [leaf.id]);
      const c = await r.getCertificate(leaf.id);
      assert.equal(c?.trust, 'registration');
      assert.equal(c?.issuerId, null);
      assert.equal(await r.getTrustedCa(foreignCa.id), undefined);
    });
    // A CA trusted later changes nothing for it; the cloud's status still rules (next test).
    const trust = await runCli(['ca', 'trust', await writeTemp('foreign-ca.pem', foreignCa.pem), '--data-dir', localData]);
    assert.equal(trust.code, 0, trust.stderr);
    assert.equal((await syncOk()).noChange, true);
  });

  test('--thing-group imports only that group\'s things, with their groups and those groups\' ancestors', async () => {
    const scoped = join(dir.path, 'scoped');
    const report = await syncOk(['--thing-group', 'Line1'], scoped);
    assert.deepEqual(names(report.added, 'thing'), ['s1']);
    assert.deepEqual(names(report.added, 'thing_group'), ['Line1', 'Site']);
    assert.deepEqual(names(report.added, 'policy'), ['DevicePolicy']);
    const unknown = await sync(['--thing-group', 'Nope'], scoped);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /SYNC_OPTIONS_INVALID/);
  });

  test('a run that fails part way keeps the pages it wrote, removes nothing, and the next run completes', async () => {
    const data = join(dir.path, 'partial');
    await mkdir(data);
    const registry = SqliteRegistry.open({ file: registryPath(data) });
    try {
      const options = { endpoint: cloud.endpoint, caBundle: cloud.caPem, region: 'eu-west-1', credentials: cloud.credentials, pageSize: 1 };
      await syncFromAws(registry, options);
      assert.deepEqual((await registry.listThings()).map((x) => x.name), ['foreign', 'local-only', 's1', 's2', 's3']);
      // The cloud drops s2; then a run loses the connection on its second page of things.
      await cloud.iot.send(new DetachThingPrincipalCommand({ thingName: 's2', principal: `${CLOUD_ARN}:cert/${certs['s2']}` }));
      await cloud.iot.send(new DeleteThingCommand({ thingName: 's2' }));
      await cloud.iot.send(new CreateThingCommand({ thingName: 'a0' }));
      await cloud.iot.send(new CreateThingCommand({ thingName: 'a1' }));
      const client = iotClient(options);
      let principals = 0;
      client.middlewareStack.add((next, context) => async (args) => {
        if (context.commandName === 'ListThingPrincipalsCommand' && ++principals === 2) {
          throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        }
        return next(args);
      }, { step: 'build', name: 'failSecondPage' });
      const seq = await registry.latestChangeSeq();
      await assert.rejects(syncFromAws(registry, options, client), (e: unknown) => e instanceof SyncError && e.code === 'SYNC_CLOUD_UNREACHABLE');
      client.destroy();
      assert.ok(await registry.getThing('a0'), 'the first page is written');
      assert.equal(await registry.getThing('a1'), undefined, 'the failing page is not');
      assert.ok(await registry.getThing('s2'), 'a run that did not read everything removes nothing');
      assert.ok((await registry.latestChangeSeq()) > seq);
      const next = await syncFromAws(registry, options);
      assert.deepEqual(names(next.added, 'thing'), ['a1']);
      assert.deepEqual(names(next.removed, 'thing'), ['s2']);
    } finally {
      await registry.close();
    }
  });

  test('the cloud out of reach: SYNC_CLOUD_UNREACHABLE, nothing written', async () => {
    const seq = await withLocal((r) => r.latestChangeSeq());
    const r = await runCli(['sync', '--from-aws', '--endpoint', 'https://127.0.0.1:1', '--ca-bundle', cloud.caFile, '--data-dir', localData], { env: cloud.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error SYNC_CLOUD_UNREACHABLE/);
    assert.doesNotMatch(r.stderr, new RegExp(cloud.credentials.secretAccessKey.replace(/[+/]/g, '.')));
    assert.equal(await withLocal((reg) => reg.latestChangeSeq()), seq);
  });

  test('--profile reads the credentials of a named AWS profile; no credentials at all is SYNC_ACCESS_DENIED', async () => {
    const credentialsFile = await writeTemp('aws-credentials', `[fleet]\naws_access_key_id = ${cloud.credentials.accessKeyId}\naws_secret_access_key = ${cloud.credentials.secretAccessKey}\n`);
    const env = { ...cloud.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SHARED_CREDENTIALS_FILE: credentialsFile };
    const base = ['sync', '--from-aws', '--endpoint', cloud.endpoint, '--ca-bundle', cloud.caFile, '--data-dir', localData, '--json', '--dry-run'];
    const withProfile = await runCli([...base, '--profile', 'fleet'], { env });
    assert.equal(withProfile.code, 0, withProfile.stderr);
    assert.equal((JSON.parse(withProfile.stdout) as Report).dryRun, true);
    const none = await runCli(base, { env });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /error SYNC_ACCESS_DENIED/);
  });

  test('without --from-aws the command says where to sync from', async () => {
    const r = await runCli(['sync', '--data-dir', localData], { env: cloud.env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--from-aws/);
  });
});
