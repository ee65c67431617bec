/**
 * The registry on PostgreSQL, for several gateways sharing one fleet (docs/cluster.md).
 * Same contract as the SQLite registry (registry.ts); the differences are how it gets
 * there:
 *
 * - Writers run one at a time: every writing transaction first locks the `last_seq`
 *   row of `registry_meta` (`SELECT ... FOR UPDATE`). Checks and writes inside it see
 *   every earlier commit, as in SQLite's IMMEDIATE transactions, and change sequence
 *   numbers are handed out in commit order, so a feed reader that has seen N never
 *   finds an N-1 committed later. Readers are never blocked.
 * - The change feed is the `changes` table. A writing transaction that records a
 *   change also sends `pg_notify` on the schema's channel; it is delivered at commit.
 *   Watchers LISTEN on one dedicated connection per registry and read the table on
 *   each notification, and poll it as well (the fallback when the notification
 *   connection is down). This process's own watchers are run before a mutating call
 *   returns, as with SQLite.
 * - A lost connection, a server that does not answer or a statement that exceeds its
 *   timeout is REGISTRY_UNAVAILABLE; a lock wait past `busyTimeoutMs` is REGISTRY_BUSY.
 *   Neither message ever contains the connection URL's password.
 */
import pg from 'pg';
import type { PoolClient } from 'pg';
import type { ParsedCertificate } from './certificate.js';
import { RegistryError } from './errors.js';
import { buildAttachmentMaps, groupLineage, iotPatchPlan } from './iot-attachments.js';
import { PgControlStore, type PgControlStoreOptions } from './pg-control.js';
import { migratePg, quoteIdent } from './pg-migrations.js';
import { PgClusterStore } from './pg-cluster-store.js';
import { PgJobStore } from './pg-job-store.js';
import { PgShadowStore } from './pg-shadow-store.js';
import { PgSyncState } from './pg-sync-state.js';
import { Tx } from './pg-tx.js';
import {
  assertAttributeCount, assertAttributes, assertPolicyName, assertThingGroupDescription, assertThingGroupName, assertThingName, assertThingTypeName,
  assertThingTypeProperties, checkThingUpdate, isValidThingName, shown,
} from './names.js';
import {
  applySyncBatch, mergeOutcomes, numberedPlaceholders, SYNCED_NAMES_SQL, type SyncBatch, type SyncKind, type SyncOp, type SyncOutcome,
} from './sync-apply.js';
import { driveAsync } from './steps.js';
import {
  caFromRow, caNotFound, certFromRow, certNotFound, changeFromRow, checkPolicyDocument, checkStatus, checkVersion, closedError, describeTarget,
  FULL_ID, groupFromRow, groupThings, GROUPS_PER_THING, ID_PREFIX, NAME_UPPER, parseCa, parseLeaf, policyFromRow, POLICY_VERSION_LIMIT,
  policyVersionNotFound, targetKey, thingExists, thingNotFound, thingTypeFromRow, thingTypeNotFound, THING_TYPE_DELETE_DELAY_MS, versionFromRow,
  type AttrRow, type CaRow, type CertRow, type ChangeRow, type GroupRow, type PolicyRow, type PolicyVersionRow, type ThingTypeRow,
} from './sqlite-registry.js';
import type {
  CertificateRecord, CertificateStatus, CertificateTrust, ChangeBatch, ChangeKind, ChangeListener, CreateThingTypeOptions, EnrollOptions, EnrollResult,
  IotAuthorizationData, IotPolicy, ListCertificatesOptions, ListThingsOptions, PolicyTarget, PolicyVersion, RegisterCertificateOptions, Registry,
  RegistryWatch, Thing, ThingGroup, ThingType, TrustedCa, TrustedCaSource, UpdateThingOptions, WatchOptions,
} from './registry.js';

export interface PgRegistryOptions {
  /** `postgres://` or `postgresql://` URL (libpq form; the password may be in it or in PGPASSWORD). */
  readonly url: string;
  /** Schema holding the registry's tables (created if missing; default `gatehouse`). */
  readonly schema?: string;
  /** Most connections this process opens for queries (default 10); the change feed's listener uses one more. */
  readonly poolSize?: number;
  /** A statement running longer is cancelled: REGISTRY_UNAVAILABLE (default 10000 ms). */
  readonly statementTimeoutMs?: number;
  /** How long to wait for a connection to the server (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /** How long a write waits for another node's write (default 5000 ms): REGISTRY_BUSY past it. */
  readonly busyTimeoutMs?: number;
  /** How many change rows to keep (default 10000). */
  readonly changeRetention?: number;
  /** Clock for created/updated timestamps (default: the system clock). */
  readonly now?: () => Date;
  /** Told about the notification connection (lost, back); never given the password. */
  readonly onEvent?: (event: PgRegistryEvent) => void;
}

export type PgRegistryEvent =
  | { readonly kind: 'listener-lost'; readonly message: string }
  | { readonly kind: 'listener-restored' };

/** Schema names Gatehouse accepts: a plain lower-case SQL identifier. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;
const INT8_OID = 20;
/** `bigint` columns (millisecond times, sequence numbers, counts) as numbers: all stay below 2^53. */
const baseParser = pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown;
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID && format !== 'binary' ? (v: string): number => Number(v) : baseParser(oid, format))) as pg.CustomTypesConfig['getTypeParser'],
};

