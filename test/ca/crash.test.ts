/**
 * Crash consistency of the server certificate store: whatever instant a rotation is
 * interrupted at, a reopen finds a private key that matches its certificate (the old
 * pair or the new pair).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey, sign, verify } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SimulatedCrash, isAtomicTempName, setAtomicWriteFaultHook, type AtomicWriteStage } from '../../src/ca/atomic.js';
import { CaError, GatewayCa, type IssuedCertificate } from '../../src/ca/authority.js';
import { ServerCertificateManager, loadServerCertificate } from '../../src/ca/server-certificate.js';
import { seededRandom } from '../helpers/seed.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

/** The instant of each kill after rotations are under way: random, but replayable from the run's seed. */
const killDelay = seededRandom('crash kill delay');

const EC = { caType: 'ECDSA_P256' } as const;

function pairConsistent(c: IssuedCertificate): boolean {
  const data = Buffer.from('consistency');
  return verify(null, data, new X509Certificate(c.certificatePem).publicKey, sign(null, data, createPrivateKey(c.privateKeyPem)));
}

/** Reads what is on disk, as a restart would, and checks the pair. */
async function reopenPair(dataDir: string, ca: GatewayCa): Promise<IssuedCertificate> {
  const stored = await loadServerCertificate(dataDir);
  assert.equal(stored.status, 'ok', JSON.stringify(stored));
  const cert = (stored as { certificate: IssuedCertificate }).certificate;
  assert.ok(pairConsistent(cert), 'key matches certificate');
  assert.ok(ca.issued(cert.certificatePem));
  return cert;
}

const STAGES: readonly [AtomicWriteStage, 'old' | 'new'][] = [
  ['temp-written', 'old'],
  ['temp-synced', 'old'],
  ['renamed', 'new'],
  ['dir-synced', 'new'],
];

for (const [stage, expected] of STAGES) {
  test(`a crash at "${stage}" of a rotation leaves the ${expected} pair, consistent, and the gateway restarts cleanly`, async (t) => {
    const dataDir = await makeTempDir(t);
    const ca = await GatewayCa.open({ dataDir, config: EC });
    const opts = { ca, dataDir, hostAddresses: ['127.0.0.1'], detectInterfaceAddresses: false, validitySeconds: 604800, disableRotation: false, checkIntervalMs: 0 };
    const m = await ServerCertificateManager.start(opts);
    t.after(() => m.stop());
    const old = m.current();
    let newId: string | undefined;
    m.subscribe((c) => {
      newId = c.id;
    });

    setAtomicWriteFaultHook((s, path) => {
      if (s === stage && path.endsWith('server.pem')) throw new SimulatedCrash(s, path);
    });
    try {
      await assert.rejects(m.setHostAddresses(['127.0.0.1', 'changed.local']), (e: unknown) => {
        assert.ok(e instanceof CaError && e.code === 'CA_STORE_WRITE_FAILED', String(e));
        assert.equal((e.cause as Error | undefined)?.name, 'SimulatedCrash');
        return true;
      });
    } finally {
      setAtomicWriteFaultHook(undefined);
    }
    assert.equal(newId, undefined, 'subscribers are not told about a certificate that was not stored');
    assert.equal(m.current().id, old.id, 'the running gateway keeps serving the old pair');

    const onDisk = await reopenPair(dataDir, ca);
    if (expected === 'old') {
      assert.equal(onDisk.id, old.id);
      assert.ok((await readdir(join(dataDir, 'server'))).some(isAtomicTempName), 'the crash left a temporary file behind');
    } else {
      assert.notEqual(onDisk.id, old.id);
      assert.match(new X509Certificate(onDisk.certificatePem).subjectAltName ?? '', /DNS:changed\.local/);
    }

    // Restart with the new host list: a consistent pair with the new SANs, whatever was on disk.
    m.stop();
    const ca2 = await GatewayCa.open({ dataDir, config: EC });
    const m2 = await ServerCertificateManager.start({ ...opts, ca: ca2, hostAddresses: ['127.0.0.1', 'changed.local'] });
    t.after(() => m2.stop());
    assert.equal(m2.lastRotationReason, expected === 'old' ? 'hosts-changed' : undefined);
    assert.ok(pairConsistent(m2.current()));
    assert.equal((await reopenPair(dataDir, ca2)).id, m2.current().id);
  });
}

test('SIGKILL at random instants while a child process rotates in a loop never leaves a mismatched pair', async (t) => {
  const dataDir = await makeTempDir(t);
  const child = fileURLToPath(new URL('./fixtures/rotate-child.js', import.meta.url));
  let totalRotations = 0;
  const ids = new Set<string>();
  for (let round = 0; round < 8; round++) {
    const proc = spawn(process.execPath, [child], { env: { ...process.env, GATEHOUSE_ROTATE_CHILD_DIR: dataDir }, stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    });
    let out = '';
    // Kill only once the loop is busy rotating (two rotations seen), at a random instant after that.
    const ready = new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if ((out.match(/^rotated /gm) ?? []).length >= 2) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`child exited early with ${String(code)}: ${out}`)));
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    await ready;
    await sleep(Math.floor(killDelay() * 60));
    proc.kill('SIGKILL');
    await exited;
    totalRotations += (out.match(/^rotated /gm) ?? []).length;
    const ca = await GatewayCa.open({ dataDir, config: EC });
    const pair = await reopenPair(dataDir, ca);
    ids.add(pair.id);
  }
  t.diagnostic(`rotations before the kills: ${totalRotations}; distinct pairs found after kills: ${ids.size}`);
  assert.ok(totalRotations >= 16, `the child rotated (${totalRotations})`);
});
