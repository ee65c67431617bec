/**
 * The AWS IoT jobs data-plane HTTPS API on the data-plane listener
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_Operations_AWS_IoT_Jobs_Data_Plane.html,
 * https://docs.aws.amazon.com/iot/latest/developerguide/jobs-http-device-api.html):
 *
 *   GET  /things/{thingName}/jobs                 GetPendingJobExecutions       iot:GetPendingJobExecutions
 *   PUT  /things/{thingName}/jobs/$next           StartNextPendingJobExecution  iot:StartNextPendingJobExecution
 *   GET  /things/{thingName}/jobs/{jobId}         DescribeJobExecution          iot:DescribeJobExecution
 *        [?executionNumber=…&includeJobDocument=true|false]
 *   POST /things/{thingName}/jobs/{jobId}         UpdateJobExecution            iot:UpdateJobExecution
 *
 * Signed requests use the `iot-jobs-data` signing name (what
 * `@aws-sdk/client-iot-jobs-data-plane` signs for); devices use mutual TLS. Each action is
 * decided on the thing's ARN (https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html)
 * before anything about the thing or its executions is answered. Times are epoch
 * seconds; `jobDocument` is a string here (an object on MQTT).
 *
 * Errors: 400 InvalidRequestException, 404 ResourceNotFoundException, 409
 * InvalidStateTransitionException (a transition from a terminal state, and a version
 * mismatch, which the MQTT API calls VersionMismatch), 503 ServiceUnavailableException
 * when the service is off.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isValidThingName } from '../../core/names.js';
import { executionState, isValidJobId, jobFailure, parseDescribe, parseStartNext, parseUpdate, type JobFailure } from '../../core/jobs/index.js';
import { DataPlaneError, type DataPlaneContext, type DataPlaneRoute, type DataPlaneRouteSet } from './routes.js';
import type { JobService } from './job-service.js';

/** The signing name of the AWS IoT jobs data plane. */
export const JOBS_SIGNING_SERVICE = 'iot-jobs-data';

/** Gatehouse's reason code of a jobs refusal (the body's `reason`). */
export function jobReason(f: JobFailure): string {
  switch (f.code) {
    case 'InvalidRequest': case 'InvalidJson': case 'InvalidTopic': return 'JOB_INVALID_REQUEST';
    case 'ResourceNotFound': return 'JOB_EXECUTION_NOT_FOUND';
    case 'InvalidStateTransition': return 'JOB_INVALID_STATE_TRANSITION';
    case 'VersionMismatch': return 'JOB_VERSION_MISMATCH';
    case 'TerminalStateReached': return 'JOB_TERMINAL_STATE';
    default: return 'JOB_INTERNAL_ERROR';
  }
}

function jobError(f: JobFailure): DataPlaneError {
  switch (f.code) {
    case 'InvalidRequest': case 'InvalidJson': case 'InvalidTopic': return new DataPlaneError(400, 'InvalidRequestException', f.message, jobReason(f));
    case 'ResourceNotFound': return new DataPlaneError(404, 'ResourceNotFoundException', f.message, jobReason(f));
    case 'InvalidStateTransition': case 'VersionMismatch': return new DataPlaneError(409, 'InvalidStateTransitionException', f.message, jobReason(f));
    case 'TerminalStateReached': return new DataPlaneError(410, 'TerminalStateException', f.message, jobReason(f));
    default: return new DataPlaneError(500, 'InternalFailureException', 'Internal service failure', jobReason(f));
  }
}

function service(ctx: DataPlaneContext): JobService {
  if (ctx.jobs === undefined) throw new DataPlaneError(503, 'ServiceUnavailableException', 'the jobs service is disabled (gatehouse.jobs.enabled)', 'JOBS_DISABLED');
  return ctx.jobs;
}

function thingOf(request: FastifyRequest): string {
  const { thingName } = request.params as { thingName: string };
  if (!isValidThingName(thingName)) throw jobError(jobFailure('InvalidRequest', 'thingName must be 1 to 128 characters of [a-zA-Z0-9:_-]'));
  return thingName;
}

function jobIdOf(request: FastifyRequest): string {
  const { jobId } = request.params as { jobId: string };
  if (!isValidJobId(jobId) && jobId !== '$next') throw jobError(jobFailure('InvalidRequest', 'jobId must be 1 to 64 characters of [a-zA-Z0-9_-]'));
  return jobId;
}

function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (raw.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    throw jobError(jobFailure('InvalidRequest', 'the body is not valid JSON'));
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw jobError(jobFailure('InvalidRequest', 'the body must be a JSON object'));
  return v as Record<string, unknown>;
}

