/**
 * Per-session bounds on what a slow subscriber can make the broker hold in memory
 * (`gatehouse.mqtt.maxQueuedMessages`, `gatehouse.mqtt.maxInflightMessages`).
 *
 * aedes writes every delivery straight to the subscriber's socket, whatever the socket
 * has not sent yet, and keeps the message router's slot (see mq.ts) until the write is
 * flushed. A subscriber that stops reading therefore first piles messages up in its
 * socket's buffer and then holds router slots until aedes's drain timeout ends it,
 * which stalls delivery to every other session meanwhile. This module sits in front of
 * aedes's two per-client delivery functions and decides, per delivery:
 *
 * QoS 0 (evaluated in this order):
 *   0. something already waits in the session's queue (see QoS 1/2): it waits behind
 *      it, so the session's messages keep their order (dropped if the queue is full);
 *   1. the socket is draining (its buffer is below its high-water mark): delivered as
 *      aedes does it;
 *   2. otherwise the message is "queued behind a slow reader": it is written to the
 *      socket's buffer but releases the router slot at once, so one stuck session does
 *      not hold up the others; at most `maxQueuedMessages` such messages per session
 *      until the socket drains again;
 *   3. beyond that the message is dropped and counted (`qos="0"`), as Mosquitto does
 *      with `max_queued_messages`.
 *
 * QoS 1 and 2 (delivered at the QoS of the subscription):
 *   1. at most `maxInflightMessages` per session are in flight: forwarded and written,
 *      not yet acknowledged by PUBACK (QoS 1) or PUBCOMP (QoS 2); a message is sent
 *      only while the window has room, the socket is draining and nothing is waiting
 *      before it (order is kept);
 *   2. otherwise it waits in the session's queue (at most `maxQueuedMessages`
 *      messages, counting those queued behind the socket), and is
 *      sent, in order, as acknowledgements and drains make room; its router slot is
 *      released when it is queued;
 *   3. beyond that it is dropped and counted (`qos="1"` / `qos="2"`). For a persistent
 *      session (clean session 0) the broker has also stored the message in the
 *      session's offline queue before routing it, so a message dropped or still
 *      waiting here is not lost: it is sent at the session's next connection, with its
 *      authorization checked again then.
 *
 * The window counts a delivery only when the broker's forward hook let it through (a
 * refused delivery is never written and will never be acknowledged). aedes calls the
 * forward hook synchronously inside the delivery function; the wrapper compares a
 * per-session count of forwarded deliveries before and after the call.
 *
 * MQTT 5 flow control (MQTT 5.0 §3.1.2.11.3, §3.1.2.11.4), which aedes 2.0.0-beta.1
 * records but does not enforce:
 *   - Receive Maximum: the window is the smaller of `maxInflightMessages` and the client's
 *     Receive Maximum ([MQTT-3.3.4-9]). The session's stored queue, which aedes sends at
 *     connect without the delivery functions, is yielded to aedes only while the window
 *     has room (`Gate.replay`). A PUBREC with a reason code of 0x80 or more frees a slot.
 *   - Maximum Packet Size: a message whose PUBLISH would be larger than the client
 *     accepts is refused in the forward hook, so aedes discards it as it does a refused
 *     delivery (and removes a persistent session's stored copy): [MQTT-3.1.2-25].
 *
 * aedes internals relied on (pinned by test/broker/queue-limits.test.ts; checked here
 * when a connection is attached): `client.deliver0` and `client.deliverQoS` are
 * per-instance functions that aedes reads from the client at delivery time (and at
 * subscribe time, after attach), `deliverQoS` hands QoS 0 packets to `client.deliver0`,
 * the forward hook is read from `broker.authorizeForward` at each delivery, and the
 * broker emits `ack` for each PUBACK and PUBCOMP. For MQTT 5 (pinned by
 * test/e2e/mqtt5-flow-control.test.ts): `client.receiveMaximum`,
 * `client.maximumPacketSize`, `client._cleanStart`, `client.clean`, `client.closed`, the stored queue
 * read through `broker.persistence.outgoingStream` at connect with the forward hook
 * called for each PUBLISH of it, and `client._parser` emitting `packet`.
 */
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { PassThrough, Readable, type Duplex } from 'node:stream';
import type { BrokerContext } from './context.js';
import { Fifo } from './fifo.js';
import { parserOf } from './front-door.js';
import { publishPacketSize } from './packet-size.js';

