import type { Command } from 'commander';
import type { AccessKeyStatus, PolicyHolder } from '../identity/control.js';
import { day, printTable } from './certs.js';
import {
  accessKeyJson, controlOptions, describeTags, parseSeconds, parseTags, policyJson, roleJson, userJson, versionJson, withControlBackend,
  type ControlOptions,
} from './control-common.js';
import { ControlError } from '../identity/errors.js';
import { CliError, type Io } from './output.js';
import { collect, readText } from './things.js';

// ----------------------------------------------------------------------------------
// gatehouse iam users|access-keys|roles|policies …: the principals and identity
// policies of the management API, in the data directory or, with a remote target,
// through the gateway's IAM API (remote/iam.ts).

type SetExit = (code: number) => void;
interface TagOptions extends ControlOptions { tag: string[] }

export function registerIam(program: Command, io: Io, setExit: SetExit): void {
  const iam = program.command('iam').description('users, access keys, roles and IAM policies of the management API (in the data directory, or of a remote gateway with --endpoint)');
  registerUsers(iam, io, setExit);
  registerAccessKeys(iam, io, setExit);
  registerRoles(iam, io, setExit);
  registerPolicies(iam, io, setExit);
}

function registerUsers(iam: Command, io: Io, setExit: SetExit): void {
  const users = iam.command('users').description('IAM users: principals that sign requests with access keys');

  controlOptions(users.command('create').description('create a user (then give it an access key and attach policies)'))
    .argument('<name>', 'user name: 1-64 characters of A-Z a-z 0-9 _ + = , . @ - (unique regardless of case)')
    .option('--tag <key=value>', 'a tag (repeatable)', collect, [])
    .addHelpText('after', `
Example:
  gatehouse iam users create alice --tag team=ops
  gatehouse iam policies attach ReadThings --user alice
  gatehouse iam access-keys create --user alice`)
    .action((name: string, opts: TagOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const u = await store.createUser(name, { tags: parseTags(opts.tag) });
      if (opts.json) io.out(JSON.stringify(userJson(u)));
      else io.out(`created user ${u.name} (${u.arn})`);
    }));

  controlOptions(users.command('list').description('list users'))
    .action((opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const list = await store.listUsers();
      if (opts.json) io.out(JSON.stringify(list.map(userJson)));
      else if (list.length === 0) io.out('no users');
      else printTable(io, ['NAME', 'ID', 'CREATED', 'TAGS'], list.map((u) => [u.name, u.id, day(u.createdAt), describeTags(u.tags)]));
    }));

  controlOptions(users.command('show').description('show a user: its access keys (never their secrets), attached policies and tags'))
    .argument('<name>', 'user name')
    .action((name: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const u = await store.getUser(name);
      if (!u) throw new ControlError('CONTROL_USER_NOT_FOUND', `no user named \`${name}\``, 'list users with `gatehouse iam users list`');
      const keys = await store.listAccessKeys(u.name);
      const policies = await store.attachedIamPolicies({ kind: 'user', name: u.name });
      if (opts.json) io.out(JSON.stringify({ ...userJson(u), accessKeys: keys.map(accessKeyJson), attachedPolicies: policies }));
      else {
        io.out(`user ${u.name}`);
        io.out(`  arn:      ${u.arn}`);
        io.out(`  id:       ${u.id}`);
        io.out(`  created:  ${day(u.createdAt)}`);
        io.out(`  keys:     ${keys.length ? keys.map((k) => `${k.accessKeyId} (${k.status})`).join(', ') : '(none)'}`);
        io.out(`  policies: ${policies.length ? policies.join(', ') : '(none)'}`);
        io.out(`  tags:     ${describeTags(u.tags)}`);
      }
    }));

  controlOptions(users.command('delete').description('delete a user (delete its access keys and detach its policies first)'))
    .argument('<name>', 'user name')
    .action((name: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      await store.deleteUser(name);
      if (opts.json) io.out(JSON.stringify({ deleted: name }));
      else io.out(`deleted user ${name}`);
    }));
}

