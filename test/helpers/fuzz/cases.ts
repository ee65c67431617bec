/**
 * Fuzz cases for the MQTT front end: valid packet sequences built with mqtt-packet's
 * generator, then mutated at the byte level. A case is a pure function of (seed, index,
 * thing name), so a failing case can be rebuilt and replayed from those three values.
 *
 * Lanes:
 * - `session`: packets sent on an established, authenticated session (after CONNACK 0);
 * - `connect`: a fresh connection of the authenticated device whose first bytes are the
 *   case (usually a CONNECT, mutated or not);
 * - `refused`: a fresh connection with a certificate the gateway must refuse (revoked, or
 *   registered to no thing), whose first bytes are the case.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';

/** A PINGREQ packet: its PINGRESP proves the gateway read everything sent before it. */
export const PINGREQ: Buffer = Buffer.from([0xc0, 0x00]);

/** sfc32: small, fast, good enough for fuzzing; state seeded through splitmix32. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x100000000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** The seed of one case: a hash of the run's seed and the case index. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

export type Lane = 'session' | 'connect' | 'refused';

export interface FuzzCase {
  readonly index: number;
  readonly lane: Lane;
  readonly bytes: Buffer;
  /** What was generated and how it was mutated, e.g. `publish+subscribe | bitflip(3)`. */
  readonly label: string;
  /**
   * How mqtt-packet itself reads the bytes: `complete` (whole packets), `incomplete`
   * (the last packet announces more bytes than follow) or `error`. The driver ends its side
   * of the connection after an incomplete case instead of waiting for an answer that
   * cannot come; nothing is asserted about it.
   */
  readonly framing: 'complete' | 'incomplete' | 'error';
}

export interface CaseContext {
  /** The thing name (and client ID) of the device sending the case. */
  readonly thingName: string;
  /** Another device's thing name, used for client IDs and topics it must not reach. */
  readonly otherThing: string;
}

/** A topic as text, or as raw bytes when it is not valid UTF-8. */
type Topic = string | Buffer;

const INVALID_UTF8: readonly Buffer[] = [
  Buffer.from([0xc0, 0x80]), // overlong NUL
  Buffer.from([0xff]),
  Buffer.from([0xfe, 0xfe]),
  Buffer.from([0xed, 0xa0, 0x80]), // UTF-16 surrogate
  Buffer.from([0xe2, 0x82]), // truncated sequence
  Buffer.from([0x00]), // U+0000 is forbidden in MQTT strings (MQTT 3.1.1 section 1.5.3)
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
];

const WILDCARDS: readonly string[] = [
  'fuzz/#', 'fuzz/+/temp', 'fuzz/#', '#', '+', '#/#', '+/#', 'a/#/b', '++', '+#', 'fuzz/+x', 'fuzz/#x', '$SYS/#', '$SYS/+/clients',
  '$share/g/fuzz/#', '$share//#', '/', '//', '/#', '', ' ', 'fuzz/+/+/+', 'probe/#', '$aws/things/+/shadow/#',
];

function topic(r: Rng, ctx: CaseContext): Topic {
  const word = (): string => r.pick(['a', 'b', 'temp', 'x', '0', 'sub', '\u00e9', '\u{1F600}', 'sp ace', '*', '?', '${iot:Connection.Thing.ThingName}']);
  switch (r.int(10)) {
    case 0: case 1: case 2:
      return `fuzz/${ctx.thingName}/${word()}`;
    case 3:
      return r.pick([`fuzz/${ctx.otherThing}/${word()}`, `probe/rt/${word()}`, `fuzz/${word()}`, `sensors/${word()}`]);
    case 4: case 5:
      return r.pick(WILDCARDS);
    case 6: {
      // Many levels (aedes caps topic depth) or one long level.
      return r.chance(0.5)
        ? `fuzz/${ctx.thingName}/` + Array.from({ length: r.range(90, 400) }, () => 'l').join('/')
        : `fuzz/${ctx.thingName}/` + 'L'.repeat(r.chance(0.9) ? r.range(200, 4000) : r.range(20000, 65000));
    }
    case 7: {
      const bad = r.pick(INVALID_UTF8);
      const head = Buffer.from(`fuzz/${ctx.thingName}/`);
      return Buffer.concat([head, r.chance(0.5) ? bad : Buffer.concat([Buffer.from('x'), bad, Buffer.from('y')])]);
    }
    case 8:
      return r.bytes(r.range(1, 40)).toString('latin1');
    default:
      return `fuzz/${ctx.thingName}/${word()}/${word()}`;
  }
}

/**
 * Subscribe and unsubscribe topics are strings in mqtt-packet's generator. Raw bytes are
 * written as a same-length ASCII marker and swapped in after generation.
 */
