/**
 * MQTT 5 end to end: every refusal reaches an MQTT 5 client as a reason code (MQTT 5.0
 * §2.4, DISCONNECT §3.14.2.1), seen by MQTT.js (`protocolVersion: 5`) and by
 * `mosquitto_pub`/`mosquitto_sub -V 5 -d`, with a Reason String only where the operator
 * allows it (`gatehouse.mqtt.reasonStrings`). MQTT 3.1.1 behaviour is covered by the
 * other broker tests, unchanged.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket, IDisconnectPacket, IPubackPacket, IPubrecPacket, ISubackPacket, Packet } from 'mqtt-packet';
import { managementCaller } from '../api/helpers.js';
import { GatewayProcess, connectDevice, waitForClose, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { nextMessage, waitForEvent } from '../helpers/wait.js';

const hasMosquittoClients = spawnSync('mosquitto_pub', ['--help'], { encoding: 'utf8' }).error === undefined;
const skipMosquitto = !hasMosquittoClients && !process.env['CI'] ? 'mosquitto_pub/mosquitto_sub not installed (apt-get install mosquitto-clients)' : false;

const NOT_AUTHORIZED = 0x87;

const groups = (connect = true, extra = '', subscribeOk = true): string => `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: DevicePolicy }
    Mute: { selectionRule: "thingName: mute-*", policyName: MutePolicy }
  policies:
    DevicePolicy:
${connect ? '      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:${iot:Connection.Thing.ThingName}"] }\n' : ''}      PubSub: { operations: [mqtt:publish, mqtt:subscribe], resources: ["mqtt:topic:ok/*", ${subscribeOk ? '"mqtt:topicfilter:ok/#", ' : ''}"mqtt:topic:secret/*"] }
      NoSecrets: { effect: DENY, operations: [mqtt:publish], resources: ["mqtt:topic:secret/*"] }
    MutePolicy:
      PubSub: { operations: [mqtt:publish, mqtt:subscribe], resources: ["*"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1${extra} }
`;

/** An MQTT.js v5 client that records every packet it receives, from the CONNACK on. */
interface V5 {
  readonly client: MqttClient;
  readonly packets: Packet[];
  /** Resolves with the first received packet of `cmd` matching `pred` (already received or still to come). */
  next<T extends Packet>(cmd: T['cmd'], pred?: (p: T) => boolean, timeoutMs?: number): Promise<T>;
}

function v5(url: string, d: Device, opts: IClientOptions = {}): V5 {
  const client = mqtt.connect(url, { clientId: d.name, key: d.key, cert: d.cert, ca: d.ca, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts });
  client.on('error', () => {});
  const packets: Packet[] = [];
  client.on('packetreceive', (p) => packets.push(p));
  return {
    client,
    packets,
    next<T extends Packet>(cmd: T['cmd'], pred: (p: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
      const match = (p: Packet): p is T => p.cmd === cmd && pred(p as T);
      const seen = packets.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          client.off('packetreceive', on);
          reject(new Error(`no ${cmd} within ${timeoutMs} ms; received ${packets.map((p) => p.cmd).join(', ')}`));
        }, timeoutMs);
        const on = (p: Packet): void => {
          if (!match(p)) return;
          clearTimeout(t);
          client.off('packetreceive', on);
          resolve(p);
        };
        client.on('packetreceive', on);
      });
    },
  };
}

async function connected(c: V5): Promise<V5> {
  const ack = await c.next<IConnackPacket>('connack');
  assert.equal(ack.reasonCode, 0, 'CONNACK success');
  return c;
}

