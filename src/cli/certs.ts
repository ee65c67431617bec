import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { RegistryConfig } from '../core/config/types.js';
import { defaultDataDir } from '../data-dir.js';
import { loadConfigFile } from '../config-file.js';
import { openRegistry } from '../identity/bootstrap.js';
import { openSharedRegistry } from '../identity/shared-registry.js';
import type { CertificateRecord, CertificateStatus, Registry } from '../identity/registry.js';
import { CliError, EXIT, type Io } from './output.js';
import { RemoteClient } from './remote/client.js';
import type { TargetOption } from './remote/commands.js';
import { RemoteRegistry, type CommandRegistry } from './remote/registry.js';

// ----------------------------------------------------------------------------------
// Shared by the identity commands (things, certs, ca).

export interface DataDirOptions extends TargetOption {
  dataDir?: string;
  json?: boolean;
  /** The gateway configuration: with gatehouse.registry.url the command works on the shared PostgreSQL registry. */
  config?: string;
}

export function dataDirOption(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory (default: $GATEHOUSE_DATA_DIR, else /var/lib/gatehouse for root, else $XDG_DATA_HOME/gatehouse or ~/.local/share/gatehouse)')
    .option('--json', 'print the result as JSON on stdout');
}

/** `--config`, for the registry commands that have no other use for it. */
export function registryConfigOption(cmd: Command): Command {
  return cmd.option('--config <file>', 'gateway configuration: with gatehouse.registry.url, work on the shared PostgreSQL registry (docs/cluster.md)');
}

export function resolveDataDir(option: string | undefined, fromConfig?: string): string {
  return resolve(option ?? fromConfig ?? defaultDataDir());
}

/**
 * Runs `fn` with the registry the command works on: the remote gateway's when the
 * invocation has a remote target (remote/commands.ts), else the data directory's.
 */
export async function withRegistry<T>(opts: DataDirOptions, fn: (registry: CommandRegistry) => Promise<T>): Promise<T> {
  const target = opts.target;
  if (target?.kind === 'remote') return fn(new RemoteRegistry(new RemoteClient(target)));
  return withLocalRegistry(resolveDataDir(opts.dataDir), fn, opts.config);
}

/**
 * Opens the registry of the data directory for the length of `fn` (commands that only
 * run locally); with a configuration whose gatehouse.registry.url is set, the shared
 * PostgreSQL registry instead, as the gateways of the cluster use it.
 */
