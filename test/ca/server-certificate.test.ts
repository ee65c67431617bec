import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, sign, verify } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CaError, GatewayCa, type IssuedCertificate } from '../../src/ca/authority.js';
import {
  ServerCertificateManager, loadServerCertificate, type RotationReason, type ServerCertificateManagerOptions,
} from '../../src/ca/server-certificate.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

const EC = { caType: 'ECDSA_P256' } as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK_S = 7 * 86_400;

function keyMatches(c: IssuedCertificate): boolean {
  const data = Buffer.from('x');
  return verify('sha256', data, new X509Certificate(c.certificatePem).publicKey, sign('sha256', data, createPrivateKey(c.privateKeyPem)));
}

function sanOf(c: IssuedCertificate): string {
  return new X509Certificate(c.certificatePem).subjectAltName ?? '';
}

interface Fixture {
  dataDir: string;
  ca: GatewayCa;
  clock: { t: number };
  start(extra?: Partial<ServerCertificateManagerOptions>): Promise<ServerCertificateManager>;
}

async function fixture(t: TestContext): Promise<Fixture> {
  const dataDir = await makeTempDir(t);
  const ca = await GatewayCa.open({ dataDir, config: EC });
  const clock = { t: Date.now() };
  const managers: ServerCertificateManager[] = [];
  t.after(() => managers.forEach((m) => m.stop()));
  return {
    dataDir,
    ca,
    clock,
    async start(extra = {}) {
      const m = await ServerCertificateManager.start({
        ca,
        dataDir,
        hostAddresses: ['127.0.0.1', 'gw.local'],
        detectInterfaceAddresses: false,
        validitySeconds: WEEK_S,
        disableRotation: false,
        now: () => new Date(clock.t),
        checkIntervalMs: 0,
        ...extra,
      });
      managers.push(m);
      return m;
    },
  };
}

function record(m: ServerCertificateManager): { calls: [IssuedCertificate, RotationReason][] } {
  const log = { calls: [] as [IssuedCertificate, RotationReason][] };
  m.subscribe((c, r) => log.calls.push([c, r]));
  return log;
}

test('start issues a certificate and stores key, certificate and chain as one 0600 file; a restart reuses it', async (t) => {
  const f = await fixture(t);
  const m = await f.start();
  const cur = m.current();
  assert.equal(m.lastRotationReason, 'missing');
  assert.ok(keyMatches(cur));
  assert.deepEqual(cur.chainPem, [f.ca.certificatePem]);
  assert.ok(f.ca.issued(cur.certificatePem));
  assert.equal(sanOf(cur), 'IP Address:127.0.0.1, DNS:gw.local, DNS:localhost');
  assert.equal((await stat(join(f.dataDir, 'server'))).mode & 0o777, 0o700);
  const file = join(f.dataDir, 'server', 'server.pem');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(await readFile(file, 'utf8'), cur.certificatePem + f.ca.certificatePem + cur.privateKeyPem);
  m.stop();

  // Restart: reopen the CA from disk, start again: same CA, same server certificate, no rotation.
  const ca2 = await GatewayCa.open({ dataDir: f.dataDir, config: EC });
  assert.equal(ca2.id, f.ca.id);
  const m2 = await ServerCertificateManager.start({
    ca: ca2, dataDir: f.dataDir, hostAddresses: ['gw.local', '127.0.0.1'], detectInterfaceAddresses: false,
    validitySeconds: WEEK_S, disableRotation: false, checkIntervalMs: 0,
  });
  t.after(() => m2.stop());
  assert.equal(m2.current().id, cur.id);
  assert.equal(m2.current().privateKeyPem, cur.privateKeyPem);
  assert.equal(m2.lastRotationReason, undefined);
  assert.equal(await m2.check(), false);
});

test('re-issued when less than 24 h remain, not at exactly 24 h', async (t) => {
  const f = await fixture(t);
  const m = await f.start();
  const log = record(m);
  const first = m.current();
  assert.equal(await m.check(), false);
  assert.equal(log.calls.length, 0, 'subscribe does not call the listener');
  f.clock.t = first.notAfter.getTime() - DAY;
  assert.equal(await m.check(), false, 'exactly 24 h left');
  f.clock.t += 1;
  assert.equal(await m.check(), true);
  assert.equal(log.calls.length, 1);
  assert.equal(log.calls[0]?.[1], 'expiring');
  const second = m.current();
  assert.notEqual(second.id, first.id);
  assert.equal(second.notAfter.getTime(), Math.floor(f.clock.t / 1000) * 1000 + WEEK_S * 1000);
  assert.equal(await m.check(), false, 'fresh certificate is left alone');
  const stored = await loadServerCertificate(f.dataDir);
  assert.ok(stored.status === 'ok' && stored.certificate.id === second.id, 'the new pair is on disk');
});

