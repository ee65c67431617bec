/**
 * Mosquitto's C clients as load generators (`mosquitto_pub`, `mosquitto_sub`): they cost
 * the machine little next to the broker, and their own pauses are short and the same for
 * every broker measured. Used by the flood workload (flood.ts) and the latency workload
 * (latency below).
 *
 * Latency: one `mosquitto_pub -l` publisher, fed one line per message from here at the
 * wanted rate, each line holding its sequence number and the wall-clock time it was
 * written; one `mosquitto_sub` subscriber printing, per message, the wall-clock time its
 * callback ran (`%U`, nanoseconds) and the payload. A sample is the difference: pipe,
 * publisher, broker, subscriber. Both clocks are the machine's realtime clock.
 */
import { type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnTracked, stopChild } from './proc.js';
import type { DeviceFiles, LatencyResult } from './protocol.js';
import { COLLECTOR, type Pki } from './setup.js';

/** Key and certificate files of the devices the C clients connect as. */
export type CertFiles = ReadonlyMap<string, { readonly key: string; readonly cert: string }>;

const written = new Map<string, Promise<CertFiles>>();

/** Writes (once per run and set of names) the key and certificate files of the collector and `names`. */
export function certFiles(pki: Pki, names: readonly string[]): Promise<CertFiles> {
  const key = [pki.pkiFile, ...names].join('\n');
  let files = written.get(key);
  if (files === undefined) {
    files = (async () => {
      const dir = join(pki.dir, 'c-clients');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const raw = JSON.parse(readFileSync(pki.pkiFile, 'utf8')) as { devices: DeviceFiles[] };
      const wanted = new Set([COLLECTOR, ...names]);
      const certs = new Map<string, { key: string; cert: string }>();
      for (const d of raw.devices.filter((x) => wanted.has(x.name))) {
        const k = join(dir, `${d.name}.key`);
        const c = join(dir, `${d.name}.crt`);
        await writeFile(k, d.keyPem, { mode: 0o600 });
        await writeFile(c, d.certPem);
        certs.set(d.name, { key: k, cert: c });
      }
      return certs;
    })();
    written.set(key, files);
  }
  return files;
}

/** Connection arguments of a C client connecting to `url` as device `name`. */
export function clientArgs(url: string, pki: Pki, files: CertFiles, name: string, protocolVersion: 4 | 5 = 4): string[] {
  const u = new URL(url);
  const c = files.get(name);
  if (c === undefined) throw new Error(`no certificate files for ${name}`);
  return ['-h', u.hostname, '-p', u.port, '--cafile', pki.caFile, '--cert', c.cert, '--key', c.key, '-i', name, '-V', protocolVersion === 5 ? 'mqttv5' : 'mqttv311'];
}

/** Resolves with the exit code once `child` has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Waits until `received()` grows, publishing a QoS 1 probe as `publisher` every 200 ms
 * (mosquitto_sub has no "subscribed" signal); throws after 20 s or when the subscriber exits.
 */
export async function awaitSubscribed(sub: ChildProcess, received: () => number, probe: () => string[], stderr: () => string): Promise<void> {
  const before = received();
  const deadline = performance.now() + 20_000;
  while (received() === before) {
    if (performance.now() > deadline || sub.exitCode !== null) throw new Error(`the C subscriber did not receive a probe message\n${stderr()}`);
    await exited(spawnTracked('mosquitto_pub', [...probe(), '-q', '1', '-m', 'probe'], { stdio: 'ignore' }));
    const until = performance.now() + 200;
    while (received() === before && performance.now() < until) await sleep(10);
  }
}

export interface CLatencyOptions {
  readonly qos: 0 | 1;
  readonly protocolVersion: 4 | 5;
  readonly rate: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
  readonly payloadBytes: number;
  /** The publisher's device (must be allowed to publish on devices/NAME/telemetry). */
  readonly publisher: string;
  /** Where the subscriber connects, when not to `url` (another cluster node). */
  readonly subscriberUrl?: string;
}

/** Wall-clock milliseconds with microsecond resolution. */
const wallMs = (): number => performance.timeOrigin + performance.now();

/** See the module comment. Samples are the messages after the warm-up; `lost` those of them that never arrived. */
export async function cLatency(url: string, pki: Pki, o: CLatencyOptions): Promise<LatencyResult> {
  const files = await certFiles(pki, [o.publisher]);
  const topic = `devices/${o.publisher}/telemetry`;
  const samples: number[] = [];
  const total = Math.round(o.rate * (o.warmupSeconds + o.seconds));
  const warmup = Math.round(o.rate * o.warmupSeconds);
  let received = 0;
  let lastAt = 0;
  let partial = '';
  let subErr = '';
  const sub = spawnTracked('mosquitto_sub', [...clientArgs(o.subscriberUrl ?? url, pki, files, COLLECTOR, o.protocolVersion), '-t', 'devices/+/telemetry', '-q', String(o.qos), '-F', '%U %p'], { stdio: ['ignore', 'pipe', 'pipe'] });
  sub.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      received++;
      lastAt = performance.now();
      // "<seconds.nanoseconds> <seq> <sent ms> <padding>"; the probe's payload has no seq.
      const [at, seq, sent] = line.split(' ', 3);
      const n = Number(seq);
      if (Number.isInteger(n) && n >= warmup) samples.push(Number(at) * 1000 - Number(sent));
    }
  });
  sub.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (subErr.length < 2000) subErr += d;
  });
  let pub: ChildProcess | undefined;
  try {
    await awaitSubscribed(sub, () => received, () => [...clientArgs(url, pki, files, o.publisher, o.protocolVersion), '-t', topic], () => subErr);
    pub = spawnTracked('mosquitto_pub', [...clientArgs(url, pki, files, o.publisher, o.protocolVersion), '-t', topic, '-q', String(o.qos), '-l'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const stdin = pub.stdin!;
    let seq = 0;
    const start = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * o.rate));
        // Catch up after a late tick, but never more than 100 at once.
        for (let n = 0; seq < due && n < 100; n++) {
          const head = `${seq} ${wallMs().toFixed(3)} `;
          stdin.write(head.padEnd(o.payloadBytes, 'x') + '\n');
          seq++;
        }
        if (seq >= total) {
          clearInterval(timer);
          resolve();
        }
      }, 1);
    });
    // Stragglers: until all have arrived, or nothing arrived for a second.
    const measured = total - warmup;
    while (samples.length < measured && performance.now() - Math.max(lastAt, start) < 1000) await sleep(20);
    stdin.end();
    const sorted = Float64Array.from(samples).sort();
    const pct = (p: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!);
    return { samples: sorted.length, p50ms: pct(0.5), p99ms: pct(0.99), maxMs: pct(1), lost: Math.max(0, measured - samples.length) };
  } finally {
    await Promise.all([pub === undefined ? undefined : stopChild(pub, 2000), stopChild(sub, 2000)]);
  }
}
