/**
 * Another broker using Gatehouse through the local API only: a device is allowed and
 * denied on it exactly as on Gatehouse's own broker, and the broker's TLS identity
 * follows Gatehouse's certificate rotations through the certificate-update stream.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { GatewayProcess, collectMessages, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import type { ApiClient } from './client.js';
import { ExternalBroker } from './external-broker.js';
import { POLICIES, apiClient, gatehouseSection, scrape } from './helpers.js';
import { nextMessage, waitUntil } from '../helpers/wait.js';

const CONFIG = POLICIES + gatehouseSection();

type Outcome = 'connected' | 'refused';

function connect(url: string, device: Device, clientId = device.name): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, key: device.key, cert: device.cert, ca: device.ca, reconnectPeriod: 0, connectTimeout: 5000 }, false);
}

async function outcome(url: string, device: Device, clientId?: string): Promise<Outcome> {
  try {
    const c = await connect(url, device, clientId);
    await c.endAsync();
    return 'connected';
  } catch (e) {
    // CONNACK 5; or, on Gatehouse's own broker, a certificate that is revoked or attached
    // to no thing is refused right after the TLS handshake, before any CONNACK.
    if ((e as { code?: number }).code === 5 || (e as Error).message === 'Couldn\'t connect to server') return 'refused';
    throw e;
  }
}

/** SUBACK return codes (mqtt.js 5's subscribeAsync rejects when one is 0x80; the SUBACK is on the error). */
async function grants(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (e) {
    const granted = (e as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw e;
    return granted;
  }
}

interface Devices {
  sensor: Device;
  reader: Device;
  mute: Device;
  deleted: Device;
  revoked: Device;
}

/** Everything a device can observe about its permissions on one broker. */
async function scenario(url: string, d: Devices): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {
    mute: await outcome(url, d.mute),
    deletedThing: await outcome(url, d.deleted),
    revokedCertificate: await outcome(url, d.revoked),
    otherClientId: await outcome(url, d.sensor, 'sensor-impostor'),
  };
  const sensor = await connect(url, d.sensor);
  const reader = await connect(url, d.reader);
  try {
    result['readerGrants'] = await grants(reader, ['sensors/#', 'commands/#']);
    result['sensorGrants'] = await grants(sensor, [`commands/${d.sensor.name}`, 'sensors/#']);
    const got = collectMessages(reader);
    // Each PUBACK follows the broker's handling of the message, so the allowed one,
    // published last, is the marker: a denied one that got through would arrive first.
    const marker = nextMessage(reader, (m) => m.topic === `sensors/${d.sensor.name}/temp`);
    for (const topic of [`sensors/${d.sensor.name}/secret`, 'sensors/sensor-other/temp', `sensors/${d.sensor.name}/temp`]) {
      await sensor.publishAsync(topic, 'x', { qos: 1 });
    }
    await marker;
    result['delivered'] = got.map((m) => m.topic);
    result['sensorStillConnected'] = sensor.connected;
  } finally {
    await sensor.endAsync();
    await reader.endAsync();
  }
  return result;
}

describe('an external broker using only the local API', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let api: ApiClient;
  let external: ExternalBroker;
  let devices: Devices;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    api = await apiClient(gw);
    devices = {
      sensor: await gw.createThing('sensor-x1'),
      reader: await gw.createThing('reader-x1'),
      mute: await gw.createThing('mute-x1'),
      deleted: await gw.createThing('sensor-x2'),
      revoked: await gw.createThing('sensor-x3'),
    };
    assert.equal((await gw.cli(['things', 'delete', 'sensor-x2'])).code, 0);
    assert.equal((await gw.cli(['certs', 'revoke', devices.revoked.certificateId])).code, 0);
    external = await ExternalBroker.start(api);
  });
  after(async () => {
    await external?.close();
    await gw?.stop();
    await dir?.cleanup();
  });

  test('a device is allowed and denied on it exactly as on Gatehouse\'s own broker', async () => {
    const expected = {
      mute: 'refused',
      deletedThing: 'refused',
      revokedCertificate: 'refused',
      otherClientId: 'refused',
      readerGrants: [1, 128],
      sensorGrants: [1, 128],
      delivered: ['sensors/sensor-x1/temp'],
      sensorStillConnected: true,
    };
    const own = await scenario(gw.mqttUrl, devices);
    assert.deepEqual(own, expected, 'Gatehouse\'s own broker');
    const callsBefore = external.calls.length;
    const viaApi = await scenario(external.url, devices);
    assert.deepEqual(viaApi, own, 'the external broker');
    const calls = new Set(external.calls.slice(callsBefore));
    assert.deepEqual([...calls].sort(), [
      'DELETE /v1/sessions/{token}',
      'POST /v1/authorize-client-device-action',
      'POST /v1/get-client-device-auth-token',
      'POST /v1/verify-client-device-identity',
    ]);
    // Sessions of disconnected clients were closed through the API.
    await waitUntil(async () => (await scrape(api)).get('gatehouse_live_sessions') === 0, 5000, 'all sessions closed');
  });

  test('it serves TLS with a Gatehouse-issued certificate and follows rotations', async () => {
    const served = async (): Promise<X509Certificate> => new Promise((resolve, reject) => {
      const u = new URL(external.url);
      const s = tlsConnect({ host: u.hostname, port: Number(u.port), ca: devices.sensor.ca, key: devices.sensor.key, cert: devices.sensor.cert }, () => {
        const c = s.getPeerX509Certificate();
        s.destroy();
        if (c) resolve(c);
        else reject(new Error('no peer certificate'));
      });
      s.on('error', reject);
    });
    const first = await served();
    assert.equal(first.fingerprint256, new X509Certificate(external.certificates[0]!.certificate).fingerprint256);
    assert.ok(first.verify(new X509Certificate(devices.sensor.ca).publicKey));

    // New host addresses make the gateway re-issue its own certificate; every stream
    // subscriber gets a new one.
    const mark = gw.lines.length;
    await gw.writeConfig(POLICIES + gatehouseSection().replace('hostAddresses: [127.0.0.1, localhost]', 'hostAddresses: [127.0.0.1, localhost, gateway.example]'));
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.includes('server-certificate-rotated'), 15_000, mark);
    await waitUntil(() => external.certificates.length === 2, 15_000, 'a second certificate on the stream');
    const second = new X509Certificate(external.certificates[1]!.certificate);
    assert.notEqual(second.fingerprint256, first.fingerprint256);
    assert.notEqual(external.certificates[1]!.privateKey, external.certificates[0]!.privateKey);
    assert.ok(second.checkHost('gateway.example') !== undefined, 'the new certificate names the new host');
    assert.equal((await served()).fingerprint256, second.fingerprint256);
    assert.equal(await outcome(external.url, devices.sensor), 'connected');
  });
});
