/**
 * Medians, the results table (Markdown, printed and written to docs/benchmarks.md)
 * and the broker's performance targets.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { BrokerName } from './brokers.js';
import type { LatencyResult, SmokeResult } from './protocol.js';
import type { ConnectSample, HoldSample, ThroughputSample } from './workloads.js';
import type { FloodSample } from './flood.js';

export interface BrokerResults {
  readonly name: BrokerName;
  smoke?: SmokeResult;
  readonly qos0: ThroughputSample[];
  readonly qos1: ThroughputSample[];
  readonly latency0: LatencyResult[];
  readonly latency1: LatencyResult[];
  readonly connect: ConnectSample[];
  /** The same workloads over MQTT 5 connections (`--mqtt 5`). */
  readonly v5: {
    readonly qos0: ThroughputSample[];
    readonly qos1: ThroughputSample[];
    readonly latency0: LatencyResult[];
    readonly latency1: LatencyResult[];
    readonly connect: ConnectSample[];
  };
  hold?: HoldSample;
  readonly flood: FloodSample[];
  /** Flood repeats in which the broker process died (its first error line each); it was restarted for the rest. */
  readonly floodCrashes: string[];
}

export interface RunInfo {
  readonly date: string;
  readonly command: string;
  readonly machine: string;
  readonly versions: string;
  readonly parameters: string;
  readonly durationSeconds: number;
  readonly setupSeconds: number;
}

export const LABEL: Record<BrokerName, string> = {
  gatehouse: 'Gatehouse',
  'gatehouse-10k': 'Gatehouse, 10k groups',
  'gatehouse-iot': 'Gatehouse, AWS IoT policies',
  aedes: 'bare aedes',
  'aedes-fifo': 'bare aedes + FIFO router',
  mosquitto: 'Mosquitto',
};

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** (max - min) / median, as a fraction. */
export function spread(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length < 2) return NaN;
  return (Math.max(...v) - Math.min(...v)) / median(v);
}

interface Metric {
  readonly label: string;
  /** Per broker: the value (NaN = not measured / not applicable). */
  readonly value: (r: BrokerResults) => number;
  /** Per broker: extra text such as the spread between repeats. */
  readonly note?: (r: BrokerResults) => string;
  readonly format: (v: number) => string;
  readonly noRatio?: boolean;
}

const int = (v: number): string => Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–';
const fixed = (d: number) => (v: number): string => Number.isFinite(v) ? v.toFixed(d) : '–';
const pctSpread = (xs: readonly number[]): string => {
  const s = spread(xs);
  return Number.isFinite(s) ? ` ±${Math.round((s * 100) / 2)}%` : '';
};

