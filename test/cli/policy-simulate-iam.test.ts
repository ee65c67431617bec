/**
 * `gatehouse policy simulate --dialect iam`, run as a real process (docs/cli.md): IAM
 * identity policies decided for one management call described by a context file; the
 * same output and exit codes as the IoT dialect.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, type CliResult } from '../helpers/gateway.js';
import { makeProcessTempDir } from '../helpers/tmp-dir.js';

const DIR = makeProcessTempDir();
const IOT = 'arn:aws:iot:us-east-1:123456789012';
const IAM = 'arn:aws:iam::123456789012';

function file(name: string, content: unknown): string {
  const path = join(DIR, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const POLICIES = file('policies.json', [
  { Version: '2012-10-17', Statement: [{ Sid: 'ReadSensors', Effect: 'Allow', Action: ['iot:Describe*', 'iot:List*'], Resource: `${IOT}:thing/sensor-*` }] },
  { name: 'list', document: { Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 'iot:ListThings', Resource: '*' } } },
  { name: 'self', document: `{"Version": "2012-10-17", "Statement": [{"Sid": "OwnKeys", "Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "${IAM}:user/\${aws:username}"}]}` },
  { name: 'team', document: { Version: '2012-10-17', Statement: [{ Sid: 'TeamThings', Effect: 'Allow', Action: 'iot:UpdateThing', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/team': '${aws:PrincipalTag/team}' } } }] } },
  { name: 'guard', document: { Version: '2012-10-17', Statement: [{ Sid: 'OnlyFromSite', Effect: 'Deny', Action: '*', Resource: '*', Condition: { NotIpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } }] } },
]);

const CALL = {
  currentTime: '2026-06-01T12:00:00Z',
  secureTransport: true,
  sourceIp: '192.0.2.10',
  userAgent: 'aws-sdk-js/3.0',
  principal: { username: 'alice', userid: 'AIDAEXAMPLE', arn: `${IAM}:user/alice`, type: 'User', account: '123456789012', tags: { Team: 'ops' } },
  resourceTags: { team: 'ops' },
};
const CONTEXT = file('call.json', CALL);

const simulate = (args: { policies?: string; context?: string; requests?: string }, input?: string): Promise<CliResult> =>
  runCli(['policy', 'simulate', '--dialect', 'iam', '--policies', args.policies ?? POLICIES, '--context', args.context ?? CONTEXT, '--requests', args.requests ?? '-'], input !== undefined ? { input } : {});

const lines = (...reqs: unknown[]): string => reqs.map((r) => JSON.stringify(r)).join('\n') + '\n';

function exited(r: CliResult, code: number): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
}

function output(r: CliResult): Record<string, unknown>[] {
  return r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('gatehouse policy simulate --dialect iam', () => {
  it('decides each request: allowed, reason, deciding policy and statement; `*` for list operations', async () => {
    const r = await simulate({}, lines(
      { action: 'iot:DescribeThing', resource: `${IOT}:thing/sensor-1` },
      { action: 'iot:DescribeThing', resource: `${IOT}:thing/camera-1` },
      { action: 'iot:ListThings', resource: '*' },
      { action: 'iot:ListThingTypes', resource: '*' },
      { action: 'IAM:CreateAccessKey', resource: `${IAM}:user/alice` },
      { action: 'iam:CreateAccessKey', resource: `${IAM}:user/bob` },
      { action: 'iot:UpdateThing', resource: `${IOT}:thing/pump-1` },
    ));
    exited(r, 0);
    assert.equal(r.stderr, '');
    assert.deepEqual(output(r), [
      { action: 'iot:DescribeThing', resource: `${IOT}:thing/sensor-1`, allowed: true, reason: 'ALLOWED_BY_STATEMENT', policy: '0', statement: 'ReadSensors' },
      { action: 'iot:DescribeThing', resource: `${IOT}:thing/camera-1`, allowed: false, reason: 'NO_MATCHING_STATEMENT' },
      { action: 'iot:ListThings', resource: '*', allowed: true, reason: 'ALLOWED_BY_STATEMENT', policy: 'list', statement: '0' },
      { action: 'iot:ListThingTypes', resource: '*', allowed: false, reason: 'NO_MATCHING_STATEMENT' },
      { action: 'IAM:CreateAccessKey', resource: `${IAM}:user/alice`, allowed: true, reason: 'ALLOWED_BY_STATEMENT', policy: 'self', statement: 'OwnKeys' },
      { action: 'iam:CreateAccessKey', resource: `${IAM}:user/bob`, allowed: false, reason: 'NO_MATCHING_STATEMENT' },
      // aws:PrincipalTag/team reads the tag `Team`: tag keys compare without case.
      { action: 'iot:UpdateThing', resource: `${IOT}:thing/pump-1`, allowed: true, reason: 'ALLOWED_BY_STATEMENT', policy: 'team', statement: 'TeamThings' },
    ]);
  });

  it('the context decides conditions; an absent field is a key not present', async () => {
    const outside = file('outside.json', { ...CALL, sourceIp: '198.51.100.7' });
    const { sourceIp, ...rest } = CALL;
    void sourceIp;
    const noAddress = file('no-address.json', rest);
    const otherTeam = file('other-team.json', { ...CALL, resourceTags: { team: 'dev' } });
    const request = lines({ action: 'iot:ListThings', resource: '*' }, { action: 'iot:UpdateThing', resource: `${IOT}:thing/pump-1` });
    for (const context of [outside, noAddress]) {
      const r = await simulate({ context }, request);
      exited(r, 0);
      // NotIpAddress holds for another address, and for no address at all: the Deny applies.
      assert.deepEqual(output(r).map((o) => [o['allowed'], o['reason'], o['policy'], o['statement']]), [
        [false, 'DENIED_BY_STATEMENT', 'guard', 'OnlyFromSite'],
        [false, 'DENIED_BY_STATEMENT', 'guard', 'OnlyFromSite'],
      ]);
    }
    const r = await simulate({ context: otherTeam }, request);
    exited(r, 0);
    assert.deepEqual(output(r).map((o) => o['allowed']), [true, false]);
  });

  it('aws:TagKeys and aws:RequestTag from the context', async () => {
    const policies = file('tagging.json', [{ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Action: 'iot:TagResource', Resource: '*',
      Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env', 'owner'] }, StringEqualsIfExists: { 'aws:RequestTag/env': ['dev', 'test'] } },
    }] }]);
    const decide = async (context: unknown): Promise<unknown> => {
      const r = await simulate({ policies, context: file('tag-ctx.json', context) }, lines({ action: 'iot:TagResource', resource: `${IOT}:thinggroup/g` }));
      exited(r, 0);
      return output(r)[0]!['allowed'];
    };
    assert.equal(await decide({ tagKeys: ['env'], requestTags: { env: 'dev' } }), true);
    assert.equal(await decide({ tagKeys: ['env', 'cost'], requestTags: { env: 'dev', cost: '1' } }), false);
    assert.equal(await decide({ tagKeys: ['env'], requestTags: { ENV: 'prod' } }), false);
  });

  it('an invalid identity policy: exit 1, every problem with its IAM code; no decision printed', async () => {
    const bad = file('bad.json', [
      { Version: '2012-10-17', Id: 'x', Statement: [{ Sid: 'not-alnum', Effect: 'Allow', Principal: { AWS: '*' }, Action: 'iot:ListThings', Resource: '*' }] },
      { name: 'big', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:ListThings', Resource: `${IOT}:thing/${'a'.repeat(6200)}` }] } },
    ]);
    const r = await simulate({ policies: bad }, lines({ action: 'iot:ListThings', resource: '*' }));
    exited(r, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error IAM_POLICY_ID_NOT_ALLOWED: policy 0 \$\.Id: .*\n {4}fix: /m);
    assert.match(r.stderr, /^error IAM_POLICY_PRINCIPAL_NOT_ALLOWED: policy 0 \$\.Statement\[0\]\.Principal: /m);
    assert.match(r.stderr, /^error IAM_POLICY_SID_INVALID: policy 0 \$\.Statement\[0\]\.Sid: /m);
    assert.match(r.stderr, /^error IAM_POLICY_TOO_LARGE: policy big \$: /m);
  });

  it('warnings are printed and the run goes on', async () => {
    const warn = file('warn.json', [{ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 'iot:ListThing', Resource: '*', Condition: { Bool: { 'iot:SecureTransport': 'true' } } } }]);
    const r = await simulate({ policies: warn }, lines({ action: 'iot:ListThings', resource: '*' }));
    exited(r, 0);
    assert.match(r.stderr, /^warning IAM_POLICY_ACTION_UNKNOWN: policy 0 \$\.Statement\.Action: /m);
    assert.match(r.stderr, /^warning IAM_CONDITION_KEY_UNKNOWN: policy 0 \$\.Statement\.Condition: /m);
    assert.equal(output(r)[0]!['allowed'], false);
  });

  it('usage errors exit 2 with a code and nothing on stdout', async () => {
    const cases: [Promise<CliResult>, string][] = [
      [simulate({ context: file('ctx-bad.json', { principal: { username: 1, tags: { team: 2 } }, tagKeys: 'env', epochTime: 'now', extra: true }) }, ''), 'CONTEXT_INVALID'],
      [simulate({ context: file('ctx-iot.json', { clientId: 'sensor-1' }) }, ''), 'CONTEXT_INVALID'],
      [simulate({}, '{"action": "iot:ListThings"}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({}, '{"action": "iot:DescribeThing", "resource": "thing/sensor-1"}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({}, '{"action": "iot:List*", "resource": "*"}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({}, '{"action": "iot:ListThings", "resource": "*", "retain": true}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({ policies: file('notarray-iam.json', { Statement: [] }) }, ''), 'POLICIES_FILE_INVALID'],
    ];
    for (const [p, code] of cases) {
      const r = await p;
      exited(r, 2);
      assert.match(r.stderr, new RegExp(`^error ${code}`, 'm'));
      assert.equal(r.stdout, '');
    }
  });

  it('the context file names every defect with its path', async () => {
    const r = await simulate({ context: file('ctx-many.json', { principal: { username: 1, tags: { team: 2 }, role: 'x' }, tagKeys: 'env', multiFactorAuthAge: -1, currentTime: 'soon' }) }, '');
    exited(r, 2);
    assert.match(r.stderr, /\$\.principal\.username: must be a string/);
    assert.match(r.stderr, /\$\.principal\.tags: must be an object mapping tag keys to string values/);
    assert.match(r.stderr, /\$\.principal\.role: unknown field/);
    assert.match(r.stderr, /\$\.tagKeys: must be an array of strings/);
    assert.match(r.stderr, /\$\.multiFactorAuthAge: must be a number of seconds/);
    assert.match(r.stderr, /\$\.currentTime: must be an ISO 8601/);
  });
});
