import type { Command } from 'commander';
import { JobService, type OperatorFailure } from '../api/data-plane/job-service.js';
import { JOB_ID, jobDocumentProblem, processDetails, timeoutProblem } from '../core/jobs/index.js';
import { checkStatusDetails, type JobExecutionStatus } from '../core/jobs/execution.js';
import type { IotDeployment } from '../core/policy/iot/context.js';
import { assertThingGroupName, assertThingName } from '../identity/names.js';
import { createLogger } from '../observability/logger.js';
import { openRegistry } from '../identity/bootstrap.js';
import { openSharedRegistry } from '../identity/shared-registry.js';
import { dataDirOption, day, printTable, resolveDataDir, type DataDirOptions } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';
import { path, RemoteClient } from './remote/client.js';
import { collect, loadConfig } from './things.js';

// ----------------------------------------------------------------------------------
// gatehouse jobs create|list|show|update|cancel|delete|executions|cancel-execution|delete-execution
//
// Locally the commands use the registry database of the data directory (a running
// gateway sharing it sees the jobs at once; its devices learn of a change when they
// next ask: notifications are published by the gateway's own service, so change jobs
// through the management API, `--endpoint`, when devices wait on notify-next). With
// gatehouse.registry.url in the configuration they use that shared registry, whose job
// store records the notifications in its change feed for the gateways to publish.

interface JobRow {
  readonly jobId: string;
  readonly status: string;
  readonly createdAt: Date;
  readonly description?: string;
  readonly targets?: readonly string[];
  readonly counts?: Readonly<Record<string, number>>;
  readonly document?: string;
  readonly inProgressTimeoutInMinutes?: number;
  readonly targetSelection?: string;
}

interface ExecRow {
  readonly thing: string;
  readonly status: string;
  readonly lastUpdatedAt: Date;
  readonly executionNumber?: number;
}

interface CreateInput {
  readonly jobId: string;
  readonly document: string;
  readonly things: readonly string[];
  readonly groups: readonly string[];
  readonly description?: string;
  readonly inProgressTimeoutInMinutes?: number;
  readonly continuous: boolean;
}

interface CancelExecutionInput {
  readonly force: boolean;
  readonly expectedVersion?: number;
  readonly statusDetails?: Readonly<Record<string, string>>;
}

interface JobsBackend {
  create(input: CreateInput): Promise<void>;
  update(jobId: string, input: { description?: string; inProgressTimeoutInMinutes?: number }): Promise<void>;
  cancelExecution(jobId: string, thing: string, input: CancelExecutionInput): Promise<void>;
  /** Deletes the thing's execution of the job (its current execution number when `executionNumber` is not given). */
  deleteExecution(jobId: string, thing: string, executionNumber: number | undefined, force: boolean): Promise<void>;
  list(status?: string): Promise<JobRow[]>;
  show(jobId: string): Promise<JobRow | undefined>;
  cancel(jobId: string, force: boolean, comment?: string): Promise<void>;
  delete(jobId: string, force: boolean): Promise<void>;
  executions(jobId: string, status?: string): Promise<ExecRow[] | undefined>;
}

function failure(f: OperatorFailure): CliError {
  const code = f.exception === 'ResourceNotFoundException' ? 'JOB_NOT_FOUND' : f.exception === 'ResourceAlreadyExistsException' ? 'JOB_EXISTS'
    : f.exception === 'InvalidStateTransitionException' || f.exception === 'VersionConflictException' ? 'JOB_STATE_CONFLICT' : 'JOB_INVALID';
  return new CliError(code, f.message, EXIT.INVALID, code === 'JOB_STATE_CONFLICT'
    ? 'cancel first (jobs cancel / cancel-execution, with --force for in-progress executions), pass --force, or give the current --expected-version'
    : 'check the job id, thing, targets and document');
}

const arnOf = (d: IotDeployment, kind: 'thing' | 'thinggroup', name: string): string => `arn:${d.partition}:iot:${d.region}:${d.accountId}:${kind}/${name}`;

