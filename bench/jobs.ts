/**
 * Jobs benchmark: `npm run bench:jobs [-- --executions N]`.
 *
 * Starts `gatehouse start` in a temporary directory with one device whose AWS IoT policy
 * allows its jobs topics, creates N jobs for it through the management API
 * (`@aws-sdk/client-iot` CreateJob with the administrator's keys), then measures job
 * executions run to completion per second over MQTT: one device connection publishes
 * `$aws/things/bench/jobs/start-next`, and on its `/accepted` answer
 * `$aws/things/bench/jobs/JOBID/update` with `SUCCEEDED` (and the `expectedVersion` the
 * start returned), then asks for the next one. Each execution is two requests and two
 * answers, each a registry transaction, and the `notify` / `notify-next` messages the
 * service publishes for them. One at a time: StartNextPendingJobExecution names the next
 * pending execution, so a device has one in progress at a time. Only 127.0.0.1 is used;
 * the child process and the directory are removed on the way out.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateJobCommand, IoTClient } from '@aws-sdk/client-iot';
import mqtt from 'mqtt';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const THING = 'bench';
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const EXECUTIONS = arg('executions', 500);

const CONFIG = `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${REGION}, accountId: "${ACCOUNT}" }
  logging: { level: warn }
`;

/** The device's AWS IoT policy: its jobs topics. */
const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `arn:aws:iot:*:*:client/${THING}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `arn:aws:iot:*:*:topic/$aws/things/${THING}/jobs/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `arn:aws:iot:*:*:topicfilter/$aws/things/${THING}/jobs/*` },
  ],
});

async function startGateway(dir: string): Promise<{ child: ChildProcess; mqttUrl: string; mgmtUrl: string }> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', join(dir, 'gatehouse.yaml'), '--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--api-port', '0', '--management-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let mqttUrl = '';
  let mgmtUrl = '';
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith('listening mqtts://')) mqttUrl = line.slice('listening '.length);
    if (line.startsWith('listening https://')) mgmtUrl = line.slice('listening '.length);
    if (mqttUrl !== '' && mgmtUrl !== '') return { child, mqttUrl, mgmtUrl };
  }
  throw new Error('the gateway stopped before it was ready');
}

async function createJobs(url: string, dir: string): Promise<void> {
  const file = readFileSync(join(dir, 'data', 'admin-credentials'), 'utf8');
  const key = (k: string): string => new RegExp(`^${k} = (.+)$`, 'm').exec(file)![1]!.trim();
  const iot = new IoTClient({
    endpoint: url, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: key('aws_access_key_id'), secretAccessKey: key('aws_secret_access_key') },
    requestHandler: { httpsAgent: new Agent({ ca: readFileSync(join(dir, 'devices', 'ca.pem')), keepAlive: true, maxSockets: 8 }) },
  });
  try {
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < EXECUTIONS) {
        const n = next++;
        await iot.send(new CreateJobCommand({ jobId: `job-${String(n).padStart(6, '0')}`, targets: [`arn:aws:iot:${REGION}:${ACCOUNT}:thing/${THING}`], document: JSON.stringify({ operation: 'noop', n }) }));
      }
    }));
  } finally {
    iot.destroy();
  }
}

async function mqttRate(url: string, dir: string): Promise<number> {
  const devices = join(dir, 'devices');
  const client = await mqtt.connectAsync(url, {
    clientId: THING, key: readFileSync(join(devices, `${THING}.key.pem`)), cert: readFileSync(join(devices, `${THING}.cert.pem`)), ca: readFileSync(join(devices, 'ca.pem')), reconnectPeriod: 0,
  });
  const prefix = `$aws/things/${THING}/jobs`;
  await client.subscribeAsync([`${prefix}/start-next/accepted`, `${prefix}/+/update/accepted`, `${prefix}/+/update/rejected`, `${prefix}/start-next/rejected`], { qos: 0 });
  let done = 0;
  const t0 = performance.now();
  await new Promise<void>((finish, fail) => {
    client.on('message', (topic, payload) => {
      if (topic.endsWith('/rejected')) {
        fail(new Error(`${topic}: ${payload.toString()}`));
        return;
      }
      if (topic === `${prefix}/start-next/accepted`) {
        const e = (JSON.parse(payload.toString()) as { execution?: { jobId: string; versionNumber: number } }).execution;
        if (e === undefined) {
          fail(new Error(`nothing pending after ${done} executions`));
          return;
        }
        client.publish(`${prefix}/${e.jobId}/update`, JSON.stringify({ status: 'SUCCEEDED', expectedVersion: e.versionNumber }), { qos: 0 });
        return;
      }
      done++;
      if (done === EXECUTIONS) finish();
      else client.publish(`${prefix}/start-next`, '{}', { qos: 0 });
    });
    client.publish(`${prefix}/start-next`, '{}', { qos: 0 });
  });
  const rate = EXECUTIONS / ((performance.now() - t0) / 1000);
  await client.endAsync();
  return rate;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-jobs-'));
  let child: ChildProcess | undefined;
  const cleanup = (): void => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    writeFileSync(join(dir, 'gatehouse.yaml'), CONFIG);
    const data = ['--data-dir', join(dir, 'data')];
    const created = JSON.parse(execFileSync(process.execPath, [CLI, 'things', 'create', THING, '--out', join(dir, 'devices'), '--json', ...data], { encoding: 'utf8' })) as { certificateId: string };
    writeFileSync(join(dir, 'policy.json'), POLICY);
    execFileSync(process.execPath, [CLI, 'policies', 'create', 'bench-jobs', '--file', join(dir, 'policy.json'), ...data], { stdio: 'ignore' });
    execFileSync(process.execPath, [CLI, 'policies', 'attach', 'bench-jobs', '--cert', created.certificateId, ...data], { stdio: 'ignore' });
    const g = await startGateway(dir);
    child = g.child;
    const c0 = performance.now();
    await createJobs(g.mgmtUrl, dir);
    const createdPerSecond = EXECUTIONS / ((performance.now() - c0) / 1000);
    const perSecond = await mqttRate(g.mqttUrl, dir);
    console.log(`jobs, ${EXECUTIONS} executions for one thing:`);
    console.log(`  CreateJob (client-iot, SigV4, 8 in flight):             ${Math.round(createdPerSecond)} jobs/s`);
    console.log(`  MQTT start-next + update SUCCEEDED (1 connection, 1 at a time): ${Math.round(perSecond)} executions/s`);
  } finally {
    cleanup();
  }
}

await main();
