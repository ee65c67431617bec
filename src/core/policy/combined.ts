import { ArnDecisions, arnRequest, type ArnRequest } from './engine/arn-index.js';
import { decideValid, NO_IOT_STATEMENT, REFUSED, type StatementIndex } from './engine/decide.js';
import type { PrincipalView } from './evaluate.js';
import type { IotContext } from './iot/context.js';
import { iotArn } from './iot/arn.js';
import { IOT_DIALECT } from './iot/dialect.js';
import { iotPolicyIndex, type IotPolicySet } from './iot/engine.js';
import type { Decision } from './model.js';

/**
 * The two policy dialects decided together for one connection.
 *
 * The policies in force for a connection are the union of the statements of its
 * Greengrass device groups and of its AWS IoT Core policies (those attached to its
 * certificate, to the thing groups of its thing, and those its device groups name).
 * A CombinedView is the engine's one order (engine/decide.ts) over the indexes in force
 * for the connection, consulted in this order: the Greengrass view, the IoT policies in
 * force that do not exist (each counts as a Deny of everything IoT decides:
 * IOT_POLICY_NOT_FOUND), the IoT policies' ARN index. So:
 *
 *  1. A request the Greengrass dialect cannot even read (UNKNOWN_OPERATION,
 *     MALFORMED_RESOURCE, RESOURCE_TYPE_MISMATCH) is refused (its validation).
 *  2. An explicit Deny in any policy of either dialect denies (DENIED_BY_STATEMENT).
 *  3. An Allow in either dialect allows (ALLOWED_BY_STATEMENT).
 *  4. Otherwise the request is denied (the Greengrass reason, NO_GROUP_SELECTS_THING or
 *     NO_MATCHING_STATEMENT).
 *
 * The Greengrass view enters the order through its own decision (PrincipalView.decide
 * is already that order over its tables, deny first: a Greengrass allow means no
 * Greengrass deny applies), so its remembered exact decisions serve here too. A
 * connection with no IoT policy in force gets its Greengrass view itself, so a
 * Greengrass-only site pays nothing for the second dialect.
 *
 * The Greengrass dialect has no receive or retain permission: a Greengrass grant to
 * subscribe to a filter implies receiving what it matches (as the Greengrass component
 * does), and a Greengrass publish grant covers retained messages. `iot:Receive` and
 * `iot:RetainPublish` statements add to that; an explicit IoT Deny of either takes it away.
 */

/** Which policies apply to whom: the registry's attachments, as plain data. */
export interface IotAttachments {
  /** Certificate id → policies attached to the certificate. */
  readonly certificatePolicies: ReadonlyMap<string, readonly string[]>;
  /** Thing group → policies attached to it. */
  readonly thingGroupPolicies: ReadonlyMap<string, readonly string[]>;
  /** Thing → every group whose policies apply to it (its groups and their ancestors). */
  readonly thingGroups: ReadonlyMap<string, readonly string[]>;
  /** Thing → its thing type. */
  readonly thingTypes: ReadonlyMap<string, string>;
}

/** The IoT policies of a site: the compiled documents and who they apply to. */
export class IotPart {
  readonly set: IotPolicySet;
  readonly attachments: IotAttachments;
  /** Policy names whose decisions depend on the clock (aws:CurrentTime, aws:EpochTime). */
  private readonly timed: ReadonlySet<string>;
  /**
   * The index of each list of policies in force asked for so far, keyed by the names in
   * order, each prefixed with its length (distinct lists, distinct keys): a fleet has a few such lists,
   * and each index remembers the decisions its statements made, which depend on the
   * statement and the action alone. Started over beyond INDEX_CACHE_LIMIT lists.
   */
  private readonly indexes = new Map<string, StatementIndex<ConnectionQuery>>();

  /**
   * `timed`: the names of the policies whose documents use a clock key; their decisions
   * are never cached.
   */
  constructor(set: IotPolicySet, attachments: IotAttachments, timed: ReadonlySet<string>) {
    this.set = set;
    this.attachments = attachments;
    this.timed = timed;
  }

