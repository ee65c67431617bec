/**
 * The real CLI binary against a real gateway's management API (HTTPS with the gateway's
 * CA, SigV4 with the first-start administrator's credentials): with --endpoint and the
 * environment, with a profile in a temporary HOME; refusals (wrong secret, untrusted
 * certificate, commands that only run locally) with their codes and exit statuses; and
 * the local mode unchanged without an endpoint.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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

interface AuditRecord {
  principal: string;
  action: string;
  resource: string;
  decision: string;
  status: number;
}

describe('the CLI as a client of the management API (real gateway, real binary)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let endpoint: string;
  let caFile: string;
  let credentialsFile: string;
  let accessKeyId: string;
  let secret: string;
  /** A HOME with neither config nor credentials. */
  let emptyHome: string;
  /** Environment that reaches the gateway as the administrator, through --endpoint. */
  let adminEnv: NodeJS.ProcessEnv;

  const clean = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GATEHOUSE_')) base[k] = v;
    return { ...base, HOME: emptyHome, ...env };
  };
  // runCli merges process.env first; explicit undefined-free environments are passed whole.
  const cli = (args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> => runCli(args, { env: clean(env) });

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    endpoint = await gw.managementUrl();
    credentialsFile = join(gw.dataDir, 'admin-credentials');
    const text = await readFile(credentialsFile, 'utf8');
    accessKeyId = /aws_access_key_id = (\S+)/.exec(text)![1]!;
    secret = /aws_secret_access_key = (\S+)/.exec(text)![1]!;
    const ca = await gw.cli(['ca', 'show']);
    assert.equal(ca.code, 0, ca.stderr);
    caFile = join(dir.path, 'gateway-ca.pem');
    await writeFile(caFile, ca.stdout);
    emptyHome = join(dir.path, 'empty-home');
    await mkdir(emptyHome);
    adminEnv = { GATEHOUSE_ACCESS_KEY_ID: accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: secret, GATEHOUSE_CA_BUNDLE: caFile };
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  async function audit(env: NodeJS.ProcessEnv, extra: string[] = []): Promise<AuditRecord[]> {
    const r = await cli(['--endpoint', endpoint, 'audit', 'list', '--json', '--limit', '1000', ...extra], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as AuditRecord[];
  }

  test('audit list with --endpoint and the environment\'s keys: the previous call is in the log', async () => {
    await audit(adminEnv);
    const records = await audit(adminEnv);
    const mine = records.filter((r) => r.action === 'gatehouse:ListAuditRecords' && r.decision === 'allow' && r.principal.endsWith(':user/admin'));
    assert.ok(mine.length >= 1, JSON.stringify(records.slice(0, 5)));
    assert.equal(mine[0]!.status, 200);
  });

  test('a profile in ~/.gatehouse (config + 0600 credentials) reaches the gateway; the same file at 0644 is refused', async () => {
    const home = join(dir.path, 'home-profile');
    await mkdir(join(home, '.gatehouse'), { recursive: true });
    await writeFile(join(home, '.gatehouse', 'config'), `[profile gw]\nendpoint = ${endpoint}\nca_bundle = ${caFile}\n`);
    const creds = join(home, '.gatehouse', 'credentials');
    await writeFile(creds, `[gw]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secret}\n`, { mode: 0o600 });
    const ok = await cli(['--profile', 'gw', 'audit', 'list', '--limit', '5'], { HOME: home });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /gatehouse:ListAuditRecords/);
    const viaEnv = await cli(['audit', 'list', '--limit', '1'], { HOME: home, GATEHOUSE_PROFILE: 'gw' });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);

    await chmod(creds, 0o644);
    const refused = await cli(['--profile', 'gw', 'audit', 'list'], { HOME: home });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^error REMOTE_CREDENTIALS_FILE_INSECURE: /m);
    assert.ok(!refused.stderr.includes(secret));
  });

  test('the administrator\'s credentials file works as it is (GATEHOUSE_SHARED_CREDENTIALS_FILE, profile gatehouse-admin)', async () => {
    const r = await cli(['--endpoint', endpoint, '--profile', 'gatehouse-admin', 'audit', 'list', '--limit', '1'], { GATEHOUSE_SHARED_CREDENTIALS_FILE: credentialsFile, GATEHOUSE_CA_BUNDLE: caFile });
    assert.equal(r.code, 0, r.stderr);
  });

  test('a wrong secret: REMOTE_AUTH_FAILED, exit 1, no secret printed, and the refusal is audited', async () => {
    const wrong = `${secret.slice(0, -4)}XXXX`;
    const r = await cli(['--endpoint', endpoint, 'audit', 'list'], { ...adminEnv, GATEHOUSE_SECRET_ACCESS_KEY: wrong });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error REMOTE_AUTH_FAILED: .*InvalidSignatureException|MGMT_SIGNATURE_DOES_NOT_MATCH/m);
    assert.ok(!r.stderr.includes(wrong) && !r.stderr.includes(secret) && r.stdout === '');
    const records = await audit(adminEnv, ['--decision', 'deny']);
    assert.ok(records.some((x) => x.principal === 'anonymous' && x.action === 'gatehouse:ListAuditRecords' && x.status === 403), JSON.stringify(records.slice(0, 3)));
  });

  test('an unknown access key: REMOTE_AUTH_FAILED naming the key id', async () => {
    const r = await cli(['--endpoint', endpoint, 'audit', 'list'], { ...adminEnv, GATEHOUSE_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN00' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /REMOTE_AUTH_FAILED/);
    assert.match(r.stderr, /AKIAUNKNOWNUNKNOWN00/);
  });

  test('without the gateway CA the certificate is not trusted: REMOTE_TLS_FAILED, exit 69', async () => {
    const r = await cli(['--endpoint', endpoint, 'audit', 'list'], { GATEHOUSE_ACCESS_KEY_ID: accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: secret });
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stderr, /^error REMOTE_TLS_FAILED: /m);
  });

  test('a closed port: REMOTE_UNAVAILABLE, exit 69', async () => {
    const r = await cli(['--endpoint', 'https://127.0.0.1:1', 'audit', 'list'], adminEnv);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /^error REMOTE_UNAVAILABLE: .*refused the connection/m);
  });

  test('commands that run only locally are refused with REMOTE_UNSUPPORTED, exit 2; policy simulate still runs', async () => {
    for (const args of [['start'], ['api', 'token'], ['audit', 'prune', '--before', '2026-01-01T00:00:00Z']]) {
      const r = await cli(['--endpoint', endpoint, ...args], adminEnv);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^error REMOTE_UNSUPPORTED: \`gatehouse ${args.slice(0, 2).join(' ').replace(/ x$/, '')}`, 'm'));
    }
    const policies = join(dir.path, 'p.json');
    await writeFile(policies, JSON.stringify([{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }]));
    const context = join(dir.path, 'ctx.json');
    await writeFile(context, JSON.stringify({ clientId: 'c1' }));
    const sim = await runCli(['--endpoint', 'https://nowhere.invalid', 'policy', 'simulate', '--dialect', 'iot', '--policies', policies, '--context', context, '--requests', '-'], { input: '{"action":"iot:Connect","resource":"client/c1"}\n', env: clean({}) });
    assert.equal(sim.code, 0, sim.stderr);
    assert.match(sim.stdout, /ALLOW/i);
  });

  test('--data-dir together with an endpoint is a usage error', async () => {
    const r = await cli(['--endpoint', endpoint, 'things', 'list', '--data-dir', gw.dataDir], adminEnv);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error USAGE: --data-dir and a remote endpoint/m);
  });

  test('no endpoint: the commands work on the data directory exactly as before, credentials in the environment or not', async () => {
    const local = await cli(['things', 'list', '--data-dir', gw.dataDir, '--json'], { GATEHOUSE_ACCESS_KEY_ID: accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: 'irrelevant' });
    assert.equal(local.code, 0, local.stderr);
    assert.ok(Array.isArray(JSON.parse(local.stdout)));
    // The audit log read locally and remotely is the same log, in the same shape.
    const localAudit = await cli(['audit', 'list', '--data-dir', gw.dataDir, '--json', '--limit', '5'], {});
    assert.equal(localAudit.code, 0, localAudit.stderr);
    const remoteAudit = await cli(['--endpoint', endpoint, 'audit', 'list', '--json', '--limit', '5'], adminEnv);
    assert.equal(remoteAudit.code, 0, remoteAudit.stderr);
    const keys = (text: string): string[] => Object.keys((JSON.parse(text) as Record<string, unknown>[])[0] ?? {}).sort();
    assert.ok(keys(localAudit.stdout).length > 5);
    assert.deepEqual(keys(remoteAudit.stdout), keys(localAudit.stdout));
  });

  test('things and policies remotely: create a thing, list it, create and attach a policy; the audit log shows each call', async () => {
    const out = join(dir.path, 'remote-devices');
    const created = await cli(['--endpoint', endpoint, 'things', 'create', 'remote-1', '--attribute', 'room=lab', '--out', out, '--json'], adminEnv);
    assert.equal(created.code, 0, created.stderr);
    const info = JSON.parse(created.stdout) as { certificateId: string; thing: { name: string; attributes: Record<string, string> } };
    assert.equal(info.thing.name, 'remote-1');
    assert.deepEqual(info.thing.attributes, { room: 'lab' });
    assert.match(await readFile(join(out, 'remote-1.key.pem'), 'utf8'), /PRIVATE KEY/);

    const list = await cli(['--endpoint', endpoint, 'things', 'list', '--json'], adminEnv);
    assert.equal(list.code, 0, list.stderr);
    const things = JSON.parse(list.stdout) as { name: string; certificates: string[] }[];
    assert.deepEqual(things.find((x) => x.name === 'remote-1')?.certificates, [info.certificateId]);
    // The local registry sees the same thing: one registry, two ways in.
    const local = await gw.cli(['things', 'show', 'remote-1', '--json']);
    assert.equal(local.code, 0, local.stderr);

    const doc = join(dir.path, 'remote-policy.json');
    await writeFile(doc, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }));
    const policy = await cli(['--endpoint', endpoint, 'policies', 'create', 'remote-connect', '--file', doc], adminEnv);
    assert.equal(policy.code, 0, policy.stderr);
    const attach = await cli(['--endpoint', endpoint, 'policies', 'attach', 'remote-connect', '--cert', info.certificateId.slice(0, 12)], adminEnv);
    assert.equal(attach.code, 0, attach.stderr);
    const targets = await cli(['--endpoint', endpoint, 'policies', 'list-targets', 'remote-connect', '--json'], adminEnv);
    assert.deepEqual(JSON.parse(targets.stdout), [{ certificateId: info.certificateId }]);

    const records = await audit(adminEnv);
    for (const action of ['iot:CreateThing', 'iot:CreateKeysAndCertificate', 'iot:AttachThingPrincipal', 'iot:ListThings', 'iot:CreatePolicy', 'iot:AttachPolicy']) {
      assert.ok(records.some((r) => r.action === action && r.decision === 'allow'), `no audit record for ${action}`);
    }

    const missing = await cli(['--endpoint', endpoint, 'things', 'show', 'no-such-thing'], adminEnv);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error THING_NOT_FOUND: /m);
  });
});
