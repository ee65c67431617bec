/**
 * The recent denials of MQTT actions, for the operator console's live stream and the
 * management API's ListDenials: a fixed-size ring (the oldest entry is overwritten), each
 * entry numbered so a reader asks for what came after the last one it saw, and the
 * count of every denial by reason since start (counted before the per-connection log
 * rate limit, so the counts are exact while the ring holds what was logged).
 */

/** One denial as the broker logged it. */
export interface DenialEntry {
  /** 1, 2, … in the order recorded (never reused while the process runs). */
  readonly seq: number;
  /** Epoch milliseconds. */
  readonly at: number;
  /** `mqtt:connect`, `mqtt:publish`, `mqtt:subscribe`. */
  readonly operation: string;
  readonly reason: string;
  readonly clientId?: string;
  readonly thingName?: string;
  readonly certificateId?: string;
  /** `mqtt:topic:…`, `mqtt:topicfilter:…`; absent for a connection. */
  readonly resource?: string;
  /** The deciding policy's dialect, name and statement, and the action it was decided on, when a statement decided. */
  readonly dialect?: string;
  readonly policy?: string;
  readonly statement?: string;
  readonly action?: string;
  /** Denials of the same connection not recorded since the previous entry (log rate limit). */
  readonly suppressed?: number;
}

export type NewDenial = Omit<DenialEntry, 'seq'>;

const TEXT_FIELDS = ['clientId', 'thingName', 'certificateId', 'resource', 'dialect', 'policy', 'statement', 'action'] as const;
/** A recorded text is cut to this length (a topic may be 64 KiB; the ring's memory stays bounded). */
const MAX_TEXT = 1024;

export class DenialFeed {
  readonly capacity: number;
  readonly #ring: (DenialEntry | undefined)[];
  #next = 1;
  readonly #byReason = new Map<string, number>();

  constructor(capacity = 500) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.#ring = new Array<DenialEntry | undefined>(capacity);
  }

  /** Counts one denial by its reason (every denial, logged or not). */
  count(reason: string): void {
    this.#byReason.set(reason, (this.#byReason.get(reason) ?? 0) + 1);
  }

  /** Records a logged denial; returns its number. */
  record(d: NewDenial): number {
    const seq = this.#next++;
    const entry: Record<string, unknown> = { seq, at: d.at, operation: d.operation, reason: d.reason };
    for (const k of TEXT_FIELDS) {
      const v = d[k];
      if (typeof v === 'string') entry[k] = v.length > MAX_TEXT ? v.slice(0, MAX_TEXT) : v;
    }
    if (d.suppressed !== undefined && d.suppressed > 0) entry['suppressed'] = d.suppressed;
    this.#ring[seq % this.capacity] = entry as unknown as DenialEntry;
    return seq;
  }

  /** The entries numbered after `after`, oldest first, at most `limit` (the newest ones when more are held). */
  since(after: number, limit: number): DenialEntry[] {
    const last = this.#next - 1;
    const first = Math.max(after + 1, last - this.capacity + 1, 1, last - limit + 1);
    const out: DenialEntry[] = [];
    for (let s = first; s <= last; s++) {
      const e = this.#ring[s % this.capacity];
      if (e !== undefined && e.seq === s) out.push(e);
    }
    return out;
  }

  /** The number of the newest entry (0 when none). */
  get latest(): number {
    return this.#next - 1;
  }

  /** Denials since start by reason. */
  byReason(): Record<string, number> {
    return Object.fromEntries(this.#byReason);
  }
}