export interface QueueLimitOptions {
  /** Messages per session held behind a socket that is not draining, or waiting for the window. */
  readonly maxQueuedMessages: number;
  /** QoS 1/2 messages per session written and not yet acknowledged. */
  readonly maxInflightMessages: number;
  /**
   * Called once per dropped message with the QoS it would have been delivered at;
   * `first` is true for the first drop since the session's socket last drained or it
   * last acknowledged a message (for one log line per stall).
   */
  readonly onDrop: (qos: 0 | 1 | 2, client: Client, first: boolean) => void;
  /**
   * Called once per message not sent to an MQTT 5 client because it is larger than the
   * Maximum Packet Size the client announced in CONNECT (`size` is the PUBLISH packet's).
   */
  readonly onTooLarge?: (client: Client, topic: string, size: number, maximum: number) => void;
  /**
   * The clock MQTT 5 message expiry is checked against (aedes stamps a message with its
   * absolute expiry, `messageExpiry`, in Date.now() milliseconds). Default Date.now.
   */
  readonly now?: () => number;
}

/** An MQTT 5 message whose Message Expiry Interval has run out ([MQTT-3.3.2-5]: not delivered). */
function expired(packet: AedesPublishPacket, now: number): boolean {
  const at = (packet as { messageExpiry?: unknown }).messageExpiry;
  return typeof at === 'number' && at <= now;
}

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;

/** The per-instance fields of an aedes client this module wraps. */
interface DeliveringClient {
  deliver0: Deliver;
  deliverQoS: Deliver;
  readonly conn: Duplex;
  /** Filter -> subscription; aedes downgrades a delivery to the QoS of the filter equal to its topic. */
  readonly subscriptions: Readonly<Record<string, { readonly qos?: number } | undefined>>;
  /** Protocol level from CONNECT (null before). */
  readonly version?: number | null;
  /** MQTT 5: the client's Receive Maximum from CONNECT (aedes: 65535 when absent). */
  readonly receiveMaximum?: number;
  /** MQTT 5: the client's Maximum Packet Size from CONNECT, undefined when absent. */
  readonly maximumPacketSize?: number;
  /** Set by aedes as soon as the connection starts closing. */
  readonly closed?: boolean;
  /** MQTT 5 Clean Start of the current connection (aedes drops the stored queue's messages then). */
  readonly _cleanStart?: boolean;
  readonly clean?: boolean;
}

/** Which of aedes's delivery functions is running, for the PUBLISH it is about to write. */
type Path = 'qos0' | 'qos' | undefined;

const INCOMPATIBLE = 'the aedes client has no per-instance deliver0/deliverQoS/subscriptions or its connection no writableNeedDrain (aedes upgraded?): pin aedes 2.0.0-beta.1 or update src/broker/queue-limits.ts';

export class QueueLimitsIncompatibleError extends Error {
  readonly code = 'BROKER_MQ_INCOMPATIBLE' as const;
  readonly fix = 'reinstall the pinned dependencies with `npm ci` (aedes 2.0.0-beta.1, mqemitter 7.1.0)';
}

function noop(): void {}

function compatible(c: Partial<DeliveringClient>): boolean {
  return typeof c.deliver0 === 'function' && typeof c.deliverQoS === 'function' && typeof c.subscriptions === 'object' && c.subscriptions !== null &&
    typeof c.conn === 'object' && c.conn !== null && typeof c.conn.writableNeedDrain === 'boolean';
}

