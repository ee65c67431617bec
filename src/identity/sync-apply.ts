/**
 * Writing what a sync read from AWS IoT Core into the registry: the reconciliation of one
 * batch (a page of things, the thing groups, the policies, …) against the local records,
 * inside the one transaction the registry's `applySync` opens (SQLite or PostgreSQL).
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
 *   registry mutation does, so sessions, the IoT policy set and watchers follow it (on
 *   PostgreSQL, the sessions of every node sharing the registry).
 *
 * One body of rules serves both backends, as the jobs logic does (job-store.ts): the
 * applier is a generator that yields each SQL statement (written in the dialect both
 * engines accept, `?` placeholders), each change-feed entry and each savepoint, and
 * receives the answers. SQLite answers at once inside its IMMEDIATE transaction
 * (`driveSqlite`, savepoints as nested better-sqlite3 transactions); PostgreSQL awaits
 * each answer on the transaction's connection (`driveAsync`, pg-registry.ts).
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
import { resume, START, type Resume, type Step } from './steps.js';

/** What a sync manages, as marked in `sync_objects` (SQLite step 6, PostgreSQL step 7). */
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

/** The registry's limits the applier checks (the registry's own constants). */
export interface SyncRules {
  /** The time written on new rows and marks. */
  readonly now: Date;
  readonly groupsPerThing: number;
  readonly policyVersionLimit: number;
}

// ------------------------------------------------------------ the transaction's steps

/** How a statement's result is wanted: nothing, whether a row came, the first row, every row, the first column of every row, or of the first row. */
export type SyncShape = 'run' | 'exists' | 'row' | 'rows' | 'column' | 'value';

/** One SQL statement of the applier: SQL both engines accept, `?` placeholders. */
export interface SyncSql { readonly op: 'sql'; readonly shape: SyncShape; readonly sql: string; readonly args: readonly unknown[] }
/** One change-feed entry, recorded in the transaction. */
export interface SyncRecord { readonly op: 'record'; readonly kind: ChangeKind; readonly entity: string; readonly related: string | null; readonly detail: string | null }
/** Opens a savepoint, or closes the newest one keeping (`release`) or undoing (`rollback`) its writes. */
export type SyncSavepoint = { readonly op: 'savepoint' } | { readonly op: 'release' } | { readonly op: 'rollback' };
export type SyncOp = SyncSql | SyncRecord | SyncSavepoint;

/** A piece of the applier: yields operations, receives their answers (a query's failure thrown into it), returns `T`. */
export type SyncStep<T> = Step<SyncOp, T>;

function* sql(shape: SyncShape, text: string, args: readonly unknown[]): SyncStep<unknown> {
  return yield { op: 'sql', shape, sql: text, args };
}
function* run(text: string, ...args: unknown[]): SyncStep<void> {
  yield* sql('run', text, args);
}
function* exists(text: string, ...args: unknown[]): SyncStep<boolean> {
  return (yield* sql('exists', text, args)) as boolean;
}
function* row<T>(text: string, ...args: unknown[]): SyncStep<T | undefined> {
  return (yield* sql('row', text, args)) as T | undefined;
}
function* rows<T>(text: string, ...args: unknown[]): SyncStep<T[]> {
  return (yield* sql('rows', text, args)) as T[];
}
function* column<T = string>(text: string, ...args: unknown[]): SyncStep<T[]> {
  return (yield* sql('column', text, args)) as T[];
}
function* value<T = string>(text: string, ...args: unknown[]): SyncStep<T | undefined> {
  return (yield* sql('value', text, args)) as T | undefined;
}

const ROLLED_BACK = new Error('savepoint rolled back');

/**
 * Runs a step to its end on SQLite, answering each SQL statement and change-feed entry
 * at once with `answer`; a savepoint is a nested better-sqlite3 transaction. Must run
 * inside the caller's transaction.
 */
