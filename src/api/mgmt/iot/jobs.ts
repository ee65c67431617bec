/**
 * Jobs for operators: CreateJob, DescribeJob, GetJobDocument, ListJobs, UpdateJob,
 * CancelJob, DeleteJob, ListJobExecutionsForJob, ListJobExecutionsForThing,
 * DescribeJobExecution, CancelJobExecution, DeleteJobExecution
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateJob.html and the
 * neighbouring pages), on the jobs service (data-plane/job-service.ts).
 *
 * Authorization: iot:CreateJob on the job's ARN (`job/JOBID`) and on every target's ARN
 * (thing or thing group, as AWS IoT's CreateJob resource types); CancelJobExecution and
 * DeleteJobExecution on the job's ARN and on the thing's (both required resource types);
 * the other job operations on the job's ARN; the execution reads of a thing on the
 * thing's ARN; ListJobs on `*`.
 *
 * Targets: SNAPSHOT jobs (the targets' things when the job is created, a group's with
 * those of its descendant groups) and CONTINUOUS jobs (also the things that join a
 * target group later; see the jobs service). What differs from AWS IoT: the document is
 * given inline (`documentSource`, job templates, rollout, abort, retry and scheduling
 * configurations, presigned URLs and namespaces are refused);
 * `timeoutConfig.inProgressTimeoutInMinutes` is honoured.
 */
import { checkStatusDetails, secondsBeforeTimedOut, type JobExecution, type JobExecutionStatus, type StatusDetails } from '../../../core/jobs/execution.js';
import { JOB_DESCRIPTION_MAX, JOB_TARGETS_MAX, isValidJobId, jobDocumentProblem, parseTarget, processDetails, timeoutProblem, type JobStatus } from '../../../core/jobs/index.js';
import type { JobView, OperatorFailure } from '../../data-plane/job-service.js';
import { AwsServiceError } from '../aws/errors.js';
import { out, page, type AwsCall, type AwsOperation, type Input } from '../aws/operation.js';
import { DEFAULT_PAGE_SIZE, arn, exampleArn, iotInput } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

const secs = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);
const JOB_STATUSES: readonly JobStatus[] = ['IN_PROGRESS', 'CANCELED', 'DELETION_IN_PROGRESS', 'COMPLETED'];
const EXECUTION_STATUSES: readonly JobExecutionStatus[] = ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'];
/** CancelJobExecution's `statusDetails` hold at most 10 name/value pairs (its API reference). */
const STATUS_DETAILS_MAX = 10;
const UNSUPPORTED = ['documentSource', 'presignedUrlConfig', 'jobExecutionsRolloutConfig', 'abortConfig', 'jobTemplateArn', 'jobExecutionsRetryConfig', 'documentParameters', 'schedulingConfig', 'destinationPackageVersions', 'namespaceId'];

function fail(f: OperatorFailure): AwsServiceError {
  return new AwsServiceError(f.exception, f.message);
}

function jobIdOf(input: Input): string {
  const id = input.label('jobId');
  if (!isValidJobId(id)) throw input.fail('jobId must be 1 to 64 characters of [a-zA-Z0-9_-]');
  return id;
}

function thingNameOf(input: Input): string {
  const name = input.label('thingName');
  if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(name)) throw input.fail('thingName must be 1 to 128 characters of [a-zA-Z0-9:_-]');
  return name;
}

function statusQuery<T extends string>(input: Input, allowed: readonly T[]): T | undefined {
  const s = input.queryString('status');
  if (s === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(s)) throw input.fail(`status must be one of ${allowed.join(', ')}`);
  return s as T;
}

