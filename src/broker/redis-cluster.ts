/**
 * The broker's routing and MQTT state on Redis, shared by several gateway nodes
 * (`gatehouse.cluster.redis`, docs/cluster.md):
 *
 * - **Routing**: mqemitter-redis, aedes's Redis router. Every message a node routes is
 *   published on a Redis channel (its topic behind the key prefix) and reaches every node
 *   that has a subscriber for it, the publishing node included, which then hands it to its
 *   own subscribers through the ordinary in-process router (mqemitter). That local router
 *   keeps its backlog in the broker's O(1) FIFO (mq.ts), here too, and while that backlog
 *   is long the node's own publishers are held back (`routingBackPressure`).
 * - **Shared subscriptions**: a message is claimed in Redis for a `$share/` subscription
 *   by one node (`claimShared`, used by share-groups.ts).
 * - **State**: aedes-persistence-redis: persistent sessions' subscriptions, their queued
 *   QoS 1/2 messages and in-flight state, inbound QoS 2 identifiers, wills, and retained
 *   messages, under the key prefix. It is wrapped by the session store (persistence.ts)
 *   exactly as the in-memory store is, so the carried security fixes hold on it.
 * - **Liveness**: each node keeps a key `node-alive:<broker id>` that expires after the node
 *   timeout and renews it three times per timeout; a node whose key is gone is dead, and
 *   another node takes its stored wills, one node each (`takeDeadNodesWills`, published by
 *   cluster-wills.ts).
 * - **Reachability**: three connections (commands, publish, subscribe). The node is
 *   "available" while all three are ready and a PING on the command connection answers;
 *   the gateway refuses new connections while it is not (docs/cluster.md).
 *
 * While Redis is unavailable (or a publish to it fails) a message is routed to this
 * node's subscribers only (it cannot reach other nodes); no message is buffered for
 * later, so an outage costs no unbounded memory.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createRequire } from 'node:module';
import { Redis, type RedisOptions } from 'ioredis';
import { GatehouseError } from '../core/index.js';
import { Fifo } from './fifo.js';
import { MqIncompatibleError, DEFAULT_MQ_CONCURRENCY, boundSyncReleases, type MqEmitter } from './mq.js';
import type { RetainedBacking, RetainedMessage, RetainedSummary } from './retained.js';

const require = createRequire(import.meta.url);
/** The encoding aedes-persistence-redis stores packets in (its own dependency, pinned with it). */
const msgpack = require('msgpack-lite') as { decode(b: Buffer): unknown };

export type RedisClusterCode = 'CLUSTER_REDIS_UNAVAILABLE';

/** Redis cannot be reached (at start: the gateway does not start). */
export class RedisClusterError extends GatehouseError<RedisClusterCode> {
  constructor(message: string, fix = 'start Redis or correct gatehouse.cluster.redis.url (docs/cluster.md); check that this node can reach it') {
    super('CLUSTER_REDIS_UNAVAILABLE', message, fix);
    this.name = 'RedisClusterError';
  }
}

export interface RedisClusterOptions {
  readonly url: string;
  readonly keyPrefix: string;
  /** Shown in logs; the broker id is this name and a random suffix (unique per run). */
  readonly nodeName?: string;
  readonly connectTimeoutMs: number;
  /**
   * How long after its last heartbeat a node is taken for dead (its devices' wills are then
   * published by another node); default DEFAULT_NODE_TIMEOUT_MS.
   */
  readonly nodeTimeoutMs?: number;
  /** Reachability changes, for the log. */
  readonly onEvent?: (e: RedisClusterEvent) => void;
}

export type RedisClusterEvent =
  | { readonly kind: 'lost'; readonly connection: string; readonly message: string }
  | { readonly kind: 'restored' };

/** The URL with its password replaced by `***`, for logs and errors. */
export function displayRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'redis://***';
  }
}

/** What mqemitter-redis and mqemitter expose that this module uses. */
interface RedisEmitter {
  emit(msg: { topic: string }, done?: (err?: Error) => void): void;
  _emit(msg: { topic: string }, done?: (err?: Error) => void): void;
  close(cb: () => void): void;
  _close(cb: () => void): void;
  closing?: boolean;
  closed?: boolean;
  state: { on(event: string, fn: (e: Error) => void): void };
  _messageQueue: unknown;
  _messageCallbacks: unknown;
  /** The Redis channel or pattern a (prefixed) filter is subscribed as. */
  _subTopic(topic: string): string;
  _containsWildcard(topic: string): boolean;
}

