/**
 * The data directory: where the gateway CA, the broker's server certificate and the
 * registry live. Layout and modes are documented in docs/ca.md.
 */
import { constants } from 'node:fs';
import { access, chmod, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { GatehouseError } from './core/errors.js';

export const DATA_DIR_ERROR_CODES = [
  'DATA_DIR_CREATE_FAILED',
  'DATA_DIR_NOT_A_DIRECTORY',
  'DATA_DIR_NOT_OWNED',
  'DATA_DIR_NOT_WRITABLE',
] as const;

export type DataDirErrorCode = (typeof DATA_DIR_ERROR_CODES)[number];

export class DataDirError extends GatehouseError<DataDirErrorCode> {
  readonly path: string;

  constructor(code: DataDirErrorCode, path: string, message: string, fix?: string) {
    super(code, message, fix);
    this.name = 'DataDirError';
    this.path = path;
  }
}

/** Mode of the data directory and of every directory Gatehouse creates inside it. */
export const DATA_DIR_MODE = 0o700;

export interface DefaultDataDirOptions {
  /** Effective user id; defaults to `process.getuid()`. */
  readonly uid?: number;
  /** Home directory used when `HOME` is unset; defaults to `os.homedir()`. */
  readonly homedir?: string;
}

/**
 * The documented default data directory, in order of precedence:
 * 1. `GATEHOUSE_DATA_DIR` (resolved against the working directory when relative);
 * 2. `/var/lib/gatehouse` when running as root (uid 0);
 * 3. `$XDG_DATA_HOME/gatehouse` when `XDG_DATA_HOME` is an absolute path;
 * 4. `$HOME/.local/share/gatehouse`.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, opts: DefaultDataDirOptions = {}): string {
  const explicit = env['GATEHOUSE_DATA_DIR'];
  if (explicit !== undefined && explicit.trim() !== '') return resolve(explicit);
  const uid = opts.uid ?? (typeof process.getuid === 'function' ? process.getuid() : -1);
  if (uid === 0) return '/var/lib/gatehouse';
  const xdg = env['XDG_DATA_HOME'];
  // The XDG base-directory spec says relative values are invalid and must be ignored.
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'gatehouse');
  const home = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : (opts.homedir ?? homedir());
  return join(home, '.local', 'share', 'gatehouse');
}

/**
 * Creates `dir` (and missing parents) with mode 0700, or checks an existing one:
 * it must be a directory owned by the current user; group/other permission bits are
 * removed (chmod 0700). Throws {@link DataDirError} otherwise.
 */
export async function ensureDataDir(dir: string): Promise<void> {
  const path = resolve(dir);
  try {
    await mkdir(path, { recursive: true, mode: DATA_DIR_MODE });
  } catch (err) {
    const code = errCode(err);
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new DataDirError('DATA_DIR_NOT_A_DIRECTORY', path, `data directory ${path} exists but is not a directory (or a parent is a file)`,
        'point the data directory (--data-dir, gatehouse.dataDir or GATEHOUSE_DATA_DIR) at a directory, or remove the file');
    }
    throw new DataDirError('DATA_DIR_CREATE_FAILED', path, `cannot create data directory ${path}: ${code ?? String(err)}`,
      'create it yourself (mode 0700, owned by the user running gatehouse) or choose another data directory');
  }
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new DataDirError('DATA_DIR_CREATE_FAILED', path, `cannot inspect data directory ${path}: ${errCode(err) ?? String(err)}`,
      'check the permissions of the directory and its parents');
  }
  if (!st.isDirectory()) {
    throw new DataDirError('DATA_DIR_NOT_A_DIRECTORY', path, `data directory ${path} is not a directory`,
      'point the data directory at a directory, or remove the file');
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && st.uid !== uid) {
    throw new DataDirError('DATA_DIR_NOT_OWNED', path,
      `data directory ${path} is owned by uid ${st.uid}, but gatehouse runs as uid ${uid}; refusing to keep keys in it`,
      `run gatehouse as the owner of ${path}, or hand it over with \`chown -R ${uid} ${path}\`, or choose another data directory`);
  }
  if ((st.mode & 0o777) !== DATA_DIR_MODE) {
    try {
      await chmod(path, DATA_DIR_MODE);
    } catch (err) {
      throw new DataDirError('DATA_DIR_NOT_WRITABLE', path, `cannot set mode 0700 on data directory ${path}: ${errCode(err) ?? String(err)}`,
        `run \`chmod 700 ${path}\` as its owner`);
    }
  }
  try {
    await access(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new DataDirError('DATA_DIR_NOT_WRITABLE', path, `data directory ${path} is not writable: ${errCode(err) ?? String(err)}`,
      'check that the file system is not read-only and that the directory is mode 0700 and owned by you');
  }
}

function errCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') return (err as { code: string }).code;
  return undefined;
}
