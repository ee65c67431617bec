/**
 * The attachment maps of the IoT authorization data (registry.ts, IotAuthorizationData)
 * built from the rows of the registry's bulk read: certificate → policies, thing group →
 * policies, thing → the groups whose policies apply to it, thing → type.
 *
 * Per-row cost dominates at fleet size (bench:decide iotcompile builds these maps for
 * 100,000 things), so the store hands each key's names already joined by one space
 * (SQLite's `group_concat`; names cannot contain spaces), and equal lists are split and
 * sorted once and then shared: most devices of a fleet carry the same policies and
 * groups. The lists are readonly by type and never written; they are not frozen one by
 * one (a fleet has a hundred thousand of them). The store hands the rows in key order,
 * so the big maps are sorted key arrays searched by bisection (SortedKeyMap) rather
 * than hash tables: no hashing of a hundred thousand keys at load, half the memory, and
 * a lookup per connection of about 17 comparisons. Pure, so that the registry and the
 * benchmark build the maps with the same code. Also which keys a batch of changes makes
 * both registry backends read again when they patch the data (`iotPatchPlan`).
 */

import type { Change } from './registry.js';

/** The bulk read's rows, each `[key, names joined by ' ']` unless said otherwise. */
export interface AttachmentListRows {
  /** `[certificate id, policy names]`. */
  readonly certificatePolicies: Iterable<readonly [string, string]>;
  /** `[thing group, policy names]`. */
  readonly groupPolicies: Iterable<readonly [string, string]>;
  /** `[thing, names of the groups it is a direct member of]`. */
  readonly members: Iterable<readonly [string, string]>;
  /** `[thing group, its parent or null]`, every group. */
  readonly parents: Iterable<readonly [string, string | null]>;
  /** `[thing, its type]` (not joined). */
  readonly thingTypes: Iterable<readonly [string, string]>;
}

export interface AttachmentMaps {
  readonly certificatePolicies: ReadonlyMap<string, readonly string[]>;
  readonly thingGroupPolicies: ReadonlyMap<string, readonly string[]>;
  /** Each thing's groups with all their ancestors (a parent's policies apply to its children's members), sorted. */
  readonly thingGroups: ReadonlyMap<string, readonly string[]>;
  readonly thingTypes: ReadonlyMap<string, string>;
}

/** A group and its ancestors, from each group's parent (a cycle stops at the first repeat). */
export function groupLineage(parents: ReadonlyMap<string, string | null>): (group: string) => string[] {
  return (g) => {
    const out: string[] = [];
    for (let cur: string | null | undefined = g; cur != null && !out.includes(cur); cur = parents.get(cur)) out.push(cur);
    return out;
  };
}

/**
 * A read-only map over keys in code-unit order, searched by bisection. Built from rows in
 * key order (what the store's `ORDER BY` gives for ASCII names); rows out of order are
 * sorted first, and a repeated key keeps its last value, as a Map would.
 */
export class SortedKeyMap<V> implements ReadonlyMap<string, V> {
  readonly #keys: string[];
  readonly #values: V[];

  /** Takes over `keys` and `values` (same length, `values[i]` for `keys[i]`). */
  constructor(keys: string[], values: V[]) {
    let ordered = true;
    for (let i = 1; i < keys.length && ordered; i++) if (!(keys[i - 1]! < keys[i]!)) ordered = false;
    if (!ordered) {
      const m = new Map<string, V>();
      for (let i = 0; i < keys.length; i++) m.set(keys[i]!, values[i]!);
      const sorted = [...m.keys()].sort(byCodeUnits);
      keys.length = 0;
      values.length = 0;
      for (const k of sorted) {
        keys.push(k);
        values.push(m.get(k)!);
      }
    }
    this.#keys = keys;
    this.#values = values;
  }

  static from<V>(rows: Iterable<readonly [string, V]>): SortedKeyMap<V> {
    const keys: string[] = [];
    const values: V[] = [];
    for (const row of rows) {
      keys.push(row[0]);
      values.push(row[1]);
    }
    return new SortedKeyMap(keys, values);
  }