/** A delivery waiting in a session's queue, with the QoS path it came through. */
interface Waiting {
  readonly packet: AedesPublishPacket;
  /** Through `deliver0` (QoS 0 at the subscriber) rather than `deliverQoS`. */
  readonly qos0: boolean;
}

/** The state of one connection. */
class Gate {
  /** Messages written while the socket was not draining, since it last drained. */
  behind = 0;
  /** QoS 1/2 deliveries written and not yet acknowledged. */
  inflight = 0;
  /** Deliveries the forward hook let through (see the module comment). */
  forwarded = 0;
  /** Drops since the socket last drained or the client last acknowledged. */
  drops = 0;
  /**
   * Deliveries waiting for room in the window or for the socket to drain. Once anything
   * waits, every later delivery to the session waits behind it, QoS 0 included: aedes
   * drops a message older than one it already delivered to the same client (its
   * duplicate filter compares per-publisher counters), so the order must be kept.
   */
  readonly waiting = new Fifo<Waiting>();
  closed = false;
  /** The delivery function of aedes running now (set around each synchronous call). */
  path: Path = undefined;
  /**
   * MQTT 5: messages of the session's stored queue handed to aedes at connect and not
   * yet seen by the forward hook; they count in the window (see `replay`).
   */
  reserved = 0;
  /** Wakes the stored-queue replay waiting for room in the window. */
  private wake: (() => void) | undefined;

  private deliver0: Deliver = noop;
  private deliverQoS: Deliver = noop;

  constructor(
    readonly conn: Duplex,
    private readonly client: DeliveringClient,
    private readonly maxInflightMessages: number,
    private readonly now: () => number,
  ) {}

  /** aedes's own delivery functions, each marking the path while it runs. */
  wrap(deliver0: Deliver, deliverQoS: Deliver): void {
    const mark = (path: Path, deliver: Deliver): Deliver => (packet, done) => {
      const outer = this.path;
      this.path = path;
      try {
        deliver(packet, done);
      } finally {
        this.path = outer;
      }
    };
    this.deliver0 = mark('qos0', deliver0);
    this.deliverQoS = mark('qos', deliverQoS);
  }

  get original0(): Deliver {
    return this.deliver0;
  }

  get originalQoS(): Deliver {
    return this.deliverQoS;
  }

  /**
   * The in-flight window: `maxInflightMessages`, or an MQTT 5 client's smaller Receive
   * Maximum ([MQTT-3.3.4-9]: no more unacknowledged QoS 1/2 PUBLISH packets than that).
   * Read at each delivery: the client's CONNECT is parsed after attach.
   */
  get maxInflight(): number {
    const rm = this.client.version === 5 ? this.client.receiveMaximum : undefined;
    return typeof rm === 'number' && rm >= 1 && rm < this.maxInflightMessages ? rm : this.maxInflightMessages;
  }

  /** Messages this session holds in memory: behind its socket plus waiting. */
  get queued(): number {
    return this.behind + this.waiting.length;
  }

  /** Whether the window has room for one more QoS 1/2 delivery. */
  get roomInWindow(): boolean {
    return this.inflight + this.reserved < this.maxInflight;
  }

  /** Whether a QoS 1/2 delivery may be written now. */
  get windowOpen(): boolean {
    return this.waiting.length === 0 && this.roomInWindow && !this.conn.writableNeedDrain;
  }

  /** An acknowledgement (or a refused QoS 2 delivery) freed a slot of the window. */
  released(): void {
    // Acknowledgements of messages sent before attach, or of a 3.1.1 session's stored
    // queue at connect, were never counted: never go below zero.
    if (this.inflight > 0) this.inflight--;
    this.drops = 0;
    this.pump();
    this.wakeReplay();
  }

