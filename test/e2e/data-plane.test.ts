/**
 * The Device Shadow service and the HTTPS data-plane listener on a running gateway, with
 * clients written elsewhere: `@aws-sdk/client-iot-data-plane` (SigV4 with credentials
 * from the control plane), the AWS IoT Device SDK's `thingShadow` class over MQTT with a
 * device certificate, MQTT.js and Node's HTTPS client with device certificates for the
 * refusals; and a restart that keeps the shadows.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AttachPolicyCommand, CreatePolicyCommand, IoTClient } from '@aws-sdk/client-iot';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  ConflictException, DeleteThingShadowCommand, ForbiddenException, GetThingShadowCommand, InvalidRequestException, IoTDataPlaneClient,
  ListNamedShadowsForThingCommand, RequestEntityTooLargeException, ResourceNotFoundException, UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import awsIot from 'aws-iot-device-sdk';
import Database from 'better-sqlite3';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { DATA_PLANE_ROUTE_SETS } from '../../src/api/data-plane/route-sets.js';
import { GatewayProcess, connectDevice, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:${REGION}:${ACCOUNT}`;

const SELF = '${iot:Connection.Thing.ThingName}';

/** Things named gg-* are authorized by a Greengrass device group; the others by AWS IoT policies. */
const CONFIG = `
deviceGroups:
  formatVersion: "2021-03-05"
  definitions:
    Shadowers: { selectionRule: "thingName: gg-*", policyName: ShadowPolicy }
  policies:
    ShadowPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:${SELF}"] }
      OwnShadows:
        operations: [mqtt:publish, mqtt:subscribe]
        resources: ["mqtt:topic:$aws/things/${SELF}/shadow/*", "mqtt:topicfilter:$aws/things/${SELF}/shadow/*"]
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${REGION}, accountId: "${ACCOUNT}" }
  dataPlane: { enabled: true }
`;