interface Raw {
  readonly marker: Buffer;
  readonly raw: Buffer;
}

function textTopic(r: Rng, t: Topic, raws: Raw[]): string {
  if (typeof t === 'string') return t;
  const marker = Buffer.alloc(t.length);
  for (let i = 0; i < marker.length; i++) marker[i] = 0x41 + r.int(26);
  marker[0] = 0x7e; // `~` starts no generated topic
  raws.push({ marker, raw: t });
  return marker.toString('latin1');
}

function swapRaws(buf: Buffer, raws: readonly Raw[]): Buffer {
  for (const { marker, raw } of raws) {
    const at = buf.indexOf(marker);
    if (at >= 0) raw.copy(buf, at);
  }
  return buf;
}

function qos(r: Rng): 0 | 1 | 2 {
  return r.pick([0, 0, 1, 1, 2] as const);
}

function messageId(r: Rng): number {
  return r.chance(0.9) ? r.range(1, 65535) : r.pick([1, 2, 65535]);
}

function payload(r: Rng): Buffer {
  const n = r.chance(0.9) ? r.int(128) : r.chance(0.9) ? r.range(128, 8192) : r.range(8192, 70000);
  return r.bytes(n);
}

function connectPacket(r: Rng, ctx: CaseContext): Packet {
  const clientId = r.chance(0.7) ? ctx.thingName : r.pick(['', ctx.otherThing, `${ctx.thingName}/x`, '#', 'x'.repeat(r.range(1, 300)), '\u0000', 'fuzz-\u00e9']);
  const version = r.pick([4, 4, 4, 4, 3, 5] as const);
  const packet: Packet = {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clientId,
    clean: r.chance(0.8),
    keepalive: r.pick([0, 1, 5, 60, 65535]),
  };
  if (r.chance(0.25)) {
    const t = topic(r, ctx);
    packet.will = { topic: typeof t === 'string' ? t : t.toString('latin1'), payload: payload(r), qos: qos(r), retain: r.chance(0.3) };
  }
  if (r.chance(0.3)) {
    packet.username = r.pick(['', 'user', 'x'.repeat(r.range(1, 2000))]);
    if (r.chance(0.7)) packet.password = r.bytes(r.range(0, 64));
  }
  return packet;
}

type Kind = 'publish' | 'subscribe' | 'unsubscribe' | 'pingreq' | 'disconnect' | 'puback' | 'pubrec' | 'pubrel' | 'pubcomp' | 'connect';

function packetOf(r: Rng, kind: Kind, ctx: CaseContext, raws: Raw[]): Packet {
  switch (kind) {
    case 'publish': {
      const q = qos(r);
      const t = topic(r, ctx);
      return {
        cmd: 'publish', topic: t, payload: payload(r), qos: q,
        retain: r.chance(0.1), dup: r.chance(0.1), ...(q > 0 ? { messageId: messageId(r) } : {}),
      } as Packet;
    }
    case 'subscribe':
      return {
        cmd: 'subscribe', messageId: messageId(r),
        subscriptions: Array.from({ length: r.chance(0.9) ? r.range(1, 4) : r.range(5, 60) }, () => ({ topic: textTopic(r, topic(r, ctx), raws), qos: qos(r) })),
      };
    case 'unsubscribe':
      return { cmd: 'unsubscribe', messageId: messageId(r), unsubscriptions: Array.from({ length: r.range(1, 4) }, () => textTopic(r, topic(r, ctx), raws)) };
    case 'pingreq':
      return { cmd: 'pingreq' };
    case 'disconnect':
      return { cmd: 'disconnect' };
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp':
      return { cmd: kind, messageId: messageId(r) };
    case 'connect':
      return connectPacket(r, ctx);
  }
}

/** Encodes with mqtt-packet; a combination its generator refuses becomes a PINGREQ. */
function encode(packet: Packet, raws: readonly Raw[], labels: string[]): Buffer {
  const version = packet.cmd === 'connect' ? packet.protocolVersion ?? 4 : 4;
  try {
    return swapRaws(mqttPacket.generate(packet, { protocolVersion: version }), raws);
  } catch {
    labels.push(`ungenerated(${packet.cmd})`);
    return PINGREQ;
  }
}

/** The offset and size of the remaining-length field of the packet at `at`. */
function lengthField(buf: Buffer, at: number): { start: number; size: number } {
  let size = 0;
  while (size < 4 && at + 1 + size < buf.length && (buf[at + 1 + size]! & 0x80) !== 0) size++;
  return { start: at + 1, size: Math.min(size + 1, Math.max(0, buf.length - at - 1)) };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0 && out.length < 4);
  return Buffer.from(out);
}

