/**
 * The data-plane listener's front (src/api/data-plane/server.ts), in-process over real
 * HTTPS on a real registry and control store, with routes made for the test: a route
 * that answers without an authorization decision is turned into a 500; SigV4 for
 * another service, oversize bodies and unknown paths are refused in AWS's shape with a
 * reason; every request leaves an audit record.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { test } from 'node:test';
import { compileWithIamDialect, IamPolicyCache } from '../../../src/api/mgmt/iam-engine.js';
import type { DataPlaneRouteSet } from '../../../src/api/data-plane/routes.js';
import { DataPlaneServer } from '../../../src/api/data-plane/server.js';
import { CertificateVerifier } from '../../../src/identity/verify.js';
import { createLogger } from '../../../src/observability/logger.js';
import { EKU, makeCa, makeCert, x509 } from '../../helpers/pki.js';
import { ACCOUNT, call, DEPLOYMENT, REGION, startManagement, type Fixture } from '../mgmt/helpers.js';

const THING_ARN = `arn:aws:iot:${REGION}:${ACCOUNT}:thing/x`;

const ROUTES: DataPlaneRouteSet = {
  name: 'test',
  routes: [
    {
      method: 'GET', url: '/decided', operationId: 'Decided', action: 'iot:GetThingShadow', example: { path: '/decided' },
      handler: async (request) => {
        await request.authorizeData({ action: 'iot:GetThingShadow', resource: THING_ARN });
        return { ok: true };
      },
    },
    // A route that forgets to ask: the front must not let its answer through.
    { method: 'GET', url: '/undecided', operationId: 'Undecided', action: 'iot:GetThingShadow', example: { path: '/undecided' }, handler: () => Promise.resolve({ secret: 'shadow' }) },
    { method: 'POST', url: '/body', operationId: 'Body', action: 'iot:UpdateThingShadow', example: { path: '/body' }, handler: async (request) => {
      await request.authorizeData({ action: 'iot:UpdateThingShadow', resource: THING_ARN });
      return { bytes: (request.body as Buffer).length };
    } },
  ],
};

test('the data-plane front: decision guard, SigV4 scope, body limit, unknown paths, audit', async (t) => {
  const f = await startManagement(t);
  const serverCa = await makeCa({ name: 'CN=Data-plane test CA' });
  const cert = await makeCert({
    name: 'CN=127.0.0.1', issuer: serverCa, ca: null, keyUsage: x509.KeyUsageFlags.digitalSignature, extendedKeyUsage: [EKU.serverAuth], sans: [{ type: 'ip', value: '127.0.0.1' }],
  });
  const dp = await DataPlaneServer.start({
    ctx: {
      registry: f.registry, control: f.control, iot: DEPLOYMENT, logger: createLogger('silent'), clock: () => new Date(),
      verifier: new CertificateVerifier(f.registry), policy: f.policy, iamPolicies: new IamPolicyCache(compileWithIamDialect),
    },
    routeSets: [ROUTES],
    tls: { key: cert.keyPem, cert: cert.pem, ca: [f.deviceCa.pem] },
    listen: { host: '127.0.0.1', port: 0 },
    bodyLimitBytes: 1024,
    maxClockSkewSeconds: 900,
  });
  const agent = new Agent({ ca: serverCa.pem, keepAlive: false });
  t.after(async () => {
    agent.destroy();
    await dp.close();
  });
  const target = { ...f, port: dp.port, agent } as Fixture;
  const admin = await f.user('dp-admin', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] }]);
  const reason = (body: string): string => (JSON.parse(body) as { reason: string }).reason;

  const ok = await call(target, { path: '/decided', credentials: admin, service: 'iotdata' });
  assert.equal(ok.status, 200, ok.body);
  assert.ok(typeof ok.headers['x-amzn-requestid'] === 'string');

  const undecided = await call(target, { path: '/undecided', credentials: admin, service: 'iotdata' });
  assert.equal(undecided.status, 500);
  assert.equal(undecided.headers['x-amzn-errortype'], 'InternalFailureException');
  assert.equal(reason(undecided.body), 'NO_AUTHORIZATION_DECISION');
  assert.doesNotMatch(undecided.body, /shadow/);

  const scope = await call(target, { path: '/decided', credentials: admin, service: 'iot' });
  assert.equal(scope.status, 403);
  assert.equal(scope.headers['x-amzn-errortype'], 'InvalidSignatureException');
  assert.equal(reason(scope.body), 'WRONG_CREDENTIAL_SCOPE');

  const big = await call(target, { path: '/body', credentials: admin, service: 'iotdata', body: 'x'.repeat(2048) });
  assert.equal(big.status, 413);
  assert.equal(big.headers['x-amzn-errortype'], 'RequestEntityTooLargeException');
  const small = await call(target, { path: '/body', credentials: admin, service: 'iotdata', body: '{"a":1}' });
  assert.deepEqual([small.status, JSON.parse(small.body)], [200, { bytes: 7 }]);

  const none = await call(target, { path: '/nowhere', credentials: admin, service: 'iotdata' });
  assert.equal(none.status, 404);
  assert.equal(none.headers['x-amzn-errortype'], 'ResourceNotFoundException');

  await dp.audit.flush();
  const records = await f.control.queryAudit({ limit: 100 });
  const admins = records.filter((r) => r.principal.endsWith(':user/dp-admin'));
  assert.ok(admins.some((r) => r.action === 'iot:GetThingShadow' && r.decision === 'allow' && r.status === 200 && r.resource === THING_ARN));
  assert.ok(admins.some((r) => r.decision === 'deny' && r.reason === 'NO_AUTHORIZATION_DECISION' && r.status === 500));
  assert.ok(records.some((r) => r.principal === 'anonymous' && r.reason === 'WRONG_CREDENTIAL_SCOPE' && r.status === 403));
});
