import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  globMatches, parseResourcePattern, parseVariable, resolvePattern, type Glob, type Principal, type ResourcePattern,
} from '../../../src/core/policy/resource.js';

const THING = '${iot:Connection.Thing.ThingName}';

function pattern(source: string): ResourcePattern {
  const { pattern: p, problems } = parseResourcePattern(source);
  assert.deepEqual(problems, [], `problems in ${source}`);
  assert.ok(p);
  return p;
}

function glob(source: string, principal: Principal = { thingName: 'dev1' }): Glob {
  const g = resolvePattern(pattern(source), principal, 'skip');
  assert.ok(g, `${source} resolves`);
  return g;
}

describe('parseVariable', () => {
  it('knows the thing name, client ID and attribute variables', () => {
    assert.deepEqual(parseVariable('iot:Connection.Thing.ThingName'), { kind: 'thingName' });
    assert.deepEqual(parseVariable('iot:ClientId'), { kind: 'clientId' });
    assert.deepEqual(parseVariable('iot:Connection.Thing.Attributes[floor-2]'), { kind: 'attribute', name: 'floor-2' });
  });

  it('is case-sensitive and strict about attribute names', () => {
    assert.equal(parseVariable('iot:connection.thing.thingname'), undefined);
    assert.equal(parseVariable('iot:clientid'), undefined);
    assert.equal(parseVariable('iot:Connection.Thing.Attributes[]'), undefined);
    assert.equal(parseVariable('iot:Connection.Thing.Attributes[a b]'), undefined);
    assert.equal(parseVariable('iot:Connection.Thing.Attributes[x'), undefined);
    assert.equal(parseVariable(`iot:Connection.Thing.Attributes[${'a'.repeat(129)}]`), undefined);
    assert.equal(parseVariable('iot:Connection.Thing.ThingName '), undefined);
  });
});

describe('parseResourcePattern', () => {
  it('keeps a plain resource as one literal', () => {
    assert.deepEqual(pattern('mqtt:topic:a/b'), { source: 'mqtt:topic:a/b', parts: [{ kind: 'literal', text: 'mqtt:topic:a/b' }], hasVariables: false });
  });

  it('splits on `*` and collapses runs of `*`', () => {
    assert.deepEqual(pattern('mqtt:topic:a/*/b').parts, [
      { kind: 'literal', text: 'mqtt:topic:a/' }, { kind: 'star' }, { kind: 'literal', text: '/b' },
    ]);
    assert.deepEqual(pattern('a**b').parts, [{ kind: 'literal', text: 'a' }, { kind: 'star' }, { kind: 'literal', text: 'b' }]);
    assert.deepEqual(pattern('***').parts, [{ kind: 'star' }]);
    assert.deepEqual(pattern('*').parts, [{ kind: 'star' }]);
  });

  it('recognises variables anywhere, also several times and next to `*`', () => {
    const p = pattern(`mqtt:topic:${THING}/*${THING}`);
    assert.equal(p.hasVariables, true);
    assert.deepEqual(p.parts, [
      { kind: 'literal', text: 'mqtt:topic:' },
      { kind: 'variable', variable: { kind: 'thingName' }, source: THING },
      { kind: 'literal', text: '/' },
      { kind: 'star' },
      { kind: 'variable', variable: { kind: 'thingName' }, source: THING },
    ]);
    assert.deepEqual(pattern(`${THING}:topic:x`).parts[0], { kind: 'variable', variable: { kind: 'thingName' }, source: THING });
    assert.deepEqual(pattern('mqtt:topic:${iot:ClientId}').parts[1], { kind: 'variable', variable: { kind: 'clientId' }, source: '${iot:ClientId}' });
    assert.deepEqual(pattern('mqtt:topic:${iot:Connection.Thing.Attributes[room]}').parts[1],
      { kind: 'variable', variable: { kind: 'attribute', name: 'room' }, source: '${iot:Connection.Thing.Attributes[room]}' });
  });

  it('treats braces and dollars outside `${…}` as literal text', () => {
    assert.deepEqual(pattern(`{${THING}}`).parts, [
      { kind: 'literal', text: '{' }, { kind: 'variable', variable: { kind: 'thingName' }, source: THING }, { kind: 'literal', text: '}' },
    ]);
    assert.deepEqual(pattern('mqtt:topic:$aws/{x}$').parts, [{ kind: 'literal', text: 'mqtt:topic:$aws/{x}$' }]);
    assert.equal(pattern('mqtt:topic:$aws').hasVariables, false);
  });

  it('reports unknown variables by name, without a pattern', () => {
    assert.deepEqual(parseResourcePattern('mqtt:topic:${iot:Foo}'), { problems: [{ kind: 'unknown-variable', name: 'iot:Foo' }] });
    assert.deepEqual(parseResourcePattern('mqtt:topic:${iot:connection.thing.thingname}').problems,
      [{ kind: 'unknown-variable', name: 'iot:connection.thing.thingname' }]);
    assert.deepEqual(parseResourcePattern('${*}').problems, [{ kind: 'unknown-variable', name: '*' }]);
  });

  it('reports every problem of a resource', () => {
    const r = parseResourcePattern('mqtt:topic:${a}/${b}/${}');
    assert.equal(r.pattern, undefined);
    assert.deepEqual(r.problems.map((p) => p.kind), ['unknown-variable', 'unknown-variable', 'malformed-variable']);
  });

  it('reports malformed variables: unclosed, empty, nested', () => {
    assert.deepEqual(parseResourcePattern('mqtt:topic:${iot:ClientId').problems,
      [{ kind: 'malformed-variable', text: '${iot:ClientId', reason: 'has no closing `}`' }]);
    assert.deepEqual(parseResourcePattern('mqtt:topic:${}').problems,
      [{ kind: 'malformed-variable', text: '${}', reason: 'names no variable' }]);
    assert.deepEqual(parseResourcePattern('mqtt:topic:${a${iot:ClientId}}').problems,
      [{ kind: 'malformed-variable', text: '${a${iot:ClientId}', reason: 'is nested' }]);
  });
});

