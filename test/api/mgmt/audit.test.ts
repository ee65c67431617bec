/**
 * The audit writer: records are written in batches off the request path, and records
 * older than the retention are deleted at start (and every hour).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditWriter } from '../../../src/api/mgmt/audit.js';
import type { NewAuditRecord } from '../../../src/identity/control.js';
import { SqliteRegistry } from '../../../src/identity/sqlite-registry.js';
import { createLogger } from '../../../src/observability/logger.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';
import { waitUntil } from '../../helpers/wait.js';
import { DEPLOYMENT } from './helpers.js';

const DAY = 86_400_000;

function record(at: Date, requestId: string): NewAuditRecord {
  return { at, principal: 'anonymous', action: 'sts:GetCallerIdentity', resource: '*', decision: 'deny', reason: 'MISSING_AUTHENTICATION', policy: null, statement: null, sourceIp: '127.0.0.1', userAgent: null, status: 403, requestId };
}

test('batched writes, and pruning of records older than the retention', async (t) => {
  const dir = await makeTempDir(t);
  const registry = SqliteRegistry.open({ file: join(dir, 'registry.db') });
  t.after(() => registry.close());
  const control = registry.control({ deployment: DEPLOYMENT, keyFile: join(dir, 'control.key') });
  const writer = new AuditWriter(control, createLogger('silent'));
  t.after(() => writer.close());
  const now = new Date();
  writer.append(record(new Date(now.getTime() - 91 * DAY), 'old'));
  writer.append(record(new Date(now.getTime() - 89 * DAY), 'recent'));
  for (let i = 0; i < 600; i++) writer.append(record(now, `r${i}`));
  await writer.flush();
  assert.equal((await control.queryAudit({ limit: 1000 })).length, 602);
  writer.startPruning(90, () => now);
  await waitUntil(async () => !(await control.queryAudit({ limit: 1000 })).some((r) => r.requestId === 'old'), 5000, 'the old record pruned');
  const left = await control.queryAudit({ limit: 1000 });
  assert.equal(left.length, 601);
  assert.ok(left.some((r) => r.requestId === 'recent'));
});
