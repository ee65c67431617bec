/**
 * Child processes of the broker benchmark (brokers and load generators) and what the
 * kernel says about them. Every child started here is tracked, and killAll() ends
 * them by pid; run.ts calls it on every way out (normal end, error, SIGINT/SIGTERM).
 */
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

const tracked = new Set<ChildProcess>();

export function spawnTracked(command: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(command, args, opts);
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  child.once('error', () => tracked.delete(child));
  return child;
}

/** SIGKILLs every child still running (used on the way out; synchronous). */
export function killAll(): void {
  for (const c of tracked) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  tracked.clear();
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Calls `onLine` for every line the stream produces. */
export function onLines(stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void): void {
  if (!stream) return;
  createInterface({ input: stream }).on('line', onLine);
}

/**
 * Resolves with the first line matching `pred` (seen through `subscribe`), rejects when
 * the child exits first or after `timeoutMs`.
 */
export function waitForLine(child: ChildProcess, subscribe: (listener: (line: string) => void) => () => void, pred: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let unsubscribe: () => void = () => {};
    const finish = (err: Error | null, line?: string): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      unsubscribe();
      if (err) reject(err);
      else resolve(line!);
    };
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`${what}: process exited (${code ?? signal}) before it was ready`));
    const timer = setTimeout(() => finish(new Error(`${what}: not ready within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', onExit);
    unsubscribe = subscribe((line) => {
      if (pred(line)) finish(null, line);
    });
  });
}

/** A free TCP port on 127.0.0.1 (for brokers that cannot bind port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds of a process (all its threads), from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** Resident set size of a process in KiB, from /proc/PID/status. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Busy and total CPU seconds of the whole machine, from /proc/stat (for the noise estimate). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const hz = ticksPerSecond();
  return { busy: (total - idle) / hz, total: total / hz };
}