  /**
   * The IoT policies in force for a connection, without repeats, in a stable order:
   * the certificate's, then its thing groups', then those its device groups name.
   * `missing` lists names that no policy of the set has (a device group may name a
   * policy that was deleted): such a connection is denied everything IoT would decide.
   */
  policiesFor(certificateId: string | undefined, thingName: string | null, deviceGroupPolicies: Iterable<string>): { readonly names: readonly string[]; readonly missing: readonly string[]; readonly timed: boolean } {
    // A few names per connection: a list search is cheaper than a set.
    const names: string[] = [];
    const missing: string[] = [];
    let timed = false;
    const add = (list: readonly string[] | undefined): void => {
      if (list === undefined) return;
      for (let i = 0; i < list.length; i++) {
        const n = list[i]!;
        if (names.includes(n) || missing.includes(n)) continue;
        if (!this.set.has(n)) {
          missing.push(n);
          continue;
        }
        names.push(n);
        if (this.timed.has(n)) timed = true;
      }
    };
    if (certificateId !== undefined) add(this.attachments.certificatePolicies.get(certificateId));
    if (thingName !== null) {
      const groups = this.attachments.thingGroups.get(thingName);
      if (groups !== undefined) for (let i = 0; i < groups.length; i++) add(this.attachments.thingGroupPolicies.get(groups[i]!));
    }
    add(Array.isArray(deviceGroupPolicies) ? deviceGroupPolicies : [...deviceGroupPolicies]);
    return { names, missing, timed };
  }

  /** The index of the named policies (of this part's set), shared by the connections that have them in force. */
  indexOf(names: readonly string[]): StatementIndex<ConnectionQuery> {
    let key = '';
    for (const n of names) key += `${n.length}:${n}`;
    let index = this.indexes.get(key);
    if (index === undefined) {
      if (this.indexes.size >= INDEX_CACHE_LIMIT) this.indexes.clear();
      index = new IotIndex(new ArnDecisions(iotPolicyIndex(this.set, names)));
      this.indexes.set(key, index);
    }
    return index;
  }
}

/** Lists of policies in force whose index an IotPart keeps. */
const INDEX_CACHE_LIMIT = 4096;

/**
 * One request of a connection, in the form of each index in force: the Greengrass view's
 * decision (undefined for an IoT-only request such as iot:Receive), and the IoT request
 * (a retained publish: `iot:Publish`, with `retained` for `iot:RetainPublish`).
 */
interface ConnectionQuery {
  readonly greengrass: Decision | undefined;
  readonly iot: ArnRequest;
  readonly retained: ArnRequest | undefined;
}

/** The Greengrass view's statements, through its decision (Deny first, so an Allow means no Deny applies). */
const GREENGRASS_INDEX: StatementIndex<ConnectionQuery> = {
  firstDeny: (q) => (q.greengrass !== undefined && q.greengrass.reason === 'DENIED_BY_STATEMENT' ? q.greengrass : null),
  firstAllow: (q) => (q.greengrass !== undefined && q.greengrass.allowed ? q.greengrass : null),
};

/** IoT policies in force that do not exist: what they might deny cannot be allowed. */
const MISSING_POLICIES: StatementIndex<ConnectionQuery> = {
  firstDeny: () => REFUSED.IOT_POLICY_NOT_FOUND,
  firstAllow: () => null,
};

/**
 * The IoT policies in force. A retained publish needs `iot:RetainPublish` as well as
 * `iot:Publish` (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html):
 * a Deny of either denies; an Allow needs both (the `iot:Publish` statement is named).
 */
class IotIndex implements StatementIndex<ConnectionQuery> {
  private readonly index: ArnDecisions;

  constructor(index: ArnDecisions) {
    this.index = index;
  }

  firstDeny(q: ConnectionQuery): Decision | null {
    return this.index.firstDeny(q.iot) ?? (q.retained !== undefined ? this.index.firstDeny(q.retained) : null);
  }

  firstAllow(q: ConnectionQuery): Decision | null {
    const d = this.index.firstAllow(q.iot);
    if (d === null || q.retained === undefined) return d;
    return this.index.firstAllow(q.retained) !== null ? d : null;
  }
}

