/**
 * Which commands run against a remote gateway, and how a command learns where it runs.
 *
 * The root options `--endpoint` and `--profile` (with the environment and the files,
 * target.ts) decide the target once, in a hook that runs before every command's
 * action. The target is handed to the action as its `target` option value, so each
 * command keeps one argument parser and one output format and only chooses its backend
 * (`withRegistry` in certs.ts: the local registry or `RemoteRegistry`; `withControlBackend` in
 * control-common.ts: the local control store or `RemoteControl` and `RemoteIam`).
 *
 * Every leaf command is listed in `REMOTE_SUPPORT` (a test checks it): `remote` runs
 * through the management API; `local` runs on this machine whatever the target (it needs
 * no gateway: `policy simulate`, `config validate`); `unsupported` is refused with
 * REMOTE_UNSUPPORTED naming the command and why. A command missing from the table is
 * refused too.
 */
import type { Command } from 'commander';
import { CliError, EXIT } from '../output.js';
import { resolveTarget, type Target, type TargetEnvironment } from './target.js';

export type RemoteSupport =
  | { readonly mode: 'remote' }
  | { readonly mode: 'local'; readonly why: string }
  | { readonly mode: 'unsupported'; readonly why: string };

const REMOTE: RemoteSupport = { mode: 'remote' };

/** Every leaf command by its path (`things create`). */
export const REMOTE_SUPPORT: Readonly<Record<string, RemoteSupport>> = {
  'config validate': { mode: 'local', why: 'checks a file on this machine' },
  'config push': { mode: 'unsupported', why: 'it writes the shared PostgreSQL registry, which the management API does not serve yet; run it with --config naming a node configuration' },
  'config show': { mode: 'unsupported', why: 'it reads the shared PostgreSQL registry, which the management API does not serve yet; run it with --config naming a node configuration' },
  'authorize': REMOTE,
  'policy simulate': { mode: 'local', why: 'evaluates documents on this machine; no gateway is needed' },
  'things create': REMOTE,
  'things register': REMOTE,
  'things list': REMOTE,
  'things show': REMOTE,
  'things delete': REMOTE,
  'things update': REMOTE,
  'thing-types create': REMOTE,
  'thing-types list': REMOTE,
  'thing-types show': REMOTE,
  'thing-types deprecate': REMOTE,
  'thing-types delete': REMOTE,
  'things attach': REMOTE,
  'things detach': REMOTE,
  'thing-groups create': REMOTE,
  'thing-groups list': REMOTE,
  'thing-groups show': REMOTE,
  'thing-groups delete': REMOTE,
  'thing-groups add-thing': REMOTE,
  'thing-groups remove-thing': REMOTE,
  'jobs create': REMOTE,
  'jobs list': REMOTE,
  'jobs show': REMOTE,
  'jobs cancel': REMOTE,
  'jobs delete': REMOTE,
  'jobs executions': REMOTE,
  'jobs update': REMOTE,
  'jobs cancel-execution': REMOTE,
  'jobs delete-execution': REMOTE,
  'policies create': REMOTE,
  'policies list': REMOTE,
  'policies show': REMOTE,
  'policies delete': REMOTE,
  'policies create-version': REMOTE,
  'policies set-default-version': REMOTE,
  'policies delete-version': REMOTE,
  'policies attach': REMOTE,
  'policies detach': REMOTE,
  'policies list-targets': REMOTE,
  'certs list': REMOTE,
  'certs show': REMOTE,
  'certs revoke': REMOTE,
  'certs deactivate': REMOTE,
  'certs activate': REMOTE,
  'ca show': REMOTE,
  'ca list': REMOTE,
  'ca trust': REMOTE,
  'ca untrust': REMOTE,
  'sync status': REMOTE,
  'sync': { mode: 'local', why: 'it writes the registry of the data directory on this machine (or the shared one its --config names); its --profile and --endpoint are AWS\'s, not a gateway\'s' },
  'start': { mode: 'unsupported', why: 'it starts a gateway on this machine; unset GATEHOUSE_ENDPOINT or drop --endpoint/--profile' },
  'api token': { mode: 'unsupported', why: 'the local API token is read from the gateway\'s data directory and is never sent over the network' },
  'iam users create': REMOTE,
  'iam users list': REMOTE,
  'iam users show': REMOTE,
  'iam users delete': REMOTE,
  'iam access-keys create': REMOTE,
  'iam access-keys list': REMOTE,
  'iam access-keys update': REMOTE,
  'iam access-keys delete': REMOTE,
  'iam roles create': REMOTE,
  'iam roles list': REMOTE,
  'iam roles show': REMOTE,
  'iam roles update-trust-policy': REMOTE,
  'iam roles delete': REMOTE,
  'iam policies create': REMOTE,
  'iam policies list': REMOTE,
  'iam policies show': REMOTE,
  'iam policies delete': REMOTE,
  'iam policies create-version': REMOTE,
  'iam policies set-default-version': REMOTE,
  'iam policies delete-version': REMOTE,
  'iam policies attach': REMOTE,
  'iam policies detach': REMOTE,
  'role-aliases create': REMOTE,
  'role-aliases list': REMOTE,
  'role-aliases show': REMOTE,
  'role-aliases update': REMOTE,
  'role-aliases delete': REMOTE,
  'tags add': REMOTE,
  'tags remove': REMOTE,
  'tags list': REMOTE,
  'audit list': REMOTE,
  'retained list': REMOTE,
  'retained show': REMOTE,
  'retained delete': REMOTE,
  'audit prune': { mode: 'unsupported', why: 'audit records are pruned by the gateway (gatehouse.management.auditRetentionDays) or on its machine; the management API offers no deletion of the log' },
};

