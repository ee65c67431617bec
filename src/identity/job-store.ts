/**
 * Where jobs are kept: the `jobs`, `job_targets` and `job_executions` tables of the
 * registry database — SQLite (migration steps 8 to 10) or PostgreSQL (pg-job-store.ts) —
 * over the registry's connection (`registry.jobs()`).
 *
 * The store knows rows, not semantics (those are `core/jobs/`). Every change runs in
 * `transact`: the caller's function reads and writes through a `JobTx` inside one
 * transaction in which no other job change can interleave, so two updates of one
 * execution cannot both pass the same version check. The function must not have other
 * effects (it may run again if the database was busy).
 *
 * The function is a generator: each `yield* tx.query(...)` hands one query to the store
 * and receives its result. One body of job logic therefore runs on both backends
 * without giving up SQLite's synchronous transactions — the SQLite store answers each
 * query at once inside one IMMEDIATE transaction (nothing else can run on its connection
 * in between), the PostgreSQL store awaits each query on its transaction's connection.
 */
import type Database from 'better-sqlite3';
import { timeoutAt, type JobExecution, type JobExecutionStatus, type StatusDetails } from '../core/jobs/execution.js';
import type { Job, JobStatus, TargetSelection } from '../core/jobs/job.js';
import type { ControlConnection } from './sqlite-control.js';
import { drive, driveAsync, type Step } from './steps.js';

/** A message for a thing's MQTT topic that the store carries to every node (see `JobStore.relaysAnnouncements`). */
export interface Announcement {
  readonly topic: string;
  readonly payload: string;
}

/** The queries of a job transaction, as a backend answers them. */
export interface JobQueries {
  job(jobId: string): Job | undefined;
  /** Jobs in creation order (then id), after the job `after`, at most `limit`, optionally of one status. */
  jobs(options: { readonly status?: JobStatus; readonly after?: { createdAt: number; jobId: string }; readonly limit: number }): Job[];
  putJob(job: Job): void;
  deleteJob(jobId: string): void;
  thingExists(thingName: string): boolean;
  groupExists(groupName: string): boolean;
  /** The things in a group and in its descendant groups, by name. */
  groupMembers(groupName: string): string[];
  execution(jobId: string, thingName: string): JobExecution | undefined;
  executionsOfJob(jobId: string): JobExecution[];
  executionsOfThing(thingName: string): JobExecution[];
  /** The thing's QUEUED and IN_PROGRESS executions (queued time, then job id): what a device request works on. */
  pendingExecutionsOfThing(thingName: string): JobExecution[];
  /** The IN_PROGRESS snapshot jobs with an execution on this thing and no QUEUED or IN_PROGRESS execution left (as stored). */
  completableJobs(thingName: string): string[];
  putExecution(e: JobExecution): void;
  deleteExecution(jobId: string, thingName: string): void;
  /** IN_PROGRESS executions whose stored deadline is at or before `now`, earliest first, at most `limit`. */
  dueExecutions(now: number, limit: number): JobExecution[];
  /** The IN_PROGRESS continuous jobs. */
  continuousJobs(): Job[];
  /** Records messages to publish on every node once the transaction commits (only where `relaysAnnouncements`). */
  announce(messages: readonly Announcement[]): void;
}

/** The same queries answered asynchronously (the PostgreSQL store). */
export type AsyncJobQueries = { readonly [K in keyof JobQueries]: (...args: Parameters<JobQueries[K]>) => Promise<ReturnType<JobQueries[K]>> };

/** One query handed to the store: a method of `JobQueries` and its arguments. */
export type JobQuery = { readonly [K in keyof JobQueries]: { readonly method: K; readonly args: Parameters<JobQueries[K]> } }[keyof JobQueries];

/** A piece of job logic: yields queries, receives their results, returns `T`. */
export type JobStep<T> = Step<JobQuery, T>;

/** A job transaction as the logic sees it: each query is a step to delegate to (`yield* tx.job(id)`). */
export type JobTx = { readonly [K in keyof JobQueries]: (...args: Parameters<JobQueries[K]>) => JobStep<ReturnType<JobQueries[K]>> };

function query<K extends keyof JobQueries>(method: K): (...args: Parameters<JobQueries[K]>) => JobStep<ReturnType<JobQueries[K]>> {
  return function* ask(...args) {
    // The store answers this query with what `JobQueries[K]` returns (runSync / runAsync).
    return (yield { method, args } as JobQuery) as ReturnType<JobQueries[K]>;
  };
}

