/**
 * Property tests of the authorization core.
 *
 * 1. The reference evaluator (test/helpers/reference-evaluator.ts), deliberately naive
 *    and written without regular expressions or any code of src/core, must agree with
 *    compileDeviceGroups(...).decide() on random configurations and requests.
 * 2. The parsers and the validator never throw on arbitrary input; they return a
 *    result or coded errors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/seed.js';
import { PREFIX, naiveGlobMatch, referenceDecide, type NaiveGlob, type ReferenceDecision, type ReferenceGroup, type ResourceToken } from '../helpers/reference-evaluator.js';
import { compileDeviceGroups } from '../../src/core/policy/compile.js';
import { globMatches, parseResourcePattern, resolvePattern, type Principal } from '../../src/core/policy/resource.js';
import { validateConfig, type ValidationResult } from '../../src/core/config/validate.js';
import { parseConfig } from '../../src/core/config/parse.js';
import { parseRule, RuleSyntaxError } from '../../src/core/rules/parse.js';
import { ruleMatches } from '../../src/core/rules/match.js';
import type { Rule } from '../../src/core/rules/ast.js';
import { CONFIG_CODES, WARNING_CODES } from '../../src/core/errors.js';
import { DECISION_REASONS } from '../../src/core/policy/model.js';

// ---------------------------------------------------------------------------
// The model: configurations as data, rendered to the configuration format.

type Mode = 'any' | 'exact' | 'prefix' | 'suffix' | 'contains';
interface ModelClause { readonly mode: Mode; readonly body: string } // body with plain `:`
type Token =
  | { readonly kind: 'char'; readonly c: string }
  | { readonly kind: 'star' }
  | { readonly kind: 'thing' }
  | { readonly kind: 'client' }
  | { readonly kind: 'attr' };
interface ModelStatement { readonly effect: string | undefined; readonly ops: readonly string[]; readonly resources: readonly (readonly Token[])[] }
interface ModelGroup { readonly rule: readonly (readonly ModelClause[])[]; readonly policy: number }
interface Model { readonly groups: readonly ModelGroup[]; readonly policies: readonly (readonly ModelStatement[])[] }

const VARIABLE_TEXT = {
  thing: '${iot:Connection.Thing.ThingName}',
  client: '${iot:ClientId}',
  attr: '${iot:Connection.Thing.Attributes[a]}',
} as const;

function renderClause(c: ModelClause): string {
  const body = c.body.split(':').join('\\:');
  switch (c.mode) {
    case 'any': return '*';
    case 'exact': return body;
    case 'prefix': return `${body}*`;
    case 'suffix': return `*${body}`;
    case 'contains': return `*${body}*`;
  }
}

function renderRule(rule: ModelGroup['rule']): string {
  return rule.map((term) => term.map((c) => `thingName: ${renderClause(c)}`).join(' AND ')).join(' OR ');
}

function renderResource(tokens: readonly Token[]): string {
  return tokens.map((t) => (t.kind === 'char' ? t.c : t.kind === 'star' ? '*' : VARIABLE_TEXT[t.kind])).join('');
}

function toDocument(model: Model): unknown {
  const policies: Record<string, Record<string, unknown>> = {};
  model.policies.forEach((statements, p) => {
    const out: Record<string, unknown> = {};
    statements.forEach((s, i) => {
      out[`S${i}`] = { ...(s.effect === undefined ? {} : { effect: s.effect }), operations: s.ops, resources: s.resources.map(renderResource) };
    });
    policies[`P${p}`] = out;
  });
  const definitions: Record<string, unknown> = {};
  model.groups.forEach((g, i) => {
    definitions[`G${i}`] = { selectionRule: renderRule(g.rule), policyName: `P${g.policy % model.policies.length}` };
  });
  return { deviceGroups: { definitions, policies } };
}

// ---------------------------------------------------------------------------
// The model in the reference evaluator's terms (the evaluator is shared with the bench).

function clauseGlob(c: ModelClause): NaiveGlob {
  const chars = [...c.body];
  switch (c.mode) {
    case 'any': return [null];
    case 'exact': return chars;
    case 'prefix': return [...chars, null];
    case 'suffix': return [null, ...chars];
    case 'contains': return [null, ...chars, null];
  }
}

function toReference(model: Model): ReferenceGroup[] {
  return model.groups.map((g) => ({
    selects: (thing: string) => g.rule.some((term) => term.every((c) => naiveGlobMatch(clauseGlob(c), [...thing]))),
    statements: model.policies[g.policy % model.policies.length]!.map((st) => ({
      effect: st.effect,
      operations: st.ops,
      resources: st.resources.map((tokens) => tokens.map((t): ResourceToken => (t.kind === 'attr' ? { kind: 'attr', name: 'a' } : t))),
    })),
  }));
}

function naiveDecide(model: Model, p: Principal, op: string, resource: string): ReferenceDecision {
  return referenceDecide(toReference(model), p, op, resource);
}

// ---------------------------------------------------------------------------
// Generators.

const clauseArb: fc.Arbitrary<ModelClause> = fc.record({
  mode: fc.constantFrom<Mode>('any', 'exact', 'prefix', 'suffix', 'contains'),
  body: fc.string({ unit: fc.constantFrom('a', 'b', ':'), minLength: 1, maxLength: 2 }),
}).map((c) => (c.mode === 'any' ? { mode: 'any', body: '' } : c));

const ruleArb = fc.array(fc.array(clauseArb, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 });

const STAR: Token = { kind: 'star' };
const tokenArb: fc.Arbitrary<Token> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', '/', '+', '#', ':').map((c): Token => ({ kind: 'char', c })) },
  { weight: 2, arbitrary: fc.constant(STAR) },
  { weight: 2, arbitrary: fc.constant<Token>({ kind: 'thing' }) },
  { weight: 2, arbitrary: fc.constantFrom<Token>({ kind: 'client' }, { kind: 'attr' }) },
);

function literalTokens(text: string): Token[] {
  return [...text].map((c): Token => (c === '*' ? STAR : { kind: 'char', c }));
}

const resourceArb: fc.Arbitrary<Token[]> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Token[]>([STAR]) },
  {
    weight: 8,
    arbitrary: fc.tuple(
      fc.constantFrom<Token[]>(
        literalTokens('mqtt:topic:'), literalTokens('mqtt:topicfilter:'), literalTokens('mqtt:clientId:'),
        literalTokens('mqtt:*'), literalTokens('mqtt:topic*'), [STAR], [{ kind: 'thing' }],
      ),
      fc.array(tokenArb, { minLength: 1, maxLength: 4 }),
    ).map(([prefix, rest]) => [...prefix, ...rest]),
  },
);

const statementArb: fc.Arbitrary<ModelStatement> = fc.record({
  effect: fc.constantFrom(undefined, 'ALLOW', 'allow', 'ALLOW', 'DENY', 'Deny'),
  ops: fc.subarray(['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe', '*', 'mqtt:*'], { minLength: 1, maxLength: 2 }),
  resources: fc.array(resourceArb, { minLength: 1, maxLength: 3 }),
});

const modelArb: fc.Arbitrary<Model> = fc.record({
  policies: fc.array(fc.array(statementArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  groups: fc.array(fc.record({ rule: ruleArb, policy: fc.nat({ max: 5 }) }), { minLength: 1, maxLength: 4 }),
});

const nameArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', ':'), minLength: 1, maxLength: 3 }) },
  { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', ':', '*', '+', '#', '/', 'é', '\t', '\u{1F600}'), maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom('a', 'ab', 'b:a', 'a*', '*', 'mqtt:topic:a', '') },
);

/**
 * A few principals; they often share a thing name and differ only in client ID or
 * attributes, which the snapshot's per-principal cache must keep apart.
 */
