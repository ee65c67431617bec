import assert from 'node:assert/strict';
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataDirError, defaultDataDir, ensureDataDir } from '../../src/data-dir.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

test('defaultDataDir: GATEHOUSE_DATA_DIR wins, resolved to an absolute path', () => {
  assert.equal(defaultDataDir({ GATEHOUSE_DATA_DIR: '/srv/gh' }, { uid: 0 }), '/srv/gh');
  assert.equal(defaultDataDir({ GATEHOUSE_DATA_DIR: 'rel/dir' }, { uid: 1000 }), join(process.cwd(), 'rel/dir'));
});

test('defaultDataDir: /var/lib/gatehouse for root, XDG or ~/.local/share otherwise', () => {
  assert.equal(defaultDataDir({ HOME: '/root', XDG_DATA_HOME: '/x' }, { uid: 0 }), '/var/lib/gatehouse');
  assert.equal(defaultDataDir({ HOME: '/home/a', XDG_DATA_HOME: '/home/a/data' }, { uid: 1000 }), '/home/a/data/gatehouse');
  assert.equal(defaultDataDir({ HOME: '/home/a', XDG_DATA_HOME: 'relative' }, { uid: 1000 }), '/home/a/.local/share/gatehouse');
  assert.equal(defaultDataDir({ HOME: '/home/a' }, { uid: 1000 }), '/home/a/.local/share/gatehouse');
  assert.equal(defaultDataDir({}, { uid: 1000, homedir: '/home/b' }), '/home/b/.local/share/gatehouse');
  assert.equal(defaultDataDir({ GATEHOUSE_DATA_DIR: '  ' , HOME: '/h' }, { uid: 1000 }), '/h/.local/share/gatehouse');
});

test('ensureDataDir creates missing parents with mode 0700', async (t) => {
  const base = await makeTempDir(t);
  const dir = join(base, 'a', 'b', 'data');
  await ensureDataDir(dir);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(base, 'a'))).mode & 0o777, 0o700);
  await ensureDataDir(dir); // idempotent
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
});

test('ensureDataDir tightens an existing directory with a wider mode to 0700', async (t) => {
  const base = await makeTempDir(t);
  const dir = join(base, 'wide');
  await mkdir(dir);
  await chmod(dir, 0o755);
  await ensureDataDir(dir);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
});

test('ensureDataDir refuses a file', async (t) => {
  const base = await makeTempDir(t);
  const file = join(base, 'file');
  await writeFile(file, 'x');
  await assert.rejects(ensureDataDir(file), (e: unknown) => e instanceof DataDirError && e.code === 'DATA_DIR_NOT_A_DIRECTORY' && typeof e.fix === 'string');
  await assert.rejects(ensureDataDir(join(file, 'sub')), (e: unknown) => e instanceof DataDirError && e.code === 'DATA_DIR_NOT_A_DIRECTORY');
});

test('ensureDataDir refuses a directory owned by another user', async (t) => {
  if (isRoot) {
    const base = await makeTempDir(t);
    const dir = join(base, 'foreign');
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, 65534, 65534);
    await assert.rejects(ensureDataDir(dir), (e: unknown) => e instanceof DataDirError && e.code === 'DATA_DIR_NOT_OWNED' && /uid 65534/.test(e.message));
    assert.equal((await stat(dir)).uid, 65534, 'left untouched');
  } else {
    // Not root: a directory owned by root (e.g. /) serves as the foreign directory.
    await assert.rejects(ensureDataDir('/'), (e: unknown) => e instanceof DataDirError && e.code === 'DATA_DIR_NOT_OWNED');
  }
});
