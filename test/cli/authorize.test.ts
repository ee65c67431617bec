/**
 * `gatehouse authorize`, run as a real process (docs/cli.md): one request as text or
 * JSON, a batch from a file or standard input, and the exit statuses — 0 whenever
 * every request was decided, allowed or denied; 1 for an invalid configuration; 2 for
 * usage errors, unreadable files and bad request lines.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, runCli, type CliResult } from '../helpers/gateway.js';
import { makeProcessTempDir, tempDir } from '../helpers/tmp-dir.js';

const EXAMPLE = join(ROOT, 'examples', 'gatehouse.yaml');
const REQUESTS = join(ROOT, 'examples', 'requests.jsonl');

function exited(r: CliResult, code: number): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
}

/** Exit 2 with `error CODE: ...` on stderr and nothing on stdout. */
function failed(r: CliResult, exit: number, code: string): void {
  exited(r, exit);
  assert.match(r.stderr, new RegExp(`^error ${code}`, 'm'));
  assert.equal(r.stdout, '');
}

const single = (...args: string[]): Promise<CliResult> => runCli(['authorize', '--config', EXAMPLE, ...args]);

describe('gatehouse authorize: one request', () => {
  it('ALLOW: exit 0, the decision, the reason, the groups and the deciding statement with its substitution', async () => {
    const r = await single('--thing', 'sensor-1', '--operation', 'mqtt:connect', '--resource', 'mqtt:clientId:sensor-1');
    exited(r, 0);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'ALLOW mqtt:connect mqtt:clientId:sensor-1');
    assert.equal(lines[1], '  thing:     sensor-1');
    assert.equal(lines[2], '  reason:    ALLOWED_BY_STATEMENT');
    assert.equal(lines[4], '  groups:    Sensors (policy SensorPolicy)');
    assert.equal(lines[6], '    ALLOW group Sensors, policy SensorPolicy, statement Connect: mqtt:clientId:${iot:Connection.Thing.ThingName} -> mqtt:clientId:sensor-1');
  });

  it('DENY is an answer, not a failure: exit 0, with the denying statement first', async () => {
    const r = await single('--thing', 'sensor-1', '--operation', 'mqtt:publish', '--resource', 'mqtt:topic:sensors/sensor-1/firmware');
    exited(r, 0);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'DENY mqtt:publish mqtt:topic:sensors/sensor-1/firmware');
    assert.equal(lines[2], '  reason:    DENIED_BY_STATEMENT');
    assert.match(lines[6] ?? '', /^ {4}DENY {2}group Sensors, policy SensorPolicy, statement NoFirmwareTopics: /);
    assert.match(lines[7] ?? '', /^ {4}ALLOW group Sensors, policy SensorPolicy, statement PublishOwnTelemetry: /);
  });

  it('a thing no group selects is denied with exit 0 and says so', async () => {
    const r = await single('--thing', 'camera-3', '--operation', 'mqtt:connect', '--resource', 'mqtt:clientId:camera-3');
    exited(r, 0);
    assert.match(r.stdout, /^DENY mqtt:connect mqtt:clientId:camera-3\n/);
    assert.match(r.stdout, /reason: {4}NO_GROUP_SELECTS_THING/);
    assert.match(r.stdout, /groups: {4}\(none select this thing\)/);
  });

  it('--json prints the whole explanation as one JSON line; --client-id is the client ID', async () => {
    const r = await single('--thing', 'gateway-7', '--client-id', 'gw7', '--operation', 'mqtt:connect', '--resource', 'mqtt:clientId:gateway-7', '--json');
    exited(r, 0);
    assert.equal(r.stdout.trimEnd().split('\n').length, 1);
    const ex = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(
      { ...ex, message: undefined },
      {
        allowed: true,
        reason: 'ALLOWED_BY_STATEMENT',
        group: 'Gateways',
        policy: 'GatewayPolicy',
        statement: 'Connect',
        resourcePattern: 'mqtt:clientId:gateway-7',
        thingName: 'gateway-7',
        clientId: 'gw7',
        operation: 'mqtt:connect',
        resource: 'mqtt:clientId:gateway-7',
        groups: [{ name: 'Gateways', policy: 'GatewayPolicy' }],
        matches: [
          {
            effect: 'ALLOW',
            group: 'Gateways',
            policy: 'GatewayPolicy',
            statement: 'Connect',
            pattern: 'mqtt:clientId:${iot:Connection.Thing.ThingName}',
            resolved: 'mqtt:clientId:gateway-7',
          },
        ],
        message: undefined,
      },
    );
    assert.match(ex['message'] as string, /^allowed: statement `Connect`/);

    const denied = JSON.parse((await single('--thing', 'gateway-7', '--operation', 'mqtt:subscribe', '--resource', 'mqtt:topicfilter:sensors/sensor-1/temperature', '--json')).stdout) as Record<string, unknown>;
    assert.equal(denied['allowed'], false);
    assert.equal(denied['reason'], 'NO_MATCHING_STATEMENT');
    assert.equal('statement' in denied, false);
  });
});

