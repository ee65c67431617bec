/**
 * The workloads, each driving one broker with load-generator processes (loadgen.ts)
 * and reading the broker's CPU time and memory from /proc at the load generator's marks.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Broker } from './brokers.js';
import { cLatency, type CLatencyOptions } from './c-clients.js';
import { cpuSeconds, machineCpu, onLines, rssKiB, spawnTracked, stopChild } from './proc.js';
import { wallClock, type HoldPhase, type HoldResult, type LatencyResult, type LoadgenEvent, type SmokeResult, type SubResult, type Task } from './protocol.js';
import { COLLECTOR, type Pki } from './setup.js';

const LOADGEN = fileURLToPath(new URL('./loadgen.js', import.meta.url));

/** One load-generator process. Marks are handed to `onMark` synchronously, as they arrive. */
class Loadgen {
  readonly child: ChildProcess;
  readonly result: Promise<unknown>;
  readonly ready: Promise<void>;
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();
  private stderr = '';

  constructor(task: Task, timeoutMs: number, private readonly onMark: (name: string, at: number) => void = () => {}) {
    this.child = spawnTracked(process.execPath, [LOADGEN, JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let resolveReady: () => void = () => {};
    this.ready = new Promise((r) => (resolveReady = r));
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 4000) this.stderr += d.toString();
    });
    this.result = new Promise((resolve, reject) => {
      let result: unknown;
      let error: string | undefined;
      const timer = setTimeout(() => {
        error = `${task.kind} load generator timed out after ${timeoutMs} ms`;
        this.child.kill('SIGKILL');
      }, timeoutMs);
      onLines(this.child.stdout, (line) => {
        if (process.env['BENCH_BROKER_DEBUG']) process.stderr.write(`  [${task.kind} ${this.child.pid}] ${line}\n`);
        let e: LoadgenEvent;
        try {
          e = JSON.parse(line) as LoadgenEvent;
        } catch {
          return;
        }
        if (e.t === 'ready') resolveReady();
        else if (e.t === 'mark') {
          this.onMark(e.name, e.at);
          this.seen.set(e.name, e.at);
          this.waiters.get(e.name)?.();
        } else if (e.t === 'result') result = e.result;
        else if (e.t === 'error') error = e.message;
      });
      // 'close' (not 'exit'): stdout has been read to its end, so the result line is in.
      this.child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolveReady();
        if (result !== undefined && code === 0) resolve(result);
        else reject(new Error(`${task.kind} load generator failed (${code ?? signal}): ${error ?? 'no result'}${this.stderr ? `\n${this.stderr.trim()}` : ''}`));
      });
    });
    // Failures surface through `result`; keep `ready` waiters from hanging.
    this.result.catch(() => undefined);
  }

  /** Resolves when the mark has been seen (now or before); rejects if the process ends first. */
  mark(name: string): Promise<number> {
    const at = this.seen.get(name);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      this.waiters.set(name, () => {
        this.waiters.delete(name);
        resolve(this.seen.get(name)!);
      });
      this.result.then(() => reject(new Error(`load generator ended before mark ${name}`)), reject);
    });
  }

  send(command: string): void {
    this.child.stdin!.write(command + '\n');
  }

  stop(): Promise<void> {
    return stopChild(this.child, 2000);
  }
}

