/**
 * Jobs on two gateways sharing one PostgreSQL registry, as real processes with real TLS:
 * a job created with the CLI on node 1's configuration (the shared registry) reaches a
 * device connected to node 2 on `jobs/notify-next` (the notification is carried by the
 * change feed and published by the node the device is on), and the device completes it
 * over MQTT (MQTT.js). Node 2's data plane serves the device by its certificate, and an
 * IAM principal of the shared control store (created through node 1) by SigV4, with the
 * official AWS SDK client.
 */
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { GetPendingJobExecutionsCommand, IoTJobsDataPlaneClient } from '@aws-sdk/client-iot-jobs-data-plane';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { JobService } from '../../src/api/data-plane/job-service.js';
import { PgRegistry } from '../../src/identity/pg-registry.js';
import { createLogger } from '../../src/observability/logger.js';
import { GatewayProcess, connectDevice, deviceHttps, runCli, type Device } from '../helpers/gateway.js';
import { sharedPostgres, type PostgresServer } from '../helpers/postgres.js';
import { clusterCa, sharedDevices, type ClusterCa, type SharedDevices } from '../helpers/cluster.js';
import { tempDir } from '../helpers/tmp-dir.js';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:${REGION}:${ACCOUNT}`;
const SELF = '${iot:Connection.Thing.ThingName}';
const SCHEMA = 'cluster_jobs_e2e';
const server = await sharedPostgres();
const skip = typeof server === 'string' ? server : false;

const config = (url: string, ca: ClusterCa, keyFile: string): string => `
${ca.yaml}gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${REGION}, accountId: "${ACCOUNT}" }
  api: { enabled: false }
  jobs: { enabled: true }
  dataPlane: { enabled: true }
  registry:
    url: "${url}"
    schema: ${SCHEMA}
    controlKeyFile: "${keyFile}"
`;

/** The device may use its own thing's jobs, on MQTT and HTTPS. */
const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${SELF}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/$aws/things/${SELF}/jobs/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/$aws/things/${SELF}/jobs/*` },
    { Effect: 'Allow', Action: ['iot:GetPendingJobExecutions', 'iot:DescribeJobExecution'], Resource: `${ARN}:thing/${SELF}` },
  ],
});

/** The client's next message on `topic` (rejects after 10 s: a lost notification fails the test, not the run). */
const messageOn = (c: MqttClient, topic: string): Promise<Buffer> => new Promise((resolve, reject) => {
  const timer = setTimeout(() => {
    c.off('message', on);
    reject(new Error(`no message on ${topic} within 10 s`));
  }, 10_000);
  function on(t: string, payload: Buffer): void {
    if (t !== topic) return;
    clearTimeout(timer);
    c.off('message', on);
    resolve(payload);
  }
  c.on('message', on);
});