const principalsArb: fc.Arbitrary<Principal[]> = fc.tuple(
  fc.array(nameArb, { minLength: 1, maxLength: 2 }),
  fc.array(fc.record({
    name: fc.nat(),
    clientId: fc.option(fc.string({ unit: fc.constantFrom('a', 'b', '*', '\u0000'), maxLength: 3 }), { nil: undefined }),
    attributes: fc.option(fc.record({ a: fc.constantFrom('', 'a', 'b/', '\u0001', '\u0000\u0001', '*') }), { nil: undefined }),
  }), { minLength: 1, maxLength: 4 }),
).map(([names, ps]) => ps.map(({ name, clientId, attributes }) => ({ thingName: names[name % names.length]!, clientId, attributes })));

const OPERATIONS = ['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe'];
// Mostly characters a name may hold; now and then TAB, DEL or an emoji, which it may not.
const charArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('a', 'b', '/', '+', '#', ':', '*', 'é') },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\u007f', '\u{1F600}') },
);

/** A request name part: characters, or the principal's thing name / client ID / attribute `a`. */
type NamePart = string | { readonly from: 'thing' | 'client' | 'attr' };

/**
 * A request, either free-form (operation, resource prefix and name drawn at random) or
 * aimed at a grant of the configuration (a statement resource with its `*` filled in
 * and its variables taken from the principal), so that allows and denies are common.
 */
