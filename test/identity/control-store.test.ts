/**
 * The control store on both registry backends (SQLite always, PostgreSQL when the test
 * process can start one: test/helpers/registry-backends.ts): users and access keys, roles and role sessions, managed IAM
 * policies with versions and attachments, role aliases, tags on every kind of resource,
 * the audit log, the secrets encrypted at rest with the key file (and, on PostgreSQL,
 * shared by several nodes), and the upgrade of a SQLite registry file of the previous
 * schema. Real SQLite in temporary directories, a private PostgreSQL server.
 */
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import type pg from 'pg';
import type { IotDeployment } from '../../src/core/policy/iot/context.js';
import type { LocalControlStore, NewAuditRecord, TagTarget } from '../../src/identity/control.js';
import { controlKeyPath } from '../../src/identity/control-key.js';
import { ControlError, type ControlErrorCode } from '../../src/identity/errors.js';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from '../../src/identity/migrations.js';
import type { PgRegistry } from '../../src/identity/pg-registry.js';
import type { SqliteControlStore } from '../../src/identity/sqlite-control.js';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { makeCa, makeLeaf } from '../helpers/pki.js';
import { registryBackends, type RegistryBackend } from '../helpers/registry-backends.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const DEP: IotDeployment = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
const T0 = new Date('2026-06-01T12:00:00Z');

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: ControlErrorCode): Promise<ControlError> {
  let caught: ControlError | undefined;
  const run = typeof p === 'function' ? () => Promise.resolve().then(p) : p;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof ControlError, `expected ControlError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    caught = e;
    return true;
  });
  return caught!;
}

const backends = await registryBackends();
const sqliteBackend = backends[0]!;

interface Fixture {
  /** Holds the key file. */
  readonly dir: string;
  readonly registry: SqliteRegistry | PgRegistry;
  readonly store: LocalControlStore;
  /** Sets the registry clock. */
  readonly setNow: (d: Date) => void;
  /** Rows of a query run directly on the store. */
  readonly rows: (sql: string) => Promise<Record<string, unknown>[]>;
  /** PostgreSQL only: a client on the registry's schema. */
  readonly connect?: () => Promise<pg.Client>;
  /** The control store of another handle on the same registry (another node, or the CLI), with the same key file unless told. */
  readonly other: (keyFile?: string) => Promise<LocalControlStore>;
}

async function setup(t: TestContext, b: RegistryBackend = sqliteBackend): Promise<Fixture> {
  const dir = await makeTempDir(t, 'gatehouse-control-');
  let now = T0;
  const backing = await b.store();
  const registry = await backing.open({ now: () => now }) as SqliteRegistry | PgRegistry;
  t.after(() => registry.close());
  const keyFile = controlKeyPath(dir);
  const store = registry.control({ deployment: DEP, keyFile });
  return {
    dir, registry, store, setNow: (d) => (now = d), rows: (sql) => backing.rows(sql), ...(backing.connect ? { connect: () => backing.connect!() } : {}),
    other: async (otherKey = keyFile) => {
      const r = await backing.open() as SqliteRegistry | PgRegistry;
      t.after(() => r.close());
      return r.control({ deployment: DEP, keyFile: otherKey });
    },
  };
}

const trust = (principal: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: principal, ...extra }] });
const USER_TRUST = trust({ AWS: 'arn:aws:iam::123456789012:user/alice' });
const policyDoc = (action = 'iot:ListThings'): string =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });

for (const b of backends) describe(`ControlStore (${b.name}): users and access keys`, { skip: b.skip }, () => {
  it('creates users with IAM ids and ARNs, case-insensitive names, tags, and lists them by name', async (t) => {
    const { store } = await setup(t, b);
    const alice = await store.createUser('alice', { tags: { team: 'ops' } });
    assert.match(alice.id, /^AIDA[A-Z2-7]{17}$/);
    assert.equal(alice.arn, 'arn:aws:iam::123456789012:user/alice');
    assert.deepEqual(alice.tags, { team: 'ops' });
    assert.deepEqual(alice.createdAt, T0);
    await store.createUser('Bob');
    assert.equal((await store.getUser('ALICE'))?.name, 'alice');
    assert.deepEqual((await store.getUser('alice'))?.tags, { team: 'ops' });
    assert.equal(await store.getUser('carol'), undefined);
    assert.deepEqual((await store.listUsers()).map((u) => [u.name, u.tags]), [['alice', { team: 'ops' }], ['Bob', {}]]);
    await rejectsWith(store.createUser('Alice'), 'CONTROL_USER_EXISTS');
    for (const bad of ['', 'a b', 'a/b', 'x'.repeat(65), 'é']) await rejectsWith(store.createUser(bad), 'CONTROL_NAME_INVALID');
    await rejectsWith(store.createUser('dave', { tags: { 'aws:x': '1' } }), 'CONTROL_TAG_INVALID');
    assert.equal(await store.getUser('dave'), undefined, 'a refused user is not created');
  });

  it('creates at most two keys per user, shows the secret once, and updates and deletes keys', async (t) => {
    const { store } = await setup(t, b);
    await store.createUser('alice');
    const { key, secretAccessKey } = await store.createAccessKey('alice');
    assert.match(key.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.match(secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
    assert.deepEqual([key.userName, key.status, key.lastUsedAt], ['alice', 'Active', null]);
    const second = await store.createAccessKey('ALICE');
    await rejectsWith(store.createAccessKey('alice'), 'CONTROL_ACCESS_KEY_LIMIT');
    const listed = await store.listAccessKeys('alice');
    assert.deepEqual(listed.map((k) => k.accessKeyId).sort(), [key.accessKeyId, second.key.accessKeyId].sort());
    assert.ok(listed.every((k) => !JSON.stringify(k).includes(secretAccessKey)), 'listing never returns a secret');
    await store.updateAccessKey(key.accessKeyId, 'Inactive');
    assert.equal((await store.listAccessKeys('alice')).find((k) => k.accessKeyId === key.accessKeyId)?.status, 'Inactive');
    await rejectsWith(store.updateAccessKey(key.accessKeyId, 'Off' as 'Active'), 'CONTROL_ACCESS_KEY_STATUS_INVALID');
    await rejectsWith(store.updateAccessKey('AKIAAAAAAAAAAAAAAAAA', 'Active'), 'CONTROL_ACCESS_KEY_NOT_FOUND');
    await store.deleteAccessKey(key.accessKeyId);
    await rejectsWith(store.deleteAccessKey(key.accessKeyId), 'CONTROL_ACCESS_KEY_NOT_FOUND');
    await rejectsWith(store.createAccessKey('nobody'), 'CONTROL_USER_NOT_FOUND');
    await rejectsWith(store.listAccessKeys('nobody'), 'CONTROL_USER_NOT_FOUND');
  });

  it('resolves an Active key to its secret and user, records the last use at most once a minute, and ignores inactive or unknown keys', async (t) => {
    const { store } = await setup(t, b);
    await store.createUser('alice', { tags: { team: 'ops' } });
    const { key, secretAccessKey } = await store.createAccessKey('alice');
    const r = await store.resolveAccessKey(key.accessKeyId, T0);
    assert.ok(r && r.principal.kind === 'user');
    assert.equal(r.secretAccessKey, secretAccessKey);
    assert.equal(r.sessionTokenSha256, undefined);
    assert.equal(r.principal.user.arn, 'arn:aws:iam::123456789012:user/alice');
    assert.deepEqual(r.principal.user.tags, { team: 'ops' });
    assert.deepEqual(r.principal.accessKey.lastUsedAt, T0);
    const later = new Date(T0.getTime() + 30_000);
    await store.resolveAccessKey(key.accessKeyId, later);
    assert.deepEqual((await store.listAccessKeys('alice'))[0]?.lastUsedAt, T0, 'not rewritten within a minute');
    const muchLater = new Date(T0.getTime() + 61_000);
    await store.resolveAccessKey(key.accessKeyId, muchLater);
    assert.deepEqual((await store.listAccessKeys('alice'))[0]?.lastUsedAt, muchLater);
    await store.updateAccessKey(key.accessKeyId, 'Inactive');
    assert.equal(await store.resolveAccessKey(key.accessKeyId, T0), undefined);
    assert.equal(await store.resolveAccessKey('AKIAAAAAAAAAAAAAAAAA', T0), undefined);
    assert.equal(await store.resolveAccessKey('not-a-key', T0), undefined);
  });

  it('refuses to delete a user that has access keys or attached policies', async (t) => {
    const { store } = await setup(t, b);
    await store.createUser('alice', { tags: { a: '1' } });
    const { key } = await store.createAccessKey('alice');
    await store.createIamPolicy('P', policyDoc());
    await store.attachIamPolicy('P', { kind: 'user', name: 'alice' });
    await rejectsWith(store.deleteUser('alice'), 'CONTROL_USER_HAS_DEPENDENTS');
    await store.deleteAccessKey(key.accessKeyId);
    await rejectsWith(store.deleteUser('alice'), 'CONTROL_USER_HAS_DEPENDENTS');
    await store.detachIamPolicy('P', { kind: 'user', name: 'alice' });
    await store.deleteUser('Alice');
    assert.equal(await store.getUser('alice'), undefined);
    await rejectsWith(store.deleteUser('alice'), 'CONTROL_USER_NOT_FOUND');
    // Its tags went with it: a new user of that name starts with none.
    assert.deepEqual((await store.createUser('alice')).tags, {});
    assert.deepEqual(await store.tagsOf({ kind: 'user', name: 'alice' }), {});
  });
});

describe('ControlStore (SQLite): secrets at rest', () => {
  it('keeps no secret in the database file, only its ciphertext and the session token digest', async (t) => {
    const dir = await makeTempDir(t, 'gatehouse-control-');
    const registry = SqliteRegistry.open({ file: registryPath(dir) });
    const store = registry.control({ deployment: DEP, keyFile: controlKeyPath(dir) });
    await store.createUser('alice');
    const { secretAccessKey } = await store.createAccessKey('alice');
    await store.createRole('r', USER_TRUST);
    const session = await store.createSessionCredentials({ roleName: 'r', sessionName: 's1', durationSeconds: 900, sourceArn: 'arn:aws:iam::123456789012:user/alice', now: new Date() });
    await registry.close();
    const raw = Buffer.concat([registryPath(dir), `${registryPath(dir)}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    for (const secret of [secretAccessKey, session.secretAccessKey, session.sessionToken]) {
      assert.equal(raw.includes(Buffer.from(secret)), false, 'a secret is readable in the database file');
    }
    assert.ok(raw.includes(Buffer.from(createHash('sha256').update(session.sessionToken).digest('hex'))), 'the token digest is stored');
    const st = statSync(controlKeyPath(dir));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.size, 32);
  });

  it('refuses a key file that others can read, a missing one while secrets exist, a wrong one, and a tampered ciphertext', async (t) => {
    const dir = await makeTempDir(t, 'gatehouse-control-');
    const file = registryPath(dir);
    const keyFile = controlKeyPath(dir);
    const reopen = (): { registry: SqliteRegistry; store: SqliteControlStore } => {
      const registry = SqliteRegistry.open({ file });
      t.after(() => registry.close());
      return { registry, store: registry.control({ deployment: DEP, keyFile }) };
    };
    const first = reopen().store;
    await first.createUser('alice');
    const { key, secretAccessKey } = await first.createAccessKey('alice');
    const other = await first.createAccessKey('alice');

    chmodSync(keyFile, 0o640);
    await rejectsWith(reopen().store.resolveAccessKey(key.accessKeyId, T0), 'CONTROL_KEY_FILE_INSECURE');
    chmodSync(keyFile, 0o600);
    assert.equal((await reopen().store.resolveAccessKey(key.accessKeyId, T0))?.secretAccessKey, secretAccessKey);

    const good = readFileSync(keyFile);
    unlinkSync(keyFile);
    await rejectsWith(reopen().store.resolveAccessKey(key.accessKeyId, T0), 'CONTROL_KEY_FILE_MISSING');
    const fresh = reopen().store;
    await fresh.createUser('bob');
    await rejectsWith(fresh.createAccessKey('bob'), 'CONTROL_KEY_FILE_MISSING');
    assert.deepEqual(await fresh.listAccessKeys('bob'), [], 'nothing stored without the key');
    assert.equal(existsSync(keyFile), false, 'a missing key is not silently replaced while secrets exist');

    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    await rejectsWith(reopen().store.resolveAccessKey(key.accessKeyId, T0), 'CONTROL_KEY_MISMATCH');
    writeFileSync(keyFile, randomBytes(16), { mode: 0o600 });
    await rejectsWith(reopen().store.resolveAccessKey(key.accessKeyId, T0), 'CONTROL_KEY_FILE_INVALID');
    writeFileSync(keyFile, good, { mode: 0o600 });

    // A ciphertext moved onto another key id does not decrypt (the id is authenticated).
    const { registry } = reopen();
    const db = new Database(file);
    const secretOf = (id: string): string => (db.prepare('SELECT secret FROM iam_access_keys WHERE id = ?').get(id) as { secret: string }).secret;
    db.prepare('UPDATE iam_access_keys SET secret = ? WHERE id = ?').run(secretOf(other.key.accessKeyId), key.accessKeyId);
    db.close();
    const store = registry.control({ deployment: DEP, keyFile });
    await rejectsWith(store.resolveAccessKey(key.accessKeyId, T0), 'CONTROL_SECRET_UNREADABLE');
    assert.equal((await store.resolveAccessKey(other.key.accessKeyId, T0))?.secretAccessKey, other.secretAccessKey);
  });

  it('creates a new key file when none exists and no secret was ever stored', async (t) => {
    const { dir, store } = await setup(t);
    await store.createUser('alice');
    assert.equal(existsSync(controlKeyPath(dir)), false, 'created on first need only');
    await store.createAccessKey('alice');
    assert.equal(statSync(controlKeyPath(dir)).mode & 0o777, 0o600);
  });
});

