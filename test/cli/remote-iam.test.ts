/**
 * The `gatehouse iam …` commands against a real gateway: the real CLI binary over HTTPS,
 * signed with the first-start administrator's key, to the IAM query API (`POST /`,
 * service `iam`). What each command did is read back on the gateway's machine (the local
 * CLI on its data directory), and a key created remotely is used for a remote command.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
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

describe('remote iam users, access keys, roles and policies through a real gateway', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let endpoint: string;
  let env: NodeJS.ProcessEnv;

  const remote = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCli(['--endpoint', endpoint, ...args], { env: { ...env, ...extra } });

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    endpoint = await gw.managementUrl();
    env = await gw.remoteAdminEnv(dir.path);
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('users, an access key (secret printed once), a policy attached: the new key works for a remote `things list`', async () => {
    const user = await remote(['iam', 'users', 'create', 'alice', '--tag', 'team=ops', '--json']);
    assert.equal(user.code, 0, user.stderr);
    const u = JSON.parse(user.stdout) as { userName: string; arn: string; tags: Record<string, string> };
    assert.match(u.arn, /^arn:aws:iam::\d{12}:user\/alice$/);
    assert.deepEqual(u.tags, { team: 'ops' });
    const local = await gw.cli(['iam', 'users', 'show', 'alice', '--json']);
    assert.equal(local.code, 0, local.stderr);
    assert.deepEqual((JSON.parse(local.stdout) as { tags: Record<string, string> }).tags, { team: 'ops' });
    const again = await remote(['iam', 'users', 'create', 'alice']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error REMOTE_CONFLICT: .*EntityAlreadyExists/m);
    const list = await remote(['iam', 'users', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^alice\s+\S+\s+\d{4}-\d{2}-\d{2}\S*\s+team=ops$/m);
    const missing = await remote(['iam', 'users', 'show', 'nobody']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error CONTROL_USER_NOT_FOUND: /m);

    const key = await remote(['iam', 'access-keys', 'create', '--user', 'alice', '--json']);
    assert.equal(key.code, 0, key.stderr);
    const k = JSON.parse(key.stdout) as { accessKeyId: string; secretAccessKey: string; userName: string; status: string };
    assert.deepEqual([k.userName, k.status], ['alice', 'Active']);
    assert.match(k.secretAccessKey, /^\S{40}$/);
    assert.match(key.stderr, /only time the secret access key is shown/);
    assert.ok(!key.stderr.includes(k.secretAccessKey));
    const keys = await remote(['iam', 'access-keys', 'list', '--user', 'alice', '--json']);
    assert.equal(keys.code, 0, keys.stderr);
    assert.deepEqual((JSON.parse(keys.stdout) as { accessKeyId: string }[]).map((x) => x.accessKeyId), [k.accessKeyId]);
    assert.ok(!keys.stdout.includes(k.secretAccessKey));
    const as = { GATEHOUSE_ACCESS_KEY_ID: k.accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: k.secretAccessKey };

    // No policy yet: the new key is known but allowed nothing.
    const denied = await remote(['things', 'list'], as);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^error REMOTE_ACCESS_DENIED: User: arn:aws:iam::\d{12}:user\/alice is not authorized to perform: iot:ListThings/m);

    const docText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:List*', 'iot:Describe*'], Resource: '*' }] });
    const doc = join(dir.path, 'read.json');
    await writeFile(doc, docText);
    const created = await remote(['iam', 'policies', 'create', 'ReadThings', '--document', doc, '--description', 'read the registry']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created IAM policy ReadThings \(arn:aws:iam::\d{12}:policy\/ReadThings, version v1\)$/m);
    const attach = await remote(['iam', 'policies', 'attach', 'ReadThings', '--user', 'alice']);
    assert.equal(attach.code, 0, attach.stderr);
    assert.match(attach.stdout, /^attached IAM policy ReadThings to user alice$/m);
    assert.match((await remote(['iam', 'policies', 'attach', 'ReadThings', '--user', 'alice'])).stdout, /^IAM policy ReadThings was already attached to user alice$/m);
    const localUser = await gw.cli(['iam', 'users', 'show', 'alice', '--json']);
    assert.deepEqual((JSON.parse(localUser.stdout) as { attachedPolicies: string[] }).attachedPolicies, ['ReadThings']);

    const allowed = await remote(['things', 'list'], as);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /^no things/m);

    // The document comes back decoded, exactly as sent; the holders are listed.
    const show = await remote(['iam', 'policies', 'show', 'ReadThings', '--json']);
    assert.equal(show.code, 0, show.stderr);
    const shown = JSON.parse(show.stdout) as { attachedTo: unknown[]; version: { document: string; versionId: string }; description: string };
    assert.deepEqual(shown.attachedTo, [{ kind: 'user', name: 'alice' }]);
    assert.equal(shown.version.document, docText);
    assert.equal(shown.description, 'read the registry');

    const v2 = await remote(['iam', 'policies', 'create-version', 'ReadThings', '--document', doc, '--set-default']);
    assert.equal(v2.code, 0, v2.stderr);
    assert.match(v2.stdout, /^created version v2 of IAM policy ReadThings \(now the default\)$/m);
    assert.equal((await remote(['iam', 'policies', 'delete-version', 'ReadThings', 'v1'])).code, 0);
    const listed = await remote(['iam', 'policies', 'list', '--json']);
    assert.deepEqual((JSON.parse(listed.stdout) as { policyName?: string; name?: string; defaultVersionId: string }[])
      .filter((p) => (p.policyName ?? p.name) === 'ReadThings').map((p) => p.defaultVersionId), ['v2']);

    const bad = join(dir.path, 'bad.json');
    await writeFile(bad, '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}');
    const refused = await remote(['iam', 'policies', 'create', 'Broken', '--document', bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error REMOTE_INVALID_REQUEST: .*MalformedPolicyDocument/m);

    // Deactivated remotely: the key is refused at once.
    const off = await remote(['iam', 'access-keys', 'update', k.accessKeyId, '--status', 'Inactive']);
    assert.equal(off.code, 0, off.stderr);
    const refusedKey = await remote(['things', 'list'], as);
    assert.equal(refusedKey.code, 1);
    assert.match(refusedKey.stderr, /^error REMOTE_AUTH_FAILED: /m);
    assert.equal((await remote(['iam', 'access-keys', 'delete', k.accessKeyId])).code, 0);
    assert.equal((await remote(['iam', 'policies', 'detach', 'ReadThings', '--user', 'alice'])).code, 0);
    const del = await remote(['iam', 'users', 'delete', 'alice']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await gw.cli(['iam', 'users', 'show', 'alice'])).code, 1);
  });

  test('roles: create with a trust policy, show it decoded, replace it, delete', async () => {
    const trustText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:user/admin' }, Action: 'sts:AssumeRole' }] });
    const trust = join(dir.path, 'trust.json');
    await writeFile(trust, trustText);
    const created = await remote(['iam', 'roles', 'create', 'device-role', '--trust-policy', trust, '--max-session-duration', '7200', '--description', 'for devices', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const r = JSON.parse(created.stdout) as { arn: string };
    assert.match(r.arn, /^arn:aws:iam::\d{12}:role\/device-role$/);
    const show = await remote(['iam', 'roles', 'show', 'device-role']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /max session: 7200 s/);
    assert.match(show.stdout, /description: for devices/);
    assert.ok(show.stdout.includes(trustText), show.stdout);
    const list = await remote(['iam', 'roles', 'list']);
    assert.match(list.stdout, /^device-role\s+7200s\s+\d{4}-\d{2}-\d{2}\S*\s+for devices$/m);
    const newTrust = trustText.replace('user/admin', 'root');
    await writeFile(trust, newTrust);
    assert.equal((await remote(['iam', 'roles', 'update-trust-policy', 'device-role', '--trust-policy', trust])).code, 0);
    const local = await gw.cli(['iam', 'roles', 'show', 'device-role']);
    assert.ok(local.stdout.includes(newTrust), local.stdout);
    assert.equal((await remote(['iam', 'roles', 'delete', 'device-role'])).code, 0);
    const gone = await remote(['iam', 'roles', 'show', 'device-role']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^error CONTROL_ROLE_NOT_FOUND: /m);
  });
});
