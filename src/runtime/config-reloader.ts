import { statSync, watch, type FSWatcher } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { compileDeviceGroups, explicitlyNoGroups, formatFromName, type ConfigFormat, type GatehouseConfig } from '../core/index.js';
import type { ConfigIssue } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import { ConfigParser, parseAndValidateOffThread } from './parse-worker.js';
import type { PolicyStore } from './policy-store.js';

/** Codes of refused reloads (documented in docs/errors.md). */
export const RELOAD_CODES = ['CONFIG_EMPTY', 'CONFIG_RELOAD_REMOVES_ALL_GROUPS'] as const;
export type ReloadCode = (typeof RELOAD_CODES)[number];

/** The verdict on a proposed configuration text: the validator's, plus the reload guards. */
export type ConfigCheck =
  | { readonly ok: true; readonly groups: number; readonly policies: number; readonly warnings: readonly ConfigIssue<string>[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue<string>[]; readonly warnings: readonly ConfigIssue<string>[] };

/** What `apply` did. */
export type ConfigApplyResult =
  | { readonly applied: true; readonly groups: number; readonly warnings: readonly ConfigIssue<string>[] }
  /** The text is the configuration in force already: nothing written. */
  | { readonly applied: false; readonly unchanged: true }
  | { readonly applied: false; readonly unchanged: false; readonly errors: readonly ConfigIssue<string>[]; readonly warnings: readonly ConfigIssue<string>[] };

export interface ConfigReloaderOptions {
  /**
   * `gatehouse.configSettleMilliseconds`: a changed file is read only once its size,
   * modification time and inode have stayed the same for this long. Follows each
   * applied configuration.
   */
  readonly settleMilliseconds: number;
  readonly onApplied?: (config: GatehouseConfig) => void;
}

/**
 * Watches the configuration file (and re-reads it on demand, e.g. on SIGHUP). A valid
 * new configuration is compiled and swapped in atomically; an invalid one is rejected
 * with every error logged, and the configuration in force stays.
 *
 * The directory is watched rather than the file, so editors that save by writing a
 * new file and renaming it over the old one are seen too.
 *
 * A file rewritten in place (an editor, `cat >`, `scp`, configuration management) is
 * empty or half-written for a while. Three guards keep such a file from being applied:
 * 1. after a change is seen, the file is read only once its size, modification time
 *    and inode have been stable for `settleMilliseconds` (SIGHUP reads at once: the
 *    operator says the file is complete);
 * 2. an empty file (whitespace or, in YAML, only comments) is never a valid reload
 *    (CONFIG_EMPTY), although starting with one is (it denies everything);
 * 3. a reload that would remove every device group while some are in force is applied
 *    only when the file says so, with an explicit empty `deviceGroups.definitions`
 *    (CONFIG_RELOAD_REMOVES_ALL_GROUPS otherwise).
 */
export class ConfigReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastHash: string | undefined;
  /** The text of the configuration in force (the file at start, then each applied one). */
  private inForceText: string | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private settleMs: number;
  /** The parser thread for reloads and checks of a large file. */
  private readonly parser = new ConfigParser();
  private readonly onApplied: (config: GatehouseConfig) => void;

  constructor(
    private readonly path: string,
    private readonly policy: PolicyStore,
    private readonly logger: Logger,
    options: ConfigReloaderOptions,
  ) {
    this.settleMs = options.settleMilliseconds;
    this.onApplied = options.onApplied ?? (() => {});
  }

  /**
   * Remembers the text in force so that touching the file without changes does nothing.
   * For a large file the parser thread is started now, not by the first reload.
   */
  async prime(): Promise<void> {
    const text = await readFile(this.path, 'utf8').catch(() => undefined);
    this.inForceText = text;
    this.lastHash = text === undefined ? undefined : sha256(text);
    if (text !== undefined) this.parser.prepare(text);
  }

  /** The configuration file's path. */
  get file(): string {
    return this.path;
  }

  /** The file's format, from its name. */
  get format(): ConfigFormat {
    return formatFromName(this.path);
  }

  /** The text of the configuration in force, and its SHA-256 (undefined when the file could not be read at start). */
  inForce(): { readonly text: string; readonly sha256: string } | undefined {
    return this.inForceText === undefined ? undefined : { text: this.inForceText, sha256: sha256(this.inForceText) };
  }

  /**
   * Checks a proposed configuration as a reload would: the validator's errors (as
   * `gatehouse config validate` prints them) and the reload guards (CONFIG_EMPTY,
   * CONFIG_RELOAD_REMOVES_ALL_GROUPS). Nothing is applied.
   */
  async check(text: string): Promise<ConfigCheck> {
    const parsed = await parseAndValidateOffThread(text, this.format, this.parser);
    const { document, result } = parsed;
    if (!result.ok) return { ok: false, errors: result.errors, warnings: result.warnings };
    if (document === null || document === undefined) {
      return { ok: false, errors: [{ code: 'CONFIG_EMPTY', path: '', message: 'the configuration is empty', fix: 'send the whole configuration file' }], warnings: result.warnings };
    }
    const inForce = this.policy.current.groups.length;
    const groups = Object.keys(result.config.deviceGroups.definitions).length;
    if (inForce > 0 && groups === 0 && !explicitlyNoGroups(document)) {
      return { ok: false, errors: [{ code: 'CONFIG_RELOAD_REMOVES_ALL_GROUPS', path: 'deviceGroups.definitions', message: `the new configuration has no device groups where ${inForce} are in force`, fix: 'to remove them all, write `deviceGroups: { definitions: {} }`' }], warnings: result.warnings };
    }
    return { ok: true, groups, policies: Object.keys(result.config.deviceGroups.policies).length, warnings: result.warnings };
  }

  /**
   * Checks a proposed configuration, writes it atomically over the configuration file
   * (a new file in the same directory, renamed over the old one, with its mode), and
   * applies it through the same path as a change of the file. Never overlaps a reload.
   */
  apply(text: string, trigger: string): Promise<ConfigApplyResult> {
    const run = this.running.then(async (): Promise<ConfigApplyResult> => {
      if (this.inForceText !== undefined && sha256(text) === sha256(this.inForceText)) return { applied: false, unchanged: true };
      const verdict = await this.check(text);
      if (!verdict.ok) return { applied: false, unchanged: false, errors: verdict.errors, warnings: verdict.warnings };
      await writeAtomically(this.path, text);
      this.logger.info({ event: 'config-written', path: this.path, trigger }, 'configuration file replaced');
      const applied = await this.reloadOnce(trigger);
      if (!applied) {
        // Only a change made to the file meanwhile by someone else can get here.
        return { applied: false, unchanged: false, errors: [{ code: 'CONFIG_CHANGED_MEANWHILE', path: '', message: 'the configuration file changed while it was being applied; the configuration in force stays', fix: 'read the configuration in force and try again' }], warnings: [] };
      }
      return { applied: true, groups: verdict.groups, warnings: verdict.warnings };
    });
    this.running = run.catch(() => undefined);
    return run;
  }

  watch(): void {
    const file = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file) return;
      this.waitForStableFile();
    });
    this.watcher.on('error', (e) => this.logger.warn({ event: 'config-watch-error', err: e.message }, 'cannot watch the configuration file; use SIGHUP to reload'));
  }

  /** Reloads now. Resolves true when a new configuration was applied. Reloads never overlap. */
  reload(trigger: string): Promise<boolean> {
    const run = this.running.then(() => this.reloadOnce(trigger));
    this.running = run.catch(() => undefined);
    return run;
  }

  /** (Re)starts the wait for the file to stop changing; every new change restarts it. */
  private waitForStableFile(): void {
    clearTimeout(this.timer);
    const seen = this.fingerprint();
    this.timer = setTimeout(() => {
      if (this.fingerprint() !== seen) return this.waitForStableFile();
      void this.reload('file changed');
    }, this.settleMs);
  }

  private fingerprint(): string {
    try {
      const st = statSync(this.path, { bigint: true });
      return `${st.ino}/${st.size}/${st.mtimeNs}`;
    } catch (e) {
      return `unreadable:${(e as NodeJS.ErrnoException).code ?? ''}`;
    }
  }

  private refuse(code: ReloadCode, trigger: string, message: string): false {
    this.logger.error({ event: 'config-rejected', code, path: this.path, trigger }, `${message}; the configuration in force stays`);
    return false;
  }

  private async reloadOnce(trigger: string): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      this.logger.error({ event: 'config-rejected', path: this.path, trigger, err: (e as NodeJS.ErrnoException).code ?? (e as Error).message },
        'cannot read the configuration file; the configuration in force stays');
      return false;
    }
    const hash = sha256(text);
    if (hash === this.lastHash) {
      this.logger.debug({ event: 'config-unchanged', path: this.path, trigger }, 'configuration file read; no change');
      return false;
    }
    const started = performance.now();
    const cpu = process.cpuUsage();
    let parsed: Awaited<ReturnType<typeof parseAndValidateOffThread>>;
    try {
      parsed = await parseAndValidateOffThread(text, formatFromName(this.path), this.parser);
    } catch (e) {
      this.logger.error({ event: 'config-rejected', path: this.path, trigger, err: (e as Error).message },
        'cannot parse the configuration file; the configuration in force stays');
      return false;
    }
    const { document, result } = parsed;
    // An empty document (whitespace, or YAML comments only) is valid at start, never on a
    // reload. Not remembered as the text in force: writing the previous text back is then
    // no change.
    if (result.ok && (document === null || document === undefined)) {
      return this.refuse('CONFIG_EMPTY', trigger, 'the configuration file is empty');
    }
    if (!result.ok) {
      for (const e of result.errors) this.logger.error({ event: 'config-error', ...e }, e.message);
      this.logger.error({ event: 'config-rejected', path: this.path, trigger, errors: result.errors.length },
        `configuration rejected with ${result.errors.length} error(s); the configuration in force stays`);
      this.lastHash = hash;
      return false;
    }
    const inForce = this.policy.current.groups.length;
    if (inForce > 0 && Object.keys(result.config.deviceGroups.definitions).length === 0 && !explicitlyNoGroups(document)) {
      this.lastHash = hash;
      return this.refuse('CONFIG_RELOAD_REMOVES_ALL_GROUPS', trigger,
        `the new configuration has no device groups where ${inForce} are in force; to remove them all, write \`deviceGroups: { definitions: {} }\``);
    }
    for (const w of result.warnings) this.logger.warn({ event: 'config-warning', ...w }, w.message);
    const snapshot = compileDeviceGroups(result.deviceGroups);
    this.lastHash = hash;
    this.policy.swap(snapshot);
    this.inForceText = text;
    this.settleMs = result.config.gatehouse.configSettleMilliseconds;
    // Parsing (on its thread), validation, compilation and the live sessions' re-check;
    // CPU time is the process's, every thread's.
    const used = process.cpuUsage(cpu);
    this.logger.info({ event: 'config-applied', path: this.path, trigger, groups: snapshot.groups.length,
      ms: Math.round(performance.now() - started), cpuMs: Math.round((used.user + used.system) / 1000) }, 'new configuration in force');
    this.onApplied(result.config);
    return true;
  }

  close(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    return this.parser.close();
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Writes `text` to a new file beside `path` (same mode), flushes it, and renames it over `path`. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const mode = (await stat(path).catch(() => undefined))?.mode ?? 0o600;
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode & 0o777);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
