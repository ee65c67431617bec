#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's built-in runner.
// Node 20's `node --test DIR` would also run helper modules and fixtures as tests, and
// it accepts no glob patterns, so the list is built here. Extra arguments are passed
// through (e.g. a subset of files or --test-name-pattern).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' || name === 'helpers' ? [] : find(p);
    return name.endsWith('.test.js') ? [p] : [];
  });
}

const args = process.argv.slice(2);
const files = args.some((a) => a.endsWith('.js')) ? [] : find('dist/test').sort();
if (files.length === 0 && !args.some((a) => a.endsWith('.js'))) {
  console.error('no test files found under dist/test (did the build run?)');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', ...args, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
