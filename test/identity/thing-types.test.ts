/**
 * Declared thing types and thing versions in the registry (schema step 4): the AWS IoT
 * rules for types (declared before use, deprecated before deletion, five minutes' wait,
 * not while a thing has it), versions checked in the writing transaction, and the
 * migration of a step-3 file whose things carry undeclared type labels. Real SQLite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { RegistryError, type RegistryErrorCode } from '../../src/identity/errors.js';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from '../../src/identity/migrations.js';
import type { Change, Registry } from '../../src/identity/registry.js';
import { registryPath, SqliteRegistry, THING_TYPE_DELETE_DELAY_MS } from '../../src/identity/sqlite-registry.js';
import { registryBackends, type RegistryBackend } from '../helpers/registry-backends.js';
import { tempDir } from '../helpers/tmp-dir.js';

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

/** A registry on a new store of backend `b` with a clock the test moves. */
async function openAt(b: RegistryBackend, start = Date.UTC(2026, 0, 1)): Promise<{ r: Registry; advance: (ms: number) => void }> {
  let now = start;
  const r = await b.open({ now: () => new Date(now) });
  return { r, advance: (ms) => { now += ms; } };
}

async function changesAfter(r: Registry, seq: number): Promise<Record<string, unknown>[]> {
  return (await r.changesSince(seq)).changes.map((c) => {
    const { seq: _s, at: _a, ...rest } = c as Change & Record<string, unknown>;
    return rest;
  });
}

/** The contract every backend meets runs on each of them (test/helpers/registry-backends.ts). */
const backends = await registryBackends();

