/**
 * MQTT 5 shared subscriptions (`$share/{ShareName}/{TopicFilter}`, MQTT 5.0 §4.8.2), which
 * aedes 2.0.0-beta.1 does not implement (it answers SUBACK 0x9E and announces Shared
 * Subscription Available = 0 in CONNACK), carried in Gatehouse's own seams, for MQTT 5
 * and MQTT 3.1.1 clients alike, as AWS IoT Core supports them for both
 * (https://docs.aws.amazon.com/iot/latest/developerguide/mqtt.html).
 *
 * Authorization is unchanged from an ordinary SUBSCRIBE: the subscribe hook decides
 * `mqtt:subscribe` on `mqtt:topicfilter:$share/{ShareName}/{TopicFilter}` — the whole
 * filter, share name included, which under AWS IoT policies is `iot:Subscribe` on
 * `topicfilter/$share/{ShareName}/{TopicFilter}` — so a policy that allows `a/b` does not
 * allow `$share/g/a/b`. Every message is decided at delivery as any other
 * (`mayReceive`: the receiving member's `iot:Receive` on the message's topic, or the
 * Greengrass rule on its held shared filter).
 *
 * How it reaches aedes:
 *
 * 1. aedes refuses an MQTT 5 `$share/` filter before any hook runs. `hideSharedFilters`
 *    (share-names.ts)
 *    renames each such filter of an incoming SUBSCRIBE (and of a persistent session's
 *    stored subscriptions as they are restored, `hideStored`) to a placeholder, before
 *    aedes reads it, and remembers the subscription object; the subscribe hook gives the
 *    remembered object its real name back (`revealShared`) before deciding, so aedes
 *    stores, acknowledges and later unsubscribes it under its real name. A device that
 *    writes the placeholder itself gets an ordinary literal filter.
 * 2. aedes routes the member's own subscription on the literal `$share/...` string, which
 *    no published topic equals (publishing to `$share/...` is refused: topics.ts), so it
 *    never delivers anything by itself. Delivery is this module's: one router
 *    subscription per shared subscription on its TopicFilter, which hands each message to
 *    one member, in turn, skipping members that have gone or may not receive the topic.
 *    A message no member may take is dropped.
 * 3. aedes's CONNACK says Shared Subscription Available = 0; `announceSharedSubscriptions`
 *    removes that property from the CONNACKs of this broker (absent means available,
 *    MQTT 5.0 §3.2.2.3.13).
 *
 * On a cluster (several nodes on Redis), every node with members of a shared subscription
 * receives each matching message; before handing it to a member, a node claims the
 * message for the shared subscription in Redis (`SET … NX` on the subscription and the
 * message's broker id and counter, redis-cluster.ts `claimShared`): only the node whose
 * claim succeeds delivers it, so the group gets one copy, not one per node. A node claims
 * only when one of its members may take the message. Redis unreachable: each node
 * delivers (a duplicate rather than a loss, as routing does then).
 *
 * Not queued for members that are offline: a message reaches a connected member or no
 * one. Retained messages are not sent when a shared subscription is made (aedes looks
 * them up under the literal `$share/...` name, which no retained message has).
 */
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { Writable } from 'node:stream';
import type { BrokerContext } from './context.js';
import { mayReceive } from './receive.js';
import { SHARE_PREFIX, type SharedFilter } from './topics.js';

/** Brokers whose CONNACKs announce shared subscriptions. */
const announcing = new WeakSet<object>();
let writeWrapped = false;

/**
 * aedes 2.0.0-beta.1 writes Shared Subscription Available = 0 in every MQTT 5 CONNACK.
 * For the connections of `broker`, the property is removed as the CONNACK is serialized
 * (mqtt-packet's writeToStream, which aedes calls for every packet it sends): absent
 * means available. Other brokers in the process are untouched.
 */