for (const b of backends) describe(`ControlStore (${b.name}): roles and role sessions`, { skip: b.skip }, () => {
  it('creates roles with a validated trust policy and maximum session duration', async (t) => {
    const { store } = await setup(t, b);
    const role = await store.createRole('Reader', USER_TRUST, { maxSessionDurationSeconds: 7200, description: 'reads', tags: { env: 'lab' } });
    assert.match(role.id, /^AROA[A-Z2-7]{17}$/);
    assert.equal(role.arn, 'arn:aws:iam::123456789012:role/Reader');
    assert.deepEqual([role.maxSessionDurationSeconds, role.description, role.tags], [7200, 'reads', { env: 'lab' }]);
    assert.equal((await store.createRole('Default', trust('*'))).maxSessionDurationSeconds, 3600);
    await rejectsWith(store.createRole('reader', USER_TRUST), 'CONTROL_ROLE_EXISTS');
    for (const d of [3599, 43_201, 3600.5]) await rejectsWith(store.createRole('x', USER_TRUST, { maxSessionDurationSeconds: d }), 'CONTROL_MAX_SESSION_DURATION_INVALID');
    await rejectsWith(store.createRole('x', USER_TRUST, { description: 'x'.repeat(1001) }), 'CONTROL_DESCRIPTION_INVALID');
    const badTrust = [
      'not json',
      JSON.stringify({ Statement: [] }),
      trust({ Service: 'ec2.amazonaws.com' }),
      trust({ AWS: 'alice' }),
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Principal: '*' }] }),
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole' }] }),
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: '*', Resource: '*' }] }),
      JSON.stringify({ Statement: [{ Effect: 'Maybe', Action: 'sts:AssumeRole', Principal: '*' }] }),
    ];
    for (const doc of badTrust) {
      const e = await rejectsWith(store.createRole('x', doc), 'CONTROL_TRUST_POLICY_INVALID');
      assert.ok(e.problems.length > 0, doc);
    }
    assert.ok(await store.createRole('cond', trust({ AWS: ['arn:aws:iam::123456789012:role/Reader', '123456789012'] },
      { Condition: { StringEquals: { 'aws:PrincipalTag/team': 'ops' } } })));
    await store.updateAssumeRolePolicy('READER', trust('*'));
    assert.equal((await store.getRole('Reader'))?.assumeRolePolicyDocument, trust('*'));
    await rejectsWith(store.updateAssumeRolePolicy('Reader', '{}'), 'CONTROL_TRUST_POLICY_INVALID');
    await rejectsWith(store.updateAssumeRolePolicy('nope', trust('*')), 'CONTROL_ROLE_NOT_FOUND');
    assert.deepEqual((await store.listRoles()).map((r) => r.name), ['cond', 'Default', 'Reader']);
    const updated = await store.updateRole('Reader', { maxSessionDurationSeconds: 43_200 });
    assert.deepEqual([updated.maxSessionDurationSeconds, updated.description], [43_200, 'reads']);
  });

  it('issues session credentials bounded by the role, resolves them with the token digest, and expires them', async (t) => {
    const { store, rows } = await setup(t, b);
    const role = await store.createRole('Reader', USER_TRUST, { maxSessionDurationSeconds: 7200, tags: { env: 'lab', team: 'x' } });
    const base = { roleName: 'reader', sessionName: 'alice-session', sourceArn: 'arn:aws:iam::123456789012:user/alice', now: T0 };
    await rejectsWith(store.createSessionCredentials({ ...base, durationSeconds: 899 }), 'CONTROL_SESSION_DURATION_INVALID');
    await rejectsWith(store.createSessionCredentials({ ...base, durationSeconds: 7201 }), 'CONTROL_SESSION_DURATION_INVALID');
    await rejectsWith(store.createSessionCredentials({ ...base, sessionName: 'a', durationSeconds: 900 }), 'CONTROL_SESSION_NAME_INVALID');
    await rejectsWith(store.createSessionCredentials({ ...base, roleName: 'nope', durationSeconds: 900 }), 'CONTROL_ROLE_NOT_FOUND');
    const c = await store.createSessionCredentials({ ...base, durationSeconds: 7200, tags: { team: 'ops' } });
    assert.match(c.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.deepEqual(c.expiration, new Date(T0.getTime() + 7200_000));
    assert.equal(c.assumedRoleArn, 'arn:aws:sts::123456789012:assumed-role/Reader/alice-session');
    assert.equal(c.assumedRoleId, `${role.id}:alice-session`);
    const r = await store.resolveAccessKey(c.accessKeyId, new Date(T0.getTime() + 1000));
    assert.ok(r && r.principal.kind === 'role-session');
    assert.equal(r.secretAccessKey, c.secretAccessKey);
    assert.equal(r.sessionTokenSha256, createHash('sha256').update(c.sessionToken).digest('hex'));
    assert.equal(r.principal.assumedRoleArn, c.assumedRoleArn);
    assert.equal(r.principal.role.name, 'Reader');
    assert.deepEqual(r.principal.tags, { env: 'lab', team: 'ops' }, 'session tags override role tags');
    assert.equal(await store.resolveAccessKey(c.accessKeyId, c.expiration), undefined, 'expired at its expiration');
    // Expired rows are pruned when new credentials are issued.
    await store.createSessionCredentials({ ...base, durationSeconds: 900, now: c.expiration });
    assert.deepEqual(await rows(`SELECT id FROM iam_role_sessions WHERE id = '${c.accessKeyId}'`), []);
  });

  it('refuses to delete a role with attached policies or a role alias, and ends its sessions when deleted', async (t) => {
    const { store } = await setup(t, b);
    await store.createRole('R', USER_TRUST, { tags: { a: 'b' } });
    await store.createIamPolicy('P', policyDoc());
    await store.attachIamPolicy('P', { kind: 'role', name: 'R' });
    await rejectsWith(store.deleteRole('R'), 'CONTROL_ROLE_IN_USE');
    await store.detachIamPolicy('P', { kind: 'role', name: 'R' });
    await store.createRoleAlias('alias', 'arn:aws:iam::123456789012:role/R');
    await rejectsWith(store.deleteRole('R'), 'CONTROL_ROLE_IN_USE');
    await store.deleteRoleAlias('alias');
    const c = await store.createSessionCredentials({ roleName: 'R', sessionName: 'dev-1', durationSeconds: 900, sourceArn: 'rolealias/alias', now: T0 });
    await store.deleteRole('r');
    assert.equal(await store.resolveAccessKey(c.accessKeyId, T0), undefined);
    await rejectsWith(store.deleteRole('R'), 'CONTROL_ROLE_NOT_FOUND');
    assert.deepEqual((await store.createRole('R', USER_TRUST)).tags, {});
  });
});

