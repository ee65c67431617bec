/**
 * The jobs service: the semantics of `core/jobs/` over the store in the registry
 * database, shared by the operators' API (management, mgmt/iot/jobs.ts, and the CLI)
 * and the devices' two ways in (the MQTT topics, job-mqtt.ts, and the HTTPS endpoints,
 * job-routes.ts). Authorization happens before a call reaches it.
 *
 * Every change to a thing's pending executions is announced on its MQTT topics as AWS
 * IoT does (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html):
 * `$aws/things/THING/jobs/notify` when the list of pending executions changes (an
 * execution added, or moved in or out of QUEUED / IN_PROGRESS), and
 * `$aws/things/THING/jobs/notify-next` when the next pending execution changes.
 *
 * Timeouts: `sweepTimeouts` (called by the gateway's sweeper, job-sweeper.ts, about once
 * a second) writes the IN_PROGRESS executions whose stored deadline has passed as
 * TIMED_OUT, as of their expiry, and announces the change. A thing's executions are
 * also settled whenever they are touched (a device request, an operator's change), and
 * operator reads show settled executions without writing, so no answer shows an
 * expired execution as IN_PROGRESS between two sweeps.
 *
 * Several gateways on one shared registry: the announcements are computed inside the
 * transaction that made the change. A store that relays them (PostgreSQL) records them
 * with the change, and every node publishes them on its own broker, so the device hears
 * them on whichever node it is connected to; otherwise (SQLite, one node) the service
 * publishes them once the transaction has committed.
 *
 * The logic is written as generators over `JobTx` (job-store.ts): `yield*` hands each
 * query to the store, which answers synchronously (SQLite) or asynchronously (PostgreSQL).
 *
 * Continuous jobs: `reconcileContinuous` (called by the gateway at start and whenever
 * thing-group membership changes) queues an execution for every thing that joined a
 * target group and moves the QUEUED execution of a thing that left to REMOVED.
 */
import {
  cancelExecution, cancelOneExecution, isPending, isTerminal, jobFailure, nextPending, queuedExecution, removeExecution, settle, startExecution, updateExecution,
  type JobExecution, type JobExecutionStatus, type JobFailure, type StatusDetails, type UpdateRequest,
} from '../../core/jobs/execution.js';
import {
  executionDocument, executionSummary, parseTarget, settledJobStatus, type Job, type JobStatus, type TargetSelection,
} from '../../core/jobs/job.js';
import type { IotDeployment } from '../../core/policy/iot/context.js';
import type { Announcement, JobStep, JobStore, JobTx } from '../../identity/job-store.js';
import type { Logger } from '../../observability/logger.js';

export interface JobPublisher {
  publish(topic: string, payload: string): Promise<void>;
}

export interface JobServiceOptions {
  readonly store: JobStore;
  readonly clock: () => Date;
  readonly logger: Logger;
  readonly deployment: () => IotDeployment;
  readonly publisher?: JobPublisher;
}

/** An operator-side failure: the AWS exception name and message. */
export interface OperatorFailure {
  readonly ok: false;
  readonly exception: 'InvalidRequestException' | 'ResourceNotFoundException' | 'ResourceAlreadyExistsException' | 'InvalidStateTransitionException' | 'LimitExceededException' | 'VersionConflictException';
  readonly message: string;
}

const opFail = (exception: OperatorFailure['exception'], message: string): OperatorFailure => ({ ok: false, exception, message });

export interface CreateJobInput {
  readonly jobId: string;
  readonly document: string;
  readonly description?: string;
  readonly targets: readonly string[];
  readonly targetSelection?: TargetSelection;
  readonly inProgressTimeoutInMinutes?: number;
}

/** UpdateJob's changes: an absent member is left as it is. */
export interface UpdateJobInput {
  readonly description?: string;
  readonly inProgressTimeoutInMinutes?: number;
}

/** An execution the sweeper timed out. */
export interface TimedOut {
  readonly jobId: string;
  readonly thingName: string;
  readonly executionNumber: number;
  /** When it timed out (its deadline), epoch ms. */
  readonly at: number;
}

export interface JobView {
  readonly job: Job;
  readonly executions: readonly JobExecution[];
}

