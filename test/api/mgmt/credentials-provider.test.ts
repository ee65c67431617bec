/**
 * The credentials provider over mutual TLS with a device certificate: AWS's answer shape,
 * the credentials usable for signed calls, and each refusal with AWS's status and
 * message, audited.
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { describe, test } from 'node:test';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { TestCert } from '../../helpers/pki.js';
import { registryBackends, type RegistryBackend } from '../../helpers/registry-backends.js';
import { ACCOUNT, deviceCert, REGION, startManagement, type Fixture } from './helpers.js';

const ALIAS_ARN = (alias: string): string => `arn:aws:iot:${REGION}:${ACCOUNT}:rolealias/${alias}`;

interface Answer {
  readonly status: number;
  readonly errorType: string | undefined;
  readonly body: Record<string, unknown>;
}

function fetchCredentials(f: Fixture, alias: string, device: TestCert | undefined, thingName: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: f.port, method: 'GET', path: `/role-aliases/${alias}/credentials`,
      // Its own agent: a client certificate must not be reused by another request's connection.
      agent: false,
      ca: (f.agent.options.ca as string),
      ...(device !== undefined ? { cert: device.pem, key: device.keyPem } : {}),
      headers: thingName !== undefined ? { 'x-amzn-iot-thingname': thingName } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        errorType: res.headers['x-amzn-errortype'] as string | undefined,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
      }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function setUp(t: Parameters<typeof startManagement>[0], backend: RegistryBackend): Promise<{ f: Fixture; device: TestCert }> {
  const f = await startManagement(t, { backend });
  const device = await deviceCert(f, 'sensor-1');
  await f.registry.enroll({ thingName: 'sensor-1', certificatePem: device.pem, thing: 'any' });
  await f.registry.createPolicy('tes', JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'iot:AssumeRoleWithCertificate', Resource: [ALIAS_ARN('tes-alias'), ALIAS_ARN('missing-alias'), ALIAS_ARN('long-alias')] }],
  }));
  await f.registry.attachPolicy('tes', { kind: 'certificate', certificateId: device.id });
  await f.reloadIot();
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' }] });
  await f.control.createRole('tes-role', trust, { maxSessionDurationSeconds: 3600 });
  await f.control.createRoleAlias('tes-alias', `arn:aws:iam::${ACCOUNT}:role/tes-role`, { credentialDurationSeconds: 1800 });
  return { f, device };
}

const backends = await registryBackends();

for (const b of backends) describe(`credentials provider (${b.name})`, { skip: b.skip }, () => {
  test('a registered, attached, allowed device gets credentials in AWS\'s shape, usable for signed calls', async (t) => {
    const { f, device } = await setUp(t, b);
    const a = await fetchCredentials(f, 'tes-alias', device, 'sensor-1');
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const c = a.body['credentials'] as Record<string, string>;
    assert.deepEqual(Object.keys(a.body), ['credentials']);
    assert.deepEqual(Object.keys(c).sort(), ['accessKeyId', 'expiration', 'secretAccessKey', 'sessionToken']);
    assert.match(c['accessKeyId']!, /^ASIA/);
    assert.match(c['expiration']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const lifetime = new Date(c['expiration']!).getTime() - Date.now();
    assert.ok(lifetime > 1790_000 && lifetime <= 1800_000, `alias duration (${lifetime} ms)`);
    const sts = new STSClient({
      endpoint: f.url, region: REGION, maxAttempts: 1, requestHandler: { httpsAgent: f.agent },
      credentials: { accessKeyId: c['accessKeyId']!, secretAccessKey: c['secretAccessKey']!, sessionToken: c['sessionToken']! },
    });
    const me = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(me.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/tes-role/${device.id}`);
    const [rec] = (await f.audit()).filter((r) => r.action === 'iot:AssumeRoleWithCertificate');
    assert.equal(rec?.decision, 'allow');
    assert.equal(rec?.principal, `arn:aws:iot:${REGION}:${ACCOUNT}:cert/${device.id}`);
    assert.equal(rec?.policy, 'tes');
  });

  test('refusals with AWS\'s statuses and messages, each audited', async (t) => {
    const { f, device } = await setUp(t, b);
    // The alias is valid when created; the role's maximum is lowered afterwards.
    await f.control.createRole('short-role', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' }] }), { maxSessionDurationSeconds: 7200 });
    await f.control.createRoleAlias('long-alias', `arn:aws:iam::${ACCOUNT}:role/short-role`, { credentialDurationSeconds: 7200 });
    await f.control.updateRole('short-role', { maxSessionDurationSeconds: 3600 });
    const stranger = await deviceCert(f, 'stranger');
    const cases: { name: string; answer: Promise<Answer>; status: number; message: string; reason: string }[] = [
      { name: 'no certificate', answer: fetchCredentials(f, 'tes-alias', undefined, 'sensor-1'), status: 403, message: 'Access Denied', reason: 'NO_CLIENT_CERTIFICATE' },
      { name: 'unregistered certificate', answer: fetchCredentials(f, 'tes-alias', stranger, 'sensor-1'), status: 403, message: 'Access Denied', reason: 'CERT_NOT_REGISTERED' },
      { name: 'wrong thing', answer: fetchCredentials(f, 'tes-alias', device, 'pump-1'), status: 403, message: 'Invalid thing name passed', reason: 'THING_NOT_ATTACHED' },
      { name: 'no thing name', answer: fetchCredentials(f, 'tes-alias', device, undefined), status: 403, message: 'Invalid thing name passed', reason: 'THING_NOT_ATTACHED' },
      { name: 'policy does not allow the alias', answer: fetchCredentials(f, 'other-alias', device, 'sensor-1'), status: 403, message: 'Access Denied', reason: 'NO_MATCHING_STATEMENT' },
      { name: 'alias missing', answer: fetchCredentials(f, 'missing-alias', device, 'sensor-1'), status: 404, message: 'Role alias does not exist', reason: 'ROLE_ALIAS_NOT_FOUND' },
      { name: 'duration above the role\'s maximum', answer: fetchCredentials(f, 'long-alias', device, 'sensor-1'), status: 400, message: 'The requested CredentialDurationSeconds exceeds the MaxSessionDuration set for the role', reason: 'DURATION_EXCEEDS_ROLE_MAXIMUM' },
    ];
    for (const c of cases) {
      const a = await c.answer;
      assert.equal(a.status, c.status, `${c.name}: ${JSON.stringify(a.body)}`);
      assert.deepEqual(a.body, { message: c.message }, c.name);
      assert.ok(a.errorType !== undefined, c.name);
    }
    const badAlias = await fetchCredentials(f, 'not%20an%20alias', device, 'sensor-1');
    assert.equal(badAlias.status, 400);
    await f.registry.setCertificateStatus(device.id, 'INACTIVE');
    const inactive = await fetchCredentials(f, 'tes-alias', device, 'sensor-1');
    assert.equal(inactive.status, 403);
    assert.deepEqual(inactive.body, { message: 'Access Denied' });
    const records = (await f.audit()).filter((r) => r.action === 'iot:AssumeRoleWithCertificate');
    for (const c of [...cases, { name: 'inactive', reason: 'CERT_INACTIVE', status: 403 }, { name: 'invalid alias', reason: 'INVALID_REQUEST', status: 400 }]) {
      assert.ok(records.some((r) => r.reason === c.reason && r.decision === 'deny' && r.status === c.status), `audit record for ${c.name}`);
    }
    assert.ok(records.every((r) => r.decision === 'deny'));
  });
});
