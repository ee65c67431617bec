/**
 * Identity work is bounded: with performance.maxConcurrentCloudRequests = 1 and
 * performance.cloudRequestQueueSize = 1, a flood of real verify and token requests
 * (each with a long certificate chain) gets some 429 API_QUEUE_FULL answers, every
 * other request its normal answer, and nothing hangs. A reload with a larger queue
 * applies to the next flood. (The limiter's exact behaviour is unit-tested in
 * limiter.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GatewayProcess, tempDir, type Device } from '../helpers/gateway.js';
import type { ApiClient, ApiResponse } from './client.js';
import { POLICIES, apiClient, gatehouseSection, scrape, tokenBody, verifyBody } from './helpers.js';

const config = (queue: number): string => `${POLICIES}
performance:
  maxConcurrentCloudRequests: 1
  cloudRequestQueueSize: ${queue}
${gatehouseSection()}`;

/** The device certificate followed by 7 more certificates, with a unique preamble so no cache can answer it. */
function longChain(device: Device, i: number): string {
  return `request ${i}\n${device.cert}${String(device.ca).repeat(7)}`;
}

async function flood(api: ApiClient, device: Device, n: number): Promise<ApiResponse[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0
    ? api.post('/v1/verify-client-device-identity', verifyBody(longChain(device, i)), { timeoutMs: 30_000 })
    : api.post('/v1/get-client-device-auth-token', tokenBody(device.name, longChain(device, i)), { timeoutMs: 30_000 }))));
}

describe('identity work limits (real sockets)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let api: ApiClient;
  let device: Device;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, config(1));
    api = await apiClient(gw);
    device = await gw.createThing('sensor-q1');
  });
  after(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  test('beyond the queue: 429 API_QUEUE_FULL with Retry-After, not a hang; the rest are answered normally', async (t) => {
    const before = await scrape(api);
    const started = Date.now();
    const answers = await flood(api, device, 200);
    const elapsed = Date.now() - started;
    const refused = answers.filter((r) => r.status === 429);
    t.diagnostic(`${refused.length} of ${answers.length} refused; ${elapsed} ms`);
    assert.ok(refused.length >= 1, 'at least one request was refused');
    assert.ok(refused.length < answers.length, 'some requests were served');
    for (const r of refused) {
      assert.equal(r.json.error.code, 'API_QUEUE_FULL');
      assert.equal(r.headers['retry-after'], '1');
    }
    for (const [i, r] of answers.entries()) {
      if (r.status === 429) continue;
      assert.equal(r.status, 200, r.text);
      if (i % 2 === 0) assert.deepEqual(r.json, { isValidClientDevice: true });
      else assert.match(r.json.clientDeviceAuthToken, /^[A-Za-z0-9_-]{43}$/);
    }
    assert.ok(elapsed < 25_000, `took ${elapsed} ms`);
    const m = await scrape(api);
    assert.equal(m.get('gatehouse_identity_work_rejected_total')! - (before.get('gatehouse_identity_work_rejected_total') ?? 0), refused.length);
    assert.equal(m.get('gatehouse_service_errors_total')! - (before.get('gatehouse_service_errors_total') ?? 0), refused.length);
    assert.equal(m.get('gatehouse_identity_work_running'), 0);
    assert.equal(m.get('gatehouse_identity_work_waiting'), 0);
  });

  test('a reload with a larger queue applies to the next flood', async () => {
    const mark = gw.lines.length;
    await gw.writeConfig(config(1000));
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.includes('config-applied'), 10_000, mark);
    const answers = await flood(api, device, 200);
    assert.deepEqual(answers.filter((r) => r.status !== 200).map((r) => r.text), []);
  });
});