export function announceSharedSubscriptions(broker: Aedes): void {
  announcing.add(broker);
  if (writeWrapped) return;
  writeWrapped = true;
  const lib = mqttPacket as unknown as { writeToStream: (packet: unknown, stream: Writable, opts?: unknown) => boolean };
  const original = lib.writeToStream;
  lib.writeToStream = function writeToStream(packet, stream, opts) {
    const p = packet as { cmd?: string; properties?: Record<string, unknown> };
    if (p.cmd === 'connack' && p.properties?.['sharedSubscriptionAvailable'] === false) {
      const broker = (stream as { client?: { broker?: object } }).client?.broker;
      if (broker !== undefined && announcing.has(broker)) {
        const rest: Record<string, unknown> = { ...p.properties };
        delete rest['sharedSubscriptionAvailable'];
        packet = { ...p, properties: rest };
      }
    }
    return original.call(this, packet, stream, opts);
  };
}

/** One member of a shared subscription: a connection and the options of its SUBSCRIBE. */
interface Member {
  readonly client: Client;
  qos: number;
  /** Retain As Published. */
  rap: boolean;
  /** Subscription Identifier, echoed on the messages it receives. */
  si: number | undefined;
}

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;

/**
 * On a cluster: claims a message for a shared subscription, cluster-wide. Resolves true
 * for exactly one of the nodes that ask for the same (filter, message); true as well when
 * the claim cannot be made (Redis unreachable).
 */
export type ShareClaim = (filter: string, packet: AedesPublishPacket) => Promise<boolean>;

/** One shared subscription (share name and filter) and its members, served in turn. */
class Group {
  readonly members: Member[] = [];
  next = 0;
  deliver: Deliver = (_p, done) => done();
  constructor(readonly filter: string, readonly topicFilter: string) {}
}

/** What a member subscribed with. */
export interface MemberOptions {
  readonly qos: number;
  readonly rap?: boolean;
  readonly subscriptionIdentifier?: number;
}

/**
 * The shared subscriptions of one broker and the delivery to their members.
 * `join` runs in the subscribe hook once a `$share/` filter is granted; a member leaves
 * when it unsubscribes, loses the filter (re-check) or its connection closes.
 */