/**
 * The Redis pattern for an MQTT filter with wildcards, behind the cluster's key prefix. mqemitter-redis
 * only turns `+` and `#` into `*`, so a filter with a character that is special in a
 * Redis glob (`[` `]` `?` `*` `\`) became a pattern that misses topics the filter
 * matches (`a/[x]/+` matched `a/x/…` only). Those characters are escaped first; `*` per
 * wildcard still matches more than the filter (also across levels), and mqemitter's own
 * matching on the receiving node keeps only what the filter matches.
 * https://redis.io/docs/latest/commands/psubscribe/ (glob-style patterns, `\` escapes)
 */
export function redisPatternFor(prefix: string, filter: string): string {
  const levels = filter.split('/').map((level) => (level === '+' || level === '#' ? '*' : level.replace(/[\\[\]?*]/g, '\\$&')));
  // `a/#` also matches `a` itself (MQTT 3.1.1 4.7.1.2): the separator before `#` is optional.
  const pattern = filter === '#' || !filter.endsWith('/#') ? levels.join('/') : `${levels.slice(0, -1).join('/')}*`;
  // The prefix is validated to letters, digits and `_ . : -`: nothing in it is special.
  return prefix + pattern;
}

type EmitterCtor = new (prefix: string, opts: Record<string, unknown>) => RedisEmitter;

/** `gatehouse.cluster.redis.nodeTimeoutSeconds`'s default. */
export const DEFAULT_NODE_TIMEOUT_MS = 60_000;
/** The key (behind the prefix) a live node keeps, with the broker id after it. */
const ALIVE_KEY = 'node-alive:';
/** aedes-persistence-redis's list of stored wills and the key of each: `will:<broker id>:<client id>`. */
const WILLS_LIST = 'will';
const WILL_KEY = /^will:([^:]+):(.+)$/s;
/** The key (behind the prefix) of a shared-subscription claim: `share-claim:<broker id>:<counter>:<filter>`. */
const SHARE_CLAIM_KEY = 'share-claim:';
/** How long a shared-subscription claim is kept. */
export const SHARE_CLAIM_MS = 30_000;
/** Wills taken in one sweep at most (the rest in the next ones), and list entries read per request. */
const MAX_WILLS_PER_SWEEP = 1000;
const WILLS_PAGE = 1000;

/** A random suffix: a node restarted under the same name is another broker to aedes (its packet counters restart). */
function brokerId(nodeName: string | undefined): string {
  const name = (nodeName ?? hostname()).replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'node';
  return `${name}.${randomBytes(4).toString('hex')}`;
}

/**
 * Connections to Redis, the router and the persistence backend for one broker. Open with
 * `RedisCluster.open` (fails with CLUSTER_REDIS_UNAVAILABLE when Redis does not answer
 * within the connect timeout), hand `mq` and `persistence` to the broker, `close` after
 * the broker closed.
 */
export class RedisCluster {
  /** The aedes broker id of this node: `<nodeName>.<random>`. */
  readonly brokerId: string;
  readonly displayUrl: string;
  readonly mq: MqEmitter;
  /** The aedes-persistence-redis instance (the session store wraps it). */
  readonly persistence: unknown;
  readonly keyPrefix: string;
  /** How long after its last heartbeat a node is dead (`nodeTimeoutMs`); heartbeats go three times as often. */
  readonly nodeTimeoutMs: number;
  private readonly conns: { readonly name: string; readonly conn: Redis }[];
  private readonly command: Redis;
  private pingFailed = false;
  private closed = false;
  private lastUp = true;
  /** Since when Redis has been reachable without interruption. */
  private upSince = Date.now();
  private readonly timer: NodeJS.Timeout;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly onEvent: ((e: RedisClusterEvent) => void) | undefined;

