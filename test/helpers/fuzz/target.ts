/**
 * The gateway under fuzzing: a real `gatehouse start` process with fuzzing devices (allowed
 * to connect, to publish on three topics of their own and to subscribe under `fuzz/`),
 * devices it must refuse, and a well-behaved MQTT.js client (the probe) whose round trips
 * show the gateway still serves devices. Shared by test/e2e/fuzz.test.ts and bench/fuzz.ts.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { loadConfigFile } from '../../../src/config-file.js';
import { openIdentity } from '../../../src/identity/bootstrap.js';
import { GatewayProcess, connectDevice, type Device } from '../gateway.js';
import { tempDir } from '../tmp-dir.js';
import type { FuzzDevice } from './driver.js';

export const PROBE = 'probe-1';
/** The filters FuzzPolicy lets the fuzzing devices subscribe to (compared literally). */
export const FUZZ_SUBSCRIBE_ALLOWED: readonly string[] = ['fuzz/#', 'fuzz/+/temp'];

// Publishing is limited to three exact topics per device so that retained messages cannot
// pile up over a long run: a mutated topic is denied instead of stored.
const CONFIG = `
deviceGroups:
  definitions:
    Fuzzers: { selectionRule: "thingName: fuzz-*", policyName: FuzzPolicy }
    Probes: { selectionRule: "thingName: probe-*", policyName: ProbePolicy }
  policies:
    FuzzPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:fuzz/\${iot:Connection.Thing.ThingName}/a", "mqtt:topic:fuzz/\${iot:Connection.Thing.ThingName}/x", "mqtt:topic:fuzz/\${iot:Connection.Thing.ThingName}/temp"] }
      Subscribe: { operations: [mqtt:subscribe], resources: [${FUZZ_SUBSCRIBE_ALLOWED.map((f) => `"mqtt:topicfilter:${f}"`).join(', ')}] }
    ProbePolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:probe/*"] }
      Subscribe: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:probe/#"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

/** A well-behaved client: publishes QoS 1 messages to itself and waits for each. */
export class Probe {
  roundTrips = 0;
  /** Messages that arrived without being sent by the probe (a fuzzing device reached it). */
  readonly foreign: string[] = [];
  readonly failures: string[] = [];
  private readonly pending = new Map<string, () => void>();
  private loop: Promise<void> | undefined;
  private running = false;

  private closeReason: string | undefined;

  private constructor(private readonly client: MqttClient) {
    // Taken over by another connection with the same client ID, or dropped by the gateway.
    client.on('close', () => { this.closeReason ??= 'connection closed'; });
    client.on('error', (e) => { this.closeReason = e.message; });
    client.on('message', (topic, payload) => {
      const done = this.pending.get(payload.toString());
      if (done) done();
      else this.foreign.push(`${topic}: ${payload.subarray(0, 64).toString('hex')}`);
    });
  }

  static async connect(url: string, device: Device): Promise<Probe> {
    const client = await connectDevice(url, device, { connectTimeout: 15000, reconnectPeriod: 0 });
    await client.subscribeAsync('probe/#', { qos: 1 });
    return new Probe(client);
  }

  /**
   * One publish-and-receive round trip; resolves with its time in ms. Rejects after the
   * timeout, or at once when the client is not connected (MQTT.js would queue the publish).
   */
  async roundTrip(timeoutMs = 15000): Promise<number> {
    if (!this.client.connected) throw new Error(`the well-behaved client is disconnected${this.closeReason ? ` (${this.closeReason})` : ''}`);
    const started = performance.now();
    const token = randomBytes(8).toString('hex');
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => { this.pending.delete(token); reject(new Error(`round trip ${token} not completed within ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(token, () => { clearTimeout(timer); this.pending.delete(token); resolve(); });
    });
    try {
      await Promise.all([this.client.publishAsync(`probe/rt/${this.roundTrips}`, token, { qos: 1 }), arrived]);
    } finally {
      clearTimeout(timer);
      this.pending.delete(token);
    }
    this.roundTrips++;
    return performance.now() - started;
  }

  /** Round trips one after another, `pauseMs` apart, until stop(). */
  start(pauseMs: number): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        try {
          await this.roundTrip();
        } catch (e) {
          this.failures.push((e as Error).message);
        }
        if (this.running) await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  async end(): Promise<void> {
    await this.client.endAsync();
  }
}

export interface FuzzTarget {
  readonly gw: GatewayProcess;
  readonly devices: readonly FuzzDevice[];
  readonly refused: readonly FuzzDevice[];
  readonly probeDevice: Device;
  /** The gateway's resident set size in KiB (VmRSS), or undefined when it is gone. */
  rssKiB(): number | undefined;
  /** CPU time (user + system) the gateway process has used, in seconds. */
  cpuSeconds(): number | undefined;
  /** Whether the gateway process is still running. */
  alive(): boolean;
  /** Log lines that show a crash, an uncaught exception or an error-level event. */
  crashLines(from?: number): string[];
  stop(): Promise<void>;
}

