/**
 * Fuzzes the MQTT front end of a real gateway over real TLS (a short run; the long one is
 * `npm run bench:fuzz`). Cases are valid CONNECT/PUBLISH/SUBSCRIBE/UNSUBSCRIBE/PINGREQ/
 * DISCONNECT sequences from mqtt-packet's generator, then mutated (bit flips, truncation,
 * corrupted or oversized remaining lengths, duplicated and reordered packets, random bytes,
 * invalid UTF-8, wildcard abuse, huge topics, bad protocol levels), sent by authenticated
 * devices and by devices the gateway must refuse.
 *
 * Invariants, and only these (the front end's limits and timeouts are not assumed):
 * the gateway process stays up; a well-behaved MQTT.js client completes QoS 1 round trips
 * during and after the run and receives nothing from the fuzzing devices; a refused device
 * never gets CONNACK 0 or any packet but a refusing CONNACK; an authenticated device is
 * granted only the filters its policy allows and receives messages only on topics they
 * match; the log shows no uncaught
 * exception and no error-level event; the gateway's RSS stays within a fixed margin.
 *
 * GATEHOUSE_FUZZ_SEED replays a run (the seed is printed with every failure);
 * GATEHOUSE_FUZZ_CASES (default 3000) and GATEHOUSE_FUZZ_SECONDS (default 20) bound it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FUZZ_SUBSCRIBE_ALLOWED, PROBE, Probe, startFuzzTarget, type FuzzTarget } from '../helpers/fuzz/target.js';
import { runFuzz, type FuzzStats } from '../helpers/fuzz/driver.js';

const SEED = process.env['GATEHOUSE_FUZZ_SEED'] !== undefined ? Number(process.env['GATEHOUSE_FUZZ_SEED']) >>> 0 : (Math.random() * 0x100000000) >>> 0;
const CASES = Number(process.env['GATEHOUSE_FUZZ_CASES'] ?? 3000);
/**
 * Time budget for the cases: on a loaded 2-core machine the gateway spends ~9 ms of CPU per
 * new TLS connection and CONNECT, so fewer cases may fit; the run then stops early.
 */
const BUDGET_MS = Number(process.env['GATEHOUSE_FUZZ_SECONDS'] ?? 20) * 1000;
/** Fewer cases than this means the gateway hardly served the fuzzing devices at all. */
const MIN_CASES = Math.min(CASES, 200);
const WORKERS = 3;
/**
 * Growth of the gateway's RSS allowed over the run, above its RSS after start-up and a
 * warm-up. The run sends a few MB in total, and no connection holds more than ~70 kB of
 * packet at a time; the margin covers V8 heap growth and allocator slack.
 */
const RSS_MARGIN_KIB = 80 * 1024;

describe('MQTT front end under fuzzing (real gateway, real TLS)', () => {
  let target: FuzzTarget;
  let probe: Probe;

  before(async () => {
    // Debug lines for every refused packet would cost the gateway more than the cases.
    process.env['GATEHOUSE_LOG_LEVEL'] ??= 'info';
    target = await startFuzzTarget(WORKERS);
    probe = await Probe.connect(target.gw.mqttUrl, target.probeDevice);
    await probe.roundTrip();
  });
  after(async () => {
    await probe?.end().catch(() => undefined);
    await target?.stop();
  });

  test(`seed ${SEED}: the gateway stays up, serves a well-behaved client and stays within its memory`, { timeout: 180_000 }, async () => {
    const replay = (stats?: FuzzStats): string => [
      `seed ${SEED}; replay with GATEHOUSE_FUZZ_SEED=${SEED}, or one case with`,
      `npm run bench:fuzz -- --seed ${SEED} --workers ${WORKERS} --case INDEX`,
      ...(stats ? ['last cases:', ...stats.recent] : []),
    ].join('\n');

    // Warm-up: a small run so that the baseline includes TLS, parser and session code.
    const warm = await runFuzz({ url: target.gw.mqttUrl, seed: (SEED ^ 0x5a5a5a5a) >>> 0, cases: 60, devices: target.devices, refused: target.refused, otherThing: PROBE, subscribeAllowed: FUZZ_SUBSCRIBE_ALLOWED });
    assert.deepEqual(warm.violations, [], `invariant violations during the warm-up (seed ${(SEED ^ 0x5a5a5a5a) >>> 0})\n${replay(warm)}`);
    const baseline = target.rssKiB();
    assert.ok(baseline !== undefined, `the gateway died during the warm-up\n${replay()}\n${target.gw.lines.slice(-30).join('\n')}`);

    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, target.rssKiB() ?? 0); }, 100);
    probe.start(250);
    const started = performance.now();
    let stats: FuzzStats;
    try {
      stats = await runFuzz({
        url: target.gw.mqttUrl, seed: SEED, cases: CASES, budgetMs: BUDGET_MS, devices: target.devices, refused: target.refused, otherThing: PROBE, subscribeAllowed: FUZZ_SUBSCRIBE_ALLOWED,
        shouldStop: () => (target.alive() ? undefined : 'the gateway process exited'),
      });
    } finally {
      await probe.stop();
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, target.rssKiB() ?? 0);
    const o = stats.outcomes;
    console.log(`fuzz seed ${SEED}: ${stats.cases} cases in ${seconds.toFixed(1)} s (${Math.round(stats.cases / seconds)}/s), ` +
      `${stats.connections} connections; answered ${o.answered}, closed ${o.closed}, ended ${o.ended}, stalled ${o.stalled}; ` +
      `probe round trips ${probe.roundTrips}; RSS ${Math.round(baseline / 1024)} -> peak ${Math.round(peak / 1024)} MiB`);

    assert.ok(target.alive(), `the gateway process exited\n${replay(stats)}\n${target.gw.lines.slice(-30).join('\n')}`);
    assert.deepEqual(target.crashLines(), [], `crash or error lines in the gateway log\n${replay(stats)}`);
    assert.deepEqual(stats.violations, [], `invariant violations\n${replay(stats)}`);
    assert.deepEqual(probe.failures, [], `the well-behaved client's round trips failed during fuzzing\n${replay(stats)}`);
    assert.deepEqual(probe.foreign, [], `the well-behaved client received messages it did not send\n${replay(stats)}`);
    assert.ok(stats.cases >= MIN_CASES, `only ${stats.cases} cases were sent in ${seconds.toFixed(1)} s\n${replay(stats)}`);
    assert.ok(peak - baseline < RSS_MARGIN_KIB, `RSS grew by ${Math.round((peak - baseline) / 1024)} MiB (from ${Math.round(baseline / 1024)} MiB)\n${replay(stats)}`);

    // After the run: the existing client and a new connection both complete a round trip.
    await probe.roundTrip();
    const fresh = await Probe.connect(target.gw.mqttUrl, target.probeDevice);
    try {
      await fresh.roundTrip();
    } finally {
      await fresh.end();
    }
    assert.ok(target.alive(), replay(stats));
  });
});
