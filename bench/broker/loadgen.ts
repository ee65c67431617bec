/**
 * Load generator for the broker benchmark: MQTT.js clients over mutual TLS, in a
 * process of its own (never the broker's). Started by run.ts with one Task (JSON) as
 * its argument; reports JSON lines on stdout (see protocol.ts). Every loop is bounded
 * by a count or a deadline, and the process ends itself after HARD_LIMIT_MS whatever
 * happens.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { TLSSocket } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  wallClock,
  type DeviceFiles,
  type HoldPhase,
  type HoldResult,
  type HoldTask,
  type BurstTask,
  type LoadgenEvent,
  type ProbeResult,
  type PubTask,
  type SmokeTask,
  type SubTask,
  type Target,
  type Task,
} from './protocol.js';

const HARD_LIMIT_MS = 10 * 60 * 1000;

function emit(e: LoadgenEvent): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

function mark(name: string): void {
  emit({ t: 'mark', name, at: wallClock() });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Pki {
  readonly ca: string;
  readonly devices: Map<string, DeviceFiles>;
}

function loadPki(target: Target): Pki {
  const raw = JSON.parse(readFileSync(target.pkiFile, 'utf8')) as { caPem: string; devices: DeviceFiles[] };
  return { ca: raw.caPem, devices: new Map(raw.devices.map((d) => [d.name, d])) };
}

function connect(target: Target, pki: Pki, name: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const d = pki.devices.get(name);
  if (!d) throw new Error(`no credentials for device ${name}`);
  return mqtt.connectAsync(target.url, {
    clientId: name,
    key: d.keyPem,
    cert: d.certPem,
    ca: pki.ca,
    rejectUnauthorized: true,
    protocolVersion: target.protocolVersion ?? 4,
    clean: true,
    keepalive: 120,
    reconnectPeriod: 0,
    connectTimeout: 20_000,
    resubscribe: false,
    ...extra,
  }, false);
}

function endAll(clients: readonly (MqttClient | undefined)[]): Promise<void> {
  return Promise.all(clients.map((c) => c ? new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 2000);
    c.end(true, {}, () => {
      clearTimeout(t);
      resolve();
    });
  }) : Promise.resolve())).then(() => undefined);
}

// ---------------------------------------------------------------------------------

async function smoke(task: SmokeTask): Promise<void> {
  const pki = loadPki(task);
  const collector = await connect(task, pki, task.collector);
  const device = await connect(task, pki, task.device);
  const got: string[] = [];
  collector.on('message', (topic) => got.push(topic));
  await collector.subscribeAsync('devices/+/telemetry', { qos: 1 });
  const allowed = `devices/${task.device}/telemetry`;
  const denied = `devices/${task.other}/telemetry`;
  await device.publishAsync(denied, Buffer.from('denied'), { qos: 1 });
  await device.publishAsync(allowed, Buffer.from('allowed'), { qos: 1 });
  for (let i = 0; i < 100 && !got.includes(allowed); i++) await sleep(20);
  await sleep(300);
  const sock = device.stream as unknown as TLSSocket;
  const tls = `${sock.getProtocol?.() ?? '?'} ${sock.getCipher?.()?.name ?? '?'}`;
  emit({ t: 'result', at: wallClock(), result: { allowedDelivered: got.includes(allowed), deniedDelivered: got.includes(denied), tls } });
  await endAll([collector, device]);
}

// ---------------------------------------------------------------------------------

async function sub(task: SubTask): Promise<void> {
  const pki = loadPki(task);
  const client = await connect(task, pki, task.device);
  await client.subscribeAsync(task.filter, { qos: task.qos });
  let total = 0;
  let inWindow = false;
  let count = 0;
  // Per publisher: first and last sequence number seen inside the window.
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let firstAt = 0;
  let resolveFirst: () => void = () => {};
  const firstMessage = new Promise<void>((r) => (resolveFirst = r));
  client.on('message', (_topic, payload) => {
    total++;
    if (total === 1) {
      firstAt = performance.now();
      resolveFirst();
    }
    if (!inWindow) return;
    count++;
    const pub = payload.readUInt32BE(0);
    const seq = payload.readUInt32BE(4);
    if (!first.has(pub)) first.set(pub, seq);
    last.set(pub, seq);
  });
  emit({ t: 'ready', at: wallClock() });
  const timeout = sleep(task.firstMessageTimeoutSeconds * 1000).then(() => 'timeout' as const);
  if ((await Promise.race([firstMessage.then(() => 'ok' as const), timeout])) === 'timeout') throw new Error('no message arrived');
  await sleep(Math.max(0, task.warmupSeconds * 1000 - (performance.now() - firstAt)));
  inWindow = true;
  const start = performance.now();
  mark('window-start');
  await sleep(task.windowSeconds * 1000);
  inWindow = false;
  const seconds = (performance.now() - start) / 1000;
  mark('window-end');
  let expected = 0;
  for (const [pub, f] of first) expected += (last.get(pub) ?? f) - f + 1;
  emit({ t: 'result', at: wallClock(), result: { received: count, seconds, perSecond: count / seconds, missing: Math.max(0, expected - count), totalReceived: total } });
  // Stay subscribed until the publishers have stopped and the broker's backlog has
  // drained: a subscriber leaving while aedes still has messages queued for it makes
  // aedes drain the rest recursively and crash (see bench/README.md).
  await Promise.race([commandReader().next('stop'), sleep(60_000)]);
  for (let i = 0, seen = -1; i < 300 && seen !== total; i++) {
    seen = total;
    await sleep(200);
  }
  await endAll([client]);
}

// ---------------------------------------------------------------------------------

async function pub(task: PubTask): Promise<void> {
  const pki = loadPki(task);
  const clients = await Promise.all(task.devices.map((d) => connect(task, pki, d)));
  emit({ t: 'ready', at: wallClock() });
  const deadline = performance.now() + task.seconds * 1000;
  let sent = 0;
  const start = performance.now();
  await Promise.all(clients.map((client, index) => new Promise<void>((resolve) => {
    const topic = `devices/${task.devices[index]}/telemetry`;
    let seq = 0;
    let inflight = 0;
    let scheduled = false;
    let finished = false;
    const opts = { qos: task.qos } as const;
    const done = (err?: Error): void => {
      inflight--;
      if (err) return finish();
      sent++;
      if (!scheduled) {
        scheduled = true;
        setImmediate(pump);
      }
    };
    const finish = (): void => {
      if (finished) return;
      finished = true;
      resolve();
    };
    function pump(): void {
      scheduled = false;
      if (performance.now() >= deadline || !client.connected) {
        if (inflight === 0) finish();
        return;
      }
      // Bounded: at most `window` publishes per pump.
      while (inflight < task.window) {
        const payload = Buffer.alloc(task.payloadBytes);
        payload.writeUInt32BE(index, 0);
        payload.writeUInt32BE(seq++, 4);
        inflight++;
        client.publish(topic, payload, opts, done);
      }
    }
    client.on('close', () => {
      if (!finished) process.stderr.write(`publisher ${task.devices[index]}: connection closed after ${sent} sent, ${inflight} in flight\n`);
    });
    client.on('error', (e) => process.stderr.write(`publisher ${task.devices[index]}: ${e.message}\n`));
    // Stop waiting for acknowledgements that never come (a broker that dropped us).
    setTimeout(finish, task.seconds * 1000 + 5000).unref();
    pump();
  })));
  emit({ t: 'result', at: wallClock(), result: { sent, seconds: (performance.now() - start) / 1000 } });
  await endAll(clients);
}

// ---------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------

/**
 * Connects devices[from..to) with `concurrency` attempts in flight, between marks
 * `NAME-start` and `NAME-end`. Seconds run from the first attempt to the last CONNACK.
 */
