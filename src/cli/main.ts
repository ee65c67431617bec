#!/usr/bin/env node
// First: before anything loads mqtt-packet (see the module).
import '../broker/quiet-debug.js';
import { EXIT } from './output.js';
import { runCli } from './program.js';

// A closed pipe (`gatehouse ... | head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.OK);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2));
