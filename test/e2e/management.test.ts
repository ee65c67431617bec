/**
 * The management API of a real `gatehouse start`: the first start creates the
 * administrator and prints, once, where its credentials are (never the secret); the
 * official STS client works against the gateway with those credentials and the gateway
 * CA; a later start prints nothing of the kind.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GatewayProcess } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const CONFIG = `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
`;

test('first start: administrator credentials in a 0600 file, announced once; the STS client works with them', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.cleanup());
  const gw = await GatewayProcess.start(dir.path, CONFIG);
  let stopped = false;
  t.after(async () => {
    if (!stopped) await gw.stop();
  });
  const url = await gw.managementUrl();
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const file = join(gw.dataDir, 'admin-credentials');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const text = await readFile(file, 'utf8');
  const keyId = /aws_access_key_id = (\S+)/.exec(text)?.[1];
  const secret = /aws_secret_access_key = (\S+)/.exec(text)?.[1];
  assert.ok(keyId !== undefined && secret !== undefined);
  assert.ok(gw.lines.some((l) => l.includes(keyId) && l.includes(file)), 'the key id and the file are announced');
  assert.ok(gw.lines.some((l) => l.includes(`--endpoint-url ${url}`)), 'with how to use them');
  assert.ok(gw.lines.every((l) => !l.includes(secret)), 'the secret is never printed nor logged');

  const ca = await gw.cli(['ca', 'show']);
  assert.equal(ca.code, 0, ca.stderr);
  const agent = new Agent({ ca: ca.stdout });
  t.after(() => agent.destroy());
  const sts = new STSClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: keyId, secretAccessKey: secret }, requestHandler: { httpsAgent: agent }, maxAttempts: 1 });
  const me = await sts.send(new GetCallerIdentityCommand({}));
  assert.equal(me.Arn, 'arn:aws:iam::000000000000:user/admin');

  await gw.stop();
  stopped = true;
  const again = await GatewayProcess.launch(dir.path, gw.configPath, gw.dataDir);
  t.after(() => again.stop());
  await again.managementUrl();
  assert.ok(again.lines.every((l) => !l.includes('administrator admin created')), 'a later start announces nothing');
  assert.equal(await readFile(file, 'utf8'), text, 'and leaves the file alone');
});