async function connectRange(target: Target, pki: Pki, devices: readonly string[], clients: (MqttClient | undefined)[], from: number, to: number, concurrency: number, name: string): Promise<HoldPhase> {
  let next = from;
  let failed = 0;
  let errorShown = false;
  mark(`${name}-start`);
  const t0 = performance.now();
  let lastAck = t0;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      try {
        clients[i] = await connect(target, pki, devices[i]!);
        lastAck = performance.now();
      } catch (e) {
        failed++;
        if (!errorShown) {
          errorShown = true;
          process.stderr.write(`connect ${devices[i]} failed: ${(e as Error).message}\n`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  mark(`${name}-end`);
  return { connected: to - from - failed, failed, seconds: (lastAck - t0) / 1000 };
}

async function burst(task: BurstTask): Promise<void> {
  const pki = loadPki(task);
  const clients = new Array<MqttClient | undefined>(task.devices.length);
  const phase = await connectRange(task, pki, task.devices, clients, 0, task.devices.length, task.concurrency, 'burst');
  emit({ t: 'result', at: wallClock(), result: phase });
  await endAll(clients);
}

// ---------------------------------------------------------------------------------

async function hold(task: HoldTask): Promise<void> {
  const pki = loadPki(task);
  const commands = commandReader();
  const clients = new Array<MqttClient | undefined>(task.devices.length);
  const phases: HoldPhase[] = [];
  let subscribed = 0;

  const runPhase = async (from: number, to: number, name: string): Promise<void> => {
    phases.push(await connectRange(task, pki, task.devices, clients, from, to, task.concurrency, name));
    // Each connected device subscribes to its own command topic (not timed).
    let next = from;
    const subscriber = async (): Promise<void> => {
      while (next < to) {
        const i = next++;
        const c = clients[i];
        if (!c) continue;
        try {
          await c.subscribeAsync(`devices/${task.devices[i]}/cmd`, { qos: 0 });
          subscribed++;
        } catch {
          // counted by the difference to `connected`
        }
      }
    };
    await Promise.all(Array.from({ length: task.concurrency }, subscriber));
  };

  const half = Math.floor(task.devices.length / 2);
  await runPhase(0, half, 'connect1');
  mark('half');
  await commands.next('continue');
  await runPhase(half, task.devices.length, 'connect2');
  mark('full');
  const what = await commands.next('probe', 'close');
  if (what === 'close') {
    emit({ t: 'result', at: wallClock(), result: { phases, subscribed } satisfies HoldResult });
    await endAll(clients);
    return;
  }

  // Policy-change probe.
  const probes = task.probes.map((i) => ({ index: i, device: task.devices[i]!, received: 0, lastSentAt: null as number | null, lastReceivedAt: null as number | null }));
  for (const p of probes) {
    const c = clients[p.index];
    if (!c) throw new Error(`probe device ${p.device} is not connected`);
    c.on('message', (_topic, payload) => {
      p.received++;
      p.lastSentAt = payload.readDoubleBE(0);
      p.lastReceivedAt = wallClock();
    });
  }
  // The commander also sends to its own command topic, which the policy change leaves
  // alone: receiving those proves the broker is still routing (a broker that froze
  // would look like one that enforced).
  const commander = await connect(task, pki, task.commander);
  await commander.subscribeAsync(`devices/${task.commander}/cmd`, { qos: 0 });
  let lastSelfSentAt = 0;
  let lastSelfReceivedAt = 0;
  let changedAt = Infinity;
  let maxStallMs = 0;
  commander.on('message', (_topic, payload) => {
    const now = wallClock();
    lastSelfSentAt = payload.readDoubleBE(0);
    if (now > changedAt) maxStallMs = Math.max(maxStallMs, now - Math.max(lastSelfReceivedAt, changedAt));
    lastSelfReceivedAt = now;
  });
  const targets = [...probes.map((p) => `devices/${p.device}/cmd`), `devices/${task.commander}/cmd`];
  let commanderSent = 0;
  const publishTimer = setInterval(() => {
    const payload = Buffer.alloc(64);
    payload.writeDoubleBE(wallClock(), 0);
    commander.publish(targets[commanderSent++ % targets.length]!, payload, { qos: 0 });
  }, 1);
  // Wait until every probe and the commander receive (bounded).
  for (let i = 0; i < 250 && (lastSelfSentAt === 0 || probes.some((p) => p.received === 0)); i++) await sleep(20);
  if (lastSelfSentAt === 0 || probes.some((p) => p.received === 0)) throw new Error('a probe device received nothing before the policy change');
  mark('probe-ready');
  await commands.next('changed');
  changedAt = wallClock();
  const deadline = changedAt + task.enforcementTimeoutSeconds * 1000;
  let enforced = false;
  while (wallClock() < deadline) {
    // Enforced: the broker delivered a message sent quietMs after each probe's last one.
    if (probes.every((p) => lastSelfSentAt - Math.max(p.lastReceivedAt ?? 0, changedAt) >= task.quietMs)) {
      enforced = true;
      break;
    }
    await sleep(20);
  }
  clearInterval(publishTimer);
  const probeResults: ProbeResult[] = probes.map((p) => ({ device: p.device, received: p.received, lastSentAt: p.lastSentAt, lastReceivedAt: p.lastReceivedAt }));
  emit({ t: 'result', at: wallClock(), result: { phases, subscribed, probes: probeResults, commanderSent, changedAt, enforced, maxStallMs } satisfies HoldResult });
  await endAll([commander, ...clients]);
}

/** Reads one-word commands from stdin; the process ends when stdin closes (orchestrator gone). */
function commandReader(): { next: (...expected: string[]) => Promise<string> } {
  const queue: string[] = [];
  let waiter: (() => void) | undefined;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    queue.push(l.trim());
    waiter?.();
  });
  rl.on('close', () => process.exit(3));
  return {
    async next(...expected: string[]): Promise<string> {
      for (;;) {
        const c = queue.shift();
        if (c !== undefined) {
          if (expected.includes(c)) return c;
          throw new Error(`unexpected command ${c} (expected ${expected.join(' or ')})`);
        }
        await new Promise<void>((r) => (waiter = r));
        waiter = undefined;
      }
    },
  };
}

// ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2] ?? '') as Task;
  switch (task.kind) {
    case 'smoke': return smoke(task);
    case 'sub': return sub(task);
    case 'pub': return pub(task);
    case 'hold': return hold(task);
    case 'burst': return burst(task);
  }
}

setTimeout(() => {
  emit({ t: 'error', at: wallClock(), message: `load generator still running after ${HARD_LIMIT_MS / 1000} s; giving up` });
  process.exit(2);
}, HARD_LIMIT_MS).unref();

main().then(() => process.exit(0), (e: unknown) => {
  emit({ t: 'error', at: wallClock(), message: (e as Error).message });
  process.exit(1);
});