  private constructor(opts: RedisClusterOptions, id: string, command: Redis, pub: Redis, sub: Redis) {
    this.brokerId = id;
    this.nodeTimeoutMs = opts.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS;
    this.displayUrl = displayRedisUrl(opts.url);
    this.keyPrefix = opts.keyPrefix;
    this.command = command;
    this.onEvent = opts.onEvent;
    this.conns = [{ name: 'command', conn: command }, { name: 'publish', conn: pub }, { name: 'subscribe', conn: sub }];
    // mqemitter-redis publishes on the topic behind the prefix: channels of other
    // clusters on the same server are not this one's.
    const { MQEmitterRedisPrefix } = require('mqemitter-redis') as { MQEmitterRedisPrefix: EmitterCtor };
    const emitter = new MQEmitterRedisPrefix(opts.keyPrefix, { pubConn: pub, subConn: sub, concurrency: DEFAULT_MQ_CONCURRENCY, matchEmptyLevels: true });
    // Without a listener, an 'error' on its state emitter would end the process.
    emitter.state.on('error', () => undefined);
    // Filters with wildcards become escaped patterns; exact topics stay exact channels.
    emitter._subTopic = (topic) => (emitter._containsWildcard(topic) && topic.startsWith(opts.keyPrefix) ? redisPatternFor(opts.keyPrefix, topic.slice(opts.keyPrefix.length)) : topic);
    useFifo(emitter);
    // Redis unavailable, or a publish it did not take: route to this node's subscribers
    // only, at once, rather than fail (aedes would close the publisher), lose the message
    // for this node's own subscribers, or buffer without bound. The publish connection
    // can still read 'ready' for a moment after Redis went away, so a failed publish
    // falls back too.
    const toRedis = emitter.emit.bind(emitter);
    const prefix = opts.keyPrefix;
    const backPressure = routingBackPressure(emitter._messageQueue as Fifo<unknown>, () => emitter.closing === true || emitter.closed === true);
    emitter.emit = (msg, done) => {
      const locally = (): void => emitter._emit({ ...msg, topic: prefix + msg.topic }, done);
      if (pub.status !== 'ready' || !this.available) return locally();
      toRedis(msg, (err) => {
        if (err === undefined || err === null) backPressure(done);
        else locally();
      });
    };
    // Closing with the broker: drop both connections at once (mqemitter-redis waits for a
    // QUIT to be answered, which never happens while Redis is unreachable).
    emitter.close = (cb) => {
      emitter.closing = true;
      pub.disconnect();
      sub.disconnect();
      emitter._close(cb);
    };
    this.mq = emitter as unknown as MqEmitter;
    const AsyncRedisPersistence = require('aedes-persistence-redis/asyncPersistence.js') as new (opts: { conn: Redis }) => unknown;
    this.persistence = new AsyncRedisPersistence({ conn: command });
    for (const { name, conn } of this.conns) {
      conn.on('error', (e: Error) => this.report(name, e.message));
      conn.on('close', () => this.report(name, 'connection closed'));
      conn.on('ready', () => this.check());
    }
    // A PING a second: a connection that is open but gets no answer (a partition) is down too.
    this.timer = setInterval(() => void this.ping(), 1000);
    this.timer.unref();
    this.heartbeatTimer = setInterval(() => void this.heartbeat().catch(() => undefined), Math.max(100, Math.floor(this.nodeTimeoutMs / 3)));
    this.heartbeatTimer.unref();
  }

  static async open(opts: RedisClusterOptions): Promise<RedisCluster> {
    const base: RedisOptions = {
      connectTimeout: opts.connectTimeoutMs,
      lazyConnect: true,
      // Reconnect for ever, at most every 2 s.
      retryStrategy: (times) => Math.min(100 * times, 2000),
      maxRetriesPerRequest: 1,
    };
    // Commands and publishes fail at once while Redis is unreachable instead of queuing
    // in memory without bound; subscriptions wait for the connection (ioredis re-sends them).
    const command = new Redis(opts.url, { ...base, keyPrefix: opts.keyPrefix, enableOfflineQueue: false });
    // Not auto-pipelined (which mqemitter-redis turns on for connections it makes itself):
    // ioredis then sends one batch at a time, each after the previous one's answers, which
    // measured 2–10 times the latency at 1,000 msg/s for a few percent less CPU.
    const pub = new Redis(opts.url, { ...base, enableOfflineQueue: false });
    const sub = new Redis(opts.url, { ...base });
    const all = [command, pub, sub];
    for (const c of all) c.on('error', () => undefined);
    try {
      await withTimeout(Promise.all(all.map((c) => c.connect())), opts.connectTimeoutMs + 500);
      await command.ping();
    } catch (e) {
      for (const c of all) c.disconnect();
      throw new RedisClusterError(`cannot reach Redis at ${displayRedisUrl(opts.url)}: ${redactMessage((e as Error).message, opts.url)}`);
    }
    for (const c of all) c.removeAllListeners('error');
    ignoreDroppedRedisCommands();
    const id = brokerId(opts.nodeName);
    // Alive before the first connection can store a will.
    try {
      await command.set(ALIVE_KEY + id, '1', 'PX', opts.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS);
    } catch (e) {
      for (const c of all) c.disconnect();
      throw new RedisClusterError(`cannot write to Redis at ${displayRedisUrl(opts.url)}: ${redactMessage((e as Error).message, opts.url)}`);
    }
    return new RedisCluster(opts, id, command, pub, sub);
  }