/** True for `postgres://` and `postgresql://` URLs. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The URL with any password replaced by `***`, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (/pass/i.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

export type { PgStoreConnection, PgTx } from './pg-tx.js';

export class PgRegistry implements Registry {
  readonly schema: string;
  /** The URL without its password. */
  readonly displayUrl: string;
  private readonly pool: pg.Pool;
  private readonly clientConfig: pg.ClientConfig;
  private readonly channel: string;
  private readonly now: () => Date;
  private readonly retention: number;
  private readonly onEvent: (event: PgRegistryEvent) => void;
  private readonly pollers = new Set<() => Promise<void>>();
  private closed = false;
  /** The newest sequence number this process has seen committed: where a new watcher starts. */
  private knownSeq = 0;
  private listener: pg.Client | undefined;
  private listenerRetry: NodeJS.Timeout | undefined;
  private listenerLost = false;
  private listenerReady = false;
  private iotData: IotAuthorizationData | undefined;

  private constructor(options: PgRegistryOptions, schema: string) {
    this.schema = schema;
    this.displayUrl = redactUrl(options.url);
    this.now = options.now ?? (() => new Date());
    this.retention = Math.max(1, options.changeRetention ?? 10_000);
    this.onEvent = options.onEvent ?? (() => undefined);
    this.channel = `gatehouse_changes_${schema}`;
    this.clientConfig = {
      connectionString: options.url,
      application_name: 'gatehouse',
      connectionTimeoutMillis: Math.max(1, options.connectTimeoutMs ?? 5000),
      statement_timeout: Math.max(1, options.statementTimeoutMs ?? 10_000),
      lock_timeout: Math.max(1, options.busyTimeoutMs ?? 5000),
      // A transaction left open by a stuck process must not hold the write lock forever.
      idle_in_transaction_session_timeout: 60_000,
      keepAlive: true,
      options: `-c search_path=${schema}`,
      types: TYPES,
    };
    this.pool = new pg.Pool({ ...this.clientConfig, max: Math.max(1, options.poolSize ?? 10), idleTimeoutMillis: 30_000 });
    // An idle connection that breaks (server restart) must not crash the process; the
    // next query opens a new one.
    this.pool.on('error', () => undefined);
    // A connection that breaks while checked out (a transaction under way when the server
    // goes) emits 'error' on its client, which the pool listens to only while idle: without
    // a listener of its own that ends the process. The query under way fails by itself
    // (REGISTRY_UNAVAILABLE), so nothing is lost by ignoring the event here.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /** Connects, brings the schema up to date (one node at a time) and reads the feed's position. */
  static async open(options: PgRegistryOptions): Promise<PgRegistry> {
    const schema = options.schema ?? 'gatehouse';
    if (!SCHEMA_NAME.test(schema)) {
      throw new RegistryError('REGISTRY_URL_INVALID', `${shown(schema)} is not a usable schema name`, 'use lower-case letters, digits and underscores (at most 40), starting with a letter or underscore');
    }
    if (!isPostgresUrl(options.url)) {
      throw new RegistryError('REGISTRY_URL_INVALID', `the registry URL ${redactUrl(options.url)} is not a postgres:// URL`, 'give gatehouse.registry.url as postgres://USER@HOST:PORT/DATABASE (or leave it out for the embedded SQLite registry)');
    }
    const r = new PgRegistry(options, schema);
    try {
      const client = await r.pool.connect();
      try {
        await migratePg(client, schema, r.now);
      } finally {
        client.release();
      }
      r.knownSeq = await r.latestChangeSeq();
      return r;
    } catch (e) {
      await r.pool.end().catch(() => undefined);
      if (e instanceof RegistryError && e.code !== 'REGISTRY_UNAVAILABLE') throw e;
      const inner = e instanceof RegistryError ? e.message : describePgError(e);
      throw new RegistryError('REGISTRY_OPEN_FAILED', `cannot open the PostgreSQL registry at ${r.displayUrl} (schema ${schema}): ${inner}`,
        'check that PostgreSQL is running and reachable, that the URL names an existing database and a user allowed to create tables in it, and the password (in the URL or PGPASSWORD)');
    }
  }

  // ---------------------------------------------------------------- things

  async createThing(name: string, attributes: Readonly<Record<string, string>> = {}): Promise<Thing> {
    assertThingName(name);
    assertAttributes(attributes);
    return this.write(async (tx) => {
      if (await this.thingExistsIn(tx, name)) throw thingExists(name);
      return this.insertThing(tx, name, attributes);
    });
  }

  async createThingWithType(name: string, attributes: Readonly<Record<string, string>>, thingTypeName: string | null): Promise<Thing> {
    assertThingName(name);
    assertAttributes(attributes);
    if (thingTypeName !== null) assertThingTypeName(thingTypeName);
    return this.write(async (tx) => {
      if (await this.thingExistsIn(tx, name)) throw thingExists(name);
      if (thingTypeName === null) return this.insertThing(tx, name, attributes);
      await this.requireAssignableType(tx, thingTypeName);
      await this.insertThing(tx, name, attributes);
      await setThingType(tx, name, thingTypeName);
      return (await loadThing(tx, name))!;
    });
  }

  async getThing(name: string): Promise<Thing | undefined> {
    return this.read(async (tx) => (isValidThingName(name) ? loadThing(tx, name) : undefined));
  }

  async listThings(options: ListThingsOptions = {}): Promise<Thing[]> {
    return this.read(async (tx) => {
      const lower = options.after !== undefined && (options.prefix === undefined || options.after >= options.prefix) ? options.after : options.prefix ?? '';
      const strict = options.after !== undefined && lower === options.after;
      const upper = options.prefix !== undefined ? options.prefix + NAME_UPPER : NAME_UPPER.repeat(129);
      const rows = await tx.rows<AttrRow>(`SELECT t.name, t.created_at, t.version, ty.type_name, a.key, a.value FROM
          (SELECT name, created_at, version FROM things WHERE (name > $1 OR (NOT $2 AND name = $1)) AND name < $3 ORDER BY name LIMIT $4) t
          LEFT JOIN thing_types ty ON ty.thing_name = t.name LEFT JOIN thing_attributes a ON a.thing_name = t.name ORDER BY t.name, a.key`,
      [lower, strict, upper, options.limit ?? null]);
      return groupThings(rows);
    });
  }

  async countThings(): Promise<number> {
    return this.read(async (tx) => (await tx.one<{ n: number }>('SELECT count(*) AS n FROM things'))!.n);
  }

  async deleteThing(name: string, options: { readonly expectedVersion?: number } = {}): Promise<void> {
    assertThingName(name);
    await this.write(async (tx) => {
      if (options.expectedVersion !== undefined) {
        const thing = await loadThing(tx, name);
        if (thing === undefined) throw thingNotFound(name);
        checkVersion(thing, options.expectedVersion);
      }
      const groups = await tx.rows<{ group_name: string }>('SELECT group_name FROM thing_group_members WHERE thing_name = $1 ORDER BY group_name', [name]);
      if ((await tx.run('DELETE FROM things WHERE name = $1', [name])) === 0) throw thingNotFound(name);
      for (const g of groups) await this.record(tx, 'THING_GROUP_CHANGED', g.group_name, name, 'THING_REMOVED');
      await this.record(tx, 'THING_DELETED', name);
    });
  }

  // ----------------------------------------------------------- thing types

  async createThingType(name: string, options: CreateThingTypeOptions = {}): Promise<ThingType> {
    assertThingTypeName(name);
    const searchable = options.searchableAttributes ?? [];
    assertThingTypeProperties(options.description, searchable);
    return this.write(async (tx) => {
      if (await loadThingType(tx, name)) throw new RegistryError('THING_TYPE_EXISTS', `thing type ${shown(name)} already exists`, 'choose another name (a thing type cannot be changed or renamed)');
      await tx.run('INSERT INTO thing_type_defs (name, description, searchable_attributes, created_at) VALUES ($1, $2, $3, $4)',
        [name, options.description ?? null, JSON.stringify(searchable), this.now().getTime()]);
      await this.record(tx, 'THING_TYPE_CHANGED', name, null, 'CREATED');
      return (await loadThingType(tx, name))!;
    });
  }

  async getThingType(name: string): Promise<ThingType | undefined> {
    return this.read((tx) => loadThingType(tx, name));
  }

  async listThingTypes(): Promise<ThingType[]> {
    return this.read(async (tx) => (await tx.rows<ThingTypeRow>('SELECT * FROM thing_type_defs ORDER BY name')).map(thingTypeFromRow));
  }

  async deprecateThingType(name: string, undo = false): Promise<{ readonly changed: boolean }> {
    assertThingTypeName(name);
    return this.write(async (tx) => {
      const type = await loadThingType(tx, name);
      if (type === undefined) throw thingTypeNotFound(name);
      if ((type.deprecatedAt !== null) === !undo) return { changed: false };
      await tx.run('UPDATE thing_type_defs SET deprecated_at = $1 WHERE name = $2', [undo ? null : this.now().getTime(), name]);
      await this.record(tx, 'THING_TYPE_CHANGED', name, null, undo ? 'UNDEPRECATED' : 'DEPRECATED');
      return { changed: true };
    });
  }

  async deleteThingType(name: string): Promise<void> {
    assertThingTypeName(name);
    await this.write(async (tx) => {
      const type = await loadThingType(tx, name);
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
      const user = await tx.one<{ thing_name: string }>('SELECT thing_name FROM thing_types WHERE type_name = $1 ORDER BY thing_name LIMIT 1', [name]);
      if (user !== undefined) {
        throw new RegistryError('THING_TYPE_IN_USE', `thing type ${shown(name)} is the type of thing ${shown(user.thing_name)} and possibly others`,
          `change or clear the type of its things first (\`gatehouse things update NAME --clear-type\`; \`gatehouse thing-types show ${name}\` lists them)`);
      }
      await tx.run('DELETE FROM thing_type_defs WHERE name = $1', [name]);
      await this.record(tx, 'THING_TYPE_CHANGED', name, null, 'DELETED');
    });
  }

  async thingsOfType(name: string): Promise<string[]> {
    return this.read(async (tx) => (await tx.rows<{ thing_name: string }>('SELECT thing_name FROM thing_types WHERE type_name = $1 ORDER BY thing_name', [name])).map((r) => r.thing_name));
  }

  // ---------------------------------------------------------- certificates

  async registerCertificate(pem: string, options: RegisterCertificateOptions = {}): Promise<CertificateRecord> {
    const cert = parseLeaf(pem);
    const status = checkStatus(options.status ?? 'ACTIVE');
    return this.write(async (tx) => {
      if (await loadCertificate(tx, cert.id)) throw new RegistryError('CERT_EXISTS', `certificate ${cert.id} is already registered`, 'use `gatehouse certs show` to see it, or `things attach` to attach it');
      return this.insertCertificate(tx, cert, status, options.issuerId ?? null, options.trust ?? 'ca');
    });
  }

  async getCertificate(id: string): Promise<CertificateRecord | undefined> {
    return this.read(async (tx) => (FULL_ID.test(id) ? loadCertificate(tx, id) : undefined));
  }

  async resolveCertificateId(idOrPrefix: string): Promise<string> {
    return this.read((tx) => resolveId(tx, idOrPrefix, 'certificates', 'certificate', 'CERT_NOT_FOUND', 'gatehouse certs list'));
  }

  async listCertificates(options: ListCertificatesOptions = {}): Promise<CertificateRecord[]> {
    const status = options.status !== undefined ? checkStatus(options.status) : null;
    return this.read(async (tx) => {
      const limit = options.limit ?? null;
      const rows = options.thingName !== undefined
        ? await tx.rows<CertRow>(`SELECT c.* FROM attachments a JOIN certificates c ON c.id = a.certificate_id
            WHERE a.thing_name = $1 AND ($2::text IS NULL OR c.status = $2) ORDER BY a.attached_at, c.id LIMIT $3`, [options.thingName, status, limit])
        : await tx.rows<CertRow>('SELECT * FROM certificates WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at, id LIMIT $2', [status, limit]);
      return rows.map(certFromRow);
    });
  }

  async setCertificateStatus(id: string, status: CertificateStatus): Promise<{ readonly changed: boolean; readonly previous: CertificateStatus }> {
    checkStatus(status);
    return this.write(async (tx) => {
      const row = await tx.one<{ status: CertificateStatus }>('SELECT status FROM certificates WHERE id = $1', [id]);
      if (!row) throw certNotFound(id);
      const previous = row.status;
      if (previous === status) return { changed: false, previous };
      if (previous === 'REVOKED') {
        throw new RegistryError('CERT_REVOKED', `certificate ${id} is revoked; revocation is permanent`, 'issue or register a new certificate for the device');
      }
      await tx.run('UPDATE certificates SET status = $1, status_updated_at = $2 WHERE id = $3', [status, this.now().getTime(), id]);
      await this.record(tx, 'CERT_STATUS_CHANGED', id, null, status);
      return { changed: true, previous };
    });
  }

  async deleteCertificate(id: string): Promise<void> {
    await this.write(async (tx) => {
      const policies = await policiesForCert(tx, id);
      if ((await tx.run('DELETE FROM certificates WHERE id = $1', [id])) === 0) throw certNotFound(id);
      for (const p of policies) await this.record(tx, 'POLICY_ATTACHMENT_CHANGED', p, targetKey({ kind: 'certificate', certificateId: id }), 'DETACHED');
      await this.record(tx, 'CERT_DELETED', id);
    });
  }

  // ----------------------------------------------------------- attachments

  async attach(thingName: string, certificateId: string): Promise<{ readonly changed: boolean }> {
    assertThingName(thingName);
    return this.write(async (tx) => {
      await requireThing(tx, thingName);
      await requireCert(tx, certificateId);
      return { changed: await this.insertAttachment(tx, thingName, certificateId) };
    });
  }

  async detach(thingName: string, certificateId: string): Promise<void> {
    assertThingName(thingName);
    await this.write(async (tx) => {
      await requireThing(tx, thingName);
      await requireCert(tx, certificateId);
      if ((await tx.run('DELETE FROM attachments WHERE thing_name = $1 AND certificate_id = $2', [thingName, certificateId])) === 0) {
        throw new RegistryError('CERT_NOT_ATTACHED', `certificate ${certificateId} is not attached to thing ${shown(thingName)}`, 'see `gatehouse things show NAME` for its certificates');
      }
      await this.record(tx, 'CERT_DETACHED', thingName, certificateId);
    });
  }

  async isAttached(thingName: string, certificateId: string): Promise<boolean> {
    return this.read(async (tx) => (await tx.one('SELECT 1 FROM attachments WHERE thing_name = $1 AND certificate_id = $2', [thingName, certificateId])) !== undefined);
  }

  async thingsForCertificate(certificateId: string): Promise<string[]> {
    return this.read(async (tx) => (await tx.rows<{ thing_name: string }>('SELECT thing_name FROM attachments WHERE certificate_id = $1 ORDER BY thing_name', [certificateId])).map((r) => r.thing_name));
  }

  async certificatesForThing(thingName: string): Promise<string[]> {
    return this.read(async (tx) => (await tx.rows<{ certificate_id: string }>('SELECT certificate_id FROM attachments WHERE thing_name = $1 ORDER BY attached_at, certificate_id', [thingName])).map((r) => r.certificate_id));
  }

  async updateThing(name: string, update: UpdateThingOptions): Promise<{ readonly thing: Thing; readonly changed: boolean }> {
    const { type, set, remove, expected } = checkThingUpdate(name, update);
    return this.write(async (tx) => {
      const before = await loadThing(tx, name);
      if (before === undefined) throw thingNotFound(name);
      if (expected !== undefined) checkVersion(before, expected);
      let changed = false;
      if (type === null) changed = (await tx.run('DELETE FROM thing_types WHERE thing_name = $1', [name])) > 0;
      else if (type !== undefined && before.thingTypeName !== type) {
        await this.requireAssignableType(tx, type);
        await setThingType(tx, name, type);
        changed = true;
      }
      for (const [k, v] of Object.entries(set)) {
        if (before.attributes[k] === v) continue;
        await tx.run('INSERT INTO thing_attributes (thing_name, key, value) VALUES ($1, $2, $3) ON CONFLICT (thing_name, key) DO UPDATE SET value = excluded.value', [name, k, v]);
        changed = true;
      }
      for (const k of remove) if ((await tx.run('DELETE FROM thing_attributes WHERE thing_name = $1 AND key = $2', [name, k])) > 0) changed = true;
      if (changed) await tx.run('UPDATE things SET version = version + 1 WHERE name = $1', [name]);
      const thing = (await loadThing(tx, name))!;
      assertAttributeCount(thing.attributes);
      if (changed) await this.record(tx, 'THING_UPDATED', name);
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
    return this.write(async (tx) => {
      let thing = await loadThing(tx, thingName);
      const thingCreated = thing === undefined;
      if (thing !== undefined && options.thing === 'new') throw thingExists(thingName);
      thing ??= await this.insertThing(tx, thingName, attributes);
      let certificate = await loadCertificate(tx, cert.id);
      const certificateCreated = certificate === undefined;
      if (certificate?.status === 'REVOKED') {
        throw new RegistryError('CERT_REVOKED', `certificate ${cert.id} is registered and revoked; revocation is permanent`, 'issue a new certificate for the device');
      }
      certificate ??= await this.insertCertificate(tx, cert, status, options.issuerId ?? null);
      const attached = await this.insertAttachment(tx, thingName, cert.id);
      return { thing, certificate, thingCreated, certificateCreated, attached };
    });
  }

  // ------------------------------------------------------------ trusted CAs

  async trustCa(pem: string): Promise<TrustedCa> {
    const ca = parseCa(pem);
    return this.write(async (tx) => {
      if (await loadCa(tx, ca.id)) throw new RegistryError('CA_EXISTS', `CA ${ca.id} (${ca.subject}) is already trusted`);
      return this.insertCa(tx, ca, 'operator');
    });
  }

  async trustGatewayCa(pem: string): Promise<{ readonly added: boolean; readonly ca: TrustedCa | undefined }> {
    const ca = parseCa(pem);
    return this.write(async (tx) => {
      const existing = await loadCa(tx, ca.id);
      if (await tx.one('SELECT 1 FROM gateway_cas_seen WHERE id = $1', [ca.id])) return { added: false, ca: existing };
      await tx.run('INSERT INTO gateway_cas_seen (id, first_seen_at) VALUES ($1, $2)', [ca.id, this.now().getTime()]);
      if (existing) return { added: false, ca: existing };
      return { added: true, ca: await this.insertCa(tx, ca, 'gateway') };
    });
  }

  async untrustCa(id: string): Promise<void> {
    await this.write(async (tx) => {
      if ((await tx.run('DELETE FROM trusted_cas WHERE id = $1', [id])) === 0) throw caNotFound(id);
      await this.record(tx, 'CA_UNTRUSTED', id);
    });
  }

  async getTrustedCa(id: string): Promise<TrustedCa | undefined> {
    return this.read((tx) => loadCa(tx, id));
  }

  async listTrustedCas(): Promise<TrustedCa[]> {
    return this.read(async (tx) => (await tx.rows<CaRow>('SELECT * FROM trusted_cas ORDER BY added_at, id')).map(caFromRow));
  }

  async resolveCaId(idOrPrefix: string): Promise<string> {
    return this.read((tx) => resolveId(tx, idOrPrefix, 'trusted_cas', 'trusted CA', 'CA_NOT_FOUND', 'gatehouse ca list'));
  }

  // ----------------------------------------------------------- IoT policies

  async createPolicy(name: string, document: string): Promise<IotPolicy> {
    assertPolicyName(name);
    checkPolicyDocument(document);
    return this.write(async (tx) => {
      if (await tx.one('SELECT 1 FROM iot_policies WHERE name = $1', [name])) {
        throw new RegistryError('POLICY_EXISTS', `policy ${shown(name)} already exists`, 'choose another name, or add a version with `gatehouse policies create-version`');
      }
      const t = this.now().getTime();
      await tx.run('INSERT INTO iot_policies (name, default_version, next_version, created_at, updated_at) VALUES ($1, 1, 2, $2, $2)', [name, t]);
      await tx.run('INSERT INTO iot_policy_versions (policy_name, version, document, created_at) VALUES ($1, 1, $2, $3)', [name, document, t]);
      await this.record(tx, 'POLICY_CHANGED', name, '1', 'CREATED');
      return (await loadPolicy(tx, name))!;
    });
  }

  async getPolicy(name: string): Promise<IotPolicy | undefined> {
    return this.read((tx) => loadPolicy(tx, name), true);
  }

  async listPolicies(): Promise<IotPolicy[]> {
    return this.read(async (tx) => {
      const versions = new Map<string, number[]>();
      for (const r of await tx.rows<{ policy_name: string; version: number }>('SELECT policy_name, version FROM iot_policy_versions ORDER BY policy_name, version')) {
        let list = versions.get(r.policy_name);
        if (!list) versions.set(r.policy_name, (list = []));
        list.push(r.version);
      }
      return (await tx.rows<PolicyRow>(`${POLICY_SELECT} ORDER BY p.name`)).map((r) => policyFromRow(r, versions.get(r.name) ?? []));
    }, true);
  }

  async deletePolicy(name: string): Promise<void> {
    await this.write(async (tx) => {
      const p = await requirePolicy(tx, name);
      const targets = (await loadPolicyTargets(tx, name)).length;
      if (targets > 0) throw new RegistryError('POLICY_ATTACHED', `policy ${shown(name)} is attached to ${targets} target${targets === 1 ? '' : 's'}`, `detach it first (\`gatehouse policies list-targets ${name}\`)`);
      if (p.versions.length > 1) throw new RegistryError('POLICY_HAS_VERSIONS', `policy ${shown(name)} has ${p.versions.length - 1} version(s) besides the default`, 'delete the other versions first with `gatehouse policies delete-version`');
      await tx.run('DELETE FROM iot_policies WHERE name = $1', [name]);
      await this.record(tx, 'POLICY_CHANGED', name, String(p.defaultVersion), 'DELETED');
    });
  }

  async createPolicyVersion(name: string, document: string, options: { readonly setAsDefault?: boolean } = {}): Promise<PolicyVersion> {
    assertPolicyName(name);
    checkPolicyDocument(document);
    return this.write(async (tx) => {
      const p = await requirePolicy(tx, name);
      if (p.versions.length >= POLICY_VERSION_LIMIT) {
        throw new RegistryError('POLICY_VERSION_LIMIT', `policy ${shown(name)} has ${POLICY_VERSION_LIMIT} versions, the most AWS IoT allows`, 'delete a version that is not the default first (`gatehouse policies delete-version`)');
      }
      const row = (await tx.one<PolicyRow>(`${POLICY_SELECT} WHERE p.name = $1`, [name]))!;
      const version = row.next_version;
      const t = this.now().getTime();
      await tx.run('INSERT INTO iot_policy_versions (policy_name, version, document, created_at) VALUES ($1, $2, $3, $4)', [name, version, document, t]);
      await tx.run('UPDATE iot_policies SET default_version = $1, next_version = $2, updated_at = $3 WHERE name = $4',
        [options.setAsDefault === true ? version : row.default_version, version + 1, t, name]);
      await this.record(tx, 'POLICY_CHANGED', name, String(version), 'VERSION_CREATED');
      if (options.setAsDefault === true) await this.record(tx, 'POLICY_CHANGED', name, String(version), 'DEFAULT_VERSION_SET');
      return (await loadPolicyVersion(tx, name, version))!;
    });
  }

  async getPolicyVersion(name: string, version: number): Promise<PolicyVersion | undefined> {
    return this.read((tx) => loadPolicyVersion(tx, name, version), true);
  }

  async listPolicyVersions(name: string): Promise<PolicyVersion[]> {
    return this.read(async (tx) => {
      const p = await requirePolicy(tx, name);
      return (await tx.rows<PolicyVersionRow>('SELECT * FROM iot_policy_versions WHERE policy_name = $1 ORDER BY version', [name])).map((r) => versionFromRow(r, p.defaultVersion));
    }, true);
  }

  async setDefaultPolicyVersion(name: string, version: number): Promise<{ readonly changed: boolean }> {
    return this.write(async (tx) => {
      const p = await requirePolicy(tx, name);
      if (!p.versions.includes(version)) throw policyVersionNotFound(name, version);
      if (p.defaultVersion === version) return { changed: false };
      await tx.run('UPDATE iot_policies SET default_version = $1, updated_at = $2 WHERE name = $3', [version, this.now().getTime(), name]);
      await this.record(tx, 'POLICY_CHANGED', name, String(version), 'DEFAULT_VERSION_SET');
      return { changed: true };
    });
  }

  async deletePolicyVersion(name: string, version: number): Promise<void> {
    await this.write(async (tx) => {
      const p = await requirePolicy(tx, name);
      if (!p.versions.includes(version)) throw policyVersionNotFound(name, version);
      if (p.defaultVersion === version) {
        throw new RegistryError('POLICY_VERSION_IS_DEFAULT', `version ${version} is the default version of policy ${shown(name)}`, 'make another version the default first (`gatehouse policies set-default-version`), or delete the policy');
      }
      await tx.run('DELETE FROM iot_policy_versions WHERE policy_name = $1 AND version = $2', [name, version]);
      await this.record(tx, 'POLICY_CHANGED', name, String(version), 'VERSION_DELETED');
    });
  }

  async attachPolicy(name: string, target: PolicyTarget): Promise<{ readonly changed: boolean }> {
    return this.write(async (tx) => {
      await requirePolicy(tx, name);
      const t = this.now().getTime();
      let changed: boolean;
      if (target.kind === 'certificate') {
        await requireCert(tx, target.certificateId);
        changed = (await tx.run('INSERT INTO iot_policy_certificate_attachments (certificate_id, policy_name, attached_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [target.certificateId, name, t])) > 0;
      } else {
        await requireGroup(tx, target.groupName);
        changed = (await tx.run('INSERT INTO iot_policy_group_attachments (group_name, policy_name, attached_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [target.groupName, name, t])) > 0;
      }
      if (changed) await this.record(tx, 'POLICY_ATTACHMENT_CHANGED', name, targetKey(target), 'ATTACHED');
      return { changed };
    });
  }

  async detachPolicy(name: string, target: PolicyTarget): Promise<void> {
    await this.write(async (tx) => {
      await requirePolicy(tx, name);
      let removed: number;
      if (target.kind === 'certificate') {
        await requireCert(tx, target.certificateId);
        removed = await tx.run('DELETE FROM iot_policy_certificate_attachments WHERE certificate_id = $1 AND policy_name = $2', [target.certificateId, name]);
      } else {
        await requireGroup(tx, target.groupName);
        removed = await tx.run('DELETE FROM iot_policy_group_attachments WHERE group_name = $1 AND policy_name = $2', [target.groupName, name]);
      }
      if (removed === 0) {
        throw new RegistryError('POLICY_NOT_ATTACHED', `policy ${shown(name)} is not attached to ${describeTarget(target)}`, `see \`gatehouse policies list-targets ${name}\``);
      }
      await this.record(tx, 'POLICY_ATTACHMENT_CHANGED', name, targetKey(target), 'DETACHED');
    });
  }

  async policyTargets(name: string): Promise<PolicyTarget[]> {
    return this.read(async (tx) => {
      await requirePolicy(tx, name);
      return loadPolicyTargets(tx, name);
    }, true);
  }

  async policiesForTarget(target: PolicyTarget): Promise<string[]> {
    return this.read(async (tx) => {
      if (target.kind === 'certificate') {
        await requireCert(tx, target.certificateId);
        return policiesForCert(tx, target.certificateId);
      }
      await requireGroup(tx, target.groupName);
      return policiesForGroup(tx, target.groupName);
    }, true);
  }

  // ------------------------------------------------------ static thing groups

  async createThingGroup(name: string, options: { readonly parent?: string; readonly description?: string } = {}): Promise<ThingGroup> {
    assertThingGroupName(name);
    if (options.parent !== undefined) assertThingGroupName(options.parent);
    if (options.description !== undefined) assertThingGroupDescription(options.description);
    return this.write(async (tx) => {
      if (await loadGroup(tx, name)) throw new RegistryError('THING_GROUP_EXISTS', `thing group ${shown(name)} already exists`, 'choose another name (a group cannot be renamed or moved)');
      if (options.parent !== undefined) await requireGroup(tx, options.parent);
      await tx.run('INSERT INTO thing_groups (name, parent, description, created_at) VALUES ($1, $2, $3, $4)', [name, options.parent ?? null, options.description ?? null, this.now().getTime()]);
      await this.record(tx, 'THING_GROUP_CHANGED', name, null, 'CREATED');
      return (await loadGroup(tx, name))!;
    });
  }

  async getThingGroup(name: string): Promise<ThingGroup | undefined> {
    return this.read((tx) => loadGroup(tx, name));
  }

  async listThingGroups(): Promise<ThingGroup[]> {
    return this.read(async (tx) => (await tx.rows<GroupRow>('SELECT * FROM thing_groups ORDER BY name')).map(groupFromRow));
  }

  async deleteThingGroup(name: string): Promise<void> {
    await this.write(async (tx) => {
      await requireGroup(tx, name);
      const child = await tx.one<{ name: string }>('SELECT name FROM thing_groups WHERE parent = $1 ORDER BY name LIMIT 1', [name]);
      if (child) throw new RegistryError('THING_GROUP_HAS_CHILDREN', `thing group ${shown(name)} has child groups (for example ${shown(child.name)})`, 'delete its child groups first');
      const policies = await policiesForGroup(tx, name);
      if (policies.length > 0) {
        throw new RegistryError('THING_GROUP_HAS_POLICIES', `thing group ${shown(name)} has ${policies.length} policies attached`, `detach them first (\`gatehouse policies detach NAME --thing-group ${name}\`)`);
      }
      // One change for the group, not one per member (see the SQLite registry).
      await tx.run('DELETE FROM thing_groups WHERE name = $1', [name]);
      await this.record(tx, 'THING_GROUP_CHANGED', name, null, 'DELETED');
    });
  }

  async addThingToGroup(groupName: string, thingName: string): Promise<{ readonly changed: boolean }> {
    assertThingGroupName(groupName);
    assertThingName(thingName);
    return this.write(async (tx) => {
      await requireGroup(tx, groupName);
      await requireThing(tx, thingName);
      const current = await groupsForThing(tx, thingName);
      if (current.includes(groupName)) return { changed: false };
      if (current.length >= GROUPS_PER_THING) {
        throw new RegistryError('THING_GROUP_LIMIT', `thing ${shown(thingName)} is in ${GROUPS_PER_THING} groups already, the most AWS IoT allows`, 'remove it from a group first (`gatehouse thing-groups remove-thing`)');
      }
      const root = await rootOf(tx, groupName);
      let clash: string | undefined;
      for (const g of current) {
        if ((await rootOf(tx, g)) === root) {
          clash = g;
          break;
        }
      }
      if (clash !== undefined) {
        throw new RegistryError('THING_GROUP_HIERARCHY_CONFLICT', `thing ${shown(thingName)} is already in group ${shown(clash)} of the same hierarchy as ${shown(groupName)} (root ${shown(root)})`,
          'a thing can be in only one group of each hierarchy: remove it from the other group first');
      }
      await tx.run('INSERT INTO thing_group_members (thing_name, group_name, added_at) VALUES ($1, $2, $3)', [thingName, groupName, this.now().getTime()]);
      await this.record(tx, 'THING_GROUP_CHANGED', groupName, thingName, 'THING_ADDED');
      return { changed: true };
    });
  }

  async removeThingFromGroup(groupName: string, thingName: string): Promise<void> {
    assertThingGroupName(groupName);
    assertThingName(thingName);
    await this.write(async (tx) => {
      await requireGroup(tx, groupName);
      await requireThing(tx, thingName);
      if ((await tx.run('DELETE FROM thing_group_members WHERE thing_name = $1 AND group_name = $2', [thingName, groupName])) === 0) {
        throw new RegistryError('THING_NOT_IN_GROUP', `thing ${shown(thingName)} is not a member of group ${shown(groupName)}`, `see \`gatehouse thing-groups show ${groupName}\``);
      }
      await this.record(tx, 'THING_GROUP_CHANGED', groupName, thingName, 'THING_REMOVED');
    });
  }

  async thingsInGroup(groupName: string): Promise<string[]> {
    return this.read(async (tx) => {
      await requireGroup(tx, groupName);
      return (await tx.rows<{ thing_name: string }>('SELECT thing_name FROM thing_group_members WHERE group_name = $1 ORDER BY thing_name', [groupName])).map((r) => r.thing_name);
    }, true);
  }

  async groupsForThing(thingName: string): Promise<string[]> {
    return this.read((tx) => groupsForThing(tx, thingName));
  }

  async iotAuthorizationData(): Promise<IotAuthorizationData> {
    return this.read((tx) => this.loadIotAuthorizationData(tx), true);
  }

  // ------------------------------------------------------------ change feed

  async latestChangeSeq(): Promise<number> {
    return this.read(async (tx) => this.noteSeq(await latestSeq(tx)));
  }

  async changesSince(seq: number, limit = 1000): Promise<ChangeBatch> {
    return this.read((tx) => this.readChanges(tx, seq, limit), true);
  }

  watch(listener: ChangeListener, opts: WatchOptions | number = {}): RegistryWatch {
    if (this.closed) throw closedError();
    const options: WatchOptions = typeof opts === 'number' ? { intervalMs: opts } : opts;
    // "The latest at the time of the call" is the newest sequence number this process has
    // seen committed (its own writes, every feed read); a change committed elsewhere
    // just before the call may be delivered too, never one missed.
    let last = options.afterSeq ?? this.knownSeq;
    let stopped = false;
    const onError = options.onError ?? (() => undefined);
    // While the registry cannot be read, onError hears of it once, not at every poll.
    let failing = false;
    const pollOnce = async (): Promise<void> => {
      for (;;) {
        if (stopped || this.closed) return;
        const batch = await this.changesSince(last, 1000);
        failing = false;
        if (stopped || (batch.changes.length === 0 && batch.complete)) return;
        last = batch.nextSeq;
        try {
          listener(batch.changes, { complete: batch.complete });
        } catch (e) {
          onError(e);
        }
        if (batch.changes.length < 1000) return;
      }
    };
    // One poll at a time per watcher; a poll asked for while one runs is run once after it.
    let running: Promise<void> | undefined;
    let queued: Promise<void> | undefined;
    const poll = (): Promise<void> => {
      if (queued) return queued;
      const start = (): Promise<void> => pollOnce().catch((e: unknown) => {
        if (stopped || this.closed || failing) return;
        failing = true;
        onError(e);
      });
      if (!running) {
        running = start().finally(() => { running = undefined; });
        return running;
      }
      queued = running.then(() => {
        queued = undefined;
        running = start().finally(() => { running = undefined; });
        return running;
      });
      return queued;
    };
    const timer = setInterval(() => void poll(), Math.max(10, options.intervalMs ?? 250));
    timer.unref();
    this.pollers.add(poll);
    this.ensureListener();
    return {
      close: () => {
        stopped = true;
        clearInterval(timer);
        this.pollers.delete(poll);
        if (this.pollers.size === 0) this.stopListener();
      },
    };
  }

  /**
   * The control-plane store (users, access keys, roles, IAM policies, role aliases, tags,
   * audit) in this registry's schema (pg-control.ts): its changes take the registry's
   * write lock and record no change. Cheap to call; closed with the registry.
   */
  control(options: PgControlStoreOptions): PgControlStore {
    if (this.closed) throw closedError();
    return new PgControlStore({
      now: this.now,
      read: (fn) => this.read(fn, true),
      write: (fn) => this.write(fn),
      writeUnlocked: (fn) => this.transaction(fn),
    }, options);
  }

  /** The Device Shadow store in this registry's database (pg-shadow-store.ts). */
  shadows(): PgShadowStore {
    if (this.closed) throw closedError();
    return new PgShadowStore({ read: (fn) => this.read(fn, true), write: (fn) => this.transaction(fn) });
  }

  /** The cluster's shared configuration versions and gateway CA record, in this registry's schema (pg-cluster-store.ts). */
  clusterStore(): PgClusterStore {
    if (this.closed) throw closedError();
    return new PgClusterStore({ connection: { read: (fn) => this.read(fn, true), write: (fn) => this.transaction(fn) }, newClient: () => new pg.Client(this.clientConfig), schema: this.schema, now: this.now });
  }

  /**
   * The jobs store in this registry's database (pg-job-store.ts): its changes hold the
   * registry's write lock and record their device notifications in the change feed.
   */
  jobs(): PgJobStore {
    if (this.closed) throw closedError();
    return new PgJobStore({
      read: (fn) => this.read(fn, true),
      write: (fn) => this.write(fn),
      announce: (tx, m) => this.record(tx, 'SERVICE_MESSAGE', m.topic, null, m.payload),
    });
  }

  // ------------------------------------------------------ sync from AWS IoT

  /**
   * Writes a sync's batches in one transaction under the registry's write lock, with the
   * rules and the SQL the SQLite registry uses (sync-apply.ts): all of it or none of it,
   * every change recorded in the feed every node reads. With `dryRun` the transaction is
   * rolled back: the outcome says what would be written and nothing is.
   */
  async applySync(batches: readonly SyncBatch[], options: { readonly dryRun?: boolean } = {}): Promise<SyncOutcome> {
    const rollback = new Error('dry run');
    let outcome: SyncOutcome | undefined;
    try {
      await this.write(async (tx) => {
        const answer = this.syncAnswer(tx);
        const parts: SyncOutcome[] = [];
        for (const b of batches) {
          parts.push(await driveAsync(applySyncBatch({ now: this.now(), groupsPerThing: GROUPS_PER_THING, policyVersionLimit: POLICY_VERSION_LIMIT }, b), answer));
        }
        outcome = mergeOutcomes(parts);
        if (options.dryRun === true) throw rollback;
      });
    } catch (e) {
      if (e !== rollback) throw e;
    }
    return outcome!;
  }

  /** Names (ids for certificates and CAs) of the objects of a kind a sync created and manages, sorted. */
  async syncedNames(kind: SyncKind): Promise<string[]> {
    return this.read(async (tx) => (await tx.rows<{ name: string }>(numberedPlaceholders(SYNCED_NAMES_SQL), [kind])).map((r) => r.name));
  }

  /**
   * The continuous sync's shared state and lead (pg-sync-state.ts). `node` names this
   * gateway in the state it writes. Close it before the registry.
   */
  syncState(node: string): PgSyncState {
    if (this.closed) throw closedError();
    return new PgSyncState({
      connection: { read: (fn) => this.read(fn, true), write: (fn) => this.transaction(fn) },
      // The lock's session must end soon after its node vanishes: the server's keepalives
      // drop a connection whose peer no longer answers after about 10 + 3 × 5 seconds.
      newClient: () => new pg.Client({
        ...this.clientConfig, keepAlive: true, keepAliveInitialDelayMillis: 10_000, query_timeout: 5000,
        options: `${this.clientConfig.options ?? ''} -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3`,
      }),
      schema: this.schema,
      now: this.now,
      node,
    });
  }

  /**
   * How a sync step's operations run on a write transaction: statements, feed entries and
   * savepoints. A savepoint is opened only before its first write (an object the cloud
   * did not change costs no savepoint round trips), and a rolled-back one gives back the
   * feed's sequence numbers its entries took.
   */
  private syncAnswer(tx: Tx): (op: SyncOp) => Promise<unknown> {
    const texts = new Map<string, string>();
    /** The open savepoints, innermost last: opened on the server yet, and the feed's sequence number when asked for. */
    const savepoints: { opened: boolean; readonly seq: number }[] = [];
    const beforeWrite = async (): Promise<void> => {
      for (const sp of savepoints) {
        if (sp.opened) continue;
        await tx.run('SAVEPOINT sync_object');
        sp.opened = true;
      }
    };
    return async (op) => {
      switch (op.op) {
        case 'record':
          await beforeWrite();
          return this.record(tx, op.kind, op.entity, op.related, op.detail);
        case 'savepoint':
          savepoints.push({ opened: false, seq: tx.seq });
          return;
        case 'release': {
          const sp = savepoints.pop()!;
          if (sp.opened) await tx.run('RELEASE SAVEPOINT sync_object');
          return;
        }
        case 'rollback': {
          const sp = savepoints.pop()!;
          tx.seq = sp.seq;
          if (!sp.opened) return;
          await tx.run('ROLLBACK TO SAVEPOINT sync_object');
          return tx.run('RELEASE SAVEPOINT sync_object');
        }
        case 'sql': {
          let text = texts.get(op.sql);
          if (text === undefined) texts.set(op.sql, (text = numberedPlaceholders(op.sql)));
          if (op.shape === 'run') {
            await beforeWrite();
            return void await tx.run(text, op.args);
          }
          const rows = await tx.rows<Record<string, unknown>>(text, op.args);
          switch (op.shape) {
            case 'exists': return rows.length > 0;
            case 'row': return rows[0];
            case 'rows': return rows;
            case 'column': return rows.map((r) => Object.values(r)[0]);
            case 'value': return rows.length === 0 ? undefined : Object.values(rows[0]!)[0];
          }
        }
      }
    };
  }

  /** True while the notification connection is listening (changes then arrive without waiting for a poll). */
  get listening(): boolean {
    return this.listenerReady;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pollers.clear();
    this.stopListener();
    await this.pool.end().catch(() => undefined);
  }

  // --------------------------------------------------------------- private

  /** `fn` on a pooled connection; with `snapshot`, in one read-only REPEATABLE READ transaction. */
  private async read<T>(fn: (tx: Tx) => Promise<T>, snapshot = false): Promise<T> {
    if (this.closed) throw closedError();
    const client = await this.connect();
    let broken = false;
    try {
      if (snapshot) await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await fn(new Tx(client));
      if (snapshot) await client.query('COMMIT');
      return result;
    } catch (e) {
      broken = isConnectionError(e);
      if (snapshot && !broken) await client.query('ROLLBACK').catch(() => { broken = true; });
      throw mapPgError(e, this.displayUrl);
    } finally {
      client.release(broken);
    }
  }

  /**
   * `fn` in a transaction that holds the registry's write lock from its start; the
   * changes it records get the next sequence numbers, are pruned past the retention,
   * and are announced to every node at commit. Then this process's watchers run.
   */
  private async write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    const client = await this.connect();
    let broken = false;
    let result: T;
    let seq: number;
    let changed: boolean;
    try {
      await client.query('BEGIN');
      const lock = await client.query<{ value: number }>("SELECT value FROM registry_meta WHERE key = 'last_seq' FOR UPDATE");
      const start = lock.rows[0]!.value;
      const tx = new Tx(client, start);
      result = await fn(tx);
      seq = tx.seq;
      changed = seq !== start;
      if (changed) {
        await client.query("UPDATE registry_meta SET value = $1 WHERE key = 'last_seq'", [seq]);
        const cut = seq - this.retention;
        if (cut > 0 && ((await client.query('DELETE FROM changes WHERE seq <= $1', [cut])).rowCount ?? 0) > 0) {
          await client.query("UPDATE registry_meta SET value = greatest(value, $1) WHERE key = 'pruned_through'", [cut]);
        }
        await client.query('SELECT pg_notify($1, $2)', [this.channel, String(seq)]);
      }
      await client.query('COMMIT');
    } catch (e) {
      broken = isConnectionError(e);
      if (!broken) await client.query('ROLLBACK').catch(() => { broken = true; });
      throw mapPgError(e, this.displayUrl);
    } finally {
      client.release(broken);
    }
    if (changed) {
      this.noteSeq(seq);
      // Local watchers see the change before the call returns, as with SQLite.
      await Promise.all([...this.pollers].map((p) => p()));
    }
    return result;
  }

  /** `fn` in a plain READ COMMITTED transaction (no registry write lock, no change recorded). */
  private async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    const client = await this.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(new Tx(client));
      await client.query('COMMIT');
      return result;
    } catch (e) {
      broken = isConnectionError(e);
      if (!broken) await client.query('ROLLBACK').catch(() => { broken = true; });
      throw mapPgError(e, this.displayUrl);
    } finally {
      client.release(broken);
    }
  }

  private async connect(): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      throw mapPgError(e, this.displayUrl);
    }
  }

  private noteSeq(seq: number): number {
    if (seq > this.knownSeq) this.knownSeq = seq;
    return seq;
  }

  private async record(tx: Tx, kind: ChangeKind, entity: string, related: string | null = null, detail: string | null = null): Promise<void> {
    tx.seq += 1;
    await tx.run('INSERT INTO changes (seq, kind, entity, related, detail, at) VALUES ($1, $2, $3, $4, $5, $6)', [tx.seq, kind, entity, related, detail, this.now().getTime()]);
  }

  private async readChanges(tx: Tx, seq: number, limit: number): Promise<ChangeBatch> {
    const pruned = (await tx.one<{ value: number }>("SELECT value FROM registry_meta WHERE key = 'pruned_through'"))?.value ?? 0;
    const complete = seq >= pruned;
    const rows = await tx.rows<ChangeRow>('SELECT * FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, Math.max(1, Math.min(limit, 10_000))]);
    const changes = rows.map(changeFromRow);
    const lastRow = rows[rows.length - 1];
    const nextSeq = lastRow ? lastRow.seq : Math.max(seq, pruned);
    this.noteSeq(nextSeq);
    return { changes, complete, nextSeq };
  }

  /** One LISTEN connection per registry while it has watchers; reconnects with backoff. */
  private ensureListener(attempt = 0): void {
    if (this.closed || this.listener !== undefined || this.listenerRetry !== undefined || this.pollers.size === 0) return;
    const client = new pg.Client(this.clientConfig);
    this.listener = client;
    const lost = (e: unknown): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.listenerReady = false;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed || this.pollers.size === 0) return;
      if (!this.listenerLost) {
        this.listenerLost = true;
        this.onEvent({ kind: 'listener-lost', message: describePgError(e) });
      }
      const delay = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6));
      this.listenerRetry = setTimeout(() => {
        this.listenerRetry = undefined;
        this.ensureListener(attempt + 1);
      }, delay);
      this.listenerRetry.unref();
    };
    client.on('error', lost);
    client.on('end', () => lost(new Error('the notification connection ended')));
    client.on('notification', () => {
      for (const poll of [...this.pollers]) void poll();
    });
    client.connect()
      .then(() => client.query(`LISTEN ${quoteIdent(this.channel)}`))
      .then(() => {
        if (this.listener !== client) return;
        attempt = 0;
        this.listenerReady = true;
        if (this.listenerLost) {
          this.listenerLost = false;
          this.onEvent({ kind: 'listener-restored' });
        }
        // Anything committed while not listening.
        for (const poll of [...this.pollers]) void poll();
      })
      .catch(lost);
  }

  private stopListener(): void {
    if (this.listenerRetry !== undefined) clearTimeout(this.listenerRetry);
    this.listenerRetry = undefined;
    const client = this.listener;
    this.listener = undefined;
    this.listenerReady = false;
    if (client !== undefined) {
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
    }
  }

  private async thingExistsIn(tx: Tx, name: string): Promise<boolean> {
    return (await tx.one('SELECT 1 FROM things WHERE name = $1', [name])) !== undefined;
  }

  private async insertThing(tx: Tx, name: string, attributes: Readonly<Record<string, string>>): Promise<Thing> {
    const createdAt = this.now();
    await tx.run('INSERT INTO things (name, created_at) VALUES ($1, $2)', [name, createdAt.getTime()]);
    for (const [k, v] of Object.entries(attributes)) await tx.run('INSERT INTO thing_attributes (thing_name, key, value) VALUES ($1, $2, $3)', [name, k, v]);
    await this.record(tx, 'THING_CREATED', name);
    return Object.freeze({ name, attributes: Object.freeze({ ...attributes }), thingTypeName: null, version: 1, createdAt });
  }

  private async requireAssignableType(tx: Tx, name: string): Promise<void> {
    const type = await loadThingType(tx, name);
    if (type === undefined) throw thingTypeNotFound(name);
    if (type.deprecatedAt !== null) {
      throw new RegistryError('THING_TYPE_DEPRECATED', `thing type ${shown(name)} is deprecated: no thing can take it`, `undeprecate it (\`gatehouse thing-types deprecate ${name} --undo\`) or choose another type`);
    }
  }

  private async insertCertificate(tx: Tx, cert: ParsedCertificate, status: CertificateStatus, issuerId: string | null, trust: CertificateTrust = 'ca'): Promise<CertificateRecord> {
    if (trust !== 'ca' && trust !== 'registration') throw new RegistryError('CERT_MALFORMED', `unknown certificate trust ${String(trust)}`);
    const t = this.now().getTime();
    await tx.run(`INSERT INTO certificates (id, pem, status, subject, issuer_subject, issuer_id, trust, serial_number, not_before, not_after, created_at, status_updated_at)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
    [cert.id, cert.pem, status, cert.subject, cert.issuer, issuerId, trust, cert.serialNumber, cert.notBefore.getTime(), cert.notAfter.getTime(), t]);
    await this.record(tx, 'CERT_REGISTERED', cert.id, null, status);
    return (await loadCertificate(tx, cert.id))!;
  }

  private async insertAttachment(tx: Tx, thingName: string, certificateId: string): Promise<boolean> {
    const changed = (await tx.run('INSERT INTO attachments (thing_name, certificate_id, attached_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [thingName, certificateId, this.now().getTime()])) > 0;
    if (changed) await this.record(tx, 'CERT_ATTACHED', thingName, certificateId);
    return changed;
  }

  private async insertCa(tx: Tx, ca: ParsedCertificate, source: TrustedCaSource): Promise<TrustedCa> {
    const row: CaRow = { id: ca.id, pem: ca.pem, subject: ca.subject, not_before: ca.notBefore.getTime(), not_after: ca.notAfter.getTime(), added_at: this.now().getTime(), source };
    await tx.run('INSERT INTO trusted_cas (id, pem, subject, not_before, not_after, added_at, source) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [row.id, row.pem, row.subject, row.not_before, row.not_after, row.added_at, row.source]);
    await this.record(tx, 'CA_TRUSTED', ca.id, null, source);
    return caFromRow(row);
  }

  /** The previous bulk read when nothing changed since, patched when few things changed, else a full read. */
  private async loadIotAuthorizationData(tx: Tx): Promise<IotAuthorizationData> {
    const seq = this.noteSeq(await latestSeq(tx));
    const last = this.iotData;
    if (last !== undefined) {
      if (last.seq === seq) return last;
      const patched = await this.patchIotData(tx, last, seq);
      if (patched !== undefined) return (this.iotData = patched);
    }
    return (this.iotData = await readIotAuthorizationData(tx, seq));
  }

  /** Changes patched onto the previous read, at most. */
  private static readonly IOT_PATCH_LIMIT = 256;

  /** As SqliteRegistry.patchIotDocuments: re-reads what the changes since `last` name. */
  private async patchIotData(tx: Tx, last: IotAuthorizationData, seq: number): Promise<IotAuthorizationData | undefined> {
    if (seq < last.seq) return undefined;
    const batch = await this.readChanges(tx, last.seq, PgRegistry.IOT_PATCH_LIMIT + 1);
    if (!batch.complete || batch.changes.length > PgRegistry.IOT_PATCH_LIMIT || batch.nextSeq !== seq) return undefined;
    const plan = iotPatchPlan(batch.changes);
    if (plan === undefined) return undefined;
    const { documents, certificates, groups, things } = plan;
    let policies = last.policies;
    if (documents.size > 0) {
      const byName = new Map(last.policies.map((p) => [p.name, p]));
      for (const name of documents) {
        const row = await tx.one<PolicyRow>(`${POLICY_SELECT} WHERE p.name = $1`, [name]);
        if (row === undefined) byName.delete(name);
        else byName.set(name, Object.freeze({ name, document: row.document, version: row.default_version }));
      }
      policies = Object.freeze([...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    }
    const relist = async (map: ReadonlyMap<string, readonly string[]>, keys: ReadonlySet<string>, read: (key: string) => Promise<string[]>): Promise<ReadonlyMap<string, readonly string[]>> => {
      if (keys.size === 0) return map;
      const out = new Map(map);
      for (const key of keys) {
        const names = await read(key);
        if (names.length === 0) out.delete(key);
        else out.set(key, Object.freeze(names));
      }
      return out;
    };
    let thingGroups = last.thingGroups;
    let thingTypes = last.thingTypes;
    if (things.size > 0) {
      const parents = await tx.rows<{ name: string; parent: string | null }>('SELECT name, parent FROM thing_groups');
      const lineage = groupLineage(new Map(parents.map((r) => [r.name, r.parent])));
      const groupMap = new Map(last.thingGroups);
      const typeMap = new Map(last.thingTypes);
      for (const thing of things) {
        const direct = await groupsForThing(tx, thing);
        if (direct.length === 0) groupMap.delete(thing);
        else groupMap.set(thing, Object.freeze([...new Set(direct.flatMap(lineage))].sort()));
        const type = await tx.one<{ type_name: string }>('SELECT type_name FROM thing_types WHERE thing_name = $1', [thing]);
        if (type === undefined) typeMap.delete(thing);
        else typeMap.set(thing, type.type_name);
      }
      thingGroups = groupMap;
      thingTypes = typeMap;
    }
    return Object.freeze({
      seq,
      policies,
      certificatePolicies: await relist(last.certificatePolicies, certificates, (k) => policiesForCert(tx, k)),
      thingGroupPolicies: await relist(last.thingGroupPolicies, groups, (k) => policiesForGroup(tx, k)),
      thingGroups,
      thingTypes,
    });
  }
}

// ------------------------------------------------------------------ queries

const POLICY_SELECT = `SELECT p.*, v.document FROM iot_policies p
  JOIN iot_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version`;

async function latestSeq(tx: Tx): Promise<number> {
  return (await tx.one<{ value: number }>("SELECT value FROM registry_meta WHERE key = 'last_seq'"))?.value ?? 0;
}

async function loadThing(tx: Tx, name: string): Promise<Thing | undefined> {
  return groupThings(await tx.rows<AttrRow>(`SELECT t.name, t.created_at, t.version, ty.type_name, a.key, a.value FROM things t
    LEFT JOIN thing_types ty ON ty.thing_name = t.name LEFT JOIN thing_attributes a ON a.thing_name = t.name
    WHERE t.name = $1 ORDER BY a.key`, [name]))[0];
}

async function setThingType(tx: Tx, name: string, type: string): Promise<void> {
  await tx.run('INSERT INTO thing_types (thing_name, type_name) VALUES ($1, $2) ON CONFLICT (thing_name) DO UPDATE SET type_name = excluded.type_name', [name, type]);
}

async function loadThingType(tx: Tx, name: string): Promise<ThingType | undefined> {
  const row = await tx.one<ThingTypeRow>('SELECT * FROM thing_type_defs WHERE name = $1', [name]);
  return row ? thingTypeFromRow(row) : undefined;
}

async function loadCertificate(tx: Tx, id: string): Promise<CertificateRecord | undefined> {
  const row = await tx.one<CertRow>('SELECT * FROM certificates WHERE id = $1', [id]);
  return row ? certFromRow(row) : undefined;
}

async function loadCa(tx: Tx, id: string): Promise<TrustedCa | undefined> {
  const row = await tx.one<CaRow>('SELECT * FROM trusted_cas WHERE id = $1', [id]);
  return row ? caFromRow(row) : undefined;
}

async function requireThing(tx: Tx, name: string): Promise<void> {
  if (!(await tx.one('SELECT 1 FROM things WHERE name = $1', [name]))) throw thingNotFound(name);
}

async function requireCert(tx: Tx, id: string): Promise<void> {
  if (!(await tx.one('SELECT 1 FROM certificates WHERE id = $1', [id]))) throw certNotFound(id);
}

async function loadGroup(tx: Tx, name: string): Promise<ThingGroup | undefined> {
  const row = await tx.one<GroupRow>('SELECT * FROM thing_groups WHERE name = $1', [name]);
  return row ? groupFromRow(row) : undefined;
}

async function requireGroup(tx: Tx, name: string): Promise<void> {
  if (!(await tx.one('SELECT 1 FROM thing_groups WHERE name = $1', [name]))) {
    throw new RegistryError('THING_GROUP_NOT_FOUND', `no thing group named ${shown(name)}`, 'names are case-sensitive; list groups with `gatehouse thing-groups list`');
  }
}

async function groupsForThing(tx: Tx, thingName: string): Promise<string[]> {
  return (await tx.rows<{ group_name: string }>('SELECT group_name FROM thing_group_members WHERE thing_name = $1 ORDER BY group_name', [thingName])).map((r) => r.group_name);
}

/** The top group of `name`'s hierarchy (parents are fixed at creation, so the walk ends). */
async function rootOf(tx: Tx, name: string): Promise<string> {
  let current = name;
  for (;;) {
    const row = await tx.one<{ parent: string | null }>('SELECT parent FROM thing_groups WHERE name = $1', [current]);
    if (row?.parent == null) return current;
    current = row.parent;
  }
}

async function policiesForCert(tx: Tx, id: string): Promise<string[]> {
  return (await tx.rows<{ policy_name: string }>('SELECT policy_name FROM iot_policy_certificate_attachments WHERE certificate_id = $1 ORDER BY policy_name', [id])).map((r) => r.policy_name);
}

async function policiesForGroup(tx: Tx, group: string): Promise<string[]> {
  return (await tx.rows<{ policy_name: string }>('SELECT policy_name FROM iot_policy_group_attachments WHERE group_name = $1 ORDER BY policy_name', [group])).map((r) => r.policy_name);
}

async function loadPolicy(tx: Tx, name: string): Promise<IotPolicy | undefined> {
  const row = await tx.one<PolicyRow>(`${POLICY_SELECT} WHERE p.name = $1`, [name]);
  if (!row) return undefined;
  const versions = await tx.rows<{ version: number }>('SELECT version FROM iot_policy_versions WHERE policy_name = $1 ORDER BY version', [name]);
  return policyFromRow(row, versions.map((r) => r.version));
}

async function requirePolicy(tx: Tx, name: string): Promise<IotPolicy> {
  const p = await loadPolicy(tx, name);
  if (p === undefined) throw new RegistryError('POLICY_NOT_FOUND', `no policy named ${shown(name)}`, 'names are case-sensitive; list policies with `gatehouse policies list`');
  return p;
}

async function loadPolicyVersion(tx: Tx, name: string, version: number): Promise<PolicyVersion | undefined> {
  const row = await tx.one<PolicyVersionRow>('SELECT * FROM iot_policy_versions WHERE policy_name = $1 AND version = $2', [name, version]);
  if (!row) return undefined;
  const p = (await tx.one<{ default_version: number }>('SELECT default_version FROM iot_policies WHERE name = $1', [name]))!;
  return versionFromRow(row, p.default_version);
}

async function loadPolicyTargets(tx: Tx, name: string): Promise<PolicyTarget[]> {
  const certs = (await tx.rows<{ certificate_id: string }>('SELECT certificate_id FROM iot_policy_certificate_attachments WHERE policy_name = $1 ORDER BY certificate_id', [name]))
    .map((r): PolicyTarget => ({ kind: 'certificate', certificateId: r.certificate_id }));
  const groups = (await tx.rows<{ group_name: string }>('SELECT group_name FROM iot_policy_group_attachments WHERE policy_name = $1 ORDER BY group_name', [name]))
    .map((r): PolicyTarget => ({ kind: 'thingGroup', groupName: r.group_name }));
  return [...certs, ...groups];
}

async function resolveId(tx: Tx, input: string, table: 'certificates' | 'trusted_cas', what: string, notFound: 'CERT_NOT_FOUND' | 'CA_NOT_FOUND', listCommand: string): Promise<string> {
  const p = input.trim().toLowerCase().replace(/:/g, '');
  if (!ID_PREFIX.test(p)) {
    throw new RegistryError('CERT_ID_INVALID', `${shown(input)} is not a ${what} id: give the 64 hex digits of its SHA-256, or a unique prefix of at least 8`, `list ids with \`${listCommand}\``);
  }
  const rows = await tx.rows<{ id: string }>(`SELECT id FROM ${table} WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 2`, [p, p + 'g']);
  const [first, second] = rows;
  if (first === undefined) {
    throw new RegistryError(notFound, `no ${what} with id ${p.length === 64 ? p : `starting with ${p}`}`, `list ids with \`${listCommand}\``);
  }
  if (second !== undefined) throw new RegistryError('CERT_ID_AMBIGUOUS', `more than one ${what} id starts with ${p}`, 'give more hex digits of the id');
  return first.id;
}