describe('jobs on two gateways sharing a PostgreSQL registry', { skip }, () => {
  const pgServer = server as PostgresServer;
  const dirs: { path: string; cleanup: () => Promise<void> }[] = [];
  const nodes: GatewayProcess[] = [];
  const clients: MqttClient[] = [];
  let operator: PgRegistry;
  let devices: SharedDevices;
  let ca: ClusterCa;

  /** A device enrolled in the shared registry with the job policy attached, trusting the cluster's CA (every node's server certificate). */
  const enroll = async (name: string): Promise<Device> => {
    const d = await devices.enroll(name);
    await operator.attachPolicy('job-device', { kind: 'certificate', certificateId: d.certificateId });
    return d;
  };

  before(async () => {
    // Both nodes get the cluster's CA files and the control store's key file (node 1's, copied).
    for (let i = 0; i < 2; i++) dirs.push(await tempDir('gatehouse-e2e-cluster-jobs-'));
    ca = await clusterCa(dirs[0]!.path);
    const key = (i: number): string => join(dirs[i]!.path, 'control.key');
    nodes.push(await GatewayProcess.start(dirs[0]!.path, config(pgServer.url, ca, key(0)), [], { api: false }));
    await nodes[0]!.managementUrl();
    await copyFile(key(0), key(1));
    nodes.push(await GatewayProcess.start(dirs[1]!.path, config(pgServer.url, ca, key(1)), [], { api: false }));
    operator = await PgRegistry.open({ url: pgServer.url, schema: SCHEMA });
    devices = await sharedDevices(operator, ca.pem, 'CN=Cluster jobs device CA');
    await operator.createPolicy('job-device', DEVICE_POLICY);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await operator?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(dirs.map((d) => d.cleanup()));
  });

  test("a job created with the CLI on node 1's configuration reaches the device on node 2, which completes it", async () => {
    const device = await enroll('pump-7');
    const client = await connectDevice(nodes[1]!.mqttUrl, device);
    clients.push(client);
    await client.subscribeAsync([`$aws/things/pump-7/jobs/notify-next`, `$aws/things/pump-7/jobs/upgrade-1/update/accepted`], { qos: 1 });
    const notified = messageOn(client, '$aws/things/pump-7/jobs/notify-next');

    const r = await runCli(['jobs', 'create', 'upgrade-1', '--document', '{"op":"upgrade","to":"2.0"}', '--thing', 'pump-7',
      '--config', join(dirs[0]!.path, 'gatehouse.yaml'), '--data-dir', nodes[0]!.dataDir]);
    assert.equal(r.code, 0, r.stderr);

    // notify-next on node 2, published there from the shared change feed.
    const next = JSON.parse((await notified).toString()) as { execution: { jobId: string; status: string; jobDocument: unknown } };
    assert.deepEqual([next.execution.jobId, next.execution.status, next.execution.jobDocument], ['upgrade-1', 'QUEUED', { op: 'upgrade', to: '2.0' }]);

    // Node 2's data plane: the device, by its certificate, sees the pending job.
    const dp = await nodes[1]!.dataPlaneUrl();
    const pending = await deviceHttps(dp, device, 'GET', '/things/pump-7/jobs');
    assert.equal(pending.status, 200, pending.body);
    assert.deepEqual((JSON.parse(pending.body) as { queuedJobs: { jobId: string }[] }).queuedJobs.map((j) => j.jobId), ['upgrade-1']);

    // The device completes it over MQTT on node 2.
    const accepted = messageOn(client, '$aws/things/pump-7/jobs/upgrade-1/update/accepted');
    const nothingNext = messageOn(client, '$aws/things/pump-7/jobs/notify-next');
    await client.publishAsync('$aws/things/pump-7/jobs/upgrade-1/update', JSON.stringify({ status: 'SUCCEEDED', statusDetails: { by: 'pump-7' } }), { qos: 1 });
    assert.ok('timestamp' in (JSON.parse((await accepted).toString()) as Record<string, unknown>));
    // Nothing is pending any more: notify-next without an execution.
    assert.ok(!('execution' in (JSON.parse((await nothingNext).toString()) as Record<string, unknown>)));

    // Every node sees the result in the shared registry.
    const jobs = new JobService({ store: operator.jobs(), clock: () => new Date(), logger: createLogger('error'), deployment: () => ({ partition: 'aws', region: REGION, accountId: ACCOUNT }) });
    const view = await jobs.describeJob('upgrade-1');
    assert.deepEqual([view?.job.status, view?.executions.map((e) => [e.thingName, e.status, e.statusDetails])], ['COMPLETED', [['pump-7', 'SUCCEEDED', { by: 'pump-7' }]]]);
    const shown = await runCli(['jobs', 'show', 'upgrade-1', '--config', join(dirs[0]!.path, 'gatehouse.yaml'), '--data-dir', nodes[0]!.dataDir]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /COMPLETED/);
  });

  test("an IAM principal of the shared control store reads the jobs on the other node's data plane (SigV4, the AWS SDK)", async () => {
    const device = await enroll('pump-8');
    const r = await runCli(['jobs', 'create', 'upgrade-8', '--document', '{"op":"upgrade"}', '--thing', 'pump-8',
      '--config', join(dirs[0]!.path, 'gatehouse.yaml'), '--data-dir', nodes[0]!.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    // The administrator was created by node 1 (the first node with the management API);
    // node 2 knows it from the shared control store.
    const credentials = await nodes[0]!.adminCredentials();
    const endpoint = await nodes[1]!.dataPlaneUrl();
    const jobsClient = (creds: { accessKeyId: string; secretAccessKey: string }): IoTJobsDataPlaneClient =>
      new IoTJobsDataPlaneClient({ endpoint, region: REGION, credentials: creds, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: device.ca }) } });
    const client = jobsClient(credentials);
    const pending = await client.send(new GetPendingJobExecutionsCommand({ thingName: 'pump-8' }));
    assert.deepEqual(pending.queuedJobs?.map((j) => j.jobId), ['upgrade-8']);
    // A key the cluster does not know is refused on node 2 as on one gateway.
    const stranger = jobsClient({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'not-a-real-secret-key-at-all-000000000000' });
    await assert.rejects(stranger.send(new GetPendingJobExecutionsCommand({ thingName: 'pump-8' })), (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 403);
  });
});
