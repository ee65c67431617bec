/**
 * The local API end to end: a real `gatehouse start` process, every endpoint over a
 * real HTTP connection.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ROUTES } from '../../src/api/routes.js';
import type { CertificateUpdate } from '../../src/api/schemas.js';
import { GatewayProcess, connectDevice, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { errorOf, type ApiClient, type ExplainBody, type TokenBody, type VerifyBody, SseStream } from './client.js';
import { POLICIES, apiClient, authorize, createThingWithAttributes, der, gatehouseSection, managementCaller, newToken, scrape, tokenBody, verifyBody, type ManagementCaller } from './helpers.js';
import { waitUntil } from '../helpers/wait.js';

const CONFIG = POLICIES + gatehouseSection('  api: { bodyLimitBytes: 4096 }');

describe('local API, end to end', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let api: ApiClient;
  let mgmt: ManagementCaller;
  let sensor: Device;
  let reader: Device;
  /** Every session token handed out, to check none reaches the log. */
  const issued: string[] = [];

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    api = await apiClient(gw);
    mgmt = await managementCaller(gw);
    sensor = await gw.createThing('sensor-1');
    reader = await gw.createThing('reader-1');
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  const token = async (clientId: string, pem: Buffer): Promise<string> => {
    const t = await newToken(api, clientId, pem);
    issued.push(t);
    return t;
  };

  describe('serving', () => {
    test('prints `listening http://127.0.0.1:PORT` after the MQTT line, on the port --api-port 0 chose', () => {
      const mqtt = gw.lines.findIndex((l) => l.startsWith('listening mqtts://'));
      const http = gw.lines.findIndex((l) => l.startsWith('listening http://'));
      assert.ok(mqtt >= 0 && http > mqtt, 'the API line follows the MQTT line');
      assert.match(gw.apiUrl!, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(new URL(gw.apiUrl!).port, '8090');
    });

    test('GET /healthz needs no token', async () => {
      const r = await api.get('/healthz', { token: null });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { status: 'ok' });
    });

    test('every other route, and unknown paths: a missing or wrong token is 401 and nothing else', async () => {
      const wrong = (await gw.apiToken()).replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
      const calls: [string, string][] = Object.values(ROUTES).filter((r) => r.auth).map((r) => [r.method, r.url.replace(':token', 'x')]);
      calls.push(['GET', '/nope'], ['POST', '/v1/nope'], ['DELETE', '/v1/sessions']);
      for (const [method, path] of calls) {
        for (const t of [null, wrong, '']) {
          const r = await api.call(method, path, method === 'POST' ? {} : undefined, { token: t });
          assert.equal(r.status, 401, `${method} ${path} with ${t === null ? 'no' : 'a wrong'} token`);
          assert.deepEqual(r.json, { error: { code: 'API_UNAUTHORIZED', message: 'missing or wrong API token' } });
          assert.equal(r.headers['www-authenticate'], 'Bearer');
        }
      }
      const basic = await api.get('/v1/sessions', { token: null, headers: { authorization: `Basic ${Buffer.from(`x:${await gw.apiToken()}`).toString('base64')}` } });
      assert.equal(basic.status, 401);
    });

    test('a call with a wrong token is not carried out', async () => {
      const before = (await scrape(api)).get('gatehouse_live_sessions');
      const r = await api.post('/v1/get-client-device-auth-token', tokenBody('sensor-1', sensor.cert), { token: 'x'.repeat(43) });
      assert.equal(r.status, 401);
      assert.equal((await scrape(api)).get('gatehouse_live_sessions'), before);
    });

    test('an unknown path with the token: 404 API_NOT_FOUND', async () => {
      const r = await api.get('/v2/whatever');
      assert.equal(r.status, 404);
      assert.equal(errorOf(r).code, 'API_NOT_FOUND');
    });
  });

  describe('POST /v1/verify-client-device-identity', () => {
    test('a registered, ACTIVE device certificate is valid, as PEM or bare base64 DER', async () => {
      for (const text of [sensor.cert.toString(), `\n\n${sensor.cert.toString()}`, der(sensor.cert).toString('base64')]) {
        const r = await api.post('/v1/verify-client-device-identity', verifyBody(text));
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { isValidClientDevice: true });
      }
    });

    test('an unusable certificate is not valid, with the reason', async () => {
      const garbage = await api.post('/v1/verify-client-device-identity', verifyBody('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'));
      assert.deepEqual(garbage.json, { isValidClientDevice: false, reason: 'CERT_MALFORMED' });
      const ca = await api.post<VerifyBody>('/v1/verify-client-device-identity', verifyBody(sensor.ca));
      assert.equal(ca.json.isValidClientDevice, false);
      assert.equal(ca.json.reason, 'CERT_WRONG_USAGE');
    });

    test('a revoked certificate is not valid', async () => {
      const d = await gw.createThing('sensor-revoked');
      assert.equal((await api.post<VerifyBody>('/v1/verify-client-device-identity', verifyBody(d.cert))).json.isValidClientDevice, true);
      const r = await gw.cli(['certs', 'revoke', d.certificateId]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await api.post('/v1/verify-client-device-identity', verifyBody(d.cert))).json, { isValidClientDevice: false, reason: 'CERT_REVOKED' });
    });
  });

  describe('POST /v1/get-client-device-auth-token', () => {
    test('a device whose client ID is its thing name gets an opaque 256-bit token; username and password are accepted', async () => {
      const r = await api.post<TokenBody>('/v1/get-client-device-auth-token', tokenBody('sensor-1', sensor.cert, { username: 'u', password: 'pw-never-logged-5b1f' }));
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(Object.keys(r.json), ['clientDeviceAuthToken']);
      assert.match(r.json.clientDeviceAuthToken, /^[A-Za-z0-9_-]{43}$/);
      issued.push(r.json.clientDeviceAuthToken);
    });

    test('a device that fails authentication: 403 InvalidCredentialError with the identity reason (not 401)', async () => {
      const cases: [string, Buffer | string, string][] = [
        ['reader-1', sensor.cert, 'CERT_NOT_ATTACHED'],
        ['sensor-nobody', sensor.cert, 'THING_NOT_FOUND'],
        ['not a thing name', sensor.cert, 'THING_NAME_INVALID'],
        ['sensor-1', 'not a certificate', 'CERT_MALFORMED'],
      ];
      for (const [clientId, pem, reason] of cases) {
        const r = await api.post('/v1/get-client-device-auth-token', tokenBody(clientId, pem));
        assert.equal(r.status, 403, `${clientId}: ${r.text}`);
        assert.equal(errorOf(r).code, 'InvalidCredentialError');
        assert.equal(errorOf(r).reason, reason);
      }
    });

    test('a new token for a client ID replaces the previous one', async () => {
      const first = await token('reader-1', reader.cert);
      const second = await token('reader-1', reader.cert);
      assert.notEqual(first, second);
      assert.equal((await authorize(api, first, 'mqtt:connect', 'mqtt:clientId:reader-1')).status, 404);
      assert.equal((await authorize(api, second, 'mqtt:connect', 'mqtt:clientId:reader-1')).isAuthorized, true);
    });
  });

  describe('POST /v1/authorize-client-device-action', () => {
    let t: string;
    before(async () => {
      t = await token('sensor-1', sensor.cert);
    });

    test('decides with the policy in force, with the reason', async () => {
      const cases: [string, string, boolean, string][] = [
        ['mqtt:connect', 'mqtt:clientId:sensor-1', true, 'ALLOWED_BY_STATEMENT'],
        ['mqtt:connect', 'mqtt:clientId:sensor-2', false, 'NO_MATCHING_STATEMENT'],
        ['mqtt:publish', 'mqtt:topic:sensors/sensor-1/temp', true, 'ALLOWED_BY_STATEMENT'],
        ['mqtt:publish', 'mqtt:topic:sensors/sensor-1/secret', false, 'DENIED_BY_STATEMENT'],
        ['mqtt:publish', 'mqtt:topic:sensors/sensor-2/temp', false, 'NO_MATCHING_STATEMENT'],
        ['mqtt:subscribe', 'mqtt:topicfilter:commands/sensor-1', true, 'ALLOWED_BY_STATEMENT'],
        ['mqtt:subscribe', 'mqtt:topicfilter:commands/#', false, 'NO_MATCHING_STATEMENT'],
        ['mqtt:delete', 'mqtt:topic:x', false, 'UNKNOWN_OPERATION'],
        ['mqtt:publish', 'mqtt:topicfilter:x', false, 'RESOURCE_TYPE_MISMATCH'],
        ['mqtt:publish', 'topic', false, 'MALFORMED_RESOURCE'],
      ];
      for (const [operation, resource, allowed, reason] of cases) {
        assert.deepEqual(await authorize(api, t, operation, resource), { status: 200, isAuthorized: allowed, reason, code: undefined }, `${operation} ${resource}`);
      }
    });

    test('the exact answers (status, headers, body), whether the body comes with Content-Length or chunked', async () => {
      const apiToken = await gw.apiToken();
      const { host, port } = api.target() as { host: string; port: number };
      const call = async (body: string, chunked: boolean): Promise<string> => {
        const framing = chunked ? `Transfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` : `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        const socket = connect({ host, port });
        let data = '';
        socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
        socket.write(`POST /v1/authorize-client-device-action HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${apiToken}\r\nContent-Type: application/json\r\nConnection: close\r\n${framing}`);
        await new Promise((r) => socket.once('close', r));
        assert.match(data, /\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/);
        return data.replace(/\r\nDate: [^\r]*/, '');
      };
      const answer = (status: string, body: string): string =>
        `HTTP/1.1 ${status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
      const invalid = (message: string, path: string): string => answer('400 Bad Request', JSON.stringify({ error: { code: 'API_INVALID_REQUEST', message, path } }));
      // A body that is not JSON: the server closes the connection (node:http's header first).
      const notJson = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 86\r\n\r\n'
        + '{"error":{"code":"API_INVALID_JSON","message":"the body is not valid JSON","path":""}}';
      const cases: [string, string][] = [
        [JSON.stringify({ clientDeviceAuthToken: t, operation: 'mqtt:publish', resource: 'mqtt:topic:sensors/sensor-1/temp' }), answer('200 OK', '{"isAuthorized":true,"reason":"ALLOWED_BY_STATEMENT"}')],
        [JSON.stringify({ clientDeviceAuthToken: t, operation: 'mqtt:publish', resource: 'mqtt:topic:sensors/sensor-1/secret' }), answer('200 OK', '{"isAuthorized":false,"reason":"DENIED_BY_STATEMENT"}')],
        [JSON.stringify({ clientDeviceAuthToken: t, operation: 'mqtt:delete', resource: 'mqtt:topic:x' }), answer('200 OK', '{"isAuthorized":false,"reason":"UNKNOWN_OPERATION"}')],
        [JSON.stringify({ clientDeviceAuthToken: 'no-such-token', operation: 'mqtt:publish', resource: 'mqtt:topic:x' }),
          answer('404 Not Found', '{"error":{"code":"InvalidClientDeviceAuthTokenError","message":"unknown, closed or expired client device auth token"}}')],
        [JSON.stringify({ clientDeviceAuthToken: t, operation: 'mqtt:publish' }), invalid('field `resource` is required', 'resource')],
        [JSON.stringify({ clientDeviceAuthToken: t, operation: 'mqtt:publish', resource: '' }), invalid('field `resource` must not be empty', 'resource')],
        [JSON.stringify({ clientDeviceAuthToken: t, operation: 'mqtt:publish', resource: 'mqtt:topic:x', extra: 1 }), invalid('field `extra` is not a known field', 'extra')],
        [`{"__proto__":{"x":1},"clientDeviceAuthToken":"${t}","operation":"mqtt:publish","resource":"mqtt:topic:x"}`, notJson],
        ['{"clientDeviceAuthToken":', notJson],
        ['[]', invalid('the body must be of type object', '')],
      ];
      for (const [body, expected] of cases) {
        const sized = await call(body, false);
        assert.equal(sized, expected, body);
        assert.equal(await call(body, true), expected, `${body} (chunked)`);
      }
    });

    test('an unknown token is InvalidClientDeviceAuthTokenError (404), and there is no magic token', async () => {
      for (const bad of ['no-such-token', 'ALLOW_ALL', t.slice(0, -1), `${t}x`]) {
        const r = await api.post('/v1/authorize-client-device-action', { clientDeviceAuthToken: bad, operation: 'mqtt:connect', resource: 'mqtt:clientId:sensor-1' });
        assert.equal(r.status, 404);
        assert.equal(errorOf(r).code, 'InvalidClientDeviceAuthTokenError');
      }
    });

    test('a revoked certificate ends its session: the token stops working', async () => {
      const d = await gw.createThing('sensor-r2');
      const tr = await token('sensor-r2', d.cert);
      assert.equal((await authorize(api, tr, 'mqtt:connect', 'mqtt:clientId:sensor-r2')).isAuthorized, true);
      assert.equal((await gw.cli(['certs', 'revoke', d.certificateId])).code, 0);
      await waitUntil(async () => (await authorize(api, tr, 'mqtt:connect', 'mqtt:clientId:sensor-r2')).status === 404, 5000, 'session end after revocation');
    });
  });

  describe('request validation', () => {
    const path = '/v1/get-client-device-auth-token';

    test('bad JSON and an empty body: 400 API_INVALID_JSON', async () => {
      for (const raw of ['{"credential":', '{bad}', '']) {
        const r = await api.post(path, undefined, { raw });
        assert.equal(r.status, 400, raw);
        assert.equal(errorOf(r).code, 'API_INVALID_JSON');
      }
    });

    test('missing, mistyped, empty and unknown fields: 400 API_INVALID_REQUEST with the field\'s JSON path', async () => {
      const cases: [unknown, string, RegExp][] = [
        [{}, 'credential', /is required/],
        [{ credential: {} }, 'credential.mqttCredential', /is required/],
        [{ credential: { mqttCredential: { clientId: 'sensor-1' } } }, 'credential.mqttCredential.certificatePem', /is required/],
        [{ credential: { mqttCredential: { clientId: 7, certificatePem: 'x' } } }, 'credential.mqttCredential.clientId', /must be of type string/],
        [{ credential: { mqttCredential: { clientId: '', certificatePem: 'x' } } }, 'credential.mqttCredential.clientId', /must not be empty/],
        [{ credential: { mqttCredential: { clientId: 'a', certificatePem: 'x', pasword: 'typo' } } }, 'credential.mqttCredential.pasword', /not a known field/],
        [{ credential: 'pem' }, 'credential', /must be of type object/],
        [[1, 2], '', /must be of type object/],
      ];
      for (const [body, p, message] of cases) {
        const r = await api.post(path, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(errorOf(r).code, 'API_INVALID_REQUEST');
        assert.equal(errorOf(r).path, p, JSON.stringify(body));
        assert.match(errorOf(r).message, message);
      }
      const attr = await mgmt.call('POST', '/gatehouse/explain', { thingName: 'x', operation: 'mqtt:connect', resource: 'mqtt:clientId:x', attributes: { room: 1 } });
      assert.equal(attr.status, 400);
      assert.equal(errorOf(attr).code, 'MGMT_INVALID_REQUEST');
      assert.match(errorOf(attr).message, /attributes\/room/);
      const verify = await api.post('/v1/verify-client-device-identity', { credential: { clientDeviceCertificate: null } });
      assert.equal(errorOf(verify).path, 'credential.clientDeviceCertificate');
    });

    test('username and password null are accepted as absent (what the reference\'s clients send without credentials)', async () => {
      const r = await api.post<TokenBody>(path, { credential: { mqttCredential: { clientId: 'sensor-1', certificatePem: sensor.cert.toString(), username: null, password: null } } });
      assert.equal(r.status, 200, r.text);
      issued.push(r.json.clientDeviceAuthToken);
      const typed = await api.post(path, { credential: { mqttCredential: { clientId: 'sensor-1', certificatePem: sensor.cert.toString(), username: 7 } } });
      assert.equal(typed.status, 400);
      assert.equal(errorOf(typed).path, 'credential.mqttCredential.username');
    });

    test('whitespace-only certificate, operation or resource: 400 before any lookup or decision', async () => {
      const live = await token('sensor-1', sensor.cert);
      const blanks = [' ', '\t\n', '  \r\n '];
      for (const blank of blanks) {
        const v = await api.post('/v1/verify-client-device-identity', verifyBody(blank));
        assert.equal(v.status, 400, JSON.stringify(blank));
        assert.equal(errorOf(v).code, 'API_INVALID_REQUEST');
        assert.equal(errorOf(v).path, 'credential.clientDeviceCertificate');
        assert.match(errorOf(v).message, /must not be blank/);
        // With a live token and with an unknown one alike: the blank field is found first.
        for (const t of [live, 'unknown-token']) {
          for (const [field, body] of [
            ['operation', { clientDeviceAuthToken: t, operation: blank, resource: 'mqtt:topic:sensors/sensor-1/a' }],
            ['resource', { clientDeviceAuthToken: t, operation: 'mqtt:publish', resource: blank }],
          ] as const) {
            const a = await api.post('/v1/authorize-client-device-action', body);
            assert.equal(a.status, 400, `${field} ${JSON.stringify(blank)}: ${a.text}`);
            assert.equal(errorOf(a).code, 'API_INVALID_REQUEST');
            assert.equal(errorOf(a).path, field);
          }
        }
      }
    });

    test('a body that is not application/json: 415', async () => {
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
        const r = await api.post(path, undefined, { raw: '{}', contentType });
        assert.equal(r.status, 415, contentType);
        assert.equal(errorOf(r).code, 'API_UNSUPPORTED_MEDIA_TYPE');
      }
    });

    test('a body larger than gatehouse.api.bodyLimitBytes: 413 API_BODY_TOO_LARGE', async () => {
      const r = await api.post(path, tokenBody('sensor-1', 'x'.repeat(5000)));
      assert.equal(r.status, 413);
      assert.equal(errorOf(r).code, 'API_BODY_TOO_LARGE');
      const fits = await api.post(path, tokenBody('sensor-1', 'x'.repeat(3000)));
      assert.equal(fits.status, 403);
    });
  });

  describe('sessions', () => {
    test('the API token may not list sessions, explain or read the OpenAPI document: 403 API_ACCESS_DENIED, audited', async () => {
      for (const [method, path, action] of [['GET', '/v1/sessions', 'gatehouse:ListSessions'], ['POST', '/v1/explain', 'gatehouse:Explain'], ['GET', '/openapi.json', 'gatehouse:GetOpenApi']] as const) {
        const r = await api.call(method, path, method === 'POST' ? { thingName: 'sensor-1', operation: 'mqtt:connect', resource: 'mqtt:clientId:sensor-1' } : undefined);
        assert.equal(r.status, 403, `${method} ${path}`);
        assert.equal(errorOf(r).code, 'API_ACCESS_DENIED');
        assert.equal(errorOf(r).message, `User: gatehouse:api-token is not authorized to perform: ${action} on resource: * because no identity-based policy allows the ${action} action`);
        await waitUntil(async () => {
          const audit = await mgmt.call<{ records: { principal: string; decision: string; status: number; reason: string }[] }>('GET', `/gatehouse/audit?action=${encodeURIComponent(action)}&principal=gatehouse:api-token`);
          return audit.json.records.some((x) => x.decision === 'deny' && x.status === 403 && x.reason === 'NO_MATCHING_STATEMENT');
        }, 5000, `the audit record of ${action}`);
      }
    });

    test('DELETE /v1/sessions/{token} closes the session; an unknown token is 404', async () => {
      const t = await token('sensor-1', sensor.cert);
      const closed = await api.delete(`/v1/sessions/${t}`);
      assert.equal(closed.status, 204);
      assert.equal(closed.text, '');
      assert.equal((await authorize(api, t, 'mqtt:connect', 'mqtt:clientId:sensor-1')).status, 404);
      for (const unknown of [t, 'never-issued']) {
        const again = await api.delete(`/v1/sessions/${unknown}`);
        assert.equal(again.status, 404);
        assert.equal(errorOf(again).code, 'InvalidClientDeviceAuthTokenError');
      }
    });

    test('devices connected to the embedded broker are listed too, and counted as connected clients', async () => {
      const client = await connectDevice(gw.mqttUrl, reader);
      try {
        const r = await mgmt.call<{ sessions: { clientId: string }[] }>('GET', '/gatehouse/sessions');
        assert.ok(r.json.sessions.some((s) => s.clientId === 'reader-1'), r.text);
        const m = await scrape(api);
        assert.equal(m.get('gatehouse_connected_clients'), 1);
        assert.ok((m.get('gatehouse_live_sessions') ?? 0) >= 1);
      } finally {
        await client.endAsync();
      }
    });
  });

  describe('POST /gatehouse/explain (management listener)', () => {
    test('names the deciding group, policy, statement and resolved pattern', async () => {
      const r = await mgmt.call<ExplainBody>('POST', '/gatehouse/explain', { thingName: 'sensor-1', operation: 'mqtt:publish', resource: 'mqtt:topic:sensors/sensor-1/secret' });
      assert.equal(r.status, 200);
      assert.equal(r.json.allowed, false);
      assert.equal(r.json.reason, 'DENIED_BY_STATEMENT');
      assert.deepEqual([r.json.group, r.json.policy, r.json.statement, r.json.resourcePattern], ['Sensors', 'SensorPolicy', 'NoSecrets', 'mqtt:topic:sensors/*/secret']);
      assert.deepEqual(r.json.matches.map((m) => m.statement), ['NoSecrets', 'Publish']);
      assert.match(r.json.message, /denies/);
    });

    test('attributes come from the request, else from the registry', async () => {
      await createThingWithAttributes(gw, 'room-1', { room: 'kitchen' });
      const body = { thingName: 'room-1', operation: 'mqtt:publish', resource: 'mqtt:topic:rooms/kitchen/light' };
      const fromRegistry = await mgmt.call<ExplainBody>('POST', '/gatehouse/explain', body);
      assert.equal(fromRegistry.json.allowed, true);
      assert.equal(fromRegistry.json.attributesFrom, 'registry');
      assert.deepEqual(fromRegistry.json.attributes, { room: 'kitchen' });
      const fromRequest = await mgmt.call<ExplainBody>('POST', '/gatehouse/explain', { ...body, attributes: { room: 'hall' } });
      assert.equal(fromRequest.json.allowed, false);
      assert.equal(fromRequest.json.attributesFrom, 'request');
      const nobody = await mgmt.call<ExplainBody>('POST', '/gatehouse/explain', { ...body, thingName: 'ghost-1' });
      assert.equal(nobody.json.reason, 'NO_GROUP_SELECTS_THING');
      assert.equal(nobody.json.attributesFrom, 'none');
    });
  });

  describe('GET /v1/certificate-updates', () => {
    test('certificateType must be SERVER: 400 with the parameter\'s path', async () => {
      for (const q of ['', '?certificateType=CLIENT', '?certificateType=server', '?certificateType=SERVER&x=1']) {
        const r = await api.get(`/v1/certificate-updates${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(errorOf(r).code, 'API_INVALID_REQUEST');
        assert.equal(errorOf(r).path, q.endsWith('x=1') ? 'x' : 'certificateType');
      }
    });

    test('a subscriber gets its own key and a server certificate from the gateway CA at once', async () => {
      const before = await scrape(api);
      const a = await SseStream.open(api, '/v1/certificate-updates?certificateType=SERVER');
      const b = await SseStream.open(api, '/v1/certificate-updates?certificateType=SERVER');
      try {
        assert.equal(a.status, 200);
        assert.match(String(a.headers['content-type']), /^text\/event-stream/);
        const [ea, eb] = [await a.next(), await b.next()];
        assert.equal(ea.event, 'certificateUpdate');
        const ua = JSON.parse(ea.data) as CertificateUpdate;
        const ub = JSON.parse(eb.data) as CertificateUpdate;
        assert.deepEqual(Object.keys(ua).sort(), ['caCertificates', 'certificate', 'privateKey', 'publicKey']);
        const cert = new X509Certificate(ua.certificate);
        const ca = new X509Certificate(sensor.ca);
        assert.equal(ua.caCertificates[0]?.trim(), sensor.ca.toString().trim());
        assert.ok(cert.verify(ca.publicKey), 'issued by the gateway CA');
        assert.ok(cert.checkPrivateKey(createPrivateKey(ua.privateKey)), 'the key matches');
        assert.equal(createPublicKey(ua.publicKey).export({ type: 'spki', format: 'pem' }), cert.publicKey.export({ type: 'spki', format: 'pem' }));
        assert.ok(cert.checkIP('127.0.0.1') !== undefined && cert.checkHost('localhost') !== undefined, 'the gateway\'s host names');
        assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
        assert.notEqual(ua.privateKey, ub.privateKey, 'each subscriber has its own key');
        assert.notEqual(ua.certificate, ub.certificate);
        assert.equal(ea.id, new X509Certificate(ua.certificate).fingerprint256.replace(/:/g, '').toLowerCase());
        const m = await scrape(api);
        assert.equal(m.get('gatehouse_certificate_update_streams'), 2);
        assert.equal(m.get('gatehouse_subscribe_to_certificate_updates_total{result="success"}')! - before.get('gatehouse_subscribe_to_certificate_updates_total{result="success"}')!, 2);
      } finally {
        a.close();
        b.close();
      }
      await waitUntil(async () => (await scrape(api)).get('gatehouse_certificate_update_streams') === 0, 5000, 'streams closed');
    });
  });

  describe('GET /metrics', () => {
    test('Prometheus text with the reference counters, denials, decision latency and gauges', async () => {
      const t = await token('sensor-1', sensor.cert);
      const before = await scrape(api);
      for (const topic of ['a', 'b', 'c']) await authorize(api, t, 'mqtt:publish', `mqtt:topic:sensors/sensor-1/${topic}`);
      await authorize(api, t, 'mqtt:publish', 'mqtt:topic:elsewhere');
      await authorize(api, t, 'mqtt:subscribe', 'mqtt:topicfilter:#');
      await authorize(api, 'unknown', 'mqtt:publish', 'mqtt:topic:x');
      await api.post('/v1/verify-client-device-identity', verifyBody(sensor.cert));
      await api.post('/v1/verify-client-device-identity', verifyBody('junk'));
      const r = await api.get('/metrics');
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const after = await scrape(api);
      const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
      assert.equal(delta('gatehouse_authorize_client_device_actions_total{result="success"}'), 3);
      assert.equal(delta('gatehouse_authorize_client_device_actions_total{result="failure"}'), 3);
      assert.equal(delta('gatehouse_denials_total{operation="mqtt:publish"}'), 1);
      assert.equal(delta('gatehouse_denials_total{operation="mqtt:subscribe"}'), 1);
      assert.equal(delta('gatehouse_verify_client_device_identity_total{result="success"}'), 1);
      assert.equal(delta('gatehouse_verify_client_device_identity_total{result="failure"}'), 1);
      assert.equal(delta('gatehouse_decision_duration_seconds_count{operation="mqtt:publish"}'), 4);
      assert.equal(delta('gatehouse_decision_duration_seconds_count{operation="mqtt:subscribe"}'), 1);
      assert.ok(after.has('gatehouse_service_errors_total'));
      assert.ok(after.has('gatehouse_get_client_device_auth_token_total{result="success"}'));
      assert.ok((after.get('gatehouse_api_responses_total{route="/v1/authorize-client-device-action",status="404"}') ?? 0) >= 1);
      assert.ok(after.has('process_cpu_user_seconds_total'));
      for (const secret of [t, await gw.apiToken()]) assert.ok(!r.text.includes(secret));
    });

    test('API calls are counted in the periodic metrics summary too (the broker\'s Metrics)', async () => {
      // aggregatePeriodSeconds is an hour here; a reload that changes it emits at once.
      const mark = gw.lines.length;
      await gw.writeConfig(`${CONFIG}\nmetrics: { aggregatePeriodSeconds: 7200 }\n`);
      gw.signal('SIGHUP');
      const line = JSON.parse(await gw.waitForLog((l) => l.includes('"event":"metrics"'), 10000, mark)) as { counters: Record<string, number> };
      assert.ok((line.counters['AuthorizeClientDeviceActions.Success'] ?? 0) >= 3, JSON.stringify(line.counters));
      assert.ok((line.counters['VerifyClientDeviceIdentity.Failure'] ?? 0) >= 1);
    });
  });

  describe('configuration reload', () => {
    test('the next authorization uses the new policy; open tokens stay valid', async () => {
      const t = await token('sensor-1', sensor.cert);
      assert.equal((await authorize(api, t, 'mqtt:publish', 'mqtt:topic:sensors/sensor-1/temp')).isAuthorized, true);
      const mark = gw.lines.length;
      await gw.writeConfig(CONFIG.replace('"mqtt:topic:sensors/${iot:Connection.Thing.ThingName}/*"', '"mqtt:topic:readings/${iot:Connection.Thing.ThingName}"'));
      gw.signal('SIGHUP');
      await gw.waitForLog((l) => l.includes('config-applied'), 10000, mark);
      assert.deepEqual(await authorize(api, t, 'mqtt:publish', 'mqtt:topic:sensors/sensor-1/temp'), { status: 200, isAuthorized: false, reason: 'NO_MATCHING_STATEMENT', code: undefined });
      assert.equal((await authorize(api, t, 'mqtt:publish', 'mqtt:topic:readings/sensor-1')).isAuthorized, true);
      await gw.writeConfig(CONFIG);
      gw.signal('SIGHUP');
      await waitUntil(async () => (await authorize(api, t, 'mqtt:publish', 'mqtt:topic:sensors/sensor-1/temp')).isAuthorized === true, 10000, 'policy restored');
    });
  });

  describe('secrets', () => {
    test('no API token, session token or password ever reaches the log', async () => {
      const log = gw.lines.join('\n');
      assert.ok(issued.length >= 5);
      for (const secret of [await gw.apiToken(), ...issued, 'pw-never-logged-5b1f']) assert.ok(!log.includes(secret), 'a secret is in the log');
    });
  });
});
