import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isShareTopic, matchingFilter, parseShared, topicMatchesFilter } from '../../src/broker/topics.js';
import { receivable } from '../../src/broker/receive.js';
import { compileDeviceGroups, validateConfig } from '../../src/core/index.js';

/** MQTT 3.1.1 §4.7, written the obvious way: split both into levels and compare. */
function naive(topic: string, filter: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('#') || filter.startsWith('+'))) return false;
  const t = topic.split('/');
  const f = filter.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return t.length === f.length;
}

test('topicMatchesFilter: the examples of MQTT 3.1.1 §4.7', () => {
  const cases: [string, string, boolean][] = [
    ['sport/tennis/player1', 'sport/tennis/player1/#', true],
    ['sport/tennis/player1/ranking', 'sport/tennis/player1/#', true],
    ['sport/tennis/player1/score/wimbledon', 'sport/tennis/player1/#', true],
    ['sport', 'sport/#', true],
    ['sport/tennis/player1', 'sport/tennis/+', true],
    ['sport/tennis/player1/ranking', 'sport/tennis/+', false],
    ['sport/', 'sport/+', true],
    ['sport', 'sport/+', false],
    ['/finance', '+/+', true],
    ['/finance', '/+', true],
    ['/finance', '+', false],
    ['$SYS/x', '#', false],
    ['$SYS/monitor/Clients', '+/monitor/Clients', false],
    ['$SYS/monitor/Clients', '$SYS/#', true],
    ['$SYS/monitor/Clients', '$SYS/monitor/+', true],
    ['a', 'a', true],
    ['a', 'b', false],
    ['ab', 'a', false],
    ['a', 'ab', false],
  ];
  for (const [topic, filter, expected] of cases) assert.equal(topicMatchesFilter(topic, filter), expected, `${topic} ~ ${filter}`);
});

test('topicMatchesFilter agrees with the level-splitting reference', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'b', '/', '+', '#', '$'), maxLength: 8 });
  fc.assert(fc.property(text, text, (topic, filter) => topicMatchesFilter(topic, filter) === naive(topic, filter)), { numRuns: 20000, seed: 10 });
});

test('parseShared: $share/{ShareName}/{TopicFilter} (MQTT 5.0 §4.8.2), malformed ones, and filters that are not shared', () => {
  assert.deepEqual(parseShared('$share/g/a/b'), { shareName: 'g', topicFilter: 'a/b' });
  assert.deepEqual(parseShared('$share/g/#'), { shareName: 'g', topicFilter: '#' });
  assert.deepEqual(parseShared('$share/g/$share/x'), { shareName: 'g', topicFilter: '$share/x' });
  for (const bad of ['$share/', '$share/g', '$share/g/', '$share//a', '$share/+/a', '$share/#/a', '$share/g+/a']) assert.equal(parseShared(bad), 'invalid', bad);
  for (const plain of ['a/b', '$share', '$SHARE/g/a', '$sys/x', 'share/g/a']) assert.equal(parseShared(plain), undefined, plain);
  assert.equal(matchingFilter('$share/g/a/+'), 'a/+');
  assert.equal(matchingFilter('a/+'), 'a/+');
  assert.equal(topicMatchesFilter('a', matchingFilter('$share//a')), false, 'an invalid shared filter matches nothing');
  assert.equal(isShareTopic('$share/g/a'), true);
  assert.equal(isShareTopic('share/g/a'), false);
});

test('receivable: a shared filter matches with its TopicFilter and must itself still be allowed (the Greengrass rule)', () => {
  const r = validateConfig({ deviceGroups: { formatVersion: '2021-03-05', definitions: { G: { selectionRule: 'thingName: *', policyName: 'P' } },
    policies: { P: { S: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:$share/g/jobs/#', 'mqtt:topicfilter:plain/#'] } } } } });
  assert.ok(r.ok);
  const view = compileDeviceGroups(r.deviceGroups).view({ thingName: 'd', clientId: 'd', attributes: {} });
  assert.equal(receivable(view, ['$share/g/jobs/#'], 'jobs/a'), true);
  assert.equal(receivable(view, ['$share/g/jobs/#'], 'other/a'), false, 'the TopicFilter does not match');
  assert.equal(receivable(view, ['$share/h/jobs/#'], 'jobs/a'), false, 'another share name is not allowed by the policy');
  assert.equal(receivable(view, ['$share/g/jobs/#'], '$share/g/jobs/a'), false, 'a topic under $share/ matches no shared filter');
});
