import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LimiterAbortedError, LimiterFullError, WorkLimiter } from '../../src/api/limiter.js';

/** A task that runs until released, recording how many run at once. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((r) => {
    release = r;
  });
  return { promise, release };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('WorkLimiter', () => {
  test('runs at most maxRunning tasks at once, queues up to maxWaiting, refuses the rest at once', async () => {
    const l = new WorkLimiter(2, 3);
    const gates = Array.from({ length: 5 }, gate);
    let running = 0;
    let peak = 0;
    const results = gates.map((g, i) => l.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await g.promise;
      running--;
      return i;
    }));
    // The sixth call finds 2 running (admitted) and 3 waiting: refused without waiting.
    await assert.rejects(l.run(() => Promise.resolve(99)), (e: unknown) => e instanceof LimiterFullError && e.running === 2 && e.waiting === 3);
    assert.deepEqual({ running: l.stats.running, waiting: l.stats.waiting, rejected: l.stats.rejected }, { running: 2, waiting: 3, rejected: 1 });
    await tick();
    assert.equal(running, 2);
    for (const g of gates) g.release();
    assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4]);
    assert.equal(peak, 2);
    assert.deepEqual({ running: l.stats.running, waiting: l.stats.waiting }, { running: 0, waiting: 0 });
  });

  test('with the reference defaults (1 running, queue 100) a second task waits instead of running', async () => {
    const l = new WorkLimiter(1, 100);
    const g = gate();
    const order: string[] = [];
    const a = l.run(async () => {
      order.push('a start');
      await g.promise;
      order.push('a end');
    });
    const b = l.run(() => {
      order.push('b start');
      return Promise.resolve();
    });
    await tick();
    await tick();
    assert.deepEqual(order, ['a start']);
    assert.equal(l.stats.waiting, 1);
    g.release();
    await Promise.all([a, b]);
    assert.deepEqual(order, ['a start', 'a end', 'b start']);
  });

  test('never starts a task inline: synchronous work started in one turn is admitted, queued or refused together', async () => {
    const l = new WorkLimiter(1, 1);
    let ran = 0;
    const work = (): Promise<number> => Promise.resolve(++ran);
    const calls = [l.run(work), l.run(work), l.run(work)];
    assert.equal(ran, 0, 'nothing runs before the event loop turns');
    const settled = await Promise.allSettled(calls);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected']);
    assert.ok((settled[2] as PromiseRejectedResult).reason instanceof LimiterFullError);
    assert.equal(ran, 2);
  });

  test('waiting tasks start in arrival order', async () => {
    const l = new WorkLimiter(1, 10);
    const g = gate();
    const order: number[] = [];
    const first = l.run(() => g.promise);
    const rest = [1, 2, 3, 4].map((i) => l.run(() => {
      order.push(i);
      return Promise.resolve();
    }));
    g.release();
    await first;
    await Promise.all(rest);
    assert.deepEqual(order, [1, 2, 3, 4]);
  });

  test('a failing task releases its slot and its error reaches the caller', async () => {
    const l = new WorkLimiter(1, 1);
    await assert.rejects(l.run(() => Promise.reject(new Error('boom'))), /boom/);
    await assert.rejects(l.run(() => {
      throw new Error('sync boom');
    }), /sync boom/);
    assert.equal(await l.run(() => Promise.resolve(7)), 7);
    assert.equal(l.stats.running, 0);
  });

  test('an aborted waiter leaves the queue and frees its place; a started task is not aborted', async () => {
    const l = new WorkLimiter(1, 1);
    const g = gate();
    const ac1 = new AbortController();
    const first = l.run(() => g.promise.then(() => 'first'), ac1.signal);
    const ac2 = new AbortController();
    let secondRan = false;
    const second = l.run(() => {
      secondRan = true;
      return Promise.resolve();
    }, ac2.signal);
    await tick();
    ac1.abort(); // already running: no effect
    ac2.abort();
    await assert.rejects(second, LimiterAbortedError);
    assert.equal(l.stats.waiting, 0);
    const third = l.run(() => Promise.resolve('third')); // the freed place is usable
    g.release();
    assert.equal(await first, 'first');
    assert.equal(await third, 'third');
    assert.equal(secondRan, false);
    await assert.rejects(l.run(() => Promise.resolve(1), AbortSignal.abort()), LimiterAbortedError);
  });

  test('configure: more slots start waiting tasks at once; a smaller queue applies to new arrivals only', async () => {
    const l = new WorkLimiter(1, 5);
    const g = gate();
    let running = 0;
    const task = async (): Promise<void> => {
      running++;
      await g.promise;
      running--;
    };
    const all = Array.from({ length: 4 }, () => l.run(task));
    await tick();
    assert.equal(running, 1);
    l.configure(3, 5);
    await tick();
    assert.equal(running, 3);
    assert.equal(l.stats.waiting, 1);
    l.configure(3, 1);
    assert.equal(l.stats.waiting, 1, 'the task already waiting keeps its place');
    await assert.rejects(l.run(task), LimiterFullError);
    g.release();
    await Promise.all(all);
    assert.equal(running, 0);
  });

  test('limits must be positive integers', () => {
    assert.throws(() => new WorkLimiter(0, 1), RangeError);
    assert.throws(() => new WorkLimiter(1, 1.5), RangeError);
    assert.throws(() => new WorkLimiter(1, 1).configure(1, 0), RangeError);
  });

  test('a long run of tasks through a small queue neither leaks nor stalls', async () => {
    const l = new WorkLimiter(2, 3);
    let done = 0;
    let refused = 0;
    for (let round = 0; round < 500; round++) {
      const batch = Array.from({ length: 6 }, () => l.run(() => {
        done++;
        return Promise.resolve();
      }).catch((e: unknown) => {
        if (e instanceof LimiterFullError) refused++;
        else throw e;
      }));
      await Promise.all(batch);
    }
    assert.equal(done + refused, 3000);
    assert.equal(done, 2500);
    assert.deepEqual({ running: l.stats.running, waiting: l.stats.waiting }, { running: 0, waiting: 0 });
  });
});
