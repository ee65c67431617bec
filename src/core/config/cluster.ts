/**
 * The split of a configuration between what a cluster of gateways shares and what each
 * node keeps for itself (docs/cluster.md#the-shared-configuration).
 *
 * Shared: what decides what a device may do, so that every node gives the same answer
 * to the same request — the Greengrass device groups and their policies (`deviceGroups`),
 * how long a device is trusted offline (`security`), and where AWS IoT policy ARNs place
 * this fleet's resources (`gatehouse.iot`). Everything else is the node's own: its
 * listeners, data directory, host names, CA files, how it reaches the registry, its
 * limits and logging.
 */
import type { ConfigError } from '../errors.js';
import { isPlainObject } from './check.js';
import { formatPath, type PathSegment } from './path.js';
import type { GatehouseConfig } from './types.js';

/** Where a node's shared sections come from: its own file, or the versions in the shared registry. */
export const CLUSTER_CONFIG_SOURCES = ['file', 'registry'] as const;
export type ClusterConfigSource = (typeof CLUSTER_CONFIG_SOURCES)[number];

/** The shared parts, as written: top-level sections, and the keys of `gatehouse` that are shared. */
const SHARED_TOP = ['deviceGroups', 'security'] as const;
const SHARED_GATEHOUSE = ['iot'] as const;

/** The shared keys a validated document holds (`top` as the validator read it: canonical names). */
export function sharedKeysPresent(top: Readonly<Record<string, unknown>>): PathSegment[][] {
  const found: PathSegment[][] = SHARED_TOP.filter((k) => top[k] !== undefined).map((k) => [k]);
  const g = top['gatehouse'];
  if (isPlainObject(g)) for (const k of SHARED_GATEHOUSE) if (g[k] !== undefined) found.push(['gatehouse', k]);
  return found;
}

/**
 * The node-local keys of a document meant for the whole cluster (`gatehouse config push`),
 * as errors (`CONFIG_CLUSTER_LOCAL_KEY`). Keys are matched as the validator reads them: a
 * top-level key in another letter case is that key, a key starting with `_` is dropped
 * (the validator warns about both).
 */
export function localKeyErrors(document: unknown): ConfigError[] {
  if (!isPlainObject(document)) return [];
  const errors: ConfigError[] = [];
  const refuse = (path: PathSegment[]): void => {
    errors.push({
      code: 'CONFIG_CLUSTER_LOCAL_KEY',
      path: formatPath(path),
      message: `\`${formatPath(path)}\` is a node's own setting: a configuration pushed to the cluster holds only deviceGroups, security and gatehouse.iot`,
      fix: "move it to each node's configuration file",
    });
  };
  for (const [key, value] of Object.entries(document)) {
    if (key.startsWith('_')) continue;
    const lower = key.toLowerCase();
    if (SHARED_TOP.some((k) => k.toLowerCase() === lower)) continue;
    if (lower === 'gatehouse' && (isPlainObject(value) || value === null || value === undefined)) {
      for (const inner of Object.keys(value ?? {})) if (!(SHARED_GATEHOUSE as readonly string[]).includes(inner)) refuse([key, inner]);
      continue;
    }
    refuse([key]);
  }
  return errors;
}

/** The node's configuration with the cluster's shared sections in place of its own. */
export function mergeSharedConfig(local: GatehouseConfig, shared: GatehouseConfig): GatehouseConfig {
  return Object.freeze({
    ...local,
    deviceGroups: shared.deviceGroups,
    security: shared.security,
    gatehouse: Object.freeze({ ...local.gatehouse, iot: shared.gatehouse.iot }),
  });
}

/**
 * True when the document itself says there are no device groups: `deviceGroups` holds
 * a `definitions` mapping with no entries (keys in another letter case count, as the
 * validator reads them). A reload that removes every group must say so.
 */
export function explicitlyNoGroups(document: unknown): boolean {
  const groups = member(document, 'deviceGroups');
  const definitions = member(groups, 'definitions');
  return definitions !== null && typeof definitions === 'object' && !Array.isArray(definitions) && Object.keys(definitions).length === 0;
}

function member(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const lower = key.toLowerCase();
  const found = Object.keys(value).find((k) => k.toLowerCase() === lower);
  return found === undefined ? undefined : (value as Record<string, unknown>)[found];
}
