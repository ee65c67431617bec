/**
 * Garbage per message: `npm run bench:alloc [-- --broker NAME] [--qos 0|1] [--rate N] [--seconds S] [--top N]`.
 *
 * What the broker allocates for each message it delivers, and where. The broker (one of
 * bench:broker's: gatehouse, gatehouse-10k, gatehouse-iot, aedes, aedes-fifo; default
 * gatehouse) starts with the inspector on a loopback port. After a warm-up latency run,
 * V8's sampling heap profiler (`HeapProfiler.startSampling`, one sample per 1 KiB on
 * average) records a latency run: one `mosquitto_pub` publisher at `--rate` msg/s
 * (default 2,000) for `--seconds` (default 2) after a 0.5 s warm-up, to one `mosquitto_sub`
 * subscriber. Objects the collector freed during the run are counted too: this is
 * everything allocated, not what survives.
 *
 * Printed: bytes allocated per message delivered in total, and for the `--top` (default
 * 25) functions that allocated most, each with the three callers above it. The figure
 * varies by a few percent between runs; compare brokers or versions run after each other.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ALL_BROKERS, startBroker, type Broker, type BrokerName } from './broker/brokers.js';
import { cLatency } from './broker/c-clients.js';
import { killAll } from './broker/proc.js';
import { createPki } from './broker/setup.js';

interface Options {
  broker: BrokerName;
  qos: 0 | 1;
  rate: number;
  seconds: number;
  top: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { broker: 'gatehouse', qos: 0, rate: 2000, seconds: 2, top: 25 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const whole = (name: string, min: number): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${name} takes a whole number of at least ${min}`);
      i++;
      return n;
    };
    switch (argv[i]) {
      case '--broker':
        if (!ALL_BROKERS.includes(v as BrokerName) || v === 'mosquitto') throw new Error(`--broker takes one of ${ALL_BROKERS.filter((b) => b !== 'mosquitto').join(', ')} (a Node.js broker)`);
        o.broker = v as BrokerName;
        i++;
        break;
      case '--qos': {
        const q = whole('--qos', 0);
        if (q !== 0 && q !== 1) throw new Error('--qos takes 0 or 1');
        o.qos = q;
        break;
      }
      case '--rate': o.rate = whole('--rate', 100); break;
      case '--seconds': o.seconds = whole('--seconds', 1); break;
      case '--top': o.top = whole('--top', 1); break;
      default: throw new Error(`unknown option ${argv[i]}\nusage: npm run bench:alloc [-- --broker NAME] [--qos 0|1] [--rate N] [--seconds S] [--top N]`);
    }
  }
  return o;
}

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { callFrame: CallFrame; selfSize: number; children: ProfileNode[] }

/** A DevTools protocol session over the inspector's WebSocket. */
async function inspector(url: string): Promise<{ call: (method: string, params?: object) => Promise<Record<string, unknown>>; close: () => void }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
    const p = m.id === undefined ? undefined : pending.get(m.id);
    if (p === undefined) return;
    pending.delete(m.id!);
    if (m.error !== undefined) p.reject(new Error(m.error.message));
    else p.resolve(m.result ?? {});
  });
  return {
    call: (method, params = {}) => new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, { resolve, reject });
      ws.send(JSON.stringify({ id: n, method, params }));
    }),
    close: () => ws.close(),
  };
}

function frameName(f: CallFrame): string {
  const where = f.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, '').replace(/^file:\/\//, '');
  return `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber + 1}` : ''}`;
}

/** Bytes per function (self), with the three callers above it, over the whole profile. */
function attribute(head: ProfileNode): { total: number; rows: Map<string, number> } {
  const rows = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode, stack: readonly CallFrame[]): void => {
    if (n.selfSize > 0) {
      total += n.selfSize;
      const callers = stack.slice(-3).reverse().map(frameName).join(' < ');
      const key = `${frameName(n.callFrame)}${callers ? `  ← ${callers}` : ''}`;
      rows.set(key, (rows.get(key) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, [...stack, n.callFrame]);
  };
  walk(head, []);
  return { total, rows };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-alloc-'));
  let broker: Broker | undefined;
  let session: Awaited<ReturnType<typeof inspector>> | undefined;
  try {
    const pki = await createPki(dir, 20, () => undefined);
    broker = await startBroker(o.broker, { pki, maxSessions: 200, nodeArgs: ['--inspect=127.0.0.1:0'], configFormat: 'yaml', reload: 'sighup' });
    const url = broker.lines.map((l) => /(ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(l.text)?.[1]).find((u) => u !== undefined);
    if (url === undefined) throw new Error(`${o.broker}: no inspector address in its output\n${broker.tail()}`);
    session = await inspector(url);
    const run = (seconds: number): ReturnType<typeof cLatency> => cLatency(broker!.url, pki, { qos: o.qos, protocolVersion: 4, rate: o.rate, warmupSeconds: 0.5, seconds, payloadBytes: 64, publisher: pki.devices[0]! });
    await run(1);
    await session.call('HeapProfiler.enable');
    await session.call('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const latency = await run(o.seconds);
    const { profile } = (await session.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
    // The warm-up's messages are delivered (and allocated for) inside the sampled span too.
    const messages = Math.round(o.rate * (0.5 + o.seconds)) - latency.lost;
    const { total, rows } = attribute(profile.head);
    process.stdout.write(`${o.broker}: QoS ${o.qos} at ${o.rate} msg/s, ${messages} messages sampled (latency p50 ${latency.p50ms.toFixed(2)} ms, p99 ${latency.p99ms.toFixed(2)} ms under the profiler)\n`);
    process.stdout.write(`allocated per message delivered: ${(total / messages / 1024).toFixed(2)} KiB\n\n| bytes per message | function ← its callers |\n|---:|---|\n`);
    for (const [key, bytes] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, o.top)) {
      process.stdout.write(`| ${Math.round(bytes / messages)} | ${key.replaceAll('|', '\\|')} |\n`);
    }
  } finally {
    session?.close();
    await broker?.stop();
    killAll();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench:alloc: ${(e as Error).message}\n`);
  process.exit(1);
});
