/**
 * Jobs in the PostgreSQL registry (tables `jobs`, `job_targets`, `job_executions`,
 * PostgreSQL step 4): the same store contract and the same rows as the SQLite one
 * (job-store.ts), for several gateways sharing one database.
 *
 * - Every change runs in the registry's write transaction, which holds the registry's
 *   write lock (`registry_meta.last_seq`, `SELECT … FOR UPDATE`) from its start: job
 *   changes from every node take turns, as they do on one SQLite file, so two nodes can
 *   neither pass the same version check of one execution nor time one execution out
 *   twice (each sweeper reads the due executions after the previous change committed).
 * - The notify / notify-next messages a change makes are recorded in the same
 *   transaction as `SERVICE_MESSAGE` rows of the change feed: every node reads the feed
 *   (LISTEN/NOTIFY, polling as a fallback) and publishes them on its broker, so a device
 *   hears of a job created through any node on the node it is connected to. A rolled-back
 *   change announces nothing.
 * - Reads run in one REPEATABLE READ snapshot.
 */
import type { Job } from '../core/jobs/job.js';
import {
  executionFromRow, executionValues, JOB_TX, jobFromRow, jobValues, runAsync,
  type Announcement, type AsyncJobQueries, type ExecRow, type JobRow, type JobStep, type JobStore, type JobTx,
} from './job-store.js';
import type { PgTx } from './pg-tx.js';

/** What the store needs of the registry: a snapshot read, a write under the registry's write lock, and a feed row. */
export interface PgJobConnection {
  read<T>(fn: (tx: PgTx) => Promise<T>): Promise<T>;
  write<T>(fn: (tx: PgTx) => Promise<T>): Promise<T>;
  /** Records a message in the write transaction's change feed. */
  announce(tx: PgTx, message: Announcement): Promise<void>;
}

type JobRowWithTargets = JobRow & { targets: string[] };

const JOB = `SELECT j.*, ARRAY(SELECT t.target_arn FROM job_targets t WHERE t.job_id = j.job_id ORDER BY t.position) AS targets FROM jobs j`;

export class PgJobStore implements JobStore {
  readonly relaysAnnouncements = true;
  readonly #c: PgJobConnection;

  constructor(connection: PgJobConnection) {
    this.#c = connection;
  }

  transact<T>(fn: (tx: JobTx) => JobStep<T>): Promise<T> {
    return this.#c.write((tx) => runAsync(fn(JOB_TX), this.#queries(tx)));
  }

  read<T>(fn: (tx: JobTx) => JobStep<T>): Promise<T> {
    return this.#c.read((tx) => runAsync(fn(JOB_TX), this.#queries(tx)));
  }

