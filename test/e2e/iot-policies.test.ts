import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { GatewayProcess, connectDevice, openReader, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

/**
 * AWS IoT Core policy documents end to end: stored in the registry with the CLI,
 * attached to certificates and thing groups, and decided by the running gateway for
 * real MQTT.js clients over mutual TLS — Connect, Publish, RetainPublish, Subscribe and
 * Receive on every delivery, live and for an offline persistent session.
 */

const ARN = 'arn:aws:iot:eu-west-1:123456789012';

const CONFIG = (extraGroups = ''): string => `
deviceGroups:
  definitions:
    Legacy: { selectionRule: "thingName: legacy-*", policyName: LegacyPolicy }
${extraGroups}
  policies:
    LegacyPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: eu-west-1, accountId: "123456789012" }
`;

/** A device's cloud policy: its own client id, publish and receive under data/, subscribe to data/ filters. */
const DEVICE_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/data/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/data/*` },
  ],
};

const RETAIN_POLICY = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 'iot:RetainPublish', Resource: `${ARN}:topic/data/retained/*` }],
};

const DENY_SECRET_RECEIVE = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Deny', Action: 'iot:Receive', Resource: `${ARN}:topic/data/secret/*` }],
};

/** The SUBACK return codes of one SUBSCRIBE (MQTT.js 5 rejects when any is 0x80; the SUBACK is on the error). */
async function suback(client: MqttClient, filters: string[], qos: 0 | 1): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos })).map((g) => g.qos);
  } catch (e) {
    const granted = (e as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw e;
    return granted;
  }
}

/** The CONNACK return code a connection attempt ends with (0 = accepted). */
async function connackCode(url: string, d: Device, opts: IClientOptions = {}): Promise<number> {
  try {
    const c = await connectDevice(url, d, opts);
    await c.endAsync();
    return 0;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw e;
  }
}