for (const b of backends) {
  describe(`${b.name} registry: thing types`, { skip: b.skip }, () => {
    it('declares, shows and lists types; refuses duplicates and bad properties, storing nothing', async () => {
      const { r } = await openAt(b);
      const seq = await r.latestChangeSeq();
      const t = await r.createThingType('Meter', { description: 'Power meters', searchableAttributes: ['site', 'floor'] });
      assert.deepEqual([t.name, t.description, t.searchableAttributes, t.deprecatedAt, t.createdAt.getTime()], ['Meter', 'Power meters', ['site', 'floor'], null, Date.UTC(2026, 0, 1)]);
      assert.deepEqual(await r.getThingType('Meter'), t);
      await r.createThingType('Amp');
      assert.deepEqual((await r.listThingTypes()).map((x) => x.name), ['Amp', 'Meter']);
      assert.equal(await r.getThingType('meter'), undefined, 'names are case-sensitive');
      assert.deepEqual(await changesAfter(r, seq), [
        { kind: 'THING_TYPE_CHANGED', typeName: 'Meter', event: 'CREATED' },
        { kind: 'THING_TYPE_CHANGED', typeName: 'Amp', event: 'CREATED' },
      ]);
      const before = await r.latestChangeSeq();
      await rejectsWith(r.createThingType('Meter'), 'THING_TYPE_EXISTS');
      await rejectsWith(r.createThingType('bad name'), 'THING_TYPE_NAME_INVALID');
      await rejectsWith(r.createThingType('X', { searchableAttributes: ['a', 'b', 'c', 'd'] }), 'THING_TYPE_PROPERTIES_INVALID');
      await rejectsWith(r.createThingType('X', { searchableAttributes: ['a', 'a'] }), 'THING_TYPE_PROPERTIES_INVALID');
      await rejectsWith(r.createThingType('X', { searchableAttributes: ['bad key'] }), 'THING_TYPE_PROPERTIES_INVALID');
      await rejectsWith(r.createThingType('X', { description: 'x'.repeat(2029) }), 'THING_TYPE_PROPERTIES_INVALID');
      await rejectsWith(r.createThingType('X', { description: 'line\nbreak' }), 'THING_TYPE_PROPERTIES_INVALID');
      assert.equal(await r.getThingType('X'), undefined);
      assert.equal(await r.latestChangeSeq(), before);
      await r.close();
    });

    it('a thing takes only a declared type that is not deprecated; things that have it keep it', async () => {
      const { r } = await openAt(b);
      await r.createThingType('Meter');
      await rejectsWith(r.createThingWithType('m0', {}, 'Undeclared'), 'THING_TYPE_NOT_FOUND');
      assert.equal(await r.getThing('m0'), undefined, 'nothing is created when the type is refused');
      const m1 = await r.createThingWithType('m1', { site: 'a' }, 'Meter');
      assert.deepEqual([m1.thingTypeName, m1.attributes, m1.version], ['Meter', { site: 'a' }, 1]);
      await r.createThing('m2');
      await rejectsWith(r.updateThing('m2', { thingTypeName: 'Undeclared' }), 'THING_TYPE_NOT_FOUND');
      assert.deepEqual(await r.deprecateThingType('Meter'), { changed: true });
      assert.deepEqual(await r.deprecateThingType('Meter'), { changed: false });
      await rejectsWith(r.createThingWithType('m3', {}, 'Meter'), 'THING_TYPE_DEPRECATED');
      await rejectsWith(r.updateThing('m2', { thingTypeName: 'Meter' }), 'THING_TYPE_DEPRECATED');
      assert.equal((await r.getThing('m2'))?.thingTypeName, null);
      // m1 keeps its type, and can still change its attributes.
      const { thing } = await r.updateThing('m1', { thingTypeName: 'Meter', setAttributes: { site: 'b' } });
      assert.deepEqual([thing.thingTypeName, thing.attributes], ['Meter', { site: 'b' }]);
      assert.deepEqual(await r.deprecateThingType('Meter', true), { changed: true });
      assert.equal((await r.getThingType('Meter'))?.deprecatedAt, null);
      await r.updateThing('m2', { thingTypeName: 'Meter' });
      assert.deepEqual(await r.thingsOfType('Meter'), ['m1', 'm2']);
      await rejectsWith(r.deprecateThingType('Nope'), 'THING_TYPE_NOT_FOUND');
      await r.close();
    });

    it('deletes only a type deprecated five minutes ago that no thing has', async () => {
      const { r, advance } = await openAt(b);
      await r.createThingType('Meter');
      await r.createThingWithType('m1', {}, 'Meter');
      await rejectsWith(r.deleteThingType('Meter'), 'THING_TYPE_NOT_DEPRECATED');
      await r.deprecateThingType('Meter');
      const deprecatedAt = (await r.getThingType('Meter'))?.deprecatedAt?.getTime();
      assert.equal(deprecatedAt, Date.UTC(2026, 0, 1));
      advance(THING_TYPE_DELETE_DELAY_MS - 1);
      await rejectsWith(r.deleteThingType('Meter'), 'THING_TYPE_NOT_DEPRECATED');
      advance(1);
      const e = await rejectsWith(r.deleteThingType('Meter'), 'THING_TYPE_IN_USE');
      assert.match(e.message, /m1/);
      await r.updateThing('m1', { thingTypeName: null });
      const seq = await r.latestChangeSeq();
      await r.deleteThingType('Meter');
      assert.equal(await r.getThingType('Meter'), undefined);
      assert.deepEqual(await changesAfter(r, seq), [{ kind: 'THING_TYPE_CHANGED', typeName: 'Meter', event: 'DELETED' }]);
      await rejectsWith(r.deleteThingType('Meter'), 'THING_TYPE_NOT_FOUND');
      // Undeprecating restarts the wait.
      await r.createThingType('Amp');
      await r.deprecateThingType('Amp');
      advance(THING_TYPE_DELETE_DELAY_MS);
      await r.deprecateThingType('Amp', true);
      await r.deprecateThingType('Amp');
      await rejectsWith(r.deleteThingType('Amp'), 'THING_TYPE_NOT_DEPRECATED');
      await r.close();
    });

    it('the schema itself refuses an undeclared type and deleting a type in use', async () => {
      const store = await b.store();
      const r = await store.open();
      await r.createThingType('Meter');
      await r.createThingWithType('m1', {}, 'Meter');
      await r.createThing('m2');
      await r.close();
      await assert.rejects(store.sql("INSERT INTO thing_types (thing_name, type_name) VALUES ('m2', 'Undeclared')"), /FOREIGN KEY|foreign key/);
      await assert.rejects(store.sql("DELETE FROM thing_type_defs WHERE name = 'Meter'"), /FOREIGN KEY|foreign key/);
      await assert.rejects(store.sql("UPDATE things SET version = 0 WHERE name = 'm1'"), /CHECK|check constraint/);
    });
  });

  describe(`${b.name} registry: thing versions`, { skip: b.skip }, () => {
    it('starts at 1 and grows by one per change; an update that changes nothing keeps it', async () => {
      const { r } = await openAt(b);
      await r.createThingType('Meter');
      assert.equal((await r.createThing('t', { a: '1' })).version, 1);
      assert.equal((await r.updateThing('t', { setAttributes: { a: '2' } })).thing.version, 2);
      assert.equal((await r.updateThing('t', { setAttributes: { a: '2' } })).thing.version, 2);
      assert.equal((await r.updateThing('t', { thingTypeName: 'Meter', removeAttributes: ['a'] })).thing.version, 3);
      assert.equal((await r.getThing('t'))?.version, 3);
      assert.equal((await r.listThings())[0]?.version, 3);
      const enrolled = (await r.createThingWithType('u', {}, null)).version;
      assert.equal(enrolled, 1);
      await r.close();
    });

    it('expectedVersion: a stale version is THING_VERSION_CONFLICT and changes nothing, on update and delete', async () => {
      const { r } = await openAt(b);
      await r.createThing('t', { a: '1' });
      await r.updateThing('t', { setAttributes: { a: '2' }, expectedVersion: 1 });
      const seq = await r.latestChangeSeq();
      const e = await rejectsWith(r.updateThing('t', { setAttributes: { a: '3' }, expectedVersion: 1 }), 'THING_VERSION_CONFLICT');
      assert.match(e.message, /version 2, not 1/);
      assert.deepEqual((await r.getThing('t'))?.attributes, { a: '2' });
      await rejectsWith(r.deleteThing('t', { expectedVersion: 3 }), 'THING_VERSION_CONFLICT');
      assert.ok(await r.getThing('t'));
      assert.equal(await r.latestChangeSeq(), seq, 'nothing recorded');
      await rejectsWith(r.updateThing('ghost', { expectedVersion: 1 }), 'THING_NOT_FOUND');
      await rejectsWith(r.deleteThing('ghost', { expectedVersion: 1 }), 'THING_NOT_FOUND');
      await r.deleteThing('t', { expectedVersion: 2 });
      assert.equal(await r.getThing('t'), undefined);
      await r.close();
    });
  });
}