function localBackend(service: JobService, d: IotDeployment): JobsBackend {
  const row = (v: NonNullable<Awaited<ReturnType<JobService['describeJob']>>>): JobRow => ({
    jobId: v.job.jobId, status: v.job.status, createdAt: new Date(v.job.createdAt), ...(v.job.description !== undefined ? { description: v.job.description } : {}),
    targets: v.job.targets, counts: processDetails(v.executions), document: v.job.document, targetSelection: v.job.targetSelection,
    ...(v.job.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: v.job.inProgressTimeoutInMinutes } : {}),
  });
  return {
    async create(i) {
      const r = await service.createJob({
        jobId: i.jobId, document: i.document, targets: [...i.things.map((t) => arnOf(d, 'thing', t)), ...i.groups.map((g) => arnOf(d, 'thinggroup', g))],
        targetSelection: i.continuous ? 'CONTINUOUS' : 'SNAPSHOT', ...(i.description !== undefined ? { description: i.description } : {}), ...(i.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: i.inProgressTimeoutInMinutes } : {}),
      });
      if (!r.ok) throw failure(r);
    },
    async update(jobId, input) {
      const r = await service.updateJob(jobId, input);
      if (!r.ok) throw failure(r);
    },
    async cancelExecution(jobId, thing, input) {
      const r = await service.cancelExecution(jobId, thing, { force: input.force, ...(input.expectedVersion !== undefined ? { expectedVersion: input.expectedVersion } : {}), ...(input.statusDetails !== undefined ? { statusDetails: input.statusDetails } : {}) });
      if (!r.ok) throw failure(r);
    },
    async deleteExecution(jobId, thing, executionNumber, force) {
      const n = executionNumber ?? (await service.execution(jobId, thing))?.executionNumber;
      if (n === undefined) throw new CliError('JOB_NOT_FOUND', `no execution of job \`${jobId}\` on thing \`${thing}\``, EXIT.INVALID, 'list the job\'s executions with `gatehouse jobs executions JOB-ID`');
      const r = await service.deleteExecution(jobId, thing, n, force);
      if (!r.ok) throw failure(r);
    },
    async list(status) {
      const r = await service.listJobs({ ...(status !== undefined ? { status: status as never } : {}), limit: Number.MAX_SAFE_INTEGER });
      if ('ok' in r) throw failure(r);
      return r.jobs.map(row);
    },
    async show(jobId) {
      const v = await service.describeJob(jobId);
      return v === undefined ? undefined : row(v);
    },
    async cancel(jobId, force, comment) {
      const r = await service.cancelJob(jobId, { force, ...(comment !== undefined ? { comment } : {}) });
      if (!r.ok) throw failure(r);
    },
    async delete(jobId, force) {
      const r = await service.deleteJob(jobId, force);
      if (!r.ok) throw failure(r);
    },
    async executions(jobId, status) {
      const list = await service.executionsOfJob(jobId, status as JobExecutionStatus | undefined);
      return list?.map((e) => ({ thing: e.thingName, status: e.status, lastUpdatedAt: new Date(e.lastUpdatedAt), executionNumber: e.executionNumber }));
    },
  };
}

type Json = Record<string, unknown>;

