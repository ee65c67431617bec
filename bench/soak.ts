/**
 * Soak benchmark: `npm run bench:soak [-- OPTIONS]`.
 *
 * One gateway (`gatehouse start`, the real CLI, SQLite registry) under a steady mix for
 * a long time, sampled as it goes:
 *
 * - resident devices, connected for the whole run, each subscribed to its own command
 *   topic and publishing QoS 0 telemetry once a second, read by one collector
 *   (`devices/+/telemetry`);
 * - connections cycling through other devices: each connects, subscribes to its own
 *   command topic, publishes QoS 1 messages, and disconnects;
 * - configuration reloads (the file rewritten, one device group added or removed,
 *   SIGHUP) and certificate revocations (a cycling device's certificate set to REVOKED
 *   in the registry, from this process, as another `gatehouse` command would);
 * - samples every few seconds: the gateway's RSS and open file descriptors (/proc), its
 *   heap, event-loop delay and active handles (bench/soak-probe.ts, loaded into it with
 *   --import), and the decision latency seen by the clients (CONNECT to CONNACK,
 *   SUBSCRIBE to SUBACK, QoS 1 PUBLISH to PUBACK: each waits for a decision).
 *
 * At the end it prints RSS at the end against RSS after the warm-up (goal: within 5 %),
 * the RSS slope over the second half, the growth in file descriptors and handles, and
 * exits 1 when a device was lost (a resident dropped, a cycling device refused although
 * not revoked, telemetry not delivered) or a revoked certificate still connected.
 *
 * Options:
 *   --minutes N          run length (default 30), warm-up included
 *   --warmup-minutes N   warm-up (default: a fifth of the run, at most 5)
 *   --resident N         resident devices (default 300)
 *   --cycling N          devices the cycling connections go through (default 3000)
 *   --connect-rate N     cycling connections started per second (default 10)
 *   --qos1 N             QoS 1 messages per cycling connection (default 5)
 *   --reload-seconds N   seconds between configuration reloads (default 60)
 *   --revoke-seconds N   seconds between certificate revocations (default 30)
 *   --sample-seconds N   seconds between samples (default 10)
 *   --mqtt 4|5           protocol level of every client (default 4)
 *   --heap-snapshots DIR write a heap snapshot of the gateway after the warm-up and at
 *                        the end into DIR (--heapsnapshot-signal; each costs a second
 *                        or two of the gateway's time and its heap size on disk; the
 *                        cycling connections pause meanwhile, and the snapshot itself
 *                        raises RSS by about the heap's size, so RSS figures of a run
 *                        with snapshots are not comparable with one without)
 *   --node-args "A B"    extra Node.js options for the gateway (e.g. --max-semi-space-size=16)
 *   --json FILE          every sample as JSON
 *
 * Only 127.0.0.1 is used; the temporary directory and every child process are removed
 * on the way out, also after Ctrl-C.
 */
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { openRegistry } from '../src/identity/bootstrap.js';
import { ROOT } from './broker/brokers.js';
import { cpuSeconds, killAll, onLines, rssKiB, spawnTracked, stopChild, waitForLine } from './broker/proc.js';
import { COLLECTOR, createPki, gatehouseConfig } from './broker/setup.js';

