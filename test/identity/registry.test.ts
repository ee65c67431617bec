import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { RegistryError, type RegistryErrorCode } from '../../src/identity/errors.js';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from '../../src/identity/migrations.js';
import type { Change } from '../../src/identity/registry.js';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { makeCa, makeLeaf, type TestCert } from '../helpers/pki.js';
import { registryBackends } from '../helpers/registry-backends.js';
import { tempDir } from '../helpers/tmp-dir.js';

async function rejectsWith(p: Promise<unknown>, code: RegistryErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RegistryError, `expected RegistryError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

const open = (file = ':memory:'): SqliteRegistry => SqliteRegistry.open({ file });

/** The contract every backend meets runs on each of them (test/helpers/registry-backends.ts). */
const backends = await registryBackends();

for (const b of backends) {
  describe(`${b.name} registry: things`, { skip: b.skip }, () => {
    it('creates, reads, lists, counts and deletes things with attributes', async () => {
      const r = await b.open();
      const t = await r.createThing('sensor-1', { room: 'kitchen', floor: '2' });
      assert.equal(t.name, 'sensor-1');
      assert.deepEqual(t.attributes, { room: 'kitchen', floor: '2' });
      assert.deepEqual((await r.getThing('sensor-1'))?.attributes, { floor: '2', room: 'kitchen' });
      await r.createThing('sensor-2');
      await r.createThing('a:b_c-D');
      assert.equal(await r.countThings(), 3);
      assert.deepEqual((await r.listThings()).map((x) => x.name), ['a:b_c-D', 'sensor-1', 'sensor-2']);
      await r.deleteThing('sensor-1');
      assert.equal(await r.getThing('sensor-1'), undefined);
      assert.equal(await r.countThings(), 2);
      await r.close();
    });

    it('treats names case-sensitively', async () => {
      const r = await b.open();
      await r.createThing('Dev1');
      await r.createThing('dev1');
      assert.equal(await r.countThings(), 2);
      await rejectsWith(r.createThing('Dev1'), 'THING_EXISTS');
      await r.close();
    });

    it('rejects bad and over-long names and bad attributes, storing nothing', async () => {
      const r = await b.open();
      const before = await r.latestChangeSeq();
      for (const bad of ['', 'a'.repeat(129), 'a/b', 'a b', 'sensor+', 'x#', 'é', 'a\nb']) {
        await rejectsWith(r.createThing(bad), 'THING_NAME_INVALID');
      }
      await r.createThing('a'.repeat(128));
      await rejectsWith(r.createThing('ok', { 'bad key': 'v' }), 'THING_ATTRIBUTE_INVALID');
      await rejectsWith(r.createThing('ok', { k: 'a b' }), 'THING_ATTRIBUTE_INVALID');
      await rejectsWith(r.createThing('ok', Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))), 'THING_ATTRIBUTE_INVALID');
      assert.equal(await r.countThings(), 1);
      assert.equal(await r.latestChangeSeq(), before + 1);
      await r.close();
    });

    it('reports THING_NOT_FOUND for deleting a missing thing', async () => {
      const r = await b.open();
      await rejectsWith(r.deleteThing('nope'), 'THING_NOT_FOUND');
      assert.equal(await r.getThing('not/valid'), undefined);
      await r.close();
    });

    it('pages with prefix, after and limit', async () => {
      const r = await b.open();
      for (const n of ['b1', 'a1', 'a2', 'a3', 'ab', 'c']) await r.createThing(n);
      assert.deepEqual((await r.listThings({ prefix: 'a' })).map((t) => t.name), ['a1', 'a2', 'a3', 'ab']);
      assert.deepEqual((await r.listThings({ prefix: 'a', limit: 2 })).map((t) => t.name), ['a1', 'a2']);
      assert.deepEqual((await r.listThings({ prefix: 'a', after: 'a2' })).map((t) => t.name), ['a3', 'ab']);
      assert.deepEqual((await r.listThings({ after: 'ab', limit: 10 })).map((t) => t.name), ['b1', 'c']);
      await r.close();
    });
  });

  describe(`${b.name} registry: certificates and attachments`, { skip: b.skip }, () => {
    let ca: TestCert;
    let leaf: TestCert;
    let leaf2: TestCert;
    before(async () => {
      ca = await makeCa();
      leaf = await makeLeaf({ issuer: ca });
      leaf2 = await makeLeaf({ issuer: ca });
    });

    it('registers a certificate under its SHA-256 id with subject, issuer and validity', async () => {
      const r = await b.open();
      const c = await r.registerCertificate(leaf.pem + ca.pem, { issuerId: ca.id });
      assert.equal(c.id, leaf.id);
      assert.match(c.id, /^[0-9a-f]{64}$/);
      assert.equal(c.status, 'ACTIVE');
      assert.equal(c.issuerId, ca.id);
      assert.equal(c.subject, leaf.subject);
      assert.equal(c.issuerSubject, ca.subject);
      assert.equal(c.notAfter.getTime(), leaf.cert.notAfter.getTime());
      assert.ok(!c.pem.includes(ca.pem.split('\n')[1]!), 'only the leaf is stored');
      assert.deepEqual(await r.getCertificate(leaf.id), c);
      await rejectsWith(r.registerCertificate(leaf.pem), 'CERT_EXISTS');
      await rejectsWith(r.registerCertificate('garbage'), 'CERT_MALFORMED');
      assert.equal((await r.listCertificates()).length, 1);
      await r.close();
    });

    it('keeps how a certificate is trusted: through a CA by default, or by its exact registration', async () => {
      const r = await b.open();
      const viaCa = await r.registerCertificate(leaf.pem);
      assert.equal(viaCa.trust, 'ca');
      const byRegistration = await r.registerCertificate(leaf2.pem, { trust: 'registration' });
      assert.equal(byRegistration.trust, 'registration');
      assert.equal((await r.getCertificate(leaf2.id))?.trust, 'registration');
      assert.deepEqual((await r.listCertificates()).map((c) => [c.id, c.trust]).sort(), [[leaf.id, 'ca'], [leaf2.id, 'registration']].sort());
      await r.close();
    });

    it('resolves full ids, fingerprints and unique prefixes of at least 8 hex digits', async () => {
      const r = await b.open();
      await r.registerCertificate(leaf.pem);
      assert.equal(await r.resolveCertificateId(leaf.id), leaf.id);
      assert.equal(await r.resolveCertificateId(leaf.id.slice(0, 8).toUpperCase()), leaf.id);
      assert.equal(await r.resolveCertificateId(leaf.id.match(/../g)!.join(':')), leaf.id);
      await rejectsWith(r.resolveCertificateId(leaf.id.slice(0, 7)), 'CERT_ID_INVALID');
      await rejectsWith(r.resolveCertificateId('zzzzzzzz'), 'CERT_ID_INVALID');
      await rejectsWith(r.resolveCertificateId(leaf2.id.slice(0, 12)), 'CERT_NOT_FOUND');
      await r.close();
    });

    it('reports an ambiguous prefix', async () => {
      const store = await b.store();
      const r = await store.open();
      for (const id of ['abcdef01' + '0'.repeat(56), 'abcdef01' + '1'.repeat(56)]) {
        await store.sql(`INSERT INTO certificates (id, pem, status, subject, issuer_subject, serial_number, not_before, not_after, created_at, status_updated_at)
                         VALUES ('${id}', 'x', 'ACTIVE', 's', 'i', '01', 0, 1, 0, 0)`);
      }
      await rejectsWith(r.resolveCertificateId('abcdef01'), 'CERT_ID_AMBIGUOUS');
      assert.equal(await r.resolveCertificateId('abcdef011'), 'abcdef01' + '1'.repeat(56));
      await r.close();
    });

    it('changes status; revocation is final; same status is a no-op', async () => {
      const r = await b.open();
      await r.registerCertificate(leaf.pem);
      assert.deepEqual(await r.setCertificateStatus(leaf.id, 'INACTIVE'), { changed: true, previous: 'ACTIVE' });
      assert.deepEqual(await r.setCertificateStatus(leaf.id, 'INACTIVE'), { changed: false, previous: 'INACTIVE' });
      assert.deepEqual(await r.setCertificateStatus(leaf.id, 'ACTIVE'), { changed: true, previous: 'INACTIVE' });
      await r.setCertificateStatus(leaf.id, 'REVOKED');
      await rejectsWith(r.setCertificateStatus(leaf.id, 'ACTIVE'), 'CERT_REVOKED');
      assert.equal((await r.getCertificate(leaf.id))?.status, 'REVOKED');
      await rejectsWith(r.setCertificateStatus(leaf2.id, 'REVOKED'), 'CERT_NOT_FOUND');
      assert.deepEqual((await r.listCertificates({ status: 'REVOKED' })).map((c) => c.id), [leaf.id]);
      assert.deepEqual(await r.listCertificates({ status: 'ACTIVE' }), []);
      await r.close();
    });

    it('attaches many-to-many, detaches, and cascades on thing and certificate deletion', async () => {
      const r = await b.open();
      await r.createThing('t1');
      await r.createThing('t2');
      await r.registerCertificate(leaf.pem);
      await r.registerCertificate(leaf2.pem);
      assert.deepEqual(await r.attach('t1', leaf.id), { changed: true });
      assert.deepEqual(await r.attach('t1', leaf.id), { changed: false });
      await r.attach('t2', leaf.id);
      await r.attach('t1', leaf2.id);
      assert.deepEqual(await r.thingsForCertificate(leaf.id), ['t1', 't2']);
      assert.deepEqual((await r.certificatesForThing('t1')).sort(), [leaf.id, leaf2.id].sort());
      assert.deepEqual((await r.listCertificates({ thingName: 't2' })).map((c) => c.id), [leaf.id]);
      await r.detach('t2', leaf.id);
      assert.equal(await r.isAttached('t2', leaf.id), false);
      await rejectsWith(r.detach('t2', leaf.id), 'CERT_NOT_ATTACHED');
      await rejectsWith(r.attach('nope', leaf.id), 'THING_NOT_FOUND');
      await rejectsWith(r.attach('t1', 'f'.repeat(64)), 'CERT_NOT_FOUND');
      await rejectsWith(r.attach('bad name', leaf.id), 'THING_NAME_INVALID');
      await r.deleteThing('t1');
      assert.deepEqual(await r.thingsForCertificate(leaf.id), []);
      assert.ok(await r.getCertificate(leaf.id), 'certificates outlive their things');
      await r.attach('t2', leaf2.id);
      await r.deleteCertificate(leaf2.id);
      assert.deepEqual(await r.certificatesForThing('t2'), []);
      await rejectsWith(r.deleteCertificate(leaf2.id), 'CERT_NOT_FOUND');
      await r.close();
    });

    it('enrolls thing + certificate + attachment in one step', async () => {
      const r = await b.open();
      const e = await r.enroll({ thingName: 'dev', attributes: { a: '1' }, certificatePem: leaf.pem, thing: 'new', issuerId: ca.id });
      assert.equal(e.thingCreated, true);
      assert.equal(e.certificateCreated, true);
      assert.equal(e.attached, true);
      assert.deepEqual(await r.thingsForCertificate(leaf.id), ['dev']);
      const again = await r.enroll({ thingName: 'dev', certificatePem: leaf.pem, thing: 'any' });
      assert.deepEqual([again.thingCreated, again.certificateCreated, again.attached], [false, false, false]);
      await rejectsWith(r.enroll({ thingName: 'dev', certificatePem: leaf2.pem, thing: 'new' }), 'THING_EXISTS');
      await r.close();
    });

    it('rolls back a failing multi-step operation completely', async () => {
      const r = await b.open();
      await r.registerCertificate(leaf.pem);
      await r.setCertificateStatus(leaf.id, 'REVOKED');
      const seq = await r.latestChangeSeq();
      // The thing is inserted inside the transaction before the revoked certificate is found.
      await rejectsWith(r.enroll({ thingName: 'fresh', certificatePem: leaf.pem, thing: 'any' }), 'CERT_REVOKED');
      assert.equal(await r.getThing('fresh'), undefined);
      assert.equal(await r.countThings(), 0);
      assert.equal(await r.latestChangeSeq(), seq, 'no change rows survive a rollback');
      await rejectsWith(r.enroll({ thingName: 'fresh', certificatePem: 'not a cert', thing: 'any' }), 'CERT_MALFORMED');
      await rejectsWith(r.enroll({ thingName: 'bad/name', certificatePem: leaf2.pem, thing: 'any' }), 'THING_NAME_INVALID');
      assert.equal(await r.getCertificate(leaf2.id), undefined);
      assert.equal(await r.latestChangeSeq(), seq);
      await r.close();
    });
  });

  describe(`${b.name} registry: trusted CAs`, { skip: b.skip }, () => {
    it('trusts CAs only, lists, resolves and untrusts them', async () => {
      const r = await b.open();
      const ca = await makeCa({ name: 'CN=Operator CA' });
      const leaf = await makeLeaf({ issuer: ca });
      await rejectsWith(r.trustCa(leaf.pem), 'CA_NOT_A_CA');
      const t = await r.trustCa(ca.pem);
      assert.equal(t.id, ca.id);
      assert.equal(t.source, 'operator');
      assert.equal(t.subject, 'CN=Operator CA');
      await rejectsWith(r.trustCa(ca.pem), 'CA_EXISTS');
      assert.equal(await r.resolveCaId(ca.id.slice(0, 10)), ca.id);
      assert.deepEqual((await r.listTrustedCas()).map((c) => c.id), [ca.id]);
      await r.untrustCa(ca.id);
      await rejectsWith(r.untrustCa(ca.id), 'CA_NOT_FOUND');
      await rejectsWith(r.resolveCaId(ca.id), 'CA_NOT_FOUND');
      await r.close();
    });

    it('trusts the gateway CA once; an operator untrust sticks', async () => {
      const r = await b.open();
      const ca = await makeCa({ name: 'CN=Gateway CA' });
      assert.equal((await r.trustGatewayCa(ca.pem)).added, true);
      assert.equal((await r.getTrustedCa(ca.id))?.source, 'gateway');
      assert.equal((await r.trustGatewayCa(ca.pem)).added, false);
      await r.untrustCa(ca.id);
      const again = await r.trustGatewayCa(ca.pem);
      assert.deepEqual(again, { added: false, ca: undefined });
      assert.deepEqual(await r.listTrustedCas(), []);
      await r.close();
    });
  });

  describe(`${b.name} registry: change feed`, { skip: b.skip }, () => {
    it('records every mutation in order with its entity', async () => {
      const r = await b.open();
      const ca = await makeCa();
      const leaf = await makeLeaf({ issuer: ca });
      const start = await r.latestChangeSeq();
      await r.trustCa(ca.pem);
      await r.createThing('t');
      await r.registerCertificate(leaf.pem);
      await r.attach('t', leaf.id);
      await r.setCertificateStatus(leaf.id, 'INACTIVE');
      await r.detach('t', leaf.id);
      await r.deleteThing('t');
      await r.deleteCertificate(leaf.id);
      await r.untrustCa(ca.id);
      const { changes, complete, nextSeq } = await r.changesSince(start);
      assert.equal(complete, true);
      assert.deepEqual(changes.map((c) => c.kind), [
        'CA_TRUSTED', 'THING_CREATED', 'CERT_REGISTERED', 'CERT_ATTACHED', 'CERT_STATUS_CHANGED', 'CERT_DETACHED', 'THING_DELETED', 'CERT_DELETED', 'CA_UNTRUSTED',
      ]);
      assert.deepEqual(changes.map((c) => c.seq), changes.map((_, i) => start + i + 1));
      assert.equal(nextSeq, start + 9);
      const detached = changes[5] as Extract<Change, { kind: 'CERT_DETACHED' }>;
      assert.deepEqual([detached.thingName, detached.certificateId], ['t', leaf.id]);
      const status = changes[4] as Extract<Change, { kind: 'CERT_STATUS_CHANGED' }>;
      assert.equal(status.status, 'INACTIVE');
      assert.deepEqual((await r.changesSince(nextSeq)).changes, []);
      await r.close();
    });

    it('prunes old changes and tells a reader that fell behind', async () => {
      const r = await b.open({ changeRetention: 3 });
      for (let i = 0; i < 6; i++) await r.createThing(`t${i}`);
      const batch = await r.changesSince(0);
      assert.equal(batch.complete, false);
      assert.deepEqual(batch.changes.map((c) => c.seq), [4, 5, 6]);
      assert.equal((await r.changesSince(3)).complete, true);
      await r.close();
    });

    it("delivers another process's changes to a watcher within a second", async () => {
      const store = await b.store();
      const gateway = await store.open();
      const cli = await store.open();
      const keepAlive = setInterval(() => undefined, 1000); // the watcher's own timer is unref'd
      try {
        const seen: Change[] = [];
        const arrived = new Promise<void>((resolve) => {
          const w = gateway.watch((changes) => {
            seen.push(...changes);
            if (seen.some((c) => c.kind === 'THING_DELETED')) {
              w.close();
              resolve();
            }
          }, 50);
        });
        const t0 = Date.now();
        await cli.createThing('remote');
        await cli.deleteThing('remote');
        await arrived;
        // The bound is the behaviour under test (a watcher polling every 50 ms sees another process's change within a second).
        assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
        assert.deepEqual(seen.map((c) => c.kind), ['THING_CREATED', 'THING_DELETED']);
      } finally {
        clearInterval(keepAlive);
        await cli.close();
        await gateway.close();
      }
    });

    it('delivers local changes before the mutating call returns', async () => {
      const r = await b.open();
      const seen: string[] = [];
      const w = r.watch((changes) => seen.push(...changes.map((c) => c.kind)), { intervalMs: 60_000 });
      await r.createThing('local');
      assert.deepEqual(seen, ['THING_CREATED']);
      w.close();
      await r.close();
    });
  });

  describe(`${b.name} registry: closing`, { skip: b.skip }, () => {
    it('fails with REGISTRY_CLOSED after close', async () => {
      const r = await b.open();
      await r.close();
      await rejectsWith(r.getThing('x'), 'REGISTRY_CLOSED');
      await rejectsWith(r.createThing('x'), 'REGISTRY_CLOSED');
    });
  });
}

describe('SqliteRegistry: file, pragmas and migrations', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ path: dir, cleanup } = await tempDir('gatehouse-identity-')));
  after(() => cleanup());

  it('creates registry.db with mode 0600, WAL and foreign keys', async () => {
    const file = registryPath(dir);
    assert.equal(file, join(dir, 'registry.db'));
    const r = open(file);
    await r.createThing('x');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(file + '-wal').mode & 0o777, 0o600);
    const raw = new Database(file, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    raw.close();
    await r.close();
  });

  it('tightens an existing file that others can read', async () => {
    const file = join(dir, 'loose.db');
    await SqliteRegistry.open({ file }).close();
    const { chmodSync } = await import('node:fs');
    chmodSync(file, 0o644);
    await SqliteRegistry.open({ file }).close();
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('migrates once; reopening is idempotent and keeps data', async () => {
    const file = join(dir, 'm.db');
    const r1 = open(file);
    await r1.createThing('keep-me');
    await r1.close();
    const r2 = open(file);
    assert.ok(await r2.getThing('keep-me'));
    await r2.close();
    const raw = new Database(file);
    assert.deepEqual(raw.prepare('SELECT version FROM schema_migrations').all(), MIGRATIONS.map((m) => ({ version: m.version })));
    // A later release adds a step: only that step runs, once.
    const extra = [...MIGRATIONS, { version: MIGRATIONS.length + 1, description: 'test step', sql: 'CREATE TABLE extra (x INTEGER) STRICT;' }];
    assert.deepEqual(migrate(raw, () => new Date(), extra), { from: SCHEMA_VERSION, to: SCHEMA_VERSION + 1 });
    assert.deepEqual(migrate(raw, () => new Date(), extra), { from: SCHEMA_VERSION + 1, to: SCHEMA_VERSION + 1 });
    raw.close();
    // This release does not know step N+1: refuse rather than guess.
    assert.throws(() => open(file), (e: unknown) => e instanceof RegistryError && e.code === 'REGISTRY_SCHEMA_TOO_NEW');
  });

  it('the jobs step (10) stores the deadline of the IN_PROGRESS executions written before it', () => {
    const raw = new Database(join(dir, 'jobs10.db'));
    raw.pragma('foreign_keys = ON');
    migrate(raw, () => new Date(), MIGRATIONS.filter((m) => m.version <= 9));
    raw.exec(`INSERT INTO things (name, created_at) VALUES ('t', 0), ('u', 0), ('v', 0), ('w', 0);
      INSERT INTO jobs (job_id, document, status, created_at, last_updated_at) VALUES ('j', '{}', 'IN_PROGRESS', 0, 0);`);
    const row = (thing: string, status: string, started: number | null, step: number | null, minutes: number | null): void => {
      raw.prepare(`INSERT INTO job_executions (job_id, thing_name, execution_number, status, status_details, version, queued_at, started_at, last_updated_at, step_timeout_at, in_progress_timeout_minutes)
        VALUES ('j', ?, 1, ?, '{}', 1, 0, ?, 0, ?, ?)`).run(thing, status, started, step, minutes);
    };
    row('t', 'IN_PROGRESS', 1000, 50_000, 5);
    row('u', 'IN_PROGRESS', 1000, null, 5);
    row('v', 'IN_PROGRESS', 1000, 400_000, 5);
    row('w', 'QUEUED', null, null, 5);
    migrate(raw, () => new Date());
    const due = raw.prepare('SELECT thing_name, timeout_at FROM job_executions ORDER BY thing_name').all();
    assert.deepEqual(due, [
      { thing_name: 't', timeout_at: 50_000 }, { thing_name: 'u', timeout_at: 301_000 }, { thing_name: 'v', timeout_at: 301_000 }, { thing_name: 'w', timeout_at: null },
    ]);
    assert.equal((raw.prepare(`SELECT target_selection FROM jobs`).get() as { target_selection: string }).target_selection, 'SNAPSHOT');
    raw.close();
  });

  it('refuses a file that is not a registry', async () => {
    const file = join(dir, 'junk.db');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, 'this is not sqlite'.repeat(100));
    assert.throws(() => open(file), (e: unknown) => e instanceof RegistryError && e.code === 'REGISTRY_OPEN_FAILED');
  });
});

