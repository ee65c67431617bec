/**
 * The brokers under test, each in a child process of its own, on 127.0.0.1 and an
 * ephemeral port:
 *
 * - `gatehouse`: `gatehouse start --config F --data-dir D --mqtt-port 0` (the real CLI,
 *   as the end-to-end tests start it), the benchmark policy with 2 device groups;
 * - `gatehouse-10k`: the same with 10,000 more device groups configured;
 * - `gatehouse-iot`: the same gateway and devices with no device group: the same
 *   permissions come from AWS IoT Core policy documents in its registry (created and
 *   attached to two thing groups before it starts, see setupIotPolicies);
 * - `aedes`: bare aedes 1.2.0 with the same TLS listener and no hooks (aedes-server.ts);
 * - `aedes-fifo`: the same with Gatehouse's router (src/broker/mq.ts) as its `mq`, to
 *   show that change alone (flood workload only);
 * - `mosquitto`: Mosquitto 2 from Debian with mutual TLS, use_identity_as_username and
 *   an ACL pattern file.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openRegistry } from '../../src/identity/bootstrap.js';
import { freePort, onLines, spawnTracked, stopChild, waitForLine } from './proc.js';
import { COLLECTOR, IOT_COLLECTOR_GROUP, IOT_DEVICE_GROUP, gatehouseConfig, iotPolicyDocuments, mosquittoAcl, mosquittoConfig, type Pki } from './setup.js';

export type BrokerName = 'gatehouse' | 'gatehouse-10k' | 'gatehouse-iot' | 'aedes' | 'aedes-fifo' | 'mosquitto';
export const ALL_BROKERS: readonly BrokerName[] = ['gatehouse', 'gatehouse-10k', 'gatehouse-iot', 'aedes', 'aedes-fifo', 'mosquitto'];
/** Brokers that run only the flood workload. */
export const FLOOD_ONLY: readonly BrokerName[] = ['aedes-fifo'];

/** Repository root (this file runs from dist/bench/broker/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const AEDES_SERVER = fileURLToPath(new URL('./aedes-server.js', import.meta.url));

export interface LogLine {
  readonly at: number;
  readonly text: string;
}

export class Broker {
  /** Recent output lines (bounded), for diagnostics. */
  readonly lines: LogLine[] = [];
  /** Gatehouse's `recheck` and `config-applied` log lines, kept apart: thousands of other lines may follow one. */
  readonly rechecks: LogLine[] = [];
  private readonly listeners = new Set<(line: string) => void>();

  constructor(
    readonly name: BrokerName,
    readonly child: ChildProcess,
    /** Applies the policy change: rewrites the config (and signals the broker if it does not watch it). */
    readonly revokePolicy: (() => Promise<void>) | undefined,
  ) {
    const collect = (line: string): void => {
      const entry = { at: performance.timeOrigin + performance.now(), text: line };
      this.lines.push(entry);
      if (this.lines.length > 2000) this.lines.splice(0, 1000);
      if (line.includes('"event":"recheck"') || line.includes('"event":"config-applied"')) this.rechecks.push(entry);
      for (const l of this.listeners) l(line);
    };
    onLines(child.stdout, collect);
    onLines(child.stderr, collect);
  }

  url = '';

  get pid(): number {
    return this.child.pid!;
  }

  subscribe(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }

  tail(n = 20): string {
    return this.lines.slice(-n).map((l) => l.text).join('\n');
  }
}

export interface StartOptions {
  readonly pki: Pki;
  readonly maxSessions: number;
  /** Extra node options for the Node.js brokers (e.g. --cpu-prof). */
  readonly nodeArgs: readonly string[];
  /** Format of Gatehouse's configuration files. */
  readonly configFormat: 'yaml' | 'json';
  /**
   * How Gatehouse learns of the rewritten configuration file: SIGHUP right after the
   * write (as Mosquitto is told), or its own file watch, which waits for the file to
   * stay unchanged for `gatehouse.configSettleMilliseconds` (1 s by default) first.
   */
  readonly reload: 'sighup' | 'watch';
  /** Run the broker, every thread of it, on this CPU only (`--pin-broker`). */
  readonly pinCpu?: number;
}

export async function startBroker(name: BrokerName, opts: StartOptions): Promise<Broker> {
  const broker = await startUnpinned(name, opts);
  if (opts.pinCpu !== undefined) await pin(broker.pid, String(opts.pinCpu));
  return broker;
}