/** A thing's pending state as the notify topics carry it. */
interface PendingState {
  readonly list: string;
  readonly next: string;
}

/** What a changing transaction returns: its result and the pending state before of each thing it touched. */
interface Changed<R> {
  readonly result: R;
  readonly before: ReadonlyMap<string, PendingState>;
}

const NOTHING_TOUCHED: ReadonlyMap<string, PendingState> = new Map();

const unchanged = <R>(result: R): Changed<R> => ({ result, before: NOTHING_TOUCHED });

export class JobService {
  readonly #o: JobServiceOptions;

  constructor(options: JobServiceOptions) {
    this.#o = options;
  }

  #now(): number {
    return this.#o.clock().getTime();
  }

  // ------------------------------------------------------------------ operators

  async createJob(input: CreateJobInput): Promise<{ ok: true; job: Job } | OperatorFailure> {
    const now = this.#now();
    const dep = this.#o.deployment();
    return this.#change(now, function* (tx): JobStep<Changed<{ ok: true; job: Job } | OperatorFailure>> {
      if ((yield* tx.job(input.jobId)) !== undefined) return unchanged(opFail('ResourceAlreadyExistsException', `job ${input.jobId} already exists`));
      const things = new Set<string>();
      for (const t of input.targets) {
        const p = parseTarget(t, dep);
        if (p === undefined) return unchanged(opFail('InvalidRequestException', `target ${t} is not a thing or thing group ARN of this gateway's account and region`));
        if (p.kind === 'thing') {
          if (!(yield* tx.thingExists(p.name))) return unchanged(opFail('ResourceNotFoundException', `thing ${p.name} does not exist`));
          things.add(p.name);
        } else {
          if (!(yield* tx.groupExists(p.name))) return unchanged(opFail('ResourceNotFoundException', `thing group ${p.name} does not exist`));
          for (const m of yield* tx.groupMembers(p.name)) things.add(m);
        }
      }
      const before = new Map<string, PendingState>();
      for (const t of things) before.set(t, yield* settleThing(tx, t, now));
      const targetSelection = input.targetSelection ?? 'SNAPSHOT';
      const empty = things.size === 0 && targetSelection === 'SNAPSHOT';
      const job: Job = {
        jobId: input.jobId, document: input.document, ...(input.description !== undefined ? { description: input.description } : {}),
        targets: [...input.targets], targetSelection, ...(input.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: input.inProgressTimeoutInMinutes } : {}),
        status: empty ? 'COMPLETED' : 'IN_PROGRESS', createdAt: now, lastUpdatedAt: now, ...(empty ? { completedAt: now } : {}),
      };
      yield* tx.putJob(job);
      for (const thingName of things) yield* tx.putExecution(queuedExecution(job.jobId, thingName, now, job.inProgressTimeoutInMinutes));
      return { result: { ok: true, job }, before };
    });
  }

  /** The job and its executions as of now (timeouts applied in the view, not written). */
  async describeJob(jobId: string): Promise<JobView | undefined> {
    const now = this.#now();
    return this.#o.store.read(function* (tx) {
      const job = yield* tx.job(jobId);
      if (job === undefined) return undefined;
      const executions = (yield* tx.executionsOfJob(jobId)).map((e) => settle(e, now));
      return { job: { ...job, status: settledJobStatus(job, executions) }, executions };
    });
  }

  async listJobs(options: { status?: JobStatus; after?: string; limit: number }): Promise<{ jobs: JobView[]; next?: string } | OperatorFailure> {
    const now = this.#now();
    let after: { createdAt: number; jobId: string } | undefined;
    if (options.after !== undefined) {
      const m = /^(\d{1,16})\.([a-zA-Z0-9_-]{1,64})$/.exec(Buffer.from(options.after, 'base64url').toString('utf8'));
      if (m === null) return opFail('InvalidRequestException', 'nextToken is not valid');
      after = { createdAt: Number(m[1]), jobId: m[2]! };
    }
    return this.#o.store.read(function* (tx) {
      // The status filter applies to the settled status, so filter after settling.
      const out: JobView[] = [];
      let cursor = after;
      let more = false;
      for (;;) {
        const batch = yield* tx.jobs({ ...(cursor !== undefined ? { after: cursor } : {}), limit: 200 });
        for (const job of batch) {
          const executions = (yield* tx.executionsOfJob(job.jobId)).map((e) => settle(e, now));
          const view = { job: { ...job, status: settledJobStatus(job, executions) }, executions };
          cursor = { createdAt: job.createdAt, jobId: job.jobId };
          if (options.status !== undefined && view.job.status !== options.status) continue;
          if (out.length === options.limit) {
            more = true;
            break;
          }
          out.push(view);
        }
        if (more || batch.length < 200) break;
      }
      const last = out[out.length - 1];
      return { jobs: out, ...(more && last !== undefined ? { next: Buffer.from(`${last.job.createdAt}.${last.job.jobId}`, 'utf8').toString('base64url') } : {}) };
    });
  }

  async cancelJob(jobId: string, options: { force: boolean; comment?: string; reasonCode?: string }): Promise<{ ok: true; job: Job } | OperatorFailure> {
    const now = this.#now();
    return this.#change(now, function* (tx): JobStep<Changed<{ ok: true; job: Job } | OperatorFailure>> {
      const job = yield* tx.job(jobId);
      if (job === undefined) return unchanged(opFail('ResourceNotFoundException', `job ${jobId} does not exist`));
      const before = new Map<string, PendingState>();
      for (const e of yield* tx.executionsOfJob(jobId)) before.set(e.thingName, yield* settleThing(tx, e.thingName, now));
      const executions = yield* tx.executionsOfJob(jobId);
      const status = settledJobStatus(job, executions);
      // Timeouts written by the settling above are announced whatever the outcome.
      if (status === 'COMPLETED') return { result: opFail('InvalidStateTransitionException', `job ${jobId} is completed and cannot be canceled`), before };
      if (status === 'CANCELED' && !(options.force && job.forceCanceled !== true)) return { result: { ok: true as const, job }, before };
      for (const e of executions) {
        const c = cancelExecution(e, options.force, now);
        if (c !== e) yield* tx.putExecution(c);
      }
      const canceled: Job = {
        ...job, status: 'CANCELED', ...(options.force ? { forceCanceled: true } : {}), lastUpdatedAt: now,
        ...(options.comment !== undefined ? { comment: options.comment } : {}), ...(options.reasonCode !== undefined ? { reasonCode: options.reasonCode } : {}),
      };
      yield* tx.putJob(canceled);
      return { result: { ok: true, job: canceled }, before };
    });
  }

  async deleteJob(jobId: string, force: boolean): Promise<{ ok: true } | OperatorFailure> {
    const now = this.#now();
    return this.#change(now, function* (tx): JobStep<Changed<{ ok: true } | OperatorFailure>> {
      const job = yield* tx.job(jobId);
      if (job === undefined) return unchanged(opFail('ResourceNotFoundException', `job ${jobId} does not exist`));
      const before = new Map<string, PendingState>();
      for (const e of yield* tx.executionsOfJob(jobId)) before.set(e.thingName, yield* settleThing(tx, e.thingName, now));
      const executions = yield* tx.executionsOfJob(jobId);
      if (!force && executions.some((e) => isPending(e.status))) {
        return { result: opFail('InvalidStateTransitionException', `job ${jobId} has pending executions: cancel it first, or delete with force`), before };
      }
      yield* tx.deleteJob(jobId);
      return { result: { ok: true }, before };
    });
  }

  /**
   * UpdateJob: a new description or in-progress timeout. A new timeout applies to the
   * executions that have not started (QUEUED) and to those queued later; a started one
   * keeps the timer it started with.
   */
  async updateJob(jobId: string, input: UpdateJobInput): Promise<{ ok: true; job: Job } | OperatorFailure> {
    const now = this.#now();
    return this.#o.store.transact(function* (tx): JobStep<{ ok: true; job: Job } | OperatorFailure> {
      const job = yield* tx.job(jobId);
      if (job === undefined) return opFail('ResourceNotFoundException', `job ${jobId} does not exist`);
      const updated: Job = {
        ...job, lastUpdatedAt: now, ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.inProgressTimeoutInMinutes !== undefined ? { inProgressTimeoutInMinutes: input.inProgressTimeoutInMinutes } : {}),
      };
      yield* tx.putJob(updated);
      if (input.inProgressTimeoutInMinutes !== undefined) {
        for (const e of yield* tx.executionsOfJob(jobId)) {
          if (e.status === 'QUEUED') yield* tx.putExecution({ ...e, inProgressTimeoutInMinutes: input.inProgressTimeoutInMinutes });
        }
      }
      return { ok: true, job: updated };
    });
  }

  /** CancelJobExecution: the execution CANCELED (see core `cancelOneExecution`), announced to its thing. */
  async cancelExecution(jobId: string, thingName: string, options: { force: boolean; expectedVersion?: number; statusDetails?: StatusDetails }): Promise<{ ok: true; execution: JobExecution } | OperatorFailure> {
    const now = this.#now();
    return this.#change(now, function* (tx): JobStep<Changed<{ ok: true; execution: JobExecution } | OperatorFailure>> {
      if ((yield* tx.job(jobId)) === undefined || !(yield* tx.thingExists(thingName))) return unchanged(opFail('ResourceNotFoundException', `no execution of job ${jobId} on thing ${thingName}`));
      const before = yield* settleThing(tx, thingName, now);
      const touched = new Map([[thingName, before]]);
      const e = yield* tx.execution(jobId, thingName);
      if (e === undefined) return { result: opFail('ResourceNotFoundException', `no execution of job ${jobId} on thing ${thingName}`), before: touched };
      const c = cancelOneExecution(e, options, now);
      if (!c.ok) {
        return {
          result: c.code === 'VersionMismatch'
            ? opFail('VersionConflictException', `expectedVersion ${options.expectedVersion ?? ''} is not the execution's version ${e.versionNumber}`)
            : opFail('InvalidStateTransitionException', c.message),
          before: touched,
        };
      }
      yield* tx.putExecution(c.execution);
      yield* completeJobs(tx, thingName, now);
      return { result: { ok: true, execution: c.execution }, before: touched };
    });
  }

  /**
   * DeleteJobExecution: a terminal execution, or any with `force`; `executionNumber`
   * must be the execution's. The device learns of a pending one's deletion from notify.
   */
  async deleteExecution(jobId: string, thingName: string, executionNumber: number, force: boolean): Promise<{ ok: true } | OperatorFailure> {
    const now = this.#now();
    return this.#change(now, function* (tx): JobStep<Changed<{ ok: true } | OperatorFailure>> {
      const notFound = opFail('ResourceNotFoundException', `no execution ${executionNumber} of job ${jobId} on thing ${thingName}`);
      if (!(yield* tx.thingExists(thingName))) return unchanged(notFound);
      const touched = new Map([[thingName, yield* settleThing(tx, thingName, now)]]);
      const e = yield* tx.execution(jobId, thingName);
      if (e === undefined || e.executionNumber !== executionNumber) return { result: notFound, before: touched };
      if (!force && !isTerminal(e.status)) return { result: opFail('InvalidStateTransitionException', `the job execution is ${e.status}: only a terminal execution can be deleted without force`), before: touched };
      yield* tx.deleteExecution(jobId, thingName);
      const job = yield* tx.job(jobId);
      if (job !== undefined && job.status === 'IN_PROGRESS' && settledJobStatus(job, yield* tx.executionsOfJob(jobId)) === 'COMPLETED') {
        yield* tx.putJob({ ...job, status: 'COMPLETED', lastUpdatedAt: now, completedAt: now });
      }
      return { result: { ok: true }, before: touched };
    });
  }

  /**
   * Writes as TIMED_OUT at most `limit` IN_PROGRESS executions whose deadline has passed
   * (earliest first), completes the jobs that are done, and announces the change to each
   * thing. Returns what timed out (fewer than `limit`: nothing more is due now). Job
   * transactions never interleave (job-store.ts), so several gateways sweeping one shared
   * store never time out, or announce, one execution twice.
   */
  async sweepTimeouts(limit: number): Promise<readonly TimedOut[]> {
    const now = this.#now();
    return this.#change(now, function* (tx): JobStep<Changed<TimedOut[]>> {
      const due = yield* tx.dueExecutions(now, limit);
      const before = new Map<string, PendingState>();
      const out: TimedOut[] = [];
      for (const e of due) {
        // Settling the thing writes every expired execution of it, this one included.
        if (!before.has(e.thingName)) before.set(e.thingName, yield* settleThing(tx, e.thingName, now));
        const s = settle(e, now);
        if (s.status === 'TIMED_OUT') out.push({ jobId: e.jobId, thingName: e.thingName, executionNumber: e.executionNumber, at: s.lastUpdatedAt });
      }
      return { result: out, before };
    });
  }

  /**
   * Brings the IN_PROGRESS continuous jobs in line with their targets' current members:
   * a thing in a target (named, or a member of a target group or of its descendants)
   * without an execution, or whose execution was REMOVED, gets a QUEUED one; a thing
   * no longer in any target has its QUEUED execution REMOVED. Returns the number of
   * executions queued and removed.
   */
  async reconcileContinuous(): Promise<{ queued: number; removed: number }> {
    const now = this.#now();
    const dep = this.#o.deployment();
    return this.#change(now, function* (tx): JobStep<Changed<{ queued: number; removed: number }>> {
      const before = new Map<string, PendingState>();
      let queued = 0;
      let removed = 0;
      for (const job of yield* tx.continuousJobs()) {
        const members = new Set<string>();
        for (const t of job.targets) {
          const p = parseTarget(t, dep);
          if (p === undefined) continue;
          if (p.kind === 'thing') {
            if (yield* tx.thingExists(p.name)) members.add(p.name);
          } else {
            for (const m of yield* tx.groupMembers(p.name)) members.add(m);
          }
        }
        const existing = new Map((yield* tx.executionsOfJob(job.jobId)).map((e) => [e.thingName, e]));
        for (const thing of members) {
          const e = existing.get(thing);
          if (e !== undefined && e.status !== 'REMOVED') continue;
          if (!before.has(thing)) before.set(thing, yield* settleThing(tx, thing, now));
          yield* tx.putExecution(queuedExecution(job.jobId, thing, now, job.inProgressTimeoutInMinutes, e));
          queued++;
        }
        for (const [thing, e] of existing) {
          if (members.has(thing) || e.status !== 'QUEUED') continue;
          if (!before.has(thing)) before.set(thing, yield* settleThing(tx, thing, now));
          yield* tx.putExecution(removeExecution(e, now));
          removed++;
        }
      }
      return { result: { queued, removed }, before };
    });
  }

  async executionsOfJob(jobId: string, status?: JobExecutionStatus): Promise<readonly JobExecution[] | undefined> {
    const v = await this.describeJob(jobId);
    if (v === undefined) return undefined;
    return status === undefined ? v.executions : v.executions.filter((e) => e.status === status);
  }

  async executionsOfThing(thingName: string, status?: JobExecutionStatus): Promise<readonly JobExecution[] | undefined> {
    const now = this.#now();
    return this.#o.store.read(function* (tx) {
      if (!(yield* tx.thingExists(thingName))) return undefined;
      const all = (yield* tx.executionsOfThing(thingName)).map((e) => settle(e, now));
      return status === undefined ? all : all.filter((e) => e.status === status);
    });
  }

  async execution(jobId: string, thingName: string): Promise<JobExecution | undefined> {
    const now = this.#now();
    return this.#o.store.read(function* (tx) {
      const e = yield* tx.execution(jobId, thingName);
      return e === undefined ? undefined : settle(e, now);
    });
  }

  // -------------------------------------------------------------------- devices

  /** GetPendingJobExecutions: summaries of the thing's IN_PROGRESS and QUEUED executions. */
  async getPending(thingName: string): Promise<{ ok: true; inProgressJobs: Record<string, unknown>[]; queuedJobs: Record<string, unknown>[] } | JobFailure> {
    return this.#onThing(thingName, function* (_tx, pending) {
      return {
        ok: true as const,
        inProgressJobs: pending.filter((e) => e.status === 'IN_PROGRESS').map(executionSummary),
        queuedJobs: pending.filter((e) => e.status === 'QUEUED').map(executionSummary),
      };
    });
  }

  /**
   * StartNextPendingJobExecution: the next pending execution, moved to IN_PROGRESS when
   * it was QUEUED; `execution` is undefined when nothing is pending.
   */
  async startNext(thingName: string, request: { statusDetails?: StatusDetails; stepTimeoutInMinutes?: number }, document: 'object' | 'string'): Promise<{ ok: true; execution?: Record<string, unknown> } | JobFailure> {
    const now = this.#now();
    return this.#onThing(thingName, function* (tx, pending) {
      const next = nextPending(pending);
      if (next === undefined) return { ok: true as const };
      const started = startExecution(next, request, now);
      if (started !== next) yield* tx.putExecution(started);
      const job = yield* tx.job(started.jobId);
      return { ok: true as const, execution: executionDocument(started, now, job !== undefined ? { text: job.document, as: document } : undefined) };
    });
  }

  /** DescribeJobExecution (`jobId` may be `$next`). */
  async describe(thingName: string, jobId: string, request: { executionNumber?: number; includeJobDocument: boolean }, document: 'object' | 'string'): Promise<{ ok: true; execution?: Record<string, unknown> } | JobFailure> {
    const now = this.#now();
    return this.#onThing(thingName, function* (tx, pending): JobStep<{ ok: true; execution?: Record<string, unknown> } | JobFailure> {
      const e = jobId === '$next' ? nextPending(pending) : yield* tx.execution(jobId, thingName);
      if (e === undefined) {
        if (jobId === '$next') return { ok: true as const };
        return jobFailure('ResourceNotFound', `No job execution found for job ${jobId} and thing ${thingName}`);
      }
      if (request.executionNumber !== undefined && request.executionNumber !== e.executionNumber) {
        return jobFailure('ResourceNotFound', `No job execution found for job ${jobId}, thing ${thingName} and execution number ${request.executionNumber}`);
      }
      const job = request.includeJobDocument ? yield* tx.job(e.jobId) : undefined;
      return { ok: true as const, execution: executionDocument(e, now, job !== undefined ? { text: job.document, as: document } : undefined) };
    });
  }

  /** UpdateJobExecution: the new execution and its job's document, or why not. */
  async update(thingName: string, jobId: string, request: UpdateRequest): Promise<{ ok: true; execution: JobExecution; jobDocument: string } | JobFailure> {
    const now = this.#now();
    return this.#onThing(thingName, function* (tx): JobStep<{ ok: true; execution: JobExecution; jobDocument: string } | JobFailure> {
      const e = yield* tx.execution(jobId, thingName);
      const job = yield* tx.job(jobId);
      if (e === undefined || job === undefined) return jobFailure('ResourceNotFound', `No job execution found for job ${jobId} and thing ${thingName}`);
      const r = updateExecution(e, request, now);
      if (!r.ok) return r;
      yield* tx.putExecution(r.execution);
      return { ok: true as const, execution: r.execution, jobDocument: job.document };
    });
  }

  // ------------------------------------------------------------------ internals

  /**
   * Runs `fn` on the thing's settled pending executions in one transaction, writes the
   * jobs that completed, and announces the pending changes. The work is in proportion to
   * the thing's pending executions, not to its history.
   */
  async #onThing<T extends { ok: boolean }>(thingName: string, fn: (tx: JobTx, pending: JobExecution[]) => JobStep<T | JobFailure>): Promise<T | JobFailure> {
    const now = this.#now();
    return this.#change(now, function* (tx): JobStep<Changed<T | JobFailure>> {
      if (!(yield* tx.thingExists(thingName))) return unchanged(jobFailure('ResourceNotFound', `Thing ${thingName} not found`));
      const before = yield* settleThing(tx, thingName, now);
      const result = yield* fn(tx, yield* tx.pendingExecutionsOfThing(thingName));
      yield* completeJobs(tx, thingName, now);
      return { result, before: new Map([[thingName, before]]) };
    });
  }

  /**
   * Runs a change in one transaction; at its end, compares each touched thing's pending
   * state with the state before and makes the notify / notify-next messages, which the
   * store records with the change (relayed to every node) or this service publishes once
   * the transaction has committed.
   */
  async #change<R>(now: number, fn: (tx: JobTx) => JobStep<Changed<R>>): Promise<R> {
    const relay = this.#o.store.relaysAnnouncements;
    const wanted = relay || this.#o.publisher !== undefined;
    const r = await this.#o.store.transact(function* (tx) {
      const c = yield* fn(tx);
      const messages = wanted && c.before.size > 0 ? yield* announcements(tx, c.before, now) : [];
      if (relay && messages.length > 0) yield* tx.announce(messages);
      return { result: c.result, messages };
    });
    if (!relay) this.#publish(r.messages);
    return r.result;
  }

  #publish(messages: readonly Announcement[]): void {
    const p = this.#o.publisher;
    if (p === undefined) return;
    for (const m of messages) {
      p.publish(m.topic, m.payload).catch((e: unknown) =>
        this.#o.logger.error({ event: 'jobs-publish-failed', topic: m.topic, err: (e as Error).message }, 'a jobs notification could not be published'));
    }
  }
}

