/**
 * Broker benchmark: `npm run bench:broker [-- OPTIONS]`.
 *
 * Runs Gatehouse (`gatehouse start`, with 2 and with 10,002 device groups, and with the
 * same permissions as AWS IoT Core policies instead of device groups), bare aedes
 * 1.2.0 (same TLS listener, no hooks; also with Gatehouse's FIFO router, in the flood
 * workload only) and Mosquitto 2 (mutual TLS, use_identity_as_username, ACL patterns)
 * on the same workloads, with the same EC P-256
 * device certificates from Gatehouse's CA, and prints a table with ratios. See
 * bench/README.md for what each figure means and docs/benchmarks.md for results.
 *
 * Options:
 *   --devices N        devices connected at once for memory and the policy change
 *                      (default 2000)
 *   --seconds S        throughput measurement window (default 3)
 *   --repeats R        repeats of throughput, latency and connection rate; medians
 *                      are reported (default 3)
 *   --only LIST        brokers, comma-separated: gatehouse,gatehouse-10k,gatehouse-iot,aedes,
 *                      aedes-fifo,mosquitto (`gatehouse` alone also selects nothing else)
 *   --workloads LIST   throughput,latency,connections,memory,flood (default all; memory
 *                      includes the policy change)
 *   --mqtt LIST        protocol levels for throughput, latency and connections: 4 (MQTT
 *                      3.1.1), 5 (MQTT 5) or 4,5 (default; the MQTT 5 rows come after)
 *   --flood-messages N messages per publisher in the flood workload (default 100000)
 *   --rate N           latency workload rate, msg/s (default 1000)
 *   --publishers N     publishing connections in the throughput workload (default 4)
 *   --concurrency N    connection attempts in flight (default 32)
 *   --burst N          new devices per connection-rate measurement (default 250)
 *   --config-format F  yaml (default) or json: the format of Gatehouse's configuration
 *                      files (a 10,000-group YAML file takes ~1 s to parse, JSON ~40 ms)
 *   --reload R         sighup (default) or watch: how Gatehouse learns of its rewritten
 *                      configuration in the policy change (SIGHUP after the write, as
 *                      Mosquitto; or its file watch, which first waits for the file to
 *                      settle, gatehouse.configSettleMilliseconds, 1 s by default)
 *   --profile DIR      run the Node.js brokers with --cpu-prof into DIR and summarise
 *   --node-args "F"    extra Node.js options for Gatehouse and bare aedes (e.g. heap
 *                      settings: "--max-semi-space-size=16"); printed with the results
 *   --json FILE        also write every sample as JSON
 *   --no-docs          do not update docs/benchmarks.md (partial runs never do)
 *   --pin-broker       run each broker on CPU 0 only, the load generators on the other CPUs
 *   --cluster          instead of the above: the cross-node workload (cluster.ts): one
 *                      gateway against two gateways on one Redis and one PostgreSQL,
 *                      publishers on node 1, subscriber on node 2 (MQTT 3.1.1, QoS 0
 *                      and 1); --seconds, --repeats (default 1 here), --rate and
 *                      --publishers apply; prints a Markdown table (docs untouched)
 *   --cluster-cases L  with --cluster: the cases to measure, comma-separated:
 *                      single,cross-node,cluster-same-node (default all); --profile DIR
 *                      profiles the two cluster nodes
 *
 * Only 127.0.0.1 is used. Every child process and the temporary directory are removed
 * on the way out, also after an error or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { ALL_BROKERS, FLOOD_ONLY, ROOT, pin, startBroker, type Broker, type BrokerName } from './brokers.js';
import { killAll } from './proc.js';
import { summariseProfile } from './profile.js';
import { LABEL, floodReport, report, writeDocs, type BrokerResults } from './report.js';
import { createPki } from './setup.js';
import { connectBurst, hold, latency, smoke, throughput } from './workloads.js';
import { flood } from './flood.js';
import { CLUSTER_CASES, clusterTable, runCluster, type ClusterCase } from './cluster.js';

type Workload = 'throughput' | 'latency' | 'connections' | 'memory' | 'flood';
const ALL_WORKLOADS: readonly Workload[] = ['throughput', 'latency', 'connections', 'memory', 'flood'];

interface Options {
  devices: number;
  seconds: number;
  repeats: number;
  only: BrokerName[];
  workloads: Workload[];
  rate: number;
  publishers: number;
  concurrency: number;
  burst: number;
  floodMessages: number;
  configFormat: 'yaml' | 'json';
  mqtt: (4 | 5)[];
  reload: 'sighup' | 'watch';
  profile: string | undefined;
  json: string | undefined;
  docs: boolean;
  cluster: boolean;
  /** Extra Node.js flags for the Node.js brokers (Gatehouse and bare aedes), e.g. heap settings. */
  nodeFlags: string[];
  pinBroker: boolean;
  clusterCases: ClusterCase[];
  repeatsGiven: boolean;
  devicesGiven: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    devices: 2000, seconds: 3, repeats: 3, only: [...ALL_BROKERS], workloads: [...ALL_WORKLOADS], rate: 1000,
    publishers: 4, concurrency: 32, burst: 250, floodMessages: 100_000, configFormat: 'yaml', mqtt: [4, 5], reload: 'sighup', profile: undefined, json: undefined, docs: true,
    cluster: false, nodeFlags: [], pinBroker: false, clusterCases: [...CLUSTER_CASES], repeatsGiven: false, devicesGiven: false,
  };
  const num = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || n > max) throw new Error(`${name} needs a number from ${min} to ${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    switch (a) {
      case '--devices': o.devices = Math.round(num(a, v, 4, 20_000)); o.devicesGiven = true; i++; break;
      case '--seconds': o.seconds = num(a, v, 1, 120); i++; break;
      case '--repeats': o.repeats = Math.round(num(a, v, 1, 20)); o.repeatsGiven = true; i++; break;
      case '--rate': o.rate = Math.round(num(a, v, 10, 20_000)); i++; break;
      case '--publishers': o.publishers = Math.round(num(a, v, 1, 64)); i++; break;
      case '--concurrency': o.concurrency = Math.round(num(a, v, 1, 512)); i++; break;
      case '--burst': o.burst = Math.round(num(a, v, 10, 20_000)); i++; break;
      case '--flood-messages': o.floodMessages = Math.round(num(a, v, 100, 10_000_000)); i++; break;
      case '--only': {
        const list = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        const bad = list.filter((b) => !ALL_BROKERS.includes(b as BrokerName));
        if (list.length === 0 || bad.length) throw new Error(`--only takes a list of ${ALL_BROKERS.join(', ')}`);
        o.only = ALL_BROKERS.filter((b) => list.includes(b));
        i++;
        break;
      }
      case '--workloads': {
        const list = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        const bad = list.filter((w) => !ALL_WORKLOADS.includes(w as Workload));
        if (list.length === 0 || bad.length) throw new Error(`--workloads takes a list of ${ALL_WORKLOADS.join(', ')}`);
        o.workloads = ALL_WORKLOADS.filter((w) => list.includes(w));
        i++;
        break;
      }
      case '--mqtt': {
        const list = (v ?? '').split(',').map((s) => Number(s.trim()));
        if (list.length === 0 || list.some((n) => n !== 4 && n !== 5)) throw new Error('--mqtt takes 4, 5 or 4,5');
        o.mqtt = ([4, 5] as const).filter((n) => list.includes(n));
        i++;
        break;
      }
      case '--config-format':
        if (v !== 'yaml' && v !== 'json') throw new Error('--config-format takes yaml or json');
        o.configFormat = v;
        i++;
        break;
      case '--reload':
        if (v !== 'sighup' && v !== 'watch') throw new Error('--reload takes sighup or watch');
        o.reload = v;
        i++;
        break;
      case '--profile': if (!v) throw new Error('--profile needs a directory'); o.profile = resolve(v); i++; break;
      case '--json': if (!v) throw new Error('--json needs a file'); o.json = resolve(v); i++; break;
      case '--no-docs': o.docs = false; break;
      case '--pin-broker': o.pinBroker = true; break;
      case '--cluster': o.cluster = true; break;
      case '--node-args': {
        const flags = (v ?? '').split(/\s+/).filter((f) => f !== '');
        if (flags.length === 0 || flags.some((f) => !f.startsWith('--'))) throw new Error('--node-args takes Node.js options, e.g. "--max-semi-space-size=16"');
        o.nodeFlags = flags;
        i++;
        break;
      }
      case '--cluster-cases': {
        const list = (v ?? '').split(',').filter(Boolean) as ClusterCase[];
        if (list.length === 0 || list.some((c) => !CLUSTER_CASES.includes(c))) throw new Error(`--cluster-cases takes a list of ${CLUSTER_CASES.join(', ')}`);
        o.clusterCases = list;
        i++;
        break;
      }
      case '--help': case '-h':
        process.stdout.write('usage: npm run bench:broker -- [--devices N] [--seconds S] [--repeats R] [--only gatehouse,gatehouse-10k,gatehouse-iot,aedes,aedes-fifo,mosquitto]\n' +
          '       [--workloads throughput,latency,connections,memory,flood] [--mqtt 4,5] [--rate N] [--publishers N] [--concurrency N] [--burst N] [--flood-messages N] [--config-format yaml|json] [--reload sighup|watch] [--profile DIR] [--node-args "FLAGS"] [--json FILE] [--no-docs] [--pin-broker] [--cluster [--cluster-cases single,cross-node,cluster-same-node]]\n');
        process.exit(0);
      // falls through (unreachable)
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (o.cluster) {
    // Only the collector and the publishers connect: a few devices are enough.
    if (!o.devicesGiven) o.devices = Math.max(8, o.publishers + 2);
    if (!o.repeatsGiven) o.repeats = 1;
  }
  return o;
}

/** The first error line of a dead broker's output (e.g. `RangeError: Maximum call stack size exceeded`). */
function crashLine(tail: string): string {
  const line = tail.split('\n').map((l) => l.trim()).find((l) => /^[A-Za-z]*Error\b|^FATAL|Segmentation fault|out of memory/i.test(l));
  return line ?? 'exited without an error line';
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    // `mosquitto -h` prints its version and exits 3.
    const out = (e as { stdout?: string }).stdout;
    return typeof out === 'string' ? out.trim() : '?';
  }
}

function describeMachine(): { machine: string; versions: string } {
  const c = cpus();
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  const machine = `${c.length} × ${c[0]?.model.trim() ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}, load average at start ${load} (shared machine)`;
  const mosq = /mosquitto version (\S+)/.exec(sh('mosquitto', ['-h']))?.[1] ?? '?';
  const openssl = sh('openssl', ['version']).split(' ').slice(0, 2).join(' ');
  const pkg = (name: string): string => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
    } catch {
      return '?';
    }
  };
  const versions = `Node.js ${process.version} (${process.versions.openssl ? `OpenSSL ${process.versions.openssl}` : ''}), aedes ${pkg('aedes')}, mqtt.js ${pkg('mqtt')} (load generator), Mosquitto ${mosq} (Debian, ${openssl})`;
  return { machine, versions };
}

const runningBrokers = new Map<BrokerName, Broker>();

const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]!);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-broker-'));
  const brokers = runningBrokers;
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    killAll();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      log(`\n${sig}: stopping brokers and load generators`);
      cleanup();
      process.exit(130);
    });
  }

  const { machine, versions } = describeMachine();
  log(`broker benchmark: ${o.only.join(', ')}; workloads ${o.workloads.join(', ')}; ${o.devices} devices; ${o.repeats} × ${o.seconds} s windows${o.nodeFlags.length > 0 ? `; Node.js flags ${o.nodeFlags.join(' ')}` : ''}`);
  log(`machine: ${machine}`);

  log('issuing and registering device certificates (gateway CA, EC P-256)…');
  const pki = await createPki(dir, o.devices, log);
  log(`  ${pki.devices.length} devices in ${pki.seconds.toFixed(1)} s`);

  if (o.cluster) {
    log('cross-node workload: one gateway against a two-node cluster on one Redis and one PostgreSQL');
    if (o.profile) mkdirSync(o.profile, { recursive: true });
    const res = await runCluster(pki, {
      seconds: o.seconds, repeats: o.repeats, rate: o.rate, publishers: o.publishers, maxSessions: o.devices * 2 + 100, cases: o.clusterCases,
      nodeArgs: o.profile ? ['--cpu-prof', '--cpu-prof-dir', o.profile] : [], log,
    });
    const table = clusterTable(res, o.rate);
    process.stdout.write(`\n${machine}\n${versions}, redis-server ${res.redisVersion}, PostgreSQL ${res.postgresVersion}\n` +
      `${o.repeats} × ${o.seconds} s throughput windows (${o.publishers} publishers, 64-byte payloads, MQTT 3.1.1), latency over 2 s; medians\n\n${table}` +
      `\nfinished in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    if (o.json) await writeFile(o.json, JSON.stringify({ machine, versions, redis: res.redisVersion, postgres: res.postgresVersion, rows: Object.fromEntries(res.rows) }, null, 2));
    if (o.profile) {
      for (const f of readdirSync(o.profile).filter((n) => n.endsWith('.cpuprofile'))) log(`\nprofile ${join(o.profile, f)}\n${summariseProfile(join(o.profile, f))}`);
    }
    return;
  }

  const nodeArgs = [...o.nodeFlags, ...(o.profile ? ['--cpu-prof', '--cpu-prof-dir', o.profile] : [])];
  if (o.profile) mkdirSync(o.profile, { recursive: true });
  // --pin-broker: the broker on CPU 0, this process and every load generator it starts on the others.
  let pinCpu: number | undefined;
  if (o.pinBroker) {
    const cpus = availableParallelism();
    if (cpus < 2) throw new Error('--pin-broker needs at least 2 CPUs');
    await pin(process.pid, `1-${cpus - 1}`);
    pinCpu = 0;
    log(`broker pinned to CPU 0; load generators on CPU${cpus > 2 ? `s 1-${cpus - 1}` : ' 1'}`);
  }
  const results = new Map<BrokerName, BrokerResults>();
  for (const name of o.only) {
    const t0 = performance.now();
    const b = await startBroker(name, { pki, maxSessions: o.devices * 2 + 100, nodeArgs, configFormat: o.configFormat, reload: o.reload, pinCpu });
    brokers.set(name, b);
    const s = await smoke(b, pki);
    const authorizes = name !== 'aedes' && name !== 'aedes-fifo';
    if (!s.allowedDelivered) throw new Error(`${name}: an allowed message was not delivered (smoke test)\n${b.tail()}`);
    if (authorizes && s.deniedDelivered) throw new Error(`${name}: a publish outside the device's own topics was delivered; authorization is not in force`);
    results.set(name, { name, smoke: s, qos0: [], qos1: [], latency0: [], latency1: [], connect: [], flood: [], v5: { qos0: [], qos1: [], latency0: [], latency1: [], connect: [] }, floodCrashes: [] });
    log(`${LABEL[name]}: ${b.url} (pid ${b.pid}), ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${s.tls}; denied publish ${s.deniedDelivered ? 'delivered (no authorization)' : 'dropped'}`);
  }

  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const restart = async (name: BrokerName): Promise<Broker> => {
    const b = await startBroker(name, { pki, maxSessions: o.devices * 2 + 100, nodeArgs, configFormat: o.configFormat, reload: o.reload, pinCpu });
    brokers.set(name, b);
    if (!(await smoke(b, pki)).allowedDelivered) throw new Error(`${name}: an allowed message was not delivered after the restart\n${b.tail()}`);
    return b;
  };
  for (let r = 0; r < o.repeats; r++) {
    // A different broker goes first in each repeat, so slow phases of the shared machine spread out.
    for (const name of rotate(o.only, r)) {
      let b = brokers.get(name)!;
      const res = results.get(name)!;
      if (o.workloads.includes('flood')) {
        let f: Awaited<ReturnType<typeof flood>> | undefined;
        try {
          f = await flood(b, pki, { publishers: o.publishers, messages: o.floodMessages, payloadBytes: 64 });
        } catch (e) {
          // A baseline may not survive the flood (stock aedes overflows its stack): record it, restart, go on.
          if (b.running) throw e;
          const cause = crashLine(b.tail(60));
          res.floodCrashes.push(cause);
          log(`[${r + 1}/${o.repeats}] ${LABEL[name]} flood: the broker process died (${cause}); restarting it for the other workloads`);
          b = await restart(name);
        }
        if (f !== undefined) {
          res.flood.push(f);
          log(`[${r + 1}/${o.repeats}] ${LABEL[name]} flood: ${fmt(f.received)} of ${fmt(f.sent)} delivered (lost ${(f.lostShare * 100).toFixed(1)}%) in ${f.seconds.toFixed(1)} s: ${fmt(f.perSecond)} msg/s, ${fmt(f.perCpuSecond)} per broker CPU-s, broker ${f.brokerCores.toFixed(2)} cores, peak RSS ${(f.peakRssKiB / 1024).toFixed(0)} MiB`);
          // A broker still working through the flood's backlog would carry it into the next workloads.
          if (f.unfinished && !FLOOD_ONLY.includes(name)) {
            log(`[${r + 1}/${o.repeats}] ${LABEL[name]}: still busy with the flood's backlog after the limit; restarting it for the other workloads`);
            await b.stop();
            b = await restart(name);
          }
        }
      }
      // The FIFO-router variant of bare aedes is there for the flood comparison only.
      if (FLOOD_ONLY.includes(name)) continue;
      for (const [k, protocolVersion] of o.mqtt.entries()) {
        const into = protocolVersion === 5 ? res.v5 : res;
        const v = protocolVersion === 5 ? ' (MQTT 5)' : '';
        if (o.workloads.includes('throughput')) {
          for (const qos of [0, 1] as const) {
            const s = await throughput(b, pki, { qos, protocolVersion, publishers: o.publishers, window: 100, warmupSeconds: 1, seconds: o.seconds, payloadBytes: 64 });
            (qos === 0 ? into.qos0 : into.qos1).push(s);
            log(`[${r + 1}/${o.repeats}] ${LABEL[name]}${v} QoS ${qos}: ${fmt(s.perSecond)} msg/s, ${fmt(s.perCpuSecond)} per CPU-s, broker ${s.brokerCores.toFixed(2)} cores, lost ${(s.missingShare * 100).toFixed(1)}%, others ${s.foreignCores.toFixed(2)} cores`);
          }
        }
        if (o.workloads.includes('connections')) {
          // New devices each repeat and protocol level (from the end of the list; the other workloads use the first ones).
          const n = pki.devices.length;
          const size = Math.min(o.burst, n);
          const slot = r * o.mqtt.length + k + 1;
          const devices = Array.from({ length: size }, (_, i) => pki.devices[(((n - slot * size + i) % n) + n) % n]!);
          const c = await connectBurst(b, pki, devices, o.concurrency, protocolVersion);
          into.connect.push(c);
          log(`[${r + 1}/${o.repeats}] ${LABEL[name]}${v} connections: ${fmt(c.perSecond)}/s, ${c.cpuMsPerConnection.toFixed(2)} broker CPU-ms each (${c.connected} new devices, ${c.failed} failed), others ${c.foreignCores.toFixed(2)} cores`);
        }
        if (o.workloads.includes('latency')) {
          for (const qos of [0, 1] as const) {
            const l = await latency(b, pki, { qos, protocolVersion, rate: o.rate, warmupSeconds: 0.5, seconds: 2, payloadBytes: 64 });
            (qos === 0 ? into.latency0 : into.latency1).push(l);
            log(`[${r + 1}/${o.repeats}] ${LABEL[name]}${v} latency QoS ${qos} at ${o.rate}/s: p50 ${l.p50ms.toFixed(2)} ms, p99 ${l.p99ms.toFixed(2)} ms, max ${l.maxMs.toFixed(2)} ms (${l.samples} samples, ${l.lost} lost)`);
          }
        }
      }
    }
  }

  for (const name of o.only) {
    const b = brokers.get(name)!;
    if (o.workloads.includes('memory') && !FLOOD_ONLY.includes(name)) {
      const h = await hold(b, pki, { devices: o.devices, concurrency: o.concurrency, policyChange: b.revokePolicy !== undefined, settleMs: 1000 });
      results.get(name)!.hold = h;
      const p = h.policy;
      log(`${LABEL[name]}: ${h.devices} devices connected (${h.failed} failed; filled at ${fmt(h.connectionsPerSecond)}/s); RSS ${(h.rssBeforeKiB / 1024).toFixed(0)} → ${(h.rssHalfKiB / 1024).toFixed(0)} → ${(h.rssFullKiB / 1024).toFixed(0)} MiB, ${h.kibPerDevice.toFixed(1)} KiB/device` +
        (p ? `; policy change enforced after ${p.enforcementMs === null ? 'NOT ENFORCED' : `${Math.round(p.enforcementMs)} ms`}${p.recheckMs !== null ? ` (recheck logged at +${p.recheckLogMs == null ? '?' : Math.round(p.recheckLogMs)} ms, ${Math.round(p.recheckMs)} ms for ${p.sessionsRechecked} sessions, ${p.subscriptionsRemoved} subscriptions removed)` : ''}` : ''));
    }
    // Stop each broker once done, so the next ones have the machine to themselves.
    await b.stop();
    brokers.delete(name);
  }

  const info = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: `npm run bench:broker${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine,
    versions,
    parameters: `64-byte payloads; MQTT ${o.mqtt.map((m) => (m === 4 ? '3.1.1' : '5')).join(' and ')} for throughput, latency and connections (memory and policy change: 3.1.1); throughput: ${o.publishers} publishers (own topics devices/NAME/telemetry) → 1 subscriber (devices/+/telemetry), ≤ 100 publishes in flight per publisher, 1 s warm-up, ${o.seconds} s window, ${o.repeats} repeats; ` +
      `latency: 1 publisher at ${o.rate} msg/s for 2 s after 0.5 s warm-up, ${o.repeats} repeats; connections: ${o.burst} new devices per repeat, ${o.concurrency} handshakes in flight; ` +
      `memory: ${o.devices} devices connected, each subscribed to devices/NAME/cmd, RSS slope between N/2 and N; policy change: devices lose subscribe on their own topics (Gatehouse: ${o.configFormat.toUpperCase()} config file rewritten, ${o.reload === 'sighup' ? 'then SIGHUP' : 'watched (settle time 1 s)'}; with AWS IoT policies: a new default version of DevicePolicy in the registry; Mosquitto: ACL file rewritten + SIGHUP)${o.pinBroker ? '; every broker pinned to CPU 0, the load generators to the other CPUs (--pin-broker)' : ''}`,
    durationSeconds: (performance.now() - started) / 1000,
    setupSeconds: pki.seconds,
  };
  const all = o.only.map((n) => results.get(n)!);
  const list = all.filter((r) => !FLOOD_ONLY.includes(r.name));
  const mainWorkloads = o.workloads.filter((w) => w !== 'flood');
  const text = list.length > 0 && mainWorkloads.length > 0 ? report(info, list, o.devices, o.rate, o.concurrency) : '';
  const floodText = o.workloads.includes('flood') ? floodReport(info, all, o.publishers, o.floodMessages, o.repeats) : '';
  if (text) process.stdout.write(`\n${text}\n`);
  if (floodText) process.stdout.write(`\nFlood (QoS 0 burst):\n\n${floodText}\n`);
  if (o.json) await writeFile(o.json, JSON.stringify({ info, options: o, results: all }, null, 2));
  // The IoT-policy variant is optional: a run without it still rewrites the table.
  const full = ALL_BROKERS.every((b) => FLOOD_ONLY.includes(b) || b === 'gatehouse-iot' || o.only.includes(b)) && ALL_WORKLOADS.every((w) => w === 'flood' || o.workloads.includes(w));
  // The flood block is written on its own when every broker ran it at the default size.
  const fullFlood = ALL_BROKERS.every((b) => b === 'gatehouse-10k' || b === 'gatehouse-iot' || o.only.includes(b)) && o.workloads.includes('flood') && o.floodMessages === 100_000;
  if (o.docs && full && text) {
    await writeDocs(join(ROOT, 'docs/benchmarks.md'), text);
    log('\nwrote docs/benchmarks.md (broker table)');
  } else if (o.docs && text) log('\n(partial run: the broker table in docs/benchmarks.md is not updated)');
  if (o.docs && fullFlood) {
    await writeDocs(join(ROOT, 'docs/benchmarks.md'), floodText, 'bench:broker-flood');
    log('wrote docs/benchmarks.md (flood table)');
  } else if (o.docs && floodText) log('(partial flood run: the flood table in docs/benchmarks.md is not updated)');
  if (o.profile) {
    for (const f of readdirSync(o.profile).filter((n) => n.endsWith('.cpuprofile'))) {
      log(`\nprofile ${join(o.profile, f)}`);
      log(summariseProfile(join(o.profile, f)));
    }
  }
  cleanup();
}

main().then(() => process.exit(0), (e: unknown) => {
  log(`\nbroker benchmark failed: ${(e as Error).stack ?? String(e)}`);
  for (const b of runningBrokers.values()) log(`\n${LABEL[b.name]} (${b.running ? 'running' : `exited ${b.child.exitCode ?? b.child.signalCode}`}), last output:\n${b.tail(15)}`);
  killAll();
  process.exit(1);
});
