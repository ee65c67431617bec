import type { Client } from 'aedes';
import type { CombinedView, IotCertificateContext, IotContext, PrincipalView } from '../core/index.js';

/** Who a connection authenticated as. */
export interface DeviceIdentity {
  readonly thingName: string;
  readonly clientId: string;
  readonly certificateId: string;
  readonly attributes: Readonly<Record<string, string>>;
  /**
   * The certificate's fields as AWS IoT policy variables name them, decoded on first
   * call; throws when the certificate cannot be read that way.
   */
  readonly certificateContext?: () => IotCertificateContext;
}

/** A connection's permissions: Greengrass only, or both dialects (see core/policy/combined.ts). */
export type SessionView = PrincipalView | CombinedView;

/** Denial log lines per connection per second before the rest are summarised. */
const DENIAL_LOG_BURST = 10;

/**
 * One authenticated MQTT connection: its identity, its permission view under the
 * snapshot in force, and the subscriptions it was granted.
 *
 * INVARIANT: `receivable` only holds answers computed from the current `view` and
 * `filters`; every change to either goes through `setView`, `grant` or `revoke`,
 * which clear it (see receive.ts).
 */
export class LiveSession {
  readonly client: Client;
  private currentIdentity: DeviceIdentity;
  /** The identity layer's session handle (closed when the connection ends). */
  readonly sessionId: string;
  private currentView: SessionView;
  private currentContext: IotContext;
  private readonly granted = new Set<string>();
  /**
   * Per-topic answers of `mayReceive` (receive.ts) under the view and filters in force;
   * made on the first delivery (an idle device never needs one).
   */
  private receiveCache: Map<string, boolean> | undefined = undefined;
  private logWindow = 0;
  private logCount = 0;
  private suppressed = 0;

  /** When the connection was accepted (its CONNECT authenticated). */
  readonly connectedAt: Date;

  constructor(client: Client, identity: DeviceIdentity, sessionId: string, view: SessionView, context: IotContext, connectedAt: Date = new Date()) {
    this.client = client;
    this.connectedAt = connectedAt;
    this.currentContext = context;
    this.currentIdentity = identity;
    this.sessionId = sessionId;
    this.currentView = view;
  }

  get identity(): DeviceIdentity {
    return this.currentIdentity;
  }

  /** What AWS IoT policy variables and condition keys see of this connection. */
  get context(): IotContext {
    return this.currentContext;
  }

  /**
   * The thing's attributes changed in the registry. The caller swaps or re-checks the
   * view next (setView), which clears the receive cache.
   */
  setAttributes(attributes: Readonly<Record<string, string>>): void {
    this.currentIdentity = { ...this.currentIdentity, attributes };
    // On top of the old context, not a copy: its certificate is decoded on demand.
    this.currentContext = Object.freeze(Object.create(this.currentContext, { attributes: { value: attributes, enumerable: true } }) as IotContext);
  }

  /** The session's permissions under the snapshot in force. */
  get view(): SessionView {
    return this.currentView;
  }

  /** Filters this connection was granted and still holds. */
  get filters(): ReadonlySet<string> {
    return this.granted;
  }

  /** A new snapshot is in force (re-check). */
  setView(view: SessionView): void {
    this.currentView = view;
    this.receiveCache?.clear();
  }

  /** The receive answers remembered for this session (made on first use). */
  get receivable(): Map<string, boolean> {
    return (this.receiveCache ??= new Map());
  }

  /** A filter was granted (SUBSCRIBE, or a persistent session's subscription restored). */
  grant(filter: string): void {
    if (this.granted.has(filter)) return;
    this.granted.add(filter);
    this.receiveCache?.clear();
  }

  /** A filter is no longer held (re-check). */
  revoke(filter: string): void {
    if (this.granted.delete(filter)) this.receiveCache?.clear();
  }

  /**
   * Rate-limits denial logging so a device hammering a denied topic cannot flood the
   * log. Returns how many denials were suppressed since the last logged one, or -1
   * when this one should not be logged.
   */
  takeDenialLogSlot(nowMs: number): number {
    const window = Math.floor(nowMs / 1000);
    if (window !== this.logWindow) {
      this.logWindow = window;
      this.logCount = 0;
    }
    if (this.logCount >= DENIAL_LOG_BURST) {
      this.suppressed++;
      return -1;
    }
    this.logCount++;
    const s = this.suppressed;
    this.suppressed = 0;
    return s;
  }
}

/** What the management API shows of a live connection (no secrets). */
export interface LiveSessionInfo {
  readonly clientId: string;
  readonly thingName: string;
  readonly certificateId: string;
  /** The device's address as the TLS listener saw it (absent when unknown). */
  readonly sourceIp?: string;
  readonly connectedAt: Date;
  /** Filters the connection was granted and still holds, sorted. */
  readonly subscriptions: readonly string[];
}

export function liveSessionInfo(s: LiveSession): LiveSessionInfo {
  const sourceIp = s.context.sourceIp;
  return {
    clientId: s.identity.clientId,
    thingName: s.identity.thingName,
    certificateId: s.identity.certificateId,
    ...(sourceIp !== undefined ? { sourceIp } : {}),
    connectedAt: s.connectedAt,
    subscriptions: [...s.filters].sort(),
  };
}

/** Live sessions indexed by connection and by identity session id. */
export class LiveSessions {
  private readonly byClient = new Map<Client, LiveSession>();
  private readonly byId = new Map<string, LiveSession>();

  add(s: LiveSession): void {
    this.byClient.set(s.client, s);
    this.byId.set(s.sessionId, s);
  }

  remove(s: LiveSession): boolean {
    if (this.byClient.get(s.client) !== s) return false;
    this.byClient.delete(s.client);
    this.byId.delete(s.sessionId);
    return true;
  }

  ofClient(client: Client | null): LiveSession | undefined {
    return client === null ? undefined : this.byClient.get(client);
  }

  ofSessionId(id: string): LiveSession | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byClient.size;
  }

  [Symbol.iterator](): IterableIterator<LiveSession> {
    return this.byClient.values();
  }
}
