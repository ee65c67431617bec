/** Running the OpenSSL command-line tool from tests (installed by .ci/run). */
import { spawnSync } from 'node:child_process';

export interface OpensslResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export const hasOpenssl: boolean = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;

/** Runs `openssl ...args` synchronously (optionally feeding `input` on stdin). */
export function openssl(args: readonly string[], input?: string, cwd?: string): OpensslResult {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input, cwd, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Like {@link openssl} but throws with the output when the exit status is not 0. */
export function opensslOk(args: readonly string[], input?: string, cwd?: string): string {
  const r = openssl(args, input, cwd);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}
