import { watch, type FSWatcher } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { compileDeviceGroups, formatFromName, type GatehouseConfig, type ValidationResult } from '../core/index.js';
import type { Logger } from '../observability/logger.js';
import { parseConfigOffThread } from './parse-worker.js';
import type { PolicyStore } from './policy-store.js';

/** How long to wait for an editor to finish writing before reading the file. */
const DEBOUNCE_MS = 50;

/**
 * Watches the configuration file (and re-reads it on demand, e.g. on SIGHUP). A valid
 * new configuration is compiled and swapped in atomically; an invalid one is rejected
 * with every error logged, and the configuration in force stays.
 *
 * The directory is watched rather than the file, so editors that save by writing a
 * new file and renaming it over the old one are seen too.
 */
export class ConfigReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastHash: string | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly policy: PolicyStore,
    private readonly logger: Logger,
    private readonly onApplied: (config: GatehouseConfig) => void = () => {},
  ) {}

  /** Remembers the text in force so that touching the file without changes does nothing. */
  async prime(): Promise<void> {
    this.lastHash = await this.hashFile().catch(() => undefined);
  }

  watch(): void {
    const file = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload('file changed'), DEBOUNCE_MS);
    });
    this.watcher.on('error', (e) => this.logger.warn({ event: 'config-watch-error', err: e.message }, 'cannot watch the configuration file; use SIGHUP to reload'));
  }

  /** Reloads now. Resolves true when a new configuration was applied. Reloads never overlap. */
  reload(trigger: string): Promise<boolean> {
    const run = this.running.then(() => this.reloadOnce(trigger));
    this.running = run.catch(() => undefined);
    return run;
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
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.lastHash) return false;
    let result: ValidationResult;
    try {
      result = await parseConfigOffThread(text, formatFromName(this.path));
    } catch (e) {
      this.logger.error({ event: 'config-rejected', path: this.path, trigger, err: (e as Error).message },
        'cannot parse the configuration file; the configuration in force stays');
      return false;
    }
    if (!result.ok) {
      for (const e of result.errors) this.logger.error({ event: 'config-error', ...e }, e.message);
      this.logger.error({ event: 'config-rejected', path: this.path, trigger, errors: result.errors.length },
        `configuration rejected with ${result.errors.length} error(s); the configuration in force stays`);
      this.lastHash = hash;
      return false;
    }
    for (const w of result.warnings) this.logger.warn({ event: 'config-warning', ...w }, w.message);
    const snapshot = compileDeviceGroups(result.config.deviceGroups);
    this.lastHash = hash;
    this.policy.swap(snapshot);
    this.logger.info({ event: 'config-applied', path: this.path, trigger, groups: snapshot.groups.length }, 'new configuration in force');
    this.onApplied(result.config);
    return true;
  }

  private async hashFile(): Promise<string> {
    return createHash('sha256').update(await readFile(this.path, 'utf8')).digest('hex');
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