for (const b of backends) describe(`ControlStore (${b.name}): managed IAM policies`, { skip: b.skip }, () => {
  it('creates, versions (at most 5, ids never reused), sets defaults and deletes versions by IAM rules', async (t) => {
    const { store, setNow } = await setup(t, b);
    const p = await store.createIamPolicy('ReadThings', policyDoc(), { description: 'list things', tags: { owner: 'ops' } });
    assert.match(p.id, /^ANPA[A-Z2-7]{17}$/);
    assert.equal(p.arn, 'arn:aws:iam::123456789012:policy/ReadThings');
    assert.deepEqual([p.defaultVersionId, p.attachmentCount, p.description, p.tags], ['v1', 0, 'list things', { owner: 'ops' }]);
    await rejectsWith(store.createIamPolicy('readthings', policyDoc()), 'CONTROL_POLICY_EXISTS');
    await rejectsWith(store.createIamPolicy('x'.repeat(129), policyDoc()), 'CONTROL_NAME_INVALID');
    const later = new Date(T0.getTime() + 5000);
    setNow(later);
    const v2 = await store.createIamPolicyVersion('ReadThings', policyDoc('iot:DescribeThing'), false);
    assert.deepEqual([v2.versionId, v2.isDefaultVersion], ['v2', false]);
    const v3 = await store.createIamPolicyVersion('ReadThings', policyDoc('iot:*'), true);
    assert.deepEqual([v3.versionId, v3.isDefaultVersion], ['v3', true]);
    const after = await store.getIamPolicy('ReadThings');
    assert.deepEqual([after?.defaultVersionId, after?.updatedAt], ['v3', later]);
    await store.createIamPolicyVersion('ReadThings', policyDoc(), false);
    await store.createIamPolicyVersion('ReadThings', policyDoc(), false);
    await rejectsWith(store.createIamPolicyVersion('ReadThings', policyDoc(), false), 'CONTROL_POLICY_VERSION_LIMIT');
    await rejectsWith(store.deleteIamPolicyVersion('ReadThings', 'v3'), 'CONTROL_POLICY_VERSION_IS_DEFAULT');
    await store.deleteIamPolicyVersion('ReadThings', 'v5');
    assert.equal((await store.createIamPolicyVersion('ReadThings', policyDoc(), false)).versionId, 'v6', 'version ids are not reused');
    await rejectsWith(store.deleteIamPolicyVersion('ReadThings', 'v5'), 'CONTROL_POLICY_VERSION_NOT_FOUND');
    await rejectsWith(store.setDefaultIamPolicyVersion('ReadThings', 'V1'), 'CONTROL_POLICY_VERSION_NOT_FOUND');
    await store.setDefaultIamPolicyVersion('ReadThings', 'v1');
    assert.deepEqual((await store.listIamPolicyVersions('ReadThings')).map((v) => [v.versionId, v.isDefaultVersion]),
      [['v1', true], ['v2', false], ['v3', false], ['v4', false], ['v6', false]]);
    assert.equal((await store.getIamPolicyVersion('ReadThings', 'v2'))?.document, policyDoc('iot:DescribeThing'));
    assert.equal(await store.getIamPolicyVersion('ReadThings', 'v5'), undefined);
    assert.equal(await store.getIamPolicyVersion('nope', 'v1'), undefined);
    await rejectsWith(store.deleteIamPolicy('ReadThings'), 'CONTROL_POLICY_HAS_VERSIONS');
    for (const v of ['v2', 'v3', 'v4', 'v6']) await store.deleteIamPolicyVersion('ReadThings', v);
    await store.deleteIamPolicy('ReadThings');
    assert.equal(await store.getIamPolicy('ReadThings'), undefined);
    await rejectsWith(store.deleteIamPolicy('ReadThings'), 'CONTROL_POLICY_NOT_FOUND');
    assert.deepEqual((await store.createIamPolicy('ReadThings', policyDoc())).tags, {}, 'tags went with the deleted policy');
  });

  it('refuses documents that are not IAM identity policies', async (t) => {
    const { store } = await setup(t, b);
    const bad = [
      '{',
      '[]',
      JSON.stringify({ Version: '2012-10-17' }),
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'iot:*' }] }),
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'iot:*', NotAction: 'iot:X', Resource: '*' }] }),
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*', Principal: '*' }] }),
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: [], Resource: '*' }] }),
      JSON.stringify({ Statement: [{ Effect: 'allow', Action: 'iot:*', Resource: '*' }] }),
      JSON.stringify({ Statement: { Effect: 'Allow', Action: 'iot:*', Resource: '*', Condition: 'x' } }),
      JSON.stringify({ Statement: { Effect: 'Allow', Action: 'iot:*', Resource: '*', Sid: 1 } }),
      JSON.stringify({ Version: '2020-01-01', Statement: { Effect: 'Allow', Action: 'iot:*', Resource: '*' } }),
      JSON.stringify({ Statement: { Effect: 'Allow', Action: 'iot:*', Resource: 'ĀĀ' } }),
      JSON.stringify({ Statement: { Effect: 'Allow', Action: 'iot:*', Resource: 'x'.repeat(6200) } }),
    ];
    for (const doc of bad) {
      const e = await rejectsWith(store.createIamPolicy('P', doc), 'CONTROL_POLICY_DOCUMENT_INVALID');
      assert.ok(e.problems.length > 0);
    }
    await store.createIamPolicy('P', policyDoc());
    await rejectsWith(store.createIamPolicyVersion('P', '{}', true), 'CONTROL_POLICY_DOCUMENT_INVALID');
    assert.equal((await store.listIamPolicyVersions('P')).length, 1);
  });

  it('attaches at most 10 policies per user or role, detaches, and lists the documents in force', async (t) => {
    const { store } = await setup(t, b);
    await store.createUser('alice');
    await store.createRole('R', USER_TRUST);
    for (let i = 0; i < 11; i++) await store.createIamPolicy(`P${String(i).padStart(2, '0')}`, policyDoc(`iot:Action${i}`));
    for (let i = 0; i < 10; i++) assert.deepEqual(await store.attachIamPolicy(`P${String(i).padStart(2, '0')}`, { kind: 'user', name: 'alice' }), { changed: true });
    assert.deepEqual(await store.attachIamPolicy('p00', { kind: 'user', name: 'ALICE' }), { changed: false });
    await rejectsWith(store.attachIamPolicy('P10', { kind: 'user', name: 'alice' }), 'CONTROL_POLICY_ATTACHMENT_LIMIT');
    await store.attachIamPolicy('P10', { kind: 'role', name: 'R' });
    await rejectsWith(store.attachIamPolicy('nope', { kind: 'role', name: 'R' }), 'CONTROL_POLICY_NOT_FOUND');
    await rejectsWith(store.attachIamPolicy('P00', { kind: 'role', name: 'nope' }), 'CONTROL_ROLE_NOT_FOUND');
    await rejectsWith(store.attachIamPolicy('P00', { kind: 'user', name: 'nope' }), 'CONTROL_USER_NOT_FOUND');
    assert.equal((await store.attachedIamPolicies({ kind: 'user', name: 'alice' })).length, 10);
    assert.deepEqual(await store.attachedIamPolicies({ kind: 'role', name: 'R' }), ['P10']);
    assert.equal((await store.getIamPolicy('P00'))?.attachmentCount, 1);
    assert.deepEqual(await store.iamPolicyHolders('P00'), [{ kind: 'user', name: 'alice' }]);
    await rejectsWith(store.deleteIamPolicy('P10'), 'CONTROL_POLICY_ATTACHED');
    await store.createIamPolicyVersion('P10', policyDoc('iot:New'), true);
    assert.deepEqual(await store.iamPoliciesInForce({ kind: 'role', name: 'r' }), [{ name: 'P10', versionId: 'v2', document: policyDoc('iot:New') }]);
    assert.deepEqual(await store.iamPoliciesInForce({ kind: 'role', name: 'nobody' }), []);
    await store.detachIamPolicy('P10', { kind: 'role', name: 'R' });
    await rejectsWith(store.detachIamPolicy('P10', { kind: 'role', name: 'R' }), 'CONTROL_POLICY_NOT_ATTACHED');
    assert.deepEqual(await store.iamPoliciesInForce({ kind: 'role', name: 'R' }), []);
  });
});

