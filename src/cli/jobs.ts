import type { Command } from 'commander';
import { JobService, type OperatorFailure } from '../api/data-plane/job-service.js';
import { JOB_ID, jobDocumentProblem, processDetails, timeoutProblem } from '../core/jobs/index.js';
import type { JobExecutionStatus } from '../core/jobs/execution.js';
import type { IotDeployment } from '../core/policy/iot/context.js';
import { assertThingGroupName, assertThingName } from '../identity/names.js';
import { createLogger } from '../observability/logger.js';
import { openRegistry } from '../identity/bootstrap.js';
import { dataDirOption, day, printTable, resolveDataDir, type DataDirOptions } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';
import { path, RemoteClient } from './remote/client.js';
import { collect, loadConfig } from './things.js';

// ----------------------------------------------------------------------------------
// gatehouse jobs create|list|show|cancel|delete|executions
//
// Locally the commands use the registry database of the data directory (a running
// gateway sharing it sees the jobs at once; its devices learn of a new job when they
// next ask: notifications are published by the gateway's own service, so create jobs
// through the management API, `--endpoint`, when devices wait on notify-next).

interface JobRow {
  readonly jobId: string;
  readonly status: string;
  readonly createdAt: Date;
  readonly description?: string;
  readonly targets?: readonly string[];
  readonly counts?: Readonly<Record<string, number>>;
  readonly document?: string;
  readonly inProgressTimeoutInMinutes?: number;
}

interface ExecRow {
  readonly thing: string;
  readonly status: string;
  readonly lastUpdatedAt: Date;
}

interface CreateInput {
  readonly jobId: string;
  readonly document: string;
  readonly things: readonly string[];
  readonly groups: readonly string[];
  readonly description?: string;
  readonly inProgressTimeoutInMinutes?: number;
}

interface JobsBackend {
  create(input: CreateInput): Promise<void>;
  list(status?: string): Promise<JobRow[]>;
  show(jobId: string): Promise<JobRow | undefined>;
  cancel(jobId: string, force: boolean, comment?: string): Promise<void>;
  delete(jobId: string, force: boolean): Promise<void>;
  executions(jobId: string, status?: string): Promise<ExecRow[] | undefined>;
}

function failure(f: OperatorFailure): CliError {
  const code = f.exception === 'ResourceNotFoundException' ? 'JOB_NOT_FOUND' : f.exception === 'ResourceAlreadyExistsException' ? 'JOB_EXISTS' : f.exception === 'InvalidStateTransitionException' ? 'JOB_STATE_CONFLICT' : 'JOB_INVALID';
  return new CliError(code, f.message, EXIT.INVALID, code === 'JOB_STATE_CONFLICT' ? 'cancel the job first (jobs cancel, with --force for in-progress executions), or pass --force' : 'check the job id, targets and document');
}

const arnOf = (d: IotDeployment, kind: 'thing' | 'thinggroup', name: string): string => `arn:${d.partition}:iot:${d.region}:${d.accountId}:${kind}/${name}`;

