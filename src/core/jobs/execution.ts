/**
 * The semantics of AWS IoT job executions, pure (time is passed in, in milliseconds):
 *
 * - the execution states and the transitions a device may ask for
 *   (https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html):
 *   a device moves a QUEUED or IN_PROGRESS execution to IN_PROGRESS, SUCCEEDED, FAILED or
 *   REJECTED; TIMED_OUT, REMOVED and CANCELED are set by the service; SUCCEEDED, FAILED,
 *   TIMED_OUT, REJECTED, REMOVED and CANCELED are terminal;
 * - `expectedVersion`: an update naming another version than the stored one is refused
 *   (VersionMismatch), and every accepted update increments the version;
 * - `statusDetails`: keys of 1 to 128 characters of [a-zA-Z0-9:_-], values of 1 to 1,024
 *   characters without control characters
 *   (https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_UpdateJobExecution.html);
 * - timeouts (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-configurations-details.html):
 *   the job's in-progress timer starts when the execution enters IN_PROGRESS and is never
 *   reset; a step timer (`stepTimeoutInMinutes`, 1 to 10,080, or -1 to cancel it) is set by
 *   StartNextPendingJobExecution or by an update to IN_PROGRESS and replaced by the next
 *   one. An IN_PROGRESS execution whose earlier timer has expired is TIMED_OUT (as of the
 *   expiry) the next time it is looked at (`settle`).
 */

export type JobExecutionStatus = 'QUEUED' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'REJECTED' | 'REMOVED' | 'CANCELED';

export const JOB_EXECUTION_STATUSES: readonly JobExecutionStatus[] = ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'];

const TERMINAL: ReadonlySet<JobExecutionStatus> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED']);