  /**
   * The size of the PUBLISH aedes is about to write for `packet` when it is larger than
   * the MQTT 5 client's Maximum Packet Size ([MQTT-3.1.2-24]), otherwise undefined. The
   * QoS it is written at (so whether it carries a packet identifier) follows the path:
   * `deliver0` writes QoS 0, `deliverQoS` the message's QoS downgraded to that of the
   * subscription whose filter is the topic (as aedes does), the stored queue as stored.
   */
  tooLarge(packet: AedesPublishPacket): number | undefined {
    const max = this.client.version === 5 ? this.client.maximumPacketSize : undefined;
    if (typeof max !== 'number' || max <= 0) return undefined;
    let qos = packet.qos;
    if (this.path === 'qos0') qos = 0;
    else if (this.path === 'qos') {
      const sub = this.client.subscriptions[packet.topic];
      if (sub !== undefined && (sub.qos ?? 0) < qos) qos = (sub.qos ?? 0) as 0 | 1 | 2;
    }
    const size = publishPacketSize(packet, qos);
    return size > max ? size : undefined;
  }

  /**
   * MQTT 5: a session's stored queue, which aedes writes at connect without going through
   * the delivery functions, yielded only while the window has room, each message
   * reserving its slot until the forward hook sees it (see QueueLimits). A 3.1.1
   * session's stored queue is sent as aedes does it. The reservation assumes aedes's
   * connect-time replay, which hands every PUBLISH it reads to the forward hook (or
   * fails the connection on a store error).
   */
  replay(stored: Readable): Readable {
    // aedes also streams the stored queue to empty it when a session ends (its client is
    // closed then): that stream is not a delivery and must not wait for the window.
    if (this.client.version !== 5 || this.closed || this.client.closed === true) return stored;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the generator below is not an arrow function
    const gate = this;
    async function* gated(): AsyncGenerator<unknown> {
      try {
        for await (const packet of stored) {
          const cmd = (packet as { cmd?: unknown }).cmd;
          if (cmd === 'publish' || cmd === 'pubrel') {
            while (!gate.closed && !gate.roomInWindow) await new Promise<void>((r) => (gate.wake = r));
            if (gate.closed) return;
            // A PUBREL (a QoS 2 message in its second phase) is written as is, unless aedes
            // drops the stored queue (see replayWrites); a PUBLISH is counted by the forward hook.
            if (cmd === 'publish') gate.reserved++;
            else if (gate.replayWrites) gate.inflight++;
          }
          yield packet;
        }
      } finally {
        stored.destroy();
      }
    }
    return Readable.from(gated(), { objectMode: true, highWaterMark: 1 });
  }

  /**
   * The forward hook saw a message of the stored queue (no delivery function running):
   * its reserved slot becomes an in-flight one if aedes will write it (forwarded, not
   * expired, see `replayWrites`), and is freed otherwise.
   */
  replayed(packet: AedesPublishPacket, forwarded: boolean): void {
    if (this.reserved === 0 || packet.qos === 0) return;
    this.reserved--;
    if (forwarded && this.replayWrites && !expired(packet, Date.now())) this.inflight++;
    else this.wakeReplay();
  }

  /**
   * Whether aedes writes the stored queue's messages at all: it drops them instead when
   * the new connection started clean or its session does not outlive it (an MQTT 5
   * Session Expiry Interval of 0, aedes's `client.clean`).
   */
  private get replayWrites(): boolean {
    return this.client._cleanStart !== true && this.client.clean !== true;
  }

