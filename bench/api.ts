/**
 * Local API benchmark: `npm run bench:api`.
 *
 * Starts a real gateway (`gatehouse start`, its own process, logging at warn), creates
 * four things and a session for each through the API, then drives the authorization
 * calls from THIS process over keep-alive HTTP/1.1 connections (no pipelining: each
 * connection has one request in flight). The load generator is a minimal raw-socket
 * HTTP client with its requests built beforehand, so that as much of the machine as
 * possible is left to the server; every answer is checked byte for byte against the
 * answer known by construction (allowed and denied requests alternate).
 *
 * Phases, each after its own warm-up:
 *  - `single-1`: `POST /v1/authorize-client-device-action` on one connection, one call
 *    after the other: the latency of a call with nothing else going on;
 *  - `single-N`: the same on --connections connections at once (default 32);
 *  - `batch-B` for B = 1, 10, 100, 1000: `POST /v1/authorize-client-device-actions`
 *    with B entries (the four devices' tokens in turn, as a broker relaying several
 *    devices sends them) on --batch-connections connections (default 4).
 *
 * Reports, per phase: requests and decisions per second over the measured window, the
 * p50, p99 and p99.9 latency of a request as the client sees it, and the gateway's CPU
 * time per decision (user + kernel, from /proc).
 *
 * Options: --connections N, --batch-connections N, --seconds N per phase (default 4),
 * --warmup N per phase (default 1), --phases single-1,single-N,batch-1,… (default all),
 * --json (one JSON object on stdout), --profile DIR (a V8 CPU profile of the gateway).
 * A gateway without the batch route (an older build) gets the single-call phases only.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const CONNECTIONS = option('--connections', 32);
const BATCH_CONNECTIONS = option('--batch-connections', 4);
const SECONDS = option('--seconds', 4);
const WARMUP = option('--warmup', 1);
const JSON_OUT = args.includes('--json');
const PROFILE = args.includes('--profile') ? args[args.indexOf('--profile') + 1] : undefined;
const BATCH_SIZES = [1, 10, 100, 1000] as const;
const ALL_PHASES = ['single-1', 'single-N', ...BATCH_SIZES.map((b) => `batch-${b}`)];
const PHASES = args.includes('--phases') ? (args[args.indexOf('--phases') + 1] ?? '').split(',') : ALL_PHASES;
const DEVICES = ['sensor-1', 'sensor-2', 'sensor-3', 'sensor-4'];

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SINGLE = '/v1/authorize-client-device-action';
const BATCH = '/v1/authorize-client-device-actions';

const CONFIG = `
deviceGroups:
  definitions:
    Sensors: { selectionRule: "thingName: sensor-*", policyName: SensorPolicy }
  policies:
    SensorPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:sensors/\${iot:Connection.Thing.ThingName}/*"] }
      NoSecrets: { effect: DENY, operations: [mqtt:publish], resources: ["mqtt:topic:sensors/*/secret"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
  logging: { level: warn }
  api: { bodyLimitBytes: 1048576 }
`;

async function startGateway(dir: string): Promise<{ child: ChildProcess; url: URL }> {
  writeFileSync(join(dir, 'gatehouse.yaml'), CONFIG);
  const profile = PROFILE !== undefined ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : [];
  const child = spawn(process.execPath, [...profile, CLI, 'start', '--config', join(dir, 'gatehouse.yaml'), '--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--api-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
  });
  const url = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not start within 30 s')), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('listening http://')) {
        clearTimeout(timer);
        resolve(new URL(line.slice('listening '.length)));
      }
    });
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code}`)));
  });
  return { child, url };
}

