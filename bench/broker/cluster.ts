/**
 * The cross-node workload of the broker benchmark (`npm run bench:broker -- --cluster`):
 * the single gateway of the other workloads (`gatehouse`, SQLite, no Redis) against two
 * gateways clustered on one private redis-server and one private PostgreSQL registry,
 * all on this machine. The publishers connect to node 1 and the subscriber to node 2, so
 * every message crosses Redis (mqemitter-redis); the same load on one node of the
 * cluster is measured too, to separate the cost of Redis from the cost of the hop.
 *
 * Figures: messages per second delivered and per broker CPU-second (the CPU of both
 * nodes summed; redis-server's CPU is reported apart), and latency p50/p99/max at a fixed
 * rate, QoS 0 and 1; each as a ratio to the single gateway.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PgRegistry } from '../../src/identity/pg-registry.js';
import { sharedPostgres } from '../../test/helpers/postgres.js';
import { Broker, startBroker } from './brokers.js';
import { ROOT } from './brokers.js';
import { freePort, onLines, spawnTracked, waitForLine } from './proc.js';
import type { DeviceFiles, LatencyResult } from './protocol.js';
import { COLLECTOR, gatehouseConfig, type Pki } from './setup.js';
import { latency, smoke, throughput, type ThroughputSample } from './workloads.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');
const SCHEMA = 'bench_cluster';

export interface ClusterOptions {
  readonly seconds: number;
  readonly repeats: number;
  readonly rate: number;
  readonly publishers: number;
  readonly maxSessions: number;
  /** The cases to measure (all by default); the single gateway is started either way. */
  readonly cases?: readonly ClusterCase[];
  /** Node options for the two cluster nodes (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  readonly log: (msg: string) => void;
}

/** One configuration of the comparison: where publishers and the subscriber connect. */
export type ClusterCase = 'single' | 'cluster-same-node' | 'cross-node';
export const CLUSTER_CASES: readonly ClusterCase[] = ['single', 'cross-node', 'cluster-same-node'];
export const CLUSTER_LABEL: Record<ClusterCase, string> = {
  single: 'one gateway (SQLite, no Redis)',
  'cross-node': 'cluster: publish on node 1, subscribe on node 2',
  'cluster-same-node': 'cluster: both on node 1',
};

export interface ClusterRow {
  readonly qos: 0 | 1;
  readonly throughput: ThroughputSample[];
  readonly latency: LatencyResult[];
}

export interface ClusterResults {
  readonly rows: Map<ClusterCase, ClusterRow[]>;
  /** Cases that did not complete, with why (a node that exited, with the end of its output). */
  readonly failures: Map<ClusterCase, string>;
  readonly redisVersion: string;
  readonly postgresVersion: string;
}

interface RedisProcess {
  readonly url: string;
  readonly pid: number;
}

/**
 * A private redis-server on a free loopback port, persistence off, working directory in
 * the run's temporary directory; tracked, so the benchmark's exit kills it.
 */
async function startRedis(dir: string): Promise<RedisProcess> {
  const password = `bench-${Math.random().toString(36).slice(2)}`;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawnTracked('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--requirepass', password,
      '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '', '--loglevel', 'notice',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const listeners = new Set<(l: string) => void>();
    const collect = (l: string): void => {
      lines.push(l);
      for (const f of listeners) f(l);
    };
    onLines(child.stdout, collect);
    onLines(child.stderr, collect);
    try {
      await waitForLine(child, (f) => {
        listeners.add(f);
        return () => listeners.delete(f);
      }, (l) => l.includes('Ready to accept connections'), 10_000, 'redis-server');
      return { url: `redis://:${password}@127.0.0.1:${port}`, pid: child.pid! };
    } catch (e) {
      lastError = new Error(`${(e as Error).message}\n${lines.slice(-10).join('\n')}`);
      child.kill('SIGKILL');
    }
  }
  throw lastError ?? new Error('redis-server did not start');
}

function version(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? '?';
}

/**
 * Starts the single gateway and a two-node cluster, then measures each case. The gateway
 * CA of the run (in `pki.dataDir`) is the cluster's CA, so the load generator's devices
 * and trust anchors are the same for all three.
 */