  /** Renews this node's liveness key. */
  private async heartbeat(): Promise<void> {
    if (this.closed || this.command.status !== 'ready') return;
    await this.command.set(ALIVE_KEY + this.brokerId, '1', 'PX', this.nodeTimeoutMs);
  }

  /**
   * Claims a message for a shared subscription (share-groups.ts): true for the first node
   * that asks for this (filter, message), false for the others. The message is named by
   * its publishing broker's id and counter (aedes numbers every message it publishes); the
   * claim is kept SHARE_CLAIM_MS, longer than a message takes to reach every node. True
   * too when Redis does not answer (each node delivers: a duplicate rather than a loss)
   * or the message has no such name.
   */
  async claimShared(filter: string, packet: { readonly brokerId?: unknown; readonly brokerCounter?: unknown }): Promise<boolean> {
    if (typeof packet.brokerId !== 'string' || typeof packet.brokerCounter !== 'number') return true;
    if (!this.available) return true;
    try {
      return (await this.command.set(`${SHARE_CLAIM_KEY}${packet.brokerId}:${packet.brokerCounter}:${filter}`, '1', 'PX', SHARE_CLAIM_MS, 'NX')) === 'OK';
    } catch {
      return true;
    }
  }

  /**
   * Takes the stored wills of dead nodes (whose liveness key expired) out of Redis and
   * returns them, decoded. Each will is read and deleted in one transaction (MULTI), so
   * when several nodes sweep at once exactly one of them gets it. A will taken is this
   * node's to decide and publish: if this node dies before publishing it, it is lost
   * (never published twice). Rejects when Redis fails.
   */
  async takeDeadNodesWills(): Promise<Record<string, unknown>[]> {
    // Just back after an outage: the other nodes' keys may have expired meanwhile; give
    // them a heartbeat interval to renew them before taking anyone for dead.
    if (this.closed || !this.available || Date.now() - this.upSince < this.nodeTimeoutMs / 3 + 1000) return [];
    const alive = new Map<string, boolean>();
    const out: Record<string, unknown>[] = [];
    // The whole list, a page at a time (entries removed meanwhile may make a page skip
    // some: they are seen at the next sweep).
    for (let start = 0; out.length < MAX_WILLS_PER_SWEEP; start += WILLS_PAGE) {
      const page = await this.command.lrange(WILLS_LIST, start, start + WILLS_PAGE - 1);
      await this.takePage(page, alive, out);
      if (page.length < WILLS_PAGE) break;
    }
    return out;
  }

  private async takePage(entries: readonly string[], alive: Map<string, boolean>, out: Record<string, unknown>[]): Promise<void> {
    for (const entry of entries) {
      const m = WILL_KEY.exec(entry);
      if (m === null) continue;
      const owner = m[1]!;
      if (owner === this.brokerId) continue;
      let live = alive.get(owner);
      if (live === undefined) {
        live = (await this.command.exists(ALIVE_KEY + owner)) === 1;
        alive.set(owner, live);
      }
      if (live) continue;
      const r = await this.command.multi().getBuffer(entry).del(entry).lrem(WILLS_LIST, 0, entry).exec();
      if (r === null) continue;
      const [[getErr, value], [delErr, deleted]] = r as [[Error | null, Buffer | null], [Error | null, number]];
      if (getErr !== null || delErr !== null || deleted !== 1 || value === null) continue;
      try {
        const packet = msgpack.decode(value);
        if (packet !== null && typeof packet === 'object') out.push(packet as Record<string, unknown>);
      } catch {
        // Not a will this release can read: dropped with its key.
      }
    }
  }