describe('AWS IoT Core policies at the edge (real gateway, registry CLI, MQTT.js over mutual TLS)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let n = 0;

  /** Runs a CLI command and waits until the gateway has applied the registry change it makes. */
  async function change(args: string[]): Promise<void> {
    const from = gw.lines.length;
    const r = await gw.cli(args);
    assert.equal(r.code, 0, `gatehouse ${args.join(' ')}: ${r.stderr}`);
    await gw.waitForLog((l) => l.includes('"event":"iot-policies-applied"') && l.includes('"trigger":"registry"'), 5000, from);
  }

  async function policyFile(doc: unknown): Promise<string> {
    const p = join(dir.path, `policy-${++n}.json`);
    await writeFile(p, JSON.stringify(doc, null, 2));
    return p;
  }

  async function createPolicy(name: string, doc: unknown): Promise<void> {
    await change(['policies', 'create', name, '--file', await policyFile(doc)]);
  }

  before(async () => {
    dir = await tempDir('gatehouse-iot-e2e-');
    gw = await GatewayProcess.start(dir.path, CONFIG());
    await createPolicy('DevicePolicy', DEVICE_POLICY);
  });

  after(async () => {
    await gw.stop();
    await dir.cleanup();
  });

  test('a certificate with no policy and no device group cannot connect; attaching a policy lets it', async () => {
    const d = await gw.device('cam-1');
    assert.equal(await connackCode(gw.mqttUrl, d), 5, 'nothing allows iot:Connect');
    await change(['policies', 'attach', 'DevicePolicy', '--cert', d.certificateId]);
    assert.equal(await connackCode(gw.mqttUrl, d), 0);
    // The policy's Connect names the thing: another client id is refused.
    assert.equal(await connackCode(gw.mqttUrl, d, { clientId: 'someone-else' }), 5);
  });

  test('publish, subscribe and receive follow the policy; MQTT wildcards in a filter are literal characters in the policy', async () => {
    const [a, b] = [await gw.device('cam-2'), await gw.device('cam-3')];
    for (const d of [a, b]) await change(['policies', 'attach', 'DevicePolicy', '--cert', d.certificateId]);
    const reader = await openReader(gw.mqttUrl, b);
    assert.deepEqual(await suback(reader.client, ['data/#', 'other/#'], 1), [1, 128], 'topicfilter/data/* grants `data/#`; nothing grants `other/#`');
    const writer = await connectDevice(gw.mqttUrl, a);
    await writer.publishAsync('other/x', 'refused', { qos: 1 });
    await writer.publishAsync('data/x', 'allowed', { qos: 1 });
    assert.equal((await reader.next('allowed')).topic, 'data/x');
    assert.ok(!reader.got.some((m) => m.payload === 'refused'));
    await writer.endAsync();
    await reader.client.endAsync();
  });

  test('a retained publish needs iot:RetainPublish as well as iot:Publish', async () => {
    const [w, r] = [await gw.device('cam-4'), await gw.device('cam-5')];
    for (const d of [w, r]) await change(['policies', 'attach', 'DevicePolicy', '--cert', d.certificateId]);
    const writer = await connectDevice(gw.mqttUrl, w);
    await writer.publishAsync('data/retained/a', 'no-retain-grant', { qos: 1, retain: true });
    await createPolicy('RetainPolicy', RETAIN_POLICY);
    await change(['policies', 'attach', 'RetainPolicy', '--cert', w.certificateId]);
    await writer.publishAsync('data/retained/b', 'retain-granted', { qos: 1, retain: true });
    await writer.endAsync();
    const reader = await openReader(gw.mqttUrl, r);
    await reader.client.subscribeAsync({ 'data/retained/a': { qos: 1 }, 'data/retained/b': { qos: 1 } });
    const m = await reader.next('retain-granted');
    assert.equal(m.retain, true);
    // Both filters were subscribed in one SUBSCRIBE: the retained message of the first,
    // had it been stored, would have been sent with the second's.
    assert.ok(!reader.got.some((x) => x.payload === 'no-retain-grant'), 'the refused retained message was not stored');
    await reader.client.endAsync();
  });

  test('a Deny on iot:Receive stops deliveries to a live subscription within a second, other topics still flow', async () => {
    const [w, r] = [await gw.device('cam-6'), await gw.device('cam-7')];
    for (const d of [w, r]) await change(['policies', 'attach', 'DevicePolicy', '--cert', d.certificateId]);
    const reader = await openReader(gw.mqttUrl, r);
    await reader.client.subscribeAsync({ 'data/#': { qos: 1 } });
    const writer = await connectDevice(gw.mqttUrl, w);
    await writer.publishAsync('data/secret/1', 'before', { qos: 1 });
    await reader.next('before');
    await createPolicy('NoSecrets', DENY_SECRET_RECEIVE);
    await change(['policies', 'attach', 'NoSecrets', '--cert', r.certificateId]);
    await writer.publishAsync('data/secret/2', 'after', { qos: 1 });
    await writer.publishAsync('data/open/2', 'open', { qos: 1 });
    await reader.next('open');
    assert.ok(!reader.got.some((m) => m.payload === 'after'), 'the subscription still holds, but Receive is denied');
    assert.ok(reader.client.connected);
    await change(['policies', 'detach', 'NoSecrets', '--cert', r.certificateId]);
    await writer.publishAsync('data/secret/3', 'again', { qos: 1 });
    await reader.next('again');
    await writer.endAsync();
    await reader.client.endAsync();
  });

  test('a Deny on iot:Receive also holds back messages queued for an offline persistent session', async () => {
    const [w, r] = [await gw.device('cam-8'), await gw.device('cam-9')];
    for (const d of [w, r]) await change(['policies', 'attach', 'DevicePolicy', '--cert', d.certificateId]);
    const first = await openReader(gw.mqttUrl, r, { clean: false });
    await first.client.subscribeAsync({ 'data/#': { qos: 1 } });
    await first.client.endAsync();
    const writer = await connectDevice(gw.mqttUrl, w);
    await writer.publishAsync('data/secret/q', 'queued-secret', { qos: 1 });
    await writer.publishAsync('data/open/q', 'queued-open', { qos: 1 });
    await writer.endAsync();
    await change(['policies', 'attach', 'NoSecrets', '--cert', r.certificateId]);
    const again = await openReader(gw.mqttUrl, r, { clean: false });
    await again.next('queued-open');
    assert.ok(!again.got.some((m) => m.payload === 'queued-secret'));
    await again.client.endAsync();
  });

  test('policies attached to a thing group (or its parent) apply to its things', async () => {
    const d = await gw.device('meter-1');
    assert.equal(await connackCode(gw.mqttUrl, d), 5);
    await change(['thing-groups', 'create', 'Site']);
    await change(['thing-groups', 'create', 'Meters', '--parent', 'Site']);
    await change(['policies', 'attach', 'DevicePolicy', '--thing-group', 'Site']);
    await change(['thing-groups', 'add-thing', 'Meters', 'meter-1']);
    assert.equal(await connackCode(gw.mqttUrl, d), 0, 'inherited from the parent group');
    const c = await connectDevice(gw.mqttUrl, d);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    await change(['thing-groups', 'remove-thing', 'Meters', 'meter-1']);
    await closed;
    assert.equal(await connackCode(gw.mqttUrl, d), 5);
  });

  test('a device group may name IoT policies; Greengrass statements and IoT statements are one union, and an IoT Deny wins over a Greengrass Allow', async () => {
    const d = await gw.device('legacy-1');
    await createPolicy('LegacyDeny', {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/legacy/*` },
        { Effect: 'Deny', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/legacy/blocked/*` },
      ],
    });
    const from = gw.lines.length;
    await gw.writeConfig(CONFIG(`    Extra: { selectionRule: "thingName: legacy-*", policyName: LegacySubscribe, iotPolicies: [LegacyDeny] }`).replace(
      '  policies:\n',
      '  policies:\n    LegacySubscribe:\n      Sub: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:legacy/blocked/#"] }\n'));
    await gw.waitForLog((l) => l.includes('"event":"config-applied"'), 10000, from);
    const c = await connectDevice(gw.mqttUrl, d);
    assert.deepEqual(await suback(c, ['legacy/a/#', 'legacy/blocked/#', 'nothing/#'], 0), [0, 128, 128], 'IoT Allow grants the first; the IoT Deny beats the Greengrass Allow of the second');
    // The denial names the deciding policy and statement, and its dialect.
    const line = await gw.waitForLog((l) => l.includes('"event":"denied"') && l.includes('legacy/blocked/#'), 5000, from);
    assert.match(line, /"reason":"DENIED_BY_STATEMENT".*"dialect":"iot","policy":"LegacyDeny","statement":"1"/);
    await c.endAsync();
  });

  test('a retained Will needs iot:RetainPublish on its topic', async () => {
    const d = await gw.device('cam-10');
    await change(['policies', 'attach', 'DevicePolicy', '--cert', d.certificateId]);
    const will = { topic: 'data/will/x', payload: Buffer.from('bye'), qos: 1 as const };
    assert.equal(await connackCode(gw.mqttUrl, d, { will: { ...will, retain: false } }), 0);
    assert.equal(await connackCode(gw.mqttUrl, d, { will: { ...will, retain: true } }), 5, 'RetainPublish is not granted on data/will/*');
  });
});
