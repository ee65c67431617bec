/** The ring of recent MQTT denials: numbering, wrap-around, reading after a number, counts by reason, bounded texts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DenialFeed } from '../../src/observability/denials.js';

const denial = (i: number) => ({ at: i, operation: 'mqtt:publish', reason: 'NO_MATCHING_STATEMENT', resource: `mqtt:topic:t/${i}` });

test('entries are numbered from 1 and read after a number, oldest first, at most limit (the newest)', () => {
  const f = new DenialFeed(10);
  assert.equal(f.latest, 0);
  assert.deepEqual(f.since(0, 10), []);
  for (let i = 1; i <= 4; i++) assert.equal(f.record(denial(i)), i);
  assert.deepEqual(f.since(0, 10).map((d) => d.seq), [1, 2, 3, 4]);
  assert.deepEqual(f.since(2, 10).map((d) => d.seq), [3, 4]);
  assert.deepEqual(f.since(0, 2).map((d) => d.seq), [3, 4], 'the newest when more are held');
  assert.deepEqual(f.since(4, 10), []);
});

test('the ring keeps the last `capacity` entries', () => {
  const f = new DenialFeed(3);
  for (let i = 1; i <= 8; i++) f.record(denial(i));
  assert.deepEqual(f.since(0, 100).map((d) => d.seq), [6, 7, 8]);
  assert.deepEqual(f.since(6, 100).map((d) => d.resource), ['mqtt:topic:t/7', 'mqtt:topic:t/8']);
  assert.equal(f.latest, 8);
});

test('counts by reason are kept apart from the ring; long texts are cut; undefined fields left out', () => {
  const f = new DenialFeed(2);
  f.count('NO_MATCHING_STATEMENT');
  f.count('NO_MATCHING_STATEMENT');
  f.count('RESERVED_TOPIC');
  assert.deepEqual(f.byReason(), { NO_MATCHING_STATEMENT: 2, RESERVED_TOPIC: 1 });
  f.record({ at: 1, operation: 'mqtt:publish', reason: 'R', resource: 'x'.repeat(5000), policy: undefined, suppressed: 0 });
  const [d] = f.since(0, 1);
  assert.equal(d!.resource!.length, 1024);
  assert.deepEqual(Object.keys(d!).sort(), ['at', 'operation', 'reason', 'resource', 'seq']);
});
