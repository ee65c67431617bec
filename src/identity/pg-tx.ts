/**
 * The PostgreSQL registry's connection as its queries and the stores beside it see it:
 * one transaction (or one read) on one pooled connection.
 */
import type { PoolClient, QueryResultRow } from 'pg';

/** One transaction's (or one read's) connection. */
export class Tx {
  /** Sequence number of the last change this transaction recorded (writes only). */
  seq: number;
  constructor(readonly c: PoolClient, seq = 0) {
    this.seq = seq;
  }

  async rows<T extends QueryResultRow>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return (await this.c.query<T>(sql, params as unknown[])).rows;
  }

  async one<T extends QueryResultRow>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return (await this.rows<T>(sql, params))[0];
  }

  /** Rows affected. */
  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.c.query(sql, params as unknown[])).rowCount ?? 0;
  }
}

/**
 * The registry's connections for the stores kept beside it that record no change
 * (shadows): `read` in one snapshot, `write` in one transaction without the registry's
 * write lock (the store takes the lock it needs).
 */
export interface PgStoreConnection {
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

export type PgTx = Tx;
