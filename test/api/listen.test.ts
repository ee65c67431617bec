/** Where the API listens: Unix socket (mode 0600), TCP overrides, disabled, address in use. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GatewayProcess } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { ApiClient } from './client.js';
import { POLICIES, gatehouseSection } from './helpers.js';

describe('API on a Unix socket', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess | undefined;
  const config = POLICIES + gatehouseSection('  api: { socketPath: api.sock }\n');

  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('listens on the socket (path relative to the configuration file), mode 0600, and prints `listening unix:PATH`', async () => {
    gw = await GatewayProcess.start(dir.path, config, [], { apiPort0: false });
    const path = join(dir.path, 'api.sock');
    assert.equal(gw.apiUrl, `unix:${path}`);
    const st = await lstat(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    const api = new ApiClient(gw.apiUrl, await gw.apiToken());
    assert.equal((await api.get('/healthz', { token: null })).status, 200);
    assert.equal((await api.get('/metrics', { token: null })).status, 401);
    assert.equal((await api.get('/metrics')).status, 200);
    assert.ok(!gw.lines.some((l) => l.startsWith('listening http://')), 'no TCP listener');
  });

  test('a socket left behind by a killed gateway is replaced at the next start', async () => {
    const path = join(dir.path, 'api.sock');
    const exited = gw!.exited();
    gw!.signal('SIGKILL');
    await exited;
    assert.ok(existsSync(path), 'the stale socket is still there');
    gw = await GatewayProcess.launch(dir.path, gw!.configPath, gw!.dataDir, [], { apiPort0: false });
    const api = new ApiClient(gw.apiUrl!, await gw.apiToken());
    assert.equal((await api.get('/metrics')).status, 200);
  });

  test('a second gateway on the same socket, or a regular file there, fails with API_LISTEN_FAILED', async () => {
    await assert.rejects(GatewayProcess.launch(dir.path, gw!.configPath, join(dir.path, 'data2'), [], { apiPort0: false }), /API_LISTEN_FAILED: another process is serving on/);
    await gw!.stop();
    gw = undefined;
    await writeFile(join(dir.path, 'api.sock'), 'not a socket');
    await assert.rejects(GatewayProcess.launch(dir.path, join(dir.path, 'gatehouse.yaml'), join(dir.path, 'data'), [], { apiPort0: false }), /API_LISTEN_FAILED: gatehouse.api.socketPath .* is not a socket/);
  });

  test('--api-port overrides the socket with a TCP listener', async () => {
    const tcp = await GatewayProcess.launch(dir.path, join(dir.path, 'gatehouse.yaml'), join(dir.path, 'data'), ['--api-port', '0']);
    try {
      assert.match(tcp.apiUrl!, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await new ApiClient(tcp.apiUrl!, await tcp.apiToken()).get('/metrics')).status, 200);
    } finally {
      await tcp.stop();
    }
  });
});

describe('API over TCP', () => {
  test('gatehouse.api.enabled: false starts no API and creates no token', async () => {
    const dir = await tempDir();
    try {
      const gw = await GatewayProcess.start(dir.path, POLICIES + gatehouseSection('  api: { enabled: false }\n'), [], { api: false, apiPort0: false });
      try {
        assert.equal(gw.apiUrl, undefined);
        assert.ok(!existsSync(join(gw.dataDir, 'api-token')));
      } finally {
        await gw.stop();
      }
      // After the process has ended and its output was read to the end: no API line ever.
      assert.ok(!gw.lines.some((l) => l.startsWith('listening http://') || l.startsWith('listening unix')));
    } finally {
      await dir.cleanup();
    }
  });

  test('a port in use: the gateway does not start, with API_LISTEN_FAILED and a fix', async () => {
    const dir = await tempDir();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    try {
      const port = (blocker.address() as AddressInfo).port;
      await assert.rejects(GatewayProcess.start(dir.path, POLICIES + gatehouseSection(), ['--api-port', String(port)]), (e: Error) => {
        assert.match(e.message, /gateway exited with 1/);
        assert.match(e.message, /error API_LISTEN_FAILED: the local API cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
        assert.match(e.message, /fix: another program uses that address/);
        return true;
      });
    } finally {
      blocker.close();
      await dir.cleanup();
    }
  });
});
