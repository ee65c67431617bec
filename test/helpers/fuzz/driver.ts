/**
 * Sends fuzz cases to a gateway over real TLS connections.
 *
 * One worker per authenticated device; worker `w` sends the cases whose index is `w`
 * modulo the number of workers, in order, so that (seed, index, workers) rebuilds and
 * replays any case. `session` cases share the worker's authenticated connection until the
 * gateway closes it; each is followed by a PINGREQ, and its PINGRESP shows the gateway read
 * the case and kept the connection. `connect` and `refused` cases each open a connection.
 *
 * Besides counting outcomes, the driver checks authorization invariants on its own: a
 * refused device is never told it is connected and never receives anything but a refusing
 * CONNACK; an authenticated device is granted only the filters its policy allows (every
 * other filter of a SUBSCRIBE it sent gets 0x80) and receives messages only on topics
 * those filters match.
 * Everything else (the gateway stays up, serves a well-behaved client, stays within its
 * memory) is checked by the caller.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { PINGREQ, makeCase, subscriptionsIn, validConnect, type FuzzCase, type Lane } from './cases.js';

export interface FuzzDevice {
  readonly name: string;
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
}

export interface Violation {
  readonly index: number;
  readonly lane: Lane | 'setup';
  readonly label: string;
  readonly message: string;
}

export interface FuzzStats {
  cases: number;
  bytes: number;
  readonly lanes: Record<Lane, number>;
  /**
   * answered: a PINGRESP (or a CONNACK) followed the case; closed: the gateway closed the
   * connection; ended: the case was an incomplete packet, so the driver closed its side
   * and the gateway then closed; stalled: no answer and no close within the timeout, the
   * driver dropped the connection.
   */
  readonly outcomes: { answered: number; closed: number; ended: number; stalled: number };
  connections: number;
  readonly violations: Violation[];
  /** The last cases sent by each worker (index and label), for failure reports. */
  readonly recent: string[];
}

export interface FuzzRunOptions {
  readonly url: string;
  readonly seed: number;
  /** First case index and number of cases: the run sends indices [first, first + cases). */
  readonly first?: number;
  readonly cases: number;
  /** Authenticated devices, one worker each. */
  readonly devices: readonly FuzzDevice[];
  /** Devices the gateway must refuse (revoked certificate, no thing attached...). */
  readonly refused: readonly FuzzDevice[];
  /**
   * The topic filters the authenticated devices' policy lets them subscribe to, compared
   * literally (every other filter must get SUBACK 0x80), and so the only filters their
   * deliveries may match.
   */
  readonly subscribeAllowed: readonly string[];
  /** The name used for client IDs and topics the fuzzing devices must not reach. */
  readonly otherThing: string;
  /** How long to wait for an answer or a close before dropping a connection (default 3000). */
  readonly answerTimeoutMs?: number;
  /** Stop taking new cases after this many milliseconds (the run is then shorter, not failed). */
  readonly budgetMs?: number;
  /** Checked between cases; a non-empty reason stops the run. */
  readonly shouldStop?: () => string | undefined;
  /** Called with each case and how it ended. */
  readonly onOutcome?: (c: FuzzCase, outcome: Outcome) => void;
  /** Receives the stats object at start, to be read while the run goes on. */
  readonly onStart?: (stats: FuzzStats) => void;
}

type Waited = Packet | 'closed' | 'timeout';
export type Outcome = keyof FuzzStats['outcomes'];