/** The transaction handle every store passes to the logic. */
export const JOB_TX: JobTx = {
  job: query('job'), jobs: query('jobs'), putJob: query('putJob'), deleteJob: query('deleteJob'), thingExists: query('thingExists'),
  groupExists: query('groupExists'), groupMembers: query('groupMembers'), execution: query('execution'), executionsOfJob: query('executionsOfJob'),
  executionsOfThing: query('executionsOfThing'), pendingExecutionsOfThing: query('pendingExecutionsOfThing'), completableJobs: query('completableJobs'),
  putExecution: query('putExecution'), deleteExecution: query('deleteExecution'), dueExecutions: query('dueExecutions'), continuousJobs: query('continuousJobs'),
  announce: query('announce'),
};

type AnyQuery = (...args: unknown[]) => unknown;

/** Runs a step to its end, answering each query synchronously. */
export function runSync<T>(step: JobStep<T>, queries: JobQueries): T {
  return drive(step, (q) => (queries[q.method] as AnyQuery)(...q.args));
}

/** Runs a step to its end, awaiting each query. */
export function runAsync<T>(step: JobStep<T>, queries: AsyncJobQueries): Promise<T> {
  return driveAsync(step, (q) => (queries[q.method] as (...args: unknown[]) => Promise<unknown>)(...q.args));
}

export interface JobStore {
  /**
   * True when the store delivers the announcements recorded with `JobTx.announce` to every
   * node sharing it (PostgreSQL: through the registry's change feed, in the transaction);
   * false when the service publishes them itself after the commit (SQLite: one node).
   */
  readonly relaysAnnouncements: boolean;
  transact<T>(fn: (tx: JobTx) => JobStep<T>): Promise<T>;
  read<T>(fn: (tx: JobTx) => JobStep<T>): Promise<T>;
}

// ---------------------------------------------------------------- rows (both backends)

/** A `jobs` row as both backends return it (times in ms, flags 0/1). */
export interface JobRow {
  job_id: string; document: string; description: string | null; in_progress_timeout_minutes: number | null; status: string; target_selection: string;
  force_canceled: number; comment: string | null; reason_code: string | null; created_at: number; last_updated_at: number; completed_at: number | null;
}

/** A `job_executions` row as both backends return it. */
export interface ExecRow {
  job_id: string; thing_name: string; execution_number: number; status: string; status_details: string; version: number; queued_at: number;
  started_at: number | null; last_updated_at: number; step_timeout_at: number | null; in_progress_timeout_minutes: number | null; force_canceled: number;
}

export function jobFromRow(r: JobRow, targets: readonly string[]): Job {
  return {
    jobId: r.job_id, document: r.document, ...(r.description !== null ? { description: r.description } : {}),
    targets: [...targets], targetSelection: r.target_selection as TargetSelection,
    ...(r.in_progress_timeout_minutes !== null ? { inProgressTimeoutInMinutes: r.in_progress_timeout_minutes } : {}),
    status: r.status as JobStatus, ...(r.force_canceled === 1 ? { forceCanceled: true } : {}),
    ...(r.comment !== null ? { comment: r.comment } : {}), ...(r.reason_code !== null ? { reasonCode: r.reason_code } : {}),
    createdAt: r.created_at, lastUpdatedAt: r.last_updated_at, ...(r.completed_at !== null ? { completedAt: r.completed_at } : {}),
  };
}

export function executionFromRow(r: ExecRow): JobExecution {
  return {
    jobId: r.job_id, thingName: r.thing_name, executionNumber: r.execution_number, status: r.status as JobExecutionStatus,
    statusDetails: JSON.parse(r.status_details) as StatusDetails, versionNumber: r.version, queuedAt: r.queued_at,
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}), lastUpdatedAt: r.last_updated_at,
    ...(r.step_timeout_at !== null ? { stepTimeoutAt: r.step_timeout_at } : {}),
    ...(r.in_progress_timeout_minutes !== null ? { inProgressTimeoutInMinutes: r.in_progress_timeout_minutes } : {}),
    ...(r.force_canceled === 1 ? { forceCanceled: true } : {}),
  };
}

