import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from 'aedes';
import { compileDeviceGroups, validateConfig } from '../../src/core/index.js';
import { LiveSession } from '../../src/broker/live-sessions.js';
import { mayReceive, RECEIVE_CACHE_LIMIT } from '../../src/broker/receive.js';

function snapshot(filters: string[]) {
  const r = validateConfig({ deviceGroups: { formatVersion: '2021-03-05', definitions: { R: { selectionRule: 'thingName: reader-*', policyName: 'P' } }, policies: { P: {
    S: { statementDescription: 'read', operations: ['mqtt:subscribe'], resources: filters.map((f) => 'mqtt:topicfilter:' + f) },
  } } } });
  assert.ok(r.ok);
  return compileDeviceGroups(r.deviceGroups);
}
const principal = { thingName: 'reader-1', clientId: 'reader-1', attributes: {} };
const session = (filters: string[]): LiveSession =>
  new LiveSession({} as Client, { ...principal, certificateId: 'c' }, 's', snapshot(filters).view(principal), { clientId: 'reader-1', thingName: 'reader-1' });

test('mayReceive: a granted filter that matches and is still allowed', () => {
  const s = session(['public/#', 'sensors/+/t']);
  assert.equal(mayReceive(s, 'public/a'), false, 'nothing granted yet');
  s.grant('public/#');
  assert.equal(mayReceive(s, 'public/a'), true, 'a grant clears the cached refusal');
  assert.equal(mayReceive(s, 'sensors/x/t'), false, 'allowed by the policy but not subscribed');
  assert.equal(mayReceive(s, '$SYS/x'), false);
  s.revoke('public/#');
  assert.equal(mayReceive(s, 'public/a'), false, 'a revocation clears the cached answer');
});

test('mayReceive: a new view applies at once, even to cached topics', () => {
  const s = session(['public/#']);
  s.grant('public/#');
  assert.equal(mayReceive(s, 'public/a'), true);
  s.setView(snapshot(['other/#']).view(principal));
  assert.equal(mayReceive(s, 'public/a'), false, 'the filter is held but no longer allowed');
});

test('mayReceive: the per-session cache is bounded', () => {
  const s = session(['t/#']);
  s.grant('t/#');
  for (let i = 0; i < RECEIVE_CACHE_LIMIT * 3; i++) assert.equal(mayReceive(s, `t/${i}`), true);
  assert.ok(s.receivable.size <= RECEIVE_CACHE_LIMIT);
});
