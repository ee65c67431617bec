import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ApiError } from '../../src/api/errors.js';
import { BearerCheck, apiTokenPath, ensureApiToken, readApiToken } from '../../src/api/token.js';
import { runCli } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

describe('API token file', () => {
  test('created once: 256 random bits (43 base64url characters), mode 0600, the same on every later call', async (t) => {
    const dir = await makeTempDir(t);
    const token = await ensureApiToken(dir);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.equal((await stat(apiTokenPath(dir))).mode & 0o777, 0o600);
    assert.equal(await ensureApiToken(dir), token);
    assert.equal(await readApiToken(dir), token);
    const other = await makeTempDir(t);
    assert.notEqual(await ensureApiToken(other), token);
  });

  test('processes creating it at the same time agree on one token', async (t) => {
    const dir = await makeTempDir(t);
    const tokens = await Promise.all(Array.from({ length: 8 }, () => ensureApiToken(dir)));
    assert.equal(new Set(tokens).size, 1);
    assert.equal((await readFile(apiTokenPath(dir), 'utf8')).trim(), tokens[0]);
  });

  test('a damaged token file is refused without echoing its content; loose permissions are tightened', async (t) => {
    const dir = await makeTempDir(t);
    await writeFile(apiTokenPath(dir), 'my-password\n', { mode: 0o600 });
    await assert.rejects(ensureApiToken(dir), (e: unknown) => e instanceof ApiError && e.code === 'API_TOKEN_INVALID' && !e.message.includes('my-password') && e.fix !== undefined);
    const good = 'A'.repeat(43);
    await writeFile(apiTokenPath(dir), good);
    await chmod(apiTokenPath(dir), 0o644);
    assert.equal(await ensureApiToken(dir), good);
    assert.equal((await stat(apiTokenPath(dir))).mode & 0o777, 0o600);
  });

  test('readApiToken without a token: API_TOKEN_MISSING with a fix', async (t) => {
    const dir = await makeTempDir(t);
    await assert.rejects(readApiToken(dir), (e: unknown) => e instanceof ApiError && e.code === 'API_TOKEN_MISSING' && /gatehouse start/.test(e.fix ?? ''));
  });
});

describe('BearerCheck', () => {
  const token = 'k'.repeat(10) + 'Q_-'.repeat(11);
  const check = new BearerCheck(token);

  test('accepts exactly "Bearer <token>" (scheme in any case)', () => {
    assert.equal(check.accepts(`Bearer ${token}`), true);
    assert.equal(check.accepts(`bearer ${token}`), true);
    assert.equal(check.accepts(`BEARER ${token}`), true);
  });

  test('refuses a missing, wrong, truncated, extended or differently-schemed credential', () => {
    for (const h of [undefined, '', 'Bearer', 'Bearer ', `Bearer ${token.slice(1)}`, `Bearer ${token}x`, `Basic ${token}`, token, `Bearer  x${token}`, `Bearer ${token.toUpperCase()}`, `Bearer ${'a'.repeat(5000)}`]) {
      assert.equal(check.accepts(h), false, `accepted ${JSON.stringify(h?.slice(0, 30))}`);
    }
  });
});

describe('gatehouse api token', () => {
  test('prints the token of the data directory alone on stdout', async (t) => {
    const dir = await makeTempDir(t);
    const token = await ensureApiToken(dir);
    const r = await runCli(['api', 'token', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${token}\n`);
  });

  test('finds the data directory through --config (gatehouse.dataDir, relative to the file)', async (t) => {
    const dir = await makeTempDir(t);
    await mkdir(join(dir, 'state'), { mode: 0o700 });
    const token = await ensureApiToken(join(dir, 'state'));
    await writeFile(join(dir, 'gatehouse.yaml'), 'gatehouse:\n  dataDir: state\n');
    const r = await runCli(['api', 'token', '--config', join(dir, 'gatehouse.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), token);
  });

  test('before the first start: exit 1 and API_TOKEN_MISSING with its fix', async (t) => {
    const dir = await makeTempDir(t);
    const r = await runCli(['api', 'token', '--data-dir', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error API_TOKEN_MISSING: .*\n\s+fix: .*gatehouse start/m);
  });
});