  wakeReplay(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Sends waiting deliveries, in order, while the window has room and the socket drains.
   * An MQTT 5 message that expired while it waited is dropped instead.
   */
  pump(): void {
    while (!this.closed && this.waiting.length > 0 && !this.conn.writableNeedDrain) {
      const next = this.waiting.peek()!;
      if (expired(next.packet, this.now())) {
        this.waiting.shift();
      } else if (next.qos0) {
        this.waiting.shift();
        this.deliver0(next.packet, noop);
      } else if (this.roomInWindow) {
        this.waiting.shift();
        this.send(next.packet, noop);
      } else break;
    }
  }

  /** Hands a QoS 1/2 delivery to aedes and counts it in the window if it is forwarded. */
  send(packet: AedesPublishPacket, done: () => void): void {
    const before = this.forwarded;
    if (done === noop) this.deliverQoS(packet, noop);
    else this.deliverWatched(this.deliverQoS, packet, done);
    // aedes writes it at QoS 0 (no acknowledgement will come) when the client also holds
    // a QoS 0 subscription whose filter is the topic itself.
    if (this.forwarded !== before && (this.client.subscriptions[packet.topic]?.qos ?? 1) !== 0) this.inflight++;
  }

  /**
   * aedes calls a delivery's `done` only once its write has been flushed, so a write
   * that leaves the socket over its high-water mark would hold the router slot until the
   * subscriber reads (or aedes's drain timeout ends it), and enough of them stall every
   * other session. aedes writes in a `setImmediate` scheduled by the delivery function;
   * the check below is scheduled right after it, so it runs right after that write: if
   * the socket is then not draining, the message counts as queued behind the reader and
   * the slot is released at once. `done` is called exactly once either way.
   */
  deliverWatched(deliver: Deliver, packet: AedesPublishPacket, done: () => void): void {
    let pending = true;
    const finish = (): void => {
      if (pending) {
        pending = false;
        done();
      }
    };
    deliver(packet, finish);
    setImmediate(() => {
      if (pending && this.conn.writableNeedDrain) {
        this.behind++;
        finish();
      }
    });
  }
}

/**
 * Applies the limits to every connection handed to `attach`. One instance per broker;
 * it wraps the broker's forward hook and listens for its `ack` events.
 */
export class QueueLimits {
  private readonly gates = new Map<Client, Gate>();

  constructor(
    private readonly broker: Aedes,
    private readonly opts: QueueLimitOptions,
  ) {
    // Fail at startup, not at the first connection: look at a client aedes makes for a
    // stream that is closed at once.
    const probeConn = new PassThrough();
    const probe = broker.handle(probeConn) as unknown as Partial<DeliveringClient>;
    const ok = compatible(probe);
    probeConn.destroy();
    if (!ok) throw new QueueLimitsIncompatibleError(INCOMPATIBLE);
    const forward = broker.authorizeForward.bind(broker);
    broker.authorizeForward = (client, packet) => {
      const gate = this.gates.get(client);
      let result = forward(client, packet);
      if (gate === undefined) return result;
      if (result) {
        // [MQTT-3.1.2-25]: a message larger than the client accepts is not sent, and the
        // broker carries on as if it had been: refused here, aedes drops it (and removes
        // it from a persistent session's stored queue) as it does a refused delivery.
        const size = gate.tooLarge(result);
        if (size !== undefined) {
          this.opts.onTooLarge?.(client, result.topic, size, (client as unknown as DeliveringClient).maximumPacketSize ?? 0);
          result = null;
        }
      }
      if (result) gate.forwarded++;
      if (gate.path === undefined) gate.replayed(packet, Boolean(result));
      return result;
    };
    broker.on('ack', (_packet, client) => this.gates.get(client)?.released());
    // The stored queue aedes sends at connect goes through the window too (MQTT 5).
    const persistence = (broker as unknown as { persistence: { outgoingStream: (client: Client) => Readable } }).persistence;
    const outgoingStream = persistence.outgoingStream.bind(persistence);
    persistence.outgoingStream = (client) => {
      const stored = outgoingStream(client);
      return this.gates.get(client)?.replay(stored) ?? stored;
    };
  }

  /** Sessions being tracked (connections not yet closed). */
  get size(): number {
    return this.gates.size;
  }

