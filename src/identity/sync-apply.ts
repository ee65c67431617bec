/**
 * Writing what a sync read from AWS IoT Core into the registry: the reconciliation of one
 * batch (a page of things, the thing groups, the policies, …) against the local records,
 * inside the one transaction `SqliteRegistry.applySync` opens.
 *
 * Rules (docs/migration.md says the same for operators):
 * - Only objects marked as synced (`sync_objects`, migration 5) are changed or removed. A
 *   local object with the name (or certificate id) of a cloud object is left as it is and
 *   the cloud object is refused with SYNC_LOCAL_OBJECT; trusted CAs are the exception: a
 *   CA the operator trusts already is simply trusted, and stays the operator's.
 * - Every write is the difference between the cloud and the local record, so a batch with
 *   no cloud change writes nothing (no row, no change-feed entry). A local change to a
 *   synced object is a difference too: the next sync puts the cloud's state back, except
 *   a local revocation, which is final (the cloud's status is refused with CERT_REVOKED).
 * - The registry's own checks apply: names and attributes (names.ts), the IoT policy
 *   grammar, a CA must be a CA, at most ten groups per thing and one per hierarchy, at
 *   most five policy versions. An object a check refuses is rolled back alone (a
 *   savepoint) and reported; the rest of the batch is written.
 * - Every write records its change-feed entry in the same transaction, as every other
 *   registry mutation does, so sessions, the IoT policy set and watchers follow it.
 */
import type Database from 'better-sqlite3';
import { parseIotPolicyDocument } from '../core/policy/iot/document.js';
import { parseCertificatePem, type ParsedCertificate } from './certificate.js';
import { RegistryError } from './errors.js';
import {
  assertAttributes, assertPolicyName, assertThingGroupDescription, assertThingGroupName, assertThingName, assertThingTypeName,
  assertThingTypeProperties, shown,
} from './names.js';
import type { CertificateStatus, CertificateTrust, ChangeKind } from './registry.js';

/** What a sync manages, as marked in `sync_objects`. */
export type SyncKind = 'ca' | 'thing_type' | 'thing_group' | 'policy' | 'thing' | 'certificate';
export const SYNC_KINDS: readonly SyncKind[] = ['ca', 'thing_type', 'thing_group', 'policy', 'thing', 'certificate'];

/** A CA certificate that is ACTIVE in the cloud (an INACTIVE one is not trusted). */
export interface SyncCa { readonly id: string; readonly pem: string }
export interface SyncThingType {
  readonly name: string;
  readonly description: string | null;
  readonly searchableAttributes: readonly string[];
  readonly deprecated: boolean;
}
export interface SyncThingGroup {
  readonly name: string;
  readonly parent: string | null;
  readonly description: string | null;
  /** Names of the policies attached to the group in the cloud. */
  readonly policies: readonly string[];
}
/** A policy with its default version's document (the one in force). */
export interface SyncPolicy { readonly name: string; readonly document: string }
export interface SyncCertificate {
  readonly id: string;
  readonly pem: string;
  readonly status: CertificateStatus;
  /** The trusted CA it chains to (checked by the caller before the batch); null for `trust: 'registration'`. */
  readonly issuerId: string | null;
  /** Default `ca`. `registration`: its issuer is unknown here and it is trusted by this exact registration (CertificateRecord.trust). */
  readonly trust?: CertificateTrust;
  /** Names of the policies attached to it in the cloud. */
  readonly policies: readonly string[];
}
export interface SyncThing {
  readonly name: string;
  readonly thingTypeName: string | null;
  readonly attributes: Readonly<Record<string, string>>;
  /** Groups it is a direct member of. */
  readonly groups: readonly string[];
  /** Ids of the certificates attached to it (those of `certificates` in the same batch, or synced before). */
  readonly certificates: readonly string[];
}

/**
 * One batch, written in one transaction in this order: CAs, thing types, policies,
 * thing groups (parents first, with their policy attachments), certificates (with
 * theirs), things (with their certificates and memberships), then removals.
 */
export interface SyncBatch {
  readonly cas?: readonly SyncCa[];
  readonly thingTypes?: readonly SyncThingType[];
  readonly policies?: readonly SyncPolicy[];
  readonly thingGroups?: readonly SyncThingGroup[];
  readonly certificates?: readonly SyncCertificate[];
  readonly things?: readonly SyncThing[];
  /**
   * For each kind given, the names (ids) the cloud still has: every synced object of that
   * kind not in the set is removed. Kinds not given are not pruned.
   */
  readonly keep?: Partial<Record<SyncKind, ReadonlySet<string>>>;
}

