/**
 * Temporary directories for tests: created under os.tmpdir() with fs.mkdtemp and removed
 * when the test (or the process) ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh directory and the function that removes it (for fixtures that outlive one test). */
export async function tempDir(prefix = 'gatehouse-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A fresh directory, removed after test `t` finishes. */
export async function makeTempDir(t: Pick<TestContext, 'after'>, prefix = 'gatehouse-test-'): Promise<string> {
  const { path, cleanup } = await tempDir(prefix);
  t.after(cleanup);
  return path;
}

const processDirs: string[] = [];
let exitHookInstalled = false;

/** A fresh directory, removed when the process exits (for suite-level fixtures). */
export function makeProcessTempDir(prefix = 'gatehouse-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  processDirs.push(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const d of processDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** Runs `fn` with a fresh directory and removes it afterwards, whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>, prefix = 'gatehouse-test-'): Promise<T> {
  const { path, cleanup } = await tempDir(prefix);
  try {
    return await fn(path);
  } finally {
    await cleanup();
  }
}
