import { Aedes } from 'aedes';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyStore } from '../runtime/policy-store.js';
import type { BrokerContext, DeviceAuthenticator, OfflineIdentities } from './context.js';
import { DEFAULT_LIMITS, FrontDoor, type FrontDoorLimits } from './front-door.js';
import { prototypeFreeBroker, prototypeFreeClient } from './carried-fixes.js';
import { authenticateHook } from './hooks/authenticate.js';
import { authorizeForwardHook } from './hooks/forward.js';
import { authorizePublishHook } from './hooks/publish.js';
import { authorizeSubscribeHook } from './hooks/subscribe.js';
import { liveSessionInfo, LiveSessions, type LiveSessionInfo } from './live-sessions.js';
import { MAX_INFLIGHT_INBOUND, SessionStore } from './persistence.js';
import type { RetainedKeeper } from './retained.js';
import { REASON } from './reason-codes.js';
import { recheckOffline, type OfflineRecheckResult } from './recheck-offline.js';
import { createFifoMq } from './mq.js';
import type { RedisCluster } from './redis-cluster.js';
import { brokerQueueLimits, type SessionQueueLimits } from './queue-limits.js';
import { aedesServiceBus, type ServiceBus } from './service-bus.js';
import { announceSharedSubscriptions, SharedSubscriptions } from './share-groups.js';
import { hideSharedFilters } from './share-names.js';
import { withdrawWill } from './will-owners.js';
import { ClusterWills } from './cluster-wills.js';
import { disconnect, recheckSessions, type RecheckResult } from './recheck.js';

/** The broker's TLS identity and the device CAs it accepts client certificates from. */
export interface BrokerTls {
  readonly key: string;
  /** Server certificate followed by its chain, PEM. */
  readonly cert: string;
  /** Trusted device CA certificates, PEM. */
  readonly ca: readonly string[];
}

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
}

export interface GatewayBrokerOptions {
  readonly policy: PolicyStore;
  readonly authenticator: DeviceAuthenticator;
  /** Identities of devices that are not connected, to re-check their persistent sessions. */
  readonly offlineIdentities: OfflineIdentities;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tls: BrokerTls;
  readonly mqtt: ListenerOptions;
  readonly websocket?: ListenerOptions & { readonly path: string };
  /** Per-session bounds on queued and in-flight deliveries (defaults as in the configuration). */
  readonly queueLimits?: SessionQueueLimits;
  /** Packet sizes, connect timeout and connection limits (`gatehouse.mqtt`); defaults when absent. */
  readonly limits?: FrontDoorLimits;
  /** Durable retained messages and their limits (retained.ts); without it they live in memory only, unbounded. */
  readonly retained?: RetainedKeeper;
  readonly now?: () => number;
  /** `gatehouse.mqtt.reasonStrings`: Reason Strings on refusals to MQTT 5 clients (default false). */
  readonly reasonStrings?: boolean;
  /**
   * `gatehouse.mqtt.topicAliasMaximum`: topic aliases an MQTT 5 client may set per
   * connection (default 0: none). aedes resolves an alias to its topic before the publish
   * hook runs, so every decision sees the real topic.
   */
  readonly topicAliasMaximum?: number;
  /**
   * `gatehouse.mqtt.receiveMaximum`: QoS 1/2 messages an MQTT 5 client may leave
   * unacknowledged (default 1000, at most MAX_INFLIGHT_INBOUND), announced in CONNACK and
   * enforced with DISCONNECT 0x93 (persistence.ts).
   */
  readonly receiveMaximum?: number;
  /**
   * Routing and MQTT state shared with other nodes on Redis (redis-cluster.ts,
   * docs/cluster.md); absent: in this process. New connections are refused while it is
   * unavailable. Closed by the caller after the broker.
   */
  readonly cluster?: RedisCluster;
}

export interface ListenerAddress {
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

/**
 * The embedded MQTT 3.1.1 and 5 broker (aedes) behind mutual TLS, with every hook routed
 * through the policy snapshot in force. One instance per gateway.
 */
export class GatewayBroker {
  readonly listeners: readonly ListenerAddress[];
  private readonly aedes: Aedes;
  private readonly ctx: BrokerContext;
  private readonly door: FrontDoor;
  private readonly servers: (TlsServer | HttpsServer)[];
  private readonly wss: WebSocketServer | undefined;
  private readonly unsubscribeSwap: () => void;
  private readonly clusterWills: ClusterWills | undefined;