export interface SyncItem {
  readonly kind: SyncKind;
  readonly name: string;
  /** What changed, for people (e.g. `status ACTIVE -> REVOKED`). */
  readonly detail?: string;
}

export interface SyncRefusal extends SyncItem {
  /** SYNC_LOCAL_OBJECT, SYNC_DEPENDENCY_REFUSED, or the registry or verification code that refused it. */
  readonly code: string;
  readonly reason: string;
}

export interface SyncOutcome {
  readonly added: readonly SyncItem[];
  readonly changed: readonly SyncItem[];
  readonly removed: readonly SyncItem[];
  readonly refused: readonly SyncRefusal[];
  /** Change-feed entries written (0 when nothing changed). */
  readonly changes: number;
}

/** What the registry lends the applier: its connection, clock and change recorder. */
export interface SyncWriteContext {
  readonly db: Database.Database;
  readonly now: () => Date;
  readonly record: (kind: ChangeKind, entity: string, related?: string | null, detail?: string | null) => void;
  readonly groupsPerThing: number;
  readonly policyVersionLimit: number;
}

class Refused extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const statements = new WeakMap<Database.Database, ReturnType<typeof prepare>>();

/** Applies the batch. Runs inside the caller's transaction; throws only for a failing database. */
export function applySyncBatch(ctx: SyncWriteContext, batch: SyncBatch): SyncOutcome {
  let s = statements.get(ctx.db);
  if (s === undefined) statements.set(ctx.db, (s = prepare(ctx.db)));
  return new Applier(ctx, s).run(batch);
}

/** The synced objects of a kind (names or ids), sorted. */
export function syncedNames(db: Database.Database, kind: SyncKind): string[] {
  let s = statements.get(db);
  if (s === undefined) statements.set(db, (s = prepare(db)));
  return s.marksOfKind.all(kind) as string[];
}

class Applier {
  private readonly added: SyncItem[] = [];
  private readonly changed: SyncItem[] = [];
  private readonly removed: SyncItem[] = [];
  private readonly refused: SyncRefusal[] = [];
  private changes = 0;
  private readonly t: number;

  constructor(private readonly ctx: SyncWriteContext, private readonly s: ReturnType<typeof prepare>) {
    this.t = ctx.now().getTime();
  }

  run(batch: SyncBatch): SyncOutcome {
    for (const ca of batch.cas ?? []) this.each('ca', ca.id, () => this.ca(ca));
    for (const type of batch.thingTypes ?? []) this.each('thing_type', type.name, () => this.thingType(type));
    for (const policy of batch.policies ?? []) this.each('policy', policy.name, () => this.policy(policy));
    for (const group of batch.thingGroups ?? []) this.each('thing_group', group.name, () => this.group(group));
    for (const cert of batch.certificates ?? []) this.each('certificate', cert.id, () => this.certificate(cert));
    for (const thing of batch.things ?? []) this.each('thing', thing.name, () => this.thing(thing));
    if (batch.keep !== undefined) this.prune(batch.keep);
    return { added: this.added, changed: this.changed, removed: this.removed, refused: this.refused, changes: this.changes };
  }

  // ------------------------------------------------------------ helpers

  /** Runs one object's writes in a savepoint: refused, it leaves nothing behind. */
  private each(kind: SyncKind, name: string, fn: () => void): void {
    const before = { added: this.added.length, changed: this.changed.length, removed: this.removed.length, changes: this.changes };
    try {
      this.ctx.db.transaction(fn)();
    } catch (e) {
      // The savepoint is rolled back: forget what it reported.
      this.added.length = before.added;
      this.changed.length = before.changed;
      this.removed.length = before.removed;
      this.changes = before.changes;
      if (e instanceof Refused) this.refuse(kind, name, e.code, e.message);
      else if (e instanceof RegistryError && e.code !== 'REGISTRY_BUSY' && e.code !== 'REGISTRY_CLOSED') this.refuse(kind, name, e.code, e.message);
      else throw e;
    }
  }

  private refuse(kind: SyncKind, name: string, code: string, reason: string): void {
    this.refused.push(Object.freeze({ kind, name, code, reason }));
  }

  private record(kind: ChangeKind, entity: string, related: string | null = null, detail: string | null = null): void {
    this.ctx.record(kind, entity, related, detail);
    this.changes++;
  }

  private isSynced(kind: SyncKind, name: string): boolean {
    return this.s.isMarked.get(kind, name) !== undefined;
  }

  private mark(kind: SyncKind, name: string): void {
    this.s.mark.run(kind, name, this.t);
  }

