/**
 * The site without its uplink: a gateway with no cloud connection serves a device's
 * shadow and job while another device follows them, and both survive a restart.
 *
 * - the sensor (the AWS IoT Device SDK: `thingShadow`, then `jobs`, with its
 *   certificate) reports a temperature in its shadow and completes the job an operator
 *   queued for it;
 * - the panel (MQTT.js and HTTPS with its own certificate) follows the sensor's shadow
 *   documents and jobs notify-next over MQTT, and reads the shadow and the execution on
 *   the data-plane listener (its IoT policy allows exactly that);
 * - after a restart, `@aws-sdk/client-iot-data-plane` and
 *   `@aws-sdk/client-iot-jobs-data-plane` (SigV4) and the panel read the same shadow and
 *   execution back (and a shadow deleted long ago is pruned at the restart).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AttachPolicyCommand, CreateJobCommand, CreatePolicyCommand, IoTClient } from '@aws-sdk/client-iot';
import { GetThingShadowCommand, IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { DescribeJobExecutionCommand, IoTJobsDataPlaneClient } from '@aws-sdk/client-iot-jobs-data-plane';
import awsIot from 'aws-iot-device-sdk';
import Database from 'better-sqlite3';
import { GatewayProcess, connectDevice, deviceHttps, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:${REGION}:${ACCOUNT}`;
const SELF = '${iot:Connection.Thing.ThingName}';

const CONFIG = `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${REGION}, accountId: "${ACCOUNT}" }
  dataPlane: { enabled: true }
`;

/** The sensor uses its own shadow and jobs over MQTT. */
const SENSOR_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${SELF}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${ARN}:topic/$aws/things/${SELF}/shadow/*`, `${ARN}:topic/$aws/things/${SELF}/jobs/*`] },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${ARN}:topicfilter/$aws/things/${SELF}/shadow/*`, `${ARN}:topicfilter/$aws/things/${SELF}/jobs/*`] },
  ],
});

/** The panel follows the sensor: its shadow documents and notify-next over MQTT, its shadow and executions over HTTPS. */
const PANEL_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${SELF}` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${ARN}:topicfilter/$aws/things/sensor/shadow/update/documents`, `${ARN}:topicfilter/$aws/things/sensor/jobs/notify-next`] },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: [`${ARN}:topic/$aws/things/sensor/shadow/update/documents`, `${ARN}:topic/$aws/things/sensor/jobs/notify-next`] },
    { Effect: 'Allow', Action: ['iot:GetThingShadow', 'iot:DescribeJobExecution'], Resource: `${ARN}:thing/sensor` },
  ],
});

