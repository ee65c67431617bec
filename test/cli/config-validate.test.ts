/**
 * `gatehouse config validate`, run as a real process (docs/cli.md): a valid file exits
 * 0 with a summary; an invalid one exits 1 with every error's code, JSON path and fix;
 * `--json` prints one object; an unreadable file or a missing argument exits 2.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ROOT, runCli, type CliResult } from '../helpers/gateway.js';
import { makeProcessTempDir } from '../helpers/tmp-dir.js';

const EXAMPLE = join(ROOT, 'examples', 'gatehouse.yaml');

/** The invalid file of docs/cli.md: four errors and one warning. */
const BROKEN = `deviceGroups:
  definitions:
    Sensors:
      selectionRule: "thingName: sensor-* or thingName: probe-*"
      policyName: SensorPolicy
  policies:
    SensorPolicy:
      Publish:
        operations: [mqtt:publsh]
        resource: ["mqtt:topic:sensors/\${iot:Connection.Thing.ThingName}/*"]
certificates:
  serverCertificateValiditySeconds: 3600
`;

const BROKEN_ERRORS = [
  ['CONFIG_UNKNOWN_KEY', 'deviceGroups.policies.SensorPolicy.Publish.resource', 'did you mean `resources`?'],
  ['CONFIG_UNKNOWN_OPERATION', 'deviceGroups.policies.SensorPolicy.Publish.operations[0]', 'did you mean `mqtt:publish`?'],
  ['RULE_UNEXPECTED_TOKEN', 'deviceGroups.definitions.Sensors.selectionRule', 'keywords are upper case: did you mean `OR`?'],
  ['CONFIG_OUT_OF_RANGE', 'certificates.serverCertificateValiditySeconds', 'use a value from 172800 to 864000 (default 604800)'],
];

function exited(r: CliResult, code: number): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
}

describe('gatehouse config validate', () => {
  let dir: string;
  let broken: string;
  before(async () => {
    dir = makeProcessTempDir();
    broken = join(dir, 'broken.yaml');
    await writeFile(broken, BROKEN);
  });

  it('a valid file: exit 0, the summary on stdout, nothing on stderr', async () => {
    const r = await runCli(['config', 'validate', EXAMPLE]);
    exited(r, 0);
    assert.equal(r.stdout, `${EXAMPLE}: valid (2 groups, 2 policies)\n`);
    assert.equal(r.stderr, '');
  });

  it('a valid JSON file with a warning: exit 0, the warning on stderr and counted in the summary', async () => {
    const file = join(dir, 'unused.json');
    await writeFile(file, JSON.stringify({ deviceGroups: { policies: { Unused: { S: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:a'] } } } } }));
    const r = await runCli(['config', 'validate', file]);
    exited(r, 0);
    assert.equal(r.stdout, `${file}: valid (0 groups, 1 policy, 1 warning)\n`);
    assert.match(r.stderr, /^warning CONFIG_POLICY_UNUSED at deviceGroups\.policies\.Unused: /m);
  });

  it('an invalid file: exit 1, every error with code, path and fix, then the warnings and a summary', async () => {
    const r = await runCli(['config', 'validate', broken]);
    exited(r, 1);
    assert.equal(r.stdout, '');
    const errors = [...r.stderr.matchAll(/^error (\S+) at (\S+): .*\n {4}fix: (.*)$/gm)].map((m) => [m[1], m[2], m[3]]);
    assert.deepEqual(errors, BROKEN_ERRORS);
    assert.match(r.stderr, /^warning CONFIG_STATEMENT_EMPTY at deviceGroups\.policies\.SensorPolicy\.Publish: /m);
    assert.ok(r.stderr.endsWith(`${broken}: invalid, 4 errors\n`), r.stderr);
  });

  it('--json: one object {valid, errors, warnings} on stdout, with the same exit statuses', async () => {
    const ok = await runCli(['config', 'validate', EXAMPLE, '--json']);
    exited(ok, 0);
    assert.deepEqual(JSON.parse(ok.stdout), { valid: true, errors: [], warnings: [] });

    const bad = await runCli(['config', 'validate', broken, '--json']);
    exited(bad, 1);
    assert.equal(bad.stderr, '');
    const out = JSON.parse(bad.stdout) as { valid: boolean; errors: { code: string; path: string; message: string; fix?: string }[]; warnings: { code: string; path: string }[] };
    assert.equal(out.valid, false);
    assert.deepEqual(out.errors.map((e) => [e.code, e.path, e.fix]), BROKEN_ERRORS);
    assert.ok(out.errors.every((e) => e.message.length > 0));
    assert.deepEqual(out.warnings.map((w) => [w.code, w.path]), [['CONFIG_STATEMENT_EMPTY', 'deviceGroups.policies.SensorPolicy.Publish']]);
  });

  it('a syntax error is an invalid file (exit 1) with its code', async () => {
    const file = join(dir, 'syntax.yaml');
    await writeFile(file, 'deviceGroups: [\n');
    const r = await runCli(['config', 'validate', file, '--json']);
    exited(r, 1);
    assert.deepEqual((JSON.parse(r.stdout) as { errors: { code: string }[] }).errors.map((e) => e.code), ['CONFIG_SYNTAX']);
  });

  it('an unreadable file exits 2 with FILE_UNREADABLE as text on stderr, even with --json; no file argument exits 2', async () => {
    const missing = join(dir, 'missing.yaml');
    for (const args of [[missing], [missing, '--json']]) {
      const r = await runCli(['config', 'validate', ...args]);
      exited(r, 2);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `error FILE_UNREADABLE: cannot read configuration file \`${missing}\`: ENOENT\n    fix: check the path and permissions\n`);
    }
    const none = await runCli(['config', 'validate']);
    exited(none, 2);
    assert.match(none.stderr, /missing required argument 'file'/);
  });
});
