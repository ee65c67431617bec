/**
 * The configuration reloader against real files: an empty file is never applied, a
 * file is read only once it has stopped changing, and a reload that would remove every
 * device group is applied only when the file says so.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { truncate, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { compileDeviceGroups, formatFromName, parseConfig } from '../../src/core/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { ConfigReloader, RELOAD_CODES } from '../../src/runtime/config-reloader.js';
import { PolicyStore } from '../../src/runtime/policy-store.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitForEvent } from '../helpers/wait.js';

const GROUPS = (names: string[]): string => `
deviceGroups:
  definitions:
${names.map((n) => `    ${n}: { selectionRule: "thingName: ${n.toLowerCase()}-*", policyName: P }`).join('\n')}
  policies:
    P:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:*"] }
`;

interface LogLine {
  event: string;
  code?: string;
  groups?: number;
  trigger?: string;
}

describe('ConfigReloader', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let path: string;
  let lines: LogLine[];
  let policy: PolicyStore;
  let reloader: ConfigReloader;
  const applied: number[] = [];
  const logged = new EventEmitter();

  const start = async (text: string, settleMilliseconds = 1000): Promise<void> => {
    await writeFile(path, text);
    const initial = parseConfig(text, formatFromName(path));
    assert.ok(initial.ok);
    policy = new PolicyStore(compileDeviceGroups(initial.deviceGroups));
    const logger = createLogger('debug', { write: (s: string) => {
      const l = JSON.parse(s) as LogLine;
      lines.push(l);
      logged.emit('line', l);
    } });
    reloader = new ConfigReloader(path, policy, logger, { settleMilliseconds, onApplied: (c) => applied.push(Object.keys(c.deviceGroups.definitions).length) });
    await reloader.prime();
  };
  const events = (name: string): LogLine[] => lines.filter((l) => l.event === name);
  /** The first log line matching `pred`, as soon as it is written. */
  const waitFor = async (pred: (l: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> => {
    const l = lines.find(pred);
    if (l) return l;
    return (await waitForEvent<[LogLine]>(logged, 'line', pred, timeoutMs).catch(() => {
      throw new Error(`no such log line; got ${JSON.stringify(lines)}`);
    }))[0];
  };

  beforeEach(async () => {
    dir = await tempDir();
    path = join(dir.path, 'gatehouse.yaml');
    lines = [];
    applied.length = 0;
  });
  afterEach(async () => {
    await reloader?.close();
    await dir.cleanup();
  });

  it('never applies an empty, whitespace-only or comments-only file (CONFIG_EMPTY); the configuration in force stays', async () => {
    await start(GROUPS(['A', 'B']));
    for (const text of ['', '  \n\t\n', '# nothing here\n\n# yet\n']) {
      await writeFile(path, text);
      assert.equal(await reloader.reload('SIGHUP'), false);
      assert.equal(policy.current.groups.length, 2);
    }
    assert.deepEqual(events('config-rejected').map((l) => l.code), ['CONFIG_EMPTY', 'CONFIG_EMPTY', 'CONFIG_EMPTY']);
    assert.deepEqual(applied, []);
    // The previous text written back is no change.
    await writeFile(path, GROUPS(['A', 'B']));
    assert.equal(await reloader.reload('SIGHUP'), false);
    assert.equal(events('config-unchanged').length, 1);
  });

  it('refuses a reload that removes every device group unless the file says so explicitly', async () => {
    await start(GROUPS(['A', 'B']));
    for (const text of ['gatehouse: { watchConfig: true }\n', 'deviceGroups: {}\n', 'deviceGroups:\n  policies: {}\n']) {
      await writeFile(path, text);
      assert.equal(await reloader.reload('SIGHUP'), false, text);
      assert.equal(policy.current.groups.length, 2);
    }
    assert.deepEqual(events('config-rejected').map((l) => l.code), Array(3).fill('CONFIG_RELOAD_REMOVES_ALL_GROUPS'));
    await writeFile(path, 'deviceGroups: { definitions: {} }\n');
    assert.equal(await reloader.reload('SIGHUP'), true);
    assert.equal(policy.current.groups.length, 0);
    assert.deepEqual(applied, [0]);
    // With no group in force, a file without groups is just that.
    await writeFile(path, 'gatehouse: { watchConfig: true }\n');
    assert.equal(await reloader.reload('SIGHUP'), true);
  });

  it('the explicit form also works in JSON and in another letter case', async () => {
    path = join(dir.path, 'gatehouse.json');
    await start(JSON.stringify({ deviceGroups: { definitions: { A: { selectionRule: 'thingName: a-*', policyName: 'P' } }, policies: { P: { Connect: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:*'] } } } } }));
    await writeFile(path, ' \n');
    assert.equal(await reloader.reload('SIGHUP'), false);
    assert.deepEqual(events('config-rejected').map((l) => l.code), ['CONFIG_EMPTY'], 'an empty JSON file is empty, not a syntax error');
    await writeFile(path, '{"DeviceGroups": {"Definitions": {}}}');
    assert.equal(await reloader.reload('SIGHUP'), true);
    assert.equal(policy.current.groups.length, 0);
  });

  it('reads a changed file only once it has stopped changing: truncated, then rewritten 400 ms later, is no change', async () => {
    await start(GROUPS(['A', 'B']));
    reloader.watch();
    await truncate(path, 0);
    // Not synchronisation but the scenario itself: a file left empty for 400 ms, then
    // written again, all within the 1,000 ms settle time.
    await sleep(400);
    await writeFile(path, GROUPS(['A', 'B']));
    await waitFor((l) => l.event === 'config-unchanged');
    assert.deepEqual(events('config-rejected'), [], 'the empty file was never read');
    assert.deepEqual(applied, []);
    assert.equal(policy.current.groups.length, 2);
  });

  it('a file rewritten in place with new content is applied once, after it settles', async () => {
    await start(GROUPS(['A', 'B']), 1000);
    reloader.watch();
    await writeFile(path, GROUPS(['A', 'B', 'C']).slice(0, 60)); // half-written
    // The scenario, not synchronisation: the rest is written 100 ms later, well within the
    // settle time (generous so that a loaded machine does not stretch the gap past it).
    await sleep(100);
    await writeFile(path, GROUPS(['A', 'B', 'C']));
    await waitFor((l) => l.event === 'config-applied');
    assert.deepEqual(events('config-rejected'), []);
    assert.deepEqual(applied, [3]);
  });

  it('an atomic rename is applied', async () => {
    await start(GROUPS(['A']), 0);
    reloader.watch();
    await writeFile(join(dir.path, 'next.tmp'), GROUPS(['A', 'B']));
    await rename(join(dir.path, 'next.tmp'), path);
    await waitFor((l) => l.event === 'config-applied');
    assert.equal(policy.current.groups.length, 2);
  });

  it('a large file goes through one kept parser thread: a bad document changes nothing, the next good one applies', async () => {
    const big = (n: number): string => GROUPS(Array.from({ length: n }, (_, i) => `G${i}`));
    const initial = big(1500);
    assert.ok(initial.length > 64 * 1024, `fixture is ${initial.length} characters`);
    await start(initial, 0);
    const before = policy.current;
    // Valid YAML, one reference to a policy that does not exist: the whole document is
    // validated before anything applies.
    await writeFile(path, big(1600).replace('G1599: { selectionRule: "thingName: g1599-*", policyName: P }', 'G1599: { selectionRule: "thingName: g1599-*", policyName: Missing }'));
    assert.equal(await reloader.reload('test'), false);
    assert.equal(policy.current, before);
    assert.ok(events('config-error').some((l) => (l as LogLine & { path?: string }).path === 'deviceGroups.definitions.G1599.policyName'));
    await writeFile(path, big(1600));
    assert.equal(await reloader.reload('test'), true);
    assert.equal(policy.current.groups.length, 1600);
    const parser = (reloader as unknown as { parser: { started: number } }).parser;
    assert.equal(parser.started, 1, 'the thread started at prime() served both reloads');
  });

  it('every refusal code is documented in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of RELOAD_CODES) assert.match(doc, new RegExp(`^\\| \`${code}\` \\|`, 'm'), code);
  });
});
