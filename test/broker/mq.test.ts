/**
 * The broker's router (src/broker/mq.ts): mqemitter with its backlog in a Fifo. Pins
 * the mqemitter internals it replaces, and runs mqemitter's own abstract test suite
 * against it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test, type TestContext } from 'node:test';
import { Fifo } from '../../src/broker/fifo.js';
import { createFifoMq, type FifoMqOptions, type MqEmitter } from '../../src/broker/mq.js';

const require = createRequire(import.meta.url);

interface Internals {
  readonly _messageQueue: unknown;
  readonly _messageCallbacks: unknown;
  readonly length: number;
}

test('pin: mqemitter is the version whose queue internals mq.ts replaces', () => {
  const pkg = JSON.parse(readFileSync(require.resolve('mqemitter/package.json'), 'utf8')) as { version: string };
  assert.equal(pkg.version, '7.1.0', 'mqemitter changed: check that it still queues in `_messageQueue`/`_messageCallbacks` with push/shift/length, then update this pin');
  // aedes must resolve the same copy the broker passes it (no nested, different mqemitter).
  const fromAedes = createRequire(require.resolve('aedes'))('mqemitter/package.json') as { version: string };
  assert.equal(fromAedes.version, pkg.version);
});

test('pin: the backlog beyond `concurrency` waits in the Fifo, in order, and mqemitter reports its length', async () => {
  const mq = createFifoMq({ concurrency: 1 });
  const internals = mq as unknown as Internals;
  assert.ok(internals._messageQueue instanceof Fifo);
  assert.ok(internals._messageCallbacks instanceof Fifo);
  const seen: number[] = [];
  const held: (() => void)[] = [];
  mq.on('t/+', (m, done) => {
    seen.push(m['n'] as number);
    held.push(done);
  });
  const completed: number[] = [];
  for (let n = 1; n <= 4; n++) mq.emit({ topic: 't/x', n }, () => completed.push(n));
  // One message routed, three waiting: in the Fifo (an upgrade that moved the queue elsewhere fails here).
  assert.deepEqual(seen, [1]);
  assert.equal((internals._messageQueue as Fifo<unknown>).length, 3);
  assert.equal((internals._messageCallbacks as Fifo<unknown>).length, 3);
  assert.equal(internals.length, 3);
  while (seen.length < 4 || held.length > 0) {
    const done = held.shift();
    if (done) done();
    else await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.deepEqual(completed, [1, 2, 3, 4]);
  assert.equal(internals.length, 0);
  await new Promise<void>((r) => mq.close(() => r()));
});

test('the default router is configured as aedes configures its own (concurrency 100, empty levels match +)', () => {
  const mq = createFifoMq() as MqEmitter & { concurrency: number };
  assert.equal(mq.concurrency, 100);
});

type AbstractTests = (opts: { builder: (opts?: FifoMqOptions) => MqEmitter; test: typeof test }) => void;
const abstractTests = require('mqemitter/abstractTest.js') as AbstractTests;

// mqemitter's own behaviour suite (wildcards, separators, empty levels, $SYS, close,
// removeListener, concurrency): once with its options as given, once with a
// concurrency of 1 so that every message after the first goes through the Fifo.
const named = (prefix: string) => ((name: string, fn: (t: TestContext) => Promise<void>) => test(`${prefix}: ${name}`, fn)) as unknown as typeof test;
abstractTests({ builder: (opts?: FifoMqOptions) => createFifoMq({ concurrency: 0, ...opts }), test: named('mqemitter suite') });
abstractTests({ builder: (opts?: FifoMqOptions) => createFifoMq({ ...opts, concurrency: 1 }), test: named('mqemitter suite, concurrency 1') });

test('a long backlog whose messages complete at once does not overflow the stack, and keeps its order', async () => {
  // One slot, held by a message whose handler completes later; 50,000 messages with no
  // subscriber queue behind it. When the slot is released, each queued message completes
  // inside the previous one's completion: without the bound on that chain, a RangeError
  // (maximum call stack size exceeded) ends the process.
  const mq = createFifoMq({ concurrency: 1 });
  let release: (() => void) | undefined;
  mq.on('hold', (_m: unknown, cb: () => void) => { release = cb; });
  await new Promise<void>((resolve) => { mq.emit({ topic: 'hold' }, () => resolve()); setImmediate(() => release !== undefined && resolve()); });
  const n = 50_000;
  const done: number[] = [];
  const all = new Promise<void>((resolve) => {
    for (let i = 0; i < n; i++) mq.emit({ topic: `none/${i}` }, () => { done.push(i); if (done.length === n) resolve(); });
  });
  // A message emitted while the chain is under way still comes after the backlog.
  assert.equal((mq as unknown as Internals).length, n);
  release!();
  let late = -1;
  mq.emit({ topic: 'late' }, () => { late = done.length; });
  await all;
  assert.deepEqual(done.slice(0, 5), [0, 1, 2, 3, 4]);
  assert.ok(done.every((v, i) => v === i), 'completed in emission order');
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(late, n, 'the message emitted after the backlog completed after it');
  await new Promise<void>((resolve) => mq.close(() => resolve()));
});
