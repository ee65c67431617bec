import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../../helpers/seed.js';
import { parseRule } from '../../../src/core/rules/parse.js';
import { clauseMatches, ruleMatches, RuleIndex } from '../../../src/core/rules/match.js';
import type { Clause } from '../../../src/core/rules/ast.js';

/** The single clause of `thingName: VALUE`. */
function clause(value: string): Clause {
  const c = parseRule(`thingName: ${value}`).terms[0]?.[0];
  assert.ok(c);
  return c;
}

function selects(rule: string, thingName: string): boolean {
  return ruleMatches(parseRule(rule), thingName);
}

describe('clauseMatches', () => {
  const table: [value: string, thing: string, expected: boolean][] = [
    ['*', 'anything', true],
    ['*', 'a:b', true],
    ['sensor1', 'sensor1', true],
    ['sensor1', 'sensor10', false],
    ['sensor1', 'xsensor1', false],
    ['sensor*', 'sensor', true],
    ['sensor*', 'sensor-7', true],
    ['sensor*', 'sense', false],
    ['sensor*', 'my-sensor', false],
    ['*sensor', 'sensor', true],
    ['*sensor', 'my-sensor', true],
    ['*sensor', 'sensor2', false],
    ['*sensor*', 'sensor', true],
    ['*sensor*', 'a-sensor-b', true],
    ['*sensor*', 'sens-or', false],
    ['Thing*', 'Thing', true],
    ['*Thing', 'Thing', true],
    ['*Thing*', 'Thing', true],
  ];
  for (const [value, thing, expected] of table) {
    it(`\`thingName: ${value}\` ${expected ? 'selects' : 'does not select'} \`${thing}\``, () => {
      assert.equal(clauseMatches(clause(value), thing), expected);
    });
  }

  it('is case-sensitive in every mode', () => {
    assert.equal(clauseMatches(clause('Sensor'), 'sensor'), false);
    assert.equal(clauseMatches(clause('Sensor*'), 'sensor1'), false);
    assert.equal(clauseMatches(clause('*Sensor'), 'my-sensor'), false);
    assert.equal(clauseMatches(clause('*Sensor*'), 'a-sensor-b'), false);
    assert.equal(clauseMatches(clause('Sensor*'), 'Sensor1'), true);
  });

  it('selects a thing name containing a colon through `\\:` (the reference bug is not reproduced)', () => {
    assert.equal(selects('thingName: MyTeam\\:Dev1', 'MyTeam:Dev1'), true);
    assert.equal(selects('thingName: MyTeam\\:Dev1', 'MyTeam\\:Dev1'), false);
    assert.equal(selects('thingName: MyTeam\\:*', 'MyTeam:Dev2'), true);
    assert.equal(selects('thingName: *\\:Dev1', 'OtherTeam:Dev1'), true);
    assert.equal(selects('thingName: *\\:*', 'a:b'), true);
    assert.equal(selects('thingName: *\\:*', 'ab'), false);
  });

  it('gives `*` in a thing name no special meaning', () => {
    // A thing literally named `a*` is selected by `a*` (prefix `a`) and by `*`, not by `a` or `ab`.
    assert.equal(selects('thingName: a*', 'a*'), true);
    assert.equal(selects('thingName: *', 'a*'), true);
    assert.equal(selects('thingName: a', 'a*'), false);
    assert.equal(selects('thingName: ab', 'a*'), false);
    assert.equal(selects('thingName: *b', 'a*'), false);
  });
});