async function createJob(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const jobId = jobIdOf(input);
  const targets = input.stringList('targets');
  if (targets === undefined || targets.length === 0) throw input.fail('targets is required: thing or thing group ARNs');
  if (targets.length > JOB_TARGETS_MAX) throw input.fail(`at most ${JOB_TARGETS_MAX} targets`);
  for (const k of UNSUPPORTED) if (call.body[k] !== undefined) throw input.fail(`${k} is not supported by this gateway (give the job document inline)`);
  const document = input.string('document');
  if (document === undefined) throw input.fail('document is required (documentSource is not supported)');
  const problem = jobDocumentProblem(document);
  if (problem !== undefined) throw input.fail(problem);
  const description = input.string('description');
  if (description !== undefined && description.length > JOB_DESCRIPTION_MAX) throw input.fail(`description is at most ${JOB_DESCRIPTION_MAX} characters`);
  const selection = input.string('targetSelection');
  if (selection !== undefined && selection !== 'SNAPSHOT' && selection !== 'CONTINUOUS') throw input.fail('targetSelection must be SNAPSHOT or CONTINUOUS');
  const timeout = input.object('timeoutConfig');
  const inProgress = timeout !== undefined ? timeout['inProgressTimeoutInMinutes'] : undefined;
  const tp = timeoutProblem(inProgress);
  if (tp !== undefined) throw input.fail(tp);
  const dep = ctx.deployment();
  for (const t of targets) if (parseTarget(t, dep) === undefined) throw input.fail(`target ${t} is not a thing or thing group ARN of this gateway's account and region`);
  const jobArn = arn(ctx, 'job', jobId);
  await call.authorize({ action: 'iot:CreateJob', resource: jobArn });
  for (const t of targets) await call.authorize({ action: 'iot:CreateJob', resource: t });
  const r = await ctx.jobs.createJob({
    jobId, document, targets, targetSelection: selection ?? 'SNAPSHOT', ...(description !== undefined ? { description } : {}),
    ...(typeof inProgress === 'number' ? { inProgressTimeoutInMinutes: inProgress } : {}),
  });
  if (!r.ok) throw fail(r);
  return out({ jobArn, jobId, description });
}

function jobBody(ctx: Ctx, v: JobView): Record<string, unknown> {
  const j = v.job;
  return out({
    jobArn: arn(ctx, 'job', j.jobId), jobId: j.jobId, targetSelection: j.targetSelection, status: j.status, forceCanceled: j.forceCanceled === true ? true : undefined,
    reasonCode: j.reasonCode, comment: j.comment, targets: [...j.targets], description: j.description,
    createdAt: secs(j.createdAt), lastUpdatedAt: secs(j.lastUpdatedAt), completedAt: secs(j.completedAt),
    jobProcessDetails: processDetails(v.executions),
    timeoutConfig: j.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: j.inProgressTimeoutInMinutes } : undefined,
  });
}

async function view(ctx: Ctx, jobId: string): Promise<JobView> {
  const v = await ctx.jobs.describeJob(jobId);
  if (v === undefined) throw new AwsServiceError('ResourceNotFoundException', `job ${jobId} does not exist`);
  return v;
}

async function describeJob(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const jobId = jobIdOf(input);
  await call.authorize({ action: 'iot:DescribeJob', resource: arn(ctx, 'job', jobId) });
  return { job: jobBody(ctx, await view(ctx, jobId)) };
}

async function getJobDocument(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const jobId = jobIdOf(input);
  await call.authorize({ action: 'iot:GetJobDocument', resource: arn(ctx, 'job', jobId) });
  return { document: (await view(ctx, jobId)).job.document };
}

