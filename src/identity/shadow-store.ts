/**
 * Where Device Shadows are kept: the `shadows` table of the registry database
 * (migration step 5), over the registry's connection (`registry.shadows()`).
 *
 * The store knows rows, not semantics (those are `core/shadow/document.ts`). A change is
 * `transact`: the slot is read, the caller's pure function decides, and what it returns
 * is written, all in one IMMEDIATE transaction, so two updates of one shadow (from two
 * connections, or two processes on the same file) cannot both pass the same version
 * check. A shadow belongs to a registered thing: deleting the thing deletes its shadows.
 */
import type Database from 'better-sqlite3';
import { storedDocument, storedText, type ShadowDocument, type ShadowSlot } from '../core/shadow/document.js';
import type { ControlConnection } from './sqlite-control.js';

/** What a change writes: the new document, or the deletion of the live one. */
export type ShadowWrite =
  | { readonly kind: 'put'; readonly document: ShadowDocument; readonly at: number }
  | { readonly kind: 'delete'; readonly version: number; readonly at: number };

export interface ShadowRead {
  readonly thingExists: boolean;
  readonly slot: ShadowSlot;
}

export interface ShadowStore {
  /** The shadow's slot (empty when it never existed), and whether the thing is registered. */
  get(thingName: string, shadowName: string): Promise<ShadowRead>;
  /**
   * Reads the slot, calls `decide` and writes what it returns, in one transaction.
   * `decide` must be pure (it may run again if the database was busy).
   */
  transact<T>(thingName: string, shadowName: string, decide: (read: ShadowRead) => { readonly write?: ShadowWrite; readonly result: T }): Promise<T>;
  /** Names of the thing's live named shadows in name order, after `after`, at most `limit`. */
  listNamed(thingName: string, options: { readonly after?: string; readonly limit: number }): Promise<{ readonly thingExists: boolean; readonly names: readonly string[] }>;
  /**
   * Deletes at most `limit` rows of shadows deleted before `before` (epoch ms): once the
   * deleted version no longer carries over (core's DELETED_VERSION_KEPT_MS), the row
   * says nothing a missing row does not. Returns how many were deleted.
   */
  pruneDeleted(before: number, limit: number): Promise<number>;
}

interface Row { version: number; document: string | null; updated_at: number; deleted_at: number | null }

export class SqliteShadowStore implements ShadowStore {
  readonly #c: ControlConnection;
  readonly #s: {
    thing: Database.Statement;
    row: Database.Statement;
    upsert: Database.Statement;
    del: Database.Statement;
    named: Database.Statement;
    prune: Database.Statement;
  };

  constructor(connection: ControlConnection) {
    this.#c = connection;
    const db = connection.db;
    this.#s = {
      thing: db.prepare('SELECT 1 AS x FROM things WHERE name = ?'),
      row: db.prepare('SELECT version, document, updated_at, deleted_at FROM shadows WHERE thing_name = ? AND shadow_name = ?'),
      upsert: db.prepare(`INSERT INTO shadows (thing_name, shadow_name, version, document, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, NULL)
        ON CONFLICT (thing_name, shadow_name) DO UPDATE SET version = excluded.version, document = excluded.document, updated_at = excluded.updated_at, deleted_at = NULL`),
      del: db.prepare('UPDATE shadows SET document = NULL, version = ?, deleted_at = ?, updated_at = ? WHERE thing_name = ? AND shadow_name = ?'),
      named: db.prepare(`SELECT shadow_name FROM shadows WHERE thing_name = ? AND shadow_name <> '' AND document IS NOT NULL AND shadow_name > ?
        ORDER BY shadow_name LIMIT ?`),
      prune: db.prepare(`DELETE FROM shadows WHERE (thing_name, shadow_name) IN
        (SELECT thing_name, shadow_name FROM shadows WHERE deleted_at IS NOT NULL AND deleted_at < ? ORDER BY deleted_at LIMIT ?)`),
    };
  }

  #read(thingName: string, shadowName: string): ShadowRead {
    const thingExists = this.#s.thing.get(thingName) !== undefined;
    const row = this.#s.row.get(thingName, shadowName) as Row | undefined;
    if (row === undefined) return { thingExists, slot: {} };
    if (row.document === null) return { thingExists, slot: { deleted: { version: row.version, at: row.deleted_at ?? row.updated_at } } };
    return { thingExists, slot: { document: storedDocument(row.document, row.version) } };
  }

  get(thingName: string, shadowName: string): Promise<ShadowRead> {
    return settled(() => this.#c.read(() => this.#read(thingName, shadowName)));
  }

  transact<T>(thingName: string, shadowName: string, decide: (read: ShadowRead) => { readonly write?: ShadowWrite; readonly result: T }): Promise<T> {
    return settled(() => this.#c.write(() => {
      const r = decide(this.#read(thingName, shadowName));
      const w = r.write;
      if (w?.kind === 'put') this.#s.upsert.run(thingName, shadowName, w.document.version, storedText(w.document), w.at);
      else if (w?.kind === 'delete') this.#s.del.run(w.version, w.at, w.at, thingName, shadowName);
      return r.result;
    }));
  }

  pruneDeleted(before: number, limit: number): Promise<number> {
    return settled(() => this.#c.write(() => this.#s.prune.run(before, Math.max(1, limit)).changes));
  }

  listNamed(thingName: string, options: { readonly after?: string; readonly limit: number }): Promise<{ readonly thingExists: boolean; readonly names: readonly string[] }> {
    return settled(() => this.#c.read(() => {
      const thingExists = this.#s.thing.get(thingName) !== undefined;
      const rows = this.#s.named.all(thingName, options.after ?? '', Math.max(1, options.limit)) as { shadow_name: string }[];
      return { thingExists, names: rows.map((r) => r.shadow_name) };
    }));
  }
}

/** The result of a synchronous database call as a promise (its exception as a rejection). */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}
