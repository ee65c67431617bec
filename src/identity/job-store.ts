/**
 * Where jobs are kept: the `jobs`, `job_targets` and `job_executions` tables of the
 * registry database (migration steps 8 and 9), over the registry's connection
 * (`registry.jobs()`).
 *
 * The store knows rows, not semantics (those are `core/jobs/`). Every change runs in
 * `transact`: the caller's function reads and writes through a `JobTx` inside one
 * IMMEDIATE transaction, so two updates of one execution cannot both pass the same
 * version check. The function must not have other effects (it may run again if the
 * database was busy).
 */
import type Database from 'better-sqlite3';
import { timeoutAt, type JobExecution, type JobExecutionStatus, type StatusDetails } from '../core/jobs/execution.js';
import type { Job, JobStatus, TargetSelection } from '../core/jobs/job.js';
import type { ControlConnection } from './sqlite-control.js';

export interface JobTx {
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
}

export interface JobStore {
  transact<T>(fn: (tx: JobTx) => T): Promise<T>;
  read<T>(fn: (tx: JobTx) => T): Promise<T>;
}

interface JobRow {
  job_id: string; document: string; description: string | null; in_progress_timeout_minutes: number | null; status: string; target_selection: string;
  force_canceled: number; comment: string | null; reason_code: string | null; created_at: number; last_updated_at: number; completed_at: number | null;
}

interface ExecRow {
  job_id: string; thing_name: string; execution_number: number; status: string; status_details: string; version: number; queued_at: number;
  started_at: number | null; last_updated_at: number; step_timeout_at: number | null; in_progress_timeout_minutes: number | null; force_canceled: number;
}

function execution(r: ExecRow): JobExecution {
  return {
    jobId: r.job_id, thingName: r.thing_name, executionNumber: r.execution_number, status: r.status as JobExecutionStatus,
    statusDetails: JSON.parse(r.status_details) as StatusDetails, versionNumber: r.version, queuedAt: r.queued_at,
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}), lastUpdatedAt: r.last_updated_at,
    ...(r.step_timeout_at !== null ? { stepTimeoutAt: r.step_timeout_at } : {}),
    ...(r.in_progress_timeout_minutes !== null ? { inProgressTimeoutInMinutes: r.in_progress_timeout_minutes } : {}),
    ...(r.force_canceled === 1 ? { forceCanceled: true } : {}),
  };
}

export class SqliteJobStore implements JobStore {
  readonly #c: ControlConnection;
  readonly #tx: JobTx;

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
    const job = (r: JobRow): Job => ({
      jobId: r.job_id, document: r.document, ...(r.description !== null ? { description: r.description } : {}),
      targets: (s.targets.all(r.job_id) as { target_arn: string }[]).map((t) => t.target_arn), targetSelection: r.target_selection as TargetSelection,
      ...(r.in_progress_timeout_minutes !== null ? { inProgressTimeoutInMinutes: r.in_progress_timeout_minutes } : {}),
      status: r.status as JobStatus, ...(r.force_canceled === 1 ? { forceCanceled: true } : {}),
      ...(r.comment !== null ? { comment: r.comment } : {}), ...(r.reason_code !== null ? { reasonCode: r.reason_code } : {}),
      createdAt: r.created_at, lastUpdatedAt: r.last_updated_at, ...(r.completed_at !== null ? { completedAt: r.completed_at } : {}),
    });
    this.#tx = {
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
        s.putJob.run({
          jobId: j.jobId, document: j.document, description: j.description ?? null, timeout: j.inProgressTimeoutInMinutes ?? null, status: j.status,
          forceCanceled: j.forceCanceled === true ? 1 : 0, comment: j.comment ?? null, reasonCode: j.reasonCode ?? null,
          createdAt: j.createdAt, lastUpdatedAt: j.lastUpdatedAt, completedAt: j.completedAt ?? null, targetSelection: j.targetSelection,
        });
        j.targets.forEach((t, i) => s.putTarget.run(j.jobId, i, t));
      },
      deleteJob: (jobId) => void s.deleteJob.run(jobId),
      thingExists: (name) => s.thing.get(name) !== undefined,
      groupExists: (name) => s.group.get(name) !== undefined,
      groupMembers: (name) => (s.members.all(name) as { thing_name: string }[]).map((r) => r.thing_name),
      execution: (jobId, thingName) => {
        const r = s.exec.get(jobId, thingName) as ExecRow | undefined;
        return r === undefined ? undefined : execution(r);
      },
      executionsOfJob: (jobId) => (s.execsOfJob.all(jobId) as ExecRow[]).map(execution),
      executionsOfThing: (thingName) => (s.execsOfThing.all(thingName) as ExecRow[]).map(execution),
      pendingExecutionsOfThing: (thingName) => (s.pendingOfThing.all(thingName) as ExecRow[]).map(execution),
      completableJobs: (thingName) => (s.completable.all(thingName) as { job_id: string }[]).map((r) => r.job_id),
      putExecution: (e) => {
        s.putExec.run({
          jobId: e.jobId, thingName: e.thingName, executionNumber: e.executionNumber, status: e.status, statusDetails: JSON.stringify(e.statusDetails),
          version: e.versionNumber, queuedAt: e.queuedAt, startedAt: e.startedAt ?? null, lastUpdatedAt: e.lastUpdatedAt,
          stepTimeoutAt: e.stepTimeoutAt ?? null, timeout: e.inProgressTimeoutInMinutes ?? null, forceCanceled: e.forceCanceled === true ? 1 : 0,
          timeoutAt: timeoutAt(e) ?? null,
        });
      },
      deleteExecution: (jobId, thingName) => void s.deleteExec.run(jobId, thingName),
      dueExecutions: (now, limit) => (s.due.all(now, Math.max(1, limit)) as ExecRow[]).map(execution),
      continuousJobs: () => (s.continuous.all() as JobRow[]).map(job),
    };
  }

  transact<T>(fn: (tx: JobTx) => T): Promise<T> {
    return settled(() => this.#c.write(() => fn(this.#tx)));
  }

  read<T>(fn: (tx: JobTx) => T): Promise<T> {
    return settled(() => this.#c.read(() => fn(this.#tx)));
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