  private constructor(aedes: Aedes, ctx: BrokerContext, door: FrontDoor, servers: (TlsServer | HttpsServer)[], wss: WebSocketServer | undefined, listeners: ListenerAddress[], clusterWills: ClusterWills | undefined) {
    this.aedes = aedes;
    this.clusterWills = clusterWills;
    this.ctx = ctx;
    this.door = door;
    this.servers = servers;
    this.wss = wss;
    this.listeners = listeners;
    this.unsubscribeSwap = ctx.policy.onSwap((next) => {
      const started = performance.now();
      const cpu = process.cpuUsage();
      const r = this.recheck(next);
      const used = process.cpuUsage(cpu);
      ctx.logger.info({ event: 'recheck', ...r, ms: Math.round((performance.now() - started) * 1000) / 1000, cpuMs: Math.round((used.user + used.system) / 100) / 10 },
        'live sessions re-checked after a policy change');
      void this.recheckOffline(next).then((o) => {
        if (o.superseded) return;
        ctx.logger.info({ event: 'recheck-offline', ...o, ms: Math.round((performance.now() - started) * 1000) / 1000 }, 'disconnected persistent sessions re-checked after a policy change');
      }, (e: unknown) => ctx.logger.error({ event: 'error', err: (e as Error).message }, 're-check of disconnected persistent sessions failed'));
    });
  }

