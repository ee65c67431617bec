/** The connectivity information store: validation, persistence, damaged files. */
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CaError } from '../../src/ca/errors.js';
import { ConnectivityInfoStore } from '../../src/ca/connectivity.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

const T = new Date('2026-06-01T12:00:00Z');

test('updates persist in <dataDir>/server/connectivity-info.json (0600) and are read back; versions count per thing', async (t) => {
  const dir = await makeTempDir(t);
  const s = await ConnectivityInfoStore.open(dir);
  assert.deepEqual(s.hostAddresses(), []);
  assert.equal((await s.update('core-b', [{ id: 'a', hostAddress: 'b.example', portNumber: 8883, metadata: '' }], T)).version, 1);
  await s.update('core-a', [{ id: 'a', hostAddress: '10.0.0.1', portNumber: 8883, metadata: 'm' }, { id: 'b', hostAddress: 'b.example', portNumber: 1, metadata: '' }], T);
  assert.equal((await s.update('core-b', [{ id: 'c', hostAddress: 'c.example', portNumber: 8883, metadata: '' }], T)).version, 2);
  // Thing-name order, duplicates removed.
  assert.deepEqual(s.hostAddresses(), ['10.0.0.1', 'b.example', 'c.example']);
  const file = join(dir, 'server', 'connectivity-info.json');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const again = await ConnectivityInfoStore.open(dir);
  assert.deepEqual(again.get('core-a'), s.get('core-a'));
  assert.equal(again.get('core-b')?.version, 2);
  assert.equal(again.get('core-b')?.updatedAt.getTime(), T.getTime());
});

test('an address that cannot be a certificate name is refused and nothing is written', async (t) => {
  const dir = await makeTempDir(t);
  const s = await ConnectivityInfoStore.open(dir);
  await assert.rejects(s.update('core', [{ id: 'a', hostAddress: 'gw.local:8883', portNumber: 8883, metadata: '' }], T), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_HAS_PORT');
  await assert.rejects(s.update('core', [{ id: 'a', hostAddress: 'a..b', portNumber: 8883, metadata: '' }], T), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_INVALID');
  await assert.rejects(s.update('core', [{ id: 'a', hostAddress: 'ok.example', portNumber: 70000, metadata: '' }], T), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_INVALID');
  assert.equal(s.get('core'), undefined);
  await assert.rejects(readFile(join(dir, 'server', 'connectivity-info.json')), { code: 'ENOENT' });
});

test('a damaged file is CA_STORE_CORRUPT at open, never silently emptied', async (t) => {
  const dir = await makeTempDir(t);
  await mkdir(join(dir, 'server'), { recursive: true });
  const file = join(dir, 'server', 'connectivity-info.json');
  for (const text of ['{not json', '{"format": 9, "things": {}}', '{"format": 1, "things": {"c": {"version": 1, "updatedAt": "x", "entries": []}}}',
    '{"format": 1, "things": {"c": {"version": 1, "updatedAt": "2026-01-01T00:00:00Z", "entries": [{"id": "a", "hostAddress": "1.2.3", "portNumber": 1, "metadata": ""}]}}}']) {
    await writeFile(file, text);
    await assert.rejects(ConnectivityInfoStore.open(dir), (e: unknown) => e instanceof CaError && e.code === 'CA_STORE_CORRUPT', text);
  }
});
