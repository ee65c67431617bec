import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRule, RuleSyntaxError } from '../../../src/core/rules/parse.js';
import type { Clause, ClauseMode } from '../../../src/core/rules/ast.js';
import { CONFIG_CODES, type RuleErrorCode } from '../../../src/core/errors.js';

/** `[mode, value]` pairs of a rule's terms, for compact comparisons. */
function shape(source: string): [ClauseMode, string][][] {
  return parseRule(source).terms.map((term) => term.map((c: Clause) => [c.mode, c.value]));
}

function ruleError(source: string): RuleSyntaxError {
  try {
    parseRule(source);
  } catch (e) {
    assert.ok(e instanceof RuleSyntaxError, `expected a RuleSyntaxError for ${JSON.stringify(source)}, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected ${JSON.stringify(source)} to be rejected`);
}

function assertRuleError(source: string, code: RuleErrorCode, column: number, line = 1): RuleSyntaxError {
  const e = ruleError(source);
  assert.equal(e.code, code, `code for ${JSON.stringify(source)}: ${e.message}`);
  assert.equal(e.line, line, `line for ${JSON.stringify(source)}`);
  assert.equal(e.column, column, `column for ${JSON.stringify(source)}`);
  assert.ok(e.message.length > 0);
  assert.ok(e.fix !== undefined && e.fix.length > 0, `a fix for ${JSON.stringify(source)}`);
  assert.ok((CONFIG_CODES as readonly string[]).includes(e.code));
  return e;
}

describe('parseRule: valid rules', () => {
  it('parses the five clause forms', () => {
    assert.deepEqual(shape('thingName: sensor1'), [[['exact', 'sensor1']]]);
    assert.deepEqual(shape('thingName: sensor*'), [[['prefix', 'sensor']]]);
    assert.deepEqual(shape('thingName: *sensor'), [[['suffix', 'sensor']]]);
    assert.deepEqual(shape('thingName: *sensor*'), [[['contains', 'sensor']]]);
    assert.deepEqual(shape('thingName: *'), [[['any', '']]]);
  });

  it('keeps the value as written in source and records the attribute', () => {
    const rule = parseRule('thingName: *ab-c_9*');
    assert.equal(rule.source, 'thingName: *ab-c_9*');
    assert.deepEqual(rule.terms, [[{ attribute: 'thingName', mode: 'contains', value: 'ab-c_9', source: '*ab-c_9*' }]]);
  });

  it('accepts one-character values with wildcards', () => {
    assert.deepEqual(shape('thingName: a*'), [[['prefix', 'a']]]);
    assert.deepEqual(shape('thingName: *a'), [[['suffix', 'a']]]);
    assert.deepEqual(shape('thingName: *a*'), [[['contains', 'a']]]);
  });

  it('turns `\\:` into a literal colon, anywhere in the value', () => {
    assert.deepEqual(shape('thingName: MyTeam\\:Dev1'), [[['exact', 'MyTeam:Dev1']]]);
    assert.deepEqual(shape('thingName: \\:a\\:*'), [[['prefix', ':a:']]]);
    assert.deepEqual(shape('thingName: *\\:'), [[['suffix', ':']]]);
    assert.equal(parseRule('thingName: MyTeam\\:Dev1').terms[0]?.[0]?.source, 'MyTeam\\:Dev1');
  });

  it('needs no blank after the selector', () => {
    assert.deepEqual(shape('thingName:abc'), [[['exact', 'abc']]]);
  });

  it('binds AND tighter than OR', () => {
    assert.deepEqual(shape('thingName: a OR thingName: b AND thingName: c'), [[['exact', 'a']], [['exact', 'b'], ['exact', 'c']]]);
    assert.deepEqual(shape('thingName: a AND thingName: b OR thingName: c'), [[['exact', 'a'], ['exact', 'b']], [['exact', 'c']]]);
    assert.deepEqual(shape('thingName: a AND thingName: b* AND thingName: *c OR thingName: d OR thingName: *e*'),
      [[['exact', 'a'], ['prefix', 'b'], ['suffix', 'c']], [['exact', 'd']], [['contains', 'e']]]);
  });

  it('skips spaces, tabs, CR and LF (a YAML block scalar ends in LF)', () => {
    assert.deepEqual(shape('\t thingName:\ta\r\n  OR\nthingName:  b\n'), [[['exact', 'a']], [['exact', 'b']]]);
    assert.deepEqual(shape('thingName: *\n'), [[['any', '']]]);
  });

  it('treats words that merely start with a keyword as values', () => {
    assert.deepEqual(shape('thingName: ORx'), [[['exact', 'ORx']]]);
    assert.deepEqual(shape('thingName: ANDROID'), [[['exact', 'ANDROID']]]);
    assert.deepEqual(shape('thingName: xOR AND thingName: AND*'), [[['exact', 'xOR'], ['prefix', 'AND']]]);
    assert.deepEqual(shape('thingName: thingName'), [[['exact', 'thingName']]]);
  });
});

describe('parseRule: errors carry a code, a position and a fix', () => {
  it('rejects empty and blank rules with RULE_EMPTY at column 1', () => {
    for (const source of ['', ' ', '\t', '\n', ' \t\r\n ']) assertRuleError(source, 'RULE_EMPTY', 1);
  });

  it('rejects characters outside the grammar with RULE_INVALID_CHARACTER', () => {
    assertRuleError('thingName: a.b', 'RULE_INVALID_CHARACTER', 13);
    assertRuleError('thingName: (a)', 'RULE_INVALID_CHARACTER', 12);
    assertRuleError('thingName: a/b', 'RULE_INVALID_CHARACTER', 13);
    assertRuleError('thingName: "a"', 'RULE_INVALID_CHARACTER', 12);
    assertRuleError('thingName: a && thingName: b', 'RULE_INVALID_CHARACTER', 14);
    assertRuleError('thingName: é', 'RULE_INVALID_CHARACTER', 12);
    assertRuleError('thingName: a\\b', 'RULE_INVALID_CHARACTER', 13);
  });

  it('explains an unescaped colon inside a value', () => {
    const e = assertRuleError('thingName: MyTeam:Dev1', 'RULE_INVALID_CHARACTER', 18);
    assert.match(e.message, /`:`/);
    assert.match(e.fix!, /\\:/);
  });

  it('reports line and column on multi-line rules', () => {
    assertRuleError('thingName: a\n  OR thingName: b.c', 'RULE_INVALID_CHARACTER', 18, 2);
    assertRuleError('thingName: a\nOR\n', 'RULE_UNEXPECTED_TOKEN', 1, 3);
  });

  it('rejects a misspelt selector as an unexpected token at its start', () => {
    const e = assertRuleError('thingname: a', 'RULE_UNEXPECTED_TOKEN', 1);
    assert.match(e.message, /expected `thingName:`/);
    assert.match(e.fix!, /`thingName:`/);
    assertRuleError('ThingName: a', 'RULE_UNEXPECTED_TOKEN', 1);
    assertRuleError('thingName: a OR THINGNAME: b', 'RULE_UNEXPECTED_TOKEN', 17);
  });

  it('says keywords are upper case for `or` / `and`', () => {
    const e = assertRuleError('thingName: a or thingName: b', 'RULE_UNEXPECTED_TOKEN', 14);
    assert.match(e.fix!, /upper case/);
    assert.match(e.fix!, /`OR`/);
    const f = assertRuleError('thingName: a And thingName: b', 'RULE_UNEXPECTED_TOKEN', 14);
    assert.match(f.fix!, /`AND`/);
  });

  it('rejects a missing value or a dangling keyword', () => {
    const e = assertRuleError('thingName:', 'RULE_UNEXPECTED_TOKEN', 11);
    assert.match(e.message, /end of the rule/);
    assertRuleError('thingName: ', 'RULE_UNEXPECTED_TOKEN', 12);
    assertRuleError('thingName: a AND', 'RULE_UNEXPECTED_TOKEN', 17);
    assertRuleError('thingName: a OR ', 'RULE_UNEXPECTED_TOKEN', 17);
    assertRuleError('OR thingName: a', 'RULE_UNEXPECTED_TOKEN', 1);
    assertRuleError('thingName: a AND OR thingName: b', 'RULE_UNEXPECTED_TOKEN', 18);
    assertRuleError('thingName: thingName: a', 'RULE_UNEXPECTED_TOKEN', 12);
    assertRuleError('a', 'RULE_UNEXPECTED_TOKEN', 1);
  });

  it('rejects two values in a row', () => {
    const e = assertRuleError('thingName: a b', 'RULE_UNEXPECTED_TOKEN', 14);
    assert.match(e.fix!, /`AND` or `OR`/);
  });

  it('does not accept `OR` or `AND` as a value', () => {
    for (const kw of ['OR', 'AND']) {
      const e = assertRuleError(`thingName: ${kw}`, 'RULE_UNEXPECTED_TOKEN', 12);
      assert.match(e.fix!, /cannot be used as thing names/);
    }
  });

  it('rejects a wildcard in the middle of a value with RULE_INVALID_WILDCARD', () => {
    assertRuleError('thingName: a*b', 'RULE_INVALID_WILDCARD', 12);
    assertRuleError('thingName: **', 'RULE_INVALID_WILDCARD', 12);
    assertRuleError('thingName: *a*b', 'RULE_INVALID_WILDCARD', 12);
    assertRuleError('thingName: a**', 'RULE_INVALID_WILDCARD', 12);
    assertRuleError('thingName: x OR thingName: ***', 'RULE_INVALID_WILDCARD', 28);
    const e = ruleError('thingName: sensor*01');
    assert.match(e.message, /`sensor\*01`/);
  });

  it('exposes offset, line and column consistently', () => {
    const e = ruleError('thingName: a.b');
    assert.equal(e.offset, 12);
    assert.equal(e.name, 'RuleSyntaxError');
    assert.ok(e instanceof Error);
  });
});
