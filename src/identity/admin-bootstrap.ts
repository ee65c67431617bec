/**
 * The control store of a data directory, and the administrator created at first start.
 *
 * On the first start (the registry has never had an administrator and has no user), the
 * gateway creates user `admin`, the managed policy `AdministratorAccess` (allow every
 * action on every resource) attached to it, and one access key, and writes the key to
 * `admin-credentials` in the data directory (mode 0600, AWS shared-credentials format,
 * profile `gatehouse-admin`). All of it happens in one registry transaction with the
 * file written before the commit: either the user exists and its key is in the file, or
 * neither. Later starts change nothing, even after the administrator was deleted; the
 * local CLI (`gatehouse iam …`) can always create users.
 *
 * The secret is written to the file only: never logged, never returned to be printed.
 * https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html
 */
import { dataLayout } from '../ca/store.js';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { IotDeployment } from '../core/policy/iot/context.js';
import type { LocalControlStore } from './control.js';
import { controlKeyPath } from './control-key.js';
import { ControlError } from './errors.js';
import type { PgRegistry } from './pg-registry.js';
import type { SqliteControlStore } from './sqlite-control.js';
import type { SqliteRegistry } from './sqlite-registry.js';

export const ADMIN_USER = 'admin';
export const ADMIN_POLICY = 'AdministratorAccess';
export const ADMIN_PROFILE = 'gatehouse-admin';
export const ADMIN_CREDENTIALS_FILE = 'admin-credentials';
export const ADMIN_POLICY_DOCUMENT = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }, null, 2);

export function adminCredentialsPath(dataDir: string): string {
  return join(dataDir, ADMIN_CREDENTIALS_FILE);
}

/** The control store of an open registry of `dataDir` (key file `control.key` in it). */
export function openControlStore(registry: SqliteRegistry, dataDir: string, deployment: IotDeployment): SqliteControlStore;
/**
 * With the shared PostgreSQL registry: its control store, whose secrets are encrypted
 * with `keyFile` (every node needs the same one), by default `control.key` in `dataDir`.
 */
export function openControlStore(registry: SqliteRegistry | PgRegistry, dataDir: string, deployment: IotDeployment, keyFile?: string): LocalControlStore;
export function openControlStore(registry: SqliteRegistry | PgRegistry, dataDir: string, deployment: IotDeployment, keyFile?: string): LocalControlStore {
  return registry.control({ deployment, keyFile: keyFile ?? controlKeyPath(dataDir) });
}

export type AdministratorBootstrap =
  | { readonly created: false }
  | {
    readonly created: true;
    readonly userName: string;
    readonly accessKeyId: string;
    /** Path of the credentials file (0600). */
    readonly file: string;
    /** The lines to print once: where the credentials are and how to use them (no secret). */
    readonly instructions: readonly string[];
  };

/**
 * Creates the first-start administrator if this registry never had one and has no user.
 * `endpoint` is the management API's URL for the instructions (`https://HOST:PORT` when
 * not known).
 */
export async function ensureAdministrator(dataDir: string, store: LocalControlStore, deployment: IotDeployment,
  options: { readonly endpoint?: string } = {}): Promise<AdministratorBootstrap> {
  const file = adminCredentialsPath(dataDir);
  // One registry transaction (synchronous on SQLite: a throw becomes a rejection here).
  const result = await store.createAdministrator({
    userName: ADMIN_USER,
    policyName: ADMIN_POLICY,
    policyDocument: ADMIN_POLICY_DOCUMENT,
    persist: ({ accessKeyId, secretAccessKey }) => writePrivateFile(file,
      `[${ADMIN_PROFILE}]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secretAccessKey}\n`),
  });
  if (!result.created) return { created: false };
  const endpoint = options.endpoint ?? 'https://HOST:PORT';
  return {
    created: true,
    userName: result.user.name,
    accessKeyId: result.accessKeyId,
    file,
    instructions: [
      `administrator ${result.user.name} created with access key ${result.accessKeyId}; its credentials are in ${file} (mode 0600), shown nowhere else`,
      `use them with: AWS_SHARED_CREDENTIALS_FILE=${file} AWS_PROFILE=${ADMIN_PROFILE} aws --endpoint-url ${endpoint} --ca-bundle ${dataLayout(dataDir).caChainFile} --region ${deployment.region} iot list-things`,
      'create named users with least privilege (`gatehouse iam users create`), then delete this key or move the file somewhere safe',
    ],
  };
}

/** Writes `content` to `file` with mode 0600 through a temporary file and a rename. */
function writePrivateFile(file: string, content: string): void {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    writeSync(fd, content);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Never created, or already renamed.
    }
    throw new ControlError('CONTROL_CREDENTIALS_FILE_FAILED', `cannot write the administrator's credentials to \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      'check that the data directory is writable by the user running gatehouse; nothing was created, the next start tries again');
  }
}
