/**
 * What the control-plane commands (`iam`, `role-aliases`, `tags`, `audit`) share: the
 * options, opening the control store of the data directory with the deployment of the
 * configuration (for ARNs), tag options, and the JSON shapes of the records.
 */
import type { Command } from 'commander';
import type { IotDeployment } from '../core/policy/iot/context.js';
import { openControlStore } from '../identity/admin-bootstrap.js';
import { resolve } from 'node:path';
import type { AccessKeyRecord, IamRole, IamUser, LocalControlStore, ManagedPolicy, ManagedPolicyVersion, RoleAlias } from '../identity/control.js';
import { openRegistry } from '../identity/bootstrap.js';
import { openSharedRegistry } from '../identity/shared-registry.js';
import type { SqliteRegistry } from '../identity/sqlite-registry.js';
import { resolveDataDir, type DataDirOptions } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';
import { RemoteClient } from './remote/client.js';
import { RemoteControl, type CommandControl } from './remote/control.js';
import { RemoteIam, type CommandIam } from './remote/iam.js';
import { loadConfig } from './things.js';

export interface ControlOptions extends DataDirOptions {
  config?: string;
}

/** `--data-dir`, `--json` and `--config` (whose `gatehouse.iot` gives the ARNs' partition, region and account). */
export function controlOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory (default: $GATEHOUSE_DATA_DIR, else /var/lib/gatehouse for root, else $XDG_DATA_HOME/gatehouse or ~/.local/share/gatehouse)')
    .option('--config <file>', 'gateway configuration: its gatehouse.iot partition, region and account make the ARNs (default: aws, us-east-1, 000000000000)')
    .option('--json', 'print the result as JSON on stdout');
}

export interface ControlHandles {
  /** The data directory's control store, or the shared registry's with gatehouse.registry.url. */
  readonly store: LocalControlStore;
  /** The data directory's registry (what stays per node, such as retained messages). */
  readonly registry: SqliteRegistry;
  readonly deployment: IotDeployment;
}

/**
 * Opens the data directory's registry and the control store, runs `fn`, closes them.
 * With `gatehouse.registry.url` in the configuration the control store is the shared
 * PostgreSQL registry's (its secrets encrypted with gatehouse.registry.controlKeyFile,
 * by default the data directory's key file), as the gateways of the cluster use it.
 * Returns false (the configuration's problems printed, exit status set) when the
 * configuration is invalid.
 */
export async function withControl(opts: ControlOptions, io: Io, setExit: (code: number) => void, fn: (h: ControlHandles) => Promise<void>): Promise<void> {
  const config = await loadConfig(opts.config, io);
  if (config === undefined) {
    setExit(EXIT.INVALID);
    return;
  }
  const dataDir = resolveDataDir(opts.dataDir, config.value.gatehouse.dataDir);
  const deployment = config.value.gatehouse.iot;
  const registryConfig = config.value.gatehouse.registry;
  const registry = await openRegistry(dataDir);
  try {
    if (registryConfig.url !== undefined) {
      const shared = await openSharedRegistry(registryConfig);
      try {
        const keyFile = registryConfig.controlKeyFile !== undefined ? resolve(config.baseDir ?? '.', registryConfig.controlKeyFile) : undefined;
        await fn({ registry, store: openControlStore(shared, dataDir, deployment, keyFile), deployment });
      } finally {
        await shared.close();
      }
    } else {
      await fn({ registry, store: openControlStore(registry, dataDir, deployment), deployment });
    }
  } finally {
    await registry.close();
  }
  setExit(EXIT.OK);
}

/** What the commands that run on either side get: a control store (local or remote) and the ARNs' deployment. */
export interface ControlBackend {
  readonly store: CommandControl;
  /** The users, access keys, roles and IAM policies (`gatehouse iam …`). */
  readonly iam: CommandIam;
  readonly deployment: IotDeployment;
}

/**
 * `withControl` for the commands that also run against a remote gateway (`iam`,
 * `role-aliases`, `tags`, `audit list`): with a remote target (remote/commands.ts) the store is the
 * gateway's management API, and the deployment (only fetched when `needsDeployment`)
 * is the gateway's partition and account with the signing region.
 */
export async function withControlBackend(opts: ControlOptions, io: Io, setExit: (code: number) => void, fn: (h: ControlBackend) => Promise<void>, options: { readonly needsDeployment?: boolean } = {}): Promise<void> {
  const target = opts.target;
  if (target?.kind !== 'remote') return withControl(opts, io, setExit, (h) => fn({ store: h.store, iam: h.store, deployment: h.deployment }));
  const client = new RemoteClient(target);
  const store = new RemoteControl(client);
  const deployment = options.needsDeployment === true ? await store.deployment() : undefined;
  await fn({
    store,
    iam: new RemoteIam(client),
    get deployment(): IotDeployment {
      if (deployment === undefined) throw new Error('withControlBackend: the command did not ask for the deployment');
      return deployment;
    },
  });
  setExit(EXIT.OK);
}

/** `--tag KEY=VALUE`, repeatable: the value may be empty and contain `=`. */
export function parseTags(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliError('USAGE', `--tag \`${item}\` is not KEY=VALUE`);
    const key = item.slice(0, eq);
    if (Object.hasOwn(out, key)) throw new CliError('USAGE', `--tag \`${key}\` is given twice`);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

export function parseSeconds(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new CliError('USAGE', `${flag} \`${text}\` is not a whole number of seconds`);
  return n;
}

export function parseDate(text: string, flag: string): Date {
  const d = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(d.getTime())) throw new CliError('USAGE', `${flag} \`${text}\` is not an ISO 8601 date or time (2026-05-01, 2026-05-01T12:00:00Z)`);
  return d;
}

export const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export function userJson(u: IamUser): Record<string, unknown> {
  return { userName: u.name, userId: u.id, arn: u.arn, createDate: iso(u.createdAt), tags: u.tags };
}

export function accessKeyJson(k: AccessKeyRecord): Record<string, unknown> {
  return { accessKeyId: k.accessKeyId, userName: k.userName, status: k.status, createDate: iso(k.createdAt), lastUsedDate: iso(k.lastUsedAt) };
}

export function roleJson(r: IamRole): Record<string, unknown> {
  return {
    roleName: r.name, roleId: r.id, arn: r.arn, maxSessionDuration: r.maxSessionDurationSeconds, description: r.description,
    createDate: iso(r.createdAt), tags: r.tags, assumeRolePolicyDocument: r.assumeRolePolicyDocument,
  };
}

export function policyJson(p: ManagedPolicy): Record<string, unknown> {
  return {
    policyName: p.name, policyId: p.id, arn: p.arn, defaultVersionId: p.defaultVersionId, attachmentCount: p.attachmentCount,
    description: p.description, createDate: iso(p.createdAt), updateDate: iso(p.updatedAt), tags: p.tags,
  };
}

export function versionJson(v: ManagedPolicyVersion): Record<string, unknown> {
  return { versionId: v.versionId, isDefaultVersion: v.isDefaultVersion, createDate: iso(v.createdAt), document: v.document };
}

export function roleAliasJson(a: RoleAlias): Record<string, unknown> {
  return {
    roleAlias: a.alias, roleAliasArn: a.arn, roleArn: a.roleArn, credentialDurationSeconds: a.credentialDurationSeconds,
    creationDate: iso(a.createdAt), lastModifiedDate: iso(a.updatedAt), tags: a.tags,
  };
}

export function describeTags(tags: Readonly<Record<string, string>>): string {
  const entries = Object.entries(tags);
  return entries.length === 0 ? '(none)' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}
