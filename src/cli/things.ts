import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../ca/atomic.js';
import { loadConfigFile } from '../config-file.js';
import { validateConfig, type GatehouseConfig } from '../core/index.js';
import { openIdentity } from '../identity/bootstrap.js';
import { assertAttributes, assertThingName } from '../identity/names.js';
import { parseCertificatePem } from '../identity/certificate.js';
import type { PgRegistry } from '../identity/pg-registry.js';
import type { CertificateRecord, EnrollResult, Registry, Thing } from '../identity/registry.js';
import { openSharedRegistry } from '../identity/shared-registry.js';
import { CertificateVerifier } from '../identity/verify.js';
import { certificateJson, dataDirOption, day, isoOrNull, printTable, registryConfigOption, resolveDataDir, withLocalRegistry, withRegistry, type DataDirOptions } from './certs.js';
import { CliError, EXIT, printIssues, type Io } from './output.js';
import type { CommandRegistry, RemoteRegistry } from './remote/registry.js';

export function registerThings(program: Command, io: Io, setExit: (code: number) => void): void {
  const things = program.command('things').description('register devices (things) and their certificates');

  dataDirOption(things.command('create').description('register a thing and issue it a new key and certificate from the gateway CA'))
    .argument('<name>', 'thing name: 1-128 characters of a-z A-Z 0-9 : _ - (the device connects with it as its MQTT client ID)')
    .requiredOption('--out <dir>', 'directory for NAME.cert.pem, NAME.key.pem (mode 0600) and ca.pem')
    .option('--attribute <key=value>', 'thing attribute (repeatable)', collect, [])
    .option('--validity-days <days>', 'certificate validity in days (default 365)')
    .option('--config <file>', 'gateway configuration (needed when it configures a custom CA)')
    .option('--force', 'overwrite existing files in --out')
    .addHelpText('after', `
Example:
  gatehouse things create sensor-1 --attribute room=kitchen --out ./certs
  mosquitto_pub --cafile certs/ca.pem --cert certs/sensor-1.cert.pem --key certs/sensor-1.key.pem \\
    -h localhost -p 8883 -i sensor-1 -t sensors/sensor-1/temp -m 21.5

Exit status: 0 created, 1 refused (thing exists, CA problem), 2 usage error.`)
    .action(async (name: string, opts: DataDirOptions & { out: string; attribute: string[]; validityDays?: string; config?: string; force?: boolean }) => {
      assertThingName(name);
      const attributes = parseAttributes(opts.attribute);
      assertAttributes(attributes);
      const validityDays = opts.validityDays !== undefined ? parseDays(opts.validityDays) : undefined;
      const remote = opts.target?.kind === 'remote';
      if (remote && (opts.validityDays !== undefined || opts.config !== undefined)) {
        throw new CliError('USAGE', '--validity-days and --config apply to the local CA only: a remote gateway issues the certificate with its own settings');
      }
      const config = remote ? undefined : await loadConfig(opts.config, io);
      if (!remote && config === undefined) return setExit(EXIT.INVALID);
      const outDir = resolve(opts.out);
      const files = { certificate: join(outDir, `${name}.cert.pem`), privateKey: join(outDir, `${name}.key.pem`), ca: join(outDir, 'ca.pem') };
      if (!opts.force) {
        for (const f of [files.certificate, files.privateKey]) {
          if (await exists(f)) throw new CliError('FILE_EXISTS', `\`${f}\` already exists`, EXIT.INVALID, 'choose another --out directory, remove the file, or pass --force');
        }
      }
      if (config === undefined) {
        await withRegistry(opts, async (r) => {
          await createThingRemotely(r as RemoteRegistry, name, attributes, outDir, files, io, opts.json === true);
        });
        return setExit(EXIT.OK);
      }

      const identity = await openIdentity(resolveDataDir(opts.dataDir, config.value.gatehouse.dataDir), config.value, config.baseDir !== undefined ? { baseDir: config.baseDir } : {});
      const { ca } = identity;
      const written: string[] = [];
      let shared: PgRegistry | undefined;
      try {
        // With gatehouse.registry.url the thing goes into the shared registry, where this
        // node's CA is trusted as its gateway does at start.
        const sharedConfig = config.value.gatehouse.registry;
        if (sharedConfig.url !== undefined) {
          shared = await openSharedRegistry(sharedConfig);
          await shared.trustGatewayCa(ca.certificatePem);
        }
        const registry: Registry = shared ?? identity.registry;
        if (await registry.getThing(name)) {
          throw new CliError('THING_EXISTS', `thing \`${name}\` already exists`, EXIT.INVALID, 'choose another name, `gatehouse things delete` it first, or use `things register` to add a certificate you made');
        }
        const issued = await ca.issueDeviceCertificate({ thingName: name, ...(validityDays !== undefined ? { validityDays } : {}) });
        // Devices present the intermediates with their certificate; ca.pem holds the whole
        // chain so they can verify the broker's certificate up to the root.
        const intermediates = issued.chainPem.filter((p) => !isSelfSigned(p));
        try {
          await mkdir(outDir, { recursive: true, mode: 0o700 });
          await writeFileAtomic(files.privateKey, issued.privateKeyPem, 0o600);
          written.push(files.privateKey);
          await writeFileAtomic(files.certificate, [issued.certificatePem, ...intermediates].map(endLine).join(''), 0o644);
          written.push(files.certificate);
          await writeFileAtomic(files.ca, ca.chainPem.map(endLine).join(''), 0o644);
        } catch (e) {
          throw new CliError('OUT_DIR_UNWRITABLE', `cannot write to \`${outDir}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.INVALID, 'check that the directory is writable');
        }
        const result = await registry.enroll({ thingName: name, attributes, certificatePem: issued.certificatePem, thing: 'new', issuerId: ca.id });
        printCreated(io, opts.json === true, result.thing, result.certificate, files);
        setExit(EXIT.OK);
      } catch (e) {
        // Never leave a key behind for a thing that was not registered.
        for (const f of written) await unlink(f).catch(() => undefined);
        throw e;
      } finally {
        await shared?.close();
        await identity.registry.close();
      }
    });

  registryConfigOption(dataDirOption(things.command('register').description('register a thing with a certificate you already have (from a trusted device CA)')))
    .argument('<name>', 'thing name (created if it does not exist)')
    .requiredOption('--cert <file>', 'device certificate PEM, optionally followed by intermediate CA certificates')
    .option('--attribute <key=value>', 'attribute for a thing this command creates (repeatable)', collect, [])
    .addHelpText('after', `
The certificate must chain to a trusted device CA (\`gatehouse ca list\`, \`gatehouse ca trust\`)
and be valid now. It is registered ACTIVE and attached to the thing.

Exit status: 0 registered, 1 refused (untrusted, expired, revoked...), 2 usage error.`)
    .action(async (name: string, opts: DataDirOptions & { cert: string; attribute: string[] }) => {
      assertThingName(name);
      const attributes = parseAttributes(opts.attribute);
      assertAttributes(attributes);
      const pem = await readText(opts.cert);
      const print = async (r: CommandRegistry, result: EnrollResult): Promise<void> => {
        if (opts.json) {
          io.out(JSON.stringify({ thing: thingJson(result.thing), certificate: certificateJson(result.certificate, await r.thingsForCertificate(result.certificate.id)), thingCreated: result.thingCreated, certificateCreated: result.certificateCreated, attached: result.attached }));
        } else {
          io.out(`${result.thingCreated ? 'created' : 'found'} thing ${name}`);
          io.out(`  certificate ${result.certificate.id} ${result.certificateCreated ? 'registered' : 'already registered'} (${result.certificate.status})${result.attached ? ', attached' : ', already attached'}`);
        }
      };
      if (opts.target?.kind === 'remote') {
        // The gateway applies the checks (RegisterCertificate); only a file that is no certificate is refused here.
        const parsed = parseCertificatePem(pem);
        if (!parsed.ok) throw new CliError('CERT_MALFORMED', `${opts.cert}: client certificate is not usable: ${parsed.message}`, EXIT.USAGE, registerFix('CERT_MALFORMED'));
        const [leaf, ...intermediates] = parsed.certificates;
        await withRegistry(opts, async (r) => {
          await print(r, await (r as RemoteRegistry).registerDevice(name, attributes, leaf, intermediates.map((c) => c.pem)));
        });
        return setExit(EXIT.OK);
      }
      await withLocalRegistry(resolveDataDir(opts.dataDir), async (r) => {
        const chain = await new CertificateVerifier(r).verifyChain(pem, new Date());
        if (!chain.ok) {
          throw new CliError(chain.reason, `${opts.cert}: ${chain.message}`, chain.reason === 'CERT_MALFORMED' ? EXIT.USAGE : EXIT.INVALID, registerFix(chain.reason));
        }
        await print(r, await r.enroll({ thingName: name, attributes, certificatePem: chain.leaf.pem, thing: 'any', issuerId: chain.issuerId }));
      }, opts.config);
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(things.command('list').description('list things')))
    .option('--prefix <text>', 'only names starting with this text')
    .option('--limit <n>', 'at most this many')
    .action(async (opts: DataDirOptions & { prefix?: string; limit?: string }) => {
      const limit = opts.limit !== undefined ? parsePositive(opts.limit, '--limit') : undefined;
      await withRegistry(opts, async (r) => {
        const list = await r.listThings({ ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}), ...(limit !== undefined ? { limit } : {}) });
        const rows = await Promise.all(list.map(async (t) => ({ t, certs: await r.certificatesForThing(t.name) })));
        if (opts.json) io.out(JSON.stringify(rows.map(({ t, certs }) => ({ ...thingJson(t), certificates: certs }))));
        else if (rows.length === 0) io.out('no things');
        else printTable(io, ['NAME', 'CERTS', 'ATTRIBUTES'], rows.map(({ t, certs }) => [t.name, String(certs.length), formatAttributes(t.attributes)]));
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(things.command('show').description('show a thing, its attributes and its certificates')))
    .argument('<name>', 'thing name (case-sensitive)')
    .action(async (name: string, opts: DataDirOptions) => {
      await withRegistry(opts, async (r) => {
        const t = await requireThing(r, name);
        const certs = await r.listCertificates({ thingName: name });
        const groups = await r.groupsForThing(name);
        if (opts.json) io.out(JSON.stringify({ ...thingJson(t), groups, certificates: certs.map((c) => certificateJson(c)) }));
        else {
          io.out(`thing ${t.name}`);
          io.out(`  created:    ${day(t.createdAt)}`);
          io.out(`  type:       ${t.thingTypeName ?? '-'}`);
          io.out(`  version:    ${t.version}`);
          io.out(`  attributes: ${formatAttributes(t.attributes)}`);
          io.out(`  groups:     ${groups.length ? groups.join(', ') : '-'}`);
          if (certs.length === 0) io.out('  certificates: (none attached; the device cannot connect)');
          else {
            io.out('  certificates:');
            for (const c of certs) io.out(`    ${c.id}  ${c.status.padEnd(8)}  until ${day(c.notAfter)}  ${c.subject}`);
          }
        }
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(things.command('delete').description('delete a thing and its attachments (its certificates stay registered)')))
    .argument('<name>', 'thing name (case-sensitive)')
    .addHelpText('after', '\nA running gateway sharing the data directory disconnects the thing within a second.')
    .action(async (name: string, opts: DataDirOptions) => {
      assertThingName(name);
      await withRegistry(opts, async (r) => {
        const certs = await r.certificatesForThing(name);
        await r.deleteThing(name);
        if (opts.json) io.out(JSON.stringify({ deleted: name, detachedCertificates: certs }));
        else io.out(`deleted thing ${name}${certs.length ? ` (detached ${certs.length} certificate${certs.length === 1 ? '' : 's'}; revoke them with \`gatehouse certs revoke\` if they are not used elsewhere)` : ''}`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(things.command('update').description("set or clear a thing's type and add, change or remove its attributes")))
    .argument('<name>', 'thing name (case-sensitive)')
    .option('--type <type>', 'thing type: a declared type (`gatehouse thing-types create`) that is not deprecated')
    .option('--clear-type', 'remove the thing type')
    .option('--attribute <key=value>', 'add or change an attribute (repeatable)', collect, [])
    .option('--remove-attribute <key>', 'remove an attribute (repeatable)', collect, [])
    .option('--expected-version <n>', 'refuse the update (THING_VERSION_CONFLICT) unless the thing is at this version')
    .addHelpText('after', `
All changes are applied together or not at all; a thing keeps at most 50 attributes.
A running gateway sharing the data directory applies the change within a second.

Example:
  gatehouse things update sensor-1 --type Thermometer --attribute room=hall --remove-attribute floor`)
    .action(async (name: string, opts: DataDirOptions & { type?: string; clearType?: boolean; attribute: string[]; removeAttribute: string[]; expectedVersion?: string }) => {
      assertThingName(name);
      const expectedVersion = opts.expectedVersion === undefined ? undefined : Number(opts.expectedVersion);
      if (expectedVersion !== undefined && (!/^\d{1,15}$/.test(opts.expectedVersion!) || expectedVersion < 1)) throw new CliError('USAGE', '--expected-version must be a positive integer');
      if (opts.type !== undefined && opts.clearType) throw new CliError('USAGE', 'give --type or --clear-type, not both');
      const setAttributes = parseAttributes(opts.attribute);
      if (opts.type === undefined && !opts.clearType && opts.attribute.length === 0 && opts.removeAttribute.length === 0) {
        throw new CliError('USAGE', 'nothing to update: give --type, --clear-type, --attribute or --remove-attribute');
      }
      const thingTypeName = opts.clearType ? null : opts.type;
      await withRegistry(opts, async (r) => {
        const { thing, changed } = await r.updateThing(name, {
          ...(thingTypeName !== undefined ? { thingTypeName } : {}), setAttributes, removeAttributes: opts.removeAttribute,
          ...(expectedVersion !== undefined ? { expectedVersion } : {}),
        });
        if (opts.json) io.out(JSON.stringify({ ...thingJson(thing), changed }));
        else io.out(`${changed ? 'updated' : 'no change to'} thing ${name}: type ${thing.thingTypeName ?? '-'}, attributes ${formatAttributes(thing.attributes)}, version ${thing.version}`);
      });
      setExit(EXIT.OK);
    });

  for (const verb of ['attach', 'detach'] as const) {
    registryConfigOption(dataDirOption(things.command(verb).description(verb === 'attach' ? 'attach a registered certificate to a thing' : 'detach a certificate from a thing (the device can no longer connect as that thing)')))
      .argument('<name>', 'thing name (case-sensitive)')
      .argument('<cert-id>', 'certificate id (SHA-256) or a unique prefix of at least 8 hex digits')
      .action(async (name: string, idArg: string, opts: DataDirOptions) => {
        assertThingName(name);
        await withRegistry(opts, async (r) => {
          const id = await r.resolveCertificateId(idArg);
          let changed = true;
          if (verb === 'attach') ({ changed } = await r.attach(name, id));
          else await r.detach(name, id);
          if (opts.json) io.out(JSON.stringify({ thing: name, certificateId: id, [verb === 'attach' ? 'attached' : 'detached']: true, changed }));
          else io.out(verb === 'attach' ? (changed ? `attached ${id} to ${name}` : `${id} was already attached to ${name}`) : `detached ${id} from ${name}`);
        });
        setExit(EXIT.OK);
      });
  }
}

// ----------------------------------------------------------------------------------

interface CreatedFiles {
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
}

/** The output of `things create`, local or remote. */
function printCreated(io: Io, json: boolean, thing: Thing, certificate: CertificateRecord, files: CreatedFiles, caWritten = true): void {
  if (json) {
    io.out(JSON.stringify({ thingName: thing.name, certificateId: certificate.id, thing: thingJson(thing), certificate: certificateJson(certificate, [thing.name]), files: caWritten ? files : { certificate: files.certificate, privateKey: files.privateKey } }));
    return;
  }
  io.out(`created thing ${thing.name}`);
  io.out(`  certificate  ${certificate.id} (ACTIVE, valid until ${day(certificate.notAfter)})`);
  io.out(`  certificate  ${files.certificate}`);
  io.out(`  private key  ${files.privateKey} (mode 0600; keep it on the device only)`);
  io.out(caWritten ? `  broker CA    ${files.ca}` : '  broker CA    (not written: the gateway did not say which CA issued the certificate)');
  io.out(`connect as client ID \`${thing.name}\`, e.g.:`);
  io.out(`  mosquitto_pub --cafile ${files.ca} --cert ${files.certificate} --key ${files.privateKey} -h localhost -p 8883 -i ${thing.name} -t TOPIC -m MESSAGE`);
}

/**
 * `things create` against a remote gateway: CreateThing, CreateKeysAndCertificate (the
 * gateway's CA issues it, ACTIVE), AttachThingPrincipal; the key pair travels once, over
 * the TLS connection, and is written with mode 0600. If a step after CreateThing fails,
 * the thing and certificate made so far are removed again, best effort.
 */
async function createThingRemotely(r: RemoteRegistry, name: string, attributes: Readonly<Record<string, string>>, outDir: string, files: CreatedFiles, io: Io, json: boolean): Promise<void> {
  if ((await r.getThing(name)) !== undefined) {
    throw new CliError('THING_EXISTS', `thing \`${name}\` already exists`, EXIT.INVALID, 'choose another name, `gatehouse things delete` it first, or use `things attach` to add a certificate');
  }
  let thing = await r.createThing(name, attributes);
  let certificateId: string | undefined;
  const written: string[] = [];
  try {
    const issued = await r.createKeysAndCertificate();
    certificateId = issued.certificateId;
    await r.attach(name, certificateId);
    thing = (await r.getThing(name)) ?? thing;
    const certificate = (await r.getCertificate(certificateId))!;
    const caPem = await r.issuerPem(certificateId);
    try {
      await mkdir(outDir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(files.privateKey, issued.privateKeyPem, 0o600);
      written.push(files.privateKey);
      await writeFileAtomic(files.certificate, endLine(issued.certificatePem), 0o644);
      written.push(files.certificate);
      if (caPem !== undefined) await writeFileAtomic(files.ca, endLine(caPem), 0o644);
    } catch (e) {
      throw new CliError('OUT_DIR_UNWRITABLE', `cannot write to \`${outDir}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.INVALID, 'check that the directory is writable');
    }
    printCreated(io, json, thing, certificate, files, caPem !== undefined);
  } catch (e) {
    for (const f of written) await unlink(f).catch(() => undefined);
    await r.deleteThing(name).catch(() => undefined);
    if (certificateId !== undefined) {
      const id = certificateId;
      await r.setCertificateStatus(id, 'INACTIVE').catch(() => undefined);
    }
    throw e;
  }
}

export interface LoadedConfig {
  readonly value: GatehouseConfig;
  /** Directory of the config file: relative custom-CA paths are resolved against it. */
  readonly baseDir?: string;
}

/** The configuration file's settings, or the defaults without one. Undefined when invalid (issues printed). */
export async function loadConfig(path: string | undefined, io: Io): Promise<LoadedConfig | undefined> {
  if (path === undefined) {
    const d = validateConfig({});
    if (!d.ok) throw new Error('default configuration does not validate');
    return { value: d.config };
  }
  const result = await loadConfigFile(path);
  if (!result.ok && 'unreadable' in result) throw new CliError(result.code, result.message, EXIT.USAGE, 'check the path and permissions');
  if (!result.ok) {
    printIssues(io, result.errors, result.warnings);
    return undefined;
  }
  return { value: result.config, baseDir: dirname(resolve(path)) };
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function parseAttributes(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliError('USAGE', `--attribute \`${item}\` is not KEY=VALUE`);
    const key = item.slice(0, eq);
    if (Object.hasOwn(out, key)) throw new CliError('USAGE', `--attribute \`${key}\` is given twice`);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

function parseDays(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 36500) throw new CliError('USAGE', `--validity-days \`${text}\` is not a whole number of days from 1 to 36500`);
  return n;
}

export function parsePositive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new CliError('USAGE', `${flag} \`${text}\` is not a positive whole number`);
  return n;
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError('FILE_UNREADABLE', `cannot read \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.USAGE, 'check the path and permissions');
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function requireThing(r: CommandRegistry, name: string): Promise<Thing> {
  assertThingName(name);
  const t = await r.getThing(name);
  if (t === undefined) throw new CliError('THING_NOT_FOUND', `no thing named \`${name}\``, EXIT.INVALID, 'names are case-sensitive; list things with `gatehouse things list`');
  return t;
}

function thingJson(t: Thing): Record<string, unknown> {
  return { name: t.name, thingTypeName: t.thingTypeName, attributes: t.attributes, version: t.version, createdAt: isoOrNull(t.createdAt) };
}

function formatAttributes(a: Readonly<Record<string, string>>): string {
  const e = Object.entries(a);
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(', ') : '-';
}

function isSelfSigned(pem: string): boolean {
  try {
    const c = new X509Certificate(pem);
    return c.subject === c.issuer && c.verify(c.publicKey);
  } catch {
    return false;
  }
}

const endLine = (pem: string): string => (pem.endsWith('\n') ? pem : pem + '\n');

function registerFix(reason: string): string {
  switch (reason) {
    case 'CERT_UNTRUSTED':
    case 'CERT_SELF_SIGNED':
      return 'trust the issuing CA first with `gatehouse ca trust CA.pem`, or append the intermediate certificates to the file';
    case 'CERT_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'check the certificate dates (`openssl x509 -noout -dates -in FILE`) and the clock of this machine';
    case 'CERT_WRONG_USAGE':
      return 'use a certificate issued for TLS client authentication (extended key usage clientAuth), not a CA or server certificate';
    default:
      return 'pass a PEM file that starts with -----BEGIN CERTIFICATE-----';
  }
}
