/**
 * The gateway's continuous sync with AWS IoT Core (`gatehouse.sync.aws.enabled`): one
 * run at start, then one every `intervalSeconds` after the previous run ended (runs never
 * overlap). What a run writes reaches live connections through the registry's change
 * feed like any other change: a certificate revoked or deactivated in the cloud ends its
 * connections as soon as the run that sees it has written its page.
 *
 * When the cloud cannot be reached the gateway keeps serving from the registry and logs
 * `sync-failed` (once per outage at warn, then at debug, and `sync-recovered` when a run
 * succeeds again). Certificates the sync manages are cloud-verified identities, and
 * `security.clientDeviceTrustDurationMinutes` gets the meaning the Greengrass component
 * gives it: how long after the last verification with the cloud such an identity may
 * still be admitted while the cloud is out of reach. Here each successful run verifies
 * every synced certificate at once, and the next verification is due one interval later,
 * so a synced certificate is admitted to a new connection (MQTT CONNECT, the local API's
 * VerifyClientDeviceIdentity and GetClientDeviceAuthToken) until
 *
 *     last successful run's end + intervalSeconds + clientDeviceTrustDurationMinutes
 *
 * and refused with CERT_CLOUD_TRUST_EXPIRED after it. Connections and sessions admitted
 * before keep going (their later re-checks after registry changes do not apply the
 * window). Objects created locally are never subject to it. The time of the last
 * successful run is kept in DATA_DIR/sync/aws-state.json (SQLite registry), or in the
 * shared registry's `sync_state` row (PostgreSQL), so a restart while offline keeps the
 * window; a gateway that has never reached the cloud admits no synced certificate until
 * it does (fail closed).
 *
 * Several gateways sharing a PostgreSQL registry (docs/cluster.md): only the node holding
 * the lead (`SyncStateStore.lead`, an advisory lock in pg-sync-state.ts) runs, one run
 * per interval for the whole cluster. The others read the shared state every
 * `followMs`: the end of the last successful run, hence the same trust window and the
 * same admission decision on every node, and the same status. They try for the lead at
 * the same pace, so when the running node stops or dies another takes over, and runs
 * once an interval has passed since the last run ended.
 *
 * What the operator sees (status(): the management API's GetSyncStatus, `gatehouse sync
 * status`, the `gatehouse_sync_*` metrics): the last run (when, succeeded or failed, what
 * it added, changed, removed and refused, its error), the last success and the end of the
 * trust window. A refused object is logged (`sync-refused`, warn) once when it is first
 * refused and again only when the reason's code changes, not on every run; the number of
 * objects refused now is in the status. The same state file keeps the last run and the
 * refusals already reported, so a restart does not report them again.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { syncFromAws, type AwsSyncOptions, type SyncReport, type SyncStore } from './aws.js';
import { isGatehouseError } from '../core/errors.js';

/**
 * Where the state that decides admission is kept, and which node runs: the data
 * directory's file for one gateway (`fileSyncState`), the registry's row and advisory
 * lock for a cluster (PgSyncState, identity/pg-sync-state.ts).
 */
export interface SyncStateStore {
  /** True when several gateways share it: only the one holding the lead runs, the others follow the state. */
  readonly shared: boolean;
  /** The saved state (JSON), or undefined when none was written. */
  read(): Promise<string | undefined>;
  write(state: string, verifiedAt: Date | null): Promise<void>;
  /** Takes or keeps the lead: true when this gateway may run. Never throws (false then). */
  lead(): Promise<boolean>;
  /** Calls `fn` when a lead held is lost. */
  onLost?(fn: () => void): () => void;
  close(): Promise<void>;
}

export interface ContinuousAwsSyncOptions {
  readonly store: SyncStore;
  /** Default: the data directory's state file (one gateway, always the one that runs). */
  readonly state?: SyncStateStore;
  /** How often a gateway that does not lead reads the shared state and tries for the lead (default: the interval, at most 1000 ms). */
  readonly followMs?: number;
  readonly sync: AwsSyncOptions;
  readonly intervalMs: number;
  /** `security.clientDeviceTrustDurationMinutes` in milliseconds, read at each decision (it reloads). */
  readonly trustDurationMs: () => number;
  readonly dataDir: string;
  readonly logger: Logger;
  /** The gateway's counters: the `gatehouse_sync_*` gauges read what the runs set there. */
  readonly metrics?: Metrics;
  readonly clock?: () => Date;
}

