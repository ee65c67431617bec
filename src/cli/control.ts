import type { Command } from 'commander';
import type { AuditDecision, AuditRecord, TagTarget } from '../identity/control.js';
import { arnOfTagTarget, tagTargetOfArn } from '../identity/control-arns.js';
import { ControlError } from '../identity/errors.js';
import type { IotDeployment } from '../core/policy/iot/context.js';
import { printTable } from './certs.js';
import { controlOptions, describeTags, parseDate, parseSeconds, parseTags, roleAliasJson, withControl, withControlBackend, type ControlOptions } from './control-common.js';
import { CliError, type Io } from './output.js';
import { collect, parsePositive } from './things.js';

// ----------------------------------------------------------------------------------
// gatehouse role-aliases create|list|show|update|delete
// gatehouse tags add|remove|list
// gatehouse audit list|prune

type SetExit = (code: number) => void;

export function registerControl(program: Command, io: Io, setExit: SetExit): void {
  registerRoleAliases(program, io, setExit);
  registerTags(program, io, setExit);
  registerAudit(program, io, setExit);
}

function registerRoleAliases(program: Command, io: Io, setExit: SetExit): void {
  const aliases = program.command('role-aliases').description('role aliases: the roles devices get temporary credentials for (credentials provider)');

  controlOptions(aliases.command('create').description('create a role alias naming a role'))
    .argument('<alias>', 'alias: 1-128 characters of A-Z a-z 0-9 _ = , @ - (case-sensitive)')
    .requiredOption('--role-arn <arn>', 'the role (arn:aws:iam::ACCOUNT:role/NAME, as `gatehouse iam roles show` prints it)')
    .option('--credential-duration <seconds>', 'lifetime of the credentials, 900-43200 (default 3600)')
    .option('--tag <key=value>', 'a tag (repeatable)', collect, [])
    .action((alias: string, opts: ControlOptions & { roleArn: string; credentialDuration?: string; tag: string[] }) => {
      const duration = opts.credentialDuration !== undefined ? parseSeconds(opts.credentialDuration, '--credential-duration') : undefined;
      return withControlBackend(opts, io, setExit, async ({ store }) => {
        const a = await store.createRoleAlias(alias, opts.roleArn, { tags: parseTags(opts.tag), ...(duration !== undefined ? { credentialDurationSeconds: duration } : {}) });
        if (opts.json) io.out(JSON.stringify(roleAliasJson(a)));
        else io.out(`created role alias ${a.alias} (${a.arn}) for ${a.roleArn}`);
      });
    });

  controlOptions(aliases.command('list').description('list role aliases'))
    .action((opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ store }) => {
      const list = await store.listRoleAliases();
      if (opts.json) io.out(JSON.stringify(list.map(roleAliasJson)));
      else if (list.length === 0) io.out('no role aliases');
      else printTable(io, ['ALIAS', 'ROLE', 'DURATION'], list.map((a) => [a.alias, a.roleArn, `${a.credentialDurationSeconds}s`]));
    }));

  controlOptions(aliases.command('show').description('show a role alias'))
    .argument('<alias>', 'alias')
    .action((alias: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ store }) => {
      const a = await store.getRoleAlias(alias);
      if (!a) throw new ControlError('CONTROL_ROLE_ALIAS_NOT_FOUND', `no role alias \`${alias}\``, 'list role aliases with `gatehouse role-aliases list`');
      if (opts.json) io.out(JSON.stringify(roleAliasJson(a)));
      else {
        io.out(`role alias ${a.alias}`);
        io.out(`  arn:      ${a.arn}`);
        io.out(`  role:     ${a.roleArn}`);
        io.out(`  duration: ${a.credentialDurationSeconds} s`);
        io.out(`  tags:     ${describeTags(a.tags)}`);
      }
    }));

  controlOptions(aliases.command('update').description('point a role alias at another role, or change its credential duration'))
    .argument('<alias>', 'alias')
    .option('--role-arn <arn>', 'the new role')
    .option('--credential-duration <seconds>', 'the new lifetime, 900-43200')
    .action((alias: string, opts: ControlOptions & { roleArn?: string; credentialDuration?: string }) => {
      if (opts.roleArn === undefined && opts.credentialDuration === undefined) throw new CliError('USAGE', 'nothing to update: give --role-arn and/or --credential-duration');
      const duration = opts.credentialDuration !== undefined ? parseSeconds(opts.credentialDuration, '--credential-duration') : undefined;
      return withControlBackend(opts, io, setExit, async ({ store }) => {
        const a = await store.updateRoleAlias(alias, {
          ...(opts.roleArn !== undefined ? { roleArn: opts.roleArn } : {}),
          ...(duration !== undefined ? { credentialDurationSeconds: duration } : {}),
        });
        if (opts.json) io.out(JSON.stringify(roleAliasJson(a)));
        else io.out(`updated role alias ${a.alias}: ${a.roleArn}, ${a.credentialDurationSeconds} s`);
      });
    });

  controlOptions(aliases.command('delete').description('delete a role alias'))
    .argument('<alias>', 'alias')
    .action((alias: string, opts: ControlOptions) => withControlBackend(opts, io, setExit, async ({ store }) => {
      await store.deleteRoleAlias(alias);
      if (opts.json) io.out(JSON.stringify({ deleted: alias }));
      else io.out(`deleted role alias ${alias}`);
    }));
}

