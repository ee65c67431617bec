/**
 * Loggers of the `debug` package that cost nothing while disabled.
 *
 * mqtt-packet, which parses and writes every MQTT packet for aedes, calls its `debug`
 * loggers about thirty times per PUBLISH. A disabled `debug` logger returns at once, but
 * it is declared `debug(...args)`, so each call first gathers its arguments into a new
 * array: measured with V8's sampling heap profiler on the latency workload
 * (docs/benchmarks.md, "Garbage per message"), about 2 KB of garbage per message
 * delivered, a quarter of all the gateway allocates per message, which the young
 * generation's collections then stop the event loop to sweep.
 *
 * Imported first by the command line's entry point, before anything loads mqtt-packet:
 * the `debug` module as every package then gets it hands out, for a namespace the
 * `DEBUG` environment variable does not enable, a plain empty function (no rest
 * parameter, so no array); for an enabled namespace the real logger, so
 * `DEBUG=mqtt-packet:*` works as documented. What is given up: `debug.enable()` called
 * later does not switch on a logger made while its namespace was disabled (Gatehouse
 * never calls it; set `DEBUG` before starting instead).
 */
import { createRequire } from 'node:module';

interface DebugLogger {
  (...args: unknown[]): void;
  enabled: boolean;
  namespace: string;
  log: (...args: unknown[]) => void;
  extend(sub: string, delimiter?: string): DebugLogger;
  destroy(): boolean;
}
interface DebugModule {
  (namespace: string): DebugLogger;
  enabled(namespace: string): boolean;
}

const require = createRequire(import.meta.url);

function noop(): void {
  // disabled: nothing to do, and no arguments array to build
}

/** A disabled logger: callable, with the properties packages read or set on one. */
function quietLogger(real: DebugModule, namespace: string): DebugLogger {
  const logger = function quiet(): void {
    // see noop
  } as unknown as DebugLogger;
  logger.enabled = false;
  logger.namespace = namespace;
  logger.log = noop;
  logger.extend = (sub: string, delimiter = ':') => loggerFor(real, namespace + delimiter + sub);
  logger.destroy = () => false;
  return logger;
}

function loggerFor(real: DebugModule, namespace: string): DebugLogger {
  return real.enabled(namespace) ? real(namespace) : quietLogger(real, namespace);
}

/** Installs the quiet `debug` in the module cache (once); returns the module packages now get. */
export function installQuietDebug(): DebugModule {
  const path = require.resolve('debug');
  const real = require(path) as DebugModule & { quiet?: true };
  if (real.quiet === true) return real;
  const quiet = ((namespace: string) => loggerFor(real, namespace)) as DebugModule & { quiet?: true };
  // enable, disable, enabled, formatters, names, … are the real module's.
  Object.setPrototypeOf(quiet, real);
  quiet.quiet = true;
  const cached = require.cache[path];
  if (cached !== undefined) cached.exports = quiet;
  return quiet;
}

installQuietDebug();
