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
 * successful run is kept in DATA_DIR/sync/aws-state.json, so a restart while offline
 * keeps the window; a gateway that has never reached the cloud admits no synced
 * certificate until it does (fail closed).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { syncFromAws, type AwsSyncOptions, type SyncReport, type SyncStore } from './aws.js';
import { isGatehouseError } from '../core/errors.js';

export interface ContinuousAwsSyncOptions {
  readonly store: SyncStore;
  readonly sync: AwsSyncOptions;
  readonly intervalMs: number;
  /** `security.clientDeviceTrustDurationMinutes` in milliseconds, read at each decision (it reloads). */
  readonly trustDurationMs: () => number;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

export interface ContinuousSyncStatus {
  /** End of the last successful run, or null. */
  readonly verifiedAt: Date | null;
  /** Until when synced certificates are admitted, or null when never verified. */
  readonly trustedUntil: Date | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: Date } | null;
  readonly runs: number;
}

export function syncStatePath(dataDir: string): string {
  return join(dataDir, 'sync', 'aws-state.json');
}

export class ContinuousAwsSync {
  private verifiedAt: Date | null = null;
  private synced = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastError: ContinuousSyncStatus['lastError'] = null;
  private runs = 0;
  private readonly clock: () => Date;
  private readonly listeners = new Set<(report: SyncReport | undefined, error: unknown) => void>();

  private constructor(private readonly options: ContinuousAwsSyncOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  /**
   * Reads the saved state and the synced certificates: the admission gate works from
   * here on. The first run starts with {@link begin}, once the gateway watches the
   * registry's change feed.
   */
  static async open(options: ContinuousAwsSyncOptions): Promise<ContinuousAwsSync> {
    const sync = new ContinuousAwsSync(options);
    sync.verifiedAt = await readState(syncStatePath(options.dataDir));
    sync.synced = new Set(await options.store.syncedNames('certificate'));
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
    return { verifiedAt: this.verifiedAt, trustedUntil: this.trustedUntil(), lastError: this.lastError, runs: this.runs };
  }

  /** Called after each run with its report, or with the error that stopped it. */
  onRun(listener: (report: SyncReport | undefined, error: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the schedule and the run in progress at its next page (what it wrote stays). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  private trustedUntil(): Date | null {
    if (this.verifiedAt === null) return null;
    return new Date(this.verifiedAt.getTime() + this.options.intervalMs + this.options.trustDurationMs());
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        this.schedule(this.options.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    const { logger } = this.options;
    this.runs++;
    let report: SyncReport | undefined;
    let error: unknown;
    try {
      report = await syncFromAws(this.options.store, { ...this.options.sync, signal: this.abort.signal });
      this.synced = new Set(await this.options.store.syncedNames('certificate'));
      const wasFailing = this.lastError !== null;
      this.verifiedAt = this.clock();
      this.lastError = null;
      await writeState(syncStatePath(this.options.dataDir), this.verifiedAt).catch((e: unknown) => {
        logger.warn({ event: 'sync-state-unwritable', err: (e as Error).message }, 'could not save the time of the last AWS IoT sync; a restart while offline starts without a trust window');
      });
      if (wasFailing) logger.info({ event: 'sync-recovered', source: 'aws' }, 'AWS IoT Core reachable again');
      const level = report.noChange ? 'debug' : 'info';
      logger[level]({
        event: 'sync', source: 'aws', noChange: report.noChange, added: report.added.length, changed: report.changed.length, removed: report.removed.length,
        refused: report.refused.length, changes: report.changes, things: report.seen.things, durationMs: report.durationMs,
      }, report.noChange ? 'AWS IoT sync: no change' : 'AWS IoT sync applied');
      for (const r of report.refused.slice(0, 20)) logger.warn({ event: 'sync-refused', kind: r.kind, name: r.name, code: r.code }, r.reason);
    } catch (e) {
      error = e;
      if (this.stopped) return;
      const code = isGatehouseError(e) ? e.code : 'INTERNAL';
      const message = e instanceof Error ? e.message : String(e);
      const first = this.lastError === null;
      this.lastError = { code, message, at: this.clock() };
      const until = this.trustedUntil();
      logger[first ? 'warn' : 'debug']({
        event: 'sync-failed', source: 'aws', code, err: message, verifiedAt: this.verifiedAt?.toISOString() ?? null, trustedUntil: until?.toISOString() ?? null,
      }, 'AWS IoT sync failed; the gateway keeps serving from the registry');
    }
    for (const l of this.listeners) l(report, error);
  }
}

async function readState(path: string): Promise<Date | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { verifiedAt?: unknown };
    const t = typeof parsed.verifiedAt === 'string' ? Date.parse(parsed.verifiedAt) : NaN;
    return Number.isFinite(t) ? new Date(t) : null;
  } catch {
    return null;
  }
}

async function writeState(path: string, verifiedAt: Date): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ verifiedAt: verifiedAt.toISOString() })}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
