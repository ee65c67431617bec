/**
 * The retained keeper over the real registry table, and the broker's persistence writing
 * through to it: limits (checked on admission and again when stored), empty payloads
 * deleting, and what a reopened registry loads.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LiveSessions } from '../../src/broker/live-sessions.js';
import { SessionStore } from '../../src/broker/persistence.js';
import { RetainedKeeper, RetainedLimitError } from '../../src/broker/retained.js';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { tempDir } from '../helpers/tmp-dir.js';

const LIMITS = { maxPayloadBytes: 10, maxMessages: 2, maxTotalBytes: 15 };

async function streamed(store: SessionStore, pattern: string): Promise<string[]> {
  const out: string[] = [];
  const s = (store as unknown as { createRetainedStream(p: string): AsyncIterable<{ topic: string; payload: Buffer }> }).createRetainedStream(pattern);
  for await (const p of s) out.push(`${p.topic}=${Buffer.from(p.payload).toString()}`);
  return out.sort();
}

const packet = (topic: string, payload: string, qos = 1): { cmd: string; topic: string; payload: Buffer; qos: number; retain: boolean } =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: true });

describe('retained messages: keeper, registry table, persistence', () => {
  test('admit and store apply every limit; a store that no longer fits is refused and changes nothing', async () => {
    const dir = await tempDir('gatehouse-retained-');
    const registry = SqliteRegistry.open({ file: registryPath(dir.path) });
    try {
      const keeper = new RetainedKeeper(registry.retained(), LIMITS, () => 1000);
      await keeper.load();
      assert.deepEqual(keeper.admit('a', 11), { ok: false, reason: 'RETAINED_PAYLOAD_TOO_LARGE', message: 'a retained payload of 11 bytes exceeds gatehouse.retained.maxPayloadBytes (10)' });
      assert.equal(keeper.admit('a', 10).ok, true);
      // Two publishes admitted before either is stored: the second store is refused.
      assert.equal(keeper.admit('b', 8).ok, true);
      await keeper.store('a', Buffer.alloc(10, 1), 1);
      await assert.rejects(keeper.store('b', Buffer.alloc(8, 2), 0), (e: Error) => e instanceof RetainedLimitError && e.reason === 'RETAINED_STORE_FULL');
      assert.equal(await keeper.get('b'), undefined);
      assert.deepEqual([keeper.count, keeper.totalBytes], [1, 10]);
      await keeper.store('b', Buffer.alloc(5, 2), 0);
      // Count: a third topic is refused; replacing one counts the difference only.
      const third = keeper.admit('c', 1);
      assert.equal(third.ok ? '' : third.reason, 'RETAINED_STORE_FULL');
      assert.equal(keeper.admit('b', 5).ok, true);
      assert.equal(keeper.admit('b', 6).ok, false, '10 + 6 > 15 bytes');
      // An empty payload deletes, and is always admitted.
      assert.equal(keeper.admit('c', 0).ok, true);
      await keeper.store('a', Buffer.alloc(0), 1);
      assert.equal(await keeper.get('a'), undefined);
      assert.deepEqual([keeper.count, keeper.totalBytes], [1, 5]);
      assert.deepEqual(await keeper.list({ limit: 10 }), [{ topic: 'b', payloadSize: 5, qos: 0, modifiedAt: 1000 }]);
    } finally {
      await registry.close();
      await dir.cleanup();
    }
  });

  test('the persistence writes through, refuses over the limit, and a new broker loads what was stored', async () => {
    const dir = await tempDir('gatehouse-retained-');
    let registry = SqliteRegistry.open({ file: registryPath(dir.path) });
    try {
      const keeper = new RetainedKeeper(registry.retained(), LIMITS);
      const store = new SessionStore(new LiveSessions(), keeper);
      await store.setup(undefined);
      assert.equal(await store.loadRetained(), 0);
      await store.storeRetained(packet('s/1', 'one'));
      await store.storeRetained(packet('s/2', 'two', 0));
      await assert.rejects(store.storeRetained(packet('s/3', 'three')), RetainedLimitError);
      assert.deepEqual(await streamed(store, 's/#'), ['s/1=one', 's/2=two'], 'the refused message is not in memory either');
      await store.storeRetained(packet('s/2', ''));
      assert.deepEqual(await streamed(store, 's/#'), ['s/1=one']);
      assert.equal(await store.dropRetained('s/1'), true);
      assert.deepEqual(await streamed(store, 's/#'), []);
      await store.storeRetained(packet('s/9', 'nine', 2));
      await registry.close();

      registry = SqliteRegistry.open({ file: registryPath(dir.path) });
      const keeper2 = new RetainedKeeper(registry.retained(), LIMITS);
      const store2 = new SessionStore(new LiveSessions(), keeper2);
      await store2.setup(undefined);
      assert.equal(await store2.loadRetained(), 1);
      assert.deepEqual(await streamed(store2, '#'), ['s/9=nine']);
      assert.deepEqual([keeper2.count, keeper2.totalBytes], [1, 4]);
      const m = await keeper2.get('s/9');
      assert.deepEqual([m?.qos, m?.payload.toString()], [2, 'nine']);
    } finally {
      await registry.close();
      await dir.cleanup();
    }
  });
});