function safeCpu(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return cpuSeconds(pid);
  } catch {
    return 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------

export async function smoke(broker: Broker, pki: Pki): Promise<SmokeResult> {
  const lg = new Loadgen({ kind: 'smoke', url: broker.url, pkiFile: pki.pkiFile, collector: COLLECTOR, device: pki.devices[0]!, other: pki.devices[1]! }, 30_000);
  return (await lg.result) as SmokeResult;
}

export interface ThroughputOptions {
  readonly qos: 0 | 1;
  /** MQTT 3.1.1 (4) or 5, for every connection. */
  readonly protocolVersion: 4 | 5;
  readonly publishers: number;
  readonly window: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
  readonly payloadBytes: number;
  /** Where the subscriber connects, when not to the broker's own URL (another cluster node). */
  readonly subscriberUrl?: string;
  /** Further broker processes whose CPU counts as the broker's (the other cluster node). */
  readonly morePids?: readonly number[];
  /** A process measured apart (redis-server): its CPU is reported as `sideCores`, not in the broker's. */
  readonly sidePid?: number;
}

export interface ThroughputSample {
  /** Messages per second at the subscriber. */
  readonly perSecond: number;
  /** Messages delivered per broker CPU-second. */
  readonly perCpuSecond: number;
  /** Broker CPU seconds per wall second during the window (1 = one core). */
  readonly brokerCores: number;
  /** Share of messages sent in the window that did not arrive. */
  readonly missingShare: number;
  /** CPU used on the machine by processes other than this broker and its load generators (cores). */
  readonly foreignCores: number;
  /** CPU of `sidePid` per wall second during the window (0 without one). */
  readonly sideCores: number;
}

export async function throughput(broker: Broker, pki: Pki, o: ThroughputOptions): Promise<ThroughputSample> {
  const limitMs = (o.warmupSeconds + o.seconds + 30) * 1000;
  let pubPid: number | undefined;
  let start: { wall: number; broker: number; side: number; machine: number; ours: number } | undefined;
  let end: typeof start;
  const sample = (): NonNullable<typeof start> => {
    const m = machineCpu();
    const brokerCpu = [broker.pid, ...(o.morePids ?? [])].reduce((sum, pid) => sum + safeCpu(pid), 0);
    return { wall: performance.now(), broker: brokerCpu, side: safeCpu(o.sidePid), machine: m.busy, ours: safeCpu(sub.child.pid) + safeCpu(pubPid) };
  };
  const sub: Loadgen = new Loadgen({
    kind: 'sub', url: o.subscriberUrl ?? broker.url, pkiFile: pki.pkiFile, protocolVersion: o.protocolVersion, device: COLLECTOR, filter: 'devices/+/telemetry', qos: o.qos,
    warmupSeconds: o.warmupSeconds, windowSeconds: o.seconds, firstMessageTimeoutSeconds: 20,
  }, limitMs, (name) => {
    if (name === 'window-start') start = sample();
    if (name === 'window-end') end = sample();
  });
  await sub.ready;
  const pub = new Loadgen({
    kind: 'pub', url: broker.url, pkiFile: pki.pkiFile, protocolVersion: o.protocolVersion, devices: pki.devices.slice(0, o.publishers), qos: o.qos,
    seconds: o.warmupSeconds + o.seconds + 1.5, window: o.window, payloadBytes: o.payloadBytes,
  }, limitMs);
  pubPid = pub.child.pid;
  try {
    // The subscriber reports at the end of its window but stays until the publishers stop.
    await pub.result;
    sub.send('stop');
    const s = (await sub.result) as SubResult;
    if (!start || !end) throw new Error('throughput window marks missing');
    const wall = (end.wall - start.wall) / 1000;
    const brokerCpu = end.broker - start.broker;
    const side = end.side - start.side;
    const ours = brokerCpu + side + (end.ours - start.ours);
    return {
      perSecond: s.perSecond,
      perCpuSecond: brokerCpu > 0 ? s.received / brokerCpu : NaN,
      brokerCores: brokerCpu / wall,
      missingShare: s.received + s.missing > 0 ? s.missing / (s.received + s.missing) : 0,
      foreignCores: Math.max(0, (end.machine - start.machine - ours) / wall),
      sideCores: side / wall,
    };
  } finally {
    await Promise.all([sub.stop(), pub.stop()]);
  }
}

/** The latency workload's options: those of cLatency but the publisher, which is the first device. */
export type LatencyOptions = Omit<CLatencyOptions, 'publisher'>;

/** End-to-end latency at a fixed rate, measured with Mosquitto's C clients (c-clients.ts). */
export function latency(broker: Broker, pki: Pki, o: LatencyOptions): Promise<LatencyResult> {
  return cLatency(broker.url, pki, { ...o, publisher: pki.devices[0]! });
}

export interface ConnectSample {
  readonly connected: number;
  readonly failed: number;
  /** Connections per second, first attempt to last CONNACK. */
  readonly perSecond: number;
  /** Broker CPU milliseconds per connection (handshake, CONNECT, authentication, CONNACK). */
  readonly cpuMsPerConnection: number;
  readonly foreignCores: number;
}

/** Connects `devices` (fresh ones: nothing about them cached yet) with bounded concurrency, then disconnects them. */
export async function connectBurst(broker: Broker, pki: Pki, devices: readonly string[], concurrency: number, protocolVersion: 4 | 5 = 4): Promise<ConnectSample> {
  let start: { wall: number; broker: number; machine: number; ours: number } | undefined;
  let end: typeof start;
  const sample = (): NonNullable<typeof start> => ({ wall: performance.now(), broker: safeCpu(broker.pid), machine: machineCpu().busy, ours: safeCpu(lg.child.pid) });
  const lg: Loadgen = new Loadgen({ kind: 'burst', url: broker.url, pkiFile: pki.pkiFile, protocolVersion, devices, concurrency }, Math.max(60, devices.length / 5) * 1000, (name) => {
    if (name === 'burst-start') start = sample();
    if (name === 'burst-end') end = sample();
  });
  try {
    const r = (await lg.result) as HoldPhase;
    if (!start || !end) throw new Error('connection burst marks missing');
    const wall = (end.wall - start.wall) / 1000;
    const brokerCpu = end.broker - start.broker;
    return {
      connected: r.connected, failed: r.failed,
      perSecond: r.connected / r.seconds,
      cpuMsPerConnection: (brokerCpu * 1000) / r.connected,
      foreignCores: Math.max(0, (end.machine - start.machine - brokerCpu - (end.ours - start.ours)) / wall),
    };
  } finally {
    await lg.stop();
  }
}

export interface HoldOptions {
  readonly devices: number;
  readonly concurrency: number;
  /** Run the policy-change probe (brokers with authorization only). */
  readonly policyChange: boolean;
  readonly settleMs: number;
}

export interface HoldSample {
  readonly devices: number;
  readonly failed: number;
  readonly connectionsPerSecond: number;
  readonly cpuMsPerConnection: number;
  readonly rssBeforeKiB: number;
  readonly rssHalfKiB: number;
  readonly rssFullKiB: number;
  /** (RSS at N - RSS at N/2) / (N - N/2). */
  readonly kibPerDevice: number;
  readonly policy?: PolicySample;
}

export interface PolicySample {
  /** From the config write to the send time of the last message any probe still received. */
  readonly enforcementMs: number | null;
  readonly enforced: boolean;
  /** From the config write to Gatehouse's `recheck` log line (its pino time). */
  readonly recheckLogMs: number | null;
  /** The re-check's own duration as Gatehouse logs it. */
  readonly recheckMs: number | null;
  /** The process's CPU time over the re-check, as Gatehouse logs it. */
  readonly recheckCpuMs: number | null;
  /** The reload's CPU time (all threads: parse, validate, compile, re-check; `config-applied`), file-based changes only. */
  readonly reloadCpuMs: number | null;
  /** The reload's wall time from the file read (`config-applied`). */
  readonly reloadMs: number | null;
  readonly sessionsRechecked: number | null;
  readonly subscriptionsRemoved: number | null;
  /** Longest time after the change in which the broker routed nothing (event loop blocked). */
  readonly stallMs: number | null;
}

async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssKiB(pid));
    await sleep(150);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

