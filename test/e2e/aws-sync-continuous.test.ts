/**
 * Continuous sync (`gatehouse.sync.aws`) between two real gateways: the "cloud" (a second
 * instance serving the AWS IoT control plane, seeded through @aws-sdk/client-iot) and the
 * gateway following it. Devices provisioned in the cloud connect to the gateway with the
 * key and certificate the cloud gave them; a revocation in the cloud disconnects them
 * within the interval; with the cloud gone the gateway keeps serving (connected devices
 * stay, a synced device may still connect inside the trust window) and logs it; when the
 * cloud comes back, its changes apply again.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AttachPolicyCommand, AttachThingPrincipalCommand, CreateKeysAndCertificateCommand, CreatePolicyCommand, CreateThingCommand, UpdateCertificateCommand } from '@aws-sdk/client-iot';
import type { MqttClient } from 'mqtt';
import { CLOUD_ACCOUNT, CLOUD_ARN, CLOUD_REGION, startCloud, type Cloud } from '../helpers/aws-cloud.js';
import { connectDevice, GatewayProcess, waitForClose, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${CLOUD_ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${CLOUD_ARN}:topic/data/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${CLOUD_ARN}:topicfilter/data/\${iot:Connection.Thing.ThingName}` },
  ],
});

let dir: { path: string; cleanup: () => Promise<void> };
let cloud: Cloud;
let gw: GatewayProcess;
let gatewayCa: Buffer;
const devices = new Map<string, { device: Device; certificateId: string }>();
const clients: MqttClient[] = [];

async function provision(name: string): Promise<void> {
  await cloud.iot.send(new CreateThingCommand({ thingName: name }));
  const c = await cloud.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  await cloud.iot.send(new AttachThingPrincipalCommand({ thingName: name, principal: c.certificateArn! }));
  await cloud.iot.send(new AttachPolicyCommand({ policyName: 'DevicePolicy', target: c.certificateArn! }));
  devices.set(name, {
    certificateId: c.certificateId!,
    device: {
      name, key: Buffer.from(c.keyPair!.PrivateKey!), cert: Buffer.from(c.certificatePem!), ca: Buffer.alloc(0),
      keyPath: '', certPath: '', caPath: '', certificateId: c.certificateId!,
    },
  });
}

async function connect(name: string): Promise<MqttClient> {
  const d = devices.get(name)!.device;
  const client = await connectDevice(gw.mqttUrl, { ...d, ca: gatewayCa });
  clients.push(client);
  return client;
}

/** Subscribes to the device's own topic and sees its own message come back: allowed end to end. */
async function roundTrip(client: MqttClient, name: string, payload: string): Promise<void> {
  const topic = `data/${name}`;
  await client.subscribeAsync(topic, { qos: 1 });
  const got = new Promise<string>((resolve) => client.on('message', (_t, p) => {
    if (p.toString() === payload) resolve(payload);
  }));
  await client.publishAsync(topic, payload, { qos: 1 });
  assert.equal(await got, payload);
}

before(async () => {
  dir = await tempDir('gatehouse-e2e-sync-');
  cloud = await startCloud(join(dir.path, 'cloud'));
  await cloud.iot.send(new CreatePolicyCommand({ policyName: 'DevicePolicy', policyDocument: POLICY }));
  for (const name of ['dev-1', 'dev-2', 'dev-3']) await provision(name);
  // The gateway process reads the AWS credentials and region from its environment, as the SDK does.
  Object.assign(process.env, cloud.env);
  delete process.env['HOME'];
  await mkdir(join(dir.path, 'gateway'));
  gw = await GatewayProcess.start(join(dir.path, 'gateway'), `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${CLOUD_REGION}, accountId: "${CLOUD_ACCOUNT}" }
  sync:
    aws: { enabled: true, region: ${CLOUD_REGION}, endpoint: "${cloud.endpoint}", caBundle: "${cloud.caFile}", intervalSeconds: 1 }
security:
  clientDeviceTrustDurationMinutes: 1
`);
  await gw.waitForLog((l) => l.includes('"event":"sync"') && l.includes('"noChange":false'), 30_000);
  gatewayCa = await readFile(join(gw.dataDir, 'ca', 'ca.pem'));
});

after(async () => {
  for (const c of clients) c.end(true);
  await gw?.stop();
  cloud.iot.destroy();
  await cloud.gw.stop();
  await dir.cleanup();
});

test('devices of the cloud connect to the gateway; a revocation in the cloud ends the connection within the interval', async () => {
  const c1 = await connect('dev-1');
  await roundTrip(c1, 'dev-1', 'hello from dev-1');
  await cloud.iot.send(new UpdateCertificateCommand({ certificateId: devices.get('dev-1')!.certificateId, newStatus: 'REVOKED' }));
  await waitForClose(c1, 15_000);
  await assert.rejects(connect('dev-1'));
});

test('with the cloud gone the gateway keeps serving and logs it; when it is back its changes apply again', async () => {
  const c2 = await connect('dev-2');
  await roundTrip(c2, 'dev-2', 'before the outage');
  const from = gw.lines.length;
  await cloud.gw.stop();
  cloud.iot.destroy();
  const failed = await gw.waitForLog((l) => l.includes('"event":"sync-failed"'), 30_000, from);
  assert.match(failed, /SYNC_CLOUD_UNREACHABLE/);
  assert.match(failed, /"trustedUntil":"/);
  // Connected devices stay and keep working; a synced device may still connect within the window.
  await roundTrip(c2, 'dev-2', 'during the outage');
  const c3 = await connect('dev-3');
  await roundTrip(c3, 'dev-3', 'dev-3 during the outage');

  const back = gw.lines.length;
  cloud = await startCloud(join(dir.path, 'cloud'), cloud.port);
  await cloud.iot.send(new UpdateCertificateCommand({ certificateId: devices.get('dev-2')!.certificateId, newStatus: 'INACTIVE' }));
  await gw.waitForLog((l) => l.includes('"event":"sync-recovered"'), 30_000, back);
  await waitForClose(c2, 15_000);
  await roundTrip(c3, 'dev-3', 'dev-3 after the outage');
});
