/**
 * The wills of a cluster node that died (`kill -9`, a crash, a machine lost), published by
 * a node that lives.
 *
 * A will is stored in Redis when its connection is accepted (aedes-persistence-redis),
 * with its owner: what the connection authenticated as (persistence.ts, will-owners.ts).
 * A node that closes a connection publishes its will itself; a node that dies cannot. Each
 * node keeps a liveness key in Redis that expires after `nodeTimeoutMs` (redis-cluster.ts);
 * every third of that time each node looks for wills stored by nodes whose key is gone and
 * takes them out of Redis in one transaction each, so that one node, and only one, gets
 * each will. That node decides the will exactly as a will published after its session
 * ended is decided on one gateway (wills.ts `judgeWill`: the certificate screened again,
 * the thing, `mqtt:connect` and `mqtt:publish` on the will topic under the policy in force
 * now), then publishes it through the cluster or drops it. A stored will without a
 * readable owner is never published (fail closed).
 *
 * aedes has a sweep of its own for this (brokers heartbeat on `$SYS/<id>/heartbeat`, and
 * every four heartbeat intervals each broker publishes the wills of brokers it has not
 * heard from in three); it hands the wills to the publish hook without their owner, and
 * every live broker publishes the same will. The session store gives that sweep nothing
 * to read on a cluster (persistence.ts); this one replaces it.
 *
 * The MQTT 5 Will Delay Interval (§3.1.3.2.2) of a dead node's will is counted from when
 * this node took the will (the node's death is known only to within the node timeout),
 * and, as aedes does on one node, a new connection of the same client id cancels it: one
 * seen anywhere in the cluster (`$SYS/<broker>/new/clients`, which every node publishes
 * through Redis) since shortly before the node could have died, or during the delay. A
 * will this node took and holds for its delay is lost if this node stops or dies too.
 */
import type { Aedes } from 'aedes';
import type { BrokerContext } from './context.js';
import { WILL_OWNER_FIELD } from './persistence.js';
import type { StoredWillOwner } from './will-owners.js';
import { judgeWill, type WillOwnerRecord } from './wills.js';

/** Where the dead nodes' wills come from (RedisCluster). */
export interface DeadNodesWills {
  /** Takes the wills of dead nodes out of the shared store: each is given to one caller only. */
  takeDeadNodesWills(): Promise<Record<string, unknown>[]>;
  readonly nodeTimeoutMs: number;
}

/** What a stored will must hold to be published. */
interface StoredWill {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly properties?: Record<string, unknown>;
  readonly clientId: string;
  readonly brokerId: string;
  readonly owner: StoredWillOwner;
}

/** A stored will in the shape it must have, or why not. */
export function readStoredWill(raw: Record<string, unknown>): StoredWill | string {
  const { topic, payload, qos, retain, properties, clientId, brokerId } = raw;
  const owner = raw[WILL_OWNER_FIELD];
  if (typeof clientId !== 'string' || clientId === '' || typeof brokerId !== 'string') return 'no client or broker id';
  if (typeof topic !== 'string' || topic === '') return 'no topic';
  if (qos !== 0 && qos !== 1 && qos !== 2) return 'no QoS';
  const o = owner as Partial<StoredWillOwner> | undefined;
  if (o === undefined || o === null || typeof o !== 'object' || o.v !== 1) return 'no owner recorded';
  if (typeof o.thingName !== 'string' || typeof o.certificateId !== 'string' || typeof o.chainPem !== 'string' || o.context === null || typeof o.context !== 'object') return 'owner unreadable';
  // The owner's client id is the will's (the thing name is the client id): a record that
  // disagrees is not trusted.
  if (o.context.clientId !== clientId || o.thingName !== clientId) return 'owner of another client';
  return {
    topic,
    payload: Buffer.isBuffer(payload) ? payload : typeof payload === 'string' ? Buffer.from(payload) : Buffer.alloc(0),
    qos,
    retain: retain === true,
    ...(properties !== null && typeof properties === 'object' ? { properties: properties as Record<string, unknown> } : {}),
    clientId,
    brokerId,
    owner: o as StoredWillOwner,
  };
}

/** What the will sweep needs of the broker. */
type Broker = Pick<Aedes, 'publish' | 'subscribe' | 'unsubscribe'>;

export class ClusterWills {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;
  /** The last connection of each client id seen in the cluster lately: when, and on which broker. */
  private readonly connected = new Map<string, { readonly at: number; readonly broker: string }>();
  /** Wills waiting for their Will Delay Interval, by client id. */
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly onConnect = (packet: { topic: string; payload: Buffer | string }, done: () => void): void => {
    const broker = packet.topic.split('/')[1] ?? '';
    const clientId = String(packet.payload);
    this.connected.delete(clientId);
    this.connected.set(clientId, { at: Date.now(), broker });
    const pending = this.delayed.get(clientId);
    if (pending !== undefined) {
      clearTimeout(pending);
      this.delayed.delete(clientId);
      this.ctx.logger.info({ event: 'cluster-will-cancelled', clientId, broker }, 'delayed will of a dead cluster node not published: the client connected again');
    }
    done();
  };

