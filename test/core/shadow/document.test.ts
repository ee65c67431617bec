/**
 * The Device Shadow document semantics (core/shadow/document.ts) against the AWS IoT
 * Developer Guide's documents and error messages.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyUpdate, DELETED_VERSION_KEPT_MS, deleteDocument, errorDocument, getDocument, parsePlainRequest, parseUpdateRequest,
  type ShadowFailure, type ShadowSlot, type UpdateOutcome,
} from '../../../src/core/shadow/document.js';
import { parseShadowRequestTopic } from '../../../src/core/shadow/topics.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const S0 = T0 / 1000;
const MAX = 8192;

function update(slot: ShadowSlot, body: unknown, now = T0, max = MAX): UpdateOutcome | ShadowFailure {
  const r = parseUpdateRequest(typeof body === 'string' ? body : JSON.stringify(body));
  if (!r.ok) return r;
  return applyUpdate(slot, r.request, now, max);
}

function ok(r: UpdateOutcome | ShadowFailure): UpdateOutcome {
  if (!r.ok) assert.fail(`refused: ${r.code} ${r.message}`);
  return r;
}

function refused(r: { readonly ok: boolean }): ShadowFailure {
  if (r.ok) assert.fail('accepted');
  return r as ShadowFailure;
}

const plain = (o: unknown): unknown => JSON.parse(JSON.stringify(o));

describe('shadow update: merge, null, metadata, version', () => {
  test('a first update creates version 1 with metadata timestamps (seconds) per value, and the accepted document echoes the request', () => {
    const r = ok(update({}, { state: { desired: { color: 'red', pos: { x: 1 } } }, clientToken: 'tok-1' }));
    assert.equal(r.current.version, 1);
    assert.deepEqual(plain(r.current.state), { desired: { color: 'red', pos: { x: 1 } } });
    assert.deepEqual(plain(r.current.metadata), { desired: { color: { timestamp: S0 }, pos: { x: { timestamp: S0 } } } });
    assert.deepEqual(plain(r.accepted), {
      state: { desired: { color: 'red', pos: { x: 1 } } },
      metadata: { desired: { color: { timestamp: S0 }, pos: { x: { timestamp: S0 } } } },
      version: 1, timestamp: S0, clientToken: 'tok-1',
    });
    assert.equal(r.previous, undefined);
  });

  test('updates merge key by key; null deletes a key; arrays replace whole; untouched keys keep their timestamps', () => {
    const first = ok(update({}, { state: { reported: { a: 1, b: { c: 2, d: 3 }, list: [1, 2, 3] } } }));
    const second = ok(update({ document: first.current }, { state: { reported: { a: null, b: { c: 5 }, list: [9] } } }, T0 + 10_000));
    assert.deepEqual(plain(second.current.state), { reported: { b: { c: 5, d: 3 }, list: [9] } });
    assert.deepEqual(plain(second.current.metadata), {
      reported: { b: { c: { timestamp: S0 + 10 }, d: { timestamp: S0 } }, list: [{ timestamp: S0 + 10 }] },
    });
    assert.equal(second.current.version, 2);
    // The accepted document shows the null with its timestamp.
    assert.deepEqual((plain(second.accepted) as { metadata: unknown }).metadata, { reported: { a: { timestamp: S0 + 10 }, b: { c: { timestamp: S0 + 10 } }, list: [{ timestamp: S0 + 10 }] } });
    assert.deepEqual(plain(second.documents), {
      previous: { state: { reported: { a: 1, b: { c: 2, d: 3 }, list: [1, 2, 3] } }, metadata: plain(first.current.metadata), version: 1 },
      current: { state: { reported: { b: { c: 5, d: 3 }, list: [9] } }, metadata: plain(second.current.metadata), version: 2 },
      timestamp: S0 + 10,
    });
  });

  test('desired: null removes desired; state: null removes both; removing every key removes the section', () => {
    const a = ok(update({}, { state: { desired: { x: 1 }, reported: { y: 2 } } }));
    const b = ok(update({ document: a.current }, { state: { desired: null } }));
    assert.deepEqual(plain(b.current.state), { reported: { y: 2 } });
    assert.deepEqual(plain(b.current.metadata), { reported: { y: { timestamp: S0 } } });
    const c = ok(update({ document: b.current }, { state: { reported: { y: null } } }));
    assert.deepEqual(plain(c.current.state), {});
    const d = ok(update({ document: a.current }, { state: null }));
    assert.deepEqual(plain(d.current.state), {});
    assert.equal(d.current.version, 2);
  });

  test('version: the request\'s must be the current one (409 Version conflict otherwise)', () => {
    const a = ok(update({}, { state: { reported: { n: 1 } } }));
    assert.equal(ok(update({ document: a.current }, { state: { reported: { n: 2 } }, version: 1 })).current.version, 2);
    const f = refused(update({ document: a.current }, { state: { reported: { n: 2 } }, version: 7, clientToken: 'c' }));
    assert.deepEqual([f.code, f.message, f.clientToken], [409, 'Version conflict', 'c']);
    assert.equal(refused(update({}, { state: { reported: { n: 2 } }, version: 3 })).code, 409);
  });

  test('a shadow re-created within 48 hours of its deletion continues its version; later, it starts again', () => {
    const slot: ShadowSlot = { deleted: { version: 7, at: T0 } };
    assert.equal(ok(update(slot, { state: { reported: { n: 1 } } }, T0 + 1000)).current.version, 8);
    assert.equal(ok(update(slot, { state: { reported: { n: 1 } } }, T0 + DELETED_VERSION_KEPT_MS)).current.version, 1);
  });

  test('size: desired and reported together at most the limit (413 The payload exceeds the maximum size allowed)', () => {
    const big = 'x'.repeat(MAX);
    const f = refused(update({}, { state: { reported: { big } } }));
    assert.deepEqual([f.code, f.message], [413, 'The payload exceeds the maximum size allowed']);
    // The limit counts the merged document: two halves that fit alone do not fit together.
    const half = 'y'.repeat(MAX / 2);
    const a = ok(update({}, { state: { desired: { half } } }));
    assert.equal(refused(update({ document: a.current }, { state: { reported: { half } } })).code, 413);
  });
});

describe('shadow delta', () => {
  test('desired keys that differ from reported, objects compared key by key, arrays whole; metadata of desired', () => {
    const a = ok(update({}, { state: { reported: { on: false, mode: { fan: 1, heat: 2 }, tags: [1, 2] } } }));
    assert.equal(a.delta, undefined);
    const b = ok(update({ document: a.current }, { state: { desired: { on: true, mode: { fan: 1, heat: 3 }, tags: [1, 2], extra: 'e' } }, clientToken: 't' }, T0 + 5000));
    assert.deepEqual(plain(b.delta), {
      version: 2, timestamp: S0 + 5, state: { on: true, mode: { heat: 3 }, extra: 'e' },
      metadata: { on: { timestamp: S0 + 5 }, mode: { heat: { timestamp: S0 + 5 } }, extra: { timestamp: S0 + 5 } }, clientToken: 't',
    });
    const got = plain(getDocument(b.current, T0 + 9000)) as { state: { delta: unknown }; timestamp: number };
    assert.deepEqual(got.state.delta, { on: true, mode: { heat: 3 }, extra: 'e' });
    assert.equal(got.timestamp, S0 + 9);
    const c = ok(update({ document: b.current }, { state: { reported: { on: true, mode: { heat: 3 }, extra: 'e' } } }));
    assert.equal(c.delta, undefined);
    assert.equal('delta' in (getDocument(c.current, T0).state as object), false);
  });
});

describe('shadow request validation: the documented 400 messages', () => {
  const cases: [string, unknown, string][] = [
    ['not JSON', '{"state":', 'Invalid JSON'],
    ['not an object', '[1]', 'Invalid JSON'],
    ['no state', { clientToken: 'x' }, 'Missing required node: state'],
    ['state a string', { state: 'on' }, 'State node must be an object'],
    ['desired an array', { state: { desired: [1] } }, 'Desired node must be an object'],
    ['reported a number', { state: { reported: 3 } }, 'Reported node must be an object'],
    ['another state node', { state: { desired: {}, wanted: {} } }, 'State contains an invalid node'],
    ['version negative', { state: { desired: {} }, version: -1 }, 'Invalid version'],
    ['version a string', { state: { desired: {} }, version: '1' }, 'Invalid version'],
    ['client token of 65 bytes', { state: { desired: {} }, clientToken: 'x'.repeat(65) }, 'Invalid clientToken'],
    ['client token a number', { state: { desired: {} }, clientToken: 5 }, 'Invalid clientToken'],
  ];
  for (const [what, body, message] of cases) {
    test(`${what}: 400 ${message}`, () => {
      const f = refused(update({}, body));
      assert.deepEqual([f.code, f.message], [400, message]);
    });
  }

  test('nesting: 6 levels counting desired as the first pass, 7 are refused', () => {
    // desired(1) a(2) b(3) c(4) d(5) e(6) holding a value.
    ok(update({}, { state: { desired: { a: { b: { c: { d: { e: { v: 1 } } } } } } } }));
    const f = refused(update({}, { state: { reported: { a: { b: { c: { d: { e: { f: { v: 1 } } } } } } } } }));
    assert.deepEqual([f.code, f.message], [400, 'JSON contains too many levels of nesting; maximum is 6']);
  });

  test('a client token of 64 bytes passes; a delta sent by a client is ignored; __proto__ is an ordinary key', () => {
    ok(update({}, { state: { desired: {} }, clientToken: 'x'.repeat(64) }));
    const r = ok(update({}, '{"state":{"desired":{"__proto__":{"polluted":1}},"delta":{"z":1}}}'));
    assert.deepEqual(Object.keys(r.current.state.desired!), ['__proto__']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  test('payloads that are not UTF-8: 415', () => {
    const r = parseUpdateRequest(Uint8Array.from([0x7b, 0xff, 0x7d]));
    assert.deepEqual(r.ok ? undefined : [r.code, r.message], [415, 'Unsupported documented encoding; supported encoding is UTF-8']);
  });

  test('get and delete payloads: empty, or an object with a client token', () => {
    assert.deepEqual(parsePlainRequest(''), { ok: true, request: {} });
    assert.deepEqual(parsePlainRequest('{"clientToken":"abc"}'), { ok: true, request: { clientToken: 'abc' } });
    assert.equal(refused(parsePlainRequest('nope')).message, 'Invalid JSON');
  });

  test('error and delete documents', () => {
    assert.deepEqual(plain(errorDocument({ ok: false, code: 404, message: "No shadow exists with name: 'lamp'" }, T0, 'ct')),
      { code: 404, message: "No shadow exists with name: 'lamp'", timestamp: S0, clientToken: 'ct' });
    assert.deepEqual(plain(deleteDocument(4, T0)), { version: 4, timestamp: S0 });
  });
});

describe('shadow topics', () => {
  test('request topics of classic and named shadows; responses and bad names are not requests', () => {
    assert.deepEqual(parseShadowRequestTopic('$aws/things/lamp/shadow/update'), { thingName: 'lamp', shadowName: '', operation: 'update' });
    assert.deepEqual(parseShadowRequestTopic('$aws/things/lamp/shadow/name/cfg-1/get'), { thingName: 'lamp', shadowName: 'cfg-1', operation: 'get' });
    for (const t of ['$aws/things/lamp/shadow/update/accepted', '$aws/things/lamp/shadow/name/a b/get', '$aws/things/lamp/shadow/patch', 'aws/things/lamp/shadow/get', `$aws/things/lamp/shadow/name/${'n'.repeat(65)}/get`]) {
      assert.equal(parseShadowRequestTopic(t), undefined, t);
    }
  });
});
