import { Command, CommanderError } from 'commander';
import { registerApiToken } from './api-token.js';
import { registerAuthorize } from './authorize.js';
import { registerCa } from './ca.js';
import { registerCerts } from './certs.js';
import { registerConfigCluster } from './config-cluster.js';
import { registerConfigValidate } from './config-validate.js';
import { registerControl } from './control.js';
import { registerRetained } from './retained.js';
import { registerIam } from './iam.js';
import { registerPolicies } from './policies.js';
import { registerPolicy } from './policy.js';
import { installRemote } from './remote/commands.js';
import { registerStart } from './start.js';
import { registerSync } from './sync.js';
import { isGatehouseError } from '../core/index.js';
import { EXIT, exitCodeOf, printError, processIo, type Io } from './output.js';
import type { TargetEnvironment } from './remote/target.js';
import { registerJobs } from './jobs.js';
import { registerThingGroups } from './thing-groups.js';
import { registerThingTypes } from './thing-types.js';
import { registerThings } from './things.js';

export const VERSION = '0.1.0';

/** Where the remote settings come from: this process's environment (tests pass their own). */
const processEnvironment = (): TargetEnvironment => ({ env: process.env });

/** Builds the command tree. Each command lives in its own file and registers itself. */
export function buildProgram(io: Io, setExit: (code: number) => void, environment: () => TargetEnvironment = processEnvironment): Command {
  const program = new Command('gatehouse')
    .description('Authenticates MQTT devices by X.509 certificate and authorizes every MQTT action (Greengrass client device auth compatible).')
    .version(VERSION)
    // Root options only before the command, so `policies show --version N` is the command's own option.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) })
    .exitOverride();
  const config = program.command('config').description('work with configuration files').exitOverride();
  registerConfigValidate(config, io, setExit);
  registerConfigCluster(config, io, setExit);
  registerAuthorize(program, io, setExit);
  registerPolicy(program, io, setExit);
  registerThings(program, io, setExit);
  registerThingGroups(program, io, setExit);
  registerJobs(program, io, setExit);
  registerThingTypes(program, io, setExit);
  registerPolicies(program, io, setExit);
  registerCerts(program, io, setExit);
  registerCa(program, io, setExit);
  registerIam(program, io, setExit);
  registerControl(program, io, setExit);
  registerSync(program, io, setExit);
  registerRetained(program, io, setExit);
  registerStart(program, io, setExit);
  registerApiToken(program, io, setExit);
  installRemote(program, environment);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  return program;
}

/** Runs the CLI and returns the exit status instead of exiting (tests call this). */
export async function runCli(argv: string[], io: Io = processIo, environment?: () => TargetEnvironment): Promise<number> {
  let exit: number = EXIT.OK;
  const program = buildProgram(io, (code) => {
    exit = code;
  }, environment);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are successes; every other parse problem is a usage error.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.OK : EXIT.USAGE;
    }
    // Every coded error of every layer (configuration, registry, CA, API, data
    // directory, gateway, CLI) is a GatehouseError; anything else is a bug.
    if (isGatehouseError(e)) {
      printError(io, e);
      return exitCodeOf(e);
    }
    io.err(`error INTERNAL: ${(e as Error).stack ?? String(e)}`);
    return EXIT.INTERNAL;
  }
}
