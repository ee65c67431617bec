/**
 * The IAM identity-policy dialect on the shared engine: the evaluation order, list
 * operations on `*`, ARNs of global services, explanations, and the policy set as a
 * whole (unknown names refused, reuse across compiles).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arnFor } from '../../../../src/core/policy/iam/arns.js';
import { compileIamPolicies } from '../../../../src/core/policy/iam/engine.js';
import { IamPolicyNotFoundError } from '../../../../src/core/policy/iam/errors.js';
import { compileIotPolicies } from '../../../../src/core/policy/iot/engine.js';
import { IAM, IOT, NOW, iamPolicies, isAllowed } from './helpers.js';

const D = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };

describe('IAM evaluation order', () => {
  it('explicit Deny in any policy wins, then any Allow, else implicit deny', () => {
    const s = iamPolicies(
      [{ Sid: 'All', Effect: 'Allow', Action: 'iot:*', Resource: '*' }],
      [{ Sid: 'NoDelete', Effect: 'Deny', Action: 'iot:Delete*', Resource: `${IOT}:thing/prod-*` }],
    );
    assert.deepEqual(s.decide('all', {}, { action: 'iot:DeleteThing', resource: `${IOT}:thing/prod-1` }, NOW),
      { allowed: false, reason: 'DENIED_BY_STATEMENT', action: 'iot:DeleteThing', policy: 'p1', statement: 'NoDelete', statementIndex: 0 });
    assert.deepEqual(s.decide('all', {}, { action: 'iot:deletething', resource: `${IOT}:thing/test-1` }, NOW),
      { allowed: true, reason: 'ALLOWED_BY_STATEMENT', action: 'iot:DeleteThing', policy: 'p0', statement: 'All', statementIndex: 0 });
    assert.deepEqual(s.decide('all', {}, { action: 'iam:CreateUser', resource: `${IAM}:user/bob` }, NOW),
      { allowed: false, reason: 'NO_MATCHING_STATEMENT', action: 'iam:CreateUser' });
    assert.equal(s.decide([], {}, { action: 'iot:ListThings', resource: '*' }, NOW).reason, 'NO_MATCHING_STATEMENT');
  });

  it('a user allowed only iot:List* on thing/sensor-* is refused elsewhere, and for list calls on `*`', () => {
    const s = iamPolicies([{ Effect: 'Allow', Action: 'iot:List*', Resource: `${IOT}:thing/sensor-*` }]);
    assert.ok(isAllowed(s, 'iot:ListThingPrincipals', arnFor('iot:thing', 'sensor-1', D)));
    assert.ok(!isAllowed(s, 'iot:ListThingPrincipals', arnFor('iot:thing', 'camera-1', D)));
    assert.ok(!isAllowed(s, 'iot:DescribeThing', arnFor('iot:thing', 'sensor-1', D)));
    // A list operation names no resource: only `"Resource": "*"` grants it.
    assert.ok(!isAllowed(s, 'iot:ListThings', '*'));
    assert.ok(isAllowed(iamPolicies([{ Effect: 'Allow', Action: 'iot:ListThings', Resource: '*' }]), 'iot:ListThings', '*'));
  });

  it('NotAction and NotResource', () => {
    const s = iamPolicies([
      { Effect: 'Allow', NotAction: 'iam:*', Resource: '*' },
      { Effect: 'Deny', Action: '*', NotResource: [`${IOT}:thing/*`, `${IOT}:thinggroup/*`] },
    ]);
    assert.ok(isAllowed(s, 'iot:DescribeThing', `${IOT}:thing/a`));
    assert.ok(!isAllowed(s, 'iot:DescribeRoleAlias', `${IOT}:rolealias/a`));
    assert.ok(!isAllowed(s, 'iam:GetUser', `${IOT}:thing/a`));
  });

  it('ARNs of global services have an empty region; wildcards in a segment stay in it unless they end it', () => {
    const s = iamPolicies([
      { Sid: 'Users', Effect: 'Allow', Action: 'iam:GetUser', Resource: 'arn:aws:iam::*:user/ops-*' },
      { Sid: 'Roles', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: 'arn:aws:iam::123456789012:role/dev?' },
    ]);
    assert.equal(arnFor('iam:user', 'ops-alice', D), 'arn:aws:iam::123456789012:user/ops-alice');
    assert.ok(isAllowed(s, 'iam:GetUser', arnFor('iam:user', 'ops-alice', D)));
    assert.ok(!isAllowed(s, 'iam:GetUser', arnFor('iam:user', 'alice', D)));
    assert.ok(isAllowed(s, 'sts:AssumeRole', arnFor('iam:role', 'dev1', D)));
    assert.ok(!isAllowed(s, 'sts:AssumeRole', arnFor('iam:role', 'dev12', D)));
    // The region segment of an IAM ARN is empty: a policy naming a region does not match it.
    assert.ok(!isAllowed(iamPolicies([{ Effect: 'Allow', Action: 'iam:GetUser', Resource: 'arn:aws:iam:us-east-1:123456789012:user/*' }]), 'iam:GetUser', arnFor('iam:user', 'a', D)));
  });

  it('the Greengrass connectivity-information ARN', () => {
    const arn = arnFor('greengrass:connectivityInfo', 'core-1', D);
    assert.equal(arn, 'arn:aws:greengrass:us-east-1:123456789012:/greengrass/things/core-1/connectivityInfo');
    const s = iamPolicies([{ Effect: 'Allow', Action: 'greengrass:*ConnectivityInfo', Resource: 'arn:aws:greengrass:us-east-1:123456789012:/greengrass/things/core-*' }]);
    assert.ok(isAllowed(s, 'greengrass:UpdateConnectivityInfo', arn));
    assert.ok(!isAllowed(s, 'greengrass:UpdateConnectivityInfo', arnFor('greengrass:connectivityInfo', 'edge-1', D)));
  });

  it('explain lists every applying statement, Deny first', () => {
    const s = iamPolicies([
      { Sid: 'A', Effect: 'Allow', Action: 'iot:DescribeThing', Resource: `${IOT}:thing/*` },
      { Sid: 'B', Effect: 'Deny', Action: 'iot:Describe*', Resource: `${IOT}:thing/x` },
    ]);
    const e = s.explain('all', {}, { action: 'iot:DescribeThing', resource: `${IOT}:thing/x` }, NOW);
    assert.equal(e.reason, 'DENIED_BY_STATEMENT');
    assert.deepEqual(e.matches.map((m) => `${m.effect}:${m.statement}`), ['Deny:B', 'Allow:A']);
    assert.deepEqual(e.matches[1]!.resources, [`${IOT}:thing/*`]);
  });
});

describe('IAM policy sets', () => {
  it('a decision naming a policy the set does not hold throws IAM_POLICY_NOT_FOUND', () => {
    const s = iamPolicies([{ Effect: 'Allow', Action: '*', Resource: '*' }]);
    assert.throws(() => s.decide(['p0', 'gone'], {}, { action: 'iot:ListThings', resource: '*' }, NOW), (e: unknown) => e instanceof IamPolicyNotFoundError && e.code === 'IAM_POLICY_NOT_FOUND');
  });

  it('one invalid document rejects the set, with every problem; duplicate names are refused', () => {
    const r = compileIamPolicies([
      { name: 'a', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } },
      { name: 'b', document: '{"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}' },
      { name: 'a', document: { Statement: [] } },
    ]);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.problems.map((p) => `${p.policy}:${p.code}`), ['b:IAM_POLICY_EFFECT_INVALID', 'a:IAM_POLICY_NAME_DUPLICATE']);
  });

  it('a recompile reuses policies whose text is unchanged', () => {
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:ListThings', Resource: '*' }] });
    const first = compileIamPolicies([{ name: 'a', document: doc }]);
    assert.ok(first.ok);
    const second = compileIamPolicies([{ name: 'a', document: doc }, { name: 'b', document: doc }], first.set);
    assert.ok(second.ok);
    assert.equal(second.reused, 1);
    assert.ok(isAllowed(second.set, 'iot:ListThings', '*'));
  });

  it('the same document keeps its IoT meaning and codes in the IoT dialect', () => {
    const doc = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'iot:Connect', Resource: '*' }] };
    const iot = compileIotPolicies([{ name: 'p', document: doc }], D);
    const iam = compileIamPolicies([{ name: 'p', document: doc }]);
    assert.deepEqual(!iot.ok && iot.problems.map((p) => p.code), ['IOT_POLICY_PRINCIPAL_NOT_ALLOWED']);
    assert.deepEqual(!iam.ok && iam.problems.map((p) => p.code), ['IAM_POLICY_PRINCIPAL_NOT_ALLOWED']);
  });
});
