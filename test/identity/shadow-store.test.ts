/**
 * The Device Shadow store (identity/shadow-store.ts, pg-shadow-store.ts) under the shadow
 * service, on each registry backend: shadows belong to registered things, survive reopening the file,
 * continue their version after a delete, go with their thing, and list in pages.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ShadowService } from '../../src/api/data-plane/shadow-service.js';
import { parseUpdateRequest, type UpdateRequest } from '../../src/core/shadow/document.js';
import type { Registry } from '../../src/identity/registry.js';
import type { ShadowStore } from '../../src/identity/shadow-store.js';
import { createLogger } from '../../src/observability/logger.js';
import { registryBackends } from '../helpers/registry-backends.js';

/** Both backends keep shadows in the registry's database. */
type WithShadows = Registry & { shadows(): ShadowStore };
const backends = await registryBackends();

function req(body: unknown): UpdateRequest {
  const r = parseUpdateRequest(JSON.stringify(body));
  if (!r.ok) throw new Error(r.message);
  return r.request;
}

for (const b of backends) {
  describe(`${b.name} registry: shadows`, { skip: b.skip }, () => {
    test('shadows in the registry database: thing required, reopen, version after delete, cascade, pages', async () => {
      const file = await b.store();
      let now = Date.UTC(2026, 5, 1);
      const published: string[] = [];
      const open = async (): Promise<{ registry: WithShadows; service: ShadowService }> => {
        const registry = await file.open() as WithShadows;
        const service = new ShadowService({
          store: registry.shadows(), clock: () => new Date(now), maxDocumentBytes: 8192, logger: createLogger('silent'),
          publisher: { publish: (topic) => {
            published.push(topic);
            return Promise.resolve();
          } },
        });
        return { registry, service };
      };
      let { registry, service } = await open();

      // No thing, no shadow.
      const missing = await service.update('lamp', '', req({ state: { reported: { on: true } } }));
      assert.deepEqual(missing.ok ? undefined : [missing.code, missing.message], [404, 'Thing not found']);
      assert.deepEqual(published, []);

      await registry.createThing('lamp');
      const first = await service.update('lamp', '', req({ state: { reported: { on: true } } }));
      assert.ok(first.ok);
      assert.deepEqual(published, ['$aws/things/lamp/shadow/update/accepted', '$aws/things/lamp/shadow/update/documents']);
      for (const name of ['c', 'a', 'b']) assert.ok((await service.update('lamp', name, req({ state: { desired: { n: name } } }))).ok);

      // Reopened: the same documents.
      await registry.close();
      ({ registry, service } = await open());
      const got = await service.get('lamp', '', {});
      assert.ok(got.ok);
      assert.deepEqual(JSON.parse(JSON.stringify([got.document['version'], got.document['state']])), [1, { reported: { on: true } }]);

      // Pages of named shadows, in name order.
      const p1 = await service.listNamed('lamp', undefined, 2);
      assert.ok(p1.ok);
      assert.deepEqual(p1.results, ['a', 'b']);
      const p2 = await service.listNamed('lamp', p1.nextToken, 2);
      assert.ok(p2.ok);
      assert.deepEqual([p2.results, p2.nextToken], [['c'], undefined]);
      const bad = await service.listNamed('lamp', '!!', 2);
      assert.equal(bad.ok, false);

      // Deleted, then re-created within 48 hours: the version continues; the deleted one is not listed.
      published.length = 0;
      const del = await service.delete('lamp', 'b', {});
      assert.ok(del.ok);
      assert.deepEqual(published, ['$aws/things/lamp/shadow/name/b/delete/accepted']);
      const again = await service.delete('lamp', 'b', { clientToken: 'x' });
      assert.deepEqual(again.ok ? undefined : [again.code, again.message, again.clientToken], [404, "No shadow exists with name: 'b'", 'x']);
      const listed = await service.listNamed('lamp', undefined, undefined);
      assert.ok(listed.ok);
      assert.deepEqual(listed.results, ['a', 'c']);
      now += 60_000;
      const back = await service.update('lamp', 'b', req({ state: { desired: { n: 'b2' } } }));
      assert.ok(back.ok);
      assert.equal(back.document['version'], 2);

      // The thing's deletion takes its shadows.
      await registry.deleteThing('lamp');
      await registry.createThing('lamp');
      const gone = await service.get('lamp', 'a', {});
      assert.deepEqual(gone.ok ? undefined : gone.code, 404);
      await registry.close();
    });

    test('concurrent updates of one shadow from two nodes each get their own version', async () => {
      const file = await b.store();
      const nodes = [await file.open() as WithShadows, await file.open() as WithShadows];
      try {
        await nodes[0]!.createThing('meter');
        const services = nodes.map((r) => new ShadowService({
          store: r.shadows(), clock: () => new Date(Date.UTC(2026, 5, 1)), maxDocumentBytes: 8192, logger: createLogger('silent'),
          publisher: { publish: () => Promise.resolve() },
        }));
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => services[i % 2]!.update('meter', '', req({ state: { reported: { n: i } } }))));
        const versions = results.map((r) => (r.ok ? r.document['version'] as number : -1)).sort((x, y) => x - y);
        assert.deepEqual(versions, Array.from({ length: 20 }, (_, i) => i + 1), 'no two updates passed the same version');
        const got = await services[0]!.get('meter', '', {});
        assert.ok(got.ok);
        assert.equal(got.document['version'], 20);
      } finally {
        for (const n of nodes) await n.close();
      }
    });

    test('deleted shadows are pruned once their version no longer carries over (48 hours); live shadows and recent deletions stay', async () => {
      const registry = await (await b.store()).open() as WithShadows;
      let now = Date.UTC(2026, 5, 1);
      const store = registry.shadows();
      const service = new ShadowService({ store, clock: () => new Date(now), maxDocumentBytes: 8192, logger: createLogger('silent'), publisher: { publish: () => Promise.resolve() } });
      try {
        await registry.createThing('lamp');
        for (const name of ['old', 'recent', 'live']) assert.equal((await service.update('lamp', name, req({ state: { reported: { n: 1 } } }))).ok, true);
        assert.equal((await service.delete('lamp', 'old', {})).ok, true);
        now += 47 * 3600_000;
        assert.equal((await service.delete('lamp', 'recent', {})).ok, true);
        now += 2 * 3600_000;
        const HOURS_48 = 48 * 3600_000;
        assert.equal(await store.pruneDeleted(now - HOURS_48, 10), 1);
        assert.equal(await store.pruneDeleted(now - HOURS_48, 10), 0);
        assert.deepEqual((await store.get('lamp', 'old')).slot, {});
        assert.ok((await store.get('lamp', 'recent')).slot.deleted !== undefined);
        assert.ok((await store.get('lamp', 'live')).slot.document !== undefined);
        // The batch bound holds.
        now += HOURS_48;
        assert.equal(await store.pruneDeleted(now - HOURS_48, 1), 1);
        assert.ok((await store.get('lamp', 'live')).slot.document !== undefined);
      } finally {
        await registry.close();
      }
    });
  });
}
