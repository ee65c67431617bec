/**
 * The continuous AWS IoT sync's shared state in the PostgreSQL registry (table
 * `sync_state`, PostgreSQL step 7), and the lead that lets one node of the cluster run it
 * at a time (docs/cluster.md).
 *
 * The lead is a session-level advisory lock (`pg_try_advisory_lock`) held on a
 * connection of its own. PostgreSQL releases it when that session ends: when the node
 * stops, when its process dies (the kernel closes the socket and the server's backend
 * sees it at once), or, for a node whose machine or network vanished, when the server's
 * TCP keepalives give up on the connection (set on it: about 10 + 3 × 5 seconds). No
 * clock is compared and no lease is renewed: the server that holds the registry decides
 * who holds the lock. A node that loses its lock connection stops leading at once (its
 * run in progress is told, `onLost`), and before each run the holder checks that the
 * connection still answers (5 s client-side timeout): a node cut off without a word
 * stops leading instead of running beside the node the server gave the lock to.
 *
 * The state row is written by the node that ran, after each run, and read by every node
 * (status, the admission window of synced certificates). It is the same JSON the SQLite
 * gateway keeps in DATA_DIR/sync/aws-state.json.
 */
import type pg from 'pg';
import { PG_LOCK_CLASS } from './pg-migrations.js';
import type { PgStoreConnection } from './pg-tx.js';

export interface PgSyncStateOptions {
  readonly connection: PgStoreConnection;
  /** A new connection for the lock (the registry's settings; not from the pool). */
  readonly newClient: () => pg.Client;
  readonly schema: string;
  readonly now: () => Date;
  /** This node's name, written with the state (who ran last). */
  readonly node: string;
}

/** The sync's source: only AWS IoT Core today. */
const SOURCE = 'aws';

export class PgSyncState {
  /** Several gateways share this state: only the one holding the lead runs. */
  readonly shared = true;
  readonly #o: PgSyncStateOptions;
  #client: pg.Client | undefined;
  #leading = false;
  #closed = false;
  readonly #lost = new Set<() => void>();

  constructor(options: PgSyncStateOptions) {
    this.#o = options;
  }

  /** True while this process holds the lead. */
  get leading(): boolean {
    return this.#leading;
  }

  /** The saved state (JSON), or undefined when no node has written it yet. */
  async read(): Promise<string | undefined> {
    const row = await this.#o.connection.read((tx) => tx.one<{ state: string }>('SELECT state FROM sync_state WHERE source = $1', [SOURCE]));
    return row?.state;
  }

  /** Writes the state (the node that ran does, after each run). */
  async write(state: string, verifiedAt: Date | null): Promise<void> {
    await this.#o.connection.write((tx) => tx.run(`INSERT INTO sync_state (source, verified_at, state, node, updated_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (source) DO UPDATE SET verified_at = excluded.verified_at, state = excluded.state, node = excluded.node, updated_at = excluded.updated_at`,
    [SOURCE, verifiedAt?.getTime() ?? null, state, this.#o.node, this.#o.now().getTime()]));
  }

  /**
   * Takes the lead if no other node holds it, or keeps it: true while this process
   * holds it. The holder checks that its lock connection still answers (a connection
   * cut without a word, where the server may already have given the lock away, fails
   * the check within the client's query timeout). False (never an exception) when the
   * database cannot be reached.
   */
  async lead(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#leading && this.#client !== undefined) {
      const client = this.#client;
      try {
        await client.query('SELECT 1');
        return this.#client === client && this.#leading;
      } catch {
        if (this.#client === client) this.#drop();
        return false;
      }
    }
    try {
      const client = await this.#connect();
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [PG_LOCK_CLASS, `${this.#o.schema}/sync/${SOURCE}`]);
      if (this.#client !== client) return false;
      this.#leading = r.rows[0]?.ok === true;
      return this.#leading;
    } catch {
      this.#drop();
      return false;
    }
  }

  /** Calls `fn` when a lead held is lost (its connection broke). */
  onLost(fn: () => void): () => void {
    this.#lost.add(fn);
    return () => this.#lost.delete(fn);
  }

  /** Gives the lead up (another node takes it at its next attempt) and closes the lock connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    this.#leading = false;
    // Ending the session releases its advisory locks.
    if (client !== undefined) await client.end().catch(() => undefined);
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client !== undefined) return this.#client;
    const client = this.#o.newClient();
    this.#client = client;
    const broken = (): void => {
      if (this.#client === client) this.#drop();
    };
    client.on('error', broken);
    client.on('end', broken);
    await client.connect();
    return client;
  }

  /** The lock connection is gone: so is the lead. */
  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    const was = this.#leading;
    this.#leading = false;
    if (client !== undefined) void client.end().catch(() => undefined);
    if (was) for (const fn of [...this.#lost]) fn();
  }
}
