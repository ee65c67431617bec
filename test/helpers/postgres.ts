/**
 * A private PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl
 * start` on an ephemeral loopback port with its Unix socket in that directory, never
 * the system service. One server per test process (node --test runs each file in its
 * own), shared by its tests and stopped when the process exits.
 *
 * The binaries come from `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin
 * (Debian's `postgresql` package). PostgreSQL refuses to run as root: as root the
 * server runs as the `postgres` system user (which the Debian package creates) through
 * `runuser`, and the directory is handed to that user.
 *
 * Connections over TCP need the password (scram-sha-256), so tests see the URL carry a
 * secret the registry must never print. Without PostgreSQL (or with
 * GATEHOUSE_TEST_POSTGRES=off) the suites skip with the reason — except under CI=true,
 * where a missing PostgreSQL fails them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PostgresServer {
  /** `postgres://gatehouse:PASSWORD@127.0.0.1:PORT/gatehouse`. */
  readonly url: string;
  readonly password: string;
  readonly port: number;
  /** Stops the server now (`-m immediate`, like a crash); `start()` brings it back on the same port and data. */
  stop(): void;
  start(): void;
  /** Runs SQL through psql as the superuser over the socket (no password). */
  psql(sql: string, database?: string): string;
}

const PASSWORD = 'pg-test-secret-d41d8cd9';

function findBinDir(): string | undefined {
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    // no pg_config on PATH
  }
  try {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // not Debian's layout
  }
  return candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
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

/** The uid/gid to run the server as, and how to run a command as them. */
function runAs(): { wrap: (cmd: string, args: string[]) => [string, string[]]; uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return { wrap: (cmd, args) => [cmd, args] };
  const out = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gidOut = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (out.status !== 0 || gidOut.status !== 0) throw new Error('running as root and there is no `postgres` user to run PostgreSQL as (install Debian\'s postgresql package)');
  return { wrap: (cmd, args) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]], uid: Number(out.stdout.trim()), gid: Number(gidOut.stdout.trim()) };
}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`.trim());
  return r.stdout;
}

async function launch(): Promise<PostgresServer> {
  if (process.env['GATEHOUSE_TEST_POSTGRES'] === 'off') throw new Error('turned off by GATEHOUSE_TEST_POSTGRES=off');
  const bin = findBinDir();
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found (pg_config --bindir, /usr/lib/postgresql/*/bin): install Debian\'s postgresql package');
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, PASSWORD + '\n', { mode: 0o600 });
  if (as.uid !== undefined) {
    chownSync(dir, as.uid, as.gid!);
    chownSync(pwfile, as.uid, as.gid!);
  }
  const cleanupDir = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    run(...as.wrap(join(bin, 'initdb'), ['-D', data, '-U', 'gatehouse', '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256',
      '-E', 'UTF8', '--locale=C', '--no-sync']), 'initdb');
  } catch (e) {
    cleanupDir();
    throw e;
  }
  let port = 0;
  // fsync off: a test server does not survive the machine crashing, and need not. Commits
  // stay synchronous (written to the OS before they return), so `stop()`, a crash of the
  // server alone, loses nothing committed — as the outage tests require.
  const start = (): void => {
    run(...as.wrap(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', 'start', '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`]), 'pg_ctl start');
  };
  const stop = (): void => {
    spawnSync(...as.wrap(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']), { stdio: 'ignore' });
  };
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    try {
      start();
      lastError = undefined;
      break;
    } catch (e) {
      lastError = e as Error; // the port was taken meanwhile: try another
    }
  }
  if (lastError !== undefined) {
    cleanupDir();
    throw lastError;
  }
  const shutdown = (): void => {
    stop();
    cleanupDir();
  };
  process.on('exit', shutdown);
  // A test file ended by a signal (the runner's timeout, Ctrl-C) must not leave its server behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      shutdown();
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }
  const psql = (sql: string, database = 'postgres'): string =>
    run(...as.wrap(join(bin, 'psql'), ['-h', dir, '-p', String(port), '-U', 'gatehouse', '-d', database, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql]), 'psql');
  psql('CREATE DATABASE gatehouse');
  return { url: `postgres://gatehouse:${PASSWORD}@127.0.0.1:${port}/gatehouse`, password: PASSWORD, port, stop, start, psql };
}

let shared: Promise<PostgresServer | string> | undefined;

/**
 * This process's server, started on first use; or why there is none (a string) when
 * PostgreSQL is not installed and CI is not set. Under CI=true a missing PostgreSQL throws.
 */
export async function sharedPostgres(): Promise<PostgresServer | string> {
  shared ??= launch().catch((e: unknown) => {
    const reason = `PostgreSQL tests skipped: ${(e as Error).message}`;
    if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: PostgreSQL is required)`);
    return reason;
  });
  return shared;
}