export function driveSqlite<T>(db: Database.Database, step: SyncStep<T>, answer: (op: SyncSql | SyncRecord) => unknown): T {
  let next: Resume = START;
  const advance = (): IteratorResult<SyncOp, T> => resume(step, next);
  /** Runs until the step returns (outside a savepoint) or closes the savepoint it is in. */
  const loop = (inSavepoint: boolean): T | 'release' | 'rollback' => {
    for (;;) {
      const r = advance();
      if (r.done === true) {
        if (inSavepoint) throw new Error('a sync step returned with a savepoint open');
        return r.value;
      }
      const op = r.value;
      if (op.op === 'savepoint') {
        try {
          db.transaction(() => {
            if (loop(true) === 'rollback') throw ROLLED_BACK;
          })();
        } catch (e) {
          if (e !== ROLLED_BACK) throw e;
        }
        next = START;
      } else if (op.op === 'release' || op.op === 'rollback') {
        if (!inSavepoint) throw new Error(`a sync step closed a savepoint it had not opened (${op.op})`);
        return op.op;
      } else {
        try {
          next = { threw: false, value: answer(op) };
        } catch (e) {
          next = { threw: true, error: e };
        }
      }
    }
  };
  return loop(false) as T;
}

/** The SQLite answer to one operation: statements prepared once per connection and shape. */
export function sqliteSyncAnswer(db: Database.Database, record: (kind: ChangeKind, entity: string, related: string | null, detail: string | null) => void): (op: SyncSql | SyncRecord) => unknown {
  let cache = prepared.get(db);
  if (cache === undefined) prepared.set(db, (cache = { plain: new Map<string, Database.Statement>(), plucked: new Map<string, Database.Statement>() }));
  const { plain, plucked } = cache;
  return (op) => {
    if (op.op === 'record') return record(op.kind, op.entity, op.related, op.detail);
    const pluck = op.shape === 'column' || op.shape === 'value';
    const statements = pluck ? plucked : plain;
    let st = statements.get(op.sql);
    if (st === undefined) {
      st = db.prepare(op.sql);
      if (pluck) st.pluck();
      statements.set(op.sql, st);
    }
    switch (op.shape) {
      case 'run': return void st.run(...op.args);
      case 'exists': return st.get(...op.args) !== undefined;
      case 'row': case 'value': return st.get(...op.args);
      case 'rows': case 'column': return st.all(...op.args);
    }
  };
}

/** Per connection: statements answered as rows, and those answered by their first column. */
const prepared = new WeakMap<Database.Database, { readonly plain: Map<string, Database.Statement>; readonly plucked: Map<string, Database.Statement> }>();

