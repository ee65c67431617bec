import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cancelExecution, cancelOneExecution, queuedExecution, removeExecution, timeoutAt, checkStatusDetails, nextPending, secondsBeforeTimedOut, settle, startExecution, updateExecution,
  type JobExecution, type JobExecutionStatus,
} from '../../../src/core/jobs/execution.js';
import { parseJobsTopic, parseUpdate } from '../../../src/core/jobs/requests.js';
import { jobDocumentProblem, parseTarget } from '../../../src/core/jobs/job.js';

const T0 = 1_700_000_000_000;
const MIN = 60_000;

function queued(over: Partial<JobExecution> = {}): JobExecution {
  return { jobId: 'j1', thingName: 't1', executionNumber: 1, status: 'QUEUED', statusDetails: {}, versionNumber: 1, queuedAt: T0, lastUpdatedAt: T0, ...over };
}

test('a device moves QUEUED and IN_PROGRESS executions to IN_PROGRESS, SUCCEEDED, FAILED or REJECTED; each update increments the version', () => {
  for (const to of ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED'] as const) {
    for (const from of ['QUEUED', 'IN_PROGRESS'] as const) {
      const r = updateExecution(queued({ status: from }), { status: to }, T0 + 1000);
      assert.ok(r.ok, `${from} -> ${to}`);
      assert.equal(r.execution.status, to);
      assert.equal(r.execution.versionNumber, 2);
      assert.equal(r.execution.lastUpdatedAt, T0 + 1000);
    }
  }
});

test('no update leaves a terminal state (InvalidStateTransition with the execution), and a device cannot set the service\'s states', () => {
  for (const from of ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'] as JobExecutionStatus[]) {
    const r = updateExecution(queued({ status: from, versionNumber: 4 }), { status: 'IN_PROGRESS' }, T0);
    assert.ok(!r.ok);
    assert.equal(r.code, 'InvalidStateTransition');
    assert.equal(r.execution?.versionNumber, 4);
  }
  for (const to of ['QUEUED', 'TIMED_OUT', 'REMOVED', 'CANCELED'] as JobExecutionStatus[]) {
    const r = updateExecution(queued(), { status: to }, T0);
    assert.ok(!r.ok);
    assert.equal(r.code, 'InvalidRequest');
  }
});

test('expectedVersion must match the stored version (VersionMismatch)', () => {
  const r = updateExecution(queued({ versionNumber: 3 }), { status: 'IN_PROGRESS', expectedVersion: 2 }, T0);
  assert.ok(!r.ok);
  assert.equal(r.code, 'VersionMismatch');
  assert.equal(r.execution?.versionNumber, 3);
  assert.ok(updateExecution(queued({ versionNumber: 3 }), { status: 'IN_PROGRESS', expectedVersion: 3 }, T0).ok);
});

test('statusDetails: keys of [a-zA-Z0-9:_-]{1,128}, values of 1 to 1024 characters without control characters', () => {
  assert.ok(checkStatusDetails({ 'step:1_a-b': 'downloading' }).ok);
  assert.equal((checkStatusDetails({ 'bad key': 'x' }) as { code: string }).code, 'InvalidRequest');
  assert.ok(!checkStatusDetails({ k: 'x'.repeat(1025) }).ok);
  assert.ok(checkStatusDetails({ k: 'x'.repeat(1024) }).ok);
  assert.ok(!checkStatusDetails({ k: '' }).ok);
  assert.ok(!checkStatusDetails({ k: 'a\nb' }).ok);
  assert.ok(!checkStatusDetails({ k: 3 }).ok);
  assert.ok(!checkStatusDetails({ ['k'.repeat(129)]: 'v' }).ok);
  assert.ok(!checkStatusDetails(['x']).ok);
});

