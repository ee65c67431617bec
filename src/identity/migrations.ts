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
  {
    version: 2,
    description: 'IoT policies and versions, policy attachments, thing types, static thing groups and membership',
    sql: `
      -- Named IoT policies. The name rule is the AWS IoT one ([\\w+=,.@-], 1-128, with \\w
      -- the ASCII word characters). The default version must exist: the foreign key is
      -- deferred so that a policy and its first version are inserted in one transaction.
      CREATE TABLE iot_policies (
        name TEXT PRIMARY KEY
          CHECK (length(name) BETWEEN 1 AND 128 AND name NOT GLOB '*[^A-Za-z0-9_+=,.@-]*'),
        default_version INTEGER NOT NULL,
        -- Version ids are never reused, even after a version is deleted.
        next_version INTEGER NOT NULL CHECK (next_version > default_version),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        FOREIGN KEY (name, default_version) REFERENCES iot_policy_versions(policy_name, version) DEFERRABLE INITIALLY DEFERRED
      ) STRICT, WITHOUT ROWID;

      -- The document is the operator's exact text.
      CREATE TABLE iot_policy_versions (
        policy_name TEXT NOT NULL REFERENCES iot_policies(name) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        version INTEGER NOT NULL CHECK (version >= 1),
        document TEXT NOT NULL CHECK (length(document) >= 1),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (policy_name, version)
      ) STRICT, WITHOUT ROWID;

      -- Static thing groups. The parent is fixed at creation (as in AWS IoT), so the
      -- hierarchy has no cycles; a group with children cannot be deleted.
      CREATE TABLE thing_groups (
        name TEXT PRIMARY KEY
          CHECK (length(name) BETWEEN 1 AND 128 AND name NOT GLOB '*[^A-Za-z0-9:_-]*'),
        parent TEXT REFERENCES thing_groups(name) ON DELETE RESTRICT CHECK (parent IS NULL OR parent <> name),
        description TEXT CHECK (description IS NULL OR length(description) <= 2028),
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX thing_groups_by_parent ON thing_groups(parent, name);

      -- Deleting a thing or a group removes its memberships.
      CREATE TABLE thing_group_members (
        thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        group_name TEXT NOT NULL REFERENCES thing_groups(name) ON DELETE CASCADE,
        added_at INTEGER NOT NULL,
        PRIMARY KEY (thing_name, group_name)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX thing_group_members_by_group ON thing_group_members(group_name, thing_name);

      -- A thing has at most one type (the primary key); deleting the thing removes it.
      CREATE TABLE thing_types (
        thing_name TEXT PRIMARY KEY REFERENCES things(name) ON DELETE CASCADE,
        type_name TEXT NOT NULL
          CHECK (length(type_name) BETWEEN 1 AND 128 AND type_name NOT GLOB '*[^A-Za-z0-9:_-]*')
      ) STRICT, WITHOUT ROWID;

      -- Policy attachments. An attached policy cannot be deleted (RESTRICT); deleting a
      -- certificate removes its attachments; a group with policies cannot be deleted.
      CREATE TABLE iot_policy_certificate_attachments (
        certificate_id TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
        policy_name TEXT NOT NULL REFERENCES iot_policies(name) ON DELETE RESTRICT,
        attached_at INTEGER NOT NULL,
        PRIMARY KEY (certificate_id, policy_name)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX iot_policy_certificate_attachments_by_policy ON iot_policy_certificate_attachments(policy_name, certificate_id);

      CREATE TABLE iot_policy_group_attachments (
        group_name TEXT NOT NULL REFERENCES thing_groups(name) ON DELETE RESTRICT,
        policy_name TEXT NOT NULL REFERENCES iot_policies(name) ON DELETE RESTRICT,
        attached_at INTEGER NOT NULL,
        PRIMARY KEY (group_name, policy_name)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX iot_policy_group_attachments_by_policy ON iot_policy_group_attachments(policy_name, group_name);
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
