import memoryPersistence from 'aedes-persistence';
import type { Client } from 'aedes';
import { Readable } from 'node:stream';
import { CarriedFixesError } from './carried-fixes.js';
import type { LiveSessions } from './live-sessions.js';
import type { RetainedKeeper } from './retained.js';
import { hideStored } from './share-names.js';
import { storedWillOwner } from './will-owners.js';

/** A subscription as aedes stores it for a persistent session. */
export interface StoredSubscription {
  readonly topic: string;
  readonly qos: number;
}

/** A message in a persistent session's outgoing queue (queued, or sent and not yet acknowledged). */
export interface QueuedPacket {
  readonly cmd: string;
  readonly topic: string;
  readonly messageId?: number;
  readonly brokerId?: string | null;
  readonly brokerCounter?: number;
}

interface ClientRef {
  readonly id: string;
}

/** The methods aedes calls on a persistence, in their promise form. */
const DELEGATED = [
  'storeRetained', 'createRetainedStream', 'createRetainedStreamCombi', 'subscriptionsByTopic', 'countOffline',
  'outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingUpdate', 'incomingGetPacket', 'putWill', 'getWill', 'delWill', 'streamWill', 'getClientList', 'destroy',
] as const;

type Backend = { [K in (typeof DELEGATED)[number]]: (...args: unknown[]) => unknown } & {
  setup(broker: unknown): Promise<void>;
  addSubscriptions(client: ClientRef, subs: readonly StoredSubscription[]): Promise<void>;
  removeSubscriptions(client: ClientRef, topics: readonly string[]): Promise<void>;
  cleanSubscriptions(client: ClientRef): Promise<void>;
  subscriptionsByClient(client: ClientRef): Promise<StoredSubscription[]>;
  outgoingUpdate(client: ClientRef, packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: ClientRef, packet: { readonly messageId?: number }): Promise<QueuedPacket | undefined>;
  outgoingStream(client: ClientRef): Readable | AsyncIterable<unknown>;
  incomingStorePacket(client: ClientRef, packet: unknown): Promise<void>;
  incomingDelPacket(client: ClientRef, packet: unknown): Promise<unknown>;
  cleanIncoming(client: ClientRef): Promise<void>;
};

/** Delegated methods whose answer aedes reads as a stream (`pipe`, `pipeline`). */
const STREAMS = new Set<string>(['createRetainedStream', 'createRetainedStreamCombi', 'streamWill']);

/**
 * A stream as aedes expects one: the answer itself, or a stream over an async iterable
 * that ends early, instead of failing, when the iterable fails (Redis unreachable): aedes
 * pipes some of these streams without an error handler, and an unhandled stream error
 * ends the process. What was not read stays stored (a queued message is sent at the
 * session's next connection); `onError` hears of it.
 */
function asReadable(s: Readable | AsyncIterable<unknown>, onError: (e: unknown) => void): Readable {
  if (s instanceof Readable) return s;
  async function* untilFailure(): AsyncGenerator<unknown> {
    try {
      yield* s;
    } catch (e) {
      onError(e);
    }
  }
  return Readable.from(untilFailure(), { objectMode: true });
}

/** The field of a will stored in a shared persistence that holds its owner (will-owners.ts `StoredWillOwner`). */
export const WILL_OWNER_FIELD = 'gatehouseWillOwner';

/** Methods this class defines itself instead of delegating. */
const OWN = new Set<string>(['storeRetained']);

/** A retained message as aedes stores and streams it. */
interface RetainedPacket {
  readonly cmd?: string;
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly qos: number;
  readonly retain?: boolean;
}

/**
 * Inbound QoS 2 messages a client may leave awaiting PUBREL (aedes 1.2.0's
 * `maxInflightInbound` default). The next one is refused and aedes closes the connection.
 */
export const MAX_INFLIGHT_INBOUND = 1000;

export class InboundQos2LimitError extends Error {
  constructor() {
    super(`more than ${MAX_INFLIGHT_INBOUND} inbound QoS 2 messages awaiting PUBREL`);
    this.name = 'InboundQos2LimitError';
  }
}

/**
 * An MQTT 5 client had more QoS 2 messages unacknowledged than the Receive Maximum the
 * broker announced; it was sent DISCONNECT 0x93 and its connection closed.
 */
export class ReceiveMaximumExceededError extends Error {
  constructor(readonly receiveMaximum: number) {
    super(`more than ${receiveMaximum} inbound QoS 1/2 messages unacknowledged (Receive Maximum)`);
    this.name = 'ReceiveMaximumExceededError';
  }
}