export async function runCluster(pki: Pki, o: ClusterOptions): Promise<ClusterResults> {
  const log = o.log;
  const pg = await sharedPostgres();
  if (typeof pg === 'string') throw new Error(`--cluster needs PostgreSQL: ${pg}`);
  const redisDir = join(pki.dir, 'redis');
  const redis = await startRedis(redisDir);
  log(`redis-server pid ${redis.pid}; PostgreSQL on port ${pg.port}`);

  // The cluster's CA: the run's gateway CA, as separate certificate and key files.
  const bundle = await readFile(join(pki.dataDir, 'ca', 'managed-ca.pem'), 'utf8');
  const caCert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(bundle)?.[0];
  const caKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----\n?/.exec(bundle)?.[0];
  if (caCert === undefined || caKey === undefined) throw new Error('the run\'s managed CA file has no certificate or no key');
  const clusterDir = join(pki.dir, 'cluster');
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const caCertFile = join(clusterDir, 'ca.pem');
  const caKeyFile = join(clusterDir, 'ca.key');
  await writeFile(caCertFile, caCert);
  await writeFile(caKeyFile, caKey, { mode: 0o600 });

  const base = JSON.parse(gatehouseConfig({ extraGroups: 0, revoked: false, maxSessions: o.maxSessions, format: 'json' })) as {
    gatehouse: Record<string, unknown>;
  } & Record<string, unknown>;
  const nodeConfig = {
    ...base,
    certificateAuthority: { certificateUri: caCertFile, privateKeyUri: caKeyFile },
    gatehouse: { ...base.gatehouse, jobs: { enabled: false }, registry: { url: pg.url, schema: SCHEMA } },
  };
  const configFile = join(clusterDir, 'node.json');
  await writeFile(configFile, `${JSON.stringify(nodeConfig, null, 2)}\n`);

  const startNode = async (n: number): Promise<Broker> => {
    const clusterFile = join(clusterDir, `cluster-${n}.json`);
    await writeFile(clusterFile, JSON.stringify({ gatehouse: { cluster: { redis: { url: redis.url, keyPrefix: 'bench:', nodeName: `node-${n}` } } } }), { mode: 0o600 });
    const dataDir = join(clusterDir, `node-${n}`, 'data');
    await mkdir(dataDir, { recursive: true });
    const child = spawnTracked(process.execPath, [...(o.nodeArgs ?? []), CLI, 'start', '--config', configFile, '--cluster-config', clusterFile, '--data-dir', dataDir, '--mqtt-port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'info' },
    });
    const b = new Broker('gatehouse', child, undefined);
    const line = await waitForLine(child, (l) => b.subscribe(l), (l) => l.startsWith('listening mqtts://'), 120_000, `cluster node ${n}`)
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${b.tail()}`);
      });
    b.url = line.slice('listening '.length).trim();
    return b;
  };

  // Node 1 first: it creates the registry's schema; then the devices the workloads use.
  const node1 = await startNode(1);
  const node2 = await startNode(2);
  const registry = await PgRegistry.open({ url: pg.url, schema: SCHEMA });
  try {
    const files = JSON.parse(await readFile(pki.pkiFile, 'utf8')) as { devices: DeviceFiles[] };
    const wanted = new Set([COLLECTOR, ...pki.devices.slice(0, Math.max(2, o.publishers))]);
    for (const d of files.devices) {
      if (wanted.has(d.name)) await registry.enroll({ thingName: d.name, attributes: {}, certificatePem: d.certPem, thing: 'new' });
    }
  } finally {
    await registry.close();
  }
  const single = await startBroker('gatehouse', { pki, maxSessions: o.maxSessions, nodeArgs: [], configFormat: 'json', reload: 'sighup' });
  // The devices must work (and a foreign topic be refused) on every node before measuring.
  for (const [name, b] of [['single gateway', single], ['node 1', node1], ['node 2', node2]] as const) {
    const s = await smoke(b, pki);
    if (!s.allowedDelivered || s.deniedDelivered) throw new Error(`${name}: smoke test failed (allowed delivered ${s.allowedDelivered}, denied delivered ${s.deniedDelivered})\n${b.tail()}`);
  }
  log(`single gateway ${single.url} (pid ${single.pid}); cluster node 1 ${node1.url} (pid ${node1.pid}), node 2 ${node2.url} (pid ${node2.pid})`);

  const rows = new Map<ClusterCase, ClusterRow[]>(CLUSTER_CASES.map((c) => [c, [{ qos: 0, throughput: [], latency: [] }, { qos: 1, throughput: [], latency: [] }]]));
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const failures = new Map<ClusterCase, string>();
  const state = (b: Broker): string => (b.running ? 'running' : `exited (${b.child.exitCode ?? b.child.signalCode})`);
  const cases = CLUSTER_CASES.filter((c) => o.cases === undefined || o.cases.includes(c));
  for (let r = 0; r < o.repeats; r++) {
    for (const k of cases.map((_, i) => cases[(i + r) % cases.length]!)) {
      if (failures.has(k)) continue;
      const pubBroker = k === 'single' ? single : node1;
      const subscriberUrl = k === 'cross-node' ? node2.url : undefined;
      const morePids = k === 'single' ? [] : [node2.pid];
      const sidePid = k === 'single' ? undefined : redis.pid;
      try {
        if (k !== 'single' && (!node1.running || !node2.running)) throw new Error(`a cluster node is down (node 1 ${state(node1)}, node 2 ${state(node2)})`);
        for (const row of rows.get(k)!) {
          const qos = row.qos;
          const t = await throughput(pubBroker, pki, { qos, protocolVersion: 4, publishers: o.publishers, window: 100, warmupSeconds: 1, seconds: o.seconds, payloadBytes: 64, subscriberUrl, morePids, sidePid });
          row.throughput.push(t);
          log(`[${r + 1}/${o.repeats}] ${CLUSTER_LABEL[k]} QoS ${qos}: ${fmt(t.perSecond)} msg/s, ${fmt(t.perCpuSecond)} per broker CPU-s, brokers ${t.brokerCores.toFixed(2)} cores, redis ${t.sideCores.toFixed(2)} cores, lost ${(t.missingShare * 100).toFixed(1)}%, others ${t.foreignCores.toFixed(2)} cores`);
          const l = await latency(pubBroker, pki, { qos, protocolVersion: 4, rate: o.rate, warmupSeconds: 0.5, seconds: 2, payloadBytes: 64, subscriberUrl });
          row.latency.push(l);
          log(`[${r + 1}/${o.repeats}] ${CLUSTER_LABEL[k]} latency QoS ${qos} at ${o.rate}/s: p50 ${l.p50ms.toFixed(2)} ms, p99 ${l.p99ms.toFixed(2)} ms, max ${l.maxMs.toFixed(2)} ms (${l.samples} samples, ${l.lost} lost)`);
        }
      } catch (e) {
        // A case that fails (a node that crashed) is reported, not the end of the run.
        const dead = [single, node1, node2].filter((b) => !b.running);
        const why = dead.length === 0 ? (e as Error).message
          : dead.map((b) => `${b === single ? 'single gateway' : b === node1 ? 'node 1' : 'node 2'} ${state(b)}: ${b.lines.map((l) => l.text).filter((l) => /Error|exceeded/.test(l)).slice(0, 2).join(' / ')}`).join('; ');
        failures.set(k, why);
        log(`[${r + 1}/${o.repeats}] ${CLUSTER_LABEL[k]}: FAILED: ${why}\n${dead.map((b) => b.tail(25)).join('\n')}`);
      }
    }
  }
  await Promise.all([single.stop(), node1.stop(), node2.stop()]);
  return {
    rows,
    failures,
    redisVersion: version('redis-server', ['--version'], /v=(\S+)/),
    postgresVersion: pg.psql('SHOW server_version').trim().split(/\s+/)[0] ?? '?',
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The results as a Markdown table, medians of the repeats, ratios to the single gateway. */
export function clusterTable(res: ClusterResults, rate: number): string {
  const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
  const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
  const cores = ms;
  const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–');
  const out = [
    `| Case | QoS | msg/s delivered | per broker CPU-s | broker cores | redis-server cores | p50 ms at ${fmt(rate)}/s | p99 ms | max ms | msg/s vs single | per CPU-s vs single | p50 vs single | p99 vs single |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const singleRows = res.rows.get('single')!;
  for (const k of CLUSTER_CASES) {
    if (res.failures.has(k) && res.rows.get(k)!.every((r) => r.throughput.length === 0 && r.latency.length === 0)) {
      out.push(`| ${CLUSTER_LABEL[k]} | – | failed | | | | | | | | | | |`);
      continue;
    }
    for (const row of res.rows.get(k)!) {
      const base = singleRows.find((b) => b.qos === row.qos)!;
      const m = (xs: readonly ThroughputSample[], f: (t: ThroughputSample) => number): number => median(xs.map(f));
      const l = (xs: readonly LatencyResult[], f: (t: LatencyResult) => number): number => median(xs.map(f));
      const perSecond = m(row.throughput, (t) => t.perSecond);
      const perCpu = m(row.throughput, (t) => t.perCpuSecond);
      const p50 = l(row.latency, (t) => t.p50ms);
      const p99 = l(row.latency, (t) => t.p99ms);
      out.push(`| ${CLUSTER_LABEL[k]} | ${row.qos} | ${fmt(perSecond)} | ${fmt(perCpu)} | ${cores(m(row.throughput, (t) => t.brokerCores))} | ${k === 'single' ? '–' : cores(m(row.throughput, (t) => t.sideCores))} | ${ms(p50)} | ${ms(p99)} | ${ms(l(row.latency, (t) => t.maxMs))} | ${ratio(perSecond, m(base.throughput, (t) => t.perSecond))} | ${ratio(perCpu, m(base.throughput, (t) => t.perCpuSecond))} | ${ratio(p50, l(base.latency, (t) => t.p50ms))} | ${ratio(p99, l(base.latency, (t) => t.p99ms))} |`);
    }
  }
  const notes = [...res.failures].map(([k, why]) => `\n- ${CLUSTER_LABEL[k]}: did not complete: ${why}`).join('');
  return `${out.join('\n')}\n${notes}${notes ? '\n' : ''}`;
}
