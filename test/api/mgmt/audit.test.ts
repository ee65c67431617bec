/**
 * The audit writer: records are written in batches (one transaction per batch, within
 * the flush interval), records older than the retention are pruned, and a store that
 * cannot take the records makes calls wait, then be refused (503), never go unrecorded;
 * the audit list sees a call's record as soon as the call has returned.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { AuditWriter } from '../../../src/api/mgmt/audit.js';
import { compileWithIamDialect, IamPolicyCache } from '../../../src/api/mgmt/iam-engine.js';
import { ApiServer } from '../../../src/api/server.js';
import { validateDeviceGroups } from '../../../src/core/config/validate.js';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import type { ControlStore, NewAuditRecord } from '../../../src/identity/control.js';
import { SessionManager } from '../../../src/identity/sessions.js';
import { SqliteRegistry } from '../../../src/identity/sqlite-registry.js';
import { createLogger } from '../../../src/observability/logger.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { PolicyStore } from '../../../src/runtime/policy-store.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';
import { waitUntil } from '../../helpers/wait.js';
import { call, DEPLOYMENT, startManagement } from './helpers.js';

const DAY = 86_400_000;

function record(at: Date, requestId: string): NewAuditRecord {
  return { at, principal: 'anonymous', action: 'sts:GetCallerIdentity', resource: '*', decision: 'deny', reason: 'MISSING_AUTHENTICATION', policy: null, statement: null, sourceIp: '127.0.0.1', userAgent: null, status: 403, requestId };
}

/** The real store, with its batches counted. */
function countingStore(control: ControlStore): { store: ControlStore; batches: number[] } {
  const batches: number[] = [];
  const store = Object.create(control) as ControlStore;
  store.appendAudit = (records) => {
    batches.push(records.length);
    return control.appendAudit(records);
  };
  return { store, batches };
}

test('batched writes within the flush interval, and pruning of records older than the retention', async (t) => {
  const dir = await makeTempDir(t);
  const registry = SqliteRegistry.open({ file: join(dir, 'registry.db') });
  t.after(() => registry.close());
  const control = registry.control({ deployment: DEPLOYMENT, keyFile: join(dir, 'control.key') });
  const { store, batches } = countingStore(control);
  const writer = new AuditWriter(store, createLogger('silent'), { flushIntervalMs: 20 });
  t.after(() => writer.close());
  const now = new Date();
  writer.append(record(new Date(now.getTime() - 91 * DAY), 'old'));
  writer.append(record(new Date(now.getTime() - 89 * DAY), 'recent'));
  for (let i = 0; i < 600; i++) writer.append(record(now, `r${i}`));
  // No flush asked for: the timer (or the full batch) writes them, 500 records per transaction.
  await waitUntil(() => writer.stats.written === 602, 5000, 'the records written');
  assert.deepEqual(batches, [500, 102]);
  assert.equal((await control.queryAudit({ limit: 1000 })).length, 602);
  assert.equal(await writer.prune(90, () => now), 1);
  const left = await control.queryAudit({ limit: 1000 });
  assert.equal(left.length, 601);
  assert.ok(left.some((r) => r.requestId === 'recent') && !left.some((r) => r.requestId === 'old'));
});

test('a store that refuses the records: they stay queued and are written when it recovers; a full queue makes calls wait, then refuses them', async (t) => {
  const dir = await makeTempDir(t);
  const file = join(dir, 'registry.db');
  const registry = SqliteRegistry.open({ file, busyTimeoutMs: 0 });
  t.after(() => registry.close());
  const control = registry.control({ deployment: DEPLOYMENT, keyFile: join(dir, 'control.key') });
  // Another process holds the database's write lock.
  const other = new Database(file);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const writer = new AuditWriter(control, createLogger('silent'), { flushIntervalMs: 1, maxQueued: 3, admitWaitMs: 50, retryMs: 20 });
  t.after(() => writer.close());
  for (let i = 0; i < 3; i++) writer.append(record(new Date(), `r${i}`));
  assert.equal(await writer.flush(), false, 'the write fails');
  assert.equal(writer.stats.queued, 3, 'nothing is dropped');
  assert.equal(writer.hasRoom(), false);
  assert.equal(await writer.waitForRoom(), false, 'no room within admitWaitMs: the call is refused');
  assert.equal(writer.stats.refused, 1);
  // Room comes back once the store takes the records (retried on its own).
  const waiting = writer.waitForRoom();
  other.exec('COMMIT');
  const admitted = await Promise.race([waiting, writer.flush().then(() => writer.waitForRoom())]);
  assert.equal(admitted, true);
  await waitUntil(() => writer.stats.written === 3, 5000, 'the queued records written');
  assert.deepEqual((await control.queryAudit({ limit: 10 })).map((r) => r.requestId).sort(), ['r0', 'r1', 'r2']);
});