const requestArb = fc.record({
  principal: fc.nat({ max: 3 }),
  aimed: fc.boolean(),
  pick: fc.nat(),
  // Aimed requests are sometimes nudged off the grant, to probe its edges.
  tweak: fc.constantFrom('none', 'none', 'none', 'drop-first', 'drop-last', 'drop-middle', 'append'),
  fills: fc.array(fc.string({ unit: charArb, maxLength: 2 }), { maxLength: 4 }),
  op: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...OPERATIONS) }, { weight: 1, arbitrary: fc.constantFrom('mqtt:*', '*', 'mqtt:Publish', '') }),
  prefix: fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) }, // the operation's own prefix
    { weight: 1, arbitrary: fc.constantFrom('mqtt:topic:', 'mqtt:topicfilter:', 'mqtt:clientId:', 'mqtt:topic', 'mqtt:queue:', '') },
  ),
  name: fc.array(
    fc.oneof(
      { weight: 5, arbitrary: charArb },
      { weight: 2, arbitrary: fc.constantFrom<NamePart>({ from: 'thing' }, { from: 'client' }, { from: 'attr' }) },
    ),
    { maxLength: 5 },
  ),
});
type Request = typeof requestArb extends fc.Arbitrary<infer R> ? R : never;

function tweak(resource: string, how: string, extra: string): string {
  const chars = [...resource];
  const middle = chars.length >> 1;
  switch (how) {
    case 'drop-first': return chars.slice(1).join('');
    case 'drop-last': return chars.slice(0, -1).join('');
    case 'drop-middle': return [...chars.slice(0, middle), ...chars.slice(middle + 1)].join('');
    case 'append': return resource + extra;
    default: return resource;
  }
}

function toRequest(model: Model, r: Request, p: Principal): { op: string; resource: string } {
  const grants = model.policies.flatMap((sts) => sts.flatMap((st) => st.resources.map((tokens) => ({ st, tokens }))));
  if (r.aimed && grants.length > 0) {
    const { st, tokens } = grants[r.pick % grants.length]!;
    let fill = 0;
    const resource = tokens.map((t) => {
      if (t.kind === 'char') return t.c;
      if (t.kind === 'star') return r.fills[fill++] ?? '';
      if (t.kind === 'thing') return p.thingName;
      if (t.kind === 'client') return p.clientId ?? p.thingName;
      return p.attributes?.['a'] ?? 'a';
    }).join('');
    const op = st.ops[r.pick % st.ops.length]!;
    return { op: OPERATIONS.includes(op) ? op : r.op, resource: tweak(resource, r.tweak, r.fills[0] ?? 'a') };
  }
  const prefix = r.prefix ?? PREFIX[r.op] ?? 'mqtt:topic:';
  const name = r.name.map((part) => {
    if (typeof part === 'string') return part;
    if (part.from === 'thing') return p.thingName;
    if (part.from === 'client') return p.clientId ?? p.thingName;
    return p.attributes?.['a'] ?? '';
  }).join('');
  return { op: r.op, resource: prefix + name };
}

