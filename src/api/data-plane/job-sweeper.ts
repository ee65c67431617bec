/**
 * The jobs timeout sweeper: moves IN_PROGRESS job executions to TIMED_OUT when their
 * in-progress or step timer expires
 * (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-configurations-details.html),
 * without waiting for the device or an operator to touch them, so the device hears of it
 * on `jobs/notify` and `jobs/notify-next` at the time.
 *
 * - Deadlines are stored with each execution (`job_executions.timeout_at`), so the sweeper
 *   keeps no state of its own: after a restart, the first tick times out whatever fell
 *   due while the gateway was down (as of its deadline).
 * - Bounded work per tick: at most `batch` executions in one transaction. When a tick
 *   fills its batch, the next one follows at once (after the event loop has run other
 *   work); otherwise after `intervalMs`.
 * - Each timed-out execution is logged (`job-execution-timed-out`, with the job, thing,
 *   execution number and deadline); the execution itself keeps the record (status,
 *   version, lastUpdatedAt = the deadline).
 * - A failing tick is logged and retried at the next interval; it never stops the sweeper.
 */
import type { Logger } from '../../observability/logger.js';
import type { JobService } from './job-service.js';

export interface JobSweeperOptions {
  readonly service: Pick<JobService, 'sweepTimeouts'>;
  readonly logger: Logger;
  /** Pause between ticks when nothing more is due (ms). */
  readonly intervalMs?: number;
  /** Executions timed out per tick at most. */
  readonly batch?: number;
}

export const SWEEP_INTERVAL_MS = 1000;
export const SWEEP_BATCH = 100;

export class JobTimeoutSweeper {
  readonly #o: Required<JobSweeperOptions>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  private constructor(options: JobSweeperOptions) {
    this.#o = { intervalMs: SWEEP_INTERVAL_MS, batch: SWEEP_BATCH, ...options };
  }

  /** Starts sweeping: the first tick runs at once. */
  static start(options: JobSweeperOptions): JobTimeoutSweeper {
    const s = new JobTimeoutSweeper(options);
    s.#schedule(0);
    return s;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let full = false;
    try {
      const timedOut = await this.#o.service.sweepTimeouts(this.#o.batch);
      for (const t of timedOut) {
        this.#o.logger.info({ event: 'job-execution-timed-out', jobId: t.jobId, thingName: t.thingName, executionNumber: t.executionNumber, timedOutAt: new Date(t.at).toISOString() },
          'a job execution timed out');
      }
      full = timedOut.length >= this.#o.batch;
    } catch (e) {
      this.#o.logger.error({ event: 'job-sweep-failed', err: (e as Error).message }, 'the job timeout sweep failed; retrying at the next interval');
    }
    this.#schedule(full ? 0 : this.#o.intervalMs);
  }

  /** Stops sweeping; resolves once a tick in progress has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
