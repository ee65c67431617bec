/**
 * The registry several gateways share (gatehouse.registry.url, docs/cluster.md): opening
 * it from the configuration, and the watch on its reachability that bounds how long a
 * gateway serves connected devices from the decisions it holds while it cannot see the
 * registry's changes.
 */
import type { RegistryConfig } from '../core/config/types.js';
import { RegistryError } from './errors.js';
import { PgRegistry, type PgRegistryEvent } from './pg-registry.js';
import type { Registry } from './registry.js';

/** Opens the PostgreSQL registry that `config.url` names (migrating it if needed). */
export async function openSharedRegistry(config: RegistryConfig, options: { readonly onEvent?: (e: PgRegistryEvent) => void; readonly now?: () => Date } = {}): Promise<PgRegistry> {
  if (config.url === undefined) throw new RegistryError('REGISTRY_URL_INVALID', 'no gatehouse.registry.url: the registry is the embedded SQLite file', 'set gatehouse.registry.url to a postgres:// URL');
  return PgRegistry.open({
    url: config.url,
    schema: config.schema,
    poolSize: config.poolSize,
    statementTimeoutMs: config.statementTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    busyTimeoutMs: config.busyTimeoutMs,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}

export interface RegistryHealthOptions {
  readonly registry: Registry;
  /** How long connected devices are served while the registry cannot be read; then `onExpired`. */
  readonly graceMs: number;
  /** How often to read it (default 1000 ms, at most a quarter of the grace). */
  readonly intervalMs?: number;
  readonly clock?: () => number;
  /** The first failed read after a good one. */
  readonly onLost?: (error: unknown) => void;
  /** The grace ran out with the registry still unreadable: end the connections. Called once per outage. */
  readonly onExpired: (downForMs: number) => void;
  /** A good read after a failed one. */
  readonly onRestored?: (downForMs: number) => void;
}

export interface RegistryHealth {
  /** True while the last read failed. */
  readonly down: boolean;
  stop(): void;
}

/**
 * Reads the change feed's position on a timer. While that fails, the gateway keeps
 * serving the devices already connected from the sessions and compiled policies it
 * holds, for `graceMs` at most: no revocation can be applied meanwhile (this node
 * cannot see them), so the grace is the bound on how stale a decision can get.
 */
export function watchRegistryHealth(options: RegistryHealthOptions): RegistryHealth {
  const clock = options.clock ?? Date.now;
  const interval = Math.max(10, Math.min(options.intervalMs ?? 1000, Math.max(10, Math.floor(options.graceMs / 4))));
  let downSince: number | undefined;
  let expired = false;
  let running = false;
  let stopped = false;
  const check = async (): Promise<void> => {
    if (running || stopped) return;
    running = true;
    try {
      await options.registry.latestChangeSeq();
      if (downSince !== undefined && !stopped) {
        const down = clock() - downSince;
        downSince = undefined;
        expired = false;
        options.onRestored?.(down);
      }
    } catch (e) {
      if (stopped) return;
      const now = clock();
      if (downSince === undefined) {
        downSince = now;
        options.onLost?.(e);
      }
      if (!expired && now - downSince >= options.graceMs) {
        expired = true;
        options.onExpired(now - downSince);
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void check(), interval);
  timer.unref();
  return {
    get down() {
      return downSince !== undefined;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
