/**
 * `POST /v1/authorize-client-device-actions`, the batch form of the authorize call, end
 * to end against a real `gatehouse start`: every entry answered as the single call
 * answers it, in order; the limits; the counters.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AUTHORIZE_BATCH_MAX } from '../../src/api/schemas.js';
import { GatewayProcess, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { errorOf, type ApiClient } from './client.js';
import { POLICIES, apiClient, gatehouseSection, newToken, scrape } from './helpers.js';

const BODY_LIMIT = 1_048_576;
const CONFIG = POLICIES + gatehouseSection(`  api: { bodyLimitBytes: ${BODY_LIMIT} }`);
const BATCH = '/v1/authorize-client-device-actions';
const SINGLE = '/v1/authorize-client-device-action';

interface Entry {
  clientDeviceAuthToken: string;
  operation: string;
  resource: string;
}
interface Result {
  isAuthorized: boolean;
  reason?: string;
  error?: { code: string; message: string };
}

describe('POST /v1/authorize-client-device-actions', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let api: ApiClient;
  let sensor: Device;
  let reader: Device;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    api = await apiClient(gw);
    sensor = await gw.createThing('sensor-1');
    reader = await gw.createThing('reader-1');
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  const batch = (requests: unknown, token?: string | null): ReturnType<ApiClient['post']> => api.post(BATCH, { requests }, token === undefined ? {} : { token });

  test('each entry gets the answer the single call gives it, in order, tokens of several devices mixed', async () => {
    const s = await newToken(api, 'sensor-1', sensor.cert);
    // reader-1: `replaced` by `closed`, which is then closed, then a `live` one.
    const replaced = await newToken(api, 'reader-1', reader.cert);
    const closed = await newToken(api, 'reader-1', reader.cert);
    assert.equal((await api.delete(`/v1/sessions/${encodeURIComponent(closed)}`)).status, 204);
    const live = await newToken(api, 'reader-1', reader.cert);
    const entries: Entry[] = [];
    const add = (token: string, operation: string, resource: string): number => entries.push({ clientDeviceAuthToken: token, operation, resource });
    add(s, 'mqtt:connect', 'mqtt:clientId:sensor-1');
    add(s, 'mqtt:connect', 'mqtt:clientId:sensor-2');
    add(live, 'mqtt:subscribe', 'mqtt:topicfilter:sensors/#');
    add(s, 'mqtt:publish', 'mqtt:topic:sensors/sensor-1/temp');
    add('no-such-token', 'mqtt:publish', 'mqtt:topic:sensors/sensor-1/temp');
    add(s, 'mqtt:publish', 'mqtt:topic:sensors/sensor-1/secret');
    add('ALLOW_ALL', 'mqtt:connect', 'mqtt:clientId:sensor-1');
    add(replaced, 'mqtt:connect', 'mqtt:clientId:reader-1');
    add(closed, 'mqtt:connect', 'mqtt:clientId:reader-1');
    add(live, 'mqtt:connect', 'mqtt:clientId:reader-1');
    add(live, 'mqtt:publish', 'mqtt:topic:sensors/x');
    add(s, 'mqtt:delete', 'mqtt:topic:x');
    add(s, 'mqtt:publish', 'mqtt:topicfilter:x');
    add(s, 'mqtt:publish', 'topic');
    add(s, 'mqtt:publish', 'mqtt:topic:sensors/sensor-1/temp');
    const res = await batch(entries);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    const results = (res.json as { results: Result[] }).results;
    assert.equal(results.length, entries.length);
    for (const [i, e] of entries.entries()) {
      const one = await api.post<Result & { error?: { code: string; message: string } }>(SINGLE, e);
      const expected = one.status === 200 ? one.json : { isAuthorized: false, error: one.json.error };
      assert.ok(one.status === 200 || one.status === 404, one.text);
      assert.deepEqual(results[i], expected, `entry ${i}: ${JSON.stringify(e)}`);
    }
    // What the cases cover, so that the comparison above is not vacuous.
    assert.deepEqual(results.map((x) => x.reason ?? x.error?.code), [
      'ALLOWED_BY_STATEMENT', 'NO_MATCHING_STATEMENT', 'ALLOWED_BY_STATEMENT', 'ALLOWED_BY_STATEMENT', 'InvalidClientDeviceAuthTokenError',
      'DENIED_BY_STATEMENT', 'InvalidClientDeviceAuthTokenError', 'InvalidClientDeviceAuthTokenError', 'InvalidClientDeviceAuthTokenError',
      'ALLOWED_BY_STATEMENT', 'NO_MATCHING_STATEMENT', 'UNKNOWN_OPERATION', 'RESOURCE_TYPE_MISMATCH', 'MALFORMED_RESOURCE', 'ALLOWED_BY_STATEMENT',
    ]);
    assert.deepEqual(results[4], { isAuthorized: false, error: { code: 'InvalidClientDeviceAuthTokenError', message: 'unknown, closed or expired client device auth token' } });
  });

  test('a batch of only unknown tokens is still 200, every entry false with the error', async () => {
    const res = await batch([{ clientDeviceAuthToken: 'x', operation: 'mqtt:connect', resource: 'mqtt:clientId:x' }, { clientDeviceAuthToken: 'y', operation: 'mqtt:connect', resource: 'mqtt:clientId:y' }]);
    assert.equal(res.status, 200);
    for (const r of (res.json as { results: Result[] }).results) {
      assert.equal(r.isAuthorized, false);
      assert.equal(r.error?.code, 'InvalidClientDeviceAuthTokenError');
      assert.equal(r.reason, undefined);
    }
  });

  test('every entry is counted as a single call: outcomes, denials, decision latency', async () => {
    const s = await newToken(api, 'sensor-1', sensor.cert);
    const before = await scrape(api);
    const entry = (resource: string, token = s): Entry => ({ clientDeviceAuthToken: token, operation: 'mqtt:publish', resource });
    const res = await batch([entry('mqtt:topic:sensors/sensor-1/a'), entry('mqtt:topic:sensors/sensor-1/b'), entry('mqtt:topic:elsewhere'), entry('mqtt:topic:x', 'unknown')]);
    assert.equal(res.status, 200);
    const after = await scrape(api);
    const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(delta('gatehouse_authorize_client_device_actions_total{result="success"}'), 2);
    assert.equal(delta('gatehouse_authorize_client_device_actions_total{result="failure"}'), 2);
    assert.equal(delta('gatehouse_denials_total{operation="mqtt:publish"}'), 1);
    assert.equal(delta('gatehouse_decision_duration_seconds_count{operation="mqtt:publish"}'), 3);
    assert.equal(delta(`gatehouse_api_responses_total{route="${BATCH}",status="200"}`), 1);
  });

  test(`1 to ${AUTHORIZE_BATCH_MAX} entries; more, none or no array is 400 naming \`requests\``, async () => {
    const s = await newToken(api, 'sensor-1', sensor.cert);
    const many = (n: number): Entry[] => Array.from({ length: n }, (_, i) => ({ clientDeviceAuthToken: s, operation: 'mqtt:publish', resource: `mqtt:topic:sensors/sensor-1/${i}` }));
    const full = await batch(many(AUTHORIZE_BATCH_MAX));
    assert.equal(full.status, 200);
    const results = (full.json as { results: Result[] }).results;
    assert.equal(results.length, AUTHORIZE_BATCH_MAX);
    assert.ok(results.every((r) => r.isAuthorized && r.reason === 'ALLOWED_BY_STATEMENT'));
    const cases: [unknown, RegExp][] = [
      [many(AUTHORIZE_BATCH_MAX + 1), /^field `requests` must have at most 1000 entries; split it into several requests$/],
      [[], /^field `requests` must not be empty$/],
      [{ clientDeviceAuthToken: s, operation: 'mqtt:publish', resource: 'mqtt:topic:x' }, /must be of type array/],
    ];
    for (const [requests, message] of cases) {
      const r = await batch(requests);
      assert.equal(r.status, 400, r.text);
      assert.equal(errorOf(r).code, 'API_INVALID_REQUEST');
      assert.equal(errorOf(r).path, 'requests');
      assert.match(errorOf(r).message, message);
    }
    // The single call's body sent to the batch route.
    const single = await api.post(BATCH, { clientDeviceAuthToken: s, operation: 'mqtt:publish', resource: 'mqtt:topic:x' });
    assert.equal(single.status, 400);
    assert.equal(errorOf(single).code, 'API_INVALID_REQUEST');
  });

  test('an entry the single call would refuse with 400 makes the whole batch a 400 naming it, before any decision', async () => {
    const s = await newToken(api, 'sensor-1', sensor.cert);
    const ok: Entry = { clientDeviceAuthToken: s, operation: 'mqtt:publish', resource: 'mqtt:topic:sensors/sensor-1/a' };
    const before = await scrape(api);
    const cases: [unknown, string, RegExp][] = [
      [{ ...ok, operation: ' ' }, 'requests[2].operation', /must not be blank/],
      [{ ...ok, resource: '' }, 'requests[2].resource', /must not be empty/],
      [{ operation: 'mqtt:publish', resource: 'mqtt:topic:x' }, 'requests[2].clientDeviceAuthToken', /is required/],
      [{ ...ok, extra: 1 }, 'requests[2].extra', /is not a known field/],
      [{ ...ok, operation: 7 }, 'requests[2].operation', /must be of type string/],
      ['x', 'requests[2]', /must be of type object/],
    ];
    for (const [bad, path, message] of cases) {
      const r = await batch([ok, ok, bad, ok]);
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
      assert.equal(errorOf(r).code, 'API_INVALID_REQUEST');
      assert.equal(errorOf(r).path, path, JSON.stringify(bad));
      assert.match(errorOf(r).message, message);
      assert.ok(errorOf(r).message.includes(`\`${path}\``), errorOf(r).message);
    }
    const after = await scrape(api);
    assert.equal(after.get('gatehouse_decision_duration_seconds_count{operation="mqtt:publish"}'), before.get('gatehouse_decision_duration_seconds_count{operation="mqtt:publish"}'), 'nothing was decided');
  });

  test('a batch larger than gatehouse.api.bodyLimitBytes is 413, whatever its count', async () => {
    const big = Array.from({ length: 900 }, () => ({ clientDeviceAuthToken: 'x', operation: 'mqtt:publish', resource: `mqtt:topic:${'t'.repeat(1200)}` }));
    // The answer comes on the declared length, before any of the body is read.
    const r = await api.post(BATCH, { requests: big }, { headersOnly: true });
    assert.ok(JSON.stringify({ requests: big }).length > BODY_LIMIT);
    assert.equal(r.status, 413);
    assert.equal(errorOf(r).code, 'API_BODY_TOO_LARGE');
  });

  test('needs the API token like every other call', async () => {
    const r = await batch([{ clientDeviceAuthToken: 'x', operation: 'mqtt:connect', resource: 'mqtt:clientId:x' }], null);
    assert.equal(r.status, 401);
    assert.equal(errorOf(r).code, 'API_UNAUTHORIZED');
  });
});