/** What examples/requests.jsonl must decide, line by line. */
const EXPECTED_BATCH: readonly [boolean, string, string?][] = [
  [true, 'ALLOWED_BY_STATEMENT', 'Connect'],
  [false, 'NO_MATCHING_STATEMENT'],
  [true, 'ALLOWED_BY_STATEMENT', 'PublishOwnTelemetry'],
  [false, 'NO_MATCHING_STATEMENT'],
  [false, 'DENIED_BY_STATEMENT', 'NoFirmwareTopics'],
  [true, 'ALLOWED_BY_STATEMENT', 'SubscribeOwnCommands'],
  [true, 'ALLOWED_BY_STATEMENT', 'ReadAllTelemetry'],
  [false, 'NO_MATCHING_STATEMENT'],
  [false, 'NO_GROUP_SELECTS_THING'],
];

function checkBatch(r: CliResult): void {
  exited(r, 0);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => [l['allowed'], l['reason'], ...(l['statement'] !== undefined ? [l['statement']] : [])]),
    EXPECTED_BATCH,
  );
  // Requests come back in input order, with the request fields first.
  assert.deepEqual(Object.keys(lines[0]!).slice(0, 5), ['thingName', 'operation', 'resource', 'allowed', 'reason']);
  assert.deepEqual([lines[8]!['thingName'], lines[8]!['resource']], ['camera-3', 'mqtt:clientId:camera-3']);
}

describe('gatehouse authorize: batch', () => {
  it('--requests FILE: one JSON line per request, in order; exit 0 although some are denied', async () => {
    checkBatch(await runCli(['authorize', '--config', EXAMPLE, '--requests', REQUESTS]));
  });

  it('--requests - reads standard input; blank lines are skipped; clientId and attributes are used', async () => {
    checkBatch(await runCli(['authorize', '--config', EXAMPLE, '--requests', '-'], { input: '\n' + (await readFile(REQUESTS, 'utf8')) + '\n\n' }));
    const r = await runCli(['authorize', '--config', EXAMPLE, '--requests', '-'], {
      input: '{"thingName":"gateway-7","clientId":"gw7","operation":"mqtt:connect","resource":"mqtt:clientId:gateway-7","attributes":{"site":"a"}}\n',
    });
    exited(r, 0);
    assert.equal((JSON.parse(r.stdout) as { allowed: boolean }).allowed, true);
  });

  it('a bad line stops the run before anything is decided: REQUEST_LINE_INVALID with its line number, exit 2', async () => {
    const r = await runCli(['authorize', '--config', EXAMPLE, '--requests', '-'], {
      input: '{"thingName":"sensor-1","operation":"mqtt:connect","resource":"mqtt:clientId:sensor-1"}\n{"thingName":"a","operation":"mqtt:connect","resource":"mqtt:clientId:a","qos":1}\n',
    });
    failed(r, 2, 'REQUEST_LINE_INVALID');
    assert.match(r.stderr, /request line 2: unknown field `qos`/);
    assert.match(r.stderr, /\n {4}fix: each line is a JSON object/);
    for (const [input, why] of [
      ['not json\n', /request line 1: not valid JSON/],
      ['[1]\n', /request line 1: not a JSON object/],
      ['{"thingName":"a","operation":"mqtt:connect"}\n', /request line 1: `resource` must be a string/],
    ] as const) {
      const bad = await runCli(['authorize', '--config', EXAMPLE, '--requests', '-'], { input });
      failed(bad, 2, 'REQUEST_LINE_INVALID');
      assert.match(bad.stderr, why);
    }
  });
});