  /** Undefined when the object does not exist; throws SYNC_LOCAL_OBJECT when it exists and is not synced. */
  private owned(kind: SyncKind, name: string, exists: boolean, what: string): boolean {
    if (!exists) return false;
    if (!this.isSynced(kind, name)) {
      throw new Refused('SYNC_LOCAL_OBJECT', `${what} exists in the registry and was created locally, not by a sync: it is left as it is`);
    }
    return true;
  }

  // --------------------------------------------------------------- CAs

  private ca(ca: SyncCa): void {
    const parsed = parseOne(ca.pem, 'CA certificate');
    if (parsed.id !== ca.id) throw new Refused('CERT_MALFORMED', `the CA certificate's PEM has id ${parsed.id}, not ${ca.id}`);
    if (!parsed.isCa) throw new RegistryError('CA_NOT_A_CA', `certificate ${ca.id} (${parsed.subject}) is not a CA certificate (basicConstraints cA is not set)`);
    // Trusted already (by the operator, the gateway or an earlier sync): nothing to do.
    if (this.s.getCa.get(ca.id) !== undefined) return;
    this.s.insertCa.run({ id: parsed.id, pem: parsed.pem, subject: parsed.subject, not_before: parsed.notBefore.getTime(), not_after: parsed.notAfter.getTime(), added_at: this.t, source: 'operator' });
    this.record('CA_TRUSTED', ca.id, null, 'operator');
    this.mark('ca', ca.id);
    this.added.push({ kind: 'ca', name: ca.id, detail: parsed.subject });
  }

  // ------------------------------------------------------- thing types

  private thingType(type: SyncThingType): void {
    assertThingTypeName(type.name);
    assertThingTypeProperties(type.description ?? undefined, type.searchableAttributes);
    const row = this.s.getType.get(type.name) as { deprecated_at: number | null } | undefined;
    if (!this.owned('thing_type', type.name, row !== undefined, `thing type ${shown(type.name)}`)) {
      this.s.insertType.run(type.name, type.description, JSON.stringify(type.searchableAttributes), type.deprecated ? this.t : null, this.t);
      this.record('THING_TYPE_CHANGED', type.name, null, 'CREATED');
      if (type.deprecated) this.record('THING_TYPE_CHANGED', type.name, null, 'DEPRECATED');
      this.mark('thing_type', type.name);
      this.added.push({ kind: 'thing_type', name: type.name });
      return;
    }
    // A type's description and searchable attributes never change (in AWS IoT either); deprecation does.
    if ((row!.deprecated_at !== null) !== type.deprecated) {
      this.s.setTypeDeprecated.run(type.deprecated ? this.t : null, type.name);
      this.record('THING_TYPE_CHANGED', type.name, null, type.deprecated ? 'DEPRECATED' : 'UNDEPRECATED');
      this.changed.push({ kind: 'thing_type', name: type.name, detail: type.deprecated ? 'deprecated' : 'undeprecated' });
    }
  }

  // ---------------------------------------------------------- policies

  private policy(policy: SyncPolicy): void {
    assertPolicyName(policy.name);
    checkDocument(policy.document);
    const row = this.s.getPolicy.get(policy.name) as { default_version: number; next_version: number; document: string } | undefined;
    if (!this.owned('policy', policy.name, row !== undefined, `policy ${shown(policy.name)}`)) {
      this.s.insertPolicy.run(policy.name, 1, 2, this.t, this.t);
      this.s.insertPolicyVersion.run(policy.name, 1, policy.document, this.t);
      this.record('POLICY_CHANGED', policy.name, '1', 'CREATED');
      this.mark('policy', policy.name);
      this.added.push({ kind: 'policy', name: policy.name });
      return;
    }
    if (row!.document === policy.document) return;
    // The cloud's default document becomes a new default version; the oldest other
    // version goes when the policy has the most versions AWS IoT allows.
    const versions = this.s.policyVersionIds.all(policy.name) as number[];
    if (versions.length >= this.ctx.policyVersionLimit) {
      const oldest = versions.find((v) => v !== row!.default_version)!;
      this.s.deletePolicyVersion.run(policy.name, oldest);
      this.record('POLICY_CHANGED', policy.name, String(oldest), 'VERSION_DELETED');
    }
    const version = row!.next_version;
    this.s.insertPolicyVersion.run(policy.name, version, policy.document, this.t);
    this.s.setPolicyVersions.run(version, version + 1, this.t, policy.name);
    this.record('POLICY_CHANGED', policy.name, String(version), 'VERSION_CREATED');
    this.record('POLICY_CHANGED', policy.name, String(version), 'DEFAULT_VERSION_SET');
    this.changed.push({ kind: 'policy', name: policy.name, detail: `document changed (version ${version})` });
  }

