/**
 * Jobs on a running gateway, with clients written elsewhere: `@aws-sdk/client-iot` for
 * the operators' job operations (SigV4), `@aws-sdk/client-iot-jobs-data-plane` on the
 * data-plane listener (SigV4, signing name iot-jobs-data), the AWS IoT Device SDK's
 * `jobs` class over MQTT with a device certificate, MQTT.js and HTTPS with device
 * certificates for the refusals; timeouts applied by the gateway's sweeper; operators'
 * cancel, delete and update of executions and jobs; continuous jobs following a thing
 * group; and a restart that keeps the executions (and times out what fell due meanwhile).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AttachUserPolicyCommand, CreateAccessKeyCommand, CreatePolicyCommand as CreateIamPolicyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  AddThingToThingGroupCommand, AttachPolicyCommand, CancelJobCommand, CancelJobExecutionCommand, CreateJobCommand, CreatePolicyCommand, CreateThingGroupCommand, DeleteJobCommand,
  DeleteJobExecutionCommand, DescribeJobCommand, DescribeJobExecutionCommand as DescribeExecutionAdmin, GetJobDocumentCommand, IoTClient, ListJobExecutionsForJobCommand, ListJobsCommand,
  InvalidRequestException as IotInvalidRequest, InvalidStateTransitionException as IotInvalidState, RemoveThingFromThingGroupCommand, ResourceAlreadyExistsException,
  ResourceNotFoundException as IotNotFound, UpdateJobCommand, VersionConflictException,
} from '@aws-sdk/client-iot';
import {
  DescribeJobExecutionCommand, GetPendingJobExecutionsCommand, InvalidRequestException, InvalidStateTransitionException, IoTJobsDataPlaneClient,
  ResourceNotFoundException, StartNextPendingJobExecutionCommand, UpdateJobExecutionCommand,
} from '@aws-sdk/client-iot-jobs-data-plane';
import awsIot from 'aws-iot-device-sdk';
import { GatewayProcess, connectDevice, deviceHttps, runCli, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

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

/** Each device may use its own thing's jobs, on MQTT and HTTPS, and nothing else. */
const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${SELF}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/$aws/things/${SELF}/jobs/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/$aws/things/${SELF}/jobs/*` },
    { Effect: 'Allow', Action: ['iot:GetPendingJobExecutions', 'iot:StartNextPendingJobExecution', 'iot:DescribeJobExecution', 'iot:UpdateJobExecution'], Resource: `${ARN}:thing/${SELF}` },
  ],
});

describe('jobs on a running gateway', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let iot: IoTClient;
  let jobs: IoTJobsDataPlaneClient;
  let caPem: string;
  let lamp: Device;
  let fan: Device;
  let credentials: { accessKeyId: string; secretAccessKey: string };

  const jobsClient = async (): Promise<IoTJobsDataPlaneClient> =>
    new IoTJobsDataPlaneClient({ endpoint: await gw.dataPlaneUrl(), region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });

  before(async () => {
    dir = await tempDir('gatehouse-e2e-jobs-');
    gw = await GatewayProcess.start(dir.path, CONFIG);
    credentials = await gw.adminCredentials();
    caPem = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    iot = new IoTClient({ endpoint: await gw.managementUrl(), region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });
    jobs = await jobsClient();
    lamp = await gw.device('lamp');
    fan = await gw.device('fan');
    await iot.send(new CreatePolicyCommand({ policyName: 'job-device', policyDocument: DEVICE_POLICY }));
    for (const d of [lamp, fan]) await iot.send(new AttachPolicyCommand({ policyName: 'job-device', target: `${ARN}:cert/${d.certificateId}` }));
    await iot.send(new CreateThingGroupCommand({ thingGroupName: 'fans' }));
    await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'fans', thingName: 'fan' }));
    await waitUntil(async () => (await deviceHttps(await gw.dataPlaneUrl(), lamp, 'GET', '/things/lamp/jobs')).status === 200, 10_000, 'the device policy to apply');
  });
  after(async () => {
    iot.destroy();
    jobs.destroy();
    await gw.stop();
    await dir.cleanup();
  });

  test('client-iot: create a job for a thing and a thing group, describe, list, document; a second create is refused', async () => {
    const created = await iot.send(new CreateJobCommand({
      jobId: 'firmware-1', targets: [`${ARN}:thing/lamp`, `${ARN}:thinggroup/fans`], document: JSON.stringify({ operation: 'update', version: '2.0' }),
      description: 'new firmware', timeoutConfig: { inProgressTimeoutInMinutes: 60 },
    }));
    assert.equal(created.jobArn, `${ARN}:job/firmware-1`);
    assert.equal(created.jobId, 'firmware-1');
    const { job } = await iot.send(new DescribeJobCommand({ jobId: 'firmware-1' }));
    assert.equal(job?.status, 'IN_PROGRESS');
    assert.equal(job?.targetSelection, 'SNAPSHOT');
    assert.deepEqual(job?.targets, [`${ARN}:thing/lamp`, `${ARN}:thinggroup/fans`]);
    assert.equal(job?.jobProcessDetails?.numberOfQueuedThings, 2);
    assert.equal(job?.timeoutConfig?.inProgressTimeoutInMinutes, 60);
    assert.ok(job?.createdAt instanceof Date);
    assert.deepEqual(JSON.parse((await iot.send(new GetJobDocumentCommand({ jobId: 'firmware-1' }))).document!), { operation: 'update', version: '2.0' });
    assert.deepEqual((await iot.send(new ListJobsCommand({}))).jobs?.map((j) => j.jobId), ['firmware-1']);
    const executions = await iot.send(new ListJobExecutionsForJobCommand({ jobId: 'firmware-1' }));
    assert.deepEqual(executions.executionSummaries?.map((e) => [e.thingArn, e.jobExecutionSummary?.status]), [[`${ARN}:thing/fan`, 'QUEUED'], [`${ARN}:thing/lamp`, 'QUEUED']]);
    await assert.rejects(iot.send(new CreateJobCommand({ jobId: 'firmware-1', targets: [`${ARN}:thing/lamp`], document: '{}' })), ResourceAlreadyExistsException);
    await assert.rejects(iot.send(new CreateJobCommand({ jobId: 'nobody', targets: [`${ARN}:thing/ghost`], document: '{}' })), IotNotFound);
    await assert.rejects(iot.send(new CreateJobCommand({ jobId: 'bad-doc', targets: [`${ARN}:thing/lamp`], document: '[1]' })), IotInvalidRequest);
  });

  test('client-iot-jobs-data-plane (SigV4): pending, start next, describe, update with expectedVersion; version mismatch and terminal state refused', async () => {
    const pending = await jobs.send(new GetPendingJobExecutionsCommand({ thingName: 'lamp' }));
    assert.deepEqual(pending.queuedJobs?.map((j) => [j.jobId, j.versionNumber, j.executionNumber]), [['firmware-1', 1, 1]]);
    assert.deepEqual(pending.inProgressJobs, []);
    const started = await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: 'lamp', statusDetails: { step: 'download' }, stepTimeoutInMinutes: 30 }));
    assert.equal(started.execution?.jobId, 'firmware-1');
    assert.equal(started.execution?.status, 'IN_PROGRESS');
    assert.equal(started.execution?.versionNumber, 2);
    assert.deepEqual(started.execution?.statusDetails, { step: 'download' });
    assert.deepEqual(JSON.parse(started.execution?.jobDocument ?? ''), { operation: 'update', version: '2.0' });
    assert.ok((started.execution?.approximateSecondsBeforeTimedOut ?? 0) > 1700);
    const described = await jobs.send(new DescribeJobExecutionCommand({ thingName: 'lamp', jobId: 'firmware-1', includeJobDocument: false }));
    assert.equal(described.execution?.status, 'IN_PROGRESS');
    assert.equal(described.execution?.jobDocument, undefined);

    await assert.rejects(jobs.send(new UpdateJobExecutionCommand({ thingName: 'lamp', jobId: 'firmware-1', status: 'SUCCEEDED', expectedVersion: 1 })), (e: Error) => {
      assert.ok(e instanceof InvalidStateTransitionException, e.name);
      assert.equal((e).$metadata.httpStatusCode, 409);
      return true;
    });
    await assert.rejects(jobs.send(new UpdateJobExecutionCommand({ thingName: 'lamp', jobId: 'firmware-1', status: 'IN_PROGRESS', statusDetails: { 'bad key': 'x' } })), InvalidRequestException);
    const done = await jobs.send(new UpdateJobExecutionCommand({ thingName: 'lamp', jobId: 'firmware-1', status: 'SUCCEEDED', expectedVersion: 2, includeJobExecutionState: true, includeJobDocument: true }));
    assert.deepEqual([done.executionState?.status, done.executionState?.versionNumber], ['SUCCEEDED', 3]);
    assert.deepEqual(JSON.parse(done.jobDocument ?? ''), { operation: 'update', version: '2.0' });
    await assert.rejects(jobs.send(new UpdateJobExecutionCommand({ thingName: 'lamp', jobId: 'firmware-1', status: 'IN_PROGRESS' })), InvalidStateTransitionException);
    await assert.rejects(jobs.send(new DescribeJobExecutionCommand({ thingName: 'lamp', jobId: 'no-such-job' })), ResourceNotFoundException);
    const admin = await iot.send(new DescribeExecutionAdmin({ thingName: 'lamp', jobId: 'firmware-1' }));
    assert.equal(admin.execution?.status, 'SUCCEEDED');
    assert.deepEqual(admin.execution?.statusDetails?.detailsMap, { step: 'download' });
  });

  test('aws-iot-device-sdk jobs over MQTT with the device certificate: notified, started, completed; the job completes', async () => {
    const port = Number(new URL(gw.mqttUrl).port);
    const client = new awsIot.jobs({
      host: '127.0.0.1', port, clientId: 'fan', protocol: 'mqtts', caCert: fan.ca, clientCert: fan.cert, privateKey: fan.key, enableMetrics: false, offlineQueueing: false,
    });
    try {
      await once(client, 'connect');
      const received = new Promise<import('aws-iot-device-sdk').Job>((resolve, reject) => client.subscribeToJobs('fan', 'update', (err, job) => (err ? reject(err) : job !== null ? resolve(job) : undefined)));
      // Let the subscriptions settle before asking for the next job.
      await new Promise<void>((resolve, reject) => setImmediate(() => client.startJobNotifications('fan', (err) => (err ? reject(err) : resolve()))));
      const job = await received;
      assert.equal(job.id, 'firmware-1');
      assert.deepEqual(job.document, { operation: 'update', version: '2.0' });
      assert.equal(job.status.status, 'QUEUED');
      await new Promise<void>((resolve, reject) => job.inProgress({ step: 'flashing' }, (err) => (err ? reject(err) : resolve())));
      await waitUntil(async () => (await iot.send(new DescribeExecutionAdmin({ thingName: 'fan', jobId: 'firmware-1' }))).execution?.status === 'IN_PROGRESS', 5000, 'IN_PROGRESS');
      await new Promise<void>((resolve, reject) => job.succeeded({ step: 'done' }, (err) => (err ? reject(err) : resolve())));
      await waitUntil(async () => (await iot.send(new DescribeExecutionAdmin({ thingName: 'fan', jobId: 'firmware-1' }))).execution?.status === 'SUCCEEDED', 5000, 'SUCCEEDED');
      const { job: j } = await iot.send(new DescribeJobCommand({ jobId: 'firmware-1' }));
      assert.equal(j?.status, 'COMPLETED');
      assert.equal(j?.jobProcessDetails?.numberOfSucceededThings, 2);
    } finally {
      client.end(true);
    }
  });

  test('MQTT: a new job is announced on notify-next; refusals: another thing\'s job topics, a thing that is not the target, invalid JSON; HTTPS 403 for another thing', async () => {
    const lampMqtt = await connectDevice(gw.mqttUrl, lamp);
    const fanMqtt = await connectDevice(gw.mqttUrl, fan);
    try {
      const got: { topic: string; body: Record<string, unknown> }[] = [];
      lampMqtt.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
      const fanGot: { topic: string; body: Record<string, unknown> }[] = [];
      fanMqtt.on('message', (topic, payload) => fanGot.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
      await lampMqtt.subscribeAsync(['$aws/things/lamp/jobs/notify-next', '$aws/things/lamp/jobs/notify', '$aws/things/lamp/jobs/+/update/accepted', '$aws/things/lamp/jobs/+/update/rejected'], { qos: 1 });
      await fanMqtt.subscribeAsync(['$aws/things/fan/jobs/+/update/rejected', '$aws/things/fan/jobs/get/rejected'], { qos: 1 });

      await iot.send(new CreateJobCommand({ jobId: 'reboot-lamp', targets: [`${ARN}:thing/lamp`], document: JSON.stringify({ operation: 'reboot' }) }));
      await waitUntil(() => got.some((m) => m.topic.endsWith('/notify-next')) && got.some((m) => m.topic.endsWith('/notify')), 5000, 'the notifications');
      const next = got.find((m) => m.topic.endsWith('/notify-next'))!.body;
      assert.equal((next['execution'] as { jobId: string }).jobId, 'reboot-lamp');
      assert.deepEqual((next['execution'] as { jobDocument: unknown }).jobDocument, { operation: 'reboot' });
      assert.equal(typeof next['timestamp'], 'number');
      const notify = got.find((m) => m.topic.endsWith('/notify'))!.body;
      assert.deepEqual((notify['jobs'] as { QUEUED: { jobId: string }[] }).QUEUED.map((j) => j.jobId), ['reboot-lamp']);

      // The fan may not subscribe to the lamp's answers nor publish on its topics (dropped by the publish check).
      const refused = await fanMqtt.subscribeAsync('$aws/things/lamp/jobs/+/update/accepted', { qos: 1 }).then(() => undefined, (e: Error & { packet?: { granted?: number[] } }) => e);
      assert.deepEqual(refused?.packet?.granted, [128]);
      await fanMqtt.publishAsync('$aws/things/lamp/jobs/reboot-lamp/update', JSON.stringify({ status: 'SUCCEEDED', clientToken: 'intruder' }), { qos: 1 });
      // On its own topics, the fan is not the job's target: ResourceNotFound, token echoed.
      await fanMqtt.publishAsync('$aws/things/fan/jobs/reboot-lamp/update', JSON.stringify({ status: 'SUCCEEDED', clientToken: 'not-target' }), { qos: 1 });
      await fanMqtt.publishAsync('$aws/things/fan/jobs/get', '{"clientToken": ', { qos: 1 });
      await waitUntil(() => fanGot.length >= 2, 5000, 'the fan\'s rejections');
      const notTarget = fanGot.find((m) => m.topic === '$aws/things/fan/jobs/reboot-lamp/update/rejected')!.body;
      assert.deepEqual([notTarget['code'], notTarget['clientToken']], ['ResourceNotFound', 'not-target']);
      assert.equal(fanGot.find((m) => m.topic === '$aws/things/fan/jobs/get/rejected')!.body['code'], 'InvalidJson');

      // HTTPS: the fan may not update the lamp's execution.
      const r = await deviceHttps(await gw.dataPlaneUrl(), fan, 'POST', '/things/lamp/jobs/reboot-lamp', JSON.stringify({ status: 'SUCCEEDED' }));
      assert.equal(r.status, 403);
      assert.equal(r.headers['x-amzn-errortype'], 'ForbiddenException');

      // The lamp's own update: version mismatch rejected with the execution state, then accepted.
      await lampMqtt.publishAsync('$aws/things/lamp/jobs/reboot-lamp/update', JSON.stringify({ status: 'IN_PROGRESS', expectedVersion: 7, clientToken: 'v7' }), { qos: 1 });
      await waitUntil(() => got.some((m) => m.topic.endsWith('/update/rejected')), 5000, 'the rejection');
      const mismatch = got.find((m) => m.topic.endsWith('/update/rejected'))!.body;
      assert.deepEqual([mismatch['code'], mismatch['clientToken'], (mismatch['executionState'] as { status: string; versionNumber: number }).versionNumber], ['VersionMismatch', 'v7', 1]);
      await lampMqtt.publishAsync('$aws/things/lamp/jobs/reboot-lamp/update', JSON.stringify({ status: 'SUCCEEDED', expectedVersion: 1, includeJobExecutionState: true, clientToken: 'v1' }), { qos: 1 });
      await waitUntil(() => got.some((m) => m.topic.endsWith('/update/accepted')), 5000, 'the acceptance');
      const accepted = got.find((m) => m.topic.endsWith('/update/accepted'))!.body;
      assert.deepEqual([accepted['clientToken'], accepted['executionState']], ['v1', { status: 'SUCCEEDED', versionNumber: 2 }]);
      // The intruder's update changed nothing: it was the lamp's own update that moved version 1 to 2.
      // Nothing is pending any more: notify-next without an execution.
      await waitUntil(() => got.filter((m) => m.topic.endsWith('/notify-next')).length >= 2, 5000, 'the empty notify-next');
      assert.equal('execution' in got.filter((m) => m.topic.endsWith('/notify-next'))[1]!.body, false);
    } finally {
      await fanMqtt.endAsync();
      await lampMqtt.endAsync();
    }
  });

  test('operators cancel and delete jobs', async () => {
    await iot.send(new CreateJobCommand({ jobId: 'to-cancel', targets: [`${ARN}:thing/lamp`, `${ARN}:thing/fan`], document: '{"operation":"x"}' }));
    await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: 'fan' }));
    await assert.rejects(iot.send(new DeleteJobCommand({ jobId: 'to-cancel' })), (e: Error) => e.name === 'InvalidStateTransitionException');
    await iot.send(new CancelJobCommand({ jobId: 'to-cancel', comment: 'not needed' }));
    const lampExec = await iot.send(new DescribeExecutionAdmin({ thingName: 'lamp', jobId: 'to-cancel' }));
    const fanExec = await iot.send(new DescribeExecutionAdmin({ thingName: 'fan', jobId: 'to-cancel' }));
    assert.deepEqual([lampExec.execution?.status, fanExec.execution?.status], ['CANCELED', 'IN_PROGRESS']);
    await iot.send(new CancelJobCommand({ jobId: 'to-cancel', force: true }));
    assert.equal((await iot.send(new DescribeExecutionAdmin({ thingName: 'fan', jobId: 'to-cancel' }))).execution?.status, 'CANCELED');
    const { job } = await iot.send(new DescribeJobCommand({ jobId: 'to-cancel' }));
    assert.deepEqual([job?.status, job?.forceCanceled, job?.comment], ['CANCELED', true, 'not needed']);
    await iot.send(new DeleteJobCommand({ jobId: 'to-cancel' }));
    await assert.rejects(iot.send(new DescribeJobCommand({ jobId: 'to-cancel' })), IotNotFound);
  });

  test('the CLI: jobs create, show, executions, cancel, delete remotely (management API) and list locally', async () => {
    const env = { ...(await gw.remoteAdminEnv(dir.path)), GATEHOUSE_REGION: REGION };
    const endpoint = await gw.managementUrl();
    const remote = (args: string[]): ReturnType<typeof runCli> => runCli(['--endpoint', endpoint, ...args], { env });
    let r = await remote(['jobs', 'create', 'cli-job', '--document', '{"operation":"ping"}', '--thing', 'lamp', '--thing-group', 'fans', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { jobId: string; targets: string[]; executions: Record<string, number> };
    assert.deepEqual(created.targets, [`${ARN}:thing/lamp`, `${ARN}:thinggroup/fans`]);
    assert.equal(created.executions['numberOfQueuedThings'], 2);
    // Created through the gateway: the lamp is told (its notify-next changes), and sees it pending.
    assert.deepEqual((await jobs.send(new GetPendingJobExecutionsCommand({ thingName: 'lamp' }))).queuedJobs?.map((j) => j.jobId), ['cli-job']);
    r = await remote(['jobs', 'executions', 'cli-job', '--json']);
    assert.deepEqual((JSON.parse(r.stdout) as { thing: string; status: string }[]).map((e) => [e.thing, e.status]), [['fan', 'QUEUED'], ['lamp', 'QUEUED']]);
    r = await remote(['jobs', 'delete', 'cli-job']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /InvalidStateTransitionException|pending executions/);
    r = await remote(['jobs', 'cancel', 'cli-job']);
    assert.equal(r.code, 0, r.stderr);
    r = await gw.cli(['jobs', 'list', '--json', '--status', 'canceled']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { jobId: string }[]).map((j) => j.jobId), ['cli-job']);
    r = await remote(['jobs', 'delete', 'cli-job']);
    assert.equal(r.code, 0, r.stderr);
    r = await remote(['jobs', 'show', 'cli-job']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /JOB_NOT_FOUND/);
  });

  /** Brings a stored deadline forward: stands for the minute (AWS's shortest timer) passing, without waiting for it. */
  function moveDeadline(jobId: string, thingName: string, at: number): void {
    const db = new Database(join(gw.dataDir, 'registry.db'), { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      const r = db.prepare('UPDATE job_executions SET step_timeout_at = ?, timeout_at = ? WHERE job_id = ? AND thing_name = ? AND status = \'IN_PROGRESS\'').run(at, at, jobId, thingName);
      assert.equal(r.changes, 1);
    } finally {
      db.close();
    }
  }

  test('timeouts: an expired step timer moves the execution to TIMED_OUT by itself; the device hears it on notify and notify-next', async () => {
    await iot.send(new CreateJobCommand({ jobId: 'slow', targets: [`${ARN}:thing/lamp`], document: '{"operation":"slow"}', timeoutConfig: { inProgressTimeoutInMinutes: 10 } }));
    const lampMqtt = await connectDevice(gw.mqttUrl, lamp);
    try {
      const got: { topic: string; body: Record<string, unknown> }[] = [];
      lampMqtt.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
      await lampMqtt.subscribeAsync(['$aws/things/lamp/jobs/notify-next', '$aws/things/lamp/jobs/notify', '$aws/things/lamp/jobs/start-next/accepted', '$aws/things/lamp/jobs/slow/update/rejected'], { qos: 1 });
      await lampMqtt.publishAsync('$aws/things/lamp/jobs/start-next', JSON.stringify({ stepTimeoutInMinutes: 1, clientToken: 'go' }), { qos: 1 });
      await waitUntil(() => got.some((m) => m.topic.endsWith('/start-next/accepted')), 5000, 'start-next accepted');
      const started = got.find((m) => m.topic.endsWith('/start-next/accepted'))!.body['execution'] as { jobId: string; status: string; approximateSecondsBeforeTimedOut: number };
      assert.deepEqual([started.jobId, started.status], ['slow', 'IN_PROGRESS']);
      assert.ok(started.approximateSecondsBeforeTimedOut > 50 && started.approximateSecondsBeforeTimedOut <= 60, String(started.approximateSecondsBeforeTimedOut));
      const from = got.length;
      const deadline = Date.now() + 300;
      moveDeadline('slow', 'lamp', deadline);
      // No request touches the lamp: the sweeper alone times the execution out and says so.
      await waitUntil(() => got.slice(from).some((m) => m.topic.endsWith('/notify-next') && !('execution' in m.body)), 5000, 'notify-next without an execution');
      const notify = got.slice(from).find((m) => m.topic.endsWith('/notify'));
      assert.deepEqual(notify?.body['jobs'], {});
      const admin = await iot.send(new DescribeExecutionAdmin({ thingName: 'lamp', jobId: 'slow' }));
      assert.deepEqual([admin.execution?.status, admin.execution?.versionNumber, admin.execution?.lastUpdatedAt?.getTime()], ['TIMED_OUT', 3, deadline]);
      await gw.waitForLog((l) => l.includes('job-execution-timed-out') && l.includes('"jobId":"slow"'), 5000);
      assert.equal((await iot.send(new DescribeJobCommand({ jobId: 'slow' }))).job?.status, 'COMPLETED');
      // The device can no longer report on it.
      await lampMqtt.publishAsync('$aws/things/lamp/jobs/slow/update', JSON.stringify({ status: 'SUCCEEDED', clientToken: 'late' }), { qos: 1 });
      await waitUntil(() => got.some((m) => m.topic.endsWith('/slow/update/rejected')), 5000, 'the late update rejected');
      assert.equal(got.find((m) => m.topic.endsWith('/slow/update/rejected'))!.body['code'], 'InvalidStateTransition');
    } finally {
      await lampMqtt.endAsync();
    }
  });

  test('client-iot: UpdateJob, CancelJobExecution (expectedVersion, statusDetails, force), DeleteJobExecution (executionNumber, force); the device is told', async () => {
    const lampMqtt = await connectDevice(gw.mqttUrl, lamp);
    try {
      const got: { topic: string; body: Record<string, unknown> }[] = [];
      lampMqtt.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
      await lampMqtt.subscribeAsync(['$aws/things/lamp/jobs/notify-next'], { qos: 1 });
      await iot.send(new CreateJobCommand({ jobId: 'ops', targets: [`${ARN}:thing/lamp`, `${ARN}:thing/fan`], document: '{"operation":"ops"}' }));
      await waitUntil(() => got.some((m) => (m.body['execution'] as { jobId?: string } | undefined)?.jobId === 'ops'), 5000, 'notify-next of ops');
      await iot.send(new UpdateJobCommand({ jobId: 'ops', description: 'changed', timeoutConfig: { inProgressTimeoutInMinutes: 30 } }));
      const { job } = await iot.send(new DescribeJobCommand({ jobId: 'ops' }));
      assert.deepEqual([job?.description, job?.timeoutConfig?.inProgressTimeoutInMinutes], ['changed', 30]);
      await assert.rejects(iot.send(new UpdateJobCommand({ jobId: 'ops', timeoutConfig: { inProgressTimeoutInMinutes: 0 } })), IotInvalidRequest);
      await assert.rejects(iot.send(new UpdateJobCommand({ jobId: 'no-such-job', description: 'x' })), IotNotFound);
      // The fan starts its execution: the new timeout applies (it had not started).
      const started = await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: 'fan' }));
      assert.equal(started.execution?.jobId, 'ops');
      assert.ok((started.execution?.approximateSecondsBeforeTimedOut ?? 0) > 1700);

      // The lamp's QUEUED execution: a wrong expectedVersion is a version conflict (409); the right one cancels it.
      await assert.rejects(iot.send(new CancelJobExecutionCommand({ jobId: 'ops', thingName: 'lamp', expectedVersion: 9 })), (e: Error) => {
        assert.ok(e instanceof VersionConflictException, e.name);
        assert.equal(e.$metadata.httpStatusCode, 409);
        return true;
      });
      const from = got.length;
      await iot.send(new CancelJobExecutionCommand({ jobId: 'ops', thingName: 'lamp', expectedVersion: 1, statusDetails: { reason: 'not-needed' } }));
      await waitUntil(() => got.slice(from).some((m) => m.topic.endsWith('/notify-next') && !('execution' in m.body)), 5000, 'the lamp told nothing is next');
      const lampExec = await iot.send(new DescribeExecutionAdmin({ thingName: 'lamp', jobId: 'ops' }));
      assert.deepEqual([lampExec.execution?.status, lampExec.execution?.statusDetails?.detailsMap], ['CANCELED', { reason: 'not-needed' }]);
      await assert.rejects(iot.send(new CancelJobExecutionCommand({ jobId: 'ops', thingName: 'lamp' })), IotInvalidState);
      // The fan's IN_PROGRESS one: only with force.
      await assert.rejects(iot.send(new CancelJobExecutionCommand({ jobId: 'ops', thingName: 'fan' })), IotInvalidState);
      await assert.rejects(iot.send(new DeleteJobExecutionCommand({ jobId: 'ops', thingName: 'fan', executionNumber: 1 })), IotInvalidState);
      await assert.rejects(iot.send(new DeleteJobExecutionCommand({ jobId: 'ops', thingName: 'fan', executionNumber: 2, force: true })), IotNotFound);
      await iot.send(new DeleteJobExecutionCommand({ jobId: 'ops', thingName: 'fan', executionNumber: 1, force: true }));
      await assert.rejects(iot.send(new DescribeExecutionAdmin({ thingName: 'fan', jobId: 'ops' })), IotNotFound);
      await assert.rejects(jobs.send(new UpdateJobExecutionCommand({ thingName: 'fan', jobId: 'ops', status: 'SUCCEEDED' })), ResourceNotFoundException);
      // A terminal execution is deleted without force.
      await iot.send(new DeleteJobExecutionCommand({ jobId: 'ops', thingName: 'lamp', executionNumber: 1 }));
      assert.deepEqual((await iot.send(new ListJobExecutionsForJobCommand({ jobId: 'ops' }))).executionSummaries, []);
      await iot.send(new DeleteJobCommand({ jobId: 'ops' }));
    } finally {
      await lampMqtt.endAsync();
    }
  });

  test('IAM: CancelJobExecution and DeleteJobExecution need their action on the job and on the thing', async () => {
    const iam = new IAMClient({ endpoint: await gw.managementUrl(), region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });
    await iot.send(new CreateJobCommand({ jobId: 'iam-job', targets: [`${ARN}:thing/lamp`], document: '{}' }));
    await iam.send(new CreateUserCommand({ UserName: 'job-operator' }));
    const policy = await iam.send(new CreateIamPolicyCommand({
      PolicyName: 'cancel-on-job-only',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:CancelJobExecution', 'iot:DeleteJobExecution'], Resource: `${ARN}:job/iam-job` }] }),
    }));
    await iam.send(new AttachUserPolicyCommand({ UserName: 'job-operator', PolicyArn: policy.Policy!.Arn! }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'job-operator' }))).AccessKey!;
    const operator = new IoTClient({ endpoint: await gw.managementUrl(), region: REGION, credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! }, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });
    try {
      for (const send of [
        () => operator.send(new CancelJobExecutionCommand({ jobId: 'iam-job', thingName: 'lamp' })),
        () => operator.send(new DeleteJobExecutionCommand({ jobId: 'iam-job', thingName: 'lamp', executionNumber: 1, force: true })),
      ]) {
        await assert.rejects(send(), (e: Error) => {
          assert.equal(e.name, 'AccessDeniedException');
          assert.match(e.message, /thing\/lamp/);
          return true;
        });
      }
      assert.equal((await iot.send(new DescribeExecutionAdmin({ thingName: 'lamp', jobId: 'iam-job' }))).execution?.status, 'QUEUED');
      // Audited: allowed on the job, denied on the thing.
      const db = new Database(join(gw.dataDir, 'registry.db'), { readonly: true, fileMustExist: true });
      try {
        const rows = (): { decision: string; resource: string; status: number }[] => db.prepare(
          "SELECT decision, resource, status FROM audit_log WHERE action = 'iot:CancelJobExecution' AND principal LIKE '%:user/job-operator' ORDER BY id").all() as never;
        await waitUntil(() => rows().length >= 2, 5000, 'the audit records');
        assert.deepEqual(rows(), [{ decision: 'allow', resource: `${ARN}:job/iam-job`, status: 403 }, { decision: 'deny', resource: `${ARN}:thing/lamp`, status: 403 }]);
      } finally {
        db.close();
      }
    } finally {
      operator.destroy();
      iam.destroy();
    }
    await iot.send(new DeleteJobCommand({ jobId: 'iam-job', force: true }));
  });

  test('continuous jobs: a thing added to the target group gets an execution (and notify-next), one removed has it REMOVED', async () => {
    const lampMqtt = await connectDevice(gw.mqttUrl, lamp);
    try {
      const got: { topic: string; body: Record<string, unknown> }[] = [];
      lampMqtt.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
      await lampMqtt.subscribeAsync(['$aws/things/lamp/jobs/notify-next'], { qos: 1 });
      await iot.send(new CreateJobCommand({ jobId: 'fans-config', targets: [`${ARN}:thinggroup/fans`], document: '{"operation":"configure"}', targetSelection: 'CONTINUOUS' }));
      const { job } = await iot.send(new DescribeJobCommand({ jobId: 'fans-config' }));
      assert.deepEqual([job?.targetSelection, job?.status, job?.jobProcessDetails?.numberOfQueuedThings], ['CONTINUOUS', 'IN_PROGRESS', 1]);
      assert.deepEqual((await iot.send(new ListJobsCommand({ targetSelection: 'CONTINUOUS' }))).jobs?.map((j) => j.jobId), ['fans-config']);

      await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'fans', thingName: 'lamp' }));
      await waitUntil(() => got.some((m) => (m.body['execution'] as { jobId?: string } | undefined)?.jobId === 'fans-config'), 10_000, 'the lamp told of the continuous job');
      assert.deepEqual((await jobs.send(new GetPendingJobExecutionsCommand({ thingName: 'lamp' }))).queuedJobs?.map((j) => [j.jobId, j.executionNumber]), [['fans-config', 1]]);

      const from = got.length;
      await iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName: 'fans', thingName: 'lamp' }));
      await waitUntil(() => got.slice(from).some((m) => m.topic.endsWith('/notify-next') && !('execution' in m.body)), 10_000, 'the lamp told it is no longer a target');
      const removed = await iot.send(new DescribeExecutionAdmin({ thingName: 'lamp', jobId: 'fans-config' }));
      assert.deepEqual([removed.execution?.status, removed.execution?.versionNumber], ['REMOVED', 2]);
      // Back in the group: a new execution (number 2).
      await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'fans', thingName: 'lamp' }));
      await waitUntil(async () => (await iot.send(new DescribeExecutionAdmin({ thingName: 'lamp', jobId: 'fans-config' }))).execution?.executionNumber === 2, 10_000, 'execution 2');
      await iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName: 'fans', thingName: 'lamp' }));
      // The job runs until canceled.
      await iot.send(new CancelJobCommand({ jobId: 'fans-config' }));
      assert.equal((await iot.send(new DescribeJobCommand({ jobId: 'fans-config' }))).job?.status, 'CANCELED');
      await iot.send(new DeleteJobCommand({ jobId: 'fans-config' }));
    } finally {
      await lampMqtt.endAsync();
    }
  });

  test('the CLI: jobs update, cancel-execution, delete-execution remotely and locally; create --continuous', async () => {
    const env = { ...(await gw.remoteAdminEnv(dir.path)), GATEHOUSE_REGION: REGION };
    const endpoint = await gw.managementUrl();
    const remote = (args: string[]): ReturnType<typeof runCli> => runCli(['--endpoint', endpoint, ...args], { env });
    let r = await remote(['jobs', 'create', 'cli-ops', '--document', '{"operation":"x"}', '--thing', 'lamp', '--thing', 'fan']);
    assert.equal(r.code, 0, r.stderr);
    r = await remote(['jobs', 'update', 'cli-ops', '--description', 'via cli', '--in-progress-timeout', '15']);
    assert.equal(r.code, 0, r.stderr);
    r = await remote(['jobs', 'show', 'cli-ops', '--json']);
    const shown = JSON.parse(r.stdout) as { description: string; inProgressTimeoutInMinutes: number; targetSelection: string };
    assert.deepEqual([shown.description, shown.inProgressTimeoutInMinutes, shown.targetSelection], ['via cli', 15, 'SNAPSHOT']);
    await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: 'fan' }));
    r = await remote(['jobs', 'cancel-execution', 'cli-ops', '--thing', 'fan']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /InvalidStateTransitionException/);
    r = await remote(['jobs', 'cancel-execution', 'cli-ops', '--thing', 'fan', '--force', '--status-detail', 'why=cli']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await iot.send(new DescribeExecutionAdmin({ thingName: 'fan', jobId: 'cli-ops' }))).execution?.statusDetails?.detailsMap, { why: 'cli' });
    // Locally, on the data directory the gateway shares.
    r = await gw.cli(['jobs', 'cancel-execution', 'cli-ops', '--thing', 'lamp', '--expected-version', '7']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /JOB_STATE_CONFLICT/);
    r = await gw.cli(['jobs', 'cancel-execution', 'cli-ops', '--thing', 'lamp', '--expected-version', '1']);
    assert.equal(r.code, 0, r.stderr);
    r = await gw.cli(['jobs', 'delete-execution', 'cli-ops', '--thing', 'lamp']);
    assert.equal(r.code, 0, r.stderr);
    r = await remote(['jobs', 'delete-execution', 'cli-ops', '--thing', 'fan', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { jobId: 'cli-ops', thing: 'fan', deleted: true });
    r = await gw.cli(['jobs', 'executions', 'cli-ops', '--json']);
    assert.deepEqual(JSON.parse(r.stdout), []);
    r = await gw.cli(['jobs', 'create', 'cli-cont', '--document', '{}', '--thing-group', 'fans', '--continuous', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { targetSelection: string }).targetSelection, 'CONTINUOUS');
    r = await gw.cli(['jobs', 'update', 'cli-cont']);
    assert.equal(r.code, 2);
    r = await remote(['jobs', 'delete', 'cli-cont', '--force']);
    assert.equal(r.code, 0, r.stderr);
    r = await remote(['jobs', 'delete', 'cli-ops']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('executions survive a restart of the gateway', async () => {
    // An execution in progress whose timer falls due while the gateway is down.
    await iot.send(new CreateJobCommand({ jobId: 'while-down', targets: [`${ARN}:thing/fan`], document: '{}', timeoutConfig: { inProgressTimeoutInMinutes: 1 } }));
    assert.equal((await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: 'fan' }))).execution?.jobId, 'while-down');
    await gw.stop();
    jobs.destroy();
    iot.destroy();
    gw = await GatewayProcess.launch(dir.path, gw.configPath, gw.dataDir);
    jobs = await jobsClient();
    iot = new IoTClient({ endpoint: await gw.managementUrl(), region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } });
    const fanExec = await jobs.send(new DescribeJobExecutionCommand({ thingName: 'fan', jobId: 'firmware-1' }));
    assert.deepEqual([fanExec.execution?.status, fanExec.execution?.versionNumber, fanExec.execution?.statusDetails], ['SUCCEEDED', 3, { step: 'done' }]);
    assert.equal((await iot.send(new DescribeJobCommand({ jobId: 'firmware-1' }))).job?.status, 'COMPLETED');
  });

  test('after a restart, the sweeper times out what fell due while the gateway was down (written, not only shown)', async () => {
    await gw.stop();
    const deadline = Date.now() - 1000;
    moveDeadline('while-down', 'fan', deadline);
    const from = 0;
    gw = await GatewayProcess.launch(dir.path, gw.configPath, gw.dataDir);
    await gw.waitForLog((l) => l.includes('job-execution-timed-out') && l.includes('"jobId":"while-down"'), 10_000, from);
    const db = new Database(join(gw.dataDir, 'registry.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT status, last_updated_at, timeout_at FROM job_executions WHERE job_id = ? AND thing_name = ?').get('while-down', 'fan');
      assert.deepEqual(row, { status: 'TIMED_OUT', last_updated_at: deadline, timeout_at: null });
    } finally {
      db.close();
    }
  });
});
