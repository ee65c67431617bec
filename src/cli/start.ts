import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfigFile } from '../config-file.js';
import { formatIssue, isGatehouseError, type LogLevel } from '../core/index.js';
import type { Gateway } from '../gateway.js';
import { CliError, EXIT, printError, type Io } from './output.js';

interface StartOptions {
  config?: string;
  clusterConfig?: string;
  dataDir?: string;
  mqttPort?: number;
  apiPort?: number;
  managementPort?: number;
  dataPlanePort?: number;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function registerStart(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('start')
    .description('run the gateway: the MQTT broker over mutual TLS that enforces identity and policy')
    .option('--config <file>', 'configuration file (default: ./gatehouse.yaml if it exists)')
    .option('--cluster-config <file>', 'a file of gatehouse.registry and gatehouse.cluster keys every node of a cluster shares, merged over the configuration')
    .option('--data-dir <dir>', 'data directory (overrides gatehouse.dataDir)')
    .option('--mqtt-port <n>', 'MQTT over TLS port (0 = any free port); overrides gatehouse.mqtt.port', port)
    .option('--api-port <n>', 'local API port (0 = any free port); overrides gatehouse.api.port, and gatehouse.api.socketPath', port)
    .option('--management-port <n>', 'management API port (0 = any free port); overrides gatehouse.management.port', port)
    .option('--data-plane-port <n>', 'HTTPS data-plane port (0 = any free port); overrides gatehouse.dataPlane.port', port)
    .addHelpText('after', `
Prints "listening URL" on stdout for each listener once ready (MQTT first, then the
local API as http://HOST:PORT or unix:PATH, then the management API as
https://HOST:PORT, then the data-plane listener, when enabled, as
"listening data-plane https://HOST:PORT"), then the operator console's address as
"console https://HOST:PORT/console/ …"; on the first start, the administrator's credentials file and how
to use it (never the secret itself); logs are JSON on stderr
(GATEHOUSE_LOG_LEVEL overrides gatehouse.logging.level). SIGHUP re-reads the
configuration; SIGINT/SIGTERM stop gracefully.
Exit status: 0 after a graceful stop, 1 when the gateway cannot start (invalid
configuration, CA or data directory problem, startup timeout), 2 usage error.`)
    .action(async (opts: StartOptions) => {
      const configPath = opts.config ?? (existsSync('gatehouse.yaml') ? 'gatehouse.yaml' : undefined);
      const envLevel = process.env['GATEHOUSE_LOG_LEVEL'];
      if (envLevel !== undefined && !LEVELS.includes(envLevel)) throw new CliError('USAGE', `GATEHOUSE_LOG_LEVEL \`${envLevel}\` is not one of ${LEVELS.join(', ')}`);
      const timeoutSeconds = await startupTimeout(configPath);
      // Loaded here, not at the top: the broker, the API and their libraries cost most of
      // the CLI's start-up time, and no other command needs them.
      const { Gateway, GatewayError } = await import('../gateway.js');

      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new GatewayError('STARTUP_TIMEOUT', `the gateway was not ready within startupTimeoutSeconds (${timeoutSeconds} s)`, [],
          'look for a locked registry (another process holding registry.db), an unreachable custom CA file, or raise startupTimeoutSeconds')), timeoutSeconds * 1000);
      });
      let gateway: Gateway;
      try {
        gateway = await Promise.race([
          Gateway.start({
            ...(configPath !== undefined ? { configPath } : {}),
            ...(opts.clusterConfig !== undefined ? { clusterConfigPath: opts.clusterConfig } : {}),
            ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
            ...(opts.mqttPort !== undefined ? { mqttPort: opts.mqttPort } : {}),
            ...(opts.apiPort !== undefined ? { apiPort: opts.apiPort } : {}),
            ...(opts.managementPort !== undefined ? { managementPort: opts.managementPort } : {}),
            ...(opts.dataPlanePort !== undefined ? { dataPlanePort: opts.dataPlanePort } : {}),
            ...(envLevel !== undefined ? { logLevel: envLevel as LogLevel } : {}),
          }),
          timeout,
        ]);
      } catch (e) {
        // An unreadable file is an input error (exit 2): the CLI's own mapping prints it.
        if (e instanceof GatewayError && e.code === 'CONFIG_UNREADABLE') throw e;
        if (e instanceof GatewayError) for (const ce of e.errors) io.err(`error ${formatIssue(ce)}`);
        if (isGatehouseError(e)) printError(io, e);
        else io.err(`error INTERNAL: ${(e as Error).message}`);
        // Startup may have left timers and sockets behind (timeout): exit now.
        process.exit(EXIT.INVALID);
      } finally {
        clearTimeout(timer);
      }
      for (const l of gateway.listeners) io.out(`listening ${l.url}`);
      if (gateway.apiUrl !== undefined) io.out(`listening ${gateway.apiUrl}`);
      if (gateway.managementUrl !== undefined) io.out(`listening ${gateway.managementUrl}`);
      if (gateway.dataPlaneUrl !== undefined) io.out(`listening data-plane ${gateway.dataPlaneUrl}`);
      if (gateway.consoleUrl !== undefined) io.out(`console ${gateway.consoleUrl} (sign in with an IAM user's access key id and secret)`);
      for (const line of gateway.administrator ?? []) io.out(line);

      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          gateway.logger.info({ event: 'signal', signal }, 'stopping');
          void gateway.stop().finally(() => resolve());
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGHUP', () => void gateway.reload('SIGHUP'));
      });
      setExit(EXIT.OK);
      // Give the asynchronous log destination a moment to flush, then leave even if a
      // stray handle (a half-open socket) would keep the loop alive.
      setTimeout(() => process.exit(EXIT.OK), 200).unref();
    });
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new CliError('USAGE', `\`${value}\` is not a port number (0-65535)`);
  return n;
}

async function startupTimeout(configPath: string | undefined): Promise<number> {
  if (configPath === undefined) return 120;
  const r = await loadConfigFile(configPath);
  return r.ok ? r.config.startupTimeoutSeconds : 120;
}