describe('gatehouse authorize: failures', () => {
  it('an invalid configuration: its errors on stderr, nothing decided, exit 1', async () => {
    const dir = makeProcessTempDir();
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'deviceGroups:\n  definitions:\n    G:\n      selectionRule: "thingName: a"\n      policyName: Missing\n');
    const r = await runCli(['authorize', '--config', broken, '--thing', 'a', '--operation', 'mqtt:connect', '--resource', 'mqtt:clientId:a']);
    exited(r, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error CONFIG_POLICY_NOT_FOUND at deviceGroups\.definitions\.G\.policyName: /m);
  });

  it('usage errors exit 2: missing options, --requests with a single request, bad --attribute, no --config', async () => {
    const missing = await single('--thing', 'sensor-1');
    failed(missing, 2, 'USAGE');
    assert.match(missing.stderr, /missing --operation, --resource \(or use --requests FILE\)/);
    failed(await single('--requests', REQUESTS, '--thing', 'sensor-1'), 2, 'USAGE');
    failed(await single('--thing', 'a', '--operation', 'mqtt:connect', '--resource', 'mqtt:clientId:a', '--attribute', 'novalue'), 2, 'USAGE');
    const noConfig = await runCli(['authorize', '--thing', 'a']);
    exited(noConfig, 2);
    assert.match(noConfig.stderr, /required option '--config <file>' not specified/);
  });

  it('unreadable files exit 2 with FILE_UNREADABLE: the configuration and the requests', async () => {
    const dir = makeProcessTempDir();
    const r = await runCli(['authorize', '--config', join(dir, 'none.yaml'), '--thing', 'a', '--operation', 'mqtt:connect', '--resource', 'mqtt:clientId:a']);
    failed(r, 2, 'FILE_UNREADABLE');
    assert.match(r.stderr, /ENOENT/);
    failed(await runCli(['authorize', '--config', EXAMPLE, '--requests', join(dir, 'none.jsonl')]), 2, 'FILE_UNREADABLE');
  });
});

/**
 * `--data-dir`: AWS IoT actions and ARNs decided for a registered thing, with the
 * policies the gateway would apply to its connection. The registry is built with the
 * real commands (things create, thing-groups, policies create/attach).
 */