/** One TLS connection, with the gateway's packets parsed by mqtt-packet. */
class Wire {
  closed = false;
  /** SUBSCRIBE packets sent and not answered yet: message ID -> case and filters. */
  readonly subscribes = new Map<number, { readonly c: FuzzCase; readonly filters: readonly string[] } | 'ambiguous'>();
  private readonly socket: TLSSocket;
  private waiter: { pred: (p: Packet) => boolean; done: (w: Waited) => void } | undefined;
  private onPacket: ((p: Packet) => void) | undefined;

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      this.onPacket?.(p);
      const w = this.waiter;
      if (w && w.pred(p)) {
        this.waiter = undefined;
        w.done(p);
      }
    });
    parser.on('error', () => { /* the gateway's bytes are not under test */ });
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => { /* resets and broken pipes are expected */ });
    socket.on('close', () => {
      this.closed = true;
      const w = this.waiter;
      this.waiter = undefined;
      w?.done('closed');
    });
  }

  static open(url: URL, device: FuzzDevice, timeoutMs: number): Promise<Wire | Error> {
    return new Promise((resolve) => {
      const socket = tlsConnect({ host: url.hostname, port: Number(url.port), key: device.key, cert: device.cert, ca: device.ca, servername: 'localhost' });
      const timer = setTimeout(() => { socket.destroy(); resolve(new Error('TLS handshake timed out')); }, timeoutMs);
      socket.once('secureConnect', () => { clearTimeout(timer); resolve(new Wire(socket)); });
      socket.once('error', (e: Error) => { clearTimeout(timer); socket.destroy(); resolve(e); });
    });
  }

  watch(onPacket: (p: Packet) => void): void {
    this.onPacket = onPacket;
  }

  write(b: Buffer): void {
    if (!this.closed && b.length > 0) this.socket.write(b);
  }

  end(): void {
    if (!this.closed) this.socket.end();
  }

  /** Waits for a packet matching `pred`, the close of the connection, or the timeout. */
  next(pred: (p: Packet) => boolean, timeoutMs: number): Promise<Waited> {
    if (this.closed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiter = undefined; resolve('timeout'); }, timeoutMs);
      this.waiter = { pred, done: (w) => { clearTimeout(timer); resolve(w); } };
    });
  }

  /** Waits for the gateway to close; drops the connection after the timeout. */
  async closeWithin(timeoutMs: number): Promise<'closed' | 'timeout'> {
    const r = await this.next(() => false, timeoutMs);
    if (r === 'closed') return 'closed';
    this.destroy();
    return 'timeout';
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const isPingresp = (p: Packet): boolean => p.cmd === 'pingresp';
const isConnack = (p: Packet): boolean => p.cmd === 'connack';

export function newStats(): FuzzStats {
  return {
    cases: 0, bytes: 0, lanes: { session: 0, connect: 0, refused: 0 },
    outcomes: { answered: 0, closed: 0, ended: 0, stalled: 0 }, connections: 0, violations: [], recent: [],
  };
}

/** Runs the cases; resolves with the stats when all are sent or the run is stopped. */
export async function runFuzz(opts: FuzzRunOptions): Promise<FuzzStats> {
  const stats = newStats();
  opts.onStart?.(stats);
  const url = new URL(opts.url);
  const timeout = opts.answerTimeoutMs ?? 3000;
  const first = opts.first ?? 0;
  const end = first + opts.cases;
  const workers = opts.devices.length;
  let stopped: string | undefined;
  const deadline = performance.now() + (opts.budgetMs ?? Infinity);
  const count = (c: FuzzCase, o: Outcome): void => {
    stats.outcomes[o]++;
    opts.onOutcome?.(c, o);
  };

  const worker = async (w: number): Promise<void> => {
    const device = opts.devices[w]!;
    const ctx = { thingName: device.name, otherThing: opts.otherThing };
    let session: Wire | undefined;
    let failedConnects = 0;

    const openSession = async (): Promise<Wire | undefined> => {
      for (;;) {
        const wire = await Wire.open(url, device, 10000);
        stats.connections++;
        if (!(wire instanceof Error)) {
          wire.write(validConnect(device.name));
          const ack = await wire.next(isConnack, 10000);
          if (typeof ack === 'object' && ack.cmd === 'connack' && (ack.returnCode ?? 0) === 0) {
            failedConnects = 0;
            watchAuthorized(wire);
            return wire;
          }
          wire.destroy();
        }
        // The gateway may briefly refuse while it closes the previous connection of the
        // same client; three refusals in a row mean it no longer serves this device.
        if (++failedConnects >= 3) {
          stats.violations.push({ index: -1, lane: 'setup', label: device.name, message: `the authenticated device ${device.name} was not accepted three times in a row (${wire instanceof Error ? wire.message : 'no CONNACK 0'})` });
          stopped = 'authenticated device refused';
          return undefined;
        }
      }
    };

    // The case being sent: deliveries are attributed to it.
    let current: FuzzCase | undefined;
    const violation = (c: FuzzCase | undefined, message: string): void => {
      stats.violations.push({ index: c?.index ?? -1, lane: c?.lane ?? 'session', label: c?.label ?? '', message });
    };
    const watchAuthorized = (wire: Wire): void => {
      wire.watch((p) => {
        if (p.cmd === 'publish' && !opts.subscribeAllowed.some((f) => topicMatches(f, p.topic))) {
          violation(current, `authenticated device ${device.name} received a message on \`${p.topic}\`, which none of its allowed filters matches`);
        } else if (p.cmd === 'suback' && p.messageId !== undefined) {
          const sent = wire.subscribes.get(p.messageId);
          wire.subscribes.delete(p.messageId);
          if (sent === undefined || sent === 'ambiguous' || sent.filters.length !== p.granted.length) return;
          sent.filters.forEach((f, i) => {
            const code = p.granted[i];
            if (code !== 128 && !opts.subscribeAllowed.includes(f)) violation(sent.c, `authenticated device ${device.name} was granted \`${f}\` (SUBACK ${JSON.stringify(code)})`);
          });
        }
      });
    };
    /**
     * Writes a case on an authenticated connection, noting its SUBSCRIBE packets. A SUBACK
     * may come after the PINGRESP that follows the case (aedes answers a SUBSCRIBE once its
     * subscriptions are stored), so they are kept per connection until answered; a message
     * ID used twice before its SUBACK cannot be attributed and is not checked.
     */
    const send = (wire: Wire, c: FuzzCase): void => {
      for (const [id, filters] of subscriptionsIn(c.bytes)) {
        wire.subscribes.set(id, wire.subscribes.has(id) ? 'ambiguous' : { c, filters });
      }
      wire.write(c.bytes);
    };

    const remember = (c: FuzzCase): void => {
      stats.recent.push(`#${c.index} ${c.lane} ${c.label}`);
      if (stats.recent.length > 4 * workers) stats.recent.shift();
    };

    let i = first + ((w - (first % workers) + workers) % workers);
    for (; i < end; i += workers) {
      stopped ??= opts.shouldStop?.();
      if (stopped || performance.now() > deadline) break;
      const c = makeCase(opts.seed, i, ctx);
      current = c;
      remember(c);
      stats.cases++;
      stats.bytes += c.bytes.length;
      stats.lanes[c.lane]++;

      if (c.lane === 'session') {
        if (!session || session.closed) session = await openSession();
        if (!session) break;
        send(session, c);
        if (c.framing === 'incomplete') {
          session.end();
          const r = await session.closeWithin(timeout);
          if (r === 'closed') count(c, 'ended');
          else count(c, 'stalled');
          continue;
        }
        session.write(PINGREQ);
        const r = await session.next(isPingresp, timeout);
        if (r === 'closed') count(c, 'closed');
        else if (r === 'timeout') {
          count(c, 'stalled');
          session.destroy();
        } else count(c, 'answered');
        continue;
      }

      if (c.lane === 'connect') {
        // The same client ID: end the current session first.
        if (session && !session.closed) {
          session.end();
          await session.closeWithin(timeout);
        }
        session = undefined;
        const wire = await Wire.open(url, device, 10000);
        stats.connections++;
        if (wire instanceof Error) {
          count(c, 'closed');
          continue;
        }
        watchAuthorized(wire);
        send(wire, c);
        if (c.framing === 'incomplete') {
          wire.end();
          const r = await wire.closeWithin(timeout);
          if (r === 'closed') count(c, 'ended');
          else count(c, 'stalled');
          continue;
        }
        const ack = await wire.next(isConnack, timeout);
        if (ack === 'closed') count(c, 'closed');
        else if (ack === 'timeout') {
          count(c, 'stalled');
          wire.destroy();
        } else if (ack.cmd === 'connack' && (ack.returnCode ?? 0) === 0) {
          count(c, 'answered');
          session = wire; // accepted: later session cases use it
        } else {
          count(c, 'answered');
          await wire.closeWithin(timeout);
        }
        continue;
      }

      // refused
      const device2 = opts.refused[i % opts.refused.length]!;
      const wire = await Wire.open(url, device2, 10000);
      stats.connections++;
      if (wire instanceof Error) {
        count(c, 'closed');
        continue;
      }
      wire.watch((p) => {
        if (p.cmd === 'connack' && (p.returnCode ?? 0) !== 0) return;
        const what = p.cmd === 'connack' ? 'CONNACK 0 (connected)' : p.cmd.toUpperCase();
        stats.violations.push({ index: c.index, lane: c.lane, label: c.label, message: `refused device ${device2.name} received ${what}` });
      });
      wire.write(c.bytes);
      if (c.framing === 'incomplete') wire.end();
      const r = await wire.closeWithin(timeout);
      if (r === 'timeout') count(c, 'stalled');
      else if (c.framing === 'incomplete') count(c, 'ended');
      else count(c, 'closed');
    }
    if (session && !session.closed) {
      session.end();
      await session.closeWithin(timeout);
    }
  };

  await Promise.all(opts.devices.map((_d, w) => worker(w)));
  if (stopped && !stats.violations.some((v) => v.lane === 'setup')) {
    stats.violations.push({ index: -1, lane: 'setup', label: '', message: `run stopped: ${stopped}` });
  }
  return stats;
}

/** MQTT topic-filter matching (MQTT 3.1.1 section 4.7), for checking deliveries. */
function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
