/**
 * The cluster's shared configuration versions and gateway CA record on a private
 * PostgreSQL (test/helpers/postgres.ts): pushes take turns and are checked against the
 * version they follow; a refused or unchanged push stores nothing; another process hears
 * of a new version by notification alone; the first CA recorded is the cluster's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../src/identity/errors.js';
import { fingerprintOf } from '../../src/identity/pg-cluster-store.js';
import { PgRegistry } from '../../src/identity/pg-registry.js';
import { makeCa } from '../helpers/pki.js';
import { sharedPostgres } from '../helpers/postgres.js';

const server = await sharedPostgres();
const skip = typeof server === 'string' ? server : false;
let counter = 0;
const open = (schema: string): Promise<PgRegistry> => PgRegistry.open({ url: typeof server === 'string' ? '' : server.url, schema });
const freshSchema = (): string => `pgc${process.pid}_${++counter}`;
const none = (): Promise<never[]> => Promise.resolve([]);

describe('PgClusterStore', { skip }, () => {
  it('stores versions in turn, each checked against the one it follows; refused and unchanged pushes store nothing', async () => {
    const registry = await open(freshSchema());
    try {
      const store = registry.clusterStore();
      assert.equal(await store.latestConfig(), undefined);
      const seen: (number | undefined)[] = [];
      const check = (previous: { version: number } | undefined): Promise<never[]> => {
        seen.push(previous?.version);
        return none();
      };
      assert.deepEqual(await store.pushConfig('a: 1\n', 'yaml', { pushedBy: 'op@host', check }), { stored: true, version: 1 });
      assert.deepEqual(await store.pushConfig('a: 1\n', 'yaml', { pushedBy: 'op@host', check }), { stored: false, unchanged: true, version: 1 });
      const refused = await store.pushConfig('a: 2\n', 'yaml', { pushedBy: 'op@host', check: () => Promise.resolve([{ code: 'CONFIG_EMPTY', path: '', message: 'no' }]) });
      assert.equal(refused.stored, false);
      assert.equal(await store.latestConfigVersion(), 1);
      // Concurrent pushes: each gets its own version and saw the one before it.
      const results = await Promise.all(['b: 1\n', 'b: 2\n', 'b: 3\n'].map((t) => store.pushConfig(t, 'yaml', { pushedBy: 'op@host', check })));
      assert.deepEqual(results.map((r) => (r.stored ? r.version : 0)).sort(), [2, 3, 4]);
      assert.deepEqual(seen.slice(-3).sort(), [1, 2, 3]);
      const v1 = await store.configVersion(1);
      assert.equal(v1?.text, 'a: 1\n');
      assert.equal(v1?.pushedBy, 'op@host');
      assert.equal(await store.configVersion(99), undefined);
      await assert.rejects(store.pushConfig('c: 1\n', 'yaml', { pushedBy: 'op@host', expectedVersion: 3, check }),
        (e: unknown) => e instanceof RegistryError && e.code === 'CLUSTER_CONFIG_CONFLICT');
      assert.equal(await store.latestConfigVersion(), 4);
    } finally {
      await registry.close();
    }
  });

  it('another process hears of a new version by notification, with polling once a minute', async () => {
    const schema = freshSchema();
    const [node, operator] = [await open(schema), await open(schema)];
    try {
      let heard: () => void = () => undefined;
      let listening: () => void = () => undefined;
      const ready = new Promise<void>((r) => { listening = r; });
      let calls = 0;
      // The first call comes when LISTEN is in place; the next one is the notification.
      const watch = node.clusterStore().watchConfig(() => {
        calls++;
        if (calls === 1) listening();
        else heard();
      }, { intervalMs: 60_000 });
      try {
        await ready;
        const got = new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no notification within 5 s')), 5000);
          heard = () => {
            clearTimeout(timer);
            resolve(Date.now());
          };
        });
        const t0 = Date.now();
        await operator.clusterStore().pushConfig('x: 1\n', 'yaml', { pushedBy: 'op', check: none });
        const at = await got;
        assert.ok(at - t0 < 1000, `heard after ${at - t0} ms`);
      } finally {
        watch.close();
      }
    } finally {
      await Promise.all([node.close(), operator.close()]);
    }
  });

  it('records the first gateway CA as the cluster\'s and tells every later one whether it matches', async () => {
    const registry = await open(freshSchema());
    try {
      const store = registry.clusterStore();
      const [first, other] = [await makeCa(), await makeCa()];
      const a = await store.recordGatewayCa(first.pem);
      assert.deepEqual([a.recorded, a.matches, a.record.fingerprint], [true, true, fingerprintOf(first.pem)]);
      const b = await store.recordGatewayCa(first.pem);
      assert.deepEqual([b.recorded, b.matches], [false, true]);
      const c = await store.recordGatewayCa(other.pem);
      assert.deepEqual([c.recorded, c.matches, c.record.fingerprint], [false, false, fingerprintOf(first.pem)]);
      assert.equal((await store.gatewayCa())?.certificatePem, first.pem);
    } finally {
      await registry.close();
    }
  });
});
