/**
 * The continuous sync's lead and shared state on the PostgreSQL registry
 * (pg-sync-state.ts): one holder at a time among the handles of one schema (each is a
 * gateway), released when its holder closes or its session ends (a node that dies), the
 * holder told when its lock connection is lost; the state one node writes is what the
 * others read. A private PostgreSQL (test/helpers/postgres.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { PgRegistry } from '../../src/identity/pg-registry.js';
import { NOW } from '../helpers/pki.js';
import { registryBackends } from '../helpers/registry-backends.js';
import { waitUntil } from '../helpers/wait.js';

const backend = (await registryBackends()).find((b) => b.name === 'postgres')!;

describe('the AWS IoT sync\'s lead and shared state on PostgreSQL', { skip: backend.skip }, () => {
  const open: PgRegistry[] = [];
  after(async () => {
    await Promise.all(open.map((r) => r.close()));
  });
  const nodes = async (n: number): Promise<PgRegistry[]> => {
    const store = await backend.store();
    const rs: PgRegistry[] = [];
    for (let i = 0; i < n; i++) rs.push((await store.open({ now: () => NOW })) as PgRegistry);
    open.push(...rs);
    return rs;
  };

  test('one node leads at a time; the lead passes on when its holder closes', async () => {
    const [r1, r2] = await nodes(2);
    const a = r1!.syncState('a');
    const b = r2!.syncState('b');
    assert.equal(await a.lead(), true);
    assert.equal(await b.lead(), false);
    assert.equal(await a.lead(), true, 'the holder keeps it');
    assert.equal(await b.lead(), false);
    await a.close();
    assert.equal(await b.lead(), true);
    await b.close();
  });

  test('a holder whose session ends (its process died) loses the lead, is told, and another node takes it', async () => {
    const [r1, r2] = await nodes(2);
    const a = r1!.syncState('a');
    const b = r2!.syncState('b');
    let lost = 0;
    a.onLost(() => lost++);
    assert.equal(await a.lead(), true);
    assert.equal(await b.lead(), false);
    // The server ends the holder's lock session, as it does when the node's process dies.
    backend.server!.psql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted", 'gatehouse');
    await waitUntil(() => lost === 1, 5000, 'the holder told of the lost lead');
    assert.equal(a.leading, false);
    assert.equal(await b.lead(), true);
    assert.equal(await a.lead(), false, 'the old holder tries again and finds it taken');
    await a.close();
    await b.close();
  });

  test('the state one node writes is what every node reads', async () => {
    const [r1, r2] = await nodes(2);
    const a = r1!.syncState('a');
    const b = r2!.syncState('b');
    assert.equal(await b.read(), undefined);
    const text = JSON.stringify({ verifiedAt: NOW.toISOString() });
    await a.write(text, NOW);
    assert.equal(await b.read(), text);
    const rows = await r2!.syncedNames('certificate');
    assert.deepEqual(rows, []);
    await a.close();
    await b.close();
  });
});
