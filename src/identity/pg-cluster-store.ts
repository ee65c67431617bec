/**
 * What a cluster of gateways shares besides the registry, in the same PostgreSQL schema
 * (docs/cluster.md): the versions of the shared configuration (`cluster_config`) and the
 * certificate of the gateway CA every node's server certificate must chain to
 * (`cluster_ca`: the certificate only; the CA's private key is never stored here).
 *
 * A push is one transaction that locks the table against other pushes, runs the caller's
 * check against the newest version, inserts the next version and announces it with
 * `pg_notify` on `gatehouse_config_<schema>` (delivered at commit). Nodes listen on that
 * channel and also read the newest version number on a timer, so a node whose
 * notification connection is down still sees every version, a little later.
 */
import { createHash, X509Certificate } from 'node:crypto';
import pg from 'pg';
import type { ConfigFormat } from '../core/index.js';
import type { ConfigIssue } from '../core/errors.js';
import { RegistryError } from './errors.js';
import type { PgStoreConnection, Tx } from './pg-tx.js';

export interface StoredClusterConfig {
  readonly version: number;
  readonly text: string;
  readonly format: ConfigFormat;
  readonly sha256: string;
  readonly pushedAt: Date;
  /** Who pushed it (user@host of the pushing process), for the operator. */
  readonly pushedBy: string;
}

export type PushConfigResult =
  | { readonly stored: true; readonly version: number }
  /** The newest version already holds exactly this text: nothing stored. */
  | { readonly stored: false; readonly unchanged: true; readonly version: number }
  /** The check refused it: nothing stored. */
  | { readonly stored: false; readonly unchanged: false; readonly errors: readonly ConfigIssue<string>[] };

export interface PushConfigOptions {
  readonly pushedBy: string;
  /** Refuse (CLUSTER_CONFIG_CONFLICT) unless the newest version is this one (0: none yet). */
  readonly expectedVersion?: number;
  /** Checks the text against the newest version (undefined: none); errors refuse the push. */
  readonly check: (previous: StoredClusterConfig | undefined) => Promise<readonly ConfigIssue<string>[]>;
}

export interface ClusterCaRecord {
  readonly certificatePem: string;
  /** SHA-256 of the certificate's DER, lower-case hex. */
  readonly fingerprint: string;
  readonly recordedAt: Date;
}

export interface PgClusterStoreOptions {
  /** The registry's connections (reads in a snapshot, writes in a transaction). */
  readonly connection: PgStoreConnection;
  /** A new client on the registry's database and schema, for the notification connection. */
  readonly newClient: () => pg.Client;
  readonly schema: string;
  readonly now?: () => Date;
}

interface ConfigRow {
  version: number;
  document: string;
  format: string;
  sha256: string;
  pushed_at: number;
  pushed_by: string;
}

export class PgClusterStore {
  readonly channel: string;
  private readonly now: () => Date;

  constructor(private readonly options: PgClusterStoreOptions) {
    this.channel = `gatehouse_config_${options.schema}`;
    this.now = options.now ?? (() => new Date());
  }

  /** The newest version of the shared configuration; undefined when none was pushed. */
  async latestConfig(): Promise<StoredClusterConfig | undefined> {
    return this.options.connection.read(async (tx) => latest(tx));
  }

  /** One version; undefined when there is no such version. */
  async configVersion(version: number): Promise<StoredClusterConfig | undefined> {
    if (!Number.isSafeInteger(version) || version < 1) return undefined;
    return this.options.connection.read(async (tx) => {
      const row = await tx.one<ConfigRow>('SELECT * FROM cluster_config WHERE version = $1', [version]);
      return row === undefined ? undefined : configFromRow(row);
    });
  }

  /** The newest version's number (0: none). */
  async latestConfigVersion(): Promise<number> {
    return this.options.connection.read(async (tx) => (await tx.one<{ v: number | null }>('SELECT max(version) AS v FROM cluster_config'))?.v ?? 0);
  }

  /**
   * Stores `text` as the next version when `options.check` finds nothing wrong with it,
   * and announces it to every node. Pushes take turns (the table is locked for the
   * transaction, within `busyTimeoutMs`: REGISTRY_BUSY past it), so each is checked
   * against the version it follows.
   */
  async pushConfig(text: string, format: ConfigFormat, options: PushConfigOptions): Promise<PushConfigResult> {
    const sha256 = createHash('sha256').update(text).digest('hex');
    return this.options.connection.write(async (tx) => {
      await tx.run('LOCK TABLE cluster_config IN SHARE ROW EXCLUSIVE MODE');
      const previous = await latest(tx);
      const current = previous?.version ?? 0;
      if (options.expectedVersion !== undefined && options.expectedVersion !== current) {
        throw new RegistryError('CLUSTER_CONFIG_CONFLICT', `the newest shared configuration is version ${current}, not ${options.expectedVersion}: someone pushed meanwhile`,
          'read it with `gatehouse config show`, merge your change into it, and push again');
      }
      if (previous !== undefined && previous.sha256 === sha256 && previous.format === format) return { stored: false, unchanged: true, version: current };
      const errors = await options.check(previous);
      if (errors.length > 0) return { stored: false, unchanged: false, errors };
      const version = current + 1;
      await tx.run('INSERT INTO cluster_config (version, document, format, sha256, pushed_at, pushed_by) VALUES ($1, $2, $3, $4, $5, $6)',
        [version, text, format, sha256, this.now().getTime(), options.pushedBy]);
      await tx.run('SELECT pg_notify($1, $2)', [this.channel, String(version)]);
      return { stored: true, version };
    });
  }