for (const b of backends) describe(`ControlStore (${b.name}): role aliases`, { skip: b.skip }, () => {
  it('creates, updates and deletes role aliases naming roles of this deployment', async (t) => {
    const { store, setNow } = await setup(t, b);
    await store.createRole('DeviceRole', USER_TRUST);
    await store.createRole('Other', USER_TRUST, { maxSessionDurationSeconds: 43_200 });
    await rejectsWith(store.createRoleAlias('long', 'arn:aws:iam::123456789012:role/DeviceRole', { credentialDurationSeconds: 3601 }), 'CONTROL_CREDENTIAL_DURATION_INVALID');
    const a = await store.createRoleAlias('devices', 'arn:aws:iam::123456789012:role/devicerole', { credentialDurationSeconds: 900, tags: { k: 'v' } });
    assert.equal(a.arn, 'arn:aws:iot:eu-west-1:123456789012:rolealias/devices');
    assert.equal(a.roleArn, 'arn:aws:iam::123456789012:role/DeviceRole');
    assert.deepEqual([a.credentialDurationSeconds, a.tags], [900, { k: 'v' }]);
    await rejectsWith(store.createRoleAlias('devices', 'arn:aws:iam::123456789012:role/Other'), 'CONTROL_ROLE_ALIAS_EXISTS');
    await rejectsWith(store.createRoleAlias('x', 'arn:aws:iam::999999999999:role/Other'), 'CONTROL_ROLE_ARN_INVALID');
    await rejectsWith(store.createRoleAlias('x', 'arn:aws:iam::123456789012:role/Missing'), 'CONTROL_ROLE_NOT_FOUND');
    await rejectsWith(store.createRoleAlias('x y', 'arn:aws:iam::123456789012:role/Other'), 'CONTROL_NAME_INVALID');
    for (const d of [899, 43_201]) await rejectsWith(store.createRoleAlias('x', 'arn:aws:iam::123456789012:role/Other', { credentialDurationSeconds: d }), 'CONTROL_CREDENTIAL_DURATION_INVALID');
    const later = new Date(T0.getTime() + 1000);
    setNow(later);
    const u = await store.updateRoleAlias('devices', { roleArn: 'arn:aws:iam::123456789012:role/Other', credentialDurationSeconds: 43_200 });
    assert.deepEqual([u.roleArn, u.credentialDurationSeconds, u.updatedAt, u.createdAt], ['arn:aws:iam::123456789012:role/Other', 43_200, later, T0]);
    assert.deepEqual((await store.getRoleAlias('devices'))?.roleArn, 'arn:aws:iam::123456789012:role/Other');
    await rejectsWith(store.updateRoleAlias('nope', {}), 'CONTROL_ROLE_ALIAS_NOT_FOUND');
    await rejectsWith(store.updateRoleAlias('devices', { roleArn: 'arn:aws:iam::123456789012:role/DeviceRole' }), 'CONTROL_CREDENTIAL_DURATION_INVALID');
    assert.deepEqual((await store.listRoleAliases()).map((r) => r.alias), ['devices']);
    await store.deleteRoleAlias('devices');
    assert.equal(await store.getRoleAlias('devices'), undefined);
    await rejectsWith(store.deleteRoleAlias('devices'), 'CONTROL_ROLE_ALIAS_NOT_FOUND');
  });
});

