/**
 * What only the PostgreSQL registry has: migrations that several nodes start at once,
 * writers serialized so the change feed follows commit order, LISTEN/NOTIFY delivering
 * another node's change without waiting for a poll, the write lock's timeout, and
 * connection failures as coded errors that never show the password. Against a private
 * server (test/helpers/postgres.ts); the shared contract is in registry.test.ts and its
 * siblings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { RegistryError, type RegistryErrorCode } from '../../src/identity/errors.js';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from '../../src/identity/pg-migrations.js';
import { PgRegistry, redactUrl } from '../../src/identity/pg-registry.js';
import type { Change } from '../../src/identity/registry.js';
import { SessionManager } from '../../src/identity/sessions.js';
import type { InvalidationReason } from '../../src/identity/errors.js';
import { makeCa, makeLeaf, NOW } from '../helpers/pki.js';
import { sharedPostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

const server = await sharedPostgres();
const skip = typeof server === 'string' ? server : false;
let counter = 0;
const freshSchema = (): string => `pgr${process.pid}_${++counter}`;
const url = (): string => (typeof server === 'string' ? '' : server.url);
const password = (): string => (typeof server === 'string' ? '' : server.password);

async function rejectsWith(p: Promise<unknown>, code: RegistryErrorCode): Promise<RegistryError> {
  let caught: RegistryError | undefined;
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RegistryError, `expected RegistryError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    caught = e;
    return true;
  });
  return caught!;
}

async function query(schema: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url(), options: `-c search_path=${schema}` });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

describe('PgRegistry: migrations', { skip }, () => {
  it('applies each step once when several nodes open an empty database at the same time', async () => {
    const schema = freshSchema();
    const nodes = await Promise.all(Array.from({ length: 6 }, () => PgRegistry.open({ url: url(), schema })));
    try {
      const { rows } = await query(schema, 'SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows.map((r: { version: number }) => r.version), PG_MIGRATIONS.map((m) => m.version));
      // Every node works on the one schema.
      await nodes[0]!.createThing('seen-by-all');
      for (const n of nodes) assert.ok(await n.getThing('seen-by-all'));
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it('reopens without re-running a step and refuses a schema newer than this release', async () => {
    const schema = freshSchema();
    await (await PgRegistry.open({ url: url(), schema })).close();
    const again = await PgRegistry.open({ url: url(), schema });
    await again.close();
    assert.equal(((await query(schema, 'SELECT count(*)::int AS n FROM schema_migrations')).rows[0] as { n: number }).n, PG_SCHEMA_VERSION);
    await query(schema, "INSERT INTO schema_migrations VALUES ($1, 'from a later release', 0)", [PG_SCHEMA_VERSION + 1]);
    await rejectsWith(PgRegistry.open({ url: url(), schema }), 'REGISTRY_SCHEMA_TOO_NEW');
  });

  it('refuses a URL that is not postgres:// and a schema name it would have to quote', async () => {
    await rejectsWith(PgRegistry.open({ url: 'mysql://u:pw@h/db' }), 'REGISTRY_URL_INVALID');
    await rejectsWith(PgRegistry.open({ url: url(), schema: 'x"; DROP TABLE things; --' }), 'REGISTRY_URL_INVALID');
  });
});

describe('PgRegistry: connection failures', { skip }, () => {
  it('a wrong password or an unreachable server is REGISTRY_OPEN_FAILED, and no message shows the password', async () => {
    const wrong = url().replace(password(), 'not-the-password-xyz');
    const e1 = await rejectsWith(PgRegistry.open({ url: wrong, schema: freshSchema() }), 'REGISTRY_OPEN_FAILED');
    assert.ok(!e1.message.includes('not-the-password-xyz') && !(e1.fix ?? '').includes('not-the-password-xyz'), e1.message);
    assert.match(e1.message, /password authentication failed|28P01/);
    // A port nobody listens on (the server's own port plus one is as good as any).
    const port = new URL(url()).port;
    const closed = url().replace(`:${port}/`, ':1/');
    const t0 = Date.now();
    const e2 = await rejectsWith(PgRegistry.open({ url: closed, schema: freshSchema(), connectTimeoutMs: 2000 }), 'REGISTRY_OPEN_FAILED');
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(!e2.message.includes(password()), e2.message);
    assert.ok(e2.message.includes('***'), 'the URL is shown with its password masked');
  });

  it('masks passwords in URLs', () => {
    assert.equal(redactUrl('postgres://gw:hunter2@db:5432/fleet'), 'postgres://gw:***@db:5432/fleet');
    assert.equal(redactUrl('postgres://gw@db/fleet?password=hunter2'), 'postgres://gw@db/fleet?password=***');
    assert.equal(redactUrl('postgres://db/fleet'), 'postgres://db/fleet');
    assert.ok(!redactUrl('not a url hunter2').includes('hunter2'));
  });
});

describe('PgRegistry: writers and the change feed across nodes', { skip }, () => {
  it('serializes writers: concurrent creates of one name give one thing and THING_EXISTS, and the feed has every change once, in order', async () => {
    const schema = freshSchema();
    const a = await PgRegistry.open({ url: url(), schema });
    const b = await PgRegistry.open({ url: url(), schema });
    try {
      const start = await a.latestChangeSeq();
      const results = await Promise.allSettled([a.createThing('dup'), b.createThing('dup'), a.createThing('dup'), b.createThing('dup')]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as RegistryError).code, 'THING_EXISTS');
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).createThing(`t${i}`)));
      const { changes } = await b.changesSince(start);
      assert.equal(changes.length, 41);
      assert.deepEqual(changes.map((c) => c.seq), changes.map((_, i) => start + i + 1), 'no gap, no repeat');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a watcher that polls once a minute sees another node's revocation within a second (LISTEN/NOTIFY)", async () => {
    const schema = freshSchema();
    const gateway = await PgRegistry.open({ url: url(), schema });
    const operator = await PgRegistry.open({ url: url(), schema });
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      const ca = await makeCa();
      const leaf = await makeLeaf({ issuer: ca });
      await operator.registerCertificate(leaf.pem);
      const afterSeq = await gateway.latestChangeSeq();
      const seen: Change[] = [];
      let watch: { close(): void } | undefined;
      const arrived = new Promise<void>((resolve) => {
        watch = gateway.watch((changes) => {
          seen.push(...changes);
          if (seen.some((c) => c.kind === 'CERT_STATUS_CHANGED')) resolve();
        }, { intervalMs: 60_000, afterSeq });
      });
      // A change made before the listener listens is read when it starts; wait for it, so
      // that the revocation below can only arrive by notification.
      await waitUntil(() => gateway.listening, 5000);
      const t0 = Date.now();
      await operator.setCertificateStatus(leaf.id, 'REVOKED');
      await arrived;
      watch!.close();
      // The bound is the behaviour under test: the poll interval is a minute, so only the notification can deliver it.
      assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
      assert.deepEqual(seen.map((c) => c.kind), ['CERT_STATUS_CHANGED']);
    } finally {
      clearInterval(keepAlive);
      await operator.close();
      await gateway.close();
    }
  });

  it("ends a device's session on one node within a second of its revocation through another", async () => {
    const schema = freshSchema();
    const node3 = await PgRegistry.open({ url: url(), schema });
    const node1 = await PgRegistry.open({ url: url(), schema });
    const ca = await makeCa({ name: 'CN=Cluster devices' });
    const device = await makeLeaf({ issuer: ca, cn: 'd0' });
    await node1.trustCa(ca.pem);
    await node1.enroll({ thingName: 'd0', certificatePem: device.pem, thing: 'new' });
    // Polling once a minute: only the notification can make the bound.
    const sessions = new SessionManager({ registry: node3, maxActiveAuthTokens: 10, watchIntervalMs: 60_000, clock: () => NOW });
    const ended: InvalidationReason[] = [];
    sessions.onInvalidated((_, reason) => ended.push(reason));
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      const r = await sessions.createSession({ clientId: 'd0', certificatePem: device.pem, now: NOW });
      assert.ok(r.ok, r.ok ? '' : r.message);
      await waitUntil(() => node3.listening, 5000);
      await node1.setCertificateStatus(device.id, 'REVOKED');
      const ms = await waitUntil(() => ended.length > 0, 1000);
      assert.ok(ms < 1000);
      assert.deepEqual(ended, ['CERT_REVOKED']);
      assert.equal(sessions.get(r.token), undefined);
    } finally {
      clearInterval(keepAlive);
      sessions.stop();
      await node1.close();
      await node3.close();
    }
  });

  it('a write waiting past busyTimeoutMs for another writer is REGISTRY_BUSY, and nothing is written', async () => {
    const schema = freshSchema();
    const r = await PgRegistry.open({ url: url(), schema, busyTimeoutMs: 200 });
    const holder = new pg.Client({ connectionString: url(), options: `-c search_path=${schema}` });
    await holder.connect();
    try {
      // Another node in the middle of a write holds the write lock.
      await holder.query('BEGIN');
      await holder.query("SELECT value FROM registry_meta WHERE key = 'last_seq' FOR UPDATE");
      const t0 = Date.now();
      await rejectsWith(r.createThing('blocked'), 'REGISTRY_BUSY');
      assert.ok(Date.now() - t0 < 3000);
      await holder.query('ROLLBACK');
      assert.equal(await r.getThing('blocked'), undefined);
      await r.createThing('after');
    } finally {
      await holder.end();
      await r.close();
    }
  });
});
