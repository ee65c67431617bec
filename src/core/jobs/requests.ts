/**
 * The device requests of the jobs API, read from their JSON bodies (the MQTT payloads
 * of https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html and the
 * HTTPS bodies of https://docs.aws.amazon.com/iot/latest/apireference/API_Operations_AWS_IoT_Jobs_Data_Plane.html),
 * and the reserved MQTT topics. Pure.
 */
import { isValidThingName } from '../names.js';
import {
  checkStatusDetails, checkStepTimeout, CLIENT_TOKEN_MAX, JOB_EXECUTION_STATUSES, jobFailure,
  type JobExecutionStatus, type JobFailure, type StatusDetails, type UpdateRequest,
} from './execution.js';
import { isValidJobId } from './job.js';

export type JobsTopic =
  | { readonly thingName: string; readonly operation: 'get-pending' | 'start-next' }
  | { readonly thingName: string; readonly operation: 'describe' | 'update'; readonly jobId: string };

/** Topic filters of the requests the service answers. */
export const JOBS_REQUEST_FILTERS: readonly string[] = [
  '$aws/things/+/jobs/get', '$aws/things/+/jobs/start-next', '$aws/things/+/jobs/+/get', '$aws/things/+/jobs/+/update',
];

/** The request a topic names, or undefined (a response topic, a bad name). `$next` is a job id for `get` only. */
export function parseJobsTopic(topic: string): JobsTopic | undefined {
  const l = topic.split('/');
  if (l[0] !== '$aws' || l[1] !== 'things' || l[3] !== 'jobs' || !isValidThingName(l[2])) return undefined;
  const thingName = l[2];
  if (l.length === 5 && l[4] === 'get') return { thingName, operation: 'get-pending' };
  if (l.length === 5 && l[4] === 'start-next') return { thingName, operation: 'start-next' };
  if (l.length === 6 && (l[5] === 'get' || l[5] === 'update')) {
    const jobId = l[4]!;
    if (l[5] === 'get' && jobId === '$next') return { thingName, operation: 'describe', jobId };
    if (!isValidJobId(jobId)) return undefined;
    return { thingName, operation: l[5] === 'get' ? 'describe' : 'update', jobId };
  }
  return undefined;
}

type Body = Readonly<Record<string, unknown>>;

/** The JSON object of an MQTT payload (an empty payload is `{}`), or InvalidJson. */
export function parsePayload(payload: Uint8Array): { ok: true; body: Body } | JobFailure {
  if (payload.length === 0) return { ok: true, body: {} };
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return jobFailure('InvalidJson', 'the payload is not valid UTF-8 JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return jobFailure('InvalidJson', 'the payload must be a JSON object');
  return { ok: true, body: v as Body };
}

/** The request's `clientToken` (echoed in every answer), or InvalidRequest. */
export function clientTokenOf(body: Body): { ok: true; clientToken: string | undefined } | JobFailure {
  const t = body['clientToken'];
  if (t === undefined) return { ok: true, clientToken: undefined };
  if (typeof t !== 'string' || t.length < 1 || t.length > CLIENT_TOKEN_MAX) return jobFailure('InvalidRequest', `clientToken must be a string of 1 to ${CLIENT_TOKEN_MAX} characters`);
  return { ok: true, clientToken: t };
}

function optionalInteger(body: Body, key: string): { ok: true; value: number | undefined } | JobFailure {
  const v = body[key];
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return jobFailure('InvalidRequest', `${key} must be a non-negative integer`);
  return { ok: true, value: v };
}

function optionalBoolean(body: Body, key: string): { ok: true; value: boolean | undefined } | JobFailure {
  const v = body[key];
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (typeof v !== 'boolean') return jobFailure('InvalidRequest', `${key} must be a boolean`);
  return { ok: true, value: v };
}

function details(body: Body): { ok: true; value: StatusDetails | undefined } | JobFailure {
  if (body['statusDetails'] === undefined || body['statusDetails'] === null) return { ok: true, value: undefined };
  const d = checkStatusDetails(body['statusDetails']);
  return d.ok ? { ok: true, value: d.details } : d;
}

/** StartNextPendingJobExecution's `statusDetails` and `stepTimeoutInMinutes`. */
export function parseStartNext(body: Body): { ok: true; request: { statusDetails?: StatusDetails; stepTimeoutInMinutes?: number } } | JobFailure {
  const d = details(body);
  if (!d.ok) return d;
  const s = checkStepTimeout(body['stepTimeoutInMinutes']);
  if (!s.ok) return s;
  return { ok: true, request: { ...(d.value !== undefined ? { statusDetails: d.value } : {}), ...(s.minutes !== undefined ? { stepTimeoutInMinutes: s.minutes } : {}) } };
}

/** DescribeJobExecution's `executionNumber` and `includeJobDocument` (default true). */
export function parseDescribe(body: Body): { ok: true; request: { executionNumber?: number; includeJobDocument: boolean } } | JobFailure {
  const n = optionalInteger(body, 'executionNumber');
  if (!n.ok) return n;
  const inc = optionalBoolean(body, 'includeJobDocument');
  if (!inc.ok) return inc;
  return { ok: true, request: { ...(n.value !== undefined ? { executionNumber: n.value } : {}), includeJobDocument: inc.value ?? true } };
}

export interface ParsedUpdate {
  readonly update: UpdateRequest;
  readonly includeJobExecutionState: boolean;
  readonly includeJobDocument: boolean;
}

/** UpdateJobExecution's body. */
export function parseUpdate(body: Body): { ok: true; request: ParsedUpdate } | JobFailure {
  const status = body['status'];
  if (typeof status !== 'string' || !(JOB_EXECUTION_STATUSES as readonly string[]).includes(status)) {
    return jobFailure('InvalidRequest', 'status is required: IN_PROGRESS, SUCCEEDED, FAILED or REJECTED');
  }
  const d = details(body);
  if (!d.ok) return d;
  const v = optionalInteger(body, 'expectedVersion');
  if (!v.ok) return v;
  const n = optionalInteger(body, 'executionNumber');
  if (!n.ok) return n;
  const s = checkStepTimeout(body['stepTimeoutInMinutes']);
  if (!s.ok) return s;
  const state = optionalBoolean(body, 'includeJobExecutionState');
  if (!state.ok) return state;
  const doc = optionalBoolean(body, 'includeJobDocument');
  if (!doc.ok) return doc;
  return {
    ok: true,
    request: {
      update: {
        status: status as JobExecutionStatus, ...(d.value !== undefined ? { statusDetails: d.value } : {}), ...(v.value !== undefined ? { expectedVersion: v.value } : {}),
        ...(n.value !== undefined ? { executionNumber: n.value } : {}), ...(s.minutes !== undefined ? { stepTimeoutInMinutes: s.minutes } : {}),
      },
      includeJobExecutionState: state.value ?? false,
      includeJobDocument: doc.value ?? false,
    },
  };
}