/** A job's column values, by name, for an INSERT … ON CONFLICT of the `jobs` row. */
export function jobValues(j: Job): {
  jobId: string; document: string; description: string | null; timeout: number | null; status: string; forceCanceled: number; comment: string | null;
  reasonCode: string | null; createdAt: number; lastUpdatedAt: number; completedAt: number | null; targetSelection: string;
} {
  return {
    jobId: j.jobId, document: j.document, description: j.description ?? null, timeout: j.inProgressTimeoutInMinutes ?? null, status: j.status,
    forceCanceled: j.forceCanceled === true ? 1 : 0, comment: j.comment ?? null, reasonCode: j.reasonCode ?? null,
    createdAt: j.createdAt, lastUpdatedAt: j.lastUpdatedAt, completedAt: j.completedAt ?? null, targetSelection: j.targetSelection,
  };
}

/** An execution's column values, by name (`timeoutAt`: the stored deadline the sweeper reads). */
export function executionValues(e: JobExecution): {
  jobId: string; thingName: string; executionNumber: number; status: string; statusDetails: string; version: number; queuedAt: number; startedAt: number | null;
  lastUpdatedAt: number; stepTimeoutAt: number | null; timeout: number | null; forceCanceled: number; timeoutAt: number | null;
} {
  return {
    jobId: e.jobId, thingName: e.thingName, executionNumber: e.executionNumber, status: e.status, statusDetails: JSON.stringify(e.statusDetails),
    version: e.versionNumber, queuedAt: e.queuedAt, startedAt: e.startedAt ?? null, lastUpdatedAt: e.lastUpdatedAt,
    stepTimeoutAt: e.stepTimeoutAt ?? null, timeout: e.inProgressTimeoutInMinutes ?? null, forceCanceled: e.forceCanceled === true ? 1 : 0,
    timeoutAt: timeoutAt(e) ?? null,
  };
}

export class SqliteJobStore implements JobStore {
  readonly relaysAnnouncements = false;
  readonly #c: ControlConnection;
  readonly #queries: JobQueries;

