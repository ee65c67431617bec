/**
 * Retained messages on a running gateway, with clients written elsewhere:
 * `@aws-sdk/client-iot-data-plane` (GetRetainedMessage, ListRetainedMessages, Publish;
 * SigV4 with control-plane credentials), MQTT.js and mosquitto_pub with device
 * certificates, Node's HTTPS client with a device certificate; limits, deletes by empty
 * payload, and a restart that keeps them.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AttachPolicyCommand, CreatePolicyCommand, IoTClient } from '@aws-sdk/client-iot';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  ForbiddenException, GetRetainedMessageCommand, InvalidRequestException, IoTDataPlaneClient, ListRetainedMessagesCommand, PublishCommand,
  RequestEntityTooLargeException, ResourceNotFoundException,
} from '@aws-sdk/client-iot-data-plane';
import type { MqttClient } from 'mqtt';
import { GatewayProcess, connectDevice, runCli, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { nextMessage, waitUntil } from '../helpers/wait.js';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:${REGION}:${ACCOUNT}`;
const SELF = '${iot:Connection.Thing.ThingName}';
const hasMosquitto = spawnSync('mosquitto_pub', ['--help'], { encoding: 'utf8' }).error === undefined;
const skipMosquitto = !hasMosquitto && !process.env['CI'] ? 'mosquitto_pub not installed (apt-get install mosquitto-clients)' : false;

const MAX_PAYLOAD = 1024;
const MAX_MESSAGES = 6;

const CONFIG = `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${REGION}, accountId: "${ACCOUNT}" }
  dataPlane: { enabled: true }
  retained: { maxPayloadBytes: ${MAX_PAYLOAD}, maxMessages: ${MAX_MESSAGES}, maxTotalBytes: 65536 }
`;

/**
 * Each device publishes (and retains) on its own `status/THING/…` topics and reads their
 * retained messages over HTTPS; it may subscribe to and receive every `status/…` topic.
 * A thing named `noretain-*` may publish but not retain.
 */