test('the step timer: set on start, replaced by an update to IN_PROGRESS, cancelled by -1; expiry is TIMED_OUT as of the expiry', () => {
  const started = startExecution(queued(), { stepTimeoutInMinutes: 5 }, T0);
  assert.equal(started.status, 'IN_PROGRESS');
  assert.equal(started.versionNumber, 2);
  assert.equal(secondsBeforeTimedOut(started, T0 + 60_000), 240);
  assert.equal(settle(started, T0 + 5 * MIN - 1), started);
  const out = settle(started, T0 + 5 * MIN + 10);
  assert.equal(out.status, 'TIMED_OUT');
  assert.equal(out.lastUpdatedAt, T0 + 5 * MIN);
  assert.equal(out.versionNumber, 3);
  // Reset at T0+4 for 10 more minutes: not timed out at T0+6.
  const reset = updateExecution(started, { status: 'IN_PROGRESS', stepTimeoutInMinutes: 10 }, T0 + 4 * MIN);
  assert.ok(reset.ok);
  assert.equal(settle(reset.execution, T0 + 6 * MIN).status, 'IN_PROGRESS');
  assert.equal(settle(reset.execution, T0 + 14 * MIN).status, 'TIMED_OUT');
  const cancelled = updateExecution(started, { status: 'IN_PROGRESS', stepTimeoutInMinutes: -1 }, T0 + MIN);
  assert.ok(cancelled.ok);
  assert.equal(settle(cancelled.execution, T0 + 1000 * MIN).status, 'IN_PROGRESS');
  // A timeout on an update to a terminal state is refused.
  assert.ok(!updateExecution(started, { status: 'SUCCEEDED', stepTimeoutInMinutes: 3 }, T0).ok);
});

test('the in-progress timer starts at IN_PROGRESS and no update resets it; the earlier timer wins', () => {
  const e = startExecution(queued({ inProgressTimeoutInMinutes: 10 }), {}, T0);
  const later = updateExecution(e, { status: 'IN_PROGRESS', stepTimeoutInMinutes: 60 }, T0 + 9 * MIN);
  assert.ok(later.ok);
  const s = settle(later.execution, T0 + 10 * MIN);
  assert.equal(s.status, 'TIMED_OUT');
  assert.equal(s.lastUpdatedAt, T0 + 10 * MIN);
  // A QUEUED execution never times out.
  assert.equal(settle(queued({ inProgressTimeoutInMinutes: 1 }), T0 + 100 * MIN).status, 'QUEUED');
  // A terminal one neither.
  const done = updateExecution(e, { status: 'SUCCEEDED' }, T0 + MIN);
  assert.ok(done.ok);
  assert.equal(settle(done.execution, T0 + 100 * MIN).status, 'SUCCEEDED');
});

test('cancel: QUEUED executions are canceled, IN_PROGRESS ones only with force, terminal ones stay', () => {
  assert.equal(cancelExecution(queued(), false, T0).status, 'CANCELED');
  const running = queued({ status: 'IN_PROGRESS' });
  assert.equal(cancelExecution(running, false, T0), running);
  assert.equal(cancelExecution(running, true, T0).status, 'CANCELED');
  const done = queued({ status: 'SUCCEEDED' });
  assert.equal(cancelExecution(done, true, T0), done);
});

test('the next pending execution: the oldest IN_PROGRESS one, else the oldest QUEUED', () => {
  const a = queued({ jobId: 'a', queuedAt: T0 + 2 });
  const b = queued({ jobId: 'b', queuedAt: T0 + 1 });
  const c = queued({ jobId: 'c', queuedAt: T0 + 3, status: 'IN_PROGRESS' });
  assert.equal(nextPending([a, b])?.jobId, 'b');
  assert.equal(nextPending([a, b, c])?.jobId, 'c');
  assert.equal(nextPending([queued({ status: 'SUCCEEDED' })]), undefined);
});

