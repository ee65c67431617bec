/**
 * SigV4 verification (src/api/mgmt/sigv4.ts) against requests signed by the AWS SDKs'
 * own signer (@smithy/signature-v4): each check in the verifier's order, and that a
 * request changed after signing is refused with the right failure.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { ResolvedAccessKey } from '../../../src/identity/control.js';
import { parseAuthorization, verifySigV4, type SignedRequest, type VerifyOptions } from '../../../src/api/mgmt/sigv4.js';

const KEY_ID = 'AKIAEXAMPLEEXAMPLE12';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SESSION_KEY_ID = 'ASIAEXAMPLEEXAMPLE34';
const SESSION_SECRET = 'session/secret/EXAMPLEKEY';
const SESSION_TOKEN = 'FwoGZXIvYXdzEXAMPLE-token';
const NOW = new Date('2026-12-05T10:00:00Z');

const user: ResolvedAccessKey = {
  secretAccessKey: SECRET,
  principal: {
    kind: 'user',
    user: { name: 'alice', id: 'AIDAEXAMPLEEXAMPLE123', arn: 'arn:aws:iam::000000000000:user/alice', createdAt: NOW, tags: {} },
    accessKey: { accessKeyId: KEY_ID, userName: 'alice', status: 'Active', createdAt: NOW, lastUsedAt: null },
  },
};

function session(expiration: Date): ResolvedAccessKey {
  return {
    secretAccessKey: SESSION_SECRET,
    sessionTokenSha256: createHash('sha256').update(SESSION_TOKEN).digest('hex'),
    principal: {
      kind: 'role-session',
      role: { name: 'ops', id: 'AROAEXAMPLEEXAMPLE123', arn: 'arn:aws:iam::000000000000:role/ops', assumeRolePolicyDocument: '{}', maxSessionDurationSeconds: 3600, description: '', createdAt: NOW, tags: {} },
      sessionName: 's1',
      assumedRoleArn: 'arn:aws:sts::000000000000:assumed-role/ops/s1',
      assumedRoleId: 'AROAEXAMPLEEXAMPLE123:s1',
      expiration,
      tags: {},
    },
  };
}

function options(over: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    now: NOW,
    maxClockSkewSeconds: 900,
    region: 'us-east-1',
    services: ['iot'],
    resolve: (id) => Promise.resolve(id === KEY_ID ? user : id === SESSION_KEY_ID ? session(new Date(NOW.getTime() + 3_600_000)) : undefined),
    ...over,
  };
}

interface SignArgs {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  body?: string;
  headers?: Record<string, string>;
  date?: Date;
  service?: string;
  region?: string;
  keyId?: string;
  secret?: string;
  token?: string;
  unsignable?: string[];
}

/** Signs like an AWS SDK client does and returns the request as the server would receive it. */
async function signed(a: SignArgs = {}): Promise<SignedRequest> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: a.keyId ?? KEY_ID, secretAccessKey: a.secret ?? SECRET, ...(a.token !== undefined ? { sessionToken: a.token } : {}) },
    region: a.region ?? 'us-east-1',
    service: a.service ?? 'iot',
    sha256: Hash.bind(null, 'sha256'),
  });
  const body = a.body ?? '';
  const req = new HttpRequest({
    method: a.method ?? 'POST',
    protocol: 'https:',
    hostname: '127.0.0.1',
    port: 8444,
    path: a.path ?? '/things/sensor-1',
    query: a.query ?? {},
    headers: { host: '127.0.0.1:8444', 'content-type': 'application/json', ...(a.headers ?? {}) },
    body,
  });
  const out = await signer.sign(req, { signingDate: a.date ?? NOW, ...(a.unsignable !== undefined ? { unsignableHeaders: new Set(a.unsignable) } : {}) });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(out.headers)) headers[k.toLowerCase()] = v;
  const qs = new URLSearchParams(a.query ?? {}).toString().replace(/\+/g, '%20');
  return {
    method: out.method,
    url: out.path + (qs === '' ? '' : `?${qs}`),
    headers,
    rawHeaders: Object.entries(headers).flat(),
    body: Buffer.from(body),
  };
}

function withHeaders(r: SignedRequest, headers: Record<string, string>): SignedRequest {
  const h = { ...(r.headers as Record<string, string>), ...headers };
  return { ...r, headers: h, rawHeaders: Object.entries(h).flat() };
}

async function failure(r: SignedRequest, o: VerifyOptions = options()): Promise<string> {
  const v = await verifySigV4(r, o);
  assert.equal(v.ok, false, 'the request must be refused');
  return v.ok ? '' : v.failure;
}