  /** Whether every connection is ready and the last PING answered. */
  get available(): boolean {
    return !this.closed && !this.pingFailed && this.conns.every(({ conn }) => conn.status === 'ready');
  }

  /** A backing for the retained-message limits, reading the retained messages the persistence keeps. */
  retainedBacking(): RetainedBacking {
    return new RedisRetainedIndex(this.command);
  }

  /** After the broker closed (it closes the router): drops whatever connection is left. */
  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.heartbeatTimer);
    for (const { conn } of this.conns) if (conn.status !== 'end') conn.disconnect();
    return Promise.resolve();
  }

  private async ping(): Promise<void> {
    if (this.closed) return;
    if (this.command.status !== 'ready') return this.check();
    try {
      await withTimeout(this.command.ping(), 2000);
      this.pingFailed = false;
    } catch (e) {
      if (!this.pingFailed) this.report('command', `PING failed: ${(e as Error).message}`);
      this.pingFailed = true;
    }
    this.check();
  }

  private report(connection: string, message: string): void {
    if (this.closed) return;
    if (this.lastUp) {
      this.lastUp = false;
      this.onEvent?.({ kind: 'lost', connection, message });
    }
  }

  private check(): void {
    if (this.closed) return;
    const up = this.available;
    if (up && !this.lastUp) {
      this.lastUp = true;
      this.upSince = Date.now();
      void this.heartbeat().catch(() => undefined);
      this.onEvent?.({ kind: 'restored' });
    } else if (!up && this.lastUp) {
      const down = this.conns.find(({ conn }) => conn.status !== 'ready');
      this.report(down?.name ?? 'command', down !== undefined ? `status ${down.conn.status}` : 'PING failed');
    }
  }
}

/**
 * mqemitter-redis hands every message from Redis to mqemitter's own queue, the two arrays
 * mq.ts replaces with O(1) FIFOs; the same replacement here, with the same check.
 */
function useFifo(emitter: RedisEmitter): void {
  for (const field of ['_messageQueue', '_messageCallbacks'] as const) {
    const q = emitter[field];
    if (!Array.isArray(q) || q.length !== 0) {
      throw new MqIncompatibleError(`the installed mqemitter (under mqemitter-redis) has no empty array \`${field}\`; the broker's FIFO queue cannot replace it: pin mqemitter 7.1.0 or update src/broker/redis-cluster.ts`);
    }
  }
  emitter._messageQueue = new Fifo<unknown>();
  emitter._messageCallbacks = new Fifo<unknown>();
  // A flood from Redis arrives with no back-pressure: the backlog can be long.
  boundSyncReleases(emitter);
}

/**
 * Local backlog above which a publish routed through Redis is not reported done (see
 * `routingBackPressure`), and below which the held ones are.
 */
export const BACKLOG_HIGH = 1000;
export const BACKLOG_LOW = 250;
/** The longest a publish is held back. */
export const BACKLOG_MAX_HOLD_MS = 1000;

/**
 * Back-pressure from this node's deliveries to this node's publishers.
 *
 * On one gateway a publish is done (aedes reads the publisher's next packets) only once the
 * router has handed it to its subscribers, so a node never takes in messages faster than
 * it delivers them. Through Redis a publish is done as soon as Redis took it, and the
 * message comes back to the node's subscribers later, queued behind whatever arrived from
 * Redis. mqemitter starts at most `concurrency` (100) deliveries at a time, and a delivery
 * to a device ends on a later turn of the event loop (aedes writes from `setImmediate`), so
 * the node delivers about 100 messages per turn; while its own publishers flood it, each
 * turn is long (tens of milliseconds reading, deciding and forwarding their messages), so
 * the node took in thousands of messages a second and delivered a few hundred, its backlog
 * growing without bound (measured: 170,000 messages, +230 MB, event-loop turns of 30–130 ms).
 *
 * So while the backlog of messages waiting for a delivery slot is above BACKLOG_HIGH, a
 * publish that Redis took is reported done only once the backlog is back to BACKLOG_LOW
 * (or after BACKLOG_MAX_HOLD_MS at most, so that nothing can wait on it for ever): aedes
 * stops reading the publishing connection meanwhile, and TCP holds the device back, as on
 * one gateway. The order of messages is untouched (only the moment aedes is told is).
 */