/** `things create` for a command object (its names up to, not including, the root). */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null && c.parent !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The option value each action receives: where it runs. */
export interface TargetOption {
  target?: Target;
}

/**
 * Adds `--endpoint` and `--profile` to the root command and the hook that resolves the
 * target before each action and refuses what cannot run there.
 */
export function installRemote(program: Command, environment: () => TargetEnvironment): void {
  program
    .option('--endpoint <url>', 'run the command against the management API of a gateway at this URL (https://HOST:PORT); also GATEHOUSE_ENDPOINT or a profile')
    .option('--profile <name>', 'the profile of ~/.gatehouse/config and ~/.gatehouse/credentials to use; also GATEHOUSE_PROFILE');
  program.hook('preAction', (root, action) => {
    const flags = root.opts<{ endpoint?: string; profile?: string }>();
    const name = commandPath(action);
    const support = REMOTE_SUPPORT[name];
    // `local` commands never look at the remote settings: they work with none, or broken ones.
    if (support?.mode === 'local') return;
    const target = resolveTarget({ ...(flags.endpoint !== undefined ? { endpoint: flags.endpoint } : {}), ...(flags.profile !== undefined ? { profile: flags.profile } : {}) }, environment());
    if (target.kind === 'local') return;
    if (support === undefined || support.mode === 'unsupported') {
      throw new CliError('REMOTE_UNSUPPORTED', `\`gatehouse ${name}\` cannot run against a remote gateway (${target.endpoint.host}, from ${target.sources.endpoint}): ${support?.why ?? 'it has no remote implementation'}`, EXIT.USAGE,
        'run it without --endpoint/--profile (and without GATEHOUSE_ENDPOINT/GATEHOUSE_PROFILE) on the gateway\'s machine');
    }
    for (const [option, flag] of [['dataDir', '--data-dir'], ['config', '--config']] as const) {
      if (action.getOptionValue(option) !== undefined) {
        throw new CliError('USAGE', `${flag} and a remote endpoint (from ${target.sources.endpoint}) exclude each other`, EXIT.USAGE, `drop ${flag} to run against the gateway (it uses its own data directory and configuration), or the endpoint to run locally`);
      }
    }
    action.setOptionValue('target', target);
  });
}
