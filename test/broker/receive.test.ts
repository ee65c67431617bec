import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from 'aedes';
import { CombinedView, compileDeviceGroups, compileIotPolicies, IotPart, validateConfig } from '../../src/core/index.js';
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

test('mayReceive under AWS IoT policies: iot:Subscribe alone does not grant iot:Receive', () => {
  // AWS IoT Core delivers a message only when iot:Receive allows its topic; a filter
  // allowed by iot:Subscribe says nothing about the topics it matches.
  const r = validateConfig({ deviceGroups: { formatVersion: '2021-03-05', definitions: { R: { selectionRule: 'thingName: reader-*', policyName: 'P' } }, policies: { P: {
    C: { statementDescription: 'connect', operations: ['mqtt:connect'], resources: ['mqtt:clientId:reader-1'] },
  } } } });
  assert.ok(r.ok);
  const arn = 'arn:aws:iot:eu-west-1:123456789012';
  const compiled = compileIotPolicies([{ name: 'Reader', document: { Version: '2012-10-17', Statement: [
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${arn}:topicfilter/a/#` },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${arn}:topic/a/public` },
  ] } }], { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' });
  assert.ok(compiled.ok);
  const part = new IotPart(compiled.set, { certificatePolicies: new Map([['c', ['Reader']]]), thingGroupPolicies: new Map(), thingGroups: new Map(), thingTypes: new Map() }, new Set());
  const context = { clientId: 'reader-1', thingName: 'reader-1', isAttached: true };
  const view = compileDeviceGroups(r.deviceGroups).withIot(part).connectionView(principal, 'c', context, () => 0);
  assert.ok(view instanceof CombinedView);
  assert.equal(view.decide('mqtt:subscribe', 'mqtt:topicfilter:a/#').allowed, true, 'the filter is allowed by iot:Subscribe');
  const s = new LiveSession({} as Client, { ...principal, certificateId: 'c' }, 's', view, context);
  s.grant('a/#');
  assert.equal(mayReceive(s, 'a/public'), true, 'iot:Receive allows this topic');
  assert.equal(mayReceive(s, 'a/secret'), false, 'no iot:Receive statement allows this topic');
});

test('mayReceive: long topics are decided but not remembered', () => {
  const s = session(['t/#']);
  s.grant('t/#');
  const long = `t/${'x'.repeat(60_000)}`;
  assert.equal(mayReceive(s, long), true);
  assert.equal(mayReceive(s, 't/short'), true);
  assert.deepEqual([...s.receivable.keys()], ['t/short'], 'a 60 KB topic is not kept alive by the cache');
});
