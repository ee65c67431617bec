/**
 * The policy document grammar: every defect is reported with its stable code and the
 * JSON path of the offending element; valid documents compile.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_POLICY_CHARACTERS, parseIotPolicyDocument } from '../../../../src/core/policy/iot/document.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
const ok = { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/a` };

function doc(statement: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { Version: '2012-10-17', ...extra, Statement: statement };
}

/** The [code, path] pairs of a document's problems. */
function problems(input: unknown): [string, string][] {
  const r = parseIotPolicyDocument(input);
  if (r.problems.length === 0) assert.ok(r.document, 'no problem means a document');
  else assert.equal(r.document, undefined, 'a document with problems is not compiled');
  return r.problems.map((p) => [p.code, p.path]);
}

describe('IoT policy document grammar', () => {
  it('accepts the minimal documents of both versions, Statement as an object or an array', () => {
    assert.deepEqual(problems(doc(ok)), []);
    assert.deepEqual(problems(doc([ok, { ...ok, Sid: 'Two', Effect: 'Deny' }], { Id: 'x' })), []);
    assert.deepEqual(problems({ Version: '2008-10-17', Statement: [ok] }), []);
    assert.deepEqual(problems({ Statement: [ok] }), []);
    assert.deepEqual(problems(JSON.stringify(doc(ok))), []);
  });

  it('every problem has a message and a fix', () => {
    const r = parseIotPolicyDocument(doc({ Effect: 'allow' }));
    assert.ok(r.problems.length >= 3);
    for (const p of r.problems) {
      assert.ok(p.message.length > 0 && p.fix.length > 0, JSON.stringify(p));
    }
  });

  it('rejects text that is not JSON and values that are not objects', () => {
    assert.deepEqual(problems('{"Statement": '), [['IOT_POLICY_SYNTAX', '$']]);
    assert.deepEqual(problems('[]'), [['IOT_POLICY_NOT_AN_OBJECT', '$']]);
    assert.deepEqual(problems(null), [['IOT_POLICY_NOT_AN_OBJECT', '$']]);
  });

  it('finds duplicate keys in text input, with their path', () => {
    const text = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*","Effect":"Allow"}]}';
    assert.deepEqual(problems(text), [['IOT_POLICY_DUPLICATE_KEY', '$.Statement[0].Effect']]);
    assert.deepEqual(problems('{"Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},"Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}'), [['IOT_POLICY_DUPLICATE_KEY', '$.Statement']]);
    // Equal keys in different objects, and strings with escapes and braces, are fine.
    assert.deepEqual(problems('{"Statement":[{"Sid":"a\\"}{","Effect":"Allow","Action":"iot:Connect","Resource":"*"},{"Sid":"b","Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}'), []);
  });

  it('limits a document to 2048 characters besides white space', () => {
    const topic = (n: number): string => `${ARN}:topic/${'x'.repeat(n)}`;
    const base = JSON.stringify(doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: topic(0) })).length;
    const fits = JSON.stringify(doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: topic(MAX_POLICY_CHARACTERS - base) }), null, 8);
    assert.deepEqual(problems(fits), []);
    const over = JSON.stringify(doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: topic(MAX_POLICY_CHARACTERS - base + 1) }));
    assert.deepEqual(problems(over), [['IOT_POLICY_TOO_LARGE', '$']]);
  });

  it('checks Version, Id, Statement and unknown top-level elements', () => {
    assert.deepEqual(problems(doc(ok, { Version: '2012-10-18' })), [['IOT_POLICY_VERSION_INVALID', '$.Version']]);
    assert.deepEqual(problems(doc(ok, { Id: 3 })), [['IOT_POLICY_ID_INVALID', '$.Id']]);
    assert.deepEqual(problems({ Version: '2012-10-17', Statements: [ok] }), [['IOT_POLICY_UNKNOWN_ELEMENT', '$.Statements'], ['IOT_POLICY_STATEMENT_MISSING', '$']]);
    assert.deepEqual(problems(doc([])), [['IOT_POLICY_STATEMENT_INVALID', '$.Statement']]);
    assert.deepEqual(problems(doc([ok, 'x'])), [['IOT_POLICY_STATEMENT_INVALID', '$.Statement[1]']]);
  });

  it('Effect is exactly Allow or Deny', () => {
    for (const e of ['allow', 'ALLOW', 'Permit', true]) assert.deepEqual(problems(doc([ok, { ...ok, Effect: e }])), [['IOT_POLICY_EFFECT_INVALID', '$.Statement[1].Effect']]);
    const { Effect: _e, ...noEffect } = ok;
    assert.deepEqual(problems(doc(noEffect)), [['IOT_POLICY_EFFECT_INVALID', '$.Statement.Effect']]);
  });

  it('exactly one of Action/NotAction and of Resource/NotResource', () => {
    const { Action: _a, ...noAction } = ok;
    const { Resource: _r, ...noResource } = ok;
    assert.deepEqual(problems(doc(noAction)), [['IOT_POLICY_ACTION_MISSING', '$.Statement']]);
    assert.deepEqual(problems(doc({ ...ok, NotAction: 'iot:Publish' })), [['IOT_POLICY_ACTION_CONFLICT', '$.Statement.NotAction']]);
    assert.deepEqual(problems(doc(noResource)), [['IOT_POLICY_RESOURCE_MISSING', '$.Statement']]);
    assert.deepEqual(problems(doc({ ...ok, NotResource: '*' })), [['IOT_POLICY_RESOURCE_CONFLICT', '$.Statement.NotResource']]);
    assert.deepEqual(problems(doc({ ...noAction, NotAction: ['iot:Publish'] })), []);
  });

  it('values are a string or a non-empty array of strings', () => {
    assert.deepEqual(problems(doc({ ...ok, Action: [] })), [['IOT_POLICY_VALUE_INVALID', '$.Statement.Action']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: ['*', 3] })), [['IOT_POLICY_VALUE_INVALID', '$.Statement.Resource']]);
    assert.deepEqual(problems(doc({ ...ok, Sid: 1 })), [['IOT_POLICY_SID_INVALID', '$.Statement.Sid']]);
  });

  it('refuses Principal and unknown statement elements (names are case-sensitive)', () => {
    assert.deepEqual(problems(doc({ ...ok, Principal: '*' })), [['IOT_POLICY_PRINCIPAL_NOT_ALLOWED', '$.Statement.Principal']]);
    assert.deepEqual(problems(doc({ ...ok, NotPrincipal: '*' })), [['IOT_POLICY_PRINCIPAL_NOT_ALLOWED', '$.Statement.NotPrincipal']]);
    assert.deepEqual(problems(doc({ ...ok, action: 'iot:Publish' })), [['IOT_POLICY_UNKNOWN_ELEMENT', '$.Statement.action']]);
  });

  it('actions need `prefix:name` with one colon; unknown action names only warn', () => {
    for (const a of ['Publish', 'iot:Publish:x', ':Publish', 'iot:']) {
      assert.deepEqual(problems(doc({ ...ok, Action: ['iot:Connect', a] })), [['IOT_POLICY_ACTION_INVALID', '$.Statement.Action[1]']], a);
    }
    const r = parseIotPolicyDocument(doc({ ...ok, Action: ['iot:Publsh', 'IOT:PUBLISH', 'iot:Pub*', 'greengrass:*', '*'] }));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.warnings.map((w) => [w.code, w.path]), [['IOT_POLICY_ACTION_UNKNOWN', '$.Statement.Action[0]'], ['IOT_POLICY_ACTION_UNKNOWN', '$.Statement.Action[3]']]);
  });

  it('resources are `*` or ARNs without a wildcard in the service segment', () => {
    assert.deepEqual(problems(doc({ ...ok, Resource: 'client/a' })), [['IOT_POLICY_RESOURCE_INVALID', '$.Statement.Resource']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: 'arn:aws' })), [['IOT_POLICY_RESOURCE_INVALID', '$.Statement.Resource']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: ['*', 'arn:aws:io*:us-east-1:1:client/a'] })), [['IOT_POLICY_RESOURCE_SERVICE_WILDCARD', '$.Statement.Resource[1]']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: 'arn:aws:?ot:us-east-1:1:client/a' })), [['IOT_POLICY_RESOURCE_SERVICE_WILDCARD', '$.Statement.Resource']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: ['arn:aws:iot:*:*:*', 'arn:*:iot:us-?ast-1:123456789012:client/*', 'arn:aws:s3:::bucket'] })), []);
  });

  it('variables only after the fifth colon, and well formed', () => {
    assert.deepEqual(problems(doc({ ...ok, Resource: 'arn:aws:iot:${aws:SourceIp}:123456789012:client/a' })), [['IOT_POLICY_VARIABLE_POSITION', '$.Statement.Resource']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: 'arn:aws:iot:us-east-1:${iot:ClientId}' })), [['IOT_POLICY_VARIABLE_POSITION', '$.Statement.Resource']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: `${ARN}:client/\${iot:ClientId` })), [['IOT_POLICY_VARIABLE_MALFORMED', '$.Statement.Resource']]);
    assert.deepEqual(problems(doc({ ...ok, Resource: `${ARN}:client/\${}` })), [['IOT_POLICY_VARIABLE_MALFORMED', '$.Statement.Resource']]);
    // Without Version 2012-10-17, `${` is plain text: nothing to check.
    assert.deepEqual(problems({ Statement: { ...ok, Resource: 'arn:aws:iot:${x:123456789012:client/a' } }), []);
    const r = parseIotPolicyDocument(doc({ ...ok, Resource: `${ARN}:client/\${iot:NoSuchThing}` }));
    assert.deepEqual(r.warnings.map((w) => [w.code, w.path]), [['IOT_POLICY_VARIABLE_UNKNOWN', '$.Statement.Resource']]);
  });

  it('a condition key that is never present at the edge loads with a warning (a Deny on a misspelt key never applies)', () => {
    const warned = (condition: unknown): string[][] => parseIotPolicyDocument(doc({ ...ok, Condition: condition })).warnings.map((w) => [w.code, w.path]);
    assert.deepEqual(warned({ StringEquals: { 'iot:ClientID2': 'a' } }), [['IOT_CONDITION_KEY_UNKNOWN', '$.Statement.Condition']]);
    assert.deepEqual(warned({ StringEquals: { 'iot:Conection.Thing.ThingTypeName': 'a' } }), [['IOT_CONDITION_KEY_UNKNOWN', '$.Statement.Condition']]);
    for (const key of ['iot:clientid', 'iot:Connection.Thing.Attributes[room]', 'aws:SourceIp', 'iot:ConnectAttributes', 'iot:LastWillTopic', 'aws:CurrentTime',
      'iot:Certificate.Subject.CommonName', 'iot:Certificate.Subject.AlternativeName.DNSName.List', 'iot:Certificate.SerialNumber', 'iot:Connection.Thing.IsAttached']) {
      assert.deepEqual(warned({ StringEquals: { [key]: 'a' } }), [], key);
    }
  });

  it('Condition blocks are compiled by the condition module and their problems reported', () => {
    assert.deepEqual(problems(doc({ ...ok, Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } } })), []);
    const codes = problems(doc({ ...ok, Condition: { NoSuchOperator: { 'iot:ClientId': 'a' } } }));
    assert.equal(codes.length, 1);
    assert.match(codes[0]![0], /^IOT_CONDITION_/);
    assert.match(codes[0]![1], /^\$\.Statement\.Condition/);
  });

  it('collects every problem of a document, not only the first', () => {
    const codes = problems(doc([{ Effect: 'allow', Action: 'Publish', Resource: 'x' }, { ...ok, Foo: 1 }])).map(([c]) => c);
    assert.deepEqual(codes, ['IOT_POLICY_EFFECT_INVALID', 'IOT_POLICY_ACTION_INVALID', 'IOT_POLICY_RESOURCE_INVALID', 'IOT_POLICY_UNKNOWN_ELEMENT']);
  });
});