const FIRST_BYTES: readonly number[] = [0x00, 0x10, 0x11, 0x20, 0x30, 0x36, 0x3f, 0x62, 0x80, 0x82, 0x83, 0xa2, 0xc0, 0xc1, 0xe0, 0xe1, 0xf0, 0xff];

/** Applies one byte-level mutation to the packets `parts` (in order, one buffer each). */
function mutate(r: Rng, parts: Buffer[], labels: string[]): Buffer[] {
  const joined = (): Buffer => Buffer.concat(parts);
  switch (r.int(11)) {
    case 0: { // bit flips
      const b = joined();
      const n = r.range(1, 8);
      for (let i = 0; i < n && b.length > 0; i++) { const at = r.int(b.length); b[at] = b[at]! ^ (1 << r.int(8)); }
      labels.push(`bitflip(${n})`);
      return [b];
    }
    case 1: { // interesting byte values
      const b = joined();
      const n = r.range(1, 4);
      for (let i = 0; i < n && b.length > 0; i++) b[r.int(b.length)] = r.pick([0x00, 0xff, 0x7f, 0x80, 0x23, 0x2b, 0x2f]);
      labels.push(`byteset(${n})`);
      return [b];
    }
    case 2: { // truncation
      const b = joined();
      const cut = r.int(b.length);
      labels.push(`truncate(${cut}/${b.length})`);
      return [b.subarray(0, cut)];
    }
    case 3: { // remaining-length corruption
      const i = r.int(parts.length);
      const p = parts[i]!;
      const { start, size } = lengthField(p, 0);
      const len = r.pick([0, 1, 2, r.int(p.length + 16), p.length * 2, 127, 128, 16383, 16384, 2097151, 268435455, -1]);
      const field = len < 0 ? Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]) : varint(len);
      parts[i] = Buffer.concat([p.subarray(0, start), field, p.subarray(start + size)]);
      labels.push(`length(${len < 0 ? '5-byte' : len})`);
      return parts;
    }
    case 4: { // duplicate a packet
      const i = r.int(parts.length);
      parts.splice(i, 0, parts[i]!);
      labels.push(`dup(${i})`);
      return parts;
    }
    case 5: { // reorder
      if (parts.length > 1) {
        const i = r.int(parts.length);
        const j = r.int(parts.length);
        [parts[i], parts[j]] = [parts[j]!, parts[i]!];
        labels.push(`swap(${i},${j})`);
      } else labels.push('swap(-)');
      return parts;
    }
    case 6: { // random bytes inserted
      const b = joined();
      const at = r.int(b.length + 1);
      const n = r.range(1, 64);
      labels.push(`insert(${n}@${at})`);
      return [Buffer.concat([b.subarray(0, at), r.bytes(n), b.subarray(at)])];
    }
    case 7: { // bytes deleted
      const b = joined();
      const at = r.int(b.length);
      const n = r.range(1, 16);
      labels.push(`delete(${n}@${at})`);
      return [Buffer.concat([b.subarray(0, at), b.subarray(at + n)])];
    }
    case 8: { // nothing but random bytes, sometimes behind a plausible first byte
      const b = r.bytes(r.chance(0.9) ? r.range(1, 256) : r.range(256, 8192));
      if (r.chance(0.5)) b[0] = r.pick(FIRST_BYTES);
      labels.push(`random(${b.length})`);
      return [b];
    }
    case 9: { // an oversized announcement followed by far fewer bytes
      const announce = r.pick([65537, 262145, 1048576, 16777216, 268435455]);
      const follow = r.bytes(r.chance(0.8) ? r.int(1024) : r.range(1024, 32768));
      const first = r.pick([0x10, 0x30, 0x32, 0x82, 0xa2, 0xc0, 0xe0, 0x00, 0xf0]);
      labels.push(`oversized(${announce},${follow.length})`);
      return r.chance(0.5) ? [Buffer.concat([Buffer.from([first]), varint(announce), follow])] : [...parts, Buffer.from([first]), varint(announce), follow];
    }
    default: { // fixed-header type and flags
      const i = r.int(parts.length);
      const p = Buffer.from(parts[i]!);
      if (p.length > 0) p[0] = r.chance(0.5) ? (p[0]! & 0xf0) | r.int(16) : (r.int(16) << 4) | (p[0]! & 0x0f);
      parts[i] = p;
      labels.push(`header(${i})`);
      return parts;
    }
  }
}

const SESSION_KINDS: readonly Kind[] = [
  'publish', 'publish', 'publish', 'publish', 'subscribe', 'subscribe', 'unsubscribe', 'pingreq',
  'puback', 'pubrec', 'pubrel', 'pubcomp', 'connect', 'disconnect',
];

