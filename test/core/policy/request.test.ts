import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OPERATIONS, RESOURCE_PREFIX, operationIndex, splitResource, validNameChars } from '../../../src/core/policy/request.js';

describe('operations', () => {
  it('are the three MQTT operations, each checked on its resource type', () => {
    assert.deepEqual([...OPERATIONS], ['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe']);
    assert.deepEqual(RESOURCE_PREFIX, { 'mqtt:connect': 'mqtt:clientId:', 'mqtt:publish': 'mqtt:topic:', 'mqtt:subscribe': 'mqtt:topicfilter:' });
    OPERATIONS.forEach((op, i) => assert.equal(operationIndex(op), i));
    for (const op of ['*', 'mqtt:*', 'MQTT:connect', 'mqtt:Connect', 'mqtt:connect ', '', 'toString']) assert.equal(operationIndex(op), -1, op);
  });
});

describe('validNameChars', () => {
  it('accepts printable ASCII, including space and punctuation', () => {
    assert.equal(validNameChars(' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~'), true);
    assert.equal(validNameChars(''), true);
  });

  it('accepts Unicode letters, combining marks, digits and connector punctuation', () => {
    for (const s of ['température', 'Ωμέγα', '東京', 'a\u0301', '٣', 'a‿b', 'a\u200Db']) assert.equal(validNameChars(s), true, s);
  });

  it('rejects control characters, emoji and other symbols', () => {
    for (const s of ['a\tb', 'a\nb', '\u0000', '\u001f', '\u007f', '\u0085', '\u{1F600}', '€', '©', '\u00a0', 'a\u2028', '\uD800', 'é\t']) {
      assert.equal(validNameChars(s), false, JSON.stringify(s));
    }
  });

  it('checks only from the given offset', () => {
    assert.equal(validNameChars('\tabc', 1), true);
    assert.equal(validNameChars('abc\t', 1), false);
  });
});

describe('splitResource', () => {
  it('splits at the first two colons', () => {
    assert.deepEqual(splitResource('mqtt:topic:a:b/c'), { service: 'mqtt', type: 'topic', name: 'a:b/c' });
    assert.deepEqual(splitResource('mqtt:topic:'), { service: 'mqtt', type: 'topic', name: '' });
  });

  it('needs a non-empty service and type', () => {
    for (const s of ['', 'mqtt', 'mqtt:topic', ':topic:x', 'mqtt::x', '::']) assert.equal(splitResource(s), undefined, s);
  });
});
