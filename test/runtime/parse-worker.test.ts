/**
 * Large configuration files are parsed on a worker thread during a reload; the answer
 * must be exactly what parsing in place gives, errors and positions included. The
 * reloader keeps a parser thread (ConfigParser); a thread that fails must fail the
 * request it held, never leave it waiting, and be replaced; a thread idle after a parse
 * is replaced by a fresh one (its grown heap goes with it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/core/index.js';
import { ConfigParser, parseConfigOffThread } from '../../src/runtime/parse-worker.js';
import { waitUntil } from '../helpers/wait.js';

function bigYaml(groups: number, extra = ''): string {
  const lines = ['deviceGroups:', '  definitions:'];
  for (let i = 0; i < groups; i++) lines.push(`    Group${i}:`, `      selectionRule: "thingName: fleet-${i}-*"`, '      policyName: P');
  lines.push('  policies:', '    P:', '      S:', '        operations: ["mqtt:publish"]', '        resources: ["mqtt:topic:t/${iot:Connection.Thing.ThingName}"]');
  return lines.join('\n') + '\n' + extra;
}

describe('parseConfigOffThread', () => {
  it('gives the same configuration as parseConfig for a file large enough to use the worker', async () => {
    const text = bigYaml(2000);
    assert.ok(text.length > 64 * 1024, `fixture is ${text.length} characters`);
    const here = parseConfig(text, 'yaml');
    const there = await parseConfigOffThread(text, 'yaml');
    assert.equal(there.ok, true);
    assert.deepEqual(there, here);
    assert.equal(there.ok && Object.keys(there.config.deviceGroups.definitions).length, 2000);
  });

  it('reports syntax and duplicate-key errors with their positions, as parseConfig does', async () => {
    const dup = bigYaml(2000).replace('    Group1:\n', '    Group0:\n');
    const there = await parseConfigOffThread(dup, 'yaml');
    assert.deepEqual(there, parseConfig(dup, 'yaml'));
    assert.deepEqual(there.ok ? [] : there.errors.map((e) => [e.code, e.line, e.column]), [['CONFIG_DUPLICATE_KEY', 6, 5]]);
    const broken = bigYaml(2000, 'metrics: [1\n');
    const errs = await parseConfigOffThread(broken, 'yaml');
    assert.equal(errs.ok, false);
    assert.equal(!errs.ok && errs.errors[0]!.code, 'CONFIG_SYNTAX');
    assert.deepEqual(errs, parseConfig(broken, 'yaml'));
  });

  it('validates what the worker parsed: every validation error comes back with its path', async () => {
    const text = bigYaml(2000).replace('policyName: P', 'policyName: Missing');
    const there = await parseConfigOffThread(text, 'yaml');
    assert.equal(there.ok, false);
    assert.deepEqual(there, parseConfig(text, 'yaml'));
    assert.ok(!there.ok && there.errors.some((e) => e.path === 'deviceGroups.definitions.Group0.policyName'));
  });
});

describe('ConfigParser (the kept thread)', () => {
  it('answers as parseConfig does, error positions included, on one thread for every request', async () => {
    const parser = new ConfigParser();
    try {
      const good = bigYaml(2000);
      const dup = good.replace('    Group1:\n', '    Group0:\n');
      const [a, b, c] = await Promise.all([
        parseConfigOffThread(good, 'yaml', parser),
        parseConfigOffThread(dup, 'yaml', parser),
        parseConfigOffThread(good.replace('policyName: P', 'policyName: Missing'), 'yaml', parser),
      ]);
      assert.deepEqual(a, parseConfig(good, 'yaml'));
      assert.deepEqual(b, parseConfig(dup, 'yaml'));
      assert.deepEqual(!b.ok && b.errors.map((e) => [e.code, e.line, e.column]), [['CONFIG_DUPLICATE_KEY', 6, 5]]);
      assert.equal(c.ok, false);
      assert.equal(parser.started, 1);
      // Small texts are parsed in place.
      assert.deepEqual(await parseConfigOffThread(bigYaml(2), 'yaml', parser), parseConfig(bigYaml(2), 'yaml'));
      assert.equal(parser.started, 1);
    } finally {
      await parser.close();
    }
  });

  it('a thread that fails fails the request it held, and the next request gets a new thread', async () => {
    const parser = new ConfigParser();
    try {
      // Not text: the parser throws on its thread, which ends it.
      const notText = { length: 100_000 } as unknown as string;
      await assert.rejects(parser.parse(notText, 'yaml'));
      const text = bigYaml(2000);
      assert.deepEqual(await parseConfigOffThread(text, 'yaml', parser), parseConfig(text, 'yaml'));
      assert.equal(parser.started, 2);
    } finally {
      await parser.close();
    }
  });

  it('replaces a thread idle after a parse by a fresh one, which answers the next request', async () => {
    const parser = new ConfigParser({ keepWarmMs: 50 });
    try {
      const text = bigYaml(2000);
      parser.prepare(text);
      assert.equal(parser.started, 1);
      assert.deepEqual(await parseConfigOffThread(text, 'yaml', parser), parseConfig(text, 'yaml'));
      await waitUntil(() => parser.started === 2, 10_000, 'a fresh thread');
      assert.deepEqual(await parseConfigOffThread(text, 'yaml', parser), parseConfig(text, 'yaml'));
    } finally {
      await parser.close();
    }
  });

  it('prepare() starts a thread for a large text only, and only one', async () => {
    const parser = new ConfigParser();
    try {
      parser.prepare(bigYaml(2));
      assert.equal(parser.started, 0);
      parser.prepare(bigYaml(2000));
      parser.prepare(bigYaml(2000));
      assert.equal(parser.started, 1);
    } finally {
      await parser.close();
    }
  });

  it('refuses requests once closed', async () => {
    const parser = new ConfigParser();
    await parser.close();
    await assert.rejects(parser.parse(bigYaml(2000), 'yaml'), /closed/);
  });
});
