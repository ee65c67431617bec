/**
 * The jobs service over the real registry database — on each registry backend (SQLite;
 * PostgreSQL when this process can start one) — with the clock passed in: executions created from thing and thing-group targets, timeouts written as
 * TIMED_OUT when the thing is next touched, job completion, cancel and delete, and the
 * notify / notify-next messages it publishes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JobService } from '../../../src/api/data-plane/job-service.js';
import type { JobStore } from '../../../src/identity/job-store.js';
import type { Registry } from '../../../src/identity/registry.js';
import { createLogger } from '../../../src/observability/logger.js';
import { registryBackends, type RegistryBackend } from '../../helpers/registry-backends.js';

/** Both backends keep jobs in the registry's database. */
type WithJobs = Registry & { jobs(): JobStore };
const backends = await registryBackends();

const DEP = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
const ARN = 'arn:aws:iot:us-east-1:123456789012';
const T0 = Date.UTC(2026, 0, 1);

async function setup(b: RegistryBackend): Promise<{ registry: WithJobs; service: JobService; sent: { topic: string; body: Record<string, unknown> }[]; clock: { now: number } }> {
  const registry = await b.open() as WithJobs;
  for (const t of ['a', 'b', 'c']) await registry.createThing(t);
  await registry.createThingGroup('parent');
  await registry.createThingGroup('child', { parent: 'parent' });
  await registry.addThingToGroup('child', 'b');
  const sent: { topic: string; body: Record<string, unknown> }[] = [];
  const clock = { now: T0 };
  const store = registry.jobs();
  // A shared (PostgreSQL) store carries the messages in the change feed for every node to
  // publish; this handle's watcher has them before the service call returns.
  if (store.relaysAnnouncements) {
    registry.watch((changes) => {
      for (const c of changes) if (c.kind === 'SERVICE_MESSAGE') sent.push({ topic: c.topic, body: JSON.parse(c.payload) as Record<string, unknown> });
    }, { intervalMs: 60_000 });
  }
  const service = new JobService({
    store, clock: () => new Date(clock.now), logger: createLogger('error'), deployment: () => DEP,
    publisher: { publish: (topic, payload) => {
      if (store.relaysAnnouncements) throw new Error('a relaying store\'s messages must not be published by the service');
      sent.push({ topic, body: JSON.parse(payload) as Record<string, unknown> });
      return Promise.resolve();
    } },
  });
  return { registry, service, sent, clock };
}

