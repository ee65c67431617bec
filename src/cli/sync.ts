import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openRegistry } from '../identity/bootstrap.js';
import type { PgRegistry } from '../identity/pg-registry.js';
import { openSharedRegistry } from '../identity/shared-registry.js';
import type { SqliteRegistry } from '../identity/sqlite-registry.js';
import type { SyncItem, SyncKind } from '../identity/sync-apply.js';
import type { AwsSyncOptions, SyncReport } from '../sync/aws.js';
import type { SavedSyncStatus } from '../sync/continuous.js';
import { registryConfigOption, resolveDataDir, sharedRegistryConfig } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';
import { RemoteClient } from './remote/client.js';
import type { TargetOption } from './remote/commands.js';

// ----------------------------------------------------------------------------------
// gatehouse sync --from-aws

interface SyncOptions {
  fromAws?: boolean;
  region?: string;
  profile?: string;
  endpoint?: string;
  caBundle?: string;
  thingGroup: string[];
  dryRun?: boolean;
  pageSize?: string;
  requireTrustedCa?: boolean;
  dataDir?: string;
  json?: boolean;
  config?: string;
}

/** The registry a sync command works on: the shared PostgreSQL one the configuration names, else the data directory's. */
async function syncRegistry(dataDir: string, configPath: string | undefined): Promise<PgRegistry | SqliteRegistry> {
  const shared = configPath !== undefined ? await sharedRegistryConfig(configPath) : undefined;
  return shared !== undefined ? openSharedRegistry(shared) : openRegistry(dataDir);
}

export function registerSync(program: Command, io: Io, setExit: (code: number) => void): void {
  const sync = program.command('sync')
    .description('import things, certificates, thing groups, policies and CA certificates from AWS IoT Core into the registry, or bring them up to date (a second run with no change in the cloud writes nothing)')
    .option('--from-aws', 'read from AWS IoT Core through the AWS SDK (the only source today; required)')
    .option('--region <region>', 'AWS region (default: AWS_REGION or the profile\'s region)')
    .option('--profile <name>', 'named AWS profile of ~/.aws/config and ~/.aws/credentials (default: the AWS SDK\'s credential chain: environment, profile, SSO, container or instance role)')
    .option('--endpoint <url>', 'AWS IoT endpoint override (a VPC endpoint, or a test double)')
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for the endpoint\'s TLS certificate')
    .option('--thing-group <name>', 'only the things of this thing group and its child groups (repeat for several)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--dry-run', 'read everything and report what would change; write nothing')
    .option('--page-size <n>', 'things per page and per registry transaction (1-250)', '100')
    .option('--require-trusted-ca', 'refuse certificates whose chain reaches no CA trusted here (AWS IoT\'s own CA, registered without a CA) instead of trusting them by their registration in the cloud')
    .option('--data-dir <dir>', 'data directory (default: $GATEHOUSE_DATA_DIR, else /var/lib/gatehouse for root, else $XDG_DATA_HOME/gatehouse or ~/.local/share/gatehouse)')
    .option('--json', 'print the report as JSON on stdout');
  registryConfigOption(sync)
    .action(async (opts: SyncOptions) => {
      if (opts.fromAws !== true) throw new CliError('USAGE', 'say where to sync from: --from-aws', EXIT.USAGE, 'run `gatehouse sync --from-aws`');
      const pageSize = Number(opts.pageSize);
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 250) throw new CliError('USAGE', `--page-size must be a whole number from 1 to 250 (got \`${opts.pageSize}\`)`);
      let caBundle: string | undefined;
      if (opts.caBundle !== undefined) {
        try {
          caBundle = readFileSync(opts.caBundle, 'utf8');
        } catch (e) {
          throw new CliError('FILE_UNREADABLE', `cannot read --ca-bundle \`${opts.caBundle}\`: ${(e as Error).message}`);
        }
      }
      const options: AwsSyncOptions = {
        ...(opts.region !== undefined ? { region: opts.region } : {}),
        ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
        ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
        ...(caBundle !== undefined ? { caBundle } : {}),
        ...(opts.thingGroup.length > 0 ? { thingGroups: opts.thingGroup } : {}),
        dryRun: opts.dryRun === true,
        requireTrustedCa: opts.requireTrustedCa === true,
        pageSize,
      };
      // Loaded here, not at start: the other commands do not need the AWS SDK.
      const { syncFromAws } = await import('../sync/aws.js');
      const registry = await syncRegistry(resolveDataDir(opts.dataDir), opts.config);
      let report: SyncReport;
      try {
        report = await syncFromAws(registry, options);
      } finally {
        await registry.close();
      }
      if (opts.json) io.out(JSON.stringify(reportJson(report)));
      else printReport(io, report);
      // Refusals are reported, not failures: the run did what it could.
      setExit(EXIT.OK);
    });

  const statusCommand = sync.command('status')
    .description('the gateway\'s continuous sync with AWS IoT Core (gatehouse.sync.aws): its last run, last success, offline trust window and refused objects; with --endpoint/--profile from the running gateway, with --config naming a shared registry the state the cluster shares, else from the data directory\'s saved state')
    .option('--data-dir <dir>', 'data directory (default: $GATEHOUSE_DATA_DIR, else /var/lib/gatehouse for root, else $XDG_DATA_HOME/gatehouse or ~/.local/share/gatehouse)')
    .option('--json', 'print the status as JSON on stdout');
  registryConfigOption(statusCommand)
    .action(async (opts: StatusOptions) => {
      const shared = opts.target?.kind !== 'remote' && opts.config !== undefined ? await sharedRegistryConfig(opts.config) : undefined;
      const status = opts.target?.kind === 'remote'
        ? await new RemoteClient(opts.target).call<SyncStatusJson>({ service: 'gatehouse', operation: 'GetSyncStatus', method: 'GET', path: '/gatehouse/sync/aws' })
        : shared !== undefined ? await sharedStatus(await openSharedRegistry(shared)) : await localStatus(resolveDataDir(opts.dataDir));
      if (opts.json) io.out(JSON.stringify(status));
      else printStatus(io, status);
      setExit(EXIT.OK);
    });
}

