/**
 * `gatehouse start` and its signals, on a real gateway process.
 */
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { GatewayProcess } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

const groups = (n: number): string => {
  const defs = Array.from({ length: n }, (_, i) => `    G${i}: { selectionRule: "thingName: t${i}", policyName: P }`).join('\n');
  return `deviceGroups:\n  definitions:\n${defs}\n  policies:\n    P:\n      S: { operations: [mqtt:connect], resources: ["mqtt:clientId:*"] }\n`;
};

test('SIGHUP re-reads the configuration, also a change the file watcher cannot see', async (t) => {
  // The configuration path is a symbolic link into another directory (as with a
  // Kubernetes ConfigMap): the gateway watches the link's directory, so an edit of
  // the target raises no event there, and only SIGHUP can bring the change in.
  const dir = await makeTempDir(t);
  const real = join(dir, 'mounted', 'real.yaml');
  await mkdir(join(dir, 'mounted'));
  await writeFile(real, groups(1));
  const link = join(dir, 'gatehouse.yaml');
  await symlink(real, link);
  const gw = await GatewayProcess.launch(dir, link, join(dir, 'data'));
  t.after(() => gw.stop());
  assert.equal((JSON.parse(await gw.waitForLog((l) => l.includes('"event":"ready"'))) as { groups: number }).groups, 1);

  await writeFile(real, groups(3));
  const mark = gw.lines.length;
  gw.signal('SIGHUP');
  const applied = JSON.parse(await gw.waitForLog((l) => l.includes('"event":"config-applied"'), 15000, mark)) as { trigger: string; groups: number; path: string };
  assert.deepEqual([applied.trigger, applied.groups, applied.path], ['SIGHUP', 3, link]);

  // An invalid file on SIGHUP is rejected, named with its trigger, and the gateway stays up.
  await writeFile(real, 'deviceGroups: {definitions: {G: {selectionRule: "thingName: a", policyName: Missing}}}\n');
  const mark2 = gw.lines.length;
  gw.signal('SIGHUP');
  const rejected = JSON.parse(await gw.waitForLog((l) => l.includes('"event":"config-rejected"'), 15000, mark2)) as { trigger: string; errors: number };
  assert.deepEqual([rejected.trigger, rejected.errors], ['SIGHUP', 1]);
  assert.equal(await gw.stop(), 0);
});
