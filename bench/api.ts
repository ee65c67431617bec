/**
 * Local API benchmark: `npm run bench:api`.
 *
 * Starts a real gateway (`gatehouse start`, its own process, logging at warn), creates
 * a thing, gets a session token through the API, then drives
 * `POST /v1/authorize-client-device-action` from THIS process over keep-alive HTTP/1.1
 * connections (no pipelining: each connection has one request in flight). The load
 * generator is a minimal raw-socket HTTP client, so that as much of the machine as
 * possible is left to the server; every answer is checked (status 200, and the
 * expected isAuthorized for the allowed and the denied request it alternates).
 *
 * Reports calls per second over the measured window (after a warm-up) and the p50,
 * p99 and p99.9 latency of a call as the client sees it.
 *
 * Options: --connections N (default 32), --seconds N (default 10), --warmup N
 * (default 2), --json (one JSON object on stdout), --profile DIR (write a V8 CPU
 * profile of the gateway into DIR).
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
const SECONDS = option('--seconds', 10);
const WARMUP = option('--warmup', 2);
const JSON_OUT = args.includes('--json');
const PROFILE = args.includes('--profile') ? args[args.indexOf('--profile') + 1] : undefined;

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

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

async function post(url: URL, token: string, path: string, body: unknown): Promise<unknown> {
  const r = await fetch(new URL(path, url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json: unknown = await r.json();
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

function request(url: URL, apiToken: string, body: string): Buffer {
  return Buffer.from(`POST /v1/authorize-client-device-action HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${apiToken}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

interface Totals {
  calls: number;
  errors: number;
  latencies: Float64Array;
  recorded: number;
  measuring: boolean;
  stopping: boolean;
}

/** One keep-alive connection sending the two requests in turn, one at a time. */
function drive(url: URL, requests: readonly { buf: Buffer; expect: string }[], totals: Totals, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    let buffer: Buffer = Buffer.alloc(0);
    let n = offset;
    let sentAt = 0;
    const send = (): void => {
      if (totals.stopping) {
        socket.end();
        return;
      }
      sentAt = performance.now();
      socket.write(requests[n % requests.length]!.buf);
    };
    socket.once('connect', send);
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffer.toString('latin1', 0, headEnd);
        const m = /content-length: (\d+)/i.exec(head);
        if (!m) return reject(new Error(`no content-length in ${head}`));
        const end = headEnd + 4 + Number(m[1]);
        if (buffer.length < end) return;
        const ok = head.startsWith('HTTP/1.1 200') && buffer.toString('utf8', headEnd + 4, end) === requests[n % requests.length]!.expect;
        buffer = buffer.subarray(end);
        if (totals.measuring) {
          totals.calls++;
          if (!ok) totals.errors++;
          if (totals.recorded < totals.latencies.length) totals.latencies[totals.recorded++] = performance.now() - sentAt;
        } else if (!ok) {
          return reject(new Error(`unexpected answer during warm-up: ${head}`));
        }
        n++;
        send();
      }
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-api-'));
  let child: ChildProcess | undefined;
  try {
    const gw = await startGateway(dir);
    child = gw.child;
    const apiToken = readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim();
    execFileSync(process.execPath, [CLI, 'things', 'create', 'sensor-1', '--out', join(dir, 'devices'), '--data-dir', join(dir, 'data')], { stdio: 'ignore' });
    const pem = readFileSync(join(dir, 'devices', 'sensor-1.cert.pem'), 'utf8');
    const { clientDeviceAuthToken } = (await post(gw.url, apiToken, '/v1/get-client-device-auth-token', { credential: { mqttCredential: { clientId: 'sensor-1', certificatePem: pem } } })) as { clientDeviceAuthToken: string };
    const call = (resource: string): string => JSON.stringify({ clientDeviceAuthToken, operation: 'mqtt:publish', resource });
    const requests = [
      { buf: request(gw.url, apiToken, call('mqtt:topic:sensors/sensor-1/temperature')), expect: '{"isAuthorized":true,"reason":"ALLOWED_BY_STATEMENT"}' },
      { buf: request(gw.url, apiToken, call('mqtt:topic:sensors/sensor-1/secret')), expect: '{"isAuthorized":false,"reason":"DENIED_BY_STATEMENT"}' },
    ];
    const totals: Totals = { calls: 0, errors: 0, latencies: new Float64Array(20_000_000), recorded: 0, measuring: false, stopping: false };
    const running = Array.from({ length: CONNECTIONS }, (_, i) => drive(gw.url, requests, totals, i));
    await new Promise((r) => setTimeout(r, WARMUP * 1000));
    totals.measuring = true;
    const t0 = performance.now();
    const cpu0 = cpuSeconds(child.pid);
    const own0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    totals.measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(child.pid);
    const own = process.cpuUsage(own0);
    totals.stopping = true;
    await Promise.all(running);

    const perCall = (seconds: number | undefined): number | undefined => (seconds === undefined ? undefined : Math.round((seconds * 1e6) / Math.max(1, totals.calls)));
    const lat = totals.latencies.subarray(0, totals.recorded).sort();
    const pct = (p: number): number => Math.round((lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0) * 1000);
    const result = {
      benchmark: 'api-authorize',
      connections: CONNECTIONS,
      seconds: Math.round(seconds * 100) / 100,
      calls: totals.calls,
      errors: totals.errors,
      callsPerSecond: Math.round(totals.calls / seconds),
      p50us: pct(0.5),
      p99us: pct(0.99),
      p999us: pct(0.999),
      /** CPU time the gateway process used per call (user + system), when /proc is available. */
      gatewayCpuUsPerCall: perCall(cpu0 && cpu1 && cpu1.user + cpu1.system - cpu0.user - cpu0.system),
      /** Of which in the kernel (socket reads and writes, loopback TCP). */
      gatewayKernelUsPerCall: perCall(cpu0 && cpu1 && cpu1.system - cpu0.system),
      loadGeneratorCpuUsPerCall: Math.round((own.user + own.system) / Math.max(1, totals.calls)),
      node: process.version,
      cpus: cpus().length,
      loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    };
    if (JSON_OUT) console.log(JSON.stringify(result));
    else {
      console.log(`authorize over keep-alive HTTP: ${result.callsPerSecond} calls/s (${result.calls} calls in ${result.seconds} s, ${CONNECTIONS} connections, ${result.errors} errors)`);
      console.log(`latency: p50 ${result.p50us} µs, p99 ${result.p99us} µs, p99.9 ${result.p999us} µs`);
      if (result.gatewayCpuUsPerCall !== undefined) {
        console.log(`CPU per call: gateway ${result.gatewayCpuUsPerCall} µs, ${result.gatewayKernelUsPerCall} µs of it in the kernel (at most ~${Math.round(1e6 / result.gatewayCpuUsPerCall)} calls/s on one free core), load generator ${result.loadGeneratorCpuUsPerCall} µs`);
      }
      console.log(`node ${result.node}, ${result.cpus} CPUs, load ${result.loadavg.join(' ')}; the gateway and this load generator share the machine`);
    }
    if (totals.errors > 0) process.exitCode = 1;
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