interface StatusOptions extends TargetOption {
  dataDir?: string;
  json?: boolean;
  config?: string;
}

/** The management API's GetSyncStatus answer; the local form has no `running`, `runs` nor `lastError` (a running gateway's memory). */
interface SyncStatusJson {
  readonly source: 'aws';
  readonly enabled?: boolean;
  readonly running?: boolean;
  readonly intervalSeconds?: number;
  readonly runs?: number;
  readonly lastRun?: {
    readonly startedAt: string; readonly endedAt: string; readonly result: 'succeeded' | 'failed';
    readonly added: number; readonly changed: number; readonly removed: number; readonly refused: number; readonly newlyRefused: number;
    readonly things: number; readonly noChange: boolean; readonly durationMs: number; readonly error: { readonly code: string; readonly message: string } | null;
  } | null;
  readonly lastSuccessAt?: string | null;
  readonly trustedUntil?: string | null;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string } | null;
  readonly refusedObjects?: number;
  /** The gateway runs the sync (on a cluster, the node holding the lead). */
  readonly leading?: boolean;
  /** Local only: the state file read. */
  readonly stateFile?: string;
  /** With a shared registry: where the cluster's state was read (URL without password, schema). */
  readonly sharedState?: string;
}

async function localStatus(dataDir: string): Promise<SyncStatusJson> {
  const { readSavedStatus, syncStatePath } = await import('../sync/continuous.js');
  return statusJson(await readSavedStatus(dataDir), { stateFile: syncStatePath(dataDir) });
}

/** The state the gateways of a cluster share, from the registry's `sync_state` row. */
async function sharedStatus(registry: PgRegistry): Promise<SyncStatusJson> {
  const { savedStatusOf } = await import('../sync/continuous.js');
  const state = registry.syncState('cli');
  try {
    const text = await state.read();
    return statusJson(text === undefined ? undefined : savedStatusOf(text), { sharedState: `${registry.displayUrl} schema ${registry.schema}` });
  } finally {
    await state.close();
    await registry.close();
  }
}

function statusJson(saved: SavedSyncStatus | undefined, where: { readonly stateFile: string } | { readonly sharedState: string }): SyncStatusJson {
  if (saved === undefined) return { source: 'aws', ...where, lastRun: null, lastSuccessAt: null, trustedUntil: null, refusedObjects: 0 };
  const r = saved.lastRun;
  return {
    source: 'aws', ...where,
    lastRun: r === null ? null : { ...r, startedAt: r.startedAt.toISOString(), endedAt: r.endedAt.toISOString() },
    lastSuccessAt: saved.verifiedAt?.toISOString() ?? null,
    trustedUntil: saved.trustedUntil?.toISOString() ?? null,
    refusedObjects: saved.refusedObjects,
  };
}

