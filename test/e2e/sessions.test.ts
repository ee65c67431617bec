/**
 * `performance.maxActiveAuthTokens` against the real gateway over real TLS: a live MQTT
 * connection holds its session, so only the local API's token sessions are bounded and
 * evicted (least recently used first, logged); connecting more devices than the limit,
 * or lowering it by a reload, disconnects nobody.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { GatewayProcess, connectDevice, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { apiClient, managementCaller, newToken, type ManagementCaller } from '../api/helpers.js';
import type { ApiClient } from '../api/client.js';

const config = (limit: number): string => `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-* OR thingName: api-*", policyName: Own }
  policies:
    Own:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:t/\${iot:Connection.Thing.ThingName}"] }
performance:
  maxActiveAuthTokens: ${limit}
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
`;

describe('maxActiveAuthTokens bounds API sessions only; live connections hold theirs', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let api: ApiClient;
  let mgmt: ManagementCaller;
  const devices: Device[] = [];
  const apiThings: Device[] = [];
  const clients: MqttClient[] = [];
  const closed = new Set<string>();

  /** Proves every client is still connected: each gets a PUBACK for a QoS 1 publish. */
  const allAnswer = async (): Promise<void> => {
    // A closed connection fails at once rather than leaving its publish pending.
    await Promise.all(clients.map((c, i) => new Promise<void>((resolve, reject) => {
      if (!c.connected) return reject(new Error(`dev-${i} was disconnected`));
      c.once('close', () => reject(new Error(`dev-${i} was disconnected`)));
      c.publishAsync(`t/dev-${i}`, 'ping', { qos: 1 }).then(() => resolve(), reject);
    })));
    assert.deepEqual([...closed], [], 'no device was disconnected');
  };
  const sessionClientIds = async (): Promise<string[]> =>
    (await mgmt.call<{ identitySessions: { clientId: string }[] }>('GET', '/gatehouse/sessions')).json.identitySessions.map((s) => s.clientId).sort();
  const evictedLines = (from: number): string[] => gw.lines.slice(from).filter((l) => l.includes('"event":"session-evicted"'));

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, config(3));
    api = await apiClient(gw);
    mgmt = await managementCaller(gw);
    for (let i = 0; i < 5; i++) devices.push(await gw.createThing(`dev-${i}`));
    for (let i = 0; i < 5; i++) apiThings.push(await gw.createThing(`api-${i}`));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    await gw?.stop();
    await dir?.cleanup();
  });

  test('five devices connect with a limit of three; none is disconnected', async () => {
    for (const d of devices) {
      const c = await connectDevice(gw.mqttUrl, d);
      c.on('close', () => closed.add(d.name));
      clients.push(c);
    }
    await allAnswer();
    assert.deepEqual(await sessionClientIds(), ['dev-0', 'dev-1', 'dev-2', 'dev-3', 'dev-4']);
    assert.deepEqual(evictedLines(0), []);
    assert.equal(gw.lines.some((l) => l.includes('"event":"disconnected"')), false);
  });

  test('API sessions beyond the limit are evicted least recently used first, and logged', async () => {
    const mark = gw.lines.length;
    for (const t of apiThings) await newToken(api, t.name, t.cert);
    await gw.waitForLog((l) => l.includes('"event":"session-evicted"') && l.includes('"clientId":"api-1"'), 5000, mark);
    const evicted = evictedLines(mark).map((l) => JSON.parse(l) as { code: string; clientId: string });
    assert.deepEqual(evicted.map((e) => [e.code, e.clientId]), [['SESSION_EVICTED', 'api-0'], ['SESSION_EVICTED', 'api-1']]);
    assert.deepEqual(await sessionClientIds(), ['api-2', 'api-3', 'api-4', 'dev-0', 'dev-1', 'dev-2', 'dev-3', 'dev-4']);
    await allAnswer();
  });

  test('a reload that lowers the limit evicts API sessions only; every device stays connected', async () => {
    const mark = gw.lines.length;
    await gw.writeConfig(config(1));
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.includes('"event":"config-applied"'), 10000, mark);
    assert.deepEqual(evictedLines(mark).map((l) => (JSON.parse(l) as { clientId: string }).clientId), ['api-2', 'api-3']);
    await allAnswer();
    assert.deepEqual(await sessionClientIds(), ['api-4', 'dev-0', 'dev-1', 'dev-2', 'dev-3', 'dev-4']);
    assert.equal(gw.lines.some((l) => l.includes('"event":"disconnected"')), false);
  });
});
