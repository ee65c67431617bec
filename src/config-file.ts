import { readFile } from 'node:fs/promises';
import { formatFromName, parseConfig, parseConfigDocument, validateConfig, type ValidationResult } from './core/index.js';

export type ConfigFileResult =
  | ValidationResult
  | { readonly ok: false; readonly unreadable: true; readonly code: 'FILE_UNREADABLE'; readonly message: string };

async function readText(path: string): Promise<string | { readonly ok: false; readonly unreadable: true; readonly code: 'FILE_UNREADABLE'; readonly message: string }> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, unreadable: true, code: 'FILE_UNREADABLE', message: `cannot read configuration file \`${path}\`: ${err.code ?? err.message}` };
  }
}

/**
 * Reads and validates a configuration file (`.json` as JSON, anything else as YAML).
 * An unreadable file is reported separately from an invalid one.
 *
 * `clusterPath` (`gatehouse start --cluster-config`): a second file of the same format
 * holding only `gatehouse.registry` and `gatehouse.cluster`, the keys every node of a
 * cluster shares (docs/cluster.md). Each of its sections replaces the keys it names in
 * the configuration's section of the same name, then the whole is validated as one.
 * Without `path`, it is merged over the empty configuration.
 */
export async function loadConfigFile(path: string | undefined, clusterPath?: string): Promise<ConfigFileResult> {
  const text = path !== undefined ? await readText(path) : '{}';
  if (typeof text !== 'string') return text;
  if (clusterPath === undefined) return parseConfig(text, path !== undefined ? formatFromName(path) : 'json');
  const clusterText = await readText(clusterPath);
  if (typeof clusterText !== 'string') return clusterText;
  const main = parseConfigDocument(text, path !== undefined ? formatFromName(path) : 'json');
  if (!main.ok) return { ok: false, errors: main.errors, warnings: [] };
  const extra = parseConfigDocument(clusterText, formatFromName(clusterPath));
  if (!extra.ok) return { ok: false, errors: extra.errors.map((e) => ({ ...e, message: `${clusterPath}: ${e.message}` })), warnings: [] };
  const merged = mergeCluster(main.value, extra.value, clusterPath);
  if (!merged.ok) return { ok: false, errors: merged.errors, warnings: [] };
  return validateConfig(merged.value);
}

const CLUSTER_SECTIONS = ['registry', 'cluster'] as const;

type Doc = Record<string, unknown>;
const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

function mergeCluster(main: unknown, extra: unknown, clusterPath: string): { ok: true; value: unknown } | { ok: false; errors: ValidationResult extends infer R ? R extends { ok: false; errors: infer E } ? E : never : never } {
  const fail = (path: string, message: string, fix: string) => ({ ok: false as const, errors: [{ code: 'CONFIG_INVALID_VALUE' as const, path, message: `${clusterPath}: ${message}`, fix }] });
  const only = 'the cluster configuration holds only gatehouse.registry and gatehouse.cluster';
  if (!isObject(extra)) return fail('', 'expected an object', only);
  for (const k of Object.keys(extra)) if (k !== 'gatehouse') return fail(k, `\`${k}\` does not belong in a cluster configuration`, only);
  const g = extra['gatehouse'] ?? {};
  if (!isObject(g)) return fail('gatehouse', 'expected an object', only);
  for (const k of Object.keys(g)) {
    if (!(CLUSTER_SECTIONS as readonly string[]).includes(k)) return fail(`gatehouse.${k}`, `\`gatehouse.${k}\` does not belong in a cluster configuration`, `${only}; put it in the node's configuration file`);
  }
  if (!isObject(main)) return { ok: true, value: main }; // validateConfig reports it
  const mainG = main['gatehouse'] ?? {};
  if (!isObject(mainG)) return { ok: true, value: main };
  const out: Doc = { ...mainG };
  for (const section of CLUSTER_SECTIONS) {
    const add = g[section];
    if (add === undefined) continue;
    const base = mainG[section];
    out[section] = isObject(add) && isObject(base) ? { ...base, ...add } : add;
  }
  return { ok: true, value: { ...main, gatehouse: out } };
}