// ---------------------------------------------------------------------------

describe('the policy engine agrees with a naive evaluator', () => {
  it('on random configurations, principals and requests', () => {
    const reasons = new Map<string, number>();
    fc.assert(
      fc.property(modelArb, principalsArb, fc.array(requestArb, { minLength: 10, maxLength: 20 }), (model, principals, requests) => {
        const result = validateConfig(toDocument(model));
        if (!result.ok) assert.fail(`generated configuration is invalid: ${JSON.stringify(result.errors)}`);
        const snapshot = compileDeviceGroups(result.deviceGroups);
        for (const r of requests) {
          const p = principals[r.principal % principals.length]!;
          const { op, resource } = toRequest(model, r, p);
          const expected = naiveDecide(model, p, op, resource);
          const actual = snapshot.decide(p, op, resource);
          assert.deepEqual({ allowed: actual.allowed, reason: actual.reason }, expected,
            `${JSON.stringify(p)} ${op} ${JSON.stringify(resource)}`);
          const explained = snapshot.explain(p, op, resource);
          assert.equal(explained.reason, actual.reason);
          reasons.set(actual.reason, (reasons.get(actual.reason) ?? 0) + 1);
        }
      }),
      { numRuns: 600 },
    );
    // The generators must reach every outcome, or the comparison proves little.
    // IOT_POLICY_NOT_FOUND is made only where the two dialects combine (combined.ts), never by a Greengrass view.
    for (const reason of DECISION_REASONS.filter((r) => r !== 'IOT_POLICY_NOT_FOUND')) {
      assert.ok((reasons.get(reason) ?? 0) >= 20, `${reason} reached only ${reasons.get(reason) ?? 0} times: ${JSON.stringify([...reasons])}`);
    }
  });

  it('the glob matcher agrees with the naive one on patterns over a tiny alphabet', () => {
    const unit = fc.constantFrom('a', 'b', '*');
    fc.assert(fc.property(fc.string({ unit, maxLength: 7 }), fc.string({ unit: fc.constantFrom('a', 'b', '*'), maxLength: 7 }), (pattern, input) => {
      const parsed = parseResourcePattern(pattern).pattern;
      assert.ok(parsed);
      const glob = resolvePattern(parsed, { thingName: 'x' }, 'skip');
      assert.ok(glob);
      const naive: NaiveGlob = [...pattern].map((c) => (c === '*' ? null : c));
      assert.equal(globMatches(glob, input), naiveGlobMatch(naive, [...input]), `${pattern} vs ${input}`);
    }), { numRuns: 3000 });
  });

  it('the naive evaluator itself gets the documented cases right', () => {
    // Guards the oracle: if it were wrong in the same way as the engine, the comparison would pass.
    const model: Model = {
      groups: [{ rule: [[{ mode: 'prefix', body: 'a' }]], policy: 0 }],
      policies: [[
        { effect: undefined, ops: ['mqtt:publish'], resources: [[...literalTokens('mqtt:topic:'), { kind: 'thing' }, ...literalTokens('/*')]] },
        { effect: 'DENY', ops: ['*'], resources: [literalTokens('mqtt:topic:a/x')] },
      ]],
    };
    const a = { thingName: 'a' };
    assert.deepEqual(naiveDecide(model, a, 'mqtt:publish', 'mqtt:topic:a/y/z'), { allowed: true, reason: 'ALLOWED_BY_STATEMENT' });
    assert.deepEqual(naiveDecide(model, a, 'mqtt:publish', 'mqtt:topic:a/x'), { allowed: false, reason: 'DENIED_BY_STATEMENT' });
    assert.deepEqual(naiveDecide(model, { thingName: 'a*' }, 'mqtt:publish', 'mqtt:topic:ab/y'), { allowed: false, reason: 'NO_MATCHING_STATEMENT' });
    assert.deepEqual(naiveDecide(model, { thingName: 'b' }, 'mqtt:publish', 'mqtt:topic:b/y'), { allowed: false, reason: 'NO_GROUP_SELECTS_THING' });
    assert.deepEqual(naiveDecide(model, a, 'mqtt:publish', 'mqtt:topic:a/\t'), { allowed: false, reason: 'MALFORMED_RESOURCE' });
    assert.deepEqual(naiveDecide(model, a, 'mqtt:subscribe', 'mqtt:topic:a/y'), { allowed: false, reason: 'RESOURCE_TYPE_MISMATCH' });
    assert.deepEqual(naiveDecide(model, a, 'mqtt:publish', 'mqtt:topic:'), { allowed: false, reason: 'MALFORMED_RESOURCE' });
    assert.deepEqual(naiveDecide(model, a, 'mqtt:Publish', 'mqtt:topic:a/y'), { allowed: false, reason: 'UNKNOWN_OPERATION' });
    assert.equal(naiveGlobMatch([null, 'a', null, 'a', null], [...'aa']), true);
    assert.equal(naiveGlobMatch(['a', null, 'a'], [...'a']), false);
  });
});

