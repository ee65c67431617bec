/**
 * Pagination past a few thousand things: 2,100 things seeded straight into the "cloud"
 * instance's registry (the API would be slower than the import under test), a few with
 * certificates through the SDK; the import itself goes through @aws-sdk/client-iot's
 * paginators, one registry transaction per page.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AttachThingPrincipalCommand, CreateKeysAndCertificateCommand, CreateThingCommand } from '@aws-sdk/client-iot';
import { SqliteRegistry, registryPath } from '../../src/identity/sqlite-registry.js';
import { seedThingsDirectly, startCloud, type Cloud } from '../helpers/aws-cloud.js';
import { runCli } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const SEEDED = 2100;
let dir: { path: string; cleanup: () => Promise<void> };
let cloud: Cloud;

before(async () => {
  dir = await tempDir('gatehouse-sync-large-');
  const cloudDir = join(dir.path, 'cloud');
  // First start creates the data directory (CA, registry, administrator); then seed it stopped.
  const first = await startCloud(cloudDir);
  first.iot.destroy();
  await first.gw.stop();
  await seedThingsDirectly(first.gw.dataDir, 'bulk', SEEDED);
  cloud = await startCloud(cloudDir, first.port);
  for (const name of ['zz-a', 'zz-b', 'zz-c']) {
    await cloud.iot.send(new CreateThingCommand({ thingName: name }));
    const c = await cloud.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await cloud.iot.send(new AttachThingPrincipalCommand({ thingName: name, principal: c.certificateArn! }));
  }
});
after(async () => {
  cloud.iot.destroy();
  await cloud.gw.stop();
  await dir.cleanup();
});

test(`imports ${SEEDED + 3} things page by page, and a second run over them all writes nothing`, async () => {
  const data = join(dir.path, 'local');
  const args = ['sync', '--from-aws', '--endpoint', cloud.endpoint, '--ca-bundle', cloud.caFile, '--data-dir', data, '--json', '--page-size', '250'];
  const first = await runCli(args, { env: cloud.env });
  assert.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout) as { seen: { things: number; certificates: number }; pages: number; added: { kind: string }[]; refused: unknown[] };
  assert.equal(report.seen.things, SEEDED + 3);
  assert.equal(report.seen.certificates, 3);
  assert.equal(report.added.filter((a) => a.kind === 'thing').length, SEEDED + 3);
  assert.deepEqual(report.refused, []);
  // The first write, ceil(2103 / 250) = 9 pages of things, the removal.
  assert.equal(report.pages, 1 + Math.ceil((SEEDED + 3) / 250) + 1);
  const registry = SqliteRegistry.open({ file: registryPath(data) });
  try {
    assert.equal(await registry.countThings(), SEEDED + 3);
    assert.deepEqual((await registry.getThing('bulk-02099'))?.attributes, { n: '2099' });
    assert.equal((await registry.certificatesForThing('zz-c')).length, 1);
    const seq = await registry.latestChangeSeq();
    const second = await runCli(args, { env: cloud.env });
    assert.equal(second.code, 0, second.stderr);
    assert.equal((JSON.parse(second.stdout) as { noChange: boolean }).noChange, true);
    assert.equal(await registry.latestChangeSeq(), seq);
  } finally {
    await registry.close();
  }
});