function execFileP(cmd: string, args: string[], timeoutMs = 10000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('MQTT 5 reason codes (gatehouse.mqtt.reasonStrings off, the default)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  const open: MqttClient[] = [];
  const client = (d: Device, opts: IClientOptions = {}): V5 => {
    const c = v5(gw.mqttUrl, d, opts);
    open.push(c.client);
    return c;
  };

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, groups());
  });
  after(async () => {
    for (const c of open) c.end(true);
    await gw?.stop();
    await dir?.cleanup();
  });

  test('a denied QoS 1 publish gets PUBACK 0x87 and a denied QoS 2 publish PUBREC 0x87, without a Reason String; the connection stays and allowed messages flow', async () => {
    const d = await gw.device('dev-p1');
    const c = await connected(client(d));
    await c.client.subscribeAsync('ok/#', { qos: 1 });
    for (const [topic, qos] of [['secret/a', 1], ['nowhere/x', 1], ['secret/b', 2]] as const) {
      await c.client.publishAsync(topic, 'x', { qos }).catch(() => undefined);
      const ack = await c.next<IPubackPacket | IPubrecPacket>(qos === 1 ? 'puback' : 'pubrec', (p) => p.reasonCode === NOT_AUTHORIZED);
      assert.equal(ack.reasonCode, NOT_AUTHORIZED, topic);
      assert.equal(ack.properties?.reasonString, undefined, `${topic}: no Reason String unless the operator allows it`);
    }
    assert.equal(c.client.connected, true, 'the connection is kept');
    const got = nextMessage(c.client);
    await c.client.publishAsync('ok/x', 'allowed', { qos: 1 });
    assert.equal((await got).payload.toString(), 'allowed');
    const ok = c.packets.filter((p): p is IPubackPacket => p.cmd === 'puback').at(-1);
    assert.equal(ok?.reasonCode ?? 0, 0, 'the allowed publish is acknowledged with success');
  });

  test('SUBACK carries 0x87 for each denied filter and the granted QoS for the others', async () => {
    const c = await connected(client(await gw.device('dev-s1')));
    await c.client.subscribeAsync(['secret/#', 'ok/#', 'other'], { qos: 1 }).catch(() => undefined);
    const suback = await c.next<ISubackPacket>('suback');
    assert.deepEqual(suback.granted, [NOT_AUTHORIZED, 1, NOT_AUTHORIZED]);
    assert.equal(suback.properties?.reasonString, undefined);
    assert.equal(c.client.connected, true);
  });

  test('CONNACK: 0x87 when mqtt:connect is not allowed, 0x85 for a client ID that cannot be a thing name', async () => {
    const mute = await gw.device('mute-c1');
    const refused = client(mute);
    assert.equal((await refused.next<IConnackPacket>('connack')).reasonCode, NOT_AUTHORIZED);
    const badId = client(await gw.device('dev-c1'), { clientId: 'dev c1!' });
    assert.equal((await badId.next<IConnackPacket>('connack')).reasonCode, 0x85);
  });

  test('a shared subscription the policy does not name gets SUBACK 0x87 (allowing ok/# does not allow $share/group/ok/#); enhanced authentication is refused cleanly with CONNACK 0x8C', async () => {
    const c = await connected(client(await gw.device('dev-n1')));
    await c.client.subscribeAsync(['$share/group/ok/#', 'ok/#'], { qos: 1 }).catch(() => undefined);
    assert.deepEqual((await c.next<ISubackPacket>('suback')).granted, [NOT_AUTHORIZED, 1]);
    assert.equal(c.client.connected, true);
    const auth = client(await gw.device('dev-n2'), { properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    assert.equal((await auth.next<IConnackPacket>('connack')).reasonCode, 0x8c);
  });

  test('topic aliases are off by default: CONNACK announces none, and a PUBLISH with an alias gets DISCONNECT 0x94', async () => {
    const d = await gw.device('dev-al0');
    const c = await connected(client(d));
    assert.equal((await c.next<IConnackPacket>('connack')).properties?.topicAliasMaximum, undefined);
    c.client.end(true);
    // MQTT.js will not send an alias the server did not allow: write the packets directly.
    const u = new URL(gw.mqttUrl);
    const sock = tlsConnect({ host: u.hostname, port: Number(u.port), key: d.key, cert: d.cert, ca: d.ca, servername: 'localhost' });
    try {
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      const got: Packet[] = [];
      const waiter = new EventEmitter();
      parser.on('packet', (p: Packet) => {
        got.push(p);
        waiter.emit('packet');
      });
      sock.on('data', (b: Buffer) => parser.parse(b));
      sock.on('error', () => {});
      const until = async (cmd: string): Promise<Packet> => {
        for (;;) {
          const p = got.find((x) => x.cmd === cmd);
          if (p) return p;
          await waitForEvent(waiter, 'packet');
        }
      };
      sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: d.name, clean: true, keepalive: 0 }));
      assert.equal((await until('connack') as IConnackPacket).reasonCode, 0);
      sock.write(mqttPacket.generate({ cmd: 'publish', topic: 'ok/a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } }, { protocolVersion: 5 }));
      assert.equal((await until('disconnect') as IDisconnectPacket).reasonCode, 0x94);
    } finally {
      sock.destroy();
    }
  });

  test('a session taken over gets DISCONNECT 0x8E; the new connection is kept', async () => {
    const d = await gw.device('dev-t1');
    const first = await connected(client(d));
    const second = await connected(client(d));
    const dis = await first.next<IDisconnectPacket>('disconnect');
    assert.equal(dis.reasonCode, 0x8e);
    assert.equal(dis.properties?.reasonString, undefined);
    assert.equal(second.client.connected, true);
  });

  test('an operator\'s DisconnectSession (management API) sends DISCONNECT 0x98', async () => {
    const mgmt = await managementCaller(gw);
    const c = await connected(client(await gw.device('dev-o1')));
    const r = await mgmt.call('DELETE', '/gatehouse/sessions/dev-o1');
    assert.equal(r.status, 204, r.text);
    assert.equal((await c.next<IDisconnectPacket>('disconnect')).reasonCode, 0x98);
  });

  test('mosquitto_pub/mosquitto_sub -V 5 -d print the reason codes', { skip: skipMosquitto }, async () => {
    const d = await gw.device('dev-m1');
    const u = new URL(gw.mqttUrl);
    const base = (x: Device, id = x.name) => ['-h', 'localhost', '-p', u.port, '--cafile', x.caPath, '--cert', x.certPath, '--key', x.keyPath, '-i', id, '-V', '5', '-d'];
    const denied = await execFileP('mosquitto_pub', [...base(d), '-t', 'secret/m', '-m', 'x', '-q', '1']);
    assert.match(denied.stdout, /received PUBACK \(Mid: 1, RC:135\)/, denied.stdout + denied.stderr);
    const sub = await execFileP('mosquitto_sub', [...base(d), '-t', 'secret/#', '-t', 'ok/#', '-W', '1']);
    assert.match(sub.stdout, /Subscribed \(mid: 1\): 135, 0/, sub.stdout + sub.stderr);
    const mute = await execFileP('mosquitto_pub', [...base(await gw.device('mute-m1')), '-t', 'ok/x', '-m', 'x']);
    assert.match(mute.stdout + mute.stderr, /received CONNACK \(135\)/);
  });

  test('a policy change that revokes a held subscription sends DISCONNECT 0x87 to MQTT 5 clients; MQTT 3.1.1 clients stay connected and stop receiving on it', async () => {
    const c5 = await connected(client(await gw.device('dev-u5')));
    await c5.client.subscribeAsync('ok/#', { qos: 1 });
    const c4 = await connectDevice(gw.mqttUrl, await gw.device('dev-u4'));
    open.push(c4);
    await c4.subscribeAsync('ok/#', { qos: 1 });
    const got4: string[] = [];
    c4.on('message', (t) => got4.push(t));
    const c4packets: Packet[] = [];
    c4.on('packetreceive', (p) => c4packets.push(p));
    const mark = gw.lines.length;
    await gw.writeConfig(groups(true, '', false));
    const dis = await c5.next<IDisconnectPacket>('disconnect', undefined, 15_000);
    assert.equal(dis.reasonCode, NOT_AUTHORIZED);
    assert.equal(dis.properties?.reasonString, undefined, 'no Reason String unless the operator allows it');
    const line = JSON.parse(await gw.waitForLog((l) => l.includes('"event":"disconnected"') && l.includes('dev-u5'), 5000, mark)) as Record<string, unknown>;
    assert.deepEqual([line['operation'], line['reason']], ['mqtt:subscribe', 'NO_MATCHING_STATEMENT']);
    // The MQTT 3.1.1 device keeps its connection; its filter is gone and re-subscribing is refused.
    assert.equal(c4.connected, true);
    await c4.publishAsync('ok/after', 'x', { qos: 1 });
    await c4.subscribeAsync('ok/#', { qos: 1 }).catch(() => undefined);
    assert.deepEqual((c4packets.filter((p): p is ISubackPacket => p.cmd === 'suback').at(-1))?.granted, [0x80]);
    assert.deepEqual(got4, [], 'nothing delivered on the revoked filter');
    assert.deepEqual(c4packets.filter((p) => p.cmd === 'disconnect'), []);
    assert.equal(c4.connected, true);
    const restored = gw.lines.length;
    await gw.writeConfig(groups());
    await gw.waitForLog((l) => l.includes('"event":"recheck"'), 15_000, restored);
  });

  test('a policy change that revokes mqtt:connect sends DISCONNECT 0x87 to MQTT 5 clients and closes MQTT 3.1.1 ones', async () => {
    const c5 = await connected(client(await gw.device('dev-r5')));
    const c4 = await connectDevice(gw.mqttUrl, await gw.device('dev-r4'));
    open.push(c4);
    const c4packets: Packet[] = [];
    c4.on('packetreceive', (p) => c4packets.push(p));
    const closed4 = waitForClose(c4, 15_000);
    await gw.writeConfig(groups(false));
    const dis = await c5.next<IDisconnectPacket>('disconnect', undefined, 15_000);
    assert.equal(dis.reasonCode, NOT_AUTHORIZED);
    assert.equal(dis.properties?.reasonString, undefined);
    await closed4;
    assert.deepEqual(c4packets.filter((p) => p.cmd === 'disconnect'), [], 'no DISCONNECT packet in MQTT 3.1.1');
  });
});

