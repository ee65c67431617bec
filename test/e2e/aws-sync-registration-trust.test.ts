/**
 * Certificates whose issuer the gateway does not know, trusted by their exact registration
 * in the cloud: what AWS IoT does for the certificates it creates itself (signed by
 * Amazon's CA, which is in no account's CA list) and for those registered without a CA.
 * The "cloud" (a second Gatehouse serving the AWS IoT control plane) holds a certificate of
 * a CA that neither instance trusts, registered without a CA; the gateway follows it with
 * `gatehouse.sync.aws`. The device connects over mutual TLS with MQTT.js and its IoT
 * policy decides; certificates that are not that exact registration are refused at the
 * handshake as before (TLS_CERT_UNTRUSTED); a deactivation in the cloud ends it at the
 * next run. Also: the sync's status through the management API and `gatehouse sync status`.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  AttachPolicyCommand, AttachThingPrincipalCommand, CreatePolicyCommand, CreateThingCommand, DeleteThingCommand, RegisterCertificateWithoutCACommand, UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import type { MqttClient } from 'mqtt';
import { CLOUD_ACCOUNT, CLOUD_ARN, CLOUD_REGION, startCloud, type Cloud } from '../helpers/aws-cloud.js';
import { connectDevice, GatewayProcess, runCli, waitForClose, type Device } from '../helpers/gateway.js';
import { EKU, makeCert, x509, type TestCert } from '../helpers/pki.js';
import { tempDir } from '../helpers/tmp-dir.js';

const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${CLOUD_ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${CLOUD_ARN}:topic/data/\${iot:Connection.Thing.ThingName}` },
  ],
});

let dir: { path: string; cleanup: () => Promise<void> };
let cloud: Cloud;
let gw: GatewayProcess;
let gatewayCa: Buffer;
/** Stands in for Amazon's CA: trusted by neither instance. */
let amazonLike: TestCert;
let registered: TestCert;
const clients: MqttClient[] = [];

/** A leaf of `issuer` for CN=`cn`; with `keys`, that key pair (same key, other bytes). */
async function leafOf(issuer: TestCert | undefined, cn: string, keys?: TestCert['keys']): Promise<TestCert> {
  if (keys === undefined) return makeCert({ name: `CN=${cn}`, ...(issuer !== undefined ? { issuer } : {}), ca: null, extendedKeyUsage: [EKU.clientAuth] });
  // Same subject and key as a registered certificate, issued again (another serial number).
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const now = Date.now();
  const common = {
    serialNumber: '02' + Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(15))).toString('hex'),
    notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 86_400_000 * 30),
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.ExtendedKeyUsageExtension([EKU.clientAuth])],
  };
  const cert = issuer === undefined
    ? await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: `CN=${cn}`, keys, signingAlgorithm: alg })
    : await x509.X509CertificateGenerator.create({ ...common, subject: `CN=${cn}`, issuer: issuer.cert.subject, publicKey: keys.publicKey, signingKey: issuer.keys.privateKey, signingAlgorithm: alg });
  const pkcs8 = await globalThis.crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { ...registered, pem: cert.toString('pem') + '\n', keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n', cert, keys, id: '' };
}

function device(name: string, c: TestCert): Device {
  return { name, key: Buffer.from(c.keyPem), cert: Buffer.from(c.pem), ca: gatewayCa, keyPath: '', certPath: '', caPath: '', certificateId: c.id };
}

async function connect(name: string, c: TestCert): Promise<MqttClient> {
  const client = await connectDevice(gw.mqttUrl, device(name, c), { protocolVersion: 5 });
  clients.push(client);
  return client;
}

/** The gateway's `connection-closed` line for the next refused connection, from `from` on. */
function closedLine(from: number): Promise<string> {
  return gw.waitForLog((l) => l.includes('"event":"connection-closed"'), 10_000, from);
}

before(async () => {
  dir = await tempDir('gatehouse-e2e-sync-trust-');
  cloud = await startCloud(join(dir.path, 'cloud'));
  amazonLike = await makeCert({ name: 'CN=Stand-in for the Amazon IoT CA' });
  registered = await makeCert({ name: 'CN=amz-1', issuer: amazonLike, ca: null, extendedKeyUsage: [EKU.clientAuth] });
  await cloud.iot.send(new CreatePolicyCommand({ policyName: 'DevicePolicy', policyDocument: POLICY }));
  await cloud.iot.send(new CreateThingCommand({ thingName: 'amz-1' }));
  const reg = await cloud.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: registered.pem, status: 'ACTIVE' }));
  assert.equal(reg.certificateId, registered.id);
  await cloud.iot.send(new AttachThingPrincipalCommand({ thingName: 'amz-1', principal: reg.certificateArn! }));
  await cloud.iot.send(new AttachPolicyCommand({ policyName: 'DevicePolicy', target: reg.certificateArn! }));
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

