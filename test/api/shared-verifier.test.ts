/**
 * The local API and the sessions share one certificate verifier, so its caches (parsed
 * PEM texts, CA constraints, verified signatures) are built once per process. A verifier
 * that counts its calls is handed to the session manager; a verification through the
 * API must reach that very instance.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { compileWithIamDialect, IamPolicyCache } from '../../src/api/mgmt/iam-engine.js';
import { ApiServer } from '../../src/api/server.js';
import { ROUTES } from '../../src/api/routes.js';
import { validateDeviceGroups, type ValidatedDeviceGroups } from '../../src/core/config/validate.js';
import { compileDeviceGroups } from '../../src/core/policy/compile.js';
import { DEFAULT_IOT_DEPLOYMENT } from '../../src/core/policy/iot/context.js';
import { SessionManager } from '../../src/identity/sessions.js';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { CertificateVerifier, type VerifyResult } from '../../src/identity/verify.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { PolicyStore } from '../../src/runtime/policy-store.js';
import { makeCa, makeLeaf, NOW } from '../helpers/pki.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

class CountingVerifier extends CertificateVerifier {
  calls = 0;
  override async verify(...args: Parameters<CertificateVerifier['verify']>): Promise<VerifyResult> {
    this.calls++;
    return super.verify(...args);
  }
}

/** No device group: every decision denies (this test needs a snapshot, not permissions). */
function noGroups(): ValidatedDeviceGroups {
  const r = validateDeviceGroups({ formatVersion: '2021-03-05', definitions: {}, policies: {} });
  assert.ok(r.ok);
  return r.deviceGroups;
}

test('VerifyClientDeviceIdentity uses the sessions\' verifier, not one of its own', async (t) => {
  const ca = await makeCa({ name: 'CN=Devices' });
  const leaf = await makeLeaf({ issuer: ca, cn: 'd1' });
  const registry = SqliteRegistry.open({ file: ':memory:' });
  t.after(() => registry.close());
  await registry.trustCa(ca.pem);
  await registry.enroll({ thingName: 'd1', certificatePem: leaf.pem, thing: 'any' });
  const verifier = new CountingVerifier(registry);
  const sessions = new SessionManager({ registry, maxActiveAuthTokens: 10, verifier, expirySweepMs: 0, clock: () => NOW });
  t.after(() => sessions.stop());
  const token = 't'.repeat(40);
  const control = registry.control({ deployment: DEFAULT_IOT_DEPLOYMENT, keyFile: join(await makeTempDir(t), 'control.key') });
  const api = await ApiServer.start({
    registry,
    sessions,
    policy: new PolicyStore(compileDeviceGroups(noGroups())),
    metrics: new Metrics(),
    logger: createLogger('silent'),
    certificates: { issue: () => Promise.reject(new Error('not used')), onRotation: () => () => undefined },
    connectedClients: () => 0,
    token,
    listen: { host: '127.0.0.1', port: 0 },
    bodyLimitBytes: 65536,
    performance: { maxConcurrentCloudRequests: 2, cloudRequestQueueSize: 10 },
    clock: () => NOW,
    authorization: { control, iamPolicies: new IamPolicyCache(compileWithIamDialect), deployment: DEFAULT_IOT_DEPLOYMENT },
  });
  t.after(() => api.close());

  assert.equal(sessions.verifier, verifier);
  const res = await fetch(`${api.url}${ROUTES.verify.url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ credential: { clientDeviceCertificate: leaf.pem } }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { isValidClientDevice: true });
  assert.equal(verifier.calls, 1, 'the API verified with the verifier the sessions use');
  await api.audit.flush();
  const [record] = await control.queryAudit({ limit: 10 });
  assert.deepEqual([record?.principal, record?.action, record?.decision, record?.status], ['gatehouse:api-token', 'gatehouse:VerifyClientDeviceIdentity', 'allow', 200], 'the call is audited');
});