/**
 * Starts the gateway with `workers` fuzzing devices and two refused ones: `fuzz-revoked`
 * (certificate revoked) and `fuzz-gone` (thing deleted, so its certificate is registered
 * but attached to no thing).
 */
export async function startFuzzTarget(workers: number): Promise<FuzzTarget> {
  const dir = await tempDir('gatehouse-fuzz-');
  const gw = await GatewayProcess.start(dir.path, CONFIG);
  try {
    const names = [...Array.from({ length: workers }, (_v, w) => `fuzz-${w}`), PROBE, 'fuzz-revoked', 'fuzz-gone'];
    const created = await createDevices(gw, names, { revoke: ['fuzz-revoked'], deleteThings: ['fuzz-gone'] });
    const devices = created.slice(0, workers);
    const [probeDevice, revoked, gone] = created.slice(workers) as [Device, Device, Device];
    // The setup is only right if the gateway already refuses these two.
    for (const d of [revoked, gone]) {
      const accepted = await connectDevice(gw.mqttUrl, d, { connectTimeout: 15000 }).then(async (c) => { await c.endAsync(); return true; }, () => false);
      if (accepted) throw new Error(`the gateway accepted ${d.name}, which it must refuse`);
    }
    const pid = gw.pid!;
    return {
      gw, devices, refused: [revoked, gone], probeDevice,
      rssKiB: () => readRssKiB(pid),
      cpuSeconds: () => readCpuSeconds(pid),
      alive: () => readRssKiB(pid) !== undefined,
      crashLines: (from = 0) => gw.lines.slice(from).filter(isCrashLine),
      stop: async () => {
        await gw.stop();
        await dir.cleanup();
      },
    };
  } catch (e) {
    await gw.stop();
    await dir.cleanup();
    throw e;
  }
}

/**
 * Registers things and issues their certificates the way `gatehouse things create` does
 * (the gateway's CA and registry in its data directory; the running gateway sees the
 * changes through the registry's change feed), then revokes and deletes as asked. One
 * process instead of a CLI process per device: on a loaded machine each of those costs
 * seconds.
 */
async function createDevices(gw: GatewayProcess, names: readonly string[], then: { revoke: readonly string[]; deleteThings: readonly string[] }): Promise<Device[]> {
  const loaded = await loadConfigFile(gw.configPath);
  if (!loaded.ok) throw new Error(`cannot load ${gw.configPath}`);
  const { registry, ca } = await openIdentity(gw.dataDir, loaded.config);
  try {
    const out = join(gw.dir, 'devices');
    await mkdir(out, { recursive: true, mode: 0o700 });
    const caPath = join(out, 'ca.pem');
    const caPem = ca.chainPem.map(endLine).join('');
    await writeFile(caPath, caPem);
    const devices: Device[] = [];
    for (const name of names) {
      const issued = await ca.issueDeviceCertificate({ thingName: name });
      const intermediates = issued.chainPem.filter((p) => { const x = new X509Certificate(p); return x.subject !== x.issuer; });
      const certPem = [issued.certificatePem, ...intermediates].map(endLine).join('');
      const keyPath = join(out, `${name}.key.pem`);
      const certPath = join(out, `${name}.cert.pem`);
      await writeFile(keyPath, issued.privateKeyPem, { mode: 0o600 });
      await writeFile(certPath, certPem);
      const result = await registry.enroll({ thingName: name, attributes: {}, certificatePem: issued.certificatePem, thing: 'new', issuerId: ca.id });
      devices.push({
        name, keyPath, certPath, caPath, certificateId: result.certificate.id,
        key: Buffer.from(issued.privateKeyPem), cert: Buffer.from(certPem), ca: Buffer.from(caPem),
      });
    }
    for (const name of then.revoke) await registry.setCertificateStatus(devices.find((d) => d.name === name)!.certificateId, 'REVOKED');
    for (const name of then.deleteThings) await registry.deleteThing(name);
    return devices;
  } finally {
    await registry.close();
  }
}

function endLine(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** VmRSS of a live (not zombie) process in KiB, from /proc/PID/status. */
export function readRssKiB(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  if (/^State:\s+[ZX]/m.test(status)) return undefined;
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** utime + stime of a process in seconds, from /proc/PID/stat (clock ticks of 1/100 s). */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * A crash shows as a non-JSON stderr line (Node prints an uncaught exception's stack and
 * process warnings there) or as a pino line at level error (50) or fatal (60).
 */
export function isCrashLine(line: string): boolean {
  if (line.startsWith('{')) {
    try {
      const level = (JSON.parse(line) as { level?: unknown }).level;
      return typeof level === 'number' && level >= 50;
    } catch {
      return true;
    }
  }
  return /uncaught|unhandled|Error\b|Warning\b|^\s+at\s|FATAL|abort/i.test(line);
}
