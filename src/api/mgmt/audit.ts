/**
 * The audit log's writer, one per gateway, shared by the local API and the management
 * API: records are queued in memory as responses finish and written in batches, one
 * transaction per batch, and records older than the retention
 * (`gatehouse.management.auditRetentionDays`) are pruned on a timer.
 *
 * Guarantees (docs/management.md, "The audit log"):
 * - A record is written after its response is sent, so that it carries the status the
 *   caller saw, at most `flushIntervalMs` later (or at once when a batch is full).
 *   `flush()` writes what is queued; the audit list flushes before it reads, so a call
 *   that has returned is listed. A crash loses at most what is queued: the records of
 *   the last `flushIntervalMs` (and of the batches a failing store could not take).
 * - Nothing is dropped. The queue holds at most `maxQueued` records; a call that finds
 *   it full waits up to `admitWaitMs` for room (`hasRoom`, `waitForRoom`), then is
 *   refused before anything is done for it (the APIs answer 503
 *   `API_AUDIT_BACKLOG` / `MGMT_AUDIT_BACKLOG`). Refused calls are counted and logged,
 *   not recorded one by one: the log has no room for them, and they did nothing.
 * - A failed write keeps its batch at the head of the queue and is retried after
 *   `retryMs`; while the store refuses, the queue fills and calls are refused (fail
 *   closed).
 *
 * Records never hold a secret: principals are ARNs, resources ARNs, reasons codes. A
 * failed write is logged with the number of records, never their contents.
 */
import type { ControlStore, NewAuditRecord } from '../../identity/control.js';
import type { Logger } from '../../observability/logger.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface AuditWriterOptions {
  /** Longest wait of a queued record before its batch is written (default 5 ms). */
  readonly flushIntervalMs?: number;
  /** Records per transaction; a full batch is written at once (default 500). */
  readonly maxBatch?: number;
  /** Most records held in memory before calls wait for room (default 10,000). */
  readonly maxQueued?: number;
  /** How long a call waits for room in a full queue before it is refused (default 2,000 ms). */
  readonly admitWaitMs?: number;
  /** Delay before a failed write is tried again (default 1,000 ms). */
  readonly retryMs?: number;
  /** How often old records are pruned after the first pruning at start (default one hour). */
  readonly pruneEveryMs?: number;
}

export interface AuditWriterStats {
  /** Records in memory, not yet stored. */
  readonly queued: number;
  /** Records stored since the writer was made. */
  readonly written: number;
  /** Calls refused because the queue was full. */
  readonly refused: number;
}

export class AuditWriter {
  readonly #control: ControlStore;
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxQueued: number;
  readonly #admitWaitMs: number;
  readonly #retryMs: number;
  readonly #pruneEveryMs: number;
  #queue: NewAuditRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #flushing: Promise<boolean> = Promise.resolve(true);
  #waiters: (() => void)[] = [];
  #written = 0;
  #refused = 0;
  #refusedUnlogged = 0;
  #refusalLogAt = 0;
  #pruneTimer: NodeJS.Timeout | undefined;

  constructor(control: ControlStore, logger: Logger, options: AuditWriterOptions = {}) {
    this.#control = control;
    this.#logger = logger;
    this.#flushIntervalMs = options.flushIntervalMs ?? 5;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#admitWaitMs = options.admitWaitMs ?? 2_000;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#pruneEveryMs = options.pruneEveryMs ?? 60 * 60 * 1000;
  }

  /**
   * Queues a record of a call that was admitted. Never drops one: a call admitted while
   * there was room may add its records past `maxQueued` (by at most the records of the
   * calls in flight).
   */
  append(record: NewAuditRecord): void {
    this.#queue.push(record);
    if (this.#queue.length >= this.#maxBatch) {
      this.#immediate ??= setImmediate(() => {
        this.#immediate = undefined;
        void this.flush();
      });
    } else if (this.#timer === undefined) {
      this.#schedule(this.#flushIntervalMs);
    }
  }

  /** Whether a new call may start now (the queue is below `maxQueued`). The hot path's check: no allocation. */
  hasRoom(): boolean {
    return this.#queue.length < this.#maxQueued;
  }

  /**
   * Waits up to `admitWaitMs` for room in the queue. False (and the refusal counted and
   * logged) when there is none by then: the caller must refuse the call.
   */
  async waitForRoom(): Promise<boolean> {
    const deadline = Date.now() + this.#admitWaitMs;
    while (!this.hasRoom()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#countRefusal();
        return false;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.push(done);
      });
    }
    return true;
  }

  /** Writes everything queued; resolves true once it is stored, false when the store refused it (it stays queued and is retried). */
  flush(): Promise<boolean> {
    this.#flushing = this.#flushing.then(() => this.#writeAll());
    return this.#flushing;
  }

  get stats(): AuditWriterStats {
    return { queued: this.#queue.length, written: this.#written, refused: this.#refused };
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, ms);
    this.#timer.unref();
  }

  async #writeAll(): Promise<boolean> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#queue.length > 0) {
      // The batch stays queued (and counted against the bound) until it is stored.
      const batch = this.#queue.slice(0, this.#maxBatch);
      const n = batch.length;
      try {
        await this.#control.appendAudit(batch);
      } catch (e) {
        this.#logger.error({ event: 'audit-write-failed', records: n, queued: this.#queue.length, err: (e as Error).message }, 'audit records could not be written; they stay queued and are retried');
        this.#schedule(this.#retryMs);
        return false;
      }
      this.#queue.splice(0, n);
      this.#written += n;
      this.#wake();
    }
    return true;
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const w of waiting) w();
  }

  #countRefusal(): void {
    this.#refused++;
    this.#refusedUnlogged++;
    const now = Date.now();
    if (now - this.#refusalLogAt < 1000) return;
    this.#refusalLogAt = now;
    this.#logger.error({ event: 'audit-backlog-refused', refused: this.#refusedUnlogged, queued: this.#queue.length },
      'calls refused: the audit queue is full (the audit log cannot be written fast enough, or not at all)');
    this.#refusedUnlogged = 0;
  }

  /** Deletes the records older than `retentionDays` before `clock()`; how many. */
  async prune(retentionDays: number, clock: () => Date): Promise<number> {
    const before = new Date(clock().getTime() - retentionDays * DAY_MS);
    const n = await this.#control.pruneAudit(before);
    if (n > 0) this.#logger.info({ event: 'audit-pruned', records: n, before: before.toISOString() }, 'old audit records deleted');
    return n;
  }

  /** Prunes now, then every `pruneEveryMs`. */
  startPruning(retentionDays: number, clock: () => Date): void {
    this.stopPruning();
    const prune = (): void => {
      this.prune(retentionDays, clock).catch((e: unknown) => this.#logger.error({ event: 'audit-prune-failed', err: (e as Error).message }, 'old audit records could not be deleted'));
    };
    prune();
    this.#pruneTimer = setInterval(prune, this.#pruneEveryMs);
    this.#pruneTimer.unref();
  }

  stopPruning(): void {
    clearInterval(this.#pruneTimer);
    this.#pruneTimer = undefined;
  }

  /** Stops pruning and writes what is queued (shutdown); what cannot be written is logged as lost. */
  async close(): Promise<void> {
    this.stopPruning();
    clearImmediate(this.#immediate);
    this.#immediate = undefined;
    const stored = await this.flush();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!stored) this.#logger.error({ event: 'audit-records-lost', records: this.#queue.length }, 'audit records could not be written before the gateway stopped');
    this.#wake();
  }
}
