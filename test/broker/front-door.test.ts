/**
 * The broker's front door against the real gateway process, with real TLS sockets:
 * what an unauthenticated or misbehaving peer can make the gateway hold, and that
 * every refusal is logged with a reason and counted.
 *
 * Attackers write raw bytes over `node:tls`; valid packets come from the mqtt-packet
 * generator. The gateway's memory is read from /proc/PID/status (VmRSS).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';
import { GatewayProcess, connectDevice, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';
import { makeCert, x509 } from '../helpers/pki.js';

const POLICY = `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: DevicePolicy }
  policies:
    DevicePolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:*"] }
      Subscribe: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:*"] }
`;
const CONFIG = (mqtt = '') => `${POLICY}
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1${mqtt} }
`;

/** PUBLISH fixed header announcing the largest remaining length MQTT allows (268,435,455 bytes). */
const HUGE_PUBLISH_HEADER = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]);
const MB = 1024 * 1024;

interface Endpoint { host: string; port: number; ca: Buffer }

function endpoint(gw: GatewayProcess, dev: Device): Endpoint {
  const u = new URL(gw.mqttUrl);
  return { host: u.hostname, port: Number(u.port), ca: dev.ca };
}

/** A TLS connection with the given client certificate, resolved once the handshake completed. */
function tlsOpen(ep: Endpoint, cred: { key: Buffer | string; cert: Buffer | string }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: ep.host, port: ep.port, ca: ep.ca, key: cred.key, cert: cred.cert, servername: 'localhost' });
    s.once('secureConnect', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Resolves with the milliseconds until the socket closed; rejects if it stays open. */
function closed(s: Socket, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (s.destroyed && s.closed) return resolve(0);
    const t = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve(Date.now() - started);
    });
  });
}

/** The first MQTT packet the server sends on a raw connection. */
function firstPacket(s: Socket, timeoutMs = 5000, protocolVersion: 4 | 5 = 4): Promise<mqttPacket.Packet> {
  return new Promise((resolve, reject) => {
    const parser = mqttPacket.parser({ protocolVersion });
    const t = setTimeout(() => reject(new Error('no packet from the server')), timeoutMs);
    parser.once('packet', (p: mqttPacket.Packet) => {
      clearTimeout(t);
      resolve(p);
    });
    s.on('data', (d: Buffer) => parser.parse(d));
    s.once('close', () => reject(new Error('closed before a packet arrived')));
  });
}

function connectPacket(clientId: string, protocolVersion: 4 | 5 = 4): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId, clean: true, keepalive: 60 });
}

/**
 * Writes `total` bytes of payload as fast as the connection takes them; stops when it
 * closes. Resolves with how many bytes the socket accepted.
 */
