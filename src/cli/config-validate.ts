import type { Command } from 'commander';
import { loadConfigFile } from '../config-file.js';
import { CliError, EXIT, printIssues, type Io } from './output.js';

export function registerConfigValidate(config: Command, io: Io, setExit: (code: number) => void): void {
  config
    .command('validate')
    .description('check a configuration file; print every error with its code, path and fix')
    .argument('<file>', 'configuration file (.json, .yaml or .yml)')
    .option('--json', 'print the result as one JSON object on stdout')
    .addHelpText('after', '\nExit status: 0 valid, 1 invalid, 2 usage error or unreadable file.')
    .action(async (file: string, opts: { json?: boolean }) => {
      const result = await loadConfigFile(file);
      if (!result.ok && 'unreadable' in result) throw new CliError(result.code, result.message, EXIT.USAGE, 'check the path and permissions');
      const errors = result.ok ? [] : result.errors;
      if (opts.json) io.out(JSON.stringify({ valid: result.ok, errors, warnings: result.warnings }));
      else {
        printIssues(io, errors, result.warnings);
        if (result.ok) {
          const dg = result.config.deviceGroups;
          const groups = Object.keys(dg.definitions).length;
          const policies = Object.keys(dg.policies).length;
          io.out(`${file}: valid (${groups} group${groups === 1 ? '' : 's'}, ${policies} polic${policies === 1 ? 'y' : 'ies'}${result.warnings.length ? `, ${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'}` : ''})`);
        } else io.err(`${file}: invalid, ${errors.length} error${errors.length === 1 ? '' : 's'}`);
      }
      setExit(result.ok ? EXIT.OK : EXIT.INVALID);
    });
}
