/**
 * The start-up self-check of the security fixes carried for aedes 2.0.0-beta.1
 * (src/broker/carried-fixes.ts): the maps it replaces are where it expects them on the
 * installed aedes, and when they are not the gateway refuses to start (or the connection
 * is refused) instead of running without the fix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassThrough } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import { CarriedFixesError, prototypeFreeBroker, prototypeFreeClient } from '../../src/broker/carried-fixes.js';

async function withBroker(f: (broker: Aedes) => Promise<void> | void): Promise<void> {
  const broker = await Aedes.createBroker();
  try {
    await f(broker);
  } finally {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
}

type Internals = Record<string, unknown>;

test('on the installed aedes: the broker\'s clients/brokers and each client\'s subscriptions/duplicates end up without a prototype', async () => {
  await withBroker((broker) => {
    prototypeFreeBroker(broker);
    const b = broker as unknown as Internals;
    assert.equal(Object.getPrototypeOf(b['clients']), null);
    assert.equal(Object.getPrototypeOf(b['brokers']), null);
    assert.equal((b['clients'] as Internals)['constructor'], undefined);
    const conn = new PassThrough();
    const client = prototypeFreeClient(broker.handle(conn));
    assert.ok(client, 'the client is kept');
    const c = client as unknown as Internals;
    assert.equal(Object.getPrototypeOf(c['subscriptions']), null);
    assert.equal(Object.getPrototypeOf(c['duplicates']), null);
    assert.equal((c['subscriptions'] as Internals)['__proto__'], undefined);
    conn.destroy();
  });
});

for (const field of ['clients', 'brokers'] as const) {
  test(`start-up refuses with BROKER_CARRIED_FIXES_UNAVAILABLE when the broker has no plain \`${field}\` map`, async () => {
    await withBroker((broker) => {
      const b = broker as unknown as Internals;
      const saved = b[field];
      b[field] = new Map();
      try {
        assert.throws(() => prototypeFreeBroker(broker), (e: unknown) => e instanceof CarriedFixesError && e.code === 'BROKER_CARRIED_FIXES_UNAVAILABLE' && e.message.includes(field) && e.fix !== undefined);
        delete b[field];
        assert.throws(() => prototypeFreeBroker(broker), CarriedFixesError);
      } finally {
        b[field] = saved;
      }
    });
  });
}

for (const field of ['subscriptions', 'duplicates'] as const) {
  test(`start-up refuses when a client's \`${field}\` is not a plain object, and such a connection is closed`, async () => {
    await withBroker((broker) => {
      const handle = broker.handle.bind(broker);
      broker.handle = ((stream: PassThrough) => {
        const c = handle(stream);
        // Another shape (what a release that moved to a Map would have); aedes can still close it.
        (c as unknown as Internals)[field] = new Map();
        return c;
      }) as typeof broker.handle;
      assert.throws(() => prototypeFreeBroker(broker), (e: unknown) => e instanceof CarriedFixesError && e.message.includes(field));
      const conn = new PassThrough();
      const client: Client = broker.handle(conn);
      assert.equal(prototypeFreeClient(client), undefined);
      assert.equal(conn.destroyed, true);
    });
  });
}