describe('SqliteRegistry: migration from schema step 3', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ path: dir, cleanup } = await tempDir('gatehouse-types-mig-')));
  after(() => cleanup());

  it('declares every type label in use, keeps every thing\'s type and gives each thing version 1', async () => {
    const file = registryPath(dir);
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma('foreign_keys = ON');
    migrate(raw, () => new Date(), MIGRATIONS.slice(0, 3));
    assert.equal(raw.pragma('user_version', { simple: true }), 3);
    const thing = raw.prepare('INSERT INTO things (name, created_at) VALUES (?, ?)');
    thing.run('a', 3000);
    thing.run('b', 1000);
    thing.run('c', 2000);
    thing.run('plain', 500);
    const type = raw.prepare('INSERT INTO thing_types (thing_name, type_name) VALUES (?, ?)');
    type.run('a', 'Camera');
    type.run('b', 'Camera');
    type.run('c', 'Sensor');
    raw.close();

    const r = SqliteRegistry.open({ file });
    try {
      assert.deepEqual((await r.listThings()).map((t) => [t.name, t.thingTypeName, t.version]), [['a', 'Camera', 1], ['b', 'Camera', 1], ['c', 'Sensor', 1], ['plain', null, 1]]);
      const types = await r.listThingTypes();
      assert.deepEqual(types.map((t) => [t.name, t.createdAt.getTime(), t.deprecatedAt, t.description, t.searchableAttributes]),
        [['Camera', 1000, null, null, []], ['Sensor', 2000, null, null, []]]);
      // The migrated types behave as declared ones: in use, so not deletable; assignable.
      await r.updateThing('plain', { thingTypeName: 'Sensor' });
      assert.deepEqual(await r.thingsOfType('Sensor'), ['c', 'plain']);
      assert.equal((await r.iotAuthorizationData()).thingTypes.get('a'), 'Camera');
    } finally {
      await r.close();
    }
    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.deepEqual(check.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), MIGRATIONS.map((m) => ({ version: m.version })));
    assert.deepEqual(check.pragma('foreign_key_check'), []);
    check.close();
  });
});