interface Options {
  minutes: number;
  warmupMinutes: number | undefined;
  resident: number;
  cycling: number;
  connectRate: number;
  qos1: number;
  reloadSeconds: number;
  revokeSeconds: number;
  sampleSeconds: number;
  mqtt: 4 | 5;
  heapSnapshots: string | undefined;
  nodeArgs: string[];
  json: string | undefined;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    minutes: 30, warmupMinutes: undefined, resident: 300, cycling: 3000, connectRate: 10, qos1: 5,
    reloadSeconds: 60, revokeSeconds: 30, sampleSeconds: 10, mqtt: 4, heapSnapshots: undefined, nodeArgs: [], json: undefined,
  };
  const num = (v: string | undefined, name: string): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${name} needs a non-negative number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    switch (a) {
      case '--minutes': o.minutes = num(v, a); i++; break;
      case '--warmup-minutes': o.warmupMinutes = num(v, a); i++; break;
      case '--resident': o.resident = Math.floor(num(v, a)); i++; break;
      case '--cycling': o.cycling = Math.floor(num(v, a)); i++; break;
      case '--connect-rate': o.connectRate = num(v, a); i++; break;
      case '--qos1': o.qos1 = Math.floor(num(v, a)); i++; break;
      case '--reload-seconds': o.reloadSeconds = num(v, a); i++; break;
      case '--revoke-seconds': o.revokeSeconds = num(v, a); i++; break;
      case '--sample-seconds': o.sampleSeconds = Math.max(1, num(v, a)); i++; break;
      case '--mqtt': {
        if (v !== '4' && v !== '5') throw new Error('--mqtt is 4 or 5');
        o.mqtt = v === '5' ? 5 : 4;
        i++;
        break;
      }
      case '--heap-snapshots': o.heapSnapshots = resolve(v ?? ''); i++; break;
      case '--node-args': o.nodeArgs = (v ?? '').split(/\s+/).filter(Boolean); i++; break;
      case '--json': o.json = resolve(v ?? ''); i++; break;
      default: throw new Error(`unknown option ${a} (see the comment at the top of bench/soak.ts)`);
    }
  }
  if (o.minutes <= 0) throw new Error('--minutes must be positive');
  if (o.resident < 1 || o.cycling < 2) throw new Error('--resident ≥ 1 and --cycling ≥ 2');
  return o;
}

const CLI = join(ROOT, 'dist/src/cli/main.js');
const PROBE = fileURLToPath(new URL('./soak-probe.js', import.meta.url));

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

function fds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

interface ProbeLine {
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly eld: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly resources: Record<string, number>;
}

interface Sample {
  readonly at: number;
  readonly minute: number;
  readonly rssMiB: number;
  readonly fds: number;
  readonly cpuS: number;
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  readonly handles: number;
  readonly eldP99Ms: number;
  readonly eldMaxMs: number;
  readonly connectP99Ms: number;
  readonly subackP99Ms: number;
  readonly pubackP99Ms: number;
  readonly pubackMaxMs: number;
  readonly cyclesDone: number;
  readonly telemetryReceived: number;
  readonly residentConnected: number;
  readonly load1: number;
}

/** Latency samples of one sampling window. */
class Window {
  connect: number[] = [];
  suback: number[] = [];
  puback: number[] = [];
  take(): { connect: number[]; suback: number[]; puback: number[] } {
    const t = { connect: this.connect.sort((a, b) => a - b), suback: this.suback.sort((a, b) => a - b), puback: this.puback.sort((a, b) => a - b) };
    this.connect = [];
    this.suback = [];
    this.puback = [];
    return t;
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const warmupMinutes = opts.warmupMinutes ?? Math.min(5, opts.minutes / 5);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-soak-'));
  const cleanup = (): void => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });
  try {
    return await run(opts, warmupMinutes, dir);
  } finally {
    cleanup();
  }
}

