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
