/**
 * The explanation (`POST /gatehouse/explain` on the management listener, signed by the
 * administrator; the local API's `POST /v1/explain` is refused to the API token) for a registered thing under AWS IoT policies, against the real
 * gateway: the policies in force are the gateway's (changed with the CLI, applied by
 * the running gateway), the certificate and attributes the registry's.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GatewayProcess, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { errorOf, type ApiResponse, type ExplainBody } from './client.js';
import { gatehouseSection, managementCaller, type ManagementCaller } from './helpers.js';

const ARN = 'arn:aws:iot:eu-west-1:123456789012';

const CONFIG = `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: ConnectOnly }
  policies:
    ConnectOnly:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
${gatehouseSection('  iot: { region: eu-west-1, accountId: "123456789012" }')}`;

const DEVICE_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Data', Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive', 'iot:GetThingShadow'], Resource: [`${ARN}:topic/data/*`, `${ARN}:thing/\${iot:Connection.Thing.ThingName}`] },
    { Sid: 'NoSecrets', Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/data/secret/*` },
  ],
};

describe('POST /gatehouse/explain: AWS IoT actions for a registered thing', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let mgmt: ManagementCaller;
  let a: Device;
  let b: Device;
  let c: Device;

  /** A CLI change, and the gateway's reload of the IoT policies it causes. */
  async function change(args: string[]): Promise<void> {
    const from = gw.lines.length;
    const r = await gw.cli(args);
    assert.equal(r.code, 0, `gatehouse ${args.join(' ')}: ${r.stderr}`);
    await gw.waitForLog((l) => l.includes('"event":"iot-policies-applied"') && l.includes('"trigger":"registry"'), 5000, from);
  }

  const explain = (body: Record<string, unknown>): Promise<ApiResponse<ExplainBody>> => mgmt.call<ExplainBody>('POST', '/gatehouse/explain', body);

  before(async () => {
    dir = await tempDir('gatehouse-api-explain-iot-');
    gw = await GatewayProcess.start(dir.path, CONFIG);
    mgmt = await managementCaller(gw, 'eu-west-1');
    a = await gw.createThing('dev-a');
    b = await gw.createThing('dev-b');
    c = await gw.createThing('dev-c');
    const file = join(dir.path, 'device-policy.json');
    await writeFile(file, JSON.stringify(DEVICE_POLICY));
    await change(['policies', 'create', 'DevicePolicy', '--file', file]);
    await change(['policies', 'attach', 'DevicePolicy', '--cert', a.certificateId]);
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('allowed: the deciding policy and statement, the dialect, the policies in force and the matching statements', async () => {
    const r = await explain({ thingName: 'dev-a', action: 'iot:publish', resource: 'topic/data/temp' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.allowed, true);
    assert.equal(r.json.reason, 'ALLOWED_BY_STATEMENT');
    assert.equal(r.json.dialect, 'iot');
    assert.deepEqual([r.json.policy, r.json.statement, r.json.action, r.json.resource], ['DevicePolicy', 'Data', 'iot:Publish', `${ARN}:topic/data/temp`]);
    assert.equal(r.json.certificateId, a.certificateId);
    assert.deepEqual(r.json.iotPolicies, ['DevicePolicy']);
    assert.deepEqual(r.json.iotMatches?.map((m) => [m.effect, m.statement]), [['Allow', 'Data']]);
    assert.equal(r.json.attributesFrom, 'registry');
  });

  test('denied by statement: the Deny first; a Greengrass-form request is decided with the IoT policies too', async () => {
    const r = await explain({ thingName: 'dev-a', action: 'iot:Publish', resource: `${ARN}:topic/data/secret/x` });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.allowed, r.json.reason, r.json.policy, r.json.statement], [false, 'DENIED_BY_STATEMENT', 'DevicePolicy', 'NoSecrets']);
    assert.deepEqual(r.json.iotMatches?.map((m) => m.effect), ['Deny', 'Allow']);
    const gg = await explain({ thingName: 'dev-a', operation: 'mqtt:publish', resource: 'mqtt:topic:data/temp' });
    assert.equal(gg.json.allowed, true, 'no device-group statement allows it: the IoT policy does');
    assert.equal(gg.json.dialect, 'iot');
    // With the attributes given, the request is the device groups' alone, as before.
    const alone = await explain({ thingName: 'dev-a', operation: 'mqtt:publish', resource: 'mqtt:topic:data/temp', attributes: {} });
    assert.equal(alone.json.allowed, false);
    assert.equal(alone.json.dialect, undefined);
  });

  test('other actions (shadows) and iot:Receive are answered by the IoT policies; a retained publish needs iot:RetainPublish', async () => {
    assert.equal((await explain({ thingName: 'dev-a', action: 'iot:GetThingShadow', resource: 'thing/dev-a' })).json.allowed, true);
    assert.equal((await explain({ thingName: 'dev-a', action: 'iot:GetThingShadow', resource: 'thing/dev-b' })).json.allowed, false);
    const receive = await explain({ thingName: 'dev-a', action: 'iot:Receive', resource: 'topic/data/x' });
    assert.deepEqual([receive.json.allowed, receive.json.decidingAction], [true, 'iot:Receive']);
    const retained = await explain({ thingName: 'dev-a', action: 'iot:Publish', resource: 'topic/data/x', retain: true });
    assert.equal(retained.json.allowed, false);
    assert.equal(retained.json.retain, true);
  });

  test('no policy: a thing whose certificate has none is denied IoT actions, with no policy in force', async () => {
    const r = await explain({ thingName: 'dev-b', action: 'iot:Publish', resource: 'topic/data/temp' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.allowed, r.json.reason], [false, 'NO_MATCHING_STATEMENT']);
    assert.deepEqual(r.json.iotPolicies, []);
  });

  test('a thing with several certificates: 400 THING_CERTIFICATE_AMBIGUOUS until certificateId names one', async () => {
    // Read from the registry per request: no reload to wait for.
    const attached = await gw.cli(['things', 'attach', 'dev-c', a.certificateId]);
    assert.equal(attached.code, 0, attached.stderr);
    const r = await explain({ thingName: 'dev-c', action: 'iot:Publish', resource: 'topic/data/temp' });
    assert.equal(r.status, 400, r.text);
    assert.deepEqual([errorOf(r).code, errorOf(r).reason, errorOf(r).path], ['MGMT_INVALID_REQUEST', 'THING_CERTIFICATE_AMBIGUOUS', 'certificateId']);
    const withA = await explain({ thingName: 'dev-c', action: 'iot:Publish', resource: 'topic/data/temp', certificateId: a.certificateId.slice(0, 16) });
    assert.equal(withA.json.allowed, true, 'the policy is attached to that certificate');
    const withC = await explain({ thingName: 'dev-c', action: 'iot:Publish', resource: 'topic/data/temp', certificateId: c.certificateId });
    assert.equal(withC.json.allowed, false);
    const notIts = await explain({ thingName: 'dev-c', action: 'iot:Publish', resource: 'topic/data/temp', certificateId: b.certificateId });
    assert.deepEqual([notIts.status, errorOf(notIts).reason], [400, 'CERT_NOT_ATTACHED']);
  });

  test('bad action, bad ARN, unknown thing and inconsistent bodies are 400 with the reason and the field', async () => {
    const cases: [Record<string, unknown>, string | undefined, string][] = [
      [{ thingName: 'dev-a', action: 'iot:Frobnicate', resource: 'topic/a' }, 'IOT_REQUEST_ACTION_UNKNOWN', 'action'],
      [{ thingName: 'dev-a', action: 'iot:Publish', resource: 'arn:aws:iot:us-east-1:123456789012:topic/a' }, 'IOT_REQUEST_RESOURCE_INVALID', 'resource'],
      [{ thingName: 'dev-a', action: 'iot:Connect', resource: 'topic/a' }, 'IOT_REQUEST_RESOURCE_INVALID', 'resource'],
      [{ thingName: 'ghost', action: 'iot:Publish', resource: 'topic/a' }, 'THING_NOT_FOUND', 'thingName'],
      [{ thingName: 'dev-a', resource: 'topic/a' }, undefined, ''],
      [{ thingName: 'dev-a', operation: 'mqtt:publish', action: 'iot:Publish', resource: 'topic/a' }, undefined, ''],
      [{ thingName: 'dev-a', action: 'iot:Publish', resource: 'topic/a', attributes: { room: 'x' } }, undefined, 'attributes'],
    ];
    for (const [body, reason, path] of cases) {
      const r = await explain(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const e = errorOf(r);
      assert.deepEqual([e.code, e.reason, e.path], ['MGMT_INVALID_REQUEST', reason, path], JSON.stringify(body));
    }
  });
});