  static async start(opts: GatewayBrokerOptions): Promise<GatewayBroker> {
    const sessions = new LiveSessions();
    const ctx: BrokerContext = {
      policy: opts.policy,
      authenticator: opts.authenticator,
      sessions,
      store: new SessionStore(sessions, opts.retained, { receiveMaximum: opts.receiveMaximum ?? MAX_INFLIGHT_INBOUND, ...(opts.cluster !== undefined ? {
        backend: opts.cluster.persistence,
        onBackendError: (e: unknown) => opts.logger.error({ event: 'error', code: 'CLUSTER_REDIS_UNAVAILABLE', err: (e as Error).message }, 'reading the broker state from Redis failed; what was not read stays stored'),
      } : {}) }),
      ...(opts.retained !== undefined ? { retained: opts.retained } : {}),
      offlineIdentities: opts.offlineIdentities,
      lastConnections: new Map(),
      logger: opts.logger,
      metrics: opts.metrics,
      now: opts.now ?? Date.now,
      reasonStrings: opts.reasonStrings ?? false,
    };
    const limits = opts.limits ?? DEFAULT_LIMITS;
    const cluster = opts.cluster;
    const door = new FrontDoor(ctx, limits);
    // On a cluster, one node of those with members delivers each message (share-groups.ts).
    const shared = new SharedSubscriptions(ctx, cluster !== undefined ? (filter, packet) => cluster.claimShared(filter, packet) : undefined);
    const aedes = await Aedes.createBroker({
      authenticate: authenticateHook(ctx, { maxConnections: limits.maxConnections, ...(cluster !== undefined ? { available: () => cluster.available } : {}) }),
      authorizePublish: authorizePublishHook(ctx),
      authorizeSubscribe: authorizeSubscribeHook(ctx, shared),
      authorizeForward: authorizeForwardHook(ctx),
      persistence: ctx.store,
      // Client IDs are thing names: at most 128 characters (registry rule).
      maxClientsIdLength: 128,
      // aedes's own router with an O(1) backlog queue (mq.ts); on a cluster, the Redis
      // router with the same queue in front of this node's subscribers (redis-cluster.ts).
      mq: cluster?.mq ?? createFifoMq(),
      // The id other nodes know this one by ($SYS topics, wills, queued packets' keys).
      ...(cluster !== undefined ? { id: cluster.brokerId } : {}),
      // aedes' own timer starts after the TLS handshake and the certificate lookup; the
      // front door's, from TCP accept, is the one that normally fires.
      connectTimeout: limits.connectTimeoutSeconds * 1000,
      topicAliasMaximum: opts.topicAliasMaximum ?? 0,
      // MQTT 5 CONNACK announces both (MQTT 5.0 §3.2.2.3.3, §3.2.2.3.6). The packet size is the
      // front door's limit, which refuses a larger packet first (DISCONNECT 0x95 to a connected
      // MQTT 5 client); aedes's own check behind it, at the same size, never fires first.
      maximumPacketSize: limits.maxPacketSizeBytes,
      receiveMaximum: ctx.store.receiveMaximum,
    });
    shared.attach(aedes);
    announceSharedSubscriptions(aedes);
    try {
      // Carried security fixes the beta lacks (carried-fixes.ts): refuse to start without them.
      prototypeFreeBroker(aedes);
    } catch (e) {
      await new Promise<void>((r) => aedes.close(() => r()));
      throw e;
    }
    // Retained messages of earlier runs, before the first connection can subscribe.
    const loaded = await ctx.store.loadRetained();
    if (opts.retained !== undefined) opts.logger.info({ event: 'retained-loaded', count: loaded, bytes: opts.retained.totalBytes }, 'retained messages loaded');
    const queueLimits = brokerQueueLimits(aedes, ctx, opts.queueLimits);
    /** Hands a connection to aedes, with the carried fixes and the queue limits in place before any packet is read. */
    const handle = (stream: Duplex, req?: IncomingMessage): void => {
      const client = prototypeFreeClient(aedes.handle(stream, req));
      if (client === undefined) {
        ctx.logger.error({ event: 'error', code: 'BROKER_CARRIED_FIXES_UNAVAILABLE' }, 'a connection lacks the maps the carried security fixes replace (aedes changed); connection refused');
        return;
      }
      // Shared subscriptions (share-groups.ts) need to see each SUBSCRIBE before aedes does.
      if (!hideSharedFilters(client)) {
        client.conn.destroy();
        ctx.logger.error({ event: 'error', code: 'BROKER_SHARED_SUBSCRIPTIONS_UNAVAILABLE' }, 'a connection has no packet parser to watch for shared subscriptions (aedes changed); connection refused');
        return;
      }
      door.watch(queueLimits.attach(client));
    };
    // aedes reports failures of its background work here (a will it could not delete, the
    // periodic check of other nodes' wills): with a shared persistence they happen while
    // Redis is unreachable. Logged; without a listener they would end the process.
    (aedes as unknown as { on(event: 'error', fn: (e: Error) => void): void }).on('error', (e) => {
      ctx.logger.error({ event: 'error', err: e.message }, 'broker background task failed');
    });
    aedes.on('clientError', (client, err) => door.clientError(client, err));
    aedes.on('connectionError', (client, err) => door.clientError(client, err));
    aedes.on('clientReady', (client) => door.connected(client));
    // MQTT 5 Session Expiry Interval (capped by nothing but the device's request): aedes
    // removes the session's subscriptions, queue and will when it runs out.
    (aedes as unknown as { on(event: 'sessionExpired', fn: (client: { id: string }) => void): void }).on('sessionExpired', (client) => {
      ctx.logger.info({ event: 'session-expired', clientId: client.id }, 'persistent session expired (MQTT 5 Session Expiry Interval)');
    });

    const tlsOptions = serverTlsOptions(opts.tls);
    const servers: (TlsServer | HttpsServer)[] = [];
    const listeners: ListenerAddress[] = [];
    try {
      const mqtts = createTlsServer(tlsOptions);
      door.guard(mqtts, (socket) => handle(socket));
      servers.push(mqtts);
      listeners.push(await listen(mqtts, opts.mqtt, 'mqtts'));

      let wss: WebSocketServer | undefined;
      if (opts.websocket) {
        const https = createHttpsServer(tlsOptions);
        door.guard(https);
        wss = new WebSocketServer({ server: https, path: opts.websocket.path, maxPayload: limits.maxPacketSizeBytes });
        wss.on('connection', (ws, req) => {
          // The stream buffers (and pauses the WebSocket) until the certificate lookup answered.
          const stream = createWebSocketStream(ws);
          void door.webSocketReady(req.socket as TLSSocket).then((ok) => {
            if (ok) handle(stream, req);
            else stream.destroy();
          });
        });
        servers.push(https);
        const addr = await listen(https, opts.websocket, 'wss');
        listeners.push({ ...addr, url: addr.url + opts.websocket.path });
      }
      // On a cluster, the wills of nodes that died are published by a live node (cluster-wills.ts).
      const clusterWills = cluster !== undefined ? new ClusterWills(ctx, aedes, cluster) : undefined;
      clusterWills?.start();
      return new GatewayBroker(aedes, ctx, door, servers, wss, listeners, clusterWills);
    } catch (e) {
      for (const s of servers) s.close();
      await new Promise<void>((r) => aedes.close(() => r()));
      throw e;
    }
  }

  /**
   * Swaps the TLS identity and trusted CAs in place: new handshakes use the new
   * certificate, established connections are untouched.
   */
  updateTls(tls: BrokerTls): void {
    const ctx = contextOptions(tls);
    for (const s of this.servers) s.setSecureContext(ctx);
  }

