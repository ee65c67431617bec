/**
 * `gatehouse policy simulate --dialect iot`, run as a real process (docs/cli.md): one
 * JSON line per request; exit 0 when every document loaded, 1 with coded problems when
 * one is invalid, 2 for usage errors and malformed inputs.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, type CliResult } from '../helpers/gateway.js';
import { makeProcessTempDir } from '../helpers/tmp-dir.js';

const DIR = makeProcessTempDir();
const ARN = 'arn:aws:iot:us-east-1:123456789012';

function file(name: string, content: unknown): string {
  const path = join(DIR, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const POLICIES = file('policies.json', [
  {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Connect', Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
      { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/sensors/\${iot:Connection.Thing.ThingName}/*` },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/sensors/\${iot:Connection.Thing.ThingName}/*` },
    ],
  },
  { name: 'guard', document: { Version: '2012-10-17', Statement: { Sid: 'NoFirmware', Effect: 'Deny', Action: 'iot:*', Resource: `${ARN}:topic/sensors/*/firmware` } } },
  { name: 'retain', document: '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iot:RetainPublish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/sensors/*/state"}}' },
]);

const CONTEXT = file('context.json', {
  clientId: 'sensor-1',
  thingName: 'sensor-1',
  isAttached: true,
  certificate: { subject: { CommonName: ['sensor-1'] }, issuer: { CommonName: ['CA'] }, serialNumber: '01:02' },
  sourceIp: '192.0.2.1',
});

const simulate = (args: { policies?: string; context?: string; requests?: string; extra?: string[] }, input?: string): Promise<CliResult> =>
  runCli(['policy', 'simulate', '--dialect', 'iot', '--policies', args.policies ?? POLICIES, '--context', args.context ?? CONTEXT, '--requests', args.requests ?? '-', ...(args.extra ?? [])], input !== undefined ? { input } : {});

const lines = (...reqs: unknown[]): string => reqs.map((r) => JSON.stringify(r)).join('\n') + '\n';

function exited(r: CliResult, code: number): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
}

function output(r: CliResult): Record<string, unknown>[] {
  return r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('gatehouse policy simulate --dialect iot', () => {
  it('decides each request: allowed, reason, deciding policy (index or name) and statement (Sid or index)', async () => {
    const r = await simulate({}, lines(
      { action: 'iot:Connect', resource: `${ARN}:client/sensor-1` },
      { action: 'iot:connect', resource: 'client/sensor-2' },
      { action: 'iot:Publish', resource: 'topic/sensors/sensor-1/temp' },
      { action: 'iot:Publish', resource: 'topic/sensors/sensor-1/firmware' },
      { action: 'iot:Subscribe', resource: 'topicfilter/sensors/sensor-1/#' },
      { action: 'iot:Subscribe', resource: 'topicfilter/sensors/#' },
    ));
    exited(r, 0);
    assert.equal(r.stderr, '');
    assert.deepEqual(output(r), [
      { action: 'iot:Connect', resource: `${ARN}:client/sensor-1`, allowed: true, reason: 'ALLOWED_BY_STATEMENT', policy: '0', statement: 'Connect' },
      { action: 'iot:connect', resource: `${ARN}:client/sensor-2`, allowed: false, reason: 'NO_MATCHING_STATEMENT' },
      { action: 'iot:Publish', resource: `${ARN}:topic/sensors/sensor-1/temp`, allowed: true, reason: 'ALLOWED_BY_STATEMENT', policy: '0', statement: '1' },
      { action: 'iot:Publish', resource: `${ARN}:topic/sensors/sensor-1/firmware`, allowed: false, reason: 'DENIED_BY_STATEMENT', policy: 'guard', statement: 'NoFirmware' },
      { action: 'iot:Subscribe', resource: `${ARN}:topicfilter/sensors/sensor-1/#`, allowed: true, reason: 'ALLOWED_BY_STATEMENT', policy: '0', statement: '2' },
      { action: 'iot:Subscribe', resource: `${ARN}:topicfilter/sensors/#`, allowed: false, reason: 'NO_MATCHING_STATEMENT' },
    ]);
  });

  it('a retained publish needs iot:Publish and iot:RetainPublish', async () => {
    const r = await simulate({}, lines(
      { action: 'iot:Publish', resource: 'topic/sensors/sensor-1/state', retain: true },
      { action: 'iot:Publish', resource: 'topic/sensors/sensor-1/temp', retain: true },
      { action: 'iot:Publish', resource: 'topic/sensors/sensor-1/temp', retain: false },
    ));
    exited(r, 0);
    const out = output(r);
    assert.deepEqual(out.map((o) => [o['allowed'], o['reason'], o['decidingAction']]), [
      [true, 'ALLOWED_BY_STATEMENT', undefined],
      [false, 'NO_MATCHING_STATEMENT', 'iot:RetainPublish'],
      [true, 'ALLOWED_BY_STATEMENT', undefined],
    ]);
  });

  it('--region and --account change the local ARNs of short resources and of the policies\' meaning', async () => {
    const r = await simulate({ extra: ['--region', 'eu-west-1', '--account', '111122223333'] }, lines({ action: 'iot:Connect', resource: 'client/sensor-1' }));
    exited(r, 0);
    assert.deepEqual(output(r), [{ action: 'iot:Connect', resource: 'arn:aws:iot:eu-west-1:111122223333:client/sensor-1', allowed: false, reason: 'NO_MATCHING_STATEMENT' }]);
  });

  it('reads requests from a file', async () => {
    const requests = file('requests.jsonl', lines({ action: 'iot:Receive', resource: 'topic/sensors/sensor-1/x' }));
    const r = await simulate({ requests });
    exited(r, 0);
    assert.equal(output(r)[0]!['allowed'], true);
  });

  it('an invalid document: exit 1, every problem with code, policy, JSON path and fix; no decision printed', async () => {
    const bad = file('bad.json', [
      { Version: '2012-10-17', Statement: [{ Effect: 'allow', Action: 'Publish', Resource: '*' }] },
      { name: 'dup', document: '{"Statement": {"Effect": "Allow", "Effect": "Deny", "Action": "iot:Connect", "Resource": "*"}}' },
    ]);
    const r = await simulate({ policies: bad }, lines({ action: 'iot:Connect', resource: 'client/sensor-1' }));
    exited(r, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error IOT_POLICY_EFFECT_INVALID: policy 0 \$\.Statement\[0\]\.Effect: .*\n {4}fix: /m);
    assert.match(r.stderr, /^error IOT_POLICY_ACTION_INVALID: policy 0 \$\.Statement\[0\]\.Action: /m);
    assert.match(r.stderr, /^error IOT_POLICY_DUPLICATE_KEY: policy dup \$\.Statement\.Effect: /m);
  });

  it('warnings are printed and the run goes on', async () => {
    const warn = file('warn.json', [{ Statement: { Effect: 'Allow', Action: 'iot:Publsh', Resource: '*' } }]);
    const r = await simulate({ policies: warn }, lines({ action: 'iot:Publish', resource: 'topic/a' }));
    exited(r, 0);
    assert.match(r.stderr, /^warning IOT_POLICY_ACTION_UNKNOWN: policy 0 \$\.Statement\.Action: /m);
    assert.equal(output(r)[0]!['allowed'], false);
  });

  it('usage errors exit 2 with a code and nothing on stdout', async () => {
    const cases: [Promise<CliResult>, string][] = [
      [runCli(['policy', 'simulate', '--dialect', 'greengrass', '--policies', POLICIES, '--context', CONTEXT, '--requests', '-'], { input: '' }), 'USAGE'],
      [simulate({ policies: join(DIR, 'missing.json') }, ''), 'FILE_UNREADABLE'],
      [simulate({ policies: file('notarray.json', { Statement: [] }) }, ''), 'POLICIES_FILE_INVALID'],
      [simulate({ context: file('ctx-bad.json', { clientId: 1, thingname: 'x' }) }, ''), 'CONTEXT_INVALID'],
      [simulate({ context: file('ctx-cert.json', { clientId: 'a', certificate: { subject: { CommonName: 'x' }, issuer: {}, serialNumber: 'zz' } }) }, ''), 'CONTEXT_INVALID'],
      [simulate({}, '{"action": "iot:Connect"}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({}, '{"action": "iot:Connect", "resource": "x/y"}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({}, '{"action": "Connect", "resource": "client/a"}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({}, '{"action": "iot:*", "resource": "client/a"}\n'), 'REQUEST_LINE_INVALID'],
      [simulate({}, '{"action": "iot:Publish", "resource": "topic/a", "retain": "yes"}\n'), 'REQUEST_LINE_INVALID'],
    ];
    for (const [p, code] of cases) {
      const r = await p;
      exited(r, 2);
      assert.match(r.stderr, new RegExp(`^error ${code}`, 'm'));
      assert.equal(r.stdout, '');
    }
  });

  it('the context file names every defect with its path', async () => {
    const r = await simulate({ context: file('ctx-many.json', { clientId: 'a', isAttached: 'yes', extra: 1, currentTime: 'soon' }) }, '');
    exited(r, 2);
    assert.match(r.stderr, /\$\.isAttached: must be true or false/);
    assert.match(r.stderr, /\$\.extra: unknown field/);
    assert.match(r.stderr, /\$\.currentTime: must be an ISO 8601/);
  });

  it('a missing required option is a usage error', async () => {
    const r = await runCli(['policy', 'simulate', '--dialect', 'iot', '--policies', POLICIES]);
    exited(r, 2);
  });
});
