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
 * Not honoured for a dead node's will: the MQTT 5 Will Delay Interval (the will is
 * published when the node is found dead, even if the device reconnected meanwhile).
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

export class ClusterWills {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly ctx: BrokerContext, private readonly aedes: Aedes, private readonly source: DeadNodesWills) {}

  /** Sweeps every third of the node timeout until `stop`. */
  start(): void {
    this.timer = setInterval(() => void this.sweep(), Math.max(100, Math.floor(this.source.nodeTimeoutMs / 3)));
    this.timer.unref();
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
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
    for (const raw of taken) await this.publishOne(raw);
  }

  private async publishOne(raw: Record<string, unknown>): Promise<void> {
    const will = readStoredWill(raw);
    if (typeof will === 'string') {
      this.ctx.metrics.denials['mqtt:publish']++;
      this.ctx.logger.warn({ event: 'denied', operation: 'mqtt:publish', will: true, clientId: typeof raw['clientId'] === 'string' ? raw['clientId'] : undefined, deadNode: raw['brokerId'], reason: 'WILL_OWNER_UNKNOWN', detail: will },
        'will of a dead cluster node not published: its owner is not recorded with it');
      return;
    }
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
