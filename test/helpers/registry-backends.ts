/**
 * The registry backends the contract tests run against: SQLite always, PostgreSQL when
 * this process can start one (test/helpers/postgres.ts; under CI=true it must).
 *
 *   const backends = await registryBackends();
 *   for (const b of backends) describe(`${b.name}: things`, { skip: b.skip }, () => { ... await b.open() ... });
 *
 * `open()` gives a registry on a new, empty store (a SQLite file in a temporary
 * directory, or a PostgreSQL schema of its own). `store()` gives the store itself, to
 * open several handles on it — two handles are two gateways or a gateway and the CLI —
 * and to run backend SQL that both engines accept.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PgRegistry } from '../../src/identity/pg-registry.js';
import type { Registry } from '../../src/identity/registry.js';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { sharedPostgres, type PostgresServer } from './postgres.js';
import { makeProcessTempDir } from './tmp-dir.js';

export interface RegistryOpenOptions {
  readonly now?: () => Date;
  readonly changeRetention?: number;
}

export interface RegistryStore {
  /** A new handle on this store (another process, as far as the registry can tell). */
  open(options?: RegistryOpenOptions): Promise<Registry>;
  /** Runs one SQL statement directly on the store, bypassing the registry. */
  sql(text: string): Promise<void>;
  /** Runs one query directly on the store and returns its rows. */
  rows(text: string): Promise<Record<string, unknown>[]>;
  /** PostgreSQL only: a connected client on the store's schema (a test that holds a transaction open ends it). */
  connect?(): Promise<pg.Client>;
}

export interface RegistryBackend {
  readonly name: 'sqlite' | 'postgres';
  /** False, or why this backend's tests are skipped. */
  readonly skip: string | false;
  /** A registry on a new, empty store. */
  open(options?: RegistryOpenOptions): Promise<Registry>;
  /** A new, empty store to open several handles on. */
  store(): Promise<RegistryStore>;
  /** The PostgreSQL server (postgres backend only). */
  readonly server?: PostgresServer;
}

let dir: string | undefined;
let counter = 0;

const sqlite: RegistryBackend = {
  name: 'sqlite',
  skip: false,
  async open(options = {}) {
    return (await this.store()).open(options);
  },
  store() {
    dir ??= makeProcessTempDir('gatehouse-registry-');
    const file = join(mkdtempSync(join(dir, 'r-')), 'registry.db');
    return Promise.resolve({
      open: (options: RegistryOpenOptions = {}) => Promise.resolve<Registry>(SqliteRegistry.open({ file, ...options })),
      // Errors reject the promise, as the PostgreSQL store's do.
      sql: (text: string) => Promise.resolve().then(() => {
        const db = new Database(file);
        try {
          db.exec(text);
        } finally {
          db.close();
        }
      }),
      rows: (text: string) => Promise.resolve().then(() => {
        const db = new Database(file, { readonly: true });
        try {
          return db.prepare(text).all() as Record<string, unknown>[];
        } finally {
          db.close();
        }
      }),
    });
  },
};

function postgres(server: PostgresServer): RegistryBackend {
  return {
    name: 'postgres',
    skip: false,
    server,
    async open(options = {}) {
      return (await this.store()).open(options);
    },
    store() {
      const schema = `t${process.pid}_${++counter}`;
      const connect = async (): Promise<pg.Client> => {
        const client = new pg.Client({ connectionString: server.url, options: `-c search_path=${schema}` });
        await client.connect();
        return client;
      };
      const query = async (text: string): Promise<pg.QueryResult> => {
        const client = await connect();
        try {
          return await client.query(text);
        } finally {
          await client.end();
        }
      };
      return Promise.resolve({
        open: async (options: RegistryOpenOptions = {}) => PgRegistry.open({ url: server.url, schema, ...options }),
        sql: async (text: string) => {
          await query(text);
        },
        rows: async (text: string) => (await query(text)).rows as Record<string, unknown>[],
        connect,
      });
    },
  };
}

/** SQLite, then PostgreSQL (skipped with the reason when it cannot run here). */
export async function registryBackends(): Promise<readonly RegistryBackend[]> {
  const server = await sharedPostgres();
  const pgBackend: RegistryBackend = typeof server === 'string'
    ? { name: 'postgres', skip: server, open: () => Promise.reject(new Error(server)), store: () => Promise.reject(new Error(server)) }
    : postgres(server);
  return [sqlite, pgBackend];
}
