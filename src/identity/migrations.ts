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
  {
    version: 3,
    description: 'control plane: IAM users, access keys, roles, role sessions, managed IAM policies and attachments, role aliases, tags, audit log',
    sql: `
      -- Small key/text facts of the control plane (the fingerprint of the secret key, the
      -- first-start administrator mark).
      CREATE TABLE control_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- IAM names are unique regardless of case (IAM's rule), so the keys are NOCASE: a
      -- lookup by any spelling finds the one entity, and ARNs keep the spelling it was
      -- created with. [\\w+=,.@-] is ASCII, where NOCASE is exact.
      CREATE TABLE iam_users (
        name TEXT PRIMARY KEY COLLATE NOCASE
          CHECK (length(name) BETWEEN 1 AND 64 AND name NOT GLOB '*[^A-Za-z0-9_+=,.@-]*'),
        id TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- secret: AES-256-GCM ciphertext of the secret access key (see sqlite-control.ts).
      CREATE TABLE iam_access_keys (
        id TEXT PRIMARY KEY CHECK (id GLOB 'AKIA*'),
        user_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_users(name) ON DELETE RESTRICT,
        secret TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
        created_at INTEGER NOT NULL,
        last_used_at INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX iam_access_keys_by_user ON iam_access_keys(user_name, created_at);

      CREATE TABLE iam_roles (
        name TEXT PRIMARY KEY COLLATE NOCASE
          CHECK (length(name) BETWEEN 1 AND 64 AND name NOT GLOB '*[^A-Za-z0-9_+=,.@-]*'),
        id TEXT NOT NULL UNIQUE,
        trust_policy TEXT NOT NULL CHECK (length(trust_policy) >= 1),
        max_session_seconds INTEGER NOT NULL CHECK (max_session_seconds BETWEEN 3600 AND 43200),
        description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- Temporary credentials of role sessions. Only the SHA-256 of the session token is
      -- kept; the secret is encrypted like an access key's. Deleting a role ends its
      -- sessions.
      CREATE TABLE iam_role_sessions (
        id TEXT PRIMARY KEY CHECK (id GLOB 'ASIA*'),
        role_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_roles(name) ON DELETE CASCADE,
        session_name TEXT NOT NULL,
        secret TEXT NOT NULL,
        token_sha256 TEXT NOT NULL CHECK (length(token_sha256) = 64),
        source_arn TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX iam_role_sessions_by_expiry ON iam_role_sessions(expires_at);
      CREATE INDEX iam_role_sessions_by_role ON iam_role_sessions(role_name);

      -- Managed IAM policies, versioned like the IoT policies (deferred foreign key so
      -- a policy and its first version go in one transaction).
      CREATE TABLE iam_policies (
        name TEXT PRIMARY KEY COLLATE NOCASE
          CHECK (length(name) BETWEEN 1 AND 128 AND name NOT GLOB '*[^A-Za-z0-9_+=,.@-]*'),
        id TEXT NOT NULL UNIQUE,
        default_version INTEGER NOT NULL,
        next_version INTEGER NOT NULL CHECK (next_version > default_version),
        description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        FOREIGN KEY (name, default_version) REFERENCES iam_policy_versions(policy_name, version) DEFERRABLE INITIALLY DEFERRED
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE iam_policy_versions (
        policy_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_policies(name) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        version INTEGER NOT NULL CHECK (version >= 1),
        document TEXT NOT NULL CHECK (length(document) >= 1),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (policy_name, version)
      ) STRICT, WITHOUT ROWID;

      -- An attached policy cannot be deleted, nor a user or role with policies attached.
      CREATE TABLE iam_user_policies (
        user_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_users(name) ON DELETE RESTRICT,
        policy_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_policies(name) ON DELETE RESTRICT,
        attached_at INTEGER NOT NULL,
        PRIMARY KEY (user_name, policy_name)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX iam_user_policies_by_policy ON iam_user_policies(policy_name);

      CREATE TABLE iam_role_policies (
        role_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_roles(name) ON DELETE RESTRICT,
        policy_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_policies(name) ON DELETE RESTRICT,
        attached_at INTEGER NOT NULL,
        PRIMARY KEY (role_name, policy_name)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX iam_role_policies_by_policy ON iam_role_policies(policy_name);

      -- Role aliases of the credentials provider (AWS IoT's rule: [\\w=,@-], 1-128). A
      -- role named by an alias cannot be deleted.
      CREATE TABLE role_aliases (
        alias TEXT PRIMARY KEY
          CHECK (length(alias) BETWEEN 1 AND 128 AND alias NOT GLOB '*[^A-Za-z0-9_=,@-]*'),
        role_name TEXT NOT NULL COLLATE NOCASE REFERENCES iam_roles(name) ON DELETE RESTRICT,
        duration_seconds INTEGER NOT NULL CHECK (duration_seconds BETWEEN 900 AND 43200),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX role_aliases_by_role ON role_aliases(role_name);

      -- Tags of every taggable resource, by kind and name (or id). The triggers below
      -- remove a resource's tags with the resource, whichever code path deletes it.
      CREATE TABLE resource_tags (
        kind TEXT NOT NULL CHECK (kind IN ('thing', 'thinggroup', 'policy', 'cert', 'cacert', 'rolealias', 'user', 'role', 'iampolicy')),
        resource TEXT NOT NULL,
        key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
        value TEXT NOT NULL CHECK (length(value) <= 256),
        PRIMARY KEY (kind, resource, key)
      ) STRICT, WITHOUT ROWID;

      CREATE TRIGGER things_drop_tags AFTER DELETE ON things BEGIN
        DELETE FROM resource_tags WHERE kind = 'thing' AND resource = OLD.name;
      END;
      CREATE TRIGGER thing_groups_drop_tags AFTER DELETE ON thing_groups BEGIN
        DELETE FROM resource_tags WHERE kind = 'thinggroup' AND resource = OLD.name;
      END;
      CREATE TRIGGER iot_policies_drop_tags AFTER DELETE ON iot_policies BEGIN
        DELETE FROM resource_tags WHERE kind = 'policy' AND resource = OLD.name;
      END;
      CREATE TRIGGER certificates_drop_tags AFTER DELETE ON certificates BEGIN
        DELETE FROM resource_tags WHERE kind = 'cert' AND resource = OLD.id;
      END;
      CREATE TRIGGER trusted_cas_drop_tags AFTER DELETE ON trusted_cas BEGIN
        DELETE FROM resource_tags WHERE kind = 'cacert' AND resource = OLD.id;
      END;
      CREATE TRIGGER role_aliases_drop_tags AFTER DELETE ON role_aliases BEGIN
        DELETE FROM resource_tags WHERE kind = 'rolealias' AND resource = OLD.alias;
      END;
      CREATE TRIGGER iam_users_drop_tags AFTER DELETE ON iam_users BEGIN
        DELETE FROM resource_tags WHERE kind = 'user' AND resource = OLD.name;
      END;
      CREATE TRIGGER iam_roles_drop_tags AFTER DELETE ON iam_roles BEGIN
        DELETE FROM resource_tags WHERE kind = 'role' AND resource = OLD.name;
      END;
      CREATE TRIGGER iam_policies_drop_tags AFTER DELETE ON iam_policies BEGIN
        DELETE FROM resource_tags WHERE kind = 'iampolicy' AND resource = OLD.name;
      END;

      -- Every management call, allowed or not. Never holds a secret.
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        principal TEXT NOT NULL,
        action TEXT NOT NULL,
        resource TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
        reason TEXT NOT NULL,
        policy TEXT,
        statement TEXT,
        source_ip TEXT NOT NULL,
        user_agent TEXT,
        status INTEGER NOT NULL,
        request_id TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_log_by_time ON audit_log(at);
      CREATE INDEX audit_log_by_principal ON audit_log(principal, id);
    `,
  },
  {
    version: 4,
    description: 'thing versions and declared thing types (every label in use becomes a declared type)',
    sql: `
      -- A thing's version: 1 at creation, one more on every change of its type or attributes.
      ALTER TABLE things ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);

      -- Declared thing types (AWS IoT's CreateThingType). searchable_attributes is a JSON
      -- list of at most three attribute names; deprecated_at is set while deprecated.
      CREATE TABLE thing_type_defs (
        name TEXT PRIMARY KEY
          CHECK (length(name) BETWEEN 1 AND 128 AND name NOT GLOB '*[^A-Za-z0-9:_-]*'),
        description TEXT CHECK (description IS NULL OR length(description) <= 2028),
        searchable_attributes TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(searchable_attributes) AND json_type(searchable_attributes) = 'array'),
        deprecated_at INTEGER,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- Until now a thing's type was a free label: declare every label in use, created
      -- when the first thing carrying it was, so that no existing thing loses its type.
      INSERT INTO thing_type_defs (name, created_at)
        SELECT ty.type_name, min(t.created_at) FROM thing_types ty JOIN things t ON t.name = ty.thing_name GROUP BY ty.type_name;

      -- The type of a thing must now be declared; a declared type in use cannot be deleted.
      CREATE TABLE thing_types_v4 (
        thing_name TEXT PRIMARY KEY REFERENCES things(name) ON DELETE CASCADE,
        type_name TEXT NOT NULL REFERENCES thing_type_defs(name) ON DELETE RESTRICT
      ) STRICT, WITHOUT ROWID;
      INSERT INTO thing_types_v4 (thing_name, type_name) SELECT thing_name, type_name FROM thing_types;
      DROP TABLE thing_types;
      ALTER TABLE thing_types_v4 RENAME TO thing_types;
      CREATE INDEX thing_types_by_type ON thing_types(type_name, thing_name);
    `,
  },
  {
    version: 5,
    description: 'device shadows (classic and named) of registered things',
    sql: `
      -- One row per shadow name of a thing ('' is the classic shadow). document holds
      -- {state, metadata} as JSON text; it is NULL once the shadow is deleted, when the row
      -- keeps the deleted version and its time (a shadow re-created within 48 hours
      -- continues the count). Deleting the thing deletes its shadows.
      CREATE TABLE shadows (
        thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        shadow_name TEXT NOT NULL
          CHECK (length(shadow_name) <= 64 AND shadow_name NOT GLOB '*[^A-Za-z0-9:_-]*'),
        version INTEGER NOT NULL CHECK (version >= 1),
        document TEXT CHECK (document IS NULL OR json_valid(document)),
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER,
        CHECK ((document IS NULL) = (deleted_at IS NOT NULL)),
        PRIMARY KEY (thing_name, shadow_name)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    description: 'objects imported from AWS IoT Core by `gatehouse sync --from-aws` (the sync owns them; local objects are never touched)',
    sql: `
      -- One row per object a sync created and keeps in step with the cloud. An object
      -- without a row here was created locally: a sync never changes nor removes it.
      -- name: the thing, group, type or policy name, or the certificate or CA id.
      CREATE TABLE sync_objects (
        kind TEXT NOT NULL CHECK (kind IN ('ca', 'thing_type', 'thing_group', 'policy', 'thing', 'certificate')),
        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
        source TEXT NOT NULL CHECK (source IN ('aws')),
        synced_at INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
      ) STRICT, WITHOUT ROWID;

      -- Whichever code path deletes an object (a sync, or the operator), its mark goes with
      -- it, so that an object created later under the same name is a local one.
      CREATE TRIGGER things_drop_sync_mark AFTER DELETE ON things BEGIN
        DELETE FROM sync_objects WHERE kind = 'thing' AND name = OLD.name;
      END;
      CREATE TRIGGER certificates_drop_sync_mark AFTER DELETE ON certificates BEGIN
        DELETE FROM sync_objects WHERE kind = 'certificate' AND name = OLD.id;
      END;
      CREATE TRIGGER thing_groups_drop_sync_mark AFTER DELETE ON thing_groups BEGIN
        DELETE FROM sync_objects WHERE kind = 'thing_group' AND name = OLD.name;
      END;
      CREATE TRIGGER iot_policies_drop_sync_mark AFTER DELETE ON iot_policies BEGIN
        DELETE FROM sync_objects WHERE kind = 'policy' AND name = OLD.name;
      END;
      CREATE TRIGGER thing_type_defs_drop_sync_mark AFTER DELETE ON thing_type_defs BEGIN
        DELETE FROM sync_objects WHERE kind = 'thing_type' AND name = OLD.name;
      END;
      CREATE TRIGGER trusted_cas_drop_sync_mark AFTER DELETE ON trusted_cas BEGIN
        DELETE FROM sync_objects WHERE kind = 'ca' AND name = OLD.id;
      END;
    `,
  },
  {
    version: 7,
    description: 'retained MQTT messages',
    sql: `
      -- One row per topic with a retained message (MQTT 3.1.1 section 3.3.1.3: the
      -- latest retained message of a topic replaces the previous one, an empty payload
      -- removes it, so no row ever has an empty payload). modified_at is epoch ms.
      CREATE TABLE retained_messages (
        topic TEXT NOT NULL PRIMARY KEY CHECK (length(topic) >= 1),
        payload BLOB NOT NULL CHECK (length(payload) >= 1),
        qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
        modified_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 8,
    description: 'jobs, their targets and their executions',
    sql: `
      -- A job as created (snapshot: its executions are made when it is created). Times in ms.
      CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY CHECK (length(job_id) BETWEEN 1 AND 64 AND job_id NOT GLOB '*[^A-Za-z0-9_-]*'),
        document TEXT NOT NULL CHECK (json_valid(document)),
        description TEXT,
        in_progress_timeout_minutes INTEGER CHECK (in_progress_timeout_minutes IS NULL OR in_progress_timeout_minutes BETWEEN 1 AND 10080),
        status TEXT NOT NULL CHECK (status IN ('IN_PROGRESS', 'CANCELED', 'DELETION_IN_PROGRESS', 'COMPLETED')),
        force_canceled INTEGER NOT NULL DEFAULT 0 CHECK (force_canceled IN (0, 1)),
        comment TEXT,
        reason_code TEXT,
        created_at INTEGER NOT NULL,
        last_updated_at INTEGER NOT NULL,
        completed_at INTEGER
      ) STRICT;
      -- The targets as the operator named them (thing and thing-group ARNs), in order.
      CREATE TABLE job_targets (
        job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        target_arn TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
      ) STRICT, WITHOUT ROWID;
      -- One execution per job and thing. Deleting the job or the thing deletes it.
      CREATE TABLE job_executions (
        job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        execution_number INTEGER NOT NULL CHECK (execution_number >= 1),
        status TEXT NOT NULL CHECK (status IN ('QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED')),
        status_details TEXT NOT NULL CHECK (json_valid(status_details)),
        version INTEGER NOT NULL CHECK (version >= 1),
        queued_at INTEGER NOT NULL,
        started_at INTEGER,
        last_updated_at INTEGER NOT NULL,
        step_timeout_at INTEGER,
        in_progress_timeout_minutes INTEGER,
        force_canceled INTEGER NOT NULL DEFAULT 0 CHECK (force_canceled IN (0, 1)),
        PRIMARY KEY (job_id, thing_name)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX job_executions_by_thing ON job_executions(thing_name, status, queued_at);
    `,
  },
  {
    version: 9,
    description: 'how a device certificate is trusted: through a trusted CA, or by its exact registration (imported from AWS IoT Core, registered without a CA)',
    sql: `
      -- 'ca': the certificate must chain to a trusted device CA (every record before this
      -- step). 'registration': its issuer is unknown here; the registered certificate
      -- itself, byte for byte (its id is the SHA-256 of its DER), is what is trusted, and
      -- only when its chain reaches no trusted CA (CertificateVerifier.verify).
      ALTER TABLE certificates ADD COLUMN trust TEXT NOT NULL DEFAULT 'ca' CHECK (trust IN ('ca', 'registration'));
    `,
  },
  {
    version: 10,
    description: 'continuous jobs, the stored deadline of each IN_PROGRESS job execution for the timeout sweeper, deleted shadows by time for pruning',
    sql: `
      ALTER TABLE jobs ADD COLUMN target_selection TEXT NOT NULL DEFAULT 'SNAPSHOT' CHECK (target_selection IN ('SNAPSHOT', 'CONTINUOUS'));
      -- When an IN_PROGRESS execution times out (ms): the earlier of its in-progress and
      -- step timers, NULL when it has none or is not IN_PROGRESS. Written with every
      -- change of the execution; the gateway's sweeper reads the due ones through the index.
      ALTER TABLE job_executions ADD COLUMN timeout_at INTEGER;
      UPDATE job_executions SET timeout_at = CASE
          WHEN in_progress_timeout_minutes IS NOT NULL AND started_at IS NOT NULL AND step_timeout_at IS NOT NULL
            THEN min(started_at + in_progress_timeout_minutes * 60000, step_timeout_at)
          WHEN in_progress_timeout_minutes IS NOT NULL AND started_at IS NOT NULL THEN started_at + in_progress_timeout_minutes * 60000
          ELSE step_timeout_at
        END
        WHERE status = 'IN_PROGRESS';
      CREATE INDEX job_executions_due ON job_executions(timeout_at) WHERE timeout_at IS NOT NULL;
      -- Deleted shadows are pruned once their version no longer carries over (48 hours).
      CREATE INDEX shadows_deleted ON shadows(deleted_at) WHERE deleted_at IS NOT NULL;
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