/** Per-connection decisions remembered per kind of request before that cache starts over. */
const CACHE_LIMIT = 256;
/**
 * Longest resource or topic whose decision is remembered. MQTT allows 65,535-byte
 * topics: without this bound a device sending long distinct topics would make each of
 * its caches hold megabytes. Longer requests are decided every time.
 */
export const MAX_CACHED_KEY_LENGTH = 1024;

/** Kinds of request: connect, publish, subscribe (keyed by Greengrass resource), retained publish and receive (keyed by topic). */
const CacheKind = { Connect: 0, Publish: 1, Subscribe: 2, Retained: 3, Receive: 4 } as const;
type CacheKind = (typeof CacheKind)[keyof typeof CacheKind];

/**
 * Remembered decisions of one connection, one map per kind of request keyed by the
 * resource (or the topic) itself: the broker asks on every PUBLISH and every delivery,
 * and a key built by concatenation would be a new string to flatten and hash each time.
 * Maps are made on first use (most connections only ever publish or only receive).
 */
class DecisionCache {
  private readonly maps: (Map<string, Decision> | undefined)[] = [undefined, undefined, undefined, undefined, undefined];

  get(kind: CacheKind, key: string): Decision | undefined {
    return this.maps[kind]?.get(key);
  }

  set(kind: CacheKind, key: string, d: Decision): void {
    if (key.length > MAX_CACHED_KEY_LENGTH) return;
    let m = this.maps[kind];
    if (m === undefined) this.maps[kind] = m = new Map();
    else if (m.size >= CACHE_LIMIT) m.clear();
    m.set(key, d);
  }
}

/**
 * The permissions of one connection under both dialects. decide() has the signature of
 * PrincipalView.decide (Greengrass operations and resources) so the broker asks both
 * kinds of view the same way; receive() and decideRetained() answer what only the IoT
 * dialect can say.
 */
export class CombinedView {
  readonly greengrass: PrincipalView;
  readonly iot: IotPart;
  readonly policies: readonly string[];
  readonly context: IotContext;
  /** Decisions depend on the clock (a policy in force uses aws:CurrentTime or aws:EpochTime): never cache them. */
  readonly timed: boolean;
  private readonly missing: boolean;
  private readonly now: () => number;
  /** Remembered decisions; null when the policies depend on the clock. */
  private readonly cache: DecisionCache | null;
  /** The indexes in force, in order of consultation: Greengrass, then the missing IoT policies and the IoT policies. */
  private readonly indexes: readonly StatementIndex<ConnectionQuery>[];
  /** The same without Greengrass: for what only the IoT dialect decides (iot:Receive). */
  private readonly iotIndexes: readonly StatementIndex<ConnectionQuery>[];

  constructor(greengrass: PrincipalView, iot: IotPart, policies: { readonly names: readonly string[]; readonly missing: readonly string[]; readonly timed: boolean }, context: IotContext, now: () => number) {
    this.greengrass = greengrass;
    this.iot = iot;
    this.policies = policies.names;
    this.missing = policies.missing.length > 0;
    this.context = context;
    this.now = now;
    this.timed = policies.timed;
    this.cache = policies.timed ? null : new DecisionCache();
    const iotIndexes: StatementIndex<ConnectionQuery>[] = [];
    if (this.missing) iotIndexes.push(MISSING_POLICIES);
    if (policies.names.length > 0) iotIndexes.push(iot.indexOf(policies.names));
    this.iotIndexes = iotIndexes;
    this.indexes = [GREENGRASS_INDEX, ...iotIndexes];
  }

  /** Greengrass operations on Greengrass resources (`mqtt:publish` on `mqtt:topic:a/b`), both dialects. */
  decide(operation: string, resource: string): Decision {
    switch (operation) {
      case 'mqtt:connect':
        return this.cached(CacheKind.Connect, resource, operation, resource, false);
      case 'mqtt:publish':
        return this.cached(CacheKind.Publish, resource, operation, resource, false);
      case 'mqtt:subscribe':
        return this.cached(CacheKind.Subscribe, resource, operation, resource, false);
      default:
        // Not a request the broker makes: decided (and refused by the Greengrass view) every time.
        return this.combine(operation, resource, false);
    }
  }