/** The full bulk read (the maps: iot-attachments.ts). */
async function readIotAuthorizationData(tx: Tx, seq: number): Promise<IotAuthorizationData> {
  const raw = async (sql: string): Promise<unknown[][]> => (await tx.c.query({ text: sql, rowMode: 'array' })).rows as unknown[][];
  const policies = (await raw(`SELECT p.name, p.default_version, v.document FROM iot_policies p
      JOIN iot_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version ORDER BY p.name`))
    .map(([name, version, document]) => Object.freeze({ name: name as string, document: document as string, version: version as number }));
  const lists = async (sql: string): Promise<[string, string][]> => (await raw(sql)) as [string, string][];
  const maps = buildAttachmentMaps({
    certificatePolicies: await lists("SELECT certificate_id, string_agg(policy_name, ' ') FROM iot_policy_certificate_attachments GROUP BY certificate_id ORDER BY certificate_id"),
    groupPolicies: await lists("SELECT group_name, string_agg(policy_name, ' ') FROM iot_policy_group_attachments GROUP BY group_name ORDER BY group_name"),
    members: await lists("SELECT thing_name, string_agg(group_name, ' ') FROM thing_group_members GROUP BY thing_name ORDER BY thing_name"),
    parents: (await raw('SELECT name, parent FROM thing_groups')) as [string, string | null][],
    thingTypes: await lists('SELECT thing_name, type_name FROM thing_types ORDER BY thing_name'),
  });
  return Object.freeze({ seq, policies: Object.freeze(policies), ...maps });
}