function thingArn(ctx: DataPlaneContext, thingName: string): string {
  return `arn:${ctx.iot.partition}:iot:${ctx.iot.region}:${ctx.iot.accountId}:thing/${thingName}`;
}

function single(request: FastifyRequest, key: string): string | undefined {
  const v = (request.query as Record<string, unknown>)[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw jobError(jobFailure('InvalidRequest', `${key} is given more than once`));
  return v;
}

async function getPending(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const thingName = thingOf(request);
  await request.authorizeData({ action: 'iot:GetPendingJobExecutions', resource: thingArn(ctx, thingName) });
  const r = await service(ctx).getPending(thingName);
  if (!r.ok) throw jobError(r);
  return { inProgressJobs: r.inProgressJobs, queuedJobs: r.queuedJobs };
}

async function startNext(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const thingName = thingOf(request);
  const q = parseStartNext(jsonBody(request));
  if (!q.ok) throw jobError(q);
  await request.authorizeData({ action: 'iot:StartNextPendingJobExecution', resource: thingArn(ctx, thingName) });
  const r = await service(ctx).startNext(thingName, q.request, 'string');
  if (!r.ok) throw jobError(r);
  return r.execution !== undefined ? { execution: r.execution } : {};
}

async function describe(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const thingName = thingOf(request);
  const jobId = jobIdOf(request);
  const n = single(request, 'executionNumber');
  const inc = single(request, 'includeJobDocument');
  if (n !== undefined && !/^\d{1,15}$/.test(n)) throw jobError(jobFailure('InvalidRequest', 'executionNumber must be a non-negative integer'));
  if (inc !== undefined && inc !== 'true' && inc !== 'false') throw jobError(jobFailure('InvalidRequest', 'includeJobDocument must be true or false'));
  const q = parseDescribe({ ...(n !== undefined ? { executionNumber: Number(n) } : {}), ...(inc !== undefined ? { includeJobDocument: inc === 'true' } : {}) });
  if (!q.ok) throw jobError(q);
  await request.authorizeData({ action: 'iot:DescribeJobExecution', resource: thingArn(ctx, thingName) });
  const r = await service(ctx).describe(thingName, jobId, q.request, 'string');
  if (!r.ok) throw jobError(r);
  if (r.execution === undefined) throw jobError(jobFailure('ResourceNotFound', `No pending job execution for thing ${thingName}`));
  return { execution: r.execution };
}

async function update(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const thingName = thingOf(request);
  const jobId = jobIdOf(request);
  if (jobId === '$next') throw jobError(jobFailure('InvalidRequest', 'UpdateJobExecution needs a job id ($next names no execution to update)'));
  const q = parseUpdate(jsonBody(request));
  if (!q.ok) throw jobError(q);
  await request.authorizeData({ action: 'iot:UpdateJobExecution', resource: thingArn(ctx, thingName) });
  const r = await service(ctx).update(thingName, jobId, q.request.update);
  if (!r.ok) throw jobError(r);
  return {
    ...(q.request.includeJobExecutionState ? { executionState: executionState(r.execution) } : {}),
    ...(q.request.includeJobDocument ? { jobDocument: r.jobDocument } : {}),
  };
}

const J = JOBS_SIGNING_SERVICE;
const ROUTES: readonly DataPlaneRoute[] = [
  { method: 'GET', url: '/things/:thingName/jobs', operationId: 'GetPendingJobExecutions', action: 'iot:GetPendingJobExecutions', signingService: J, example: { path: '/things/lamp/jobs' }, handler: getPending },
  { method: 'PUT', url: '/things/:thingName/jobs/$next', operationId: 'StartNextPendingJobExecution', action: 'iot:StartNextPendingJobExecution', signingService: J, example: { path: '/things/lamp/jobs/$next', body: '{"stepTimeoutInMinutes":10}' }, handler: startNext },
  { method: 'GET', url: '/things/:thingName/jobs/:jobId', operationId: 'DescribeJobExecution', action: 'iot:DescribeJobExecution', signingService: J, example: { path: '/things/lamp/jobs/firmware-1?includeJobDocument=true' }, handler: describe },
  { method: 'POST', url: '/things/:thingName/jobs/:jobId', operationId: 'UpdateJobExecution', action: 'iot:UpdateJobExecution', signingService: J, example: { path: '/things/lamp/jobs/firmware-1', body: '{"status":"SUCCEEDED"}' }, handler: update },
];

export const JOB_ROUTES: DataPlaneRouteSet = { name: 'jobs', routes: ROUTES };