function printStatus(io: Io, s: SyncStatusJson): void {
  if (s.enabled === false) {
    io.out('continuous sync with AWS IoT Core: not enabled on this gateway (gatehouse.sync.aws.enabled)');
    return;
  }
  if (s.stateFile !== undefined) io.out(`continuous sync with AWS IoT Core, as saved in ${s.stateFile}`);
  else if (s.sharedState !== undefined) io.out(`continuous sync with AWS IoT Core, as the cluster shares it in ${s.sharedState}`);
  else {
    io.out(`continuous sync with AWS IoT Core: enabled, every ${s.intervalSeconds ?? '?'} s; ${s.runs ?? 0} runs since start${s.running === true ? '; a run is under way' : ''}`
      + (s.leading === false ? '; another node of the cluster runs it, this one follows its state' : ''));
  }
  const r = s.lastRun;
  if (r === null || r === undefined) io.out('last run: none yet');
  else if (r.result === 'failed') io.out(`last run: ${r.endedAt} failed after ${(r.durationMs / 1000).toFixed(1)} s: ${r.error?.code ?? 'unknown'}: ${r.error?.message ?? ''}`);
  else {
    io.out(`last run: ${r.endedAt} succeeded in ${(r.durationMs / 1000).toFixed(1)} s, ${r.things} things: ${r.noChange ? 'no change' : `${r.added} added, ${r.changed} changed, ${r.removed} removed`}, ${r.refused} refused (${r.newlyRefused} new)`);
  }
  io.out(`last success: ${s.lastSuccessAt ?? 'never'}`);
  io.out(`synced certificates admitted until: ${s.trustedUntil ?? 'none admitted: the cloud was never reached'}`);
  if (s.lastError !== undefined && s.lastError !== null) io.out(`failing since the last success: ${s.lastError.code}: ${s.lastError.message} (at ${s.lastError.at})`);
  io.out(`objects refused: ${s.refusedObjects ?? 0}`);
}

export function reportJson(r: SyncReport): Record<string, unknown> {
  return {
    dryRun: r.dryRun, noChange: r.noChange, changes: r.changes, pages: r.pages, durationMs: r.durationMs, startedAt: r.startedAt.toISOString(),
    seen: r.seen, added: r.added, changed: r.changed, removed: r.removed, refused: r.refused,
  };
}

const KIND_WORDS: Readonly<Record<SyncKind, string>> = {
  ca: 'CA certificates', thing_type: 'thing types', thing_group: 'thing groups', policy: 'policies', thing: 'things', certificate: 'certificates',
};

function counts(items: readonly SyncItem[]): string {
  const by = new Map<SyncKind, number>();
  for (const i of items) by.set(i.kind, (by.get(i.kind) ?? 0) + 1);
  return [...by].map(([k, n]) => `${n} ${KIND_WORDS[k]}`).join(', ') || 'nothing';
}

function printReport(io: Io, r: SyncReport): void {
  const s = r.seen;
  io.out(`${r.dryRun ? 'dry run: ' : ''}read ${s.things} things, ${s.certificates} certificates, ${s.thingGroups} thing groups, ${s.policies} policies, ${s.thingTypes} thing types, ${s.cas} CA certificates in ${(r.durationMs / 1000).toFixed(1)} s`);
  if (r.noChange) io.out(r.dryRun ? 'no change: nothing would be written' : 'no change: nothing was written');
  else {
    const verb = r.dryRun ? 'would be ' : '';
    io.out(`added ${verb}${counts(r.added)}`);
    io.out(`changed ${verb}${counts(r.changed)}`);
    for (const c of r.changed.slice(0, 50)) io.out(`  ${c.kind} ${c.name}${c.detail !== undefined ? `: ${c.detail}` : ''}`);
    if (r.changed.length > 50) io.out(`  … and ${r.changed.length - 50} more (--json lists them all)`);
    io.out(`removed ${verb}${counts(r.removed)}`);
    for (const c of r.removed.slice(0, 50)) io.out(`  ${c.kind} ${c.name}`);
    if (r.removed.length > 50) io.out(`  … and ${r.removed.length - 50} more (--json lists them all)`);
  }
  if (r.refused.length > 0) {
    io.out(`refused ${r.refused.length}:`);
    for (const f of r.refused.slice(0, 100)) io.out(`  ${f.kind} ${f.name}: ${f.code}: ${f.reason}`);
    if (r.refused.length > 100) io.out(`  … and ${r.refused.length - 100} more (--json lists them all)`);
  }
}