function stream(s: Socket, total: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  return new Promise((resolve) => {
    let written = 0;
    const pump = (): void => {
      while (written < total && !s.destroyed) {
        written += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      resolve(written);
    };
    s.once('close', () => resolve(written));
    pump();
  });
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  assert.ok(m, 'VmRSS not found');
  return Number(m[1]) * 1024;
}

async function metricsText(gw: GatewayProcess): Promise<string> {
  const r = await fetch(`${gw.apiUrl}/metrics`, { headers: { authorization: `Bearer ${await gw.apiToken()}` } });
  assert.equal(r.status, 200);
  return r.text();
}

function closedCount(metrics: string, reason: string): number {
  const m = new RegExp(`^gatehouse_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}

/** The next `connection-closed` log line with this reason (after line index `from`). */
async function closeLine(gw: GatewayProcess, reason: string, from: number): Promise<Record<string, unknown>> {
  const line = await gw.waitForLog((l) => l.includes('"connection-closed"') && l.includes(`"reason":"${reason}"`), 5000, from);
  return JSON.parse(line) as Record<string, unknown>;
}

function execFileP(cmd: string, args: string[], timeoutMs = 10000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: stdout + stderr });
    });
    child.stdin?.end();
  });
}

describe('front door: before and around CONNECT (real gateway, real TLS)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let good: Device;
  let revoked: Device;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG(', websocket: { enabled: true, host: 127.0.0.1, port: 0, path: /mqtt }'));
    good = await gw.createThing('dev-good');
    revoked = await gw.createThing('dev-revoked');
    const r = await gw.cli(['certs', 'revoke', revoked.certificateId]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('attack: a revoked certificate announcing a 268 MB PUBLISH is closed at once; RSS grows by under 4 MB', async (t) => {
    const pid = gw.pid!;
    const ep = endpoint(gw, good);
    // Warm up the code paths once, so the measurement sees the attack and not first-use costs.
    const warm = await tlsOpen(ep, revoked);
    await closed(warm);
    const mark = gw.lines.length;
    const before = await rssBytes(pid);
    const sockets = await Promise.all([0, 1, 2].map(() => tlsOpen(ep, revoked)));
    const sent = await Promise.all(sockets.map(async (s) => {
      s.write(HUGE_PUBLISH_HEADER);
      return stream(s, 64 * MB);
    }));
    for (const s of sockets) await closed(s);
    const line = await closeLine(gw, 'CERT_REVOKED', mark);
    assert.equal(line['phase'], 'certificate');
    const grown = (await rssBytes(pid)) - before;
    t.diagnostic(`3 connections: RSS grew by ${(grown / MB).toFixed(2)} MB; bytes the connections took before closing: ${sent.join(', ')}`);
    for (const n of sent) assert.ok(n < 64 * MB, `the gateway accepted the whole ${n} bytes stream instead of closing`);
    assert.ok(grown < 4 * MB, `RSS grew by ${(grown / MB).toFixed(1)} MB`);
  });

  test('attack: an authenticated client announcing more than maxPacketSizeBytes is closed as soon as the length is read; RSS grows by under 4 MB', async (t) => {
    const pid = gw.pid!;
    const ep = endpoint(gw, good);
    const mark = gw.lines.length;
    const s = await tlsOpen(ep, good);
    s.write(connectPacket('dev-good'));
    const connack = await firstPacket(s);
    assert.equal(connack.cmd, 'connack');
    assert.equal((connack).returnCode, 0);
    const before = await rssBytes(pid);
    s.write(HUGE_PUBLISH_HEADER);
    const sent = await stream(s, 64 * MB);
    await closed(s);
    const line = await closeLine(gw, 'MQTT_PACKET_TOO_LARGE', mark);
    assert.equal(line['clientId'], 'dev-good');
    assert.equal(line['limit'], 262144);
    assert.equal(line['authenticated'], true);
    const grown = (await rssBytes(pid)) - before;
    t.diagnostic(`RSS grew by ${(grown / MB).toFixed(2)} MB; bytes the connection took before closing: ${sent}`);
    assert.ok(sent < 64 * MB, 'the gateway accepted the whole stream instead of closing');
    assert.ok(grown < 4 * MB, `RSS grew by ${(grown / MB).toFixed(1)} MB`);
  });

  test('a packet just under maxPacketSizeBytes is accepted after CONNECT', async () => {
    const client = await connectDevice(gw.mqttUrl, good);
    await client.publishAsync('big/ok', Buffer.alloc(200 * 1024, 1), { qos: 1 });
    assert.equal(client.connected, true);
    await client.endAsync();
  });

  test('revoked, deactivated and unattached certificates are closed right after the handshake, before any MQTT byte', async () => {
    const inactive = await gw.createThing('dev-inactive');
    assert.equal((await gw.cli(['certs', 'deactivate', inactive.certificateId])).code, 0);
    const loose = await gw.createThing('dev-loose');
    assert.equal((await gw.cli(['things', 'detach', 'dev-loose', loose.certificateId])).code, 0);
    const ep = endpoint(gw, good);
    for (const [dev, reason] of [[revoked, 'CERT_REVOKED'], [inactive, 'CERT_INACTIVE'], [loose, 'CERT_NOT_ATTACHED']] as const) {
      const mark = gw.lines.length;
      const s = await tlsOpen(ep, dev);
      // Nothing is sent: the gateway closes on its own.
      await closed(s);
      const line = await closeLine(gw, reason, mark);
      assert.equal(line['phase'], 'certificate');
      assert.equal(line['certificateId'], dev.certificateId);
    }
    assert.ok(closedCount(await metricsText(gw), 'CERT_INACTIVE') >= 1);
  });

  test('the first packet must be a CONNECT: a PUBLISH is refused on its first byte', async () => {
    const mark = gw.lines.length;
    const s = await tlsOpen(endpoint(gw, good), good);
    s.write(Buffer.from([0x30]));
    await closed(s);
    const line = await closeLine(gw, 'MQTT_FIRST_PACKET_NOT_CONNECT', mark);
    assert.equal(line['packet'], 'publish');
  });

  test('a CONNECT larger than maxConnectPacketSizeBytes is refused as soon as its length is read', async () => {
    const mark = gw.lines.length;
    const s = await tlsOpen(endpoint(gw, good), good);
    // CONNECT header announcing 70,000 bytes (> 65,536); the body never comes.
    s.write(Buffer.from([0x10, 0xf0, 0xa2, 0x04]));
    await closed(s);
    const line = await closeLine(gw, 'MQTT_PACKET_TOO_LARGE', mark);
    assert.equal(line['packet'], 'connect');
    assert.equal(line['limit'], 65536);
    assert.equal(line['authenticated'], false);
  });

  test('every unsupported protocol level gets CONNACK 0x01 [MQTT-3.1.2-2]; level 5 is MQTT 5 and accepted', async () => {
    const ep = endpoint(gw, good);
    for (const level of [0, 2, 6, 7, 127]) {
      const mark = gw.lines.length;
      const s = await tlsOpen(ep, good);
      const packet = connectPacket('dev-good');
      // Byte 8 is the protocol level of a CONNECT with a 1-byte remaining length:
      // type, length, 0x00 0x04 'MQTT', level. The generator refuses invalid levels.
      assert.deepEqual([...packet.subarray(2, 8)], [0, 4, 0x4d, 0x51, 0x54, 0x54]);
      packet[8] = level;
      s.write(packet);
      const connack = await firstPacket(s);
      assert.equal(connack.cmd, 'connack', `level ${level}`);
      assert.equal((connack).returnCode, 1, `level ${level}`);
      await closed(s);
      assert.equal((await closeLine(gw, 'MQTT_PROTOCOL_LEVEL', mark))['phase'], 'mqtt', `level ${level}`);
    }
    const s = await tlsOpen(ep, good);
    try {
      s.write(connectPacket('dev-good', 5));
      const connack = await firstPacket(s, 5000, 5) as mqttPacket.IConnackPacket;
      assert.equal(connack.cmd, 'connack');
      assert.equal(connack.reasonCode, 0, 'MQTT 5 CONNACK: success');
    } finally {
      s.destroy();
    }
  });

  test('a topic with more than 100 levels closes the connection with a logged reason', async () => {
    const mark = gw.lines.length;
    const client = await connectDevice(gw.mqttUrl, good);
    const closedP = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(Array.from({ length: 101 }, () => 'a').join('/'), 'x', { qos: 0 });
    await closedP;
    const line = await closeLine(gw, 'MQTT_TOPIC_TOO_DEEP', mark);
    assert.equal(line['clientId'], 'dev-good');
    client.end(true);
  });

  test('refused TLS handshakes are logged and counted per reason, and end with a TLS alert (close_notify), not a bare EOF', async () => {
    // A test CA the gateway trusts, so OpenSSL's verdict (not the chain) decides.
    const ca = await makeCert({ name: 'CN=front door test CA' });
    const caPath = join(dir.path, 'test-ca.pem');
    await writeFile(caPath, ca.pem);
    const mark0 = gw.lines.length;
    assert.equal((await gw.cli(['ca', 'trust', caPath])).code, 0);
    await gw.waitForLog((l) => l.includes('"trusted-cas-changed"'), 5000, mark0);
    const hour = 3_600_000;
    const expired = await makeCert({ name: 'CN=dev-expired', issuer: ca, ca: false, notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) });
    const future = await makeCert({ name: 'CN=dev-future', issuer: ca, ca: false, notBefore: new Date(Date.now() + hour), notAfter: new Date(Date.now() + 2 * hour) });
    const server = await makeCert({ name: 'CN=dev-server', issuer: ca, ca: false, extendedKeyUsage: ['1.3.6.1.5.5.7.3.1'] });
    const unknownCa = await makeCert({ name: 'CN=unknown CA' });
    const unknown = await makeCert({ name: 'CN=dev-unknown', issuer: unknownCa, ca: false });
    const cases = [
      [expired, 'TLS_CERT_EXPIRED', 'CERT_HAS_EXPIRED'],
      [future, 'TLS_CERT_NOT_YET_VALID', 'CERT_NOT_YET_VALID'],
      [server, 'TLS_CERT_WRONG_USAGE', 'INVALID_PURPOSE'],
      [unknown, 'TLS_CERT_UNTRUSTED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ] as const;
    const ep = endpoint(gw, good);
    for (const [cert, reason, tlsError] of cases) {
      const mark = gw.lines.length;
      const s = await tlsOpen(ep, { key: cert.keyPem, cert: cert.pem });
      await closed(s);
      const line = await closeLine(gw, reason, mark);
      assert.equal(line['phase'], 'tls');
      assert.equal(line['tlsError'], tlsError);
    }
    // A CA certificate used as a client certificate: OpenSSL refuses one whose key usage
    // does not allow signatures; one that does passes OpenSSL (it is trusted) and is
    // refused by the certificate lookup before any MQTT byte.
    let mark = gw.lines.length;
    let s = await tlsOpen(ep, { key: ca.keyPem, cert: ca.pem });
    await closed(s);
    assert.equal((await closeLine(gw, 'TLS_CERT_WRONG_USAGE', mark))['tlsError'], 'INVALID_PURPOSE');
    const signingCa = await makeCert({ name: 'CN=front door signing CA', keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature });
    const signingCaPath = join(dir.path, 'test-signing-ca.pem');
    await writeFile(signingCaPath, signingCa.pem);
    mark = gw.lines.length;
    assert.equal((await gw.cli(['ca', 'trust', signingCaPath])).code, 0);
    await gw.waitForLog((l) => l.includes('"trusted-cas-changed"'), 5000, mark);
    mark = gw.lines.length;
    s = await tlsOpen(ep, { key: signingCa.keyPem, cert: signingCa.pem });
    await closed(s);
    assert.equal((await closeLine(gw, 'CERT_WRONG_USAGE', mark))['phase'], 'certificate');

    const metrics = await metricsText(gw);
    for (const [, reason] of cases) assert.ok(closedCount(metrics, reason) >= 1, `${reason} not counted`);

    // What a TLS client sees: OpenSSL's s_client reports a closed session, not a truncated one.
    const keyPath = join(dir.path, 'expired.key');
    const certPath = join(dir.path, 'expired.pem');
    await writeFile(keyPath, expired.keyPem);
    await writeFile(certPath, expired.pem);
    const r = await execFileP('openssl', ['s_client', '-connect', `${ep.host}:${ep.port}`, '-cert', certPath, '-key', keyPath, '-CAfile', good.caPath, '-servername', 'localhost', '-ign_eof']);
    assert.doesNotMatch(r.out, /unexpected eof/);
    assert.match(r.out, /^closed$/m);
  });

  test('over secure WebSocket: a revoked certificate is refused after the handshake, and a message over maxPacketSizeBytes closes the connection with a reason', async () => {
    const url = (await gw.waitForLog((l) => l.startsWith('listening wss://'))).slice('listening '.length);
    let mark = gw.lines.length;
    await assert.rejects(mqtt.connectAsync(url, { clientId: revoked.name, key: revoked.key, cert: revoked.cert, ca: revoked.ca, reconnectPeriod: 0, connectTimeout: 3000 }, false));
    assert.equal((await closeLine(gw, 'CERT_REVOKED', mark))['phase'], 'certificate');

    mark = gw.lines.length;
    const client = await mqtt.connectAsync(url, { clientId: good.name, key: good.key, cert: good.cert, ca: good.ca, reconnectPeriod: 0 }, false);
    await client.publishAsync('ws/ok', Buffer.alloc(200 * 1024, 1), { qos: 1 });
    const closedP = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('ws/big', Buffer.alloc(300 * 1024, 1), { qos: 0 });
    await closedP;
    // MQTT.js writes a large packet as several WebSocket messages: the packet parser's limit catches it.
    const line = await closeLine(gw, 'MQTT_PACKET_TOO_LARGE', mark);
    assert.equal(line['clientId'], 'dev-good');
    assert.equal(line['limit'], 262144);
    client.end(true);

    // One WebSocket message over the limit is refused by the WebSocket layer before it is assembled.
    mark = gw.lines.length;
    const ws = new WebSocket(url, 'mqtt', { key: good.key, cert: good.cert, ca: good.ca });
    ws.on('error', () => undefined);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('close', reject);
    });
    const wsClosed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    // aedes writes a packet in pieces, one WebSocket message each.
    const connack = new Promise<Buffer>((resolve) => {
      let got = Buffer.alloc(0);
      ws.on('message', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 4) resolve(got);
      });
    });
    ws.send(connectPacket('dev-good'));
    assert.deepEqual([...(await connack)], [0x20, 0x02, 0x00, 0x00]);
    ws.send(Buffer.alloc(300 * 1024, 0x30));
    await wsClosed;
    const wsLine = await closeLine(gw, 'MQTT_PACKET_TOO_LARGE', mark);
    assert.equal(wsLine['transport'], 'websocket');
  });

  test('/metrics exports the closes per reason and the pending connections gauge', async () => {
    const metrics = await metricsText(gw);
    assert.ok(closedCount(metrics, 'CERT_REVOKED') >= 4);
    assert.ok(closedCount(metrics, 'MQTT_PACKET_TOO_LARGE') >= 2);
    assert.ok(closedCount(metrics, 'MQTT_FIRST_PACKET_NOT_CONNECT') >= 1);
    assert.match(metrics, /^gatehouse_pending_connections \d+$/m);
  });
});

describe('front door: connection limits and the connect timeout (real gateway)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  const devices: Device[] = [];

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG(', maxPendingConnections: 3, connectTimeoutSeconds: 1, maxConnections: 2'));
    for (const n of ['dev-l1', 'dev-l2', 'dev-l3']) devices.push(await gw.createThing(n));
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  const tcpOpen = (): Promise<Socket> => new Promise((resolve, reject) => {
    const u = new URL(gw.mqttUrl);
    const s = netConnect(Number(u.port), u.hostname, () => resolve(s));
    s.once('error', reject);
  });

  test('a connection that never completes CONNECT (not even the TLS handshake) is closed after connectTimeoutSeconds', async () => {
    const mark = gw.lines.length;
    const s = await tcpOpen();
    const ms = await closed(s, 5000);
    assert.ok(ms >= 900, `closed after ${ms} ms`);
    const line = await closeLine(gw, 'CONNECT_TIMEOUT', mark);
    assert.equal(line['phase'], 'tls');
    assert.equal(line['seconds'], 1);
  });

  test('beyond maxPendingConnections new sockets are closed at accept, logged and counted', async () => {
    const mark = gw.lines.length;
    const held = await Promise.all([tcpOpen(), tcpOpen(), tcpOpen()]);
    const extra = await tcpOpen();
    const ms = await closed(extra, 5000);
    assert.ok(ms < 900, `closed after ${ms} ms, not at accept`);
    const line = await closeLine(gw, 'PENDING_CONNECTIONS_FULL', mark);
    assert.equal(line['phase'], 'accept');
    assert.equal(line['limit'], 3);
    // A burst: every refusal is counted, but the log is rate-limited (10 lines per reason per second).
    const before = closedCount(await metricsText(gw), 'PENDING_CONNECTIONS_FULL');
    assert.ok(before >= 1);
    const burstMark = gw.lines.length;
    const burst = await Promise.all(Array.from({ length: 30 }, () => tcpOpen().then((x) => x, () => undefined)));
    await Promise.all(burst.map((x) => (x ? closed(x) : Promise.resolve())));
    const after = closedCount(await metricsText(gw), 'PENDING_CONNECTIONS_FULL');
    const logged = gw.lines.slice(burstMark).filter((l) => l.includes('"reason":"PENDING_CONNECTIONS_FULL"')).length;
    assert.equal(after - before, burst.filter((x) => x !== undefined).length);
    assert.ok(logged <= 20, `${logged} log lines for ${after - before} refusals`);
    for (const s of held) s.destroy();
    await Promise.all(held.map((s) => closed(s)));
    // The client's close is not the server's: the next test may connect only once the
    // gateway has released these slots.
    await waitUntil(async () => /^gatehouse_pending_connections 0$/m.test(await metricsText(gw)), 10_000, 'pending connections released');
  });

  test('an authenticated CONNECT beyond maxConnections gets CONNACK 0x03, a log line and a metric; a freed slot is reusable', async () => {
    const mark = gw.lines.length;
    const a = await connectDevice(gw.mqttUrl, devices[0]!);
    const b = await connectDevice(gw.mqttUrl, devices[1]!);
    // Completed CONNECTs no longer count as pending (aedes' clientReady event).
    assert.match(await metricsText(gw), /^gatehouse_pending_connections 0$/m);
    const err = await connectDevice(gw.mqttUrl, devices[2]!).then(() => undefined, (e: { code?: number }) => e);
    assert.equal(err?.code, 3);
    const line = JSON.parse(await gw.waitForLog((l) => l.includes('"reason":"MAX_CONNECTIONS"'), 5000, mark)) as Record<string, unknown>;
    assert.equal(line['clientId'], 'dev-l3');
    assert.equal(line['limit'], 2);
    assert.ok(closedCount(await metricsText(gw), 'MAX_CONNECTIONS') >= 1);
    await a.endAsync();
    // The slot is free once the gateway has seen a's connection close.
    await waitUntil(async () => /^gatehouse_connected_clients 1$/m.test(await metricsText(gw)), 10_000, 'a\'s slot freed');
    const c = await connectDevice(gw.mqttUrl, devices[2]!);
    assert.equal(c.connected, true);
    await b.endAsync();
    await c.endAsync();
  });
});