  constructor(private readonly ctx: BrokerContext, private readonly aedes: Broker, private readonly source: DeadNodesWills) {}

  /** How far back a connection counts as made after the dead node's last heartbeat. */
  private get window(): number {
    return Math.ceil(this.source.nodeTimeoutMs * 4 / 3) + 2000;
  }

  /** Sweeps every third of the node timeout until `stop`. */
  start(): void {
    this.aedes.subscribe('$SYS/+/new/clients', this.onConnect, () => undefined);
    this.timer = setInterval(() => void this.sweep(), Math.max(100, Math.floor(this.source.nodeTimeoutMs / 3)));
    this.timer.unref();
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.aedes.unsubscribe('$SYS/+/new/clients', this.onConnect, () => undefined);
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
    return this.running ?? Promise.resolve();
  }

  /** One sweep (none while the previous one runs): the dead nodes' wills taken, decided, published. */
  sweep(): Promise<void> {
    this.running ??= this.takeAndPublish().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async takeAndPublish(): Promise<void> {
    let taken: Record<string, unknown>[];
    try {
      taken = await this.source.takeDeadNodesWills();
      this.failing = false;
    } catch (e) {
      // Redis unreachable: the wills stay stored for the next sweep. Logged once per outage.
      if (!this.failing) this.ctx.logger.error({ event: 'error', code: 'CLUSTER_REDIS_UNAVAILABLE', err: (e as Error).message }, 'could not read the wills of dead cluster nodes; tried again');
      this.failing = true;
      return;
    }
    // Forget connections older than the window (the map holds recent ones only; oldest first).
    const old = Date.now() - this.window;
    for (const [id, c] of this.connected) {
      if (c.at >= old) break;
      this.connected.delete(id);
    }
    for (const raw of taken) await this.takeOne(raw);
  }

  private async takeOne(raw: Record<string, unknown>): Promise<void> {
    const will = readStoredWill(raw);
    if (typeof will === 'string') {
      this.ctx.metrics.denials['mqtt:publish']++;
      this.ctx.logger.warn({ event: 'denied', operation: 'mqtt:publish', will: true, clientId: typeof raw['clientId'] === 'string' ? raw['clientId'] : undefined, deadNode: raw['brokerId'], reason: 'WILL_OWNER_UNKNOWN', detail: will },
        'will of a dead cluster node not published: its owner is not recorded with it');
      return;
    }
    const delay = will.properties?.['willDelayInterval'];
    if (typeof delay !== 'number' || !(delay > 0)) return this.publishOne(will);
    // A connection of the client on another broker since the dead node could have died:
    // the session continued, the will is not sent [MQTT-3.1.3-9].
    const seen = this.connected.get(will.clientId);
    if (seen !== undefined && seen.broker !== will.brokerId && seen.at >= Date.now() - this.window) {
      this.ctx.logger.info({ event: 'cluster-will-cancelled', clientId: will.clientId, broker: seen.broker, deadNode: will.brokerId }, 'delayed will of a dead cluster node not published: the client connected again');
      return;
    }
    clearTimeout(this.delayed.get(will.clientId));
    const timer = setTimeout(() => {
      this.delayed.delete(will.clientId);
      void this.publishOne(will);
    }, Math.min(delay, 2_000_000) * 1000);
    timer.unref();
    this.delayed.set(will.clientId, timer);
  }

  private async publishOne(will: StoredWill): Promise<void> {
    const owner: WillOwnerRecord = { clientId: will.clientId, thingName: will.owner.thingName, certificateId: will.owner.certificateId, context: Object.freeze({ ...will.owner.context }), chainPem: will.owner.chainPem };
    const reason = await judgeWill(this.ctx, owner, will, { deadNode: will.brokerId });
    if (reason !== null) return;
    // The Will Delay Interval is a will property, not a message property (MQTT 5.0 §3.1.3.2.2).
    const properties = will.properties === undefined ? undefined : Object.fromEntries(Object.entries(will.properties).filter(([k]) => k !== 'willDelayInterval'));
    const packet = {
      cmd: 'publish' as const,
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      dup: false,
      clientId: will.clientId,
      ...(properties !== undefined && Object.keys(properties).length > 0 ? { properties } : {}),
    };
    await new Promise<void>((resolve) => {
      this.aedes.publish(packet, (err) => {
        if (err) this.ctx.logger.error({ event: 'error', clientId: will.clientId, topic: will.topic, err: err.message }, 'will of a dead cluster node could not be published');
        else this.ctx.logger.info({ event: 'cluster-will-published', clientId: will.clientId, thingName: will.owner.thingName, topic: will.topic, deadNode: will.brokerId }, 'will of a dead cluster node published');
        resolve();
      });
    });
  }
}