test('topics, update requests, targets and job documents', () => {
  assert.deepEqual(parseJobsTopic('$aws/things/t1/jobs/get'), { thingName: 't1', operation: 'get-pending' });
  assert.deepEqual(parseJobsTopic('$aws/things/t1/jobs/start-next'), { thingName: 't1', operation: 'start-next' });
  assert.deepEqual(parseJobsTopic('$aws/things/t1/jobs/$next/get'), { thingName: 't1', operation: 'describe', jobId: '$next' });
  assert.deepEqual(parseJobsTopic('$aws/things/t1/jobs/j-1/update'), { thingName: 't1', operation: 'update', jobId: 'j-1' });
  assert.equal(parseJobsTopic('$aws/things/t1/jobs/$next/update'), undefined);
  assert.equal(parseJobsTopic('$aws/things/t1/jobs/get/accepted'), undefined);
  assert.equal(parseJobsTopic('$aws/things/t1/jobs/notify'), undefined);
  assert.equal((parseUpdate({}) as { code: string }).code, 'InvalidRequest');
  assert.equal((parseUpdate({ status: 'SUCCEEDED', expectedVersion: 'x' }) as { code: string }).code, 'InvalidRequest');
  const u = parseUpdate({ status: 'SUCCEEDED', expectedVersion: 2, includeJobExecutionState: true });
  assert.ok(u.ok);
  assert.equal(u.request.update.expectedVersion, 2);
  const dep = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
  assert.deepEqual(parseTarget('arn:aws:iot:us-east-1:123456789012:thing/t1', dep), { kind: 'thing', name: 't1' });
  assert.deepEqual(parseTarget('arn:aws:iot:us-east-1:123456789012:thinggroup/g', dep), { kind: 'thinggroup', name: 'g' });
  assert.equal(parseTarget('arn:aws:iot:eu-west-1:123456789012:thing/t1', dep), undefined);
  assert.equal(jobDocumentProblem('{"a":1}'), undefined);
  assert.ok(jobDocumentProblem('[1]') !== undefined);
  assert.ok(jobDocumentProblem(JSON.stringify({ x: 'y'.repeat(32_768) })) !== undefined);
});

test('CancelJobExecution on one execution: version first, then state; force for IN_PROGRESS; statusDetails replace', () => {
  const v = cancelOneExecution(queued({ versionNumber: 3 }), { force: false, expectedVersion: 2 }, T0);
  assert.ok(!v.ok);
  assert.equal(v.code, 'VersionMismatch');
  const q = cancelOneExecution(queued(), { force: false, statusDetails: { r: 'x' } }, T0 + 5);
  assert.ok(q.ok);
  assert.deepEqual([q.execution.status, q.execution.versionNumber, q.execution.statusDetails, q.execution.lastUpdatedAt, q.execution.forceCanceled], ['CANCELED', 2, { r: 'x' }, T0 + 5, undefined]);
  const ip = queued({ status: 'IN_PROGRESS', startedAt: T0, stepTimeoutAt: T0 + MIN });
  const refused = cancelOneExecution(ip, { force: false }, T0);
  assert.ok(!refused.ok);
  assert.equal(refused.code, 'InvalidStateTransition');
  const forced = cancelOneExecution(ip, { force: true }, T0);
  assert.ok(forced.ok);
  assert.deepEqual([forced.execution.status, forced.execution.forceCanceled, timeoutAt(forced.execution)], ['CANCELED', true, undefined]);
  for (const s of ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'] as JobExecutionStatus[]) {
    const t = cancelOneExecution(queued({ status: s }), { force: true }, T0);
    assert.ok(!t.ok);
    assert.equal(t.code, 'InvalidStateTransition');
  }
});

test('a thing leaving a continuous job\'s group: QUEUED becomes REMOVED, others stay; a new execution after REMOVED takes the next number', () => {
  const r = removeExecution(queued(), T0 + 1);
  assert.deepEqual([r.status, r.versionNumber, r.lastUpdatedAt], ['REMOVED', 2, T0 + 1]);
  const ip = queued({ status: 'IN_PROGRESS' });
  assert.equal(removeExecution(ip, T0), ip);
  const next = queuedExecution('j1', 't1', T0 + 2, 5, r);
  assert.deepEqual([next.executionNumber, next.status, next.versionNumber, next.queuedAt, next.inProgressTimeoutInMinutes], [2, 'QUEUED', 1, T0 + 2, 5]);
  assert.equal(queuedExecution('j1', 't1', T0, undefined).executionNumber, 1);
});

test('the stored deadline is the earlier of the in-progress and step timers, only while IN_PROGRESS', () => {
  assert.equal(timeoutAt(queued({ inProgressTimeoutInMinutes: 5 })), undefined);
  assert.equal(timeoutAt(queued({ status: 'IN_PROGRESS', startedAt: T0, inProgressTimeoutInMinutes: 5 })), T0 + 5 * MIN);
  assert.equal(timeoutAt(queued({ status: 'IN_PROGRESS', startedAt: T0, inProgressTimeoutInMinutes: 5, stepTimeoutAt: T0 + 2 * MIN })), T0 + 2 * MIN);
  assert.equal(timeoutAt(queued({ status: 'IN_PROGRESS', startedAt: T0, stepTimeoutAt: T0 + 9 * MIN })), T0 + 9 * MIN);
});
