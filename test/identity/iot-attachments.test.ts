import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAttachmentMaps, SortedKeyMap } from '../../src/identity/iot-attachments.js';

describe('SortedKeyMap', () => {
  it('answers like a Map over rows given in key order', () => {
    const m = SortedKeyMap.from([['a', 1], ['b', 2], ['d', 4]]);
    assert.equal(m.size, 3);
    assert.equal(m.get('a'), 1);
    assert.equal(m.get('d'), 4);
    assert.equal(m.get('c'), undefined);
    assert.equal(m.has('b'), true);
    assert.equal(m.has(''), false);
    assert.deepEqual([...m], [['a', 1], ['b', 2], ['d', 4]]);
    assert.deepEqual([...m.keys()], ['a', 'b', 'd']);
    assert.deepEqual([...m.values()], [1, 2, 4]);
    const seen: string[] = [];
    m.forEach((v, k) => seen.push(`${k}=${v}`));
    assert.deepEqual(seen, ['a=1', 'b=2', 'd=4']);
  });

  it('sorts rows out of order, and a repeated key keeps its last value as a Map would', () => {
    const m = SortedKeyMap.from([['b', 1], ['a', 2], ['b', 3], ['B', 4]]);
    assert.deepEqual([...m], [['B', 4], ['a', 2], ['b', 3]], 'code-unit order: upper case first');
    assert.equal(m.get('b'), 3);
    assert.equal(m.get('B'), 4);
  });

  it('finds every key of a large map and no key between them', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `thing-${String(i * 2).padStart(5, '0')}`);
    const m = SortedKeyMap.from(keys.map((k, i) => [k, i] as const));
    for (let i = 0; i < keys.length; i++) assert.equal(m.get(keys[i]!), i);
    for (let i = 0; i < 1000; i++) assert.equal(m.has(`thing-${String(i * 2 + 1).padStart(5, '0')}`), false);
    assert.equal(SortedKeyMap.from<number>([]).get('x'), undefined);
  });
});

describe('buildAttachmentMaps', () => {
  it('splits and sorts the joined names, drops repeats and shares equal lists', () => {
    const maps = buildAttachmentMaps({
      certificatePolicies: [['c1', 'q p'], ['c2', 'p q'], ['c3', 'r r s r'], ['c4', 'only'], ['c5', 'q p']],
      groupPolicies: [['g', 'b a']],
      members: [['t1', 'g'], ['t2', 'h g']],
      parents: [['g', null], ['h', null]],
      thingTypes: [['t1', 'sensor']],
    });
    assert.deepEqual(maps.certificatePolicies.get('c1'), ['p', 'q']);
    assert.deepEqual(maps.certificatePolicies.get('c2'), ['p', 'q']);
    assert.deepEqual(maps.certificatePolicies.get('c3'), ['r', 's']);
    assert.deepEqual(maps.certificatePolicies.get('c4'), ['only']);
    assert.equal(maps.certificatePolicies.get('c5'), maps.certificatePolicies.get('c1'), 'an equal joined row shares its list');
    assert.deepEqual(maps.thingGroupPolicies.get('g'), ['a', 'b']);
    assert.deepEqual(maps.thingGroups.get('t2'), ['g', 'h']);
    assert.equal(maps.thingTypes.get('t1'), 'sensor');
    assert.equal(maps.thingTypes.has('t2'), false);
  });

  it('gives a member of a nested group every ancestor, once, and stops at a cycle', () => {
    const maps = buildAttachmentMaps({
      certificatePolicies: [],
      groupPolicies: [],
      members: [['t1', 'leaf other'], ['t2', 'mid'], ['t3', 'loop-a']],
      parents: [['root', null], ['mid', 'root'], ['leaf', 'mid'], ['other', 'root'], ['loop-a', 'loop-b'], ['loop-b', 'loop-a']],
      thingTypes: [],
    });
    assert.deepEqual(maps.thingGroups.get('t1'), ['leaf', 'mid', 'other', 'root']);
    assert.deepEqual(maps.thingGroups.get('t2'), ['mid', 'root']);
    assert.deepEqual(maps.thingGroups.get('t3'), ['loop-a', 'loop-b']);
  });
});