function registerAccessKeys(iam: Command, io: Io, setExit: SetExit): void {
  const keys = iam.command('access-keys').description('access keys of users (at most 2 per user)');

  controlOptions(keys.command('create').description('create an access key; its secret is printed this once, on stdout'))
    .requiredOption('--user <name>', 'the user the key belongs to')
    .addHelpText('after', `
The secret access key is shown only now: Gatehouse stores it encrypted and never
displays it again. Put it in the client's credentials file, for example:
  [alice]
  aws_access_key_id = AKIA...
  aws_secret_access_key = ...`)
    .action((opts: ControlOptions & { user: string }) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const { key, secretAccessKey } = await store.createAccessKey(opts.user);
      io.err('warning: this is the only time the secret access key is shown; store it now (it is encrypted at rest and cannot be displayed again)');
      if (opts.json) io.out(JSON.stringify({ ...accessKeyJson(key), secretAccessKey }));
      else {
        io.out(`aws_access_key_id = ${key.accessKeyId}`);
        io.out(`aws_secret_access_key = ${secretAccessKey}`);
      }
    }));

  controlOptions(keys.command('list').description('list a user\'s access keys (ids, status, last use; never secrets)'))
    .requiredOption('--user <name>', 'user name')
    .action((opts: ControlOptions & { user: string }) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const list = await store.listAccessKeys(opts.user);
      if (opts.json) io.out(JSON.stringify(list.map(accessKeyJson)));
      else if (list.length === 0) io.out(`user ${opts.user} has no access keys`);
      else printTable(io, ['ACCESS KEY ID', 'STATUS', 'CREATED', 'LAST USED'], list.map((k) => [k.accessKeyId, k.status, day(k.createdAt), k.lastUsedAt ? day(k.lastUsedAt) : '-']));
    }));

  controlOptions(keys.command('update').description('activate or deactivate an access key'))
    .argument('<access-key-id>', 'the key id (AKIA…)')
    .requiredOption('--status <status>', 'Active or Inactive')
    .action((id: string, opts: ControlOptions & { status: string }) => {
      if (opts.status !== 'Active' && opts.status !== 'Inactive') throw new CliError('USAGE', `--status \`${opts.status}\` is not Active or Inactive`);
      const status: AccessKeyStatus = opts.status;
      return withControlBackend(opts, io, setExit, async ({ iam: store }) => {
        await store.updateAccessKey(id, status);
        if (opts.json) io.out(JSON.stringify({ accessKeyId: id, status }));
        else io.out(`access key ${id} is now ${status}`);
      });
    });

  controlOptions(keys.command('delete').description('delete an access key (requests signed with it are refused at once)'))
    .argument('<access-key-id>', 'the key id (AKIA…)')
    .action((id: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      await store.deleteAccessKey(id);
      if (opts.json) io.out(JSON.stringify({ deleted: id }));
      else io.out(`deleted access key ${id}`);
    }));
}

function registerRoles(iam: Command, io: Io, setExit: SetExit): void {
  const roles = iam.command('roles').description('roles: assumed for temporary credentials (AssumeRole, role aliases of the credentials provider)');

  controlOptions(roles.command('create').description('create a role with its trust policy'))
    .argument('<name>', 'role name: 1-64 characters of A-Z a-z 0-9 _ + = , . @ - (unique regardless of case)')
    .requiredOption('--trust-policy <file>', 'the trust policy (JSON): who may assume the role')
    .option('--max-session-duration <seconds>', 'longest session, 3600-43200 (default 3600)')
    .option('--description <text>', 'description, up to 1000 characters')
    .option('--tag <key=value>', 'a tag (repeatable)', collect, [])
    .addHelpText('after', `
Example trust policy (the user alice may assume the role):
  {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"}}]}`)
    .action(async (name: string, opts: TagOptions & { trustPolicy: string; maxSessionDuration?: string; description?: string }) => {
      const doc = await readText(opts.trustPolicy);
      const maxSession = opts.maxSessionDuration !== undefined ? parseSeconds(opts.maxSessionDuration, '--max-session-duration') : undefined;
      await withControlBackend(opts, io, setExit, async ({ iam: store }) => {
        const r = await store.createRole(name, doc, {
          tags: parseTags(opts.tag),
          ...(maxSession !== undefined ? { maxSessionDurationSeconds: maxSession } : {}),
          ...(opts.description !== undefined ? { description: opts.description } : {}),
        });
        if (opts.json) io.out(JSON.stringify(roleJson(r)));
        else io.out(`created role ${r.name} (${r.arn})`);
      });
    });

  controlOptions(roles.command('list').description('list roles'))
    .action((opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const list = await store.listRoles();
      if (opts.json) io.out(JSON.stringify(list.map(roleJson)));
      else if (list.length === 0) io.out('no roles');
      else printTable(io, ['NAME', 'MAX SESSION', 'CREATED', 'DESCRIPTION'], list.map((r) => [r.name, `${r.maxSessionDurationSeconds}s`, day(r.createdAt), r.description]));
    }));

  controlOptions(roles.command('show').description('show a role: trust policy, attached policies, tags'))
    .argument('<name>', 'role name')
    .action((name: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const r = await store.getRole(name);
      if (!r) throw new ControlError('CONTROL_ROLE_NOT_FOUND', `no role named \`${name}\``, 'list roles with `gatehouse iam roles list`');
      const policies = await store.attachedIamPolicies({ kind: 'role', name: r.name });
      if (opts.json) io.out(JSON.stringify({ ...roleJson(r), attachedPolicies: policies }));
      else {
        io.out(`role ${r.name}`);
        io.out(`  arn:         ${r.arn}`);
        io.out(`  id:          ${r.id}`);
        io.out(`  max session: ${r.maxSessionDurationSeconds} s`);
        if (r.description) io.out(`  description: ${r.description}`);
        io.out(`  policies:    ${policies.length ? policies.join(', ') : '(none)'}`);
        io.out(`  tags:        ${describeTags(r.tags)}`);
        io.out('  trust policy:');
        io.out(r.assumeRolePolicyDocument.replace(/\n$/, ''));
      }
    }));

  controlOptions(roles.command('update-trust-policy').description('replace a role\'s trust policy'))
    .argument('<name>', 'role name')
    .requiredOption('--trust-policy <file>', 'the new trust policy (JSON)')
    .action(async (name: string, opts: ControlOptions & { trustPolicy: string }) => {
      const doc = await readText(opts.trustPolicy);
      await withControlBackend(opts, io, setExit, async ({ iam: store }) => {
        await store.updateAssumeRolePolicy(name, doc);
        if (opts.json) io.out(JSON.stringify({ roleName: name, updated: true }));
        else io.out(`updated the trust policy of role ${name}`);
      });
    });

  controlOptions(roles.command('delete').description('delete a role (detach its policies and delete its role aliases first); its sessions end'))
    .argument('<name>', 'role name')
    .action((name: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      await store.deleteRole(name);
      if (opts.json) io.out(JSON.stringify({ deleted: name }));
      else io.out(`deleted role ${name}`);
    }));
}