  /** Attaches and detaches so that the target has exactly the synced policies of `wanted`. */
  private policyAttachments(target: { kind: 'certificate'; id: string } | { kind: 'thingGroup'; name: string }, wanted: readonly string[], label: SyncItem): void {
    const key = target.kind === 'certificate' ? `certificate:${target.id}` : `thingGroup:${target.name}`;
    const targetName = target.kind === 'certificate' ? target.id : target.name;
    const current = new Set((target.kind === 'certificate' ? this.s.policiesForCert.all(targetName) : this.s.policiesForGroup.all(targetName)) as string[]);
    const want = new Set<string>();
    const missing: string[] = [];
    for (const name of wanted) {
      if (this.s.getPolicy.get(name) !== undefined && this.isSynced('policy', name)) want.add(name);
      else missing.push(name);
    }
    if (missing.length > 0) {
      this.refuse(label.kind, label.name, 'SYNC_DEPENDENCY_REFUSED', `attached in the cloud to ${missing.map(shown).join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not synced (refused, or a local policy of the same name): not attached here`);
    }
    const attached: string[] = [];
    const detached: string[] = [];
    for (const name of want) {
      if (current.has(name)) continue;
      if (target.kind === 'certificate') this.s.attachPolicyToCert.run(targetName, name, this.t);
      else this.s.attachPolicyToGroup.run(targetName, name, this.t);
      this.record('POLICY_ATTACHMENT_CHANGED', name, key, 'ATTACHED');
      attached.push(name);
    }
    for (const name of current) {
      if (want.has(name)) continue;
      if (target.kind === 'certificate') this.s.detachPolicyFromCert.run(targetName, name);
      else this.s.detachPolicyFromGroup.run(targetName, name);
      this.record('POLICY_ATTACHMENT_CHANGED', name, key, 'DETACHED');
      detached.push(name);
    }
    if (attached.length + detached.length > 0) this.noteChange(label, [...attached.map((n) => `+policy ${n}`), ...detached.map((n) => `-policy ${n}`)].join(', '));
  }

  /** Adds to the changed list, unless the object was added in this batch (its additions are part of it). */
  private noteChange(item: SyncItem, detail: string): void {
    if (this.added.some((a) => a.kind === item.kind && a.name === item.name)) return;
    const existing = this.changed.findIndex((c) => c.kind === item.kind && c.name === item.name);
    if (existing >= 0) {
      const prev = this.changed[existing]!;
      this.changed[existing] = { kind: prev.kind, name: prev.name, detail: prev.detail !== undefined ? `${prev.detail}, ${detail}` : detail };
    } else {
      this.changed.push({ kind: item.kind, name: item.name, detail });
    }
  }

  // ------------------------------------------------------- thing groups

  private group(group: SyncThingGroup): void {
    assertThingGroupName(group.name);
    if (group.parent !== null) assertThingGroupName(group.parent);
    if (group.description !== null) assertThingGroupDescription(group.description);
    const row = this.s.getGroup.get(group.name) as { parent: string | null } | undefined;
    const item: SyncItem = { kind: 'thing_group', name: group.name };
    if (!this.owned('thing_group', group.name, row !== undefined, `thing group ${shown(group.name)}`)) {
      if (group.parent !== null && !(this.s.getGroup.get(group.parent) !== undefined && this.isSynced('thing_group', group.parent))) {
        throw new Refused('SYNC_DEPENDENCY_REFUSED', `its parent group ${shown(group.parent)} is not synced (refused, or a local group of the same name)`);
      }
      this.s.insertGroup.run(group.name, group.parent, group.description, this.t);
      this.record('THING_GROUP_CHANGED', group.name, null, 'CREATED');
      this.mark('thing_group', group.name);
      this.added.push(item);
    } else if (row!.parent !== group.parent) {
      // Parents are fixed at creation, here as in AWS IoT: the cloud group was deleted and created again elsewhere.
      throw new Refused('SYNC_GROUP_MOVED', `the group's parent is ${shown(group.parent ?? '(none)')} in the cloud and ${shown(row!.parent ?? '(none)')} here; a group cannot move: delete it locally (\`gatehouse thing-groups delete\`) and sync again`);
    }
    this.policyAttachments({ kind: 'thingGroup', name: group.name }, group.policies, item);
  }

  // ------------------------------------------------------ certificates