// ---------------------------------------------------------------------------

const RULE_CODES = CONFIG_CODES.filter((c) => c.startsWith('RULE_'));

function checkRuleOutcome(source: string): Rule | undefined {
  let rule: Rule;
  try {
    rule = parseRule(source);
  } catch (e) {
    assert.ok(e instanceof RuleSyntaxError, `parseRule(${JSON.stringify(source)}) threw ${String(e)}`);
    assert.ok((RULE_CODES as readonly string[]).includes(e.code), e.code);
    assert.ok(e.offset >= 0 && e.offset <= source.length, `offset ${e.offset}`);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < e.offset; i++) if (source[i] === '\n') { line++; lineStart = i + 1; }
    assert.equal(e.line, line);
    assert.equal(e.column, e.offset - lineStart + 1);
    assert.ok(e.message.length > 0 && e.fix !== undefined && e.fix.length > 0);
    return undefined;
  }
  assert.ok(rule.terms.length > 0 && rule.terms.every((t) => t.length > 0));
  ruleMatches(rule, 'probe');
  return rule;
}

describe('parseRule never fails other than with a coded RuleSyntaxError', () => {
  it('on arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => { checkRuleOutcome(s); }), { numRuns: 1000 });
  });

  it('on strings made of rule fragments, and valid rules round-trip', () => {
    const fragment = fc.constantFrom('thingName:', 'thingName: ', ' ', '\t', '\n', '\r', 'a', 'Z', '9', '-', '_', '*', 'OR', 'AND', ' OR ', ' AND ',
      '\\:', ':', '\\', '.', 'or', 'thingname', 'é', '(', '**');
    const value = fc.string({ unit: fc.constantFrom('a', 'Z', '9', '-', '_', '\\:', '*'), minLength: 1, maxLength: 4 });
    const clause = fc.tuple(fc.constantFrom('thingName: ', 'thingName: ', 'thingName:', 'thingname: ', 'thingName : '), value).map(([s, v]) => s + v);
    const nearlyValid = fc.array(fc.tuple(fc.constantFrom(' OR ', ' AND ', '\n AND ', '\tOR\r\n', ' or ', ' '), clause), { minLength: 0, maxLength: 3 })
      .chain((rest) => clause.map((first) => first + rest.map(([op, c]) => op + c).join('')));
    let parsed = 0;
    fc.assert(fc.property(fc.oneof(fc.string({ unit: fragment, maxLength: 12 }), nearlyValid), (s) => {
      const rule = checkRuleOutcome(s);
      if (!rule) return;
      parsed++;
      const rendered = rule.terms.map((t) => t.map((c) => `thingName: ${c.source}`).join(' AND ')).join(' OR ');
      assert.deepEqual(parseRule(rendered).terms, rule.terms);
    }), { numRuns: 3000 });
    assert.ok(parsed > 100, `only ${parsed} valid rules generated`);
  });
});

