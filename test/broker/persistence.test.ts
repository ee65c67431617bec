import assert from 'node:assert/strict';
import { test } from 'node:test';
import memoryPersistence from 'aedes-persistence';
import { LiveSessions } from '../../src/broker/live-sessions.js';
import { SessionStore, type QueuedPacket } from '../../src/broker/persistence.js';

// The session store wraps aedes' in-memory persistence (aedes-persistence 11) and relies
// on how it matches queued messages; these tests fail if an upgrade changes that.

interface Inner {
  setup(broker: unknown): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: unknown): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<QueuedPacket>;
}

const broker = { id: 'broker-1', counter: 0 };
const message = (n: number): Record<string, unknown> => ({ cmd: 'publish', topic: `t/${n}`, payload: Buffer.from(String(n)), qos: 1, retain: false, brokerId: broker.id, brokerCounter: n });
const topics = async (it: AsyncIterable<QueuedPacket>): Promise<string[]> => {
  const out: string[] = [];
  for await (const p of it) out.push(p.topic);
  return out;
};

test('aedes-persistence: clearing a message without a packet identifier removes the first such message, whichever it is', async () => {
  const inner = (memoryPersistence as unknown as () => Inner)();
  await inner.setup(broker);
  for (const n of [1, 2]) await inner.outgoingEnqueueCombi([{ clientId: 'c' }], message(n));
  await inner.outgoingClearMessageId({ id: 'c' }, { ...message(2), messageId: undefined });
  assert.deepEqual(await topics(inner.outgoingStream({ id: 'c' })), ['t/2'], 'the store removed t/1 for a request about t/2');
});

test('SessionStore removes exactly the message asked for, with or without a packet identifier', async () => {
  const store = new SessionStore(new LiveSessions());
  await store.setup(broker);
  const enqueue = (subs: { clientId: string }[], packet: ReturnType<typeof message>): Promise<void> => (store as unknown as Inner).outgoingEnqueueCombi(subs, packet);
  for (const n of [1, 2, 3]) await enqueue([{ clientId: 'c' }], message(n));
  assert.ok(await store.removeQueued({ id: 'c' }, { cmd: 'publish', topic: 't/2', brokerId: broker.id, brokerCounter: 2 }));
  assert.deepEqual((await store.queued({ id: 'c' })).map((p) => p.topic), ['t/1', 't/3']);
  // aedes refusing a delivery to a connection whose session already ended (it is closing):
  // the message stays queued for the session's next connection, which decides it again.
  assert.equal(await store.outgoingClearMessageId({ id: 'c' }, { cmd: 'publish', topic: 't/1', brokerId: broker.id, brokerCounter: 1 }), undefined);
  assert.deepEqual((await store.queued({ id: 'c' })).map((p) => p.topic), ['t/1', 't/3']);
  // A message not queued for the client: nothing is removed.
  assert.equal(await store.removeQueued({ id: 'c' }, { cmd: 'publish', topic: 't/9', brokerId: broker.id, brokerCounter: 9 }), undefined);
  assert.equal(await store.removeQueued({ id: 'c' }, { cmd: 'publish', topic: 't/9', brokerId: null, brokerCounter: 9 }), undefined);
  assert.deepEqual((await store.queued({ id: 'c' })).map((p) => p.topic), ['t/1', 't/3']);
});

test('SessionStore stores no subscription for a connection without a live session', async () => {
  const store = new SessionStore(new LiveSessions());
  await store.setup(broker);
  await store.addSubscriptions({ id: 'c' }, [{ topic: 'a/#', qos: 1 }]);
  assert.deepEqual(await store.subscriptionsByClient({ id: 'c' }), []);
  assert.deepEqual(store.persistentClientIds(), []);
});
