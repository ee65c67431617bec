/**
 * The gateway's connectivity information: the host addresses and ports at which client
 * devices reach its broker, per core-device thing name, as Greengrass v2's
 * Get/UpdateConnectivityInfo manage it
 * (https://docs.aws.amazon.com/greengrass/v2/APIReference/API_UpdateConnectivityInfo.html).
 * As in the Greengrass client device auth component, these host addresses go into the
 * broker's server certificate as subject alternative names: the gateway adds them to
 * `gatehouse.hostAddresses` (hostAddresses() here), and a change re-issues the
 * certificate.
 *
 * Stored in `<dataDir>/server/connectivity-info.json`, replaced atomically, so that it
 * survives restarts. Gatehouse is one broker: the addresses recorded under every thing
 * name are all names of that one broker.
 */
import { join } from 'node:path';
import { ensureDataDir } from '../data-dir.js';
import { writeFileAtomic } from './atomic.js';
import { CaError, errnoCode } from './errors.js';
import { classifyHost } from './hosts.js';
import { PRIVATE_FILE_MODE, dataLayout, readIfExists } from './store.js';

export interface ConnectivityEntry {
  readonly id: string;
  readonly hostAddress: string;
  readonly portNumber: number;
  readonly metadata: string;
}

export interface ConnectivityRecord {
  readonly thingName: string;
  /** Increases by one on every update of this thing's information. */
  readonly version: number;
  readonly entries: readonly ConnectivityEntry[];
  readonly updatedAt: Date;
}

/** Most entries per thing. */
export const MAX_CONNECTIVITY_ENTRIES = 100;
const FORMAT = 1;
const FILE_NAME = 'connectivity-info.json';

interface StoredFile {
  readonly format: number;
  readonly things: Record<string, { version: number; updatedAt: string; entries: ConnectivityEntry[] }>;
}

export class ConnectivityInfoStore {
  readonly #file: string;
  #records: Map<string, ConnectivityRecord>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(file: string, records: Map<string, ConnectivityRecord>) {
    this.#file = file;
    this.#records = records;
  }

  /** Reads the stored information (none when the file does not exist). CA_STORE_CORRUPT for a damaged file. */
  static async open(dataDir: string): Promise<ConnectivityInfoStore> {
    const dir = dataLayout(dataDir).serverDir;
    const file = join(dir, FILE_NAME);
    const text = await readIfExists(file);
    const records = new Map<string, ConnectivityRecord>();
    if (text !== undefined) {
      const corrupt = (why: string): CaError => new CaError('CA_STORE_CORRUPT', `${file} cannot be read: ${why}`,
        'restore the file from a backup, or remove it and set the connectivity information again (UpdateConnectivityInfo)');
      let parsed: StoredFile;
      try {
        parsed = JSON.parse(text) as StoredFile;
      } catch {
        throw corrupt('it is not JSON');
      }
      if (typeof parsed !== 'object' || parsed === null || parsed.format !== FORMAT || typeof parsed.things !== 'object' || parsed.things === null) throw corrupt(`it is not format ${FORMAT}`);
      for (const [thingName, r] of Object.entries(parsed.things)) {
        if (!Number.isInteger(r.version) || !Array.isArray(r.entries) || Number.isNaN(Date.parse(r.updatedAt))) throw corrupt(`the record of \`${thingName}\` is damaged`);
        for (const e of r.entries) {
          try {
            checkEntry(e);
          } catch {
            throw corrupt(`the record of \`${thingName}\` holds an invalid entry`);
          }
        }
        records.set(thingName, { thingName, version: r.version, entries: r.entries, updatedAt: new Date(r.updatedAt) });
      }
    }
    return new ConnectivityInfoStore(file, records);
  }

  get(thingName: string): ConnectivityRecord | undefined {
    return this.#records.get(thingName);
  }

  /** Every host address of every record, in thing-name then entry order, duplicates removed. */
  hostAddresses(): string[] {
    const out = new Set<string>();
    for (const name of [...this.#records.keys()].sort()) for (const e of this.#records.get(name)!.entries) out.add(e.hostAddress);
    return [...out];
  }

  /**
   * Replaces the thing's information. Throws CaError CA_HOST_INVALID / CA_HOST_HAS_PORT
   * for a host address that cannot be a certificate name, CA_STORE_WRITE_FAILED when it
   * cannot be stored (nothing changes then).
   */
  update(thingName: string, entries: readonly ConnectivityEntry[], now: Date): Promise<ConnectivityRecord> {
    try {
      for (const e of entries) checkEntry(e);
    } catch (e) {
      return Promise.reject(e);
    }
    const run = this.#queue.then(async () => {
      const previous = this.#records.get(thingName);
      const record: ConnectivityRecord = { thingName, version: (previous?.version ?? 0) + 1, entries: entries.map((e) => ({ ...e })), updatedAt: now };
      const next = new Map(this.#records);
      next.set(thingName, record);
      await this.#write(next);
      this.#records = next;
      return record;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(records: ReadonlyMap<string, ConnectivityRecord>): Promise<void> {
    const things: StoredFile['things'] = {};
    for (const [name, r] of [...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      things[name] = { version: r.version, updatedAt: r.updatedAt.toISOString(), entries: r.entries.map((e) => ({ ...e })) };
    }
    const text = JSON.stringify({ format: FORMAT, things } satisfies StoredFile, null, 2) + '\n';
    try {
      await ensureDataDir(join(this.#file, '..'));
      await writeFileAtomic(this.#file, text, PRIVATE_FILE_MODE);
    } catch (err) {
      throw new CaError('CA_STORE_WRITE_FAILED', `cannot store the connectivity information in ${this.#file}: ${errnoCode(err) ?? (err instanceof Error ? err.message : String(err))}`,
        'check free space and permissions of the data directory, then retry', { cause: err });
    }
  }
}

function checkEntry(e: ConnectivityEntry): void {
  if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || typeof e.hostAddress !== 'string' || typeof e.metadata !== 'string'
    || !Number.isInteger(e.portNumber) || e.portNumber < 0 || e.portNumber > 65535) {
    throw new CaError('CA_HOST_INVALID', 'a connectivity entry needs an id, a host address, a port from 0 to 65535 and metadata text');
  }
  classifyHost(e.hostAddress);
}