function routingBackPressure(backlog: { readonly length: number }, closing: () => boolean): (done: (() => void) | undefined) => void {
  /** Publishes held back, oldest first, with when each was held. */
  const held = new Fifo<{ readonly done: () => void; readonly since: number }>();
  let watching = false;
  const release = (): void => {
    watching = false;
    // Closing: nothing is held any more (the backlog may never drain).
    const all = backlog.length <= BACKLOG_LOW || closing();
    // Each is a publisher's turn: aedes reads its next packets. None is held longer than
    // BACKLOG_MAX_HOLD_MS, whatever holds the deliveries up (a delivery that waited for a
    // held publish would otherwise wait for ever).
    const expired = performance.now() - BACKLOG_MAX_HOLD_MS;
    while (held.length > 0 && (all || held.peek()!.since <= expired)) held.shift()!.done();
    if (held.length > 0) watch();
  };
  const watch = (): void => {
    if (watching) return;
    watching = true;
    setImmediate(release);
  };
  return (done) => {
    if (done === undefined) return;
    if (backlog.length <= BACKLOG_HIGH && held.length === 0) return done();
    held.push({ done, since: performance.now() });
    watch();
  };
}

let ignoring = false;

/**
 * aedes-persistence-redis sends a few commands without waiting for them (list cleanups
 * when a will is stored or removed, when a queued message is gone). While Redis is
 * unreachable those fail, nobody handles the failure, and Node ends the process on an
 * unhandled rejection. This handler drops exactly those failures (ioredis's errors for a
 * command it could not send) and lets every other unhandled rejection end the process as
 * before.
 */
function ignoreDroppedRedisCommands(): void {
  if (ignoring) return;
  ignoring = true;
  process.on('unhandledRejection', (reason) => {
    if (reason instanceof Error && (reason.name === 'MaxRetriesPerRequestError' || /enableOfflineQueue|^Connection is closed\.$/.test(reason.message))) return;
    throw reason;
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]);
}

function redactMessage(message: string, url: string): string {
  try {
    const pw = decodeURIComponent(new URL(url).password);
    return pw === '' ? message : message.split(pw).join('***');
  } catch {
    return message;
  }
}

/** The hash aedes-persistence-redis keeps retained messages in (field: topic, value: msgpack packet). */
const RETAINED_HASH = 'retained';

/**
 * The retained messages of the cluster as the keeper (retained.ts) reads them: the hash
 * the persistence writes. `put` writes nothing (the persistence stores the message right
 * after the keeper admitted it); `delete` removes the field, so the persistence's own
 * removal that follows finds nothing.
 */
class RedisRetainedIndex implements RetainedBacking {
  constructor(private readonly db: Redis) {}

  async all(): Promise<RetainedMessage[]> {
    const h = await this.db.hgetallBuffer(RETAINED_HASH);
    const out: RetainedMessage[] = [];
    for (const [topic, value] of Object.entries(h)) {
      const m = decodeRetained(topic, value);
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  async get(topic: string): Promise<RetainedMessage | undefined> {
    const v = await this.db.hgetBuffer(RETAINED_HASH, topic);
    return v === null ? undefined : decodeRetained(topic, v);
  }

  async put(): Promise<void> {
    // The persistence stores it.
  }

  async delete(topic: string): Promise<boolean> {
    return (await this.db.hdel(RETAINED_HASH, topic)) > 0;
  }

  async list(options: { readonly after?: string; readonly limit: number }): Promise<RetainedSummary[]> {
    const all = await this.all();
    return all
      .filter((m) => options.after === undefined || m.topic > options.after)
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
      .slice(0, options.limit)
      .map((m) => ({ topic: m.topic, payloadSize: m.payload.length, qos: m.qos, modifiedAt: m.modifiedAt }));
  }
}

function decodeRetained(topic: string, value: Buffer): RetainedMessage | undefined {
  try {
    const p = msgpack.decode(value) as { payload?: unknown; qos?: unknown };
    const payload = Buffer.isBuffer(p.payload) ? p.payload : typeof p.payload === 'string' ? Buffer.from(p.payload) : Buffer.alloc(0);
    return { topic, payload, qos: typeof p.qos === 'number' ? p.qos : 0, modifiedAt: 0 };
  } catch {
    return undefined;
  }
}
