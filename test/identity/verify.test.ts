import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { VerifyFailureReason } from '../../src/identity/errors.js';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { CertificateVerifier, verifyClientCertificate, type VerifyResult } from '../../src/identity/verify.js';
import { EKU, makeCa, makeLeaf, NOW, type TestCert } from '../helpers/pki.js';

const DAY = 86_400_000;

function assertFails(r: VerifyResult, reason: VerifyFailureReason): void {
  assert.equal(r.ok, false, `expected ${reason}, got success`);
  if (!r.ok) {
    assert.equal(r.reason, reason, r.message);
    assert.equal(typeof r.message, 'string');
  }
}

describe('CertificateVerifier', () => {
  let root: TestCert;
  let inter: TestCert;
  let other: TestCert;
  let leaf: TestCert;
  let viaInter: TestCert;
  let registry: SqliteRegistry;
  let verifier: CertificateVerifier;

  before(async () => {
    root = await makeCa({ name: 'CN=Device Root' });
    inter = await makeCa({ name: 'CN=Device Intermediate', issuer: root });
    other = await makeCa({ name: 'CN=Someone Else' });
    leaf = await makeLeaf({ issuer: root, cn: 'sensor-1' });
    viaInter = await makeLeaf({ issuer: inter, cn: 'sensor-2' });
    registry = SqliteRegistry.open({ file: ':memory:' });
    await registry.trustCa(root.pem);
    await registry.enroll({ thingName: 'sensor-1', certificatePem: leaf.pem, thing: 'new' });
    await registry.enroll({ thingName: 'sensor-2', certificatePem: viaInter.pem, thing: 'new' });
    await registry.createThing('sensor-3');
    await registry.attach('sensor-3', leaf.id);
    verifier = new CertificateVerifier(registry);
  });

  it('accepts a registered, active certificate from a trusted CA and names its things', async () => {
    const r = await verifier.verify(leaf.pem, NOW);
    assert.ok(r.ok);
    assert.equal(r.certificateId, leaf.id);
    assert.deepEqual(r.thingNames, ['sensor-1', 'sensor-3']);
    assert.equal(r.trustedCaId, root.id);
    assert.equal(r.subject, 'CN=sensor-1');
  });

  it('keeps at most 1,024 parsed chains however many different texts it sees (a long-running gateway meets every device)', () => {
    const cache = (verifier as unknown as { parsed: Map<string, unknown> }).parsed;
    // The same certificate with more and more trailing newlines: a new text each time.
    for (let i = 1; i <= 1_100; i++) assert.ok(verifier.verifyLeaf(leaf.pem + '\n'.repeat(i), NOW).ok);
    assert.equal(cache.size, 1024);
    // The latest texts are the ones kept.
    assert.ok(verifier.verifyLeaf(leaf.pem + '\n'.repeat(1_100), NOW).ok);
    assert.equal(cache.size, 1024);
  });

  it('builds the chain through presented intermediates', async () => {
    const r = await verifier.verify(viaInter.pem + inter.pem, NOW);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.trustedCaId, root.id);
    // Without the intermediate there is no path.
    assertFails(await verifier.verify(viaInter.pem, NOW), 'CERT_UNTRUSTED');
  });

  it('decodes a chain it has verified before only once: a device that reconnects costs no certificate parsing', async () => {
    const fresh = new CertificateVerifier(registry);
    const first = await fresh.verifyChain(viaInter.pem + inter.pem, NOW);
    const again = await fresh.verifyChain(viaInter.pem + inter.pem, NOW);
    assert.ok(first.ok && again.ok);
    assert.equal(again.leaf, first.leaf, 'the second verification reuses the decoded leaf');
    // A different text is decoded on its own (the cache is keyed by the exact text), with the same verdict.
    const other = await fresh.verifyChain(viaInter.pem + inter.pem + '\n', NOW);
    assert.ok(other.ok);
    assert.notEqual(other.leaf, first.leaf);
    assert.equal(other.leaf.id, first.leaf.id);
  });

  it('accepts a trusted intermediate as the anchor (partial chain)', async () => {
    const reg = SqliteRegistry.open({ file: ':memory:' });
    await reg.trustCa(inter.pem);
    await reg.enroll({ thingName: 'x', certificatePem: viaInter.pem, thing: 'new' });
    const r = await new CertificateVerifier(reg).verify(viaInter.pem, NOW);
    assert.ok(r.ok);
    assert.equal(r.trustedCaId, inter.id);
    await reg.close();
  });

  it('is inclusive at the validity bounds', async () => {
    assert.ok((await verifier.verify(leaf.pem, leaf.cert.notAfter)).ok);
    assert.ok((await verifier.verify(leaf.pem, leaf.cert.notBefore)).ok);
    assertFails(await verifier.verify(leaf.pem, new Date(leaf.cert.notAfter.getTime() + 1000)), 'CERT_EXPIRED');
    assertFails(await verifier.verify(leaf.pem, new Date(leaf.cert.notBefore.getTime() - 1000)), 'CERT_NOT_YET_VALID');
  });

  describe('rejects, with its reason and without storing anything', () => {
    const cases: [string, () => string | Promise<string>, VerifyFailureReason][] = [
      ['garbage text', () => 'hello world', 'CERT_MALFORMED'],
      ['an empty string', () => '', 'CERT_MALFORMED'],
      ['binary junk', () => '\u0000\u0001\u00ff'.repeat(100), 'CERT_MALFORMED'],
      ['truncated PEM (no END line)', () => leaf.pem.slice(0, leaf.pem.length / 2), 'CERT_MALFORMED'],
      ['a PEM cut short inside the base64', () => leaf.pem.slice(0, 200) + '\n-----END CERTIFICATE-----\n', 'CERT_MALFORMED'],
      ['a PEM with bad base64', () => leaf.pem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), 'CERT_MALFORMED'],
      ['an intermediate block left open', () => leaf.pem + '-----BEGIN CERTIFICATE-----\nMIIB\n', 'CERT_MALFORMED'],
      ['a private key', () => leaf.keyPem, 'CERT_MALFORMED'],
      ['a certificate plus its private key', () => leaf.pem + leaf.keyPem, 'CERT_MALFORMED'],
      ['an over-long input', () => leaf.pem + ' '.repeat(300_000), 'CERT_MALFORMED'],
      ['an expired certificate', async () => (await makeLeaf({ issuer: root, notBefore: new Date(NOW.getTime() - 10 * DAY), notAfter: new Date(NOW.getTime() - DAY) })).pem, 'CERT_EXPIRED'],
      ['a not-yet-valid certificate', async () => (await makeLeaf({ issuer: root, notBefore: new Date(NOW.getTime() + DAY), notAfter: new Date(NOW.getTime() + 10 * DAY) })).pem, 'CERT_NOT_YET_VALID'],
      ['a certificate from an untrusted CA', async () => (await makeLeaf({ issuer: other })).pem, 'CERT_UNTRUSTED'],
      ['a self-signed certificate', async () => (await makeLeaf({ cn: 'sensor-1' })).pem, 'CERT_SELF_SIGNED'],
      ['a self-signed certificate claiming the trusted CA as issuer', async () => (await makeLeaf({ issuer: root, signingKey: (await makeCa()).keys.privateKey })).pem, 'CERT_UNTRUSTED'],
      ['a server-only certificate (EKU serverAuth)', async () => (await makeLeaf({ issuer: root, eku: [EKU.serverAuth] })).pem, 'CERT_WRONG_USAGE'],
      ['a CA certificate presented as a device', () => inter.pem, 'CERT_WRONG_USAGE'],
      ['a leaf with the CA flag', async () => (await makeLeaf({ issuer: root, isCa: true })).pem, 'CERT_WRONG_USAGE'],
      ['a chain through an expired intermediate', async () => {
        const old = await makeCa({ issuer: root, name: 'CN=Old Intermediate', notBefore: new Date(NOW.getTime() - 100 * DAY), notAfter: new Date(NOW.getTime() - DAY) });
        return (await makeLeaf({ issuer: old })).pem + old.pem;
      }, 'CERT_UNTRUSTED'],
      ['a chain through an "intermediate" that is not a CA', async () => {
        const fake = await makeCa({ issuer: root, name: 'CN=Not A CA', isCa: false });
        return (await makeLeaf({ issuer: fake })).pem + fake.pem;
      }, 'CERT_UNTRUSTED'],
      ['a chain through an intermediate without keyCertSign', async () => {
        const weak = await makeCa({ issuer: root, name: 'CN=No CertSign', mayCertify: false });
        return (await makeLeaf({ issuer: weak })).pem + weak.pem;
      }, 'CERT_UNTRUSTED'],
      ['a valid chain that is not registered', async () => (await makeLeaf({ issuer: root })).pem, 'CERT_NOT_REGISTERED'],
    ];
    for (const [name, make, reason] of cases) {
      it(name, async () => {
        const pem = await make();
        const seq = await registry.latestChangeSeq();
        const certs = (await registry.listCertificates()).length;
        assertFails(await verifier.verify(pem, NOW), reason);
        assert.equal(await registry.latestChangeSeq(), seq, 'verification wrote to the registry');
        assert.equal((await registry.listCertificates()).length, certs);
      });
    }
  });

  it('does not throw on non-string input', async () => {
    assertFails(await verifier.verify(undefined as unknown as string, NOW), 'CERT_MALFORMED');
    assertFails(await verifier.verify(42 as unknown as string, NOW), 'CERT_MALFORMED');
  });

  it('honours pathLenConstraint', async () => {
    const strictRoot = await makeCa({ name: 'CN=Strict Root', pathLength: 0 });
    const i = await makeCa({ name: 'CN=Under Strict', issuer: strictRoot });
    const l = await makeLeaf({ issuer: i });
    const direct = await makeLeaf({ issuer: strictRoot });
    const reg = SqliteRegistry.open({ file: ':memory:' });
    await reg.trustCa(strictRoot.pem);
    await reg.enroll({ thingName: 'a', certificatePem: l.pem, thing: 'new' });
    await reg.enroll({ thingName: 'b', certificatePem: direct.pem, thing: 'new' });
    const v = new CertificateVerifier(reg);
    assertFails(await v.verify(l.pem + i.pem, NOW), 'CERT_UNTRUSTED');
    assert.ok((await v.verify(direct.pem, NOW)).ok);
    await reg.close();
  });

  it('reports revoked and inactive certificates', async () => {
    const reg = SqliteRegistry.open({ file: ':memory:' });
    await reg.trustCa(root.pem);
    const a = await makeLeaf({ issuer: root });
    const b = await makeLeaf({ issuer: root });
    await reg.registerCertificate(a.pem, { status: 'REVOKED' });
    await reg.registerCertificate(b.pem, { status: 'INACTIVE' });
    assertFails(await verifyClientCertificate(reg, a.pem, { now: NOW }), 'CERT_REVOKED');
    assertFails(await verifyClientCertificate(reg, b.pem, { now: NOW }), 'CERT_INACTIVE');
    await reg.setCertificateStatus(b.id, 'ACTIVE');
    assert.ok((await verifyClientCertificate(reg, b.pem, { now: NOW })).ok);
    await reg.close();
  });

  it('stops trusting a CA as soon as it is untrusted, and ignores an expired trusted CA', async () => {
    const ca = await makeCa({ name: 'CN=Short Lived', notAfter: new Date(NOW.getTime() + 10 * DAY) });
    const l = await makeLeaf({ issuer: ca, notAfter: new Date(NOW.getTime() + 20 * DAY) });
    const reg = SqliteRegistry.open({ file: ':memory:' });
    await reg.trustCa(ca.pem);
    await reg.registerCertificate(l.pem);
    const v = new CertificateVerifier(reg);
    assert.ok((await v.verify(l.pem, NOW)).ok);
    assertFails(await v.verify(l.pem, new Date(NOW.getTime() + 15 * DAY)), 'CERT_UNTRUSTED');
    await reg.untrustCa(ca.id);
    assertFails(await v.verify(l.pem, NOW), 'CERT_UNTRUSTED');
    await reg.close();
  });

  it('gives a certificate from the gateway CA no special treatment', async () => {
    const gw = await makeCa({ name: 'CN=Gateway CA' });
    const reg = SqliteRegistry.open({ file: ':memory:' });
    await reg.trustGatewayCa(gw.pem);
    const l = await makeLeaf({ issuer: gw });
    assertFails(await verifyClientCertificate(reg, l.pem, { now: NOW }), 'CERT_NOT_REGISTERED');
    await reg.close();
  });

  it('accepts EKU anyExtendedKeyUsage and certificates without EKU; tolerates text between blocks', async () => {
    const reg = SqliteRegistry.open({ file: ':memory:' });
    await reg.trustCa(root.pem);
    const anyEku = await makeLeaf({ issuer: root, eku: [EKU.any] });
    const noEku = await makeLeaf({ issuer: root, eku: null });
    await reg.registerCertificate(anyEku.pem);
    await reg.registerCertificate(noEku.pem);
    assert.ok((await verifyClientCertificate(reg, anyEku.pem, { now: NOW })).ok);
    assert.ok((await verifyClientCertificate(reg, `subject=CN=x\n${noEku.pem.replace(/\n/g, '\r\n')}`, { now: NOW })).ok);
    await reg.close();
  });
});