describe('MQTT 5 Reason Strings (gatehouse.mqtt.reasonStrings: true) and shutdown', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  const open: MqttClient[] = [];

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, groups(true, ', reasonStrings: true, topicAliasMaximum: 5'));
  });
  after(async () => {
    for (const c of open) c.end(true);
    await gw?.stop();
    await dir?.cleanup();
  });

  test('topic aliases: the decision sees the topic an alias stands for', async () => {
    const c = await connected(v5(gw.mqttUrl, await gw.device('dev-al1')));
    open.push(c.client);
    assert.equal((await c.next<IConnackPacket>('connack')).properties?.topicAliasMaximum, 5, 'announced in CONNACK');
    await c.client.subscribeAsync('ok/#', { qos: 1 });
    // Alias 1 -> ok/a (allowed), alias 2 -> secret/x (denied by a DENY statement).
    const first = nextMessage(c.client);
    await c.client.publishAsync('ok/a', 'set', { qos: 1, properties: { topicAlias: 1 } });
    assert.equal((await first).topic, 'ok/a');
    await c.client.publishAsync('secret/x', 'set', { qos: 1, properties: { topicAlias: 2 } }).catch(() => undefined);
    // Now by alias only (empty topic name).
    const viaAlias = nextMessage(c.client);
    await c.client.publishAsync('', 'by alias', { qos: 1, properties: { topicAlias: 1 } });
    const m = await viaAlias;
    assert.deepEqual([m.topic, m.payload.toString()], ['ok/a', 'by alias']);
    const before = c.packets.filter((p) => p.cmd === 'puback').length;
    await c.client.publishAsync('', 'by alias', { qos: 1, properties: { topicAlias: 2 } }).catch(() => undefined);
    const acks = c.packets.filter((p): p is IPubackPacket => p.cmd === 'puback');
    assert.equal(acks.length, before + 1);
    assert.deepEqual([acks.at(-1)?.reasonCode, acks.at(-1)?.properties?.reasonString], [NOT_AUTHORIZED, 'DENIED_BY_STATEMENT'], 'the alias resolved to secret/x, which is denied');
    assert.equal(c.client.connected, true);
  });

  test('refusals name their reason code, never policy names or statements; shutdown sends DISCONNECT 0x8B', async () => {
    const d = await gw.device('dev-rs1');
    const c = await connected(v5(gw.mqttUrl, d));
    open.push(c.client);
    await c.client.publishAsync('secret/a', 'x', { qos: 1 }).catch(() => undefined);
    await c.client.publishAsync('nowhere/a', 'x', { qos: 1 }).catch(() => undefined);
    const acks = c.packets.filter((p): p is IPubackPacket => p.cmd === 'puback');
    assert.deepEqual(acks.map((a) => [a.reasonCode, a.properties?.reasonString]), [[NOT_AUTHORIZED, 'DENIED_BY_STATEMENT'], [NOT_AUTHORIZED, 'NO_MATCHING_STATEMENT']]);
    for (const a of acks) assert.doesNotMatch(String(a.properties?.reasonString), /DevicePolicy|NoSecrets|secret/);

    const second = await connected(v5(gw.mqttUrl, d));
    open.push(second.client);
    const taken = await c.next<IDisconnectPacket>('disconnect');
    assert.deepEqual([taken.reasonCode, taken.properties?.reasonString], [0x8e, 'SESSION_REPLACED']);

    const gone = second.next<IDisconnectPacket>('disconnect', undefined, 15_000);
    await gw.stop();
    assert.equal((await gone).reasonCode, 0x8b);
  });
});
