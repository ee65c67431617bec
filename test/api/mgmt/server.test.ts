/**
 * The management API's front end to end, over real HTTPS: SigV4 from the official STS
 * client and the SDK's signer, the AWS error shapes per protocol, IAM authorization with
 * conditions, the audit record of every call, the rule that no route answers without an
 * authorization decision, and the API token's built-in policy.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { describe, test } from 'node:test';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { FastifyRequest } from 'fastify';
import { MANAGEMENT_ROUTE_SETS } from '../../../src/api/mgmt/route-sets.js';
import type { ManagementRoute, ManagementRouteSet } from '../../../src/api/mgmt/routes.js';
import { ManagementError } from '../../../src/api/mgmt/errors.js';
import { EKU, makeCa, makeCert, x509 } from '../../helpers/pki.js';
import { API_TOKEN, ACCOUNT, call, REGION, startManagement, xmlCode, type Credentials, type Fixture } from './helpers.js';

const THING = (name: string): string => `arn:aws:iot:${REGION}:${ACCOUNT}:thing/${name}`;

/** Test routes: one IoT-style action on a thing, with optional resource and request tags from the query. */
function thingRoute(method: 'GET' | 'DELETE', url: string, action: string, protocol: ManagementRoute['protocol'] = 'rest-json'): ManagementRoute {
  return {
    method, url, operationId: action.split(':')[1]!, action, protocol,
    auth: { kind: 'signed', services: ['iot', 'gatehouse'], apiToken: true },
    tag: 'Test', summary: 'test route', responses: { 200: { description: 'ok' } },
    example: { path: url.replace(':name', 'sensor-1') },
    handler: async (request: FastifyRequest) => {
      const { name } = request.params as { name: string };
      const q = request.query as Record<string, string>;
      await request.authorizeCall({
        action,
        resource: name === undefined ? '*' : THING(name),
        ...(q['resourceTag'] !== undefined ? { resourceTags: { env: q['resourceTag'] } } : {}),
        ...(q['requestTag'] !== undefined ? { requestTags: { env: q['requestTag'] } } : {}),
      });
      return { ok: true, action };
    },
  };
}

const TEST_ROUTES: ManagementRouteSet = {
  name: 'test',
  routes: [
    thingRoute('GET', '/test/things/:name', 'iot:DescribeThing'),
    thingRoute('GET', '/test/things/:name/principals', 'iot:ListThingPrincipals'),
    thingRoute('DELETE', '/test/things/:name', 'iot:DeleteThing'),
    thingRoute('GET', '/test/metrics', 'gatehouse:GetMetrics', 'gatehouse'),
    thingRoute('GET', '/test/sessions', 'gatehouse:ListSessions', 'gatehouse'),
    {
      method: 'GET', url: '/test/forgetful', operationId: 'Forgetful', action: 'gatehouse:Explain', protocol: 'gatehouse',
      auth: { kind: 'signed', services: ['gatehouse'] }, tag: 'Test', summary: 'answers without asking', responses: {},
      handler: () => Promise.resolve({ secret: 'nothing was authorized' }),
    },
    {
      method: 'GET', url: '/test/picky', operationId: 'Picky', action: 'gatehouse:Explain', protocol: 'gatehouse',
      auth: { kind: 'signed', services: ['gatehouse'] }, tag: 'Test', summary: 'refuses its input', responses: {},
      handler: () => Promise.reject(new ManagementError(400, 'MGMT_INVALID_REQUEST', 'bad input')),
    },
  ],
};

