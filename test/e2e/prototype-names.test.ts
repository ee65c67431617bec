import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { GatewayProcess, connectDevice, waitForClose, type Device } from '../helpers/gateway.js';
import { nextMessage } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp-dir.js';

/**
 * Client IDs and topic filters come off the wire, and a broker that keeps them as keys of
 * plain objects reads names such as `constructor` or `__proto__` as already present:
 * aedes 2.0.0-beta.1 throws an uncaught exception (the gateway process exits) on a
 * SUBSCRIBE or an UNSUBSCRIBE of such a filter, and on a CONNECT with such a client ID
 * (the advisory GHSA-52qw-whmv-87c5, fixed in the aedes 1.x line the gateway pins). Thing
 * names may be any of these words, and UNSUBSCRIBE is not authorized at all, so any
 * device could end the gateway. These tests hold every broker upgrade to that.
 */
const NAMES = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'] as const;

const CONFIG = `
deviceGroups:
  definitions:
    All: { selectionRule: "thingName: *", policyName: Open }
  policies:
    Open:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      PubSub: { operations: [mqtt:publish, mqtt:subscribe], resources: ["*"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

describe('client IDs and topic filters named like Object.prototype properties', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let plain: Device;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    plain = await gw.device('plain-device');
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  /** The gateway still serves: a device connects and gets a message through. */
  async function assertGatewayServes(): Promise<void> {
    const c = await connectDevice(gw.mqttUrl, plain);
    try {
      await c.subscribeAsync('alive/check', { qos: 1 });
      const got = nextMessage(c);
      await c.publishAsync('alive/check', 'yes', { qos: 1 });
      assert.equal((await got).payload.toString(), 'yes');
    } finally {
      await c.endAsync();
    }
  }

  test('SUBSCRIBE, PUBLISH and UNSUBSCRIBE on such filters work and the gateway stays up (3.1.1)', async () => {
    const c = await connectDevice(gw.mqttUrl, plain, { clientId: plain.name });
    try {
      for (const name of NAMES) {
        const granted = await c.subscribeAsync(name, { qos: 1 });
        assert.deepEqual(granted.map((g) => g.qos), [1], `SUBACK for ${name}`);
        const got = nextMessage(c);
        await c.publishAsync(name, `to ${name}`, { qos: 1 });
        const m = await got;
        assert.equal(m.topic, name);
        assert.equal(m.payload.toString(), `to ${name}`);
        // Re-subscribing at another QoS takes the "subscription changed" path.
        assert.deepEqual((await c.subscribeAsync(name, { qos: 0 })).map((g) => g.qos), [0]);
        await c.unsubscribeAsync(name);
      }
      // Filters never subscribed: UNSUBSCRIBE needs no permission, so any device can send it.
      for (const name of NAMES) await c.unsubscribeAsync(`${name}`);
      assert.equal(c.connected, true);
    } finally {
      await c.endAsync();
    }
    await assertGatewayServes();
  });

  test('devices whose thing names are such words connect, are taken over by their next connection, and the gateway stays up', async () => {
    for (const name of ['constructor', 'toString', 'valueOf']) {
      const d = await gw.device(name);
      const first = await connectDevice(gw.mqttUrl, d);
      const closed = waitForClose(first);
      const second = await connectDevice(gw.mqttUrl, d);
      await closed;
      assert.equal(second.connected, true, `${name}: the second connection is the one kept`);
      await second.endAsync();
    }
    await assertGatewayServes();
  });

  test('a raw UNSUBSCRIBE of such a filter (MQTT.js, no SUBSCRIBE before) gets its UNSUBACK', async () => {
    const c = await mqtt.connectAsync(gw.mqttUrl, { clientId: plain.name, key: plain.key, cert: plain.cert, ca: plain.ca, reconnectPeriod: 0 }, false);
    try {
      await c.unsubscribeAsync(['constructor', '__proto__', 'hasOwnProperty']);
      assert.equal(c.connected, true);
    } finally {
      await c.endAsync();
    }
    await assertGatewayServes();
  });
});
