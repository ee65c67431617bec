/**
 * Loaded into the gateway under test by bench:soak (`node --import <this file>`): every
 * SOAK_PROBE_MS milliseconds (default 5000) it writes one line to stderr,
 * `soak-probe {json}`, with what only the process itself can see: heap used and total,
 * external and array-buffer memory, the event-loop delay since the previous line
 * (perf_hooks monitorEventLoopDelay, 10 ms resolution: p50, p99, max in ms) and the
 * active handles and requests by type (process.getActiveResourcesInfo()).
 *
 * Benchmark code only: the gateway never loads it by itself.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const period = Number(process.env['SOAK_PROBE_MS'] ?? 5000);
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

const timer = setInterval(() => {
  const m = process.memoryUsage();
  const kinds: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) kinds[k] = (kinds[k] ?? 0) + 1;
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  const line = {
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    eld: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
    resources: kinds,
  };
  delay.reset();
  process.stderr.write(`soak-probe ${JSON.stringify(line)}\n`);
}, period);
timer.unref();
