/**
 * End-to-end tests of `gatehouse policies`, `gatehouse thing-groups` and
 * `gatehouse things update`: each runs `node dist/src/cli/main.js` in a child process
 * against a temporary data directory, as an operator would.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { makeCa, makeLeaf } from '../helpers/pki.js';
import { tempDir } from '../helpers/tmp-dir.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gatehouse(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
    });
  });
}

function json<T = Record<string, unknown>>(r: Run): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function failed(r: Run, exit: number, code: string): void {
  assert.equal(r.code, exit, `expected exit ${exit} with ${code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`error ${code}:`));
}

const DOC = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]\n}\n';
const DOC2 = '{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "iot:*", "Resource": "*"}}';

describe('gatehouse policies / thing-groups / things update', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let data: string;
  let certId: string;
  const dd = (): string[] => ['--data-dir', data];
  const file = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  before(async () => {
    ({ path: dir, cleanup } = await tempDir('gatehouse-policies-cli-'));
    data = join(dir, 'data');
    json(await gatehouse(['thing-groups', 'create', 'site', '--description', 'Plant 1, hall A', '--json', ...dd()]));
    const r = SqliteRegistry.open({ file: registryPath(data) });
    try {
      const ca = await makeCa();
      certId = (await r.registerCertificate((await makeLeaf({ issuer: ca })).pem)).id;
      await r.createThing('sensor-1', { room: 'kitchen', floor: '2' });
    } finally {
      await r.close();
    }
  });
  after(() => cleanup());

  it('creates a policy from a file (exact text), versions it and shows any version', async () => {
    const created = json<{ name: string; defaultVersion: number; document: string }>(await gatehouse(['policies', 'create', 'connect-all', '--file', file('p1.json', DOC), '--json', ...dd()]));
    assert.deepEqual([created.name, created.defaultVersion, created.document], ['connect-all', 1, DOC]);
    const v2 = json<{ version: number; isDefault: boolean }>(await gatehouse(['policies', 'create-version', 'connect-all', '--file', file('p2.json', DOC2), '--json', ...dd()]));
    assert.deepEqual([v2.version, v2.isDefault], [2, false]);
    const shown = json<{ defaultVersion: number; versions: number[]; version: { version: number; document: string } }>(await gatehouse(['policies', 'show', 'connect-all', '--version', '2', '--json', ...dd()]));
    assert.deepEqual([shown.defaultVersion, shown.versions, shown.version.version, shown.version.document], [1, [1, 2], 2, DOC2]);
    const set = json<{ changed: boolean }>(await gatehouse(['policies', 'set-default-version', 'connect-all', '2', '--json', ...dd()]));
    assert.equal(set.changed, true);
    const human = await gatehouse(['policies', 'show', 'connect-all', ...dd()]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /versions: 1, 2 \(default\)/);
    failed(await gatehouse(['policies', 'delete-version', 'connect-all', '2', ...dd()]), 1, 'POLICY_VERSION_IS_DEFAULT');
    failed(await gatehouse(['policies', 'show', 'connect-all', '--version', '7', ...dd()]), 1, 'POLICY_VERSION_NOT_FOUND');
    failed(await gatehouse(['policies', 'show', 'connect-all', '--version', 'x', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['policies', 'delete', 'connect-all', ...dd()]), 1, 'POLICY_HAS_VERSIONS');
    json(await gatehouse(['policies', 'set-default-version', 'connect-all', '1', '--json', ...dd()]));
    json(await gatehouse(['policies', 'delete-version', 'connect-all', '2', '--json', ...dd()]));
    const list = json<{ name: string; versions: number[] }[]>(await gatehouse(['policies', 'list', '--json', ...dd()]));
    assert.deepEqual(list.filter((p) => p.name === 'connect-all').map((p) => p.versions), [[1]]);
  });

  it('refuses invalid documents with every problem and stores nothing; bad names exit 2', async () => {
    const bad = await gatehouse(['policies', 'create', 'broken', '--file', file('bad.json', '["not", "an", "object"]'), ...dd()]);
    failed(bad, 1, 'POLICY_DOCUMENT_INVALID');
    assert.match(bad.stderr, /IOT_POLICY_NOT_AN_OBJECT at \$: .*\n\s+fix: /);
    const grammar = await gatehouse(['policies', 'create', 'broken', '--file', file('bad3.json', '{"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "iot:Connect", "Resource": "*"}]}'), ...dd()]);
    failed(grammar, 1, 'POLICY_DOCUMENT_INVALID');
    assert.match(grammar.stderr, /IOT_POLICY_EFFECT_INVALID at \$\.Statement\[0\]\.Effect: /);
    const warned = await gatehouse(['policies', 'create', 'typo', '--file', file('typo.json', DOC.replace('iot:Connect', 'iot:Conect')), ...dd()]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /warning IOT_POLICY_ACTION_UNKNOWN at \$\.Statement\[0\]\.Action: /);
    failed(await gatehouse(['policies', 'create', 'broken', '--file', file('bad2.json', '{"Version": '), ...dd()]), 1, 'POLICY_DOCUMENT_INVALID');
    failed(await gatehouse(['policies', 'create', 'bad name', '--file', file('ok.json', DOC), ...dd()]), 2, 'POLICY_NAME_INVALID');
    failed(await gatehouse(['policies', 'create', 'missing-file', '--file', join(dir, 'nope.json'), ...dd()]), 2, 'FILE_UNREADABLE');
    failed(await gatehouse(['policies', 'create', 'connect-all', '--file', file('ok.json', DOC), ...dd()]), 1, 'POLICY_EXISTS');
    const list = json<{ name: string }[]>(await gatehouse(['policies', 'list', '--json', ...dd()]));
    assert.ok(!list.some((p) => p.name === 'broken'), 'nothing was stored');
  });

  it('attaches to a certificate (by prefix) and a thing group, lists targets, detaches; an attached policy cannot be deleted', async () => {
    json(await gatehouse(['policies', 'create', 'site-policy', '--file', file('s.json', DOC), ...dd(), '--json']));
    const a1 = json<{ changed: boolean; target: Record<string, string> }>(await gatehouse(['policies', 'attach', 'site-policy', '--cert', certId.slice(0, 12), '--json', ...dd()]));
    assert.deepEqual([a1.changed, a1.target], [true, { certificateId: certId }]);
    json(await gatehouse(['policies', 'attach', 'site-policy', '--thing-group', 'site', '--json', ...dd()]));
    const again = json<{ changed: boolean }>(await gatehouse(['policies', 'attach', 'site-policy', '--thing-group', 'site', '--json', ...dd()]));
    assert.equal(again.changed, false);
    const targets = json(await gatehouse(['policies', 'list-targets', 'site-policy', '--json', ...dd()]));
    assert.deepEqual(targets, [{ certificateId: certId }, { thingGroup: 'site' }]);
    failed(await gatehouse(['policies', 'delete', 'site-policy', ...dd()]), 1, 'POLICY_ATTACHED');
    failed(await gatehouse(['policies', 'attach', 'site-policy', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['policies', 'attach', 'site-policy', '--cert', certId, '--thing-group', 'site', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['policies', 'attach', 'site-policy', '--thing-group', 'nope', ...dd()]), 1, 'THING_GROUP_NOT_FOUND');
    failed(await gatehouse(['policies', 'attach', 'nope', '--thing-group', 'site', ...dd()]), 1, 'POLICY_NOT_FOUND');
    failed(await gatehouse(['thing-groups', 'delete', 'site', ...dd()]), 1, 'THING_GROUP_HAS_POLICIES');
    json(await gatehouse(['policies', 'detach', 'site-policy', '--cert', certId, '--json', ...dd()]));
    json(await gatehouse(['policies', 'detach', 'site-policy', '--thing-group', 'site', '--json', ...dd()]));
    failed(await gatehouse(['policies', 'detach', 'site-policy', '--thing-group', 'site', ...dd()]), 1, 'POLICY_NOT_ATTACHED');
    json(await gatehouse(['policies', 'delete', 'site-policy', '--json', ...dd()]));
  });

  it('manages thing groups and membership', async () => {
    const child = json<{ parent: string }>(await gatehouse(['thing-groups', 'create', 'site:hall-a', '--parent', 'site', '--json', ...dd()]));
    assert.equal(child.parent, 'site');
    failed(await gatehouse(['thing-groups', 'create', 'x', '--parent', 'nope', ...dd()]), 1, 'THING_GROUP_NOT_FOUND');
    failed(await gatehouse(['thing-groups', 'create', 'bad/name', ...dd()]), 2, 'THING_GROUP_NAME_INVALID');
    json(await gatehouse(['thing-groups', 'add-thing', 'site:hall-a', 'sensor-1', '--json', ...dd()]));
    failed(await gatehouse(['thing-groups', 'add-thing', 'site', 'sensor-1', ...dd()]), 1, 'THING_GROUP_HIERARCHY_CONFLICT');
    const shown = json<{ things: string[]; description: string | null }>(await gatehouse(['thing-groups', 'show', 'site:hall-a', '--json', ...dd()]));
    assert.deepEqual(shown.things, ['sensor-1']);
    const thing = json<{ groups: string[] }>(await gatehouse(['things', 'show', 'sensor-1', '--json', ...dd()]));
    assert.deepEqual(thing.groups, ['site:hall-a']);
    failed(await gatehouse(['thing-groups', 'delete', 'site', ...dd()]), 1, 'THING_GROUP_HAS_CHILDREN');
    json(await gatehouse(['thing-groups', 'remove-thing', 'site:hall-a', 'sensor-1', '--json', ...dd()]));
    failed(await gatehouse(['thing-groups', 'remove-thing', 'site:hall-a', 'sensor-1', ...dd()]), 1, 'THING_NOT_IN_GROUP');
    const deleted = json<{ deleted: string }>(await gatehouse(['thing-groups', 'delete', 'site:hall-a', '--json', ...dd()]));
    assert.equal(deleted.deleted, 'site:hall-a');
    const list = json<{ name: string; description: string | null }[]>(await gatehouse(['thing-groups', 'list', '--json', ...dd()]));
    assert.deepEqual(list.map((g) => [g.name, g.description]), [['site', 'Plant 1, hall A']]);
  });

  it('updates the thing type and attributes together', async () => {
    failed(await gatehouse(['things', 'update', 'sensor-1', '--type', 'Thermometer', ...dd()]), 1, 'THING_TYPE_NOT_FOUND');
    json(await gatehouse(['thing-types', 'create', 'Thermometer', '--json', ...dd()]));
    json(await gatehouse(['thing-types', 'create', 'T', '--json', ...dd()]));
    const u = json<{ thingTypeName: string; attributes: Record<string, string>; changed: boolean }>(
      await gatehouse(['things', 'update', 'sensor-1', '--type', 'Thermometer', '--attribute', 'room=hall', '--remove-attribute', 'floor', '--json', ...dd()]));
    assert.deepEqual([u.thingTypeName, u.attributes, u.changed], ['Thermometer', { room: 'hall' }, true]);
    const cleared = json<{ thingTypeName: string | null }>(await gatehouse(['things', 'update', 'sensor-1', '--clear-type', '--json', ...dd()]));
    assert.equal(cleared.thingTypeName, null);
    failed(await gatehouse(['things', 'update', 'sensor-1', '--type', 'a b', ...dd()]), 2, 'THING_TYPE_NAME_INVALID');
    failed(await gatehouse(['things', 'update', 'sensor-1', '--type', 'T', '--clear-type', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['things', 'update', 'sensor-1', ...dd()]), 2, 'USAGE');
    failed(await gatehouse(['things', 'update', 'nope', '--type', 'T', ...dd()]), 1, 'THING_NOT_FOUND');
    const before = json<{ version: number }>(await gatehouse(['things', 'show', 'sensor-1', '--json', ...dd()])).version;
    failed(await gatehouse(['things', 'update', 'sensor-1', '--type', 'T', '--expected-version', String(before - 1), ...dd()]), 1, 'THING_VERSION_CONFLICT');
    const human = await gatehouse(['things', 'update', 'sensor-1', '--type', 'T', '--expected-version', String(before), ...dd()]);
    assert.match(human.stdout, new RegExp(`updated thing sensor-1: type T, attributes room=hall, version ${before + 1}`));
  });

  it('thing-types create, list, show, deprecate (and --undo), delete', async () => {
    const created = json<{ name: string; searchableAttributes: string[]; deprecatedAt: string | null }>(
      await gatehouse(['thing-types', 'create', 'Valve', '--description', 'Water valves', '--searchable-attribute', 'site', '--json', ...dd()]));
    assert.deepEqual([created.name, created.searchableAttributes, created.deprecatedAt], ['Valve', ['site'], null]);
    failed(await gatehouse(['thing-types', 'create', 'Valve', ...dd()]), 1, 'THING_TYPE_EXISTS');
    failed(await gatehouse(['thing-types', 'create', 'bad/name', ...dd()]), 2, 'THING_TYPE_NAME_INVALID');
    failed(await gatehouse(['thing-types', 'create', 'Many', '--searchable-attribute', 'a', '--searchable-attribute', 'b', '--searchable-attribute', 'c', '--searchable-attribute', 'd', ...dd()]), 2, 'THING_TYPE_PROPERTIES_INVALID');
    json(await gatehouse(['things', 'update', 'sensor-1', '--type', 'Valve', '--json', ...dd()]));
    const shown = json<{ things: string[]; description: string }>(await gatehouse(['thing-types', 'show', 'Valve', '--json', ...dd()]));
    assert.deepEqual([shown.things, shown.description], [['sensor-1'], 'Water valves']);
    failed(await gatehouse(['thing-types', 'show', 'Nope', ...dd()]), 1, 'THING_TYPE_NOT_FOUND');
    failed(await gatehouse(['thing-types', 'delete', 'Valve', ...dd()]), 1, 'THING_TYPE_NOT_DEPRECATED');
    const dep = json<{ deprecated: boolean; changed: boolean }>(await gatehouse(['thing-types', 'deprecate', 'Valve', '--json', ...dd()]));
    assert.deepEqual([dep.deprecated, dep.changed], [true, true]);
    const list = json<{ name: string; deprecatedAt: string | null }[]>(await gatehouse(['thing-types', 'list', '--json', ...dd()]));
    assert.ok(list.find((t) => t.name === 'Valve')?.deprecatedAt !== null);
    failed(await gatehouse(['things', 'update', 'sensor-1', '--clear-type', '--type', 'Valve', ...dd()]), 2, 'USAGE');
    json(await gatehouse(['things', 'update', 'sensor-1', '--clear-type', '--json', ...dd()]));
    failed(await gatehouse(['things', 'update', 'sensor-1', '--type', 'Valve', ...dd()]), 1, 'THING_TYPE_DEPRECATED');
    // Deleting waits five minutes after the deprecation.
    failed(await gatehouse(['thing-types', 'delete', 'Valve', ...dd()]), 1, 'THING_TYPE_NOT_DEPRECATED');
    const undo = await gatehouse(['thing-types', 'deprecate', 'Valve', '--undo', ...dd()]);
    assert.match(undo.stdout, /undeprecated thing type Valve/);
  });
});