test('a certificate of an issuer unknown here, registered in the cloud, connects by mutual TLS and is authorized by its IoT policy', async () => {
  const cert = await gw.cli(['certs', 'show', registered.id, '--json']);
  assert.equal(cert.code, 0, cert.stderr);
  assert.equal((JSON.parse(cert.stdout) as { trust?: string }).trust, 'registration');
  const c = await connect('amz-1', registered);
  const reasonOf = (p: unknown): number => (p as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  assert.equal(reasonOf(await c.publishAsync('data/amz-1', 'hello', { qos: 1 })), 0);
  // Its policy allows data/amz-1 only: 0x87 Not authorized elsewhere (MQTT 5 PUBACK).
  const denied = await c.publishAsync('data/other', 'nope', { qos: 1 }).then(reasonOf, (e: { code?: number }) => e.code);
  assert.equal(denied, 0x87);
});

test('only that exact certificate: same subject and key issued again, self-signed, or another of the same issuer are refused at the handshake', async () => {
  const again = await leafOf(amazonLike, 'amz-1', registered.keys);
  const selfSigned = await leafOf(undefined, 'amz-1', registered.keys);
  const sibling = await leafOf(amazonLike, 'amz-1');
  for (const c of [again, selfSigned, sibling]) {
    const from = gw.lines.length;
    await assert.rejects(connect('amz-1', c));
    const line = await closedLine(from);
    assert.match(line, /"reason":"TLS_CERT_UNTRUSTED"/);
    assert.match(line, /"phase":"tls"/);
  }
});

test('deactivated in the cloud: the connection ends at the next run and a new one is refused', async () => {
  const c = await connect('amz-1', registered);
  await cloud.iot.send(new UpdateCertificateCommand({ certificateId: registered.id, newStatus: 'INACTIVE' }));
  await waitForClose(c, 15_000);
  const from = gw.lines.length;
  await assert.rejects(connect('amz-1', registered));
  assert.match(await closedLine(from), /"reason":"CERT_INACTIVE"/);
  await cloud.iot.send(new UpdateCertificateCommand({ certificateId: registered.id, newStatus: 'ACTIVE' }));
});

test('a refused object is logged once, not at every run, and counted in the status', async () => {
  // A thing created here first: the cloud's thing of the same name is refused (SYNC_LOCAL_OBJECT) at every run.
  const local = await gw.cli(['things', 'create', 'clash', '--out', join(dir.path, 'devices')]);
  assert.equal(local.code, 0, local.stderr);
  const from = gw.lines.length;
  await cloud.iot.send(new CreateThingCommand({ thingName: 'clash' }));
  const refusedLine = await gw.waitForLog((l) => l.includes('"event":"sync-refused"') && l.includes('"name":"clash"'), 15_000, from);
  assert.match(refusedLine, /"code":"SYNC_LOCAL_OBJECT"/);
  // Two more runs after the one that first refused it.
  const at = gw.lines.indexOf(refusedLine);
  let runs = 0;
  await gw.waitForLog((l) => l.includes('"event":"sync"') && l.includes('"refused":1') && ++runs === 3, 20_000, at);
  assert.equal(gw.lines.slice(from).filter((l) => l.includes('"event":"sync-refused"') && l.includes('"name":"clash"')).length, 1);
  const env = { ...await gw.remoteAdminEnv(dir.path), GATEHOUSE_REGION: CLOUD_REGION };
  const remote = await runCli(['--endpoint', await gw.managementUrl(), 'sync', 'status', '--json'], { env });
  assert.equal(remote.code, 0, remote.stderr);
  const status = JSON.parse(remote.stdout) as { refusedObjects: number; lastRun: { refused: number; newlyRefused: number } };
  assert.equal(status.refusedObjects, 1);
  assert.equal(status.lastRun.refused, 1);
  assert.equal(status.lastRun.newlyRefused, 0);
  // Gone from the cloud: no longer refused.
  await cloud.iot.send(new DeleteThingCommand({ thingName: 'clash' }));
  await gw.waitForLog((l) => l.includes('"event":"sync-refusals-cleared"'), 15_000, at);
});

test('the sync\'s status: the management API (GetSyncStatus), `gatehouse sync status` remotely and from the data directory', async () => {
  // A run that started before the previous test's thing left the cloud may still count it: wait for one that does not.
  await gw.waitForLog((l) => l.includes('"event":"sync"') && l.includes('"things":1,'), 15_000, gw.lines.length);
  const env = { ...await gw.remoteAdminEnv(dir.path), GATEHOUSE_REGION: CLOUD_REGION };
  const remote = await runCli(['--endpoint', await gw.managementUrl(), 'sync', 'status', '--json'], { env });
  assert.equal(remote.code, 0, remote.stderr);
  const status = JSON.parse(remote.stdout) as {
    enabled: boolean; runs: number; intervalSeconds: number; lastRun: { result: string; things: number; endedAt: string } | null;
    lastSuccessAt: string | null; trustedUntil: string | null; lastError: unknown; refusedObjects: number;
  };
  assert.equal(status.enabled, true);
  assert.equal(status.intervalSeconds, 1);
  assert.ok(status.runs >= 1);
  assert.equal(status.lastRun?.result, 'succeeded');
  assert.equal(status.lastRun?.things, 1);
  assert.equal(status.lastError, null);
  assert.equal(status.refusedObjects, 0);
  assert.ok(status.lastSuccessAt !== null && status.trustedUntil !== null && Date.parse(status.trustedUntil) > Date.parse(status.lastSuccessAt));
  const text = await runCli(['--endpoint', await gw.managementUrl(), 'sync', 'status'], { env });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /enabled, every 1 s/);
  assert.match(text.stdout, /last run: \S+ succeeded/);
  const local = await gw.cli(['sync', 'status', '--json']);
  assert.equal(local.code, 0, local.stderr);
  const saved = JSON.parse(local.stdout) as { lastRun: { result: string } | null; lastSuccessAt: string | null; trustedUntil: string | null };
  assert.equal(saved.lastRun?.result, 'succeeded');
  assert.ok(saved.lastSuccessAt !== null && saved.trustedUntil !== null);
});
