/**
 * src/broker/quiet-debug.ts: once the command line's entry point has loaded it, the
 * `debug` loggers mqtt-packet makes for disabled namespaces are plain empty functions
 * (no arguments array per call), and a namespace enabled with DEBUG still logs. Each
 * case runs in a fresh Node.js process: the module cache and DEBUG are per process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const QUIET = fileURLToPath(new URL('../../src/broker/quiet-debug.js', import.meta.url));

/** Runs `body` (ESM, with `debugOf(ns)`: the logger mqtt-packet's own `require('debug')` makes) after loading quiet-debug first, or not at all. */
function run(body: string, opts: { quiet: boolean; env?: Record<string, string> }): Promise<{ stdout: string; stderr: string }> {
  const script = `
${opts.quiet ? `await import(${JSON.stringify(QUIET)});` : ''}
const { createRequire } = await import('node:module');
const fromPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
const debugOf = (ns) => fromPacket('debug')(ns);
const mqttPacket = fromPacket('mqtt-packet');
${body}
`;
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (opts.env?.['DEBUG'] === undefined) delete env['DEBUG'];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { env, cwd: fileURLToPath(new URL('../../..', import.meta.url)) }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

describe('quiet debug loggers', () => {
  test('a disabled namespace gets a function without a rest parameter (no array per call); the real one has one', async () => {
    const body = `const d = debugOf('mqtt-packet:parser'); console.log(JSON.stringify({ enabled: d.enabled, namespace: d.namespace, source: d.toString().includes('...args') }));`;
    const quiet = JSON.parse((await run(body, { quiet: true })).stdout) as { enabled: boolean; namespace: string; source: boolean };
    assert.deepEqual(quiet, { enabled: false, namespace: 'mqtt-packet:parser', source: false });
    // Without the module, debug's own logger gathers its arguments (what the module exists to avoid).
    const plain = JSON.parse((await run(body, { quiet: false })).stdout) as { source: boolean };
    assert.equal(plain.source, true);
  });

  test('DEBUG still enables a namespace: its logger writes to stderr', async () => {
    const body = `const d = debugOf('mqtt-packet:parser'); d('hello %s', 'there'); debugOf('mqtt-packet:writeToStream')('not shown'); console.log(d.enabled);`;
    const r = await run(body, { quiet: true, env: { DEBUG: 'mqtt-packet:parser' } });
    assert.equal(r.stdout.trim(), 'true');
    assert.match(r.stderr, /mqtt-packet:parser hello there/);
    assert.doesNotMatch(r.stderr, /not shown/);
  });

  test('extend, log and destroy work on a quiet logger; enabled() and the rest of the module are debug\'s own', async () => {
    const body = `
const d = debugOf('a');
const child = d.extend('b');
console.log(JSON.stringify({ child: child.namespace, enabled: child.enabled, log: typeof d.log, destroyed: d.destroy(), moduleEnabled: fromPacket('debug').enabled('x:y'), humanize: typeof fromPacket('debug').humanize, call: d('x', 1) === undefined }));`;
    const r = JSON.parse((await run(body, { quiet: true, env: { DEBUG: 'x:*' } })).stdout) as Record<string, unknown>;
    assert.deepEqual(r, { child: 'a:b', enabled: false, log: 'function', destroyed: false, moduleEnabled: true, humanize: 'function', call: true });
  });

  test('mqtt-packet parses and writes packets as before with the quiet loggers', async () => {
    const body = `
const packet = { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 1, messageId: 7, retain: false, dup: false };
const parser = mqttPacket.parser();
parser.on('packet', (p) => console.log(JSON.stringify({ cmd: p.cmd, topic: p.topic, payload: p.payload.toString(), messageId: p.messageId })));
parser.parse(mqttPacket.generate(packet));`;
    const r = JSON.parse((await run(body, { quiet: true })).stdout) as Record<string, unknown>;
    assert.deepEqual(r, { cmd: 'publish', topic: 'a/b', payload: 'hi', messageId: 7 });
  });
});