for (const b of backends) describe(`ControlStore (${b.name}): tags`, { skip: b.skip }, () => {
  it('tags every kind of resource, merges up to 50 tags, and removes them with the resource', async (t) => {
    const { store, registry } = await setup(t, b);
    const ca = await makeCa();
    const leaf = await makeLeaf({ issuer: ca });
    await registry.createThing('dev-1');
    await registry.createThingGroup('floor-1');
    await registry.createPolicy('iotp', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }));
    const cert = await registry.registerCertificate(leaf.pem);
    const trusted = await registry.trustCa(ca.pem);
    await store.createUser('u');
    await store.createRole('r', USER_TRUST);
    await store.createIamPolicy('ip', policyDoc());
    await store.createRoleAlias('ra', 'arn:aws:iam::123456789012:role/r');
    const targets: TagTarget[] = [
      { kind: 'thing', name: 'dev-1' }, { kind: 'thinggroup', name: 'floor-1' }, { kind: 'policy', name: 'iotp' },
      { kind: 'cert', id: cert.id }, { kind: 'cacert', id: trusted.id }, { kind: 'rolealias', name: 'ra' },
      { kind: 'user', name: 'U' }, { kind: 'role', name: 'R' }, { kind: 'iampolicy', name: 'IP' },
    ];
    for (const target of targets) {
      await store.tagResource(target, { env: 'prod', 'team name': 'Ops/Edge' });
      await store.tagResource(target, { env: 'lab' });
      assert.deepEqual(await store.tagsOf(target), { env: 'lab', 'team name': 'Ops/Edge' }, target.kind);
    }
    assert.deepEqual((await store.getUser('u'))?.tags, { env: 'lab', 'team name': 'Ops/Edge' });
    await store.untagResource({ kind: 'thing', name: 'dev-1' }, ['env', 'absent']);
    assert.deepEqual(await store.tagsOf({ kind: 'thing', name: 'dev-1' }), { 'team name': 'Ops/Edge' });

    const many = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`k${i}`, 'v']));
    await store.tagResource({ kind: 'thing', name: 'dev-1' }, many);
    await rejectsWith(store.tagResource({ kind: 'thing', name: 'dev-1' }, { extra1: 'v', extra2: 'v' }), 'CONTROL_TAG_LIMIT');
    await store.tagResource({ kind: 'thing', name: 'dev-1' }, { k0: 'replaced', extra: 'v' });
    assert.equal(Object.keys(await store.tagsOf({ kind: 'thing', name: 'dev-1' })).length, 50);
    await rejectsWith(store.tagResource({ kind: 'user', name: 'u' }, Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))), 'CONTROL_TAG_LIMIT');

    const badTags: Record<string, string>[] = [{ 'aws:env': 'x' }, { 'AWS:env': 'x' }, { '': 'x' }, { ['k'.repeat(129)]: 'x' }, { k: 'v'.repeat(257) }, { 'a*b': 'x' }, { k: 'a;b' }];
    for (const bad of badTags) {
      await rejectsWith(store.tagResource({ kind: 'user', name: 'u' }, bad), 'CONTROL_TAG_INVALID');
    }
    await rejectsWith(store.tagResource({ kind: 'thing', name: 'ghost' }, { a: 'b' }), 'CONTROL_RESOURCE_NOT_FOUND');
    await rejectsWith(store.tagsOf({ kind: 'cert', id: 'ab'.repeat(32) }), 'CONTROL_RESOURCE_NOT_FOUND');
    await rejectsWith(store.untagResource({ kind: 'role', name: 'ghost' }, ['a']), 'CONTROL_RESOURCE_NOT_FOUND');

    // Deleting through the registry removes the tags with the resource.
    await registry.deleteThing('dev-1');
    await registry.deleteThingGroup('floor-1');
    await registry.deletePolicy('iotp');
    await registry.deleteCertificate(cert.id);
    await registry.untrustCa(trusted.id);
    await registry.createThing('dev-1');
    await registry.createThingGroup('floor-1');
    await registry.createPolicy('iotp', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }));
    await registry.registerCertificate(leaf.pem);
    await registry.trustCa(ca.pem);
    for (const target of targets.slice(0, 5)) assert.deepEqual(await store.tagsOf(target), {}, `${target.kind} tags survived its deletion`);
  });
});