export async function withLocalRegistry<T>(dataDir: string, fn: (registry: Registry) => Promise<T>, configPath?: string): Promise<T> {
  const shared = configPath !== undefined ? await sharedRegistryOf(configPath) : undefined;
  if (shared !== undefined) {
    try {
      return await fn(shared);
    } finally {
      await shared.close();
    }
  }
  const registry = await openRegistry(dataDir);
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

/** The shared registry a configuration file names, or undefined (none: the data directory's SQLite file). */
async function sharedRegistryOf(configPath: string): Promise<Registry | undefined> {
  const registry = await sharedRegistryConfig(configPath);
  return registry !== undefined ? openSharedRegistry(registry) : undefined;
}

/** The `gatehouse.registry` section of a configuration file when it names a shared registry (its url is set), else undefined. */
export async function sharedRegistryConfig(configPath: string): Promise<RegistryConfig | undefined> {
  const result = await loadConfigFile(configPath);
  if (!result.ok) {
    if ('unreadable' in result) throw new CliError(result.code, result.message, EXIT.USAGE, 'check the path and permissions');
    const first = result.errors[0];
    throw new CliError(first?.code ?? 'CONFIG_INVALID', `${configPath}: ${first?.message ?? 'the configuration is not valid'}`, EXIT.INVALID,
      `check it with \`gatehouse config validate ${configPath}\``);
  }
  const registry = result.config.gatehouse.registry;
  return registry.url !== undefined ? registry : undefined;
}

export function printTable(io: Io, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  io.out(line(header));
  for (const r of rows) io.out(line(r));
}

export function certificateJson(c: CertificateRecord, thingNames?: readonly string[]): Record<string, unknown> {
  return {
    id: c.id,
    status: c.status,
    subject: c.subject,
    issuer: c.issuerSubject,
    issuerId: c.issuerId,
    trust: c.trust,
    serialNumber: c.serialNumber,
    notBefore: isoOrNull(c.notBefore),
    notAfter: isoOrNull(c.notAfter),
    createdAt: isoOrNull(c.createdAt),
    statusUpdatedAt: isoOrNull(c.statusUpdatedAt),
    ...(thingNames !== undefined ? { things: thingNames } : {}),
  };
}

/** `2026-01-02T03:04:05Z`, or `-` for a time the source does not know (a remote gateway's thing has no creation time). */
export const day = (d: Date): string => (Number.isNaN(d.getTime()) ? '-' : d.toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** ISO 8601, or null for a time the source does not know. */
export const isoOrNull = (d: Date): string | null => (Number.isNaN(d.getTime()) ? null : d.toISOString());

// ----------------------------------------------------------------------------------
// gatehouse certs list|show|revoke|deactivate|activate

const STATUS_VERBS: readonly [string, CertificateStatus, string][] = [
  ['revoke', 'REVOKED', 'revoke a certificate for good: devices using it are refused and disconnected'],
  ['deactivate', 'INACTIVE', 'deactivate a certificate (reversible with `certs activate`): devices using it are refused and disconnected'],
  ['activate', 'ACTIVE', 'activate an inactive certificate (a revoked one stays revoked)'],
];

export function registerCerts(program: Command, io: Io, setExit: (code: number) => void): void {
  const certs = program.command('certs').description('list, inspect, revoke, deactivate and activate device certificates');

  registryConfigOption(dataDirOption(certs.command('list').description('list registered certificates')))
    .option('--status <status>', 'only ACTIVE, INACTIVE or REVOKED certificates')
    .option('--thing <name>', 'only certificates attached to this thing')
    .action(async (opts: DataDirOptions & { status?: string; thing?: string }) => {
      const status = opts.status?.toUpperCase();
      if (status !== undefined && !['ACTIVE', 'INACTIVE', 'REVOKED'].includes(status)) throw new CliError('USAGE', `--status \`${opts.status}\` is not ACTIVE, INACTIVE or REVOKED`);
      await withRegistry(opts, async (r) => {
        const list = await r.listCertificates({ ...(status ? { status: status as CertificateStatus } : {}), ...(opts.thing !== undefined ? { thingName: opts.thing } : {}) });
        const withThings = await Promise.all(list.map(async (c) => ({ c, things: await r.thingsForCertificate(c.id) })));
        if (opts.json) io.out(JSON.stringify(withThings.map(({ c, things }) => certificateJson(c, things))));
        else if (withThings.length === 0) io.out('no certificates');
        else printTable(io, ['ID', 'STATUS', 'NOT AFTER', 'THINGS', 'SUBJECT'], withThings.map(({ c, things }) => [c.id, c.status, day(c.notAfter), things.join(',') || '-', c.subject]));
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(certs.command('show').description('show one certificate: status, validity, issuer, things')))
    .argument('<cert-id>', 'certificate id (SHA-256) or a unique prefix of at least 8 hex digits')
    .option('--pem', 'print only the certificate PEM')
    .action(async (idArg: string, opts: DataDirOptions & { pem?: boolean }) => {
      await withRegistry(opts, async (r) => {
        const id = await r.resolveCertificateId(idArg);
        const c = (await r.getCertificate(id))!;
        const things = await r.thingsForCertificate(id);
        if (opts.pem) io.out(c.pem.trimEnd());
        else if (opts.json) io.out(JSON.stringify({ ...certificateJson(c, things), pem: c.pem }));
        else {
          io.out(`certificate ${c.id}`);
          io.out(`  status:     ${c.status} (since ${day(c.statusUpdatedAt)})`);
          io.out(`  subject:    ${c.subject}`);
          io.out(`  issuer:     ${c.issuerSubject}${c.issuerId ? ` (${c.issuerId.slice(0, 16)}…)` : ''}`);
          if (c.trust === 'registration') io.out('  trust:      this exact certificate, by its registration (its issuer is not a CA trusted here)');
          io.out(`  serial:     ${c.serialNumber}`);
          io.out(`  valid:      ${day(c.notBefore)} to ${day(c.notAfter)}`);
          io.out(`  registered: ${day(c.createdAt)}`);
          io.out(`  things:     ${things.length ? things.join(', ') : '(none attached)'}`);
        }
      });
      setExit(EXIT.OK);
    });

  for (const [verb, status, description] of STATUS_VERBS) {
    registryConfigOption(dataDirOption(certs.command(verb).description(description)))
      .argument('<cert-id>', 'certificate id (SHA-256) or a unique prefix of at least 8 hex digits')
      .addHelpText('after', '\nA running gateway sharing the data directory applies the change to live sessions within a second.')
      .action(async (idArg: string, opts: DataDirOptions) => {
        await withRegistry(opts, async (r) => {
          const id = await r.resolveCertificateId(idArg);
          const { changed, previous } = await r.setCertificateStatus(id, status);
          const things = await r.thingsForCertificate(id);
          if (opts.json) io.out(JSON.stringify({ id, status, previous, changed, things }));
          else {
            io.out(changed ? `certificate ${id}: ${previous} -> ${status}` : `certificate ${id} is already ${status}`);
            if (changed && status !== 'ACTIVE' && things.length) io.out(`  devices of ${things.join(', ')} using it are refused from now on`);
          }
        });
        setExit(EXIT.OK);
      });
  }
}
