/**
 * Jobs as operators create them (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateJob.html)
 * and the documents devices receive about their executions
 * (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html). Pure.
 */
import { isTerminal, secondsBeforeTimedOut, TIMEOUT_MAX_MINUTES, TIMEOUT_MIN_MINUTES, type JobExecution, type JobExecutionStatus } from './execution.js';

export const JOB_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** A job document is at most 32 KB. */
export const JOB_DOCUMENT_MAX_BYTES = 32_768;
export const JOB_DESCRIPTION_MAX = 2028;
/** Targets named in one CreateJob. */
export const JOB_TARGETS_MAX = 100;

export type JobStatus = 'IN_PROGRESS' | 'CANCELED' | 'DELETION_IN_PROGRESS' | 'COMPLETED';

/**
 * SNAPSHOT: the targets' things when the job is created, and the job completes once all
 * their executions are terminal. CONTINUOUS: also the things that join a target group
 * later (a thing that leaves one has its QUEUED execution REMOVED); the job never
 * completes (it runs until canceled).
 */
export type TargetSelection = 'SNAPSHOT' | 'CONTINUOUS';

export interface Job {
  readonly jobId: string;
  readonly document: string;
  readonly description?: string;
  /** Thing and thing-group ARNs as given. */
  readonly targets: readonly string[];
  readonly targetSelection: TargetSelection;
  readonly inProgressTimeoutInMinutes?: number;
  readonly status: JobStatus;
  readonly forceCanceled?: boolean;
  readonly comment?: string;
  readonly reasonCode?: string;
  readonly createdAt: number;
  readonly lastUpdatedAt: number;
  readonly completedAt?: number;
}

export function isValidJobId(v: unknown): v is string {
  return typeof v === 'string' && JOB_ID.test(v);
}

/** Why `document` is not a job document, or undefined. */
export function jobDocumentProblem(document: unknown): string | undefined {
  if (typeof document !== 'string') return 'document must be a string holding a JSON object';
  if (new TextEncoder().encode(document).length > JOB_DOCUMENT_MAX_BYTES) return `the job document exceeds ${JOB_DOCUMENT_MAX_BYTES} bytes`;
  let v: unknown;
  try {
    v = JSON.parse(document);
  } catch {
    return 'the job document is not valid JSON';
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'the job document must be a JSON object';
  return undefined;
}

/** Why an in-progress timeout is not acceptable, or undefined. */
export function timeoutProblem(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < TIMEOUT_MIN_MINUTES || v > TIMEOUT_MAX_MINUTES) {
    return `inProgressTimeoutInMinutes must be an integer from ${TIMEOUT_MIN_MINUTES} to ${TIMEOUT_MAX_MINUTES}`;
  }
  return undefined;
}

/** A target ARN: `arn:PARTITION:iot:REGION:ACCOUNT:thing/NAME` or `…:thinggroup/NAME`. */
export function parseTarget(arn: string, deployment: { partition: string; region: string; accountId: string }): { kind: 'thing' | 'thinggroup'; name: string } | undefined {
  const prefix = `arn:${deployment.partition}:iot:${deployment.region}:${deployment.accountId}:`;
  if (!arn.startsWith(prefix)) return undefined;
  const m = /^(thing|thinggroup)\/([A-Za-z0-9:_-]{1,128})$/.exec(arn.slice(prefix.length));
  return m === null ? undefined : { kind: m[1] as 'thing' | 'thinggroup', name: m[2]! };
}

/** The job's status once every execution is terminal (a snapshot job completes; a continuous one never does). */
export function settledJobStatus(job: Job, executions: readonly JobExecution[]): JobStatus {
  if (job.status !== 'IN_PROGRESS' || job.targetSelection === 'CONTINUOUS') return job.status;
  return executions.every((e) => isTerminal(e.status)) ? 'COMPLETED' : 'IN_PROGRESS';
}

/** Counts by execution status (DescribeJob's jobProcessDetails). */
export function processDetails(executions: readonly JobExecution[]): Record<string, number> {
  const n = (s: JobExecutionStatus): number => executions.filter((e) => e.status === s).length;
  return {
    numberOfCanceledThings: n('CANCELED'), numberOfSucceededThings: n('SUCCEEDED'), numberOfFailedThings: n('FAILED'),
    numberOfRejectedThings: n('REJECTED'), numberOfQueuedThings: n('QUEUED'), numberOfInProgressThings: n('IN_PROGRESS'),
    numberOfRemovedThings: n('REMOVED'), numberOfTimedOutThings: n('TIMED_OUT'),
  };
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

/** JobExecutionSummary of the device APIs (times in epoch seconds). */
export function executionSummary(e: JobExecution): Record<string, unknown> {
  return {
    jobId: e.jobId, queuedAt: seconds(e.queuedAt), ...(e.startedAt !== undefined ? { startedAt: seconds(e.startedAt) } : {}),
    lastUpdatedAt: seconds(e.lastUpdatedAt), versionNumber: e.versionNumber, executionNumber: e.executionNumber,
  };
}

/** JobExecution of the device APIs; `jobDocument` only when asked for: an object on MQTT, a string on HTTPS. */
export function executionDocument(e: JobExecution, now: number, jobDocument?: { readonly text: string; readonly as: 'object' | 'string' }): Record<string, unknown> {
  const left = secondsBeforeTimedOut(e, now);
  return {
    jobId: e.jobId, thingName: e.thingName, status: e.status,
    ...(Object.keys(e.statusDetails).length > 0 ? { statusDetails: e.statusDetails } : {}),
    queuedAt: seconds(e.queuedAt), ...(e.startedAt !== undefined ? { startedAt: seconds(e.startedAt) } : {}),
    lastUpdatedAt: seconds(e.lastUpdatedAt), ...(left !== undefined ? { approximateSecondsBeforeTimedOut: left } : {}),
    versionNumber: e.versionNumber, executionNumber: e.executionNumber,
    ...(jobDocument !== undefined ? { jobDocument: jobDocument.as === 'string' ? jobDocument.text : JSON.parse(jobDocument.text) as unknown } : {}),
  };
}

/** JobExecutionState of UpdateJobExecution's answer and of errors. */
export function executionState(e: JobExecution): Record<string, unknown> {
  return { status: e.status, ...(Object.keys(e.statusDetails).length > 0 ? { statusDetails: e.statusDetails } : {}), versionNumber: e.versionNumber };
}