async function listJobs(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  const status = statusQuery(input, JOB_STATUSES);
  const selection = input.queryString('targetSelection');
  const groupName = input.queryString('thingGroupName');
  if (selection !== undefined && selection !== 'SNAPSHOT' && selection !== 'CONTINUOUS') throw input.fail('targetSelection must be SNAPSHOT or CONTINUOUS');
  await call.authorize({ action: 'iot:ListJobs', resource: '*' });
  const all = await ctx.jobs.listJobs({ ...(status !== undefined ? { status } : {}), limit: Number.MAX_SAFE_INTEGER });
  if ('ok' in all) throw fail(all);
  const groupArn = groupName !== undefined ? arn(ctx, 'thinggroup', groupName) : undefined;
  const jobs = all.jobs.filter((v) => (selection === undefined || v.job.targetSelection === selection) && (groupArn === undefined || v.job.targets.includes(groupArn)));
  const p = page(jobs, (v) => `${String(v.job.createdAt).padStart(15, '0')}|${v.job.jobId}`, token, size, input);
  return out({
    jobs: p.items.map((v) => out({
      jobArn: arn(ctx, 'job', v.job.jobId), jobId: v.job.jobId, targetSelection: v.job.targetSelection, status: v.job.status,
      createdAt: secs(v.job.createdAt), lastUpdatedAt: secs(v.job.lastUpdatedAt), completedAt: secs(v.job.completedAt),
    })),
    nextToken: p.next,
  });
}

async function cancelJob(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const jobId = jobIdOf(input);
  const force = input.queryBool('force') === true;
  const comment = input.string('comment');
  const reasonCode = input.string('reasonCode');
  if (comment !== undefined && comment.length > 2028) throw input.fail('comment is at most 2028 characters');
  if (reasonCode !== undefined && !/^[A-Z0-9_]{1,128}$/.test(reasonCode)) throw input.fail('reasonCode must be 1 to 128 upper-case letters, digits or _');
  const jobArn = arn(ctx, 'job', jobId);
  await call.authorize({ action: 'iot:CancelJob', resource: jobArn });
  const r = await ctx.jobs.cancelJob(jobId, { force, ...(comment !== undefined ? { comment } : {}), ...(reasonCode !== undefined ? { reasonCode } : {}) });
  if (!r.ok) throw fail(r);
  return out({ jobArn, jobId, description: r.job.description });
}

async function deleteJob(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const jobId = jobIdOf(input);
  const force = input.queryBool('force') === true;
  if (input.queryString('namespaceId') !== undefined) throw input.fail('namespaceId is not supported by this gateway');
  await call.authorize({ action: 'iot:DeleteJob', resource: arn(ctx, 'job', jobId) });
  const r = await ctx.jobs.deleteJob(jobId, force);
  if (!r.ok) throw fail(r);
  return {};
}

/** The limits of UpdateJob's members that the gateway does not act on. */
const UPDATE_UNSUPPORTED = ['presignedUrlConfig', 'jobExecutionsRolloutConfig', 'abortConfig', 'jobExecutionsRetryConfig'];

async function updateJob(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const jobId = jobIdOf(input);
  if (input.queryString('namespaceId') !== undefined) throw input.fail('namespaceId is not supported by this gateway');
  for (const k of UPDATE_UNSUPPORTED) if (call.body[k] !== undefined) throw input.fail(`${k} is not supported by this gateway`);
  const description = input.string('description');
  if (description !== undefined && description.length > JOB_DESCRIPTION_MAX) throw input.fail(`description is at most ${JOB_DESCRIPTION_MAX} characters`);
  const timeout = input.object('timeoutConfig');
  const inProgress = timeout !== undefined ? timeout['inProgressTimeoutInMinutes'] : undefined;
  const tp = timeoutProblem(inProgress);
  if (tp !== undefined) throw input.fail(tp);
  await call.authorize({ action: 'iot:UpdateJob', resource: arn(ctx, 'job', jobId) });
  const r = await ctx.jobs.updateJob(jobId, { ...(description !== undefined ? { description } : {}), ...(typeof inProgress === 'number' ? { inProgressTimeoutInMinutes: inProgress } : {}) });
  if (!r.ok) throw fail(r);
  return {};
}

