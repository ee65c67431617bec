/**
 * Schema migrations of the SQLite registry.
 *
 * `PRAGMA user_version` holds the number of steps applied; `schema_migrations` keeps a
 * history. Steps are append-only: a released step is never edited, a change is a new
 * step. Each step runs in the same IMMEDIATE transaction as the version bump, so two
 * processes opening a fresh file at once cannot both apply it.
 */
import type { Database } from 'better-sqlite3';
import { RegistryError } from './errors.js';

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'things, attributes, certificates, attachments, trusted CAs, change feed',
    sql: `
      CREATE TABLE schema_migrations (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at INTEGER NOT NULL
      ) STRICT;

      -- Names are case-sensitive (BINARY collation). The CHECKs repeat the application's
      -- validation so that no other writer can store a name a device could not present.
      CREATE TABLE things (
        name TEXT PRIMARY KEY
          CHECK (length(name) BETWEEN 1 AND 128 AND name NOT GLOB '*[^A-Za-z0-9:_-]*'),
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE thing_attributes (
        thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (thing_name, key)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE certificates (
        id TEXT PRIMARY KEY CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),
        pem TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE', 'REVOKED')),
        subject TEXT NOT NULL,
        issuer_subject TEXT NOT NULL,
        issuer_id TEXT,
        serial_number TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        status_updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX certificates_by_status ON certificates(status, id);

      CREATE TABLE attachments (
        thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        certificate_id TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
        attached_at INTEGER NOT NULL,
        PRIMARY KEY (thing_name, certificate_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX attachments_by_certificate ON attachments(certificate_id, thing_name);

      CREATE TABLE trusted_cas (
        id TEXT PRIMARY KEY CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),
        pem TEXT NOT NULL,
        subject TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        added_at INTEGER NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('gateway', 'operator'))
      ) STRICT;

      -- Gateway CAs ever trusted automatically, so an operator's untrust is not undone.
      CREATE TABLE gateway_cas_seen (
        id TEXT PRIMARY KEY,
        first_seen_at INTEGER NOT NULL
      ) STRICT;

      -- Small key/value facts about the registry itself (e.g. the change-feed prune mark).
      CREATE TABLE registry_meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- AUTOINCREMENT: sequence numbers are never reused, even after pruning.
      CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        entity TEXT NOT NULL,
        related TEXT,
        detail TEXT,
        at INTEGER NOT NULL
      ) STRICT;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies the missing steps. Safe to call on every open, from several processes. */
export function migrate(db: Database, now: () => Date, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  const latest = migrations.length;
  const read = (): number => db.pragma('user_version', { simple: true }) as number;
  const from = read();
  if (from > latest) {
    throw new RegistryError('REGISTRY_SCHEMA_TOO_NEW', `the registry file has schema version ${from}; this Gatehouse knows versions up to ${latest}`,
      'run the Gatehouse version that last wrote this data directory, or a newer one');
  }
  if (from === latest) return { from, to: from };
  const apply = db.transaction(() => {
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let v = read();
    for (const m of migrations) {
      if (m.version <= v) continue;
      if (m.version !== v + 1) throw new Error(`migration list is not contiguous at version ${m.version}`);
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)').run(m.version, m.description, now().getTime());
      db.pragma(`user_version = ${m.version}`);
      v = m.version;
    }
  });
  apply.immediate();
  return { from, to: read() };
}
