/**
 * The embedded registry: one SQLite file (`registry.db` in the data directory) opened
 * with better-sqlite3.
 *
 * - Pragmas: WAL (readers never block the writer), synchronous=NORMAL (a power cut may
 *   lose the last commits but never corrupts the file), busy_timeout=5000 (the CLI and
 *   the gateway are separate processes), foreign_keys=ON (attachments cascade).
 * - Every mutation runs in an IMMEDIATE transaction together with its `changes` rows,
 *   so a watcher never sees a change without its data or data without its change.
 * - The change feed keeps the last CHANGE_RETENTION rows; `registry_meta.pruned_through`
 *   tells a reader that fell further behind that it missed something.
 *
 * better-sqlite3 is synchronous; the async methods run their statements at call time,
 * before they return. That ordering is what SessionManager relies on to close the race
 * between a verification and a concurrent revocation.
 */
import { closeSync, fchmodSync, fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseCertificatePem, type ParsedCertificate } from './certificate.js';
import { RegistryError } from './errors.js';
import { buildAttachmentMaps, groupLineage, iotPatchPlan } from './iot-attachments.js';
import { migrate } from './migrations.js';
import { SqliteRetainedStore } from './retained-store.js';
import { SqliteJobStore } from './job-store.js';
import { SqliteShadowStore } from './shadow-store.js';
import { applySyncBatch, driveSqlite, mergeOutcomes, sqliteSyncAnswer, SYNCED_NAMES_SQL, type SyncBatch, type SyncKind, type SyncOutcome, type SyncRules } from './sync-apply.js';
import { SqliteControlStore, type ControlConnection, type SqliteControlStoreOptions } from './sqlite-control.js';
import {
  assertAttributeCount, assertAttributes, assertPolicyName, assertThingGroupDescription, assertThingGroupName, assertThingName, assertThingTypeName,
  assertThingTypeProperties, checkThingUpdate, isValidThingName, shown,
} from './names.js';
import { parseIotPolicyDocument } from '../core/policy/iot/document.js';
import type {
  CertificateRecord, CertificateStatus, Change, ChangeBatch, ChangeKind, ChangeListener, CreateThingTypeOptions, EnrollOptions, EnrollResult,
  IotAuthorizationData, IotPolicy, ListCertificatesOptions, ListThingsOptions, PolicyEvent, PolicyTarget,
  PolicyVersion, RegisterCertificateOptions, Registry, RegistryWatch, Thing, ThingGroup, ThingGroupEvent, ThingType, ThingTypeEvent,
  CertificateTrust, TrustedCa, TrustedCaSource, UpdateThingOptions, WatchOptions,
} from './registry.js';

type Db = Database.Database;

/** File name of the registry inside the data directory. */
export function registryPath(dataDir: string): string {
  return join(dataDir, 'registry.db');
}

export interface SqliteRegistryOptions {
  /** Path of the database file, or `:memory:` (tests). Created with mode 0600. */
  readonly file: string;
  /** Clock for created/updated timestamps (default: the system clock). */
  readonly now?: () => Date;
  /** How long a write waits for another process's write lock (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** How many change rows to keep (default 10000). */
  readonly changeRetention?: number;
}

/** AWS IoT keeps at most five versions of a policy (CreatePolicyVersion). */
export const POLICY_VERSION_LIMIT = 5;
/** AWS IoT puts a thing in at most ten thing groups. */
export const GROUPS_PER_THING = 10;
/**
 * How long a thing type must have been deprecated before it can be deleted: AWS IoT's
 * five minutes (https://docs.aws.amazon.com/iot/latest/developerguide/delete-thing-types.html).
 */
export const THING_TYPE_DELETE_DELAY_MS = 5 * 60_000;

const STATUSES: readonly string[] = ['ACTIVE', 'INACTIVE', 'REVOKED'];
export const ID_PREFIX = /^[0-9a-f]{8,64}$/;
export const FULL_ID = /^[0-9a-f]{64}$/;
/** Sorts after every character allowed in thing names, for prefix range scans. */
export const NAME_UPPER = '{';

export interface AttrRow { name: string; created_at: number; version: number; type_name: string | null; key: string | null; value: string | null }
export interface ThingTypeRow { name: string; description: string | null; searchable_attributes: string; deprecated_at: number | null; created_at: number }
export interface PolicyRow { name: string; default_version: number; next_version: number; created_at: number; updated_at: number; document: string }
export interface PolicyVersionRow { policy_name: string; version: number; document: string; created_at: number }
export interface GroupRow { name: string; parent: string | null; description: string | null; created_at: number }
export interface CertRow {
  id: string; pem: string; status: CertificateStatus; subject: string; issuer_subject: string; issuer_id: string | null; trust: CertificateTrust;
  serial_number: string; not_before: number; not_after: number; created_at: number; status_updated_at: number;
}
export interface CaRow { id: string; pem: string; subject: string; not_before: number; not_after: number; added_at: number; source: TrustedCaSource }
export interface ChangeRow { seq: number; kind: ChangeKind; entity: string; related: string | null; detail: string | null; at: number }

export class SqliteRegistry implements Registry {
  readonly file: string;
  private readonly db: Db;
  private readonly now: () => Date;
  private readonly retention: number;
  private readonly pollers = new Set<() => void>();
  private kickScheduled = false;
  private closed = false;
  private readonly s: ReturnType<typeof prepare>;
  /** The last IoT bulk read: the next one reuses it when the change feed allows (see loadIotAuthorizationData). */
  private iotData: IotAuthorizationData | undefined;
  private constructor(db: Db, file: string, now: () => Date, retention: number) {
    this.db = db;
    this.file = file;
    this.now = now;
    this.retention = retention;
    this.s = prepare(db);
  }

