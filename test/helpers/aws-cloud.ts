/**
 * A second Gatehouse instance standing in for AWS IoT Core: its management API speaks the
 * IoT control plane, so `@aws-sdk/client-iot` (and `gatehouse sync --from-aws` with
 * `--endpoint`) talk to it as to the cloud. Nothing here reaches AWS.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { IoTClient } from '@aws-sdk/client-iot';
import { SqliteRegistry, registryPath } from '../../src/identity/sqlite-registry.js';
import type { SyncThing } from '../../src/identity/sync-apply.js';
import { GatewayProcess } from './gateway.js';

export const CLOUD_REGION = 'eu-west-1';
export const CLOUD_ACCOUNT = '123456789012';
export const CLOUD_ARN = `arn:aws:iot:${CLOUD_REGION}:${CLOUD_ACCOUNT}`;

export const CLOUD_CONFIG = `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  iot: { region: ${CLOUD_REGION}, accountId: "${CLOUD_ACCOUNT}" }
`;

export interface Cloud {
  readonly gw: GatewayProcess;
  readonly endpoint: string;
  readonly port: number;
  /** The cloud instance's gateway CA (it signs its management listener and CreateKeysAndCertificate's certificates). */
  readonly caPem: string;
  /** The same CA, written to a file for `--ca-bundle`. */
  readonly caFile: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly iot: IoTClient;
  /** Environment for a `gatehouse sync --from-aws` child: the credentials, the region, no profile files, no instance metadata. */
  readonly env: NodeJS.ProcessEnv;
}

/** A free TCP port on 127.0.0.1 (for a cloud that must come back on the same address). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts (or, with the same `dir` and `port`, restarts) the cloud instance. */
export async function startCloud(dir: string, port?: number): Promise<Cloud> {
  const p = port ?? await freePort();
  await mkdir(dir, { recursive: true });
  const gw = await GatewayProcess.start(dir, CLOUD_CONFIG, ['--management-port', String(p)]);
  const endpoint = await gw.managementUrl();
  const credentials = await gw.adminCredentials();
  const caPem = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
  const caFile = join(dir, 'cloud-ca.pem');
  await writeFile(caFile, caPem);
  const iot = new IoTClient({ endpoint, region: CLOUD_REGION, credentials, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca: caPem, keepAlive: true }) } });
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: CLOUD_REGION,
    AWS_SESSION_TOKEN: '', AWS_PROFILE: '', AWS_CONFIG_FILE: join(dir, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true', HOME: dir, GATEHOUSE_ENDPOINT: '', GATEHOUSE_PROFILE: '',
  };
  return { gw, endpoint, port: p, caPem, caFile, credentials, iot, env };
}

/**
 * Adds `count` things (`prefix-00000`…, attributes `n`) straight into a stopped cloud
 * instance's registry, in one transaction: seeding thousands through the API would take
 * longer than the import under test.
 */
export async function seedThingsDirectly(dataDir: string, prefix: string, count: number): Promise<void> {
  const registry = SqliteRegistry.open({ file: registryPath(dataDir) });
  try {
    const things: SyncThing[] = [];
    for (let i = 0; i < count; i++) {
      things.push({ name: `${prefix}-${String(i).padStart(5, '0')}`, thingTypeName: null, attributes: { n: String(i) }, groups: [], certificates: [] });
    }
    const outcome = await registry.applySync([{ things }]);
    if (outcome.added.length !== count) throw new Error(`seeded ${outcome.added.length} of ${count} things: ${JSON.stringify(outcome.refused.slice(0, 3))}`);
  } finally {
    await registry.close();
  }
}