  /** Re-checks every live session against a snapshot. Called automatically on a swap. */
  recheck(snapshot = this.ctx.policy.current): RecheckResult {
    return recheckSessions(this.ctx, snapshot);
  }

  /** Re-checks the persistent sessions whose device is not connected. Called automatically after a swap. */
  recheckOffline(snapshot = this.ctx.policy.current): Promise<OfflineRecheckResult> {
    return recheckOffline(this.ctx, snapshot);
  }

  /**
   * A thing's attributes changed in the registry: its connections see the new values
   * (policy variables, conditions) from the next re-check on, which the caller triggers
   * (the policy reload that follows every registry change re-checks every session).
   */
  updateThingAttributes(thingName: string, attributes: Readonly<Record<string, string>>): void {
    for (const s of this.ctx.sessions) if (s.identity.thingName === thingName) s.setAttributes(attributes);
  }

  /** Ends the connection holding an identity session (revocation, detachment…). */
  closeSession(sessionId: string, reason: string): boolean {
    const s = this.ctx.sessions.ofSessionId(sessionId);
    if (!s) return false;
    this.ctx.logger.info({ event: 'disconnected', thingName: s.identity.thingName, clientId: s.identity.clientId, certificateId: s.identity.certificateId, reason },
      'session invalidated; device disconnected');
    // A newer connection of the same client ID took the session: 0x8E Session taken over;
    // otherwise the registry changed under it (certificate revoked, detached…): 0x98, and
    // the identity's will is not published (wills.ts).
    if (reason !== 'SESSION_REPLACED') withdrawWill(s.client);
    disconnect(this.ctx, s, reason === 'SESSION_REPLACED' ? REASON.SESSION_TAKEN_OVER : REASON.ADMINISTRATIVE_ACTION, reason);
    return true;
  }

  /** The authenticated connections, in no particular order. */
  liveSessions(): LiveSessionInfo[] {
    return [...this.ctx.sessions].map(liveSessionInfo);
  }

  /**
   * Ends the connections of a client id at an operator's request (the management
   * API's DisconnectSession). Returns how many were closed (0: none connected).
   */
  disconnectClient(clientId: string, reason: string): number {
    const found = [...this.ctx.sessions].filter((s) => s.identity.clientId === clientId);
    for (const s of found) {
      this.ctx.logger.info({ event: 'disconnected', thingName: s.identity.thingName, clientId, certificateId: s.identity.certificateId, reason },
        'device disconnected by an operator');
      disconnect(this.ctx, s, REASON.ADMINISTRATIVE_ACTION, reason);
    }
    return found.length;
  }

  /** The gateway's MQTT services bind here (service-bus.ts): allowed publishes in, broker publishes out. */
  serviceBus(): ServiceBus {
    return aedesServiceBus(this.aedes);
  }

  /**
   * Removes a topic's retained message (durable and in memory) without publishing
   * anything: an operator's delete. Whether there was one.
   */
  deleteRetained(topic: string): Promise<boolean> {
    return this.ctx.store.dropRetained(topic);
  }

  /** Connections accepted that have not completed CONNECT. */
  get pendingConnections(): number {
    return this.door.pendingConnections;
  }

  /** Connected, authenticated devices. */
  get connectedClients(): number {
    return this.ctx.sessions.size;
  }

  async close(): Promise<void> {
    this.unsubscribeSwap();
    await this.clusterWills?.stop();
    for (const s of this.servers) s.close();
    this.wss?.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      if (!s.listening) return resolve();
      s.once('close', () => resolve());
    })));
  }
}

function contextOptions(tls: BrokerTls): SecureContextOptions {
  return { key: tls.key, cert: tls.cert, ca: [...tls.ca], minVersion: 'TLSv1.2' };
}

function serverTlsOptions(tls: BrokerTls): TlsOptions {
  // requestCert: a client certificate is asked for and OpenSSL verifies it against the
  // trusted device CAs. rejectUnauthorized is false so that the front door, not Node,
  // reads that verdict: Node would drop a refused handshake without a word and without
  // the reason; the front door refuses it just the same, logs why and ends the TLS
  // session properly. No connection reaches the broker unless `authorized` is true, or
  // OpenSSL found only an unknown issuer and the identity layer trusts that exact
  // certificate by its registration (front-door.ts, UNKNOWN_ISSUER).
  return { ...contextOptions(tls), requestCert: true, rejectUnauthorized: false };
}

async function listen(server: TlsServer | HttpsServer, opts: ListenerOptions, scheme: string): Promise<ListenerAddress> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { url: `${scheme}://${host}:${a.port}`, host: a.address, port: a.port };
}