  private certificate(cert: SyncCertificate): void {
    const parsed = parseOne(cert.pem, 'certificate');
    if (parsed.id !== cert.id) throw new Refused('CERT_MALFORMED', `the certificate's PEM has id ${parsed.id}, not ${cert.id}`);
    const row = this.s.getCert.get(cert.id) as { status: CertificateStatus } | undefined;
    const item: SyncItem = { kind: 'certificate', name: cert.id };
    if (!this.owned('certificate', cert.id, row !== undefined, `certificate ${cert.id}`)) {
      this.s.insertCert.run({
        id: parsed.id, pem: parsed.pem, status: cert.status, subject: parsed.subject, issuer_subject: parsed.issuer, issuer_id: cert.issuerId, trust: cert.trust ?? 'ca',
        serial_number: parsed.serialNumber, not_before: parsed.notBefore.getTime(), not_after: parsed.notAfter.getTime(), created_at: this.t, status_updated_at: this.t,
      });
      this.record('CERT_REGISTERED', cert.id, null, cert.status);
      this.mark('certificate', cert.id);
      this.added.push({ kind: 'certificate', name: cert.id, detail: cert.trust === 'registration' ? `${cert.status}, trusted by its registration (issuer not trusted here)` : cert.status });
    } else if (row!.status !== cert.status) {
      if (row!.status === 'REVOKED') {
        throw new RegistryError('CERT_REVOKED', `certificate ${cert.id} was revoked here and is ${cert.status} in the cloud; revocation is permanent, so it stays revoked`);
      }
      this.s.setCertStatus.run(cert.status, this.t, cert.id);
      this.record('CERT_STATUS_CHANGED', cert.id, null, cert.status);
      this.noteChange(item, `status ${row!.status} -> ${cert.status}`);
    }
    this.policyAttachments({ kind: 'certificate', id: cert.id }, cert.policies, item);
  }

  // ------------------------------------------------------------- things

  private thing(thing: SyncThing): void {
    assertThingName(thing.name);
    assertAttributes(thing.attributes);
    if (thing.thingTypeName !== null) assertThingTypeName(thing.thingTypeName);
    const exists = this.s.thingExists.get(thing.name) !== undefined;
    const item: SyncItem = { kind: 'thing', name: thing.name };
    if (thing.thingTypeName !== null && !(this.s.getType.get(thing.thingTypeName) !== undefined)) {
      throw new Refused('SYNC_DEPENDENCY_REFUSED', `its thing type ${shown(thing.thingTypeName)} is not in the registry (refused)`);
    }
    if (!this.owned('thing', thing.name, exists, `thing ${shown(thing.name)}`)) {
      this.s.insertThing.run(thing.name, this.t);
      for (const [k, v] of Object.entries(thing.attributes)) this.s.insertAttr.run(thing.name, k, v);
      if (thing.thingTypeName !== null) this.s.setThingType.run(thing.name, thing.thingTypeName);
      this.record('THING_CREATED', thing.name);
      this.mark('thing', thing.name);
      this.added.push(item);
    } else {
      const attrs = Object.fromEntries((this.s.attributesOf.all(thing.name) as { key: string; value: string }[]).map((r) => [r.key, r.value]));
      const type = (this.s.thingTypeOf.get(thing.name) as string | undefined) ?? null;
      let changed = false;
      for (const [k, v] of Object.entries(thing.attributes)) {
        if (attrs[k] === v) continue;
        this.s.upsertAttr.run(thing.name, k, v);
        changed = true;
      }
      for (const k of Object.keys(attrs)) {
        if (Object.hasOwn(thing.attributes, k)) continue;
        this.s.deleteAttr.run(thing.name, k);
        changed = true;
      }
      if (type !== thing.thingTypeName) {
        if (thing.thingTypeName === null) this.s.clearThingType.run(thing.name);
        else this.s.setThingType.run(thing.name, thing.thingTypeName);
        changed = true;
      }
      if (changed) {
        this.s.bumpThingVersion.run(thing.name);
        this.record('THING_UPDATED', thing.name);
        this.noteChange(item, 'type or attributes');
      }
    }
    this.thingCertificates(thing, item);
    this.thingGroups(thing, item);
  }

  private thingCertificates(thing: SyncThing, item: SyncItem): void {
    const current = new Set(this.s.certsForThing.all(thing.name) as string[]);
    const want = new Set(thing.certificates.filter((id) => this.s.getCert.get(id) !== undefined && this.isSynced('certificate', id)));
    const notes: string[] = [];
    for (const id of want) {
      if (current.has(id)) continue;
      this.s.attach.run(thing.name, id, this.t);
      this.record('CERT_ATTACHED', thing.name, id);
      notes.push(`+certificate ${id.slice(0, 12)}`);
    }
    for (const id of current) {
      if (want.has(id)) continue;
      this.s.detach.run(thing.name, id);
      this.record('CERT_DETACHED', thing.name, id);
      notes.push(`-certificate ${id.slice(0, 12)}`);
    }
    if (notes.length > 0) this.noteChange(item, notes.join(', '));
  }

