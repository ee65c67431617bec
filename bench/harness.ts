/** Timing helpers: warm-up, timed rounds, robust statistics. */

export function nowNs(): bigint {
  return process.hrtime.bigint();
}

export interface Stats {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** (max - min) / median, in percent. */
  readonly spreadPct: number;
  readonly rounds: readonly number[];
}

export function stats(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  const min = sorted[0]!;
  const max = sorted[n - 1]!;
  return { median, min, max, spreadPct: median === 0 ? 0 : ((max - min) / median) * 100, rounds: values };
}

export interface RoundOptions {
  readonly warmupMs: number;
  readonly roundMs: number;
  readonly rounds: number;
}

/** Operations per second of CPU time (the process's, pinned to one CPU) and of wall-clock time. */
export interface Throughput {
  readonly cpu: Stats;
  readonly wall: Stats;
}

/** CPU time (user + system) of this process, in microseconds. */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Measures a throughput: `pass()` performs `passSize` operations and returns a
 * checksum that must equal `expected` every time (so the work cannot be skipped and a
 * broken path cannot be measured). Returns operations per second of each round, per
 * second of CPU time and per second of wall-clock time.
 */
export function throughput(pass: () => number, passSize: number, expected: number, opts: RoundOptions): Throughput {
  const check = (got: number): void => {
    if (got !== expected) throw new Error(`benchmark pass returned ${got}, expected ${expected}`);
  };
  const warmEnd = nowNs() + BigInt(Math.round(opts.warmupMs * 1e6));
  do check(pass()); while (nowNs() < warmEnd);
  const cpu: number[] = [];
  const wall: number[] = [];
  const roundNs = BigInt(Math.round(opts.roundMs * 1e6));
  for (let r = 0; r < opts.rounds; r++) {
    let ops = 0;
    const c0 = cpuMicros();
    const t0 = nowNs();
    let t = t0;
    do {
      check(pass());
      ops += passSize;
      t = nowNs();
    } while (t - t0 < roundNs);
    const c = cpuMicros() - c0;
    wall.push(ops / (Number(t - t0) / 1e9));
    cpu.push(ops / (c / 1e6));
  }
  return { cpu: stats(cpu), wall: stats(wall) };
}

/** Times `fn` once: its result, wall-clock milliseconds and CPU milliseconds. */
export function timeMs<T>(fn: () => T): [T, number, number] {
  const c0 = cpuMicros();
  const t0 = nowNs();
  const out = fn();
  const wall = Number(nowNs() - t0) / 1e6;
  return [out, wall, (cpuMicros() - c0) / 1000];
}

export function fmtRate(perSec: number): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} k/s`;
  return `${perSec.toFixed(0)} /s`;
}

export function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}
