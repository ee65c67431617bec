/**
 * `things register`, `authorize` and the CA commands (`ca show`, `ca list`, `ca trust`, `ca untrust`)
 * against a running gateway: the real CLI binary over HTTPS, signed with the first-start
 * administrator's key, and `@aws-sdk/client-iot` on the same endpoint. The gateway applies
 * the registry's own registration checks (a certificate of an untrusted CA is refused
 * with CertificateValidationException); the remote commands print what the local ones
 * print and exit as they do. Effects are read back from the gateway's registry and which
 * AWS operations ran from the audit log.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CertificateValidationException, IoTClient, RegisterCertificateCommand } from '@aws-sdk/client-iot';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { GatewayProcess, runCli, type CliResult } from '../helpers/gateway.js';
import { makeCa, makeLeaf, type TestCert } from '../helpers/pki.js';
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

const DAY = 86_400_000;
const valid = { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY) };

interface AuditRow {
  id: number;
  action: string;
  decision: string;
}

interface Registered {
  thing: { name: string; attributes: Record<string, string> };
  certificate: { id: string; status: string; issuerId: string | null; things: string[] };
  thingCreated: boolean;
  certificateCreated: boolean;
  attached: boolean;
}

interface CaRow {
  id: string;
  subject: string;
  source: string | null;
  notBefore: string;
  notAfter: string;
}

describe('remote things register and ca list/trust/untrust through a real gateway', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let registry: SqliteRegistry;
  let endpoint: string;
  let env: NodeJS.ProcessEnv;
  let iot: IoTClient;
  let opCa: TestCert;
  const file = (name: string): string => join(dir.path, name);

  const remote = (args: string[]): Promise<CliResult> => runCli(['--endpoint', endpoint, ...args], { env });
  async function lastAuditId(): Promise<number> {
    const r = await gw.cli(['audit', 'list', '--json', '--limit', '1']);
    return (JSON.parse(r.stdout) as AuditRow[])[0]?.id ?? 0;
  }
  /** The IoT actions the gateway allowed after audit record `from`, in order. */
  async function actionsSince(from: number): Promise<string[]> {
    const r = await gw.cli(['audit', 'list', '--json', '--limit', '1000']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as AuditRow[]).filter((x) => x.id > from && x.decision === 'allow').map((x) => x.action).reverse();
  }
  function failed(r: CliResult, exit: number, code: string, message?: RegExp): void {
    assert.equal(r.code, exit, `exit ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error ${code}: `, 'm'));
    if (message !== undefined) assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    endpoint = await gw.managementUrl();
    env = await gw.remoteAdminEnv(dir.path);
    registry = SqliteRegistry.open({ file: join(gw.dataDir, 'registry.db') });
    iot = new IoTClient({
      endpoint, region: 'us-east-1', maxAttempts: 1,
      credentials: { accessKeyId: env['GATEHOUSE_ACCESS_KEY_ID']!, secretAccessKey: env['GATEHOUSE_SECRET_ACCESS_KEY']! },
      requestHandler: { httpsAgent: new Agent({ ca: await readFile(env['GATEHOUSE_CA_BUNDLE']!, 'utf8') }) },
    });
    opCa = await makeCa({ name: 'CN=Operator Device CA', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) });
    await writeFile(file('op-ca.pem'), opCa.pem);
  });
  after(async () => {
    iot?.destroy();
    await registry?.close();
    await gw?.stop();
    await dir?.cleanup();
  });

  test('a certificate of an untrusted CA: CertificateValidationException to the SDK, exit 1 to the CLI, nothing stored', async () => {
    const device = await makeLeaf({ issuer: opCa, cn: 'meter-1', ...valid });
    await writeFile(file('meter-1.pem'), device.pem);
    await assert.rejects(iot.send(new RegisterCertificateCommand({ certificatePem: device.pem, status: 'ACTIVE' })), (e: unknown) => {
      assert.ok(e instanceof CertificateValidationException, String(e));
      assert.equal(e.$metadata.httpStatusCode, 400);
      assert.match(e.message, /does not chain to a trusted device CA/);
      return true;
    });
    failed(await remote(['things', 'register', 'meter-1', '--cert', file('meter-1.pem')]), 1, 'REMOTE_INVALID_REQUEST', /does not chain to a trusted device CA.*CertificateValidationException/);
    assert.equal(await registry.getCertificate(device.id), undefined);
    assert.equal(await registry.getThing('meter-1'), undefined, 'the thing is not created for a refused certificate');
    // A file that holds no certificate is refused before any call, as locally.
    await writeFile(file('garbage.pem'), 'not a certificate');
    failed(await remote(['things', 'register', 'meter-1', '--cert', file('garbage.pem')]), 2, 'CERT_MALFORMED');
  });

  test('ca show: the CA that issued the gateway\'s certificate, as the gateway\'s machine prints it; trusted per DescribeCACertificate', async () => {
    const local = await gw.cli(['ca', 'show']);
    const shown = await remote(['ca', 'show']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout, local.stdout);
    const localJson = JSON.parse((await gw.cli(['ca', 'show', '--json'])).stdout) as Record<string, unknown>;
    const from = await lastAuditId();
    const r = await remote(['ca', 'show', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual({ ...j, kind: localJson['kind'] }, localJson);
    assert.equal(j['kind'], null);
    assert.equal(j['trustedForDevices'], true);
    assert.ok((await actionsSince(from)).includes('iot:DescribeCACertificate'));
  });

  test('ca trust, ca list: RegisterCACertificate and ListCACertificates, the local output with the source unknown', async () => {
    failed(await remote(['ca', 'trust', file('garbage.pem')]), 2, 'CERT_MALFORMED');
    const leaf = await makeLeaf({ issuer: opCa, ...valid });
    await writeFile(file('leaf.pem'), leaf.pem);
    failed(await remote(['ca', 'trust', file('leaf.pem')]), 1, 'CA_NOT_A_CA');
    const from = await lastAuditId();
    const trusted = await remote(['ca', 'trust', file('op-ca.pem')]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, new RegExp(`^trusted CA ${opCa.id} \\(CN=Operator Device CA, valid until \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\)\\n$`));
    assert.ok((await actionsSince(from)).includes('iot:RegisterCACertificate'));
    assert.equal((await registry.getTrustedCa(opCa.id))?.source, 'operator');
    failed(await remote(['ca', 'trust', file('op-ca.pem')]), 1, 'CA_EXISTS');

    // The same list as the gateway's machine sees, in the same order; only the source is not carried by the API.
    const local = JSON.parse((await gw.cli(['ca', 'list', '--json'])).stdout) as CaRow[];
    const listed = await remote(['ca', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as CaRow[];
    assert.deepEqual(rows.map((c) => [c.id, c.subject, c.notBefore, c.notAfter]), local.map((c) => [c.id, c.subject, c.notBefore, c.notAfter]));
    assert.deepEqual(local.map((c) => c.source), ['gateway', 'operator']);
    assert.deepEqual(rows.map((c) => c.source), [null, null]);
    const text = await remote(['ca', 'list']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^ID\\s+SOURCE\\s+NOT AFTER\\s+SUBJECT\\n(.*\\n)?${opCa.id}\\s+-\\s+\\S+\\s+CN=Operator Device CA$`, 'm'));
  });

  test('things register: RegisterCertificate ACTIVE, CreateThing, AttachThingPrincipal; the local JSON and text; idempotent', async () => {
    const from = await lastAuditId();
    const r = await remote(['things', 'register', 'meter-1', '--cert', file('meter-1.pem'), '--attribute', 'room=lab', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const device = (await registry.listCertificates({ thingName: 'meter-1' }))[0]!;
    const out = JSON.parse(r.stdout) as Registered;
    assert.deepEqual([out.thingCreated, out.certificateCreated, out.attached], [true, true, true]);
    assert.deepEqual(out.thing.attributes, { room: 'lab' });
    assert.equal(out.certificate.status, 'ACTIVE');
    assert.equal(out.certificate.issuerId, opCa.id);
    assert.deepEqual(out.certificate.things, ['meter-1']);
    assert.equal(device.status, 'ACTIVE');
    assert.equal(device.issuerId, opCa.id);
    assert.deepEqual(await registry.certificatesForThing('meter-1'), [out.certificate.id]);
    assert.deepEqual((await actionsSince(from)).filter((a) => ['iot:RegisterCertificate', 'iot:CreateThing', 'iot:AttachThingPrincipal'].includes(a)),
      ['iot:RegisterCertificate', 'iot:CreateThing', 'iot:AttachThingPrincipal']);

    // The same keys as the local command's answer (run on the gateway's machine for another device).
    const other = await makeLeaf({ issuer: opCa, cn: 'meter-2', ...valid });
    await writeFile(file('meter-2.pem'), other.pem);
    const localRun = await gw.cli(['things', 'register', 'meter-2', '--cert', file('meter-2.pem'), '--json']);
    assert.equal(localRun.code, 0, localRun.stderr);
    const localOut = JSON.parse(localRun.stdout) as Registered;
    const keys = (o: object): string[] => Object.keys(o).sort();
    assert.deepEqual(keys(out), keys(localOut));
    assert.deepEqual(keys(out.thing), keys(localOut.thing));
    assert.deepEqual(keys(out.certificate), keys(localOut.certificate));

    // Again: nothing new, and the text form says so as locally.
    const again = await remote(['things', 'register', 'meter-1', '--cert', file('meter-1.pem')]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `found thing meter-1\n  certificate ${out.certificate.id} already registered (ACTIVE), already attached\n`);
    const localAgain = await gw.cli(['things', 'register', 'meter-2', '--cert', file('meter-2.pem')]);
    assert.equal(localAgain.stdout, `found thing meter-2\n  certificate ${other.id} already registered (ACTIVE), already attached\n`);
    // A registered certificate attached to a second thing.
    const second = await remote(['things', 'register', 'meter-1b', '--cert', file('meter-1.pem')]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, `created thing meter-1b\n  certificate ${out.certificate.id} already registered (ACTIVE), attached\n`);
    assert.deepEqual((await registry.thingsForCertificate(out.certificate.id)).sort(), ['meter-1', 'meter-1b']);
  });

  test('things register refuses what the local command refuses: expired, revoked; accepts an intermediate given in the file', async () => {
    const expired = await makeLeaf({ issuer: opCa, notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    await writeFile(file('expired.pem'), expired.pem);
    failed(await remote(['things', 'register', 'old-1', '--cert', file('expired.pem')]), 1, 'REMOTE_INVALID_REQUEST', /expired/);
    assert.equal(await registry.getCertificate(expired.id), undefined);
    assert.equal(await registry.getThing('old-1'), undefined);

    const sub = await makeCa({ issuer: opCa, name: 'CN=Line 3 CA', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) });
    const device = await makeLeaf({ issuer: sub, cn: 'line-3', ...valid });
    await writeFile(file('line-3.pem'), device.pem + sub.pem);
    const r = await remote(['things', 'register', 'line-3', '--cert', file('line-3.pem'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Registered).certificate.issuerId, sub.id);
    assert.equal((await registry.getCertificate(device.id))?.issuerId, sub.id);

    const revoked = await remote(['certs', 'revoke', device.id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    failed(await remote(['things', 'register', 'line-3b', '--cert', file('line-3.pem')]), 1, 'CERT_REVOKED');
    assert.equal(await registry.getThing('line-3b'), undefined, 'no thing is created for a revoked certificate');
  });

  test('a good certificate registered with the SDK; ca untrust (UpdateCACertificate INACTIVE) stops registrations of its certificates', async () => {
    const good = await makeLeaf({ issuer: opCa, ...valid });
    const reg = await iot.send(new RegisterCertificateCommand({ certificatePem: good.pem, status: 'ACTIVE' }));
    assert.equal(reg.certificateId, good.id);
    assert.equal((await registry.getCertificate(good.id))?.status, 'ACTIVE');

    failed(await remote(['ca', 'untrust', 'zz']), 2, 'CERT_ID_INVALID');
    failed(await remote(['ca', 'untrust', '00000000']), 1, 'CA_NOT_FOUND');
    const from = await lastAuditId();
    const u = await remote(['ca', 'untrust', opCa.id.slice(0, 12), '--json']);
    assert.equal(u.code, 0, u.stderr);
    assert.deepEqual(JSON.parse(u.stdout), { untrusted: opCa.id, subject: 'CN=Operator Device CA' });
    assert.ok((await actionsSince(from)).includes('iot:UpdateCACertificate'));
    assert.equal(await registry.getTrustedCa(opCa.id), undefined);
    failed(await remote(['ca', 'untrust', opCa.id]), 1, 'CA_NOT_FOUND');

    const late = await makeLeaf({ issuer: opCa, ...valid });
    await writeFile(file('late.pem'), late.pem);
    failed(await remote(['things', 'register', 'late-1', '--cert', file('late.pem')]), 1, 'REMOTE_INVALID_REQUEST', /does not chain/);
  });

  test('authorize: TestAuthorization for the thing\'s certificate with the policies in force; options it cannot express refused by name', async () => {
    const out = join(dir.path, 'auth-devices');
    const created = await remote(['things', 'create', 'auth-1', '--out', out, '--json']);
    assert.equal(created.code, 0, created.stderr);
    const certId = (JSON.parse(created.stdout) as { certificateId: string }).certificateId;
    await writeFile(file('telemetry.json'), JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:us-east-1:*:topic/data/${iot:Connection.Thing.ThingName}/*' },
        { Effect: 'Deny', Action: 'iot:Publish', Resource: 'arn:aws:iot:us-east-1:*:topic/data/*/secret' },
      ],
    }));
    assert.equal((await remote(['policies', 'create', 'Telemetry', '--file', file('telemetry.json')])).code, 0);
    assert.equal((await remote(['policies', 'attach', 'Telemetry', '--cert', certId])).code, 0);

    const from = await lastAuditId();
    const allow = await remote(['authorize', '--thing', 'auth-1', '--operation', 'iot:Publish', '--resource', 'topic/data/auth-1/temp', '--json']);
    assert.equal(allow.code, 0, allow.stderr);
    const d = JSON.parse(allow.stdout) as { allowed: boolean; authDecision: string; certificateId: string; resource: string; allowedBy: { policyName: string }[] };
    assert.deepEqual([d.allowed, d.authDecision, d.certificateId], [true, 'ALLOWED', certId]);
    assert.match(d.resource, /^arn:aws:iot:us-east-1:\d{12}:topic\/data\/auth-1\/temp$/);
    assert.deepEqual(d.allowedBy.map((p) => p.policyName), ['Telemetry']);
    assert.ok((await actionsSince(from)).includes('iot:TestAuthorization'));

    // A deny is an answer (exit 0), explicit or implicit, in the text form too.
    const denied = await remote(['authorize', '--thing', 'auth-1', '--operation', 'iot:Publish', '--resource', 'topic/data/auth-1/secret']);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, /^DENY iot:Publish arn:aws:iot:us-east-1:\d{12}:topic\/data\/auth-1\/secret\n  thing: {5}auth-1\n/);
    assert.match(denied.stdout, /^ {2}decision: {2}EXPLICIT_DENY /m);
    assert.match(denied.stdout, /^ {2}denied by: Telemetry$/m);
    const other = await remote(['authorize', '--thing', 'auth-1', '--operation', 'iot:Publish', '--resource', 'topic/data/auth-2/temp', '--json']);
    assert.equal(other.code, 0, other.stderr);
    assert.deepEqual((JSON.parse(other.stdout) as { allowed: boolean; authDecision: string }).authDecision, 'IMPLICIT_DENY');

    // What the local command decides and TestAuthorization cannot express: refused, naming the option.
    for (const [args, option] of [
      [['--attribute', 'a=b'], '--attribute'], [['--source-ip', '10.0.0.1'], '--source-ip'], [['--retain'], '--retain'], [['--client-id', 'other'], '--client-id'],
    ] as const) {
      failed(await remote(['authorize', '--thing', 'auth-1', '--operation', 'iot:Publish', '--resource', 'topic/data/auth-1/t', ...args]), 2, 'REMOTE_UNSUPPORTED', new RegExp(option));
    }
    failed(await remote(['authorize', '--requests', file('telemetry.json')]), 2, 'REMOTE_UNSUPPORTED', /--requests/);
    failed(await remote(['authorize', '--thing', 'auth-1', '--operation', 'mqtt:publish', '--resource', 'mqtt:topic:x']), 2, 'REMOTE_UNSUPPORTED', /mqtt:publish/);
    failed(await remote(['authorize', '--thing', 'auth-1', '--operation', 'iot:GetThingShadow', '--resource', 'thing/auth-1']), 2, 'REMOTE_UNSUPPORTED', /iot:GetThingShadow/);
    failed(await remote(['authorize', '--config', file('x.yaml'), '--thing', 'auth-1', '--operation', 'iot:Connect', '--resource', 'client/auth-1']), 2, 'USAGE', /--config and a remote endpoint/);
    // The thing and its certificate as the local command resolves them.
    failed(await remote(['authorize', '--thing', 'nobody', '--operation', 'iot:Connect', '--resource', 'client/nobody']), 1, 'THING_NOT_FOUND');
    const second = (await registry.certificatesForThing('meter-2'))[0]!;
    assert.equal((await remote(['things', 'attach', 'auth-1', second])).code, 0);
    failed(await remote(['authorize', '--thing', 'auth-1', '--operation', 'iot:Connect', '--resource', 'client/auth-1']), 2, 'THING_CERTIFICATE_AMBIGUOUS');
    const chosen = await remote(['authorize', '--thing', 'auth-1', '--cert', certId.slice(0, 12), '--operation', 'iot:Publish', '--resource', 'topic/data/auth-1/temp', '--json']);
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.equal((JSON.parse(chosen.stdout) as { certificateId: string }).certificateId, certId);
  });
});
