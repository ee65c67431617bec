/**
 * What the IAM dialect has that IoT's does not: its grammar rules, the global `aws:`
 * keys of a management call (missing keys, tag keys compared without case, the
 * multi-valued aws:TagKeys), and principal variables with defaults.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IamContext } from '../../../../src/core/policy/iam/context.js';
import { compileIamPolicies } from '../../../../src/core/policy/iam/engine.js';
import { resolveIamKey, resolveIamVariable } from '../../../../src/core/policy/iam/keys.js';
import { IAM, IOT, NOW, codesOf, iamPolicies, isAllowed } from './helpers.js';

const doc = (statement: Record<string, unknown>, top: Record<string, unknown> = {}): unknown => ({ Version: '2012-10-17', ...top, Statement: [statement] });
const ok = { Effect: 'Allow', Action: 'iot:ListThings', Resource: '*' };

describe('IAM grammar', () => {
  it('Principal and NotPrincipal are refused in an identity policy', () => {
    assert.deepEqual(codesOf(doc({ ...ok, Principal: { AWS: '*' } })), ['IAM_POLICY_PRINCIPAL_NOT_ALLOWED']);
    assert.deepEqual(codesOf(doc({ ...ok, NotPrincipal: '*' })), ['IAM_POLICY_PRINCIPAL_NOT_ALLOWED']);
  });

  it('Id is refused; Sid must be letters and digits and unique', () => {
    assert.deepEqual(codesOf(doc(ok, { Id: 'cd3ad3d9' })), ['IAM_POLICY_ID_NOT_ALLOWED']);
    assert.deepEqual(codesOf(doc({ ...ok, Sid: 'List-Things' })), ['IAM_POLICY_SID_INVALID']);
    assert.deepEqual(codesOf({ Version: '2012-10-17', Statement: [{ ...ok, Sid: 'A1' }, { ...ok, Sid: 'A1' }] }), ['IAM_POLICY_SID_DUPLICATE']);
    assert.deepEqual(codesOf({ Version: '2012-10-17', Statement: [{ ...ok, Sid: 'A1' }, { ...ok, Sid: 'a1' }, ok, ok] }), []);
  });

  it('a managed policy holds up to 6,144 characters besides white space, of tab, LF, CR and U+0020 to U+00FF', () => {
    const sized = (n: number): string => {
      const base = JSON.stringify(doc({ ...ok, Resource: 'X' }));
      return base.replace('"X"', `"${'a'.repeat(n - base.length + 1)}"`);
    };
    assert.equal(sized(6144).length, 6144);
    // 6,144 is over IoT's 2,048 but within IAM's quota; one more is not.
    assert.ok(!codesOf(sized(6144)).includes('IAM_POLICY_TOO_LARGE'));
    assert.ok(codesOf(sized(6145)).includes('IAM_POLICY_TOO_LARGE'));
    assert.deepEqual(codesOf(JSON.stringify(doc({ ...ok, Resource: 'arn:aws:iot:us-east-1:123456789012:thing/café' }))), []);
    assert.deepEqual(codesOf(JSON.stringify(doc({ ...ok, Resource: 'arn:aws:iot:us-east-1:123456789012:thing/\u0101' }))), ['IAM_POLICY_CHARACTER_INVALID']);
  });

  it('codes are the IoT ones under the IAM prefix; unknown actions, keys and variables warn', () => {
    assert.deepEqual(codesOf('{'), ['IAM_POLICY_SYNTAX']);
    assert.deepEqual(codesOf(doc({ ...ok, Effect: 'allow' })), ['IAM_POLICY_EFFECT_INVALID']);
    assert.deepEqual(codesOf(doc({ ...ok, Condition: { StringEqual: { 'aws:username': 'a' } } })), ['IAM_CONDITION_UNKNOWN_OPERATOR']);
    assert.deepEqual(codesOf(doc({ ...ok, Action: 'iot:CreateThingz' })), ['warn:IAM_POLICY_ACTION_UNKNOWN']);
    assert.deepEqual(codesOf(doc({ ...ok, Condition: { StringEquals: { 'iot:ClientId': 'a' } } })), ['warn:IAM_CONDITION_KEY_UNKNOWN']);
    assert.deepEqual(codesOf(doc({ ...ok, Resource: `${IAM}:user/\${aws:usrname}` })), ['warn:IAM_POLICY_VARIABLE_UNKNOWN']);
    assert.deepEqual(codesOf(doc({ ...ok, Action: ['gatehouse:*', 'iam:*User*', 'sts:AssumeRole'], Condition: { StringEquals: { 'aws:ResourceTag/env': 'x', 'AWS:PrincipalTag/Team': 'y' } } })), []);
  });
});

describe('IAM condition keys', () => {
  const CTX: IamContext = {
    currentTime: '2026-06-01T12:00:00Z',
    secureTransport: true,
    sourceIp: '192.0.2.10',
    userAgent: 'aws-sdk-js/3',
    principal: { username: 'alice', userid: 'AIDAEXAMPLE', arn: `${IAM}:user/alice`, type: 'User', account: '123456789012', tags: { Team: 'ops' } },
    requestTags: { Env: 'prod' },
    tagKeys: ['Env', 'Owner'],
    resourceTags: { env: 'dev' },
  };

  it('global keys resolve from the context; an absent field is a key not present', () => {
    assert.deepEqual(resolveIamKey(CTX, 'aws:SourceIp', NOW), ['192.0.2.10']);
    assert.deepEqual(resolveIamKey(CTX, 'AWS:USERNAME', NOW), ['alice']);
    assert.deepEqual(resolveIamKey(CTX, 'aws:PrincipalType', NOW), ['User']);
    assert.deepEqual(resolveIamKey(CTX, 'aws:SecureTransport', NOW), ['true']);
    assert.deepEqual(resolveIamKey(CTX, 'aws:EpochTime', NOW), [String(Date.UTC(2026, 5, 1, 12) / 1000)]);
    assert.equal(resolveIamKey(CTX, 'aws:MultiFactorAuthPresent', NOW), undefined);
    assert.equal(resolveIamKey({}, 'aws:username', NOW), undefined);
    assert.equal(resolveIamKey({}, 'aws:SourceIp', NOW), undefined);
    assert.deepEqual(resolveIamKey({}, 'aws:CurrentTime', NOW), ['2026-06-01T12:00:00.000Z']);
  });

  it('tag keys compare without regard to case; tag values with it', () => {
    assert.deepEqual(resolveIamKey(CTX, 'aws:PrincipalTag/team', NOW), ['ops']);
    assert.deepEqual(resolveIamKey(CTX, 'aws:ResourceTag/ENV', NOW), ['dev']);
    assert.deepEqual(resolveIamKey(CTX, 'aws:RequestTag/env', NOW), ['prod']);
    assert.equal(resolveIamKey(CTX, 'aws:ResourceTag/owner', NOW), undefined);
    const s = iamPolicies([{ Effect: 'Allow', Action: 'iot:UpdateThing', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/Env': 'dev' } } }]);
    assert.ok(isAllowed(s, 'iot:UpdateThing', `${IOT}:thing/a`, CTX));
    assert.ok(!isAllowed(s, 'iot:UpdateThing', `${IOT}:thing/a`, { ...CTX, resourceTags: { ENV: 'Dev' } }));
    assert.ok(!isAllowed(s, 'iot:UpdateThing', `${IOT}:thing/a`, { ...CTX, resourceTags: undefined }));
  });

  it('aws:TagKeys is multi-valued: ForAllValues holds for no keys, ForAnyValue does not', () => {
    const only = iamPolicies([{ Effect: 'Allow', Action: 'iot:TagResource', Resource: '*', Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['Env', 'Owner'] } } }]);
    const some = iamPolicies([{ Effect: 'Allow', Action: 'iot:TagResource', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['Env'] } } }]);
    const arn = `${IOT}:thing/a`;
    assert.ok(isAllowed(only, 'iot:TagResource', arn, { tagKeys: ['Env'] }));
    assert.ok(isAllowed(only, 'iot:TagResource', arn, { tagKeys: ['Env', 'Owner'] }));
    assert.ok(!isAllowed(only, 'iot:TagResource', arn, { tagKeys: ['Env', 'Cost'] }));
    assert.ok(isAllowed(only, 'iot:TagResource', arn, {}));
    assert.ok(isAllowed(some, 'iot:TagResource', arn, { tagKeys: ['Cost', 'Env'] }));
    assert.ok(!isAllowed(some, 'iot:TagResource', arn, { tagKeys: ['Cost'] }));
    assert.ok(!isAllowed(some, 'iot:TagResource', arn, {}));
    // Values compare with case, as StringEquals does: `env` is not `Env`.
    assert.ok(!isAllowed(some, 'iot:TagResource', arn, { tagKeys: ['env'] }));
  });

  it('missing keys: positive operators fail, negated ones hold, IfExists holds, Null tests presence', () => {
    const cond = (c: Record<string, unknown>): boolean => isAllowed(iamPolicies([{ Effect: 'Allow', Action: '*', Resource: '*', Condition: c }]), 'iot:ListThings', '*', {});
    assert.equal(cond({ Bool: { 'aws:MultiFactorAuthPresent': 'true' } }), false);
    assert.equal(cond({ StringNotEquals: { 'aws:username': 'bob' } }), true);
    assert.equal(cond({ BoolIfExists: { 'aws:MultiFactorAuthPresent': 'true' } }), true);
    assert.equal(cond({ Null: { 'aws:MultiFactorAuthAge': 'true' } }), true);
    assert.equal(cond({ NumericLessThan: { 'aws:MultiFactorAuthAge': '3600' } }), false);
    // A Deny on a missing key with a negated operator fires: the request is denied.
    const s = iamPolicies([{ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringNotEquals: { 'aws:PrincipalTag/team': 'ops' } } }]);
    assert.ok(!isAllowed(s, 'iot:ListThings', '*', {}));
    assert.ok(isAllowed(s, 'iot:ListThings', '*', CTX));
  });

  it('time, address and transport conditions', () => {
    const s = iamPolicies([{
      Effect: 'Allow', Action: '*', Resource: '*',
      Condition: { DateLessThan: { 'aws:CurrentTime': '2026-07-01T00:00:00Z' }, IpAddress: { 'aws:SourceIp': '192.0.2.0/24' }, Bool: { 'aws:SecureTransport': true } },
    }]);
    assert.ok(isAllowed(s, 'iot:ListThings', '*', CTX));
    assert.ok(!isAllowed(s, 'iot:ListThings', '*', { ...CTX, currentTime: '2026-07-01T00:00:01Z' }));
    assert.ok(!isAllowed(s, 'iot:ListThings', '*', { ...CTX, sourceIp: '198.51.100.1' }));
    assert.ok(!isAllowed(s, 'iot:ListThings', '*', { ...CTX, secureTransport: false }));
    assert.ok(!isAllowed(s, 'iot:ListThings', '*', { ...CTX, sourceIp: undefined }));
    // aws:EpochTime alone fixes the evaluation time, and aws:CurrentTime follows it.
    const e = iamPolicies([{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { DateLessThan: { 'aws:CurrentTime': '2026-07-01T00:00:00Z' } } }]);
    assert.ok(isAllowed(e, 'iot:ListThings', '*', { epochTime: Date.UTC(2026, 5, 30) / 1000 }));
    assert.ok(!isAllowed(e, 'iot:ListThings', '*', { epochTime: Date.UTC(2026, 6, 2) / 1000 }));
  });
});

describe('IAM policy variables', () => {
  it('${aws:username} in a resource: each user reaches only their own user', () => {
    const s = iamPolicies([{ Effect: 'Allow', Action: ['iam:*AccessKey*', 'iam:GetUser'], Resource: `${IAM}:user/\${aws:username}` }]);
    const alice: IamContext = { principal: { username: 'alice' } };
    assert.ok(isAllowed(s, 'iam:CreateAccessKey', `${IAM}:user/alice`, alice));
    assert.ok(!isAllowed(s, 'iam:CreateAccessKey', `${IAM}:user/bob`, alice));
    // A role session has no aws:username: the entry matches nothing.
    assert.ok(!isAllowed(s, 'iam:GetUser', `${IAM}:user/alice`, { principal: { userid: 'AROA:alice' } }));
  });

  it('a substituted value is literal text, never a wildcard', () => {
    const s = iamPolicies([{ Effect: 'Allow', Action: 'iot:DescribeThing', Resource: `${IOT}:thing/\${aws:PrincipalTag/prefix}-*` }]);
    assert.ok(isAllowed(s, 'iot:DescribeThing', `${IOT}:thing/ops-1`, { principal: { tags: { Prefix: 'ops' } } }));
    assert.ok(!isAllowed(s, 'iot:DescribeThing', `${IOT}:thing/dev-1`, { principal: { tags: { prefix: '*' } } }));
  });

  it('a variable in a condition; a default used only when the key is absent', () => {
    const s = iamPolicies([{ Effect: 'Allow', Action: 'iot:UpdateThing', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/team': "${aws:PrincipalTag/team, 'shared'}" } } }]);
    const arn = `${IOT}:thing/a`;
    assert.ok(isAllowed(s, 'iot:UpdateThing', arn, { principal: { tags: { team: 'ops' } }, resourceTags: { team: 'ops' } }));
    assert.ok(!isAllowed(s, 'iot:UpdateThing', arn, { principal: { tags: { team: 'ops' } }, resourceTags: { team: 'shared' } }));
    assert.ok(isAllowed(s, 'iot:UpdateThing', arn, { principal: {}, resourceTags: { team: 'shared' } }));
    assert.equal(resolveIamVariable({}, "aws:username, 'nobody'", NOW), 'nobody');
    assert.equal(resolveIamVariable({ tagKeys: ['a'] }, 'aws:TagKeys', NOW), undefined);
  });

  it('no variables in a Version 2008-10-17 document: `${…}` is text', () => {
    const r = compileIamPolicies([{ name: 'old', document: { Version: '2008-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: `${IAM}:user/\${aws:username}` }] } }]);
    assert.ok(r.ok);
    assert.deepEqual(r.warnings, []);
    const alice: IamContext = { principal: { username: 'alice' } };
    assert.ok(!isAllowed(r.set, 'iam:GetUser', `${IAM}:user/alice`, alice));
    assert.ok(isAllowed(r.set, 'iam:GetUser', `${IAM}:user/\${aws:username}`, alice));
  });
});