function errorCode(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

function allow(action: string | string[], resource: string | string[], condition?: unknown): unknown {
  return { Version: '2012-10-17', Statement: [{ Sid: 'Grant', Effect: 'Allow', Action: action, Resource: resource, ...(condition !== undefined ? { Condition: condition } : {}) }] };
}

function sts(f: Fixture, credentials: Credentials, extra: { systemClockOffset?: number } = {}): STSClient {
  return new STSClient({ endpoint: f.url, region: REGION, credentials, requestHandler: { httpsAgent: f.agent }, maxAttempts: 1, ...extra });
}

describe('management API front', () => {
  test('GetCallerIdentity with the official STS client, signed with a user\'s key; audited', async (t) => {
    const f = await startManagement(t, { routeSets: [...MANAGEMENT_ROUTE_SETS, TEST_ROUTES] });
    const alice = await f.user('alice', []);
    const out = await sts(f, alice).send(new GetCallerIdentityCommand({}));
    assert.equal(out.Arn, `arn:aws:iam::${ACCOUNT}:user/alice`);
    assert.equal(out.Account, ACCOUNT);
    assert.match(out.UserId ?? '', /^AIDA/);
    const [rec] = await f.audit();
    assert.equal(rec?.action, 'sts:GetCallerIdentity');
    assert.equal(rec?.decision, 'allow');
    assert.equal(rec?.principal, `arn:aws:iam::${ACCOUNT}:user/alice`);
    assert.equal(rec?.status, 200);
    assert.equal(rec?.sourceIp, '127.0.0.1');
    assert.match(rec?.userAgent ?? '', /aws-sdk-js/);
  });

  test('refused signatures: each with its STS code and an audit record naming the failure', async (t) => {
    const f = await startManagement(t);
    const alice = await f.user('alice', [ALLOW_ALL]);
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const form = 'application/x-www-form-urlencoded';
    const base = { path: '/', body, contentType: form, service: 'sts' } as const;
    const ok = await call(f, { ...base, credentials: alice });
    assert.equal(ok.status, 200, ok.body);
    const cases: { name: string; answer: Promise<Awaited<ReturnType<typeof call>>>; status: number; code: string; reason: string }[] = [
      { name: 'no signature', answer: call(f, { ...base }), status: 403, code: 'MissingAuthenticationToken', reason: 'MISSING_AUTHENTICATION' },
      { name: 'tampered body', answer: call(f, { ...base, credentials: alice, tamper: (r) => { r.body = 'Action=GetCallerIdentity&Version=2011-06-16'; } }), status: 403, code: 'SignatureDoesNotMatch', reason: 'PAYLOAD_HASH_MISMATCH' },
      {
        name: 'tampered signed header', status: 403, code: 'SignatureDoesNotMatch', reason: 'SIGNATURE_DOES_NOT_MATCH',
        answer: call(f, { ...base, credentials: alice, headers: { 'x-gatehouse-note': 'a' }, tamper: (r) => { r.headers['x-gatehouse-note'] = 'b'; } }),
      },
      { name: 'wrong secret', answer: call(f, { ...base, credentials: { ...alice, secretAccessKey: 'x'.repeat(40) } }), status: 403, code: 'SignatureDoesNotMatch', reason: 'SIGNATURE_DOES_NOT_MATCH' },
      { name: 'expired date', answer: call(f, { ...base, credentials: alice, date: new Date(Date.now() - 16 * 60_000) }), status: 403, code: 'SignatureDoesNotMatch', reason: 'SIGNATURE_EXPIRED' },
      { name: 'unknown key', answer: call(f, { ...base, credentials: { ...alice, accessKeyId: 'AKIAAAAAAAAAAAAAAAAA' } }), status: 403, code: 'InvalidClientTokenId', reason: 'UNKNOWN_ACCESS_KEY' },
      { name: 'wrong region', answer: call(f, { ...base, credentials: alice, region: 'eu-west-1' }), status: 403, code: 'SignatureDoesNotMatch', reason: 'WRONG_CREDENTIAL_SCOPE' },
      {
        name: 'host not signed', status: 400, code: 'IncompleteSignature', reason: 'INCOMPLETE_SIGNATURE',
        answer: call(f, { ...base, credentials: alice, tamper: (r) => { r.headers['authorization'] = r.headers['authorization']!.replace(';host;', ';'); } }),
      },
    ];
    for (const c of cases) {
      const a = await c.answer;
      assert.equal(a.status, c.status, `${c.name}: ${a.body}`);
      assert.equal(xmlCode(a.body), c.code, c.name);
      assert.match(a.body, /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/, c.name);
      assert.equal(typeof a.headers['x-amzn-requestid'], 'string', c.name);
      assert.ok(!a.body.includes(alice.secretAccessKey), c.name);
    }
    const records = await f.audit();
    for (const c of cases) {
      assert.ok(records.some((r) => r.reason === c.reason && r.principal === 'anonymous' && r.decision === 'deny' && r.status === c.status), `an audit record for ${c.name} (${c.reason})`);
      if (c.reason !== 'MISSING_AUTHENTICATION' && c.reason !== 'PAYLOAD_HASH_MISMATCH') {
        assert.ok(records.some((r) => r.reason === c.reason && r.action === 'sts:GetCallerIdentity'), `${c.name}: the action asked for`);
      }
    }
    // A signature replayed with another query: Gatehouse's own route answers in its JSON.
    const replay = await call(f, { path: '/gatehouse/audit?limit=1', credentials: alice, tamper: (r) => { r.path = '/gatehouse/audit?limit=1000'; } });
    assert.equal(replay.status, 403, replay.body);
    assert.equal(errorCode(replay.body), 'MGMT_SIGNATURE_DOES_NOT_MATCH');
    for (const r of records) assert.ok(!JSON.stringify(r).includes(alice.secretAccessKey));
  });

  test('REST-JSON errors: x-amzn-ErrorType and {"message"}; denial names the action and resource', async (t) => {
    const f = await startManagement(t, { routeSets: [TEST_ROUTES] });
    const bob = await f.user('bob', []);
    const none = await call(f, { path: '/test/things/sensor-1' });
    assert.equal(none.status, 403);
    assert.equal(none.headers['x-amzn-errortype'], 'MissingAuthenticationTokenException');
    assert.deepEqual(JSON.parse(none.body), { message: 'Missing Authentication Token' });
    const denied = await call(f, { path: '/test/things/sensor-1', credentials: bob, service: 'iot' });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['x-amzn-errortype'], 'AccessDeniedException');
    assert.equal((JSON.parse(denied.body) as { message: string }).message,
      `User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: iot:DescribeThing on resource: ${THING('sensor-1')} because no identity-based policy allows the iot:DescribeThing action`);
    const [rec] = await f.audit();
    assert.deepEqual({ action: rec?.action, resource: rec?.resource, decision: rec?.decision, reason: rec?.reason, status: rec?.status },
      { action: 'iot:DescribeThing', resource: THING('sensor-1'), decision: 'deny', reason: 'NO_MATCHING_STATEMENT', status: 403 });
    assert.equal(denied.headers['x-amzn-requestid'], rec?.requestId);
  });

  test('a user allowed only iot:List* on thing/sensor-* gets 403 elsewhere', async (t) => {
    const f = await startManagement(t, { routeSets: [TEST_ROUTES] });
    const lister = await f.user('lister', [allow('iot:List*', `arn:aws:iot:${REGION}:${ACCOUNT}:thing/sensor-*`)]);
    const go = (path: string, method: 'GET' | 'DELETE' = 'GET'): Promise<number> => call(f, { path, method, credentials: lister, service: 'iot' }).then((a) => a.status);
    assert.equal(await go('/test/things/sensor-1/principals'), 200);
    assert.equal(await go('/test/things/pump-1/principals'), 403);
    assert.equal(await go('/test/things/sensor-1'), 403, 'DescribeThing is not a List action');
    assert.equal(await go('/test/things/sensor-1', 'DELETE'), 403);
    const records = await f.audit();
    const allowed = records.find((r) => r.decision === 'allow');
    assert.equal(allowed?.statement, 'Grant');
    assert.match(allowed?.policy ?? '', /lister/);
    assert.equal(records.filter((r) => r.decision === 'deny').length, 3);
  });

  test('conditions: source address, time, TLS, user agent, principal, resource and request tags', async (t) => {
    const f = await startManagement(t, { routeSets: [TEST_ROUTES] });
    const arn = THING('sensor-1');
    const cases: { name: string; condition: unknown; query?: string; headers?: Record<string, string>; tags?: Record<string, string>; status: number }[] = [
      { name: 'SourceIp 127.0.0.1/32', condition: { IpAddress: { 'aws:SourceIp': '127.0.0.1/32' } }, status: 200 },
      { name: 'SourceIp 10.0.0.0/8', condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, status: 403 },
      { name: 'DateLessThan in the past', condition: { DateLessThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } }, status: 403 },
      { name: 'DateGreaterThan in the past', condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } }, status: 200 },
      { name: 'SecureTransport true', condition: { Bool: { 'aws:SecureTransport': 'true' } }, status: 200 },
      { name: 'SecureTransport false', condition: { Bool: { 'aws:SecureTransport': 'false' } }, status: 403 },
      { name: 'UserAgent like', condition: { StringLike: { 'aws:UserAgent': 'ops-console/*' } }, headers: { 'user-agent': 'ops-console/2.1' }, status: 200 },
      { name: 'UserAgent unlike', condition: { StringLike: { 'aws:UserAgent': 'ops-console/*' } }, headers: { 'user-agent': 'curl/8' }, status: 403 },
      { name: 'PrincipalTag', condition: { StringEquals: { 'aws:PrincipalTag/team': 'field' } }, tags: { team: 'field' }, status: 200 },
      { name: 'PrincipalTag other', condition: { StringEquals: { 'aws:PrincipalTag/team': 'field' } }, tags: { team: 'office' }, status: 403 },
      { name: 'ResourceTag', condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } }, query: '?resourceTag=prod', status: 200 },
      { name: 'ResourceTag other', condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } }, query: '?resourceTag=dev', status: 403 },
      { name: 'RequestTag', condition: { StringEquals: { 'aws:RequestTag/env': 'dev' } }, query: '?requestTag=dev', status: 200 },
      { name: 'TagKeys', condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['owner'] } }, query: '?requestTag=dev', status: 403 },
    ];
    let i = 0;
    for (const c of cases) {
      const creds = await f.user(`u${++i}`, [allow('iot:DescribeThing', arn, c.condition)], c.tags ?? {});
      const a = await call(f, { path: `/test/things/sensor-1${c.query ?? ''}`, credentials: creds, service: 'iot', ...(c.headers !== undefined ? { headers: c.headers } : {}) });
      assert.equal(a.status, c.status, `${c.name}: ${a.body}`);
    }
  });

  test('an answer without an authorization decision is a 500, logged and audited; a 400 about the input is not', async (t) => {
    const f = await startManagement(t, { routeSets: [TEST_ROUTES] });
    const admin = await f.user('admin', [ALLOW_ALL]);
    const a = await call(f, { path: '/test/forgetful', credentials: admin });
    assert.equal(a.status, 500);
    assert.ok(!a.body.includes('nothing was authorized'), 'the handler\'s answer is not sent');
    assert.equal(errorCode(a.body), 'MGMT_INTERNAL_ERROR');
    const b = await call(f, { path: '/test/picky', credentials: admin });
    assert.equal(b.status, 400);
    const records = await f.audit();
    assert.ok(records.some((r) => r.reason === 'NO_AUTHORIZATION_DECISION' && r.status === 500 && r.decision === 'deny'));
    assert.ok(records.some((r) => r.reason === 'INVALID_REQUEST' && r.status === 400));
  });

  test('the API token: exactly its built-in operations', async (t) => {
    const f = await startManagement(t, { routeSets: [TEST_ROUTES] });
    const bearer = { authorization: `Bearer ${API_TOKEN}` };
    assert.equal((await call(f, { path: '/test/metrics', headers: bearer })).status, 200);
    const denied = await call(f, { path: '/test/sessions', headers: bearer });
    assert.equal(denied.status, 403);
    assert.equal(errorCode(denied.body), 'MGMT_ACCESS_DENIED');
    assert.equal((await call(f, { path: '/test/things/sensor-1', headers: bearer })).status, 403);
    const wrong = await call(f, { path: '/test/metrics', headers: { authorization: 'Bearer wrong' } });
    assert.equal(wrong.status, 403);
    const records = await f.audit();
    assert.ok(records.some((r) => r.principal === 'gatehouse:api-token' && r.action === 'gatehouse:GetMetrics' && r.decision === 'allow'));
    assert.ok(records.some((r) => r.principal === 'anonymous' && r.reason === 'INVALID_API_TOKEN'));
    assert.ok(records.every((r) => !JSON.stringify(r).includes(API_TOKEN)));
  });

  test('every signed route asks for authorization before it answers (a caller without permissions gets AccessDenied)', async (t) => {
    const f = await startManagement(t);
    const nobody = await f.user('nobody', []);
    for (const set of MANAGEMENT_ROUTE_SETS) {
      for (const route of set.routes) {
        if (route.auth.kind !== 'signed') continue;
        assert.ok(route.example !== undefined, `${route.method} ${route.url} has an example request`);
        const ex = route.example;
        const a = await call(f, {
          method: route.method, path: ex.path, credentials: nobody, service: route.auth.services[0]!,
          ...(ex.body !== undefined ? { body: typeof ex.body === 'string' ? ex.body : JSON.stringify(ex.body) } : {}),
          ...(ex.contentType !== undefined ? { contentType: ex.contentType } : {}),
          ...(ex.headers !== undefined ? { headers: { ...ex.headers } } : {}),
        });
        assert.equal(a.status, 403, `${route.method} ${route.url}: ${a.body}`);
        const code = route.protocol === 'rest-json' ? a.headers['x-amzn-errortype'] : route.protocol === 'query-xml' ? xmlCode(a.body) : (JSON.parse(a.body) as { error: { code: string } }).error.code;
        assert.equal(code, route.protocol === 'rest-json' ? 'AccessDeniedException' : route.protocol === 'query-xml' ? 'AccessDenied' : 'MGMT_ACCESS_DENIED', `${route.method} ${route.url}`);
      }
    }
  });

  test('GET /gatehouse/audit lists records with filters', async (t) => {
    const f = await startManagement(t);
    const admin = await f.user('auditor', [allow('gatehouse:ListAuditRecords', '*')]);
    await call(f, { path: '/gatehouse/audit' });
    await f.server.audit.flush();
    const a = await call(f, { path: '/gatehouse/audit?decision=deny&limit=5', credentials: admin });
    assert.equal(a.status, 200, a.body);
    const body = JSON.parse(a.body) as { records: { reason: string; decision: string }[] };
    assert.ok(body.records.length >= 1);
    assert.ok(body.records.every((r) => r.decision === 'deny'));
    assert.ok(body.records.some((r) => r.reason === 'MISSING_AUTHENTICATION'));
    const bad = await call(f, { path: '/gatehouse/audit?limit=abc', credentials: admin });
    assert.equal(bad.status, 400);
  });

  test('a new server certificate is served to new connections (rotation); bodies above the limit are refused', async (t) => {
    const f = await startManagement(t, { routeSets: [TEST_ROUTES] });
    const ca = await makeCa({ name: 'CN=Rotated server CA' });
    const cert = await makeCert({ name: 'CN=127.0.0.1', issuer: ca, ca: null, keyUsage: x509.KeyUsageFlags.digitalSignature, extendedKeyUsage: [EKU.serverAuth], sans: [{ type: 'ip', value: '127.0.0.1' }] });
    f.server.updateTls({ key: cert.keyPem, cert: cert.pem, ca: [f.deviceCa.pem] });
    const rotated = new Agent({ ca: ca.pem, keepAlive: false });
    t.after(() => rotated.destroy());
    const a = await call({ ...f, agent: rotated }, { path: '/test/metrics', headers: { authorization: `Bearer ${API_TOKEN}` } });
    assert.equal(a.status, 200);
    await assert.rejects(call(f, { path: '/test/metrics', headers: { authorization: `Bearer ${API_TOKEN}` } }), /certificate/i, 'the old CA no longer verifies the server');
    const big = await call({ ...f, agent: rotated }, { path: '/test/things/sensor-1', method: 'DELETE', body: 'x'.repeat(70_000), headers: { authorization: `Bearer ${API_TOKEN}` } });
    assert.equal(big.status, 413, big.body);
    assert.equal(big.headers['x-amzn-errortype'], 'RequestEntityTooLargeException');
  });
});
