/**
 * Bounds identity work (certificate verification, session creation):
 * `performance.maxConcurrentCloudRequests` tasks run at once, up to
 * `performance.cloudRequestQueueSize` more wait in FIFO order, and anything beyond is
 * refused at once (the API answers 429) instead of queueing without end.
 *
 * Unlike the Greengrass component's executor, which adds threads only once its queue is
 * full (docs/greengrass-behaviour.md, section 11), the concurrency is real: a task
 * starts whenever fewer than the maximum are running, whether or not the queue is full.
 *
 * Tasks are started from the event loop's check phase (setImmediate), never inline.
 * Identity work is mostly synchronous (SQLite through better-sqlite3, X.509 parsing
 * and signature checks); started inline, a task would finish before the next socket
 * read, so requests could never be seen waiting and the bound would not bound
 * anything. Started this way, the requests read in one pass of the event loop are
 * admitted, queued or refused together, and socket I/O — including the
 * latency-sensitive authorization calls, which do not go through here — runs between
 * two identity tasks.
 */

export class LimiterFullError extends Error {
  readonly code = 'LIMITER_FULL' as const;
  constructor(readonly running: number, readonly waiting: number) {
    super(`identity work queue is full (${running} running, ${waiting} waiting)`);
    this.name = 'LimiterFullError';
  }
}

export class LimiterAbortedError extends Error {
  readonly code = 'LIMITER_ABORTED' as const;
  constructor() {
    super('the request was abandoned while waiting');
    this.name = 'LimiterAbortedError';
  }
}

export interface LimiterStats {
  readonly running: number;
  readonly waiting: number;
  readonly maxRunning: number;
  readonly maxWaiting: number;
  /** Tasks refused because the queue was full, since creation. */
  readonly rejected: number;
}

interface Waiter {
  readonly start: () => void;
  readonly abort: () => void;
  cancelled: boolean;
}

export class WorkLimiter {
  #maxRunning: number;
  #maxWaiting: number;
  #running = 0;
  #rejected = 0;
  /** FIFO; cancelled entries stay in place and are skipped (and not counted). */
  readonly #queue: Waiter[] = [];
  #head = 0;
  #waiting = 0;

  constructor(maxRunning: number, maxWaiting: number) {
    this.#maxRunning = checkLimit(maxRunning, 'maxRunning');
    this.#maxWaiting = checkLimit(maxWaiting, 'maxWaiting');
  }

  /**
   * Applies new limits (a configuration reload). A larger `maxRunning` starts waiting
   * tasks at once. Tasks already waiting keep their place even if the queue is now
   * smaller than their number; only new arrivals see the new size.
   */
  configure(maxRunning: number, maxWaiting: number): void {
    this.#maxRunning = checkLimit(maxRunning, 'maxRunning');
    this.#maxWaiting = checkLimit(maxWaiting, 'maxWaiting');
    this.#pump();
  }

  get stats(): LimiterStats {
    return { running: this.#running, waiting: this.#waiting, maxRunning: this.#maxRunning, maxWaiting: this.#maxWaiting, rejected: this.#rejected };
  }

  /**
   * Runs `task` when a slot is free. Rejects with LimiterFullError when the queue is
   * full, and with LimiterAbortedError when `signal` aborts while the task waits (a
   * task that has started runs to its end).
   */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new LimiterAbortedError());
    if (this.#running < this.#maxRunning && this.#waiting === 0) {
      this.#running++;
      return new Promise<T>((resolve, reject) => {
        setImmediate(() => this.#execute(task, resolve, reject));
      });
    }
    if (this.#waiting >= this.#maxWaiting) {
      this.#rejected++;
      return Promise.reject(new LimiterFullError(this.#running, this.#waiting));
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (waiter.cancelled) return;
        waiter.cancelled = true;
        this.#waiting--;
        reject(new LimiterAbortedError());
      };
      const waiter: Waiter = {
        cancelled: false,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          setImmediate(() => this.#execute(task, resolve, reject));
        },
        abort: onAbort,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
      this.#waiting++;
    });
  }

  #execute<T>(task: () => Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void): void {
    let p: Promise<T>;
    try {
      p = task();
    } catch (e) {
      p = Promise.reject(e);
    }
    // Free the slot before the caller resumes, so what it observes is consistent.
    p.then((value) => {
      this.#release();
      resolve(value);
    }, (error: unknown) => {
      this.#release();
      reject(error);
    });
  }

  #release(): void {
    this.#running--;
    this.#pump();
  }

  #pump(): void {
    while (this.#running < this.#maxRunning && this.#waiting > 0) {
      const next = this.#queue[this.#head];
      this.#queue[this.#head] = undefined as unknown as Waiter;
      this.#head++;
      if (next === undefined || next.cancelled) continue;
      next.cancelled = true; // no longer abortable
      this.#waiting--;
      this.#running++;
      next.start();
    }
    // Compact the array once the consumed prefix dominates it.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#waiting === 0 && this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
  }
}

function checkLimit(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer (got ${String(n)})`);
  return n;
}