  /** Opens (creating if needed) the registry file and brings its schema up to date. */
  static open(options: SqliteRegistryOptions): SqliteRegistry {
    const now = options.now ?? (() => new Date());
    const file = options.file;
    let db: Db | undefined;
    try {
      if (file !== ':memory:') ensurePrivateFile(file);
      db = new Database(file);
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, now);
      return new SqliteRegistry(db, file, now, Math.max(1, options.changeRetention ?? 10_000));
    } catch (e) {
      db?.close();
      if (e instanceof RegistryError) throw e;
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'SQLITE_BUSY') throw busy();
      throw new RegistryError('REGISTRY_OPEN_FAILED', `cannot open the registry \`${file}\`: ${err.code ?? ''} ${err.message}`.trim(),
        'check that the data directory exists, is writable by this user, and that the file is a Gatehouse registry');
    }
  }

  // ---------------------------------------------------------------- things

  async createThing(name: string, attributes: Readonly<Record<string, string>> = {}): Promise<Thing> {
    assertThingName(name);
    assertAttributes(attributes);
    return this.write(() => {
      if (this.s.thingExists.get(name)) throw thingExists(name);
      return this.insertThing(name, attributes);
    });
  }

  async createThingWithType(name: string, attributes: Readonly<Record<string, string>>, thingTypeName: string | null): Promise<Thing> {
    assertThingName(name);
    assertAttributes(attributes);
    if (thingTypeName !== null) assertThingTypeName(thingTypeName);
    return this.write(() => {
      if (this.s.thingExists.get(name)) throw thingExists(name);
      if (thingTypeName === null) return this.insertThing(name, attributes);
      this.requireAssignableType(thingTypeName);
      this.insertThing(name, attributes);
      this.s.setThingType.run(name, thingTypeName);
      return this.loadThing(name)!;
    });
  }

  async getThing(name: string): Promise<Thing | undefined> {
    return this.read(() => (isValidThingName(name) ? this.loadThing(name) : undefined));
  }

  async listThings(options: ListThingsOptions = {}): Promise<Thing[]> {
    return this.read(() => {
      const lower = options.after !== undefined && (options.prefix === undefined || options.after >= options.prefix) ? options.after : options.prefix ?? '';
      const strict = options.after !== undefined && lower === options.after ? 1 : 0;
      const upper = options.prefix !== undefined ? options.prefix + NAME_UPPER : NAME_UPPER.repeat(129);
      const limit = options.limit ?? -1;
      const rows = this.s.listThings.all({ lower, strict, upper, limit }) as AttrRow[];
      return groupThings(rows);
    });
  }

  async countThings(): Promise<number> {
    return this.read(() => (this.s.countThings.get() as { n: number }).n);
  }

  async deleteThing(name: string, options: { readonly expectedVersion?: number } = {}): Promise<void> {
    assertThingName(name);
    this.write(() => {
      if (options.expectedVersion !== undefined) {
        const thing = this.loadThing(name);
        if (thing === undefined) throw thingNotFound(name);
        checkVersion(thing, options.expectedVersion);
      }
      const groups = this.s.groupsForThing.all(name) as { group_name: string }[];
      if (this.s.deleteThing.run(name).changes === 0) throw thingNotFound(name);
      for (const g of groups) this.record('THING_GROUP_CHANGED', g.group_name, name, 'THING_REMOVED');
      this.record('THING_DELETED', name);
    });
  }

  // ----------------------------------------------------------- thing types

  async createThingType(name: string, options: CreateThingTypeOptions = {}): Promise<ThingType> {
    assertThingTypeName(name);
    const searchable = options.searchableAttributes ?? [];
    assertThingTypeProperties(options.description, searchable);
    return this.write(() => {
      if (this.s.getThingType.get(name)) throw new RegistryError('THING_TYPE_EXISTS', `thing type ${shown(name)} already exists`, 'choose another name (a thing type cannot be changed or renamed)');
      this.s.insertThingType.run(name, options.description ?? null, JSON.stringify(searchable), this.now().getTime());
      this.record('THING_TYPE_CHANGED', name, null, 'CREATED');
      return this.loadThingType(name)!;
    });
  }

  async getThingType(name: string): Promise<ThingType | undefined> {
    return this.read(() => this.loadThingType(name));
  }

  async listThingTypes(): Promise<ThingType[]> {
    return this.read(() => (this.s.listThingTypes.all() as ThingTypeRow[]).map(thingTypeFromRow));
  }

  async deprecateThingType(name: string, undo = false): Promise<{ readonly changed: boolean }> {
    assertThingTypeName(name);
    return this.write(() => {
      const type = this.loadThingType(name);
      if (type === undefined) throw thingTypeNotFound(name);
      if ((type.deprecatedAt !== null) === !undo) return { changed: false };
      this.s.setThingTypeDeprecated.run(undo ? null : this.now().getTime(), name);
      this.record('THING_TYPE_CHANGED', name, null, undo ? 'UNDEPRECATED' : 'DEPRECATED');
      return { changed: true };
    });
  }

  async deleteThingType(name: string): Promise<void> {
    assertThingTypeName(name);
    this.write(() => {
      const type = this.loadThingType(name);
      if (type === undefined) throw thingTypeNotFound(name);
      if (type.deprecatedAt === null) {
        throw new RegistryError('THING_TYPE_NOT_DEPRECATED', `thing type ${shown(name)} is not deprecated; only a deprecated type can be deleted`,
          `deprecate it first (\`gatehouse thing-types deprecate ${name}\`), then delete it after ${THING_TYPE_DELETE_DELAY_MS / 60_000} minutes`);
      }
      const wait = type.deprecatedAt.getTime() + THING_TYPE_DELETE_DELAY_MS - this.now().getTime();
      if (wait > 0) {
        throw new RegistryError('THING_TYPE_NOT_DEPRECATED', `thing type ${shown(name)} was deprecated less than ${THING_TYPE_DELETE_DELAY_MS / 60_000} minutes ago`,
          `try again in ${Math.ceil(wait / 1000)} seconds`);
      }
      const user = this.s.firstThingOfType.get(name) as string | undefined;
      if (user !== undefined) {
        throw new RegistryError('THING_TYPE_IN_USE', `thing type ${shown(name)} is the type of thing ${shown(user)} and possibly others`,
          `change or clear the type of its things first (\`gatehouse things update NAME --clear-type\`; \`gatehouse thing-types show ${name}\` lists them)`);
      }
      this.s.deleteThingType.run(name);
      this.record('THING_TYPE_CHANGED', name, null, 'DELETED');
    });
  }

  async thingsOfType(name: string): Promise<string[]> {
    return this.read(() => this.s.thingsOfType.all(name) as string[]);
  }

  // ---------------------------------------------------------- certificates

  async registerCertificate(pem: string, options: RegisterCertificateOptions = {}): Promise<CertificateRecord> {
    const cert = parseLeaf(pem);
    const status = checkStatus(options.status ?? 'ACTIVE');
    return this.write(() => {
      if (this.s.getCert.get(cert.id)) throw new RegistryError('CERT_EXISTS', `certificate ${cert.id} is already registered`, 'use `gatehouse certs show` to see it, or `things attach` to attach it');
      return this.insertCertificate(cert, status, options.issuerId ?? null, options.trust ?? 'ca');
    });
  }

  async getCertificate(id: string): Promise<CertificateRecord | undefined> {
    return this.read(() => (FULL_ID.test(id) ? this.loadCertificate(id) : undefined));
  }

  async resolveCertificateId(idOrPrefix: string): Promise<string> {
    return this.read(() => this.resolveId(idOrPrefix, this.s.certIdsWithPrefix, 'certificate', 'CERT_NOT_FOUND', 'gatehouse certs list'));
  }

  async listCertificates(options: ListCertificatesOptions = {}): Promise<CertificateRecord[]> {
    const status = options.status !== undefined ? checkStatus(options.status) : null;
    return this.read(() => {
      const limit = options.limit ?? -1;
      const rows = (options.thingName !== undefined
        ? this.s.certsForThingFull.all({ thing: options.thingName, status, limit })
        : this.s.listCerts.all({ status, limit })) as CertRow[];
      return rows.map(certFromRow);
    });
  }

  async setCertificateStatus(id: string, status: CertificateStatus): Promise<{ readonly changed: boolean; readonly previous: CertificateStatus }> {
    checkStatus(status);
    return this.write(() => {
      const row = this.s.getCertStatus.get(id) as { status: CertificateStatus } | undefined;
      if (!row) throw certNotFound(id);
      const previous = row.status;
      if (previous === status) return { changed: false, previous };
      if (previous === 'REVOKED') {
        throw new RegistryError('CERT_REVOKED', `certificate ${id} is revoked; revocation is permanent`, 'issue or register a new certificate for the device');
      }
      this.s.setCertStatus.run(status, this.now().getTime(), id);
      this.record('CERT_STATUS_CHANGED', id, null, status);
      return { changed: true, previous };
    });
  }

  async deleteCertificate(id: string): Promise<void> {
    this.write(() => {
      const policies = this.s.policiesForCert.all(id) as { policy_name: string }[];
      if (this.s.deleteCert.run(id).changes === 0) throw certNotFound(id);
      for (const p of policies) this.record('POLICY_ATTACHMENT_CHANGED', p.policy_name, targetKey({ kind: 'certificate', certificateId: id }), 'DETACHED');
      this.record('CERT_DELETED', id);
    });
  }

  // ----------------------------------------------------------- attachments

  async attach(thingName: string, certificateId: string): Promise<{ readonly changed: boolean }> {
    assertThingName(thingName);
    return this.write(() => {
      this.requireThing(thingName);
      this.requireCert(certificateId);
      return { changed: this.insertAttachment(thingName, certificateId) };
    });
  }

  async detach(thingName: string, certificateId: string): Promise<void> {
    assertThingName(thingName);
    this.write(() => {
      this.requireThing(thingName);
      this.requireCert(certificateId);
      if (this.s.detach.run(thingName, certificateId).changes === 0) {
        throw new RegistryError('CERT_NOT_ATTACHED', `certificate ${certificateId} is not attached to thing ${shown(thingName)}`, 'see `gatehouse things show NAME` for its certificates');
      }
      this.record('CERT_DETACHED', thingName, certificateId);
    });
  }

  async isAttached(thingName: string, certificateId: string): Promise<boolean> {
    return this.read(() => this.s.isAttached.get(thingName, certificateId) !== undefined);
  }

  async thingsForCertificate(certificateId: string): Promise<string[]> {
    return this.read(() => (this.s.thingsForCert.all(certificateId) as { thing_name: string }[]).map((r) => r.thing_name));
  }

  async certificatesForThing(thingName: string): Promise<string[]> {
    return this.read(() => (this.s.certsForThing.all(thingName) as { certificate_id: string }[]).map((r) => r.certificate_id));
  }

  async updateThing(name: string, update: UpdateThingOptions): Promise<{ readonly thing: Thing; readonly changed: boolean }> {
    const { type, set, remove, expected } = checkThingUpdate(name, update);
    return this.write(() => {
      const before = this.loadThing(name);
      if (before === undefined) throw thingNotFound(name);
      if (expected !== undefined) checkVersion(before, expected);
      let changed = false;
      if (type === null) changed = this.s.clearThingType.run(name).changes > 0;
      else if (type !== undefined && before.thingTypeName !== type) {
        this.requireAssignableType(type);
        this.s.setThingType.run(name, type);
        changed = true;
      }
      for (const [k, v] of Object.entries(set)) {
        if (before.attributes[k] === v) continue;
        this.s.upsertAttr.run(name, k, v);
        changed = true;
      }
      for (const k of remove) if (this.s.deleteAttr.run(name, k).changes > 0) changed = true;
      if (changed) this.s.bumpThingVersion.run(name);
      const thing = this.loadThing(name)!;
      assertAttributeCount(thing.attributes);
      if (changed) this.record('THING_UPDATED', name);
      return { thing, changed };
    });
  }

  async enroll(options: EnrollOptions): Promise<EnrollResult> {
    const { thingName } = options;
    assertThingName(thingName);
    const attributes = options.attributes ?? {};
    assertAttributes(attributes);
    const cert = parseLeaf(options.certificatePem);
    const status = checkStatus(options.status ?? 'ACTIVE');
    return this.write(() => {
      let thing = this.loadThing(thingName);
      const thingCreated = thing === undefined;
      if (thing !== undefined && options.thing === 'new') throw thingExists(thingName);
      thing ??= this.insertThing(thingName, attributes);
      let certificate = this.loadCertificate(cert.id);
      const certificateCreated = certificate === undefined;
      if (certificate?.status === 'REVOKED') {
        throw new RegistryError('CERT_REVOKED', `certificate ${cert.id} is registered and revoked; revocation is permanent`, 'issue a new certificate for the device');
      }
      certificate ??= this.insertCertificate(cert, status, options.issuerId ?? null);
      const attached = this.insertAttachment(thingName, cert.id);
      return { thing, certificate, thingCreated, certificateCreated, attached };
    });
  }

  // ------------------------------------------------------------ trusted CAs

  async trustCa(pem: string): Promise<TrustedCa> {
    const ca = parseCa(pem);
    return this.write(() => {
      if (this.s.getCa.get(ca.id)) throw new RegistryError('CA_EXISTS', `CA ${ca.id} (${ca.subject}) is already trusted`);
      return this.insertCa(ca, 'operator');
    });
  }

  async trustGatewayCa(pem: string): Promise<{ readonly added: boolean; readonly ca: TrustedCa | undefined }> {
    const ca = parseCa(pem);
    return this.write(() => {
      const existing = this.s.getCa.get(ca.id) as CaRow | undefined;
      if (this.s.gatewaySeen.get(ca.id)) return { added: false, ca: existing ? caFromRow(existing) : undefined };
      this.s.insertGatewaySeen.run(ca.id, this.now().getTime());
      if (existing) return { added: false, ca: caFromRow(existing) };
      return { added: true, ca: this.insertCa(ca, 'gateway') };
    });
  }

  async untrustCa(id: string): Promise<void> {
    this.write(() => {
      if (this.s.deleteCa.run(id).changes === 0) throw caNotFound(id);
      this.record('CA_UNTRUSTED', id);
    });
  }

  async getTrustedCa(id: string): Promise<TrustedCa | undefined> {
    return this.read(() => {
      const row = this.s.getCa.get(id) as CaRow | undefined;
      return row ? caFromRow(row) : undefined;
    });
  }

  async listTrustedCas(): Promise<TrustedCa[]> {
    return this.read(() => (this.s.listCas.all() as CaRow[]).map(caFromRow));
  }

  async resolveCaId(idOrPrefix: string): Promise<string> {
    return this.read(() => this.resolveId(idOrPrefix, this.s.caIdsWithPrefix, 'trusted CA', 'CA_NOT_FOUND', 'gatehouse ca list'));
  }

  // ----------------------------------------------------------- IoT policies

  async createPolicy(name: string, document: string): Promise<IotPolicy> {
    assertPolicyName(name);
    this.checkDocument(document);
    return this.write(() => {
      if (this.s.policyExists.get(name)) throw new RegistryError('POLICY_EXISTS', `policy ${shown(name)} already exists`, 'choose another name, or add a version with `gatehouse policies create-version`');
      const t = this.now().getTime();
      this.s.insertPolicy.run(name, 1, 2, t, t);
      this.s.insertPolicyVersion.run(name, 1, document, t);
      this.record('POLICY_CHANGED', name, '1', 'CREATED');
      return this.loadPolicy(name)!;
    });
  }

  async getPolicy(name: string): Promise<IotPolicy | undefined> {
    return this.read(() => this.loadPolicy(name));
  }

  async listPolicies(): Promise<IotPolicy[]> {
    return this.read(() => {
      const versions = new Map<string, number[]>();
      for (const r of this.s.allPolicyVersionIds.all() as { policy_name: string; version: number }[]) {
        let list = versions.get(r.policy_name);
        if (!list) versions.set(r.policy_name, (list = []));
        list.push(r.version);
      }
      return (this.s.listPolicies.all() as PolicyRow[]).map((r) => policyFromRow(r, versions.get(r.name) ?? []));
    });
  }

  async deletePolicy(name: string): Promise<void> {
    this.write(() => {
      const p = this.requirePolicy(name);
      const targets = this.loadPolicyTargets(name).length;
      if (targets > 0) throw new RegistryError('POLICY_ATTACHED', `policy ${shown(name)} is attached to ${targets} target${targets === 1 ? '' : 's'}`, `detach it first (\`gatehouse policies list-targets ${name}\`)`);
      if (p.versions.length > 1) throw new RegistryError('POLICY_HAS_VERSIONS', `policy ${shown(name)} has ${p.versions.length - 1} version(s) besides the default`, 'delete the other versions first with `gatehouse policies delete-version`');
      this.s.deletePolicy.run(name);
      this.record('POLICY_CHANGED', name, String(p.defaultVersion), 'DELETED');
    });
  }

  async createPolicyVersion(name: string, document: string, options: { readonly setAsDefault?: boolean } = {}): Promise<PolicyVersion> {
    assertPolicyName(name);
    this.checkDocument(document);
    return this.write(() => {
      const p = this.requirePolicy(name);
      if (p.versions.length >= POLICY_VERSION_LIMIT) {
        throw new RegistryError('POLICY_VERSION_LIMIT', `policy ${shown(name)} has ${POLICY_VERSION_LIMIT} versions, the most AWS IoT allows`, 'delete a version that is not the default first (`gatehouse policies delete-version`)');
      }
      const row = this.s.getPolicy.get(name) as PolicyRow;
      const version = row.next_version;
      const t = this.now().getTime();
      this.s.insertPolicyVersion.run(name, version, document, t);
      this.s.setPolicyVersions.run(options.setAsDefault === true ? version : row.default_version, version + 1, t, name);
      this.record('POLICY_CHANGED', name, String(version), 'VERSION_CREATED');
      if (options.setAsDefault === true) this.record('POLICY_CHANGED', name, String(version), 'DEFAULT_VERSION_SET');
      return this.loadPolicyVersion(name, version)!;
    });
  }

  async getPolicyVersion(name: string, version: number): Promise<PolicyVersion | undefined> {
    return this.read(() => this.loadPolicyVersion(name, version));
  }

  async listPolicyVersions(name: string): Promise<PolicyVersion[]> {
    return this.read(() => {
      const p = this.requirePolicy(name);
      return (this.s.policyVersions.all(name) as PolicyVersionRow[]).map((r) => versionFromRow(r, p.defaultVersion));
    });
  }

  async setDefaultPolicyVersion(name: string, version: number): Promise<{ readonly changed: boolean }> {
    return this.write(() => {
      const p = this.requirePolicy(name);
      if (!p.versions.includes(version)) throw policyVersionNotFound(name, version);
      if (p.defaultVersion === version) return { changed: false };
      const row = this.s.getPolicy.get(name) as PolicyRow;
      this.s.setPolicyVersions.run(version, row.next_version, this.now().getTime(), name);
      this.record('POLICY_CHANGED', name, String(version), 'DEFAULT_VERSION_SET');
      return { changed: true };
    });
  }

  async deletePolicyVersion(name: string, version: number): Promise<void> {
    this.write(() => {
      const p = this.requirePolicy(name);
      if (!p.versions.includes(version)) throw policyVersionNotFound(name, version);
      if (p.defaultVersion === version) {
        throw new RegistryError('POLICY_VERSION_IS_DEFAULT', `version ${version} is the default version of policy ${shown(name)}`, 'make another version the default first (`gatehouse policies set-default-version`), or delete the policy');
      }
      this.s.deletePolicyVersion.run(name, version);
      this.record('POLICY_CHANGED', name, String(version), 'VERSION_DELETED');
    });
  }

  async attachPolicy(name: string, target: PolicyTarget): Promise<{ readonly changed: boolean }> {
    return this.write(() => {
      this.requirePolicy(name);
      const t = this.now().getTime();
      let changed: boolean;
      if (target.kind === 'certificate') {
        this.requireCert(target.certificateId);
        changed = this.s.attachPolicyToCert.run(target.certificateId, name, t).changes > 0;
      } else {
        this.requireGroup(target.groupName);
        changed = this.s.attachPolicyToGroup.run(target.groupName, name, t).changes > 0;
      }
      if (changed) this.record('POLICY_ATTACHMENT_CHANGED', name, targetKey(target), 'ATTACHED');
      return { changed };
    });
  }

  async detachPolicy(name: string, target: PolicyTarget): Promise<void> {
    this.write(() => {
      this.requirePolicy(name);
      const removed = target.kind === 'certificate'
        ? (this.requireCert(target.certificateId), this.s.detachPolicyFromCert.run(target.certificateId, name).changes)
        : (this.requireGroup(target.groupName), this.s.detachPolicyFromGroup.run(target.groupName, name).changes);
      if (removed === 0) {
        throw new RegistryError('POLICY_NOT_ATTACHED', `policy ${shown(name)} is not attached to ${describeTarget(target)}`, `see \`gatehouse policies list-targets ${name}\``);
      }
      this.record('POLICY_ATTACHMENT_CHANGED', name, targetKey(target), 'DETACHED');
    });
  }

  async policyTargets(name: string): Promise<PolicyTarget[]> {
    return this.read(() => {
      this.requirePolicy(name);
      return this.loadPolicyTargets(name);
    });
  }

  async policiesForTarget(target: PolicyTarget): Promise<string[]> {
    return this.read(() => {
      const rows = target.kind === 'certificate'
        ? (this.requireCert(target.certificateId), this.s.policiesForCert.all(target.certificateId))
        : (this.requireGroup(target.groupName), this.s.policiesForGroup.all(target.groupName));
      return (rows as { policy_name: string }[]).map((r) => r.policy_name);
    });
  }

  // ------------------------------------------------------ static thing groups

  async createThingGroup(name: string, options: { readonly parent?: string; readonly description?: string } = {}): Promise<ThingGroup> {
    assertThingGroupName(name);
    if (options.parent !== undefined) assertThingGroupName(options.parent);
    if (options.description !== undefined) assertThingGroupDescription(options.description);
    return this.write(() => {
      if (this.s.groupExists.get(name)) throw new RegistryError('THING_GROUP_EXISTS', `thing group ${shown(name)} already exists`, 'choose another name (a group cannot be renamed or moved)');
      if (options.parent !== undefined) this.requireGroup(options.parent);
      this.s.insertGroup.run(name, options.parent ?? null, options.description ?? null, this.now().getTime());
      this.record('THING_GROUP_CHANGED', name, null, 'CREATED');
      return this.loadGroup(name)!;
    });
  }

  async getThingGroup(name: string): Promise<ThingGroup | undefined> {
    return this.read(() => this.loadGroup(name));
  }

  async listThingGroups(): Promise<ThingGroup[]> {
    return this.read(() => (this.s.listGroups.all() as GroupRow[]).map(groupFromRow));
  }

  async deleteThingGroup(name: string): Promise<void> {
    this.write(() => {
      this.requireGroup(name);
      const child = this.s.firstChildGroup.get(name) as { name: string } | undefined;
      if (child) throw new RegistryError('THING_GROUP_HAS_CHILDREN', `thing group ${shown(name)} has child groups (for example ${shown(child.name)})`, 'delete its child groups first');
      const policies = this.s.policiesForGroup.all(name) as { policy_name: string }[];
      if (policies.length > 0) {
        throw new RegistryError('THING_GROUP_HAS_POLICIES', `thing group ${shown(name)} has ${policies.length} policies attached`, `detach them first (\`gatehouse policies detach NAME --thing-group ${name}\`)`);
      }
      // One change for the group, not one per member: a large group would otherwise push
      // the rest of the feed out of its retention window. DELETED implies every
      // membership of the group ended.
      this.s.deleteGroup.run(name);
      this.record('THING_GROUP_CHANGED', name, null, 'DELETED');
    });
  }

  async addThingToGroup(groupName: string, thingName: string): Promise<{ readonly changed: boolean }> {
    assertThingGroupName(groupName);
    assertThingName(thingName);
    return this.write(() => {
      this.requireGroup(groupName);
      this.requireThing(thingName);
      const current = (this.s.groupsForThing.all(thingName) as { group_name: string }[]).map((r) => r.group_name);
      if (current.includes(groupName)) return { changed: false };
      if (current.length >= GROUPS_PER_THING) {
        throw new RegistryError('THING_GROUP_LIMIT', `thing ${shown(thingName)} is in ${GROUPS_PER_THING} groups already, the most AWS IoT allows`, 'remove it from a group first (`gatehouse thing-groups remove-thing`)');
      }
      const root = this.rootOf(groupName);
      const clash = current.find((g) => this.rootOf(g) === root);
      if (clash !== undefined) {
        throw new RegistryError('THING_GROUP_HIERARCHY_CONFLICT', `thing ${shown(thingName)} is already in group ${shown(clash)} of the same hierarchy as ${shown(groupName)} (root ${shown(root)})`,
          'a thing can be in only one group of each hierarchy: remove it from the other group first');
      }
      this.s.addMember.run(thingName, groupName, this.now().getTime());
      this.record('THING_GROUP_CHANGED', groupName, thingName, 'THING_ADDED');
      return { changed: true };
    });
  }

  async removeThingFromGroup(groupName: string, thingName: string): Promise<void> {
    assertThingGroupName(groupName);
    assertThingName(thingName);
    this.write(() => {
      this.requireGroup(groupName);
      this.requireThing(thingName);
      if (this.s.removeMember.run(thingName, groupName).changes === 0) {
        throw new RegistryError('THING_NOT_IN_GROUP', `thing ${shown(thingName)} is not a member of group ${shown(groupName)}`, `see \`gatehouse thing-groups show ${groupName}\``);
      }
      this.record('THING_GROUP_CHANGED', groupName, thingName, 'THING_REMOVED');
    });
  }

  async thingsInGroup(groupName: string): Promise<string[]> {
    return this.read(() => {
      this.requireGroup(groupName);
      return (this.s.thingsInGroup.all(groupName) as { thing_name: string }[]).map((r) => r.thing_name);
    });
  }

  async groupsForThing(thingName: string): Promise<string[]> {
    return this.read(() => (this.s.groupsForThing.all(thingName) as { group_name: string }[]).map((r) => r.group_name));
  }

  async iotAuthorizationData(): Promise<IotAuthorizationData> {
    return this.read(() => this.db.transaction(() => this.loadIotAuthorizationData()).deferred());
  }

  // ------------------------------------------------------ sync from AWS IoT

  /**
   * Writes a sync's batches in one IMMEDIATE transaction (sync-apply.ts has the rules):
   * all of it or, if the process or the database fails meanwhile, none of it. With
   * `dryRun` the transaction is rolled back: the outcome says what would be written and
   * nothing is (no row, no change-feed entry, no sequence number used).
   */
  async applySync(batches: readonly SyncBatch[], options: { readonly dryRun?: boolean } = {}): Promise<SyncOutcome> {
    if (this.closed) throw closedError();
    const rollback = new Error('dry run');
    let outcome: SyncOutcome | undefined;
    const answer = sqliteSyncAnswer(this.db, (kind: ChangeKind, entity: string, related: string | null, detail: string | null) => this.record(kind, entity, related, detail));
    try {
      this.db.transaction(() => {
        const rules = (): SyncRules => ({ now: this.now(), groupsPerThing: GROUPS_PER_THING, policyVersionLimit: POLICY_VERSION_LIMIT });
        outcome = mergeOutcomes(batches.map((b) => driveSqlite(this.db, applySyncBatch(rules(), b), answer)));
        if (options.dryRun === true) throw rollback;
      }).immediate();
    } catch (e) {
      if (e !== rollback) throw mapSqliteError(e);
    }
    if (options.dryRun !== true && outcome!.changes > 0) {
      this.iotData = undefined;
      this.kick();
    }
    return outcome!;
  }

  /** Names (ids for certificates and CAs) of the objects of a kind a sync created and manages, sorted. */
  async syncedNames(kind: SyncKind): Promise<string[]> {
    return this.read(() => this.db.prepare(SYNCED_NAMES_SQL).pluck().all(kind) as string[]);
  }

  // --------------------------------------------------------- control plane

  /**
   * The control-plane store (users, access keys, roles, IAM policies, role aliases, tags,
   * audit) over this registry's connection and transactions. Cheap to call; each call
   * returns a new store with its own deployment (ARNs) and loads the key file on first
   * need. It is closed with the registry.
   */
  control(options: SqliteControlStoreOptions): SqliteControlStore {
    if (this.closed) throw closedError();
    return new SqliteControlStore({
      db: this.db,
      now: this.now,
      read: (fn) => this.read(fn),
      write: (fn) => this.write(fn),
      writeUnwatched: (fn) => this.write(fn, false),
    }, options);
  }

  /** The Device Shadow store over this registry's connection and transactions (shadow-store.ts). */
  shadows(): SqliteShadowStore {
    if (this.closed) throw closedError();
    return new SqliteShadowStore(this.storeConnection());
  }

  /** The retained-message store over this registry's connection (retained-store.ts). */
  retained(): SqliteRetainedStore {
    if (this.closed) throw closedError();
    return new SqliteRetainedStore(this.storeConnection());
  }

  /**
   * This registry's connection and transactions for the stores whose writes record no
   * change (shadows, retained messages, jobs): their writes do not wake the change-feed
   * watchers, who would find nothing new.
   */
  private storeConnection(): ControlConnection {
    return { db: this.db, now: this.now, read: (fn) => this.read(fn), write: (fn) => this.write(fn, false), writeUnwatched: (fn) => this.write(fn, false) };
  }

  /** The jobs store over this registry's connection and transactions (job-store.ts). */
  jobs(): SqliteJobStore {
    if (this.closed) throw closedError();
    return new SqliteJobStore(this.storeConnection());
  }

  // ------------------------------------------------------------ change feed

  async latestChangeSeq(): Promise<number> {
    return this.read(() => this.latestSeq());
  }

  async changesSince(seq: number, limit = 1000): Promise<ChangeBatch> {
    return this.read(() => this.readChanges(seq, limit));
  }

  watch(listener: ChangeListener, opts: WatchOptions | number = {}): RegistryWatch {
    if (this.closed) throw closedError();
    const options: WatchOptions = typeof opts === 'number' ? { intervalMs: opts } : opts;
    let last = options.afterSeq ?? this.latestSeq();
    let stopped = false;
    const onError = options.onError ?? (() => undefined);
    const poll = (): void => {
      if (stopped || this.closed) return;
      try {
        for (;;) {
          const batch = this.readChanges(last, 1000);
          if (batch.changes.length === 0 && batch.complete) return;
          last = batch.nextSeq;
          try {
            listener(batch.changes, { complete: batch.complete });
          } catch (e) {
            onError(e);
          }
          if (batch.changes.length < 1000) return;
        }
      } catch (e) {
        onError(e);
      }
    };
    const timer = setInterval(poll, Math.max(10, options.intervalMs ?? 250));
    timer.unref();
    this.pollers.add(poll);
    return {
      close: () => {
        stopped = true;
        clearInterval(timer);
        this.pollers.delete(poll);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pollers.clear();
    try {
      if (this.file !== ':memory:') this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Another process holds the WAL; it will checkpoint.
    }
    this.db.close();
  }

  // --------------------------------------------------------------- private

  private read<T>(fn: () => T): T {
    if (this.closed) throw closedError();
    try {
      return fn();
    } catch (e) {
      throw mapSqliteError(e);
    }
  }

  /** `fn` in an IMMEDIATE transaction; then, with `kick`, this process's watchers look for changes at once. */
  private write<T>(fn: () => T, kick = true): T {
    if (this.closed) throw closedError();
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (e) {
      throw mapSqliteError(e);
    }
    if (kick) this.kick();
    return result;
  }

  /** Lets this process's watchers see a local change at once instead of at the next poll. */
  private kick(): void {
    if (this.kickScheduled || this.pollers.size === 0) return;
    this.kickScheduled = true;
    queueMicrotask(() => {
      this.kickScheduled = false;
      for (const poll of [...this.pollers]) poll();
    });
  }

  private record(kind: ChangeKind, entity: string, related: string | null = null, detail: string | null = null): void {
    const seq = Number(this.s.insertChange.run(kind, entity, related, detail, this.now().getTime()).lastInsertRowid);
    const cut = seq - this.retention;
    if (cut > 0 && this.s.pruneChanges.run(cut).changes > 0) this.s.setPrunedThrough.run(cut);
  }

  private latestSeq(): number {
    const row = this.s.latestSeq.get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  private readChanges(seq: number, limit: number): ChangeBatch {
    const pruned = (this.s.getPrunedThrough.get() as { value: number } | undefined)?.value ?? 0;
    const complete = seq >= pruned;
    const rows = this.s.changesSince.all(seq, Math.max(1, Math.min(limit, 10_000))) as ChangeRow[];
    const changes = rows.map(changeFromRow);
    const lastRow = rows[rows.length - 1];
    return { changes, complete, nextSeq: lastRow ? lastRow.seq : Math.max(seq, pruned) };
  }

  private insertThing(name: string, attributes: Readonly<Record<string, string>>): Thing {
    const createdAt = this.now();
    this.s.insertThing.run(name, createdAt.getTime());
    for (const [k, v] of Object.entries(attributes)) this.s.insertAttr.run(name, k, v);
    this.record('THING_CREATED', name);
    return Object.freeze({ name, attributes: Object.freeze({ ...attributes }), thingTypeName: null, version: 1, createdAt });
  }

  private loadThingType(name: string): ThingType | undefined {
    const row = this.s.getThingType.get(name) as ThingTypeRow | undefined;
    return row ? thingTypeFromRow(row) : undefined;
  }

  /** A type a thing may take now: declared and not deprecated. */
  private requireAssignableType(name: string): void {
    const type = this.loadThingType(name);
    if (type === undefined) throw thingTypeNotFound(name);
    if (type.deprecatedAt !== null) {
      throw new RegistryError('THING_TYPE_DEPRECATED', `thing type ${shown(name)} is deprecated: no thing can take it`, `undeprecate it (\`gatehouse thing-types deprecate ${name} --undo\`) or choose another type`);
    }
  }

  private insertCertificate(cert: ParsedCertificate, status: CertificateStatus, issuerId: string | null, trust: CertificateTrust = 'ca'): CertificateRecord {
    if (trust !== 'ca' && trust !== 'registration') throw new RegistryError('CERT_MALFORMED', `unknown certificate trust ${String(trust)}`);
    const t = this.now().getTime();
    this.s.insertCert.run({
      id: cert.id, pem: cert.pem, status, subject: cert.subject, issuer_subject: cert.issuer, issuer_id: issuerId, trust,
      serial_number: cert.serialNumber, not_before: cert.notBefore.getTime(), not_after: cert.notAfter.getTime(), created_at: t, status_updated_at: t,
    });
    this.record('CERT_REGISTERED', cert.id, null, status);
    return this.loadCertificate(cert.id)!;
  }

  private insertAttachment(thingName: string, certificateId: string): boolean {
    const changed = this.s.attach.run(thingName, certificateId, this.now().getTime()).changes > 0;
    if (changed) this.record('CERT_ATTACHED', thingName, certificateId);
    return changed;
  }

  private insertCa(ca: ParsedCertificate, source: TrustedCaSource): TrustedCa {
    const row: CaRow = { id: ca.id, pem: ca.pem, subject: ca.subject, not_before: ca.notBefore.getTime(), not_after: ca.notAfter.getTime(), added_at: this.now().getTime(), source };
    this.s.insertCa.run(row);
    this.record('CA_TRUSTED', ca.id, null, source);
    return caFromRow(row);
  }

  /**
   * Refuses a document with POLICY_DOCUMENT_INVALID listing every problem the IoT policy
   * grammar finds (the same checks as `gatehouse policy simulate`). Warnings (an action
   * or variable name Gatehouse does not know) do not refuse it.
   */
  private checkDocument(document: string): void {
    checkPolicyDocument(document);
  }


  private loadPolicy(name: string): IotPolicy | undefined {
    const row = this.s.getPolicy.get(name) as PolicyRow | undefined;
    if (!row) return undefined;
    return policyFromRow(row, (this.s.policyVersionIds.all(name) as { version: number }[]).map((r) => r.version));
  }

  private requirePolicy(name: string): IotPolicy {
    const p = this.loadPolicy(name);
    if (p === undefined) throw new RegistryError('POLICY_NOT_FOUND', `no policy named ${shown(name)}`, 'names are case-sensitive; list policies with `gatehouse policies list`');
    return p;
  }

  private loadPolicyVersion(name: string, version: number): PolicyVersion | undefined {
    const row = this.s.getPolicyVersion.get(name, version) as PolicyVersionRow | undefined;
    if (!row) return undefined;
    const p = this.s.getPolicy.get(name) as PolicyRow;
    return versionFromRow(row, p.default_version);
  }

  private loadPolicyTargets(name: string): PolicyTarget[] {
    const certs = (this.s.certsForPolicy.all(name) as { certificate_id: string }[]).map((r): PolicyTarget => ({ kind: 'certificate', certificateId: r.certificate_id }));
    const groups = (this.s.groupsForPolicy.all(name) as { group_name: string }[]).map((r): PolicyTarget => ({ kind: 'thingGroup', groupName: r.group_name }));
    return [...certs, ...groups];
  }

  private loadGroup(name: string): ThingGroup | undefined {
    const row = this.s.getGroup.get(name) as GroupRow | undefined;
    return row ? groupFromRow(row) : undefined;
  }

  private requireGroup(name: string): void {
    if (!this.s.groupExists.get(name)) throw new RegistryError('THING_GROUP_NOT_FOUND', `no thing group named ${shown(name)}`, 'names are case-sensitive; list groups with `gatehouse thing-groups list`');
  }

  /** The top group of `name`'s hierarchy. Parents are fixed at creation, so the walk ends. */
  private rootOf(name: string): string {
    let current = name;
    for (;;) {
      const row = this.s.getGroup.get(current) as GroupRow | undefined;
      if (row?.parent == null) return current;
      current = row.parent;
    }
  }

  /**
   * The read behind {@link iotAuthorizationData}: the previous read when nothing changed
   * since, patched when only policy documents changed, else a full read.
   */
  private loadIotAuthorizationData(): IotAuthorizationData {
    const seq = this.latestSeq();
    const last = this.iotData;
    if (last !== undefined) {
      // Every change to what this read returns is in the change feed, written in the same
      // transaction as the change (also by other processes on the same file).
      if (last.seq === seq) return last;
      const patched = this.patchIotDocuments(last, seq);
      if (patched !== undefined) return (this.iotData = patched);
    }
    return (this.iotData = this.readIotAuthorizationData(seq));
  }

  /** Changes patched onto the previous read, at most: beyond that a full read is as cheap. */
  private static readonly IOT_PATCH_LIMIT = 256;

  /**
   * Re-reads what the changes since `last` name — policies' default documents,
   * certificates' and groups' policy lists, things' groups (with ancestors) and types —
   * and keeps the rest of `last`. Undefined when a full read is needed: a thing group
   * deleted (one change for all its members), a kind of change not known here, too many
   * changes, or a feed pruned past `last`.
   */
  private patchIotDocuments(last: IotAuthorizationData, seq: number): IotAuthorizationData | undefined {
    if (seq < last.seq) return undefined;
    const batch = this.readChanges(last.seq, SqliteRegistry.IOT_PATCH_LIMIT + 1);
    if (!batch.complete || batch.changes.length > SqliteRegistry.IOT_PATCH_LIMIT || batch.nextSeq !== seq) return undefined;
    const plan = iotPatchPlan(batch.changes);
    if (plan === undefined) return undefined;
    const { documents, certificates, groups, things } = plan;
    let policies = last.policies;
    if (documents.size > 0) {
      const byName = new Map(last.policies.map((p) => [p.name, p]));
      for (const name of documents) {
        const row = this.s.getPolicy.get(name) as { default_version: number; document: string } | undefined;
        if (row === undefined) byName.delete(name);
        else byName.set(name, Object.freeze({ name, document: row.document, version: row.default_version }));
      }
      // Names are ASCII (the table's CHECK), so code-unit order is SQLite's BINARY order.
      policies = Object.freeze([...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    }
    const relist = (map: ReadonlyMap<string, readonly string[]>, keys: ReadonlySet<string>, stmt: Database.Statement, column: string): ReadonlyMap<string, readonly string[]> => {
      if (keys.size === 0) return map;
      const out = new Map(map);
      for (const key of keys) {
        const names = (stmt.all(key) as Record<string, string>[]).map((r) => r[column]!);
        if (names.length === 0) out.delete(key);
        else out.set(key, Object.freeze(names));
      }
      return out;
    };
    let thingGroups = last.thingGroups;
    let thingTypes = last.thingTypes;
    if (things.size > 0) {
      const lineage = groupLineage(new Map(this.s.allGroupParents.all() as [string, string | null][]));
      const groupMap = new Map(last.thingGroups);
      const typeMap = new Map(last.thingTypes);
      for (const thing of things) {
        const direct = (this.s.groupsForThing.all(thing) as { group_name: string }[]).map((r) => r.group_name);
        if (direct.length === 0) groupMap.delete(thing);
        else groupMap.set(thing, Object.freeze([...new Set(direct.flatMap(lineage))].sort()));
        const type = this.s.thingTypeOf.get(thing) as string | undefined;
        if (type === undefined) typeMap.delete(thing);
        else typeMap.set(thing, type);
      }
      thingGroups = groupMap;
      thingTypes = typeMap;
    }
    return Object.freeze({
      seq,
      policies,
      certificatePolicies: relist(last.certificatePolicies, certificates, this.s.policiesForCert, 'policy_name'),
      thingGroupPolicies: relist(last.thingGroupPolicies, groups, this.s.policiesForGroup, 'policy_name'),
      thingGroups,
      thingTypes,
    });
  }

  /** The full bulk read (the maps: iot-attachments.ts). */
  private readIotAuthorizationData(seq: number): IotAuthorizationData {
    const policies = (this.s.defaultDocuments.all() as [string, number, string][])
      .map(([name, version, document]) => Object.freeze({ name, document, version }));
    // Each statement runs when its rows are read: one open iterator at a time.
    const rows = (stmt: Database.Statement): Iterable<[string, string]> => ({ [Symbol.iterator]: () => stmt.iterate() as IterableIterator<[string, string]> });
    const maps = buildAttachmentMaps({
      certificatePolicies: rows(this.s.allCertPolicies),
      groupPolicies: rows(this.s.allGroupPolicies),
      members: rows(this.s.allMembers),
      parents: this.s.allGroupParents.all() as [string, string | null][],
      thingTypes: this.s.allThingTypes.all() as [string, string][],
    });
    return Object.freeze({ seq, policies: Object.freeze(policies), ...maps });
  }

  private loadThing(name: string): Thing | undefined {
    return groupThings(this.s.getThing.all(name) as AttrRow[])[0];
  }

  private loadCertificate(id: string): CertificateRecord | undefined {
    const row = this.s.getCert.get(id) as CertRow | undefined;
    return row ? certFromRow(row) : undefined;
  }

  private requireThing(name: string): void {
    if (!this.s.thingExists.get(name)) throw thingNotFound(name);
  }

  private requireCert(id: string): void {
    if (!this.s.certExists.get(id)) throw certNotFound(id);
  }

  private resolveId(input: string, stmt: Database.Statement, what: string, notFound: 'CERT_NOT_FOUND' | 'CA_NOT_FOUND', listCommand: string): string {
    const p = input.trim().toLowerCase().replace(/:/g, '');
    if (!ID_PREFIX.test(p)) {
      throw new RegistryError('CERT_ID_INVALID', `${shown(input)} is not a ${what} id: give the 64 hex digits of its SHA-256, or a unique prefix of at least 8`, `list ids with \`${listCommand}\``);
    }
    const rows = stmt.all({ lower: p, upper: p + 'g' }) as { id: string }[];
    const [first, second] = rows;
    if (first === undefined) {
      throw new RegistryError(notFound, `no ${what} with id ${p.length === 64 ? p : `starting with ${p}`}`, `list ids with \`${listCommand}\``);
    }
    if (second !== undefined) throw new RegistryError('CERT_ID_AMBIGUOUS', `more than one ${what} id starts with ${p}`, 'give more hex digits of the id');
    return first.id;
  }
}

function prepare(db: Db) {
  const p = (sql: string): Database.Statement => db.prepare(sql);
  return {
    thingExists: p('SELECT 1 FROM things WHERE name = ?'),
    getThing: p(`SELECT t.name, t.created_at, t.version, ty.type_name, a.key, a.value FROM things t
                 LEFT JOIN thing_types ty ON ty.thing_name = t.name LEFT JOIN thing_attributes a ON a.thing_name = t.name
                 WHERE t.name = ? ORDER BY a.key`),
    listThings: p(`SELECT t.name, t.created_at, t.version, ty.type_name, a.key, a.value FROM
                     (SELECT name, created_at, version FROM things
                      WHERE (name > @lower OR (@strict = 0 AND name = @lower)) AND name < @upper ORDER BY name LIMIT @limit) t
                   LEFT JOIN thing_types ty ON ty.thing_name = t.name
                   LEFT JOIN thing_attributes a ON a.thing_name = t.name ORDER BY t.name, a.key`),
    upsertAttr: p('INSERT INTO thing_attributes (thing_name, key, value) VALUES (?, ?, ?) ON CONFLICT (thing_name, key) DO UPDATE SET value = excluded.value'),
    deleteAttr: p('DELETE FROM thing_attributes WHERE thing_name = ? AND key = ?'),
    setThingType: p('INSERT INTO thing_types (thing_name, type_name) VALUES (?, ?) ON CONFLICT (thing_name) DO UPDATE SET type_name = excluded.type_name'),
    clearThingType: p('DELETE FROM thing_types WHERE thing_name = ?'),
    bumpThingVersion: p('UPDATE things SET version = version + 1 WHERE name = ?'),
    getThingType: p('SELECT * FROM thing_type_defs WHERE name = ?'),
    listThingTypes: p('SELECT * FROM thing_type_defs ORDER BY name'),
    insertThingType: p('INSERT INTO thing_type_defs (name, description, searchable_attributes, created_at) VALUES (?, ?, ?, ?)'),
    setThingTypeDeprecated: p('UPDATE thing_type_defs SET deprecated_at = ? WHERE name = ?'),
    deleteThingType: p('DELETE FROM thing_type_defs WHERE name = ?'),
    firstThingOfType: p('SELECT thing_name FROM thing_types WHERE type_name = ? ORDER BY thing_name LIMIT 1').pluck(),
    thingsOfType: p('SELECT thing_name FROM thing_types WHERE type_name = ? ORDER BY thing_name').pluck(),
    policyExists: p('SELECT 1 FROM iot_policies WHERE name = ?'),
    getPolicy: p(`SELECT p.*, v.document FROM iot_policies p JOIN iot_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version
                  WHERE p.name = ?`),
    listPolicies: p(`SELECT p.*, v.document FROM iot_policies p JOIN iot_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version
                     ORDER BY p.name`),
    insertPolicy: p('INSERT INTO iot_policies (name, default_version, next_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)'),
    setPolicyVersions: p('UPDATE iot_policies SET default_version = ?, next_version = ?, updated_at = ? WHERE name = ?'),
    deletePolicy: p('DELETE FROM iot_policies WHERE name = ?'),
    insertPolicyVersion: p('INSERT INTO iot_policy_versions (policy_name, version, document, created_at) VALUES (?, ?, ?, ?)'),
    getPolicyVersion: p('SELECT * FROM iot_policy_versions WHERE policy_name = ? AND version = ?'),
    policyVersions: p('SELECT * FROM iot_policy_versions WHERE policy_name = ? ORDER BY version'),
    policyVersionIds: p('SELECT version FROM iot_policy_versions WHERE policy_name = ? ORDER BY version'),
    allPolicyVersionIds: p('SELECT policy_name, version FROM iot_policy_versions ORDER BY policy_name, version'),
    deletePolicyVersion: p('DELETE FROM iot_policy_versions WHERE policy_name = ? AND version = ?'),
    attachPolicyToCert: p('INSERT OR IGNORE INTO iot_policy_certificate_attachments (certificate_id, policy_name, attached_at) VALUES (?, ?, ?)'),
    detachPolicyFromCert: p('DELETE FROM iot_policy_certificate_attachments WHERE certificate_id = ? AND policy_name = ?'),
    attachPolicyToGroup: p('INSERT OR IGNORE INTO iot_policy_group_attachments (group_name, policy_name, attached_at) VALUES (?, ?, ?)'),
    detachPolicyFromGroup: p('DELETE FROM iot_policy_group_attachments WHERE group_name = ? AND policy_name = ?'),
    certsForPolicy: p('SELECT certificate_id FROM iot_policy_certificate_attachments WHERE policy_name = ? ORDER BY certificate_id'),
    groupsForPolicy: p('SELECT group_name FROM iot_policy_group_attachments WHERE policy_name = ? ORDER BY group_name'),
    policiesForCert: p('SELECT policy_name FROM iot_policy_certificate_attachments WHERE certificate_id = ? ORDER BY policy_name'),
    policiesForGroup: p('SELECT policy_name FROM iot_policy_group_attachments WHERE group_name = ? ORDER BY policy_name'),
    groupExists: p('SELECT 1 FROM thing_groups WHERE name = ?'),
    getGroup: p('SELECT * FROM thing_groups WHERE name = ?'),
    listGroups: p('SELECT * FROM thing_groups ORDER BY name'),
    insertGroup: p('INSERT INTO thing_groups (name, parent, description, created_at) VALUES (?, ?, ?, ?)'),
    deleteGroup: p('DELETE FROM thing_groups WHERE name = ?'),
    firstChildGroup: p('SELECT name FROM thing_groups WHERE parent = ? ORDER BY name LIMIT 1'),
    addMember: p('INSERT INTO thing_group_members (thing_name, group_name, added_at) VALUES (?, ?, ?)'),
    removeMember: p('DELETE FROM thing_group_members WHERE thing_name = ? AND group_name = ?'),
    thingsInGroup: p('SELECT thing_name FROM thing_group_members WHERE group_name = ? ORDER BY thing_name'),
    groupsForThing: p('SELECT group_name FROM thing_group_members WHERE thing_name = ? ORDER BY group_name'),
    // Raw statements (rows as arrays) for the bulk read.
    defaultDocuments: p(`SELECT p.name, p.default_version, v.document FROM iot_policies p
                         JOIN iot_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version ORDER BY p.name`).raw(true),
    allCertPolicies: p("SELECT certificate_id, group_concat(policy_name, ' ') FROM iot_policy_certificate_attachments GROUP BY certificate_id ORDER BY certificate_id").raw(true),
    allGroupPolicies: p("SELECT group_name, group_concat(policy_name, ' ') FROM iot_policy_group_attachments GROUP BY group_name ORDER BY group_name").raw(true),
    allGroupParents: p('SELECT name, parent FROM thing_groups').raw(true),
    allMembers: p("SELECT thing_name, group_concat(group_name, ' ') FROM thing_group_members GROUP BY thing_name ORDER BY thing_name").raw(true),
    allThingTypes: p('SELECT thing_name, type_name FROM thing_types ORDER BY thing_name').raw(true),
    thingTypeOf: p('SELECT type_name FROM thing_types WHERE thing_name = ?').pluck(),
    countThings: p('SELECT count(*) AS n FROM things'),
    insertThing: p('INSERT INTO things (name, created_at) VALUES (?, ?)'),
    insertAttr: p('INSERT INTO thing_attributes (thing_name, key, value) VALUES (?, ?, ?)'),
    deleteThing: p('DELETE FROM things WHERE name = ?'),
    certExists: p('SELECT 1 FROM certificates WHERE id = ?'),
    getCert: p('SELECT * FROM certificates WHERE id = ?'),
    getCertStatus: p('SELECT status FROM certificates WHERE id = ?'),
    certIdsWithPrefix: p('SELECT id FROM certificates WHERE id >= @lower AND id < @upper ORDER BY id LIMIT 2'),
    listCerts: p('SELECT * FROM certificates WHERE (@status IS NULL OR status = @status) ORDER BY created_at, id LIMIT @limit'),
    certsForThingFull: p(`SELECT c.* FROM attachments a JOIN certificates c ON c.id = a.certificate_id
                          WHERE a.thing_name = @thing AND (@status IS NULL OR c.status = @status) ORDER BY a.attached_at, c.id LIMIT @limit`),
    insertCert: p(`INSERT INTO certificates (id, pem, status, subject, issuer_subject, issuer_id, trust, serial_number, not_before, not_after, created_at, status_updated_at)
                   VALUES (@id, @pem, @status, @subject, @issuer_subject, @issuer_id, @trust, @serial_number, @not_before, @not_after, @created_at, @status_updated_at)`),
    setCertStatus: p('UPDATE certificates SET status = ?, status_updated_at = ? WHERE id = ?'),
    deleteCert: p('DELETE FROM certificates WHERE id = ?'),
    attach: p('INSERT OR IGNORE INTO attachments (thing_name, certificate_id, attached_at) VALUES (?, ?, ?)'),
    detach: p('DELETE FROM attachments WHERE thing_name = ? AND certificate_id = ?'),
    isAttached: p('SELECT 1 FROM attachments WHERE thing_name = ? AND certificate_id = ?'),
    thingsForCert: p('SELECT thing_name FROM attachments WHERE certificate_id = ? ORDER BY thing_name'),
    certsForThing: p('SELECT certificate_id FROM attachments WHERE thing_name = ? ORDER BY attached_at, certificate_id'),
    getCa: p('SELECT * FROM trusted_cas WHERE id = ?'),
    listCas: p('SELECT * FROM trusted_cas ORDER BY added_at, id'),
    caIdsWithPrefix: p('SELECT id FROM trusted_cas WHERE id >= @lower AND id < @upper ORDER BY id LIMIT 2'),
    insertCa: p('INSERT INTO trusted_cas (id, pem, subject, not_before, not_after, added_at, source) VALUES (@id, @pem, @subject, @not_before, @not_after, @added_at, @source)'),
    deleteCa: p('DELETE FROM trusted_cas WHERE id = ?'),
    gatewaySeen: p('SELECT 1 FROM gateway_cas_seen WHERE id = ?'),
    insertGatewaySeen: p('INSERT INTO gateway_cas_seen (id, first_seen_at) VALUES (?, ?)'),
    insertChange: p('INSERT INTO changes (kind, entity, related, detail, at) VALUES (?, ?, ?, ?, ?)'),
    pruneChanges: p('DELETE FROM changes WHERE seq <= ?'),
    getPrunedThrough: p("SELECT value FROM registry_meta WHERE key = 'pruned_through'"),
    setPrunedThrough: p("INSERT INTO registry_meta (key, value) VALUES ('pruned_through', ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)"),
    latestSeq: p("SELECT seq FROM sqlite_sequence WHERE name = 'changes'"),
    changesSince: p('SELECT * FROM changes WHERE seq > ? ORDER BY seq LIMIT ?'),
  };
}

/** Creates the file with mode 0600 if missing and removes group/other access if present. */
function ensurePrivateFile(file: string): void {
  const fd = openSync(file, 'a', 0o600);
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

export function groupThings(rows: readonly AttrRow[]): Thing[] {
  const out: Thing[] = [];
  let current: { name: string; createdAt: Date; version: number; thingTypeName: string | null; attributes: Record<string, string> } | undefined;
  const flush = (): void => {
    if (current) {
      out.push(Object.freeze({ name: current.name, createdAt: current.createdAt, thingTypeName: current.thingTypeName, version: current.version, attributes: Object.freeze(current.attributes) }));
    }
  };
  for (const r of rows) {
    if (current?.name !== r.name) {
      flush();
      current = { name: r.name, createdAt: new Date(r.created_at), version: r.version, thingTypeName: r.type_name, attributes: {} };
    }
    if (r.key !== null && r.value !== null) current.attributes[r.key] = r.value;
  }
  flush();
  return out;
}

export function certFromRow(r: CertRow): CertificateRecord {
  return Object.freeze({
    id: r.id, pem: r.pem, status: r.status, subject: r.subject, issuerSubject: r.issuer_subject, issuerId: r.issuer_id, trust: r.trust,
    serialNumber: r.serial_number, notBefore: new Date(r.not_before), notAfter: new Date(r.not_after),
    createdAt: new Date(r.created_at), statusUpdatedAt: new Date(r.status_updated_at),
  });
}

export function caFromRow(r: CaRow): TrustedCa {
  return Object.freeze({
    id: r.id, pem: r.pem, subject: r.subject, notBefore: new Date(r.not_before), notAfter: new Date(r.not_after), addedAt: new Date(r.added_at), source: r.source,
  });
}

export function changeFromRow(r: ChangeRow): Change {
  const base = { seq: r.seq, at: new Date(r.at) };
  switch (r.kind) {
    case 'THING_CREATED':
    case 'THING_DELETED':
      return { ...base, kind: r.kind, thingName: r.entity };
    case 'CERT_REGISTERED':
    case 'CERT_STATUS_CHANGED':
      return { ...base, kind: r.kind, certificateId: r.entity, status: r.detail as CertificateStatus };
    case 'CERT_DELETED':
      return { ...base, kind: r.kind, certificateId: r.entity };
    case 'CERT_ATTACHED':
    case 'CERT_DETACHED':
      return { ...base, kind: r.kind, thingName: r.entity, certificateId: r.related ?? '' };
    case 'CA_TRUSTED':
    case 'CA_UNTRUSTED':
      return { ...base, kind: r.kind, caId: r.entity };
    case 'THING_UPDATED':
      return { ...base, kind: r.kind, thingName: r.entity };
    case 'POLICY_CHANGED':
      return { ...base, kind: r.kind, policyName: r.entity, event: r.detail as PolicyEvent, version: Number(r.related) };
    case 'POLICY_ATTACHMENT_CHANGED':
      return { ...base, kind: r.kind, policyName: r.entity, target: targetFromKey(r.related ?? ''), attached: r.detail === 'ATTACHED' };
    case 'THING_GROUP_CHANGED':
      return { ...base, kind: r.kind, groupName: r.entity, event: r.detail as ThingGroupEvent, thingName: r.related };
    case 'THING_TYPE_CHANGED':
      return { ...base, kind: r.kind, typeName: r.entity, event: r.detail as ThingTypeEvent };
    case 'SERVICE_MESSAGE':
      return { ...base, kind: r.kind, topic: r.entity, payload: r.detail ?? '' };
  }
}

/** How a policy target is stored in the change feed: `certificate:ID` or `thingGroup:NAME`. */
export function targetKey(t: PolicyTarget): string {
  return t.kind === 'certificate' ? `certificate:${t.certificateId}` : `thingGroup:${t.groupName}`;
}

function targetFromKey(key: string): PolicyTarget {
  const colon = key.indexOf(':');
  const rest = key.slice(colon + 1);
  return key.slice(0, colon) === 'certificate' ? { kind: 'certificate', certificateId: rest } : { kind: 'thingGroup', groupName: rest };
}

export function describeTarget(t: PolicyTarget): string {
  return t.kind === 'certificate' ? `certificate ${t.certificateId}` : `thing group ${shown(t.groupName)}`;
}

export function policyFromRow(r: PolicyRow, versions: readonly number[]): IotPolicy {
  return Object.freeze({
    name: r.name, defaultVersion: r.default_version, document: r.document, versions: Object.freeze([...versions]),
    createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
  });
}

export function versionFromRow(r: PolicyVersionRow, defaultVersion: number): PolicyVersion {
  return Object.freeze({ policyName: r.policy_name, version: r.version, document: r.document, isDefault: r.version === defaultVersion, createdAt: new Date(r.created_at) });
}

export function thingTypeFromRow(r: ThingTypeRow): ThingType {
  return Object.freeze({
    name: r.name, description: r.description, searchableAttributes: Object.freeze(JSON.parse(r.searchable_attributes) as string[]),
    deprecatedAt: r.deprecated_at === null ? null : new Date(r.deprecated_at), createdAt: new Date(r.created_at),
  });
}

export function checkVersion(thing: Thing, expected: number): void {
  if (thing.version !== expected) {
    throw new RegistryError('THING_VERSION_CONFLICT', `thing ${shown(thing.name)} is at version ${thing.version}, not ${expected}`, 'read the thing again and retry with its current version');
  }
}

export function groupFromRow(r: GroupRow): ThingGroup {
  return Object.freeze({ name: r.name, parent: r.parent, description: r.description, createdAt: new Date(r.created_at) });
}

export const policyVersionNotFound = (name: string, version: number): RegistryError =>
  new RegistryError('POLICY_VERSION_NOT_FOUND', `policy ${shown(name)} has no version ${version}`, `list its versions with \`gatehouse policies show ${name}\``);

export function checkPolicyDocument(document: string): void {
  if (typeof document !== 'string') throw new TypeError('a policy document is text');
  const { problems } = parseIotPolicyDocument(document);
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new RegistryError('POLICY_DOCUMENT_INVALID',
      `the policy document has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => `${p.code} at ${p.path}: ${p.message}`).join('; ')}`,
      first.fix, problems);
  }
}

export function parseLeaf(pem: string): ParsedCertificate {
  const parsed = parseCertificatePem(pem);
  if (!parsed.ok) throw new RegistryError('CERT_MALFORMED', `not a usable certificate: ${parsed.message}`, 'pass a PEM file that starts with -----BEGIN CERTIFICATE-----');
  return parsed.certificates[0];
}

export function parseCa(pem: string): ParsedCertificate {
  const ca = parseLeaf(pem);
  if (!ca.isCa) throw new RegistryError('CA_NOT_A_CA', `certificate ${ca.id} (${ca.subject}) is not a CA certificate (basicConstraints cA is not set)`, 'pass the certificate of the CA that issues device certificates');
  return ca;
}

export function checkStatus(status: string): CertificateStatus {
  if (!STATUSES.includes(status)) throw new TypeError(`unknown certificate status ${shown(status)}`);
  return status as CertificateStatus;
}

function mapSqliteError(e: unknown): unknown {
  if (e instanceof Database.SqliteError && (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_LOCKED')) return busy();
  return e;
}

const busy = (): RegistryError =>
  new RegistryError('REGISTRY_BUSY', 'the registry is locked by another process', 'try again; if it persists, look for a stuck gatehouse process using the same data directory');
export const closedError = (): RegistryError => new RegistryError('REGISTRY_CLOSED', 'the registry has been closed');
export const thingExists = (name: string): RegistryError => new RegistryError('THING_EXISTS', `thing ${shown(name)} already exists`, 'choose another name, or use `gatehouse things register` to add a certificate to it');
export const thingNotFound = (name: string): RegistryError => new RegistryError('THING_NOT_FOUND', `no thing named ${shown(name)}`, 'names are case-sensitive; list things with `gatehouse things list`');
export const thingTypeNotFound = (name: string): RegistryError => new RegistryError('THING_TYPE_NOT_FOUND', `no thing type named ${shown(name)}`, 'create it first (`gatehouse thing-types create NAME`); list types with `gatehouse thing-types list`');
export const certNotFound = (id: string): RegistryError => new RegistryError('CERT_NOT_FOUND', `no certificate with id ${shown(id)}`, 'list certificates with `gatehouse certs list`');
export const caNotFound = (id: string): RegistryError => new RegistryError('CA_NOT_FOUND', `no trusted CA with id ${shown(id)}`, 'list trusted CAs with `gatehouse ca list`');