/**
 * 0x93 Receive Maximum exceeded (MQTT 5.0 §3.14.2.1; `REASON.RECEIVE_MAXIMUM_EXCEEDED` in
 * reason-codes.ts, which this module cannot import: reason-codes.ts depends on context.ts,
 * which depends on this module).
 */
const RECEIVE_MAXIMUM_EXCEEDED = 0x93;

/** The part of an aedes client the Receive Maximum check uses. */
interface V5Client {
  readonly version?: number | null;
  disconnect?(opts: { reasonCode: number }, done: () => void): void;
}

/**
 * A packet identifier MQTT never uses (§2.3.1: identifiers are 1–65535), given for a moment
 * to a queued message that has none yet so it can be removed by identifier.
 */
const REMOVAL_ID = 0;

/**
 * The broker's session store: aedes' in-memory persistence, with three changes that keep
 * what a persistent session stores in line with what it was granted.
 *
 * 1. `addSubscriptions` stores only filters the connection holds as granted. aedes stores
 *    every filter of a SUBSCRIBE packet as soon as one of them is granted, denied ones
 *    included, and messages would then be queued for the session on a filter it was
 *    refused.
 * 2. It knows which client IDs have stored subscriptions, so a re-check can reach
 *    persistent sessions that are not connected (`persistentClientIds`).
 * 3. `outgoingClearMessageId` for a message without a packet identifier removes that
 *    message and no other. aedes asks this when it drops a delivery it was refused
 *    (a live or retained message), and the in-memory store would otherwise remove the
 *    first queued message without an identifier, whichever it is.
 *
 * 4. Retained messages are written through to the retained keeper (retained.ts: the
 *    registry database, with its limits) before the in-memory store takes them, and
 *    `loadRetained` fills the in-memory store from it at start, so they survive a
 *    restart. A store the keeper refuses (over a limit) fails the publish.
 * 5. Two security fixes of aedes 1.2.0 that aedes 2.0.0-beta.1 lacks, carried here (see
 *    carried-fixes.ts and docs/mqtt5.md): at most MAX_INFLIGHT_INBOUND inbound QoS 2
 *    messages per client await PUBREL (GHSA-5jvp-3p2v-5qgf: otherwise a client that never
 *    sends PUBREL makes the broker store up to 65,535 messages), and `cleanSubscriptions`,
 *    which aedes calls on every clean CONNECT and when a session ends, also forgets the
 *    session's inbound QoS 2 identifiers (GHSA-p8r9-qf8w-p73r: otherwise a message of the
 *    new session reusing one is acknowledged and dropped as a duplicate, [MQTT-3.1.2-6]).
 *
 * Every other method is the in-memory store's own.
 */
export class SessionStore {
  private readonly inner: Backend;
  private readonly persistent = new Set<string>();
  /** Client ID -> packet identifiers of its inbound QoS 2 messages stored and awaiting PUBREL. */
  private readonly awaitingRelease = new Map<string, Set<number>>();

  /**
   * The Receive Maximum announced to MQTT 5 clients (1 to MAX_INFLIGHT_INBOUND): how many
   * inbound QoS 1/2 messages of theirs may be unacknowledged at once.
   */
  readonly receiveMaximum: number;

  /** Whether the backend is shared with other nodes (Redis): it already holds the retained messages. */
  private readonly shared: boolean;

  /**
   * `opts.backend`: a promise-form aedes persistence shared by several nodes
   * (aedes-persistence-redis, redis-cluster.ts) instead of the in-memory one; it is wrapped
   * the same way, so every change below holds on it.
   */
  /** A read of the shared backend failed part way (the stream aedes was reading ended early). */
  private readonly onBackendError: (e: unknown) => void;