for (const b of backends) {
  describe(`${b.name} registry: jobs service`, { skip: b.skip }, () => {
    test('a group target includes its descendant groups\' members at creation; each target is notified', async () => {
      const { registry, service, sent } = await setup(b);
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
      const { registry, service, sent, clock } = await setup(b);
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
      const { registry, service } = await setup(b);
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

    test('the sweep writes due executions as TIMED_OUT (as of the deadline) without the thing being touched, at most `limit` per call, and announces them', async () => {
      const { registry, service, sent, clock } = await setup(b);
      try {
        assert.ok((await service.createJob({ jobId: 'j', document: '{}', targets: [`${ARN}:thing/a`, `${ARN}:thing/b`, `${ARN}:thing/c`], inProgressTimeoutInMinutes: 5 })).ok);
        for (const t of ['a', 'b', 'c']) assert.ok((await service.startNext(t, t === 'a' ? { stepTimeoutInMinutes: 1 } : {}, 'object')).ok);
        // Nothing is due yet.
        assert.deepEqual(await service.sweepTimeouts(10), []);
        // a's step timer (1 min) expires first.
        clock.now = T0 + 61_000;
        sent.length = 0;
        assert.deepEqual(await service.sweepTimeouts(10), [{ jobId: 'j', thingName: 'a', executionNumber: 1, at: T0 + 60_000 }]);
        assert.deepEqual(sent.map((m) => m.topic).sort(), ['$aws/things/a/jobs/notify', '$aws/things/a/jobs/notify-next']);
        assert.ok(!('execution' in sent.find((m) => m.topic.endsWith('/notify-next'))!.body));
        assert.deepEqual((sent.find((m) => m.topic.endsWith('/notify'))!.body['jobs']), {});
        // The in-progress timer (5 min) of b and c: one per call with limit 1.
        clock.now = T0 + 5 * 60_000 + 1;
        const first = await service.sweepTimeouts(1);
        const second = await service.sweepTimeouts(1);
        assert.deepEqual([...first, ...second].map((t) => [t.thingName, t.at]).sort(), [['b', T0 + 300_000], ['c', T0 + 300_000]]);
        assert.deepEqual(await service.sweepTimeouts(10), []);
        assert.deepEqual((await service.executionsOfJob('j'))?.map((e) => [e.thingName, e.status, e.versionNumber]), [['a', 'TIMED_OUT', 3], ['b', 'TIMED_OUT', 3], ['c', 'TIMED_OUT', 3]]);
        assert.equal((await service.describeJob('j'))?.job.status, 'COMPLETED');
      } finally {
        await registry.close();
      }
    });

    test('CancelJobExecution: QUEUED canceled; IN_PROGRESS only with force; expectedVersion; terminal refused; the device is told', async () => {
      const { registry, service, sent } = await setup(b);
      try {
        assert.ok((await service.createJob({ jobId: 'j', document: '{}', targets: [`${ARN}:thing/a`, `${ARN}:thing/b`] })).ok);
        assert.ok((await service.startNext('b', {}, 'object')).ok);
        sent.length = 0;
        const wrongVersion = await service.cancelExecution('j', 'a', { force: false, expectedVersion: 5 });
        assert.deepEqual(wrongVersion.ok ? undefined : wrongVersion.exception, 'VersionConflictException');
        const a = await service.cancelExecution('j', 'a', { force: false, expectedVersion: 1, statusDetails: { why: 'replaced' } });
        assert.ok(a.ok);
        assert.deepEqual([a.execution.status, a.execution.versionNumber, a.execution.statusDetails], ['CANCELED', 2, { why: 'replaced' }]);
        assert.ok(sent.some((m) => m.topic === '$aws/things/a/jobs/notify-next' && !('execution' in m.body)));
        const noForce = await service.cancelExecution('j', 'b', { force: false });
        assert.deepEqual(noForce.ok ? undefined : noForce.exception, 'InvalidStateTransitionException');
        const forced = await service.cancelExecution('j', 'b', { force: true });
        assert.ok(forced.ok);
        assert.deepEqual([forced.execution.status, forced.execution.forceCanceled], ['CANCELED', true]);
        const again = await service.cancelExecution('j', 'b', { force: true });
        assert.deepEqual(again.ok ? undefined : again.exception, 'InvalidStateTransitionException');
        const none = await service.cancelExecution('j', 'c', { force: false });
        assert.deepEqual(none.ok ? undefined : none.exception, 'ResourceNotFoundException');
        // A device update of a canceled execution is refused.
        const u = await service.update('b', 'j', { status: 'SUCCEEDED' });
        assert.deepEqual(u.ok ? undefined : u.code, 'InvalidStateTransition');
        assert.equal((await service.describeJob('j'))?.job.status, 'COMPLETED');
      } finally {
        await registry.close();
      }
    });

    test('DeleteJobExecution: terminal ones, pending ones only with force, the execution number must match', async () => {
      const { registry, service } = await setup(b);
      try {
        assert.ok((await service.createJob({ jobId: 'j', document: '{}', targets: [`${ARN}:thing/a`, `${ARN}:thing/b`] })).ok);
        const pending = await service.deleteExecution('j', 'a', 1, false);
        assert.deepEqual(pending.ok ? undefined : pending.exception, 'InvalidStateTransitionException');
        const wrong = await service.deleteExecution('j', 'a', 2, true);
        assert.deepEqual(wrong.ok ? undefined : wrong.exception, 'ResourceNotFoundException');
        assert.ok((await service.deleteExecution('j', 'a', 1, true)).ok);
        assert.equal(await service.execution('j', 'a'), undefined);
        assert.ok((await service.update('b', 'j', { status: 'SUCCEEDED' })).ok);
        assert.ok((await service.deleteExecution('j', 'b', 1, false)).ok);
        assert.deepEqual(await service.executionsOfJob('j'), []);
      } finally {
        await registry.close();
      }
    });

    test('UpdateJob: description and in-progress timeout; the timeout applies to QUEUED executions, not started ones', async () => {
      const { registry, service, clock } = await setup(b);
      try {
        assert.ok((await service.createJob({ jobId: 'j', document: '{}', targets: [`${ARN}:thing/a`, `${ARN}:thing/b`] })).ok);
        assert.ok((await service.startNext('a', {}, 'object')).ok);
        const missing = await service.updateJob('nope', { description: 'x' });
        assert.deepEqual(missing.ok ? undefined : missing.exception, 'ResourceNotFoundException');
        assert.ok((await service.updateJob('j', { description: 'new', inProgressTimeoutInMinutes: 2 })).ok);
        const v = await service.describeJob('j');
        assert.deepEqual([v?.job.description, v?.job.inProgressTimeoutInMinutes], ['new', 2]);
        assert.ok((await service.startNext('b', {}, 'object')).ok);
        clock.now = T0 + 3 * 60_000;
        assert.deepEqual((await service.sweepTimeouts(10)).map((t) => t.thingName), ['b']);
        assert.equal((await service.execution('j', 'a'))?.status, 'IN_PROGRESS');
      } finally {
        await registry.close();
      }
    });

    test('continuous jobs: a thing joining a target group is queued, one leaving has its QUEUED execution REMOVED, re-joining queues execution 2; the job never completes', async () => {
      const { registry, service, sent } = await setup(b);
      try {
        assert.ok((await service.createJob({ jobId: 'cj', document: '{}', targets: [`${ARN}:thinggroup/parent`], targetSelection: 'CONTINUOUS' })).ok);
        assert.deepEqual((await service.executionsOfJob('cj'))?.map((e) => e.thingName), ['b']);
        await registry.addThingToGroup('parent', 'c');
        sent.length = 0;
        assert.deepEqual(await service.reconcileContinuous(), { queued: 1, removed: 0 });
        assert.ok(sent.some((m) => m.topic === '$aws/things/c/jobs/notify-next' && (m.body['execution'] as { jobId: string }).jobId === 'cj'));
        assert.deepEqual(await service.reconcileContinuous(), { queued: 0, removed: 0 });
        await registry.removeThingFromGroup('parent', 'c');
        assert.deepEqual(await service.reconcileContinuous(), { queued: 0, removed: 1 });
        const removed = await service.execution('cj', 'c');
        assert.deepEqual([removed?.status, removed?.versionNumber, removed?.executionNumber], ['REMOVED', 2, 1]);
        await registry.addThingToGroup('parent', 'c');
        assert.deepEqual(await service.reconcileContinuous(), { queued: 1, removed: 0 });
        const again = await service.execution('cj', 'c');
        assert.deepEqual([again?.status, again?.versionNumber, again?.executionNumber], ['QUEUED', 1, 2]);
        // b finishes, c is canceled: a continuous job stays IN_PROGRESS.
        assert.ok((await service.update('b', 'cj', { status: 'SUCCEEDED' })).ok);
        assert.ok((await service.cancelExecution('cj', 'c', { force: false })).ok);
        assert.equal((await service.describeJob('cj'))?.job.status, 'IN_PROGRESS');
        // An IN_PROGRESS execution of a thing that leaves is left to finish; once the job is canceled nothing more is queued.
        await registry.addThingToGroup('child', 'a');
        assert.deepEqual(await service.reconcileContinuous(), { queued: 1, removed: 0 });
        assert.ok((await service.startNext('a', {}, 'object')).ok);
        await registry.removeThingFromGroup('child', 'a');
        assert.deepEqual(await service.reconcileContinuous(), { queued: 0, removed: 0 });
        assert.equal((await service.execution('cj', 'a'))?.status, 'IN_PROGRESS');
        assert.ok((await service.cancelJob('cj', { force: false })).ok);
        await registry.addThingToGroup('child', 'a');
        assert.deepEqual(await service.reconcileContinuous(), { queued: 0, removed: 0 });
      } finally {
        await registry.close();
      }
    });

    test('two gateways sweeping one store at once: every due execution times out once and its thing is told once', async () => {
      const store = await b.store();
      const clock = { now: T0 };
      const sent: string[] = [];
      const nodes = await Promise.all([store.open(), store.open()]) as WithJobs[];
      const things = Array.from({ length: 40 }, (_, i) => `t${i}`);
      for (const t of things) await nodes[0]!.createThing(t);
      const services = nodes.map((registry) => {
        const s = registry.jobs();
        return new JobService({
          store: s, clock: () => new Date(clock.now), logger: createLogger('error'), deployment: () => DEP,
          publisher: { publish: (topic) => {
            sent.push(topic);
            return Promise.resolve();
          } },
        });
      });
      try {
        const [one, two] = services as [JobService, JobService];
        assert.ok((await one.createJob({ jobId: 'j', document: '{}', targets: things.map((t) => `${ARN}:thing/${t}`) })).ok);
        for (const t of things) assert.ok((await two.startNext(t, { stepTimeoutInMinutes: 1 }, 'object')).ok);
        clock.now = T0 + 61_000;
        const seqBefore = await nodes[0]!.latestChangeSeq();
        sent.length = 0;
        // Both sweep at once, several ticks each, in small batches so that they overlap.
        const sweep = async (s: JobService): Promise<string[]> => {
          const out: string[] = [];
          for (;;) {
            const r = await s.sweepTimeouts(5);
            out.push(...r.map((t) => t.thingName));
            if (r.length < 5) return out;
          }
        };
        const [a, c] = await Promise.all([sweep(one), sweep(two)]);
        assert.deepEqual([...a, ...c].sort(), [...things].sort(), 'each due execution timed out by exactly one sweeper');
        assert.deepEqual((await one.executionsOfJob('j'))?.map((e) => [e.status, e.versionNumber]), things.map(() => ['TIMED_OUT', 3]));
        // What the devices were told: once per thing, on either node's bus (SQLite) or in the shared feed (PostgreSQL).
        const told = nodes[0]!.jobs().relaysAnnouncements
          ? (await nodes[0]!.changesSince(seqBefore)).changes.flatMap((ch) => ch.kind === 'SERVICE_MESSAGE' ? [ch.topic] : [])
          : sent;
        assert.deepEqual(told.filter((t) => t.endsWith('/jobs/notify')).sort(), things.map((t) => `$aws/things/${t}/jobs/notify`).sort());
        assert.equal((await one.describeJob('j'))?.job.status, 'COMPLETED');
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
      }
    });
  });
}
