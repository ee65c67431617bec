/**
 * Device Shadow benchmark: `npm run bench:shadow [-- --updates N --window W --concurrency C]`.
 *
 * Starts `gatehouse start` (data-plane listener enabled) in a temporary directory with
 * one device whose AWS IoT policy allows its shadow topics and shadow, then measures
 * accepted shadow updates per second:
 *  - MQTT: one device connection publishes updates to `$aws/things/bench/shadow/update`
 *    (QoS 0) with at most `--window` unanswered, counting `…/update/accepted` answers;
 *  - HTTPS as the device: `POST /things/bench/shadow` over mutual TLS with its
 *    certificate (Node's HTTPS client), `--concurrency` requests in flight over
 *    kept-alive connections;
 *  - HTTPS with SigV4: `@aws-sdk/client-iot-data-plane` UpdateThingShadow with the
 *    administrator's keys, likewise (the SDK signs in this process).
 * Every update changes `reported` (no delta is published) and is stored in the
 * registry database before it is answered. Only 127.0.0.1 is used; the child process
 * and the directory are removed on the way out.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import mqtt from 'mqtt';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const THING = 'bench';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const UPDATES = arg('updates', 5000);
const WINDOW = arg('window', 32);
const CONCURRENCY = arg('concurrency', 16);

const CONFIG = `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
  dataPlane: { enabled: true }
  logging: { level: warn }
`;

/** The device's AWS IoT policy: its shadow topics and its shadow over HTTPS. */
const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `arn:aws:iot:*:*:client/${THING}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `arn:aws:iot:*:*:topic/$aws/things/${THING}/shadow/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `arn:aws:iot:*:*:topicfilter/$aws/things/${THING}/shadow/*` },
    { Effect: 'Allow', Action: 'iot:UpdateThingShadow', Resource: `arn:aws:iot:*:*:thing/${THING}` },
  ],
});

async function startGateway(dir: string): Promise<{ child: ChildProcess; mqttUrl: string; dataUrl: string }> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', join(dir, 'gatehouse.yaml'), '--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--api-port', '0', '--management-port', '0', '--data-plane-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let mqttUrl = '';
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith('listening mqtts://')) mqttUrl = line.slice('listening '.length);
    if (line.startsWith('listening data-plane ')) return { child, mqttUrl, dataUrl: line.slice('listening data-plane '.length) };
  }
  throw new Error('the gateway stopped before it was ready');
}

async function mqttRate(url: string, dir: string, value: () => number): Promise<number> {
  const devices = join(dir, 'devices');
  const client = await mqtt.connectAsync(url, {
    clientId: THING, key: readFileSync(join(devices, `${THING}.key.pem`)), cert: readFileSync(join(devices, `${THING}.cert.pem`)), ca: readFileSync(join(devices, 'ca.pem')), reconnectPeriod: 0,
  });
  const prefix = `$aws/things/${THING}/shadow/update`;
  await client.subscribeAsync(`${prefix}/accepted`, { qos: 0 });
  let answered = 0;
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const send = (): void => {
      while (sent < UPDATES && sent - answered < WINDOW) {
        sent++;
        client.publish(prefix, JSON.stringify({ state: { reported: { n: value() } } }), { qos: 0 });
      }
    };
    client.on('message', () => {
      answered++;
      if (answered === UPDATES) done();
      else send();
    });
    send();
  });
  const rate = UPDATES / ((performance.now() - t0) / 1000);
  await client.endAsync();
  return rate;
}

async function deviceHttpsRate(url: string, dir: string, value: () => number): Promise<number> {
  const devices = join(dir, 'devices');
  const u = new URL(url);
  const agent = new Agent({
    keepAlive: true, maxSockets: CONCURRENCY,
    key: readFileSync(join(devices, `${THING}.key.pem`)), cert: readFileSync(join(devices, `${THING}.cert.pem`)), ca: readFileSync(join(devices, 'ca.pem')),
  });
  const post = (body: string): Promise<void> => new Promise((done, fail) => {
    const req = httpsRequest({ host: u.hostname, port: Number(u.port), method: 'POST', path: `/things/${THING}/shadow`, agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? done() : fail(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', fail);
    req.end(body);
  });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < UPDATES) {
      next++;
      await post(JSON.stringify({ state: { reported: { n: value() } } }));
    }
  }));
  const rate = UPDATES / ((performance.now() - t0) / 1000);
  agent.destroy();
  return rate;
}

async function httpsRate(url: string, dir: string, value: () => number): Promise<number> {
  const file = readFileSync(join(dir, 'data', 'admin-credentials'), 'utf8');
  const key = (k: string): string => new RegExp(`^${k} = (.+)$`, 'm').exec(file)![1]!.trim();
  const data = new IoTDataPlaneClient({
    endpoint: url, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: key('aws_access_key_id'), secretAccessKey: key('aws_secret_access_key') },
    requestHandler: { httpsAgent: new Agent({ ca: readFileSync(join(dir, 'devices', 'ca.pem')), keepAlive: true, maxSockets: CONCURRENCY }) },
  });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < UPDATES) {
      next++;
      await data.send(new UpdateThingShadowCommand({ thingName: THING, payload: Buffer.from(JSON.stringify({ state: { reported: { n: value() } } })) }));
    }
  }));
  const rate = UPDATES / ((performance.now() - t0) / 1000);
  data.destroy();
  return rate;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-shadow-'));
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
    execFileSync(process.execPath, [CLI, 'policies', 'create', 'bench-shadow', '--file', join(dir, 'policy.json'), ...data], { stdio: 'ignore' });
    execFileSync(process.execPath, [CLI, 'policies', 'attach', 'bench-shadow', '--cert', created.certificateId, ...data], { stdio: 'ignore' });
    const g = await startGateway(dir);
    child = g.child;
    let n = 0;
    const value = (): number => ++n;
    const mqttPerSecond = await mqttRate(g.mqttUrl, dir, value);
    const devicePerSecond = await deviceHttpsRate(g.dataUrl, dir, value);
    const httpsPerSecond = await httpsRate(g.dataUrl, dir, value);
    console.log(`shadow updates accepted and stored, ${UPDATES} each:`);
    console.log(`  MQTT  (1 connection, window ${WINDOW}):        ${Math.round(mqttPerSecond)} updates/s`);
    console.log(`  HTTPS (device, mutual TLS, ${CONCURRENCY} in flight): ${Math.round(devicePerSecond)} updates/s`);
    console.log(`  HTTPS (SigV4 SDK client, ${CONCURRENCY} in flight): ${Math.round(httpsPerSecond)} updates/s`);
  } finally {
    cleanup();
  }
}

await main();
