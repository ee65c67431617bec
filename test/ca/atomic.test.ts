import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  SimulatedCrash, isAtomicTempName, removeStaleTempFiles, setAtomicWriteFaultHook, writeFileAtomic, type AtomicWriteStage,
} from '../../src/ca/atomic.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

test('writeFileAtomic writes with exactly the given mode, whatever the umask', async (t) => {
  const dir = await makeTempDir(t);
  const old = process.umask(0o077);
  try {
    await writeFileAtomic(join(dir, 'pub'), 'public', 0o644);
  } finally {
    process.umask(old);
  }
  await writeFileAtomic(join(dir, 'key'), new Uint8Array([1, 2, 3]), 0o600);
  assert.equal((await stat(join(dir, 'pub'))).mode & 0o777, 0o644);
  assert.equal((await stat(join(dir, 'key'))).mode & 0o777, 0o600);
  assert.equal(await readFile(join(dir, 'pub'), 'utf8'), 'public');
  assert.deepEqual([...(await readFile(join(dir, 'key')))], [1, 2, 3]);
});

test('writeFileAtomic replaces existing content and leaves no temporary file', async (t) => {
  const dir = await makeTempDir(t);
  const p = join(dir, 'f');
  await writeFile(p, 'old');
  await writeFileAtomic(p, 'new', 0o600);
  assert.equal(await readFile(p, 'utf8'), 'new');
  assert.deepEqual(await readdir(dir), ['f']);
});

test('exclusive mode refuses to replace an existing file', async (t) => {
  const dir = await makeTempDir(t);
  const p = join(dir, 'f');
  await writeFileAtomic(p, 'first', 0o600, { exclusive: true });
  await assert.rejects(writeFileAtomic(p, 'second', 0o600, { exclusive: true }), (e: unknown) => (e as { code?: string }).code === 'EEXIST');
  assert.equal(await readFile(p, 'utf8'), 'first');
  assert.deepEqual(await readdir(dir), ['f']);
});

for (const stage of ['temp-written', 'temp-synced'] as AtomicWriteStage[]) {
  test(`an error at ${stage} keeps the old content and removes the temporary file`, async (t) => {
    const dir = await makeTempDir(t);
    const p = join(dir, 'f');
    await writeFile(p, 'old');
    setAtomicWriteFaultHook((s) => {
      if (s === stage) throw new Error('disk on fire');
    });
    try {
      await assert.rejects(writeFileAtomic(p, 'new', 0o600), /disk on fire/);
    } finally {
      setAtomicWriteFaultHook(undefined);
    }
    assert.equal(await readFile(p, 'utf8'), 'old');
    assert.deepEqual(await readdir(dir), ['f']);
  });
}

test('a simulated crash before the rename leaves the old file plus a stale temporary file, which is cleaned up later', async (t) => {
  const dir = await makeTempDir(t);
  const p = join(dir, 'f');
  await writeFile(p, 'old');
  setAtomicWriteFaultHook((s, path) => {
    if (s === 'temp-synced') throw new SimulatedCrash(s, path);
  });
  try {
    await assert.rejects(writeFileAtomic(p, 'new', 0o600), SimulatedCrash);
  } finally {
    setAtomicWriteFaultHook(undefined);
  }
  assert.equal(await readFile(p, 'utf8'), 'old');
  const names = await readdir(dir);
  assert.equal(names.length, 2);
  const temp = names.find(isAtomicTempName);
  assert.ok(temp, `temporary file left behind: ${names.join(', ')}`);
  assert.equal(await readFile(join(dir, temp), 'utf8'), 'new');
  assert.deepEqual(await removeStaleTempFiles(dir), [], 'fresh temporary files are kept (a writer may still be busy)');
  assert.deepEqual(await removeStaleTempFiles(dir, 0), [temp]);
  assert.deepEqual(await readdir(dir), ['f']);
});

test('a simulated crash after the rename leaves the new file', async (t) => {
  const dir = await makeTempDir(t);
  const p = join(dir, 'f');
  await writeFile(p, 'old');
  setAtomicWriteFaultHook((s, path) => {
    if (s === 'renamed') throw new SimulatedCrash(s, path);
  });
  try {
    await assert.rejects(writeFileAtomic(p, 'new', 0o600), SimulatedCrash);
  } finally {
    setAtomicWriteFaultHook(undefined);
  }
  assert.equal(await readFile(p, 'utf8'), 'new');
  assert.deepEqual(await readdir(dir), ['f']);
});
