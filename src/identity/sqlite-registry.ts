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
import { migrate } from './migrations.js';
import { assertAttributes, assertThingName, isValidThingName, shown } from './names.js';
import type {
  CertificateRecord, CertificateStatus, Change, ChangeBatch, ChangeKind, ChangeListener, EnrollOptions, EnrollResult,
  ListCertificatesOptions, ListThingsOptions, RegisterCertificateOptions, Registry, RegistryWatch, Thing, TrustedCa,
  TrustedCaSource, WatchOptions,
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

const STATUSES: readonly string[] = ['ACTIVE', 'INACTIVE', 'REVOKED'];
const ID_PREFIX = /^[0-9a-f]{8,64}$/;
const FULL_ID = /^[0-9a-f]{64}$/;
/** Sorts after every character allowed in thing names, for prefix range scans. */
const NAME_UPPER = '{';

interface AttrRow { name: string; created_at: number; key: string | null; value: string | null }
interface CertRow {
  id: string; pem: string; status: CertificateStatus; subject: string; issuer_subject: string; issuer_id: string | null;
  serial_number: string; not_before: number; not_after: number; created_at: number; status_updated_at: number;
}
interface CaRow { id: string; pem: string; subject: string; not_before: number; not_after: number; added_at: number; source: TrustedCaSource }
interface ChangeRow { seq: number; kind: ChangeKind; entity: string; related: string | null; detail: string | null; at: number }

export class SqliteRegistry implements Registry {
  readonly file: string;
  private readonly db: Db;
  private readonly now: () => Date;
  private readonly retention: number;
  private readonly pollers = new Set<() => void>();
  private kickScheduled = false;
  private closed = false;
  private readonly s: ReturnType<typeof prepare>;

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

  async deleteThing(name: string): Promise<void> {
    assertThingName(name);
    this.write(() => {
      if (this.s.deleteThing.run(name).changes === 0) throw thingNotFound(name);
      this.record('THING_DELETED', name);
    });
  }

  // ---------------------------------------------------------- certificates

  async registerCertificate(pem: string, options: RegisterCertificateOptions = {}): Promise<CertificateRecord> {
    const cert = parseLeaf(pem);
    const status = checkStatus(options.status ?? 'ACTIVE');
    return this.write(() => {
      if (this.s.getCert.get(cert.id)) throw new RegistryError('CERT_EXISTS', `certificate ${cert.id} is already registered`, 'use `gatehouse certs show` to see it, or `things attach` to attach it');
      return this.insertCertificate(cert, status, options.issuerId ?? null);
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
      if (this.s.deleteCert.run(id).changes === 0) throw certNotFound(id);
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

  private write<T>(fn: () => T): T {
    if (this.closed) throw closedError();
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (e) {
      throw mapSqliteError(e);
    }
    this.kick();
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
    return Object.freeze({ name, attributes: Object.freeze({ ...attributes }), createdAt });
  }

  private insertCertificate(cert: ParsedCertificate, status: CertificateStatus, issuerId: string | null): CertificateRecord {
    const t = this.now().getTime();
    this.s.insertCert.run({
      id: cert.id, pem: cert.pem, status, subject: cert.subject, issuer_subject: cert.issuer, issuer_id: issuerId,
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
    getThing: p(`SELECT t.name, t.created_at, a.key, a.value FROM things t LEFT JOIN thing_attributes a ON a.thing_name = t.name
                 WHERE t.name = ? ORDER BY a.key`),
    listThings: p(`SELECT t.name, t.created_at, a.key, a.value FROM
                     (SELECT name, created_at FROM things
                      WHERE (name > @lower OR (@strict = 0 AND name = @lower)) AND name < @upper ORDER BY name LIMIT @limit) t
                   LEFT JOIN thing_attributes a ON a.thing_name = t.name ORDER BY t.name, a.key`),
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
    insertCert: p(`INSERT INTO certificates (id, pem, status, subject, issuer_subject, issuer_id, serial_number, not_before, not_after, created_at, status_updated_at)
                   VALUES (@id, @pem, @status, @subject, @issuer_subject, @issuer_id, @serial_number, @not_before, @not_after, @created_at, @status_updated_at)`),
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

function groupThings(rows: readonly AttrRow[]): Thing[] {
  const out: Thing[] = [];
  let current: { name: string; createdAt: Date; attributes: Record<string, string> } | undefined;
  const flush = (): void => {
    if (current) out.push(Object.freeze({ name: current.name, createdAt: current.createdAt, attributes: Object.freeze(current.attributes) }));
  };
  for (const r of rows) {
    if (current?.name !== r.name) {
      flush();
      current = { name: r.name, createdAt: new Date(r.created_at), attributes: {} };
    }
    if (r.key !== null && r.value !== null) current.attributes[r.key] = r.value;
  }
  flush();
  return out;
}

function certFromRow(r: CertRow): CertificateRecord {
  return Object.freeze({
    id: r.id, pem: r.pem, status: r.status, subject: r.subject, issuerSubject: r.issuer_subject, issuerId: r.issuer_id,
    serialNumber: r.serial_number, notBefore: new Date(r.not_before), notAfter: new Date(r.not_after),
    createdAt: new Date(r.created_at), statusUpdatedAt: new Date(r.status_updated_at),
  });
}

function caFromRow(r: CaRow): TrustedCa {
  return Object.freeze({
    id: r.id, pem: r.pem, subject: r.subject, notBefore: new Date(r.not_before), notAfter: new Date(r.not_after), addedAt: new Date(r.added_at), source: r.source,
  });
}

function changeFromRow(r: ChangeRow): Change {
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
  }
}

function parseLeaf(pem: string): ParsedCertificate {
  const parsed = parseCertificatePem(pem);
  if (!parsed.ok) throw new RegistryError('CERT_MALFORMED', `not a usable certificate: ${parsed.message}`, 'pass a PEM file that starts with -----BEGIN CERTIFICATE-----');
  return parsed.certificates[0];
}

function parseCa(pem: string): ParsedCertificate {
  const ca = parseLeaf(pem);
  if (!ca.isCa) throw new RegistryError('CA_NOT_A_CA', `certificate ${ca.id} (${ca.subject}) is not a CA certificate (basicConstraints cA is not set)`, 'pass the certificate of the CA that issues device certificates');
  return ca;
}

function checkStatus(status: string): CertificateStatus {
  if (!STATUSES.includes(status)) throw new TypeError(`unknown certificate status ${shown(status)}`);
  return status as CertificateStatus;
}

function mapSqliteError(e: unknown): unknown {
  if (e instanceof Database.SqliteError && (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_LOCKED')) return busy();
  return e;
}

const busy = (): RegistryError =>
  new RegistryError('REGISTRY_BUSY', 'the registry is locked by another process', 'try again; if it persists, look for a stuck gatehouse process using the same data directory');
const closedError = (): RegistryError => new RegistryError('REGISTRY_CLOSED', 'the registry has been closed');
const thingExists = (name: string): RegistryError => new RegistryError('THING_EXISTS', `thing ${shown(name)} already exists`, 'choose another name, or use `gatehouse things register` to add a certificate to it');
const thingNotFound = (name: string): RegistryError => new RegistryError('THING_NOT_FOUND', `no thing named ${shown(name)}`, 'names are case-sensitive; list things with `gatehouse things list`');
const certNotFound = (id: string): RegistryError => new RegistryError('CERT_NOT_FOUND', `no certificate with id ${shown(id)}`, 'list certificates with `gatehouse certs list`');
const caNotFound = (id: string): RegistryError => new RegistryError('CA_NOT_FOUND', `no trusted CA with id ${shown(id)}`, 'list trusted CAs with `gatehouse ca list`');
