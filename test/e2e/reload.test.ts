/**
 * A configuration file rewritten in place, against the real gateway with a device
 * connected over real TLS: the half-written states are never applied and the device
 * stays connected.
 */
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { GatewayProcess, connectDevice } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const CONFIG = `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: Own }
  policies:
    Own:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:t/\${iot:Connection.Thing.ThingName}"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
`;

describe('configuration rewritten in place (real gateway, real TLS)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let client: MqttClient;
  let closed = false;

  const stillConnected = async (): Promise<void> => {
    assert.equal(closed, false, 'the device was disconnected');
    await client.publishAsync('t/dev-1', 'ping', { qos: 1 });
  };

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    client = await connectDevice(gw.mqttUrl, await gw.createThing('dev-1'));
    client.on('close', () => (closed = true));
  });
  after(async () => {
    await client?.endAsync();
    await gw?.stop();
    await dir?.cleanup();
  });

  test('truncated, then written back 400 ms later: nothing is applied or refused, the device stays', async () => {
    const mark = gw.lines.length;
    await truncate(gw.configPath, 0);
    await sleep(400); // not synchronisation but the scenario itself: the file stays empty for 400 ms of its 1,000 ms settle time
    await writeFile(gw.configPath, CONFIG);
    await gw.waitForLog((l) => l.includes('"event":"config-unchanged"'), 10000, mark);
    const seen = gw.lines.slice(mark);
    assert.deepEqual(seen.filter((l) => /"event":"(config-applied|config-rejected|disconnected)"/.test(l)), []);
    await stillConnected();
  });

  test('an empty file sent with SIGHUP is refused with CONFIG_EMPTY; the device stays', async () => {
    const mark = gw.lines.length;
    await writeFile(gw.configPath, '\n');
    gw.signal('SIGHUP');
    // (The file watch reads it again once it has settled, with the same outcome.)
    await gw.waitForLog((l) => l.includes('"event":"config-rejected"') && l.includes('"code":"CONFIG_EMPTY"') && l.includes('"trigger":"SIGHUP"'), 10000, mark);
    await stillConnected();
  });

  test('removing every group is refused unless explicit; the explicit form is applied', async () => {
    let mark = gw.lines.length;
    await writeFile(gw.configPath, 'gatehouse: { detectInterfaceAddresses: false, hostAddresses: [127.0.0.1], mqtt: { host: 127.0.0.1 } }\n');
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.includes('"event":"config-rejected"') && l.includes('"code":"CONFIG_RELOAD_REMOVES_ALL_GROUPS"'), 10000, mark);
    assert.equal(gw.lines.slice(mark).some((l) => l.includes('"event":"config-applied"')), false);
    await stillConnected();

    mark = gw.lines.length;
    await writeFile(gw.configPath, `deviceGroups: { definitions: {} }\n${CONFIG.slice(CONFIG.indexOf('gatehouse:'))}`);
    gw.signal('SIGHUP');
    const applied = await gw.waitForLog((l) => l.includes('"event":"config-applied"'), 10000, mark);
    assert.equal((JSON.parse(applied) as { groups: number }).groups, 0);
  });
});

describe('starting with an empty configuration file', () => {
  test('is valid (every device is denied); the file may then be given device groups', async () => {
    const d = await tempDir();
    const gw = await GatewayProcess.start(d.path, '');
    try {
      const ready = await gw.waitForLog((l) => l.includes('"event":"ready"'));
      assert.equal((JSON.parse(ready) as { groups: number }).groups, 0);
      const mark = gw.lines.length;
      await writeFile(gw.configPath, CONFIG);
      gw.signal('SIGHUP');
      const applied = await gw.waitForLog((l) => l.includes('"event":"config-applied"'), 10000, mark);
      assert.equal((JSON.parse(applied) as { groups: number }).groups, 1);
    } finally {
      await gw.stop();
      await d.cleanup();
    }
  });
});
