/**
 * The configuration a cluster of gateways shares (docs/cluster.md#the-shared-configuration):
 * its check, the same for `gatehouse config push` and for every node that applies it, and
 * the follower that applies each new version on a node.
 *
 * A version is applied whole or not at all: a document that does not validate, that
 * holds a node's own keys, that is empty, or that would remove every device group
 * without saying so is refused, and the node keeps the configuration in force. Nothing
 * of a refused version is used, so a refusal can never widen what a device may do.
 */
import {
  compileDeviceGroups, explicitlyNoGroups, localKeyErrors, type ConfigFormat, type GatehouseConfig, type ValidatedDeviceGroups,
} from '../core/index.js';
import type { ConfigIssue } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import { parseAndValidateOffThread } from './parse-worker.js';
import type { PolicyStore } from './policy-store.js';

/** One stored version of the shared configuration. */
export interface SharedConfigVersion {
  readonly version: number;
  readonly text: string;
  readonly format: ConfigFormat;
}

/** Where the versions are kept (the shared registry), as the follower needs it. */
export interface SharedConfigSource {
  /** The newest version; undefined when none was ever pushed. */
  latest(): Promise<SharedConfigVersion | undefined>;
  /** Calls `onChange` whenever a new version may have been stored (notification, poll). */
  watch(onChange: () => void): { close(): void };
}

export type SharedConfigCheck =
  | { readonly ok: true; readonly config: GatehouseConfig; readonly deviceGroups: ValidatedDeviceGroups; readonly groups: number; readonly policies: number; readonly warnings: readonly ConfigIssue<string>[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue<string>[]; readonly warnings: readonly ConfigIssue<string>[] };

/**
 * Checks a document meant for the whole cluster: the validator's errors, its node-local
 * keys (`CONFIG_CLUSTER_LOCAL_KEY`), and the reload guards against the `groupsInForce`
 * (`CONFIG_EMPTY`, `CONFIG_RELOAD_REMOVES_ALL_GROUPS`).
 */
export async function checkSharedConfig(text: string, format: ConfigFormat, groupsInForce: number): Promise<SharedConfigCheck> {
  const { document, result } = await parseAndValidateOffThread(text, format);
  const local = document === undefined ? [] : localKeyErrors(document);
  if (!result.ok || local.length > 0) return { ok: false, errors: [...(result.ok ? [] : result.errors), ...local], warnings: result.warnings };
  if (document === null || document === undefined) {
    return { ok: false, errors: [{ code: 'CONFIG_EMPTY', path: '', message: 'the configuration is empty', fix: 'push the whole shared configuration (deviceGroups, security, gatehouse.iot)' }], warnings: result.warnings };
  }
  const groups = Object.keys(result.config.deviceGroups.definitions).length;
  if (groupsInForce > 0 && groups === 0 && !explicitlyNoGroups(document)) {
    return {
      ok: false,
      errors: [{ code: 'CONFIG_RELOAD_REMOVES_ALL_GROUPS', path: 'deviceGroups.definitions', message: `the new configuration has no device groups where ${groupsInForce} are in force`, fix: 'to remove them all, write `deviceGroups: { definitions: {} }`' }],
      warnings: result.warnings,
    };
  }
  return { ok: true, config: result.config, deviceGroups: result.deviceGroups, groups, policies: Object.keys(result.config.deviceGroups.policies).length, warnings: result.warnings };
}

export interface SharedConfigFollowerOptions {
  /** The version in force at start (0: none). */
  readonly initialVersion: number;
  /** After a version is in force: the node applies its other shared settings (security, gatehouse.iot). */
  readonly onApplied: (shared: GatehouseConfig, version: number) => void;
}

/**
 * Follows the shared configuration on one node: on each signal, reads the newest
 * version and, when it is newer than the one in force, checks it and swaps it in (the
 * policy store's listeners re-check live connections). Reads never overlap; a refused
 * version is logged once and not tried again, the configuration in force stays.
 */
export class SharedConfigFollower {
  private applied: number;
  /** The newest version seen (applied or refused): never read twice. */
  private seen: number;
  private running: Promise<unknown> = Promise.resolve();
  private watch: { close(): void } | undefined;
  private closed = false;

  constructor(
    private readonly source: SharedConfigSource,
    private readonly policy: PolicyStore,
    private readonly logger: Logger,
    private readonly options: SharedConfigFollowerOptions,
  ) {
    this.applied = options.initialVersion;
    this.seen = options.initialVersion;
  }

  /** The version in force (0: none). */
  get version(): number {
    return this.applied;
  }

  start(): void {
    this.watch = this.source.watch(() => void this.refresh('registry'));
  }

  /** Reads the newest version now; resolves true when a new one was applied. */
  refresh(trigger: string): Promise<boolean> {
    const run = this.running.then(() => this.refreshOnce(trigger));
    this.running = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
  }

  private async refreshOnce(trigger: string): Promise<boolean> {
    if (this.closed) return false;
    let latest: SharedConfigVersion | undefined;
    try {
      latest = await this.source.latest();
    } catch (e) {
      this.logger.warn({ event: 'cluster-config-unreadable', trigger, err: (e as Error).message }, 'cannot read the shared configuration; the configuration in force stays');
      return false;
    }
    if (latest === undefined || latest.version <= this.seen || this.closed) {
      // Asked by the operator (SIGHUP): say that nothing newer was found. Not for the timer's reads.
      if (trigger !== 'registry') this.logger.info({ event: 'cluster-config-unchanged', version: this.applied, trigger }, `no newer shared configuration; version ${this.applied} stays in force`);
      return false;
    }
    this.seen = latest.version;
    const started = performance.now();
    const verdict = await checkSharedConfig(latest.text, latest.format, this.policy.current.groups.length);
    if (!verdict.ok) {
      for (const e of verdict.errors) this.logger.error({ event: 'config-error', version: latest.version, ...e }, e.message);
      this.logger.error({ event: 'cluster-config-rejected', version: latest.version, inForce: this.applied, trigger, codes: [...new Set(verdict.errors.map((e) => e.code))] },
        `shared configuration version ${latest.version} refused with ${verdict.errors.length} error(s); version ${this.applied} stays in force`);
      return false;
    }
    if (this.closed) return false;
    for (const w of verdict.warnings) this.logger.warn({ event: 'config-warning', version: latest.version, ...w }, w.message);
    this.policy.swap(compileDeviceGroups(verdict.deviceGroups));
    this.applied = latest.version;
    this.logger.info({ event: 'cluster-config-applied', version: latest.version, trigger, groups: verdict.groups, ms: Math.round(performance.now() - started) },
      `shared configuration version ${latest.version} in force`);
    this.options.onApplied(verdict.config, latest.version);
    return true;
  }
}