const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${SELF}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:GetRetainedMessage'], Resource: `${ARN}:topic/status/${SELF}/*` },
    { Effect: 'Allow', Action: 'iot:RetainPublish', Resource: `${ARN}:topic/status/${SELF}/*` },
    { Effect: 'Deny', Action: 'iot:RetainPublish', Resource: `${ARN}:topic/status/noretain-*` },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/status/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/status/*` },
  ],
});

interface HttpAnswer { readonly status: number; readonly headers: Record<string, string | string[] | undefined>; readonly body: string }

function deviceRequest(url: string, device: Device, method: string, path: string, body?: string): Promise<HttpAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: u.hostname, port: Number(u.port), method, path, ca: device.ca, key: device.key, cert: device.cert, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 15_000 }, (e, stdout, stderr) => resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr }));
  });
}

const text = (p: Uint8Array | undefined): string => Buffer.from(p ?? []).toString('utf8');

describe('retained messages on a running gateway', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let iot: IoTClient;
  let iam: IAMClient;
  let data: IoTDataPlaneClient;
  let caPem: string;
  let credentials: { accessKeyId: string; secretAccessKey: string };
  let lamp: Device;
  let fan: Device;

  const dataClient = async (creds = credentials): Promise<IoTDataPlaneClient> =>
    new IoTDataPlaneClient({ endpoint: await gw.dataPlaneUrl(), region: REGION, credentials: creds, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });
  const getText = async (topic: string): Promise<string> => text((await data.send(new GetRetainedMessageCommand({ topic }))).payload);
  const absent = (topic: string): Promise<void> => assert.rejects(data.send(new GetRetainedMessageCommand({ topic })), (e: Error) => {
    assert.ok(e instanceof ResourceNotFoundException, e.name);
    return true;
  });
  const mosquittoArgs = (d: Device): string[] => ['-h', 'localhost', '-p', new URL(gw.mqttUrl).port, '--cafile', d.caPath, '--cert', d.certPath, '--key', d.keyPath, '-i', d.name, '-V', 'mqttv311'];
  /** A new subscriber's retained delivery on `filter` (MQTT.js), then it disconnects. */
  const retainedFor = async (d: Device, filter: string, topic: string): Promise<{ payload: string; retain: boolean }> => {
    const c = await connectDevice(gw.mqttUrl, d);
    try {
      const m = nextMessage(c, (x) => x.topic === topic);
      await c.subscribeAsync(filter, { qos: 1 });
      return await m;
    } finally {
      await c.endAsync();
    }
  };

  before(async () => {
    dir = await tempDir('gatehouse-e2e-retained-');
    gw = await GatewayProcess.start(dir.path, CONFIG);
    credentials = await gw.adminCredentials();
    caPem = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    const common = { endpoint: await gw.managementUrl(), region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } };
    iot = new IoTClient(common);
    iam = new IAMClient(common);
    data = await dataClient();
    lamp = await gw.device('lamp');
    fan = await gw.device('fan');
    await iot.send(new CreatePolicyCommand({ policyName: 'retainer', policyDocument: DEVICE_POLICY }));
    for (const d of [lamp, fan]) await iot.send(new AttachPolicyCommand({ policyName: 'retainer', target: `${ARN}:cert/${d.certificateId}` }));
    await waitUntil(async () => (await deviceRequest(await gw.dataPlaneUrl(), lamp, 'GET', `/retainedMessage/${encodeURIComponent('status/lamp/x')}`)).status === 404, 10_000, 'the device policy to apply');
  });
  after(async () => {
    iot.destroy();
    iam.destroy();
    data.destroy();
    await gw.stop();
    await dir.cleanup();
  });

  test('client-iot-data-plane: Publish with retain reaches a live MQTT subscriber and is kept; Get and List (paginated) read it', async () => {
    const live = await connectDevice(gw.mqttUrl, fan);
    try {
      await live.subscribeAsync('status/#', { qos: 1 });
      const got = nextMessage(live, (m) => m.topic === 'status/lamp/power');
      await data.send(new PublishCommand({ topic: 'status/lamp/power', qos: 1, retain: true, payload: Buffer.from('on') }));
      const m = await got;
      assert.deepEqual([m.payload, m.retain], ['on', false], 'a live subscriber gets the message as a normal one');
    } finally {
      await live.endAsync();
    }
    // A new subscriber receives it as retained.
    assert.deepEqual(await retainedFor(fan, 'status/#', 'status/lamp/power'), { topic: 'status/lamp/power', payload: 'on', retain: true });

    const r = await data.send(new GetRetainedMessageCommand({ topic: 'status/lamp/power' }));
    assert.equal(r.topic, 'status/lamp/power');
    assert.equal(text(r.payload), 'on');
    assert.equal(r.qos, 1);
    assert.ok(typeof r.lastModifiedTime === 'number' && Math.abs(r.lastModifiedTime - Date.now()) < 60_000, String(r.lastModifiedTime));

    await data.send(new PublishCommand({ topic: 'status/lamp/level', qos: 0, retain: true, payload: Buffer.from('42') }));
    await data.send(new PublishCommand({ topic: 'status/lamp/unretained', qos: 0, payload: Buffer.from('gone') }));
    const first = await data.send(new ListRetainedMessagesCommand({ maxResults: 1 }));
    assert.deepEqual(first.retainedTopics?.map((t) => [t.topic, t.payloadSize, t.qos]), [['status/lamp/level', 2, 0]]);
    assert.ok(first.nextToken !== undefined);
    const second = await data.send(new ListRetainedMessagesCommand({ maxResults: 1, nextToken: first.nextToken }));
    assert.deepEqual(second.retainedTopics?.map((t) => t.topic), ['status/lamp/power']);
    assert.equal(second.nextToken, undefined);
    assert.deepEqual((await data.send(new ListRetainedMessagesCommand({}))).retainedTopics?.map((t) => t.topic), ['status/lamp/level', 'status/lamp/power']);
    await assert.rejects(data.send(new ListRetainedMessagesCommand({ nextToken: '!!' })), InvalidRequestException);
    await absent('status/lamp/unretained');

    // An empty payload with retain deletes (and is not kept).
    await data.send(new PublishCommand({ topic: 'status/lamp/level', retain: true, payload: Buffer.alloc(0) }));
    await absent('status/lamp/level');
  });

  test('mosquitto_pub -r retains over MQTT, readable over HTTPS; -r -n deletes', { skip: skipMosquitto }, async () => {
    const pub = await run('mosquitto_pub', [...mosquittoArgs(lamp), '-t', 'status/lamp/mode', '-m', 'eco', '-q', '1', '-r']);
    assert.equal(pub.code, 0, pub.stderr);
    await waitUntil(async () => (await data.send(new ListRetainedMessagesCommand({}))).retainedTopics?.some((t) => t.topic === 'status/lamp/mode') === true, 5000, 'the retained message');
    assert.equal(await getText('status/lamp/mode'), 'eco');
    // The device reads its own retained message with its certificate.
    const own = await deviceRequest(await gw.dataPlaneUrl(), lamp, 'GET', `/retainedMessage/${encodeURIComponent('status/lamp/mode')}`);
    assert.equal(own.status, 200, own.body);
    const body = JSON.parse(own.body) as { topic: string; payload: string; qos: number };
    assert.deepEqual([body.topic, Buffer.from(body.payload, 'base64').toString(), body.qos], ['status/lamp/mode', 'eco', 1]);

    const del = await run('mosquitto_pub', [...mosquittoArgs(lamp), '-t', 'status/lamp/mode', '-n', '-q', '1', '-r']);
    assert.equal(del.code, 0, del.stderr);
    await waitUntil(() => data.send(new GetRetainedMessageCommand({ topic: 'status/lamp/mode' })).then(() => false, (e: Error) => e instanceof ResourceNotFoundException), 5000, 'the delete');
  });

  test('refusals: no permission (403 ForbiddenException, AWS shape), retain without iot:RetainPublish, another device\'s topic', async () => {
    await data.send(new PublishCommand({ topic: 'status/lamp/secret', retain: true, payload: Buffer.from('s') }));
    await iam.send(new CreateUserCommand({ UserName: 'reader-none' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'reader-none' }))).AccessKey!;
    const denied = await dataClient({ accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
    try {
      await assert.rejects(denied.send(new GetRetainedMessageCommand({ topic: 'status/lamp/secret' })), (e: Error) => {
        assert.ok(e instanceof ForbiddenException, e.name);
        assert.equal(e.$metadata.httpStatusCode, 403);
        assert.match(e.message, /not authorized to perform: iot:GetRetainedMessage on resource: arn:aws:iot:eu-west-1:123456789012:topic\/status\/lamp\/secret/);
        return true;
      });
      await assert.rejects(denied.send(new ListRetainedMessagesCommand({})), (e: Error) => e instanceof ForbiddenException && /iot:ListRetainedMessages on resource: \*/.test(e.message));
      await assert.rejects(denied.send(new PublishCommand({ topic: 'status/lamp/secret', retain: true, payload: Buffer.from('x') })), ForbiddenException);
    } finally {
      denied.destroy();
    }
    assert.equal(await getText('status/lamp/secret'), 's');

    const dp = await gw.dataPlaneUrl();
    // fan may not read lamp's topics…
    const other = await deviceRequest(dp, fan, 'GET', `/retainedMessage/${encodeURIComponent('status/lamp/secret')}`);
    assert.equal(other.status, 403);
    assert.equal(other.headers['x-amzn-errortype'], 'ForbiddenException');
    assert.equal((JSON.parse(other.body) as { reason: string }).reason, 'NO_MATCHING_STATEMENT');
    // …nor list (no iot:ListRetainedMessages).
    assert.equal((await deviceRequest(dp, fan, 'GET', '/retainedMessage')).status, 403);
    // A device without iot:RetainPublish may publish but not retain, over HTTPS and MQTT.
    const nr = await gw.device('noretain-1');
    await iot.send(new AttachPolicyCommand({ policyName: 'retainer', target: `${ARN}:cert/${nr.certificateId}` }));
    const topic = 'status/noretain-1/t';
    await waitUntil(async () => (await deviceRequest(dp, nr, 'POST', `/topics/${encodeURIComponent(topic)}?qos=1`, 'plain')).status === 200, 10_000, 'the policy of noretain-1');
    const refused = await deviceRequest(dp, nr, 'POST', `/topics/${encodeURIComponent(topic)}?qos=1&retain=true`, 'kept?');
    assert.equal(refused.status, 403);
    assert.equal((JSON.parse(refused.body) as { reason: string }).reason, 'DENIED_BY_STATEMENT');
    const c = await connectDevice(gw.mqttUrl, nr);
    try {
      await c.publishAsync(topic, 'kept?', { qos: 1, retain: true });
    } finally {
      await c.endAsync();
    }
    await absent(topic);
  });

  test('limits fail closed: an oversize or over-count retained publish is refused (MQTT: as a denied publish; HTTPS: 413 / 403)', async () => {
    const live = await connectDevice(gw.mqttUrl, fan);
    const sender: MqttClient = await connectDevice(gw.mqttUrl, lamp);
    try {
      await live.subscribeAsync('status/#', { qos: 1 });
      const got: string[] = [];
      live.on('message', (t) => got.push(t));
      // Over maxPayloadBytes on MQTT: PUBACK as for any denied publish, not delivered, not kept.
      const mark = gw.lines.length;
      await sender.publishAsync('status/lamp/big', Buffer.alloc(MAX_PAYLOAD + 1, 0x61), { qos: 1, retain: true });
      const log = await gw.waitForLog((l) => l.includes('RETAINED_PAYLOAD_TOO_LARGE'), 5000, mark);
      assert.match(log, /status\/lamp\/big/);
      // A later message on the same path arrives; the refused one did not before it.
      const marker = nextMessage(live, (m) => m.topic === 'status/lamp/marker');
      await sender.publishAsync('status/lamp/marker', 'm', { qos: 1 });
      await marker;
      assert.deepEqual(got.filter((t) => t === 'status/lamp/big'), []);
      await absent('status/lamp/big');
      // Exactly at the limit is kept.
      await sender.publishAsync('status/lamp/edge', Buffer.alloc(MAX_PAYLOAD, 0x62), { qos: 1, retain: true });
      await waitUntil(() => getText('status/lamp/edge').then((t) => t.length === MAX_PAYLOAD, () => false), 5000, 'the message at the limit');

      // Over HTTPS: 413 RequestEntityTooLargeException.
      await assert.rejects(data.send(new PublishCommand({ topic: 'status/lamp/big', retain: true, payload: Buffer.alloc(MAX_PAYLOAD + 1) })), (e: Error) => {
        assert.ok(e instanceof RequestEntityTooLargeException, e.name);
        return true;
      });

      // Fill the store to maxMessages; one more new topic is refused, replacing an existing one is not.
      let n = (await data.send(new ListRetainedMessagesCommand({ maxResults: 200 }))).retainedTopics?.length ?? 0;
      for (; n < MAX_MESSAGES; n++) await data.send(new PublishCommand({ topic: `status/lamp/fill-${n}`, retain: true, payload: Buffer.from('f') }));
      await assert.rejects(data.send(new PublishCommand({ topic: 'status/lamp/one-more', retain: true, payload: Buffer.from('x') })), (e: Error) => {
        assert.ok(e instanceof ForbiddenException, e.name);
        assert.match(e.message, /at most 6 retained messages/);
        return true;
      });
      const mark2 = gw.lines.length;
      await sender.publishAsync('status/lamp/one-more', 'x', { qos: 1, retain: true });
      await gw.waitForLog((l) => l.includes('RETAINED_STORE_FULL'), 5000, mark2);
      await absent('status/lamp/one-more');
      await data.send(new PublishCommand({ topic: 'status/lamp/edge', retain: true, payload: Buffer.from('small') }));
      assert.equal(await getText('status/lamp/edge'), 'small');
      // Deleting frees a place.
      await sender.publishAsync('status/lamp/edge', Buffer.alloc(0), { qos: 1, retain: true });
      await waitUntil(() => data.send(new GetRetainedMessageCommand({ topic: 'status/lamp/edge' })).then(() => false, () => true), 5000, 'the delete');
      await sender.publishAsync('status/lamp/one-more', 'x', { qos: 1, retain: true });
      await waitUntil(() => getText('status/lamp/one-more').then((t) => t === 'x', () => false), 5000, 'the freed place');
    } finally {
      await live.endAsync();
      await sender.endAsync();
    }
  });

  test('a retained message published before a restart is delivered to a new subscriber after it and readable over HTTPS', async () => {
    const c = await connectDevice(gw.mqttUrl, lamp);
    try {
      await c.publishAsync('status/lamp/power', 'before-restart', { qos: 1, retain: true });
    } finally {
      await c.endAsync();
    }
    await waitUntil(() => getText('status/lamp/power').then((t) => t === 'before-restart', () => false), 5000, 'the retained message');
    await gw.stop();
    data.destroy();
    gw = await GatewayProcess.launch(dir.path, gw.configPath, gw.dataDir);
    data = await dataClient();
    assert.deepEqual(await retainedFor(fan, 'status/lamp/power', 'status/lamp/power'), { topic: 'status/lamp/power', payload: 'before-restart', retain: true });
    assert.equal(await getText('status/lamp/power'), 'before-restart');
    // The counts were reloaded too: the store is still full for a new topic.
    await assert.rejects(data.send(new PublishCommand({ topic: 'status/lamp/after', retain: true, payload: Buffer.from('x') })), ForbiddenException);
  });

  test('operator view: gatehouse retained list|show|delete, locally and through the management API; a delete reaches the running broker', async () => {
    const caFile = join(dir.path, 'ca-bundle.pem');
    await writeFile(caFile, caPem);
    const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_ACCESS_KEY_ID: credentials.accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: credentials.secretAccessKey, GATEHOUSE_CA_BUNDLE: caFile, GATEHOUSE_REGION: REGION };
    delete env['GATEHOUSE_ENDPOINT'];
    delete env['GATEHOUSE_PROFILE'];
    const remote = async (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => runCli(['--endpoint', await gw.managementUrl(), ...args], { env });

    const local = await gw.cli(['retained', 'list', '--json']);
    assert.equal(local.code, 0, local.stderr);
    const localTopics = (JSON.parse(local.stdout) as { retainedMessages: { topic: string }[] }).retainedMessages.map((m) => m.topic);
    assert.ok(localTopics.includes('status/lamp/secret'), local.stdout);

    const page = await remote(['retained', 'list', '--json', '--max-results', '2']);
    assert.equal(page.code, 0, page.stderr);
    const first = JSON.parse(page.stdout) as { retainedMessages: { topic: string }[]; nextToken?: string };
    assert.equal(first.retainedMessages.length, 2);
    assert.ok(first.nextToken !== undefined);
    const rest = JSON.parse((await remote(['retained', 'list', '--json', '--next-token', first.nextToken])).stdout) as { retainedMessages: { topic: string }[] };
    assert.deepEqual([...first.retainedMessages, ...rest.retainedMessages].map((m) => m.topic), localTopics);

    const shown = await remote(['retained', 'show', 'status/lamp/secret']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /payload: {2}s$/m);

    const del = await remote(['retained', 'delete', 'status/lamp/secret']);
    assert.equal(del.code, 0, del.stderr);
    await absent('status/lamp/secret');
    // The running broker no longer has it: a new subscriber gets only the live marker.
    const c = await connectDevice(gw.mqttUrl, fan);
    try {
      const got: { payload: string; retain: boolean }[] = [];
      c.on('message', (_t, p, packet) => got.push({ payload: p.toString(), retain: packet.retain }));
      await c.subscribeAsync('status/lamp/secret', { qos: 1 });
      const marker = nextMessage(c, (m) => m.payload === 'marker');
      await data.send(new PublishCommand({ topic: 'status/lamp/secret', qos: 1, payload: Buffer.from('marker') }));
      await marker;
      assert.deepEqual(got, [{ payload: 'marker', retain: false }]);
    } finally {
      await c.endAsync();
    }
    const again = await remote(['retained', 'delete', 'status/lamp/secret']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /REMOTE_NOT_FOUND|RETAINED_NOT_FOUND/);
    const missing = await gw.cli(['retained', 'show', 'status/lamp/secret']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /RETAINED_NOT_FOUND/);
  });
});
