import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { openIdentity } from '../identity/bootstrap.js';
import type { TrustedCa } from '../identity/registry.js';
import { dataDirOption, day, isoOrNull, printTable, registryConfigOption, resolveDataDir, withLocalRegistry, type DataDirOptions } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';
import { RemoteClient } from './remote/client.js';
import { RemoteRegistry, type TrustedCaView } from './remote/registry.js';
import { loadConfig } from './things.js';

export function registerCa(program: Command, io: Io, setExit: (code: number) => void): void {
  const ca = program.command('ca').description('the gateway CA and the CAs whose device certificates are trusted');

  dataDirOption(ca.command('show').description('print the gateway CA certificate (PEM) that devices must trust to verify the broker'))
    .option('--config <file>', 'gateway configuration (needed when it configures a custom CA)')
    .addHelpText('after', `
Creates the managed CA on first use of the data directory (and trusts it for device
certificates). Save the output as ca.pem on each device, e.g.:
  gatehouse ca show > ca.pem`)
    .action(async (opts: DataDirOptions & { config?: string }) => {
      if (opts.target?.kind === 'remote') {
        const gw = await new RemoteRegistry(new RemoteClient(opts.target)).gatewayCa();
        // The CA's kind (managed or custom) is not visible from outside: null.
        if (opts.json) io.out(JSON.stringify({ id: gw.id, kind: null, subject: gw.subject, notBefore: gw.notBefore.toISOString(), notAfter: gw.notAfter.toISOString(), trustedForDevices: gw.trusted, pem: gw.chainPem.join('') }));
        else for (const pem of gw.chainPem) io.out(pem.trimEnd());
        return setExit(EXIT.OK);
      }
      const config = await loadConfig(opts.config, io);
      if (config === undefined) return setExit(EXIT.INVALID);
      const { registry, ca: gw } = await openIdentity(resolveDataDir(opts.dataDir, config.value.gatehouse.dataDir), config.value, config.baseDir !== undefined ? { baseDir: config.baseDir } : {});
      try {
        const trusted = await registry.getTrustedCa(gw.id);
        if (opts.json) {
          io.out(JSON.stringify({ id: gw.id, kind: gw.kind, subject: gw.subject, notBefore: gw.notBefore.toISOString(), notAfter: gw.notAfter.toISOString(), trustedForDevices: trusted !== undefined, pem: gw.chainPem.join('') }));
        } else {
          for (const pem of gw.chainPem) io.out(pem.trimEnd());
        }
      } finally {
        await registry.close();
      }
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(ca.command('list').description('list the CAs whose device certificates are trusted')))
    .action(async (opts: DataDirOptions) => {
      await withCas(opts, async (r) => {
        const list = await r.listTrustedCas();
        if (opts.json) io.out(JSON.stringify(list.map(caJson)));
        else if (list.length === 0) io.out('no trusted device CAs (run `gatehouse ca show` or start the gateway to trust the gateway CA)');
        else printTable(io, ['ID', 'SOURCE', 'NOT AFTER', 'SUBJECT'], list.map((c) => [c.id, c.source ?? '-', day(c.notAfter), c.subject]));
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(ca.command('trust').description('trust a CA: device certificates it issues can be registered and can connect')))
    .argument('<file>', 'CA certificate PEM')
    .addHelpText('after', '\nTrusting a CA does not register its certificates: each device still needs `gatehouse things register`.')
    .action(async (file: string, opts: DataDirOptions) => {
      let pem: string;
      try {
        pem = await readFile(file, 'utf8');
      } catch (e) {
        throw new CliError('FILE_UNREADABLE', `cannot read \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.USAGE, 'check the path and permissions');
      }
      await withCas(opts, async (r) => {
        const t = await r.trustCa(pem);
        if (opts.json) io.out(JSON.stringify(caJson(t)));
        else io.out(`trusted CA ${t.id} (${t.subject}, valid until ${day(t.notAfter)})`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(ca.command('untrust').description('stop trusting a CA: devices whose certificates chain only to it are refused and disconnected')))
    .argument('<id>', 'CA id (SHA-256) or a unique prefix of at least 8 hex digits (see `gatehouse ca list`)')
    .action(async (idArg: string, opts: DataDirOptions) => {
      await withCas(opts, async (r) => {
        const id = await r.resolveCaId(idArg);
        const t = await r.getTrustedCa(id);
        await r.untrustCa(id);
        if (opts.json) io.out(JSON.stringify({ untrusted: id, subject: t?.subject }));
        else io.out(`no longer trusting CA ${id}${t ? ` (${t.subject})` : ''}${t?.source === 'gateway' ? '; this is a gateway CA, it will not be trusted again automatically' : ''}`);
      });
      setExit(EXIT.OK);
    });
}

/** What the trust-list commands call: the data directory's registry, or the remote gateway's CA operations. */
type CaRegistry = Pick<RemoteRegistry, 'listTrustedCas' | 'getTrustedCa' | 'trustCa' | 'untrustCa' | 'resolveCaId'>;

/**
 * Runs `fn` with the trusted-CA list the command works on: the remote gateway's
 * (ListCACertificates, DescribeCACertificate, RegisterCACertificate, UpdateCACertificate)
 * when the invocation has a remote target, else the data directory's.
 */
async function withCas<T>(opts: DataDirOptions, fn: (registry: CaRegistry) => Promise<T>): Promise<T> {
  if (opts.target?.kind === 'remote') return fn(new RemoteRegistry(new RemoteClient(opts.target)));
  return withLocalRegistry(resolveDataDir(opts.dataDir), fn, opts.config);
}

function caJson(c: TrustedCa | TrustedCaView): Record<string, unknown> {
  return { id: c.id, subject: c.subject, source: c.source, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(), addedAt: isoOrNull(c.addedAt) };
}
