/**
 * Where retained MQTT messages are kept: the `retained_messages` table of the registry
 * database (migration step 7), over the registry's connection (`registry.retained()`).
 * The broker's retained keeper (broker/retained.ts) writes through to it and loads it at
 * start (through the gateway: the broker's `RetainedBacking` port is this shape); the
 * data-plane and management APIs read it through the keeper.
 */
import type Database from 'better-sqlite3';
import type { ControlConnection } from './sqlite-control.js';

/** One retained message (the broker's `RetainedMessage`, structurally). */
export interface StoredRetainedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  /** Epoch milliseconds of the last store. */
  readonly modifiedAt: number;
}

export interface StoredRetainedSummary {
  readonly topic: string;
  readonly payloadSize: number;
  readonly qos: number;
  readonly modifiedAt: number;
}

interface Row { topic: string; payload: Buffer; qos: number; modified_at: number }

export class SqliteRetainedStore {
  readonly #c: ControlConnection;
  readonly #s: {
    all: Database.Statement;
    get: Database.Statement;
    put: Database.Statement;
    del: Database.Statement;
    list: Database.Statement;
  };

  constructor(connection: ControlConnection) {
    this.#c = connection;
    const db = connection.db;
    this.#s = {
      all: db.prepare('SELECT topic, payload, qos, modified_at FROM retained_messages ORDER BY topic'),
      get: db.prepare('SELECT topic, payload, qos, modified_at FROM retained_messages WHERE topic = ?'),
      put: db.prepare(`INSERT INTO retained_messages (topic, payload, qos, modified_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos, modified_at = excluded.modified_at`),
      del: db.prepare('DELETE FROM retained_messages WHERE topic = ?'),
      list: db.prepare('SELECT topic, length(payload) AS size, qos, modified_at FROM retained_messages WHERE topic > ? ORDER BY topic LIMIT ?'),
    };
  }

  all(): Promise<StoredRetainedMessage[]> {
    return settled(() => this.#c.read(() => (this.#s.all.all() as Row[]).map(message)));
  }

  get(topic: string): Promise<StoredRetainedMessage | undefined> {
    return settled(() => this.#c.read(() => {
      const r = this.#s.get.get(topic) as Row | undefined;
      return r === undefined ? undefined : message(r);
    }));
  }

  put(m: StoredRetainedMessage): Promise<void> {
    return settled(() => this.#c.write(() => {
      this.#s.put.run(m.topic, m.payload, m.qos, m.modifiedAt);
    }));
  }

  delete(topic: string): Promise<boolean> {
    return settled(() => this.#c.write(() => this.#s.del.run(topic).changes > 0));
  }

  list(options: { readonly after?: string; readonly limit: number }): Promise<StoredRetainedSummary[]> {
    return settled(() => this.#c.read(() => (this.#s.list.all(options.after ?? '', Math.max(1, options.limit)) as { topic: string; size: number; qos: number; modified_at: number }[])
      .map((r) => ({ topic: r.topic, payloadSize: r.size, qos: r.qos, modifiedAt: r.modified_at }))));
  }
}

function message(r: Row): StoredRetainedMessage {
  return { topic: r.topic, payload: Buffer.from(r.payload), qos: r.qos, modifiedAt: r.modified_at };
}

/** The result of a synchronous database call as a promise (its exception as a rejection). */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}