  private thingGroups(thing: SyncThing, item: SyncItem): void {
    const current = new Set(this.s.groupsForThing.all(thing.name) as string[]);
    const want = new Set<string>();
    const missing: string[] = [];
    for (const g of thing.groups) {
      if (this.s.getGroup.get(g) !== undefined && this.isSynced('thing_group', g)) want.add(g);
      else missing.push(g);
    }
    if (missing.length > 0) {
      this.refuse('thing', thing.name, 'SYNC_DEPENDENCY_REFUSED', `a member of ${missing.map(shown).join(', ')} in the cloud, not synced here (refused, out of scope, or a local group of the same name): not a member here`);
    }
    const notes: string[] = [];
    for (const g of current) {
      if (want.has(g)) continue;
      this.s.removeMember.run(thing.name, g);
      this.record('THING_GROUP_CHANGED', g, thing.name, 'THING_REMOVED');
      notes.push(`-group ${g}`);
    }
    const kept = [...current].filter((g) => want.has(g));
    for (const g of want) {
      if (current.has(g)) continue;
      // The registry's membership rules (AWS IoT's): at most ten groups, one per hierarchy.
      if (kept.length >= this.ctx.groupsPerThing) {
        throw new RegistryError('THING_GROUP_LIMIT', `thing ${shown(thing.name)} would be in more than ${this.ctx.groupsPerThing} groups`);
      }
      const root = this.rootOf(g);
      const clash = kept.find((k) => this.rootOf(k) === root);
      if (clash !== undefined) {
        throw new RegistryError('THING_GROUP_HIERARCHY_CONFLICT', `thing ${shown(thing.name)} would be in ${shown(clash)} and ${shown(g)}, two groups of the hierarchy of ${shown(root)}`);
      }
      this.s.addMember.run(thing.name, g, this.t);
      this.record('THING_GROUP_CHANGED', g, thing.name, 'THING_ADDED');
      kept.push(g);
      notes.push(`+group ${g}`);
    }
    if (notes.length > 0) this.noteChange(item, notes.join(', '));
  }

  private rootOf(name: string): string {
    let current = name;
    for (;;) {
      const row = this.s.getGroup.get(current) as { parent: string | null } | undefined;
      if (row?.parent == null) return current;
      current = row.parent;
    }
  }

  // ----------------------------------------------------------- removal

  /** Removes synced objects the cloud no longer has: dependants first, each in its own savepoint. */
  private prune(keep: Partial<Record<SyncKind, ReadonlySet<string>>>): void {
    const gone = (kind: SyncKind): string[] => {
      const set = keep[kind];
      return set === undefined ? [] : (this.s.marksOfKind.all(kind) as string[]).filter((n) => !set.has(n));
    };
    for (const name of gone('thing')) this.each('thing', name, () => this.removeThing(name));
    for (const id of gone('certificate')) this.each('certificate', id, () => this.removeCertificate(id));
    // Children before parents.
    const groups = gone('thing_group').sort((a, b) => this.depth(b) - this.depth(a));
    for (const name of groups) this.each('thing_group', name, () => this.removeGroup(name));
    for (const name of gone('policy')) this.each('policy', name, () => this.removePolicy(name));
    for (const name of gone('thing_type')) this.each('thing_type', name, () => this.removeType(name));
    for (const id of gone('ca')) this.each('ca', id, () => this.removeCa(id));
  }

  private depth(group: string): number {
    let d = 0;
    for (let g: string | null = group; g !== null; d++) g = (this.s.getGroup.get(g) as { parent: string | null } | undefined)?.parent ?? null;
    return d;
  }

  private removeThing(name: string): void {
    for (const g of this.s.groupsForThing.all(name) as string[]) this.record('THING_GROUP_CHANGED', g, name, 'THING_REMOVED');
    this.s.deleteThing.run(name);
    this.record('THING_DELETED', name);
    this.removed.push({ kind: 'thing', name });
  }

  private removeCertificate(id: string): void {
    for (const p of this.s.policiesForCert.all(id) as string[]) this.record('POLICY_ATTACHMENT_CHANGED', p, `certificate:${id}`, 'DETACHED');
    this.s.deleteCert.run(id);
    this.record('CERT_DELETED', id);
    this.removed.push({ kind: 'certificate', name: id });
  }