  constructor(private readonly sessions: LiveSessions, private readonly retained?: RetainedKeeper, opts: { readonly receiveMaximum?: number; readonly backend?: unknown; readonly onBackendError?: (e: unknown) => void } = {}) {
    this.onBackendError = opts.onBackendError ?? (() => undefined);
    this.receiveMaximum = Math.min(Math.max(1, Math.trunc(opts.receiveMaximum ?? MAX_INFLIGHT_INBOUND)), MAX_INFLIGHT_INBOUND);
    this.shared = opts.backend !== undefined;
    // The package is CommonJS and its module object is the factory; its type declarations
    // describe the callback interface aedes 0.x used, hence the cast to what aedes 1.x calls.
    this.inner = (opts.backend as Backend | undefined) ?? (memoryPersistence as unknown as () => Backend)();
    if (typeof this.inner.cleanIncoming !== 'function') {
      throw new CarriedFixesError(`session store: the ${this.shared ? 'shared (Redis)' : 'in-memory'} persistence has no \`cleanIncoming\``);
    }
    for (const name of DELEGATED) {
      if (typeof this.inner[name] !== 'function') throw new CarriedFixesError(`session store: the persistence has no \`${name}\``);
    }
    for (const name of DELEGATED) {
      if (OWN.has(name)) continue;
      const inner = this.inner;
      // aedes pipes these; the Redis persistence answers async generators.
      (this as unknown as Record<string, unknown>)[name] = STREAMS.has(name)
        ? (...args: unknown[]) => asReadable(inner[name](...args) as Readable | AsyncIterable<unknown>, this.onBackendError)
        : (...args: unknown[]) => inner[name](...args);
    }
    if (this.shared) {
      const inner = this.inner;
      // Another node publishes this node's wills if it dies (cluster-wills.ts): the will
      // is stored with its owner, what the connection authenticated as, for that node to
      // decide it. aedes's copy of the will is not changed (it is published locally).
      (this as unknown as Record<string, unknown>)['putWill'] = async (client: ClientRef, packet: Record<string, unknown>): Promise<void> => {
        const owner = storedWillOwner(client as Client);
        const stored: Record<string, unknown> = { ...packet, ...(owner !== undefined ? { [WILL_OWNER_FIELD]: owner } : {}) };
        await inner.putWill(client, stored);
        // As the Redis persistence marks aedes's packet.
        packet['clientId'] = stored['clientId'];
        packet['brokerId'] = stored['brokerId'];
      };
      // aedes's own sweep of dead brokers' wills would hand them to the publish hook
      // without their owner, and several nodes would publish the same one: it is given
      // none; cluster-wills.ts takes them instead, one node each.
      (this as unknown as Record<string, unknown>)['streamWill'] = () => Readable.from([], { objectMode: true });
    }
  }

  // aedes refuses a persistence whose setup is not an async function.
  async setup(broker: unknown): Promise<void> {
    await this.inner.setup(broker);
  }

  /** The durable store first (it may refuse), then the in-memory one aedes streams from. */
  async storeRetained(packet: RetainedPacket): Promise<void> {
    if (this.retained !== undefined) {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      await this.retained.store(packet.topic, payload, packet.qos);
    }
    await this.inner.storeRetained(packet);
  }

  /**
   * Fills the in-memory store with the keeper's retained messages (at start, before any
   * connection). A shared backend already holds them: the keeper only counts them.
   */
  async loadRetained(): Promise<number> {
    if (this.retained === undefined) return 0;
    const all = await this.retained.load();
    if (this.shared) return all.length;
    for (const m of all) await this.inner.storeRetained({ cmd: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: true, dup: false });
    return all.length;
  }

