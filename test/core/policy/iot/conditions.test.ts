import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compileCondition, conditionKeys, IOT_CONDITION_CODES, ipInCidr, parseCidr, parseDate, parseIp, type CompiledCondition } from '../../../../src/core/policy/iot/conditions.js';
import type { IotPolicyProblem } from '../../../../src/core/policy/iot/context.js';

// Sources (public AWS documentation) the rows below come from.
const OPS = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html';
const MULTI = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html';
const SETOPS = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html';
const MULTI_EX = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition_examples-multi-valued-context-keys.html';
const VARS = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html';
const CONDITION = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html';
const CONNECT = 'https://docs.aws.amazon.com/iot/latest/developerguide/connect-policy.html';
const CERT_EX = 'https://docs.aws.amazon.com/iot/latest/developerguide/certificate-policy-examples.html';
const CERT_VARS = 'https://docs.aws.amazon.com/iot/latest/developerguide/cert-policy-variables.html';
const DATES = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws-dates.html';
const RFC4291 = 'https://www.rfc-editor.org/rfc/rfc4291#section-2.2';

type Context = Readonly<Record<string, readonly string[]>>;

/** Case-insensitive key lookup over a plain context, as the evaluator provides it. */
function lookupIn(context: Context): (key: string) => readonly string[] | undefined {
  const byLower = new Map(Object.entries(context).map(([k, v]) => [k.toLowerCase(), v]));
  return (key) => byLower.get(key.toLowerCase());
}

/** Resolves `${key}` from single-valued context keys, and the `${*}` `${?}` `${$}` escapes. */
function substituteFrom(context: Context): (text: string) => string | undefined {
  const lookup = lookupIn(context);
  return (text) => {
    let unresolved = false;
    const out = text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
      if (name === '*' || name === '?' || name === '$') return name;
      const v = lookup(name);
      if (v?.length !== 1) { unresolved = true; return ''; }
      return v[0]!;
    });
    return unresolved ? undefined : out;
  };
}

function compile(block: unknown, variablesAllowed = true): CompiledCondition {
  const problems: IotPolicyProblem[] = [];
  const c = compileCondition(block, '$.Statement[0].Condition', variablesAllowed, problems);
  assert.deepEqual(problems, []);
  assert.ok(c !== undefined);
  return c;
}

function evaluate(block: unknown, context: Context, variablesAllowed = true): boolean {
  return compile(block, variablesAllowed).test(lookupIn(context), substituteFrom(context), Date.parse('2026-06-01T12:00:00Z'));
}

function problemsOf(block: unknown, variablesAllowed = true): IotPolicyProblem[] {
  const problems: IotPolicyProblem[] = [];
  const c = compileCondition(block, '$.Statement[0].Condition', variablesAllowed, problems);
  if (problems.length > 0) assert.equal(c, undefined, 'a condition with problems must not compile');
  return problems;
}

interface Row {
  readonly name: string;
  readonly source: string;
  readonly condition: unknown;
  readonly context: Context;
  readonly expected: boolean;
  readonly variablesAllowed?: boolean;
}

function runRows(rows: readonly Row[]): void {
  for (const row of rows) {
    it(`${row.name} (${row.source})`, () => {
      assert.equal(evaluate(row.condition, row.context, row.variablesAllowed ?? true), row.expected);
    });
  }
}

describe('string operators', () => {
  runRows([
    { name: 'StringEquals matches exactly', source: OPS, condition: { StringEquals: { 'iot:ClientId': 'client1' } }, context: { 'iot:ClientId': ['client1'] }, expected: true },
    { name: 'StringEquals is case-sensitive', source: OPS, condition: { StringEquals: { 'iot:ClientId': 'client1' } }, context: { 'iot:ClientId': ['Client1'] }, expected: false },
    { name: 'key names are case-insensitive', source: CONDITION, condition: { StringEquals: { 'IOT:clientid': 'client1' } }, context: { 'iot:ClientId': ['client1'] }, expected: true },
    { name: 'StringNotEquals', source: OPS, condition: { StringNotEquals: { 'iot:ClientId': 'client1' } }, context: { 'iot:ClientId': ['client2'] }, expected: true },
    { name: 'StringNotEquals on the value', source: OPS, condition: { StringNotEquals: { 'iot:ClientId': 'client1' } }, context: { 'iot:ClientId': ['client1'] }, expected: false },
    { name: 'StringEqualsIgnoreCase', source: OPS, condition: { StringEqualsIgnoreCase: { 'iot:ClientId': 'CLIENT1' } }, context: { 'iot:ClientId': ['client1'] }, expected: true },
    { name: 'StringNotEqualsIgnoreCase', source: OPS, condition: { StringNotEqualsIgnoreCase: { 'iot:ClientId': 'CLIENT1' } }, context: { 'iot:ClientId': ['client1'] }, expected: false },
    { name: 'StringLike with *', source: OPS, condition: { StringLike: { 'iot:ClientId': 'sensor-*' } }, context: { 'iot:ClientId': ['sensor-12'] }, expected: true },
    { name: 'StringLike * matches the empty string', source: OPS, condition: { StringLike: { 'iot:ClientId': 'sensor-*' } }, context: { 'iot:ClientId': ['sensor-'] }, expected: true },
    { name: 'StringLike ? is exactly one character', source: OPS, condition: { StringLike: { 'iot:ClientId': 'sensor-?' } }, context: { 'iot:ClientId': ['sensor-12'] }, expected: false },
    { name: 'StringLike ? one character', source: OPS, condition: { StringLike: { 'iot:ClientId': 'sensor-?' } }, context: { 'iot:ClientId': ['sensor-1'] }, expected: true },
    { name: 'StringLike is case-sensitive', source: OPS, condition: { StringLike: { 'iot:ClientId': 'Sensor-*' } }, context: { 'iot:ClientId': ['sensor-1'] }, expected: false },
    { name: 'StringLike several stars', source: OPS, condition: { StringLike: { 'iot:ClientId': '*a*b*c*' } }, context: { 'iot:ClientId': ['xxaxxbxxcxx'] }, expected: true },
    { name: 'StringLike several stars, order matters', source: OPS, condition: { StringLike: { 'iot:ClientId': '*a*b*c*' } }, context: { 'iot:ClientId': ['xxcxxbxxaxx'] }, expected: false },
    { name: 'StringNotLike', source: OPS, condition: { StringNotLike: { 'iot:ClientId': 'admin-*' } }, context: { 'iot:ClientId': ['sensor-1'] }, expected: true },
    { name: 'StringEquals: * is not a wildcard', source: OPS, condition: { StringEquals: { 'iot:ClientId': 'sensor-*' } }, context: { 'iot:ClientId': ['sensor-1'] }, expected: false },
    { name: 'a JSON number value is compared as its text', source: OPS, condition: { StringEquals: { 'iot:Connection.Thing.Attributes[floor]': 3 } }, context: { 'iot:Connection.Thing.Attributes[floor]': ['3'] }, expected: true },
  ]);
});