describe('ruleMatches', () => {
  it('combines clauses with AND and OR, AND binding tighter', () => {
    const rule = 'thingName: a* AND thingName: *z OR thingName: exact';
    assert.equal(selects(rule, 'abcz'), true);
    assert.equal(selects(rule, 'abc'), false);
    assert.equal(selects(rule, 'xyz'), false);
    // Read as `a* AND (*z OR exact)`, `exact` would not be selected.
    assert.equal(selects(rule, 'exact'), true);
    // Read as `(a* OR b*) AND *z`, `abc` would not be selected.
    assert.equal(selects('thingName: a* OR thingName: b* AND thingName: *z', 'abc'), true);
    assert.equal(selects('thingName: a* OR thingName: b* AND thingName: *z', 'bcd'), false);
    assert.equal(selects('thingName: a* OR thingName: b* AND thingName: *z', 'bcz'), true);
  });

  it('requires every clause of a term', () => {
    assert.equal(selects('thingName: *1 AND thingName: s* AND thingName: *en*', 'sensor1'), true);
    assert.equal(selects('thingName: *1 AND thingName: s* AND thingName: *xx*', 'sensor1'), false);
  });

  it('can be unsatisfiable', () => {
    assert.equal(selects('thingName: a AND thingName: b', 'a'), false);
    assert.equal(selects('thingName: a AND thingName: b', 'b'), false);
  });
});

describe('RuleIndex.select', () => {
  it('returns the values of the selecting rules in insertion order', () => {
    const index = new RuleIndex<string>();
    index.add(parseRule('thingName: *'), 'all');
    index.add(parseRule('thingName: sensor1'), 'exact');
    index.add(parseRule('thingName: *1'), 'suffix');
    index.add(parseRule('thingName: sen*'), 'prefix');
    index.add(parseRule('thingName: *nso*'), 'contains');
    index.add(parseRule('thingName: other'), 'other');
    index.add(parseRule('thingName: x* OR thingName: sensor1'), 'second-term');
    assert.deepEqual(index.select('sensor1'), ['all', 'exact', 'suffix', 'prefix', 'contains', 'second-term']);
    assert.deepEqual(index.select('other'), ['all', 'other']);
    assert.deepEqual(index.select('x'), ['all', 'second-term']);
  });

  it('reports a rule once when several of its terms select the thing', () => {
    const index = new RuleIndex<number>();
    index.add(parseRule('thingName: a* OR thingName: *b OR thingName: ab OR thingName: *'), 1);
    assert.deepEqual(index.select('ab'), [1]);
  });

  it('keeps two entries for the same rule added twice', () => {
    const index = new RuleIndex<string>();
    const rule = parseRule('thingName: t*');
    index.add(rule, 'first');
    index.add(rule, 'second');
    assert.deepEqual(index.select('t1'), ['first', 'second']);
    assert.deepEqual(index.select('u1'), []);
  });

  it('checks every clause of a term, not only the indexed one', () => {
    const index = new RuleIndex<string>();
    index.add(parseRule('thingName: *1 AND thingName: sensor* AND thingName: sensor1'), 'g');
    assert.deepEqual(index.select('sensor1'), ['g']);
    const index2 = new RuleIndex<string>();
    index2.add(parseRule('thingName: abc AND thingName: *z'), 'g');
    assert.deepEqual(index2.select('abc'), []);
  });

  it('matches ruleMatches on random rules and thing names', () => {
    const chars = fc.constantFrom('a', 'b', 'c', '\\:');
    const body = fc.array(chars, { minLength: 1, maxLength: 3 }).map((cs) => cs.join(''));
    const value = fc.oneof(
      fc.constant('*'),
      body,
      body.map((b) => `${b}*`),
      body.map((b) => `*${b}`),
      body.map((b) => `*${b}*`),
    );
    const term = fc.array(value, { minLength: 1, maxLength: 3 }).map((vs) => vs.map((v) => `thingName: ${v}`).join(' AND '));
    const rule = fc.array(term, { minLength: 1, maxLength: 3 }).map((ts) => ts.join(' OR '));
    const thing = fc.array(fc.constantFrom('a', 'b', 'c', ':'), { maxLength: 6 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 12 }), fc.array(thing, { minLength: 1, maxLength: 8 }), (sources, things) => {
        const rules = sources.map((s) => parseRule(s));
        const index = new RuleIndex<number>();
        rules.forEach((r, i) => index.add(r, i));
        for (const t of things) {
          const expected = rules.flatMap((r, i) => (ruleMatches(r, t) ? [i] : []));
          assert.deepEqual(index.select(t), expected, `thing ${JSON.stringify(t)}`);
        }
      }),
      { numRuns: 400 },
    );
  });
});