  /** Removes a topic's retained message from both stores without publishing anything (operator delete). */
  async dropRetained(topic: string): Promise<boolean> {
    const removed = this.retained !== undefined ? await this.retained.delete(topic) : false;
    await this.inner.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false });
    return removed;
  }

  async addSubscriptions(client: ClientRef, subs: readonly StoredSubscription[]): Promise<void> {
    // aedes passes the connection itself; anything else has no session and stores nothing.
    const session = this.sessions.ofClient(client as Client);
    const granted = session === undefined ? [] : subs.filter((s) => session.filters.has(s.topic));
    if (granted.length === 0) return;
    this.persistent.add(client.id);
    await this.inner.addSubscriptions(client, granted);
  }

  async removeSubscriptions(client: ClientRef, topics: readonly string[]): Promise<void> {
    await this.inner.removeSubscriptions(client, topics);
    await this.forgetIfEmpty(client);
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    await this.inner.cleanSubscriptions(client);
    this.persistent.delete(client.id);
    await this.cleanIncoming(client);
  }

  async incomingStorePacket(client: ClientRef, packet: { readonly messageId?: number }): Promise<void> {
    let ids = this.awaitingRelease.get(client.id);
    if (ids === undefined) this.awaitingRelease.set(client.id, ids = new Set());
    const id = packet.messageId ?? 0;
    if (!ids.has(id) && ids.size >= this.receiveMaximum && (client as V5Client).version === 5) return this.receiveMaximumExceeded(client as V5Client);
    if (!ids.has(id) && ids.size >= MAX_INFLIGHT_INBOUND) throw new InboundQos2LimitError();
    ids.add(id);
    await this.inner.incomingStorePacket(client, packet);
  }

  async incomingDelPacket(client: ClientRef, packet: { readonly messageId?: number }): Promise<unknown> {
    const r = await this.inner.incomingDelPacket(client, packet);
    const ids = this.awaitingRelease.get(client.id);
    ids?.delete(packet.messageId ?? 0);
    if (ids?.size === 0) this.awaitingRelease.delete(client.id);
    return r;
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    await this.inner.cleanIncoming(client);
    this.awaitingRelease.delete(client.id);
  }

  /**
   * MQTT 5 Receive Maximum on inbound messages (§3.3.4: a Server that receives more QoS 1
   * and QoS 2 PUBLISH packets than its Receive Maximum without having sent PUBACK or
   * PUBCOMP for them sends DISCONNECT 0x93). The broker answers a QoS 1 message with
   * PUBACK as soon as it is authorized (synchronously), so only QoS 2 messages awaiting
   * PUBREL can add up. The message is refused (neither stored nor published): the
   * DISCONNECT is written first, then the refusal closes the connection.
   */
  private receiveMaximumExceeded(client: V5Client): Promise<void> {
    const err = new ReceiveMaximumExceededError(this.receiveMaximum);
    if (typeof client.disconnect !== 'function') return Promise.reject(err);
    return new Promise((_resolve, reject) => client.disconnect!({ reasonCode: RECEIVE_MAXIMUM_EXCEEDED }, () => reject(err)));
  }

  /** Inbound QoS 2 messages of a client awaiting PUBREL. */
  awaitingPubrel(clientId: string): number {
    return this.awaitingRelease.get(clientId)?.size ?? 0;
  }

  /**
   * What aedes restores at a persistent session's reconnect: copies, with each shared
   * subscription's `$share/` name hidden from aedes until the subscribe hook decides it
   * (share-groups.ts).
   */
  async subscriptionsByClient(client: ClientRef): Promise<StoredSubscription[]> {
    return hideStored(await this.inner.subscriptionsByClient(client));
  }

  /** A session's stored subscriptions under their real names. */
  storedSubscriptions(client: ClientRef): Promise<StoredSubscription[]> {
    return this.inner.subscriptionsByClient(client);
  }

  outgoingStream(client: ClientRef): Readable {
    // The Redis persistence answers an async generator; the queue limits (queue-limits.ts)
    // replay and destroy a stream.
    return asReadable(this.inner.outgoingStream(client), this.onBackendError);
  }

  async outgoingClearMessageId(client: ClientRef, packet: QueuedPacket): Promise<QueuedPacket | undefined> {
    if (packet.messageId !== undefined && packet.messageId !== null) return this.inner.outgoingClearMessageId(client, packet);
    // A delivery refused because the connection's session has already ended (the
    // connection is closing, but aedes still routes to it) is not a refusal of the
    // message: it stays queued for the session's next connection, which decides it again.
    // Otherwise a message routed from another node during a disconnect would be lost.
    if (this.sessions.ofClient(client as Client) === undefined) return undefined;
    return this.removeQueued(client, packet);
  }

  /** Client IDs with stored subscriptions (connected or not). */
  persistentClientIds(): string[] {
    return [...this.persistent];
  }

  /** The messages queued for a client, oldest first. */
  async queued(client: ClientRef): Promise<QueuedPacket[]> {
    const out: QueuedPacket[] = [];
    for await (const p of this.inner.outgoingStream(client)) out.push(p as QueuedPacket);
    return out;
  }

  /**
   * Removes one queued message: by its packet identifier when it was sent, otherwise by
   * the broker's id and counter, which identify a message for its whole life.
   */
  async removeQueued(client: ClientRef, packet: QueuedPacket): Promise<QueuedPacket | undefined> {
    if (packet.messageId !== undefined && packet.messageId !== null) return this.inner.outgoingClearMessageId(client, packet);
    if (packet.brokerId === undefined || packet.brokerId === null || packet.brokerCounter === undefined) return undefined;
    try {
      await this.inner.outgoingUpdate(client, { cmd: packet.cmd, topic: packet.topic, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter, messageId: REMOVAL_ID });
    } catch {
      return undefined; // not queued for this client
    }
    return this.inner.outgoingClearMessageId(client, { messageId: REMOVAL_ID });
  }

  private async forgetIfEmpty(client: ClientRef): Promise<void> {
    if ((await this.inner.subscriptionsByClient(client)).length === 0) this.persistent.delete(client.id);
  }
}
