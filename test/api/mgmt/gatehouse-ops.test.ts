/**
 * Gatehouse's own operations on the management listener of a running gateway, signed
 * with SigV4 by IAM users made with the CLI: live MQTT sessions (list, disconnect), the
 * configuration (show, validate, apply), explain; each authorized and audited.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectDevice, GatewayProcess, waitForClose, type Device } from '../../helpers/gateway.js';
import { tempDir } from '../../helpers/tmp-dir.js';
import { waitUntil } from '../../helpers/wait.js';
import { errorOf, type ExplainBody } from '../client.js';
import { gatehouseSection, managementCaller, type ManagementCaller } from '../helpers.js';
import { ACCOUNT, REGION, type Credentials } from './helpers.js';

const groups = (extra: string): string => `
deviceGroups:
  definitions:
    Sensors: { selectionRule: "thingName: sensor-*", policyName: SensorPolicy }
  policies:
    SensorPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Subscribe: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:commands/\${iot:Connection.Thing.ThingName}"] }
${extra}${gatehouseSection()}`;

const CONFIG = groups('');
const WIDER = groups('      Extra: { operations: [mqtt:publish], resources: ["mqtt:topic:extra/*"] }\n');

const SESSION_ARN = (clientId: string): string => `arn:aws:gatehouse:${REGION}:${ACCOUNT}:session/${clientId}`;

interface SessionsBody { sessions: { clientId: string; thingName: string; certificateId: string; sourceIp?: string; connectedAt: string; subscriptions: string[] }[] }
interface AuditBody { records: { principal: string; action: string; resource: string; decision: string; status: number }[] }
interface Issue { code: string; path: string; message: string; fix?: string }

describe('Gatehouse operations on the management listener', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let mgmt: ManagementCaller;
  let sensor: Device;
  let client: MqttClient;

  async function user(name: string, statements: unknown[]): Promise<Credentials> {
    const file = join(dir.path, `${name}.json`);
    await writeFile(file, JSON.stringify({ Version: '2012-10-17', Statement: statements }));
    for (const args of [['iam', 'users', 'create', name], ['iam', 'policies', 'create', `${name}-policy`, '--document', file], ['iam', 'policies', 'attach', `${name}-policy`, '--user', name]]) {
      const r = await gw.cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const k = await gw.cli(['iam', 'access-keys', 'create', '--user', name, '--json']);
    assert.equal(k.code, 0, k.stderr);
    const key = JSON.parse(k.stdout) as { accessKeyId: string; secretAccessKey: string };
    return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  }

  async function audited(action: string, decision: 'allow' | 'deny', principal: string): Promise<void> {
    await waitUntil(async () => {
      const r = await mgmt.call<AuditBody>('GET', `/gatehouse/audit?action=${encodeURIComponent(action)}&decision=${decision}`);
      return r.json.records.some((x) => x.principal.endsWith(principal));
    }, 5000, `an audit record: ${principal} ${action} ${decision}`);
  }

  before(async () => {
    dir = await tempDir('gatehouse-mgmt-ops-');
    gw = await GatewayProcess.start(dir.path, CONFIG);
    mgmt = await managementCaller(gw);
    sensor = await gw.device('sensor-1');
    client = await connectDevice(gw.mqttUrl, sensor);
    await client.subscribeAsync('commands/sensor-1');
  });
  after(async () => {
    await client.endAsync().catch(() => undefined);
    await gw.stop();
    await dir.cleanup();
  });

  test('a user allowed only gatehouse:ListSessions sees the live device but cannot disconnect it (403, audited)', async () => {
    const watcher = await user('watcher', [{ Effect: 'Allow', Action: 'gatehouse:ListSessions', Resource: '*' }]);
    const list = await mgmt.call<SessionsBody>('GET', '/gatehouse/sessions', undefined, watcher);
    assert.equal(list.status, 200, list.text);
    const s = list.json.sessions.find((x) => x.clientId === 'sensor-1');
    assert.ok(s, list.text);
    assert.deepEqual([s.thingName, s.certificateId, s.sourceIp, s.subscriptions], ['sensor-1', sensor.certificateId, '127.0.0.1', ['commands/sensor-1']]);
    assert.ok(Date.now() - Date.parse(s.connectedAt) < 120_000, s.connectedAt);

    const refused = await mgmt.call('DELETE', '/gatehouse/sessions/sensor-1', undefined, watcher);
    assert.equal(refused.status, 403, refused.text);
    assert.equal(errorOf(refused).code, 'MGMT_ACCESS_DENIED');
    assert.match(errorOf(refused).message, new RegExp(`gatehouse:DisconnectSession on resource: ${SESSION_ARN('sensor-1')}`));
    await audited('gatehouse:DisconnectSession', 'deny', 'user/watcher');
    assert.ok(client.connected, 'the device is still connected');
    // Nor may it read the configuration.
    assert.equal((await mgmt.call('GET', '/gatehouse/configuration', undefined, watcher)).status, 403);
  });

  test('with gatehouse:DisconnectSession on the session ARN the device is disconnected; then 404', async () => {
    const operator = await user('operator', [{ Effect: 'Allow', Action: 'gatehouse:DisconnectSession', Resource: `arn:aws:gatehouse:${REGION}:${ACCOUNT}:session/sensor-*` }]);
    const other = await mgmt.call('DELETE', '/gatehouse/sessions/reader-1', undefined, operator);
    assert.equal(other.status, 403, 'the policy names sensor-* only');
    const closed = waitForClose(client);
    const r = await mgmt.call('DELETE', '/gatehouse/sessions/sensor-1', undefined, operator);
    assert.equal(r.status, 204, r.text);
    await closed;
    await audited('gatehouse:DisconnectSession', 'allow', 'user/operator');
    await waitUntil(async () => !(await mgmt.call<SessionsBody>('GET', '/gatehouse/sessions')).json.sessions.some((x) => x.clientId === 'sensor-1'), 5000, 'the session is gone');
    const again = await mgmt.call('DELETE', '/gatehouse/sessions/sensor-1', undefined, operator);
    assert.equal(again.status, 404);
    assert.equal(errorOf(again).code, 'MGMT_NOT_FOUND');
  });

  test('configuration: shown; a bad one gets coded problems and nothing is applied; a good one is written and applied', async () => {
    const shown = await mgmt.call<{ file: string; text: string; groups: string[] }>('GET', '/gatehouse/configuration');
    assert.equal(shown.status, 200, shown.text);
    assert.equal(shown.json.file, gw.configPath);
    assert.equal(shown.json.text, CONFIG);
    assert.deepEqual(shown.json.groups, ['Sensors']);

    const bad = CONFIG.replace('policyName: SensorPolicy', 'policyName: NoSuchPolicy');
    const verdict = await mgmt.call<{ valid: boolean; errors: Issue[] }>('POST', '/gatehouse/configuration/validate', { text: bad });
    assert.equal(verdict.status, 200, verdict.text);
    assert.equal(verdict.json.valid, false);
    const [problem] = verdict.json.errors;
    assert.deepEqual([problem?.code, problem?.path], ['CONFIG_POLICY_NOT_FOUND', 'deviceGroups.definitions.Sensors.policyName']);
    assert.ok(problem?.fix !== undefined && problem.fix.length > 0, 'a fix is given');

    const refused = await mgmt.call<{ error: { code: string; errors: Issue[] } }>('PUT', '/gatehouse/configuration', { text: bad });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.error.code, 'MGMT_CONFIG_INVALID');
    assert.equal(refused.json.error.errors[0]?.code, 'CONFIG_POLICY_NOT_FOUND');
    assert.equal(await readFile(gw.configPath, 'utf8'), CONFIG, 'nothing was written');

    const explainExtra = async (): Promise<boolean> =>
      (await mgmt.call<ExplainBody>('POST', '/gatehouse/explain', { thingName: 'sensor-1', operation: 'mqtt:publish', resource: 'mqtt:topic:extra/x' })).json.allowed;
    assert.equal(await explainExtra(), false);
    const applied = await mgmt.call<{ applied: boolean }>('PUT', '/gatehouse/configuration', { text: WIDER });
    assert.equal(applied.status, 200, applied.text);
    assert.equal(applied.json.applied, true);
    assert.equal(await readFile(gw.configPath, 'utf8'), WIDER);
    assert.equal(await explainExtra(), true, 'the device may now publish to extra/*');
    assert.equal((await mgmt.call<{ text: string }>('GET', '/gatehouse/configuration')).json.text, WIDER);
    const same = await mgmt.call<{ applied: boolean; unchanged: boolean }>('PUT', '/gatehouse/configuration', { text: WIDER });
    assert.deepEqual(same.json, { applied: false, unchanged: true });
    await audited('gatehouse:ApplyConfiguration', 'allow', 'user/admin');
  });

  test('the API token: IPC allowed on the local API; explain refused (403 API_ACCESS_DENIED, audited)', async () => {
    const token = await gw.apiToken();
    const ipc = await fetch(`${gw.apiUrl!}/v1/verify-client-device-identity`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ credential: { clientDeviceCertificate: sensor.cert.toString() } }),
    });
    assert.equal(ipc.status, 200);
    assert.deepEqual(await ipc.json(), { isValidClientDevice: true });
    const explain = await fetch(`${gw.apiUrl!}/v1/explain`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ thingName: 'sensor-1', operation: 'mqtt:connect', resource: 'mqtt:clientId:sensor-1' }),
    });
    assert.equal(explain.status, 403);
    assert.equal(((await explain.json()) as { error: { code: string } }).error.code, 'API_ACCESS_DENIED');
    await audited('gatehouse:VerifyClientDeviceIdentity', 'allow', 'gatehouse:api-token');
    await audited('gatehouse:Explain', 'deny', 'gatehouse:api-token');
  });
});