/** One run as the status shows it. */
export interface SyncRunSummary {
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly result: 'succeeded' | 'failed';
  /** Objects added, changed, removed (0 for a failed run: its pages written are counted in the next run's report only as no change). */
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
  /** Objects refused by this run (every one, reported or not). */
  readonly refused: number;
  /** Of those, refused for the first time or for another reason than before (the ones logged). */
  readonly newlyRefused: number;
  readonly things: number;
  readonly noChange: boolean;
  readonly durationMs: number;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface ContinuousSyncStatus {
  /** End of the last successful run, or null. */
  readonly verifiedAt: Date | null;
  /** Until when synced certificates are admitted, or null when never verified. */
  readonly trustedUntil: Date | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: Date } | null;
  /** Runs since the gateway started. */
  readonly runs: number;
  /** A run is under way. */
  readonly running: boolean;
  readonly intervalSeconds: number;
  readonly lastRun: SyncRunSummary | null;
  /** Objects the last successful run refused (they are left out of the registry). */
  readonly refusedObjects: number;
  /** This gateway runs the sync (always, on one gateway; on a cluster, the node holding the lead). */
  readonly leading: boolean;
}

/** What the state file holds (JSON). */
interface SavedState {
  readonly verifiedAt: Date | null;
  readonly lastRun: SyncRunSummary | null;
  /** `kind name` -> refusal code, as last reported. */
  readonly refusals: Map<string, string>;
  /** The error of the failing runs since the last success. */
  readonly lastError?: ContinuousSyncStatus['lastError'];
}

export function syncStatePath(dataDir: string): string {
  return join(dataDir, 'sync', 'aws-state.json');
}

