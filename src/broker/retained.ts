/**
 * Retained messages that survive a restart, with limits that fail closed.
 *
 * aedes keeps retained messages in its persistence (persistence.ts), in memory. The
 * keeper writes every change through to a durable backing (the registry database:
 * identity/retained-store.ts) and loads the backing into the persistence at start, so a
 * subscriber after a restart receives what was retained before it.
 *
 * Limits: one payload's size, the number of retained messages and the bytes of all their
 * payloads. `admit` answers whether a retained publish fits; the publish hook refuses one
 * that does not exactly as a denied publish (hooks/publish.ts), and the data-plane
 * Publish answers an error. `store` checks again (two publishes may pass `admit` before
 * either is stored) and rejects, so the limit holds in every order.
 *
 * MQTT 3.1.1 section 3.3.1.3: a retained message with an empty payload removes the
 * topic's retained message and is not stored.
 */

export interface RetainedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  /** Epoch milliseconds of the last store. */
  readonly modifiedAt: number;
}

export interface RetainedSummary {
  readonly topic: string;
  readonly payloadSize: number;
  readonly qos: number;
  readonly modifiedAt: number;
}

/** Where retained messages are kept durably (implemented by the identity layer). */
export interface RetainedBacking {
  all(): Promise<RetainedMessage[]>;
  get(topic: string): Promise<RetainedMessage | undefined>;
  put(message: RetainedMessage): Promise<void>;
  /** Whether a message was removed. */
  delete(topic: string): Promise<boolean>;
  /** Summaries in topic order, after `after`, at most `limit`. */
  list(options: { readonly after?: string; readonly limit: number }): Promise<RetainedSummary[]>;
}

export interface RetainedLimits {
  readonly maxPayloadBytes: number;
  readonly maxMessages: number;
  readonly maxTotalBytes: number;
}

export type RetainedRefusal = 'RETAINED_PAYLOAD_TOO_LARGE' | 'RETAINED_STORE_FULL';

export type Admission = { readonly ok: true } | { readonly ok: false; readonly reason: RetainedRefusal; readonly message: string };

/** Raised by `store` when a message no longer fits (the publish fails). */
export class RetainedLimitError extends Error {
  readonly reason: RetainedRefusal;
  constructor(a: { readonly reason: RetainedRefusal; readonly message: string }) {
    super(a.message);
    this.name = 'RetainedLimitError';
    this.reason = a.reason;
  }
}

export class RetainedKeeper {
  readonly limits: RetainedLimits;
  readonly #backing: RetainedBacking;
  readonly #clock: () => number;
  /** Topic → payload size of every retained message (mirrors the backing). */
  readonly #sizes = new Map<string, number>();
  #total = 0;

  constructor(backing: RetainedBacking, limits: RetainedLimits, clock: () => number = Date.now) {
    this.#backing = backing;
    this.limits = limits;
    this.#clock = clock;
  }

  /** Reads the backing; returns its messages for the in-memory store. */
  async load(): Promise<RetainedMessage[]> {
    const all = await this.#backing.all();
    this.#sizes.clear();
    this.#total = 0;
    for (const m of all) this.#track(m.topic, m.payload.length);
    return all;
  }

  get count(): number {
    return this.#sizes.size;
  }

  get totalBytes(): number {
    return this.#total;
  }

  /** Whether a retained message of `size` bytes on `topic` fits (an empty payload always does: it deletes). */
  admit(topic: string, size: number): Admission {
    if (size === 0) return { ok: true };
    const l = this.limits;
    if (size > l.maxPayloadBytes) {
      return { ok: false, reason: 'RETAINED_PAYLOAD_TOO_LARGE', message: `a retained payload of ${size} bytes exceeds gatehouse.retained.maxPayloadBytes (${l.maxPayloadBytes})` };
    }
    const previous = this.#sizes.get(topic);
    const count = this.#sizes.size + (previous === undefined ? 1 : 0);
    const total = this.#total - (previous ?? 0) + size;
    if (count > l.maxMessages) {
      return { ok: false, reason: 'RETAINED_STORE_FULL', message: `the gateway keeps at most ${l.maxMessages} retained messages (gatehouse.retained.maxMessages)` };
    }
    if (total > l.maxTotalBytes) {
      return { ok: false, reason: 'RETAINED_STORE_FULL', message: `retained payloads may take at most ${l.maxTotalBytes} bytes together (gatehouse.retained.maxTotalBytes)` };
    }
    return { ok: true };
  }

  /** Stores (or, for an empty payload, deletes) the topic's retained message durably. */
  async store(topic: string, payload: Buffer, qos: number): Promise<void> {
    if (payload.length === 0) {
      await this.delete(topic);
      return;
    }
    const a = this.admit(topic, payload.length);
    if (!a.ok) throw new RetainedLimitError(a);
    await this.#backing.put({ topic, payload, qos, modifiedAt: this.#clock() });
    this.#track(topic, payload.length);
  }

  /** Deletes the topic's retained message durably; whether there was one. */
  async delete(topic: string): Promise<boolean> {
    const removed = await this.#backing.delete(topic);
    const previous = this.#sizes.get(topic);
    if (previous !== undefined) {
      this.#sizes.delete(topic);
      this.#total -= previous;
    }
    return removed;
  }

  get(topic: string): Promise<RetainedMessage | undefined> {
    return this.#backing.get(topic);
  }

  list(options: { readonly after?: string; readonly limit: number }): Promise<RetainedSummary[]> {
    return this.#backing.list(options);
  }

  #track(topic: string, size: number): void {
    this.#total += size - (this.#sizes.get(topic) ?? 0);
    this.#sizes.set(topic, size);
  }
}
