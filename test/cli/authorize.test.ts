/**
 * `gatehouse authorize`, run as a real process (docs/cli.md): one request as text or
 * JSON, a batch from a file or standard input, and the exit statuses — 0 whenever
 * every request was decided, allowed or denied; 1 for an invalid configuration; 2 for
 * usage errors, unreadable files and bad request lines.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli, type CliResult } from '../helpers/gateway.js';
import { makeProcessTempDir } from '../helpers/tmp-dir.js';

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