/** The state file of one gateway (DATA_DIR/sync/aws-state.json): it always leads. */
export function fileSyncState(dataDir: string): SyncStateStore {
  const path = syncStatePath(dataDir);
  return {
    shared: false,
    read: () => readFile(path, 'utf8').catch(() => undefined),
    write: (state) => writeAtomically(path, state),
    lead: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}

export class ContinuousAwsSync {
  private verifiedAt: Date | null = null;
  private synced = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** The run under way's own signal: stopped with the gateway, or when the lead is lost. */
  private runAbort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private readonly state: SyncStateStore;
  private readonly followMs: number;
  private leading = false;
  /** The state text last read or written (a follower re-reads the synced certificates when it changes). */
  private stateText: string | undefined;
  private stopped = false;
  private lastError: ContinuousSyncStatus['lastError'] = null;
  private runs = 0;
  private lastRun: SyncRunSummary | null = null;
  /** Refusals already reported: `kind name` -> code. */
  private refusals = new Map<string, string>();
  /** PEMs of refused certificates (aws.ts, pemCache): not described again every run. */
  private readonly pemCache = new Map<string, string>();
  private readonly clock: () => Date;
  private readonly listeners = new Set<(report: SyncReport | undefined, error: unknown) => void>();

  private constructor(private readonly options: ContinuousAwsSyncOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.state = options.state ?? fileSyncState(options.dataDir);
    this.followMs = Math.max(10, options.followMs ?? Math.min(options.intervalMs, 1000));
    this.state.onLost?.(() => {
      this.leading = false;
      this.runAbort?.abort();
      options.logger.warn({ event: 'sync-lead-lost', source: 'aws' }, 'lost the lead of the AWS IoT sync (its registry connection broke): the run under way stops at its next page; another node, or this one, takes over');
    });
  }

  /**
   * Reads the saved state and the synced certificates: the admission gate works from
   * here on. The first run starts with {@link begin}, once the gateway watches the
   * registry's change feed.
   */
  static async open(options: ContinuousAwsSyncOptions): Promise<ContinuousAwsSync> {
    const sync = new ContinuousAwsSync(options);
    const text = await sync.state.read().catch(() => undefined);
    sync.adopt(text);
    sync.synced = new Set(await options.store.syncedNames('certificate'));
    sync.publishMetrics();
    return sync;
  }

  /** Starts the first run now (not awaited) and the following ones every interval. */
  begin(): void {
    if (this.timer === undefined && this.running === undefined) this.schedule(0);
  }

  /** The admission gate the certificate verifier consults (verify.ts, step 6). */
  readonly admissionGate = (certificateId: string, now: Date): string | undefined => {
    if (!this.synced.has(certificateId)) return undefined;
    const until = this.trustedUntil();
    if (until === null) return `certificate ${certificateId} is synced from AWS IoT Core and the gateway has not reached AWS IoT since it started with no earlier verification`;
    if (now.getTime() <= until.getTime()) return undefined;
    return `certificate ${certificateId} is synced from AWS IoT Core, last verified with the cloud at ${this.verifiedAt!.toISOString()}; the offline trust window (sync interval + security.clientDeviceTrustDurationMinutes) ended at ${until.toISOString()}`;
  };

  status(): ContinuousSyncStatus {
    return {
      verifiedAt: this.verifiedAt, trustedUntil: this.trustedUntil(), lastError: this.lastError, runs: this.runs, running: this.running !== undefined,
      intervalSeconds: this.options.intervalMs / 1000, lastRun: this.lastRun, refusedObjects: this.refusals.size, leading: this.state.shared ? this.leading : true,
    };
  }

  /** Called after each run with its report, or with the error that stopped it. */
  onRun(listener: (report: SyncReport | undefined, error: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the schedule and the run in progress at its next page (what it wrote stays). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.runAbort?.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.ticking;
    await this.state.close();
  }

  private trustedUntil(): Date | null {
    if (this.verifiedAt === null) return null;
    return new Date(this.verifiedAt.getTime() + this.options.intervalMs + this.options.trustDurationMs());
  }

  /** The tick under way (a run, or a follower's read of the shared state). */
  private ticking: Promise<void> | undefined;

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().then((next) => {
        this.ticking = undefined;
        this.schedule(next);
      }, () => {
        this.ticking = undefined;
        this.schedule(this.followMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  /**
   * One turn of the schedule; returns the delay to the next. One gateway runs every
   * interval. On a cluster, a node that does not lead reads the shared state and tries
   * again later; the node that leads runs once an interval has passed since the last
   * run ended, whichever node ran it.
   */
  private async tick(): Promise<number> {
    if (!this.state.shared) {
      await this.runGuarded();
      return this.options.intervalMs;
    }
    const leading = await this.state.lead();
    if (leading !== this.leading) {
      this.leading = leading;
      if (leading) this.options.logger.info({ event: 'sync-lead-taken', source: 'aws' }, 'this gateway runs the AWS IoT sync for the cluster');
    }
    if (!leading) {
      await this.follow();
      return this.followMs;
    }
    // Another node may have run shortly before this one took over: wait for the interval.
    await this.follow();
    const due = this.lastRun === null ? 0 : this.lastRun.endedAt.getTime() + this.options.intervalMs - this.clock().getTime();
    if (due > 0) return Math.min(due, this.options.intervalMs);
    await this.runGuarded();
    return this.options.intervalMs;
  }

  private async runGuarded(): Promise<void> {
    this.running = this.runOnce();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Reads the shared state; when it changed, adopts it and re-reads the synced certificates. */
  private async follow(): Promise<void> {
    let text: string | undefined;
    try {
      text = await this.state.read();
    } catch (e) {
      this.options.logger.debug({ event: 'sync-state-unreadable', err: (e as Error).message }, 'could not read the shared AWS IoT sync state; the last one read stays in force');
      return;
    }
    if (text === undefined || text === this.stateText) return;
    this.adopt(text);
    try {
      this.synced = new Set(await this.options.store.syncedNames('certificate'));
    } catch {
      // Read again at the next change of the state.
      this.stateText = undefined;
    }
    this.publishMetrics();
  }

  /** Takes the saved state as this gateway's. */
  private adopt(text: string | undefined): void {
    const saved = text === undefined ? emptyState() : parseState(text);
    this.stateText = text;
    this.verifiedAt = saved.verifiedAt;
    this.lastRun = saved.lastRun;
    this.refusals = saved.refusals;
    if (saved.lastError !== undefined) this.lastError = saved.lastError;
  }

  private async runOnce(): Promise<void> {
    const { logger } = this.options;
    this.runs++;
    const startedAt = this.clock();
    const t0 = performance.now();
    let report: SyncReport | undefined;
    let error: unknown;
    const runAbort = new AbortController();
    this.runAbort = runAbort;
    if (this.stopped) runAbort.abort();
    try {
      report = await syncFromAws(this.options.store, { ...this.options.sync, signal: runAbort.signal, pemCache: this.pemCache });
      this.synced = new Set(await this.options.store.syncedNames('certificate'));
      const wasFailing = this.lastError !== null;
      this.verifiedAt = this.clock();
      this.lastError = null;
      const newly = this.noteRefusals(report);
      this.lastRun = {
        startedAt, endedAt: this.verifiedAt, result: 'succeeded', added: report.added.length, changed: report.changed.length, removed: report.removed.length,
        refused: report.refused.length, newlyRefused: newly, things: report.seen.things, noChange: report.noChange, durationMs: report.durationMs, error: null,
      };
      await this.save().catch((e: unknown) => {
        logger.warn({ event: 'sync-state-unwritable', err: (e as Error).message }, this.state.shared
          ? 'could not save the time of the last AWS IoT sync in the shared registry; the other nodes keep the previous trust window, which may end before this node\'s'
          : 'could not save the time of the last AWS IoT sync; a restart while offline starts without a trust window');
      });
      if (wasFailing) logger.info({ event: 'sync-recovered', source: 'aws' }, 'AWS IoT Core reachable again');
      const level = report.noChange && newly === 0 ? 'debug' : 'info';
      logger[level]({
        event: 'sync', source: 'aws', noChange: report.noChange, added: report.added.length, changed: report.changed.length, removed: report.removed.length,
        refused: report.refused.length, newlyRefused: newly, changes: report.changes, things: report.seen.things, durationMs: report.durationMs,
      }, report.noChange ? 'AWS IoT sync: no change' : 'AWS IoT sync applied');
    } catch (e) {
      error = e;
      // Stopped, or the lead was lost (another node runs now and writes the state).
      if (this.stopped || runAbort.signal.aborted) return;
      const code = isGatehouseError(e) ? e.code : 'INTERNAL';
      const message = e instanceof Error ? e.message : String(e);
      const first = this.lastError === null;
      const endedAt = this.clock();
      this.lastError = { code, message, at: endedAt };
      this.lastRun = {
        startedAt, endedAt, result: 'failed', added: 0, changed: 0, removed: 0, refused: 0, newlyRefused: 0, things: 0, noChange: true,
        durationMs: Math.round(performance.now() - t0), error: { code, message },
      };
      await this.save().catch(() => undefined);
      const until = this.trustedUntil();
      logger[first ? 'warn' : 'debug']({
        event: 'sync-failed', source: 'aws', code, err: message, verifiedAt: this.verifiedAt?.toISOString() ?? null, trustedUntil: until?.toISOString() ?? null,
      }, 'AWS IoT sync failed; the gateway keeps serving from the registry');
    }
    this.publishMetrics(error === undefined ? 'succeeded' : 'failed');
    for (const l of this.listeners) l(report, error);
  }

  /**
   * Logs the refusals that are new, or whose code changed, since they were last reported
   * (at most 20 lines a run, the rest counted), forgets those no longer refused, and
   * returns how many were new.
   */
  private noteRefusals(report: SyncReport): number {
    const next = new Map<string, string>();
    const fresh: SyncReport['refused'][number][] = [];
    for (const r of report.refused) {
      const key = `${r.kind} ${r.name}`;
      next.set(key, r.code);
      if (this.refusals.get(key) !== r.code) fresh.push(r);
    }
    for (const r of fresh.slice(0, 20)) this.options.logger.warn({ event: 'sync-refused', kind: r.kind, name: r.name, code: r.code }, r.reason);
    if (fresh.length > 20) this.options.logger.warn({ event: 'sync-refused', more: fresh.length - 20 }, `${fresh.length - 20} more objects refused for the first time (gatehouse sync --from-aws --dry-run --json lists them all)`);
    const cleared = [...this.refusals.keys()].filter((k) => !next.has(k)).length;
    if (cleared > 0) this.options.logger.info({ event: 'sync-refusals-cleared', count: cleared }, 'objects refused before are no longer refused (taken, or gone from the cloud)');
    this.refusals = next;
    return fresh.length;
  }

  private publishMetrics(result?: 'succeeded' | 'failed'): void {
    const m = this.options.metrics;
    if (m === undefined) return;
    if (result !== undefined) m.sync.runs[result]++;
    m.sync.enabled = true;
    m.sync.lastRunSeconds = this.lastRun === null ? 0 : this.lastRun.endedAt.getTime() / 1000;
    m.sync.lastSuccessSeconds = this.verifiedAt === null ? 0 : this.verifiedAt.getTime() / 1000;
    m.sync.refusedObjects = this.refusals.size;
    m.sync.trustedUntilSeconds = () => (this.trustedUntil()?.getTime() ?? 0) / 1000;
  }

  private async save(): Promise<void> {
    const text = stateText({ verifiedAt: this.verifiedAt, lastRun: this.lastRun, refusals: this.refusals, lastError: this.lastError }, this.trustedUntil());
    await this.state.write(text, this.verifiedAt);
    this.stateText = text;
  }
}

/**
 * The state file as `gatehouse sync status` reads it on the gateway's machine: the last
 * successful verification, the last run, the number of objects refused and the end of the
 * trust window as computed when it was written. Absent fields: never written.
 */
export interface SavedSyncStatus {
  readonly verifiedAt: Date | null;
  readonly trustedUntil: Date | null;
  readonly lastRun: SyncRunSummary | null;
  readonly refusedObjects: number;
}

export async function readSavedStatus(dataDir: string): Promise<SavedSyncStatus | undefined> {
  let raw: string;
  try {
    raw = await readFile(syncStatePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  return savedStatusOf(raw);
}

/** The status a saved state gives (the file's text, or the shared registry's `sync_state` row). */
export function savedStatusOf(raw: string): SavedSyncStatus {
  const state = parseState(raw);
  let trustedUntil: Date | null = null;
  try {
    trustedUntil = dateOf((JSON.parse(raw) as { trustedUntil?: unknown }).trustedUntil);
  } catch {
    trustedUntil = null;
  }
  return { verifiedAt: state.verifiedAt, trustedUntil, lastRun: state.lastRun, refusedObjects: state.refusals.size };
}

function emptyState(): SavedState {
  return { verifiedAt: null, lastRun: null, refusals: new Map() };
}

function dateOf(v: unknown): Date | null {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? new Date(t) : null;
}

/** A damaged or partial text gives what can be read of it; the trust window never comes from anything but a valid `verifiedAt`. */
function parseState(text: string): SavedState {
  let parsed: { verifiedAt?: unknown; lastRun?: unknown; refusals?: unknown; lastError?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return emptyState();
  }
  if (typeof parsed !== 'object' || parsed === null) return emptyState();
  const refusals = new Map<string, string>();
  if (typeof parsed.refusals === 'object' && parsed.refusals !== null && !Array.isArray(parsed.refusals)) {
    for (const [k, v] of Object.entries(parsed.refusals)) if (typeof v === 'string') refusals.set(k, v);
  }
  const e = parsed.lastError as { code?: unknown; message?: unknown; at?: unknown } | null | undefined;
  const at = typeof e === 'object' && e !== null ? dateOf(e.at) : null;
  const lastError = e === null ? null
    : typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string' && at !== null ? { code: e.code, message: e.message, at } : undefined;
  return { verifiedAt: dateOf(parsed.verifiedAt), lastRun: runOf(parsed.lastRun), refusals, ...(lastError !== undefined ? { lastError } : {}) };
}

function runOf(v: unknown): SyncRunSummary | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  const startedAt = dateOf(r['startedAt']);
  const endedAt = dateOf(r['endedAt']);
  if (startedAt === null || endedAt === null || (r['result'] !== 'succeeded' && r['result'] !== 'failed')) return null;
  const n = (k: string): number => (typeof r[k] === 'number' && Number.isFinite(r[k]) ? r[k] : 0);
  const e = r['error'] as { code?: unknown; message?: unknown } | null | undefined;
  return {
    startedAt, endedAt, result: r['result'], added: n('added'), changed: n('changed'), removed: n('removed'), refused: n('refused'), newlyRefused: n('newlyRefused'),
    things: n('things'), noChange: r['noChange'] === true, durationMs: n('durationMs'),
    error: typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string' ? { code: e.code, message: e.message } : null,
  };
}

/** The saved state's text: what the file and the shared row hold. */
function stateText(state: SavedState, trustedUntil: Date | null): string {
  return JSON.stringify({
    verifiedAt: state.verifiedAt?.toISOString() ?? null,
    trustedUntil: trustedUntil?.toISOString() ?? null,
    lastRun: state.lastRun,
    lastError: state.lastError == null ? null : { ...state.lastError, at: state.lastError.at.toISOString() },
    refusals: Object.fromEntries(state.refusals),
  });
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${text}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
