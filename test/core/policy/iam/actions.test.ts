/**
 * The management action catalog and the ARNs of its resources: every action is
 * decided by its own statements only (the per-action masks span several 32-bit words
 * here, unlike IoT's), spellings are canonical, and every resource type has its ARN.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IAM_ACTIONS, IAM_ACTIONS_ALSO_ON, IAM_ACTION_CATALOG, canonicalIamAction, type IamResourceType } from '../../../../src/core/policy/iam/actions.js';
import { arnFor } from '../../../../src/core/policy/iam/arns.js';
import { IAM, IOT, iamPolicies, isAllowed } from './helpers.js';

const ACTIONS = Object.keys(IAM_ACTIONS);
const D = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };

describe('management actions', () => {
  it('are `prefix:Name` of the four services, unique without regard to case, and span several mask words', () => {
    for (const a of ACTIONS) assert.match(a, /^(iot|iam|sts|greengrass|gatehouse):[A-Z][A-Za-z]+$/, a);
    assert.equal(new Set(ACTIONS.map((a) => a.toLowerCase())).size, ACTIONS.length);
    assert.ok(IAM_ACTION_CATALOG.words > 1);
  });

  it('canonicalIamAction gives the documented spelling; unknown actions have none', () => {
    assert.equal(canonicalIamAction('IOT:createTHING'), 'iot:CreateThing');
    assert.equal(canonicalIamAction('sts:assumerole'), 'sts:AssumeRole');
    assert.equal(canonicalIamAction('iot:Connect'), undefined);
  });

  it('each action is granted by its own name and by nothing else; NotAction excludes exactly it', () => {
    for (const a of ACTIONS) {
      const only = iamPolicies([{ Effect: 'Allow', Action: a.toUpperCase(), Resource: '*' }]);
      const allBut = iamPolicies([{ Effect: 'Allow', NotAction: a, Resource: '*' }]);
      for (const b of ACTIONS) {
        assert.equal(isAllowed(only, b, '*'), a === b, `${a} granting ${b}`);
        assert.equal(isAllowed(allBut, b, '*'), a !== b, `NotAction ${a} on ${b}`);
      }
    }
  });

  it('wildcards cover their prefix only', () => {
    const s = iamPolicies([{ Effect: 'Allow', Action: ['iam:*User*', 'gatehouse:List*'], Resource: '*' }]);
    const granted = ACTIONS.filter((a) => isAllowed(s, a, '*')).sort();
    assert.deepEqual(granted, ACTIONS.filter((a) => /^iam:.*User/.test(a) || a.startsWith('gatehouse:List')).sort());
    assert.ok(!isAllowed(s, 'iot:ListThings', '*'));
  });

  it('AWS authorizes thing principals and TestAuthorization on the certificate; group membership also on the thing', () => {
    assert.equal(IAM_ACTIONS['iot:AttachThingPrincipal'], 'iot:cert');
    assert.equal(IAM_ACTIONS['iot:ListPrincipalThings'], 'iot:cert');
    assert.equal(IAM_ACTIONS['iot:TestAuthorization'], 'iot:cert');
    assert.equal(IAM_ACTIONS['iot:ListAttachedPolicies'], '*');
    assert.equal(IAM_ACTIONS['iot:ListThings'], '*');
    assert.deepEqual(IAM_ACTIONS_ALSO_ON['iot:AddThingToThingGroup'], ['iot:thing']);
    for (const [a, extra] of Object.entries(IAM_ACTIONS_ALSO_ON)) {
      assert.ok(a in IAM_ACTIONS);
      for (const t of extra) assert.notEqual(t, IAM_ACTIONS[a]);
    }
  });
});

describe('ARNs', () => {
  it('every resource type of the catalog has an ARN of its service; IAM and STS are global', () => {
    const kinds = new Set(Object.values(IAM_ACTIONS).filter((t): t is Exclude<IamResourceType, '*' | 'iot:taggable' | 'iot:policytarget'> => t !== '*' && t !== 'iot:taggable' && t !== 'iot:policytarget'));
    for (const k of kinds) {
      const arn = arnFor(k, 'x', D);
      const [, partition, service, region, account] = arn.split(':');
      assert.equal(partition, 'aws');
      assert.equal(service, k.slice(0, k.indexOf(':')));
      assert.equal(region, service === 'iam' ? '' : 'eu-west-1');
      assert.equal(account, '123456789012');
    }
    assert.equal(arnFor('iot:thing', 'sensor-1', D), 'arn:aws:iot:eu-west-1:123456789012:thing/sensor-1');
    assert.equal(arnFor('iot:cert', 'abc', D), 'arn:aws:iot:eu-west-1:123456789012:cert/abc');
    assert.equal(arnFor('iam:role', 'ops/deployer', D), 'arn:aws:iam::123456789012:role/ops/deployer');
    assert.equal(arnFor('sts:assumed-role', 'deployer/s1', D), 'arn:aws:sts::123456789012:assumed-role/deployer/s1');
    assert.equal(arnFor('greengrass:connectivityInfo', 'core', D), 'arn:aws:greengrass:eu-west-1:123456789012:/greengrass/things/core/connectivityInfo');
    assert.equal(arnFor('gatehouse:session', 's-1', D), 'arn:aws:gatehouse:eu-west-1:123456789012:session/s-1');
  });

  it('a policy written for the cloud matches the local ARNs when the deployment is the same', () => {
    const s = iamPolicies([{ Effect: 'Allow', Action: 'iot:DescribeThing', Resource: `${IOT}:thing/*` }, { Effect: 'Allow', Action: 'iam:GetRole', Resource: `${IAM}:role/*` }]);
    const local = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
    assert.ok(isAllowed(s, 'iot:DescribeThing', arnFor('iot:thing', 'a', local)));
    assert.ok(!isAllowed(s, 'iot:DescribeThing', arnFor('iot:thing', 'a', D)));
    // IAM ARNs carry no region, so the role matches whatever region the gateway is in.
    assert.ok(isAllowed(s, 'iam:GetRole', arnFor('iam:role', 'r', D)));
  });
});
