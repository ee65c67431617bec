/**
 * `gatehouse config push FILE` and `gatehouse config show`: the configuration a cluster
 * of gateways shares, stored as versions in the shared PostgreSQL registry
 * (docs/cluster.md#the-shared-configuration). The node configuration given with
 * `--config` says where that registry is.
 */
import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { formatFromName, parseConfigDocument, validateConfig } from '../core/index.js';
import { RegistryError } from '../identity/errors.js';
import type { PgClusterStore, StoredClusterConfig } from '../identity/pg-cluster-store.js';
import { openSharedRegistry } from '../identity/shared-registry.js';
import { checkSharedConfig } from '../runtime/shared-config.js';
import { CliError, EXIT, printIssues, type Io } from './output.js';
import { loadConfig } from './things.js';

interface NodeOptions {
  config?: string;
  json?: boolean;
}

export function registerConfigCluster(config: Command, io: Io, setExit: (code: number) => void): void {
  config
    .command('push')
    .description("check a cluster's shared configuration (deviceGroups, security, gatehouse.iot) and store it as the next version in the shared registry; every node applies it")
    .argument('<file>', 'the shared configuration (.json, .yaml or .yml)')
    .option('--config <file>', 'a node configuration naming the shared registry (gatehouse.registry.url and schema; default: ./gatehouse.yaml)')
    .option('--expect-version <n>', 'refuse unless the newest stored version is this one (0: none yet), so that a push made meanwhile is not overwritten', versionNumber)
    .option('--json', 'print the result as one JSON object on stdout')
    .addHelpText('after', `
The file is checked as every node will check it: the validator's errors, a node's own
keys (CONFIG_CLUSTER_LOCAL_KEY), an empty document (CONFIG_EMPTY), and a document that
removes every device group without writing \`deviceGroups: { definitions: {} }\`
(CONFIG_RELOAD_REMOVES_ALL_GROUPS). A refused file stores nothing.
Exit status: 0 stored or unchanged, 1 refused (or CLUSTER_CONFIG_CONFLICT), 2 usage error or unreadable file.`)
    .action(async (file: string, opts: NodeOptions & { expectVersion?: number }) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw new CliError('FILE_UNREADABLE', `cannot read \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.USAGE, 'check the path and permissions');
      }
      const format = formatFromName(file);
      const result = await withClusterStore(opts.config, io, (store) => store.pushConfig(text, format, {
        pushedBy: whoAmI(),
        ...(opts.expectVersion !== undefined ? { expectedVersion: opts.expectVersion } : {}),
        check: async (previous) => {
          const verdict = await checkSharedConfig(text, format, groupsOf(previous));
          printIssues(opts.json ? quiet : io, [], verdict.warnings);
          return verdict.ok ? [] : verdict.errors;
        },
      }));
      if (result === undefined) return setExit(EXIT.INVALID);
      if (opts.json) {
        io.out(JSON.stringify(result.stored || result.unchanged ? { stored: result.stored, version: result.version } : { stored: false, errors: result.errors }));
      } else if (result.stored) {
        io.out(`${file}: stored as version ${result.version}; every node applies it`);
      } else if (result.unchanged) {
        io.out(`${file}: unchanged (version ${result.version} is this document)`);
      } else {
        printIssues(io, result.errors, []);
        io.err(`${file}: refused, ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}; nothing was stored`);
      }
      setExit(result.stored || result.unchanged ? EXIT.OK : EXIT.INVALID);
    });

  config
    .command('show')
    .description("print a version of the cluster's shared configuration (default: the newest) as it was pushed")
    .option('--config <file>', 'a node configuration naming the shared registry (default: ./gatehouse.yaml)')
    .option('--version <n>', 'this version instead of the newest', versionNumber)
    .option('--json', 'print the version, format, SHA-256, time, who pushed it and the text as one JSON object')
    .addHelpText('after', '\nExit status: 0 shown, 1 none (CLUSTER_CONFIG_NOT_FOUND), 2 usage error.')
    .action(async (opts: NodeOptions & { version?: number }) => {
      const found = await withClusterStore(opts.config, io, (store) => (opts.version !== undefined ? store.configVersion(opts.version) : store.latestConfig()));
      if (found === undefined) {
        throw new RegistryError('CLUSTER_CONFIG_NOT_FOUND', opts.version !== undefined ? `the shared configuration has no version ${opts.version}` : 'no shared configuration has been pushed yet',
          'push one with `gatehouse config push FILE`');
      }
      if (opts.json) {
        io.out(JSON.stringify({ version: found.version, format: found.format, sha256: found.sha256, pushedAt: found.pushedAt.toISOString(), pushedBy: found.pushedBy, text: found.text }));
      } else {
        io.err(`version ${found.version} (${found.format}), pushed ${found.pushedAt.toISOString()} by ${found.pushedBy}, SHA-256 ${found.sha256}`);
        io.out(found.text.replace(/\n$/, ''));
      }
      setExit(EXIT.OK);
    });
}

const quiet: Io = { out: () => undefined, err: () => undefined };

/** Opens the shared registry the node configuration names, runs `fn` on its cluster store, closes it. Undefined when the node configuration is invalid (printed). */
async function withClusterStore<T>(configPath: string | undefined, io: Io, fn: (store: PgClusterStore) => Promise<T>): Promise<T | undefined> {
  const loaded = await loadConfig(configPath ?? 'gatehouse.yaml', io);
  if (loaded === undefined) return undefined;
  const registryConfig = loaded.value.gatehouse.registry;
  if (registryConfig.url === undefined) {
    throw new RegistryError('REGISTRY_URL_INVALID', `the node configuration ${configPath ?? 'gatehouse.yaml'} has no gatehouse.registry.url: the shared configuration lives in the shared PostgreSQL registry`,
      'pass --config with the configuration file of a node of the cluster');
  }
  const registry = await openSharedRegistry(registryConfig);
  try {
    return await fn(registry.clusterStore());
  } finally {
    await registry.close();
  }
}

/** How many device groups a stored version holds (0 when it does not validate: it was never in force). */
function groupsOf(previous: StoredClusterConfig | undefined): number {
  if (previous === undefined) return 0;
  const parsed = parseConfigDocument(previous.text, previous.format);
  if (!parsed.ok) return 0;
  const r = validateConfig(parsed.value);
  return r.ok ? Object.keys(r.config.deviceGroups.definitions).length : 0;
}

function whoAmI(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No user name for this uid (a container): keep "unknown".
  }
  return `${user}@${hostname()}`;
}

function versionNumber(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new CliError('USAGE', `\`${value}\` is not a version number`);
  return Number(value);
}