  /**
   * Records `pem` as the cluster's gateway CA when none is recorded yet (the first node
   * to start), and returns the record with whether `pem` is that CA.
   */
  async recordGatewayCa(pem: string): Promise<{ readonly record: ClusterCaRecord; readonly matches: boolean; readonly recorded: boolean }> {
    const fingerprint = fingerprintOf(pem);
    return this.options.connection.write(async (tx) => {
      const inserted = await tx.run('INSERT INTO cluster_ca (id, certificate_pem, fingerprint, recorded_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING',
        [pem, fingerprint, this.now().getTime()]);
      const row = (await tx.one<{ certificate_pem: string; fingerprint: string; recorded_at: number }>('SELECT * FROM cluster_ca WHERE id = 1'))!;
      return {
        record: { certificatePem: row.certificate_pem, fingerprint: row.fingerprint, recordedAt: new Date(row.recorded_at) },
        matches: row.fingerprint === fingerprint,
        recorded: inserted > 0,
      };
    });
  }

  /** The cluster's gateway CA; undefined before the first node started. */
  async gatewayCa(): Promise<ClusterCaRecord | undefined> {
    return this.options.connection.read(async (tx) => {
      const row = await tx.one<{ certificate_pem: string; fingerprint: string; recorded_at: number }>('SELECT * FROM cluster_ca WHERE id = 1');
      return row === undefined ? undefined : { certificatePem: row.certificate_pem, fingerprint: row.fingerprint, recordedAt: new Date(row.recorded_at) };
    });
  }

  /**
   * Calls `onChange` when a version may have been pushed: on each notification on the
   * channel, after the notification connection (re)connects, and every `intervalMs`
   * (default 500) in any case. The connection reconnects with backoff.
   */
  watchConfig(onChange: () => void, options: { readonly intervalMs?: number; readonly onListener?: (event: 'lost' | 'restored', message?: string) => void } = {}): { close(): void } {
    let closed = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    let lostReported = false;
    const connect = (attempt: number): void => {
      if (closed) return;
      const c = this.options.newClient();
      client = c;
      const lost = (e: unknown): void => {
        if (client !== c) return;
        client = undefined;
        c.removeAllListeners('notification');
        void c.end().catch(() => undefined);
        if (closed) return;
        if (!lostReported) {
          lostReported = true;
          options.onListener?.('lost', (e as Error).message);
        }
        retry = setTimeout(() => connect(attempt + 1), Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)));
        retry.unref();
      };
      c.on('error', lost);
      c.on('end', () => lost(new Error('the notification connection ended')));
      c.on('notification', () => onChange());
      c.connect()
        .then(() => c.query(`LISTEN "${this.channel}"`))
        .then(() => {
          if (client !== c) return;
          attempt = 0;
          if (lostReported) {
            lostReported = false;
            options.onListener?.('restored');
          }
          onChange();
        })
        .catch(lost);
    };
    connect(0);
    const timer = setInterval(onChange, Math.max(10, options.intervalMs ?? 500));
    timer.unref();
    return {
      close: () => {
        closed = true;
        clearInterval(timer);
        if (retry !== undefined) clearTimeout(retry);
        const c = client;
        client = undefined;
        if (c !== undefined) {
          c.removeAllListeners('notification');
          void c.end().catch(() => undefined);
        }
      },
    };
  }
}

/** SHA-256 of a PEM certificate's DER, lower-case hex (what `openssl x509 -fingerprint -sha256` shows, without colons). */
export function fingerprintOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

async function latest(tx: Tx): Promise<StoredClusterConfig | undefined> {
  const row = await tx.one<ConfigRow>('SELECT * FROM cluster_config ORDER BY version DESC LIMIT 1');
  return row === undefined ? undefined : configFromRow(row);
}

function configFromRow(r: ConfigRow): StoredClusterConfig {
  return { version: r.version, text: r.document, format: r.format === 'json' ? 'json' : 'yaml', sha256: r.sha256, pushedAt: new Date(r.pushed_at), pushedBy: r.pushed_by };
}