/** Patches the protocol level (and sometimes the protocol name) of a CONNECT. */
function badProtocol(r: Rng, b: Buffer, labels: string[]): void {
  if (b.length < 4 || b[0] !== 0x10) return; // not a CONNECT (its generation failed)
  const { start, size } = lengthField(b, 0);
  if (start + size + 2 > b.length) return;
  const nameLen = b.readUInt16BE(start + size);
  const levelAt = start + size + 2 + nameLen;
  if (levelAt >= b.length) return;
  if (r.chance(0.8)) {
    const level = r.pick([0, 1, 2, 6, 7, 0x83, 0xff]);
    b[levelAt] = level;
    labels.push(`level(${level})`);
  } else {
    b[levelAt - 1] = 0x58; // MQTT -> MQTX, MQIsdp -> MQIsdX
    labels.push('protocol-name');
  }
  if (r.chance(0.2)) {
    b[levelAt + 1] = b[levelAt + 1]! | 0x01; // reserved connect flag [MQTT-3.1.2-3]
    labels.push('reserved-flag');
  }
}

/** Builds case `index` of a run seeded with `seed`. */
export function makeCase(seed: number, index: number, ctx: CaseContext): FuzzCase {
  const r = new Rng(caseSeed(seed, index));
  const roll = r.u32() / 0x100000000;
  // Fresh connections cost the gateway a handshake and a CONNECT (most of its CPU per
  // case), so most cases go to an established session.
  const lane: Lane = roll < 0.06 ? 'refused' : roll < 0.11 ? 'connect' : 'session';
  const kinds: Kind[] = [];
  if (lane !== 'session') {
    // Most fresh connections start with a CONNECT; some start with anything else.
    kinds.push(r.chance(0.85) ? 'connect' : r.pick(SESSION_KINDS));
  }
  const extra = r.chance(0.5) ? 0 : r.range(1, 3);
  for (let i = 0; i < extra || kinds.length === 0; i++) kinds.push(r.pick(SESSION_KINDS));
  // A DISCONNECT ends the connection: keep it rare in the session lane.
  if (lane === 'session' && kinds.includes('disconnect') && r.chance(0.7)) kinds.splice(kinds.indexOf('disconnect'), 1, 'pingreq');

  const labels: string[] = [kinds.join('+')];
  let parts: Buffer[] = kinds.map((k): Buffer => {
    const raws: Raw[] = [];
    const b = Buffer.from(encode(packetOf(r, k, ctx, raws), raws, labels));
    if (k === 'connect' && r.chance(0.15)) badProtocol(r, b, labels);
    return b;
  });
  // Half the cases keep their framing (semantic abuse only): a session then carries several
  // cases before a mutation makes the gateway close it, and a refused device often sends
  // a well-formed CONNECT, the case most likely to show a refusal that does not hold.
  const mutations = r.chance(0.5) ? 0 : r.chance(0.8) ? 1 : 2;
  for (let m = 0; m < mutations; m++) parts = mutate(r, parts, labels);
  const bytes = Buffer.concat(parts);
  return { index, lane, bytes, label: labels.join(' | '), framing: framing(bytes) };
}

/** How mqtt-packet's parser reads `bytes` (see FuzzCase.framing). */
export function framing(bytes: Buffer): FuzzCase['framing'] {
  const p = mqttPacket.parser({ protocolVersion: 4 });
  let failed = false;
  let packets = 0;
  p.on('error', () => { failed = true; });
  p.on('packet', () => { packets++; });
  const left = p.parse(bytes);
  if (failed) return 'error';
  return left > 0 || (packets === 0 && bytes.length > 0) ? 'incomplete' : 'complete';
}

/** The authenticated device's own CONNECT, sent before `session` cases. */
export function validConnect(thingName: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: thingName, clean: true, keepalive: 60 });
}

/**
 * The SUBSCRIBE packets in `bytes` as mqtt-packet (the parser aedes uses) reads them, up to
 * the first error: message ID -> filters. The driver checks the gateway's SUBACKs for them.
 */
export function subscriptionsIn(bytes: Buffer): Map<number, string[]> {
  const found = new Map<number, string[]>();
  const p = mqttPacket.parser({ protocolVersion: 4 });
  let failed = false;
  p.on('error', () => { failed = true; });
  p.on('packet', (packet: Packet) => {
    if (!failed && packet.cmd === 'subscribe' && packet.messageId !== undefined) found.set(packet.messageId, packet.subscriptions.map((s) => s.topic));
  });
  p.parse(bytes);
  return found;
}
