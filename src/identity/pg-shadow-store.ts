/**
 * Device Shadows in the PostgreSQL registry (the `shadows` table, PostgreSQL step 2):
 * the same store contract as the SQLite one (shadow-store.ts). A change runs in one
 * transaction that first takes a transaction-level advisory lock on the shadow
 * (thing name and shadow name), so two updates of one shadow — from two connections or
 * two nodes — cannot both pass the same version check, while updates of different
 * shadows run side by side. Shadow writes record no registry change.
 */
import { storedDocument, storedText } from '../core/shadow/document.js';
import type { PgStoreConnection, PgTx } from './pg-tx.js';
import type { ShadowRead, ShadowStore, ShadowWrite } from './shadow-store.js';

/** Second key class of the shadows' advisory locks (the first is the registry's). */
const SHADOW_LOCK_CLASS = 0x7368_6477; // "shdw"

interface Row { version: number; document: string | null; updated_at: number; deleted_at: number | null }

export class PgShadowStore implements ShadowStore {
  readonly #c: PgStoreConnection;

  constructor(connection: PgStoreConnection) {
    this.#c = connection;
  }

  get(thingName: string, shadowName: string): Promise<ShadowRead> {
    return this.#c.read((tx) => read(tx, thingName, shadowName));
  }

  transact<T>(thingName: string, shadowName: string, decide: (read: ShadowRead) => { readonly write?: ShadowWrite; readonly result: T }): Promise<T> {
    return this.#c.write(async (tx) => {
      await tx.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SHADOW_LOCK_CLASS, `${thingName}/${shadowName}`]);
      const r = decide(await read(tx, thingName, shadowName));
      const w = r.write;
      if (w?.kind === 'put') {
        await tx.run(`INSERT INTO shadows (thing_name, shadow_name, version, document, updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, NULL)
          ON CONFLICT (thing_name, shadow_name) DO UPDATE SET version = excluded.version, document = excluded.document, updated_at = excluded.updated_at, deleted_at = NULL`,
        [thingName, shadowName, w.document.version, storedText(w.document), w.at]);
      } else if (w?.kind === 'delete') {
        await tx.run('UPDATE shadows SET document = NULL, version = $1, deleted_at = $2, updated_at = $2 WHERE thing_name = $3 AND shadow_name = $4', [w.version, w.at, thingName, shadowName]);
      }
      return r.result;
    });
  }

  pruneDeleted(before: number, limit: number): Promise<number> {
    return this.#c.write((tx) => tx.run(`DELETE FROM shadows WHERE (thing_name, shadow_name) IN
        (SELECT thing_name, shadow_name FROM shadows WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT $2)`, [before, Math.max(1, limit)]));
  }

  listNamed(thingName: string, options: { readonly after?: string; readonly limit: number }): Promise<{ readonly thingExists: boolean; readonly names: readonly string[] }> {
    return this.#c.read(async (tx) => {
      const thingExists = (await tx.one('SELECT 1 AS x FROM things WHERE name = $1', [thingName])) !== undefined;
      const rows = await tx.rows<{ shadow_name: string }>(`SELECT shadow_name FROM shadows WHERE thing_name = $1 AND shadow_name <> '' AND document IS NOT NULL AND shadow_name > $2
        ORDER BY shadow_name LIMIT $3`, [thingName, options.after ?? '', Math.max(1, options.limit)]);
      return { thingExists, names: rows.map((r) => r.shadow_name) };
    });
  }
}

async function read(tx: PgTx, thingName: string, shadowName: string): Promise<ShadowRead> {
  const thingExists = (await tx.one('SELECT 1 AS x FROM things WHERE name = $1', [thingName])) !== undefined;
  const row = await tx.one<Row>('SELECT version, document, updated_at, deleted_at FROM shadows WHERE thing_name = $1 AND shadow_name = $2', [thingName, shadowName]);
  if (row === undefined) return { thingExists, slot: {} };
  if (row.document === null) return { thingExists, slot: { deleted: { version: row.version, at: row.deleted_at ?? row.updated_at } } };
  return { thingExists, slot: { document: storedDocument(row.document, row.version) } };
}
