/**
 * The EMQX 5 HTTP authentication and authorization backends, with request bodies
 * shaped as EMQX renders the templates of docs/emqx.md (placeholders EMQX cannot fill
 * become empty strings; numbers and flags arrive as strings).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GatewayProcess, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import type { ApiClient, EmqxAuthnBody, EmqxAuthzBody } from './client.js';
import { POLICIES, apiClient, gatehouseSection, scrape } from './helpers.js';

const CONFIG = POLICIES + gatehouseSection();

/** What EMQX sends for authentication with the documented template. */
function authnBody(clientid: string, extra: Record<string, string> = {}): Record<string, string> {
  return { clientid, username: '', peerhost: '127.0.0.1', cert_common_name: clientid, cert_subject: `CN=${clientid}`, ...extra };
}

/** What EMQX sends for authorization with the documented template. */
function authzBody(clientid: string, action: string, topic: string, extra: Record<string, string> = {}): Record<string, string> {
  return { clientid, username: '', peerhost: '127.0.0.1', cert_common_name: clientid, action, topic, qos: '1', retain: 'false', ...extra };
}

describe('EMQX adapter', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let api: ApiClient;
  let sensor: Device;
  let reader: Device;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    api = await apiClient(gw);
    sensor = await gw.createThing('sensor-e1');
    reader = await gw.createThing('reader-e1');
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  const authn = async (body: unknown, raw?: string, contentType?: string): Promise<string> => {
    const r = await api.post<EmqxAuthnBody>('/v1/emqx/authn', body, raw !== undefined ? { raw, ...(contentType ? { contentType } : {}) } : {});
    assert.equal(r.status, 200, `authn answered ${r.status}: ${r.text}`);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.json.is_superuser, false);
    assert.deepEqual(Object.keys(r.json).sort(), ['is_superuser', 'result']);
    return r.json.result;
  };
  const authz = async (body: unknown, raw?: string): Promise<string> => {
    const r = await api.post<EmqxAuthzBody>('/v1/emqx/authz', body, raw !== undefined ? { raw } : {});
    assert.equal(r.status, 200, `authz answered ${r.status}: ${r.text}`);
    assert.deepEqual(Object.keys(r.json), ['result']);
    return r.json.result;
  };

  describe('POST /v1/emqx/authn', () => {
    test('allow: the client ID is the certificate\'s CN and the thing has that ACTIVE certificate and may connect', async () => {
      assert.equal(await authn(authnBody('sensor-e1')), 'allow');
      assert.equal(await authn({ ...authnBody('reader-e1'), zone: 'default', client_attrs: {} }), 'allow');
    });

    test('deny: CN missing or different from the client ID, unknown thing, no mqtt:connect', async () => {
      assert.equal(await authn(authnBody('sensor-e1', { cert_common_name: 'reader-e1' })), 'deny');
      assert.equal(await authn(authnBody('sensor-e1', { cert_common_name: '' })), 'deny');
      const { cert_common_name: _, ...noCn } = authnBody('sensor-e1');
      assert.equal(await authn(noCn), 'deny');
      assert.equal(await authn(authnBody('sensor-unknown')), 'deny');
      await gw.createThing('mute-e1');
      assert.equal(await authn(authnBody('mute-e1')), 'deny');
      assert.equal(await authn(authnBody('bad id!')), 'deny');
    });

    test('peer_cert_as_username = pem: the certificate itself is verified and must be attached to the client ID', async () => {
      assert.equal(await authn(authnBody('sensor-e1', { username: sensor.cert.toString(), cert_common_name: '' })), 'allow');
      assert.equal(await authn(authnBody('sensor-e1', { username: reader.cert.toString(), cert_common_name: '' })), 'deny');
      assert.equal(await authn(authnBody('sensor-e1', { username: sensor.ca.toString() })), 'deny');
    });

    test('a revoked or detached certificate denies from the next request on', async () => {
      const d = await gw.createThing('sensor-e2');
      assert.equal(await authn(authnBody('sensor-e2')), 'allow');
      assert.equal((await gw.cli(['certs', 'revoke', d.certificateId])).code, 0);
      assert.equal(await authn(authnBody('sensor-e2')), 'deny');
      assert.equal(await authn(authnBody('sensor-e2', { username: d.cert.toString() })), 'deny');
      const e = await gw.createThing('sensor-e3');
      assert.equal(await authn(authnBody('sensor-e3')), 'allow');
      assert.equal((await gw.cli(['things', 'detach', 'sensor-e3', e.certificateId])).code, 0);
      assert.equal(await authn(authnBody('sensor-e3')), 'deny');
    });

    test('malformed, mistyped, oversized or non-JSON requests: 200 and deny', async () => {
      assert.equal(await authn(undefined, '{"clientid":'), 'deny');
      assert.equal(await authn(undefined, ''), 'deny');
      assert.equal(await authn(undefined, '{"clientid":"sensor-e1"}', 'text/plain'), 'deny');
      assert.equal(await authn([authnBody('sensor-e1')]), 'deny');
      assert.equal(await authn({ ...authnBody('sensor-e1'), clientid: 7 }), 'deny');
      assert.equal(await authn({ cert_common_name: 'sensor-e1' }), 'deny');
      assert.equal(await authn(authnBody('sensor-e1', { cert_subject: 'x'.repeat(70_000) })), 'deny');
    });

    test('the API token is still required (401), and denials are counted', async () => {
      const r = await api.post('/v1/emqx/authn', authnBody('sensor-e1'), { token: null });
      assert.equal(r.status, 401);
      const before = await scrape(api);
      await authn(authnBody('mute-e1'));
      const after = await scrape(api);
      assert.equal(after.get('gatehouse_denials_total{operation="mqtt:connect"}')! - before.get('gatehouse_denials_total{operation="mqtt:connect"}')!, 1);
    });
  });

  describe('POST /v1/emqx/authz', () => {
    test('publish maps to mqtt:publish on mqtt:topic:TOPIC', async () => {
      assert.equal(await authz(authzBody('sensor-e1', 'publish', 'sensors/sensor-e1/temp')), 'allow');
      assert.equal(await authz(authzBody('sensor-e1', 'publish', 'sensors/sensor-e1/secret')), 'deny');
      assert.equal(await authz(authzBody('sensor-e1', 'publish', 'sensors/reader-e1/temp')), 'deny');
      assert.equal(await authz(authzBody('reader-e1', 'publish', 'sensors/reader-e1/temp')), 'deny');
    });

    test('subscribe maps to mqtt:subscribe on mqtt:topicfilter:FILTER (the filter as a literal)', async () => {
      assert.equal(await authz(authzBody('sensor-e1', 'subscribe', 'commands/sensor-e1')), 'allow');
      assert.equal(await authz(authzBody('sensor-e1', 'subscribe', 'commands/#')), 'deny');
      assert.equal(await authz(authzBody('reader-e1', 'subscribe', 'sensors/#')), 'allow');
      // Not contained-filter matching: `sensors/#` in a policy is compared as a string (Greengrass semantics).
      assert.equal(await authz(authzBody('reader-e1', 'subscribe', 'sensors/+/temp')), 'deny');
      assert.equal(await authz(authzBody('reader-e1', 'subscribe', '#')), 'deny');
    });

    test('deny: unknown action, unknown thing, CN of another device', async () => {
      for (const action of ['all', 'retrieve', '', 'PUBLISH']) assert.equal(await authz(authzBody('sensor-e1', action, 'sensors/sensor-e1/temp')), 'deny', action);
      assert.equal(await authz(authzBody('sensor-ghost', 'publish', 'sensors/sensor-ghost/temp')), 'deny');
      assert.equal(await authz(authzBody('sensor-e1', 'publish', 'sensors/sensor-e1/temp', { cert_common_name: 'reader-e1' })), 'deny');
      // An empty CN (EMQX could not fill it) is not a mismatch.
      assert.equal(await authz(authzBody('sensor-e1', 'publish', 'sensors/sensor-e1/temp', { cert_common_name: '' })), 'allow');
    });

    test('a revoked certificate denies every action from the next request on', async () => {
      const d = await gw.createThing('sensor-e4');
      assert.equal(await authz(authzBody('sensor-e4', 'publish', 'sensors/sensor-e4/x')), 'allow');
      assert.equal((await gw.cli(['certs', 'revoke', d.certificateId])).code, 0);
      assert.equal(await authz(authzBody('sensor-e4', 'publish', 'sensors/sensor-e4/x')), 'deny');
    });

    test('malformed, mistyped, oversized or non-JSON requests: 200 and deny', async () => {
      assert.equal(await authz(undefined, 'not json'), 'deny');
      assert.equal(await authz(undefined, ''), 'deny');
      assert.equal(await authz({ clientid: 'sensor-e1', action: 'publish' }), 'deny');
      assert.equal(await authz({ ...authzBody('sensor-e1', 'publish', 'sensors/sensor-e1/temp'), topic: ['sensors/sensor-e1/temp'] }), 'deny');
      assert.equal(await authz(null), 'deny');
      assert.equal(await authz(authzBody('sensor-e1', 'publish', `sensors/sensor-e1/${'x'.repeat(70_000)}`)), 'deny');
    });
  });
});
