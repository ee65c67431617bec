/**
 * The broker's message router: mqemitter (aedes's own default `mq`) with its backlog
 * kept in an O(1) FIFO instead of two arrays.
 *
 * Why: mqemitter runs at most `concurrency` messages at a time and queues the rest in
 * `_messageQueue` / `_messageCallbacks`, two arrays it takes from with
 * `Array.prototype.shift()` each time a message completes. `shift()` moves every
 * remaining element, so under a QoS 0 flood (tens of thousands of messages queued) the
 * cost per message grows with the backlog and the broker spends most of its time
 * moving array elements: under a flood from four `mosquitto_pub -l` publishers, a CPU
 * profile of bare aedes 1.2.0 put 80 % of its samples in mqemitter's `released()`.
 * docs/benchmarks.md has the throughput with and without this queue.
 *
 * Everything else is mqemitter's own code, unchanged: topic matching (qlobber),
 * concurrency, ordering, `$SYS` handling, close. mqemitter only ever calls `push`,
 * `shift` and `length` on the two queues, which `Fifo` provides with the same meaning.
 * That reliance on mqemitter's internals is checked here at construction (an upgrade
 * that renames or reshapes them fails to start, with BROKER_MQ_INCOMPATIBLE, rather
 * than silently running the slow path) and pinned by test/broker/mq.test.ts.
 */
import mqemitter from 'mqemitter';
import { Fifo } from './fifo.js';

export type MqEmitter = mqemitter.MQEmitter;

/** mqemitter 7.x's queue fields, which aedes does not expose. */
interface MqEmitterInternals {
  _messageQueue: unknown;
  _messageCallbacks: unknown;
}

/** mqemitter's options; `concurrency` is the number of messages routed at once, the rest wait in the FIFO. */
export type FifoMqOptions = NonNullable<Parameters<typeof mqemitter>[0]>;

/** Thrown when the installed mqemitter does not keep its backlog where this module expects it. */
export class MqIncompatibleError extends Error {
  readonly code = 'BROKER_MQ_INCOMPATIBLE' as const;
  readonly fix = 'reinstall the pinned dependencies with `npm ci` (aedes 2.0.0-beta.1, mqemitter 7.1.0)';
}

/** aedes's default: the value it passes to mqemitter when no `mq` is given. */
export const DEFAULT_MQ_CONCURRENCY = 100;

export function createFifoMq(opts: FifoMqOptions = {}): MqEmitter {
  // By default, the options aedes builds its own emitter with.
  const mq = mqemitter({ concurrency: DEFAULT_MQ_CONCURRENCY, matchEmptyLevels: true, ...opts });
  const internals = mq as unknown as MqEmitterInternals;
  for (const field of ['_messageQueue', '_messageCallbacks'] as const) {
    const q = internals[field];
    if (!Array.isArray(q) || q.length !== 0) {
      throw new MqIncompatibleError(`the installed mqemitter has no empty array \`${field}\`; the broker's FIFO queue cannot replace it (mqemitter upgraded?): pin mqemitter 7.1.0 or update src/broker/mq.ts`);
    }
  }
  internals._messageQueue = new Fifo<unknown>();
  internals._messageCallbacks = new Fifo<unknown>();
  boundSyncReleases(mq);
  return mq;
}

/** How many queued messages mqemitter may start inside one another's completion before the next one waits for a fresh stack. */
export const MAX_SYNC_RELEASES = 64;

/** mqemitter 7.x's internals the release bound wraps. */
interface ReleaseInternals {
  current: number;
  _do(message: unknown, callback: unknown): unknown;
}

/**
 * When a message completes, mqemitter starts the next queued one inside that completion
 * (`released()` calls `_do()`). If the next one completes at once too (no subscriber,
 * or handlers that finish synchronously), the chain goes on: with a backlog of tens of
 * thousands (a flood arriving from Redis, which has no back-pressure, or many
 * publishers at once) the stack overflows and the process ends. Past
 * `MAX_SYNC_RELEASES` nested starts, the next message is started from `setImmediate`
 * instead. Its concurrency slot is held meanwhile, so a message emitted in between
 * still queues behind it: the order is mqemitter's.
 */
export function boundSyncReleases(mq: object): void {
  const m = mq as ReleaseInternals;
  if (typeof m._do !== 'function' || typeof m.current !== 'number') {
    throw new MqIncompatibleError('the installed mqemitter has no `_do`/`current`; the broker cannot bound its release chain (mqemitter upgraded?): pin mqemitter 7.1.0 or update src/broker/mq.ts');
  }
  const start = m._do.bind(m);
  let depth = 0;
  const run = (message: unknown, callback: unknown): unknown => {
    depth++;
    try {
      return start(message, callback);
    } finally {
      depth--;
    }
  };
  m._do = (message, callback) => {
    if (depth < MAX_SYNC_RELEASES) return run(message, callback);
    m.current++;
    setImmediate(() => {
      m.current--;
      run(message, callback);
    });
    return m;
  };
}
