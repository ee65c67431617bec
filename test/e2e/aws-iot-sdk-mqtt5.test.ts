/**
 * The AWS IoT Device SDK v2 for JavaScript's MQTT 5 client (aws-crt's native client, mutual
 * TLS with a device certificate) against the gateway: it connects, and sees a denied
 * publish and a denied subscription as reason code 135 (0x87 Not authorized), and uses a
 * shared subscription (its CONNACK announces them available).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { iot, mqtt5 } from 'aws-iot-device-sdk-v2';
import { GatewayProcess, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const CONFIG = `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: sdk-*", policyName: DevicePolicy }
  policies:
    DevicePolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      PubSub: { operations: [mqtt:publish, mqtt:subscribe], resources: ["mqtt:topic:ok/*", "mqtt:topicfilter:ok/#", "mqtt:topicfilter:$share/sdk/ok/#"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

function sdkClient(url: string, d: Device): mqtt5.Mqtt5Client {
  const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath('localhost', d.certPath, d.keyPath);
  builder.withCertificateAuthorityFromPath(undefined, d.caPath);
  builder.withPort(Number(new URL(url).port));
  builder.withConnectProperties({ clientId: d.name, keepAliveIntervalSeconds: 60 });
  return new mqtt5.Mqtt5Client(builder.build());
}

describe('AWS IoT Device SDK v2, MQTT 5 client', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('connects with a device certificate; a denied publish and a denied subscription come back as reason code 135', async () => {
    const client = sdkClient(gw.mqttUrl, await gw.device('sdk-1'));
    try {
      const connected = new Promise<mqtt5.ConnectionSuccessEvent>((resolve, reject) => {
        client.once('connectionSuccess', resolve);
        client.once('connectionFailure', (e: mqtt5.ConnectionFailureEvent) => reject(new Error(`connection failed (CONNACK ${e.connack?.reasonCode ?? 'none'})`)));
      });
      client.start();
      const ok = await connected;
      assert.equal(ok.connack.reasonCode, mqtt5.ConnectReasonCode.Success);

      const suback = await client.subscribe({ subscriptions: [{ topicFilter: 'secret/#', qos: mqtt5.QoS.AtLeastOnce }, { topicFilter: 'ok/#', qos: mqtt5.QoS.AtLeastOnce }] });
      assert.deepEqual(suback.reasonCodes, [mqtt5.SubackReasonCode.NotAuthorized, mqtt5.SubackReasonCode.GrantedQoS1]);
      assert.equal(mqtt5.SubackReasonCode.NotAuthorized, 135);

      const denied = await client.publish({ topicName: 'secret/x', qos: mqtt5.QoS.AtLeastOnce, payload: 'x' });
      assert.equal(denied?.reasonCode, mqtt5.PubackReasonCode.NotAuthorized);
      assert.equal(mqtt5.PubackReasonCode.NotAuthorized, 135);

      const received = new Promise<mqtt5.MessageReceivedEvent>((resolve) => client.once('messageReceived', resolve));
      const allowed = await client.publish({ topicName: 'ok/x', qos: mqtt5.QoS.AtLeastOnce, payload: 'fine' });
      assert.equal(allowed?.reasonCode, mqtt5.PubackReasonCode.Success);
      assert.equal((await received).message.topicName, 'ok/x');
    } finally {
      const stopped = new Promise<void>((resolve) => client.once('stopped', () => resolve()));
      client.stop();
      await stopped;
      client.close();
    }
  });

  test('shared subscriptions: negotiated as available, a $share filter the policy names is granted and receives, one it does not name gets 135', async () => {
    const client = sdkClient(gw.mqttUrl, await gw.device('sdk-2'));
    try {
      const connected = new Promise<mqtt5.ConnectionSuccessEvent>((resolve, reject) => {
        client.once('connectionSuccess', resolve);
        client.once('connectionFailure', (e: mqtt5.ConnectionFailureEvent) => reject(new Error(`connection failed (CONNACK ${e.connack?.reasonCode ?? 'none'})`)));
      });
      client.start();
      const ok = await connected;
      assert.equal(ok.settings.sharedSubscriptionsAvailable, true);
      const suback = await client.subscribe({ subscriptions: [{ topicFilter: '$share/sdk/ok/#', qos: mqtt5.QoS.AtLeastOnce }, { topicFilter: '$share/other/ok/#', qos: mqtt5.QoS.AtLeastOnce }] });
      assert.deepEqual(suback.reasonCodes, [mqtt5.SubackReasonCode.GrantedQoS1, mqtt5.SubackReasonCode.NotAuthorized]);
      const received = new Promise<mqtt5.MessageReceivedEvent>((resolve) => client.once('messageReceived', resolve));
      await client.publish({ topicName: 'ok/shared', qos: mqtt5.QoS.AtLeastOnce, payload: 'to the group' });
      assert.equal((await received).message.topicName, 'ok/shared');
    } finally {
      const stopped = new Promise<void>((resolve) => client.once('stopped', () => resolve()));
      client.stop();
      await stopped;
      client.close();
    }
  });
});