describe('SigV4: requests signed by the SDK signer', () => {
  test('accepted, with the principal of the key and the signing service', async () => {
    const v = await verifySigV4(await signed({ body: '{"a":1}', query: { maxResults: '10', nextToken: 'a b/c' } }), options());
    assert.ok(v.ok, JSON.stringify(v));
    assert.equal(v.accessKeyId, KEY_ID);
    assert.equal(v.service, 'iot');
    assert.equal(v.principal.kind, 'user');
  });

  test('a path with characters the SDK percent-encodes is accepted (double encoding as AWS)', async () => {
    const v = await verifySigV4(await signed({ path: '/things/a%3Ab%20c', method: 'GET' }), options());
    assert.ok(v.ok, JSON.stringify(v));
  });

  test('temporary credentials with their session token are accepted', async () => {
    const v = await verifySigV4(await signed({ keyId: SESSION_KEY_ID, secret: SESSION_SECRET, token: SESSION_TOKEN }), options());
    assert.ok(v.ok, JSON.stringify(v));
    assert.equal(v.principal.kind, 'role-session');
  });

  test('x-amz-content-sha256 matching the body is accepted', async () => {
    const body = '{"x":"y"}';
    const hash = createHash('sha256').update(body).digest('hex');
    const v = await verifySigV4(await signed({ body, headers: { 'x-amz-content-sha256': hash } }), options());
    assert.ok(v.ok, JSON.stringify(v));
  });
});