test('the local API refuses calls with 503 API_AUDIT_BACKLOG while the audit log cannot take them, EMQX gets deny; the records of earlier calls are kept', async (t) => {
  const dir = await makeTempDir(t);
  const file = join(dir, 'registry.db');
  const registry = SqliteRegistry.open({ file, busyTimeoutMs: 0 });
  t.after(() => registry.close());
  const control = registry.control({ deployment: DEPLOYMENT, keyFile: join(dir, 'control.key') });
  const sessions = new SessionManager({ registry, maxActiveAuthTokens: 10, expirySweepMs: 0 });
  t.after(() => sessions.stop());
  const groups = validateDeviceGroups({ formatVersion: '2021-03-05', definitions: {}, policies: {} });
  assert.ok(groups.ok);
  const audit = new AuditWriter(control, createLogger('silent'), { flushIntervalMs: 1, maxQueued: 2, admitWaitMs: 50, retryMs: 20 });
  t.after(() => audit.close());
  const token = 't'.repeat(43);
  const api = await ApiServer.start({
    registry, sessions, policy: new PolicyStore(compileDeviceGroups(groups.deviceGroups)), metrics: new Metrics(), logger: createLogger('silent'),
    certificates: { issue: () => Promise.reject(new Error('not used')), onRotation: () => () => undefined },
    connectedClients: () => 0, token, listen: { host: '127.0.0.1', port: 0 }, bodyLimitBytes: 65536,
    performance: { maxConcurrentCloudRequests: 2, cloudRequestQueueSize: 10 },
    authorization: { control, iamPolicies: new IamPolicyCache(compileWithIamDialect), deployment: DEPLOYMENT, audit },
  });
  t.after(() => api.close());
  const post = async (path: string, body: unknown): Promise<{ status: number; text: string }> => {
    const r = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    return { status: r.status, text: await r.text() };
  };
  const authorize = { clientDeviceAuthToken: 'no-such-session', operation: 'mqtt:connect', resource: 'mqtt:clientId:d1' };
  const other = new Database(file);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  assert.equal((await post('/v1/authorize-client-device-action', authorize)).status, 404);
  assert.equal((await post('/v1/authorize-client-device-action', authorize)).status, 404);
  await waitUntil(() => audit.stats.queued === 2 && !audit.hasRoom(), 5000, 'two records queued');
  const refused = await post('/v1/authorize-client-device-action', authorize);
  assert.equal(refused.status, 503);
  assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'API_AUDIT_BACKLOG');
  const emqx = await post('/v1/emqx/authz', { clientid: 'd1', action: 'publish', topic: 't' });
  assert.deepEqual([emqx.status, emqx.text], [200, '{"result":"deny"}'], 'EMQX reads other statuses as "ignore"');
  other.exec('COMMIT');
  await waitUntil(() => audit.stats.written === 2 && audit.hasRoom(), 5000, 'the queued records written');
  assert.equal((await post('/v1/authorize-client-device-action', authorize)).status, 404, 'served again');
  await audit.flush();
  const records = await control.queryAudit({ limit: 10 });
  assert.equal(records.length, 3);
  assert.ok(records.every((r) => r.action === 'gatehouse:AuthorizeClientDeviceAction' && r.status === 404));
});

test('the audit list writes what is queued before it reads: a call is listed as soon as it has returned', async (t) => {
  const f = await startManagement(t, { audit: { flushIntervalMs: 60_000 } });
  const auditor = await f.user('auditor', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'gatehouse:ListAuditRecords', Resource: '*' }] }]);
  const denied = await call(f, { path: '/gatehouse/sessions', credentials: auditor });
  assert.equal(denied.status, 403);
  const listed = await call(f, { path: '/gatehouse/audit?action=gatehouse:ListSessions', credentials: auditor });
  assert.equal(listed.status, 200, listed.body);
  const records = (JSON.parse(listed.body) as { records: { requestId: string }[] }).records;
  assert.deepEqual(records.map((r) => r.requestId), [denied.headers['x-amzn-requestid']]);
});

test('the management listener refuses calls with 503 in the route\'s protocol while the audit log cannot take them', async (t) => {
  const f = await startManagement(t, { audit: { flushIntervalMs: 1, maxQueued: 2, admitWaitMs: 50, retryMs: 20 }, busyTimeoutMs: 0 });
  const other = new Database((f.registry as SqliteRegistry).file);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  // Two unauthenticated calls: two records the store cannot take.
  assert.equal((await call(f, { path: '/gatehouse/sessions' })).status, 403);
  assert.equal((await call(f, { path: '/things' })).status, 403);
  await waitUntil(() => !f.server.audit.hasRoom(), 5000, 'the queue full');
  const gatehouse = await call(f, { path: '/gatehouse/sessions' });
  assert.equal(gatehouse.status, 503);
  assert.equal((JSON.parse(gatehouse.body) as { error: { code: string } }).error.code, 'MGMT_AUDIT_BACKLOG');
  const iot = await call(f, { path: '/things' });
  assert.deepEqual([iot.status, iot.headers['x-amzn-errortype']], [503, 'ServiceUnavailableException']);
  const emqx = await call(f, { path: '/v1/emqx/authz', body: JSON.stringify({ clientid: 'd1', action: 'publish', topic: 't' }) });
  assert.deepEqual([emqx.status, emqx.body], [200, '{"result":"deny"}'], 'EMQX reads other statuses as "ignore"');
  other.exec('COMMIT');
  await waitUntil(() => f.server.audit.stats.written === 2 && f.server.audit.hasRoom(), 5000, 'the queued records written');
  assert.equal((await call(f, { path: '/gatehouse/sessions' })).status, 403, 'served again');
  assert.equal((await f.audit()).length, 3);
});