interface HolderOptions extends ControlOptions { user?: string; role?: string }

function holderOf(opts: HolderOptions): PolicyHolder {
  if ((opts.user === undefined) === (opts.role === undefined)) throw new CliError('USAGE', 'give exactly one of --user and --role');
  return opts.user !== undefined ? { kind: 'user', name: opts.user } : { kind: 'role', name: opts.role! };
}

function registerPolicies(iam: Command, io: Io, setExit: SetExit): void {
  const policies = iam.command('policies').description('managed IAM policies: identity policies attached to users and roles');

  controlOptions(policies.command('create').description('create a managed policy from a JSON document (version v1, the default)'))
    .argument('<name>', 'policy name: 1-128 characters of A-Z a-z 0-9 _ + = , . @ -')
    .requiredOption('--document <file>', 'the IAM policy document (JSON)')
    .option('--description <text>', 'description, up to 1000 characters')
    .option('--tag <key=value>', 'a tag (repeatable)', collect, [])
    .addHelpText('after', `
Example document (list and describe the things named sensor-*):
  {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iot:ListThings", "iot:DescribeThing"],
    "Resource": "arn:aws:iot:us-east-1:000000000000:thing/sensor-*"}]}`)
    .action(async (name: string, opts: TagOptions & { document: string; description?: string }) => {
      const doc = await readText(opts.document);
      await withControlBackend(opts, io, setExit, async ({ iam: store }) => {
        const p = await store.createIamPolicy(name, doc, { tags: parseTags(opts.tag), ...(opts.description !== undefined ? { description: opts.description } : {}) });
        if (opts.json) io.out(JSON.stringify(policyJson(p)));
        else io.out(`created IAM policy ${p.name} (${p.arn}, version v1)`);
      });
    });

  controlOptions(policies.command('list').description('list managed policies'))
    .action((opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const list = await store.listIamPolicies();
      if (opts.json) io.out(JSON.stringify(list.map(policyJson)));
      else if (list.length === 0) io.out('no IAM policies');
      else printTable(io, ['NAME', 'DEFAULT', 'ATTACHED', 'UPDATED'], list.map((p) => [p.name, p.defaultVersionId, String(p.attachmentCount), day(p.updatedAt)]));
    }));

  controlOptions(policies.command('show').description('show a policy: versions, users and roles it is attached to, and a version\'s document'))
    .argument('<name>', 'policy name')
    .option('--version <id>', 'the version to show (default: the default version)')
    .action((name: string, opts: ControlOptions & { version?: string }) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      const p = await store.getIamPolicy(name);
      if (!p) throw new ControlError('CONTROL_POLICY_NOT_FOUND', `no IAM policy named \`${name}\``, 'list IAM policies with `gatehouse iam policies list`');
      const versions = await store.listIamPolicyVersions(p.name);
      const wanted = opts.version ?? p.defaultVersionId;
      const v = versions.find((x) => x.versionId === wanted);
      if (!v) throw new ControlError('CONTROL_POLICY_VERSION_NOT_FOUND', `IAM policy \`${p.name}\` has no version \`${wanted}\``, `its versions are ${versions.map((x) => x.versionId).join(', ')}`);
      const holders = await store.iamPolicyHolders(p.name);
      if (opts.json) {
        const list = versions.map((x) => ({ versionId: x.versionId, isDefaultVersion: x.isDefaultVersion, createDate: x.createdAt.toISOString() }));
        io.out(JSON.stringify({ ...policyJson(p), versions: list, attachedTo: holders, version: versionJson(v) }));
      } else {
        io.out(`IAM policy ${p.name}`);
        io.out(`  arn:      ${p.arn}`);
        io.out(`  versions: ${versions.map((x) => (x.isDefaultVersion ? `${x.versionId} (default)` : x.versionId)).join(', ')}`);
        io.out(`  attached: ${holders.length ? holders.map((h) => `${h.kind} ${h.name}`).join(', ') : '(none)'}`);
        if (p.description) io.out(`  description: ${p.description}`);
        io.out(`  tags:     ${describeTags(p.tags)}`);
        io.out(`  document of ${v.versionId}${v.isDefaultVersion ? ' (default)' : ''}:`);
        io.out(v.document.replace(/\n$/, ''));
      }
    }));

  controlOptions(policies.command('delete').description('delete a policy (detach it everywhere and delete its other versions first)'))
    .argument('<name>', 'policy name')
    .action((name: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      await store.deleteIamPolicy(name);
      if (opts.json) io.out(JSON.stringify({ deleted: name }));
      else io.out(`deleted IAM policy ${name}`);
    }));

  controlOptions(policies.command('create-version').description('add a version to a policy (at most 5 versions)'))
    .argument('<name>', 'policy name')
    .requiredOption('--document <file>', 'the IAM policy document (JSON)')
    .option('--set-default', 'make the new version the one in force')
    .action(async (name: string, opts: ControlOptions & { document: string; setDefault?: boolean }) => {
      const doc = await readText(opts.document);
      await withControlBackend(opts, io, setExit, async ({ iam: store }) => {
        const v = await store.createIamPolicyVersion(name, doc, opts.setDefault === true);
        if (opts.json) io.out(JSON.stringify(versionJson(v)));
        else io.out(`created version ${v.versionId} of IAM policy ${name}${v.isDefaultVersion ? ' (now the default)' : ' (not the default; `set-default-version` puts it in force)'}`);
      });
    });

  controlOptions(policies.command('set-default-version').description('put a version of a policy in force'))
    .argument('<name>', 'policy name')
    .argument('<version>', 'version id (v1, v2, …)')
    .action((name: string, version: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      await store.setDefaultIamPolicyVersion(name, version);
      if (opts.json) io.out(JSON.stringify({ policyName: name, defaultVersionId: version }));
      else io.out(`version ${version} of IAM policy ${name} is now the default`);
    }));

  controlOptions(policies.command('delete-version').description('delete a version that is not the default'))
    .argument('<name>', 'policy name')
    .argument('<version>', 'version id (v1, v2, …)')
    .action((name: string, version: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ iam: store }) => {
      await store.deleteIamPolicyVersion(name, version);
      if (opts.json) io.out(JSON.stringify({ policyName: name, deletedVersionId: version }));
      else io.out(`deleted version ${version} of IAM policy ${name}`);
    }));

  for (const verb of ['attach', 'detach'] as const) {
    controlOptions(policies.command(verb).description(verb === 'attach' ? 'attach a policy to a user or a role (at most 10 each)' : 'detach a policy from a user or a role'))
      .argument('<name>', 'policy name')
      .option('--user <name>', 'the user')
      .option('--role <name>', 'the role')
      .action((name: string, opts: HolderOptions) => {
        const holder = holderOf(opts);
        return withControlBackend(opts, io, setExit, async ({ iam: store }) => {
          let changed = true;
          if (verb === 'attach') ({ changed } = await store.attachIamPolicy(name, holder));
          else await store.detachIamPolicy(name, holder);
          if (opts.json) io.out(JSON.stringify({ policyName: name, [holder.kind]: holder.name, [verb === 'attach' ? 'attached' : 'detached']: true, changed }));
          else io.out(verb === 'attach'
            ? (changed ? `attached IAM policy ${name} to ${holder.kind} ${holder.name}` : `IAM policy ${name} was already attached to ${holder.kind} ${holder.name}`)
            : `detached IAM policy ${name} from ${holder.kind} ${holder.name}`);
        });
      });
  }
}