  private removeGroup(name: string): void {
    const child = this.s.firstChildGroup.get(name) as string | undefined;
    if (child !== undefined) {
      throw new RegistryError('THING_GROUP_HAS_CHILDREN', `thing group ${shown(name)} is gone from the cloud but has a local child group ${shown(child)}: kept`);
    }
    for (const p of this.s.policiesForGroup.all(name) as string[]) {
      this.s.detachPolicyFromGroup.run(name, p);
      this.record('POLICY_ATTACHMENT_CHANGED', p, `thingGroup:${name}`, 'DETACHED');
    }
    this.s.deleteGroup.run(name);
    this.record('THING_GROUP_CHANGED', name, null, 'DELETED');
    this.removed.push({ kind: 'thing_group', name });
  }

  private removePolicy(name: string): void {
    for (const id of this.s.certsForPolicy.all(name) as string[]) {
      this.s.detachPolicyFromCert.run(id, name);
      this.record('POLICY_ATTACHMENT_CHANGED', name, `certificate:${id}`, 'DETACHED');
    }
    for (const g of this.s.groupsForPolicy.all(name) as string[]) {
      this.s.detachPolicyFromGroup.run(g, name);
      this.record('POLICY_ATTACHMENT_CHANGED', name, `thingGroup:${g}`, 'DETACHED');
    }
    const row = this.s.getPolicy.get(name) as { default_version: number };
    this.s.deletePolicy.run(name);
    this.record('POLICY_CHANGED', name, String(row.default_version), 'DELETED');
    this.removed.push({ kind: 'policy', name });
  }

  private removeType(name: string): void {
    const user = this.s.firstThingOfType.get(name) as string | undefined;
    if (user !== undefined) throw new RegistryError('THING_TYPE_IN_USE', `thing type ${shown(name)} is gone from the cloud but is the type of local thing ${shown(user)}: kept`);
    this.s.deleteType.run(name);
    this.record('THING_TYPE_CHANGED', name, null, 'DELETED');
    this.removed.push({ kind: 'thing_type', name });
  }

  private removeCa(id: string): void {
    this.s.deleteCa.run(id);
    this.record('CA_UNTRUSTED', id);
    this.removed.push({ kind: 'ca', name: id });
  }
}

function parseOne(pem: string, what: string): ParsedCertificate {
  const parsed = parseCertificatePem(pem);
  if (!parsed.ok) throw new RegistryError('CERT_MALFORMED', `the ${what} from the cloud is not usable: ${parsed.message}`);
  return parsed.certificates[0];
}

/** The registry's policy-document check (createPolicy's): the IoT grammar, every problem listed. */
function checkDocument(document: string): void {
  const { problems } = parseIotPolicyDocument(document);
  if (problems.length > 0) {
    throw new RegistryError('POLICY_DOCUMENT_INVALID', `the policy document has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => `${p.code} at ${p.path}: ${p.message}`).join('; ')}`,
      problems[0]!.fix, problems);
  }
}

