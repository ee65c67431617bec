/**
 * The operator console's server side against a real `gatehouse start`, with plain HTTPS
 * requests: the page and its security headers, sign-in (cookie attributes, wrong secret,
 * rate limit, a form posted by another site), CSRF on every state-changing call (the
 * console's own and the API's operations), the read-only user refused by the same IAM
 * authorization as the API, sign-out, idle expiry, and a deactivated key ending the
 * session. Every refusal is in the audit log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConsoleHttp, consoleConfig, readOnlyUser } from '../helpers/console.js';
import { GatewayProcess, connectDevice } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

type Json = Record<string, unknown>;
const errorCode = (json: unknown): string | undefined => ((json as { error?: { code?: string } } | undefined)?.error?.code);

describe('console over HTTPS', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let http: ConsoleHttp;
  let admin: { accessKeyId: string; secretAccessKey: string };
  let certificateId: string;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, consoleConfig('idleTimeoutSeconds: 5, signInAttemptsPerMinute: 30'));
    http = await ConsoleHttp.open(gw);
    admin = await gw.adminCredentials();
    certificateId = (await gw.device('dev-1')).certificateId;
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  /** The audit records of an action, newest first, read as the administrator (SigV4 is not needed: a console session reads them). */
  const audit = async (action: string): Promise<Json[]> => {
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    const r = await http.request('GET', `/gatehouse/audit?action=${encodeURIComponent(action)}&limit=50`, { cookie: s.cookie });
    assert.equal(r.status, 200, r.text);
    return (r.json as { records: Json[] }).records;
  };

  test('npm start\'s console line, and the page with its files under a strict Content-Security-Policy', async () => {
    assert.ok(gw.lines.some((l) => l.startsWith(`console ${http.url}/console/`)), 'the start prints the console URL');
    const page = await http.request('GET', '/console/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) assert.ok(csp.includes(d), `CSP has ${d}`);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal((await http.request('GET', '/console')).headers['location'], '/console/');
    for (const f of ['console.js', 'console.css', 'icon.svg']) {
      const a = await http.request('GET', `/console/assets/${f}`);
      assert.equal(a.status, 200, f);
      // Nothing is fetched from elsewhere: no URL of another origin in any file (the SVG namespace names, it does not load).
      assert.deepEqual([...a.text.matchAll(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi)].map((m) => m[0]).filter((u) => !u.endsWith('www.w3.org')), [], f);
    }
    assert.deepEqual([...page.text.matchAll(/(src|href)="([^"]+)"/g)].map((m) => m[2]!).filter((u) => !u.startsWith('/console/') && !u.startsWith('#')), []);
    assert.equal((await http.request('GET', '/console/assets/..%2Findex.html')).status, 404);
    assert.equal((await http.request('GET', '/console/assets/secret.key')).status, 404);

    // The page's "am I signed in?" on load, without a cookie, is refused without an audit record; another anonymous call is recorded.
    const probe = await http.request('GET', '/console/session');
    assert.equal(probe.status, 403);
    assert.equal(errorCode(probe.json), 'MGMT_MISSING_AUTHENTICATION');
    assert.equal((await http.request('GET', '/gatehouse/sessions')).status, 403);
    assert.deepEqual(await audit('gatehouse:GetConsoleSession'), []);
    assert.ok((await audit('gatehouse:ListSessions')).some((r) => r['principal'] === 'anonymous' && r['reason'] === 'MISSING_AUTHENTICATION'));
  });

  test('sign-in: a Secure, HttpOnly, SameSite=Strict host cookie; a wrong secret is refused the same as an unknown key, and audited', async () => {
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    assert.match(s.setCookie, /^__Host-gatehouse-console=[A-Za-z0-9_-]{43};/);
    for (const attr of ['Path=/', 'HttpOnly', 'Secure', 'SameSite=Strict']) assert.ok(s.setCookie.split('; ').includes(attr), `${attr} in ${s.setCookie}`);
    assert.doesNotMatch(s.setCookie, /Domain=/i);
    const body = s.answer.json as Json;
    assert.equal((body['user'] as Json)['name'], 'admin');
    assert.ok(!s.answer.text.includes(admin.secretAccessKey), 'the secret is not echoed');
    assert.equal(s.answer.headers['cache-control'], 'no-store');

    const wrong = await http.request('POST', '/console/session', { body: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey + 'x' } });
    const unknown = await http.request('POST', '/console/session', { body: { accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x' } });
    assert.equal(wrong.status, 401);
    assert.equal(errorCode(wrong.json), 'MGMT_CONSOLE_SIGN_IN_FAILED');
    assert.deepEqual([unknown.status, unknown.json], [wrong.status, wrong.json], 'one answer for every cause');
    assert.equal(wrong.headers['set-cookie'], undefined);

    // A form another site posts (login CSRF) is refused: only the page's JSON signs in.
    const form = await http.request('POST', '/console/session', { rawBody: new URLSearchParams(admin).toString(), contentType: 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 400);
    const crossSite = await http.request('POST', '/console/session', { body: admin, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSite.status, 400);

    const records = await audit('gatehouse:ConsoleSignIn');
    assert.ok(records.some((r) => r['decision'] === 'deny' && r['reason'] === 'SIGN_IN_FAILED' && r['principal'] === 'arn:aws:iam::000000000000:user/admin'));
    assert.ok(records.some((r) => r['decision'] === 'allow' && r['reason'] === 'SIGNED_IN'));
    assert.ok(records.every((r) => !JSON.stringify(r).includes(admin.secretAccessKey)), 'no secret in the audit log');
  });

  test('CSRF: a state-changing call with the cookie but without the session\'s token is refused before anything is done, and audited', async () => {
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    // Reads need no token (SameSite=Strict keeps other sites' requests from carrying the cookie).
    assert.equal((await http.request('GET', '/gatehouse/sessions', { cookie: s.cookie })).status, 200);

    // An AWS IoT operation through the same front: no token, a wrong token, then the right one.
    const path = `/certificates/${certificateId}?newStatus=INACTIVE`;
    const none = await http.request('PUT', path, { cookie: s.cookie });
    assert.equal(none.status, 403);
    assert.equal(none.headers['x-amzn-errortype'], 'AccessDeniedException');
    const wrong = await http.request('PUT', path, { cookie: s.cookie, csrf: 'A'.repeat(43) });
    assert.equal(wrong.status, 403);
    const other = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    assert.equal((await http.request('PUT', path, { cookie: s.cookie, csrf: other.csrf })).status, 403, 'another session\'s token does not do');
    const described = await http.request('GET', `/certificates/${certificateId}`, { cookie: s.cookie });
    assert.equal((described.json as { certificateDescription: Json }).certificateDescription['status'], 'ACTIVE', 'nothing was changed');

    // Gatehouse's own operations and the console's sign-out alike.
    const explain = await http.request('POST', '/gatehouse/explain', { cookie: s.cookie, body: { thingName: 'dev-1', operation: 'mqtt:publish', resource: 'mqtt:topic:t/dev-1/x' } });
    assert.equal(explain.status, 403);
    assert.equal(errorCode(explain.json), 'MGMT_CONSOLE_CSRF_MISMATCH');
    assert.equal((await http.request('DELETE', '/console/session', { cookie: s.cookie })).status, 403);
    assert.equal((await http.request('GET', '/console/session', { cookie: s.cookie })).status, 200, 'the session still stands');

    const ok = await http.request('POST', '/gatehouse/explain', { cookie: s.cookie, csrf: s.csrf, body: { thingName: 'dev-1', operation: 'mqtt:publish', resource: 'mqtt:topic:t/dev-1/x' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((ok.json as Json)['allowed'], true);

    const records = await audit('iot:UpdateCertificate');
    assert.ok(records.filter((r) => r['reason'] === 'CONSOLE_CSRF_MISMATCH' && r['principal'] === 'anonymous').length >= 3, 'each refusal is audited');
  });

  test('IAM\'s query protocol at POST / from a console session: x-gatehouse-service picks the route, the CSRF token is still required', async () => {
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    const form = { rawBody: 'Action=ListUsers&Version=2010-05-08', contentType: 'application/x-www-form-urlencoded', cookie: s.cookie };
    const listed = await http.request('POST', '/', { ...form, csrf: s.csrf, headers: { 'x-gatehouse-service': 'iam' } });
    assert.equal(listed.status, 200, listed.text);
    assert.match(listed.text, /<ListUsersResponse xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/">/);
    assert.match(listed.text, /<UserName>admin<\/UserName>/);
    const noToken = await http.request('POST', '/', { ...form, headers: { 'x-gatehouse-service': 'iam' } });
    assert.equal(noToken.status, 403);
    assert.match(noToken.text, /<Code>AccessDenied<\/Code>/);
    // Without the header the request goes to STS, which has no such action.
    const sts = await http.request('POST', '/', { ...form, csrf: s.csrf });
    assert.notEqual(sts.status, 200);
    assert.doesNotMatch(sts.text, /<UserName>/);
  });

  test('a console call is authorized by the user\'s IAM policies: the read-only user is refused with AWS\'s explanation, and told which buttons to hide', async () => {
    const viewer = await readOnlyUser(gw);
    const s = await http.signIn(viewer.accessKeyId, viewer.secretAccessKey);
    assert.equal((await http.request('GET', '/gatehouse/sessions', { cookie: s.cookie })).status, 200);
    const refused = await http.request('PUT', `/certificates/${certificateId}?newStatus=REVOKED`, { cookie: s.cookie, csrf: s.csrf });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['x-amzn-errortype'], 'AccessDeniedException');
    assert.match(String((refused.json as Json)['message']), /User: arn:aws:iam::000000000000:user\/viewer is not authorized to perform: iot:UpdateCertificate on resource: arn:aws:iot:us-east-1:000000000000:cert\/[0-9a-f]{64} because no identity-based policy allows the iot:UpdateCertificate action/);
    const disconnect = await http.request('DELETE', '/gatehouse/sessions/dev-1', { cookie: s.cookie, csrf: s.csrf });
    assert.equal(disconnect.status, 403);
    assert.equal(errorCode(disconnect.json), 'MGMT_ACCESS_DENIED');

    const certArn = `arn:aws:iot:us-east-1:000000000000:cert/${certificateId}`;
    const perms = await http.request('POST', '/console/permissions', { cookie: s.cookie, csrf: s.csrf, body: { checks: [{ action: 'iot:UpdateCertificate', resource: certArn }, { action: 'iot:DescribeCertificate', resource: certArn }] } });
    assert.equal(perms.status, 200, perms.text);
    assert.deepEqual((perms.json as { results: { allowed: boolean }[] }).results.map((r) => r.allowed), [false, true]);

    const records = await audit('iot:UpdateCertificate');
    assert.ok(records.some((r) => r['principal'] === 'arn:aws:iam::000000000000:user/viewer' && r['decision'] === 'deny' && r['reason'] === 'NO_MATCHING_STATEMENT' && r['status'] === 403), JSON.stringify(records.slice(0, 3)));
  });

  test('a console session reads the broker\'s denials with the deciding details, and the overview\'s counters', async (t) => {
    const device = await gw.device('dev-3');
    const client = await connectDevice(gw.mqttUrl, device);
    t.after(() => client.end(true));
    // Signed in now: this gateway's idle timeout is 5 s.
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    const before = (await http.request('GET', '/gatehouse/denials?maxResults=1', { cookie: s.cookie })).json as { latest: number };
    await client.publishAsync('t/dev-3/ok', 'x', { qos: 1 });
    // MQTT 3.1.1: a denied QoS 1 publish is acknowledged and dropped.
    await client.publishAsync('elsewhere/x', 'x', { qos: 1 });
    let denials: Json[] = [];
    const deadline = Date.now() + 10_000;
    while (denials.length === 0) {
      assert.ok(Date.now() < deadline, 'the denial is listed');
      const r = await http.request('GET', `/gatehouse/denials?after=${before.latest}`, { cookie: s.cookie });
      assert.equal(r.status, 200, r.text);
      denials = (r.json as { denials: Json[] }).denials.filter((d) => d['thingName'] === 'dev-3');
    }
    assert.deepEqual({ ...denials[0], seq: 0, at: '' }, {
      seq: 0, at: '', operation: 'mqtt:publish', reason: 'NO_MATCHING_STATEMENT', clientId: 'dev-3', thingName: 'dev-3', certificateId: device.certificateId, resource: 'mqtt:topic:elsewhere/x',
    });
    const overview = await http.request('GET', '/gatehouse/overview', { cookie: s.cookie });
    assert.equal(overview.status, 200, overview.text);
    const o = overview.json as { connectedDevices: number; counters: { messagesPublished: number; connectionsAccepted: number }; denialsByReason: Record<string, number>; health: Json };
    assert.ok(o.connectedDevices >= 1);
    assert.ok(o.counters.messagesPublished >= 1 && o.counters.connectionsAccepted >= 1);
    assert.ok((o.denialsByReason['NO_MATCHING_STATEMENT'] ?? 0) >= 1);
    assert.equal(o.health['registry'], 'ok');
  });

  test('sign-out ends the session and clears the cookie; the old cookie is refused', async () => {
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    const out = await http.request('DELETE', '/console/session', { cookie: s.cookie, csrf: s.csrf });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /^__Host-gatehouse-console=; Max-Age=0;/);
    const after = await http.request('GET', '/gatehouse/sessions', { cookie: s.cookie });
    assert.equal(after.status, 401);
    assert.equal(errorCode(after.json), 'MGMT_CONSOLE_SESSION_INVALID');
  });

  test('idle timeout: background refreshes do not keep a session alive; the operator\'s requests do', async () => {
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    const started = Date.now();
    const background = { cookie: s.cookie, headers: { 'x-gatehouse-background': '1' } };
    let status = 200;
    while (status === 200) {
      status = (await http.request('GET', '/gatehouse/overview', background)).status;
      assert.ok(Date.now() - started < 20_000, 'the idle session ended within the test\'s patience');
    }
    assert.equal(status, 401);
    assert.ok(Date.now() - started >= 4900, 'not before idleTimeoutSeconds (5 s)');

    const kept = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    const until = Date.now() + 7000;
    while (Date.now() < until) {
      assert.equal((await http.request('GET', '/gatehouse/overview', { cookie: kept.cookie })).status, 200, 'used, it lives past the idle timeout');
      // Pacing (an operator's clicks), well inside the idle timeout: nothing is awaited by it.
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  });

  test('deactivating the user\'s access key ends its console sessions at once', async () => {
    const user = await readOnlyUser(gw, 'leaver');
    const s = await http.signIn(user.accessKeyId, user.secretAccessKey);
    assert.equal((await http.request('GET', '/gatehouse/sessions', { cookie: s.cookie })).status, 200);
    const r = await gw.cli(['iam', 'access-keys', 'update', user.accessKeyId, '--status', 'Inactive']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await http.request('GET', '/gatehouse/sessions', { cookie: s.cookie })).status, 401);
    const again = await http.request('POST', '/console/session', { body: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey } });
    assert.equal(again.status, 401, 'nor can it sign in');
  });
});

describe('console sign-in rate limit', () => {
  test('beyond signInAttemptsPerMinute from one address, sign-in answers 429 with Retry-After, even with the right secret', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.cleanup());
    const gw = await GatewayProcess.start(dir.path, consoleConfig('signInAttemptsPerMinute: 3'));
    t.after(() => gw.stop());
    const http = await ConsoleHttp.open(gw);
    const admin = await gw.adminCredentials();
    for (let i = 0; i < 2; i++) assert.equal((await http.request('POST', '/console/session', { body: { ...admin, secretAccessKey: 'wrong' } })).status, 401);
    assert.equal((await http.request('POST', '/console/session', { body: admin })).status, 200);
    const limited = await http.request('POST', '/console/session', { body: admin });
    assert.equal(limited.status, 429);
    assert.equal(errorCode(limited.json), 'MGMT_CONSOLE_RATE_LIMITED');
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
    assert.equal(limited.headers['set-cookie'], undefined);
  });
});
