/**
 * The IPC operations and the EMQX adapter on the management listener of a real
 * `gatehouse start`, for deployments that speak HTTPS only: a real TLS client (node:https
 * trusting the gateway CA) calls them with the API token and with SigV4-signed IAM users;
 * the answers are the local API's byte for byte; a caller whose policies do not allow the
 * action gets 403 MGMT_ACCESS_DENIED; the token opens nothing else; every call is an audit
 * record the audit list shows as soon as the call has returned.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { controlKeyPath } from '../../src/identity/control-key.js';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { DEFAULT_IOT_DEPLOYMENT } from '../../src/core/policy/iot/context.js';
import { request as httpsRequest } from 'node:https';
import { ApiClient, SseStream } from '../api/client.js';
import { attachDocuments, call, type Credentials, type Fixture, type RawAnswer } from '../api/mgmt/helpers.js';
import { GatewayProcess } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const CONFIG = `
deviceGroups:
  definitions:
    Sensors: { selectionRule: "thingName: sensor-*", policyName: SensorPolicy }
  policies:
    SensorPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:sensors/\${iot:Connection.Thing.ThingName}/*"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1]
  mqtt: { host: 127.0.0.1 }
`;

interface ErrorAnswer { readonly error: { readonly code: string; readonly message: string } }

const allow = (action: string): unknown => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });

test('the IPC operations and the EMQX adapter over HTTPS: the API token and IAM callers, denials, audit', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.cleanup());
  const gw = await GatewayProcess.start(dir.path, CONFIG);
  t.after(() => gw.stop());
  const url = new URL(await gw.managementUrl());
  const ca = await gw.cli(['ca', 'show']);
  assert.equal(ca.code, 0, ca.stderr);
  const agent = new Agent({ ca: ca.stdout, keepAlive: true });
  t.after(() => agent.destroy());
  const f = { port: Number(url.port), agent, clockOffsetMs: 0 } as unknown as Fixture;
  const token = await gw.apiToken();
  const bearer = { authorization: `Bearer ${token}` };
  const local = new ApiClient(gw.apiUrl!, token);
  const device = await gw.device('sensor-1');

  // IAM callers, made in the gateway's registry: one allowed only the authorize call, one allowed nothing.
  const registry = SqliteRegistry.open({ file: registryPath(gw.dataDir) });
  t.after(() => registry.close());
  const control = registry.control({ deployment: DEFAULT_IOT_DEPLOYMENT, keyFile: controlKeyPath(gw.dataDir) });
  const user = async (name: string, documents: readonly unknown[]): Promise<Credentials> => {
    await control.createUser(name, {});
    await attachDocuments(control, { kind: 'user', name }, documents);
    const k = await control.createAccessKey(name);
    return { accessKeyId: k.key.accessKeyId, secretAccessKey: k.secretAccessKey };
  };
  const broker = await user('broker', [allow('gatehouse:AuthorizeClientDeviceAction')]);
  const nobody = await user('nobody', []);
  const adminText = await readFile(join(gw.dataDir, 'admin-credentials'), 'utf8');
  const admin: Credentials = { accessKeyId: /aws_access_key_id = (\S+)/.exec(adminText)![1]!, secretAccessKey: /aws_secret_access_key = (\S+)/.exec(adminText)![1]! };
  const requestIds: Record<string, string> = {};
  const post = async (label: string, path: string, body: unknown, auth: { headers?: Record<string, string>; credentials?: Credentials }): Promise<RawAnswer> => {
    const a = await call(f, { path, body: typeof body === 'string' ? body : JSON.stringify(body), ...auth });
    requestIds[label] = a.headers['x-amzn-requestid'] as string;
    return a;
  };

  // GetClientDeviceAuthToken and VerifyClientDeviceIdentity with the API token, over TLS.
  const opened = await post('token', '/v1/get-client-device-auth-token', { credential: { mqttCredential: { clientId: 'sensor-1', certificatePem: device.cert.toString() } } }, { headers: bearer });
  assert.equal(opened.status, 200, opened.body);
  const session = (JSON.parse(opened.body) as { clientDeviceAuthToken: string }).clientDeviceAuthToken;
  const verified = await post('verify', '/v1/verify-client-device-identity', { credential: { clientDeviceCertificate: device.cert.toString() } }, { headers: bearer });
  assert.deepEqual([verified.status, verified.body], [200, '{"isValidClientDevice":true}']);

  // AuthorizeClientDeviceAction: the local API's answers byte for byte, allowed and denied, with the token and with a SigV4 user.
  const requests = [
    { clientDeviceAuthToken: session, operation: 'mqtt:publish', resource: 'mqtt:topic:sensors/sensor-1/t' },
    { clientDeviceAuthToken: session, operation: 'mqtt:publish', resource: 'mqtt:topic:sensors/sensor-2/t' },
  ];
  for (const [i, r] of requests.entries()) {
    const there = await local.post('/v1/authorize-client-device-action', r);
    const byToken = await post(`authorize-token-${i}`, '/v1/authorize-client-device-action', r, { headers: bearer });
    const byUser = await post(`authorize-user-${i}`, '/v1/authorize-client-device-action', r, { credentials: broker });
    assert.equal(there.status, 200);
    assert.deepEqual([byToken.status, byToken.body], [200, there.text]);
    assert.deepEqual([byUser.status, byUser.body], [200, there.text]);
  }
  const decision = async (r: unknown): Promise<boolean> => (JSON.parse((await post('x', '/v1/authorize-client-device-action', r, { headers: bearer })).body) as { isAuthorized: boolean }).isAuthorized;
  assert.equal(await decision(requests[0]), true);
  assert.equal(await decision(requests[1]), false);
  const batch = await post('batch', '/v1/authorize-client-device-actions', { requests }, { headers: bearer });
  assert.equal(batch.body, (await local.post('/v1/authorize-client-device-actions', { requests })).text);
  // The operation's own errors are the local API's too.
  const unknown = await post('unknown', '/v1/authorize-client-device-action', { ...requests[0], clientDeviceAuthToken: 'no-such-token' }, { headers: bearer });
  assert.equal(unknown.status, 404);
  assert.equal((JSON.parse(unknown.body) as ErrorAnswer).error.code, 'InvalidClientDeviceAuthTokenError');

  // Denied: the user may only authorize; a user without policies may do nothing.
  const denied = await post('verify-denied', '/v1/verify-client-device-identity', { credential: { clientDeviceCertificate: device.cert.toString() } }, { credentials: broker });
  assert.equal(denied.status, 403, denied.body);
  assert.deepEqual((JSON.parse(denied.body) as ErrorAnswer).error, {
    code: 'MGMT_ACCESS_DENIED',
    message: 'User: arn:aws:iam::000000000000:user/broker is not authorized to perform: gatehouse:VerifyClientDeviceIdentity on resource: * because no identity-based policy allows the gatehouse:VerifyClientDeviceIdentity action',
  });
  const none = await post('authorize-nobody', '/v1/authorize-client-device-action', requests[0], { credentials: nobody });
  assert.equal(none.status, 403);
  assert.equal((JSON.parse(none.body) as ErrorAnswer).error.code, 'MGMT_ACCESS_DENIED');
  const emqxDenied = await post('emqx-nobody', '/v1/emqx/authz', { clientid: 'sensor-1', action: 'publish', topic: 'sensors/sensor-1/t' }, { credentials: nobody });
  assert.equal(emqxDenied.status, 403, 'a denied caller is told so, not answered `deny`');

  // The EMQX adapter with the token: explicit results, and `deny` with status 200 for a body it cannot read.
  const emqx = async (label: string, body: unknown): Promise<string> => {
    const a = await post(label, '/v1/emqx/authz', body, { headers: bearer });
    assert.equal(a.status, 200, a.body);
    return a.body;
  };
  assert.equal(await emqx('emqx-allow', { clientid: 'sensor-1', action: 'publish', topic: 'sensors/sensor-1/t' }), '{"result":"allow"}');
  assert.equal(await emqx('emqx-deny', { clientid: 'sensor-1', action: 'publish', topic: 'sensors/sensor-2/t' }), '{"result":"deny"}');
  assert.equal(await emqx('emqx-garbage', '{not json'), '{"result":"deny"}');

  // SubscribeToCertificateUpdates: a stream on each listener, closed by its client after the first event.
  const localStream = await SseStream.open(local, '/v1/certificate-updates?certificateType=SERVER');
  assert.equal(localStream.status, 200);
  assert.equal((await localStream.next()).event, 'certificateUpdate');
  localStream.close();
  const firstEvent = await new Promise<{ status: number; requestId: string; text: string }>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: f.port, path: '/v1/certificate-updates?certificateType=SERVER', headers: bearer, agent: new Agent({ ca: ca.stdout }) }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\n\n')) {
          resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-amzn-requestid'] ?? ''), text });
          req.destroy();
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(firstEvent.status, 200);
  assert.match(firstEvent.text, /^event: certificateUpdate\n/);

  // The token never opens more than its built-in policy: no other management route takes it, and a wrong one is refused.
  const sessions = await call(f, { path: '/gatehouse/sessions', headers: bearer });
  assert.equal(sessions.status, 400);
  assert.equal((JSON.parse(sessions.body) as ErrorAnswer).error.code, 'MGMT_INCOMPLETE_SIGNATURE');
  const wrong = await post('wrong-token', '/v1/authorize-client-device-action', requests[0], { headers: { authorization: `Bearer ${'x'.repeat(43)}` } });
  assert.equal(wrong.status, 403);
  assert.equal((JSON.parse(wrong.body) as ErrorAnswer).error.code, 'MGMT_INVALID_CLIENT_TOKEN');

  // Every call is in the audit log as soon as it has returned (the list writes what is queued first).
  const listed = await call(f, { path: '/gatehouse/audit?limit=1000', credentials: admin });
  assert.equal(listed.status, 200, listed.body);
  const records = (JSON.parse(listed.body) as { records: { requestId: string; principal: string; action: string; decision: string; status: number; reason: string }[] }).records;
  const of = (label: string): { principal: string; action: string; decision: string; status: number; reason: string } => {
    const r = records.find((x) => x.requestId === requestIds[label]);
    assert.ok(r !== undefined, `an audit record for ${label}`);
    return { principal: r.principal, action: r.action, decision: r.decision, status: r.status, reason: r.reason };
  };
  assert.deepEqual(of('token'), { principal: 'gatehouse:api-token', action: 'gatehouse:GetClientDeviceAuthToken', decision: 'allow', status: 200, reason: 'ALLOWED_BY_STATEMENT' });
  assert.deepEqual(of('authorize-token-1'), { principal: 'gatehouse:api-token', action: 'gatehouse:AuthorizeClientDeviceAction', decision: 'allow', status: 200, reason: 'ALLOWED_BY_STATEMENT' });
  assert.deepEqual(of('authorize-user-0'), { principal: 'arn:aws:iam::000000000000:user/broker', action: 'gatehouse:AuthorizeClientDeviceAction', decision: 'allow', status: 200, reason: 'ALLOWED_BY_STATEMENT' });
  assert.deepEqual(of('unknown'), { principal: 'gatehouse:api-token', action: 'gatehouse:AuthorizeClientDeviceAction', decision: 'allow', status: 404, reason: 'ALLOWED_BY_STATEMENT' });
  assert.deepEqual(of('verify-denied'), { principal: 'arn:aws:iam::000000000000:user/broker', action: 'gatehouse:VerifyClientDeviceIdentity', decision: 'deny', status: 403, reason: 'NO_MATCHING_STATEMENT' });
  assert.deepEqual(of('authorize-nobody'), { principal: 'arn:aws:iam::000000000000:user/nobody', action: 'gatehouse:AuthorizeClientDeviceAction', decision: 'deny', status: 403, reason: 'NO_MATCHING_STATEMENT' });
  assert.deepEqual(of('emqx-garbage'), { principal: 'gatehouse:api-token', action: 'gatehouse:EmqxAuthorize', decision: 'deny', status: 200, reason: 'INVALID_REQUEST' });
  assert.deepEqual(of('wrong-token'), { principal: 'anonymous', action: 'gatehouse:AuthorizeClientDeviceAction', decision: 'deny', status: 403, reason: 'INVALID_API_TOKEN' });
  const streams = records.filter((r) => r.action === 'gatehouse:SubscribeToCertificateUpdates');
  assert.equal(streams.length, 2, 'both streams are audited, though their clients went away');
  assert.ok(streams.every((r) => r.principal === 'gatehouse:api-token' && r.decision === 'allow' && r.status === 200));
  assert.ok(records.every((r) => !JSON.stringify(r).includes(token) && !JSON.stringify(r).includes(session)), 'no token in the audit log');
});