/**
 * The resource of `--resource-arn`: an ARN of this gateway, or the short form TYPE/NAME
 * (`thing/dev-1`, `user/alice`, `iampolicy/ReadThings`, `cert/ID`, …).
 */
function targetOf(text: string, deployment: IotDeployment): TagTarget {
  const kinds = ['thing', 'thinggroup', 'policy', 'cert', 'cacert', 'rolealias', 'user', 'role', 'iampolicy'] as const;
  if (!text.startsWith('arn:')) {
    const slash = text.indexOf('/');
    const kind = kinds.find((k) => k === text.slice(0, slash));
    const name = text.slice(slash + 1);
    if (slash > 0 && kind !== undefined && name !== '') return kind === 'cert' || kind === 'cacert' ? { kind, id: name } : { kind, name };
  } else {
    const t = tagTargetOfArn(text, deployment);
    if (t !== undefined) return t;
  }
  throw new CliError('USAGE', `--resource-arn \`${text}\` is not the ARN of a taggable resource of this gateway`,
    undefined, `write an ARN such as ${arnOfTagTarget({ kind: 'thing', name: 'dev-1' }, deployment)} or ${arnOfTagTarget({ kind: 'user', name: 'alice' }, deployment)} (partition, region and account of --config), or TYPE/NAME with TYPE one of ${kinds.join(', ')}`);
}

function registerTags(program: Command, io: Io, setExit: SetExit): void {
  const tags = program.command('tags').description('tags of things, thing groups, IoT policies, certificates, CA certificates, role aliases, users, roles and IAM policies');
  const resource = (cmd: Command): Command => controlOptions(cmd).requiredOption('--resource-arn <arn>', 'the resource: its ARN, or TYPE/NAME (thing/dev-1, user/alice, iampolicy/P, cert/ID, …)');

  resource(tags.command('add').description('add or replace tags (at most 50 per resource)'))
    .requiredOption('--tag <key=value>', 'a tag (repeatable)', collect, [])
    .action((opts: ControlOptions & { resourceArn: string; tag: string[] }) => {
      const values = parseTags(opts.tag);
      return withControlBackend(opts, io, setExit, async ({ store, deployment }) => {
        const target = targetOf(opts.resourceArn, deployment);
        await store.tagResource(target, values);
        const now = await store.tagsOf(target);
        if (opts.json) io.out(JSON.stringify({ resourceArn: arnOfTagTarget(target, deployment), tags: now }));
        else io.out(`tags of ${arnOfTagTarget(target, deployment)}: ${describeTags(now)}`);
      }, { needsDeployment: true });
    });

  resource(tags.command('remove').description('remove tags by key'))
    .requiredOption('--key <key>', 'a tag key (repeatable)', collect, [])
    .action((opts: ControlOptions & { resourceArn: string; key: string[] }) => withControlBackend(opts, io, setExit, async ({ store, deployment }) => {
      const target = targetOf(opts.resourceArn, deployment);
      await store.untagResource(target, opts.key);
      const now = await store.tagsOf(target);
      if (opts.json) io.out(JSON.stringify({ resourceArn: arnOfTagTarget(target, deployment), tags: now }));
      else io.out(`tags of ${arnOfTagTarget(target, deployment)}: ${describeTags(now)}`);
    }, { needsDeployment: true }));

  resource(tags.command('list').description('list the tags of a resource'))
    .action((opts: ControlOptions & { resourceArn: string }) => withControlBackend(opts, io, setExit, async ({ store, deployment }) => {
      const target = targetOf(opts.resourceArn, deployment);
      const now = await store.tagsOf(target);
      if (opts.json) io.out(JSON.stringify({ resourceArn: arnOfTagTarget(target, deployment), tags: now }));
      else if (Object.keys(now).length === 0) io.out(`${arnOfTagTarget(target, deployment)} has no tags`);
      else printTable(io, ['KEY', 'VALUE'], Object.entries(now));
    }, { needsDeployment: true }));
}

