/**
 * The administrator created at first start: one user with AdministratorAccess and one
 * access key, the key written to a 0600 shared-credentials file, instructions that never
 * contain the secret, and nothing done again on later starts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import type { IotDeployment } from '../../src/core/policy/iot/context.js';
import { ADMIN_POLICY_DOCUMENT, adminCredentialsPath, ensureAdministrator, openControlStore } from '../../src/identity/admin-bootstrap.js';
import { ControlError } from '../../src/identity/errors.js';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

const DEP: IotDeployment = { partition: 'aws', region: 'eu-central-1', accountId: '123456789012' };

async function open(t: TestContext, dir?: string): Promise<{ dir: string; registry: SqliteRegistry }> {
  const d = dir ?? await makeTempDir(t, 'gatehouse-admin-');
  const registry = SqliteRegistry.open({ file: registryPath(d) });
  t.after(() => registry.close());
  return { dir: d, registry };
}

function parseCredentials(text: string): Record<string, string> {
  const lines = text.trim().split('\n');
  assert.equal(lines[0], '[gatehouse-admin]');
  return Object.fromEntries(lines.slice(1).map((l) => l.split(' = ') as [string, string]));
}

describe('ensureAdministrator', () => {
  it('creates admin with AdministratorAccess and one key, in a 0600 credentials file, once', async (t) => {
    const { dir, registry } = await open(t);
    const store = openControlStore(registry, dir, DEP);
    const result = await ensureAdministrator(dir, store, DEP, { endpoint: 'https://127.0.0.1:8443' });
    assert.ok(result.created);
    assert.equal(result.file, adminCredentialsPath(dir));
    assert.equal(statSync(result.file).mode & 0o777, 0o600);
    const creds = parseCredentials(readFileSync(result.file, 'utf8'));
    assert.equal(creds['aws_access_key_id'], result.accessKeyId);
    const resolved = await store.resolveAccessKey(result.accessKeyId, new Date());
    assert.ok(resolved && resolved.principal.kind === 'user');
    assert.equal(resolved.secretAccessKey, creds['aws_secret_access_key']);
    assert.equal(resolved.principal.user.name, 'admin');
    assert.ok(result.instructions.every((l) => !l.includes(creds['aws_secret_access_key']!)), 'the instructions never carry the secret');
    assert.ok(result.instructions.some((l) => l.includes(`AWS_SHARED_CREDENTIALS_FILE=${result.file} AWS_PROFILE=gatehouse-admin aws --endpoint-url https://127.0.0.1:8443 --region eu-central-1 iot list-things`)));
    assert.deepEqual(await store.iamPoliciesInForce({ kind: 'user', name: 'admin' }), [{ name: 'AdministratorAccess', versionId: 'v1', document: ADMIN_POLICY_DOCUMENT }]);
    assert.deepEqual(JSON.parse(ADMIN_POLICY_DOCUMENT), { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });

    // Later starts, in this process or another, change nothing.
    const before = readFileSync(result.file, 'utf8');
    assert.deepEqual(await ensureAdministrator(dir, store, DEP), { created: false });
    await registry.close();
    const again = await open(t, dir);
    assert.deepEqual(await ensureAdministrator(dir, openControlStore(again.registry, dir, DEP), DEP), { created: false });
    assert.equal(readFileSync(result.file, 'utf8'), before);
    assert.equal((await openControlStore(again.registry, dir, DEP).listAccessKeys('admin')).length, 1);
  });

  it('does not create an administrator again after it was deleted, nor when users already exist', async (t) => {
    const { dir, registry } = await open(t);
    const store = openControlStore(registry, dir, DEP);
    const first = await ensureAdministrator(dir, store, DEP);
    assert.ok(first.created);
    await store.deleteAccessKey(first.accessKeyId);
    await store.detachIamPolicy('AdministratorAccess', { kind: 'user', name: 'admin' });
    await store.deleteUser('admin');
    assert.deepEqual(await ensureAdministrator(dir, store, DEP), { created: false });
    assert.deepEqual(await store.listUsers(), []);

    const other = await open(t);
    const otherStore = openControlStore(other.registry, other.dir, DEP);
    await otherStore.createUser('operator');
    assert.deepEqual(await ensureAdministrator(other.dir, otherStore, DEP), { created: false });
    assert.equal(existsSync(adminCredentialsPath(other.dir)), false);
    assert.deepEqual((await otherStore.listUsers()).map((u) => u.name), ['operator']);
  });

  it('creates nothing when the credentials file cannot be written, and succeeds on the next start', async (t) => {
    const { dir, registry } = await open(t);
    const store = openControlStore(registry, dir, DEP);
    // A directory where the file should go: the rename onto it fails, even for root.
    mkdirSync(adminCredentialsPath(dir));
    await assert.rejects(ensureAdministrator(dir, store, DEP), (e: unknown) => e instanceof ControlError && e.code === 'CONTROL_CREDENTIALS_FILE_FAILED');
    assert.deepEqual(await store.listUsers(), [], 'the user was rolled back with the failed write');
    assert.equal(await store.getIamPolicy('AdministratorAccess'), undefined);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
    rmdirSync(adminCredentialsPath(dir));
    const ok = await ensureAdministrator(dir, store, DEP);
    assert.ok(ok.created);
    assert.equal(statSync(ok.file).mode & 0o777, 0o600);
  });
});