export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  private readonly watched = new WeakSet<Client>();
  private broker: Aedes | undefined;

  constructor(private readonly ctx: BrokerContext, private readonly claim?: ShareClaim) {}

  /** The broker whose router the shared subscriptions are served from (once, before any connection). */
  attach(aedes: Aedes): void {
    this.broker = aedes;
    aedes.on('unsubscribe', (filters, client) => {
      for (const f of filters) if (f.startsWith(SHARE_PREFIX)) this.leave(client, f);
    });
  }

  private get aedes(): Aedes {
    if (this.broker === undefined) throw new Error('shared subscriptions used before the broker was attached');
    return this.broker;
  }

  /** Shared subscriptions with at least one member. */
  get size(): number {
    return this.groups.size;
  }

  /** Members of a shared subscription (tests, metrics). */
  members(filter: string): number {
    return this.groups.get(filter)?.members.length ?? 0;
  }

  join(client: Client, filter: string, parts: SharedFilter, opts: MemberOptions): void {
    let g = this.groups.get(filter);
    if (g === undefined) {
      const group = new Group(filter, parts.topicFilter);
      group.deliver = (packet, done) => this.deliver(group, packet, done);
      this.groups.set(filter, group);
      this.aedes.subscribe(parts.topicFilter, group.deliver, () => {});
      g = group;
    }
    const existing = g.members.find((m) => m.client === client);
    const rap = opts.rap === true;
    if (existing !== undefined) {
      existing.qos = opts.qos;
      existing.rap = rap;
      existing.si = opts.subscriptionIdentifier;
    } else {
      g.members.push({ client, qos: opts.qos, rap, si: opts.subscriptionIdentifier });
    }
    if (!this.watched.has(client)) {
      this.watched.add(client);
      client.conn.once('close', () => this.leaveAll(client));
    }
  }

  leave(client: Client, filter: string): void {
    const g = this.groups.get(filter);
    if (g === undefined) return;
    const i = g.members.findIndex((m) => m.client === client);
    if (i < 0) return;
    g.members.splice(i, 1);
    if (g.next > i) g.next--;
    if (g.members.length === 0) {
      this.groups.delete(filter);
      this.aedes.unsubscribe(g.topicFilter, g.deliver, () => {});
    }
  }

  leaveAll(client: Client): void {
    for (const g of [...this.groups.values()]) this.leave(client, g.filter);
  }

  /**
   * Hands a message to the next member, in turn, that still holds the shared filter and
   * may receive the topic (the forward hook decides again as it is written).
   */
  private deliver(g: Group, packet: AedesPublishPacket, done: () => void): void {
    // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match `$` topics.
    const first = g.topicFilter.charCodeAt(0);
    if (packet.topic.charCodeAt(0) === 0x24 && (first === 0x23 || first === 0x2b)) return done();
    // On a cluster: only the node that claims the message delivers it, and a node claims
    // only when one of its members may take it.
    if (this.claim !== undefined && this.eligible(g, packet)) {
      this.claim(g.filter, packet).then((won) => (won ? this.handOut(g, packet, done) : done()), () => this.handOut(g, packet, done));
      return;
    }
    this.handOut(g, packet, done);
  }

  /** Whether a member of the group may take the message now. */
  private eligible(g: Group, packet: AedesPublishPacket): boolean {
    for (const m of g.members) {
      if (m.client.closed) continue;
      const s = this.ctx.sessions.ofClient(m.client);
      if (s !== undefined && s.filters.has(g.filter) && mayReceive(s, packet.topic)) return true;
    }
    return false;
  }

  private handOut(g: Group, packet: AedesPublishPacket, done: () => void): void {
    const n = g.members.length;
    for (let k = 0; k < n; k++) {
      const i = (g.next + k) % n;
      const m = g.members[i]!;
      if (m.client.closed) continue;
      const s = this.ctx.sessions.ofClient(m.client);
      if (s === undefined || !s.filters.has(g.filter) || !mayReceive(s, packet.topic)) continue;
      g.next = (i + 1) % n;
      this.send(m, packet, done);
      return;
    }
    if (this.ctx.logger.isLevelEnabled('debug')) {
      this.ctx.logger.debug({ event: 'delivery-dropped', filter: g.filter, topic: packet.topic, qos: packet.qos, reason: 'no_member' },
        'message not delivered: no member of the shared subscription may receive it');
    }
    done();
  }

  /** The delivery aedes makes for an ordinary subscription, for one member. */
  private send(m: Member, packet: AedesPublishPacket, done: () => void): void {
    const client = m.client as Client & { deliver0: Deliver; deliverQoS: Deliver };
    const qos = Math.min(packet.qos, m.qos) as 0 | 1 | 2;
    const extra = packet as { properties?: Record<string, unknown>; messageExpiry?: number };
    const out = {
      cmd: 'publish',
      brokerId: packet.brokerId,
      brokerCounter: packet.brokerCounter,
      topic: packet.topic,
      payload: packet.payload,
      qos,
      retain: m.rap ? packet.retain : false,
      dup: false,
      messageId: undefined,
      ...(extra.properties !== undefined || m.si !== undefined ? { properties: { ...extra.properties, ...(m.si !== undefined ? { subscriptionIdentifier: m.si } : {}) } } : {}),
      ...(extra.messageExpiry !== undefined ? { messageExpiry: extra.messageExpiry } : {}),
    } as unknown as AedesPublishPacket;
    if (qos === 0) return client.deliver0(out, done);
    // A persistent session's QoS 1/2 messages are in its stored queue before they are
    // sent (aedes queues them so for ordinary subscriptions), so that one not acknowledged
    // is resent at reconnect.
    if (client.clean) return client.deliverQoS(out, done);
    const store = (this.aedes as unknown as { persistence: { outgoingEnqueue(sub: { clientId: string }, packet: AedesPublishPacket): Promise<void> } }).persistence;
    store.outgoingEnqueue({ clientId: client.id }, out).then(() => client.deliverQoS(out, done), () => done());
  }
}