describe('offline: a device\'s shadow and job, followed by another device, survive a restart', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let caPem: string;
  let credentials: { accessKeyId: string; secretAccessKey: string };
  let sensor: Device;
  let panel: Device;

  before(async () => {
    dir = await tempDir('gatehouse-e2e-offline-');
    gw = await GatewayProcess.start(dir.path, CONFIG);
    credentials = await gw.adminCredentials();
    caPem = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    sensor = await gw.device('sensor');
    panel = await gw.device('panel');
    const iot = new IoTClient({ endpoint: await gw.managementUrl(), region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });
    try {
      await iot.send(new CreatePolicyCommand({ policyName: 'sensor', policyDocument: SENSOR_POLICY }));
      await iot.send(new CreatePolicyCommand({ policyName: 'panel', policyDocument: PANEL_POLICY }));
      await iot.send(new AttachPolicyCommand({ policyName: 'sensor', target: `${ARN}:cert/${sensor.certificateId}` }));
      await iot.send(new AttachPolicyCommand({ policyName: 'panel', target: `${ARN}:cert/${panel.certificateId}` }));
      // The operator queues a job for the sensor (what a cloud would have sent before the uplink went).
      await iot.send(new CreateJobCommand({ jobId: 'calibrate', targets: [`${ARN}:thing/sensor`], document: JSON.stringify({ operation: 'calibrate', offset: 0.5 }) }));
    } finally {
      iot.destroy();
    }
    await waitUntil(async () => (await deviceHttps(await gw.dataPlaneUrl(), panel, 'GET', '/things/sensor/jobs/calibrate')).status === 200, 10_000, 'the panel policy to apply');
  });
  after(async () => {
    await gw.stop();
    await dir.cleanup();
  });

  test('the sensor reports and completes its job while the panel follows; after a restart, the data-plane SDKs and the panel read both back', async () => {
    const port = Number(new URL(gw.mqttUrl).port);
    const panelMqtt = await connectDevice(gw.mqttUrl, panel);
    const seen: { topic: string; body: Record<string, unknown> }[] = [];
    panelMqtt.on('message', (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
    try {
      const granted = await panelMqtt.subscribeAsync(['$aws/things/sensor/shadow/update/documents', '$aws/things/sensor/jobs/notify-next'], { qos: 1 });
      assert.deepEqual(granted.map((g) => g.qos), [1, 1]);

      // The sensor reports its temperature (Device SDK thingShadow).
      const shadows = new awsIot.thingShadow({
        host: '127.0.0.1', port, clientId: 'sensor', protocol: 'mqtts', caCert: sensor.ca, clientCert: sensor.cert, privateKey: sensor.key,
        enableMetrics: false, operationTimeout: 5000, offlineQueueing: false,
      });
      try {
        await once(shadows, 'connect');
        await new Promise<void>((resolve, reject) => shadows.register('sensor', {}, (err, failed) => (err !== undefined && err !== null ? reject(err) : failed !== undefined && failed !== null ? reject(new Error(`subscriptions refused: ${JSON.stringify(failed)}`)) : resolve())));
        const token = shadows.update('sensor', { state: { reported: { temperature: 21.5 } } });
        const [, status, , doc] = await waitForEvent<[string, string, string, Record<string, unknown>]>(shadows, 'status', (_n, _s, t) => t === token);
        assert.deepEqual([status, doc['version']], ['accepted', 1]);
      } finally {
        shadows.end(true);
      }
      // The panel saw the document change live.
      await waitUntil(() => seen.some((m) => m.topic.endsWith('/update/documents')), 5000, 'the shadow documents message');
      const documents = seen.find((m) => m.topic.endsWith('/update/documents'))!.body;
      assert.deepEqual((documents['current'] as { state: unknown }).state, { reported: { temperature: 21.5 } });

      // The sensor takes and completes its job (Device SDK jobs).
      const jobsClient = new awsIot.jobs({
        host: '127.0.0.1', port, clientId: 'sensor', protocol: 'mqtts', caCert: sensor.ca, clientCert: sensor.cert, privateKey: sensor.key, enableMetrics: false, offlineQueueing: false,
      });
      try {
        await once(jobsClient, 'connect');
        const received = new Promise<import('aws-iot-device-sdk').Job>((resolve, reject) => jobsClient.subscribeToJobs('sensor', 'calibrate', (err, job) => (err ? reject(err) : job !== null ? resolve(job) : undefined)));
        await new Promise<void>((resolve, reject) => setImmediate(() => jobsClient.startJobNotifications('sensor', (err) => (err ? reject(err) : resolve()))));
        const job = await received;
        assert.deepEqual([job.id, job.document], ['calibrate', { operation: 'calibrate', offset: 0.5 }]);
        await new Promise<void>((resolve, reject) => job.inProgress({ step: 'measuring' }, (err) => (err ? reject(err) : resolve())));
        await new Promise<void>((resolve, reject) => job.succeeded({ step: 'done' }, (err) => (err ? reject(err) : resolve())));
        // The panel heard that nothing is next for the sensor (the SDK's callback fires on sending, so wait here).
        await waitUntil(() => seen.some((m) => m.topic.endsWith('/notify-next') && !('execution' in m.body)), 5000, 'notify-next without an execution');
      } finally {
        jobsClient.end(true);
      }
      // And reads both over HTTPS.
      const dp = await gw.dataPlaneUrl();
      assert.equal((JSON.parse((await deviceHttps(dp, panel, 'GET', '/things/sensor/jobs/calibrate')).body) as { execution: { status: string } }).execution.status, 'SUCCEEDED');
      const shadowRead = JSON.parse((await deviceHttps(dp, panel, 'GET', '/things/sensor/shadow')).body) as { state: { reported: unknown }; version: number };
      assert.deepEqual([shadowRead.state.reported, shadowRead.version], [{ temperature: 21.5 }, 1]);
    } finally {
      await panelMqtt.endAsync();
    }

    await gw.stop();
    // A shadow deleted three days ago (its row no longer matters after 48 hours) is pruned when the gateway starts.
    const db = new Database(join(gw.dataDir, 'registry.db'), { fileMustExist: true });
    const old = Date.now() - 72 * 3600_000;
    db.prepare(`INSERT INTO shadows (thing_name, shadow_name, version, document, updated_at, deleted_at) VALUES ('panel', 'gone', 4, NULL, ?, ?)`).run(old, old);
    db.close();
    gw = await GatewayProcess.launch(dir.path, gw.configPath, gw.dataDir);
    await gw.waitForLog((l) => l.includes('deleted-shadows-pruned'), 10_000);
    const check = new Database(join(gw.dataDir, 'registry.db'), { readonly: true, fileMustExist: true });
    try {
      assert.deepEqual(check.prepare(`SELECT count(*) AS n FROM shadows WHERE thing_name = 'panel'`).get(), { n: 0 });
    } finally {
      check.close();
    }

    const agent = { httpsAgent: new Agent({ ca: caPem }) };
    const endpoint = await gw.dataPlaneUrl();
    const data = new IoTDataPlaneClient({ endpoint, region: REGION, credentials, maxAttempts: 1, requestHandler: agent });
    const jobs = new IoTJobsDataPlaneClient({ endpoint, region: REGION, credentials, maxAttempts: 1, requestHandler: agent });
    try {
      const shadow = JSON.parse(new TextDecoder().decode((await data.send(new GetThingShadowCommand({ thingName: 'sensor' }))).payload)) as { state: { reported: unknown }; version: number };
      assert.deepEqual([shadow.state.reported, shadow.version], [{ temperature: 21.5 }, 1]);
      const execution = (await jobs.send(new DescribeJobExecutionCommand({ thingName: 'sensor', jobId: 'calibrate' }))).execution;
      assert.deepEqual([execution?.status, execution?.statusDetails, execution?.versionNumber], ['SUCCEEDED', { step: 'done' }, 3]);
    } finally {
      data.destroy();
      jobs.destroy();
    }
    // The panel, too.
    const after = JSON.parse((await deviceHttps(endpoint, panel, 'GET', '/things/sensor/jobs/calibrate')).body) as { execution: { status: string } };
    assert.equal(after.execution.status, 'SUCCEEDED');
    const shadowAfter = JSON.parse((await deviceHttps(endpoint, panel, 'GET', '/things/sensor/shadow')).body) as { state: { reported: unknown } };
    assert.deepEqual(shadowAfter.state.reported, { temperature: 21.5 });
  });
});