describe('resolvePattern', () => {
  it('substitutes the thing name, client ID (defaulting to the thing name) and attributes', () => {
    const p = pattern('mqtt:topic:${iot:Connection.Thing.ThingName}/${iot:ClientId}/${iot:Connection.Thing.Attributes[room]}');
    assert.deepEqual(resolvePattern(p, { thingName: 't', clientId: 'c', attributes: { room: 'r' } }, 'skip'),
      { segments: ['mqtt:topic:t/c/r'], text: 'mqtt:topic:t/c/r' });
    assert.deepEqual(resolvePattern(p, { thingName: 't', attributes: { room: 'r' } }, 'skip'),
      { segments: ['mqtt:topic:t/t/r'], text: 'mqtt:topic:t/t/r' });
  });

  it('renders wildcards as `*` in text and as segment boundaries', () => {
    assert.deepEqual(glob('mqtt:topic:*/x/*'), { segments: ['mqtt:topic:', '/x/', ''], text: 'mqtt:topic:*/x/*' });
    assert.deepEqual(glob('*'), { segments: ['', ''], text: '*' });
    assert.deepEqual(glob(`*${THING}*`, { thingName: '' }), { segments: ['', ''], text: '*' });
  });

  for (const name of ['a*b', 'a+b', 'a#', 'a?b', 'a/b', '*', 'x*y*z', '${iot:ClientId}']) {
    it(`inserts the thing name ${JSON.stringify(name)} as literal text`, () => {
      const g = glob(`mqtt:topic:${THING}`, { thingName: name });
      assert.deepEqual(g.segments, [`mqtt:topic:${name}`]);
      assert.equal(globMatches(g, `mqtt:topic:${name}`), true);
      for (const other of ['aXb', 'ab', 'a/b/c', 'a', 'x', 'xyz', 'a+', 'a#/b', 'a?bc', 'xAyBz', 'dev1']) {
        if (other !== name) assert.equal(globMatches(g, `mqtt:topic:${other}`), false, `${name} vs ${other}`);
      }
    });
  }

  it('keeps a thing name with `*` literal next to a policy wildcard', () => {
    const g = glob(`mqtt:topic:${THING}/*`, { thingName: 'a*' });
    assert.equal(globMatches(g, 'mqtt:topic:a*/x'), true);
    assert.equal(globMatches(g, 'mqtt:topic:ab/x'), false);
    assert.equal(globMatches(g, 'mqtt:topic:a/x'), false);
  });

  it("skips a pattern whose attribute the principal lacks ('skip')", () => {
    const p = pattern('mqtt:topic:${iot:Connection.Thing.Attributes[room]}/x');
    assert.equal(resolvePattern(p, { thingName: 't' }, 'skip'), undefined);
    assert.equal(resolvePattern(p, { thingName: 't', attributes: {} }, 'skip'), undefined);
    assert.equal(resolvePattern(p, { thingName: 't', attributes: { other: 'v' } }, 'skip'), undefined);
  });

  it('does not read attribute values from the prototype chain', () => {
    const p = pattern('mqtt:topic:${iot:Connection.Thing.Attributes[toString]}');
    assert.equal(resolvePattern(p, { thingName: 't', attributes: {} }, 'skip'), undefined);
  });

  it("turns a missing attribute into a wildcard ('wildcard', used for deny)", () => {
    const p = pattern('mqtt:topic:${iot:Connection.Thing.Attributes[room]}/x');
    const g = resolvePattern(p, { thingName: 't' }, 'wildcard');
    assert.deepEqual(g, { segments: ['mqtt:topic:', '/x'], text: 'mqtt:topic:*/x' });
    assert.equal(globMatches(g, 'mqtt:topic:anything/at/all/x'), true);
    assert.equal(globMatches(g, 'mqtt:topic:y'), false);
    // An empty attribute value is a value, not a missing one.
    assert.deepEqual(resolvePattern(p, { thingName: 't', attributes: { room: '' } }, 'wildcard'), { segments: ['mqtt:topic:/x'], text: 'mqtt:topic:/x' });
  });

  it('merges a missing attribute with an adjacent `*`', () => {
    const p = pattern('mqtt:topic:*${iot:Connection.Thing.Attributes[room]}*');
    assert.deepEqual(resolvePattern(p, { thingName: 't' }, 'wildcard'), { segments: ['mqtt:topic:', ''], text: 'mqtt:topic:*' });
  });
});

