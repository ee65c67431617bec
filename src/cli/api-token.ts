import { resolve } from 'node:path';
import type { Command } from 'commander';
import { readApiToken } from '../api/token.js';
import { resolveDataDir } from './certs.js';
import { EXIT, type Io } from './output.js';
import { loadConfig } from './things.js';

/** `gatehouse api token`: prints the local API's bearer token. */
export function registerApiToken(program: Command, io: Io, setExit: (code: number) => void): void {
  const api = program.command('api').description('the local HTTP API');
  api.command('token')
    .description('print the bearer token of the local API (created by the first `gatehouse start`)')
    .option('--data-dir <dir>', 'data directory (default: gatehouse.dataDir of --config, else $GATEHOUSE_DATA_DIR, /var/lib/gatehouse for root, $XDG_DATA_HOME/gatehouse or ~/.local/share/gatehouse)')
    .option('--config <file>', 'gateway configuration (for gatehouse.dataDir)')
    .addHelpText('after', `
Prints the token alone on stdout, for scripts:
  curl -H "Authorization: Bearer $(gatehouse api token)" http://127.0.0.1:8090/v1/sessions
The token is a secret: anyone holding it can authenticate devices and read decisions.
To replace it, delete DATA_DIR/api-token and restart the gateway.
Exit status: 0 printed, 1 no token yet or unreadable token file, 2 usage error.`)
    .action(async (opts: { dataDir?: string; config?: string }) => {
      const config = await loadConfig(opts.config, io);
      if (config === undefined) return setExit(EXIT.INVALID);
      const fromConfig = config.value.gatehouse.dataDir !== undefined && config.baseDir !== undefined ? resolve(config.baseDir, config.value.gatehouse.dataDir) : undefined;
      io.out(await readApiToken(resolveDataDir(opts.dataDir, fromConfig)));
      setExit(EXIT.OK);
    });
}
