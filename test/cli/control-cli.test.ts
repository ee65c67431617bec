/**
 * `gatehouse iam`, `role-aliases`, `tags` and `audit` against a temporary data directory:
 * the real command tree (runCli, in process) over the real registry file, checking
 * output, JSON shapes, exit statuses and error codes as an operator meets them.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { openControlStore } from '../../src/identity/admin-bootstrap.js';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { runCli } from '../../src/cli/program.js';
import { makeProcessTempDir } from '../helpers/tmp-dir.js';

interface Run { code: number; out: string; err: string }

async function gatehouse(args: readonly string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function json<T = Record<string, unknown>>(r: Run): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as T;
}

function failed(r: Run, exit: number, code: string): void {
  assert.equal(r.code, exit, `expected exit ${exit} with ${code}; out: ${r.out} err: ${r.err}`);
  assert.match(r.err, new RegExp(`error ${code}:`));
}

const TRUST = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: 'arn:aws:iam::000000000000:user/alice' } }] });
const DOC = (action: string): string => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });

describe('gatehouse iam / role-aliases / tags / audit', () => {
  let dir: string;
  let data: string;
  const dd = (): string[] => ['--data-dir', data];
  const file = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  before(() => {
    dir = makeProcessTempDir('gatehouse-control-cli-');
    data = join(dir, 'data');
  });

  it('manages users and access keys; the secret is printed once, on stdout, with a warning', async () => {
    const u = json(await gatehouse(['iam', 'users', 'create', 'alice', '--tag', 'team=ops', '--json', ...dd()]));
    assert.deepEqual([u['userName'], u['arn'], u['tags']], ['alice', 'arn:aws:iam::000000000000:user/alice', { team: 'ops' }]);
    failed(await gatehouse(['iam', 'users', 'create', 'ALICE', ...dd()]), 1, 'CONTROL_USER_EXISTS');
    failed(await gatehouse(['iam', 'users', 'create', 'a b', ...dd()]), 2, 'CONTROL_NAME_INVALID');
    failed(await gatehouse(['iam', 'users', 'create', 'bob', '--tag', 'novalue', ...dd()]), 2, 'USAGE');

    const created = await gatehouse(['iam', 'access-keys', 'create', '--user', 'alice', ...dd()]);
    assert.equal(created.code, 0, created.err);
    const [idLine, secretLine] = created.out.split('\n');
    assert.match(idLine!, /^aws_access_key_id = AKIA[A-Z2-7]{16}$/);
    assert.match(secretLine!, /^aws_secret_access_key = [A-Za-z0-9+/]{40}$/);
    assert.match(created.err, /only time the secret access key is shown/);
    const keyId = idLine!.split(' = ')[1]!;
    const secret = secretLine!.split(' = ')[1]!;

    const listed = await gatehouse(['iam', 'access-keys', 'list', '--user', 'alice', '--json', ...dd()]);
    assert.deepEqual(json<{ accessKeyId: string; status: string }[]>(listed).map((k) => [k.accessKeyId, k.status]), [[keyId, 'Active']]);
    const shown = await gatehouse(['iam', 'users', 'show', 'alice', ...dd()]);
    assert.match(shown.out, new RegExp(`keys: +${keyId} \\(Active\\)`));
    assert.ok(!listed.out.includes(secret) && !shown.out.includes(secret), 'a secret is shown again');

    json(await gatehouse(['iam', 'access-keys', 'update', keyId, '--status', 'Inactive', '--json', ...dd()]));
    failed(await gatehouse(['iam', 'access-keys', 'update', keyId, '--status', 'off', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['iam', 'users', 'delete', 'alice', ...dd()]), 1, 'CONTROL_USER_HAS_DEPENDENTS');
    assert.equal((await gatehouse(['iam', 'access-keys', 'delete', keyId, ...dd()])).code, 0);
    failed(await gatehouse(['iam', 'access-keys', 'delete', keyId, ...dd()]), 1, 'CONTROL_ACCESS_KEY_NOT_FOUND');
    const table = await gatehouse(['iam', 'users', 'list', ...dd()]);
    assert.match(table.out, /^NAME +ID +CREATED +TAGS\nalice +AIDA[A-Z2-7]{17} +\S+ +team=ops$/);
    failed(await gatehouse(['iam', 'users', 'show', 'nobody', ...dd()]), 1, 'CONTROL_USER_NOT_FOUND');
  });

  it('manages roles, IAM policies with versions, and attachments', async () => {
    const trust = file('trust.json', TRUST);
    const r = json(await gatehouse(['iam', 'roles', 'create', 'Reader', '--trust-policy', trust, '--max-session-duration', '7200', '--description', 'reads', '--json', ...dd()]));
    assert.deepEqual([r['arn'], r['maxSessionDuration']], ['arn:aws:iam::000000000000:role/Reader', 7200]);
    failed(await gatehouse(['iam', 'roles', 'create', 'X', '--trust-policy', file('bad-trust.json', '{"Statement": []}'), ...dd()]), 1, 'CONTROL_TRUST_POLICY_INVALID');
    failed(await gatehouse(['iam', 'roles', 'create', 'X', '--trust-policy', trust, '--max-session-duration', '60', ...dd()]), 2, 'CONTROL_MAX_SESSION_DURATION_INVALID');
    failed(await gatehouse(['iam', 'roles', 'create', 'X', '--trust-policy', join(dir, 'missing.json'), ...dd()]), 2, 'FILE_UNREADABLE');
    const open = JSON.stringify({ Statement: { Effect: 'Allow', Action: 'sts:AssumeRole', Principal: '*' } });
    assert.equal((await gatehouse(['iam', 'roles', 'update-trust-policy', 'reader', '--trust-policy', file('open.json', open), ...dd()])).code, 0);
    assert.equal(json(await gatehouse(['iam', 'roles', 'show', 'Reader', '--json', ...dd()]))['assumeRolePolicyDocument'], open);

    const p = json(await gatehouse(['iam', 'policies', 'create', 'ReadThings', '--document', file('p1.json', DOC('iot:ListThings')), '--json', ...dd()]));
    assert.deepEqual([p['arn'], p['defaultVersionId']], ['arn:aws:iam::000000000000:policy/ReadThings', 'v1']);
    failed(await gatehouse(['iam', 'policies', 'create', 'Bad', '--document', file('bad.json', '{"Statement": {"Effect": "Allow"}}'), ...dd()]), 1, 'CONTROL_POLICY_DOCUMENT_INVALID');
    const v2 = json(await gatehouse(['iam', 'policies', 'create-version', 'ReadThings', '--document', file('p2.json', DOC('iot:Describe*')), '--set-default', '--json', ...dd()]));
    assert.deepEqual([v2['versionId'], v2['isDefaultVersion']], ['v2', true]);
    failed(await gatehouse(['iam', 'policies', 'delete-version', 'ReadThings', 'v2', ...dd()]), 1, 'CONTROL_POLICY_VERSION_IS_DEFAULT');
    assert.equal((await gatehouse(['iam', 'policies', 'set-default-version', 'ReadThings', 'v1', ...dd()])).code, 0);
    assert.equal((await gatehouse(['iam', 'policies', 'delete-version', 'ReadThings', 'v2', ...dd()])).code, 0);

    failed(await gatehouse(['iam', 'policies', 'attach', 'ReadThings', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['iam', 'policies', 'attach', 'ReadThings', '--user', 'alice', '--role', 'Reader', ...dd()]), 2, 'USAGE');
    assert.deepEqual(json(await gatehouse(['iam', 'policies', 'attach', 'ReadThings', '--role', 'Reader', '--json', ...dd()]))['changed'], true);
    assert.deepEqual(json(await gatehouse(['iam', 'policies', 'attach', 'ReadThings', '--role', 'Reader', '--json', ...dd()]))['changed'], false);
    assert.equal((await gatehouse(['iam', 'policies', 'attach', 'ReadThings', '--user', 'alice', ...dd()])).code, 0);
    const shown = json<{ attachedTo: unknown; versions: unknown; version: { document: string } }>(await gatehouse(['iam', 'policies', 'show', 'ReadThings', '--json', ...dd()]));
    assert.deepEqual(shown.attachedTo, [{ kind: 'role', name: 'Reader' }, { kind: 'user', name: 'alice' }]);
    assert.equal(shown.version.document, DOC('iot:ListThings'));
    failed(await gatehouse(['iam', 'policies', 'delete', 'ReadThings', ...dd()]), 1, 'CONTROL_POLICY_ATTACHED');
    failed(await gatehouse(['iam', 'roles', 'delete', 'Reader', ...dd()]), 1, 'CONTROL_ROLE_IN_USE');
    assert.equal((await gatehouse(['iam', 'policies', 'detach', 'ReadThings', '--user', 'alice', ...dd()])).code, 0);
    failed(await gatehouse(['iam', 'policies', 'detach', 'ReadThings', '--user', 'alice', ...dd()]), 1, 'CONTROL_POLICY_NOT_ATTACHED');
    assert.match((await gatehouse(['iam', 'policies', 'list', ...dd()])).out, /^NAME +DEFAULT +ATTACHED +UPDATED\nReadThings +v1 +1 /);
  });

  it('manages role aliases', async () => {
    const a = json(await gatehouse(['role-aliases', 'create', 'devices', '--role-arn', 'arn:aws:iam::000000000000:role/Reader', '--credential-duration', '900', '--json', ...dd()]));
    assert.deepEqual([a['roleAliasArn'], a['credentialDurationSeconds']], ['arn:aws:iot:us-east-1:000000000000:rolealias/devices', 900]);
    failed(await gatehouse(['role-aliases', 'create', 'x', '--role-arn', 'arn:aws:iam::111111111111:role/Reader', ...dd()]), 2, 'CONTROL_ROLE_ARN_INVALID');
    failed(await gatehouse(['role-aliases', 'update', 'devices', ...dd()]), 2, 'USAGE');
    assert.equal(json(await gatehouse(['role-aliases', 'update', 'devices', '--credential-duration', '3600', '--json', ...dd()]))['credentialDurationSeconds'], 3600);
    failed(await gatehouse(['role-aliases', 'update', 'devices', '--credential-duration', '100000', ...dd()]), 2, 'CONTROL_CREDENTIAL_DURATION_INVALID');
    assert.match((await gatehouse(['role-aliases', 'show', 'devices', ...dd()])).out, /role: +arn:aws:iam::000000000000:role\/Reader/);
    assert.equal((await gatehouse(['role-aliases', 'delete', 'devices', ...dd()])).code, 0);
    failed(await gatehouse(['role-aliases', 'show', 'devices', ...dd()]), 1, 'CONTROL_ROLE_ALIAS_NOT_FOUND');
  });

  it('tags resources named by ARN or TYPE/NAME, with the ARNs of --config', async () => {
    const registry = SqliteRegistry.open({ file: registryPath(data) });
    await registry.createThing('dev-1');
    await registry.close();
    const added = json(await gatehouse(['tags', 'add', '--resource-arn', 'arn:aws:iot:us-east-1:000000000000:thing/dev-1', '--tag', 'site=hall A', '--tag', 'env=prod', '--json', ...dd()]));
    assert.deepEqual(added, { resourceArn: 'arn:aws:iot:us-east-1:000000000000:thing/dev-1', tags: { env: 'prod', site: 'hall A' } });
    assert.deepEqual(json(await gatehouse(['tags', 'remove', '--resource-arn', 'thing/dev-1', '--key', 'env', '--json', ...dd()]))['tags'], { site: 'hall A' });
    assert.deepEqual(json(await gatehouse(['tags', 'list', '--resource-arn', 'user/ALICE', '--json', ...dd()])), { resourceArn: 'arn:aws:iam::000000000000:user/ALICE', tags: { team: 'ops' } });
    failed(await gatehouse(['tags', 'add', '--resource-arn', 'arn:aws:iot:eu-west-1:000000000000:thing/dev-1', '--tag', 'a=b', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['tags', 'add', '--resource-arn', 'thing/ghost', '--tag', 'a=b', ...dd()]), 1, 'CONTROL_RESOURCE_NOT_FOUND');
    failed(await gatehouse(['tags', 'add', '--resource-arn', 'thing/dev-1', '--tag', 'aws:x=b', ...dd()]), 2, 'CONTROL_TAG_INVALID');

    const config = file('gatehouse.json', JSON.stringify({ gatehouse: { iot: { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' } } }));
    const withConfig = json(await gatehouse(['tags', 'list', '--resource-arn', 'arn:aws:iot:eu-west-1:123456789012:thing/dev-1', '--config', config, '--json', ...dd()]));
    assert.deepEqual(withConfig['tags'], { site: 'hall A' });
    assert.equal(json(await gatehouse(['iam', 'users', 'show', 'alice', '--config', config, '--json', ...dd()]))['arn'], 'arn:aws:iam::123456789012:user/alice');
  });

  it('lists the audit log newest first with filters, and prunes it', async () => {
    const registry = SqliteRegistry.open({ file: registryPath(data) });
    const store = openControlStore(registry, data, { partition: 'aws', region: 'us-east-1', accountId: '000000000000' });
    const base = { resource: '*', reason: 'ALLOWED_BY_STATEMENT', policy: 'ReadThings', statement: '0', sourceIp: '127.0.0.1', userAgent: null, status: 200 };
    await store.appendAudit([
      { ...base, at: new Date('2026-05-01T10:00:00Z'), principal: 'arn:aws:iam::000000000000:user/alice', action: 'iot:ListThings', decision: 'allow', requestId: 'r1' },
      { ...base, at: new Date('2026-05-02T10:00:00Z'), principal: 'arn:aws:iam::000000000000:user/alice', action: 'iot:DeleteThing', decision: 'deny', reason: 'NO_MATCHING_STATEMENT', policy: null, statement: null, status: 403, requestId: 'r2' },
      { ...base, at: new Date('2026-05-03T10:00:00Z'), principal: 'gatehouse:api-token', action: 'gatehouse:Authorize', decision: 'allow', requestId: 'r3' },
    ]);
    await registry.close();
    const ids = (r: Run): string[] => json<{ requestId: string }[]>(r).map((x) => x.requestId);
    assert.deepEqual(ids(await gatehouse(['audit', 'list', '--json', ...dd()])), ['r3', 'r2', 'r1']);
    assert.deepEqual(ids(await gatehouse(['audit', 'list', '--decision', 'deny', '--json', ...dd()])), ['r2']);
    assert.deepEqual(ids(await gatehouse(['audit', 'list', '--principal', 'arn:aws:iam::000000000000:user/alice', '--since', '2026-05-01T12:00:00Z', '--json', ...dd()])), ['r2']);
    assert.deepEqual(ids(await gatehouse(['audit', 'list', '--limit', '1', '--json', ...dd()])), ['r3']);
    const table = await gatehouse(['audit', 'list', '--action', 'iot:ListThings', ...dd()]);
    assert.match(table.out, /iot:ListThings +\* +ALLOWED_BY_STATEMENT \(ReadThings\/0\)$/m);
    failed(await gatehouse(['audit', 'list', '--decision', 'maybe', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['audit', 'list', '--since', 'yesterday', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['audit', 'list', '--limit', '5000', ...dd()]), 2, 'USAGE');
    assert.deepEqual(json(await gatehouse(['audit', 'prune', '--before', '2026-05-02T12:00:00Z', '--json', ...dd()])), { deleted: 2, before: '2026-05-02T12:00:00.000Z' });
    assert.deepEqual(ids(await gatehouse(['audit', 'list', '--json', ...dd()])), ['r3']);
  });
});