describe('globMatches', () => {
  const table: [pattern: string, input: string, expected: boolean][] = [
    ['abc', 'abc', true],
    ['abc', 'abcd', false],
    ['abc', 'ab', false],
    ['', '', true],
    ['*', '', true],
    ['*', 'anything/at:all', true],
    ['a*', 'a', true],
    ['*a', 'a', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a-b-c', true],
    ['a*b*c', 'acb', false],
    ['a*a', 'a', false],
    ['ab*ba', 'aba', false],
    ['ab*ba', 'abba', true],
    ['*ab*ab*', 'abab', true],
    ['*ab*ab*', 'aba', false],
    ['*x*', 'yyy', false],
    ['a*c', 'ab/x/c', true],
    ['mqtt:*', 'mqtt:topic:x', true],
    ['mqtt:topic:*', 'mqtt:topicfilter:x', false],
    ['mqtt:topic*', 'mqtt:topicfilter:x', true],
    ['a/+/c', 'a/x/c', false],
    ['a/+/c', 'a/+/c', true],
    ['a/#', 'a/b', false],
    ['a/#', 'a/#', true],
    ['a?c', 'abc', false],
    ['a?c', 'a?c', true],
    ['$aws/*', '$aws/x', true],
    ['ABC', 'abc', false],
    ['a*', 'A', false],
    ['*Z', 'xz', false],
    ['a*b', 'a*b', true],
    ['a*b', 'b', false],
  ];
  for (const [source, input, expected] of table) {
    it(`\`${source}\` ${expected ? 'matches' : 'does not match'} \`${input}\``, () => {
      assert.equal(globMatches(glob(source), input), expected);
    });
  }
});