describe('CertificateVerifier: trust by registration (issuer unknown here)', () => {
  let unknown: TestCert;
  let byRegistration: TestCert;
  let selfSigned: TestCert;
  let sibling: TestCert;
  let throughCa: TestCert;
  let ca: TestCert;
  let registry: SqliteRegistry;
  let verifier: CertificateVerifier;

  before(async () => {
    unknown = await makeCa({ name: 'CN=Issuer Not Trusted Here' });
    ca = await makeCa({ name: 'CN=Trusted Then Untrusted' });
    byRegistration = await makeLeaf({ issuer: unknown, cn: 'amz-1' });
    selfSigned = await makeLeaf({ cn: 'self-1' });
    sibling = await makeLeaf({ issuer: unknown, cn: 'amz-1' });
    throughCa = await makeLeaf({ issuer: ca, cn: 'ca-1' });
    registry = SqliteRegistry.open({ file: ':memory:' });
    await registry.trustCa(ca.pem);
    await registry.enroll({ thingName: 'ca-1', certificatePem: throughCa.pem, thing: 'new' });
    await registry.untrustCa(ca.id);
    await registry.registerCertificate(byRegistration.pem, { trust: 'registration' });
    await registry.registerCertificate(selfSigned.pem, { trust: 'registration' });
    await registry.createThing('amz-1');
    await registry.attach('amz-1', byRegistration.id);
    verifier = new CertificateVerifier(registry);
  });

  it('admits exactly the registered certificate, ACTIVE, with its own id as anchor', async () => {
    const r = await verifier.verify(byRegistration.pem, NOW);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.trust, 'registration');
    assert.equal(r.trustedCaId, byRegistration.id);
    assert.deepEqual(r.thingNames, ['amz-1']);
    // Presented with its (untrusted) issuer, as a device may send its chain.
    assert.ok((await verifier.verify(byRegistration.pem + unknown.pem, NOW)).ok);
    // A self-signed certificate registered without a CA.
    assert.ok((await verifier.verify(selfSigned.pem, NOW)).ok);
  });

  it('refuses another certificate of the same issuer and subject', async () => {
    assertFails(await verifier.verify(sibling.pem, NOW), 'CERT_UNTRUSTED');
  });

  it('never for a certificate registered through a CA that is no longer trusted', async () => {
    assertFails(await verifier.verify(throughCa.pem, NOW), 'CERT_UNTRUSTED');
  });

  it('keeps the validity period and the registry status', async () => {
    assertFails(await verifier.verify(byRegistration.pem, new Date(NOW.getTime() + 60 * DAY)), 'CERT_EXPIRED');
    await registry.setCertificateStatus(byRegistration.id, 'INACTIVE');
    assertFails(await verifier.verify(byRegistration.pem, NOW), 'CERT_INACTIVE');
    await registry.setCertificateStatus(byRegistration.id, 'ACTIVE');
  });

  it('chain checks (registration) are not registration checks (verifyChain stays CA-only)', async () => {
    const chain = await verifier.verifyChain(byRegistration.pem, NOW);
    assert.equal(chain.ok, false);
  });
});
