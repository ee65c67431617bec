/**
 * The offline trust window of certificates synced from AWS IoT Core (sync/continuous.ts):
 * admitted to a new session until last verification + interval +
 * clientDeviceTrustDurationMinutes, refused with CERT_CLOUD_TRUST_EXPIRED after; a
 * session admitted before survives re-checks; local certificates are never subject to
 * it; a gateway that never reached the cloud admits no synced certificate. On both
 * registry backends, the state read where each keeps it (the data directory's file; the
 * shared registry's row). Real databases, real certificates, the real session manager;
 * only the time is chosen.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { PgRegistry } from '../../src/identity/pg-registry.js';
import { SessionManager } from '../../src/identity/sessions.js';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { createLogger } from '../../src/observability/logger.js';
import { ContinuousAwsSync, readSavedStatus, syncStatePath, type SyncStateStore } from '../../src/sync/continuous.js';
import { makeCa, makeLeaf, NOW } from '../helpers/pki.js';
import { registryBackends, type RegistryBackend } from '../helpers/registry-backends.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const MINUTE = 60_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);

async function setup(t: TestContext, b: RegistryBackend, verifiedAt: Date | undefined, options: { readonly changeRetention?: number; readonly clock?: () => Date; readonly followMs?: number } = {}) {
  const dataDir = await makeTempDir(t);
  const registry = (await b.open({ now: () => NOW, ...(options.changeRetention !== undefined ? { changeRetention: options.changeRetention } : {}) })) as SqliteRegistry | PgRegistry;
  // Where the backend keeps the time of the last verification: the file, or the shared row.
  let state: SyncStateStore | undefined;
  if (b.name === 'postgres') {
    state = (registry as PgRegistry).syncState('test');
    if (verifiedAt !== undefined) await state.write(JSON.stringify({ verifiedAt: verifiedAt.toISOString() }), verifiedAt);
  } else if (verifiedAt !== undefined) {
    await mkdir(dirname(syncStatePath(dataDir)), { recursive: true });
    await writeFile(syncStatePath(dataDir), JSON.stringify({ verifiedAt: verifiedAt.toISOString() }));
  }
  const ca = await makeCa();
  const synced = await makeLeaf({ issuer: ca, cn: 'synced' });
  const local = await makeLeaf({ issuer: ca, cn: 'local' });
  await registry.applySync([{
    cas: [{ id: ca.id, pem: ca.pem }],
    certificates: [{ id: synced.id, pem: synced.pem, status: 'ACTIVE', issuerId: ca.id, policies: [] }],
    things: [{ name: 'cloud-thing', thingTypeName: null, attributes: {}, groups: [], certificates: [synced.id] }],
  }]);
  await registry.enroll({ thingName: 'local-thing', certificatePem: local.pem, thing: 'new' });
  let trustMinutes = 1;
  const sync = await ContinuousAwsSync.open({
    store: registry, ...(state !== undefined ? { state } : {}), sync: { endpoint: 'https://127.0.0.1:1' }, intervalMs: 5 * MINUTE, trustDurationMs: () => trustMinutes * MINUTE,
    dataDir, logger: createLogger('silent'), clock: () => NOW, ...(options.followMs !== undefined ? { followMs: options.followMs } : {}),
  });
  const sessions = new SessionManager({ registry, maxActiveAuthTokens: 100, clock: options.clock ?? (() => NOW), expirySweepMs: 0 });
  sessions.verifier.setAdmissionGate(sync.admissionGate);
  t.after(async () => {
    await sync.stop();
    sessions.stop();
    await registry.close();
  });
  return { registry, sessions, ca, synced, local, sync, setTrustMinutes: (m: number) => { trustMinutes = m; } };
}

for (const b of await registryBackends()) describe(`${b.name}: the offline trust window`, { skip: b.skip }, () => {
  test('a synced certificate is admitted until verification + interval + trust duration, then refused; local ones always', async (t) => {
    const { sessions, synced, local, setTrustMinutes } = await setup(t, b, NOW);
    const connect = (pem: string, thing: string, now: Date) => sessions.createSession({ clientId: thing, certificatePem: pem, now, connection: true });
    // Window: NOW + 5 min (interval) + 1 min (trust duration).
    const inside = await connect(synced.pem, 'cloud-thing', at(6 * MINUTE));
    assert.equal(inside.ok, true);
    const outside = await connect(synced.pem, 'cloud-thing', at(6 * MINUTE + 1000));
    assert.equal(outside.ok, false);
    assert.equal(!outside.ok && outside.reason, 'CERT_CLOUD_TRUST_EXPIRED');
    assert.equal((await connect(local.pem, 'local-thing', at(600 * MINUTE))).ok, true, 'local certificates are not cloud-verified identities');
    // The verification the local API's VerifyClientDeviceIdentity makes applies it too.
    const verified = await sessions.verifier.verify(synced.pem, at(7 * MINUTE));
    assert.equal(!verified.ok && verified.reason, 'CERT_CLOUD_TRUST_EXPIRED');
    // The setting is read at each decision (a reload changes it).
    setTrustMinutes(10);
    assert.equal((await connect(synced.pem, 'cloud-thing', at(14 * MINUTE))).ok, true);
  });

  test('a session admitted inside the window is not ended by a later re-check outside it', async (t) => {
    let clock = NOW;
    // A change feed that keeps one entry: three changes at once leave a gap, and the
    // session manager then re-checks every live session.
    const { registry, sessions, ca, synced } = await setup(t, b, NOW, { changeRetention: 1, clock: () => clock });
    const ended: string[] = [];
    sessions.onInvalidated((s, reason) => ended.push(`${s.clientId}:${reason}`));
    const s = await sessions.createSession({ clientId: 'cloud-thing', certificatePem: synced.pem, now: NOW, connection: true });
    assert.equal(s.ok, true);
    // A witness re-checked after it: a local certificate that expires before the re-check.
    const short = await makeLeaf({ issuer: ca, cn: 'short', notAfter: at(50 * MINUTE) });
    await registry.enroll({ thingName: 'short-lived', certificatePem: short.pem, thing: 'new' });
    assert.equal((await sessions.createSession({ clientId: 'short-lived', certificatePem: short.pem, now: NOW, connection: true })).ok, true);
    clock = at(100 * MINUTE);
    const checked = sessions.verifier.verify(synced.pem, clock);
    assert.equal((await checked).ok, false, 'a new verification now is outside the window');
    // Three changes in one transaction: the feed keeps the last one only, whatever the backend's timing.
    await registry.applySync([{ things: ['x1', 'x2', 'x3'].map((name) => ({ name, thingTypeName: null, attributes: {}, groups: [], certificates: [] })) }]);
    // Live sessions are re-checked in order: once the witness has ended, the synced one was checked.
    await waitUntil(() => ended.length > 0, 5000, 'the re-check');
    assert.deepEqual(ended, ['short-lived:CERT_EXPIRED']);
    assert.equal(sessions.size, 1);
  });

  test('a gateway that has never reached the cloud admits no synced certificate (fail closed)', async (t) => {
    const { sessions, synced, local } = await setup(t, b, undefined);
    const r = await sessions.createSession({ clientId: 'cloud-thing', certificatePem: synced.pem, now: NOW, connection: true });
    assert.equal(!r.ok && r.reason, 'CERT_CLOUD_TRUST_EXPIRED');
    assert.equal((await sessions.createSession({ clientId: 'local-thing', certificatePem: local.pem, now: NOW, connection: true })).ok, true);
  });

  // Only PostgreSQL has several nodes: one SQLite gateway always leads.
  if (b.name === 'postgres') test('a node that does not hold the lead follows the state the leading node writes: the same window, the same decisions, and it never runs', async (t) => {
    const { registry, sessions, synced, sync } = await setup(t, b, undefined, { followMs: 20 });
    // Another node holds the lead.
    const leader = (registry as PgRegistry).syncState('leader');
    t.after(() => leader.close());
    assert.equal(await leader.lead(), true);
    sync.begin();
    const reason = async (now: Date): Promise<string | false> => {
      const r = await sessions.createSession({ clientId: 'cloud-thing', certificatePem: synced.pem, now, connection: true });
      return !r.ok && r.reason;
    };
    assert.equal(await reason(NOW), 'CERT_CLOUD_TRUST_EXPIRED', 'never verified by any node: refused');
    // The leading node's run ends: it writes the state.
    await leader.write(JSON.stringify({ verifiedAt: NOW.toISOString(), lastRun: null, refusals: {} }), NOW);
    await waitUntil(() => sync.status().verifiedAt?.getTime() === NOW.getTime(), 5000, 'the shared state followed');
    assert.equal(await reason(at(6 * MINUTE)), false, 'admitted inside the shared window');
    assert.equal(await reason(at(6 * MINUTE + 1000)), 'CERT_CLOUD_TRUST_EXPIRED');
    const s = sync.status();
    assert.equal(s.trustedUntil?.getTime(), at(6 * MINUTE).getTime());
    assert.deepEqual([s.leading, s.runs], [false, 0]);
  });
});

test('the saved state gives the status after a restart: last run, refusals already reported, trust window; a damaged file trusts nothing', async (t) => {
  const dataDir = await makeTempDir(t);
  await mkdir(dirname(syncStatePath(dataDir)), { recursive: true });
  const lastRun = {
    startedAt: at(-2000).toISOString(), endedAt: NOW.toISOString(), result: 'succeeded', added: 1, changed: 2, removed: 3, refused: 1, newlyRefused: 1,
    things: 7, noChange: false, durationMs: 2000, error: null,
  };
  await writeFile(syncStatePath(dataDir), JSON.stringify({ verifiedAt: NOW.toISOString(), trustedUntil: at(6 * MINUTE).toISOString(), lastRun, refusals: { 'thing clash': 'SYNC_LOCAL_OBJECT' } }));
  const registry = SqliteRegistry.open({ file: ':memory:', now: () => NOW });
  t.after(() => registry.close());
  const open = (): Promise<ContinuousAwsSync> => ContinuousAwsSync.open({
    store: registry, sync: { endpoint: 'https://127.0.0.1:1' }, intervalMs: 5 * MINUTE, trustDurationMs: () => MINUTE, dataDir, logger: createLogger('silent'), clock: () => NOW,
  });
  const sync = await open();
  const s = sync.status();
  assert.equal(s.verifiedAt?.getTime(), NOW.getTime());
  assert.equal(s.trustedUntil?.getTime(), at(6 * MINUTE).getTime());
  assert.equal(s.lastRun?.result, 'succeeded');
  assert.equal(s.lastRun?.things, 7);
  assert.equal(s.refusedObjects, 1);
  assert.equal(s.running, false);
  const saved = await readSavedStatus(dataDir);
  assert.equal(saved?.trustedUntil?.getTime(), at(6 * MINUTE).getTime());
  assert.equal(saved?.refusedObjects, 1);
  await sync.stop();

  await writeFile(syncStatePath(dataDir), '{"verifiedAt": "not a date", "lastRun": {"result": "succeeded"}');
  const damaged = await open();
  assert.deepEqual([damaged.status().verifiedAt, damaged.status().trustedUntil, damaged.status().lastRun], [null, null, null]);
  await damaged.stop();
});