async function cancelJobExecution(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const thingName = thingNameOf(input);
  const jobId = jobIdOf(input);
  const force = input.queryBool('force') === true;
  const expectedVersion = input.int('expectedVersion', 0, Number.MAX_SAFE_INTEGER);
  const details = call.body['statusDetails'];
  let statusDetails: StatusDetails | undefined;
  if (details !== undefined && details !== null) {
    const d = checkStatusDetails(details);
    if (!d.ok) throw input.fail(d.message);
    if (Object.keys(d.details).length > STATUS_DETAILS_MAX) throw input.fail(`statusDetails holds at most ${STATUS_DETAILS_MAX} name/value pairs`);
    statusDetails = d.details;
  }
  await call.authorize({ action: 'iot:CancelJobExecution', resource: arn(ctx, 'job', jobId) });
  await call.authorize({ action: 'iot:CancelJobExecution', resource: arn(ctx, 'thing', thingName) });
  const r = await ctx.jobs.cancelExecution(jobId, thingName, { force, ...(expectedVersion !== undefined ? { expectedVersion } : {}), ...(statusDetails !== undefined ? { statusDetails } : {}) });
  if (!r.ok) throw fail(r);
  return {};
}

async function deleteJobExecution(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const thingName = thingNameOf(input);
  const jobId = jobIdOf(input);
  const label = input.label('executionNumber');
  if (!/^\d{1,15}$/.test(label)) throw input.fail('executionNumber must be a non-negative integer');
  const force = input.queryBool('force') === true;
  if (input.queryString('namespaceId') !== undefined) throw input.fail('namespaceId is not supported by this gateway');
  await call.authorize({ action: 'iot:DeleteJobExecution', resource: arn(ctx, 'job', jobId) });
  await call.authorize({ action: 'iot:DeleteJobExecution', resource: arn(ctx, 'thing', thingName) });
  const r = await ctx.jobs.deleteExecution(jobId, thingName, Number(label), force);
  if (!r.ok) throw fail(r);
  return {};
}

function executionSummary(e: JobExecution): Record<string, unknown> {
  return out({ status: e.status, queuedAt: secs(e.queuedAt), startedAt: secs(e.startedAt), lastUpdatedAt: secs(e.lastUpdatedAt), executionNumber: e.executionNumber });
}

async function listExecutionsForJob(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const jobId = jobIdOf(input);
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  const status = statusQuery(input, EXECUTION_STATUSES);
  await call.authorize({ action: 'iot:ListJobExecutionsForJob', resource: arn(ctx, 'job', jobId) });
  const executions = await ctx.jobs.executionsOfJob(jobId, status);
  if (executions === undefined) throw new AwsServiceError('ResourceNotFoundException', `job ${jobId} does not exist`);
  const p = page(executions, (e) => e.thingName, token, size, input);
  return out({ executionSummaries: p.items.map((e) => ({ thingArn: arn(ctx, 'thing', e.thingName), jobExecutionSummary: executionSummary(e) })), nextToken: p.next });
}