async function post(url: URL, token: string, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const r = await fetch(new URL(path, url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

/** A request ready to write, the exact body of its answer and how many decisions it asks. */
interface Call {
  readonly buf: Buffer;
  readonly expect: string;
  readonly decisions: number;
}

function call(url: URL, apiToken: string, path: string, body: unknown, expect: unknown, decisions: number): Call {
  const text = JSON.stringify(body);
  const buf = Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${apiToken}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  return { buf, expect: JSON.stringify(expect), decisions };
}

interface Totals {
  requests: number;
  decisions: number;
  errors: number;
  latencies: Float64Array;
  recorded: number;
  measuring: boolean;
  stopping: boolean;
}

/** One keep-alive connection sending `calls` in turn, one at a time. */
function drive(url: URL, calls: readonly Call[], totals: Totals, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    let chunks: Buffer[] = [];
    let have = 0;
    /** Bytes of the whole answer once its head is read, else 0. */
    let needed = 0;
    let headEnd = -1;
    let n = offset;
    let sentAt = 0;
    const send = (): void => {
      if (totals.stopping) {
        socket.end();
        return;
      }
      sentAt = performance.now();
      socket.write(calls[n % calls.length]!.buf);
    };
    socket.once('connect', send);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (needed > 0 && have < needed) return;
      let buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
      chunks = [buffer];
      if (needed === 0) {
        headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const m = /content-length: (\d+)/i.exec(buffer.toString('latin1', 0, headEnd));
        if (!m) return reject(new Error(`no content-length in ${buffer.toString('latin1', 0, headEnd)}`));
        needed = headEnd + 4 + Number(m[1]);
        if (have < needed) return;
      }
      const c = calls[n % calls.length]!;
      const ok = buffer.toString('latin1', 0, 12) === 'HTTP/1.1 200' && buffer.toString('utf8', headEnd + 4, needed) === c.expect;
      // One request in flight: nothing follows the answer.
      buffer = buffer.subarray(needed);
      chunks = buffer.length > 0 ? [buffer] : [];
      have = buffer.length;
      needed = 0;
      if (totals.measuring) {
        totals.requests++;
        totals.decisions += c.decisions;
        if (!ok) totals.errors++;
        if (totals.recorded < totals.latencies.length) totals.latencies[totals.recorded++] = performance.now() - sentAt;
      } else if (!ok) {
        return reject(new Error('unexpected answer during warm-up'));
      }
      n++;
      send();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

/** CPU seconds a process has used in user and kernel mode, from /proc (Linux); undefined elsewhere. */
function cpuSeconds(pid: number | undefined): { user: number; system: number } | undefined {
  const file = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(file)) return undefined;
  const fields = readFileSync(file, 'utf8').replace(/^.*\) /, '').split(' ');
  // After the command: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

interface PhaseResult {
  readonly phase: string;
  readonly connections: number;
  readonly decisionsPerRequest: number;
  readonly seconds: number;
  readonly requests: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
  readonly decisionsPerSecond: number;
  readonly p50us: number;
  readonly p99us: number;
  readonly p999us: number;
  /** CPU time the gateway process used per decision (user + system), when /proc is available. */
  readonly gatewayCpuUsPerDecision: number | undefined;
  /** Of which in the kernel (socket reads and writes, loopback TCP). */
  readonly gatewayKernelUsPerDecision: number | undefined;
  readonly loadGeneratorCpuUsPerDecision: number;
}

async function phase(name: string, url: URL, pid: number | undefined, connections: number, calls: readonly Call[]): Promise<PhaseResult> {
  const totals: Totals = { requests: 0, decisions: 0, errors: 0, latencies: new Float64Array(2_000_000), recorded: 0, measuring: false, stopping: false };
  const running = Array.from({ length: connections }, (_, i) => drive(url, calls, totals, i));
  const failed = Promise.all(running).then(() => undefined);
  await Promise.race([new Promise((r) => setTimeout(r, WARMUP * 1000)), failed]);
  totals.measuring = true;
  const t0 = performance.now();
  const cpu0 = cpuSeconds(pid);
  const own0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  totals.measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(pid);
  const own = process.cpuUsage(own0);
  totals.stopping = true;
  await failed;
  const per = (s: number | undefined): number | undefined => (s === undefined ? undefined : Math.round((s * 1e7) / Math.max(1, totals.decisions)) / 10);
  const lat = totals.latencies.subarray(0, totals.recorded).sort();
  const pct = (p: number): number => Math.round((lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0) * 1000);
  return {
    phase: name,
    connections,
    decisionsPerRequest: calls[0]!.decisions,
    seconds: Math.round(seconds * 100) / 100,
    requests: totals.requests,
    errors: totals.errors,
    requestsPerSecond: Math.round(totals.requests / seconds),
    decisionsPerSecond: Math.round(totals.decisions / seconds),
    p50us: pct(0.5),
    p99us: pct(0.99),
    p999us: pct(0.999),
    gatewayCpuUsPerDecision: per(cpu0 && cpu1 && cpu1.user + cpu1.system - cpu0.user - cpu0.system),
    gatewayKernelUsPerDecision: per(cpu0 && cpu1 && cpu1.system - cpu0.system),
    loadGeneratorCpuUsPerDecision: Math.round((own.user + own.system) / Math.max(1, totals.decisions) * 10) / 10,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-api-'));
  let child: ChildProcess | undefined;
  try {
    const gw = await startGateway(dir);
    child = gw.child;
    const url = gw.url;
    const apiToken = readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim();
    const tokens: string[] = [];
    for (const thing of DEVICES) {
      execFileSync(process.execPath, [CLI, 'things', 'create', thing, '--out', join(dir, 'devices'), '--data-dir', join(dir, 'data')], { stdio: 'ignore' });
      const pem = readFileSync(join(dir, 'devices', `${thing}.cert.pem`), 'utf8');
      const r = await post(url, apiToken, '/v1/get-client-device-auth-token', { credential: { mqttCredential: { clientId: thing, certificatePem: pem } } });
      if (r.status !== 200) throw new Error(`token for ${thing}: ${r.status} ${JSON.stringify(r.json)}`);
      tokens.push((r.json as { clientDeviceAuthToken: string }).clientDeviceAuthToken);
    }
    const ALLOWED = { isAuthorized: true, reason: 'ALLOWED_BY_STATEMENT' };
    const DENIED = { isAuthorized: false, reason: 'DENIED_BY_STATEMENT' };
    /** Entry i: device i mod 4, allowed and denied in turn. */
    const entry = (i: number): { body: unknown; answer: unknown } => {
      const d = i % DEVICES.length;
      const allowed = Math.floor(i / DEVICES.length) % 2 === 0;
      return {
        body: { clientDeviceAuthToken: tokens[d], operation: 'mqtt:publish', resource: `mqtt:topic:sensors/${DEVICES[d]}/${allowed ? 'temperature' : 'secret'}` },
        answer: allowed ? ALLOWED : DENIED,
      };
    };
    const singles = [0, DEVICES.length].map((i) => entry(i)).map((e) => call(url, apiToken, SINGLE, e.body, e.answer, 1));
    const batches = (size: number): Call[] => [0, 1].map((k) => {
      const entries = Array.from({ length: size }, (_, i) => entry(i + k * DEVICES.length));
      return call(url, apiToken, BATCH, { requests: entries.map((e) => e.body) }, { results: entries.map((e) => e.answer) }, size);
    });
    const probe = await post(url, apiToken, BATCH, { requests: [entry(0).body] });
    const hasBatch = probe.status === 200;

    const results: PhaseResult[] = [];
    const skipped: string[] = [];
    for (const name of PHASES) {
      if (name === 'single-1') results.push(await phase(name, url, child.pid, 1, singles));
      else if (name === 'single-N') results.push(await phase(`single-${CONNECTIONS}`, url, child.pid, CONNECTIONS, singles));
      else if (/^batch-\d+$/.test(name)) {
        if (!hasBatch) skipped.push(name);
        else results.push(await phase(name, url, child.pid, BATCH_CONNECTIONS, batches(Number(name.slice('batch-'.length)))));
      } else throw new Error(`unknown phase ${name}; phases: ${ALL_PHASES.join(', ')}`);
    }
    const env = { node: process.version, cpus: cpus().length, loadavg: loadavg().map((l) => Math.round(l * 100) / 100) };
    if (JSON_OUT) console.log(JSON.stringify({ benchmark: 'api-authorize', batchRoute: hasBatch, skipped, results, ...env }));
    else {
      console.log('phase         conn  decisions/s  requests/s   p50 µs   p99 µs  p99.9 µs  gateway CPU µs/decision (kernel)  errors');
      for (const r of results) {
        const cpu = r.gatewayCpuUsPerDecision === undefined ? 'n/a' : `${r.gatewayCpuUsPerDecision} (${r.gatewayKernelUsPerDecision})`;
        console.log(`${r.phase.padEnd(12)} ${String(r.connections).padStart(5)} ${String(r.decisionsPerSecond).padStart(12)} ${String(r.requestsPerSecond).padStart(11)} ${String(r.p50us).padStart(8)} ${String(r.p99us).padStart(8)} ${String(r.p999us).padStart(9)}  ${cpu.padStart(32)}  ${r.errors}`);
      }
      if (skipped.length > 0) console.log(`skipped (this gateway has no ${BATCH}): ${skipped.join(', ')}`);
      console.log(`node ${env.node}, ${env.cpus} CPUs, load ${env.loadavg.join(' ')}; the gateway and this load generator share the machine`);
    }
    if (results.some((r) => r.errors > 0)) process.exitCode = 1;
  } finally {
    child?.kill('SIGTERM');
    if (child && child.exitCode === null) await new Promise((r) => child!.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
