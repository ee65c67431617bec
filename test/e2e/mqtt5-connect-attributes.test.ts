/**
 * `iot:ConnectAttributes` for MQTT 5 connections. AWS documents two values,
 * `PersistentConnect` and `LastWill`
 * (https://docs.aws.amazon.com/iot/latest/developerguide/mqtt.html#connect-attribute).
 * In MQTT 5 whether a session outlives its connection is the Session Expiry Interval, not
 * the Clean Start flag (MQTT 5.0 §3.1.2.11.2): a CONNECT with a non-zero interval is a
 * persistent connect, whatever Clean Start says, and one with interval 0 is not, even with
 * Clean Start 0 (the session ends with the connection).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IClientOptions } from 'mqtt';
import { GatewayProcess, connectDevice, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const ARN = 'arn:aws:iot:eu-west-1:123456789012';

const CONFIG = `
deviceGroups:
  definitions: {}
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: eu-west-1, accountId: "123456789012" }
`;

/** Devices may connect as their thing, but neither with a persistent session nor with a will. */
const NO_PERSISTENCE = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Deny', Action: 'iot:Connect', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'iot:ConnectAttributes': ['PersistentConnect', 'LastWill'] } } },
  ],
};

/** The CONNACK reason/return code a connection attempt ends with (0 = accepted). */
async function connack(url: string, d: Device, opts: IClientOptions): Promise<number> {
  try {
    const c = await connectDevice(url, d, opts);
    await c.endAsync();
    return 0;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw e;
  }
}

describe('iot:ConnectAttributes for MQTT 5 CONNECTs', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let d: Device;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    d = await gw.device('cattr-1');
    const file = join(dir.path, 'policy.json');
    await writeFile(file, JSON.stringify(NO_PERSISTENCE));
    for (const args of [['policies', 'create', 'NoPersistence', '--file', file], ['policies', 'attach', 'NoPersistence', '--cert', d.certificateId]]) {
      const from = gw.lines.length;
      const r = await gw.cli(args);
      assert.equal(r.code, 0, r.stderr);
      await gw.waitForLog((l) => l.includes('"event":"iot-policies-applied"') && l.includes('"trigger":"registry"'), 5000, from);
    }
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('PersistentConnect follows the Session Expiry Interval; LastWill follows the Will', async () => {
    const cases: [string, IClientOptions, number][] = [
      ['clean start, no expiry', { protocolVersion: 5, clean: true }, 0],
      ['no clean start, expiry 0: the session ends with the connection', { protocolVersion: 5, clean: false }, 0],
      ['clean start, expiry 3600: the session outlives the connection', { protocolVersion: 5, clean: true, properties: { sessionExpiryInterval: 3600 } }, 0x87],
      ['no clean start, expiry 3600', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } }, 0x87],
      ['a will', { protocolVersion: 5, clean: true, will: { topic: 'w/t', payload: Buffer.from('x'), qos: 0, retain: false } }, 0x87],
      ['MQTT 3.1.1, clean session 0', { protocolVersion: 4, clean: false }, 5],
      ['MQTT 3.1.1, clean session 1', { protocolVersion: 4, clean: true }, 0],
    ];
    for (const [name, opts, expected] of cases) assert.equal(await connack(gw.mqttUrl, d, opts), expected, name);
  });
});
