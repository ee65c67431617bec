import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Fifo } from '../../src/broker/fifo.js';

test('Fifo behaves like an array used with push/shift/length (differential, random operations)', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.integer(), fc.constant('shift' as const)), { maxLength: 3000 }), (ops) => {
    const fifo = new Fifo<number>();
    const ref: number[] = [];
    for (const op of ops) {
      if (op === 'shift') assert.equal(fifo.shift(), ref.shift());
      else assert.equal(fifo.push(op), ref.push(op));
      assert.equal(fifo.length, ref.length);
      assert.equal(fifo.peek(), ref[0]);
    }
    while (ref.length > 0) assert.equal(fifo.shift(), ref.shift());
    assert.equal(fifo.shift(), undefined);
  }), { numRuns: 200 });
});

test('Fifo keeps order across growth, wrap-around and shrinking after a burst', () => {
  const fifo = new Fifo<number>();
  let next = 0;
  let expected = 0;
  // Interleave so the ring wraps before it grows.
  for (let i = 0; i < 10; i++) fifo.push(next++);
  for (let i = 0; i < 5; i++) assert.equal(fifo.shift(), expected++);
  for (let i = 0; i < 100_000; i++) fifo.push(next++);
  while (fifo.length > 0) assert.equal(fifo.shift(), expected++);
  assert.equal(expected, next);
  // After the burst the emptied buffer is small again and still works.
  fifo.push(1);
  fifo.push(2);
  assert.equal(fifo.shift(), 1);
  assert.equal(fifo.shift(), 2);
  assert.equal(fifo.length, 0);
});
