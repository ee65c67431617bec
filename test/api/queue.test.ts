/**
 * Identity work is bounded: with performance.maxConcurrentCloudRequests = 1 and
 * performance.cloudRequestQueueSize = 1, floods of real verify and token requests
 * (each with a long certificate chain) get 429 API_QUEUE_FULL answers, every other
 * request its normal answer, and nothing hangs. A reload with a larger queue applies
 * to the next flood. (The limiter's exact behaviour is unit-tested in
 * limiter.test.ts.)
 *
 * Which requests of a flood of separate connections are refused depends on how the
 * server's reads interleave, so that test asserts only well-formed answers and no
 * hang. The deterministic one pipelines its requests on one connection in a single
 * write: the server reads many complete requests per read, so while one runs and one
 * waits, the rest of that read is refused.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { GatewayProcess, type Device } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { errorOf, type ApiClient, type ApiResponse, type ErrorBody, type TokenBody } from './client.js';
import { POLICIES, apiClient, gatehouseSection, scrape, tokenBody, verifyBody } from './helpers.js';

const config = (queue: number): string => `${POLICIES}
performance:
  maxConcurrentCloudRequests: 1
  cloudRequestQueueSize: ${queue}
${gatehouseSection()}`;

/** The device certificate followed by 7 more certificates, with a unique preamble so no cache can answer it. */
function longChain(device: Device, i: number): string {
  return `request ${i}\n${device.cert.toString()}${String(device.ca).repeat(7)}`;
}

async function flood(api: ApiClient, device: Device, n: number): Promise<ApiResponse[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0
    ? api.post('/v1/verify-client-device-identity', verifyBody(longChain(device, i)), { timeoutMs: 30_000 })
    : api.post('/v1/get-client-device-auth-token', tokenBody(device.name, longChain(device, i)), { timeoutMs: 30_000 }))));
}

interface RawAnswer {
  readonly status: number;
  readonly headers: string;
  readonly body: unknown;
}

/** Sends `bodies` as pipelined HTTP/1.1 requests in one write; resolves with the answers, in order. */
function pipelined(apiUrl: string, apiToken: string, path: string, bodies: readonly string[]): Promise<RawAnswer[]> {
  const u = new URL(apiUrl);
  const wire = bodies.map((b) => `POST ${path} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${apiToken}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`).join('');
  return new Promise((resolve, reject) => {
    const answers: RawAnswer[] = [];
    let buf = Buffer.alloc(0);
    const socket = connect({ host: u.hostname, port: Number(u.port) }, () => socket.write(wire));
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no complete answer within 30 s (${answers.length} of ${bodies.length})`)));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buf.toString('latin1', 0, headEnd);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? NaN);
        if (!Number.isFinite(length)) return reject(new Error(`answer without content-length: ${head}`));
        if (buf.length < headEnd + 4 + length) return;
        answers.push({ status: Number(head.slice(9, 12)), headers: head, body: JSON.parse(buf.toString('utf8', headEnd + 4, headEnd + 4 + length)) });
        buf = buf.subarray(headEnd + 4 + length);
        if (answers.length === bodies.length) {
          socket.end();
          return resolve(answers);
        }
      }
    });
    socket.on('error', reject);
  });
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

  test('beyond the queue: 429 API_QUEUE_FULL with Retry-After at once, not a hang; the others are answered normally', async (t) => {
    const before = await scrape(api);
    const started = Date.now();
    const bodies = Array.from({ length: 100 }, (_, i) => JSON.stringify(verifyBody(longChain(device, i))));
    const answers = await pipelined(api.url, api.token!, '/v1/verify-client-device-identity', bodies);
    const elapsed = Date.now() - started;
    const refused = answers.filter((r) => r.status === 429);
    t.diagnostic(`${refused.length} of ${answers.length} refused; ${elapsed} ms`);
    assert.ok(refused.length >= 1, 'at least one request was refused');
    assert.ok(refused.length < answers.length, 'some requests were served');
    for (const r of answers) {
      if (r.status === 429) {
        assert.equal((r.body as ErrorBody).error.code, 'API_QUEUE_FULL');
        assert.match(r.headers, /\r\nretry-after: 1\r\n/i);
      } else {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body, { isValidClientDevice: true });
      }
    }
    assert.ok(elapsed < 25_000, `took ${elapsed} ms`);
    const m = await scrape(api);
    assert.equal(m.get('gatehouse_identity_work_rejected_total')! - (before.get('gatehouse_identity_work_rejected_total') ?? 0), refused.length);
    assert.equal(m.get('gatehouse_service_errors_total')! - (before.get('gatehouse_service_errors_total') ?? 0), refused.length);
    assert.equal(m.get('gatehouse_identity_work_running'), 0);
    assert.equal(m.get('gatehouse_identity_work_waiting'), 0);
  });

  test('a flood of separate connections: every request gets its answer or a 429, none hangs', async (t) => {
    const started = Date.now();
    const answers = await flood(api, device, 200);
    const elapsed = Date.now() - started;
    t.diagnostic(`${answers.filter((r) => r.status === 429).length} of ${answers.length} refused; ${elapsed} ms`);
    for (const [i, r] of answers.entries()) {
      if (r.status === 429) {
        assert.equal(errorOf(r).code, 'API_QUEUE_FULL');
        continue;
      }
      assert.equal(r.status, 200, r.text);
      if (i % 2 === 0) assert.deepEqual(r.json, { isValidClientDevice: true });
      else assert.match((r.json as TokenBody).clientDeviceAuthToken, /^[A-Za-z0-9_-]{43}$/);
    }
    assert.ok(elapsed < 25_000, `took ${elapsed} ms`);
  });

  test('a reload with a larger queue applies to the next flood', async () => {
    const mark = gw.lines.length;
    await gw.writeConfig(config(1000));
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.includes('config-applied'), 10_000, mark);
    const answers = await flood(api, device, 200);
    assert.deepEqual(answers.filter((r) => r.status !== 200).map((r) => r.text), []);
    const bodies = Array.from({ length: 100 }, (_, i) => JSON.stringify(verifyBody(longChain(device, i))));
    const piped = await pipelined(api.url, api.token!, '/v1/verify-client-device-identity', bodies);
    assert.deepEqual(piped.filter((r) => r.status !== 200), []);
  });
});