function prepare(db: Database.Database) {
  const p = (sql: string): Database.Statement => db.prepare(sql);
  return {
    isMarked: p('SELECT 1 FROM sync_objects WHERE kind = ? AND name = ?'),
    mark: p("INSERT INTO sync_objects (kind, name, source, synced_at) VALUES (?, ?, 'aws', ?) ON CONFLICT (kind, name) DO NOTHING"),
    marksOfKind: p('SELECT name FROM sync_objects WHERE kind = ? ORDER BY name').pluck(),
    getCa: p('SELECT 1 FROM trusted_cas WHERE id = ?'),
    insertCa: p('INSERT INTO trusted_cas (id, pem, subject, not_before, not_after, added_at, source) VALUES (@id, @pem, @subject, @not_before, @not_after, @added_at, @source)'),
    deleteCa: p('DELETE FROM trusted_cas WHERE id = ?'),
    getType: p('SELECT deprecated_at FROM thing_type_defs WHERE name = ?'),
    insertType: p('INSERT INTO thing_type_defs (name, description, searchable_attributes, deprecated_at, created_at) VALUES (?, ?, ?, ?, ?)'),
    setTypeDeprecated: p('UPDATE thing_type_defs SET deprecated_at = ? WHERE name = ?'),
    deleteType: p('DELETE FROM thing_type_defs WHERE name = ?'),
    firstThingOfType: p('SELECT thing_name FROM thing_types WHERE type_name = ? ORDER BY thing_name LIMIT 1').pluck(),
    getPolicy: p(`SELECT p.default_version, p.next_version, v.document FROM iot_policies p
                  JOIN iot_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version WHERE p.name = ?`),
    policyVersionIds: p('SELECT version FROM iot_policy_versions WHERE policy_name = ? ORDER BY version').pluck(),
    insertPolicy: p('INSERT INTO iot_policies (name, default_version, next_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)'),
    insertPolicyVersion: p('INSERT INTO iot_policy_versions (policy_name, version, document, created_at) VALUES (?, ?, ?, ?)'),
    setPolicyVersions: p('UPDATE iot_policies SET default_version = ?, next_version = ?, updated_at = ? WHERE name = ?'),
    deletePolicyVersion: p('DELETE FROM iot_policy_versions WHERE policy_name = ? AND version = ?'),
    deletePolicy: p('DELETE FROM iot_policies WHERE name = ?'),
    policiesForCert: p('SELECT policy_name FROM iot_policy_certificate_attachments WHERE certificate_id = ? ORDER BY policy_name').pluck(),
    policiesForGroup: p('SELECT policy_name FROM iot_policy_group_attachments WHERE group_name = ? ORDER BY policy_name').pluck(),
    certsForPolicy: p('SELECT certificate_id FROM iot_policy_certificate_attachments WHERE policy_name = ? ORDER BY certificate_id').pluck(),
    groupsForPolicy: p('SELECT group_name FROM iot_policy_group_attachments WHERE policy_name = ? ORDER BY group_name').pluck(),
    attachPolicyToCert: p('INSERT OR IGNORE INTO iot_policy_certificate_attachments (certificate_id, policy_name, attached_at) VALUES (?, ?, ?)'),
    detachPolicyFromCert: p('DELETE FROM iot_policy_certificate_attachments WHERE certificate_id = ? AND policy_name = ?'),
    attachPolicyToGroup: p('INSERT OR IGNORE INTO iot_policy_group_attachments (group_name, policy_name, attached_at) VALUES (?, ?, ?)'),
    detachPolicyFromGroup: p('DELETE FROM iot_policy_group_attachments WHERE group_name = ? AND policy_name = ?'),
    getGroup: p('SELECT parent FROM thing_groups WHERE name = ?'),
    insertGroup: p('INSERT INTO thing_groups (name, parent, description, created_at) VALUES (?, ?, ?, ?)'),
    deleteGroup: p('DELETE FROM thing_groups WHERE name = ?'),
    firstChildGroup: p('SELECT name FROM thing_groups WHERE parent = ? ORDER BY name LIMIT 1').pluck(),
    getCert: p('SELECT status FROM certificates WHERE id = ?'),
    insertCert: p(`INSERT INTO certificates (id, pem, status, subject, issuer_subject, issuer_id, trust, serial_number, not_before, not_after, created_at, status_updated_at)
                   VALUES (@id, @pem, @status, @subject, @issuer_subject, @issuer_id, @trust, @serial_number, @not_before, @not_after, @created_at, @status_updated_at)`),
    setCertStatus: p('UPDATE certificates SET status = ?, status_updated_at = ? WHERE id = ?'),
    deleteCert: p('DELETE FROM certificates WHERE id = ?'),
    thingExists: p('SELECT 1 FROM things WHERE name = ?'),
    insertThing: p('INSERT INTO things (name, created_at) VALUES (?, ?)'),
    insertAttr: p('INSERT INTO thing_attributes (thing_name, key, value) VALUES (?, ?, ?)'),
    attributesOf: p('SELECT key, value FROM thing_attributes WHERE thing_name = ?'),
    upsertAttr: p('INSERT INTO thing_attributes (thing_name, key, value) VALUES (?, ?, ?) ON CONFLICT (thing_name, key) DO UPDATE SET value = excluded.value'),
    deleteAttr: p('DELETE FROM thing_attributes WHERE thing_name = ? AND key = ?'),
    thingTypeOf: p('SELECT type_name FROM thing_types WHERE thing_name = ?').pluck(),
    setThingType: p('INSERT INTO thing_types (thing_name, type_name) VALUES (?, ?) ON CONFLICT (thing_name) DO UPDATE SET type_name = excluded.type_name'),
    clearThingType: p('DELETE FROM thing_types WHERE thing_name = ?'),
    bumpThingVersion: p('UPDATE things SET version = version + 1 WHERE name = ?'),
    deleteThing: p('DELETE FROM things WHERE name = ?'),
    certsForThing: p('SELECT certificate_id FROM attachments WHERE thing_name = ? ORDER BY certificate_id').pluck(),
    attach: p('INSERT OR IGNORE INTO attachments (thing_name, certificate_id, attached_at) VALUES (?, ?, ?)'),
    detach: p('DELETE FROM attachments WHERE thing_name = ? AND certificate_id = ?'),
    groupsForThing: p('SELECT group_name FROM thing_group_members WHERE thing_name = ? ORDER BY group_name').pluck(),
    addMember: p('INSERT INTO thing_group_members (thing_name, group_name, added_at) VALUES (?, ?, ?)'),
    removeMember: p('DELETE FROM thing_group_members WHERE thing_name = ? AND group_name = ?'),
  };
}
