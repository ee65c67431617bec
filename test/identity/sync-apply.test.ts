/**
 * The registry side of a sync (`applySync`, the same rules on SQLite and PostgreSQL:
 * sync-apply.ts): one transaction per call, the registry's checks on what the cloud
 * sends, local objects left alone, removal limited to synced objects, and no write at
 * all when nothing differs. Every test runs on both backends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PgRegistry } from '../../src/identity/pg-registry.js';
import type { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import type { SyncBatch, SyncThing } from '../../src/identity/sync-apply.js';
import { makeCa, makeLeaf, NOW } from '../helpers/pki.js';
import { registryBackends } from '../helpers/registry-backends.js';

const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] });
const thing = (name: string, extra: Partial<SyncThing> = {}): SyncThing => ({ name, thingTypeName: null, attributes: {}, groups: [], certificates: [], ...extra });

/** A backend's registry with the sync's calls (both backends have them; the `Registry` contract does not). */
type SyncingRegistry = SqliteRegistry | PgRegistry;

for (const b of await registryBackends()) describe(`${b.name}: applySync`, { skip: b.skip }, () => {
  const open = async (): Promise<SyncingRegistry> => (await b.open({ now: () => NOW })) as SyncingRegistry;

  test('a batch is one transaction: a failure part way leaves the registry and its change feed as before', async (t) => {
    const store = await b.store();
    const registry = (await store.open({ now: () => NOW })) as SyncingRegistry;
    t.after(() => registry.close());
    await registry.applySync([{ things: [thing('before')] }]);
    const seq = await registry.latestChangeSeq();
    // Another connection makes the second thing's insert fail, as a crash or a full disk would.
    await store.sql(b.name === 'sqlite'
      ? "CREATE TRIGGER fail_b BEFORE INSERT ON things WHEN NEW.name = 'b' BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
      : `CREATE FUNCTION fail_b() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.name = 'b' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER fail_b BEFORE INSERT ON things FOR EACH ROW EXECUTE FUNCTION fail_b();`);
    await assert.rejects(registry.applySync([{ things: [thing('a'), thing('b'), thing('c')] }]), /disk full/);
    assert.equal(await registry.getThing('a'), undefined, 'nothing of the page is written');
    assert.equal(await registry.latestChangeSeq(), seq, 'the change feed is untouched');
    assert.deepEqual((await registry.listThings()).map((x) => x.name), ['before']);
  });

  test('a dry run reports exactly and writes nothing', async () => {
    const registry = await open();
    const batch: SyncBatch = { policies: [{ name: 'P', document: POLICY }], things: [thing('t1', { attributes: { a: '1' } })] };
    const dry = await registry.applySync([batch], { dryRun: true });
    assert.deepEqual(dry.added.map((a) => `${a.kind}:${a.name}`), ['policy:P', 'thing:t1']);
    assert.ok(dry.changes > 0);
    assert.equal(await registry.latestChangeSeq(), 0);
    assert.equal(await registry.getThing('t1'), undefined);
    const real = await registry.applySync([batch]);
    assert.deepEqual(real.added, dry.added);
    const again = await registry.applySync([batch]);
    assert.equal(again.changes, 0);
    assert.deepEqual([again.added, again.changed, again.removed, again.refused], [[], [], [], []]);
    await registry.close();
  });

  test('the registry\'s checks refuse what the cloud sends, object by object; the rest is written', async () => {
    const registry = await open();
    const out = await registry.applySync([{
      policies: [{ name: 'bad', document: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect"}]}' }, { name: 'good', document: POLICY }],
      things: [thing('has space'), thing('ok', { attributes: { 'bad key!': 'x' } }), thing('fine')],
    }]);
    assert.deepEqual(out.refused.map((r) => `${r.name}:${r.code}`), ['bad:POLICY_DOCUMENT_INVALID', 'has space:THING_NAME_INVALID', 'ok:THING_ATTRIBUTE_INVALID']);
    assert.deepEqual(out.added.map((a) => a.name), ['good', 'fine']);
    assert.equal(await registry.getPolicy('bad'), undefined);
    await registry.close();
  });

  test('local objects are neither changed nor removed; synced ones gone from the cloud are removed', async () => {
    const registry = await open();
    await registry.createThing('mine', { owner: 'me' });
    await registry.createPolicy('LocalPolicy', POLICY);
    const ca = await makeCa();
    const leaf = await makeLeaf({ issuer: ca });
    await registry.applySync([{
      cas: [{ id: ca.id, pem: ca.pem }],
      policies: [{ name: 'P', document: POLICY }],
      certificates: [{ id: leaf.id, pem: leaf.pem, status: 'ACTIVE', issuerId: ca.id, policies: ['P', 'LocalPolicy'] }],
      things: [thing('mine', { attributes: { owner: 'cloud' } }), thing('synced', { certificates: [leaf.id] })],
    }]).then((out) => {
      assert.deepEqual(out.refused.map((r) => `${r.kind}:${r.name}:${r.code}`), [`certificate:${leaf.id}:SYNC_DEPENDENCY_REFUSED`, 'thing:mine:SYNC_LOCAL_OBJECT']);
    });
    assert.deepEqual((await registry.getThing('mine'))?.attributes, { owner: 'me' });
    assert.deepEqual(await registry.policiesForTarget({ kind: 'certificate', certificateId: leaf.id }), ['P']);
    assert.deepEqual(await registry.syncedNames('thing'), ['synced']);
    const removal = await registry.applySync([{ keep: { thing: new Set(), certificate: new Set(), policy: new Set(), ca: new Set() } }]);
    assert.deepEqual(removal.removed.map((r) => `${r.kind}:${r.name}`).sort(), [`ca:${ca.id}`, `certificate:${leaf.id}`, 'policy:P', 'thing:synced'].sort());
    assert.ok(await registry.getThing('mine'));
    assert.ok(await registry.getPolicy('LocalPolicy'));
    assert.equal(await registry.getTrustedCa(ca.id), undefined);
    // A synced object deleted locally loses its mark: recreated by hand, it is a local one.
    await registry.applySync([{ things: [thing('again')] }]);
    await registry.deleteThing('again');
    await registry.createThing('again');
    assert.deepEqual(await registry.syncedNames('thing'), []);
    await registry.close();
  });

  test('an object refused after some of its writes leaves none of them, nor their change-feed entries; the next object is written', async () => {
    const registry = await open();
    const groups = Array.from({ length: 11 }, (_, i) => ({ name: `g${i}`, parent: null, description: null, policies: [] }));
    await registry.applySync([{ thingGroups: groups }]);
    const seq = await registry.latestChangeSeq();
    // The thing is inserted, joins ten groups, and is refused at the eleventh.
    const out = await registry.applySync([{ things: [thing('crowded', { groups: groups.map((g) => g.name), attributes: { a: '1' } }), thing('next')] }]);
    assert.deepEqual(out.refused.map((r) => `${r.name}:${r.code}`), ['crowded:THING_GROUP_LIMIT']);
    assert.deepEqual(out.added.map((a) => a.name), ['next']);
    assert.equal(out.changes, 1);
    assert.equal(await registry.getThing('crowded'), undefined);
    assert.deepEqual(await registry.groupsForThing('crowded'), []);
    assert.deepEqual(await registry.syncedNames('thing'), ['next']);
    // The feed holds the one entry written, right after the previous ones: no gap, no entry of the refused thing.
    const feed = await registry.changesSince(seq, 100);
    assert.deepEqual(feed.changes.map((c) => [c.seq, c.kind]), [[seq + 1, 'THING_CREATED']]);
    assert.equal(await registry.latestChangeSeq(), seq + 1);
    await registry.close();
  });

  test('a policy edited in the cloud becomes the default version, the oldest other one going at five', async () => {
    const registry = await open();
    const docOf = (n: number): string => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:us-east-1:000000000000:topic/t${n}` }] });
    for (let n = 1; n <= 7; n++) await registry.applySync([{ policies: [{ name: 'P', document: docOf(n) }] }]);
    const p = await registry.getPolicy('P');
    assert.equal(p?.document, docOf(7));
    assert.deepEqual(p?.versions, [3, 4, 5, 6, 7]);
    await registry.close();
  });
});