describe('several operators, keys and values', () => {
  runRows([
    { name: 'values of one key are ORed', source: MULTI, condition: { StringEquals: { 'iot:ClientId': ['a', 'b'] } }, context: { 'iot:ClientId': ['b'] }, expected: true },
    { name: 'keys of one operator are ANDed (one fails)', source: MULTI, condition: { StringEquals: { 'iot:ClientId': 'a', 'iot:Connection.Thing.ThingTypeName': 'Camera' } }, context: { 'iot:ClientId': ['a'], 'iot:Connection.Thing.ThingTypeName': ['Lamp'] }, expected: false },
    { name: 'keys of one operator are ANDed (both hold)', source: MULTI, condition: { StringEquals: { 'iot:ClientId': 'a', 'iot:Connection.Thing.ThingTypeName': 'Camera' } }, context: { 'iot:ClientId': ['a'], 'iot:Connection.Thing.ThingTypeName': ['Camera'] }, expected: true },
    { name: 'operators are ANDed', source: MULTI, condition: { StringEquals: { 'iot:ClientId': 'a' }, IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, context: { 'iot:ClientId': ['a'], 'aws:SourceIp': ['192.168.1.1'] }, expected: false },
    { name: 'a negated operator with several values is a NOR (one matches)', source: MULTI, condition: { StringNotEquals: { 'iot:ClientId': ['a', 'b'] } }, context: { 'iot:ClientId': ['b'] }, expected: false },
    { name: 'a negated operator with several values is a NOR (none matches)', source: MULTI, condition: { StringNotEquals: { 'iot:ClientId': ['a', 'b'] } }, context: { 'iot:ClientId': ['c'] }, expected: true },
    { name: 'an empty Condition is no condition', source: CONDITION, condition: {}, context: {}, expected: true },
    { name: 'no Condition element (undefined) is no condition', source: CONDITION, condition: undefined, context: {}, expected: true },
  ]);
});

describe('missing keys', () => {
  const absent: Context = {};
  runRows([
    { name: 'positive operator: false', source: OPS, condition: { StringEquals: { 'iot:Connection.Thing.ThingTypeName': 'Camera' } }, context: absent, expected: false },
    { name: 'negated operator: true', source: OPS, condition: { StringNotEquals: { 'iot:Connection.Thing.ThingTypeName': 'Camera' } }, context: absent, expected: true },
    { name: 'StringNotLike: true', source: OPS, condition: { StringNotLike: { 'iot:ClientId': 'a*' } }, context: absent, expected: true },
    { name: 'ArnNotLike: true', source: OPS, condition: { ArnNotLike: { 'aws:SourceArn': 'arn:aws:iot:*:*:*:*' } }, context: absent, expected: true },
    { name: 'NotIpAddress: true', source: OPS, condition: { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, context: absent, expected: true },
    { name: 'NumericLessThan: false', source: OPS, condition: { NumericLessThan: { 'iot:Connection.Thing.Attributes[n]': '5' } }, context: absent, expected: false },
    { name: 'IfExists: true', source: OPS, condition: { StringEqualsIfExists: { 'iot:Connection.Thing.ThingTypeName': 'Camera' } }, context: absent, expected: true },
    { name: 'IfExists with the key present: the normal test', source: OPS, condition: { StringEqualsIfExists: { 'iot:Connection.Thing.ThingTypeName': 'Camera' } }, context: { 'iot:Connection.Thing.ThingTypeName': ['Lamp'] }, expected: false },
    { name: 'negated IfExists with the key present', source: OPS, condition: { StringNotEqualsIfExists: { 'iot:Connection.Thing.ThingTypeName': 'Camera' } }, context: { 'iot:Connection.Thing.ThingTypeName': ['Camera'] }, expected: false },
    { name: 'ForAllValues: true', source: SETOPS, condition: { 'ForAllValues:StringEquals': { 'iot:ConnectAttributes': ['PersistentConnect'] } }, context: absent, expected: true },
    { name: 'ForAnyValue: false', source: SETOPS, condition: { 'ForAnyValue:StringEquals': { 'iot:ConnectAttributes': ['PersistentConnect'] } }, context: absent, expected: false },
    { name: 'an empty value list from the request counts as absent', source: SETOPS, condition: { 'ForAnyValue:StringEquals': { 'iot:ConnectAttributes': ['PersistentConnect'] } }, context: { 'iot:ConnectAttributes': [] }, expected: false },
  ]);
});

describe('Null', () => {
  const cn = 'iot:Certificate.Subject.CommonName';
  runRows([
    { name: 'Null true: the key is absent', source: OPS, condition: { Null: { [cn]: 'true' } }, context: {}, expected: true },
    { name: 'Null true with the key present', source: OPS, condition: { Null: { [cn]: 'true' } }, context: { [cn]: ['dev'] }, expected: false },
    { name: 'Null false guards a certificate attribute (present)', source: CERT_EX, condition: { Null: { [cn]: 'false' } }, context: { [cn]: ['dev'] }, expected: true },
    { name: 'Null false guards a certificate attribute (absent)', source: CERT_EX, condition: { Null: { [cn]: 'false' } }, context: {}, expected: false },
    { name: 'Null takes JSON booleans', source: OPS, condition: { Null: { [cn]: false } }, context: { [cn]: ['dev'] }, expected: true },
    {
      name: 'AWS IoT example: Null guard with ForAllValues on Organization.List (attribute absent)', source: CERT_EX,
      condition: { 'ForAllValues:StringEquals': { 'iot:Certificate.Subject.Organization.List': ['Example Corp', 'AnyCompany'] }, Null: { 'iot:Certificate.Subject.Organization.List': 'false' } },
      context: {}, expected: false,
    },
    {
      name: 'AWS IoT example: Null guard with ForAllValues on Organization.List (all listed)', source: CERT_EX,
      condition: { 'ForAllValues:StringEquals': { 'iot:Certificate.Subject.Organization.List': ['Example Corp', 'AnyCompany'] }, Null: { 'iot:Certificate.Subject.Organization.List': 'false' } },
      context: { 'iot:Certificate.Subject.Organization.List': ['AnyCompany', 'Example Corp'] }, expected: true,
    },
    {
      name: 'AWS IoT example: ForAllValues on Organization.List (one not listed)', source: CERT_EX,
      condition: { 'ForAllValues:StringEquals': { 'iot:Certificate.Subject.Organization.List': ['Example Corp', 'AnyCompany'] }, Null: { 'iot:Certificate.Subject.Organization.List': 'false' } },
      context: { 'iot:Certificate.Subject.Organization.List': ['AnyCompany', 'Other'] }, expected: false,
    },
    {
      name: 'AWS IoT example: ForAnyValue on CommonName.List', source: CERT_EX,
      condition: { 'ForAnyValue:StringEquals': { 'iot:Certificate.Subject.CommonName.List': 'Administrator' } },
      context: { 'iot:Certificate.Subject.CommonName.List': ['Device', 'Administrator'] }, expected: true,
    },
  ]);
});

describe('AWS IoT iot:ConnectAttributes examples', () => {
  // The persistent-session examples of the connect policy page: what each condition
  // allows for a default connect (no attribute), a persistent one, one with a Will, both.
  const key = 'iot:ConnectAttributes';
  const requests: Readonly<Record<string, Context>> = {
    default: {},
    persistent: { [key]: ['PersistentConnect'] },
    lastWill: { [key]: ['LastWill'] },
    both: { [key]: ['PersistentConnect', 'LastWill'] },
  };
  const cases: readonly [string, unknown, Readonly<Record<string, boolean>>][] = [
    ['Allow ForAllValues:StringEquals [PersistentConnect]', { 'ForAllValues:StringEquals': { [key]: ['PersistentConnect'] } }, { default: true, persistent: true, lastWill: false, both: false }],
    ['Allow ForAllValues:StringEquals [LastWill] (clean connect with or without a Will)', { 'ForAllValues:StringEquals': { [key]: ['LastWill'] } }, { default: true, persistent: false, lastWill: true, both: false }],
    ['Allow ForAllValues:StringEquals [] (default features only)', { 'ForAllValues:StringEquals': { [key]: [] } }, { default: true, persistent: false, lastWill: false, both: false }],
    ['Allow ForAllValues:StringNotEquals [PersistentConnect] (forbids it)', { 'ForAllValues:StringNotEquals': { [key]: ['PersistentConnect'] } }, { default: true, persistent: false, lastWill: true, both: false }],
    ['Allow ForAnyValue:StringEquals [PersistentConnect] (requires it)', { 'ForAnyValue:StringEquals': { [key]: ['PersistentConnect'] } }, { default: false, persistent: true, lastWill: false, both: true }],
    ['Deny ForAnyValue:StringEquals [PersistentConnect] (the Deny fires when used)', { 'ForAnyValue:StringEquals': { [key]: ['PersistentConnect'] } }, { default: false, persistent: true, lastWill: false, both: true }],
  ];
  for (const [name, condition, expected] of cases) {
    for (const [request, context] of Object.entries(requests)) {
      it(`${name}: ${request} connect (${CONNECT})`, () => {
        assert.equal(evaluate(condition, context), expected[request]);
      });
    }
  }
});

describe('set operators with negated operators', () => {
  // The aws:TagKeys tables of the multivalued-key examples page.
  runRows([
    { name: 'ForAllValues:StringNotLike key1* with [key2]', source: MULTI_EX, condition: { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, context: { 'aws:TagKeys': ['key2'] }, expected: true },
    { name: 'ForAllValues:StringNotLike key1* with [key1]', source: MULTI_EX, condition: { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, context: { 'aws:TagKeys': ['key1'] }, expected: false },
    { name: 'ForAllValues:StringNotLike key1* with [key1, key2]', source: MULTI_EX, condition: { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, context: { 'aws:TagKeys': ['key1', 'key2'] }, expected: false },
    { name: 'ForAllValues:StringNotLike key1* with no keys', source: MULTI_EX, condition: { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, context: {}, expected: true },
    { name: 'ForAnyValue:StringNotLike key1* with [key1, key2]', source: MULTI_EX, condition: { 'ForAnyValue:StringNotLike': { 'aws:TagKeys': 'key1*' } }, context: { 'aws:TagKeys': ['key1', 'key2'] }, expected: true },
    { name: 'ForAnyValue:StringNotLike key1* with [key1]', source: MULTI_EX, condition: { 'ForAnyValue:StringNotLike': { 'aws:TagKeys': 'key1*' } }, context: { 'aws:TagKeys': ['key1'] }, expected: false },
    { name: 'ForAllValues:StringEquals is a subset test', source: MULTI_EX, condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, context: { 'aws:TagKeys': ['b', 'a'] }, expected: true },
    { name: 'ForAllValues:StringEquals fails on one value outside', source: MULTI_EX, condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, context: { 'aws:TagKeys': ['a', 'c'] }, expected: false },
    { name: 'ForAnyValue:…IfExists on an absent key is true (IfExists)', source: OPS, condition: { 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': 'a' } }, context: {}, expected: true },
    { name: 'ForAnyValue:…IfExists with the key present: the set test', source: OPS, condition: { 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': 'a' } }, context: { 'aws:TagKeys': ['b'] }, expected: false },
    { name: 'ForAnyValueIfExists is accepted', source: OPS, condition: { 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': 'a' } }, context: { 'aws:TagKeys': ['a'] }, expected: true },
    { name: 'a plain operator on a multi-valued key: any value matching', source: SETOPS, condition: { StringEquals: { 'aws:TagKeys': 'a' } }, context: { 'aws:TagKeys': ['b', 'a'] }, expected: true },
    { name: 'a plain negated operator on a multi-valued key: false when any value matches', source: SETOPS, condition: { StringNotEquals: { 'aws:TagKeys': 'a' } }, context: { 'aws:TagKeys': ['b', 'a'] }, expected: false },
  ]);
});

describe('numeric operators', () => {
  const k = 'iot:Connection.Thing.Attributes[n]';
  const at = (v: string): Context => ({ [k]: [v] });
  runRows([
    { name: 'NumericEquals integer and decimal', source: OPS, condition: { NumericEquals: { [k]: '10' } }, context: at('10.0'), expected: true },
    { name: 'NumericEquals with a JSON number', source: OPS, condition: { NumericEquals: { [k]: 10 } }, context: at('10'), expected: true },
    { name: 'NumericNotEquals', source: OPS, condition: { NumericNotEquals: { [k]: '10' } }, context: at('11'), expected: true },
    { name: 'NumericLessThan strict', source: OPS, condition: { NumericLessThan: { [k]: '10' } }, context: at('10'), expected: false },
    { name: 'NumericLessThanEquals', source: OPS, condition: { NumericLessThanEquals: { [k]: '10' } }, context: at('10'), expected: true },
    { name: 'NumericGreaterThan strict', source: OPS, condition: { NumericGreaterThan: { [k]: '10' } }, context: at('10'), expected: false },
    { name: 'NumericGreaterThanEquals', source: OPS, condition: { NumericGreaterThanEquals: { [k]: '2.5' } }, context: at('3'), expected: true },
    { name: 'numbers compare as numbers, not text', source: OPS, condition: { NumericLessThan: { [k]: '10' } }, context: at('9'), expected: true },
    { name: 'a request value that is not a number does not match', source: OPS, condition: { NumericLessThan: { [k]: '10' } }, context: at('nine'), expected: false },
    { name: 'a request value that is not a number: the negated operator holds', source: OPS, condition: { NumericNotEquals: { [k]: '10' } }, context: at('ten'), expected: true },
  ]);
});

describe('date operators', () => {
  const t = 'aws:CurrentTime';
  const e = 'aws:EpochTime';
  runRows([
    { name: 'DateGreaterThan', source: DATES, condition: { DateGreaterThan: { [t]: '2026-01-01T00:00:00Z' } }, context: { [t]: ['2026-06-01T12:00:00Z'] }, expected: true },
    { name: 'DateLessThan', source: DATES, condition: { DateLessThan: { [t]: '2026-01-01T00:00:00Z' } }, context: { [t]: ['2026-06-01T12:00:00Z'] }, expected: false },
    { name: 'a window of two dates (ANDed operators)', source: DATES, condition: { DateGreaterThan: { [t]: '2026-05-01T00:00:00Z' }, DateLessThan: { [t]: '2026-07-01T00:00:00Z' } }, context: { [t]: ['2026-06-01T12:00:00Z'] }, expected: true },
    { name: 'DateEquals across offsets', source: OPS, condition: { DateEquals: { [t]: '2026-06-01T14:00:00+02:00' } }, context: { [t]: ['2026-06-01T12:00:00Z'] }, expected: true },
    { name: 'DateNotEquals', source: OPS, condition: { DateNotEquals: { [t]: '2026-06-01T12:00:00Z' } }, context: { [t]: ['2026-06-01T12:00:01Z'] }, expected: true },
    { name: 'DateLessThanEquals at the instant', source: OPS, condition: { DateLessThanEquals: { [t]: '2026-06-01T12:00:00Z' } }, context: { [t]: ['2026-06-01T12:00:00.000Z'] }, expected: true },
    { name: 'DateGreaterThanEquals at the instant', source: OPS, condition: { DateGreaterThanEquals: { [t]: '2026-06-01T12:00:00Z' } }, context: { [t]: ['2026-06-01T11:59:59Z'] }, expected: false },
    { name: 'a policy date in epoch seconds', source: OPS, condition: { DateGreaterThan: { [t]: 1780000000 } }, context: { [t]: ['2026-06-01T12:00:00Z'] }, expected: true },
    { name: 'aws:EpochTime against an ISO date', source: OPS, condition: { DateLessThan: { [e]: '2026-06-01T12:00:01Z' } }, context: { [e]: ['1780315200'] }, expected: true },
    { name: 'a date-only value is midnight UTC', source: OPS, condition: { DateEquals: { [t]: '2026-06-01' } }, context: { [t]: ['2026-06-01T00:00:00Z'] }, expected: true },
  ]);

  it('parses ISO 8601 forms and epoch seconds, and rejects impossible dates', () => {
    assert.equal(parseDate('2026-06-01T12:00:00Z'), Date.UTC(2026, 5, 1, 12));
    assert.equal(parseDate('2026-06-01T12:00Z'), Date.UTC(2026, 5, 1, 12));
    assert.equal(parseDate('2026-06-01T12:00:00.250-0130'), Date.UTC(2026, 5, 1, 13, 30, 0, 250));
    assert.equal(parseDate('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseDate('1780315200'), Date.UTC(2026, 5, 1, 12));
    for (const bad of ['2026-02-30T00:00:00Z', '2025-02-29', '2026-13-01', '2026-06-01T24:00:00Z', '2026-06-01T12:60:00Z', '2026-06-01T12:00:00+25:00', 'June 1 2026', '', '2026-6-1', '-5', 'now']) {
      assert.equal(parseDate(bad), undefined, bad);
    }
  });
});

describe('Bool and BinaryEquals', () => {
  const k = 'iot:Connection.Thing.IsAttached';
  runRows([
    { name: 'AWS IoT example: Bool IsAttached "true"', source: CONNECT, condition: { Bool: { [k]: 'true' } }, context: { [k]: ['true'] }, expected: true },
    { name: 'Bool IsAttached false', source: CONNECT, condition: { Bool: { [k]: 'true' } }, context: { [k]: ['false'] }, expected: false },
    { name: 'Bool with an unquoted JSON boolean', source: OPS, condition: { Bool: { 'aws:SecureTransport': true } }, context: { 'aws:SecureTransport': ['true'] }, expected: true },
    { name: 'Bool absent key', source: OPS, condition: { Bool: { [k]: 'false' } }, context: {}, expected: false },
    { name: 'BoolIfExists absent key', source: OPS, condition: { BoolIfExists: { [k]: 'false' } }, context: {}, expected: true },
    { name: 'BinaryEquals', source: OPS, condition: { BinaryEquals: { 'ex:Bytes': 'QmluYXJ5VmFsdWVJbkJhc2U2NA==' } }, context: { 'ex:Bytes': ['QmluYXJ5VmFsdWVJbkJhc2U2NA=='] }, expected: true },
    { name: 'BinaryEquals other bytes', source: OPS, condition: { BinaryEquals: { 'ex:Bytes': 'QmluYXJ5VmFsdWVJbkJhc2U2NA==' } }, context: { 'ex:Bytes': ['QmluYXJ5'] }, expected: false },
  ]);
});

describe('IP address operators', () => {
  const k = 'aws:SourceIp';
  const from = (ip: string): Context => ({ [k]: [ip] });
  runRows([
    { name: 'IPv4 in a /24', source: OPS, condition: { IpAddress: { [k]: '203.0.113.0/24' } }, context: from('203.0.113.7'), expected: true },
    { name: 'IPv4 outside a /24', source: OPS, condition: { IpAddress: { [k]: '203.0.113.0/24' } }, context: from('203.0.114.7'), expected: false },
    { name: 'no prefix: the single address', source: OPS, condition: { IpAddress: { [k]: '203.0.113.7' } }, context: from('203.0.113.8'), expected: false },
    { name: 'a prefix that is not a multiple of 8', source: OPS, condition: { IpAddress: { [k]: '10.0.0.0/12' } }, context: from('10.15.255.255'), expected: true },
    { name: 'a prefix that is not a multiple of 8 (outside)', source: OPS, condition: { IpAddress: { [k]: '10.0.0.0/12' } }, context: from('10.16.0.0'), expected: false },
    { name: '/0 matches every IPv4 address', source: OPS, condition: { IpAddress: { [k]: '0.0.0.0/0' } }, context: from('198.51.100.1'), expected: true },
    { name: 'NotIpAddress', source: OPS, condition: { NotIpAddress: { [k]: ['10.0.0.0/8', '192.168.0.0/16'] } }, context: from('192.168.4.4'), expected: false },
    { name: 'IPv6 in a /32', source: OPS, condition: { IpAddress: { [k]: '2001:DB8:1234:5678::/64' } }, context: from('2001:db8:1234:5678:0:0:0:1'), expected: true },
    { name: 'IPv6 outside a /64', source: OPS, condition: { IpAddress: { [k]: '2001:DB8:1234:5678::/64' } }, context: from('2001:db8:1234:5679::1'), expected: false },
    { name: 'an IPv4-mapped IPv6 request address matches an IPv4 block', source: RFC4291, condition: { IpAddress: { [k]: '10.0.0.0/8' } }, context: from('::ffff:10.1.2.3'), expected: true },
    { name: 'an IPv4-mapped IPv6 block matches an IPv4 request address', source: RFC4291, condition: { IpAddress: { [k]: '::ffff:10.0.0.0/104' } }, context: from('10.1.2.3'), expected: true },
    { name: 'an IPv6 block does not match an IPv4 address', source: RFC4291, condition: { IpAddress: { [k]: '::/0' } }, context: from('10.1.2.3'), expected: false },
    { name: 'an IPv4 block does not match an IPv6 address', source: RFC4291, condition: { IpAddress: { [k]: '0.0.0.0/0' } }, context: from('2001:db8::1'), expected: false },
    { name: 'a request address that does not parse does not match', source: OPS, condition: { IpAddress: { [k]: '0.0.0.0/0' } }, context: from('fe80::1%eth0'), expected: false },
  ]);

  it('parses IPv4 and IPv6 text strictly', () => {
    assert.deepEqual(parseIp('192.0.2.1'), [192, 0, 2, 1]);
    assert.deepEqual(parseIp('::'), new Array<number>(16).fill(0));
    assert.deepEqual(parseIp('::1'), [...new Array<number>(15).fill(0), 1]);
    assert.deepEqual(parseIp('1::'), [0, 1, ...new Array<number>(14).fill(0)]);
    assert.deepEqual(parseIp('2001:db8::ff00:42:8329'), [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0x00, 0x42, 0x83, 0x29]);
    assert.deepEqual(parseIp('2001:0db8:0000:0000:0000:ff00:0042:8329'), parseIp('2001:db8::ff00:42:8329'));
    assert.deepEqual(parseIp('::ffff:192.0.2.1'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
    assert.deepEqual(parseIp('64:ff9b::192.0.2.1'), [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1]);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4 ', '1::2::3', ':::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::8', '12345::', 'g::', '::1.2.3', '1.2.3.4::', '::ffff:1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4', ':1::', '1::2:', 'fe80::1%eth0', '0x1.2.3.4']) {
      assert.equal(parseIp(bad), undefined, JSON.stringify(bad));
    }
  });

  it('parses prefix lengths strictly and masks host bits', () => {
    assert.deepEqual(parseCidr('10.1.2.3/8'), { bytes: [10, 1, 2, 3], prefix: 8 });
    assert.deepEqual(parseCidr('10.1.2.3'), { bytes: [10, 1, 2, 3], prefix: 32 });
    assert.equal(parseCidr('::/128')?.prefix, 128);
    assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { bytes: [10, 0, 0, 0], prefix: 8 });
    assert.equal(parseCidr('::ffff:0:0/95')?.bytes.length, 16, 'a block wider than the mapped range stays IPv6');
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/8/8', '::/129', '/8', '10.0.0.0/ 8', '10.0.0.0/1e1']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
    assert.equal(ipInCidr('10.255.0.1', parseCidr('10.1.2.3/8')!), true);
    assert.equal(ipInCidr('11.0.0.1', parseCidr('10.1.2.3/8')!), false);
    assert.equal(ipInCidr('2001:db8::1', parseCidr('2001:db8::/31')!), true);
    assert.equal(ipInCidr('2001:db9::1', parseCidr('2001:db8::/31')!), true);
    assert.equal(ipInCidr('2001:dba::1', parseCidr('2001:db8::/31')!), false);
  });
});

describe('ARN operators', () => {
  const k = 'aws:SourceArn';
  const arn = 'arn:aws:iot:us-east-1:123456789012:thing/lamp-1';
  runRows([
    { name: 'ArnEquals', source: OPS, condition: { ArnEquals: { [k]: arn } }, context: { [k]: [arn] }, expected: true },
    { name: 'ArnLike with wildcards per component', source: OPS, condition: { ArnLike: { [k]: 'arn:aws:iot:*:123456789012:thing/lamp-?' } }, context: { [k]: [arn] }, expected: true },
    { name: 'ArnEquals accepts wildcards too', source: OPS, condition: { ArnEquals: { [k]: 'arn:aws:iot:*:123456789012:thing/*' } }, context: { [k]: [arn] }, expected: true },
    { name: 'a * in one component does not cross a colon', source: OPS, condition: { ArnLike: { [k]: 'arn:aws:*:us-east-1:123456789012:thing/lamp-1' } }, context: { [k]: ['arn:aws:iot:extra:us-east-1:123456789012:thing/lamp-1'] }, expected: false },
    { name: 'the account must match', source: OPS, condition: { ArnLike: { [k]: 'arn:aws:iot:*:210987654321:thing/*' } }, context: { [k]: [arn] }, expected: false },
    { name: 'the resource part may contain colons', source: OPS, condition: { ArnLike: { [k]: 'arn:aws:iot:us-east-1:123456789012:a:*' } }, context: { [k]: ['arn:aws:iot:us-east-1:123456789012:a:b:c'] }, expected: true },
    { name: 'ARNs compare case-sensitively', source: OPS, condition: { ArnEquals: { [k]: arn.toUpperCase().replace('ARN', 'arn') } }, context: { [k]: [arn] }, expected: false },
    { name: 'ArnNotLike', source: OPS, condition: { ArnNotLike: { [k]: 'arn:aws:iot:*:*:thing/cam-*' } }, context: { [k]: [arn] }, expected: true },
    { name: 'ArnNotEquals on the value', source: OPS, condition: { ArnNotEquals: { [k]: arn } }, context: { [k]: [arn] }, expected: false },
    { name: 'a request value that is not an ARN does not match', source: OPS, condition: { ArnLike: { [k]: 'arn:*:*:*:*:*' } }, context: { [k]: ['thing/lamp-1'] }, expected: false },
  ]);
});

describe('policy variables in condition values', () => {
  runRows([
    { name: 'StringEquals with a variable', source: VARS, condition: { StringEquals: { 'iot:Connection.Thing.Attributes[owner]': '${iot:ClientId}' } }, context: { 'iot:ClientId': ['c1'], 'iot:Connection.Thing.Attributes[owner]': ['c1'] }, expected: true },
    { name: 'a variable with surrounding text', source: VARS, condition: { StringEquals: { 'iot:LastWillTopic': 'wills/${iot:ClientId}' } }, context: { 'iot:ClientId': ['c1'], 'iot:LastWillTopic': ['wills/c1'] }, expected: true },
    { name: 'an unresolved variable: the positive operator does not match', source: VARS, condition: { StringEquals: { 'iot:ClientId': '${iot:Connection.Thing.ThingName}' } }, context: { 'iot:ClientId': ['c1'] }, expected: false },
    { name: 'an unresolved variable: the negated operator matches', source: VARS, condition: { StringNotEquals: { 'iot:ClientId': '${iot:Connection.Thing.ThingName}' } }, context: { 'iot:ClientId': ['c1'] }, expected: true },
    { name: 'an unresolved variable among several values: the others still count', source: VARS, condition: { StringEquals: { 'iot:ClientId': ['${iot:Connection.Thing.ThingName}', 'c1'] } }, context: { 'iot:ClientId': ['c1'] }, expected: true },
    { name: 'a * brought by a variable is literal in StringLike', source: VARS, condition: { StringLike: { 'iot:LastWillTopic': 'wills/${iot:ClientId}' } }, context: { 'iot:ClientId': ['*'], 'iot:LastWillTopic': ['wills/anything'] }, expected: false },
    { name: 'a * brought by a variable matches itself', source: VARS, condition: { StringLike: { 'iot:LastWillTopic': 'wills/${iot:ClientId}' } }, context: { 'iot:ClientId': ['*'], 'iot:LastWillTopic': ['wills/*'] }, expected: true },
    { name: 'the ${*} escape is a literal *', source: VARS, condition: { StringLike: { 'iot:ClientId': 'a${*}' } }, context: { 'iot:ClientId': ['ab'] }, expected: false },
    { name: 'the ${*} escape matches a literal *', source: VARS, condition: { StringLike: { 'iot:ClientId': 'a${*}' } }, context: { 'iot:ClientId': ['a*'] }, expected: true },
    { name: 'wildcards of the policy text around a variable still work', source: VARS, condition: { StringLike: { 'iot:LastWillTopic': '*/${iot:ClientId}/*' } }, context: { 'iot:ClientId': ['c1'], 'iot:LastWillTopic': ['x/c1/y'] }, expected: true },
    { name: 'a variable inside an ARN component', source: VARS, condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:iot:*:*:thing/${iot:ClientId}' } }, context: { 'iot:ClientId': ['lamp'], 'aws:SourceArn': ['arn:aws:iot:us-east-1:123456789012:thing/lamp'] }, expected: true },
    { name: 'a variable in an ARN stays inside its component', source: VARS, condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:iot:${iot:ClientId}:*:thing/x' } }, context: { 'iot:ClientId': ['us-east-1:123456789012'], 'aws:SourceArn': ['arn:aws:iot:us-east-1:123456789012:thing/x'] }, expected: false },
    { name: 'a * brought by a variable is literal in an ARN', source: VARS, condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:iot:${iot:ClientId}:*:thing/x' } }, context: { 'iot:ClientId': ['*'], 'aws:SourceArn': ['arn:aws:iot:us-east-1:123456789012:thing/x'] }, expected: false },
    { name: 'a variable filling an ARN component', source: VARS, condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:iot:${iot:ClientId}:*:thing/x' } }, context: { 'iot:ClientId': ['us-east-1'], 'aws:SourceArn': ['arn:aws:iot:us-east-1:123456789012:thing/x'] }, expected: true },
    { name: 'without Version 2012-10-17, ${...} is literal text', source: VARS, variablesAllowed: false, condition: { StringEquals: { 'iot:ClientId': '${iot:ClientId}' } }, context: { 'iot:ClientId': ['${iot:ClientId}'] }, expected: true },
    { name: 'without Version 2012-10-17, ${...} is not substituted', source: VARS, variablesAllowed: false, condition: { StringEquals: { 'iot:ClientId': '${iot:ClientId}' } }, context: { 'iot:ClientId': ['c1'] }, expected: false },
  ]);

  it('calls substitute with each variable on its own', () => {
    const seen: string[] = [];
    const c = compile({ StringLike: { 'iot:LastWillTopic': 'a/${iot:ClientId}/b/${iot:Connection.Thing.ThingName}' } });
    const ok = c.test(() => ['a/x/b/y'], (text) => { seen.push(text); return text === '${iot:ClientId}' ? 'x' : 'y'; }, 0);
    assert.equal(ok, true);
    assert.deepEqual(seen, ['${iot:ClientId}', '${iot:Connection.Thing.ThingName}']);
  });
});

describe('invalid conditions are coded problems', () => {
  const P = '$.Statement[0].Condition';
  const cases: readonly [string, unknown, string, string, boolean?][] = [
    ['Condition is a string', 'StringEquals', 'IOT_CONDITION_NOT_AN_OBJECT', P],
    ['Condition is an array', [{ StringEquals: { 'iot:ClientId': 'a' } }], 'IOT_CONDITION_NOT_AN_OBJECT', P],
    ['Condition is null', null, 'IOT_CONDITION_NOT_AN_OBJECT', P],
    ['unknown operator', { StringMatches: { 'iot:ClientId': 'a' } }, 'IOT_CONDITION_UNKNOWN_OPERATOR', `${P}.StringMatches`],
    ['operator in the wrong case', { stringEquals: { 'iot:ClientId': 'a' } }, 'IOT_CONDITION_UNKNOWN_OPERATOR', `${P}.stringEquals`],
    ['unknown set qualifier', { 'ForSomeValues:StringEquals': { 'iot:ClientId': 'a' } }, 'IOT_CONDITION_UNKNOWN_OPERATOR', `${P}["ForSomeValues:StringEquals"]`],
    ['NullIfExists', { NullIfExists: { 'iot:ClientId': 'true' } }, 'IOT_CONDITION_UNKNOWN_OPERATOR', `${P}.NullIfExists`],
    ['ForAnyValue:Null', { 'ForAnyValue:Null': { 'iot:ClientId': 'true' } }, 'IOT_CONDITION_UNKNOWN_OPERATOR', `${P}["ForAnyValue:Null"]`],
    ['IfExists twice', { StringEqualsIfExistsIfExists: { 'iot:ClientId': 'a' } }, 'IOT_CONDITION_UNKNOWN_OPERATOR', `${P}.StringEqualsIfExistsIfExists`],
    ['operator body is a string', { StringEquals: 'iot:ClientId' }, 'IOT_CONDITION_NOT_AN_OBJECT', `${P}.StringEquals`],
    ['operator body is an array', { StringEquals: [{ 'iot:ClientId': 'a' }] }, 'IOT_CONDITION_NOT_AN_OBJECT', `${P}.StringEquals`],
    ['operator with no key', { StringEquals: {} }, 'IOT_CONDITION_EMPTY', `${P}.StringEquals`],
    ['empty value list without a set qualifier', { StringNotEquals: { 'iot:ClientId': [] } }, 'IOT_CONDITION_EMPTY', `${P}.StringNotEquals["iot:ClientId"]`],
    ['key without prefix', { StringEquals: { ClientId: 'a' } }, 'IOT_CONDITION_INVALID_KEY', `${P}.StringEquals.ClientId`],
    ['key with an empty name', { StringEquals: { 'iot:': 'a' } }, 'IOT_CONDITION_INVALID_KEY', `${P}.StringEquals["iot:"]`],
    ['key with a space', { StringEquals: { 'iot:Client Id': 'a' } }, 'IOT_CONDITION_INVALID_KEY', `${P}.StringEquals["iot:Client Id"]`],
    ['key with a bad prefix', { StringEquals: { 'i t:ClientId': 'a' } }, 'IOT_CONDITION_INVALID_KEY', `${P}.StringEquals["i t:ClientId"]`],
    ['key too long', { StringEquals: { [`iot:${'x'.repeat(300)}`]: 'a' } }, 'IOT_CONDITION_INVALID_KEY', `${P}.StringEquals["iot:${'x'.repeat(300)}"]`],
    ['value is an object', { StringEquals: { 'iot:ClientId': { a: 1 } } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.StringEquals["iot:ClientId"]`],
    ['value is null', { StringEquals: { 'iot:ClientId': null } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.StringEquals["iot:ClientId"]`],
    ['nested list', { StringEquals: { 'iot:ClientId': ['a', ['b']] } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.StringEquals["iot:ClientId"][1]`],
    ['numeric value not a number', { NumericLessThan: { 'ex:n': 'ten' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.NumericLessThan["ex:n"]`],
    ['numeric value with a unit', { NumericLessThan: { 'ex:n': '10s' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.NumericLessThan["ex:n"]`],
    ['date not a date', { DateLessThan: { 'aws:CurrentTime': 'tomorrow' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.DateLessThan["aws:CurrentTime"]`],
    ['date impossible', { DateLessThan: { 'aws:CurrentTime': '2026-02-30T00:00:00Z' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.DateLessThan["aws:CurrentTime"]`],
    ['Bool not a boolean', { Bool: { 'aws:SecureTransport': 'yes' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.Bool["aws:SecureTransport"]`],
    ['Bool in capitals', { Bool: { 'aws:SecureTransport': 'TRUE' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.Bool["aws:SecureTransport"]`],
    ['Binary not base64', { BinaryEquals: { 'ex:b': 'not base64!' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.BinaryEquals["ex:b"]`],
    ['IP not an address', { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.IpAddress["aws:SourceIp"]`],
    ['IP with a zone', { IpAddress: { 'aws:SourceIp': 'fe80::1%eth0' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.IpAddress["aws:SourceIp"]`],
    ['ARN with too few parts', { ArnLike: { 'aws:SourceArn': 'arn:aws:iot:thing/x' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.ArnLike["aws:SourceArn"]`],
    ['Null with another value', { Null: { 'iot:ClientId': 'maybe' } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.Null["iot:ClientId"]`],
    ['Null with both values', { Null: { 'iot:ClientId': ['true', 'false'] } }, 'IOT_CONDITION_INVALID_VALUE', `${P}.Null["iot:ClientId"][1]`],
    ['variable with a numeric operator', { NumericEquals: { 'ex:n': '${ex:m}' } }, 'IOT_CONDITION_VARIABLE_NOT_ALLOWED', `${P}.NumericEquals["ex:n"]`],
    ['variable with IpAddress', { IpAddress: { 'aws:SourceIp': '${ex:ip}' } }, 'IOT_CONDITION_VARIABLE_NOT_ALLOWED', `${P}.IpAddress["aws:SourceIp"]`],
    ['variable with Bool', { Bool: { 'aws:SecureTransport': '${ex:b}' } }, 'IOT_CONDITION_VARIABLE_NOT_ALLOWED', `${P}.Bool["aws:SecureTransport"]`],
    ['unterminated variable', { StringEquals: { 'iot:ClientId': 'a${iot:ClientId' } }, 'IOT_CONDITION_MALFORMED_VARIABLE', `${P}.StringEquals["iot:ClientId"]`],
  ];
  for (const [name, block, code, path] of cases) {
    it(`${name}: ${code} (${OPS})`, () => {
      const problems = problemsOf(block);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]!.code, code);
      assert.equal(problems[0]!.path, path);
      assert.ok(problems[0]!.message.length > 0 && problems[0]!.fix.length > 0);
    });
  }

  it('suggests the right case for an operator', () => {
    assert.match(problemsOf({ 'forAnyValue:stringequals': { 'iot:ClientId': 'a' } })[0]!.fix, /`ForAnyValue:StringEquals`/);
  });

  it('reports every problem of a block, not only the first', () => {
    const problems = problemsOf({ Foo: {}, StringEquals: { bad: 'x', 'iot:ClientId': {} }, NumericEquals: { 'ex:n': 'x' } });
    assert.deepEqual(problems.map((p) => p.code), ['IOT_CONDITION_UNKNOWN_OPERATOR', 'IOT_CONDITION_INVALID_KEY', 'IOT_CONDITION_INVALID_VALUE', 'IOT_CONDITION_INVALID_VALUE']);
  });

  it('without Version 2012-10-17, ${ is literal everywhere (no variable problems)', () => {
    assert.deepEqual(problemsOf({ StringEquals: { 'iot:ClientId': 'a${b' } }, false), []);
    assert.equal(problemsOf({ NumericEquals: { 'ex:n': '${ex:m}' } }, false)[0]!.code, 'IOT_CONDITION_INVALID_VALUE');
  });

  it('every operator, with IfExists and each set qualifier, compiles', () => {
    const bases: Readonly<Record<string, string>> = {
      StringEquals: 'a', StringNotEquals: 'a', StringEqualsIgnoreCase: 'a', StringNotEqualsIgnoreCase: 'a', StringLike: 'a*', StringNotLike: 'a*',
      NumericEquals: '1', NumericNotEquals: '1', NumericLessThan: '1', NumericLessThanEquals: '1', NumericGreaterThan: '1', NumericGreaterThanEquals: '1',
      DateEquals: '2026-01-01T00:00:00Z', DateNotEquals: '2026-01-01T00:00:00Z', DateLessThan: '2026-01-01T00:00:00Z', DateLessThanEquals: '2026-01-01T00:00:00Z', DateGreaterThan: '2026-01-01T00:00:00Z', DateGreaterThanEquals: '2026-01-01T00:00:00Z',
      Bool: 'true', BinaryEquals: 'AA==', IpAddress: '10.0.0.0/8', NotIpAddress: '10.0.0.0/8',
      ArnEquals: 'arn:aws:iot:*:*:*', ArnLike: 'arn:aws:iot:*:*:*', ArnNotEquals: 'arn:aws:iot:*:*:*', ArnNotLike: 'arn:aws:iot:*:*:*',
    };
    for (const [op, value] of Object.entries(bases)) {
      for (const name of [op, `${op}IfExists`, `ForAnyValue:${op}`, `ForAllValues:${op}`, `ForAnyValue:${op}IfExists`, `ForAllValues:${op}IfExists`]) {
        assert.deepEqual(problemsOf({ [name]: { 'ex:k': value } }), [], name);
      }
    }
    assert.deepEqual(problemsOf({ Null: { 'ex:k': 'true' } }), []);
  });
});

describe('conditionKeys', () => {
  it('lists each key once, in document order, skipping malformed ones', () => {
    assert.deepEqual(conditionKeys({ StringEquals: { 'iot:ClientId': 'a', bad: 'x' }, IpAddress: { 'aws:SourceIp': '10.0.0.0/8' }, Null: { 'IOT:clientid': 'false' } }), ['iot:ClientId', 'aws:SourceIp']);
    assert.deepEqual(conditionKeys('x'), []);
    assert.deepEqual(conditionKeys({ StringEquals: 'x' }), []);
  });
});

describe('bounded work', () => {
  it('a pathological StringLike pattern is matched in polynomial time', () => {
    const pattern = `${'*a'.repeat(40)}*b`;
    const subject = 'a'.repeat(2000);
    const started = process.hrtime.bigint();
    assert.equal(evaluate({ StringLike: { 'ex:k': pattern } }, { 'ex:k': [subject] }), false);
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'glob matching must not backtrack exponentially');
  });
});

describe('documentation', () => {
  it('every IOT_CONDITION code is documented in docs/errors.md, and the conditions section exists in docs/policies.md', () => {
    const errors = readFileSync(new URL('../../../../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of IOT_CONDITION_CODES) assert.match(errors, new RegExp(`^\\| \`${code}\` \\|`, 'm'), code);
    const policies = readFileSync(new URL('../../../../../docs/policies.md', import.meta.url), 'utf8');
    assert.match(policies, /^## AWS IoT policies: conditions$/m);
    assert.ok(policies.includes(CERT_VARS), 'the certificate variables part cites its source');
  });
});
