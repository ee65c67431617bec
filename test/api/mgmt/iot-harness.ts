/**
 * The AWS IoT control-plane operations on a real fastify listener over a real registry,
 * gateway CA and connectivity store, for the official AWS SDK clients. Authentication is
 * the management listener's job; here every request is taken as one caller, and
 * `authorizeCall` records each check and denies the (action, resource) pairs a test
 * lists, with the listener's denial error.
 */
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { IoTClient } from '@aws-sdk/client-iot';
import { GreengrassV2Client } from '@aws-sdk/client-greengrassv2';
import { GatewayCa } from '../../../src/ca/authority.js';
import { ConnectivityInfoStore } from '../../../src/ca/connectivity.js';
import { compileDeviceGroups, validateConfig, type IotDeployment } from '../../../src/core/index.js';
import type { ControlStore } from '../../../src/identity/control.js';
import { SqliteRegistry } from '../../../src/identity/sqlite-registry.js';
import { createLogger } from '../../../src/observability/logger.js';
import { IotPolicyLoader } from '../../../src/runtime/iot-policies.js';
import { PolicyStore } from '../../../src/runtime/policy-store.js';
import type { CallCheck } from '../../../src/api/mgmt/call.js';
import { registerIotControlPlane } from '../../../src/api/mgmt/iot/plugin.js';

export const DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
export const ARN = `arn:aws:iot:${DEPLOYMENT.region}:${DEPLOYMENT.accountId}`;

/** The denial the harness throws, rendered as AWS's AccessDeniedException (403). */
export class HarnessDenied extends Error {}

export interface Harness {
  readonly url: string;
  readonly registry: SqliteRegistry;
  readonly ca: GatewayCa;
  readonly connectivity: ConnectivityInfoStore;
  readonly iot: IoTClient;
  readonly greengrass: GreengrassV2Client;
  /** Every check authorizeCall saw, in order. */
  readonly checks: CallCheck[];
  /** `action resource` pairs to deny. */
  readonly deny: Set<string>;
  /** How often the connectivity information changed. */
  connectivityChanges: number;
  readonly policyLoader: IotPolicyLoader;
  close(): Promise<void>;
}

export async function startHarness(dataDir: string, control: ControlStore, onConnectivityChanged: () => Promise<void> = async () => {}): Promise<Harness> {
  const r = validateConfig({});
  if (!r.ok) throw new Error('the empty configuration is valid');
  const registry = SqliteRegistry.open({ file: join(dataDir, 'registry.db') });
  const ca = await GatewayCa.open({ dataDir, config: r.config.certificateAuthority });
  await registry.trustGatewayCa(ca.certificatePem);
  const connectivity = await ConnectivityInfoStore.open(dataDir);
  const policy = new PolicyStore(compileDeviceGroups(r.deviceGroups));
  const logger = createLogger('silent');
  const policyLoader = new IotPolicyLoader(() => registry.iotAuthorizationData(), policy, logger, DEPLOYMENT);
  await policyLoader.reload('start');

  const checks: CallCheck[] = [];
  const deny = new Set<string>();
  const app: FastifyInstance = Fastify({ logger: false, maxParamLength: 1024, forceCloseConnections: true });
  app.decorateRequest('authorizeCall', function authorizeCall(check: CallCheck): Promise<void> {
    checks.push(check);
    if (deny.has(`${check.action} ${check.resource}`)) return Promise.reject(new HarnessDenied(`not allowed: ${check.action} on ${check.resource}`));
    return Promise.resolve();
  });
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof HarnessDenied) return reply.code(403).header('x-amzn-errortype', 'AccessDeniedException').type('application/json').send(JSON.stringify({ message: error.message }));
    return reply.code(500).type('application/json').send(JSON.stringify({ message: 'internal' }));
  });
  const h: Harness = {
    url: '',
    registry, ca, connectivity, checks, deny, policyLoader,
    connectivityChanges: 0,
    iot: undefined as never,
    greengrass: undefined as never,
    close: async () => {
      h.iot.destroy();
      h.greengrass.destroy();
      policyLoader.close();
      await app.close();
      await registry.close();
    },
  };
  registerIotControlPlane(app, {
    registry, control, ca, policy,
    deployment: () => DEPLOYMENT,
    connectivity,
    onConnectivityChanged: async () => {
      h.connectivityChanges++;
      await onConnectivityChanged();
    },
    clock: () => new Date(),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const credentials = { accessKeyId: 'AKIAHARNESSHARNESS00', secretAccessKey: 'harness-secret' };
  Object.assign(h, {
    url,
    iot: new IoTClient({ endpoint: url, region: DEPLOYMENT.region, credentials, maxAttempts: 1 }),
    greengrass: new GreengrassV2Client({ endpoint: url, region: DEPLOYMENT.region, credentials, maxAttempts: 1 }),
  });
  return h;
}
