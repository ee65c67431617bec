/**
 * Crash-safe file replacement: write a temporary file in the same directory, fsync it,
 * rename it over the target, fsync the directory. A reader (or a restart after a crash
 * or power loss at any instant) sees the complete old content or the complete new
 * content, never a mix. Leftover temporary files are recognisable by
 * {@link isAtomicTempName} and removed by {@link removeStaleTempFiles}.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Points at which the fault hook is called during {@link writeFileAtomic}. */
export type AtomicWriteStage = 'temp-written' | 'temp-synced' | 'renamed' | 'dir-synced';

/**
 * Thrown by a fault hook to simulate a crash: the writer stops at once and, unlike for
 * an ordinary error, does not remove its temporary file (a killed process would not).
 */
export class SimulatedCrash extends Error {
  constructor(stage: AtomicWriteStage, path: string) {
    super(`simulated crash at ${stage} while writing ${path}`);
    this.name = 'SimulatedCrash';
  }
}

export type AtomicWriteFaultHook = (stage: AtomicWriteStage, path: string) => void;

let faultHook: AtomicWriteFaultHook | undefined;

/**
 * Test support: installs a hook called at every stage of every atomic write in this
 * process (or removes it with `undefined`). A hook that throws aborts the write there.
 */
export function setAtomicWriteFaultHook(hook: AtomicWriteFaultHook | undefined): void {
  faultHook = hook;
}

const TEMP_PREFIX = '.';
const TEMP_SUFFIX = '.gatehouse-tmp';

export function isAtomicTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX);
}

function tempPathFor(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${basename(path)}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
}

export interface WriteFileAtomicOptions {
  /**
   * Publish only if `path` does not exist yet (hard link instead of rename). Throws an
   * error with `code === 'EEXIST'` if it does; the existing file is left untouched.
   * Used when two processes may create the same file (the managed CA) at once.
   */
  readonly exclusive?: boolean;
}

/**
 * Replaces `path` with `data` atomically and durably; the file gets exactly `mode`
 * (not reduced by the umask).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number, options: WriteFileAtomicOptions = {}): Promise<void> {
  const temp = tempPathFor(path);
  let published = false;
  try {
    const fh = await open(temp, 'wx', mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(data);
      faultHook?.('temp-written', path);
      await fh.sync();
      faultHook?.('temp-synced', path);
    } finally {
      await fh.close();
    }
    if (options.exclusive === true) {
      await link(temp, path);
      await unlink(temp);
    } else {
      await rename(temp, path);
    }
    published = true;
    faultHook?.('renamed', path);
    await syncDirectory(dirname(path));
    faultHook?.('dir-synced', path);
  } catch (err) {
    if (!published && !(err instanceof SimulatedCrash)) await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** fsync a directory so that a rename or link in it survives a power loss. */
export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some file systems do not support fsync on directories; nothing more can be done there.
    const code = (err as { code?: unknown }).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EPERM') throw err;
  } finally {
    await fh.close();
  }
}

/**
 * Removes temporary files left in `dir` by interrupted atomic writes. Returns their names.
 * Only files whose last change is at least `olderThanMs` ago (default 60 s) are removed,
 * so that a write in progress in another process is not disturbed.
 */
export async function removeStaleTempFiles(dir: string, olderThanMs = 60_000): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!isAtomicTempName(name)) continue;
    try {
      const st = await lstat(join(dir, name));
      if (Date.now() - st.mtimeMs < olderThanMs) continue;
      await unlink(join(dir, name));
      removed.push(name);
    } catch {
      // Another process may have finished or removed it; ignore.
    }
  }
  return removed;
}
