/**
 * Trust-policy evaluation (who may assume a role) and the document checks made before a
 * policy is stored. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iamConditionMatcher, trustPolicyAllows, validateIamDocument, validateTrustPolicy } from '../../src/identity/control-rules.js';

const ACCOUNT = '123456789012';
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
const doc = (...statements: Record<string, unknown>[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const allow = (principal: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: principal, ...extra });

describe('trustPolicyAllows', () => {
  it('allows the named principals only, deny first', () => {
    const d = doc(allow({ AWS: [ALICE] }));
    assert.deepEqual(trustPolicyAllows(d, ALICE, { accountId: ACCOUNT }), { allowed: true, reason: 'ALLOWED_BY_STATEMENT', statement: '0' });
    assert.deepEqual(trustPolicyAllows(d, BOB, { accountId: ACCOUNT }), { allowed: false, reason: 'NO_MATCHING_STATEMENT' });
    assert.equal(trustPolicyAllows(d, `arn:aws:iam::${ACCOUNT}:user/Alice`, { accountId: ACCOUNT }).allowed, false, 'ARNs compare case-sensitively');
    const denied = doc(allow('*'), { Sid: 'NoBob', Effect: 'Deny', Action: 'sts:*', Principal: { AWS: BOB } });
    assert.equal(trustPolicyAllows(denied, ALICE, { accountId: ACCOUNT }).allowed, true);
    assert.deepEqual(trustPolicyAllows(denied, BOB, { accountId: ACCOUNT }), { allowed: false, reason: 'DENIED_BY_STATEMENT', statement: 'NoBob' });
  });

  it('matches a role session by its role ARN, and the account by its id or root ARN', () => {
    const session = `arn:aws:sts::${ACCOUNT}:assumed-role/Builder/ci-42`;
    assert.equal(trustPolicyAllows(doc(allow({ AWS: `arn:aws:iam::${ACCOUNT}:role/Builder` })), session, { accountId: ACCOUNT }).allowed, true);
    assert.equal(trustPolicyAllows(doc(allow({ AWS: `arn:aws:iam::${ACCOUNT}:role/Other` })), session, { accountId: ACCOUNT }).allowed, false);
    assert.equal(trustPolicyAllows(doc(allow({ AWS: ACCOUNT })), ALICE, { accountId: ACCOUNT }).allowed, true);
    assert.equal(trustPolicyAllows(doc(allow({ AWS: `arn:aws:iam::${ACCOUNT}:root` })), ALICE, { accountId: ACCOUNT }).allowed, true);
    assert.equal(trustPolicyAllows(doc(allow({ AWS: '999999999999' })), ALICE, { accountId: ACCOUNT }).allowed, false);
  });

  it('checks the action and fails closed on conditions it is not given an evaluator for', () => {
    const tagOnly = doc({ Effect: 'Allow', Action: 'sts:TagSession', Principal: '*' });
    assert.equal(trustPolicyAllows(tagOnly, ALICE, { accountId: ACCOUNT }).allowed, false);
    assert.equal(trustPolicyAllows(tagOnly, ALICE, { accountId: ACCOUNT, action: 'sts:TagSession' }).allowed, true);
    const conditional = doc(allow('*', { Condition: { StringEquals: { 'aws:PrincipalTag/team': 'ops' } } }));
    assert.equal(trustPolicyAllows(conditional, ALICE, { accountId: ACCOUNT }).allowed, false, 'an unevaluated condition does not allow');
    assert.equal(trustPolicyAllows(conditional, ALICE, { accountId: ACCOUNT, conditionMatches: () => true }).allowed, true);
    const conditionalDeny = doc(allow('*'), { Effect: 'Deny', Action: 'sts:AssumeRole', Principal: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    assert.equal(trustPolicyAllows(conditionalDeny, ALICE, { accountId: ACCOUNT }).allowed, false, 'an unevaluated condition on a deny denies');
    assert.equal(trustPolicyAllows(conditionalDeny, ALICE, { accountId: ACCOUNT, conditionMatches: () => false }).allowed, true);
    assert.equal(trustPolicyAllows('not json', ALICE, { accountId: ACCOUNT }).allowed, false);
    const throwing = (): boolean => {
      throw new Error('cannot evaluate');
    };
    assert.equal(trustPolicyAllows(conditional, ALICE, { accountId: ACCOUNT, conditionMatches: throwing }).allowed, false);
    assert.equal(trustPolicyAllows(conditionalDeny, ALICE, { accountId: ACCOUNT, conditionMatches: throwing }).allowed, false);
  });

  it('evaluates conditions with the IAM dialect through iamConditionMatcher', () => {
    const conditional = doc(allow('*', { Condition: { StringEquals: { 'aws:PrincipalTag/team': 'ops' }, Bool: { 'aws:SecureTransport': 'true' } } }));
    const now = Date.parse('2026-06-01T12:00:00Z');
    const ops = iamConditionMatcher({ principal: { tags: { team: 'ops' } }, secureTransport: true }, now);
    const dev = iamConditionMatcher({ principal: { tags: { team: 'dev' } }, secureTransport: true }, now);
    const plain = iamConditionMatcher({ principal: { tags: { team: 'ops' } }, secureTransport: false }, now);
    assert.equal(trustPolicyAllows(conditional, ALICE, { accountId: ACCOUNT, conditionMatches: ops }).allowed, true);
    assert.equal(trustPolicyAllows(conditional, ALICE, { accountId: ACCOUNT, conditionMatches: dev }).allowed, false);
    assert.equal(trustPolicyAllows(conditional, ALICE, { accountId: ACCOUNT, conditionMatches: plain }).allowed, false);
  });
});

describe('policy document checks', () => {
  it('names each problem with a path', () => {
    assert.deepEqual(validateTrustPolicy(doc(allow({ AWS: ALICE }))), []);
    assert.deepEqual(validateTrustPolicy(doc(allow('*', { Condition: { StringEqualz: { 'aws:PrincipalTag/team': 'x' } } }))).map((p) => [p.code, p.path]),
      [['IAM_CONDITION_UNKNOWN_OPERATOR', '$.Statement[0].Condition.StringEqualz']]);
    const problems = validateTrustPolicy(doc({ Effect: 'Allow', Action: 'iot:*', Principal: { Service: 'x' } }));
    assert.deepEqual(problems.map((p) => p.path), ['$.Statement[0].Action', '$.Statement[0].Principal.Service', '$.Statement[0].Principal.AWS']);
    assert.deepEqual(validateIamDocument(doc({ Effect: 'Allow', Action: 'iot:*', Resource: '*' })), []);
    // Identity policies are checked by the IAM dialect's compiler.
    assert.deepEqual(validateIamDocument(doc({ Effect: 'Allow', Action: 'iot:*', Resource: '*', Principal: '*' })).map((p) => p.path), ['$.Statement[0].Principal']);
    assert.deepEqual(validateIamDocument(doc({ Effect: 'Allow', Action: 'iot:*', Resource: '*', Condition: { StringEqualz: { 'aws:SourceIp': 'x' } } })).map((p) => p.code),
      ['IAM_CONDITION_UNKNOWN_OPERATOR']);
    assert.deepEqual(validateIamDocument(doc({ Effect: 'Allow', Action: 'iot', Resource: '*' })).map((p) => p.code), ['IAM_POLICY_ACTION_INVALID']);
    assert.equal(validateIamDocument('{"Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": "ĀĀ"}}').map((p) => p.code)[0], 'IAM_POLICY_CHARACTER_INVALID');
  });
});
