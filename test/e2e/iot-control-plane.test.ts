/**
 * The AWS IoT control plane and Greengrass connectivity information against a running
 * gateway, with the official SDK clients and the first-start administrator's
 * credentials: provision a device entirely through `@aws-sdk/client-iot`, connect it
 * over MQTT, revoke its certificate and see it disconnected; update the connectivity
 * information with `@aws-sdk/client-greengrassv2` and see the MQTT listener present a
 * certificate with the new names.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import {
  AttachPolicyCommand, AttachThingPrincipalCommand, CreateKeysAndCertificateCommand, CreatePolicyCommand, CreateThingCommand, IoTClient,
  ResourceNotFoundException, UpdateCertificateCommand, DescribeThingCommand,
} from '@aws-sdk/client-iot';
import { GetConnectivityInfoCommand, GreengrassV2Client, UpdateConnectivityInfoCommand } from '@aws-sdk/client-greengrassv2';
import { GatewayProcess, connectDevice, waitForClose, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const REGION = 'eu-west-1';
const ARN = `arn:aws:iot:${REGION}:123456789012`;

const CONFIG = `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${REGION}, accountId: "123456789012" }
`;

const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/data/*` },
  ],
});

/** The SAN text of the certificate the MQTT listener presents to a new TLS connection. */
function presentedSans(mqttUrl: string): Promise<string> {
  const u = new URL(mqttUrl);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      const san = s.getPeerCertificate().subjectaltname ?? '';
      s.destroy();
      resolve(san);
    });
    s.on('error', reject);
  });
}

describe('AWS IoT control plane and Greengrass connectivity on a running gateway', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let iot: IoTClient;
  let greengrass: GreengrassV2Client;
  let caPem: string;

  before(async () => {
    dir = await tempDir('gatehouse-e2e-iot-cp-');
    gw = await GatewayProcess.start(dir.path, CONFIG);
    const url = await gw.managementUrl();
    const credentials = await gw.adminCredentials();
    caPem = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    const common = { endpoint: url, region: REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem }) } };
    iot = new IoTClient(common);
    greengrass = new GreengrassV2Client(common);
  });
  after(async () => {
    iot.destroy();
    greengrass.destroy();
    await gw.stop();
    await dir.cleanup();
  });

  test('a device provisioned with client-iot connects; revoking its certificate disconnects it', async () => {
    const keys = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await iot.send(new CreateThingCommand({ thingName: 'cp-device', attributePayload: { attributes: { site: 'lab' } } }));
    await iot.send(new AttachThingPrincipalCommand({ thingName: 'cp-device', principal: keys.certificateArn! }));
    await iot.send(new CreatePolicyCommand({ policyName: 'cp-device-policy', policyDocument: DEVICE_POLICY }));
    await iot.send(new AttachPolicyCommand({ policyName: 'cp-device-policy', target: keys.certificateArn! }));
    assert.deepEqual((await iot.send(new DescribeThingCommand({ thingName: 'cp-device' }))).attributes, { site: 'lab' });
    await assert.rejects(iot.send(new DescribeThingCommand({ thingName: 'nope' })), ResourceNotFoundException);

    const device: Device = {
      name: 'cp-device', key: Buffer.from(keys.keyPair!.PrivateKey!), cert: Buffer.from(keys.certificatePem!), ca: Buffer.from(caPem),
      keyPath: '', certPath: '', caPath: '', certificateId: keys.certificateId!,
    };
    // The gateway applies the new policy within its registry poll: retry the connection until it does.
    let client: Awaited<ReturnType<typeof connectDevice>> | undefined;
    await waitUntil(async () => {
      try {
        client = await connectDevice(gw.mqttUrl, device);
        return true;
      } catch {
        return false;
      }
    }, 10_000, 'the device to connect');
    await client!.publishAsync('data/x', 'hello', { qos: 1 });

    const closed = waitForClose(client!, 10_000);
    await iot.send(new UpdateCertificateCommand({ certificateId: keys.certificateId!, newStatus: 'REVOKED' }));
    await closed;
    await assert.rejects(connectDevice(gw.mqttUrl, device));
  });

  test('UpdateConnectivityInfo: the MQTT listener presents a certificate with the new names', async () => {
    assert.doesNotMatch(await presentedSans(gw.mqttUrl), /10\.20\.30\.40/);
    const r = await greengrass.send(new UpdateConnectivityInfoCommand({
      thingName: 'gatehouse-core',
      connectivityInfo: [{ id: 'lan', hostAddress: '10.20.30.40', portNumber: 8883 }, { id: 'dns', hostAddress: 'broker.plant.example', portNumber: 8883 }],
    }));
    assert.equal(r.version, '1');
    const san = await presentedSans(gw.mqttUrl);
    for (const name of ['IP Address:10.20.30.40', 'DNS:broker.plant.example', 'IP Address:127.0.0.1', 'DNS:localhost']) assert.ok(san.includes(name), `${name} in ${san}`);
    assert.deepEqual((await greengrass.send(new GetConnectivityInfoCommand({ thingName: 'gatehouse-core' }))).connectivityInfo?.map((c) => c.hostAddress), ['10.20.30.40', 'broker.plant.example']);
  });

  test('the connectivity information survives a restart: the names stay in the server certificate', async () => {
    await gw.stop();
    gw = await GatewayProcess.launch(dir.path, gw.configPath, gw.dataDir);
    const san = await presentedSans(gw.mqttUrl);
    assert.ok(san.includes('IP Address:10.20.30.40') && san.includes('DNS:broker.plant.example'), san);
  });
});
