/**
 * bench:fuzz — the long fuzz run of the MQTT front end (the short one is part of
 * `npm test`: test/e2e/fuzz.test.ts). Starts a real gateway, sends N mutated MQTT cases
 * over real TLS from authenticated and refused devices, keeps a well-behaved MQTT.js client
 * doing QoS 1 round trips throughout, and reports cases/s, the gateway's RSS (start, peak,
 * per tenth of the run) and every failure with the seed needed to replay it.
 *
 *   npm run bench:fuzz -- --cases 1000000 [--seed S] [--workers W] [--json]
 *   npm run bench:fuzz -- --seed S --workers W --case INDEX     (replays one case)
 *
 * Exits 1 when a failure was seen.
 */
import { loadavg } from 'node:os';
import { makeCase } from '../test/helpers/fuzz/cases.js';
import { runFuzz, type FuzzStats } from '../test/helpers/fuzz/driver.js';
import { FUZZ_SUBSCRIBE_ALLOWED, PROBE, Probe, startFuzzTarget } from '../test/helpers/fuzz/target.js';

interface Args {
  cases: number;
  seed: number;
  workers: number;
  replay: number | undefined;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { cases: 1_000_000, seed: (Math.random() * 0x100000000) >>> 0, workers: 3, replay: undefined, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`);
      return Math.trunc(v);
    };
    if (a === '--cases') args.cases = value();
    else if (a === '--seed') args.seed = value() >>> 0;
    else if (a === '--workers') args.workers = Math.max(1, value());
    else if (a === '--case') args.replay = value();
    else if (a === '--json') args.json = true;
    else throw new Error(`unknown option ${a} (known: --cases N, --seed S, --workers W, --case INDEX, --json)`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Denials are logged at info: at a million cases that is most of the gateway's work.
  process.env['GATEHOUSE_LOG_LEVEL'] ??= 'warn';
  const target = await startFuzzTarget(args.workers);
  const probe = await Probe.connect(target.gw.mqttUrl, target.probeDevice);
  const failures: string[] = [];
  const crashes: string[] = [];
  // Log lines are scanned as they come and then dropped, so a long run does not keep them.
  const scanLog = (): void => {
    crashes.push(...target.crashLines());
    target.gw.lines.splice(0, target.gw.lines.length);
  };
  // Ctrl-C ends the run after the cases in flight; the report covers what was sent.
  let interrupted = false;
  const stop = (): void => { interrupted = true; };
  process.once('SIGINT', stop);

  try {
    await probe.roundTrip();
    if (args.replay !== undefined) {
      const c = makeCase(args.seed, args.replay, { thingName: `fuzz-${args.replay % args.workers}`, otherThing: PROBE });
      console.log(`case ${c.index} (seed ${args.seed}, ${args.workers} workers): lane ${c.lane}, ${c.label}, framing ${c.framing}, ${c.bytes.length} bytes`);
      console.log(c.bytes.subarray(0, 512).toString('hex') + (c.bytes.length > 512 ? '…' : ''));
    }

    const rss0 = target.rssKiB() ?? 0;
    const cpu0 = target.cpuSeconds() ?? 0;
    let peak = rss0;
    const tenths: number[] = [];
    let stats: FuzzStats | undefined;
    const total = args.replay !== undefined ? 1 : args.cases;
    const started = performance.now();
    const sampler = setInterval(() => {
      const rss = target.rssKiB() ?? 0;
      peak = Math.max(peak, rss);
      scanLog();
      if (stats && tenths.length < 10 && stats.cases >= ((tenths.length + 1) * total) / 10) tenths.push(rss);
    }, 200);
    let lastReport = started;
    const reporter = setInterval(() => {
      if (!stats || args.json) return;
      const now = performance.now();
      if (now - lastReport < 10_000) return;
      lastReport = now;
      const s = (now - started) / 1000;
      process.stderr.write(`${stats.cases}/${total} cases, ${Math.round(stats.cases / s)}/s, RSS ${Math.round((target.rssKiB() ?? 0) / 1024)} MiB, ` +
        `violations ${stats.violations.length}, probe round trips ${probe.roundTrips} (${probe.failures.length} failed)\n`);
    }, 1000);
    probe.start(500);
    try {
      stats = await runFuzz({
        url: target.gw.mqttUrl, seed: args.seed, cases: total, ...(args.replay !== undefined ? { first: args.replay } : {}),
        devices: target.devices, refused: target.refused, otherThing: PROBE, subscribeAllowed: FUZZ_SUBSCRIBE_ALLOWED,
        shouldStop: () => (interrupted ? 'interrupted' : target.alive() ? undefined : 'the gateway process exited'),
        onStart: (s) => { stats = s; },
      });
    } finally {
      await probe.stop();
      clearInterval(sampler);
      clearInterval(reporter);
    }
    const seconds = (performance.now() - started) / 1000;
    const rssEnd = target.rssKiB();
    if (tenths.length < 10 && stats.cases === total) tenths.push(rssEnd ?? 0);
    const cpu = (target.cpuSeconds() ?? 0) - cpu0;
    peak = Math.max(peak, rssEnd ?? 0);
    scanLog();
    try {
      await probe.roundTrip();
    } catch (e) {
      failures.push(`after the run: ${(e as Error).message}`);
    }
    if (!target.alive()) failures.push('the gateway process exited');
    for (const v of stats.violations.filter((x) => !(interrupted && x.message === 'run stopped: interrupted'))) failures.push(`case ${v.index} (${v.lane}, ${v.label}): ${v.message}`);
    for (const f of probe.failures) failures.push(`well-behaved client: ${f}`);
    for (const f of probe.foreign) failures.push(`well-behaved client received a message it did not send: ${f}`);
    for (const c of crashes) failures.push(`gateway log: ${c}`);

    const mib = (k: number | undefined): number => Math.round(((k ?? 0) / 1024) * 10) / 10;
    const report = {
      seed: args.seed, workers: args.workers, interrupted, cases: stats.cases, seconds: Math.round(seconds * 10) / 10,
      casesPerSecond: Math.round(stats.cases / seconds),
      gatewayCpuSeconds: Math.round(cpu * 10) / 10, casesPerGatewayCpuSecond: cpu > 0 ? Math.round(stats.cases / cpu) : 0,
      connections: stats.connections, megabytesSent: Math.round(stats.bytes / 1e5) / 10,
      lanes: stats.lanes, outcomes: stats.outcomes, probeRoundTrips: probe.roundTrips,
      rssMiB: { start: mib(rss0), peak: mib(peak), end: mib(rssEnd), perTenth: tenths.map(mib) },
      failures,
    };
    if (args.json) console.log(JSON.stringify(report));
    else {
      if (interrupted) console.log('interrupted (Ctrl-C): the figures cover the cases sent until then');
      console.log(`seed ${report.seed}, ${report.workers} workers: ${report.cases} cases in ${report.seconds} s = ${report.casesPerSecond} cases/s; ` +
        `${report.connections} TLS connections, ${report.megabytesSent} MB sent`);
      console.log(`gateway CPU: ${report.gatewayCpuSeconds} s = ${report.casesPerGatewayCpuSecond} cases per gateway CPU-second (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
      console.log(`lanes: session ${stats.lanes.session}, connect ${stats.lanes.connect}, refused ${stats.lanes.refused}; outcomes: answered ${stats.outcomes.answered}, ` +
        `closed by the gateway ${stats.outcomes.closed}, ended (incomplete packet) ${stats.outcomes.ended}, stalled ${stats.outcomes.stalled}`);
      console.log(`gateway RSS: start ${report.rssMiB.start} MiB, peak ${report.rssMiB.peak} MiB, end ${report.rssMiB.end} MiB; per tenth: ${report.rssMiB.perTenth.join(', ')}`);
      console.log(`well-behaved client: ${probe.roundTrips} round trips`);
      console.log(failures.length === 0 ? 'failures: none' : `failures (${failures.length}; replay: --seed ${args.seed} --workers ${args.workers} --case INDEX):\n  ${failures.slice(0, 50).join('\n  ')}`);
      if (failures.length > 0) console.log(`last cases:\n  ${stats.recent.join('\n  ')}`);
    }
    process.exitCode = failures.length > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', stop);
    await probe.end().catch(() => undefined);
    await target.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