  constructor(connection: ControlConnection) {
    this.#c = connection;
    const db = connection.db;
    const p = (sql: string): Database.Statement => db.prepare(sql);
    const s = {
      job: p('SELECT * FROM jobs WHERE job_id = ?'),
      targets: p('SELECT target_arn FROM job_targets WHERE job_id = ? ORDER BY position'),
      jobs: p(`SELECT * FROM jobs WHERE (? IS NULL OR status = ?) AND (created_at > ? OR (created_at = ? AND job_id > ?)) ORDER BY created_at, job_id LIMIT ?`),
      putJob: p(`INSERT INTO jobs (job_id, document, description, in_progress_timeout_minutes, status, force_canceled, comment, reason_code, created_at, last_updated_at, completed_at, target_selection)
        VALUES (@jobId, @document, @description, @timeout, @status, @forceCanceled, @comment, @reasonCode, @createdAt, @lastUpdatedAt, @completedAt, @targetSelection)
        ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, force_canceled = excluded.force_canceled, comment = excluded.comment,
          reason_code = excluded.reason_code, last_updated_at = excluded.last_updated_at, completed_at = excluded.completed_at,
          description = excluded.description, in_progress_timeout_minutes = excluded.in_progress_timeout_minutes`),
      putTarget: p('INSERT OR IGNORE INTO job_targets (job_id, position, target_arn) VALUES (?, ?, ?)'),
      deleteJob: p('DELETE FROM jobs WHERE job_id = ?'),
      thing: p('SELECT 1 AS x FROM things WHERE name = ?'),
      group: p('SELECT 1 AS x FROM thing_groups WHERE name = ?'),
      members: p(`WITH RECURSIVE g(name) AS (SELECT ? UNION SELECT c.name FROM thing_groups c JOIN g ON c.parent = g.name)
        SELECT DISTINCT m.thing_name FROM thing_group_members m JOIN g ON m.group_name = g.name ORDER BY m.thing_name`),
      exec: p('SELECT * FROM job_executions WHERE job_id = ? AND thing_name = ?'),
      execsOfJob: p('SELECT * FROM job_executions WHERE job_id = ? ORDER BY thing_name'),
      execsOfThing: p('SELECT * FROM job_executions WHERE thing_name = ? ORDER BY queued_at, job_id'),
      pendingOfThing: p(`SELECT * FROM job_executions WHERE thing_name = ? AND status IN ('QUEUED', 'IN_PROGRESS') ORDER BY queued_at, job_id`),
      completable: p(`SELECT j.job_id FROM jobs j JOIN job_executions e ON e.job_id = j.job_id AND e.thing_name = ?
        WHERE j.status = 'IN_PROGRESS' AND j.target_selection = 'SNAPSHOT'
          AND NOT EXISTS (SELECT 1 FROM job_executions p WHERE p.job_id = j.job_id AND p.status IN ('QUEUED', 'IN_PROGRESS'))`),
      putExec: p(`INSERT INTO job_executions (job_id, thing_name, execution_number, status, status_details, version, queued_at, started_at, last_updated_at, step_timeout_at, in_progress_timeout_minutes, force_canceled, timeout_at)
        VALUES (@jobId, @thingName, @executionNumber, @status, @statusDetails, @version, @queuedAt, @startedAt, @lastUpdatedAt, @stepTimeoutAt, @timeout, @forceCanceled, @timeoutAt)
        ON CONFLICT (job_id, thing_name) DO UPDATE SET execution_number = excluded.execution_number, status = excluded.status, status_details = excluded.status_details,
          version = excluded.version, queued_at = excluded.queued_at, started_at = excluded.started_at, last_updated_at = excluded.last_updated_at,
          step_timeout_at = excluded.step_timeout_at, in_progress_timeout_minutes = excluded.in_progress_timeout_minutes, force_canceled = excluded.force_canceled,
          timeout_at = excluded.timeout_at`),
      deleteExec: p('DELETE FROM job_executions WHERE job_id = ? AND thing_name = ?'),
      due: p(`SELECT * FROM job_executions WHERE timeout_at IS NOT NULL AND timeout_at <= ? AND status = 'IN_PROGRESS' ORDER BY timeout_at LIMIT ?`),
      continuous: p(`SELECT * FROM jobs WHERE target_selection = 'CONTINUOUS' AND status = 'IN_PROGRESS' ORDER BY created_at, job_id`),
    };
    const job = (r: JobRow): Job => jobFromRow(r, (s.targets.all(r.job_id) as { target_arn: string }[]).map((t) => t.target_arn));
    this.#queries = {
      job: (jobId) => {
        const r = s.job.get(jobId) as JobRow | undefined;
        return r === undefined ? undefined : job(r);
      },
      jobs: (o) => {
        const st = o.status ?? null;
        const a = o.after ?? { createdAt: -1, jobId: '' };
        return (s.jobs.all(st, st, a.createdAt, a.createdAt, a.jobId, Math.max(1, o.limit)) as JobRow[]).map(job);
      },
      putJob: (j) => {
        s.putJob.run(jobValues(j));
        j.targets.forEach((t, i) => s.putTarget.run(j.jobId, i, t));
      },
      deleteJob: (jobId) => void s.deleteJob.run(jobId),
      thingExists: (name) => s.thing.get(name) !== undefined,
      groupExists: (name) => s.group.get(name) !== undefined,
      groupMembers: (name) => (s.members.all(name) as { thing_name: string }[]).map((r) => r.thing_name),
      execution: (jobId, thingName) => {
        const r = s.exec.get(jobId, thingName) as ExecRow | undefined;
        return r === undefined ? undefined : executionFromRow(r);
      },
      executionsOfJob: (jobId) => (s.execsOfJob.all(jobId) as ExecRow[]).map(executionFromRow),
      executionsOfThing: (thingName) => (s.execsOfThing.all(thingName) as ExecRow[]).map(executionFromRow),
      pendingExecutionsOfThing: (thingName) => (s.pendingOfThing.all(thingName) as ExecRow[]).map(executionFromRow),
      completableJobs: (thingName) => (s.completable.all(thingName) as { job_id: string }[]).map((r) => r.job_id),
      putExecution: (e) => void s.putExec.run(executionValues(e)),
      deleteExecution: (jobId, thingName) => void s.deleteExec.run(jobId, thingName),
      dueExecutions: (now, limit) => (s.due.all(now, Math.max(1, limit)) as ExecRow[]).map(executionFromRow),
      continuousJobs: () => (s.continuous.all() as JobRow[]).map(job),
      announce: () => {
        throw new Error('the SQLite job store relays no announcements: the service publishes them');
      },
    };
  }

  transact<T>(fn: (tx: JobTx) => JobStep<T>): Promise<T> {
    return settled(() => this.#c.write(() => runSync(fn(JOB_TX), this.#queries)));
  }

  read<T>(fn: (tx: JobTx) => JobStep<T>): Promise<T> {
    return settled(() => this.#c.read(() => runSync(fn(JOB_TX), this.#queries)));
  }
}

/** The result of a synchronous database call as a promise (its exception as a rejection). */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}