  /**
   * Puts the limits in front of a new connection's deliveries. Call it with the client
   * `aedes.handle()` returns, before any packet of the connection is read.
   */
  attach(client: Client): Client {
    const c = client as unknown as DeliveringClient;
    if (!compatible(c)) {
      throw new QueueLimitsIncompatibleError(INCOMPATIBLE);
    }
    const { maxQueuedMessages, maxInflightMessages, onDrop } = this.opts;
    const conn = c.conn;
    const gate = new Gate(conn, c, maxInflightMessages, this.opts.now ?? Date.now);
    gate.wrap(c.deliver0, c.deliverQoS);
    const original0 = gate.original0;
    const originalQoS = gate.originalQoS;
    this.gates.set(client, gate);
    // MQTT 5: a PUBREC with a reason code of 0x80 or more ends a QoS 2 delivery and frees its
    // slot ([MQTT-3.3.4-9]); aedes emits no `ack` for it.
    parserOf(client)?.on('packet', (p: { cmd?: string; reasonCode?: number }) => {
      if (p.cmd === 'pubrec' && c.version === 5 && (p.reasonCode ?? 0) >= 0x80) gate.released();
    });

    /** Queues a delivery (releasing its router slot) or drops it when the session's queue is full. */
    const wait = (packet: AedesPublishPacket, qos0: boolean, done: () => void): void => {
      if (gate.queued >= maxQueuedMessages) onDrop(qos0 ? 0 : packet.qos, client, gate.drops++ === 0);
      else gate.waiting.push({ packet, qos0 });
      setImmediate(done);
    };

    c.deliver0 = (packet, done) => {
      if (gate.waiting.length > 0) {
        wait(packet, true, done);
      } else if (!conn.writableNeedDrain) {
        gate.deliverWatched(original0, packet, done);
      } else if (gate.queued >= maxQueuedMessages) {
        onDrop(0, client, gate.drops++ === 0);
        setImmediate(done);
      } else {
        // Behind a slow reader: into the socket's buffer, router slot released at once.
        gate.behind++;
        original0(packet, noop);
        setImmediate(done);
      }
    };

    c.deliverQoS = (packet, done) => {
      // aedes hands QoS 0 packets on to `deliver0` (the wrapper above).
      if (packet.qos === 0) originalQoS(packet, done);
      else if (gate.windowOpen) gate.send(packet, done);
      else wait(packet, false, done);
    };

    conn.on('drain', () => {
      gate.behind = 0;
      gate.drops = 0;
      gate.pump();
    });
    conn.once('close', () => {
      gate.closed = true;
      gate.wakeReplay();
      // Waiting messages of a persistent session stay in its stored queue; a clean
      // session's are gone with it, as they would be in its socket buffer.
      while (gate.waiting.length > 0) gate.waiting.shift();
      this.gates.delete(client);
    });
    return client;
  }
}

export interface SessionQueueLimits {
  readonly maxQueuedMessages: number;
  readonly maxInflightMessages: number;
}

/** The configuration defaults (`gatehouse.mqtt.maxQueuedMessages` / `maxInflightMessages`). */
export const DEFAULT_QUEUE_LIMITS: SessionQueueLimits = { maxQueuedMessages: 1000, maxInflightMessages: 1000 };

/** The gateway's limits: drops counted in the metrics and logged once per stall. */
export function brokerQueueLimits(broker: Aedes, ctx: Pick<BrokerContext, 'logger' | 'metrics'>, limits: SessionQueueLimits = DEFAULT_QUEUE_LIMITS): QueueLimits {
  return new QueueLimits(broker, {
    ...limits,
    onDrop: (qos, client, first) => {
      ctx.metrics.queueDrops[qos]++;
      if (first) {
        ctx.logger.info({ event: 'queue-full', clientId: client.id, qos, maxQueuedMessages: limits.maxQueuedMessages, maxInflightMessages: limits.maxInflightMessages },
          'a subscriber is not keeping up: its session queue is full, messages to it are dropped');
      }
    },
    onTooLarge: (client, topic, size, maximum) => {
      if (ctx.logger.isLevelEnabled('debug')) {
        ctx.logger.debug({ event: 'delivery-dropped', clientId: client.id, topic, reason: 'too_large_for_client', size, maximumPacketSize: maximum },
          'message larger than the Maximum Packet Size the client announced; not sent');
      }
    },
  });
}
