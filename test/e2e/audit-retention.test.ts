/**
 * The audit log does not depend on the management listener: a gateway that serves only
 * the local API still records its calls and deletes the records older than
 * `gatehouse.management.auditRetentionDays` (at start, then every hour); and a gateway
 * that serves only HTTPS still answers the IPC operations with the API token an earlier
 * start created.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { test } from 'node:test';
import { DEFAULT_IOT_DEPLOYMENT } from '../../src/core/policy/iot/context.js';
import { controlKeyPath } from '../../src/identity/control-key.js';
import type { NewAuditRecord } from '../../src/identity/control.js';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { ApiClient } from '../api/client.js';
import { call, type Fixture } from '../api/mgmt/helpers.js';
import { GatewayProcess } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const DAY = 86_400_000;

const config = (gatehouse: string): string => `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
${gatehouse}`;

function withControl<T>(dataDir: string, fn: (control: ReturnType<SqliteRegistry['control']>) => Promise<T>): Promise<T> {
  const registry = SqliteRegistry.open({ file: registryPath(dataDir) });
  return fn(registry.control({ deployment: DEFAULT_IOT_DEPLOYMENT, keyFile: controlKeyPath(dataDir) })).finally(() => registry.close());
}

function oldRecord(ageDays: number, requestId: string): NewAuditRecord {
  return { at: new Date(Date.now() - ageDays * DAY), principal: 'gatehouse:api-token', action: 'gatehouse:GetMetrics', resource: '*', decision: 'allow', reason: 'ALLOWED_BY_STATEMENT', policy: 'gatehouse-api-token', statement: 'ApiTokenOperations', sourceIp: '127.0.0.1', userAgent: null, status: 200, requestId };
}

test('without the management listener: the local API\'s calls are recorded, and records older than the retention are pruned', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.cleanup());
  const yaml = config('  management: { enabled: false, auditRetentionDays: 30 }\n');
  const first = await GatewayProcess.start(dir.path, yaml);
  const api = new ApiClient(first.apiUrl!, await first.apiToken());
  const scraped = await api.get('/metrics');
  assert.equal(scraped.status, 200);
  await first.stop();
  await withControl(first.dataDir, async (control) => {
    assert.deepEqual((await control.queryAudit({ limit: 10 })).map((r) => r.action), ['gatehouse:GetMetrics'], 'the call was recorded (written at shutdown at the latest)');
    await control.appendAudit([oldRecord(31, 'older-than-retention'), oldRecord(29, 'within-retention')]);
  });

  const second = await GatewayProcess.launch(dir.path, first.configPath, first.dataDir);
  t.after(() => second.stop());
  const pruned = await second.waitForLog((l) => l.includes('"event":"audit-pruned"'), 10_000);
  assert.match(pruned, /"records":1\b/);
  await second.stop();
  await withControl(first.dataDir, async (control) => {
    const left = (await control.queryAudit({ limit: 10 })).map((r) => r.requestId);
    assert.equal(left.length, 2);
    assert.ok(left.includes('within-retention') && !left.includes('older-than-retention'));
  });
});

test('without the local API: the management listener answers the IPC operations, with the token an earlier start created', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.cleanup());
  const first = await GatewayProcess.start(dir.path, config(''));
  const token = await first.apiToken();
  await first.stop();
  await first.writeConfig(config('  api: { enabled: false }\n'));
  const gw = await GatewayProcess.launch(dir.path, first.configPath, first.dataDir, [], { api: false, apiPort0: false });
  t.after(() => gw.stop());
  assert.equal(gw.apiUrl, undefined);
  const url = new URL(await gw.managementUrl());
  const ca = await gw.cli(['ca', 'show']);
  const agent = new Agent({ ca: ca.stdout });
  t.after(() => agent.destroy());
  const f = { port: Number(url.port), agent, clockOffsetMs: 0 } as unknown as Fixture;
  const a = await call(f, { path: '/v1/authorize-client-device-action', body: JSON.stringify({ clientDeviceAuthToken: 'none', operation: 'mqtt:connect', resource: 'mqtt:clientId:d1' }), headers: { authorization: `Bearer ${token}` } });
  assert.equal(a.status, 404, a.body);
  assert.equal((JSON.parse(a.body) as { error: { code: string } }).error.code, 'InvalidClientDeviceAuthTokenError');
});