/** Sets the CPU affinity of every thread of `pid` (threads made later inherit it). */
export async function pin(pid: number, cpus: string): Promise<void> {
  await execFileAsync('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
}

function startUnpinned(name: BrokerName, opts: StartOptions): Promise<Broker> {
  switch (name) {
    case 'gatehouse':
      return startGatehouse(name, opts, 0, opts.pki.dataDir);
    case 'gatehouse-10k':
      return startGatehouse(name, opts, 10_000, opts.pki.dataDir10k);
    case 'gatehouse-iot':
      return setupIotPolicies(opts.pki).then(() => startGatehouse(name, opts, 0, opts.pki.dataDirIot, revokeIotPolicy(opts.pki.dataDirIot)));
    case 'aedes':
      return startAedes(opts, false);
    case 'aedes-fifo':
      return startAedes(opts, true);
    case 'mosquitto':
      return startMosquitto(opts);
  }
}

const execFileAsync = promisify(execFile);

/**
 * The IoT variant's policies, in its copy of the data directory, before it starts: the
 * two documents created and attached to two thing groups with the registry CLI, as an
 * operator would; the devices are added to their group through the registry in this
 * process (one CLI run per device would take minutes at 5,000 devices).
 */
async function setupIotPolicies(pki: Pki): Promise<void> {
  const dataDir = pki.dataDirIot;
  const cli = async (args: string[]): Promise<void> => {
    await execFileAsync(process.execPath, [CLI, ...args, '--data-dir', dataDir]);
  };
  const docs = iotPolicyDocuments(false);
  for (const name of ['DevicePolicy', 'CollectorPolicy'] as const) {
    const file = join(dataDir, '..', `${name}.json`);
    await writeFile(file, docs[name]);
    await cli(['policies', 'create', name, '--file', file]);
  }
  await cli(['thing-groups', 'create', IOT_DEVICE_GROUP]);
  await cli(['thing-groups', 'create', IOT_COLLECTOR_GROUP]);
  await cli(['policies', 'attach', 'DevicePolicy', '--thing-group', IOT_DEVICE_GROUP]);
  await cli(['policies', 'attach', 'CollectorPolicy', '--thing-group', IOT_COLLECTOR_GROUP]);
  const registry = await openRegistry(dataDir);
  try {
    await registry.addThingToGroup(IOT_COLLECTOR_GROUP, COLLECTOR);
    for (const d of pki.devices) await registry.addThingToGroup(IOT_DEVICE_GROUP, d);
  } finally {
    await registry.close();
  }
}

/**
 * The IoT variant's policy change: a new version of DevicePolicy without Subscribe and
 * Receive, made the default version (`gatehouse policies create-version DevicePolicy
 * --file F --set-default`, done here through the registry so that the figure does not
 * include a CLI process's start-up). The running gateway sees the registry change and
 * re-checks its sessions.
 */
function revokeIotPolicy(dataDir: string): () => Promise<void> {
  return async () => {
    const registry = await openRegistry(dataDir);
    try {
      await registry.createPolicyVersion('DevicePolicy', iotPolicyDocuments(true).DevicePolicy, { setAsDefault: true });
    } finally {
      await registry.close();
    }
  };
}

async function startGatehouse(name: BrokerName, opts: StartOptions, extraGroups: number, dataDir: string, revokeIot?: () => Promise<void>): Promise<Broker> {
  const format = opts.configFormat;
  const iot = revokeIot !== undefined;
  const configFile = join(dataDir, '..', `gatehouse.${format}`);
  await writeFile(configFile, gatehouseConfig({ extraGroups, revoked: false, maxSessions: opts.maxSessions, format, iot }));
  const revoked = gatehouseConfig({ extraGroups, revoked: true, maxSessions: opts.maxSessions, format });
  const child = spawnTracked(process.execPath, [...opts.nodeArgs, CLI, 'start', '--config', configFile, '--data-dir', dataDir, '--mqtt-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'info' },
  });
  const broker = new Broker(name, child, revokeIot ?? (async () => {
    await writeFile(configFile, revoked);
    if (opts.reload === 'sighup') child.kill('SIGHUP');
  }));
  const line = await waitForLine(child, (l) => broker.subscribe(l), (l) => l.startsWith('listening mqtts://'), 120_000, name)
    .catch((e: Error) => {
      throw new Error(`${e.message}\n${broker.tail()}`);
    });
  broker.url = line.slice('listening '.length).trim();
  return broker;
}

async function startAedes(opts: StartOptions, fifo: boolean): Promise<Broker> {
  const child = spawnTracked(process.execPath, [...opts.nodeArgs, AEDES_SERVER, opts.pki.serverKeyFile, opts.pki.serverCertFile, opts.pki.caFile, ...(fifo ? ['fifo'] : [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const broker = new Broker(fifo ? 'aedes-fifo' : 'aedes', child, undefined);
  const line = await waitForLine(child, (l) => broker.subscribe(l), (l) => l.startsWith('listening mqtts://'), 30_000, 'aedes')
    .catch((e: Error) => {
      throw new Error(`${e.message}\n${broker.tail()}`);
    });
  broker.url = line.slice('listening '.length).trim();
  return broker;
}

async function startMosquitto(opts: StartOptions): Promise<Broker> {
  const dir = join(opts.pki.dir, 'mosquitto');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const aclFile = join(dir, 'acl');
  const confFile = join(dir, 'mosquitto.conf');
  await writeFile(aclFile, mosquittoAcl(false));
  let lastError: Error | undefined;
  // The port is found free, then handed to Mosquitto: another process may take it in
  // between, so try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    await writeFile(confFile, mosquittoConfig({ port, pki: opts.pki, aclFile }));
    const child = spawnTracked('mosquitto', ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const broker = new Broker('mosquitto', child, async () => {
      await writeFile(aclFile, mosquittoAcl(true));
      // Mosquitto does not watch its files; SIGHUP re-reads the configuration and ACL file.
      child.kill('SIGHUP');
    });
    try {
      await waitForPort(child, port, 10_000);
      broker.url = `mqtts://127.0.0.1:${port}`;
      return broker;
    } catch (e) {
      lastError = new Error(`${(e as Error).message}\n${broker.tail()}`);
      await stopChild(child, 2000);
    }
  }
  throw lastError ?? new Error('mosquitto did not start');
}

async function waitForPort(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mosquitto exited (${child.exitCode ?? child.signalCode})`);
    const open = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto: port ${port} not open within ${timeoutMs} ms`);
}
