/**
 * Large configuration files are parsed on a worker thread during a reload; the answer
 * must be exactly what parsing in place gives, errors and positions included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/core/index.js';
import { parseConfigOffThread } from '../../src/runtime/parse-worker.js';

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