function parseDecision(text: string): AuditDecision {
  if (text !== 'allow' && text !== 'deny') throw new CliError('USAGE', `--decision \`${text}\` is not allow or deny`);
  return text;
}

function auditJson(r: AuditRecord): Record<string, unknown> {
  return { ...r, at: r.at.toISOString() };
}

function registerAudit(program: Command, io: Io, setExit: SetExit): void {
  const audit = program.command('audit').description('the audit log of management calls (allowed and denied)');

  controlOptions(audit.command('list').description('list audit records, newest first'))
    .option('--since <time>', 'only records at or after this ISO 8601 time')
    .option('--until <time>', 'only records at or before this ISO 8601 time')
    .option('--principal <arn>', 'only calls by this principal (its ARN, `gatehouse:api-token` or `anonymous`)')
    .option('--action <action>', 'only this action (iot:CreateThing, …)')
    .option('--decision <decision>', 'allow or deny')
    .option('--limit <n>', 'at most this many records (default 100, at most 1000)')
    .option('--before-id <id>', 'only records older than this id (the next page)')
    .addHelpText('after', `
Example: the denied calls of the last day
  gatehouse audit list --decision deny --since 2026-05-01T00:00:00Z`)
    .action((opts: ControlOptions & { since?: string; until?: string; principal?: string; action?: string; decision?: string; limit?: string; beforeId?: string }) => {
      const decision = opts.decision !== undefined ? parseDecision(opts.decision) : undefined;
      const limit = opts.limit !== undefined ? parsePositive(opts.limit, '--limit') : undefined;
      if (limit !== undefined && limit > 1000) throw new CliError('USAGE', `--limit \`${opts.limit}\` is above 1000`);
      const query = {
        ...(opts.since !== undefined ? { since: parseDate(opts.since, '--since') } : {}),
        ...(opts.until !== undefined ? { until: parseDate(opts.until, '--until') } : {}),
        ...(opts.principal !== undefined ? { principal: opts.principal } : {}),
        ...(opts.action !== undefined ? { action: opts.action } : {}),
        ...(decision !== undefined ? { decision } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(opts.beforeId !== undefined ? { beforeId: parsePositive(opts.beforeId, '--before-id') } : {}),
      };
      return withControlBackend(opts, io, setExit, async ({ store }) => {
        const records = await store.queryAudit(query);
        if (opts.json) io.out(JSON.stringify(records.map(auditJson)));
        else if (records.length === 0) io.out('no audit records');
        else {
          printTable(io, ['ID', 'TIME', 'DECISION', 'STATUS', 'PRINCIPAL', 'ACTION', 'RESOURCE', 'REASON'], records.map((r) => [
            String(r.id), r.at.toISOString(), r.decision, String(r.status), r.principal, r.action, r.resource,
            r.reason + (r.policy !== null ? ` (${r.policy}${r.statement !== null ? `/${r.statement}` : ''})` : ''),
          ]));
        }
      });
    });

  controlOptions(audit.command('prune').description('delete audit records older than a time'))
    .requiredOption('--before <time>', 'delete records before this ISO 8601 time')
    .action((opts: ControlOptions & { before: string }) => {
      const before = parseDate(opts.before, '--before');
      return withControl(opts, io, setExit, async ({ store }) => {
        const deleted = await store.pruneAudit(before);
        if (opts.json) io.out(JSON.stringify({ deleted, before: before.toISOString() }));
        else io.out(`deleted ${deleted} audit record${deleted === 1 ? '' : 's'} older than ${before.toISOString()}`);
      });
    });
}