function metrics(devices: number, rate: number, concurrency: number): Metric[] {
  return [
    { label: 'QoS 0 throughput, msg/s at subscriber', value: (r) => median(r.qos0.map((s) => s.perSecond)), note: (r) => pctSpread(r.qos0.map((s) => s.perSecond)), format: int },
    { label: 'QoS 0 msg per broker CPU-second', value: (r) => median(r.qos0.map((s) => s.perCpuSecond)), note: (r) => pctSpread(r.qos0.map((s) => s.perCpuSecond)), format: int },
    { label: 'QoS 0 broker CPU, cores busy', value: (r) => median(r.qos0.map((s) => s.brokerCores)), format: fixed(2), noRatio: true },
    { label: 'QoS 0 messages lost, %', value: (r) => r.qos0.length ? median(r.qos0.map((s) => s.missingShare * 100)) : NaN, format: fixed(1), noRatio: true },
    { label: 'QoS 1 throughput, msg/s at subscriber', value: (r) => median(r.qos1.map((s) => s.perSecond)), note: (r) => pctSpread(r.qos1.map((s) => s.perSecond)), format: int },
    { label: 'QoS 1 msg per broker CPU-second', value: (r) => median(r.qos1.map((s) => s.perCpuSecond)), note: (r) => pctSpread(r.qos1.map((s) => s.perCpuSecond)), format: int },
    { label: 'QoS 1 broker CPU, cores busy', value: (r) => median(r.qos1.map((s) => s.brokerCores)), format: fixed(2), noRatio: true },
    { label: 'QoS 1 messages lost, %', value: (r) => r.qos1.length ? median(r.qos1.map((s) => s.missingShare * 100)) : NaN, format: fixed(1), noRatio: true },
    { label: `latency QoS 0 p50, ms (${rate} msg/s)`, value: (r) => median(r.latency0.map((s) => s.p50ms)), format: fixed(2) },
    { label: `latency QoS 0 p99, ms (${rate} msg/s)`, value: (r) => median(r.latency0.map((s) => s.p99ms)), format: fixed(2) },
    { label: `latency QoS 0 max, ms (${rate} msg/s)`, value: (r) => median(r.latency0.map((s) => s.maxMs)), format: fixed(2) },
    { label: `latency QoS 1 p50, ms (${rate} msg/s)`, value: (r) => median(r.latency1.map((s) => s.p50ms)), format: fixed(2) },
    { label: `latency QoS 1 p99, ms (${rate} msg/s)`, value: (r) => median(r.latency1.map((s) => s.p99ms)), format: fixed(2) },
    { label: `latency QoS 1 max, ms (${rate} msg/s)`, value: (r) => median(r.latency1.map((s) => s.maxMs)), format: fixed(2) },
    { label: `mutual-TLS connections/s (new devices, ${concurrency} in flight)`, value: (r) => median(r.connect.map((s) => s.perSecond)), note: (r) => pctSpread(r.connect.map((s) => s.perSecond)), format: int },
    { label: 'broker CPU-ms per connection', value: (r) => median(r.connect.map((s) => s.cpuMsPerConnection)), note: (r) => pctSpread(r.connect.map((s) => s.cpuMsPerConnection)), format: fixed(2) },
    { label: 'MQTT 5: QoS 0 throughput, msg/s at subscriber', value: (r) => median(r.v5.qos0.map((s) => s.perSecond)), note: (r) => pctSpread(r.v5.qos0.map((s) => s.perSecond)), format: int },
    { label: 'MQTT 5: QoS 0 msg per broker CPU-second', value: (r) => median(r.v5.qos0.map((s) => s.perCpuSecond)), note: (r) => pctSpread(r.v5.qos0.map((s) => s.perCpuSecond)), format: int },
    { label: 'MQTT 5: QoS 0 messages lost, %', value: (r) => r.v5.qos0.length ? median(r.v5.qos0.map((s) => s.missingShare * 100)) : NaN, format: fixed(1), noRatio: true },
    { label: 'MQTT 5: QoS 1 throughput, msg/s at subscriber', value: (r) => median(r.v5.qos1.map((s) => s.perSecond)), note: (r) => pctSpread(r.v5.qos1.map((s) => s.perSecond)), format: int },
    { label: 'MQTT 5: QoS 1 msg per broker CPU-second', value: (r) => median(r.v5.qos1.map((s) => s.perCpuSecond)), note: (r) => pctSpread(r.v5.qos1.map((s) => s.perCpuSecond)), format: int },
    { label: 'MQTT 5: QoS 1 messages lost, %', value: (r) => r.v5.qos1.length ? median(r.v5.qos1.map((s) => s.missingShare * 100)) : NaN, format: fixed(1), noRatio: true },
    { label: `MQTT 5: latency QoS 0 p50, ms (${rate} msg/s)`, value: (r) => median(r.v5.latency0.map((s) => s.p50ms)), format: fixed(2) },
    { label: `MQTT 5: latency QoS 0 p99, ms (${rate} msg/s)`, value: (r) => median(r.v5.latency0.map((s) => s.p99ms)), format: fixed(2) },
    { label: `MQTT 5: latency QoS 1 p50, ms (${rate} msg/s)`, value: (r) => median(r.v5.latency1.map((s) => s.p50ms)), format: fixed(2) },
    { label: `MQTT 5: latency QoS 1 p99, ms (${rate} msg/s)`, value: (r) => median(r.v5.latency1.map((s) => s.p99ms)), format: fixed(2) },
    { label: `MQTT 5: mutual-TLS connections/s (new devices, ${concurrency} in flight)`, value: (r) => median(r.v5.connect.map((s) => s.perSecond)), note: (r) => pctSpread(r.v5.connect.map((s) => s.perSecond)), format: int },
    { label: 'MQTT 5: broker CPU-ms per connection', value: (r) => median(r.v5.connect.map((s) => s.cpuMsPerConnection)), note: (r) => pctSpread(r.v5.connect.map((s) => s.cpuMsPerConnection)), format: fixed(2) },
    { label: `RSS at ${devices.toLocaleString('en-US')} connected devices, MiB`, value: (r) => (r.hold ? r.hold.rssFullKiB / 1024 : NaN), format: fixed(1) },
    { label: 'RSS per connected device, KiB', value: (r) => r.hold?.kibPerDevice ?? NaN, format: fixed(1) },
    { label: `policy change → enforced, ms (${devices.toLocaleString('en-US')} sessions)`, value: (r) => r.hold?.policy?.enforcementMs ?? NaN, format: int },
    { label: 'policy change → recheck logged, ms', value: (r) => r.hold?.policy?.recheckLogMs ?? NaN, format: int, noRatio: true },
    { label: 'longest routing stall after the change, ms', value: (r) => r.hold?.policy?.stallMs ?? NaN, format: int, noRatio: true },
    { label: 'recheck duration (Gatehouse log), ms', value: (r) => r.hold?.policy?.recheckMs ?? NaN, format: fixed(1), noRatio: true },
    { label: 'recheck CPU (Gatehouse log), ms', value: (r) => r.hold?.policy?.recheckCpuMs ?? NaN, format: fixed(1), noRatio: true },
    { label: 'reload CPU, all threads: parse, validate, compile, recheck (Gatehouse log), ms', value: (r) => r.hold?.policy?.reloadCpuMs ?? NaN, format: int, noRatio: true },
  ];
}

