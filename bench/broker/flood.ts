/**
 * The flood workload: publishers streaming QoS 0 as fast as their sockets allow
 * (`mosquitto_pub -l`, one message per line of a prepared file) to one subscriber
 * (`mosquitto_sub`, QoS 0, which has no in-flight window to limit it). Both are
 * Mosquitto's C clients, so the load generators cost little next to the broker.
 *
 * What is measured, per run:
 * - messages delivered to the subscriber, and the share of those sent that did not
 *   arrive: dropped (brokers drop QoS 0 for a subscriber that falls behind) or still
 *   queued in the broker when the run ends, FLOOD_LIMIT_SECONDS after the start;
 * - msg/s: delivered / (last delivery − publishers started);
 * - messages per broker CPU-second: delivered / broker CPU time (user + system, from
 *   /proc) over the same span: the cost per message, whatever else the machine does;
 * - the broker's peak RSS while it lasts.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Broker } from './brokers.js';
import { awaitSubscribed, certFiles, clientArgs, exited } from './c-clients.js';
import { cpuSeconds, rssKiB, spawnTracked, stopChild } from './proc.js';
import { COLLECTOR, type Pki } from './setup.js';

/** A flood run ends at the latest this long after the publishers started. */
const FLOOD_LIMIT_SECONDS = 120;

export interface FloodOptions {
  readonly publishers: number;
  /** Messages per publisher. */
  readonly messages: number;
  readonly payloadBytes: number;
}

export interface FloodSample {
  readonly sent: number;
  readonly received: number;
  readonly lostShare: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly perCpuSecond: number;
  readonly brokerCores: number;
  readonly peakRssKiB: number;
  /** The limit ended the run while the broker was still busy: a backlog may be left in it. */
  readonly unfinished: boolean;
}

let payloadFile: { key: string; file: Promise<string> } | undefined;

/** The payload file the publishers read, one message per line (made once per run and size). */
function payloads(pki: Pki, o: FloodOptions): Promise<string> {
  const key = `${o.messages}/${o.payloadBytes}`;
  if (payloadFile?.key !== key) {
    const file = (async () => {
      const dir = join(pki.dir, 'flood');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const path = join(dir, 'payload.txt');
      await writeFile(path, `${'x'.repeat(o.payloadBytes)}\n`.repeat(o.messages));
      return path;
    })();
    payloadFile = { key, file };
  }
  return payloadFile.file;
}

function safeCpu(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return NaN;
  }
}

export async function flood(broker: Broker, pki: Pki, o: FloodOptions): Promise<FloodSample> {
  const publishers = pki.devices.slice(0, o.publishers);
  const files = await certFiles(pki, publishers);
  const payloadFile = await payloads(pki, o);
  // The subscriber prints one line per message (its payload); count the lines.
  const sub = spawnTracked('mosquitto_sub', [...clientArgs(broker.url, pki, files, COLLECTOR), '-t', 'devices/+/telemetry', '-q', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let lines = 0;
  let lastAt = 0;
  let subErr = '';
  sub.stdout!.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    lastAt = performance.now();
  });
  sub.stderr!.on('data', (d: Buffer) => {
    if (subErr.length < 2000) subErr += d.toString();
  });
  const pubs: ChildProcess[] = [];
  try {
    await awaitSubscribed(sub, () => lines, () => [...clientArgs(broker.url, pki, files, publishers[0]!), '-t', `devices/${publishers[0]}/telemetry`], () => subErr);
    lines = 0;

    const cpu0 = safeCpu(broker.pid);
    const t0 = performance.now();
    let unfinished = false;
    let peakRssKiB = rssKiB(broker.pid);
    const sampler = setInterval(() => {
      try {
        peakRssKiB = Math.max(peakRssKiB, rssKiB(broker.pid));
      } catch {
        // broker gone: reported below
      }
    }, 100);
    try {
      for (const name of publishers) {
        const fd = openSync(payloadFile, 'r');
        try {
          pubs.push(spawnTracked('mosquitto_pub', [...clientArgs(broker.url, pki, files, name), '-t', `devices/${name}/telemetry`, '-q', '0', '-l'], { stdio: [fd, 'ignore', 'pipe'] }));
        } finally {
          closeSync(fd);
        }
      }
      const codes = await Promise.all(pubs.map(exited));
      if (codes.some((c) => c !== 0)) throw new Error(`flood: a publisher exited with ${codes.join(', ')}`);
      // Publishers are done; the broker may still be working through its backlog. Done
      // when everything arrived, or when for a whole second nothing arrived and the
      // broker used (almost) no CPU; at the latest after FLOOD_LIMIT_SECONDS.
      const sent = o.messages * publishers.length;
      const limit = t0 + FLOOD_LIMIT_SECONDS * 1000;
      let cpuMark = safeCpu(broker.pid);
      let markAt = performance.now();
      unfinished = true;
      while (lines < sent && performance.now() < limit) {
        await new Promise((r) => setTimeout(r, 50));
        const now = performance.now();
        if (now - markAt < 1000) continue;
        const cpu = safeCpu(broker.pid);
        const idle = !(cpu - cpuMark > 0.05);
        if (idle && now - Math.max(lastAt, t0) >= 1000) {
          unfinished = false;
          break;
        }
        cpuMark = cpu;
        markAt = now;
      }
    } finally {
      clearInterval(sampler);
    }
    const cpu1 = safeCpu(broker.pid);
    const sent = o.messages * publishers.length;
    const seconds = (lastAt - t0) / 1000;
    const cpu = cpu1 - cpu0;
    return {
      sent, received: lines, lostShare: sent > 0 ? Math.max(0, sent - lines) / sent : 0,
      seconds, perSecond: lines / seconds, perCpuSecond: lines / cpu, brokerCores: cpu / seconds, peakRssKiB,
      unfinished: unfinished && lines < sent,
    };
  } finally {
    await Promise.all([sub, ...pubs].map((c) => stopChild(c, 2000)));
  }
}
