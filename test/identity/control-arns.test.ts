/** ARNs of taggable resources, both ways, and only for this gateway's partition, region and account. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { TagTarget } from '../../src/identity/control.js';
import { arnOfTagTarget, tagTargetOfArn } from '../../src/identity/control-arns.js';

const DEP = { partition: 'aws-cn', region: 'cn-north-1', accountId: '123456789012' };

it('maps every taggable kind to its ARN and back', () => {
  const targets: [TagTarget, string][] = [
    [{ kind: 'thing', name: 'dev:1' }, 'arn:aws-cn:iot:cn-north-1:123456789012:thing/dev:1'],
    [{ kind: 'thinggroup', name: 'g' }, 'arn:aws-cn:iot:cn-north-1:123456789012:thinggroup/g'],
    [{ kind: 'policy', name: 'p' }, 'arn:aws-cn:iot:cn-north-1:123456789012:policy/p'],
    [{ kind: 'cert', id: 'ab'.repeat(32) }, `arn:aws-cn:iot:cn-north-1:123456789012:cert/${'ab'.repeat(32)}`],
    [{ kind: 'cacert', id: 'cd'.repeat(32) }, `arn:aws-cn:iot:cn-north-1:123456789012:cacert/${'cd'.repeat(32)}`],
    [{ kind: 'rolealias', name: 'ra' }, 'arn:aws-cn:iot:cn-north-1:123456789012:rolealias/ra'],
    [{ kind: 'user', name: 'alice' }, 'arn:aws-cn:iam::123456789012:user/alice'],
    [{ kind: 'role', name: 'R' }, 'arn:aws-cn:iam::123456789012:role/R'],
    [{ kind: 'iampolicy', name: 'P' }, 'arn:aws-cn:iam::123456789012:policy/P'],
  ];
  for (const [target, arn] of targets) {
    assert.equal(arnOfTagTarget(target, DEP), arn);
    assert.deepEqual(tagTargetOfArn(arn, DEP), target);
  }
});

it('names nothing for another partition, region, account or type, or a malformed ARN', () => {
  for (const arn of [
    'arn:aws:iot:cn-north-1:123456789012:thing/x', 'arn:aws-cn:iot:us-east-1:123456789012:thing/x', 'arn:aws-cn:iot:cn-north-1:999999999999:thing/x',
    'arn:aws-cn:iot:cn-north-1:123456789012:topic/x', 'arn:aws-cn:iot:cn-north-1:123456789012:thing/', 'arn:aws-cn:iam:cn-north-1:123456789012:user/x',
    'arn:aws-cn:iam::123456789012:user/path/x', 'arn:aws-cn:iam::123456789012:group/x', 'thing/x', 'arn:aws-cn:iot',
  ]) assert.equal(tagTargetOfArn(arn, DEP), undefined, arn);
});