for (const b of backends) describe(`ControlStore (${b.name}): audit log`, { skip: b.skip }, () => {
  const rec = (i: number, over: Partial<NewAuditRecord> = {}): NewAuditRecord => ({
    at: new Date(T0.getTime() + i * 1000), principal: i % 2 === 0 ? 'arn:aws:iam::123456789012:user/alice' : 'gatehouse:api-token',
    action: i % 3 === 0 ? 'iot:CreateThing' : 'iot:ListThings', resource: '*', decision: i % 4 === 0 ? 'deny' : 'allow',
    reason: 'ALLOWED_BY_STATEMENT', policy: null, statement: null, sourceIp: '127.0.0.1', userAgent: 'aws-sdk-js', status: 200, requestId: `req-${i}`, ...over,
  });

  it('appends records and queries them newest first with filters and paging, then prunes by date', async (t) => {
    const { store } = await setup(t, b);
    await store.appendAudit(Array.from({ length: 12 }, (_, i) => rec(i)));
    await store.appendAudit([]);
    const all = await store.queryAudit({});
    assert.deepEqual(all.map((r) => r.requestId), Array.from({ length: 12 }, (_, i) => `req-${11 - i}`));
    assert.deepEqual(all[11], { id: all[11]!.id, ...rec(0) });
    assert.deepEqual((await store.queryAudit({ limit: 3 })).map((r) => r.requestId), ['req-11', 'req-10', 'req-9']);
    const page2 = await store.queryAudit({ limit: 3, beforeId: all[2]!.id });
    assert.deepEqual(page2.map((r) => r.requestId), ['req-8', 'req-7', 'req-6']);
    assert.deepEqual((await store.queryAudit({ decision: 'deny' })).map((r) => r.requestId), ['req-8', 'req-4', 'req-0']);
    assert.deepEqual((await store.queryAudit({ principal: 'gatehouse:api-token', action: 'iot:CreateThing' })).map((r) => r.requestId), ['req-9', 'req-3']);
    assert.deepEqual((await store.queryAudit({ since: new Date(T0.getTime() + 9000), until: new Date(T0.getTime() + 10_000) })).map((r) => r.requestId), ['req-10', 'req-9']);
    await rejectsWith(store.queryAudit({ limit: 0 }), 'CONTROL_AUDIT_QUERY_INVALID');
    await rejectsWith(store.queryAudit({ decision: 'maybe' as 'allow' }), 'CONTROL_AUDIT_QUERY_INVALID');
    assert.equal((await store.queryAudit({ limit: 5000 })).length, 12, 'a limit above 1000 is capped, not refused');
    assert.equal(await store.pruneAudit(new Date(T0.getTime() + 5000)), 5);
    assert.deepEqual((await store.queryAudit({})).map((r) => r.requestId).at(-1), 'req-5');
    assert.equal(await store.pruneAudit(T0), 0);
  });
});

