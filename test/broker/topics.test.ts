import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { topicMatchesFilter } from '../../src/broker/topics.js';

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