function remoteBackend(c: RemoteClient): JobsBackend {
  const date = (v: unknown): Date => new Date(typeof v === 'number' ? v * 1000 : NaN);
  const notFound = (e: unknown): boolean => e instanceof CliError && e.code === 'REMOTE_NOT_FOUND';
  const all = async (operation: string, p: string, key: string, query: Record<string, string | undefined>): Promise<Json[]> => {
    const out: Json[] = [];
    let token: string | undefined;
    do {
      const r = await c.call<Json>({ service: 'iot', operation, method: 'GET', path: p, query: { ...query, ...(token !== undefined ? { nextToken: token } : {}), maxResults: '250' } });
      out.push(...((r[key] as Json[] | undefined) ?? []));
      token = typeof r['nextToken'] === 'string' ? r['nextToken'] : undefined;
    } while (token !== undefined);
    return out;
  };
  return {
    async create(i) {
      const targets: string[] = [];
      for (const t of i.things) targets.push(String((await c.call<Json>({ service: 'iot', operation: 'DescribeThing', method: 'GET', path: path`/things/${t}` }))['thingArn']));
      for (const g of i.groups) targets.push(String((await c.call<Json>({ service: 'iot', operation: 'DescribeThingGroup', method: 'GET', path: path`/thing-groups/${g}` }))['thingGroupArn']));
      await c.call({
        service: 'iot', operation: 'CreateJob', method: 'PUT', path: path`/jobs/${i.jobId}`,
        body: { targets, document: i.document, targetSelection: i.continuous ? 'CONTINUOUS' : 'SNAPSHOT', ...(i.description !== undefined ? { description: i.description } : {}), ...(i.inProgressTimeoutInMinutes !== undefined ? { timeoutConfig: { inProgressTimeoutInMinutes: i.inProgressTimeoutInMinutes } } : {}) },
      });
    },
    async update(jobId, input) {
      await c.call({
        service: 'iot', operation: 'UpdateJob', method: 'PATCH', path: path`/jobs/${jobId}`,
        body: { ...(input.description !== undefined ? { description: input.description } : {}), ...(input.inProgressTimeoutInMinutes !== undefined ? { timeoutConfig: { inProgressTimeoutInMinutes: input.inProgressTimeoutInMinutes } } : {}) },
      });
    },
    async cancelExecution(jobId, thing, input) {
      await c.call({
        service: 'iot', operation: 'CancelJobExecution', method: 'PUT', path: path`/things/${thing}/jobs/${jobId}/cancel`, query: { ...(input.force ? { force: 'true' } : {}) },
        body: { ...(input.expectedVersion !== undefined ? { expectedVersion: input.expectedVersion } : {}), ...(input.statusDetails !== undefined ? { statusDetails: input.statusDetails } : {}) },
      });
    },
    async deleteExecution(jobId, thing, executionNumber, force) {
      let n = executionNumber;
      if (n === undefined) {
        const e = (await c.call<Json>({ service: 'iot', operation: 'DescribeJobExecution', method: 'GET', path: path`/things/${thing}/jobs/${jobId}` }))['execution'] as Json;
        n = Number(e['executionNumber']);
      }
      await c.call({ service: 'iot', operation: 'DeleteJobExecution', method: 'DELETE', path: path`/things/${thing}/jobs/${jobId}/executionNumber/${String(n)}`, query: { ...(force ? { force: 'true' } : {}) } });
    },
    async list(status) {
      return (await all('ListJobs', '/jobs', 'jobs', { status })).map((j) => ({ jobId: String(j['jobId']), status: String(j['status']), createdAt: date(j['createdAt']) }));
    },
    async show(jobId) {
      let j: Json;
      try {
        j = (await c.call<Json>({ service: 'iot', operation: 'DescribeJob', method: 'GET', path: path`/jobs/${jobId}` }))['job'] as Json;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
      const doc = await c.call<Json>({ service: 'iot', operation: 'GetJobDocument', method: 'GET', path: path`/jobs/${jobId}/job-document` });
      const timeout = (j['timeoutConfig'] as Json | undefined)?.['inProgressTimeoutInMinutes'];
      return {
        jobId, status: String(j['status']), createdAt: date(j['createdAt']), ...(typeof j['description'] === 'string' ? { description: j['description'] } : {}),
        targets: j['targets'] as string[], counts: j['jobProcessDetails'] as Record<string, number>, document: String(doc['document']), targetSelection: String(j['targetSelection']),
        ...(typeof timeout === 'number' ? { inProgressTimeoutInMinutes: timeout } : {}),
      };
    },
    async cancel(jobId, force, comment) {
      await c.call({ service: 'iot', operation: 'CancelJob', method: 'PUT', path: path`/jobs/${jobId}/cancel`, query: { ...(force ? { force: 'true' } : {}) }, body: comment !== undefined ? { comment } : {} });
    },
    async delete(jobId, force) {
      await c.call({ service: 'iot', operation: 'DeleteJob', method: 'DELETE', path: path`/jobs/${jobId}`, query: { ...(force ? { force: 'true' } : {}) } });
    },
    async executions(jobId, status) {
      let list: Json[];
      try {
        list = await all('ListJobExecutionsForJob', path`/jobs/${jobId}/things`, 'executionSummaries', { status });
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
      return list.map((e) => {
        const s = e['jobExecutionSummary'] as Json;
        return { thing: String(e['thingArn']).replace(/^.*:thing\//, ''), status: String(s['status']), lastUpdatedAt: date(s['lastUpdatedAt']), executionNumber: Number(s['executionNumber']) };
      });
    },
  };
}

interface JobsOptions extends DataDirOptions {
  readonly config?: string;
}

async function withJobs<T>(opts: JobsOptions, io: Io, fn: (b: JobsBackend) => Promise<T>): Promise<T | undefined> {
  if (opts.target?.kind === 'remote') return fn(remoteBackend(new RemoteClient(opts.target)));
  const config = await loadConfig(opts.config, io);
  if (config === undefined) return undefined;
  const d = config.value.gatehouse.iot;
  // With gatehouse.registry.url the jobs are in the shared PostgreSQL registry: every
  // gateway on it sees them, and the one a device is connected to tells it.
  const shared = config.value.gatehouse.registry;
  const registry = shared.url !== undefined ? await openSharedRegistry(shared) : await openRegistry(resolveDataDir(opts.dataDir, config.value.gatehouse.dataDir));
  try {
    return await fn(localBackend(new JobService({ store: registry.jobs(), clock: () => new Date(), logger: createLogger('error'), deployment: () => d }), d));
  } finally {
    await registry.close();
  }
}

function assertJobId(id: string): void {
  if (!JOB_ID.test(id)) throw new CliError('JOB_ID_INVALID', `\`${id}\` is not a job id`, EXIT.USAGE, 'use 1 to 64 characters from a-z, A-Z, 0-9, `_` and `-`');
}

const EXEC_STATUSES = ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'];
const JOB_STATUSES = ['IN_PROGRESS', 'CANCELED', 'COMPLETED'];

function statusOption(value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  const v = value.toUpperCase();
  if (!allowed.includes(v)) throw new CliError('USAGE', `--status must be one of ${allowed.join(', ')}`, EXIT.USAGE);
  return v;
}

function nonNegative(v: string, option: string): number {
  if (!/^\d{1,15}$/.test(v)) throw new CliError('USAGE', `${option} must be a non-negative integer`, EXIT.USAGE);
  return Number(v);
}

function statusDetailsOption(pairs: readonly string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  if (pairs.length > 10) throw new CliError('USAGE', 'at most 10 --status-detail pairs', EXIT.USAGE);
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError('USAGE', `--status-detail ${JSON.stringify(p)} is not KEY=VALUE`, EXIT.USAGE);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  const checked = checkStatusDetails(out);
  if (!checked.ok) throw new CliError('USAGE', checked.message, EXIT.USAGE);
  return checked.details;
}

function jobJson(j: JobRow): Record<string, unknown> {
  return {
    jobId: j.jobId, status: j.status, createdAt: day(j.createdAt), ...(j.description !== undefined ? { description: j.description } : {}),
    ...(j.targets !== undefined ? { targets: j.targets } : {}), ...(j.targetSelection !== undefined ? { targetSelection: j.targetSelection } : {}), ...(j.counts !== undefined ? { executions: j.counts } : {}),
    ...(j.document !== undefined ? { document: JSON.parse(j.document) as unknown } : {}),
    ...(j.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: j.inProgressTimeoutInMinutes } : {}),
  };
}

export function registerJobs(program: Command, io: Io, setExit: (code: number) => void): void {
  const jobs = program.command('jobs').description('jobs: a JSON document for things and thing groups to execute (AWS IoT Jobs, snapshot and continuous targets)');
  const withConfig = (cmd: Command): Command => dataDirOption(cmd).option('--config <file>', 'configuration file (gatehouse.iot names the ARNs of local targets)');

  withConfig(jobs.command('create').description('create a job for things and thing groups (the members of a group when the job is created; with --continuous, also those that join later)'))
    .argument('<job-id>', 'job id: 1-64 characters of A-Z a-z 0-9 _ -')
    .requiredOption('--document <json>', 'the job document: a JSON object (at most 32 KB)')
    .option('--thing <name>', 'a target thing (repeatable)', collect, [])
    .option('--thing-group <name>', 'a target thing group (repeatable)', collect, [])
    .option('--description <text>', 'description')
    .option('--in-progress-timeout <minutes>', 'minutes an execution may stay IN_PROGRESS (1 to 10080) before it is TIMED_OUT')
    .option('--continuous', 'a continuous job: things that join a target group later get an execution, those that leave have a QUEUED one REMOVED')
    .action(async (jobId: string, opts: JobsOptions & { document: string; thing: string[]; thingGroup: string[]; description?: string; inProgressTimeout?: string; continuous?: boolean }) => {
      assertJobId(jobId);
      for (const t of opts.thing) assertThingName(t);
      for (const g of opts.thingGroup) assertThingGroupName(g);
      if (opts.thing.length + opts.thingGroup.length === 0) throw new CliError('USAGE', 'name at least one target: --thing or --thing-group', EXIT.USAGE);
      const problem = jobDocumentProblem(opts.document);
      if (problem !== undefined) throw new CliError('JOB_DOCUMENT_INVALID', problem, EXIT.USAGE, 'give a JSON object, e.g. --document \'{"operation":"reboot"}\'');
      const minutes = opts.inProgressTimeout !== undefined ? Number(opts.inProgressTimeout) : undefined;
      const tp = timeoutProblem(minutes);
      if (tp !== undefined) throw new CliError('USAGE', tp, EXIT.USAGE);
      const done = await withJobs(opts, io, async (b) => {
        await b.create({
          jobId, document: opts.document, things: opts.thing, groups: opts.thingGroup, continuous: opts.continuous === true, ...(opts.description !== undefined ? { description: opts.description } : {}),
          ...(minutes !== undefined ? { inProgressTimeoutInMinutes: minutes } : {}),
        });
        const shown = await b.show(jobId);
        if (opts.json) io.out(JSON.stringify(shown !== undefined ? jobJson(shown) : { jobId }));
        else io.out(`created job ${jobId} (${shown?.counts?.['numberOfQueuedThings'] ?? 0} execution(s) queued)`);
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('list').description('list jobs'))
    .option('--status <status>', `only jobs in this status (${JOB_STATUSES.join(', ')})`)
    .action(async (opts: JobsOptions & { status?: string }) => {
      const status = statusOption(opts.status, JOB_STATUSES);
      const done = await withJobs(opts, io, async (b) => {
        const list = await b.list(status);
        if (opts.json) io.out(JSON.stringify(list.map((j) => ({ jobId: j.jobId, status: j.status, createdAt: day(j.createdAt) }))));
        else if (list.length === 0) io.out('no jobs');
        else printTable(io, ['JOB', 'STATUS', 'CREATED'], list.map((j) => [j.jobId, j.status, day(j.createdAt)]));
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('show').description('show a job: status, targets, execution counts and document'))
    .argument('<job-id>', 'job id')
    .action(async (jobId: string, opts: JobsOptions) => {
      assertJobId(jobId);
      const done = await withJobs(opts, io, async (b) => {
        const j = await b.show(jobId);
        if (j === undefined) throw new CliError('JOB_NOT_FOUND', `no job \`${jobId}\``, EXIT.INVALID, 'list jobs with `gatehouse jobs list`');
        if (opts.json) io.out(JSON.stringify(jobJson(j)));
        else {
          io.out(`job ${j.jobId}`);
          io.out(`  status:      ${j.status}`);
          io.out(`  created:     ${day(j.createdAt)}`);
          io.out(`  description: ${j.description ?? '-'}`);
          io.out(`  targets:     ${(j.targets ?? []).join(', ')}${j.targetSelection === 'CONTINUOUS' ? ' (continuous)' : ''}`);
          if (j.inProgressTimeoutInMinutes !== undefined) io.out(`  in-progress timeout: ${j.inProgressTimeoutInMinutes} min`);
          const counts = Object.entries(j.counts ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k.replace(/^numberOf|Things$/g, '')} ${n}`);
          io.out(`  executions:  ${counts.length > 0 ? counts.join(', ') : '(none)'}`);
          io.out(`  document:    ${j.document ?? ''}`);
        }
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('cancel').description('cancel a job: its QUEUED executions are CANCELED (IN_PROGRESS ones too with --force)'))
    .argument('<job-id>', 'job id')
    .option('--force', 'cancel IN_PROGRESS executions as well')
    .option('--comment <text>', 'why the job is canceled')
    .action(async (jobId: string, opts: JobsOptions & { force?: boolean; comment?: string }) => {
      assertJobId(jobId);
      const done = await withJobs(opts, io, async (b) => {
        await b.cancel(jobId, opts.force === true, opts.comment);
        if (opts.json) io.out(JSON.stringify({ jobId, canceled: true, force: opts.force === true }));
        else io.out(`canceled job ${jobId}`);
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('delete').description('delete a job and its executions (one with pending executions only with --force)'))
    .argument('<job-id>', 'job id')
    .option('--force', 'delete even with QUEUED or IN_PROGRESS executions')
    .action(async (jobId: string, opts: JobsOptions & { force?: boolean }) => {
      assertJobId(jobId);
      const done = await withJobs(opts, io, async (b) => {
        await b.delete(jobId, opts.force === true);
        if (opts.json) io.out(JSON.stringify({ deleted: jobId }));
        else io.out(`deleted job ${jobId}`);
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('update').description('change a job\'s description or in-progress timeout (the timeout applies to executions not yet started)'))
    .argument('<job-id>', 'job id')
    .option('--description <text>', 'new description')
    .option('--in-progress-timeout <minutes>', 'new in-progress timeout (1 to 10080 minutes)')
    .action(async (jobId: string, opts: JobsOptions & { description?: string; inProgressTimeout?: string }) => {
      assertJobId(jobId);
      if (opts.description === undefined && opts.inProgressTimeout === undefined) throw new CliError('USAGE', 'name a change: --description or --in-progress-timeout', EXIT.USAGE);
      const minutes = opts.inProgressTimeout !== undefined ? Number(opts.inProgressTimeout) : undefined;
      const tp = timeoutProblem(minutes);
      if (tp !== undefined) throw new CliError('USAGE', tp, EXIT.USAGE);
      const done = await withJobs(opts, io, async (b) => {
        await b.update(jobId, { ...(opts.description !== undefined ? { description: opts.description } : {}), ...(minutes !== undefined ? { inProgressTimeoutInMinutes: minutes } : {}) });
        if (opts.json) io.out(JSON.stringify({ jobId, updated: true }));
        else io.out(`updated job ${jobId}`);
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('cancel-execution').description('cancel one thing\'s execution of a job (a QUEUED one; an IN_PROGRESS one with --force)'))
    .argument('<job-id>', 'job id')
    .requiredOption('--thing <name>', 'the thing whose execution is canceled')
    .option('--force', 'cancel an IN_PROGRESS execution as well')
    .option('--expected-version <n>', 'cancel only if the execution is at this version')
    .option('--status-detail <key=value>', 'a status detail to record (repeatable, at most 10)', collect, [])
    .action(async (jobId: string, opts: JobsOptions & { thing: string; force?: boolean; expectedVersion?: string; statusDetail: string[] }) => {
      assertJobId(jobId);
      assertThingName(opts.thing);
      const expectedVersion = opts.expectedVersion !== undefined ? nonNegative(opts.expectedVersion, '--expected-version') : undefined;
      const details = statusDetailsOption(opts.statusDetail);
      const done = await withJobs(opts, io, async (b) => {
        await b.cancelExecution(jobId, opts.thing, { force: opts.force === true, ...(expectedVersion !== undefined ? { expectedVersion } : {}), ...(details !== undefined ? { statusDetails: details } : {}) });
        if (opts.json) io.out(JSON.stringify({ jobId, thing: opts.thing, canceled: true }));
        else io.out(`canceled the execution of job ${jobId} on ${opts.thing}`);
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('delete-execution').description('delete one thing\'s execution of a job (a terminal one; any with --force)'))
    .argument('<job-id>', 'job id')
    .requiredOption('--thing <name>', 'the thing whose execution is deleted')
    .option('--execution-number <n>', 'the execution number (default: the thing\'s current execution of the job)')
    .option('--force', 'delete a QUEUED or IN_PROGRESS execution as well')
    .action(async (jobId: string, opts: JobsOptions & { thing: string; executionNumber?: string; force?: boolean }) => {
      assertJobId(jobId);
      assertThingName(opts.thing);
      const n = opts.executionNumber !== undefined ? nonNegative(opts.executionNumber, '--execution-number') : undefined;
      const done = await withJobs(opts, io, async (b) => {
        await b.deleteExecution(jobId, opts.thing, n, opts.force === true);
        if (opts.json) io.out(JSON.stringify({ jobId, thing: opts.thing, deleted: true }));
        else io.out(`deleted the execution of job ${jobId} on ${opts.thing}`);
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });

  withConfig(jobs.command('executions').description('list a job\'s executions: one per target thing'))
    .argument('<job-id>', 'job id')
    .option('--status <status>', `only executions in this status (${EXEC_STATUSES.join(', ')})`)
    .action(async (jobId: string, opts: JobsOptions & { status?: string }) => {
      assertJobId(jobId);
      const status = statusOption(opts.status, EXEC_STATUSES);
      const done = await withJobs(opts, io, async (b) => {
        const list = await b.executions(jobId, status);
        if (list === undefined) throw new CliError('JOB_NOT_FOUND', `no job \`${jobId}\``, EXIT.INVALID, 'list jobs with `gatehouse jobs list`');
        if (opts.json) io.out(JSON.stringify(list.map((e) => ({ thing: e.thing, status: e.status, lastUpdatedAt: day(e.lastUpdatedAt), ...(e.executionNumber !== undefined ? { executionNumber: e.executionNumber } : {}) }))));
        else if (list.length === 0) io.out('no executions');
        else printTable(io, ['THING', 'STATUS', 'UPDATED'], list.map((e) => [e.thing, e.status, day(e.lastUpdatedAt)]));
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });
}