for (const b of backends) describe(`ControlStore (${b.name}): generation`, { skip: b.skip }, () => {
  it('grows with every control change, in any process, and not with sessions or audit records', async (t) => {
    const { store, other } = await setup(t, b);
    const otherStore = await other();
    assert.equal(await store.generation(), 0);
    await store.createUser('alice');
    const g1 = await store.generation();
    assert.ok(g1 > 0);
    await otherStore.createIamPolicy('P', policyDoc());
    await otherStore.attachIamPolicy('P', { kind: 'user', name: 'alice' });
    const g2 = await store.generation();
    assert.ok(g2 > g1, 'a change by another connection is seen');
    await rejectsWith(store.createUser('alice'), 'CONTROL_USER_EXISTS');
    assert.equal(await store.generation(), g2, 'a refused change changes nothing');
    await store.createRole('R', USER_TRUST);
    const g3 = await store.generation();
    await store.createSessionCredentials({ roleName: 'R', sessionName: 'abc', durationSeconds: 900, sourceArn: 'x', now: T0 });
    await store.appendAudit([{ at: T0, principal: 'p', action: 'a', resource: '*', decision: 'allow', reason: 'r', policy: null, statement: null, sourceIp: '::1', userAgent: null, status: 200, requestId: 'q' }]);
    assert.equal(await store.generation(), g3);
    await store.tagResource({ kind: 'role', name: 'R' }, { a: 'b' });
    assert.ok(await store.generation() > g3);
  });
});