test('a validity of 24 h or less rotates at half-life instead of on every check', async (t) => {
  const f = await fixture(t);
  const m = await f.start({ validitySeconds: 3600 });
  assert.equal(await m.check(), false);
  f.clock.t += 1799_000;
  assert.equal(await m.check(), false);
  f.clock.t += 2_000;
  assert.equal(await m.check(), true);
});

test('disableRotation suppresses time-based re-issue of a valid certificate but not of an expired one', async (t) => {
  const f = await fixture(t);
  const m = await f.start({ disableRotation: true });
  const first = m.current();
  f.clock.t = first.notAfter.getTime() - HOUR;
  assert.equal(await m.check(), false);
  assert.equal(m.current().id, first.id);
  f.clock.t = first.notAfter.getTime();
  assert.equal(await m.check(), true);
  assert.equal(m.lastRotationReason, 'expired');
});

test('re-issued when the configured host addresses change; same set in another order or case is no change', async (t) => {
  const f = await fixture(t);
  const m = await f.start();
  const log = record(m);
  await m.setHostAddresses(['GW.LOCAL', '127.0.0.1', 'localhost']);
  assert.equal(log.calls.length, 0);
  await m.setHostAddresses(['127.0.0.1', 'gw.local', '2001:DB8::7']);
  assert.equal(log.calls.length, 1);
  assert.equal(log.calls[0]?.[1], 'hosts-changed');
  assert.equal(sanOf(m.current()), 'IP Address:127.0.0.1, DNS:gw.local, IP Address:2001:DB8:0:0:0:0:0:7, DNS:localhost');
  const before = m.current().id;
  await assert.rejects(m.setHostAddresses(['gw.local:8883']), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_HAS_PORT');
  assert.equal(m.current().id, before);
  assert.equal(await m.check(), false, 'the rejected list was not adopted');
});

test('re-issued when detected interface addresses change (only when detection is on)', async (t) => {
  const f = await fixture(t);
  let ifaces = ['127.0.0.1', '::1', '192.0.2.10'];
  const m = await f.start({ detectInterfaceAddresses: true, interfaceAddresses: () => ifaces, hostAddresses: ['gw.local'] });
  assert.equal(sanOf(m.current()), 'DNS:gw.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.0.2.10, DNS:localhost');
  assert.equal(await m.check(), false);
  ifaces = ['127.0.0.1', '::1', '192.0.2.11'];
  assert.equal(await m.check(), true);
  assert.equal(m.lastRotationReason, 'hosts-changed');
  assert.match(sanOf(m.current()), /192\.0\.2\.11/);

  const off = await fixture(t);
  const m2 = await off.start({ detectInterfaceAddresses: false, interfaceAddresses: () => ifaces });
  assert.doesNotMatch(sanOf(m2.current()), /192\.0\.2/);
  ifaces = ['10.9.9.9'];
  assert.equal(await m2.check(), false);
});

test('re-issued when the CA changes, even with disableRotation', async (t) => {
  const f = await fixture(t);
  const m = await f.start({ disableRotation: true });
  const log = record(m);
  const other = await GatewayCa.open({ dataDir: await makeTempDir(t), config: EC });
  await m.setCa(other);
  assert.equal(log.calls.length, 1);
  assert.equal(log.calls[0]?.[1], 'ca-changed');
  assert.ok(other.issued(m.current().certificatePem));
  assert.ok(!f.ca.issued(m.current().certificatePem));
  assert.deepEqual(m.current().chainPem, [other.certificatePem]);
  await m.setCa(other);
  assert.equal(log.calls.length, 1, 'same CA again: nothing to do');
});

test('a restart with a different CA re-issues the stored certificate, even with disableRotation', async (t) => {
  const f = await fixture(t);
  const m = await f.start({ disableRotation: true });
  const oldId = m.current().id;
  m.stop();
  // The operator moves the managed CA aside: the next open generates a new one.
  await rename(join(f.dataDir, 'ca', 'managed-ca.pem'), join(f.dataDir, 'ca', 'managed-ca.pem.old'));
  const newCa = await GatewayCa.open({ dataDir: f.dataDir, config: EC });
  assert.notEqual(newCa.id, f.ca.id);
  const m2 = await ServerCertificateManager.start({
    ca: newCa, dataDir: f.dataDir, hostAddresses: ['127.0.0.1', 'gw.local'], detectInterfaceAddresses: false,
    validitySeconds: WEEK_S, disableRotation: true, checkIntervalMs: 0,
  });
  t.after(() => m2.stop());
  assert.equal(m2.lastRotationReason, 'ca-changed');
  assert.notEqual(m2.current().id, oldId);
  assert.ok(newCa.issued(m2.current().certificatePem));
});

test('subscribers get key, certificate and chain on every rotation; unsubscribe works; a throwing listener does not stop the others', async (t) => {
  const f = await fixture(t);
  const errors: unknown[] = [];
  const m = await f.start({ onError: (e) => errors.push(e) });
  const seen: IssuedCertificate[] = [];
  m.subscribe(() => {
    throw new Error('listener bug');
  });
  const unsubscribe = m.subscribe((c) => seen.push(c));
  const late: IssuedCertificate[] = [];
  m.subscribe((c) => late.push(c));
  await m.setHostAddresses(['a.local']);
  assert.equal(seen.length, 1);
  assert.equal(late.length, 1);
  assert.equal(errors.length, 1);
  const c = seen[0] as IssuedCertificate;
  assert.ok(c.privateKeyPem.includes('BEGIN PRIVATE KEY') && keyMatches(c));
  assert.deepEqual(c.chainPem, [f.ca.certificatePem]);
  assert.equal(c.id, m.current().id);
  unsubscribe();
  await m.setHostAddresses(['b.local']);
  assert.equal(seen.length, 1);
  assert.equal(late.length, 2);
});

test('the periodic check rotates on its own and stops with stop()', async (t) => {
  const f = await fixture(t);
  // The interval is driven by mock timers: each tick is the event, no waiting on the clock.
  t.mock.timers.enable({ apis: ['setInterval'] });
  const m = await f.start({ checkIntervalMs: 20 });
  const rotated = new Promise<RotationReason>((resolve) => m.subscribe((_c, r) => resolve(r)));
  const log = record(m);
  f.clock.t = m.current().notAfter.getTime() - HOUR;
  t.mock.timers.tick(20);
  assert.equal(await rotated, 'expiring');
  assert.equal(log.calls.length, 1);
  m.stop();
  const checks = t.mock.method(m, 'check');
  f.clock.t = m.current().notAfter.getTime() - HOUR;
  t.mock.timers.tick(1000); // fifty intervals: a timer left running would call check() at once
  assert.equal(checks.mock.callCount(), 0);
  assert.equal(log.calls.length, 1);
});

test('concurrent host changes are applied in order', async (t) => {
  const f = await fixture(t);
  const m = await f.start();
  await Promise.all([m.setHostAddresses(['one.local']), m.setHostAddresses(['two.local']), m.check(), m.setHostAddresses(['three.local'])]);
  assert.equal(sanOf(m.current()), 'DNS:three.local, DNS:localhost');
  const stored = await loadServerCertificate(f.dataDir);
  assert.ok(stored.status === 'ok' && stored.certificate.id === m.current().id);
});

test('a damaged or mismatched server.pem is replaced at start', async (t) => {
  const f = await fixture(t);
  const m = await f.start();
  const good = m.current();
  m.stop();
  const file = join(f.dataDir, 'server', 'server.pem');
  await writeFile(file, 'junk', { mode: 0o600 });
  assert.equal((await loadServerCertificate(f.dataDir)).status, 'unreadable');
  const m2 = await f.start();
  assert.equal(m2.lastRotationReason, 'unreadable');
  m2.stop();
  // Certificate of one pair with the key of another.
  const other = await f.ca.issueServerCertificate({ hosts: ['127.0.0.1', 'gw.local'], validitySeconds: WEEK_S });
  await writeFile(file, good.certificatePem + f.ca.certificatePem + other.privateKeyPem, { mode: 0o600 });
  const loaded = await loadServerCertificate(f.dataDir);
  assert.equal(loaded.status, 'unreadable');
  assert.match((loaded as { reason: string }).reason, /does not match/);
  const m3 = await f.start();
  assert.equal(m3.lastRotationReason, 'unreadable');
  assert.ok(keyMatches(m3.current()));
});

test('start refuses invalid host addresses and validity with coded errors', async (t) => {
  const f = await fixture(t);
  await assert.rejects(f.start({ hostAddresses: ['[::1]:8883'] }), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_HAS_PORT');
  await assert.rejects(f.start({ hostAddresses: ['bad host'] }), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_INVALID');
  await assert.rejects(f.start({ validitySeconds: 10 }), (e: unknown) => e instanceof CaError && e.code === 'CA_VALIDITY_INVALID');
});