  #find(key: string): number {
    const keys = this.#keys;
    let lo = 0;
    let hi = keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid]!;
      if (k === key) return mid;
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  get size(): number {
    return this.#keys.length;
  }

  get(key: string): V | undefined {
    const i = this.#find(key);
    return i < 0 ? undefined : this.#values[i];
  }

  has(key: string): boolean {
    return this.#find(key) >= 0;
  }

  *entries(): MapIterator<[string, V]> {
    for (let i = 0; i < this.#keys.length; i++) yield [this.#keys[i]!, this.#values[i]!];
  }

  keys(): MapIterator<string> {
    return this.#keys.values();
  }

  values(): MapIterator<V> {
    return this.#values.values();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (let i = 0; i < this.#keys.length; i++) callback.call(thisArg, this.#values[i]!, this.#keys[i]!, this);
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The names of a joined row, sorted, without repeats. */
function splitSorted(joined: string): string[] {
  const space = joined.indexOf(' ');
  if (space < 0) return [joined];
  if (joined.indexOf(' ', space + 1) < 0) {
    // Two names, the most common list after one.
    const a = joined.slice(0, space);
    const b = joined.slice(space + 1);
    return a < b ? [a, b] : b < a ? [b, a] : [a];
  }
  const names = joined.split(' ').sort(byCodeUnits);
  let n = 1;
  for (let i = 1; i < names.length; i++) if (names[i] !== names[n - 1]) names[n++] = names[i]!;
  names.length = n;
  return names;
}

export function buildAttachmentMaps(rows: AttachmentListRows): AttachmentMaps {
  const lists = new Map<string, readonly string[]>();
  const listOf = (joined: string): readonly string[] => {
    let list = lists.get(joined);
    if (list === undefined) lists.set(joined, (list = splitSorted(joined)));
    return list;
  };
  const grouped = (source: Iterable<readonly [string, string]>): ReadonlyMap<string, readonly string[]> => {
    const keys: string[] = [];
    const lists: (readonly string[])[] = [];
    for (const row of source) {
      keys.push(row[0]);
      lists.push(listOf(row[1]));
    }
    return new SortedKeyMap(keys, lists);
  };
  const certificatePolicies = grouped(rows.certificatePolicies);
  const thingGroupPolicies = grouped(rows.groupPolicies);
  const parentOf = new Map(rows.parents);
  let nested = false;
  for (const p of parentOf.values()) if (p !== null) nested = true;
  // Without nesting (most sites), a thing's groups are its direct groups.
  const thingGroups = nested ? withAncestors(rows.members, groupLineage(parentOf)) : grouped(rows.members);
  const thingTypes = SortedKeyMap.from(rows.thingTypes);
  return { certificatePolicies, thingGroupPolicies, thingGroups, thingTypes };
}

function withAncestors(members: Iterable<readonly [string, string]>, lineage: (group: string) => string[]): ReadonlyMap<string, readonly string[]> {
  const lineages = new Map<string, readonly string[]>();
  const lists = new Map<string, readonly string[]>();
  const keys: string[] = [];
  const out: (readonly string[])[] = [];
  for (const row of members) {
    const joined = row[1];
    let list = lists.get(joined);
    if (list === undefined) {
      const all: string[] = [];
      for (const g of joined.split(' ')) {
        let line = lineages.get(g);
        if (line === undefined) lineages.set(g, (line = lineage(g)));
        for (const a of line) if (!all.includes(a)) all.push(a);
      }
      lists.set(joined, (list = all.sort(byCodeUnits)));
    }
    keys.push(row[0]);
    out.push(list);
  }
  return new SortedKeyMap(keys, out);
}

/** What a patch of the IoT authorization data re-reads: the keys the changes name. */
export interface IotPatchPlan {
  /** Policies whose default document to read again. */
  readonly documents: ReadonlySet<string>;
  /** Certificates whose policy list to read again. */
  readonly certificates: ReadonlySet<string>;
  /** Thing groups whose policy list to read again. */
  readonly groups: ReadonlySet<string>;
  /** Things whose groups (with ancestors) and type to read again. */
  readonly things: ReadonlySet<string>;
}

/**
 * The keys a batch of registry changes names, for both backends' patch of the IoT
 * authorization data; undefined when only a full read will do: a thing group deleted
 * (one change for all its members) or a kind of change not known here.
 */
export function iotPatchPlan(changes: readonly Change[]): IotPatchPlan | undefined {
  const documents = new Set<string>();
  const certificates = new Set<string>();
  const groups = new Set<string>();
  const things = new Set<string>();
  for (const c of changes) {
    switch (c.kind) {
      case 'POLICY_CHANGED':
        documents.add(c.policyName);
        break;
      case 'POLICY_ATTACHMENT_CHANGED':
        if (c.target.kind === 'certificate') certificates.add(c.target.certificateId);
        else groups.add(c.target.groupName);
        break;
      // Declaring, deprecating or deleting a type changes no thing's type.
      case 'THING_TYPE_CHANGED':
        break;
      case 'THING_GROUP_CHANGED':
        // A new group has no member, no policy and a parent fixed at creation: nothing
        // read here changes. A deleted group is one change for all its members.
        if (c.event === 'DELETED') return undefined;
        if (c.thingName !== null) things.add(c.thingName);
        break;
      case 'THING_CREATED':
      case 'THING_UPDATED':
      case 'THING_DELETED':
        things.add(c.thingName);
        break;
      // A deleted certificate's attachments are recorded one by one before it.
      case 'CERT_DELETED':
      case 'CERT_REGISTERED':
      case 'CERT_STATUS_CHANGED':
      case 'CERT_ATTACHED':
      case 'CERT_DETACHED':
      case 'CA_TRUSTED':
      case 'CA_UNTRUSTED':
      // Relayed MQTT messages (jobs) change nothing an authorization decision reads.
      case 'SERVICE_MESSAGE':
        break;
      default:
        return undefined;
    }
  }
  return { documents, certificates, groups, things };
}