/** Each device may use its own thing's shadows, on MQTT and HTTPS, and nothing else. */
const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${SELF}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/$aws/things/${SELF}/shadow/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/$aws/things/${SELF}/shadow/*` },
    { Effect: 'Allow', Action: ['iot:GetThingShadow', 'iot:UpdateThingShadow', 'iot:DeleteThingShadow'], Resource: [`${ARN}:thing/${SELF}`, `${ARN}:thing/${SELF}/*`] },
  ],
});

interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTPS request to the data-plane listener with a device's certificate (mutual TLS). */
function deviceRequest(url: string, device: Device | undefined, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: u.hostname, port: Number(u.port), method, path, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ca: device?.ca ?? caPem, ...(device !== undefined ? { key: device.key, cert: device.cert } : {}), agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let caPem: string;

describe('Device Shadows and the HTTPS data plane on a running gateway', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let iot: IoTClient;
  let iam: IAMClient;
  let data: IoTDataPlaneClient;
  let lamp: Device;
  let fan: Device;
  let credentials: { accessKeyId: string; secretAccessKey: string };

  const dataClient = async (creds = credentials): Promise<IoTDataPlaneClient> =>
    new IoTDataPlaneClient({ endpoint: await gw.dataPlaneUrl(), region: REGION, credentials: creds, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });
  const json = (payload: Uint8Array | undefined): Record<string, unknown> => JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as Record<string, unknown>;

  before(async () => {
    dir = await tempDir('gatehouse-e2e-data-plane-');
    gw = await GatewayProcess.start(dir.path, CONFIG);
    credentials = await gw.adminCredentials();
    caPem = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    const common = { endpoint: await gw.managementUrl(), region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } };
    iot = new IoTClient(common);
    iam = new IAMClient(common);
    data = await dataClient();
    lamp = await gw.device('lamp');
    fan = await gw.device('fan');
    await iot.send(new CreatePolicyCommand({ policyName: 'shadow-device', policyDocument: DEVICE_POLICY }));
    for (const d of [lamp, fan]) await iot.send(new AttachPolicyCommand({ policyName: 'shadow-device', target: `${ARN}:cert/${d.certificateId}` }));
    // The gateway applies new policies within its registry poll.
    await waitUntil(async () => (await deviceRequest(await gw.dataPlaneUrl(), lamp, 'GET', '/things/lamp/shadow')).status === 404, 10_000, 'the device policy to apply');
  });
  after(async () => {
    iot.destroy();
    iam.destroy();
    data.destroy();
    await gw.stop();
    await dir.cleanup();
  });

  test('client-iot-data-plane: update, get with delta, named shadows, list, delete; then 404', async () => {
    const up = json((await data.send(new UpdateThingShadowCommand({ thingName: 'lamp', payload: Buffer.from(JSON.stringify({ state: { desired: { on: true, level: 3 } }, clientToken: 'sdk-1' })) }))).payload);
    assert.equal(up['version'], 1);
    assert.equal(up['clientToken'], 'sdk-1');
    assert.deepEqual(up['state'], { desired: { on: true, level: 3 } });
    assert.equal(typeof (up['metadata'] as { desired: { on: { timestamp: number } } }).desired.on.timestamp, 'number');

    const got = json((await data.send(new GetThingShadowCommand({ thingName: 'lamp' }))).payload);
    assert.equal(got['version'], 1);
    assert.deepEqual(got['state'], { desired: { on: true, level: 3 }, delta: { on: true, level: 3 } });

    await data.send(new UpdateThingShadowCommand({ thingName: 'lamp', shadowName: 'config', payload: Buffer.from('{"state":{"reported":{"fw":"1.0"}}}') }));
    await data.send(new UpdateThingShadowCommand({ thingName: 'lamp', shadowName: 'alarm', payload: Buffer.from('{"state":{"reported":{"armed":false}}}') }));
    const named = json((await data.send(new GetThingShadowCommand({ thingName: 'lamp', shadowName: 'config' }))).payload);
    assert.deepEqual(named['state'], { reported: { fw: '1.0' } });
    const list = await data.send(new ListNamedShadowsForThingCommand({ thingName: 'lamp' }));
    assert.deepEqual(list.results, ['alarm', 'config']);
    assert.equal(typeof list.timestamp, 'number');
    const page = await data.send(new ListNamedShadowsForThingCommand({ thingName: 'lamp', pageSize: 1 }));
    assert.deepEqual(page.results, ['alarm']);
    assert.deepEqual((await data.send(new ListNamedShadowsForThingCommand({ thingName: 'lamp', pageSize: 1, nextToken: page.nextToken! }))).results, ['config']);

    const del = json((await data.send(new DeleteThingShadowCommand({ thingName: 'lamp', shadowName: 'alarm' }))).payload);
    assert.equal(del['version'], 1);
    await assert.rejects(data.send(new GetThingShadowCommand({ thingName: 'lamp', shadowName: 'alarm' })), (e: Error) => {
      assert.ok(e instanceof ResourceNotFoundException, e.name);
      assert.equal(e.message, "No shadow exists with name: 'alarm'");
      return true;
    });
    await assert.rejects(data.send(new GetThingShadowCommand({ thingName: 'not-registered' })), ResourceNotFoundException);
    await assert.rejects(data.send(new GetThingShadowCommand({ thingName: 'lamp', shadowName: 'bad name' })), InvalidRequestException);
  });

  test('refusals with the documented codes: version conflict (409), oversize document (413), invalid document (400)', async () => {
    const before = json((await data.send(new GetThingShadowCommand({ thingName: 'lamp' }))).payload);
    await assert.rejects(data.send(new UpdateThingShadowCommand({ thingName: 'lamp', payload: Buffer.from(JSON.stringify({ state: { desired: { on: false } }, version: (before['version'] as number) + 5 })) })), (e: Error) => {
      assert.ok(e instanceof ConflictException, e.name);
      assert.equal(e.message, 'Version conflict');
      assert.equal(e.$metadata.httpStatusCode, 409);
      return true;
    });
    await assert.rejects(data.send(new UpdateThingShadowCommand({ thingName: 'lamp', payload: Buffer.from(JSON.stringify({ state: { reported: { blob: 'x'.repeat(9000) } } })) })), (e: Error) => {
      assert.ok(e instanceof RequestEntityTooLargeException, e.name);
      assert.equal(e.message, 'The payload exceeds the maximum size allowed');
      return true;
    });
    await assert.rejects(data.send(new UpdateThingShadowCommand({ thingName: 'lamp', payload: Buffer.from('{"state":{"desired":5}}') })), (e: Error) => {
      assert.ok(e instanceof InvalidRequestException, e.name);
      assert.equal(e.message, 'Desired node must be an object');
      return true;
    });
    // None of them changed the shadow.
    assert.equal(json((await data.send(new GetThingShadowCommand({ thingName: 'lamp' }))).payload)['version'], before['version']);
    // With the version it has, the update passes.
    const ok = json((await data.send(new UpdateThingShadowCommand({ thingName: 'lamp', payload: Buffer.from(JSON.stringify({ state: { desired: { level: 4 } }, version: before['version'] })) }))).payload);
    assert.equal(ok['version'], (before['version'] as number) + 1);
  });

  test('SigV4: an IAM user without a shadow permission is refused (403 ForbiddenException), a bad signature too', async () => {
    await iam.send(new CreateUserCommand({ UserName: 'no-shadows' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'no-shadows' }))).AccessKey!;
    const denied = await dataClient({ accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
    try {
      await assert.rejects(denied.send(new GetThingShadowCommand({ thingName: 'lamp' })), (e: Error) => {
        assert.ok(e instanceof ForbiddenException, e.name);
        assert.match(e.message, /no-shadows is not authorized to perform: iot:GetThingShadow on resource: arn:aws:iot:eu-west-1:123456789012:thing\/lamp/);
        return true;
      });
    } finally {
      denied.destroy();
    }
    const forged = await dataClient({ accessKeyId: key.AccessKeyId!, secretAccessKey: 'x'.repeat(40) });
    try {
      await assert.rejects(forged.send(new GetThingShadowCommand({ thingName: 'lamp' })), (e: Error) => e.name === 'InvalidSignatureException');
    } finally {
      forged.destroy();
    }
    // Every route of the listener asks before it acts: its example request, signed by the
    // user without permissions, is refused with 403 ForbiddenException.
    const dp = new URL(await gw.dataPlaneUrl());
    for (const route of DATA_PLANE_ROUTE_SETS.flatMap((s) => s.routes)) {
      // Each route's own signing name (`iotdata` for shadows, `iot-jobs-data` for jobs).
      const signer = new SignatureV4({ credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! }, region: REGION, service: route.signingService ?? 'iotdata', sha256: Hash.bind(null, 'sha256') });
      const [path, search] = route.example.path.split('?') as [string, string | undefined];
      const query = Object.fromEntries(new URLSearchParams(search ?? ''));
      const signed = await signer.sign(new HttpRequest({
        method: route.method, protocol: 'https:', hostname: dp.hostname, port: Number(dp.port), path, query,
        headers: { host: dp.host, ...(route.example.body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(route.example.body !== undefined ? { body: route.example.body } : {}),
      }));
      const r = await new Promise<HttpAnswer>((resolve, reject) => {
        const req = httpsRequest({ host: dp.hostname, port: Number(dp.port), method: route.method, path: route.example.path, headers: signed.headers, ca: caPem, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', reject);
        req.end(route.example.body);
      });
      assert.equal(r.status, 403, `${route.operationId}: ${r.body}`);
      assert.equal(r.headers['x-amzn-errortype'], 'ForbiddenException', route.operationId);
      assert.match(r.body, new RegExp(`not authorized to perform: ${route.action}`), route.operationId);
    }
    // Neither a signature nor a certificate: refused before anything is read.
    const anon = await deviceRequest(await gw.dataPlaneUrl(), undefined, 'GET', '/things/lamp/shadow');
    assert.equal(anon.status, 403);
    assert.equal(anon.headers['x-amzn-errortype'], 'MissingAuthenticationTokenException');
    assert.equal((JSON.parse(anon.body) as { reason: string }).reason, 'MISSING_AUTHENTICATION');
  });

  test('aws-iot-device-sdk thingShadow over MQTT with the device certificate: register, update, delta, get, delete', async () => {
    const port = Number(new URL(gw.mqttUrl).port);
    const shadows = new awsIot.thingShadow({
      host: '127.0.0.1', port, clientId: 'fan', protocol: 'mqtts', caCert: fan.ca, clientCert: fan.cert, privateKey: fan.key,
      enableMetrics: false, operationTimeout: 5000, offlineQueueing: false,
    });
    try {
      await once(shadows, 'connect');
      await new Promise<void>((resolve, reject) => shadows.register('fan', {}, (err, failed) => (err !== undefined && err !== null ? reject(err) : failed !== undefined && failed !== null ? reject(new Error(`subscriptions refused: ${JSON.stringify(failed)}`)) : resolve())));
      type Status = [string, string, string, Record<string, unknown>];
      const status = (token: string | null): Promise<Status> => waitForEvent<Status>(shadows, 'status', (_n, _s, t) => t === token);

      let token = shadows.update('fan', { state: { reported: { speed: 1 } } });
      const [name, first, , created] = await status(token);
      assert.deepEqual([name, first, created['version']], ['fan', 'accepted', 1]);
      let stat: string;
      let doc: Record<string, unknown>;

      // An operator sets the desired speed over HTTPS: the device gets the delta.
      const delta = waitForEvent<[string, Record<string, unknown>]>(shadows, 'delta');
      await data.send(new UpdateThingShadowCommand({ thingName: 'fan', payload: Buffer.from('{"state":{"desired":{"speed":3}}}') }));
      const [deltaThing, deltaDoc] = await delta;
      assert.equal(deltaThing, 'fan');
      assert.deepEqual(deltaDoc['state'], { speed: 3 });
      assert.equal(deltaDoc['version'], 2);

      token = shadows.get('fan');
      [, stat, , doc] = await status(token);
      assert.equal(stat, 'accepted');
      assert.deepEqual(doc['state'], { desired: { speed: 3 }, reported: { speed: 1 }, delta: { speed: 3 } });

      // The device reports the new speed (the SDK sends the version it knows): no delta left.
      token = shadows.update('fan', { state: { reported: { speed: 3 } } });
      [, stat, , doc] = await status(token);
      assert.deepEqual([stat, doc['version']], ['accepted', 3]);
      const after = json((await data.send(new GetThingShadowCommand({ thingName: 'fan' }))).payload);
      assert.equal('delta' in (after['state'] as object), false);

      token = shadows.delete('fan');
      [, stat, , doc] = await status(token);
      assert.deepEqual([stat, doc['version']], ['accepted', 3]);
      token = shadows.get('fan');
      [, stat, , doc] = await status(token);
      assert.deepEqual([stat, doc['code'], doc['message']], ['rejected', 404, "No shadow exists with name: 'fan'"]);
    } finally {
      shadows.end(true);
    }
  });

  test('a device may not read another thing\'s shadow: MQTT subscription refused, request dropped; HTTPS 403', async () => {
    const url = gw.mqttUrl;
    const owner = await connectDevice(url, lamp);
    const intruder = await connectDevice(url, fan);
    try {
      const answers: string[] = [];
      owner.on('message', (_topic, payload) => answers.push((JSON.parse(payload.toString()) as { clientToken?: string }).clientToken ?? ''));
      await owner.subscribeAsync('$aws/things/lamp/shadow/get/accepted', { qos: 1 });
      // The intruder's subscription to the lamp's answers is refused (SUBACK 0x80)…
      const refused = await intruder.subscribeAsync('$aws/things/lamp/shadow/get/accepted', { qos: 1 }).then(() => undefined, (e: Error & { packet?: { granted?: number[] } }) => e);
      assert.deepEqual(refused?.packet?.granted, [128]);
      // …and its get request on the lamp's shadow is dropped by the publish check: no answer is published.
      await intruder.publishAsync('$aws/things/lamp/shadow/get', JSON.stringify({ clientToken: 'intruder' }), { qos: 1 });
      await owner.publishAsync('$aws/things/lamp/shadow/get', JSON.stringify({ clientToken: 'owner' }), { qos: 1 });
      await waitUntil(() => answers.includes('owner'), 5000, 'the owner\'s answer');
      assert.deepEqual(answers, ['owner']);
    } finally {
      await intruder.endAsync();
      await owner.endAsync();
    }

    const dp = await gw.dataPlaneUrl();
    assert.equal((await deviceRequest(dp, lamp, 'GET', '/things/lamp/shadow')).status, 200);
    const r = await deviceRequest(dp, fan, 'GET', '/things/lamp/shadow');
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-amzn-errortype'], 'ForbiddenException');
    assert.equal((JSON.parse(r.body) as { reason: string }).reason, 'NO_MATCHING_STATEMENT');
    const w = await deviceRequest(dp, fan, 'POST', '/things/lamp/shadow', '{"state":{"desired":{"on":false}}}');
    assert.equal(w.status, 403);
    // Acting as a thing its certificate is not attached to: refused before any decision.
    const other = await deviceRequest(dp, fan, 'GET', '/things/fan/shadow', undefined, { 'x-amzn-iot-thingname': 'lamp' });
    assert.equal(other.status, 403);
    assert.equal((JSON.parse(other.body) as { reason: string }).reason, 'THING_NOT_ATTACHED');
    // Every call is audited: the allowed read, the refused one with its reason, the refusal before any decision.
    const db = new Database(join(gw.dataDir, 'registry.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = (): { principal: string; decision: string; reason: string; status: number; resource: string }[] => db.prepare(
        "SELECT principal, decision, reason, status, resource FROM audit_log WHERE action = 'iot:GetThingShadow' AND principal LIKE '%:cert/%' ORDER BY id").all() as never;
      await waitUntil(() => rows().some((r) => r.reason === 'THING_NOT_ATTACHED'), 5000, 'the audit records');
      const fanArn = `${ARN}:cert/${fan.certificateId}`;
      assert.ok(rows().some((r) => r.principal === `${ARN}:cert/${lamp.certificateId}` && r.decision === 'allow' && r.status === 200 && r.resource === `${ARN}:thing/lamp`));
      assert.ok(rows().some((r) => r.principal === fanArn && r.decision === 'deny' && r.reason === 'NO_MATCHING_STATEMENT' && r.status === 403 && r.resource === `${ARN}:thing/lamp`));
      assert.ok(rows().some((r) => r.principal === fanArn && r.decision === 'deny' && r.reason === 'THING_NOT_ATTACHED' && r.status === 403));
    } finally {
      db.close();
    }
    // The lamp's shadow did not change.
    assert.deepEqual((JSON.parse((await deviceRequest(dp, lamp, 'GET', '/things/lamp/shadow')).body) as { state: { desired: unknown } }).state.desired, { on: true, level: 4 });
  });

  test('MQTT under a Greengrass device group: named shadow update, documents and rejected answers; another thing\'s topics refused', async () => {
    const gg = await gw.device('gg-node');
    const client = await connectDevice(gw.mqttUrl, gg);
    try {
      const got: { topic: string; body: Record<string, unknown> }[] = [];
      client.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
      const prefix = '$aws/things/gg-node/shadow/name/cfg/update';
      await client.subscribeAsync([`${prefix}/accepted`, `${prefix}/rejected`, `${prefix}/documents`, `${prefix}/delta`], { qos: 1 });
      await client.publishAsync(prefix, JSON.stringify({ state: { desired: { rate: 5 } }, clientToken: 'gg-1' }), { qos: 1 });
      await waitUntil(() => got.some((m) => m.topic.endsWith('/documents')) && got.some((m) => m.topic.endsWith('/delta')), 5000, 'the update\'s messages');
      const accepted = got.find((m) => m.topic === `${prefix}/accepted`)!.body;
      assert.deepEqual([accepted['version'], accepted['clientToken'], accepted['state']], [1, 'gg-1', { desired: { rate: 5 } }]);
      const documents = got.find((m) => m.topic === `${prefix}/documents`)!.body;
      assert.deepEqual((documents['current'] as { state: unknown }).state, { desired: { rate: 5 } });
      assert.equal('previous' in documents, false);
      assert.deepEqual(got.find((m) => m.topic === `${prefix}/delta`)!.body['state'], { rate: 5 });

      await client.publishAsync(prefix, '{"state": {"desired": ', { qos: 1 });
      await waitUntil(() => got.some((m) => m.topic === `${prefix}/rejected`), 5000, 'the rejection');
      const rejected = got.find((m) => m.topic === `${prefix}/rejected`)!.body;
      assert.deepEqual([rejected['code'], rejected['message']], [400, 'Invalid JSON']);
      await client.publishAsync(prefix, JSON.stringify({ state: { desired: { rate: 6 } }, version: 9, clientToken: 'gg-2' }), { qos: 1 });
      await waitUntil(() => got.some((m) => m.topic === `${prefix}/rejected` && m.body['clientToken'] === 'gg-2'), 5000, 'the version conflict');
      assert.deepEqual(got.find((m) => m.body['clientToken'] === 'gg-2')!.body['code'], 409);

      const refused = await client.subscribeAsync('$aws/things/lamp/shadow/update/accepted', { qos: 1 }).then(() => undefined, (e: Error & { packet?: { granted?: number[] } }) => e);
      assert.deepEqual(refused?.packet?.granted, [128]);
    } finally {
      await client.endAsync();
    }
    const named = json((await data.send(new GetThingShadowCommand({ thingName: 'gg-node', shadowName: 'cfg' }))).payload);
    assert.deepEqual([named['version'], named['state']], [1, { desired: { rate: 5 }, delta: { rate: 5 } }]);
  });

  test('shadows survive a restart of the gateway', async () => {
    const before = json((await data.send(new GetThingShadowCommand({ thingName: 'lamp' }))).payload);
    await gw.stop();
    data.destroy();
    gw = await GatewayProcess.launch(dir.path, gw.configPath, gw.dataDir);
    data = await dataClient();
    const after = json((await data.send(new GetThingShadowCommand({ thingName: 'lamp' }))).payload);
    assert.deepEqual(after['state'], before['state']);
    assert.deepEqual(after['metadata'], before['metadata']);
    assert.equal(after['version'], before['version']);
    assert.deepEqual((await data.send(new ListNamedShadowsForThingCommand({ thingName: 'lamp' }))).results, ['config']);
  });
});