function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

export function table(results: readonly BrokerResults[], devices: number, rate: number, concurrency: number): string {
  const by = new Map(results.map((r) => [r.name, r]));
  const cols = results.map((r) => r.name);
  const gh = by.get('gatehouse');
  const gh10k = by.get('gatehouse-10k');
  const ghIot = by.get('gatehouse-iot');
  const aedes = by.get('aedes');
  const mosq = by.get('mosquitto');
  const ratios: [string, BrokerResults | undefined, BrokerResults | undefined][] = [
    ['Gatehouse / aedes', gh, aedes],
    ['Gatehouse / Mosquitto', gh, mosq],
    ['10k groups / 1', gh10k, gh],
    ['IoT policies / device groups', ghIot, gh],
  ];
  const shownRatios = ratios.filter(([, a, b]) => a && b);
  const header = ['', ...cols.map((c) => LABEL[c]), ...shownRatios.map(([l]) => l)];
  const rows: string[][] = [];
  for (const m of metrics(devices, rate, concurrency)) {
    const values = results.map((r) => m.value(r));
    if (values.every((v) => !Number.isFinite(v))) continue;
    rows.push([
      m.label,
      ...results.map((r, i) => m.format(values[i]!) + (Number.isFinite(values[i]!) && m.note ? m.note(r) : '')),
      ...shownRatios.map(([, a, b]) => (m.noRatio ? '' : ratio(m.value(a!), m.value(b!)))),
    ]);
  }
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

/** The broker's performance targets that this run can judge. */
export function targets(results: readonly BrokerResults[]): TargetCheck[] {
  const by = new Map(results.map((r) => [r.name, r]));
  const out: TargetCheck[] = [];
  const aedes = by.get('aedes');
  const gh = by.get('gatehouse');
  const gh10k = by.get('gatehouse-10k');
  const ghIot = by.get('gatehouse-iot');
  const tp = (r: BrokerResults, q: 0 | 1): number => median((q === 0 ? r.qos0 : r.qos1).map((s) => s.perSecond));
  const perCpu = (r: BrokerResults, q: 0 | 1): number => median((q === 0 ? r.qos0 : r.qos1).map((s) => s.perCpuSecond));
  for (const q of [0, 1] as const) {
    for (const g of [gh, gh10k]) {
      if (!g || !aedes) continue;
      const x = tp(g, q) / tp(aedes, q);
      if (Number.isFinite(x)) out.push({ target: `QoS ${q} throughput ≥ 0.95× bare aedes (${LABEL[g.name]})`, measured: `${x.toFixed(2)}×`, met: x >= 0.95 });
    }
    if (gh && gh10k) {
      const x = tp(gh10k, q) / tp(gh, q);
      if (Number.isFinite(x)) out.push({ target: `QoS ${q} throughput with 10,000 groups no worse than with 1 (≥ 0.95×, the noise band)`, measured: `${x.toFixed(2)}×`, met: x >= 0.95 });
    }
    if (gh && ghIot) {
      // Per broker CPU-second: the cost of the IoT dialect (Receive on every delivery,
      // the richer matcher), less dependent on how much of the machine each broker got.
      const x = perCpu(ghIot, q) / perCpu(gh, q);
      // Each repeat runs the two back to back: the ratio within a repeat shares its slow phases.
      const a = q === 0 ? gh.qos0 : gh.qos1;
      const b = q === 0 ? ghIot.qos0 : ghIot.qos1;
      const paired = b.slice(0, a.length).map((s, i) => s.perCpuSecond / a[i]!.perCpuSecond);
      const pairedText = paired.length > 1 ? `; per repeat ${paired.map((p) => p.toFixed(2)).join(', ')}, median ${median(paired).toFixed(2)}×` : '';
      if (Number.isFinite(x)) out.push({ target: `QoS ${q} msg per broker CPU-second with AWS IoT policies ≥ 0.95× with device groups`, measured: `${x.toFixed(2)}× (msg/s ${(tp(ghIot, q) / tp(gh, q)).toFixed(2)}×${pairedText})`, met: x >= 0.95 });
    }
  }
  for (const g of [gh, gh10k]) {
    if (!g || !aedes || g.connect.length === 0 || aedes.connect.length === 0) continue;
    const x = median(g.connect.map((s) => s.perSecond)) / median(aedes.connect.map((s) => s.perSecond));
    const cpu = median(g.connect.map((s) => s.cpuMsPerConnection)) / median(aedes.connect.map((s) => s.cpuMsPerConnection));
    out.push({ target: `connections/s ≥ 0.9× bare aedes (${LABEL[g.name]})`, measured: `${x.toFixed(2)}× (broker CPU per connection ${cpu.toFixed(2)}×)`, met: x >= 0.9 });
  }
  for (const g of [gh, gh10k]) {
    if (!g?.hold || !aedes?.hold) continue;
    const d = g.hold.kibPerDevice - aedes.hold.kibPerDevice;
    out.push({ target: `≤ 10 KiB per connected device above bare aedes (${LABEL[g.name]})`, measured: `${d >= 0 ? '+' : ''}${d.toFixed(1)} KiB`, met: d <= 10 });
  }
  for (const g of [gh, gh10k]) {
    const p = g?.hold?.policy;
    if (!g || !p) continue;
    // In force when the last revoked delivery happened and Gatehouse has logged the re-check
    // (a broker frozen by a long reload delivers nothing, which is not enforcement).
    const inForce = p.enforcementMs === null ? null : Math.max(p.enforcementMs, p.recheckLogMs ?? 0);
    out.push({
      target: `policy change in force within 1 s with ${g.hold!.devices.toLocaleString('en-US')} live sessions (${LABEL[g.name]})`,
      measured: inForce === null ? 'not enforced within 20 s' : `${Math.round(inForce)} ms (last revoked delivery ${Math.round(p.enforcementMs!)} ms, recheck logged ${p.recheckLogMs == null ? '?' : Math.round(p.recheckLogMs)} ms, longest stall ${p.stallMs === null ? '?' : Math.round(p.stallMs)} ms)`,
      met: inForce !== null && inForce <= 1000,
    });
  }
  return out;
}

export function targetsText(checks: readonly TargetCheck[]): string {
  return checks.map((c) => `- ${c.met === undefined ? '?' : c.met ? 'met' : '**missed**'}: ${c.target}: ${c.measured}`).join('\n');
}

export function noiseText(results: readonly BrokerResults[]): string {
  const foreign = results.flatMap((r) => [...r.qos0, ...r.qos1, ...r.connect, ...r.v5.qos0, ...r.v5.qos1, ...r.v5.connect].map((s) => s.foreignCores));
  const m = median(foreign);
  const max = Math.max(...foreign.filter(Number.isFinite));
  if (!Number.isFinite(m)) return '';
  return `Other processes on the machine used a median of ${m.toFixed(2)} cores (max ${max.toFixed(2)}) during the throughput and connection measurements (from /proc/stat minus the broker and its load generators).`;
}

export function report(info: RunInfo, results: readonly BrokerResults[], devices: number, rate: number, concurrency: number): string {
  const smoke = results.filter((r) => r.smoke).map((r) => `${LABEL[r.name]}: ${r.smoke!.tls}`).join('; ');
  return [
    `Run ${info.date}, ${Math.round(info.durationSeconds)} s (of which ${Math.round(info.setupSeconds)} s issuing and registering device certificates).`,
    '',
    `- Command: \`${info.command}\``,
    `- Machine: ${info.machine}`,
    `- Software: ${info.versions}`,
    `- Parameters: ${info.parameters}`,
    ...(smoke ? [`- TLS negotiated: ${smoke}`] : []),
    '',
    table(results, devices, rate, concurrency),
    '',
    'Rows that do not start with "MQTT 5:" use MQTT 3.1.1 connections; the "MQTT 5:" rows run the same workload with every connection at protocol level 5.',
    'Throughput figures are medians over the repeats; ±x% is half the spread (max − min) between repeats, relative to the median.',
    noiseText(results),
    '',
    'Targets:',
    '',
    targetsText(targets(results)),
  ].join('\n');
}

/** The flood workload's table: one column per broker that ran it, ratios to the first ones. */
export function floodTable(results: readonly BrokerResults[]): string {
  const ran = results.filter((r) => r.flood.length > 0 || r.floodCrashes.length > 0);
  const by = new Map(ran.map((r) => [r.name, r]));
  const perCpu = (r: BrokerResults | undefined): number => (r ? median(r.flood.map((f) => f.perCpuSecond)) : NaN);
  const perSec = (r: BrokerResults | undefined): number => (r ? median(r.flood.map((f) => f.perSecond)) : NaN);
  const rows: [string, (r: BrokerResults) => string][] = [
    ['delivered, msg/s at subscriber', (r) => int(perSec(r)) + pctSpread(r.flood.map((f) => f.perSecond))],
    ['delivered per broker CPU-second', (r) => int(perCpu(r)) + pctSpread(r.flood.map((f) => f.perCpuSecond))],
    ['broker CPU, cores busy', (r) => fixed(2)(median(r.flood.map((f) => f.brokerCores)))],
    ['not delivered (dropped, or still queued after 120 s), %', (r) => fixed(1)(median(r.flood.map((f) => f.lostShare * 100)))],
    ['time to deliver, s', (r) => fixed(1)(median(r.flood.map((f) => f.seconds)))],
    ['broker peak RSS, MiB', (r) => fixed(0)(median(r.flood.map((f) => f.peakRssKiB / 1024)))],
    ['repeats in which the broker process died', (r) => `${r.floodCrashes.length} of ${r.flood.length + r.floodCrashes.length}`],
  ];
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const header = ['', ...ran.map((r) => LABEL[r.name])];
  const out = [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(([label, f]) => line([label, ...ran.map(f)]))];
  const pairs: [string, BrokerName, BrokerName][] = [
    ['FIFO router / aedes default', 'aedes-fifo', 'aedes'],
    ['Gatehouse / bare aedes', 'gatehouse', 'aedes'],
    ['Gatehouse / bare aedes + FIFO router', 'gatehouse', 'aedes-fifo'],
    ['Gatehouse / Mosquitto', 'gatehouse', 'mosquitto'],
  ];
  const ratios = pairs.filter(([, a, b]) => by.has(a) && by.has(b))
    .map(([label, a, b]) => `${label}: ${ratio(perCpu(by.get(a)), perCpu(by.get(b)))} per broker CPU-second, ${ratio(perSec(by.get(a)), perSec(by.get(b)))} msg/s`);
  const crashes = ran.filter((r) => r.floodCrashes.length > 0)
    .map((r) => `${LABEL[r.name]} died in ${r.floodCrashes.length} of ${r.flood.length + r.floodCrashes.length} repeats (${[...new Set(r.floodCrashes)].join('; ')}); its figures are from the repeats it survived, and it was restarted for the other workloads`);
  return [...out, ...(ratios.length || crashes.length ? ['', ...ratios.map((r) => `- ${r}`), ...crashes.map((c) => `- ${c}`)] : [])].join('\n');
}

export function floodReport(info: RunInfo, results: readonly BrokerResults[], publishers: number, messages: number, repeats: number): string {
  return [
    `Run ${info.date}. Command: \`${info.command}\`.`,
    '',
    `- Machine: ${info.machine}`,
    `- Software: ${info.versions}`,
    `- Workload: ${publishers} publishers (\`mosquitto_pub -l\`, QoS 0, ${messages.toLocaleString('en-US')} 64-byte messages each, as fast as their sockets allow) → 1 subscriber (\`mosquitto_sub\`, QoS 0, devices/+/telemetry); ${repeats} repeats, medians (±x% is half the spread between repeats)`,
    '',
    floodTable(results),
  ].join('\n');
}

/** Replaces a generated block of docs/benchmarks.md (or appends one), keeping the hand-written text. */
export async function writeDocs(file: string, block: string, marker = 'bench:broker'): Promise<void> {
  const BEGIN = `<!-- ${marker}:begin (generated by \`npm run bench:broker\`; edit outside these markers) -->`;
  const END = `<!-- ${marker}:end -->`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Benchmarks\n\n## Broker: Gatehouse vs bare aedes vs Mosquitto\n\n';
  }
  const generated = `${BEGIN}\n${block}\n${END}`;
  const b = text.indexOf(`<!-- ${marker}:begin`);
  const e = text.indexOf(END);
  text = b >= 0 && e > b ? text.slice(0, b) + generated + text.slice(e + END.length) : `${text.trimEnd()}\n\n${generated}\n`;
  await writeFile(file, text);
}