/** `?` placeholders as PostgreSQL's `$1`, `$2`, … (the applier's SQL has no `?` elsewhere). */
export function numberedPlaceholders(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** Merges the outcomes of a call's batches. */
export function mergeOutcomes(parts: readonly SyncOutcome[]): SyncOutcome {
  return {
    added: parts.flatMap((o) => o.added), changed: parts.flatMap((o) => o.changed), removed: parts.flatMap((o) => o.removed),
    refused: parts.flatMap((o) => o.refused), changes: parts.reduce((n, o) => n + o.changes, 0),
  };
}

class Refused extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Applies the batch: a step to run inside the registry's write transaction. Throws only for a failing database. */
export function applySyncBatch(rules: SyncRules, batch: SyncBatch): SyncStep<SyncOutcome> {
  return new Applier(rules).run(batch);
}

/** The statement listing the synced objects of a kind (names or ids), sorted: `?` is the kind. */
export const SYNCED_NAMES_SQL = 'SELECT name FROM sync_objects WHERE kind = ? ORDER BY name';

class Applier {
  private readonly added: SyncItem[] = [];
  private readonly changed: SyncItem[] = [];
  private readonly removed: SyncItem[] = [];
  private readonly refused: SyncRefusal[] = [];
  private changes = 0;
  private readonly t: number;

  constructor(private readonly rules: SyncRules) {
    this.t = rules.now.getTime();
  }

  *run(batch: SyncBatch): SyncStep<SyncOutcome> {
    for (const ca of batch.cas ?? []) yield* this.each('ca', ca.id, () => this.ca(ca));
    for (const type of batch.thingTypes ?? []) yield* this.each('thing_type', type.name, () => this.thingType(type));
    for (const policy of batch.policies ?? []) yield* this.each('policy', policy.name, () => this.policy(policy));
    for (const group of batch.thingGroups ?? []) yield* this.each('thing_group', group.name, () => this.group(group));
    for (const cert of batch.certificates ?? []) yield* this.each('certificate', cert.id, () => this.certificate(cert));
    for (const thing of batch.things ?? []) yield* this.each('thing', thing.name, () => this.thing(thing));
    if (batch.keep !== undefined) yield* this.prune(batch.keep);
    return { added: this.added, changed: this.changed, removed: this.removed, refused: this.refused, changes: this.changes };
  }

  // ------------------------------------------------------------ helpers

  /** Runs one object's writes in a savepoint: refused, it leaves nothing behind. */
  private *each(kind: SyncKind, name: string, fn: () => SyncStep<void>): SyncStep<void> {
    const before = { added: this.added.length, changed: this.changed.length, removed: this.removed.length, changes: this.changes };
    yield { op: 'savepoint' };
    try {
      yield* fn();
    } catch (e) {
      const code = e instanceof Refused ? e.code
        : e instanceof RegistryError && e.code !== 'REGISTRY_BUSY' && e.code !== 'REGISTRY_CLOSED' ? e.code : undefined;
      // A failing database fails the whole transaction: nothing more is asked of it.
      if (code === undefined) throw e;
      yield { op: 'rollback' };
      // The savepoint is rolled back: forget what it reported.
      this.added.length = before.added;
      this.changed.length = before.changed;
      this.removed.length = before.removed;
      this.changes = before.changes;
      this.refuse(kind, name, code, (e as Error).message);
      return;
    }
    yield { op: 'release' };
  }

  private refuse(kind: SyncKind, name: string, code: string, reason: string): void {
    this.refused.push(Object.freeze({ kind, name, code, reason }));
  }

  private *record(kind: ChangeKind, entity: string, related: string | null = null, detail: string | null = null): SyncStep<void> {
    yield { op: 'record', kind, entity, related, detail };
    this.changes++;
  }

  private isSynced(kind: SyncKind, name: string): SyncStep<boolean> {
    return exists('SELECT 1 FROM sync_objects WHERE kind = ? AND name = ?', kind, name);
  }

  private mark(kind: SyncKind, name: string): SyncStep<void> {
    return run("INSERT INTO sync_objects (kind, name, source, synced_at) VALUES (?, ?, 'aws', ?) ON CONFLICT (kind, name) DO NOTHING", kind, name, this.t);
  }

  /** False when the object does not exist; throws SYNC_LOCAL_OBJECT when it exists and is not synced. */
  private *owned(kind: SyncKind, name: string, present: boolean, what: string): SyncStep<boolean> {
    if (!present) return false;
    if (!(yield* this.isSynced(kind, name))) {
      throw new Refused('SYNC_LOCAL_OBJECT', `${what} exists in the registry and was created locally, not by a sync: it is left as it is`);
    }
    return true;
  }

  private group$(name: string): SyncStep<{ parent: string | null } | undefined> {
    return row<{ parent: string | null }>('SELECT parent FROM thing_groups WHERE name = ?', name);
  }

  private policy$(name: string): SyncStep<{ default_version: number; next_version: number; document: string } | undefined> {
    return row(`SELECT p.default_version, p.next_version, v.document FROM iot_policies p
                JOIN iot_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version WHERE p.name = ?`, name);
  }

  // --------------------------------------------------------------- CAs

  private *ca(ca: SyncCa): SyncStep<void> {
    const parsed = parseOne(ca.pem, 'CA certificate');
    if (parsed.id !== ca.id) throw new Refused('CERT_MALFORMED', `the CA certificate's PEM has id ${parsed.id}, not ${ca.id}`);
    if (!parsed.isCa) throw new RegistryError('CA_NOT_A_CA', `certificate ${ca.id} (${parsed.subject}) is not a CA certificate (basicConstraints cA is not set)`);
    // Trusted already (by the operator, the gateway or an earlier sync): nothing to do.
    if (yield* exists('SELECT 1 FROM trusted_cas WHERE id = ?', ca.id)) return;
    yield* run('INSERT INTO trusted_cas (id, pem, subject, not_before, not_after, added_at, source) VALUES (?, ?, ?, ?, ?, ?, ?)',
      parsed.id, parsed.pem, parsed.subject, parsed.notBefore.getTime(), parsed.notAfter.getTime(), this.t, 'operator');
    yield* this.record('CA_TRUSTED', ca.id, null, 'operator');
    yield* this.mark('ca', ca.id);
    this.added.push({ kind: 'ca', name: ca.id, detail: parsed.subject });
  }

  // ------------------------------------------------------- thing types

  private *thingType(type: SyncThingType): SyncStep<void> {
    assertThingTypeName(type.name);
    assertThingTypeProperties(type.description ?? undefined, type.searchableAttributes);
    const found = yield* row<{ deprecated_at: number | null }>('SELECT deprecated_at FROM thing_type_defs WHERE name = ?', type.name);
    if (!(yield* this.owned('thing_type', type.name, found !== undefined, `thing type ${shown(type.name)}`))) {
      yield* run('INSERT INTO thing_type_defs (name, description, searchable_attributes, deprecated_at, created_at) VALUES (?, ?, ?, ?, ?)',
        type.name, type.description, JSON.stringify(type.searchableAttributes), type.deprecated ? this.t : null, this.t);
      yield* this.record('THING_TYPE_CHANGED', type.name, null, 'CREATED');
      if (type.deprecated) yield* this.record('THING_TYPE_CHANGED', type.name, null, 'DEPRECATED');
      yield* this.mark('thing_type', type.name);
      this.added.push({ kind: 'thing_type', name: type.name });
      return;
    }
    // A type's description and searchable attributes never change (in AWS IoT either); deprecation does.
    if ((found!.deprecated_at !== null) !== type.deprecated) {
      yield* run('UPDATE thing_type_defs SET deprecated_at = ? WHERE name = ?', type.deprecated ? this.t : null, type.name);
      yield* this.record('THING_TYPE_CHANGED', type.name, null, type.deprecated ? 'DEPRECATED' : 'UNDEPRECATED');
      this.changed.push({ kind: 'thing_type', name: type.name, detail: type.deprecated ? 'deprecated' : 'undeprecated' });
    }
  }

  // ---------------------------------------------------------- policies

  private *policy(policy: SyncPolicy): SyncStep<void> {
    assertPolicyName(policy.name);
    checkDocument(policy.document);
    const found = yield* this.policy$(policy.name);
    if (!(yield* this.owned('policy', policy.name, found !== undefined, `policy ${shown(policy.name)}`))) {
      yield* run('INSERT INTO iot_policies (name, default_version, next_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)', policy.name, 1, 2, this.t, this.t);
      yield* run('INSERT INTO iot_policy_versions (policy_name, version, document, created_at) VALUES (?, ?, ?, ?)', policy.name, 1, policy.document, this.t);
      yield* this.record('POLICY_CHANGED', policy.name, '1', 'CREATED');
      yield* this.mark('policy', policy.name);
      this.added.push({ kind: 'policy', name: policy.name });
      return;
    }
    if (found!.document === policy.document) return;
    // The cloud's default document becomes a new default version; the oldest other
    // version goes when the policy has the most versions AWS IoT allows.
    const versions = yield* column<number>('SELECT version FROM iot_policy_versions WHERE policy_name = ? ORDER BY version', policy.name);
    if (versions.length >= this.rules.policyVersionLimit) {
      const oldest = versions.find((v) => v !== found!.default_version)!;
      yield* run('DELETE FROM iot_policy_versions WHERE policy_name = ? AND version = ?', policy.name, oldest);
      yield* this.record('POLICY_CHANGED', policy.name, String(oldest), 'VERSION_DELETED');
    }
    const version = found!.next_version;
    yield* run('INSERT INTO iot_policy_versions (policy_name, version, document, created_at) VALUES (?, ?, ?, ?)', policy.name, version, policy.document, this.t);
    yield* run('UPDATE iot_policies SET default_version = ?, next_version = ?, updated_at = ? WHERE name = ?', version, version + 1, this.t, policy.name);
    yield* this.record('POLICY_CHANGED', policy.name, String(version), 'VERSION_CREATED');
    yield* this.record('POLICY_CHANGED', policy.name, String(version), 'DEFAULT_VERSION_SET');
    this.changed.push({ kind: 'policy', name: policy.name, detail: `document changed (version ${version})` });
  }

  /** Attaches and detaches so that the target has exactly the synced policies of `wanted`. */
  private *policyAttachments(target: { kind: 'certificate'; id: string } | { kind: 'thingGroup'; name: string }, wanted: readonly string[], label: SyncItem): SyncStep<void> {
    const key = target.kind === 'certificate' ? `certificate:${target.id}` : `thingGroup:${target.name}`;
    const targetName = target.kind === 'certificate' ? target.id : target.name;
    const current = new Set(target.kind === 'certificate'
      ? yield* column('SELECT policy_name FROM iot_policy_certificate_attachments WHERE certificate_id = ? ORDER BY policy_name', targetName)
      : yield* column('SELECT policy_name FROM iot_policy_group_attachments WHERE group_name = ? ORDER BY policy_name', targetName));
    const want = new Set<string>();
    const missing: string[] = [];
    for (const name of wanted) {
      if ((yield* this.policy$(name)) !== undefined && (yield* this.isSynced('policy', name))) want.add(name);
      else missing.push(name);
    }
    if (missing.length > 0) {
      this.refuse(label.kind, label.name, 'SYNC_DEPENDENCY_REFUSED', `attached in the cloud to ${missing.map(shown).join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not synced (refused, or a local policy of the same name): not attached here`);
    }
    const attached: string[] = [];
    const detached: string[] = [];
    for (const name of want) {
      if (current.has(name)) continue;
      if (target.kind === 'certificate') yield* run('INSERT INTO iot_policy_certificate_attachments (certificate_id, policy_name, attached_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', targetName, name, this.t);
      else yield* run('INSERT INTO iot_policy_group_attachments (group_name, policy_name, attached_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', targetName, name, this.t);
      yield* this.record('POLICY_ATTACHMENT_CHANGED', name, key, 'ATTACHED');
      attached.push(name);
    }
    for (const name of current) {
      if (want.has(name)) continue;
      if (target.kind === 'certificate') yield* this.detachPolicyFromCert(targetName, name);
      else yield* this.detachPolicyFromGroup(targetName, name);
      yield* this.record('POLICY_ATTACHMENT_CHANGED', name, key, 'DETACHED');
      detached.push(name);
    }
    if (attached.length + detached.length > 0) this.noteChange(label, [...attached.map((n) => `+policy ${n}`), ...detached.map((n) => `-policy ${n}`)].join(', '));
  }

  private detachPolicyFromCert(id: string, policy: string): SyncStep<void> {
    return run('DELETE FROM iot_policy_certificate_attachments WHERE certificate_id = ? AND policy_name = ?', id, policy);
  }

  private detachPolicyFromGroup(group: string, policy: string): SyncStep<void> {
    return run('DELETE FROM iot_policy_group_attachments WHERE group_name = ? AND policy_name = ?', group, policy);
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

  private *group(group: SyncThingGroup): SyncStep<void> {
    assertThingGroupName(group.name);
    if (group.parent !== null) assertThingGroupName(group.parent);
    if (group.description !== null) assertThingGroupDescription(group.description);
    const found = yield* this.group$(group.name);
    const item: SyncItem = { kind: 'thing_group', name: group.name };
    if (!(yield* this.owned('thing_group', group.name, found !== undefined, `thing group ${shown(group.name)}`))) {
      if (group.parent !== null && !((yield* this.group$(group.parent)) !== undefined && (yield* this.isSynced('thing_group', group.parent)))) {
        throw new Refused('SYNC_DEPENDENCY_REFUSED', `its parent group ${shown(group.parent)} is not synced (refused, or a local group of the same name)`);
      }
      yield* run('INSERT INTO thing_groups (name, parent, description, created_at) VALUES (?, ?, ?, ?)', group.name, group.parent, group.description, this.t);
      yield* this.record('THING_GROUP_CHANGED', group.name, null, 'CREATED');
      yield* this.mark('thing_group', group.name);
      this.added.push(item);
    } else if (found!.parent !== group.parent) {
      // Parents are fixed at creation, here as in AWS IoT: the cloud group was deleted and created again elsewhere.
      throw new Refused('SYNC_GROUP_MOVED', `the group's parent is ${shown(group.parent ?? '(none)')} in the cloud and ${shown(found!.parent ?? '(none)')} here; a group cannot move: delete it locally (\`gatehouse thing-groups delete\`) and sync again`);
    }
    yield* this.policyAttachments({ kind: 'thingGroup', name: group.name }, group.policies, item);
  }

  // ------------------------------------------------------ certificates

  private *certificate(cert: SyncCertificate): SyncStep<void> {
    const parsed = parseOne(cert.pem, 'certificate');
    if (parsed.id !== cert.id) throw new Refused('CERT_MALFORMED', `the certificate's PEM has id ${parsed.id}, not ${cert.id}`);
    const status = yield* value<CertificateStatus>('SELECT status FROM certificates WHERE id = ?', cert.id);
    const item: SyncItem = { kind: 'certificate', name: cert.id };
    if (!(yield* this.owned('certificate', cert.id, status !== undefined, `certificate ${cert.id}`))) {
      yield* run(`INSERT INTO certificates (id, pem, status, subject, issuer_subject, issuer_id, trust, serial_number, not_before, not_after, created_at, status_updated_at)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      parsed.id, parsed.pem, cert.status, parsed.subject, parsed.issuer, cert.issuerId, cert.trust ?? 'ca', parsed.serialNumber,
      parsed.notBefore.getTime(), parsed.notAfter.getTime(), this.t, this.t);
      yield* this.record('CERT_REGISTERED', cert.id, null, cert.status);
      yield* this.mark('certificate', cert.id);
      this.added.push({ kind: 'certificate', name: cert.id, detail: cert.trust === 'registration' ? `${cert.status}, trusted by its registration (issuer not trusted here)` : cert.status });
    } else if (status !== cert.status) {
      if (status === 'REVOKED') {
        throw new RegistryError('CERT_REVOKED', `certificate ${cert.id} was revoked here and is ${cert.status} in the cloud; revocation is permanent, so it stays revoked`);
      }
      yield* run('UPDATE certificates SET status = ?, status_updated_at = ? WHERE id = ?', cert.status, this.t, cert.id);
      yield* this.record('CERT_STATUS_CHANGED', cert.id, null, cert.status);
      this.noteChange(item, `status ${status} -> ${cert.status}`);
    }
    yield* this.policyAttachments({ kind: 'certificate', id: cert.id }, cert.policies, item);
  }

  // ------------------------------------------------------------- things

  private *thing(thing: SyncThing): SyncStep<void> {
    assertThingName(thing.name);
    assertAttributes(thing.attributes);
    if (thing.thingTypeName !== null) assertThingTypeName(thing.thingTypeName);
    const present = yield* exists('SELECT 1 FROM things WHERE name = ?', thing.name);
    const item: SyncItem = { kind: 'thing', name: thing.name };
    if (thing.thingTypeName !== null && !(yield* exists('SELECT 1 FROM thing_type_defs WHERE name = ?', thing.thingTypeName))) {
      throw new Refused('SYNC_DEPENDENCY_REFUSED', `its thing type ${shown(thing.thingTypeName)} is not in the registry (refused)`);
    }
    if (!(yield* this.owned('thing', thing.name, present, `thing ${shown(thing.name)}`))) {
      yield* run('INSERT INTO things (name, created_at) VALUES (?, ?)', thing.name, this.t);
      for (const [k, v] of Object.entries(thing.attributes)) yield* run('INSERT INTO thing_attributes (thing_name, key, value) VALUES (?, ?, ?)', thing.name, k, v);
      if (thing.thingTypeName !== null) yield* this.setThingType(thing.name, thing.thingTypeName);
      yield* this.record('THING_CREATED', thing.name);
      yield* this.mark('thing', thing.name);
      this.added.push(item);
    } else {
      const attrs = Object.fromEntries((yield* rows<{ key: string; value: string }>('SELECT key, value FROM thing_attributes WHERE thing_name = ?', thing.name)).map((r) => [r.key, r.value]));
      const type = (yield* value<string>('SELECT type_name FROM thing_types WHERE thing_name = ?', thing.name)) ?? null;
      let changed = false;
      for (const [k, v] of Object.entries(thing.attributes)) {
        if (attrs[k] === v) continue;
        yield* run('INSERT INTO thing_attributes (thing_name, key, value) VALUES (?, ?, ?) ON CONFLICT (thing_name, key) DO UPDATE SET value = excluded.value', thing.name, k, v);
        changed = true;
      }
      for (const k of Object.keys(attrs)) {
        if (Object.hasOwn(thing.attributes, k)) continue;
        yield* run('DELETE FROM thing_attributes WHERE thing_name = ? AND key = ?', thing.name, k);
        changed = true;
      }
      if (type !== thing.thingTypeName) {
        if (thing.thingTypeName === null) yield* run('DELETE FROM thing_types WHERE thing_name = ?', thing.name);
        else yield* this.setThingType(thing.name, thing.thingTypeName);
        changed = true;
      }
      if (changed) {
        yield* run('UPDATE things SET version = version + 1 WHERE name = ?', thing.name);
        yield* this.record('THING_UPDATED', thing.name);
        this.noteChange(item, 'type or attributes');
      }
    }
    yield* this.thingCertificates(thing, item);
    yield* this.thingGroups(thing, item);
  }

  private setThingType(thing: string, type: string): SyncStep<void> {
    return run('INSERT INTO thing_types (thing_name, type_name) VALUES (?, ?) ON CONFLICT (thing_name) DO UPDATE SET type_name = excluded.type_name', thing, type);
  }

  private groupsForThing(name: string): SyncStep<string[]> {
    return column('SELECT group_name FROM thing_group_members WHERE thing_name = ? ORDER BY group_name', name);
  }

  private *thingCertificates(thing: SyncThing, item: SyncItem): SyncStep<void> {
    const current = new Set(yield* column('SELECT certificate_id FROM attachments WHERE thing_name = ? ORDER BY certificate_id', thing.name));
    const want = new Set<string>();
    for (const id of thing.certificates) {
      if ((yield* exists('SELECT 1 FROM certificates WHERE id = ?', id)) && (yield* this.isSynced('certificate', id))) want.add(id);
    }
    const notes: string[] = [];
    for (const id of want) {
      if (current.has(id)) continue;
      yield* run('INSERT INTO attachments (thing_name, certificate_id, attached_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', thing.name, id, this.t);
      yield* this.record('CERT_ATTACHED', thing.name, id);
      notes.push(`+certificate ${id.slice(0, 12)}`);
    }
    for (const id of current) {
      if (want.has(id)) continue;
      yield* run('DELETE FROM attachments WHERE thing_name = ? AND certificate_id = ?', thing.name, id);
      yield* this.record('CERT_DETACHED', thing.name, id);
      notes.push(`-certificate ${id.slice(0, 12)}`);
    }
    if (notes.length > 0) this.noteChange(item, notes.join(', '));
  }

  private *thingGroups(thing: SyncThing, item: SyncItem): SyncStep<void> {
    const current = new Set(yield* this.groupsForThing(thing.name));
    const want = new Set<string>();
    const missing: string[] = [];
    for (const g of thing.groups) {
      if ((yield* this.group$(g)) !== undefined && (yield* this.isSynced('thing_group', g))) want.add(g);
      else missing.push(g);
    }
    if (missing.length > 0) {
      this.refuse('thing', thing.name, 'SYNC_DEPENDENCY_REFUSED', `a member of ${missing.map(shown).join(', ')} in the cloud, not synced here (refused, out of scope, or a local group of the same name): not a member here`);
    }
    const notes: string[] = [];
    for (const g of current) {
      if (want.has(g)) continue;
      yield* run('DELETE FROM thing_group_members WHERE thing_name = ? AND group_name = ?', thing.name, g);
      yield* this.record('THING_GROUP_CHANGED', g, thing.name, 'THING_REMOVED');
      notes.push(`-group ${g}`);
    }
    const kept = [...current].filter((g) => want.has(g));
    for (const g of want) {
      if (current.has(g)) continue;
      // The registry's membership rules (AWS IoT's): at most ten groups, one per hierarchy.
      if (kept.length >= this.rules.groupsPerThing) {
        throw new RegistryError('THING_GROUP_LIMIT', `thing ${shown(thing.name)} would be in more than ${this.rules.groupsPerThing} groups`);
      }
      const root = yield* this.rootOf(g);
      let clash: string | undefined;
      for (const k of kept) {
        if ((yield* this.rootOf(k)) === root) {
          clash = k;
          break;
        }
      }
      if (clash !== undefined) {
        throw new RegistryError('THING_GROUP_HIERARCHY_CONFLICT', `thing ${shown(thing.name)} would be in ${shown(clash)} and ${shown(g)}, two groups of the hierarchy of ${shown(root)}`);
      }
      yield* run('INSERT INTO thing_group_members (thing_name, group_name, added_at) VALUES (?, ?, ?)', thing.name, g, this.t);
      yield* this.record('THING_GROUP_CHANGED', g, thing.name, 'THING_ADDED');
      kept.push(g);
      notes.push(`+group ${g}`);
    }
    if (notes.length > 0) this.noteChange(item, notes.join(', '));
  }

  private *rootOf(name: string): SyncStep<string> {
    let current = name;
    for (;;) {
      const found = yield* this.group$(current);
      if (found?.parent == null) return current;
      current = found.parent;
    }
  }

  // ----------------------------------------------------------- removal

  /** Removes synced objects the cloud no longer has: dependants first, each in its own savepoint. */
  private *prune(keep: Partial<Record<SyncKind, ReadonlySet<string>>>): SyncStep<void> {
    const gone = function* (kind: SyncKind): SyncStep<string[]> {
      const set = keep[kind];
      return set === undefined ? [] : (yield* column(SYNCED_NAMES_SQL, kind)).filter((n) => !set.has(n));
    };
    for (const name of yield* gone('thing')) yield* this.each('thing', name, () => this.removeThing(name));
    for (const id of yield* gone('certificate')) yield* this.each('certificate', id, () => this.removeCertificate(id));
    // Children before parents.
    const groups: { name: string; depth: number }[] = [];
    for (const name of yield* gone('thing_group')) groups.push({ name, depth: yield* this.depth(name) });
    groups.sort((a, b) => b.depth - a.depth);
    for (const { name } of groups) yield* this.each('thing_group', name, () => this.removeGroup(name));
    for (const name of yield* gone('policy')) yield* this.each('policy', name, () => this.removePolicy(name));
    for (const name of yield* gone('thing_type')) yield* this.each('thing_type', name, () => this.removeType(name));
    for (const id of yield* gone('ca')) yield* this.each('ca', id, () => this.removeCa(id));
  }

  private *depth(group: string): SyncStep<number> {
    let d = 0;
    for (let g: string | null = group; g !== null; d++) g = (yield* this.group$(g))?.parent ?? null;
    return d;
  }

  private *removeThing(name: string): SyncStep<void> {
    for (const g of yield* this.groupsForThing(name)) yield* this.record('THING_GROUP_CHANGED', g, name, 'THING_REMOVED');
    yield* run('DELETE FROM things WHERE name = ?', name);
    yield* this.record('THING_DELETED', name);
    this.removed.push({ kind: 'thing', name });
  }

  private *removeCertificate(id: string): SyncStep<void> {
    for (const p of yield* column('SELECT policy_name FROM iot_policy_certificate_attachments WHERE certificate_id = ? ORDER BY policy_name', id)) {
      yield* this.record('POLICY_ATTACHMENT_CHANGED', p, `certificate:${id}`, 'DETACHED');
    }
    yield* run('DELETE FROM certificates WHERE id = ?', id);
    yield* this.record('CERT_DELETED', id);
    this.removed.push({ kind: 'certificate', name: id });
  }

  private *removeGroup(name: string): SyncStep<void> {
    const child = yield* value('SELECT name FROM thing_groups WHERE parent = ? ORDER BY name LIMIT 1', name);
    if (child !== undefined) {
      throw new RegistryError('THING_GROUP_HAS_CHILDREN', `thing group ${shown(name)} is gone from the cloud but has a local child group ${shown(child)}: kept`);
    }
    for (const p of yield* column('SELECT policy_name FROM iot_policy_group_attachments WHERE group_name = ? ORDER BY policy_name', name)) {
      yield* this.detachPolicyFromGroup(name, p);
      yield* this.record('POLICY_ATTACHMENT_CHANGED', p, `thingGroup:${name}`, 'DETACHED');
    }
    yield* run('DELETE FROM thing_groups WHERE name = ?', name);
    yield* this.record('THING_GROUP_CHANGED', name, null, 'DELETED');
    this.removed.push({ kind: 'thing_group', name });
  }

  private *removePolicy(name: string): SyncStep<void> {
    for (const id of yield* column('SELECT certificate_id FROM iot_policy_certificate_attachments WHERE policy_name = ? ORDER BY certificate_id', name)) {
      yield* this.detachPolicyFromCert(id, name);
      yield* this.record('POLICY_ATTACHMENT_CHANGED', name, `certificate:${id}`, 'DETACHED');
    }
    for (const g of yield* column('SELECT group_name FROM iot_policy_group_attachments WHERE policy_name = ? ORDER BY group_name', name)) {
      yield* this.detachPolicyFromGroup(g, name);
      yield* this.record('POLICY_ATTACHMENT_CHANGED', name, `thingGroup:${g}`, 'DETACHED');
    }
    const found = (yield* this.policy$(name))!;
    yield* run('DELETE FROM iot_policies WHERE name = ?', name);
    yield* this.record('POLICY_CHANGED', name, String(found.default_version), 'DELETED');
    this.removed.push({ kind: 'policy', name });
  }

  private *removeType(name: string): SyncStep<void> {
    const user = yield* value('SELECT thing_name FROM thing_types WHERE type_name = ? ORDER BY thing_name LIMIT 1', name);
    if (user !== undefined) throw new RegistryError('THING_TYPE_IN_USE', `thing type ${shown(name)} is gone from the cloud but is the type of local thing ${shown(user)}: kept`);
    yield* run('DELETE FROM thing_type_defs WHERE name = ?', name);
    yield* this.record('THING_TYPE_CHANGED', name, null, 'DELETED');
    this.removed.push({ kind: 'thing_type', name });
  }

  private *removeCa(id: string): SyncStep<void> {
    yield* run('DELETE FROM trusted_cas WHERE id = ?', id);
    yield* this.record('CA_UNTRUSTED', id);
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
