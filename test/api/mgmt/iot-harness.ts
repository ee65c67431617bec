/**
 * The management listener (HTTPS, SigV4, IAM authorization, audit) with every route set,
 * over a real registry, control store, gateway CA and connectivity store, for the
 * official AWS SDK clients. Users:
 * - `ops`: allowed everything (`*` on `*`);
 * - `limited`: allowed `iot:List*` on `*` and `iot:DescribeThing` on `thing/sensor-*` only.
 */
import { Agent } from 'node:https';
import { IoTClient } from '@aws-sdk/client-iot';
import { GreengrassV2Client } from '@aws-sdk/client-greengrassv2';
import { GatewayCa } from '../../../src/ca/authority.js';
import { ConnectivityInfoStore } from '../../../src/ca/connectivity.js';
import { compileDeviceGroups, validateConfig, type IotDeployment } from '../../../src/core/index.js';
import { openControlStore } from '../../../src/identity/admin-bootstrap.js';
import type { AuditRecord } from '../../../src/identity/control.js';
import type { SqliteControlStore } from '../../../src/identity/sqlite-control.js';
import { SqliteRegistry, registryPath } from '../../../src/identity/sqlite-registry.js';
import { CertificateVerifier } from '../../../src/identity/verify.js';
import { createLogger } from '../../../src/observability/logger.js';
import { IotPolicyLoader } from '../../../src/runtime/iot-policies.js';
import { PolicyStore } from '../../../src/runtime/policy-store.js';
import { IamPolicyCache, compileWithIamDialect } from '../../../src/api/mgmt/iam-engine.js';
import { MANAGEMENT_ROUTE_SETS } from '../../../src/api/mgmt/route-sets.js';
import { ManagementServer } from '../../../src/api/mgmt/server.js';
import { waitUntil } from '../../helpers/wait.js';

export const DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
export const ARN = `arn:aws:iot:${DEPLOYMENT.region}:${DEPLOYMENT.accountId}`;

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface Harness {
  readonly url: string;
  readonly registry: SqliteRegistry;
  readonly control: SqliteControlStore;
  readonly ca: GatewayCa;
  readonly connectivity: ConnectivityInfoStore;
  readonly server: ManagementServer;
  /** Clients of `ops`. */
  readonly iot: IoTClient;
  readonly greengrass: GreengrassV2Client;
  /** Clients of `limited`. */
  readonly limitedIot: IoTClient;
  readonly limitedGreengrass: GreengrassV2Client;
  readonly policyLoader: IotPolicyLoader;
  /** How often the connectivity information changed. */
  connectivityChanges: number;
  /** The audit records (authorization decisions) of the last request a client of the harness sent. */
  lastDecisions(): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

async function user(control: SqliteControlStore, name: string, statements: readonly unknown[]): Promise<Credentials> {
  await control.createUser(name);
  const { key, secretAccessKey } = await control.createAccessKey(name);
  await control.createIamPolicy(`${name}-policy`, JSON.stringify({ Version: '2012-10-17', Statement: statements }));
  await control.attachIamPolicy(`${name}-policy`, { kind: 'user', name });
  return { accessKeyId: key.accessKeyId, secretAccessKey };
}

export async function startHarness(dataDir: string, onConnectivityChanged: () => Promise<void> = async () => {}, deployment: IotDeployment = DEPLOYMENT): Promise<Harness> {
  const r = validateConfig({});
  if (!r.ok) throw new Error('the empty configuration is valid');
  const registry = SqliteRegistry.open({ file: registryPath(dataDir) });
  const control = openControlStore(registry, dataDir, deployment);
  const ca = await GatewayCa.open({ dataDir, config: r.config.certificateAuthority });
  await registry.trustGatewayCa(ca.certificatePem);
  const connectivity = await ConnectivityInfoStore.open(dataDir);
  const policy = new PolicyStore(compileDeviceGroups(r.deviceGroups));
  const logger = createLogger('silent');
  const policyLoader = new IotPolicyLoader(() => registry.iotAuthorizationData(), policy, logger, deployment);
  await policyLoader.reload('start');
  const serverCert = await ca.issueServerCertificate({ hosts: ['127.0.0.1'], validitySeconds: 86_400 });

  let changes = 0;
  const server = await ManagementServer.start({
    ctx: {
      control, registry, iot: deployment, logger, clock: () => new Date(), verifier: new CertificateVerifier(registry), policy,
      iamPolicies: new IamPolicyCache(compileWithIamDialect),
      iotControlPlane: {
        ca, connectivity,
        onConnectivityChanged: async () => {
          changes++;
          await onConnectivityChanged();
        },
      },
    },
    routeSets: MANAGEMENT_ROUTE_SETS,
    tls: { key: serverCert.privateKeyPem, cert: [serverCert.certificatePem, ...serverCert.chainPem].join(''), ca: [] },
    listen: { host: '127.0.0.1', port: 0 },
    bodyLimitBytes: 1 << 20,
    maxClockSkewSeconds: 900,
    auditRetentionDays: 30,
  });

  const ops = await user(control, 'ops', [{ Effect: 'Allow', Action: '*', Resource: '*' }]);
  const limited = await user(control, 'limited', [
    { Effect: 'Allow', Action: 'iot:List*', Resource: '*' },
    { Effect: 'Allow', Action: 'iot:DescribeThing', Resource: `arn:${deployment.partition}:iot:${deployment.region}:${deployment.accountId}:thing/sensor-*` },
  ]);

  let lastRequestId: string | undefined;
  const agent = new Agent({ ca: ca.certificatePem, keepAlive: true });
  const common = { endpoint: server.url, region: deployment.region, maxAttempts: 1, requestHandler: { httpsAgent: agent } };
  const track = <C extends IoTClient | GreengrassV2Client>(client: C): C => {
    client.middlewareStack.add((next) => async (args) => {
      try {
        const out = await next(args);
        lastRequestId = (out.output as { $metadata?: { requestId?: string } }).$metadata?.requestId;
        return out;
      } catch (e) {
        lastRequestId = (e as { $metadata?: { requestId?: string } }).$metadata?.requestId;
        throw e;
      }
    }, { step: 'initialize', name: 'harnessRequestId' });
    return client;
  };

  const h: Harness = {
    url: server.url, registry, control, ca, connectivity, server, policyLoader,
    iot: track(new IoTClient({ ...common, credentials: ops })),
    greengrass: track(new GreengrassV2Client({ ...common, credentials: ops })),
    limitedIot: track(new IoTClient({ ...common, credentials: limited })),
    limitedGreengrass: track(new GreengrassV2Client({ ...common, credentials: limited })),
    get connectivityChanges() {
      return changes;
    },
    set connectivityChanges(_v: number) {
      throw new Error('read only');
    },
    async lastDecisions() {
      const id = lastRequestId;
      if (id === undefined) throw new Error('no request was sent');
      let found: AuditRecord[] = [];
      // The audit record is written when the response has been sent: wait for it.
      await waitUntil(async () => {
        await server.audit.flush();
        found = (await control.queryAudit({ limit: 50 })).filter((a) => a.requestId === id).reverse();
        return found.length > 0;
      }, 5000, `the audit records of request ${id}`);
      return found;
    },
    async close() {
      for (const c of [h.iot, h.greengrass, h.limitedIot, h.limitedGreengrass]) c.destroy();
      agent.destroy();
      policyLoader.close();
      await server.close();
      await registry.close();
    },
  };
  return h;
}
