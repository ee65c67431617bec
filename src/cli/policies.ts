import type { Command } from 'commander';
import { parseIotPolicyDocument } from '../core/policy/iot/document.js';
import { assertPolicyName, assertThingGroupName } from '../identity/names.js';
import { isRegistryError } from '../identity/errors.js';
import type { IotPolicy, PolicyTarget, PolicyVersion } from '../identity/registry.js';
import type { CommandRegistry } from './remote/registry.js';
import { dataDirOption, day, isoOrNull, printTable, registryConfigOption, withRegistry, type DataDirOptions } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';
import { readText } from './things.js';

// ----------------------------------------------------------------------------------
// gatehouse policies create|list|show|delete|create-version|set-default-version|
//                    delete-version|attach|detach|list-targets

interface TargetOptions extends DataDirOptions {
  cert?: string;
  thingGroup?: string;
}

export function registerPolicies(program: Command, io: Io, setExit: (code: number) => void): void {
  const policies = program.command('policies').description('AWS IoT policy documents: create, version, attach to certificates and thing groups');

  registryConfigOption(dataDirOption(policies.command('create').description('create a policy from a JSON document (version 1, the default)')))
    .argument('<name>', 'policy name: 1-128 characters of A-Z a-z 0-9 _ + = , . @ -')
    .requiredOption('--file <file>', 'the policy document (JSON); stored exactly as written')
    .addHelpText('after', `
Example:
  gatehouse policies create sensors-publish --file sensors-publish.json
  gatehouse policies attach sensors-publish --thing-group sensors

Exit status: 0 created, 1 refused (exists, invalid document), 2 usage error.`)
    .action(async (name: string, opts: DataDirOptions & { file: string }) => {
      assertPolicyName(name);
      const text = await readText(opts.file);
      await withRegistry(opts, async (r) => {
        const p = await documentChecked(() => r.createPolicy(name, text));
        printWarnings(io, text);
        if (opts.json) io.out(JSON.stringify(policyJson(p)));
        else io.out(`created policy ${p.name} (version 1, default)`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(policies.command('list').description('list policies')))
    .action(async (opts: DataDirOptions) => {
      await withRegistry(opts, async (r) => {
        const list = await r.listPolicies();
        if (opts.json) io.out(JSON.stringify(list.map((p) => ({ name: p.name, defaultVersion: p.defaultVersion, versions: p.versions, createdAt: isoOrNull(p.createdAt), updatedAt: isoOrNull(p.updatedAt) }))));
        else if (list.length === 0) io.out('no policies');
        else printTable(io, ['NAME', 'DEFAULT', 'VERSIONS', 'UPDATED'], list.map((p) => [p.name, String(p.defaultVersion), p.versions.join(','), day(p.updatedAt)]));
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(policies.command('show').description('show a policy: its versions, targets and the document of the default (or given) version')))
    .argument('<name>', 'policy name (case-sensitive)')
    .option('--version <n>', 'show this version instead of the default')
    .action(async (name: string, opts: DataDirOptions & { version?: string }) => {
      const wanted = opts.version !== undefined ? parseVersion(opts.version) : undefined;
      await withRegistry(opts, async (r) => {
        const p = await requirePolicy(r, name);
        const version = await r.getPolicyVersion(name, wanted ?? p.defaultVersion);
        if (version === undefined) throw new CliError('POLICY_VERSION_NOT_FOUND', `policy \`${name}\` has no version ${wanted}`, EXIT.INVALID, `its versions are ${p.versions.join(', ')}`);
        const targets = await r.policyTargets(name);
        if (opts.json) io.out(JSON.stringify({ ...policyJson(p), version: versionJson(version), targets: targets.map(targetJson) }));
        else {
          io.out(`policy ${p.name}`);
          io.out(`  versions: ${p.versions.map((v) => (v === p.defaultVersion ? `${v} (default)` : String(v))).join(', ')}`);
          io.out(`  targets:  ${targets.length ? targets.map(describeTarget).join(', ') : '(none)'}`);
          io.out(`  document of version ${version.version}${version.isDefault ? ' (default)' : ''}:`);
          io.out(version.document.replace(/\n$/, ''));
        }
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(policies.command('delete').description('delete a policy (it must be detached everywhere and have no version besides the default)')))
    .argument('<name>', 'policy name (case-sensitive)')
    .action(async (name: string, opts: DataDirOptions) => {
      assertPolicyName(name);
      await withRegistry(opts, async (r) => {
        await r.deletePolicy(name);
        if (opts.json) io.out(JSON.stringify({ deleted: name }));
        else io.out(`deleted policy ${name}`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(policies.command('create-version').description('add a version to a policy (at most 5 versions)')))
    .argument('<name>', 'policy name (case-sensitive)')
    .requiredOption('--file <file>', 'the policy document (JSON)')
    .option('--set-default', 'make the new version the one in force')
    .action(async (name: string, opts: DataDirOptions & { file: string; setDefault?: boolean }) => {
      assertPolicyName(name);
      const text = await readText(opts.file);
      await withRegistry(opts, async (r) => {
        const v = await documentChecked(() => r.createPolicyVersion(name, text, { setAsDefault: opts.setDefault === true }));
        printWarnings(io, text);
        if (opts.json) io.out(JSON.stringify(versionJson(v)));
        else io.out(`created version ${v.version} of policy ${name}${v.isDefault ? ' (now the default)' : ' (not the default; `set-default-version` puts it in force)'}`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(policies.command('set-default-version').description('put a version of a policy in force')))
    .argument('<name>', 'policy name (case-sensitive)')
    .argument('<version>', 'version id')
    .action(async (name: string, versionArg: string, opts: DataDirOptions) => {
      assertPolicyName(name);
      const version = parseVersion(versionArg);
      await withRegistry(opts, async (r) => {
        const { changed } = await r.setDefaultPolicyVersion(name, version);
        if (opts.json) io.out(JSON.stringify({ policy: name, defaultVersion: version, changed }));
        else io.out(changed ? `version ${version} of policy ${name} is now the default` : `version ${version} of policy ${name} was already the default`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(policies.command('delete-version').description('delete a version that is not the default')))
    .argument('<name>', 'policy name (case-sensitive)')
    .argument('<version>', 'version id')
    .action(async (name: string, versionArg: string, opts: DataDirOptions) => {
      assertPolicyName(name);
      const version = parseVersion(versionArg);
      await withRegistry(opts, async (r) => {
        await r.deletePolicyVersion(name, version);
        if (opts.json) io.out(JSON.stringify({ policy: name, deletedVersion: version }));
        else io.out(`deleted version ${version} of policy ${name}`);
      });
      setExit(EXIT.OK);
    });

  for (const verb of ['attach', 'detach'] as const) {
    registryConfigOption(dataDirOption(policies.command(verb).description(verb === 'attach'
      ? 'attach a policy to a certificate or a thing group (idempotent)'
      : 'detach a policy from a certificate or a thing group')))
      .argument('<name>', 'policy name (case-sensitive)')
      .option('--cert <cert-id>', 'certificate id (SHA-256) or a unique prefix of at least 8 hex digits')
      .option('--thing-group <group>', 'thing group name')
      .addHelpText('after', '\nGive exactly one of --cert and --thing-group. A running gateway sharing the data directory applies the change within a second.')
      .action(async (name: string, opts: TargetOptions) => {
        assertPolicyName(name);
        await withRegistry(opts, async (r) => {
          const target = await parseTarget(r, opts);
          let changed = true;
          if (verb === 'attach') ({ changed } = await r.attachPolicy(name, target));
          else await r.detachPolicy(name, target);
          if (opts.json) io.out(JSON.stringify({ policy: name, target: targetJson(target), [verb === 'attach' ? 'attached' : 'detached']: true, changed }));
          else if (verb === 'attach') io.out(changed ? `attached policy ${name} to ${describeTarget(target)}` : `policy ${name} was already attached to ${describeTarget(target)}`);
          else io.out(`detached policy ${name} from ${describeTarget(target)}`);
        });
        setExit(EXIT.OK);
      });
  }

  registryConfigOption(dataDirOption(policies.command('list-targets').description('list the certificates and thing groups a policy is attached to')))
    .argument('<name>', 'policy name (case-sensitive)')
    .action(async (name: string, opts: DataDirOptions) => {
      assertPolicyName(name);
      await withRegistry(opts, async (r) => {
        const targets = await r.policyTargets(name);
        if (opts.json) io.out(JSON.stringify(targets.map(targetJson)));
        else if (targets.length === 0) io.out(`policy ${name} is not attached`);
        else printTable(io, ['KIND', 'TARGET'], targets.map((t) => (t.kind === 'certificate' ? ['certificate', t.certificateId] : ['thing-group', t.groupName])));
      });
      setExit(EXIT.OK);
    });
}

/**
 * Runs a call that stores a document; on POLICY_DOCUMENT_INVALID the error lists every
 * problem (code, JSON path, message, fix) on lines of its own, and exits with status 1.
 */
async function documentChecked<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isRegistryError(e) || e.code !== 'POLICY_DOCUMENT_INVALID' || e.problems.length === 0) throw e;
    const lines = e.problems.map((p) => `\n  ${p.code} at ${p.path}: ${p.message}\n    fix: ${p.fix}`);
    throw new CliError('POLICY_DOCUMENT_INVALID', `the policy document has ${e.problems.length} problem${e.problems.length === 1 ? '' : 's'}; nothing was stored${lines.join('')}`, EXIT.INVALID);
  }
}

/** Warnings of a stored document (an action or variable Gatehouse does not know), on stderr. */
function printWarnings(io: Io, text: string): void {
  for (const w of parseIotPolicyDocument(text).warnings) io.err(`warning ${w.code} at ${w.path}: ${w.message}\n    fix: ${w.fix}`);
}

async function requirePolicy(r: CommandRegistry, name: string): Promise<IotPolicy> {
  assertPolicyName(name);
  const p = await r.getPolicy(name);
  if (p === undefined) throw new CliError('POLICY_NOT_FOUND', `no policy named \`${name}\``, EXIT.INVALID, 'names are case-sensitive; list policies with `gatehouse policies list`');
  return p;
}

async function parseTarget(r: CommandRegistry, opts: TargetOptions): Promise<PolicyTarget> {
  if ((opts.cert === undefined) === (opts.thingGroup === undefined)) throw new CliError('USAGE', 'give exactly one of --cert CERT_ID and --thing-group GROUP');
  if (opts.cert !== undefined) return { kind: 'certificate', certificateId: await r.resolveCertificateId(opts.cert) };
  assertThingGroupName(opts.thingGroup);
  return { kind: 'thingGroup', groupName: opts.thingGroup };
}

function parseVersion(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new CliError('USAGE', `\`${text}\` is not a policy version id (a whole number from 1)`);
  return n;
}

function policyJson(p: IotPolicy): Record<string, unknown> {
  return { name: p.name, defaultVersion: p.defaultVersion, versions: p.versions, document: p.document, createdAt: isoOrNull(p.createdAt), updatedAt: isoOrNull(p.updatedAt) };
}

function versionJson(v: PolicyVersion): Record<string, unknown> {
  return { policy: v.policyName, version: v.version, isDefault: v.isDefault, document: v.document, createdAt: isoOrNull(v.createdAt) };
}

function targetJson(t: PolicyTarget): Record<string, unknown> {
  return t.kind === 'certificate' ? { certificateId: t.certificateId } : { thingGroup: t.groupName };
}

function describeTarget(t: PolicyTarget): string {
  return t.kind === 'certificate' ? `certificate ${t.certificateId}` : `thing group ${t.groupName}`;
}

