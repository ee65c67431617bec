import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';

/** Repository root (tests run from dist/test/...). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process. */
export function runCli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export interface Device {
  name: string;
  key: Buffer;
  cert: Buffer;
  ca: Buffer;
  keyPath: string;
  certPath: string;
  caPath: string;
  certificateId: string;
}

export interface LaunchOptions {
  /**
   * Whether to wait for the local API's `listening http://…` (or `unix:…`) line.
   * Default true; pass false when the configuration disables the API.
   */
  readonly api?: boolean;
  /** Pass `--api-port 0` (default true; false to use the configured address, e.g. a Unix socket). */
  readonly apiPort0?: boolean;
}

/** A running `gatehouse start` process with its data directory and config file. */
export class GatewayProcess {
  readonly mqttUrl: string;
  /** `http://127.0.0.1:PORT` or `unix:PATH`; undefined when the API is not awaited. */
  readonly apiUrl: string | undefined;
  readonly lines: string[];
  private readonly child: ChildProcess;

  private readonly lineEvents: EventEmitter;
  /** 'close' rather than 'exit': the output has been read to the end, so `lines` is complete. */
  private readonly closed: Promise<number | null>;

  private constructor(child: ChildProcess, urls: { mqtt: string; api: string | undefined }, lines: string[], lineEvents: EventEmitter, readonly dir: string, readonly configPath: string, readonly dataDir: string) {
    this.child = child;
    this.mqttUrl = urls.mqtt;
    this.apiUrl = urls.api;
    this.lines = lines;
    this.lineEvents = lineEvents;
    this.closed = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  /** Starts the gateway on ephemeral ports and waits for its `listening` lines. */
  static async start(dir: string, configYaml: string, extraArgs: string[] = [], options: LaunchOptions = {}): Promise<GatewayProcess> {
    const configPath = join(dir, 'gatehouse.yaml');
    const dataDir = join(dir, 'data');
    await writeFile(configPath, configYaml);
    return GatewayProcess.launch(dir, configPath, dataDir, extraArgs, options);
  }

  static async launch(dir: string, configPath: string, dataDir: string, extraArgs: string[] = [], options: LaunchOptions = {}): Promise<GatewayProcess> {
    const waitForApi = options.api ?? true;
    const apiArgs = (options.apiPort0 ?? true) && !extraArgs.includes('--api-port') ? ['--api-port', '0'] : [];
    // Gateways of parallel tests must not all bind the default management port.
    const mgmtArgs = extraArgs.includes('--management-port') ? [] : ['--management-port', '0'];
    // Likewise the data-plane port, for gateways that enable it.
    if (!extraArgs.includes('--data-plane-port')) mgmtArgs.push('--data-plane-port', '0');
    const child = spawn(process.execPath, [CLI, 'start', '--config', configPath, '--data-dir', dataDir, '--mqtt-port', '0', ...apiArgs, ...mgmtArgs, ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: process.env['GATEHOUSE_LOG_LEVEL'] ?? 'debug' },
    });
    const lines: string[] = [];
    const events = new EventEmitter();
    const collect = (stream: NodeJS.ReadableStream): void => {
      createInterface({ input: stream }).on('line', (l) => {
        lines.push(l);
        events.emit('line', l);
      });
    };
    collect(child.stdout);
    collect(child.stderr);
    const urls = await new Promise<{ mqtt: string; api: string | undefined }>((resolve, reject) => {
      const check = (): void => {
        const line = lines.find((l) => l.startsWith('listening mqtts://'));
        const apiLine = lines.find((l) => l.startsWith('listening http://') || l.startsWith('listening unix:'));
        if (line && (apiLine || !waitForApi)) {
          done();
          resolve({ mqtt: line.slice('listening '.length).trim(), api: apiLine?.slice('listening '.length).trim() });
        }
      };
      const exited = (code: number | null): void => {
        done();
        reject(new Error(`gateway exited with ${code}:\n${lines.join('\n')}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`gateway did not start:\n${lines.join('\n')}`));
      }, 30000);
      const done = (): void => {
        clearTimeout(timer);
        events.off('line', check);
        child.off('exit', exited);
      };
      events.on('line', check);
      child.once('exit', exited);
    });
    return new GatewayProcess(child, urls, lines, events, dir, configPath, dataDir);
  }

  /** The local API's bearer token (DATA_DIR/api-token, created at first start). */
  async apiToken(): Promise<string> {
    return (await readFile(join(this.dataDir, 'api-token'), 'utf8')).trim();
  }

  /** The management API's `https://HOST:PORT` (its `listening https://` line, printed after the local API's). */
  async managementUrl(timeoutMs = 5000): Promise<string> {
    const find = (): string | undefined => this.lines.find((l) => l.startsWith('listening https://'))?.slice('listening '.length).trim();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const url = find();
      if (url !== undefined) return url;
      if (Date.now() > deadline) throw new Error('the gateway printed no `listening https://` line');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()) + 1);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.lineEvents.once('line', done);
      });
    }
  }

  /** The data-plane listener's `https://HOST:PORT` (its `listening data-plane https://` line). */
  async dataPlaneUrl(timeoutMs = 5000): Promise<string> {
    const prefix = 'listening data-plane ';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.find((l) => l.startsWith(prefix));
      if (line !== undefined) return line.slice(prefix.length).trim();
      if (Date.now() > deadline) throw new Error('the gateway printed no `listening data-plane` line');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()) + 1);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.lineEvents.once('line', done);
      });
    }
  }

  /**
   * Environment for the CLI in remote mode as the first-start administrator: the
   * administrator's keys, the gateway CA written to `dir` as the CA bundle, HOME set to
   * `dir` (no profile files), no endpoint or profile from the environment.
   */
  async remoteAdminEnv(dir: string): Promise<NodeJS.ProcessEnv> {
    const admin = await this.adminCredentials();
    const ca = await this.cli(['ca', 'show']);
    if (ca.code !== 0) throw new Error(`ca show failed: ${ca.stderr}`);
    const caFile = join(dir, 'gateway-ca.pem');
    await writeFile(caFile, ca.stdout);
    return {
      HOME: dir, GATEHOUSE_ENDPOINT: '', GATEHOUSE_PROFILE: '', GATEHOUSE_CA_BUNDLE: caFile,
      GATEHOUSE_ACCESS_KEY_ID: admin.accessKeyId, GATEHOUSE_SECRET_ACCESS_KEY: admin.secretAccessKey,
    };
  }

  /** The first-start administrator's access key, read from `DATA_DIR/admin-credentials`. */
  async adminCredentials(): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    const file = await readFile(join(this.dataDir, 'admin-credentials'), 'utf8');
    const value = (k: string): string => new RegExp(`^${k} = (.+)$`, 'm').exec(file)![1]!.trim();
    return { accessKeyId: value('aws_access_key_id'), secretAccessKey: value('aws_secret_access_key') };
  }

  /** The process id of the gateway (to signal it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Runs a CLI command against this gateway's data directory. */
  cli(args: string[]): Promise<CliResult> {
    return runCli([...args, '--data-dir', this.dataDir]);
  }

  /** The device of that name, created (through the CLI) the first time it is asked for. */
  async device(name: string): Promise<Device> {
    let d = this.devices.get(name);
    if (d === undefined) {
      d = await this.createThing(name);
      this.devices.set(name, d);
    }
    return d;
  }

  private readonly devices = new Map<string, Device>();

  /** Creates a thing with a certificate through the CLI. */
  async createThing(name: string): Promise<Device> {
    const out = join(this.dir, 'devices');
    const r = await this.cli(['things', 'create', name, '--out', out, '--json']);
    if (r.code !== 0) throw new Error(`things create ${name} failed (${r.code}): ${r.stderr}`);
    const info = JSON.parse(r.stdout) as { certificateId: string };
    const keyPath = join(out, `${name}.key.pem`);
    const certPath = join(out, `${name}.cert.pem`);
    const caPath = join(out, 'ca.pem');
    return {
      name, keyPath, certPath, caPath, certificateId: info.certificateId,
      key: await readFile(keyPath), cert: await readFile(certPath), ca: await readFile(caPath),
    };
  }

  async writeConfig(yaml: string): Promise<void> {
    await writeFile(this.configPath, yaml);
  }

  /** Resolves with the first log line matching `pred` (at index `from` or later), as soon as it is printed. */
  waitForLog(pred: (l: string) => boolean, timeoutMs = 5000, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onLine = (l: string): void => {
        if (!pred(l)) return;
        finish();
        resolve(l);
      };
      const onExit = (code: number | null): void => {
        finish();
        reject(new Error(`gateway exited with ${code} before the log line; log:\n${this.lines.slice(-40).join('\n')}`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`log line not seen within ${timeoutMs} ms; log:\n${this.lines.slice(-40).join('\n')}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.lineEvents.off('line', onLine);
        this.child.off('exit', onExit);
      };
      this.lineEvents.on('line', onLine);
      this.child.once('exit', onExit);
    });
  }

  /** Resolves with the exit code once the process has ended and its output was read to the end. */
  exited(): Promise<number | null> {
    return this.closed;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.closed;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    const code = await this.closed;
    clearTimeout(timer);
    return code;
  }
}

/** One HTTPS request to the data-plane listener (`url`) as a device: mutual TLS with its certificate, no signature. */
export function deviceHttps(url: string, device: Device, method: string, path: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: u.hostname, port: Number(u.port), method, path, headers: body !== undefined ? { 'content-type': 'application/json' } : {},
      ca: device.ca, key: device.key, cert: device.cert, agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function connectDevice(url: string, device: Device, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    clientId: device.name,
    key: device.key,
    cert: device.cert,
    ca: device.ca,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  }, false);
}

/** Collects messages arriving on a client. */
export function collectMessages(client: MqttClient): { topic: string; payload: string; retain: boolean }[] {
  const got: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return got;
}

/** Resolves when the client's connection closes (or rejects after the timeout). */
export function waitForClose(client: MqttClient, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const t = setTimeout(() => reject(new Error('connection was not closed')), timeoutMs);
    client.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** A message as a test reader saw it. */
export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly dup: boolean;
  readonly retain: boolean;
}

/** A device connection whose message listener is attached before CONNECT, so nothing sent right after CONNACK is missed. */
export interface Reader {
  readonly client: MqttClient;
  readonly got: Received[];
  /** Resolves with the first message (already received or to come) whose payload is `payload`. */
  next(payload: string, timeoutMs?: number): Promise<Received>;
}

export function openReader(url: string, d: Device, opts: IClientOptions = {}): Promise<Reader> {
  const client = mqtt.connect(url, { clientId: d.name, key: d.key, cert: d.cert, ca: d.ca, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  const got: Received[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), dup: packet.dup, retain: packet.retain }));
  const next = (payload: string, timeoutMs = 5000): Promise<Received> => new Promise((resolve, reject) => {
    const seen = got.find((m) => m.payload === payload);
    if (seen) return resolve(seen);
    const t = setTimeout(() => {
      client.off('message', on);
      reject(new Error(`message ${payload} not received; got ${JSON.stringify(got.map((m) => m.payload))}`));
    }, timeoutMs);
    const on = (_topic: string, p: Buffer): void => {
      if (p.toString() !== payload) return;
      clearTimeout(t);
      client.off('message', on);
      resolve(got.find((m) => m.payload === payload)!);
    };
    client.on('message', on);
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve({ client, got, next }));
    client.once('error', reject);
  });
}