const pgBackend = backends[1]!;
const rec = (id: string): NewAuditRecord => ({ at: T0, principal: 'p', action: 'iot:ListThings', resource: '*', decision: 'allow', reason: 'r', policy: null, statement: null, sourceIp: '::1', userAgent: null, status: 200, requestId: id });
describe('ControlStore (postgres): secrets and several nodes', { skip: pgBackend.skip }, () => {
  it('keeps no secret in the tables, only ciphertexts and the session token digest', async (t) => {
    const { store, rows } = await setup(t, pgBackend);
    await store.createUser('alice');
    const { secretAccessKey } = await store.createAccessKey('alice');
    await store.createRole('r', USER_TRUST);
    const session = await store.createSessionCredentials({ roleName: 'r', sessionName: 's1', durationSeconds: 900, sourceArn: 'arn:aws:iam::123456789012:user/alice', now: new Date() });
    const dump = JSON.stringify([
      ...await rows('SELECT * FROM iam_access_keys'), ...await rows('SELECT * FROM iam_role_sessions'), ...await rows('SELECT * FROM control_meta'),
    ]);
    for (const secret of [secretAccessKey, session.secretAccessKey, session.sessionToken]) assert.equal(dump.includes(secret), false, 'a secret is readable in the database');
    assert.ok(dump.includes(createHash('sha256').update(session.sessionToken).digest('hex')), 'the token digest is stored');
  });

  it('a node with a copy of the key file reads the secrets; a node with another key is refused and stores nothing', async (t) => {
    const { store, dir, other } = await setup(t, pgBackend);
    await store.createUser('alice');
    const { key, secretAccessKey } = await store.createAccessKey('alice');
    // Another node with a copy of the same key file.
    const copy = `${dir}/copy.key`;
    writeFileSync(copy, readFileSync(controlKeyPath(dir)), { mode: 0o600 });
    const node2 = await other(copy);
    assert.equal((await node2.resolveAccessKey(key.accessKeyId, T0))?.secretAccessKey, secretAccessKey);
    // A node that made its own key file: refused, whether it reads or writes a secret.
    const stranger = `${dir}/stranger.key`;
    writeFileSync(stranger, randomBytes(32), { mode: 0o600 });
    const node3 = await other(stranger);
    await rejectsWith(node3.resolveAccessKey(key.accessKeyId, T0), 'CONTROL_KEY_MISMATCH');
    await rejectsWith(node3.createAccessKey('alice'), 'CONTROL_KEY_MISMATCH');
    assert.equal((await store.listAccessKeys('alice')).length, 1, 'nothing stored with the wrong key');
    // A node without the key file, while secrets exist: refused, and no new key file is made.
    const missing = `${dir}/missing.key`;
    await rejectsWith((await other(missing)).resolveAccessKey(key.accessKeyId, T0), 'CONTROL_KEY_FILE_MISSING');
    assert.equal(existsSync(missing), false);
  });

  it("a change through one node applies to the other node's next resolution and policy read", async (t) => {
    const { store, other } = await setup(t, pgBackend);
    const node2 = await other();
    await store.createUser('alice');
    const { key } = await store.createAccessKey('alice');
    await store.createIamPolicy('P', policyDoc());
    await store.attachIamPolicy('P', { kind: 'user', name: 'alice' });
    assert.ok(await node2.resolveAccessKey(key.accessKeyId, T0));
    assert.deepEqual((await node2.iamPoliciesInForce({ kind: 'user', name: 'ALICE' })).map((p) => p.name), ['P']);
    await store.updateAccessKey(key.accessKeyId, 'Inactive');
    assert.equal(await node2.resolveAccessKey(key.accessKeyId, T0), undefined, 'deactivated on node 1, refused on node 2');
    await store.detachIamPolicy('P', { kind: 'user', name: 'alice' });
    assert.deepEqual(await node2.iamPoliciesInForce({ kind: 'user', name: 'alice' }), []);
    // Limits hold across nodes: both nodes' writes take the registry's write lock.
    await store.updateAccessKey(key.accessKeyId, 'Active');
    const racing = await Promise.allSettled([store.createAccessKey('alice'), node2.createAccessKey('alice')]);
    assert.equal(racing.filter((r) => r.status === 'fulfilled').length, 1, 'one of two concurrent creations fits under the quota of 2');
    assert.equal((await store.listAccessKeys('alice')).length, 2);
    const users = await Promise.allSettled([store.createUser('bob'), node2.createUser('BOB')]);
    assert.equal(users.filter((r) => r.status === 'fulfilled').length, 1);
    const refused = users.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((refused.reason as ControlError).code, 'CONTROL_USER_EXISTS');
  });

  it('audit records of several nodes are one log', async (t) => {
    const { store, other } = await setup(t, pgBackend);
    const node2 = await other();
    await store.appendAudit([rec('a1'), rec('a2')]);
    await node2.appendAudit([rec('b1')]);
    assert.deepEqual((await store.queryAudit({})).map((r) => r.requestId), ['b1', 'a2', 'a1']);
    assert.equal(await node2.pruneAudit(new Date(T0.getTime() + 1)), 3);
  });

  it('audit ids follow commit order: an append waits while another node is appending', async (t) => {
    const { store, rows, connect } = await setup(t, pgBackend);
    // Another node in the middle of an append: it holds the audit lock and has taken its id.
    const other = await connect!();
    t.after(() => other.end());
    await other.query('BEGIN');
    await other.query("SELECT pg_advisory_xact_lock(x'61756474'::int, hashtext(current_schema()))");
    await other.query(`INSERT INTO audit_log (at, principal, action, resource, decision, reason, source_ip, status, request_id)
      VALUES (${T0.getTime()}, 'p', 'iot:ListThings', '*', 'allow', 'r', '::1', 200, 'first')`);
    let done = false;
    const append = store.appendAudit([rec('second')]).then(() => (done = true));
    // The append waits for the lock: it shows in pg_locks as an ungranted advisory lock.
    await waitUntil(async () => {
      assert.equal(done, false, 'the append did not wait for the one in progress, so its id was taken before the earlier one committed');
      return (await rows("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))[0]!.n === 1;
    }, 5000, 'the append waiting for the audit lock');
    assert.equal(done, false);
    await other.query('COMMIT');
    await append;
    const log = await store.queryAudit({});
    assert.deepEqual(log.map((r) => r.requestId), ['second', 'first']);
    assert.ok(log[0]!.id > log[1]!.id, 'the later commit has the higher id');
  });
});

describe('ControlStore (SQLite): migration from schema version 2', () => {
  it('upgrades a version-2 registry file without losing its data, and the new tables work', async (t) => {
    const dir = await makeTempDir(t, 'gatehouse-control-');
    const file = registryPath(dir);
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma('foreign_keys = ON');
    migrate(raw, () => new Date(), MIGRATIONS.slice(0, 2));
    assert.equal(raw.pragma('user_version', { simple: true }), 2);
    raw.prepare('INSERT INTO things (name, created_at) VALUES (?, ?)').run('old-thing', 1);
    raw.prepare('INSERT INTO thing_groups (name, parent, description, created_at) VALUES (?, NULL, NULL, ?)').run('old-group', 1);
    raw.prepare('INSERT INTO thing_group_members (thing_name, group_name, added_at) VALUES (?, ?, ?)').run('old-thing', 'old-group', 1);
    raw.close();

    const registry = SqliteRegistry.open({ file });
    t.after(() => registry.close());
    assert.ok(SCHEMA_VERSION >= 3);
    assert.ok(await registry.getThing('old-thing'));
    assert.deepEqual((await registry.listThingGroups()).map((g) => g.name), ['old-group']);
    const store = registry.control({ deployment: DEP, keyFile: controlKeyPath(dir) });
    await store.tagResource({ kind: 'thing', name: 'old-thing' }, { site: 'a' });
    await store.createUser('alice');
    assert.deepEqual(await store.tagsOf({ kind: 'thing', name: 'old-thing' }), { site: 'a' });
    const check = new Database(file, { readonly: true });
    t.after(() => check.close());
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.deepEqual(check.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), MIGRATIONS.map((m) => ({ version: m.version })));
  });
});