describe('SigV4: refused', () => {
  test('no Authorization header: MISSING_AUTHENTICATION', async () => {
    const r = await signed();
    const h = { ...(r.headers as Record<string, string>) };
    delete h['authorization'];
    assert.equal(await failure({ ...r, headers: h, rawHeaders: Object.entries(h).flat() }), 'MISSING_AUTHENTICATION');
  });

  test('tampered body: PAYLOAD_HASH_MISMATCH (the SDKs send x-amz-content-sha256), SIGNATURE_DOES_NOT_MATCH without it', async () => {
    const r = await signed({ body: '{"thingName":"a"}' });
    assert.equal(await failure({ ...r, body: Buffer.from('{"thingName":"b"}') }), 'PAYLOAD_HASH_MISMATCH');
    const bare = await signed({ body: '{"thingName":"a"}', unsignable: ['x-amz-content-sha256'] });
    const bh = { ...(bare.headers as Record<string, string>) };
    delete bh['x-amz-content-sha256'];
    assert.equal(await failure({ ...bare, headers: bh, rawHeaders: Object.entries(bh).flat(), body: Buffer.from('{"thingName":"b"}') }), 'SIGNATURE_DOES_NOT_MATCH');
  });

  test('tampered signed header: SIGNATURE_DOES_NOT_MATCH', async () => {
    const r = await signed({ headers: { 'x-amz-target': 'one' } });
    assert.equal(await failure(withHeaders(r, { 'x-amz-target': 'two' })), 'SIGNATURE_DOES_NOT_MATCH');
  });

  test('wrong secret: SIGNATURE_DOES_NOT_MATCH', async () => {
    assert.equal(await failure(await signed({ secret: 'not-the-secret' })), 'SIGNATURE_DOES_NOT_MATCH');
  });

  test('replayed on another path or query: SIGNATURE_DOES_NOT_MATCH', async () => {
    const r = await signed({ method: 'DELETE', path: '/things/sensor-1' });
    assert.equal(await failure({ ...r, url: '/things/sensor-2' }), 'SIGNATURE_DOES_NOT_MATCH');
    assert.equal(await failure({ ...r, url: '/things/sensor-1?force=true' }), 'SIGNATURE_DOES_NOT_MATCH');
    assert.equal(await failure({ ...r, method: 'GET' }), 'SIGNATURE_DOES_NOT_MATCH');
  });

  test('outside the clock skew, either way: SIGNATURE_EXPIRED', async () => {
    assert.equal(await failure(await signed({ date: new Date(NOW.getTime() - 901_000) })), 'SIGNATURE_EXPIRED');
    assert.equal(await failure(await signed({ date: new Date(NOW.getTime() + 901_000) })), 'SIGNATURE_EXPIRED');
    const inside = await verifySigV4(await signed({ date: new Date(NOW.getTime() - 899_000) }), options());
    assert.ok(inside.ok);
  });

  test('host or x-amz-date not signed: INCOMPLETE_SIGNATURE', async () => {
    assert.equal(await failure(await signed({ unsignable: ['host'] })), 'INCOMPLETE_SIGNATURE');
    const r = await signed();
    const auth = String(r.headers['authorization']).replace(/;x-amz-date,/, ',');
    assert.notEqual(auth, r.headers['authorization']);
    assert.equal(await failure(withHeaders(r, { authorization: auth })), 'INCOMPLETE_SIGNATURE');
  });

  test('a signed header sent twice: INCOMPLETE_SIGNATURE', async () => {
    const r = await signed();
    assert.equal(await failure({ ...r, rawHeaders: [...r.rawHeaders, 'Host', 'evil.example'] }), 'INCOMPLETE_SIGNATURE');
  });

  test('malformed Authorization headers: INCOMPLETE_SIGNATURE', async () => {
    const r = await signed();
    const auth = String(r.headers['authorization']);
    for (const bad of [
      auth.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA1'),
      auth.replace(/, Signature=[0-9a-f]+/, ''),
      auth + ', Signature=' + 'a'.repeat(64),
      auth.replace(/Signature=([0-9a-f]+)/, (_m, s: string) => `Signature=${s.toUpperCase()}`),
      auth.replace('SignedHeaders=content-type;host;', 'SignedHeaders=host;content-type;'),
      auth.replace('SignedHeaders=content-type;host;', 'SignedHeaders=content-type;host;host;'),
    ]) {
      assert.equal(await failure(withHeaders(r, { authorization: bad })), 'INCOMPLETE_SIGNATURE', bad);
    }
    assert.equal(await failure(withHeaders(r, { 'x-amz-date': '2026-12-05T10:00:00Z' })), 'INCOMPLETE_SIGNATURE');
    assert.equal(await failure({ ...r, url: '/things/../sensor-1' }), 'INCOMPLETE_SIGNATURE');
    assert.equal(await failure({ ...r, url: '//things/sensor-1' }), 'INCOMPLETE_SIGNATURE');
  });

  test('wrong region or service in the credential scope: WRONG_CREDENTIAL_SCOPE', async () => {
    assert.equal(await failure(await signed({ region: 'eu-west-1' })), 'WRONG_CREDENTIAL_SCOPE');
    assert.equal(await failure(await signed({ service: 's3' })), 'WRONG_CREDENTIAL_SCOPE');
  });

  test('unknown access key: UNKNOWN_ACCESS_KEY', async () => {
    assert.equal(await failure(await signed({ keyId: 'AKIAUNKNOWNUNKNOWN00' })), 'UNKNOWN_ACCESS_KEY');
  });

  test('temporary key without, or with the wrong, session token: INVALID_SESSION_TOKEN', async () => {
    assert.equal(await failure(await signed({ keyId: SESSION_KEY_ID, secret: SESSION_SECRET })), 'INVALID_SESSION_TOKEN');
    assert.equal(await failure(await signed({ keyId: SESSION_KEY_ID, secret: SESSION_SECRET, token: SESSION_TOKEN + 'x' })), 'INVALID_SESSION_TOKEN');
    assert.equal(await failure(await signed({ token: SESSION_TOKEN })), 'INVALID_SESSION_TOKEN', 'a long-term key with a session token');
  });

  test('an expired session: EXPIRED_SESSION_TOKEN, but only to whoever signs with its credentials', async () => {
    const o = options({ resolve: () => Promise.resolve(undefined), resolveExpired: () => Promise.resolve(session(new Date(NOW.getTime() - 1000))) });
    assert.equal(await failure(await signed({ keyId: SESSION_KEY_ID, secret: SESSION_SECRET, token: SESSION_TOKEN }), o), 'EXPIRED_SESSION_TOKEN');
    assert.equal(await failure(await signed({ keyId: SESSION_KEY_ID, secret: 'guess', token: SESSION_TOKEN }), o), 'SIGNATURE_DOES_NOT_MATCH');
    assert.equal(await failure(await signed({ keyId: SESSION_KEY_ID, secret: SESSION_SECRET, token: 'guess' }), o), 'INVALID_SESSION_TOKEN');
  });

  test('x-amz-content-sha256 not matching the body: PAYLOAD_HASH_MISMATCH', async () => {
    const hash = createHash('sha256').update('{"x":"y"}').digest('hex');
    const r = await signed({ body: '{"x":"y"}', headers: { 'x-amz-content-sha256': hash } });
    assert.equal(await failure({ ...r, body: Buffer.from('{"x":"z"}') }), 'PAYLOAD_HASH_MISMATCH');
    const unsigned = await signed({ body: '{"x":"y"}', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    assert.equal(await failure(unsigned), 'PAYLOAD_HASH_MISMATCH');
  });
});

test('parseAuthorization: the three components, each once', () => {
  const p = parseAuthorization(`AWS4-HMAC-SHA256 Credential=${KEY_ID}/20261205/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`);
  assert.ok(typeof p !== 'string');
  assert.deepEqual(p.signedHeaders, ['host', 'x-amz-date']);
  assert.equal(typeof parseAuthorization(`AWS4-HMAC-SHA256 Credential=${KEY_ID}/20261205/us-east-1/iot/aws4_request, Credential=x, SignedHeaders=host, Signature=${'0'.repeat(64)}`), 'string');
});