// ------------------------------------------------------------------- errors

/** SQLSTATE classes and Node error codes that mean "the server cannot be reached or used now". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300', '57014']);
const BUSY_CODES = new Set(['55P03', '40001', '40P01']);
const CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|not queryable|Connection refused|connect ECONNREFUSED|the database system is (starting up|shutting down)/i;

function isConnectionError(e: unknown): boolean {
  if (e instanceof RegistryError) return false;
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  if (code.startsWith('08') || (UNAVAILABLE_CODES.has(code) && code !== '57014')) return true;
  return typeof err?.message === 'string' && CONNECTION_MESSAGES.test(err.message);
}

/** A message for `e` that names no secret (node-postgres messages do not contain the password). */
function describePgError(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const message = typeof err?.message === 'string' && err.message !== '' ? err.message : String(e);
  const code = typeof err?.code === 'string' ? ` (${err.code})` : '';
  return `${message}${code}`;
}

/** Connection and timeout failures as coded registry errors; anything else unchanged. */
export function mapPgError(e: unknown, displayUrl: string): unknown {
  if (e instanceof RegistryError) return e;
  const err = e as { code?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  if (BUSY_CODES.has(code)) {
    return new RegistryError('REGISTRY_BUSY', `the PostgreSQL registry is busy with another node's write: ${describePgError(e)}`, 'try again; if it persists, look for a long transaction on the registry database (pg_stat_activity)');
  }
  if (code === '57014') {
    return new RegistryError('REGISTRY_UNAVAILABLE', `a PostgreSQL registry statement took longer than its timeout (${displayUrl})`, 'check the database server\'s load, or raise gatehouse.registry.statementTimeoutMs');
  }
  if (isConnectionError(e) || code.startsWith('08') || UNAVAILABLE_CODES.has(code)) {
    return new RegistryError('REGISTRY_UNAVAILABLE', `the PostgreSQL registry at ${displayUrl} cannot be reached: ${describePgError(e)}`,
      'check that PostgreSQL is running and reachable from this node; the gateway retries by itself');
  }
  return e;
}