function localBackend(service: JobService, d: IotDeployment): JobsBackend {
  const row = (v: NonNullable<Awaited<ReturnType<JobService['describeJob']>>>): JobRow => ({
    jobId: v.job.jobId, status: v.job.status, createdAt: new Date(v.job.createdAt), ...(v.job.description !== undefined ? { description: v.job.description } : {}),
    targets: v.job.targets, counts: processDetails(v.executions), document: v.job.document,
    ...(v.job.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: v.job.inProgressTimeoutInMinutes } : {}),
  });
  return {
    async create(i) {
      const r = await service.createJob({
        jobId: i.jobId, document: i.document, targets: [...i.things.map((t) => arnOf(d, 'thing', t)), ...i.groups.map((g) => arnOf(d, 'thinggroup', g))],
        ...(i.description !== undefined ? { description: i.description } : {}), ...(i.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: i.inProgressTimeoutInMinutes } : {}),
      });
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
      return list?.map((e) => ({ thing: e.thingName, status: e.status, lastUpdatedAt: new Date(e.lastUpdatedAt) }));
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
        body: { targets, document: i.document, ...(i.description !== undefined ? { description: i.description } : {}), ...(i.inProgressTimeoutInMinutes !== undefined ? { timeoutConfig: { inProgressTimeoutInMinutes: i.inProgressTimeoutInMinutes } } : {}) },
      });
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
        targets: j['targets'] as string[], counts: j['jobProcessDetails'] as Record<string, number>, document: String(doc['document']),
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
        return { thing: String(e['thingArn']).replace(/^.*:thing\//, ''), status: String(s['status']), lastUpdatedAt: date(s['lastUpdatedAt']) };
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
  const registry = await openRegistry(resolveDataDir(opts.dataDir, config.value.gatehouse.dataDir));
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

function jobJson(j: JobRow): Record<string, unknown> {
  return {
    jobId: j.jobId, status: j.status, createdAt: day(j.createdAt), ...(j.description !== undefined ? { description: j.description } : {}),
    ...(j.targets !== undefined ? { targets: j.targets } : {}), ...(j.counts !== undefined ? { executions: j.counts } : {}),
    ...(j.document !== undefined ? { document: JSON.parse(j.document) as unknown } : {}),
    ...(j.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: j.inProgressTimeoutInMinutes } : {}),
  };
}

export function registerJobs(program: Command, io: Io, setExit: (code: number) => void): void {
  const jobs = program.command('jobs').description('jobs: a JSON document for things and thing groups to execute (AWS IoT Jobs, snapshot targets)');
  const withConfig = (cmd: Command): Command => dataDirOption(cmd).option('--config <file>', 'configuration file (gatehouse.iot names the ARNs of local targets)');

  withConfig(jobs.command('create').description('create a job for things and thing groups (the members of a group when the job is created)'))
    .argument('<job-id>', 'job id: 1-64 characters of A-Z a-z 0-9 _ -')
    .requiredOption('--document <json>', 'the job document: a JSON object (at most 32 KB)')
    .option('--thing <name>', 'a target thing (repeatable)', collect, [])
    .option('--thing-group <name>', 'a target thing group (repeatable)', collect, [])
    .option('--description <text>', 'description')
    .option('--in-progress-timeout <minutes>', 'minutes an execution may stay IN_PROGRESS (1 to 10080) before it is TIMED_OUT')
    .action(async (jobId: string, opts: JobsOptions & { document: string; thing: string[]; thingGroup: string[]; description?: string; inProgressTimeout?: string }) => {
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
          jobId, document: opts.document, things: opts.thing, groups: opts.thingGroup, ...(opts.description !== undefined ? { description: opts.description } : {}),
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
          io.out(`  targets:     ${(j.targets ?? []).join(', ')}`);
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

  withConfig(jobs.command('executions').description('list a job\'s executions: one per target thing'))
    .argument('<job-id>', 'job id')
    .option('--status <status>', `only executions in this status (${EXEC_STATUSES.join(', ')})`)
    .action(async (jobId: string, opts: JobsOptions & { status?: string }) => {
      assertJobId(jobId);
      const status = statusOption(opts.status, EXEC_STATUSES);
      const done = await withJobs(opts, io, async (b) => {
        const list = await b.executions(jobId, status);
        if (list === undefined) throw new CliError('JOB_NOT_FOUND', `no job \`${jobId}\``, EXIT.INVALID, 'list jobs with `gatehouse jobs list`');
        if (opts.json) io.out(JSON.stringify(list.map((e) => ({ thing: e.thing, status: e.status, lastUpdatedAt: day(e.lastUpdatedAt) }))));
        else if (list.length === 0) io.out('no executions');
        else printTable(io, ['THING', 'STATUS', 'UPDATED'], list.map((e) => [e.thing, e.status, day(e.lastUpdatedAt)]));
        return true;
      });
      setExit(done === undefined ? EXIT.INVALID : EXIT.OK);
    });
}