describe('gatehouse authorize --data-dir: a registered thing under AWS IoT policies', () => {
  const ARN = 'arn:aws:iot:eu-west-1:123456789012';
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: string;
  let data: string;
  const certs = new Map<string, string>();

  const CONFIG = `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: ConnectOnly }
    Named: { selectionRule: "thingName: named-*", policyName: ConnectOnly, iotPolicies: [Ghost] }
  policies:
    ConnectOnly:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
gatehouse:
  iot: { region: eu-west-1, accountId: "123456789012" }
`;
  const ROOM_POLICY = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'RoomTraffic', Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/rooms/\${iot:Connection.Thing.Attributes[room]}/*` },
      { Sid: 'NoSecrets', Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/rooms/*/secret` },
      { Sid: 'OwnShadow', Effect: 'Allow', Action: 'iot:GetThingShadow', Resource: `${ARN}:thing/\${iot:Connection.Thing.ThingName}`, Condition: { StringEquals: { 'iot:Certificate.Subject.CommonName': 'dev-1' } } },
    ],
  };
  const FLEET_POLICY = {
    Version: '2012-10-17',
    Statement: [{ Sid: 'Fleet', Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/fleet/#` }],
  };

  async function cli(args: string[]): Promise<string> {
    const r = await runCli([...args, '--data-dir', data]);
    assert.equal(r.code, 0, `gatehouse ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  async function thing(name: string, attrs: string[] = []): Promise<void> {
    const out = JSON.parse(await cli(['things', 'create', name, '--out', join(dir.path, 'out'), '--json', ...attrs.flatMap((a) => ['--attribute', a])])) as { certificateId: string };
    certs.set(name, out.certificateId);
  }
  async function policy(name: string, doc: unknown): Promise<void> {
    const file = join(dir.path, `${name}.json`);
    await writeFile(file, JSON.stringify(doc));
    await cli(['policies', 'create', name, '--file', file]);
  }
  const authorize = (...args: string[]): Promise<CliResult> => runCli(['authorize', '--config', config, '--data-dir', data, ...args]);
  const json = async (...args: string[]): Promise<Record<string, unknown>> => {
    const r = await authorize(...args, '--json');
    exited(r, 0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  before(async () => {
    dir = await tempDir('gatehouse-authorize-iot-');
    data = join(dir.path, 'data');
    config = join(dir.path, 'gatehouse.yaml');
    await writeFile(config, CONFIG);
    await thing('dev-1', ['room=kitchen']);
    await thing('dev-2', ['room=hall']);
    await thing('dev-3');
    await thing('dev-4');
    await thing('named-1');
    await policy('RoomPolicy', ROOM_POLICY);
    await policy('FleetPolicy', FLEET_POLICY);
    await cli(['policies', 'attach', 'RoomPolicy', '--cert', certs.get('dev-1')!]);
    await cli(['policies', 'attach', 'RoomPolicy', '--cert', certs.get('dev-2')!]);
    // dev-2 gets FleetPolicy from the parent of its group.
    await cli(['thing-groups', 'create', 'Fleet']);
    await cli(['thing-groups', 'create', 'Hall', '--parent', 'Fleet']);
    await cli(['thing-groups', 'add-thing', 'Hall', 'dev-2']);
    await cli(['policies', 'attach', 'FleetPolicy', '--thing-group', 'Fleet']);
    // dev-4 has two certificates: its own and dev-3's.
    await cli(['things', 'attach', 'dev-4', certs.get('dev-3')!]);
  });
  after(async () => dir.cleanup());

  it('ALLOW by the policy attached to the certificate, its variables resolved from the registry\'s attributes; text names the deciding policy and statement', async () => {
    const r = await authorize('--thing', 'dev-1', '--operation', 'iot:Publish', '--resource', 'topic/rooms/kitchen/temp');
    exited(r, 0);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `ALLOW iot:Publish ${ARN}:topic/rooms/kitchen/temp`);
    assert.ok(lines.includes(`  certificate: ${certs.get('dev-1')!}`), r.stdout);
    assert.ok(lines.includes('  reason:    ALLOWED_BY_STATEMENT'), r.stdout);
    assert.ok(lines.includes('  decided by: AWS IoT policy RoomPolicy, statement RoomTraffic (iot:Publish)'), r.stdout);
    assert.ok(lines.includes('  IoT policies: RoomPolicy'), r.stdout);
    assert.ok(lines.includes(`    ALLOW AWS IoT policy RoomPolicy, statement RoomTraffic (iot:Publish): ${ARN}:topic/rooms/kitchen/*`), r.stdout);
    // Another room's topic: the attribute is the registry's, not anything else.
    const other = await json('--thing', 'dev-1', '--operation', 'iot:Publish', '--resource', `${ARN}:topic/rooms/hall/temp`);
    assert.equal(other['allowed'], false);
    assert.equal(other['reason'], 'NO_MATCHING_STATEMENT');
  });

  it('DENY by statement: the Deny decides, and every applying statement is listed Deny first (--json)', async () => {
    const ex = await json('--thing', 'dev-1', '--operation', 'iot:Publish', '--resource', `${ARN}:topic/rooms/kitchen/secret`);
    assert.equal(ex['allowed'], false);
    assert.equal(ex['reason'], 'DENIED_BY_STATEMENT');
    assert.equal(ex['dialect'], 'iot');
    assert.equal(ex['policy'], 'RoomPolicy');
    assert.equal(ex['statement'], 'NoSecrets');
    assert.deepEqual((ex['iotMatches'] as { statement: string; effect: string }[]).map((m) => `${m.effect} ${m.statement}`), ['Deny NoSecrets', 'Allow RoomTraffic']);
  });

  it('no IoT policy in force: the Greengrass group decides what it can, IoT actions are denied with NO_MATCHING_STATEMENT', async () => {
    const pub = await json('--thing', 'dev-3', '--operation', 'iot:Publish', '--resource', 'topic/rooms/kitchen/temp');
    assert.equal(pub['allowed'], false);
    assert.equal(pub['reason'], 'NO_MATCHING_STATEMENT');
    assert.deepEqual(pub['iotPolicies'], []);
    const connect = await json('--thing', 'dev-3', '--operation', 'iot:Connect', '--resource', 'client/dev-3');
    assert.equal(connect['allowed'], true, 'iot:Connect on client/ is asked as mqtt:connect: the Greengrass group allows it');
    assert.equal(connect['dialect'], 'greengrass');
    assert.equal(connect['group'], 'Devices');
  });

  it('policies of a thing group\'s parent apply; Greengrass-form requests are decided with the IoT policies too', async () => {
    const sub = await json('--thing', 'dev-2', '--operation', 'iot:Subscribe', '--resource', 'topicfilter/fleet/#');
    assert.equal(sub['allowed'], true);
    assert.equal(sub['policy'], 'FleetPolicy');
    assert.deepEqual(sub['iotPolicies'], ['RoomPolicy', 'FleetPolicy']);
    const gg = await json('--thing', 'dev-2', '--operation', 'mqtt:subscribe', '--resource', 'mqtt:topicfilter:fleet/#');
    assert.equal(gg['allowed'], true);
    assert.equal(gg['dialect'], 'iot');
    // Without --data-dir: the configuration alone, exactly as before.
    const alone = await runCli(['authorize', '--config', config, '--thing', 'dev-2', '--operation', 'mqtt:subscribe', '--resource', 'mqtt:topicfilter:fleet/#', '--json']);
    exited(alone, 0);
    assert.equal((JSON.parse(alone.stdout) as { reason: string }).reason, 'NO_MATCHING_STATEMENT');
  });

  it('a retained publish also needs iot:RetainPublish; iot:Receive is answered by the IoT policies', async () => {
    const retained = await json('--thing', 'dev-1', '--operation', 'iot:Publish', '--resource', 'topic/rooms/kitchen/temp', '--retain');
    assert.equal(retained['allowed'], false);
    assert.equal(retained['retain'], true);
    assert.match(retained['message'] as string, /iot:RetainPublish/);
    const receive = await json('--thing', 'dev-1', '--operation', 'iot:Receive', '--resource', 'topic/rooms/kitchen/temp');
    assert.equal(receive['allowed'], true);
    assert.equal(receive['decidingAction'], 'iot:Receive');
    assert.equal((await json('--thing', 'dev-1', '--operation', 'iot:Receive', '--resource', 'topic/rooms/hall/temp'))['allowed'], false);
  });

  it('certificate fields come from the stored certificate: a condition on the subject\'s CommonName holds for its own certificate only', async () => {
    const own = await json('--thing', 'dev-1', '--operation', 'iot:GetThingShadow', '--resource', 'thing/dev-1');
    assert.equal(own['allowed'], true);
    assert.equal(own['statement'], 'OwnShadow');
    // dev-2 has the same policy but its certificate's CN is dev-2.
    assert.equal((await json('--thing', 'dev-2', '--operation', 'iot:GetThingShadow', '--resource', 'thing/dev-2'))['allowed'], false);
  });

  it('a device group naming a policy that does not exist denies with IOT_POLICY_NOT_FOUND', async () => {
    const ex = await json('--thing', 'named-1', '--operation', 'iot:Connect', '--resource', 'client/named-1');
    assert.equal(ex['allowed'], false);
    assert.equal(ex['reason'], 'IOT_POLICY_NOT_FOUND');
    assert.deepEqual(ex['missingIotPolicies'], ['Ghost']);
  });

  it('a thing with several certificates: THING_CERTIFICATE_AMBIGUOUS (exit 2) until --cert names one', async () => {
    const r = await authorize('--thing', 'dev-4', '--operation', 'iot:Connect', '--resource', 'client/dev-4');
    failed(r, 2, 'THING_CERTIFICATE_AMBIGUOUS');
    assert.ok(r.stderr.includes(certs.get('dev-3')!) && r.stderr.includes(certs.get('dev-4')!), r.stderr);
    const chosen = await json('--thing', 'dev-4', '--cert', certs.get('dev-3')!.slice(0, 12), '--operation', 'iot:Connect', '--resource', 'client/dev-4');
    assert.equal(chosen['certificateId'], certs.get('dev-3'));
    // A certificate of another thing is not this thing's.
    failed(await authorize('--thing', 'dev-1', '--cert', certs.get('dev-3')!, '--operation', 'iot:Connect', '--resource', 'client/dev-1'), 1, 'CERT_NOT_ATTACHED');
  });

  it('bad requests are refused with stable codes before anything is decided', async () => {
    failed(await authorize('--thing', 'dev-1', '--operation', 'iot:Frobnicate', '--resource', 'topic/a'), 2, 'IOT_REQUEST_ACTION_UNKNOWN');
    failed(await authorize('--thing', 'dev-1', '--operation', 'iot:Publish', '--resource', 'arn:aws:iot:us-east-1:123456789012:topic/a'), 2, 'IOT_REQUEST_RESOURCE_INVALID');
    failed(await authorize('--thing', 'dev-1', '--operation', 'iot:Publish', '--resource', 'topicfilter/a'), 2, 'IOT_REQUEST_RESOURCE_INVALID');
    failed(await authorize('--thing', 'dev-1', '--operation', 'iot:Subscribe', '--resource', 'topicfilter/a', '--retain'), 2, 'IOT_REQUEST_RESOURCE_INVALID');
    failed(await authorize('--thing', 'ghost', '--operation', 'iot:Publish', '--resource', 'topic/a'), 1, 'THING_NOT_FOUND');
    failed(await runCli(['authorize', '--config', config, '--thing', 'dev-1', '--operation', 'iot:Publish', '--resource', 'topic/a']), 2, 'USAGE');
    failed(await authorize('--thing', 'dev-1', '--attribute', 'room=hall', '--operation', 'iot:Publish', '--resource', 'topic/a'), 2, 'USAGE');
  });

  it('batch mode takes IoT lines ("action", "retain", "certificateId") and Greengrass lines together', async () => {
    const input = [
      JSON.stringify({ thingName: 'dev-1', action: 'iot:Publish', resource: 'topic/rooms/kitchen/t' }),
      JSON.stringify({ thingName: 'dev-1', action: 'iot:Publish', resource: 'topic/rooms/kitchen/t', retain: true }),
      JSON.stringify({ thingName: 'dev-4', certificateId: certs.get('dev-4'), operation: 'mqtt:connect', resource: 'mqtt:clientId:dev-4' }),
    ].join('\n');
    const r = await runCli(['authorize', '--config', config, '--data-dir', data, '--requests', '-'], { input });
    exited(r, 0);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => [l['allowed'], l['reason'], l['dialect']]), [
      [true, 'ALLOWED_BY_STATEMENT', 'iot'],
      [false, 'NO_MATCHING_STATEMENT', 'greengrass'],
      [true, 'ALLOWED_BY_STATEMENT', 'greengrass'],
    ]);
    assert.equal(lines[0]!['statement'], 'RoomTraffic');
    assert.equal(lines[2]!['certificateId'], certs.get('dev-4'));
    // An ambiguous line stops the run before any output.
    const bad = await runCli(['authorize', '--config', config, '--data-dir', data, '--requests', '-'], { input: input + '\n' + JSON.stringify({ thingName: 'dev-4', action: 'iot:Connect', resource: 'client/dev-4' }) });
    failed(bad, 2, 'THING_CERTIFICATE_AMBIGUOUS');
    // Without --data-dir an IoT line is a bad line.
    failed(await runCli(['authorize', '--config', config, '--requests', '-'], { input: JSON.stringify({ thingName: 'dev-1', action: 'iot:Publish', resource: 'topic/a' }) }), 2, 'REQUEST_LINE_INVALID');
  });
});
