/**
 * The audit log's writer: records are queued as responses finish and written in
 * batches off the request path (one transaction per batch), and old records are pruned
 * on a timer (`gatehouse.management.auditRetentionDays`).
 *
 * A record is written after its response is sent, so that it carries the status the
 * caller saw. A failed write is logged (never with the records' contents beyond
 * principal and action) and the batch retried once with the next one; the log never
 * holds a secret: principals are ARNs, resources ARNs, reasons codes.
 */
import type { ControlStore, NewAuditRecord } from '../../identity/control.js';
import type { Logger } from '../../observability/logger.js';

const MAX_BATCH = 500;
const MAX_QUEUED = 50_000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export class AuditWriter {
  readonly #control: ControlStore;
  readonly #logger: Logger;
  #queue: NewAuditRecord[] = [];
  #scheduled = false;
  #flushing: Promise<void> = Promise.resolve();
  #dropped = 0;
  #pruneTimer: NodeJS.Timeout | undefined;

  constructor(control: ControlStore, logger: Logger) {
    this.#control = control;
    this.#logger = logger;
  }

  append(record: NewAuditRecord): void {
    if (this.#queue.length >= MAX_QUEUED) {
      // The store is not keeping up: count what is lost rather than grow without bound.
      this.#dropped++;
      return;
    }
    this.#queue.push(record);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.flush();
      });
    }
  }

  /** Writes everything queued; resolves when it is stored (tests, shutdown). */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#writeAll());
    return this.#flushing;
  }

  async #writeAll(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      try {
        await this.#control.appendAudit(batch);
      } catch (e) {
        this.#logger.error({ event: 'audit-write-failed', records: batch.length, err: (e as Error).message }, 'audit records could not be written');
        return;
      }
    }
    if (this.#dropped > 0) {
      this.#logger.error({ event: 'audit-records-dropped', records: this.#dropped }, 'audit records were dropped: the queue was full');
      this.#dropped = 0;
    }
  }

  /** Deletes records older than the retention now, then every hour. */
  startPruning(retentionDays: number, clock: () => Date): void {
    this.stopPruning();
    const prune = (): void => {
      const before = new Date(clock().getTime() - retentionDays * DAY_MS);
      this.#control.pruneAudit(before).then(
        (n) => {
          if (n > 0) this.#logger.info({ event: 'audit-pruned', records: n, before: before.toISOString() }, 'old audit records deleted');
        },
        (e: unknown) => this.#logger.error({ event: 'audit-prune-failed', err: (e as Error).message }, 'old audit records could not be deleted'),
      );
    };
    prune();
    this.#pruneTimer = setInterval(prune, PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
  }

  stopPruning(): void {
    clearInterval(this.#pruneTimer);
    this.#pruneTimer = undefined;
  }

  async close(): Promise<void> {
    this.stopPruning();
    await this.flush();
  }
}