/** Writes TIMED_OUT executions of the thing; returns its pending state before (for the announcements). */
function* settleThing(tx: JobTx, thingName: string, now: number): JobStep<PendingState> {
  const pending = yield* tx.pendingExecutionsOfThing(thingName);
  const before = yield* pendingState(tx, pending, now);
  for (const e of pending) {
    const s = settle(e, now);
    if (s !== e) yield* tx.putExecution(s);
  }
  yield* completeJobs(tx, thingName, now);
  return before;
}

/** Marks COMPLETED the snapshot jobs of this thing whose executions are all terminal. */
function* completeJobs(tx: JobTx, thingName: string, now: number): JobStep<void> {
  for (const jobId of yield* tx.completableJobs(thingName)) {
    const job = yield* tx.job(jobId);
    if (job !== undefined) yield* tx.putJob({ ...job, status: 'COMPLETED', lastUpdatedAt: now, completedAt: now });
  }
}

function* pendingState(tx: JobTx, pending: readonly JobExecution[], now: number): JobStep<PendingState> {
  // As stored (what the devices were last told), not settled: a timeout written now is a change to announce.
  const next = nextPending(pending);
  const job = next !== undefined ? yield* tx.job(next.jobId) : undefined;
  return {
    list: JSON.stringify({
      ...(pending.some((e) => e.status === 'QUEUED') ? { QUEUED: pending.filter((e) => e.status === 'QUEUED').map(executionSummary) } : {}),
      ...(pending.some((e) => e.status === 'IN_PROGRESS') ? { IN_PROGRESS: pending.filter((e) => e.status === 'IN_PROGRESS').map(executionSummary) } : {}),
    }),
    next: next === undefined ? '' : JSON.stringify(executionDocument(next, now, job !== undefined ? { text: job.document, as: 'object' } : undefined)),
  };
}

/** notify / notify-next for each thing whose pending state changed, in the order the things were touched. */
function* announcements(tx: JobTx, before: ReadonlyMap<string, PendingState>, now: number): JobStep<Announcement[]> {
  const timestamp = Math.floor(now / 1000);
  const out: Announcement[] = [];
  for (const [thing, b] of before) {
    const a = yield* pendingState(tx, yield* tx.pendingExecutionsOfThing(thing), now);
    if (a.list !== b.list) out.push({ topic: `$aws/things/${thing}/jobs/notify`, payload: JSON.stringify({ timestamp, jobs: JSON.parse(a.list) as unknown }) });
    if (strip(a.next) !== strip(b.next)) {
      out.push({ topic: `$aws/things/${thing}/jobs/notify-next`, payload: JSON.stringify({ timestamp, ...(a.next !== '' ? { execution: JSON.parse(a.next) as unknown } : {}) }) });
    }
  }
  return out;
}

/** The next execution without its countdown (which changes every second) for comparison. */
function strip(next: string): string {
  if (next === '') return '';
  const { approximateSecondsBeforeTimedOut: _a, ...rest } = JSON.parse(next) as Record<string, unknown>;
  return JSON.stringify(rest);
}