  #queries(tx: PgTx): AsyncJobQueries {
    const job = (r: JobRowWithTargets): Job => jobFromRow(r, r.targets);
    const execs = async (sql: string, params: readonly unknown[]): Promise<ReturnType<typeof executionFromRow>[]> => (await tx.rows<ExecRow>(sql, params)).map(executionFromRow);
    return {
      job: async (jobId) => {
        const r = await tx.one<JobRowWithTargets>(`${JOB} WHERE j.job_id = $1`, [jobId]);
        return r === undefined ? undefined : job(r);
      },
      jobs: async (o) => {
        const a = o.after ?? { createdAt: -1, jobId: '' };
        return (await tx.rows<JobRowWithTargets>(`${JOB} WHERE ($1::text IS NULL OR j.status = $1) AND (j.created_at > $2 OR (j.created_at = $2 AND j.job_id > $3))
          ORDER BY j.created_at, j.job_id LIMIT $4`, [o.status ?? null, a.createdAt, a.jobId, Math.max(1, o.limit)])).map(job);
      },
      putJob: async (j) => {
        const v = jobValues(j);
        await tx.run(`INSERT INTO jobs (job_id, document, description, in_progress_timeout_minutes, status, force_canceled, comment, reason_code, created_at, last_updated_at, completed_at, target_selection)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
          ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, force_canceled = excluded.force_canceled, comment = excluded.comment,
            reason_code = excluded.reason_code, last_updated_at = excluded.last_updated_at, completed_at = excluded.completed_at,
            description = excluded.description, in_progress_timeout_minutes = excluded.in_progress_timeout_minutes`,
        [v.jobId, v.document, v.description, v.timeout, v.status, v.forceCanceled, v.comment, v.reasonCode, v.createdAt, v.lastUpdatedAt, v.completedAt, v.targetSelection]);
        if (j.targets.length > 0) {
          await tx.run(`INSERT INTO job_targets (job_id, position, target_arn) SELECT $1, p - 1, t FROM unnest($2::text[]) WITH ORDINALITY AS u(t, p)
            ON CONFLICT (job_id, position) DO NOTHING`, [j.jobId, j.targets]);
        }
      },
      deleteJob: async (jobId) => void await tx.run('DELETE FROM jobs WHERE job_id = $1', [jobId]),
      thingExists: async (name) => (await tx.one('SELECT 1 AS x FROM things WHERE name = $1', [name])) !== undefined,
      groupExists: async (name) => (await tx.one('SELECT 1 AS x FROM thing_groups WHERE name = $1', [name])) !== undefined,
      groupMembers: async (name) => (await tx.rows<{ thing_name: string }>(`WITH RECURSIVE g(name) AS (SELECT $1::text COLLATE "C" UNION SELECT c.name FROM thing_groups c JOIN g ON c.parent = g.name)
        SELECT DISTINCT m.thing_name FROM thing_group_members m JOIN g ON m.group_name = g.name ORDER BY m.thing_name`, [name])).map((r) => r.thing_name),
      execution: async (jobId, thingName) => (await execs('SELECT * FROM job_executions WHERE job_id = $1 AND thing_name = $2', [jobId, thingName]))[0],
      executionsOfJob: (jobId) => execs('SELECT * FROM job_executions WHERE job_id = $1 ORDER BY thing_name', [jobId]),
      executionsOfThing: (thingName) => execs('SELECT * FROM job_executions WHERE thing_name = $1 ORDER BY queued_at, job_id', [thingName]),
      pendingExecutionsOfThing: (thingName) => execs(`SELECT * FROM job_executions WHERE thing_name = $1 AND status IN ('QUEUED', 'IN_PROGRESS') ORDER BY queued_at, job_id`, [thingName]),
      completableJobs: async (thingName) => (await tx.rows<{ job_id: string }>(`SELECT j.job_id FROM jobs j JOIN job_executions e ON e.job_id = j.job_id AND e.thing_name = $1
        WHERE j.status = 'IN_PROGRESS' AND j.target_selection = 'SNAPSHOT'
          AND NOT EXISTS (SELECT 1 FROM job_executions p WHERE p.job_id = j.job_id AND p.status IN ('QUEUED', 'IN_PROGRESS'))
        ORDER BY j.job_id`, [thingName])).map((r) => r.job_id),
      putExecution: async (e) => {
        const v = executionValues(e);
        await tx.run(`INSERT INTO job_executions (job_id, thing_name, execution_number, status, status_details, version, queued_at, started_at, last_updated_at, step_timeout_at, in_progress_timeout_minutes, force_canceled, timeout_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
          ON CONFLICT (job_id, thing_name) DO UPDATE SET execution_number = excluded.execution_number, status = excluded.status, status_details = excluded.status_details,
            version = excluded.version, queued_at = excluded.queued_at, started_at = excluded.started_at, last_updated_at = excluded.last_updated_at,
            step_timeout_at = excluded.step_timeout_at, in_progress_timeout_minutes = excluded.in_progress_timeout_minutes, force_canceled = excluded.force_canceled,
            timeout_at = excluded.timeout_at`,
        [v.jobId, v.thingName, v.executionNumber, v.status, v.statusDetails, v.version, v.queuedAt, v.startedAt, v.lastUpdatedAt, v.stepTimeoutAt, v.timeout, v.forceCanceled, v.timeoutAt]);
      },
      deleteExecution: async (jobId, thingName) => void await tx.run('DELETE FROM job_executions WHERE job_id = $1 AND thing_name = $2', [jobId, thingName]),
      dueExecutions: (now, limit) => execs(`SELECT * FROM job_executions WHERE timeout_at IS NOT NULL AND timeout_at <= $1 AND status = 'IN_PROGRESS'
        ORDER BY timeout_at, job_id, thing_name LIMIT $2`, [now, Math.max(1, limit)]),
      continuousJobs: async () => (await tx.rows<JobRowWithTargets>(`${JOB} WHERE j.target_selection = 'CONTINUOUS' AND j.status = 'IN_PROGRESS' ORDER BY j.created_at, j.job_id`)).map(job),
      announce: async (messages) => {
        for (const m of messages) await this.#c.announce(tx, m);
      },
    };
  }
}