export async function hold(broker: Broker, pki: Pki, o: HoldOptions): Promise<HoldSample> {
  const n = Math.min(o.devices, pki.devices.length);
  const cpuAt = new Map<string, number>();
  const rssBeforeKiB = rssKiB(broker.pid);
  const lg = new Loadgen({
    kind: 'hold', url: broker.url, pkiFile: pki.pkiFile, devices: pki.devices.slice(0, n), concurrency: o.concurrency,
    commander: COLLECTOR, probes: [0, Math.floor(n / 2), n - 1], quietMs: 1000, enforcementTimeoutSeconds: 20,
  }, Math.max(120, n / 10) * 1000, (name) => cpuAt.set(name, safeCpu(broker.pid)));
  try {
    await lg.mark('half');
    const rssHalfKiB = await settledRss(broker.pid, o.settleMs);
    lg.send('continue');
    await lg.mark('full');
    const rssFullKiB = await settledRss(broker.pid, o.settleMs);
    let writtenAt = 0;
    if (o.policyChange && broker.revokePolicy) {
      lg.send('probe');
      await lg.mark('probe-ready');
      writtenAt = wallClock();
      await broker.revokePolicy();
      lg.send('changed');
    } else lg.send('close');
    const r = (await lg.result) as HoldResult;
    const connected = r.phases.reduce((a, p) => a + p.connected, 0);
    const failed = r.phases.reduce((a, p) => a + p.failed, 0);
    const seconds = r.phases.reduce((a, p) => a + p.seconds, 0);
    const connectCpu = (cpuAt.get('connect1-end')! - cpuAt.get('connect1-start')!) + (cpuAt.get('connect2-end')! - cpuAt.get('connect2-start')!);
    const secondHalf = r.phases[1]?.connected ?? 0;
    let policy: PolicySample | undefined;
    if (r.probes) {
      const lastSent = Math.max(...r.probes.map((p) => p.lastSentAt ?? 0));
      // The line may sit behind a backlog of output in the pipe: give it time.
      let recheck = findRecheck(broker, writtenAt);
      for (let waited = 0; recheck === undefined && waited < 10_000; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
        recheck = findRecheck(broker, writtenAt);
      }
      const applied = findApplied(broker, writtenAt);
      policy = {
        enforcementMs: r.enforced ? Math.max(0, lastSent - writtenAt) : null,
        enforced: r.enforced === true,
        recheckLogMs: recheck ? recheck.time - writtenAt : null,
        recheckMs: recheck?.ms ?? null,
        recheckCpuMs: recheck?.cpuMs ?? null,
        reloadCpuMs: applied?.cpuMs ?? null,
        reloadMs: applied?.ms ?? null,
        sessionsRechecked: recheck?.sessions ?? null,
        subscriptionsRemoved: recheck?.subscriptionsRemoved ?? null,
        stallMs: r.maxStallMs ?? null,
      };
    }
    return {
      devices: connected, failed,
      connectionsPerSecond: connected / seconds,
      cpuMsPerConnection: (connectCpu * 1000) / connected,
      rssBeforeKiB, rssHalfKiB, rssFullKiB,
      kibPerDevice: secondHalf > 0 ? (rssFullKiB - rssHalfKiB) / secondHalf : NaN,
      ...(policy ? { policy } : {}),
    };
  } finally {
    await lg.stop();
  }
}