  /** A retained PUBLISH: also needs `iot:RetainPublish` when an IoT policy decides it. */
  decideRetained(topic: string): Decision {
    const c = this.cache;
    const hit = c?.get(CacheKind.Retained, topic);
    if (hit !== undefined) return hit;
    const d = this.combine('mqtt:publish', 'mqtt:topic:' + topic, true);
    c?.set(CacheKind.Retained, topic, d);
    return d;
  }

  /**
   * `iot:Receive` on the topic: 'deny' when an IoT statement denies it (or a policy in
   * force is missing), 'allow' when one allows it, 'none' when no IoT statement applies
   * (the Greengrass rule then decides: a granted filter that is still allowed).
   */
  receive(topic: string): 'allow' | 'deny' | 'none' {
    const c = this.cache;
    let d = c?.get(CacheKind.Receive, topic);
    if (d === undefined) {
      const q: ConnectionQuery = { greengrass: undefined, iot: this.iotRequest('iot:Receive', 'topic', topic, this.now()), retained: undefined };
      d = decideValid(this.iotIndexes, q) ?? NO_IOT_STATEMENT;
      c?.set(CacheKind.Receive, topic, d);
    }
    return d.allowed ? 'allow' : d.reason === 'DENIED_BY_STATEMENT' || d.reason === 'IOT_POLICY_NOT_FOUND' ? 'deny' : 'none';
  }

  private cached(kind: CacheKind, key: string, operation: string, resource: string, retain: boolean): Decision {
    const c = this.cache;
    const hit = c?.get(kind, key);
    if (hit !== undefined) return hit;
    const d = this.combine(operation, resource, retain);
    c?.set(kind, key, d);
    return d;
  }

  /** The engine's order over the indexes in force; the Greengrass validation and implicit deny. */
  private combine(operation: string, resource: string, retain: boolean): Decision {
    const gg = this.greengrass.decide(operation, resource);
    // Validation: what the Greengrass dialect cannot read is refused.
    if (gg.reason === 'UNKNOWN_OPERATION' || gg.reason === 'MALFORMED_RESOURCE' || gg.reason === 'RESOURCE_TYPE_MISMATCH') return gg;
    const mapped = toIot(operation, resource);
    if (mapped === undefined) return gg;
    const now = this.now();
    const iot = this.iotRequest(mapped.action, mapped.type, mapped.name, now);
    const retained = retain && mapped.action === 'iot:Publish' ? this.iotRequest('iot:RetainPublish', mapped.type, mapped.name, now) : undefined;
    return decideValid(this.indexes, { greengrass: gg, iot, retained }) ?? gg;
  }

  private iotRequest(action: string, type: 'client' | 'topic' | 'topicfilter', name: string, now: number): ArnRequest {
    const deployment = this.iot.set.deployment;
    return arnRequest(IOT_DIALECT, deployment, this.context, action, iotArn(deployment, type, name), now);
  }
}

/** The IoT action and resource of a Greengrass request; undefined for anything else. */
function toIot(operation: string, resource: string): { action: string; type: 'client' | 'topic' | 'topicfilter'; name: string } | undefined {
  switch (operation) {
    case 'mqtt:connect':
      return resource.startsWith('mqtt:clientId:') ? { action: 'iot:Connect', type: 'client', name: resource.slice('mqtt:clientId:'.length) } : undefined;
    case 'mqtt:publish':
      return resource.startsWith('mqtt:topic:') ? { action: 'iot:Publish', type: 'topic', name: resource.slice('mqtt:topic:'.length) } : undefined;
    case 'mqtt:subscribe':
      return resource.startsWith('mqtt:topicfilter:') ? { action: 'iot:Subscribe', type: 'topicfilter', name: resource.slice('mqtt:topicfilter:'.length) } : undefined;
    default:
      return undefined;
  }
}
