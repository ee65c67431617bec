import type { Aedes, Client } from 'aedes';
import { PassThrough } from 'node:stream';
import { GatehouseError } from '../core/index.js';

/**
 * Security fixes of the aedes 1.x line that aedes 2.0.0-beta.1 (which brings MQTT 5) lacks,
 * carried here until an aedes 2.x release has them. See docs/mqtt5.md for when to drop
 * them.
 *
 * Prototype-named keys (GHSA-52qw-whmv-87c5): aedes keeps connections by client ID
 * (`clients`), peer brokers by id (`brokers`), and per connection its subscriptions by
 * filter (`subscriptions`) and the last delivery counter per broker (`duplicates`) in plain
 * objects. A client ID or a filter such as `constructor` or `__proto__` then reads as
 * already present and aedes throws outside any handler, which ends the process. aedes 1.2.0
 * creates these four maps without a prototype; the beta does not, so the gateway replaces
 * them with prototype-free objects: the broker's two at start-up, a connection's two right
 * after `aedes.handle()`, before any packet of the connection is read.
 *
 * The inbound QoS 2 cap and the clean-session QoS 2 state are carried in the session store
 * (persistence.ts).
 *
 * These are internals of the beta. If they are not where expected, the gateway refuses to
 * start (BROKER_CARRIED_FIXES_UNAVAILABLE) rather than run without the fixes; a connection
 * whose client object lacks them is closed before it is read.
 */
export type CarriedFixesCode = 'BROKER_CARRIED_FIXES_UNAVAILABLE';

export class CarriedFixesError extends GatehouseError<CarriedFixesCode> {
  constructor(detail: string) {
    super('BROKER_CARRIED_FIXES_UNAVAILABLE',
      `the installed aedes does not have the internals the gateway's carried security fixes rely on (${detail}); refusing to start without them`,
      'reinstall the pinned dependencies with `npm ci` (aedes 2.0.0-beta.1); after a deliberate aedes upgrade, check docs/mqtt5.md and update src/broker/carried-fixes.ts and src/broker/persistence.ts');
    this.name = 'CarriedFixesError';
  }
}

type Maps = Record<string, unknown>;

/** An own, plain (`Object.prototype` or null prototype) object property, empty when `empty`. */
function plainMap(holder: object, field: string, empty: boolean): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(holder, field)) return `no own \`${field}\``;
  const v = (holder as Maps)[field];
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Map) return `\`${field}\` is not a plain object`;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return `\`${field}\` is not a plain object`;
  if (empty && Object.keys(v).length > 0) return `\`${field}\` is not empty`;
  return undefined;
}

/** Replaces the connection's wire-keyed maps with prototype-free copies; undefined when it cannot. */
function nullMaps(holder: object, fields: readonly string[], empty: boolean): string | undefined {
  for (const f of fields) {
    const why = plainMap(holder, f, empty);
    if (why !== undefined) return why;
  }
  for (const f of fields) {
    const h = holder as Maps;
    h[f] = Object.assign(Object.create(null) as Maps, h[f]);
  }
  return undefined;
}

const BROKER_MAPS = ['clients', 'brokers'] as const;
const CLIENT_MAPS = ['subscriptions', 'duplicates'] as const;

/**
 * Start-up: gives the broker's `clients` and `brokers` no prototype, and checks on a probe
 * connection (closed at once) that each client has `subscriptions` and `duplicates` where
 * `prototypeFreeClient` replaces them. Throws CarriedFixesError when either is missing.
 * Call it right after the broker is created, before any connection is handled.
 */
export function prototypeFreeBroker(aedes: Aedes): void {
  const why = nullMaps(aedes, BROKER_MAPS, true);
  if (why !== undefined) throw new CarriedFixesError(`broker: ${why}`);
  const probeConn = new PassThrough();
  const probe = aedes.handle(probeConn);
  const whyClient = CLIENT_MAPS.map((f) => plainMap(probe, f, true)).find((w) => w !== undefined);
  probeConn.destroy();
  if (whyClient !== undefined) throw new CarriedFixesError(`client: ${whyClient}`);
}

/**
 * A new connection: gives its `subscriptions` and `duplicates` no prototype. Returns the
 * client, or undefined after closing the connection when the maps are not where expected
 * (fail closed: such a connection would run without the fix).
 */
export function prototypeFreeClient(client: Client): Client | undefined {
  if (nullMaps(client, CLIENT_MAPS, true) === undefined) return client;
  client.conn.destroy();
  return undefined;
}