interface RecheckLine {
  readonly time: number;
  readonly ms: number;
  readonly cpuMs: number;
  readonly sessions: number;
  readonly subscriptionsRemoved: number;
}

function findRecheck(broker: Broker, after: number): RecheckLine | undefined {
  for (const l of broker.rechecks) {
    try {
      const j = JSON.parse(l.text) as { event?: string; time?: number } & Partial<RecheckLine>;
      if (j.event === 'recheck' && typeof j.time === 'number' && j.time >= Math.floor(after)) {
        return { time: j.time, ms: j.ms ?? NaN, cpuMs: j.cpuMs ?? NaN, sessions: j.sessions ?? NaN, subscriptionsRemoved: j.subscriptionsRemoved ?? NaN };
      }
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** Gatehouse's `config-applied` line after `after` (wall ms), with its wall and CPU time. */
function findApplied(broker: Broker, after: number): { readonly ms: number; readonly cpuMs: number } | undefined {
  for (const l of broker.rechecks) {
    try {
      const j = JSON.parse(l.text) as { event?: string; time?: number; ms?: number; cpuMs?: number };
      if (j.event === 'config-applied' && typeof j.time === 'number' && j.time >= Math.floor(after)) return { ms: j.ms ?? NaN, cpuMs: j.cpuMs ?? NaN };
    } catch {
      // not JSON
    }
  }
  return undefined;
}
