/**
 * The broker's Redis side (redis-cluster.ts) against a private redis-server: the router
 * keeps its backlog in the O(1) FIFO, messages go through Redis, and the carried
 * security fixes of the session store hold on the Redis persistence (the inbound QoS 2
 * cap, and a clean session forgetting its inbound QoS 2 identifiers in Redis), and a
 * publish is not reported done while the node's own delivery backlog is over its bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Aedes } from 'aedes';
import { Fifo } from '../../src/broker/fifo.js';
import { LiveSessions } from '../../src/broker/live-sessions.js';
import { InboundQos2LimitError, MAX_INFLIGHT_INBOUND, SessionStore } from '../../src/broker/persistence.js';
import { BACKLOG_HIGH, BACKLOG_LOW, RedisCluster, RedisClusterError, displayRedisUrl, redisPatternFor } from '../../src/broker/redis-cluster.js';
import { waitUntil } from '../helpers/wait.js';
import { sharedRedis, type RedisServer } from '../helpers/redis.js';

const server = await sharedRedis();
const skip = typeof server === 'string' ? server : false;

describe('the broker on Redis', { skip }, () => {
  const redis = server as RedisServer;
  let cluster: RedisCluster;
  let store: SessionStore;
  let aedes: Aedes;

  before(async () => {
    cluster = await RedisCluster.open({ url: redis.url, keyPrefix: 'unit:', nodeName: 'unit', connectTimeoutMs: 2000 });
    store = new SessionStore(new LiveSessions(), undefined, { backend: cluster.persistence });
    aedes = await Aedes.createBroker({ mq: cluster.mq, persistence: store as never, id: cluster.brokerId });
  });
  after(async () => {
    await new Promise<void>((r) => aedes?.close(() => r()));
    await cluster?.close();
  });

  test('the Redis router keeps its backlog in the O(1) FIFO, and routes through Redis', async () => {
    const internals = cluster.mq as unknown as { _messageQueue: unknown; _messageCallbacks: unknown };
    assert.ok(internals._messageQueue instanceof Fifo);
    assert.ok(internals._messageCallbacks instanceof Fifo);
    const got = new Promise<string>((resolve) => {
      aedes.subscribe('unit/+/x', (packet: { payload: Buffer | string }, cb: () => void) => {
        resolve(String(packet.payload));
        cb();
      }, () => {
        aedes.publish({ cmd: 'publish', topic: 'unit/a/x', payload: Buffer.from('through redis'), qos: 0, retain: false, dup: false } as never, () => undefined);
      });
    });
    assert.equal(await got, 'through redis');
    assert.match(cluster.brokerId, /^unit\.[0-9a-f]{8}$/);
  });

  test('filters with characters special to Redis patterns still get every message they match', { timeout: 10_000 }, async () => {
    // [ ] ? * and \ are ordinary characters of MQTT topics, but Redis patterns give them a meaning.
    const filters = ['unit/[x]/+', 'unit/a\\b/#', 'unit/what?/+', 'unit/star*/#'];
    const topics = ['unit/[x]/y', 'unit/a\\b', 'unit/what?/z', 'unit/star*/p/q'];
    const got: string[] = [];
    let resolveAll: () => void;
    const all = new Promise<void>((resolve) => (resolveAll = resolve));
    // Subscribed once Redis has answered each PSUBSCRIBE.
    await Promise.all(filters.map((f) => new Promise<void>((subscribed) => {
      aedes.subscribe(f, (packet: { topic: string }, cb: () => void) => {
        got.push(`${f} <- ${packet.topic}`);
        if (got.length === filters.length) resolveAll();
        cb();
      }, subscribed);
    })));
    for (const topic of [...topics, 'unit/x/y', 'unit/ab']) {
      aedes.publish({ cmd: 'publish', topic, payload: Buffer.from('p'), qos: 0, retain: false, dup: false } as never, () => undefined);
    }
    await all;
    assert.deepEqual(got.sort(), filters.map((f, i) => `${f} <- ${topics[i]!}`).sort());
  });

  test('the Redis pattern of a filter escapes what Redis patterns treat as special', () => {
    assert.equal(redisPatternFor('p:', 'a/+/b'), 'p:a/*/b');
    assert.equal(redisPatternFor('p:', 'a/#'), 'p:a*');
    assert.equal(redisPatternFor('p:', '#'), 'p:*');
    assert.equal(redisPatternFor('p:', '+/[x]/?/*/\\'), 'p:*/\\[x\\]/\\?/\\*/\\\\');
  });

  test('back-pressure: while the backlog of deliveries is over its bound, a publish is done only once it has drained', async () => {
    const internals = cluster.mq as unknown as { _messageQueue: { length: number } };
    // A subscriber that holds every delivery until told: its 100 slots fill, the rest waits.
    const held: (() => void)[] = [];
    let delivered = 0;
    await new Promise<void>((r) => aedes.subscribe('unit/bp/#', (_p: unknown, cb: () => void) => { delivered++; held.push(cb); }, () => r()));
    const emit = (i: number): Promise<void> => new Promise((resolve, reject) => {
      cluster.mq.emit({ topic: `unit/bp/${i}`, payload: Buffer.from(String(i)) } as never, (err?: Error) => (err ? reject(err) : resolve()));
    });
    // Below the bound a publish is done as soon as Redis took it.
    const first = Array.from({ length: BACKLOG_HIGH + 200 }, (_, i) => emit(i));
    await waitUntil(() => internals._messageQueue.length >= BACKLOG_HIGH + 100, 10_000, 'the backlog built up');
    // Over it: this publish reaches Redis and comes back, but is not done...
    let lateDone = false;
    const late = emit(99_999).then(() => { lateDone = true; });
    await waitUntil(() => internals._messageQueue.length >= BACKLOG_HIGH + 101, 10_000, 'the late message came back through Redis');
    await new Promise((r) => setImmediate(r));
    assert.equal(lateDone, false, 'a publish is not done while the backlog is over its bound');
    // ...until the subscriber lets the backlog drain to BACKLOG_LOW.
    const release = setInterval(() => { while (held.length > 0) held.shift()!(); }, 1);
    try {
      await late;
      assert.ok(internals._messageQueue.length <= BACKLOG_LOW, `done with ${internals._messageQueue.length} still waiting`);
      await Promise.all(first);
      await waitUntil(() => delivered === BACKLOG_HIGH + 201, 10_000, 'every message delivered, in the end');
    } finally {
      clearInterval(release);
    }
  });

  test('a clean session forgets its inbound QoS 2 identifiers in Redis', async () => {
    const client = { id: 'qos2-client' };
    const packet = { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, messageId: 7 };
    await store.incomingStorePacket(client, packet);
    const inner = cluster.persistence as { incomingGetPacket(c: unknown, p: unknown): Promise<unknown> };
    assert.ok(await inner.incomingGetPacket(client, { messageId: 7 }));
    // aedes calls cleanSubscriptions on every clean CONNECT.
    await store.cleanSubscriptions(client);
    await assert.rejects(inner.incomingGetPacket(client, { messageId: 7 }), /no such packet/);
    assert.equal(store.awaitingPubrel(client.id), 0);
  });

  test('at most MAX_INFLIGHT_INBOUND inbound QoS 2 messages await PUBREL per client', async () => {
    const client = { id: 'qos2-flood' };
    for (let id = 1; id <= MAX_INFLIGHT_INBOUND; id++) await store.incomingStorePacket(client, { messageId: id });
    await assert.rejects(store.incomingStorePacket(client, { messageId: MAX_INFLIGHT_INBOUND + 1 }), InboundQos2LimitError);
    await store.cleanSubscriptions(client);
  });

  test('an unreachable Redis at start is CLUSTER_REDIS_UNAVAILABLE, with the password masked', async () => {
    const url = `redis://:not-the-secret@127.0.0.1:1`;
    await assert.rejects(RedisCluster.open({ url, keyPrefix: 'unit:', connectTimeoutMs: 300 }), (e: unknown) => {
      assert.ok(e instanceof RedisClusterError);
      assert.equal(e.code, 'CLUSTER_REDIS_UNAVAILABLE');
      assert.ok(!e.message.includes('not-the-secret'));
      return true;
    });
    assert.equal(displayRedisUrl(redis.url).includes(redis.password), false);
  });
});