async function listExecutionsForThing(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const thingName = thingNameOf(input);
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  const status = statusQuery(input, EXECUTION_STATUSES);
  await call.authorize({ action: 'iot:ListJobExecutionsForThing', resource: arn(ctx, 'thing', thingName) });
  const executions = await ctx.jobs.executionsOfThing(thingName, status);
  if (executions === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing ${thingName} does not exist`);
  const p = page(executions, (e) => `${String(e.queuedAt).padStart(15, '0')}|${e.jobId}`, token, size, input);
  return out({ executionSummaries: p.items.map((e) => ({ jobId: e.jobId, jobExecutionSummary: executionSummary(e) })), nextToken: p.next });
}

async function describeJobExecution(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const thingName = thingNameOf(input);
  const jobId = jobIdOf(input);
  const n = input.queryInt('executionNumber', 0, Number.MAX_SAFE_INTEGER);
  await call.authorize({ action: 'iot:DescribeJobExecution', resource: arn(ctx, 'thing', thingName) });
  const e = await ctx.jobs.execution(jobId, thingName);
  if (e === undefined || (n !== undefined && n !== e.executionNumber)) throw new AwsServiceError('ResourceNotFoundException', `no execution of job ${jobId} on thing ${thingName}`);
  return {
    execution: out({
      jobId: e.jobId, status: e.status, forceCanceled: e.forceCanceled === true ? true : undefined,
      statusDetails: { detailsMap: { ...e.statusDetails } }, thingArn: arn(ctx, 'thing', e.thingName),
      queuedAt: secs(e.queuedAt), startedAt: secs(e.startedAt), lastUpdatedAt: secs(e.lastUpdatedAt),
      executionNumber: e.executionNumber, versionNumber: e.versionNumber, approximateSecondsBeforeTimedOut: secondsBeforeTimedOut(e, ctx.clock().getTime()),
    }),
  };
}

const DOC = JSON.stringify({ operation: 'reboot' });

export const JOB_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'CreateJob', method: 'PUT', path: '/jobs/{jobId}', action: 'iot:CreateJob', summary: 'Creates a snapshot job for things and thing groups', example: { path: '/jobs/example-job', body: { targets: [exampleArn('thing', 'example-thing')], document: DOC } }, handler: createJob },
  { name: 'DescribeJob', method: 'GET', path: '/jobs/{jobId}', action: 'iot:DescribeJob', summary: 'Describes a job and counts its executions by status', example: { path: '/jobs/example-job' }, handler: describeJob },
  { name: 'GetJobDocument', method: 'GET', path: '/jobs/{jobId}/job-document', action: 'iot:GetJobDocument', summary: 'Returns a job\'s document', example: { path: '/jobs/example-job/job-document' }, handler: getJobDocument },
  { name: 'ListJobs', method: 'GET', path: '/jobs', action: 'iot:ListJobs', summary: 'Lists jobs', example: { path: '/jobs?maxResults=10' }, handler: listJobs },
  { name: 'UpdateJob', method: 'PATCH', path: '/jobs/{jobId}', action: 'iot:UpdateJob', summary: 'Updates a job\'s description or in-progress timeout', example: { path: '/jobs/example-job', body: { description: 'new text' } }, handler: updateJob },
  { name: 'CancelJob', method: 'PUT', path: '/jobs/{jobId}/cancel', action: 'iot:CancelJob', summary: 'Cancels a job (queued executions; in-progress ones with force)', example: { path: '/jobs/example-job/cancel', body: {} }, handler: cancelJob },
  { name: 'DeleteJob', method: 'DELETE', path: '/jobs/{jobId}', action: 'iot:DeleteJob', summary: 'Deletes a job and its executions', example: { path: '/jobs/example-job?force=true' }, handler: deleteJob },
  { name: 'ListJobExecutionsForJob', method: 'GET', path: '/jobs/{jobId}/things', action: 'iot:ListJobExecutionsForJob', summary: 'Lists a job\'s executions', example: { path: '/jobs/example-job/things' }, handler: listExecutionsForJob },
  { name: 'ListJobExecutionsForThing', method: 'GET', path: '/things/{thingName}/jobs', action: 'iot:ListJobExecutionsForThing', summary: 'Lists a thing\'s job executions', example: { path: '/things/example-thing/jobs' }, handler: listExecutionsForThing },
  { name: 'DescribeJobExecution', method: 'GET', path: '/things/{thingName}/jobs/{jobId}', action: 'iot:DescribeJobExecution', summary: 'Describes the execution of a job on a thing', example: { path: '/things/example-thing/jobs/example-job' }, handler: describeJobExecution },
  { name: 'CancelJobExecution', method: 'PUT', path: '/things/{thingName}/jobs/{jobId}/cancel', action: 'iot:CancelJobExecution', summary: 'Cancels the execution of a job on a thing (an IN_PROGRESS one with force)', example: { path: '/things/example-thing/jobs/example-job/cancel?force=true', body: { statusDetails: { reason: 'replaced' } } }, handler: cancelJobExecution },
  { name: 'DeleteJobExecution', method: 'DELETE', path: '/things/{thingName}/jobs/{jobId}/executionNumber/{executionNumber}', action: 'iot:DeleteJobExecution', summary: 'Deletes a job execution (a pending one with force)', example: { path: '/things/example-thing/jobs/example-job/executionNumber/1?force=true' }, handler: deleteJobExecution },
];
