/**
 * Schema migrations of the PostgreSQL registry.
 *
 * The PostgreSQL schema has its own step numbers (it starts where the SQLite one is
 * today, as one step). Steps are append-only, like the SQLite ones: a released step is
 * never edited, a change is a new step.
 *
 * Several gateways may start at once against an empty database. All pending steps run
 * in one transaction that first takes a transaction-level advisory lock keyed on the
 * schema name (`pg_advisory_xact_lock`), so exactly one node applies them and the
 * others, once the lock is theirs, find nothing left to do. A failing step rolls back
 * the whole transaction: the schema is never left half-migrated.
 *
 * Text keys use the "C" collation: names are compared and sorted by code unit, as the
 * SQLite registry's BINARY collation does, whatever the database's default locale.
 */
import type { PoolClient } from 'pg';
import { RegistryError } from './errors.js';

export interface PgMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** First key of the advisory locks Gatehouse takes (the second is the schema's hash). */
export const PG_LOCK_CLASS = 0x6761_7465; // "gate"

const NAME = `text COLLATE "C" NOT NULL CHECK (name ~ '^[A-Za-z0-9:_-]{1,128}$')`;

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description: 'things, attributes, thing types, certificates, attachments, trusted CAs, IoT policies, thing groups, change feed',
    sql: `
      CREATE TABLE things (
        name ${NAME} PRIMARY KEY,
        created_at bigint NOT NULL,
        version integer NOT NULL DEFAULT 1 CHECK (version >= 1)
      );

      CREATE TABLE thing_attributes (
        thing_name text COLLATE "C" NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        key text COLLATE "C" NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (thing_name, key)
      );

      CREATE TABLE thing_type_defs (
        name ${NAME} PRIMARY KEY,
        description text CHECK (description IS NULL OR length(description) <= 2028),
        searchable_attributes text NOT NULL DEFAULT '[]',
        deprecated_at bigint,
        created_at bigint NOT NULL
      );

      CREATE TABLE thing_types (
        thing_name text COLLATE "C" PRIMARY KEY REFERENCES things(name) ON DELETE CASCADE,
        type_name text COLLATE "C" NOT NULL REFERENCES thing_type_defs(name) ON DELETE RESTRICT
      );
      CREATE INDEX thing_types_by_type ON thing_types(type_name, thing_name);

      CREATE TABLE certificates (
        id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
        pem text NOT NULL,
        status text NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE', 'REVOKED')),
        subject text NOT NULL,
        issuer_subject text NOT NULL,
        issuer_id text,
        serial_number text NOT NULL,
        not_before bigint NOT NULL,
        not_after bigint NOT NULL,
        created_at bigint NOT NULL,
        status_updated_at bigint NOT NULL
      );
      CREATE INDEX certificates_by_status ON certificates(status, id);

      CREATE TABLE attachments (
        thing_name text COLLATE "C" NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        certificate_id text COLLATE "C" NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
        attached_at bigint NOT NULL,
        PRIMARY KEY (thing_name, certificate_id)
      );
      CREATE INDEX attachments_by_certificate ON attachments(certificate_id, thing_name);

      CREATE TABLE trusted_cas (
        id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
        pem text NOT NULL,
        subject text NOT NULL,
        not_before bigint NOT NULL,
        not_after bigint NOT NULL,
        added_at bigint NOT NULL,
        source text NOT NULL CHECK (source IN ('gateway', 'operator'))
      );

      CREATE TABLE gateway_cas_seen (
        id text COLLATE "C" PRIMARY KEY,
        first_seen_at bigint NOT NULL
      );

      -- last_seq: the newest change's sequence number. Every writing transaction locks
      -- this row first, so writers run one at a time and sequence numbers are handed
      -- out in commit order (a reader never sees seq N+1 before seq N commits).
      -- pruned_through: changes up to it were pruned.
      CREATE TABLE registry_meta (
        key text COLLATE "C" PRIMARY KEY,
        value bigint NOT NULL
      );
      INSERT INTO registry_meta (key, value) VALUES ('last_seq', 0), ('pruned_through', 0);

      CREATE TABLE changes (
        seq bigint PRIMARY KEY,
        kind text NOT NULL,
        entity text NOT NULL,
        related text,
        detail text,
        at bigint NOT NULL
      );

      CREATE TABLE iot_policies (
        name text COLLATE "C" PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_+=,.@-]{1,128}$'),
        default_version integer NOT NULL,
        next_version integer NOT NULL CHECK (next_version > default_version),
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE TABLE iot_policy_versions (
        policy_name text COLLATE "C" NOT NULL REFERENCES iot_policies(name) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        version integer NOT NULL CHECK (version >= 1),
        document text NOT NULL CHECK (length(document) >= 1),
        created_at bigint NOT NULL,
        PRIMARY KEY (policy_name, version)
      );
      -- The default version must exist; deferred so a policy and its first version are
      -- inserted in one transaction.
      ALTER TABLE iot_policies ADD FOREIGN KEY (name, default_version)
        REFERENCES iot_policy_versions(policy_name, version) DEFERRABLE INITIALLY DEFERRED;

      CREATE TABLE thing_groups (
        name ${NAME} PRIMARY KEY,
        parent text COLLATE "C" REFERENCES thing_groups(name) ON DELETE RESTRICT CHECK (parent IS NULL OR parent <> name),
        description text CHECK (description IS NULL OR length(description) <= 2028),
        created_at bigint NOT NULL
      );
      CREATE INDEX thing_groups_by_parent ON thing_groups(parent, name);

      CREATE TABLE thing_group_members (
        thing_name text COLLATE "C" NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        group_name text COLLATE "C" NOT NULL REFERENCES thing_groups(name) ON DELETE CASCADE,
        added_at bigint NOT NULL,
        PRIMARY KEY (thing_name, group_name)
      );
      CREATE INDEX thing_group_members_by_group ON thing_group_members(group_name, thing_name);

      CREATE TABLE iot_policy_certificate_attachments (
        certificate_id text COLLATE "C" NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
        policy_name text COLLATE "C" NOT NULL REFERENCES iot_policies(name) ON DELETE RESTRICT,
        attached_at bigint NOT NULL,
        PRIMARY KEY (certificate_id, policy_name)
      );
      CREATE INDEX iot_policy_certificate_attachments_by_policy ON iot_policy_certificate_attachments(policy_name, certificate_id);

      CREATE TABLE iot_policy_group_attachments (
        group_name text COLLATE "C" NOT NULL REFERENCES thing_groups(name) ON DELETE RESTRICT,
        policy_name text COLLATE "C" NOT NULL REFERENCES iot_policies(name) ON DELETE RESTRICT,
        attached_at bigint NOT NULL,
        PRIMARY KEY (group_name, policy_name)
      );
      CREATE INDEX iot_policy_group_attachments_by_policy ON iot_policy_group_attachments(policy_name, group_name);
    `,
  },
  {
    version: 2,
    description: 'device shadows (classic and named) of registered things',
    sql: `
      -- As the SQLite registry's step 5: one row per shadow name of a thing ('' is the
      -- classic shadow); document is {state, metadata} as JSON text, NULL once deleted
      -- (the row keeps the deleted version and time). Deleting the thing deletes them.
      CREATE TABLE shadows (
        thing_name text COLLATE "C" NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        shadow_name text COLLATE "C" NOT NULL CHECK (shadow_name ~ '^[A-Za-z0-9:_-]{0,64}$'),
        version integer NOT NULL CHECK (version >= 1),
        document text CHECK (document IS NULL OR document::jsonb IS NOT NULL),
        updated_at bigint NOT NULL,
        deleted_at bigint,
        CHECK ((document IS NULL) = (deleted_at IS NOT NULL)),
        PRIMARY KEY (thing_name, shadow_name)
      );
    `,
  },
  {
    version: 3,
    description: 'how a device certificate is trusted (as the SQLite registry\'s step 9); deleted shadows by time for pruning (as its step 10)',
    sql: `
      -- 'ca': the certificate must chain to a trusted device CA; 'registration': its issuer
      -- is unknown here and the exact registered certificate is what is trusted.
      ALTER TABLE certificates ADD COLUMN trust text NOT NULL DEFAULT 'ca' CHECK (trust IN ('ca', 'registration'));
      CREATE INDEX shadows_deleted ON shadows(deleted_at) WHERE deleted_at IS NOT NULL;
    `,
  },
  {
    version: 4,
    description: 'the configuration a cluster shares, one row per pushed version; the CA every node\'s server certificate chains to',
    sql: `
      -- Versions are kept: a push adds one, nothing is ever changed in place.
      CREATE TABLE cluster_config (
        version integer PRIMARY KEY CHECK (version >= 1),
        document text NOT NULL,
        format text NOT NULL CHECK (format IN ('yaml', 'json')),
        sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        pushed_at bigint NOT NULL,
        pushed_by text NOT NULL
      );
      -- The cluster's gateway CA: its certificate only (public), never its key.
      CREATE TABLE cluster_ca (
        id integer PRIMARY KEY CHECK (id = 1),
        certificate_pem text NOT NULL,
        fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
        recorded_at bigint NOT NULL
      );
    `,
  },
  {
    version: 5,
    description: 'control plane (as the SQLite registry\'s step 3): IAM users, access keys, roles, role sessions, managed IAM policies and attachments, role aliases, tags, audit log',
    sql: `
      -- Small key/text facts of the control plane: the fingerprint of the secret key, the
      -- first-start administrator mark, the generation of the control records.
      CREATE TABLE control_meta (
        key text COLLATE "C" PRIMARY KEY,
        value text NOT NULL
      );

      -- IAM names are unique regardless of case (IAM's rule): each table keeps the spelling
      -- of creation (ARNs show it) and a unique index on lower(name), which every lookup
      -- uses. The names are ASCII, where lower() is exact. References hold the stored
      -- spelling, so foreign keys compare exactly.
      CREATE TABLE iam_users (
        name text COLLATE "C" PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_+=,.@-]{1,64}$'),
        id text NOT NULL UNIQUE,
        created_at bigint NOT NULL
      );
      CREATE UNIQUE INDEX iam_users_by_lower_name ON iam_users (lower(name));

      -- secret: AES-256-GCM ciphertext of the secret access key (see pg-control.ts).
      CREATE TABLE iam_access_keys (
        id text COLLATE "C" PRIMARY KEY CHECK (id LIKE 'AKIA%'),
        user_name text COLLATE "C" NOT NULL REFERENCES iam_users(name) ON DELETE RESTRICT,
        secret text NOT NULL,
        status text NOT NULL CHECK (status IN ('Active', 'Inactive')),
        created_at bigint NOT NULL,
        last_used_at bigint
      );
      CREATE INDEX iam_access_keys_by_user ON iam_access_keys(user_name, created_at);

      CREATE TABLE iam_roles (
        name text COLLATE "C" PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_+=,.@-]{1,64}$'),
        id text NOT NULL UNIQUE,
        trust_policy text NOT NULL CHECK (length(trust_policy) >= 1),
        max_session_seconds integer NOT NULL CHECK (max_session_seconds BETWEEN 3600 AND 43200),
        description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
        created_at bigint NOT NULL
      );
      CREATE UNIQUE INDEX iam_roles_by_lower_name ON iam_roles (lower(name));

      -- Temporary credentials of role sessions: the SHA-256 of the session token only, the
      -- secret encrypted like an access key's. Deleting a role ends its sessions.
      CREATE TABLE iam_role_sessions (
        id text COLLATE "C" PRIMARY KEY CHECK (id LIKE 'ASIA%'),
        role_name text COLLATE "C" NOT NULL REFERENCES iam_roles(name) ON DELETE CASCADE,
        session_name text NOT NULL,
        secret text NOT NULL,
        token_sha256 text NOT NULL CHECK (length(token_sha256) = 64),
        source_arn text NOT NULL,
        tags text NOT NULL DEFAULT '{}',
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX iam_role_sessions_by_expiry ON iam_role_sessions(expires_at);
      CREATE INDEX iam_role_sessions_by_role ON iam_role_sessions(role_name);

      CREATE TABLE iam_policies (
        name text COLLATE "C" PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_+=,.@-]{1,128}$'),
        id text NOT NULL UNIQUE,
        default_version integer NOT NULL,
        next_version integer NOT NULL CHECK (next_version > default_version),
        description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE UNIQUE INDEX iam_policies_by_lower_name ON iam_policies (lower(name));
      CREATE TABLE iam_policy_versions (
        policy_name text COLLATE "C" NOT NULL REFERENCES iam_policies(name) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        version integer NOT NULL CHECK (version >= 1),
        document text NOT NULL CHECK (length(document) >= 1),
        created_at bigint NOT NULL,
        PRIMARY KEY (policy_name, version)
      );
      ALTER TABLE iam_policies ADD FOREIGN KEY (name, default_version)
        REFERENCES iam_policy_versions(policy_name, version) DEFERRABLE INITIALLY DEFERRED;

      -- An attached policy cannot be deleted, nor a user or role with policies attached.
      CREATE TABLE iam_user_policies (
        user_name text COLLATE "C" NOT NULL REFERENCES iam_users(name) ON DELETE RESTRICT,
        policy_name text COLLATE "C" NOT NULL REFERENCES iam_policies(name) ON DELETE RESTRICT,
        attached_at bigint NOT NULL,
        PRIMARY KEY (user_name, policy_name)
      );
      CREATE INDEX iam_user_policies_by_policy ON iam_user_policies(policy_name);

      CREATE TABLE iam_role_policies (
        role_name text COLLATE "C" NOT NULL REFERENCES iam_roles(name) ON DELETE RESTRICT,
        policy_name text COLLATE "C" NOT NULL REFERENCES iam_policies(name) ON DELETE RESTRICT,
        attached_at bigint NOT NULL,
        PRIMARY KEY (role_name, policy_name)
      );
      CREATE INDEX iam_role_policies_by_policy ON iam_role_policies(policy_name);

      -- Role aliases of the credentials provider; a role named by one cannot be deleted.
      CREATE TABLE role_aliases (
        alias text COLLATE "C" PRIMARY KEY CHECK (alias ~ '^[A-Za-z0-9_=,@-]{1,128}$'),
        role_name text COLLATE "C" NOT NULL REFERENCES iam_roles(name) ON DELETE RESTRICT,
        duration_seconds integer NOT NULL CHECK (duration_seconds BETWEEN 900 AND 43200),
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE INDEX role_aliases_by_role ON role_aliases(role_name);

      -- Tags of every taggable resource, by kind and stored name (or id). The triggers
      -- below remove a resource's tags with it, whichever code path deletes it.
      CREATE TABLE resource_tags (
        kind text NOT NULL CHECK (kind IN ('thing', 'thinggroup', 'policy', 'cert', 'cacert', 'rolealias', 'user', 'role', 'iampolicy')),
        resource text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
        value text NOT NULL CHECK (length(value) <= 256),
        PRIMARY KEY (kind, resource, key)
      );

      -- Arguments: the tag kind, then the column holding the resource's name or id.
      -- search_path is fixed to this schema when the function is created.
      CREATE FUNCTION drop_resource_tags() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
      BEGIN
        DELETE FROM resource_tags WHERE kind = TG_ARGV[0] AND resource = to_jsonb(OLD) ->> TG_ARGV[1];
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER things_drop_tags AFTER DELETE ON things FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('thing', 'name');
      CREATE TRIGGER thing_groups_drop_tags AFTER DELETE ON thing_groups FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('thinggroup', 'name');
      CREATE TRIGGER iot_policies_drop_tags AFTER DELETE ON iot_policies FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('policy', 'name');
      CREATE TRIGGER certificates_drop_tags AFTER DELETE ON certificates FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('cert', 'id');
      CREATE TRIGGER trusted_cas_drop_tags AFTER DELETE ON trusted_cas FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('cacert', 'id');
      CREATE TRIGGER role_aliases_drop_tags AFTER DELETE ON role_aliases FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('rolealias', 'alias');
      CREATE TRIGGER iam_users_drop_tags AFTER DELETE ON iam_users FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('user', 'name');
      CREATE TRIGGER iam_roles_drop_tags AFTER DELETE ON iam_roles FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('role', 'name');
      CREATE TRIGGER iam_policies_drop_tags AFTER DELETE ON iam_policies FOR EACH ROW EXECUTE FUNCTION drop_resource_tags('iampolicy', 'name');

      -- Every management call of every node, allowed or not. Never holds a secret.
      CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at bigint NOT NULL,
        principal text NOT NULL,
        action text NOT NULL,
        resource text NOT NULL,
        decision text NOT NULL CHECK (decision IN ('allow', 'deny')),
        reason text NOT NULL,
        policy text,
        statement text,
        source_ip text NOT NULL,
        user_agent text,
        status integer NOT NULL,
        request_id text NOT NULL
      );
      CREATE INDEX audit_log_by_time ON audit_log(at);
      CREATE INDEX audit_log_by_principal ON audit_log(principal, id);
    `,
  },
  {
    version: 6,
    description: 'jobs, their targets and their executions (as the SQLite registry\'s steps 8 and 10)',
    sql: `
      -- The same columns as SQLite's: times in ms, flags 0/1, JSON as text, so both
      -- backends map rows with the same code (job-store.ts).
      CREATE TABLE jobs (
        job_id text COLLATE "C" PRIMARY KEY CHECK (job_id ~ '^[A-Za-z0-9_-]{1,64}$'),
        document text NOT NULL CHECK (document::jsonb IS NOT NULL),
        description text,
        in_progress_timeout_minutes integer CHECK (in_progress_timeout_minutes IS NULL OR in_progress_timeout_minutes BETWEEN 1 AND 10080),
        status text NOT NULL CHECK (status IN ('IN_PROGRESS', 'CANCELED', 'DELETION_IN_PROGRESS', 'COMPLETED')),
        target_selection text NOT NULL DEFAULT 'SNAPSHOT' CHECK (target_selection IN ('SNAPSHOT', 'CONTINUOUS')),
        force_canceled integer NOT NULL DEFAULT 0 CHECK (force_canceled IN (0, 1)),
        comment text,
        reason_code text,
        created_at bigint NOT NULL,
        last_updated_at bigint NOT NULL,
        completed_at bigint
      );
      CREATE INDEX jobs_by_creation ON jobs(created_at, job_id);
      CREATE INDEX jobs_continuous ON jobs(created_at, job_id) WHERE target_selection = 'CONTINUOUS' AND status = 'IN_PROGRESS';
      CREATE TABLE job_targets (
        job_id text COLLATE "C" NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        position integer NOT NULL,
        target_arn text NOT NULL,
        PRIMARY KEY (job_id, position)
      );
      -- One execution per job and thing. Deleting the job or the thing deletes it.
      -- timeout_at: when an IN_PROGRESS execution times out (ms), read by the sweepers.
      CREATE TABLE job_executions (
        job_id text COLLATE "C" NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        thing_name text COLLATE "C" NOT NULL REFERENCES things(name) ON DELETE CASCADE,
        execution_number integer NOT NULL CHECK (execution_number >= 1),
        status text NOT NULL CHECK (status IN ('QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED')),
        status_details text NOT NULL CHECK (status_details::jsonb IS NOT NULL),
        version integer NOT NULL CHECK (version >= 1),
        queued_at bigint NOT NULL,
        started_at bigint,
        last_updated_at bigint NOT NULL,
        step_timeout_at bigint,
        in_progress_timeout_minutes integer,
        force_canceled integer NOT NULL DEFAULT 0 CHECK (force_canceled IN (0, 1)),
        timeout_at bigint,
        PRIMARY KEY (job_id, thing_name)
      );
      CREATE INDEX job_executions_by_thing ON job_executions(thing_name, status, queued_at);
      CREATE INDEX job_executions_due ON job_executions(timeout_at) WHERE timeout_at IS NOT NULL;
    `,
  },
  {
    version: 7,
    description: 'objects a sync from AWS IoT Core manages (as the SQLite registry\'s step 6), and the state of the continuous sync the nodes share',
    sql: `
      -- One row per object a sync created and keeps in step with the cloud; an object
      -- without one was created locally and a sync never changes nor removes it. name:
      -- the thing, group, type or policy name, or the certificate or CA id.
      CREATE TABLE sync_objects (
        kind text COLLATE "C" NOT NULL CHECK (kind IN ('ca', 'thing_type', 'thing_group', 'policy', 'thing', 'certificate')),
        name text COLLATE "C" NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
        source text NOT NULL CHECK (source IN ('aws')),
        synced_at bigint NOT NULL,
        PRIMARY KEY (kind, name)
      );

      -- Whichever path deletes an object (a sync, the operator, another node), its mark
      -- goes with it, so that an object created later under the same name is a local one.
      -- Arguments: the kind, and the column holding the name.
      CREATE FUNCTION drop_sync_mark() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
      BEGIN
        DELETE FROM sync_objects WHERE kind = TG_ARGV[0] AND name = to_jsonb(OLD) ->> TG_ARGV[1];
        RETURN OLD;
      END
      $$;
      CREATE TRIGGER things_drop_sync_mark AFTER DELETE ON things FOR EACH ROW EXECUTE FUNCTION drop_sync_mark('thing', 'name');
      CREATE TRIGGER certificates_drop_sync_mark AFTER DELETE ON certificates FOR EACH ROW EXECUTE FUNCTION drop_sync_mark('certificate', 'id');
      CREATE TRIGGER thing_groups_drop_sync_mark AFTER DELETE ON thing_groups FOR EACH ROW EXECUTE FUNCTION drop_sync_mark('thing_group', 'name');
      CREATE TRIGGER iot_policies_drop_sync_mark AFTER DELETE ON iot_policies FOR EACH ROW EXECUTE FUNCTION drop_sync_mark('policy', 'name');
      CREATE TRIGGER thing_type_defs_drop_sync_mark AFTER DELETE ON thing_type_defs FOR EACH ROW EXECUTE FUNCTION drop_sync_mark('thing_type', 'name');
      CREATE TRIGGER trusted_cas_drop_sync_mark AFTER DELETE ON trusted_cas FOR EACH ROW EXECUTE FUNCTION drop_sync_mark('ca', 'id');

      -- The continuous sync's state, one row per source, written by the node that ran
      -- last: the end of the last successful run (verified_at, ms; the offline trust
      -- window of synced certificates starts from it on every node), and the last run,
      -- its error and the refusals already reported (state, JSON).
      CREATE TABLE sync_state (
        source text COLLATE "C" PRIMARY KEY CHECK (source IN ('aws')),
        verified_at bigint,
        state text NOT NULL CHECK (state::jsonb IS NOT NULL),
        node text,
        updated_at bigint NOT NULL
      );
    `,
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

/** Quotes an identifier for SQL text. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Brings `schema` up to date on `client` (which must not be in a transaction), creating
 * the schema if needed. Returns the versions before and after.
 */
export async function migratePg(client: PoolClient, schema: string, now: () => Date, steps: readonly PgMigration[] = PG_MIGRATIONS): Promise<{ from: number; to: number }> {
  const s = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [PG_LOCK_CLASS, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
      version integer PRIMARY KEY, description text NOT NULL, applied_at bigint NOT NULL)`);
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_migrations`);
    const from = rows[0]?.v ?? 0;
    const known = steps.length === 0 ? 0 : steps[steps.length - 1]!.version;
    if (from > known) {
      throw new RegistryError('REGISTRY_SCHEMA_TOO_NEW', `the PostgreSQL registry schema ${shownSchema(schema)} is at version ${from}, newer than this Gatehouse knows (${known})`,
        'upgrade Gatehouse on this node to the release the other nodes run');
    }
    await client.query(`SET LOCAL search_path TO ${s}`);
    for (const step of steps) {
      if (step.version <= from) continue;
      await client.query(step.sql);
      await client.query(`INSERT INTO ${s}.schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)`, [step.version, step.description, now().getTime()]);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, known) };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

function shownSchema(schema: string): string {
  return JSON.stringify(schema);
}
