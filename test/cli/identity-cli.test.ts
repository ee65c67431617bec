/**
 * End-to-end tests of the identity commands: each runs `node dist/src/cli/main.js` in
 * a child process, as an operator would, against a temporary data directory.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { registryPath, SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { SessionManager } from '../../src/identity/sessions.js';
import type { InvalidationReason } from '../../src/identity/errors.js';
import { makeCa, makeLeaf, type TestCert } from '../helpers/pki.js';
import { tempDir } from '../helpers/tmp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DAY = 86_400_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gatehouse(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function json<T = Record<string, unknown>>(r: Run): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function failed(r: Run, exit: number, code: string): void {
  assert.equal(r.code, exit, `expected exit ${exit} with ${code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`error ${code}:`));
}

const hasOpenssl = ((): boolean => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('gatehouse things/certs/ca', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let data: string;
  let out: string;
  const dd = (): string[] => ['--data-dir', data];

  before(async () => {
    ({ path: dir, cleanup } = await tempDir('gatehouse-cli-'));
    data = join(dir, 'data');
    out = join(dir, 'out');
  });
  after(() => cleanup());

  describe('things create', () => {
    let created: { thingName: string; certificateId: string; thing: { name: string; attributes: Record<string, string> }; certificate: { id: string; status: string }; files: Record<string, string> };

    before(async () => {
      created = json(await gatehouse(['things', 'create', 'sensor-1', '--attribute', 'room=kitchen', '--attribute', 'floor=2', '--out', out, '--json', ...dd()]));
    });

    it('registers the thing ACTIVE and attached, and writes cert, key (0600) and ca.pem', () => {
      assert.deepEqual(created.thing.attributes, { room: 'kitchen', floor: '2' });
      assert.equal(created.certificate.status, 'ACTIVE');
      assert.equal(created.thingName, 'sensor-1');
      assert.equal(created.certificateId, created.certificate.id);
      assert.match(created.certificate.id, /^[0-9a-f]{64}$/);
      assert.deepEqual(created.files, { certificate: join(out, 'sensor-1.cert.pem'), privateKey: join(out, 'sensor-1.key.pem'), ca: join(out, 'ca.pem') });
      assert.equal(statSync(join(out, 'sensor-1.key.pem')).mode & 0o777, 0o600);
      assert.match(readFileSync(join(out, 'sensor-1.key.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
      assert.match(readFileSync(join(out, 'sensor-1.cert.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/);
      assert.equal(statSync(data).mode & 0o777, 0o700);
      assert.equal(statSync(registryPath(data)).mode & 0o777, 0o600);
    });

    it('issues a certificate OpenSSL verifies against ca.pem, for TLS client auth, named after the thing', { skip: !hasOpenssl && 'openssl not installed' }, () => {
      const verify = execFileSync('openssl', ['verify', '-CAfile', join(out, 'ca.pem'), join(out, 'sensor-1.cert.pem')], { encoding: 'utf8' });
      assert.match(verify, /sensor-1\.cert\.pem: OK/);
      const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', join(out, 'sensor-1.cert.pem')], { encoding: 'utf8' });
      assert.match(text, /Subject:.*CN ?= ?sensor-1/);
      assert.match(text, /TLS Web Client Authentication/);
      const keyCheck = execFileSync('openssl', ['pkey', '-in', join(out, 'sensor-1.key.pem'), '-pubout'], { encoding: 'utf8' });
      const certKey = execFileSync('openssl', ['x509', '-noout', '-pubkey', '-in', join(out, 'sensor-1.cert.pem')], { encoding: 'utf8' });
      assert.equal(keyCheck, certKey, 'the key matches the certificate');
    });

    it('gives a certificate that opens a session through the registry, with no special treatment', async () => {
      const registry = SqliteRegistry.open({ file: registryPath(data) });
      const manager = new SessionManager({ registry, maxActiveAuthTokens: 5 });
      try {
        const pem = readFileSync(join(out, 'sensor-1.cert.pem'), 'utf8');
        const r = await manager.createSession({ clientId: 'sensor-1', certificatePem: pem, now: new Date() });
        assert.ok(r.ok, r.ok ? '' : r.message);
        assert.deepEqual(r.session.attributes, { room: 'kitchen', floor: '2' });
        const wrong = await manager.createSession({ clientId: 'sensor-2', certificatePem: pem, now: new Date() });
        assert.equal(wrong.ok ? 'ok' : wrong.reason, 'THING_NOT_FOUND');
      } finally {
        manager.stop();
        await registry.close();
      }
    });

    it('refuses an existing thing, existing files, bad and over-long names; usage errors exit 2', async () => {
      failed(await gatehouse(['things', 'create', 'sensor-1', '--out', out, ...dd()]), 1, 'FILE_EXISTS');
      failed(await gatehouse(['things', 'create', 'sensor-1', '--out', join(dir, 'other'), ...dd()]), 1, 'THING_EXISTS');
      failed(await gatehouse(['things', 'create', 'bad/name', '--out', join(dir, 'other'), ...dd()]), 2, 'THING_NAME_INVALID');
      failed(await gatehouse(['things', 'create', 'x'.repeat(129), '--out', join(dir, 'other'), ...dd()]), 2, 'THING_NAME_INVALID');
      failed(await gatehouse(['things', 'create', 'ok-name', '--attribute', 'novalue', '--out', join(dir, 'other'), ...dd()]), 2, 'USAGE');
      failed(await gatehouse(['things', 'create', 'ok-name', '--attribute', 'k=bad value', '--out', join(dir, 'other'), ...dd()]), 2, 'THING_ATTRIBUTE_INVALID');
      const noOut = await gatehouse(['things', 'create', 'ok-name', ...dd()]);
      assert.equal(noOut.code, 2);
      assert.match(noOut.stderr, /--out/);
      const list = json<{ name: string }[]>(await gatehouse(['things', 'list', '--json', ...dd()]));
      assert.deepEqual(list.map((t) => t.name), ['sensor-1'], 'nothing was stored by the failures');
    });

    it('keeps the registry and the CA across runs (restart)', async () => {
      const show = await gatehouse(['ca', 'show', ...dd()]);
      assert.equal(show.code, 0, show.stderr);
      assert.equal(show.stdout.trim(), readFileSync(join(out, 'ca.pem'), 'utf8').trim());
      const listed = json<{ name: string; certificates: string[] }[]>(await gatehouse(['things', 'list', '--json', ...dd()]));
      assert.deepEqual(listed.map((t) => [t.name, t.certificates]), [['sensor-1', [created.certificate.id]]]);
      const cas = json<{ source: string }[]>(await gatehouse(['ca', 'list', '--json', ...dd()]));
      assert.deepEqual(cas.map((c) => c.source), ['gateway'], 'the gateway CA is trusted once, not again on every run');
    });

    it('uses GATEHOUSE_DATA_DIR when --data-dir is not given', async () => {
      const listed = json<{ name: string }[]>(await gatehouse(['things', 'list', '--json'], { GATEHOUSE_DATA_DIR: data }));
      assert.deepEqual(listed.map((t) => t.name), ['sensor-1']);
    });
  });

  describe('things register, attach, detach, delete; certs; ca trust/untrust', () => {
    let opCa: TestCert;
    let device: TestCert;
    let certFile: string;
    before(async () => {
      opCa = await makeCa({ name: 'CN=Operator Device CA', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) });
      device = await makeLeaf({ issuer: opCa, cn: 'meter-7', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY) });
      certFile = join(dir, 'meter-7.pem');
      writeFileSync(certFile, device.pem);
      writeFileSync(join(dir, 'op-ca.pem'), opCa.pem);
    });

    it('refuses a certificate from an untrusted CA, garbage, a missing file and an expired certificate, storing nothing', async () => {
      failed(await gatehouse(['things', 'register', 'meter-7', '--cert', certFile, ...dd()]), 1, 'CERT_UNTRUSTED');
      writeFileSync(join(dir, 'garbage.pem'), 'not a certificate');
      failed(await gatehouse(['things', 'register', 'meter-7', '--cert', join(dir, 'garbage.pem'), ...dd()]), 2, 'CERT_MALFORMED');
      writeFileSync(join(dir, 'truncated.pem'), device.pem.slice(0, 200));
      failed(await gatehouse(['things', 'register', 'meter-7', '--cert', join(dir, 'truncated.pem'), ...dd()]), 2, 'CERT_MALFORMED');
      failed(await gatehouse(['things', 'register', 'meter-7', '--cert', join(dir, 'missing.pem'), ...dd()]), 2, 'FILE_UNREADABLE');
      failed(await gatehouse(['ca', 'trust', certFile, ...dd()]), 1, 'CA_NOT_A_CA');
      const trusted = json<{ id: string }>(await gatehouse(['ca', 'trust', join(dir, 'op-ca.pem'), '--json', ...dd()]));
      assert.equal(trusted.id, opCa.id);
      failed(await gatehouse(['ca', 'trust', join(dir, 'op-ca.pem'), ...dd()]), 1, 'CA_EXISTS');
      const expired = await makeLeaf({ issuer: opCa, notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
      writeFileSync(join(dir, 'expired.pem'), expired.pem);
      failed(await gatehouse(['things', 'register', 'meter-7', '--cert', join(dir, 'expired.pem'), ...dd()]), 1, 'CERT_EXPIRED');
      const selfSigned = await makeLeaf({ cn: 'meter-7', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
      writeFileSync(join(dir, 'self.pem'), selfSigned.pem);
      failed(await gatehouse(['things', 'register', 'meter-7', '--cert', join(dir, 'self.pem'), ...dd()]), 1, 'CERT_SELF_SIGNED');
      const certs = json<unknown[]>(await gatehouse(['certs', 'list', '--json', ...dd()]));
      assert.equal(certs.length, 1, 'only the sensor-1 certificate');
      const things = json<{ name: string }[]>(await gatehouse(['things', 'list', '--json', ...dd()]));
      assert.deepEqual(things.map((t) => t.name), ['sensor-1']);
    });

    it('registers, attaches and is idempotent', async () => {
      const r = json<{ thingCreated: boolean; certificateCreated: boolean; attached: boolean; certificate: { id: string; status: string; issuerId: string } }>(
        await gatehouse(['things', 'register', 'meter-7', '--cert', certFile, '--json', ...dd()]));
      assert.deepEqual([r.thingCreated, r.certificateCreated, r.attached], [true, true, true]);
      assert.equal(r.certificate.id, device.id);
      assert.equal(r.certificate.status, 'ACTIVE');
      assert.equal(r.certificate.issuerId, opCa.id);
      const again = json<{ thingCreated: boolean; certificateCreated: boolean; attached: boolean }>(await gatehouse(['things', 'register', 'meter-7', '--cert', certFile, '--json', ...dd()]));
      assert.deepEqual([again.thingCreated, again.certificateCreated, again.attached], [false, false, false]);
      const human = await gatehouse(['things', 'show', 'meter-7', ...dd()]);
      assert.equal(human.code, 0);
      assert.match(human.stdout, new RegExp(`${device.id}\\s+ACTIVE`));
    });

    it('attaches and detaches by id prefix', async () => {
      const prefix = device.id.slice(0, 10);
      const a = json<{ changed: boolean }>(await gatehouse(['things', 'attach', 'sensor-1', prefix, '--json', ...dd()]));
      assert.equal(a.changed, true);
      const shown = json<{ things: string[] }>(await gatehouse(['certs', 'show', prefix, '--json', ...dd()]));
      assert.deepEqual(shown.things, ['meter-7', 'sensor-1']);
      assert.equal((await gatehouse(['things', 'detach', 'sensor-1', prefix, ...dd()])).code, 0);
      failed(await gatehouse(['things', 'detach', 'sensor-1', prefix, ...dd()]), 1, 'CERT_NOT_ATTACHED');
      failed(await gatehouse(['things', 'attach', 'nobody', prefix, ...dd()]), 1, 'THING_NOT_FOUND');
      failed(await gatehouse(['things', 'attach', 'sensor-1', device.id.slice(0, 7), ...dd()]), 2, 'CERT_ID_INVALID');
      failed(await gatehouse(['things', 'attach', 'sensor-1', '00000000', ...dd()]), 1, 'CERT_NOT_FOUND');
    });

    it('revokes, deactivates and activates; revocation is final', async () => {
      const p = device.id.slice(0, 8);
      const d = json<{ status: string; previous: string; changed: boolean }>(await gatehouse(['certs', 'deactivate', p, '--json', ...dd()]));
      assert.deepEqual([d.previous, d.status, d.changed], ['ACTIVE', 'INACTIVE', true]);
      const a = await gatehouse(['certs', 'activate', p, ...dd()]);
      assert.equal(a.code, 0);
      assert.match(a.stdout, /INACTIVE -> ACTIVE/);
      assert.match((await gatehouse(['certs', 'activate', p, ...dd()])).stdout, /already ACTIVE/);
      assert.equal((await gatehouse(['certs', 'revoke', p, ...dd()])).code, 0);
      failed(await gatehouse(['certs', 'activate', p, ...dd()]), 1, 'CERT_REVOKED');
      const revoked = json<{ id: string }[]>(await gatehouse(['certs', 'list', '--status', 'revoked', '--json', ...dd()]));
      assert.deepEqual(revoked.map((c) => c.id), [device.id]);
      failed(await gatehouse(['things', 'register', 'meter-8', '--cert', certFile, ...dd()]), 1, 'CERT_REVOKED');
      assert.equal((await gatehouse(['things', 'show', 'meter-8', ...dd()])).code, 1, 'the failed register left no thing');
      const pem = await gatehouse(['certs', 'show', p, '--pem', ...dd()]);
      assert.equal(pem.stdout.trim(), device.pem.trim());
      failed(await gatehouse(['certs', 'list', '--status', 'bogus', ...dd()]), 2, 'USAGE');
    });

    it('deletes things', async () => {
      const d = json<{ deleted: string; detachedCertificates: string[] }>(await gatehouse(['things', 'delete', 'meter-7', '--json', ...dd()]));
      assert.deepEqual(d, { deleted: 'meter-7', detachedCertificates: [device.id] });
      failed(await gatehouse(['things', 'show', 'meter-7', ...dd()]), 1, 'THING_NOT_FOUND');
      failed(await gatehouse(['things', 'delete', 'meter-7', ...dd()]), 1, 'THING_NOT_FOUND');
      failed(await gatehouse(['things', 'show', 'Sensor-1', ...dd()]), 1, 'THING_NOT_FOUND');
    });

    it('untrusts CAs by prefix; an untrusted gateway CA is not trusted again on the next run', async () => {
      const cas = json<{ id: string; source: string }[]>(await gatehouse(['ca', 'list', '--json', ...dd()]));
      const gw = cas.find((c) => c.source === 'gateway')!;
      assert.equal((await gatehouse(['ca', 'untrust', opCa.id.slice(0, 12), ...dd()])).code, 0);
      assert.equal((await gatehouse(['ca', 'untrust', gw.id, ...dd()])).code, 0);
      const show = json<{ id: string; trustedForDevices: boolean }>(await gatehouse(['ca', 'show', '--json', ...dd()]));
      assert.equal(show.id, gw.id);
      assert.equal(show.trustedForDevices, false);
      assert.deepEqual(json<unknown[]>(await gatehouse(['ca', 'list', '--json', ...dd()])), []);
      failed(await gatehouse(['ca', 'untrust', gw.id, ...dd()]), 1, 'CA_NOT_FOUND');
    });
  });

  it('things create and ca show with a custom CA (intermediate + root) from --config', async () => {
    const { path: d3, cleanup: c3 } = await tempDir('gatehouse-cli-custom-');
    try {
      const validity = { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 3650 * DAY) };
      const root = await makeCa({ name: 'CN=Plant Root', ...validity });
      const inter = await makeCa({ name: 'CN=Plant Issuing CA', issuer: root, ...validity });
      writeFileSync(join(d3, 'issuing.pem'), inter.pem + root.pem);
      writeFileSync(join(d3, 'issuing.key'), inter.keyPem, { mode: 0o600 });
      writeFileSync(join(d3, 'gatehouse.yaml'), 'certificateAuthority:\n  certificateUri: issuing.pem\n  privateKeyUri: issuing.key\n');
      const data3 = join(d3, 'data');
      const args = ['--config', join(d3, 'gatehouse.yaml'), '--data-dir', data3];
      const made = json<{ certificateId: string }>(await gatehouse(['things', 'create', 'line-3', '--out', join(d3, 'out'), '--json', ...args]));
      const certText = readFileSync(join(d3, 'out', 'line-3.cert.pem'), 'utf8');
      assert.equal(certText.match(/BEGIN CERTIFICATE/g)?.length, 2, 'the device certificate file carries the intermediate');
      assert.equal(readFileSync(join(d3, 'out', 'ca.pem'), 'utf8').match(/BEGIN CERTIFICATE/g)?.length, 2, 'ca.pem carries the chain up to the root');
      if (hasOpenssl) {
        const v = execFileSync('openssl', ['verify', '-CAfile', join(d3, 'out', 'ca.pem'), join(d3, 'out', 'line-3.cert.pem')], { encoding: 'utf8' });
        assert.match(v, /OK/);
      }
      const cas = json<{ id: string; source: string }[]>(await gatehouse(['ca', 'list', '--json', '--data-dir', data3]));
      assert.deepEqual(cas, [{ ...cas[0]!, id: inter.id, source: 'gateway' }], 'the issuing CA is the trusted device CA');
      const shown = json<{ kind: string; id: string }>(await gatehouse(['ca', 'show', '--json', ...args]));
      assert.deepEqual([shown.kind, shown.id], ['custom', inter.id]);
      const registry = SqliteRegistry.open({ file: registryPath(data3) });
      const manager = new SessionManager({ registry, maxActiveAuthTokens: 5 });
      try {
        const r = await manager.createSession({ clientId: 'line-3', certificatePem: certText, now: new Date() });
        assert.ok(r.ok, r.ok ? '' : r.message);
        assert.equal(r.session.certificateId, made.certificateId);
        assert.equal(r.session.trustedCaId, inter.id);
      } finally {
        manager.stop();
        await registry.close();
      }

      // A key that does not belong to the CA certificate: refused, nothing registered or written.
      writeFileSync(join(d3, 'issuing.key'), root.keyPem, { mode: 0o600 });
      failed(await gatehouse(['things', 'create', 'line-4', '--out', join(d3, 'out4'), ...args]), 1, 'CA_KEY_MISMATCH');
      assert.deepEqual(json<{ name: string }[]>(await gatehouse(['things', 'list', '--json', '--data-dir', data3])).map((t) => t.name), ['line-3']);
      assert.throws(() => statSync(join(d3, 'out4', 'line-4.key.pem')));
      // An invalid configuration is reported with its issues, exit 1.
      writeFileSync(join(d3, 'bad.yaml'), 'certificateAuthority:\n  caType: DSA\n');
      const bad = await gatehouse(['ca', 'show', '--config', join(d3, 'bad.yaml'), '--data-dir', data3]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /certificateAuthority\.caType/);
    } finally {
      await c3();
    }
  });

  it('a revocation by the CLI ends a live session in a running gateway within a second', async () => {
    const { path: d2, cleanup: c2 } = await tempDir('gatehouse-cli-live-');
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      const data2 = join(d2, 'data');
      const o = json<{ certificate: { id: string } }>(await gatehouse(['things', 'create', 'live-1', '--out', join(d2, 'out'), '--json', '--data-dir', data2]));
      const registry = SqliteRegistry.open({ file: registryPath(data2) });
      const manager = new SessionManager({ registry, maxActiveAuthTokens: 5, watchIntervalMs: 100 });
      const events: InvalidationReason[] = [];
      manager.onInvalidated((_, reason) => events.push(reason));
      try {
        const s = await manager.createSession({ clientId: 'live-1', certificatePem: readFileSync(join(d2, 'out', 'live-1.cert.pem'), 'utf8'), now: new Date() });
        assert.ok(s.ok);
        const r = await gatehouse(['certs', 'revoke', o.certificate.id.slice(0, 8), '--data-dir', data2]);
        assert.equal(r.code, 0, r.stderr);
        // The bound is the behaviour under test: the running gateway sees the CLI's change
        // within a second (its session manager polls the change feed every 100 ms).
        await waitUntil(() => events.length > 0, 1000, 'the invalidation');
        assert.deepEqual(events, ['CERT_REVOKED']);
        assert.equal(manager.get(s.token), undefined);
      } finally {
        manager.stop();
        await registry.close();
      }
    } finally {
      clearInterval(keepAlive);
      await c2();
    }
  });
});