async function run(opts: Options, warmupMinutes: number, dir: string): Promise<number> {
  const log = (m: string): void => console.log(m);
  const total = opts.resident + opts.cycling;
  log(`bench:soak: ${opts.minutes} min (warm-up ${warmupMinutes} min), ${opts.resident} resident devices, ${opts.connectRate} connections/s through ${opts.cycling} others, MQTT ${opts.mqtt === 5 ? '5' : '3.1.1'}`);
  log(`issuing and registering ${total + 1} device certificates…`);
  const pki = await createPki(dir, total, log);
  const names = pki.devices;
  const residents = names.slice(0, opts.resident);
  const cycling = names.slice(opts.resident);
  const raw = JSON.parse(readFileSync(pki.pkiFile, 'utf8')) as { caPem: string; devices: { name: string; keyPem: string; certPem: string }[] };
  const creds = new Map(raw.devices.map((d) => [d.name, d]));

  // The gateway.
  const configFile = join(dir, 'gatehouse-1', 'gatehouse.yaml');
  let extra = 0;
  const writeConfig = (): Promise<void> => writeFile(configFile, gatehouseConfig({ extraGroups: extra, revoked: false, maxSessions: total + 100, format: 'yaml' }));
  await writeConfig();
  const cwd = opts.heapSnapshots ?? dir;
  if (opts.heapSnapshots !== undefined) mkdirSync(opts.heapSnapshots, { recursive: true });
  const child = spawnTracked(process.execPath, [
    '--import', PROBE, '--heapsnapshot-signal=SIGUSR2', ...opts.nodeArgs,
    CLI, 'start', '--config', configFile, '--data-dir', pki.dataDir, '--mqtt-port', '0',
  ], { stdio: ['ignore', 'pipe', 'pipe'], cwd, env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'info', SOAK_PROBE_MS: String(opts.sampleSeconds * 1000) } });
  const listeners = new Set<(l: string) => void>();
  let probe: ProbeLine | undefined;
  const applied: { at: number; cpuMs: number }[] = [];
  const rechecks: number[] = [];
  const tail: string[] = [];
  const onLine = (line: string): void => {
    if (line.startsWith('soak-probe ')) {
      probe = JSON.parse(line.slice('soak-probe '.length)) as ProbeLine;
      return;
    }
    tail.push(line);
    if (tail.length > 50) tail.shift();
    if (line.includes('"event":"config-applied"')) {
      const m = /"cpuMs":([\d.]+)/.exec(line);
      applied.push({ at: Date.now(), cpuMs: m ? Number(m[1]) : NaN });
    }
    if (line.includes('"event":"recheck"')) {
      const m = /"cpuMs":([\d.]+)/.exec(line);
      rechecks.push(m ? Number(m[1]) : NaN);
    }
    for (const l of listeners) l(line);
  };
  onLines(child.stdout, onLine);
  onLines(child.stderr, onLine);
  const subscribe = (l: (line: string) => void): (() => void) => {
    listeners.add(l);
    return () => listeners.delete(l);
  };
  const ready = await waitForLine(child, subscribe, (l) => l.startsWith('listening mqtts://'), 120_000, 'gatehouse')
    .catch((e: Error) => {
      throw new Error(`${e.message}\n${tail.join('\n')}`);
    });
  const url = ready.slice('listening '.length).trim();
  const pid = child.pid!;
  log(`gateway pid ${pid} at ${url}`);

  const connect = (name: string, extraOpts: IClientOptions = {}): Promise<MqttClient> => {
    const d = creds.get(name)!;
    return mqtt.connectAsync(url, {
      clientId: name, key: d.keyPem, cert: d.certPem, ca: raw.caPem, rejectUnauthorized: true,
      protocolVersion: opts.mqtt, clean: true, keepalive: 60, reconnectPeriod: 0, connectTimeout: 20_000, resubscribe: false,
      ...extraOpts,
    }, false);
  };

  const window = new Window();
  const problems: string[] = [];
  const problem = (m: string): void => {
    if (problems.length < 50) problems.push(m);
    log(`PROBLEM: ${m}`);
  };
  let stopping = false;

  // Collector and residents.
  const collector = await connect(COLLECTOR);
  let telemetryReceived = 0;
  collector.on('message', () => telemetryReceived++);
  await collector.subscribeAsync('devices/+/telemetry', { qos: 0 });
  collector.on('close', () => {
    if (!stopping) problem('the collector was disconnected');
  });
  const resident = new Map<string, MqttClient>();
  for (let i = 0; i < residents.length; i += 16) {
    await Promise.all(residents.slice(i, i + 16).map(async (name) => {
      const c = await connect(name);
      await c.subscribeAsync(`devices/${name}/cmd`, { qos: 1 });
      c.on('close', () => {
        if (!stopping && resident.get(name) === c) {
          resident.delete(name);
          problem(`resident ${name} was disconnected`);
        }
      });
      resident.set(name, c);
    }));
  }
  log(`${resident.size} residents connected`);
  const payload = Buffer.alloc(64, 0x61);
  const residentTimers = residents.map((name, i) => {
    let t: NodeJS.Timeout | undefined;
    // Spread the residents over the second.
    const start = setTimeout(() => {
      t = setInterval(() => {
        const c = resident.get(name);
        if (c?.connected === true) c.publish(`devices/${name}/telemetry`, payload, { qos: 0 });
      }, 1000);
    }, Math.floor((i * 1000) / residents.length));
    return () => {
      clearTimeout(start);
      if (t) clearInterval(t);
    };
  });

  // Cycling connections.
  const revoked = new Set<string>();
  let cyclesDone = 0;
  let refusedRevoked = 0;
  let nextCycling = 0;
  let inFlight = 0;
  /** While a heap snapshot is written the gateway stops for seconds: no new cycles, and failures then are not losses. */
  let pausedUntil = 0;
  const cycle = async (name: string): Promise<void> => {
    inFlight++;
    const wasRevoked = revoked.has(name);
    let c: MqttClient | undefined;
    try {
      const t0 = performance.now();
      try {
        c = await connect(name);
      } catch (e) {
        if (wasRevoked || revoked.has(name)) refusedRevoked++;
        else if (performance.now() < pausedUntil) log(`${name} could not connect while a heap snapshot was written (not counted)`);
        else problem(`${name} could not connect: ${(e as Error).message}`);
        return;
      }
      window.connect.push(performance.now() - t0);
      if (wasRevoked) {
        problem(`${name} connected with a revoked certificate`);
        return;
      }
      const t1 = performance.now();
      await c.subscribeAsync(`devices/${name}/cmd`, { qos: 1 });
      window.suback.push(performance.now() - t1);
      for (let k = 0; k < opts.qos1; k++) {
        const t2 = performance.now();
        await c.publishAsync(`devices/${name}/telemetry`, payload, { qos: 1 });
        window.puback.push(performance.now() - t2);
      }
      cyclesDone++;
    } catch (e) {
      // Revoked while connected: the gateway closes the connection, as it should.
      if (!revoked.has(name)) problem(`${name}: ${(e as Error).message}`);
    } finally {
      inFlight--;
      if (c) await c.endAsync(false).catch(() => undefined);
    }
  };
  const cycleTimer = setInterval(() => {
    if (inFlight > opts.connectRate * 10) return; // the gateway is far behind: do not pile up
    if (performance.now() < pausedUntil) return;
    const name = cycling[nextCycling++ % cycling.length]!;
    void cycle(name);
  }, 1000 / Math.max(opts.connectRate, 0.001));

  // Reloads and revocations.
  const registry = await openRegistry(pki.dataDir);
  let reloads = 0;
  const reloadTimer = opts.reloadSeconds > 0 ? setInterval(() => {
    extra = extra === 0 ? 1 : 0;
    void writeConfig().then(() => {
      child.kill('SIGHUP');
      reloads++;
    });
  }, opts.reloadSeconds * 1000) : undefined;
  let revokeIndex = 0;
  const revokeTimer = opts.revokeSeconds > 0 ? setInterval(() => {
    // Spread over the cycling devices, never the residents.
    const name = cycling[(revokeIndex++ * 7919) % cycling.length]!;
    if (revoked.has(name)) return;
    void (async () => {
      const ids = await registry.certificatesForThing(name);
      for (const id of ids) await registry.setCertificateStatus(id, 'REVOKED');
      revoked.add(name);
    })().catch((e: Error) => problem(`revoking ${name}: ${e.message}`));
  }, opts.revokeSeconds * 1000) : undefined;

  // Sampling.
  const samples: Sample[] = [];
  const started = Date.now();
  const endAt = started + opts.minutes * 60_000;
  const warmupAt = started + warmupMinutes * 60_000;
  let warmupSnapshot = false;
  let lastTelemetry = 0;
  log('minute  RSS MiB  heap used/total MiB  ext MiB  fds  handles  ELD p99/max ms  connect p99  suback p99  puback p99/max ms  cycles  telemetry/s  load');
  while (Date.now() < endAt && child.exitCode === null) {
    await sleep(opts.sampleSeconds * 1000);
    const w = window.take();
    const p = probe;
    const handles = p ? Object.values(p.resources).reduce((a, b) => a + b, 0) : NaN;
    const s: Sample = {
      at: Date.now(),
      minute: Math.round((Date.now() - started) / 600) / 100,
      rssMiB: rssKiB(pid) / 1024,
      fds: fds(pid),
      cpuS: cpuSeconds(pid),
      heapUsedMiB: p ? p.heapUsed / 1048576 : NaN,
      heapTotalMiB: p ? p.heapTotal / 1048576 : NaN,
      externalMiB: p ? p.external / 1048576 : NaN,
      handles,
      eldP99Ms: p?.eld.p99 ?? NaN,
      eldMaxMs: p?.eld.max ?? NaN,
      connectP99Ms: quantile(w.connect, 0.99),
      subackP99Ms: quantile(w.suback, 0.99),
      pubackP99Ms: quantile(w.puback, 0.99),
      pubackMaxMs: w.puback.at(-1) ?? NaN,
      cyclesDone,
      telemetryReceived,
      residentConnected: resident.size,
      load1: loadavg()[0]!,
    };
    samples.push(s);
    const rate = (telemetryReceived - lastTelemetry) / opts.sampleSeconds;
    lastTelemetry = telemetryReceived;
    if (Date.now() >= warmupAt + 20_000 && performance.now() >= pausedUntil && rate < resident.size * 0.5) problem(`telemetry ${rate.toFixed(0)}/s for ${resident.size} residents publishing 1/s`);
    const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '–');
    log(`${f(s.minute, 2).padStart(6)}  ${f(s.rssMiB).padStart(7)}  ${`${f(s.heapUsedMiB)}/${f(s.heapTotalMiB)}`.padStart(19)}  ${f(s.externalMiB).padStart(7)}  ${String(s.fds).padStart(4)}  ${String(s.handles).padStart(7)}  ${f(s.eldP99Ms)}/${f(s.eldMaxMs)}`.padEnd(80)
      + `${f(s.connectP99Ms)}`.padStart(11) + `${f(s.subackP99Ms)}`.padStart(12) + `${f(s.pubackP99Ms)}/${f(s.pubackMaxMs)}`.padStart(19)
      + `${s.cyclesDone}`.padStart(8) + `${rate.toFixed(0)}`.padStart(13) + `${f(s.load1)}`.padStart(6));
    if (!warmupSnapshot && Date.now() >= warmupAt) {
      warmupSnapshot = true;
      if (opts.heapSnapshots !== undefined) {
        pausedUntil = Infinity;
        await heapSnapshot(pid, opts.heapSnapshots, 'after-warmup', log);
        pausedUntil = performance.now() + 25_000;
      }
    }
  }
  if (child.exitCode !== null) problem(`the gateway exited (${child.exitCode}):\n${tail.join('\n')}`);
  if (opts.heapSnapshots !== undefined && child.exitCode === null) {
    pausedUntil = Infinity;
    await heapSnapshot(pid, opts.heapSnapshots, 'end', log);
  }

  // Stop the load.
  stopping = true;
  clearInterval(cycleTimer);
  if (reloadTimer) clearInterval(reloadTimer);
  if (revokeTimer) clearInterval(revokeTimer);
  for (const stop of residentTimers) stop();
  for (let i = 0; i < 200 && inFlight > 0; i++) await sleep(50);
  await Promise.all([...resident.values(), collector].map((c) => c.endAsync(true).catch(() => undefined)));
  await registry.close();
  await stopChild(child);

  // Summary.
  const after = samples.filter((s) => s.at >= warmupAt);
  const firstAfter = after.slice(0, 3);
  const last = after.slice(-3);
  const rssWarm = median(firstAfter.map((s) => s.rssMiB));
  const rssEnd = median(last.map((s) => s.rssMiB));
  const half = after.slice(Math.floor(after.length / 2));
  const slope = half.length >= 2 ? (half.at(-1)!.rssMiB - half[0]!.rssMiB) / Math.max(1e-9, half.at(-1)!.minute - half[0]!.minute) : NaN;
  const fdWarm = median(firstAfter.map((s) => s.fds));
  const fdEnd = median(last.map((s) => s.fds));
  const hWarm = median(firstAfter.map((s) => s.handles));
  const hEnd = median(last.map((s) => s.handles));
  const heapWarm = median(firstAfter.map((s) => s.heapUsedMiB));
  const heapEnd = median(last.map((s) => s.heapUsedMiB));
  const totalWarm = median(firstAfter.map((s) => s.heapTotalMiB));
  const totalEnd = median(last.map((s) => s.heapTotalMiB));
  // What V8's heap does not account for: native memory (TLS, buffers, SQLite, code) and the allocator's slack.
  const nativeWarm = median(firstAfter.map((s) => s.rssMiB - s.heapTotalMiB));
  const nativeEnd = median(last.map((s) => s.rssMiB - s.heapTotalMiB));
  const cpu = samples.length >= 2 ? samples.at(-1)!.cpuS - samples[0]!.cpuS : NaN;
  const wall = samples.length >= 2 ? (samples.at(-1)!.at - samples[0]!.at) / 1000 : NaN;
  const all = (k: keyof Sample): number[] => after.map((s) => s[k]).filter(Number.isFinite).sort((a, b) => a - b);
  const change = (rssEnd / rssWarm - 1) * 100;
  log('');
  log(`RSS after warm-up ${rssWarm.toFixed(1)} MiB, at the end ${rssEnd.toFixed(1)} MiB: ${change >= 0 ? '+' : ''}${change.toFixed(1)} % (goal within 5 %: ${Math.abs(change) <= 5 ? 'met' : 'MISSED'}); second half slope ${slope.toFixed(2)} MiB/min`);
  log(`heap used ${heapWarm.toFixed(1)} → ${heapEnd.toFixed(1)} MiB, heap total ${totalWarm.toFixed(1)} → ${totalEnd.toFixed(1)} MiB, RSS − heap total ${nativeWarm.toFixed(1)} → ${nativeEnd.toFixed(1)} MiB; file descriptors ${fdWarm} → ${fdEnd}; active handles ${hWarm} → ${hEnd}`);
  log(`gateway CPU ${cpu.toFixed(1)} s over ${wall.toFixed(0)} s (${(cpu / wall).toFixed(2)} cores); cycles ${cyclesDone}, telemetry received ${telemetryReceived}, reloads ${reloads} (${applied.length} applied, CPU ms median ${median(applied.map((a) => a.cpuMs)).toFixed(0)}), rechecks ${rechecks.length}, certificates revoked ${revoked.size}, revoked refused ${refusedRevoked}`);
  log(`after warm-up, worst window: event-loop delay p99 ${all('eldP99Ms').at(-1)?.toFixed(1)} ms, max ${all('eldMaxMs').at(-1)?.toFixed(1)} ms; connect p99 ${all('connectP99Ms').at(-1)?.toFixed(1)} ms; puback p99 ${all('pubackP99Ms').at(-1)?.toFixed(1)} ms, max ${all('pubackMaxMs').at(-1)?.toFixed(1)} ms`);
  if (opts.json !== undefined) await writeFile(opts.json, JSON.stringify({ options: opts, samples, applied, rechecks, problems }, null, 2));
  if (problems.length > 0) {
    log(`${problems.length} problem(s); first: ${problems[0]}`);
    return 1;
  }
  log('no device lost');
  return 0;
}

async function heapSnapshot(pid: number, dir: string, label: string, log: (m: string) => void): Promise<void> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    const made = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    // Written when its size stops changing between two looks.
    if (made.length > 0) {
      const file = join(dir, made[0]!);
      const size = (): number => statSync(file).size;
      const a = size();
      await sleep(500);
      if (a > 0 && size() === a) {
        renameSync(file, join(dir, `${label}.heapsnapshot`));
        log(`heap snapshot: ${join(dir, `${label}.heapsnapshot`)}`);
        return;
      }
    }
  }
  log(`heap snapshot ${label}: not written within 60 s`);
}

main().then((code) => process.exit(code), (e: Error) => {
  killAll();
  console.error(e.stack ?? e.message);
  process.exit(2);
});