function checkValidation(result: ValidationResult): void {
  for (const w of result.warnings) {
    assert.ok((WARNING_CODES as readonly string[]).includes(w.code), w.code);
    assert.equal(typeof w.path, 'string');
  }
  if (result.ok) {
    // A configuration that validates must compile and decide.
    const snap = compileDeviceGroups(result.deviceGroups);
    snap.decide({ thingName: 'a' }, 'mqtt:publish', 'mqtt:topic:a');
    assert.ok(Object.isFrozen(result.config));
    return;
  }
  assert.ok(result.errors.length > 0);
  for (const e of result.errors) {
    assert.ok((CONFIG_CODES as readonly string[]).includes(e.code), e.code);
    assert.equal(typeof e.path, 'string');
    assert.ok(e.message.length > 0);
  }
}

// Documents built from the words a configuration is made of, so that the validator's
// deeper branches are reached, not only its "not an object" answers.
const KEY_WORDS = ['deviceGroups', 'formatVersion', 'definitions', 'policies', 'selectionRule', 'policyName', 'statementDescription', 'effect',
  'operations', 'resources', 'certificates', 'serverCertificateValiditySeconds', 'metrics', 'disableMetrics', 'certificateAuthority', 'caType',
  'gatehouse', 'mqtt', 'port', 'P', 'G', 'S', '_x', 'Operations', 'POLICIES', 'toString', '__proto__', ' ', ''];
const VALUE_WORDS = ['thingName: *', 'thingName: a*', 'thingName: a.b', '*', 'mqtt:publish', 'mqtt:topic:a', 'mqtt:topic:${iot:Connection.Thing.ThingName}',
  'mqtt:topic:${x}', 'P', 'DENY', 'allow', '2021-03-05', 'RSA_2048', '172800', 'true', ''];
const { doc: configishArb } = fc.letrec<{ doc: unknown }>((tie) => ({
  doc: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...VALUE_WORDS),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('doc'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEY_WORDS), tie('doc'), { maxKeys: 4 }),
  ),
}));

describe('validateConfig and parseConfig never throw', () => {
  it('validateConfig on arbitrary values', () => {
    fc.assert(fc.property(fc.anything(), (v) => checkValidation(validateConfig(v))), { numRuns: 1000 });
  });

  it('validateConfig on configuration-shaped values', () => {
    let valid = 0;
    fc.assert(fc.property(configishArb, (v) => {
      const r = validateConfig(v);
      checkValidation(r);
      if (r.ok) valid++;
    }), { numRuns: 2000 });
    assert.ok(valid > 100, `only ${valid} valid configurations generated`);
  });

  it('parseConfig on arbitrary text, as YAML and as JSON', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: fc.constantFrom('deviceGroups', ':', ' ', '\n', '  ', '- ', '{', '}', '[', ']', ',', '"', "'", '&a', '*a', '!', '#', '|', '>',
        'policies', 'thingName: *', 'x', '1', '---', '\t', '${', '?'), maxLength: 20 }),
    );
    fc.assert(fc.property(text, (t) => {
      for (const format of ['yaml', 'json'] as const) {
        const r = parseConfig(t, format);
        checkValidation(r);
        if (!r.ok) for (const e of r.errors) if (e.line !== undefined) assert.ok(e.line >= 1 && (e.column ?? 1) >= 1);
      }
    }), { numRuns: 1000 });
  });

  it('parseConfig on JSON text equals validateConfig on the parsed value', () => {
    fc.assert(fc.property(configishArb, (v) => {
      const text = JSON.stringify(v);
      if (text === undefined) return;
      const fromText = parseConfig(text, 'json');
      const fromValue = validateConfig(JSON.parse(text));
      assert.deepEqual(fromText, fromValue, text);
    }), { numRuns: 500 });
  });
});
