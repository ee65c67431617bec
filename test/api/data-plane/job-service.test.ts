/**
 * The jobs service over the real registry database (SQLite, in memory), with the clock
 * passed in: executions created from thing and thing-group targets, timeouts written as
 * TIMED_OUT when the thing is next touched, job completion, cancel and delete, and the
 * notify / notify-next messages it publishes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobService } from '../../../src/api/data-plane/job-service.js';
import { SqliteRegistry } from '../../../src/identity/sqlite-registry.js';
import { createLogger } from '../../../src/observability/logger.js';

const DEP = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
const ARN = 'arn:aws:iot:us-east-1:123456789012';
const T0 = Date.UTC(2026, 0, 1);

async function setup(): Promise<{ registry: SqliteRegistry; service: JobService; sent: { topic: string; body: Record<string, unknown> }[]; clock: { now: number } }> {
  const registry = SqliteRegistry.open({ file: ':memory:' });
  for (const t of ['a', 'b', 'c']) await registry.createThing(t);
  await registry.createThingGroup('parent');
  await registry.createThingGroup('child', { parent: 'parent' });
  await registry.addThingToGroup('child', 'b');
  const sent: { topic: string; body: Record<string, unknown> }[] = [];
  const clock = { now: T0 };
  const service = new JobService({
    store: registry.jobs(), clock: () => new Date(clock.now), logger: createLogger('error'), deployment: () => DEP,
    publisher: { publish: (topic, payload) => { sent.push({ topic, body: JSON.parse(payload) as Record<string, unknown> }); return Promise.resolve(); } },
  });
  return { registry, service, sent, clock };
}

test('a group target includes its descendant groups\' members at creation; each target is notified', async () => {
  const { registry, service, sent } = await setup();
  try {
    const r = await service.createJob({ jobId: 'j', document: '{"op":"x"}', targets: [`${ARN}:thing/a`, `${ARN}:thinggroup/parent`] });
    assert.ok(r.ok);
    assert.deepEqual((await service.executionsOfJob('j'))?.map((e) => [e.thingName, e.status, e.versionNumber]), [['a', 'QUEUED', 1], ['b', 'QUEUED', 1]]);
    assert.deepEqual(sent.map((m) => m.topic).sort(), ['$aws/things/a/jobs/notify', '$aws/things/a/jobs/notify-next', '$aws/things/b/jobs/notify', '$aws/things/b/jobs/notify-next']);
    // A thing added to the group later is not a target (snapshot).
    await registry.addThingToGroup('parent', 'c');
    assert.equal((await service.executionsOfJob('j'))?.length, 2);
    const missing = await service.createJob({ jobId: 'k', document: '{}', targets: [`${ARN}:thing/ghost`] });
    assert.deepEqual(missing.ok ? undefined : missing.exception, 'ResourceNotFoundException');
    const other = await service.createJob({ jobId: 'k', document: '{}', targets: ['arn:aws:iot:eu-west-1:123456789012:thing/a'] });
    assert.deepEqual(other.ok ? undefined : other.exception, 'InvalidRequestException');
  } finally {
    await registry.close();
  }
});

test('a step timeout is written as TIMED_OUT when the thing is next touched; the job then completes', async () => {
  const { registry, service, sent, clock } = await setup();
  try {
    assert.ok((await service.createJob({ jobId: 'j', document: '{}', targets: [`${ARN}:thing/a`] })).ok);
    const started = await service.startNext('a', { stepTimeoutInMinutes: 2 }, 'object');
    assert.ok(started.ok);
    assert.equal(started.execution?.['status'], 'IN_PROGRESS');
    assert.equal(started.execution?.['approximateSecondsBeforeTimedOut'], 120);
    clock.now = T0 + 121_000;
    sent.length = 0;
    const pending = await service.getPending('a');
    assert.ok(pending.ok);
    assert.deepEqual([pending.inProgressJobs, pending.queuedJobs], [[], []]);
    const e = await service.execution('j', 'a');
    assert.deepEqual([e?.status, e?.versionNumber, e?.lastUpdatedAt], ['TIMED_OUT', 3, T0 + 120_000]);
    assert.equal((await service.describeJob('j'))?.job.status, 'COMPLETED');
    // The device learns nothing is next.
    const next = sent.find((m) => m.topic === '$aws/things/a/jobs/notify-next');
    assert.ok(next !== undefined && !('execution' in next.body));
    // And can no longer update it.
    const u = await service.update('a', 'j', { status: 'SUCCEEDED' });
    assert.deepEqual(u.ok ? undefined : u.code, 'InvalidStateTransition');
  } finally {
    await registry.close();
  }
});

test('cancel (force for IN_PROGRESS), delete only without pending executions unless forced', async () => {
  const { registry, service } = await setup();
  try {
    assert.ok((await service.createJob({ jobId: 'j', document: '{}', targets: [`${ARN}:thing/a`, `${ARN}:thing/c`] })).ok);
    assert.ok((await service.startNext('a', {}, 'object')).ok);
    const del = await service.deleteJob('j', false);
    assert.deepEqual(del.ok ? undefined : del.exception, 'InvalidStateTransitionException');
    assert.ok((await service.cancelJob('j', { force: false })).ok);
    assert.deepEqual((await service.executionsOfJob('j'))?.map((e) => e.status), ['IN_PROGRESS', 'CANCELED']);
    assert.ok((await service.cancelJob('j', { force: true })).ok);
    assert.deepEqual((await service.executionsOfJob('j'))?.map((e) => e.status), ['CANCELED', 'CANCELED']);
    assert.ok((await service.deleteJob('j', false)).ok);
    assert.equal(await service.describeJob('j'), undefined);
    // A device's update of a deleted job's execution: not found.
    const u = await service.update('a', 'j', { status: 'SUCCEEDED' });
    assert.deepEqual(u.ok ? undefined : u.code, 'ResourceNotFound');
  } finally {
    await registry.close();
  }
});
