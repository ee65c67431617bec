/**
 * A will another node stored is published only with a readable owner of the same client
 * (cluster-wills.ts `readStoredWill`): anything else is refused, never published unchecked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readStoredWill } from '../../src/broker/cluster-wills.js';
import { WILL_OWNER_FIELD } from '../../src/broker/persistence.js';

const owner = { v: 1, thingName: 'dev-1', certificateId: 'a'.repeat(64), chainPem: '-----BEGIN CERTIFICATE-----\n…', context: { clientId: 'dev-1', thingName: 'dev-1' } };
const will = { topic: 't/will', payload: Buffer.from('gone'), qos: 1, retain: false, clientId: 'dev-1', brokerId: 'node-1.0a1b2c3d', [WILL_OWNER_FIELD]: owner };

test('a stored will with its owner is read whole', () => {
  const r = readStoredWill({ ...will, properties: { willDelayInterval: 5, contentType: 'text/plain' } });
  assert.ok(typeof r !== 'string', typeof r === 'string' ? r : '');
  assert.equal(r.topic, 't/will');
  assert.equal(r.payload.toString(), 'gone');
  assert.equal(r.qos, 1);
  assert.equal(r.owner.certificateId, owner.certificateId);
});

test('a stored will without a readable owner of the same client is refused', () => {
  const withOwner = (o: unknown): Record<string, unknown> => ({ ...will, [WILL_OWNER_FIELD]: o });
  assert.equal(readStoredWill(withOwner(undefined)), 'no owner recorded');
  assert.equal(readStoredWill(withOwner({ ...owner, v: 2 })), 'no owner recorded');
  assert.equal(readStoredWill(withOwner({ ...owner, chainPem: undefined })), 'owner unreadable');
  assert.equal(readStoredWill(withOwner({ ...owner, context: null })), 'owner unreadable');
  assert.equal(readStoredWill(withOwner({ ...owner, context: { clientId: 'dev-2', thingName: 'dev-1' } })), 'owner of another client');
  assert.equal(readStoredWill(withOwner({ ...owner, thingName: 'dev-2' })), 'owner of another client');
  assert.equal(readStoredWill({ ...will, clientId: undefined }), 'no client or broker id');
  assert.equal(readStoredWill({ ...will, topic: '' }), 'no topic');
  assert.equal(readStoredWill({ ...will, qos: 3 }), 'no QoS');
});
