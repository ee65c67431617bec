/**
 * The aedes and mqtt-packet internals the front door (src/broker/front-door.ts) relies
 * on. Each test fails if an upgrade changes what it pins; the front door then needs a
 * new hook before the upgrade can land.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Duplex, PassThrough } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { readFileSync } from 'node:fs';
import { CLOSE_REASONS, INVALID_PROTOCOL_VERSION, TOO_MANY_LEVELS, packetSize, parserOf } from '../../src/broker/front-door.js';

interface ParserInternals {
  _states: string[];
  packet: { cmd: string; length: number };
  _parseLength: () => boolean;
  _parseHeader: () => boolean;
}

test('mqtt-packet: the parser runs header, length, payload as instance methods; after _parseLength cmd and length are known and nothing of the body is parsed', () => {
  const parser = mqttPacket.parser() as unknown as ParserInternals & mqttPacket.Parser;
  assert.deepEqual(parser._states, ['_parseHeader', '_parseLength', '_parsePayload', '_newPacket']);
  const seen: { cmd: string; length: number }[] = [];
  const original = parser._parseLength;
  parser._parseLength = function (this: ParserInternals): boolean {
    if (!original.call(this)) return false;
    seen.push({ cmd: this.packet.cmd, length: this.packet.length });
    return false; // stop: the payload state must not run
  };
  let packets = 0;
  parser.on('packet', () => packets++);
  parser.parse(Buffer.concat([Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), Buffer.alloc(1000)]));
  assert.deepEqual(seen, [{ cmd: 'publish', length: 268_435_455 }]);
  assert.equal(packets, 0);
});

test('mqtt-packet: _parseHeader sets packet.cmd from the first byte alone', () => {
  const parser = mqttPacket.parser() as unknown as ParserInternals & mqttPacket.Parser;
  const cmds: string[] = [];
  const original = parser._parseHeader;
  parser._parseHeader = function (this: ParserInternals): boolean {
    if (!original.call(this)) return false;
    cmds.push(this.packet.cmd);
    return false;
  };
  parser.parse(Buffer.from([0x82]));
  assert.deepEqual(cmds, ['subscribe']);
});

test('mqtt-packet: a CONNECT with an unknown protocol level is an error with the message the front door answers with CONNACK 0x01', () => {
  const parser = mqttPacket.parser();
  const packet = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'x', clean: true, keepalive: 0 });
  packet[8] = 6;
  const errors: string[] = [];
  parser.on('error', (e: Error) => errors.push(e.message));
  parser.parse(packet);
  assert.deepEqual(errors, [INVALID_PROTOCOL_VERSION]);
});

test('aedes: each client keeps its mqtt-packet parser in client._parser, and a topic over the level limit fails with the message the front door logs', async () => {
  const broker = await Aedes.createBroker();
  try {
    const conn = new PassThrough();
    const client: Client = broker.handle(conn);
    const parser = parserOf(client);
    assert.ok(parser, 'client._parser is not an mqtt-packet parser');
    assert.ok(parser instanceof mqttPacket.parser().constructor);
    conn.destroy();
    const err = await new Promise<Error | undefined>((resolve) => broker.publish({ cmd: 'publish', topic: Array.from({ length: 101 }, () => 'a').join('/'), payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }, resolve));
    assert.equal(err?.message, TOO_MANY_LEVELS);
  } finally {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
});

test('aedes: a CONNECT at level 5 is answered with an MQTT 5 CONNACK (reason code 0) and clientReady follows, as for level 4', async () => {
  const broker = await Aedes.createBroker();
  const pipe = (): { conn: Duplex; written: Buffer[] } => {
    const written: Buffer[] = [];
    const conn = new Duplex({ read() {}, write(chunk: Buffer, _enc, cb) { written.push(chunk); cb(); } });
    return { conn, written };
  };
  try {
    for (const protocolVersion of [5, 4] as const) {
      const p = pipe();
      const ready = new Promise<Client>((resolve) => broker.once('clientReady', (c: Client) => resolve(c)));
      const client = broker.handle(p.conn);
      p.conn.push(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId: `v${protocolVersion}`, clean: true, keepalive: 0 }));
      assert.equal(await ready, client);
      assert.equal(client.connected, true);
      const parser = mqttPacket.parser({ protocolVersion });
      const packets: Packet[] = [];
      parser.on('packet', (x: Packet) => packets.push(x));
      parser.parse(Buffer.concat(p.written));
      const connack = packets[0] as { cmd: string; reasonCode?: number; returnCode?: number };
      assert.equal(connack.cmd, 'connack');
      assert.equal(protocolVersion === 5 ? connack.reasonCode : connack.returnCode, 0, `level ${protocolVersion}`);
      client.close();
    }
  } finally {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
});

test('packetSize counts the fixed header: type byte plus 1 to 4 length bytes', () => {
  assert.equal(packetSize(0), 2);
  assert.equal(packetSize(127), 129);
  assert.equal(packetSize(128), 131);
  assert.equal(packetSize(16_383), 16_386);
  assert.equal(packetSize(16_384), 16_388);
  assert.equal(packetSize(2_097_152), 2_097_157);
  assert.equal(packetSize(268_435_455), 268_435_460);
  // Cross-check against the generator.
  for (const n of [0, 100, 126, 200, 20_000]) {
    const p = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(n), qos: 0, retain: false, dup: false });
    assert.equal(packetSize(3 + n), p.length, `payload ${n}`); // topic 't': 2 length bytes + 1
  }
});

test('every reason the front door closes a connection for is documented in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const missing = CLOSE_REASONS.filter((r) => !new RegExp(`^\\| \`${r}\` \\|`, 'm').test(doc));
  assert.deepEqual(missing, []);
});

test('aedes: rejectPacketTooLarge(size) on a connected MQTT 5 client writes one DISCONNECT 0x95 and closes it, however often it is called (the front door calls it, then aedes\'s own read-loop check may)', async () => {
  const broker = await Aedes.createBroker({ maximumPacketSize: 1024 });
  try {
    const written: Buffer[] = [];
    const conn = new Duplex({ read() {}, write(chunk: Buffer, _enc, cb) { written.push(chunk); cb(); } });
    const ready = new Promise<Client>((resolve) => broker.once('clientReady', (c: Client) => resolve(c)));
    const client = broker.handle(conn);
    conn.push(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'big', clean: true, keepalive: 0 }, { protocolVersion: 5 }));
    await ready;
    const reject = (client as unknown as { rejectPacketTooLarge?: (size: number) => void }).rejectPacketTooLarge;
    assert.equal(typeof reject, 'function', 'client.rejectPacketTooLarge is gone (aedes changed): the front door falls back to a plain close');
    reject!.call(client, 5000);
    reject!.call(client, 5000);
    await new Promise<void>((resolve) => (client.closed ? resolve() : conn.once('close', () => resolve())));
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const packets: Packet[] = [];
    parser.on('packet', (x: Packet) => packets.push(x));
    parser.parse(Buffer.concat(written));
    assert.deepEqual(packets.map((p) => p.cmd), ['connack', 'disconnect']);
    assert.equal((packets[1] as { reasonCode?: number }).reasonCode, 0x95);
    assert.equal((packets[0] as { properties?: { maximumPacketSize?: number } }).properties?.maximumPacketSize, 1024, 'CONNACK announces the option');
  } finally {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
});
