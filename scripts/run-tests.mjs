#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's built-in runner.
// Node 20's `node --test DIR` would also run helper modules and fixtures as tests, and
// it accepts no glob patterns, so the list is built here. Extra arguments are passed
// through (e.g. a subset of files or --test-name-pattern).
//
// Every test file has a time limit (GATEHOUSE_TEST_TIMEOUT_MS, default 600 s), so a hung
// socket fails its file instead of hanging the run. (Node 20 applies --test-timeout to
// each file the runner starts, not to the tests inside it; tests that wait on the network
// carry their own, shorter limits.) Random choices in tests come from
// one seed (test/helpers/seed.ts): taken from GATEHOUSE_TEST_SEED or picked here, and
// printed before and after the run so a failure can be replayed.
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
const given = process.env.GATEHOUSE_TEST_SEED;
const seed = given !== undefined && /^\d+$/.test(given) ? given : String(Math.floor(Math.random() * 2 ** 32));
const timeout = process.env.GATEHOUSE_TEST_TIMEOUT_MS ?? '600000';
console.log(`# test seed ${seed} (replay with GATEHOUSE_TEST_SEED=${seed})`);
const r = spawnSync(process.execPath, ['--test', `--test-timeout=${timeout}`, ...args, ...files], {
  stdio: 'inherit',
  env: { ...process.env, GATEHOUSE_TEST_SEED: seed },
});
if (r.status !== 0) console.log(`# failed with test seed ${seed}: replay with GATEHOUSE_TEST_SEED=${seed} npm test`);
process.exit(r.status ?? 1);