/** The statuses a device may set with UpdateJobExecution. */
export const DEVICE_STATUSES: ReadonlySet<string> = new Set(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']);

export function isTerminal(status: JobExecutionStatus): boolean {
  return TERMINAL.has(status);
}

export function isPending(status: JobExecutionStatus): boolean {
  return status === 'QUEUED' || status === 'IN_PROGRESS';
}

/** Timer range of `stepTimeoutInMinutes` and `inProgressTimeoutInMinutes` (one minute to seven days). */
export const TIMEOUT_MIN_MINUTES = 1;
export const TIMEOUT_MAX_MINUTES = 10_080;
export const STATUS_DETAIL_KEY = /^[a-zA-Z0-9:_-]{1,128}$/;
export const STATUS_DETAIL_VALUE_MAX = 1024;
const CONTROL = /\p{C}/u;
/** A `clientToken` is at most 64 characters (the jobs MQTT API). */
export const CLIENT_TOKEN_MAX = 64;

export type StatusDetails = Readonly<Record<string, string>>;

/** One execution as stored. Times are epoch milliseconds. */
export interface JobExecution {
  readonly jobId: string;
  readonly thingName: string;
  readonly executionNumber: number;
  readonly status: JobExecutionStatus;
  readonly statusDetails: StatusDetails;
  readonly versionNumber: number;
  readonly queuedAt: number;
  readonly startedAt?: number;
  readonly lastUpdatedAt: number;
  /** When the step timer expires (set while IN_PROGRESS). */
  readonly stepTimeoutAt?: number;
  /** The job's in-progress timeout in minutes (copied from the job when the execution is created). */
  readonly inProgressTimeoutInMinutes?: number;
  /** Set by a forced cancel. */
  readonly forceCanceled?: boolean;
}

/** Why a request is refused, as the jobs MQTT API names it. */
export type JobErrorCode = 'InvalidTopic' | 'InvalidJson' | 'InvalidRequest' | 'InvalidStateTransition' | 'ResourceNotFound' | 'VersionMismatch' | 'InternalError' | 'RequestThrottled' | 'TerminalStateReached';

export interface JobFailure {
  readonly ok: false;
  readonly code: JobErrorCode;
  readonly message: string;
  /** The execution's state, for InvalidStateTransition and VersionMismatch. */
  readonly execution?: JobExecution;
}

export function jobFailure(code: JobErrorCode, message: string, execution?: JobExecution): JobFailure {
  return { ok: false, code, message, ...(execution !== undefined ? { execution } : {}) };
}

/** When the execution times out (the earlier of its timers), or undefined when it cannot. */
export function timeoutAt(e: JobExecution): number | undefined {
  if (e.status !== 'IN_PROGRESS') return undefined;
  const inProgress = e.inProgressTimeoutInMinutes !== undefined && e.startedAt !== undefined ? e.startedAt + e.inProgressTimeoutInMinutes * 60_000 : undefined;
  const step = e.stepTimeoutAt;
  if (inProgress === undefined) return step;
  if (step === undefined) return inProgress;
  return Math.min(inProgress, step);
}

/** The execution as of `now`: TIMED_OUT when a timer has expired, otherwise unchanged (the same object). */
export function settle(e: JobExecution, now: number): JobExecution {
  const at = timeoutAt(e);
  if (at === undefined || now < at) return e;
  const { stepTimeoutAt: _s, ...rest } = e;
  return { ...rest, status: 'TIMED_OUT', versionNumber: e.versionNumber + 1, lastUpdatedAt: at };
}

/** Seconds before the execution times out, as AWS reports `approximateSecondsBeforeTimedOut`. */
export function secondsBeforeTimedOut(e: JobExecution, now: number): number | undefined {
  const at = timeoutAt(e);
  return at === undefined ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** A checked `statusDetails` map, or the InvalidRequest failure. */
export function checkStatusDetails(v: unknown): { ok: true; details: StatusDetails } | JobFailure {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return jobFailure('InvalidRequest', 'statusDetails must be an object of string values');
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
    if (!STATUS_DETAIL_KEY.test(k)) return jobFailure('InvalidRequest', `statusDetails key ${JSON.stringify(k.slice(0, 130))} must be 1 to 128 characters of [a-zA-Z0-9:_-]`);
    if (typeof value !== 'string' || value.length < 1 || value.length > STATUS_DETAIL_VALUE_MAX || CONTROL.test(value)) {
      return jobFailure('InvalidRequest', `statusDetails value of ${k} must be a string of 1 to ${STATUS_DETAIL_VALUE_MAX} characters without control characters`);
    }
    out[k] = value;
  }
  return { ok: true, details: out };
}

/** A checked step timeout: 1..10080 minutes, or -1 (cancel the step timer). */
export function checkStepTimeout(v: unknown): { ok: true; minutes: number | undefined } | JobFailure {
  if (v === undefined || v === null) return { ok: true, minutes: undefined };
  if (typeof v !== 'number' || !Number.isInteger(v) || (v !== -1 && (v < TIMEOUT_MIN_MINUTES || v > TIMEOUT_MAX_MINUTES))) {
    return jobFailure('InvalidRequest', `stepTimeoutInMinutes must be an integer from ${TIMEOUT_MIN_MINUTES} to ${TIMEOUT_MAX_MINUTES}, or -1`);
  }
  return { ok: true, minutes: v };
}

function stepDeadline(current: number | undefined, minutes: number | undefined, now: number): number | undefined {
  if (minutes === undefined) return current;
  if (minutes === -1) return undefined;
  return now + minutes * 60_000;
}

/** StartNextPendingJobExecution on the next pending execution (already settled). */
export function startExecution(e: JobExecution, request: { statusDetails?: StatusDetails; stepTimeoutInMinutes?: number }, now: number): JobExecution {
  if (e.status !== 'QUEUED') return e; // an IN_PROGRESS execution is returned as it is
  const step = stepDeadline(undefined, request.stepTimeoutInMinutes, now);
  return {
    ...e, status: 'IN_PROGRESS', statusDetails: request.statusDetails ?? e.statusDetails, versionNumber: e.versionNumber + 1,
    startedAt: now, lastUpdatedAt: now, ...(step !== undefined ? { stepTimeoutAt: step } : {}),
  };
}

export interface UpdateRequest {
  readonly status: JobExecutionStatus;
  readonly statusDetails?: StatusDetails;
  readonly expectedVersion?: number;
  readonly executionNumber?: number;
  readonly stepTimeoutInMinutes?: number;
}

/** UpdateJobExecution on an execution (already settled): the new execution, or why not. */
export function updateExecution(e: JobExecution, r: UpdateRequest, now: number): { ok: true; execution: JobExecution } | JobFailure {
  if (r.executionNumber !== undefined && r.executionNumber !== e.executionNumber) return jobFailure('ResourceNotFound', 'Job execution not found');
  if (r.expectedVersion !== undefined && r.expectedVersion !== e.versionNumber) return jobFailure('VersionMismatch', 'expectedVersion does not match the version of the job execution', e);
  if (!DEVICE_STATUSES.has(r.status)) return jobFailure('InvalidRequest', 'status must be IN_PROGRESS, SUCCEEDED, FAILED or REJECTED');
  if (isTerminal(e.status)) return jobFailure('InvalidStateTransition', `the job execution is in terminal status ${e.status}`, e);
  if (r.stepTimeoutInMinutes !== undefined && r.status !== 'IN_PROGRESS') {
    return jobFailure('InvalidRequest', 'stepTimeoutInMinutes applies only to an update to IN_PROGRESS');
  }
  const details = r.statusDetails ?? e.statusDetails;
  if (r.status === 'IN_PROGRESS') {
    const startedAt = e.startedAt ?? now;
    const step = stepDeadline(e.stepTimeoutAt, r.stepTimeoutInMinutes, now);
    const { stepTimeoutAt: _s, ...rest } = e;
    return { ok: true, execution: { ...rest, status: 'IN_PROGRESS', statusDetails: details, versionNumber: e.versionNumber + 1, startedAt, lastUpdatedAt: now, ...(step !== undefined ? { stepTimeoutAt: step } : {}) } };
  }
  const { stepTimeoutAt: _s, ...rest } = e;
  return { ok: true, execution: { ...rest, status: r.status, statusDetails: details, versionNumber: e.versionNumber + 1, lastUpdatedAt: now } };
}

/**
 * CancelJob's effect on one execution (settled): QUEUED ones are canceled; IN_PROGRESS
 * ones only with `force`; terminal ones stay as they are.
 */
export function cancelExecution(e: JobExecution, force: boolean, now: number): JobExecution {
  if (e.status === 'QUEUED' || (e.status === 'IN_PROGRESS' && force)) {
    const { stepTimeoutAt: _s, ...rest } = e;
    return { ...rest, status: 'CANCELED', versionNumber: e.versionNumber + 1, lastUpdatedAt: now, ...(e.status === 'IN_PROGRESS' ? { forceCanceled: true } : {}) };
  }
  return e;
}

/**
 * CancelJobExecution on one execution (settled)
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CancelJobExecution.html): a
 * QUEUED execution is canceled; an IN_PROGRESS one only with `force`
 * (InvalidStateTransition otherwise); a terminal one cannot be canceled
 * (InvalidStateTransition). `expectedVersion` other than the stored version is refused
 * (VersionMismatch); `statusDetails`, when given, replace the stored ones.
 */
export function cancelOneExecution(
  e: JobExecution, r: { readonly force: boolean; readonly expectedVersion?: number; readonly statusDetails?: StatusDetails }, now: number,
): { ok: true; execution: JobExecution } | JobFailure {
  if (r.expectedVersion !== undefined && r.expectedVersion !== e.versionNumber) return jobFailure('VersionMismatch', 'expectedVersion does not match the version of the job execution', e);
  if (isTerminal(e.status)) return jobFailure('InvalidStateTransition', `the job execution is in terminal status ${e.status}`, e);
  if (e.status === 'IN_PROGRESS' && !r.force) return jobFailure('InvalidStateTransition', 'the job execution is IN_PROGRESS: cancel it with force', e);
  const { stepTimeoutAt: _s, ...rest } = e;
  return {
    ok: true,
    execution: {
      ...rest, status: 'CANCELED', statusDetails: r.statusDetails ?? e.statusDetails, versionNumber: e.versionNumber + 1, lastUpdatedAt: now,
      ...(e.status === 'IN_PROGRESS' ? { forceCanceled: true } : {}),
    },
  };
}

/**
 * A continuous job's execution whose thing is no longer a target (removed from the
 * target group): a QUEUED execution becomes REMOVED
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html); any
 * other is left as it is (an IN_PROGRESS one finishes, or times out).
 */
export function removeExecution(e: JobExecution, now: number): JobExecution {
  if (e.status !== 'QUEUED') return e;
  return { ...e, status: 'REMOVED', versionNumber: e.versionNumber + 1, lastUpdatedAt: now };
}

/**
 * A new execution of a job for a thing: number 1, or the next number after a previous
 * (REMOVED) execution of the same job, which it replaces.
 */
export function queuedExecution(jobId: string, thingName: string, now: number, inProgressTimeoutInMinutes: number | undefined, previous?: JobExecution): JobExecution {
  return {
    jobId, thingName, executionNumber: previous !== undefined ? previous.executionNumber + 1 : 1, status: 'QUEUED', statusDetails: {}, versionNumber: 1,
    queuedAt: now, lastUpdatedAt: now, ...(inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes } : {}),
  };
}

/** The pending executions of a thing in the order AWS IoT runs them: queued time, then job id. */
export function pendingOrder(a: JobExecution, b: JobExecution): number {
  return a.queuedAt - b.queuedAt || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);
}

/** The next execution StartNext or `$next` names: the oldest IN_PROGRESS one, else the oldest QUEUED. */
export function nextPending(executions: readonly JobExecution[]): JobExecution | undefined {
  const inProgress = executions.filter((e) => e.status === 'IN_PROGRESS').sort(pendingOrder);
  if (inProgress.length > 0) return inProgress[0];
  return executions.filter((e) => e.status === 'QUEUED').sort(pendingOrder)[0];
}
