/**
 * A private Redis server for tests: `redis-server` on an ephemeral loopback port with its
 * working directory in a temporary directory, persistence off (no RDB snapshot, no AOF:
 * nothing is written outside that directory, and a restart starts empty unless the test
 * asks for it), never the system service. One server per test process (node --test runs
 * each file in its own), shared by its tests and stopped when the process exits.
 *
 * Requires a password (`requirepass`), so tests see the URL carry a secret the gateway
 * must never print. Without redis-server (or with GATEHOUSE_TEST_REDIS=off) the suites
 * skip with the reason — except under CI=true, where a missing Redis fails them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  /** `redis://:PASSWORD@127.0.0.1:PORT`. */
  readonly url: string;
  readonly password: string;
  readonly port: number;
  /** Kills the server now (SIGKILL: like a crash, it loses what it held); `start()` brings it back empty on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Whether the server process is running. */
  readonly running: boolean;
}

const PASSWORD = 'redis-test-secret-8f14e45f';

function redisBinary(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'redis-server' : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP connection to the port succeeds (the server is accepting). */
async function accepting(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ host: '127.0.0.1', port });
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not accept connections on ${port} within 10 s: ${log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function launch(): Promise<RedisServer> {
  if (process.env['GATEHOUSE_TEST_REDIS'] === 'off') throw new Error('turned off by GATEHOUSE_TEST_REDIS=off');
  const bin = redisBinary();
  if (bin === undefined) throw new Error('redis-server not found: install Debian\'s redis-server package');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    output = '';
    const c = spawn(bin, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--requirepass', PASSWORD,
      // No persistence files: no RDB snapshots, no append-only file.
      '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout.on('data', (b: Buffer) => (output += b.toString()));
    c.stderr.on('data', (b: Buffer) => (output += b.toString()));
    // The server must not keep the test process alive: it is killed at exit.
    c.unref();
    (c.stdout as unknown as { unref(): void }).unref();
    (c.stderr as unknown as { unref(): void }).unref();
    child = c;
    await accepting(port, c, () => output);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    try {
      await start();
      lastError = undefined;
      break;
    } catch (e) {
      lastError = e as Error; // the port was taken meanwhile: try another
      await stop();
    }
  }
  if (lastError !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }
  const shutdown = (): void => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', shutdown);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      shutdown();
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }
  return {
    url: `redis://:${PASSWORD}@127.0.0.1:${port}`,
    password: PASSWORD,
    port,
    stop,
    start,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
  };
}

let shared: Promise<RedisServer | string> | undefined;

/**
 * This process's server, started on first use; or why there is none (a string) when
 * redis-server is not installed and CI is not set. Under CI=true a missing Redis throws.
 */
export async function sharedRedis(): Promise<RedisServer | string> {
  shared ??= launch().catch((e: unknown) => {
    const reason = `Redis tests skipped: ${(e as Error).message}`;
    if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: Redis is required)`);
    return reason;
  });
  return shared;
}
