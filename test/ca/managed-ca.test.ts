import assert from 'node:assert/strict';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CaError, GatewayCa, type IssuedCertificate } from '../../src/ca/authority.js';
import { x509 } from '../helpers/pki.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

const EC = { caType: 'ECDSA_P256' } as const;
const RSA = { caType: 'RSA_2048' } as const;

function mode(st: { mode: number }): number {
  return st.mode & 0o777;
}

function keyMatches(issued: IssuedCertificate): boolean {
  const key = createPrivateKey(issued.privateKeyPem);
  const data = Buffer.from('proof of possession');
  const sig = sign('sha256', data, key);
  return verify('sha256', data, new X509Certificate(issued.certificatePem).publicKey, sig);
}

function isCaError(code: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof CaError, `expected CaError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.fix !== undefined && e.fix.length > 0, 'has a fix');
    assert.doesNotMatch(e.message, /-----|[A-Za-z0-9+/]{40,}/, 'no PEM or base64 in messages');
    return true;
  };
}

test('managed CA is created on first open, stored 0600 in a 0700 directory, and reused afterwards', async (t) => {
  const dir = join(await makeTempDir(t), 'data');
  const ca = await GatewayCa.open({ dataDir: dir, config: EC });
  assert.equal(ca.kind, 'managed');
  assert.match(ca.id, /^[0-9a-f]{64}$/);
  assert.equal(ca.id, createHash('sha256').update(new X509Certificate(ca.certificatePem).raw).digest('hex'));
  assert.deepEqual(ca.chainPem, [ca.certificatePem]);

  assert.equal(mode(await stat(dir)), 0o700);
  assert.equal(mode(await stat(join(dir, 'ca'))), 0o700);
  assert.equal(mode(await stat(join(dir, 'ca', 'managed-ca.pem'))), 0o600);
  assert.deepEqual((await readdir(join(dir, 'ca'))).sort(), ['ca.pem', 'chain.pem', 'managed-ca.pem']);
  assert.equal(await readFile(join(dir, 'ca', 'ca.pem'), 'utf8'), ca.certificatePem);
  const stored = await readFile(join(dir, 'ca', 'managed-ca.pem'), 'utf8');
  assert.match(stored, /-----BEGIN CERTIFICATE-----[\s\S]+-----BEGIN PRIVATE KEY-----/);

  const again = await GatewayCa.open({ dataDir: dir, config: EC });
  assert.equal(again.id, ca.id);
  assert.equal(again.certificatePem, ca.certificatePem);
  assert.equal(await readFile(join(dir, 'ca', 'managed-ca.pem'), 'utf8'), stored, 'not rewritten');
  // The reopened CA still holds the right key: what it issues verifies against the original certificate.
  const dev = await again.issueDeviceCertificate({ thingName: 'after-reopen' });
  assert.ok(ca.issued(dev.certificatePem));
});

test('managed CA certificate: CA:true critical, keyCertSign|cRLSign critical, SKI, positive 128-bit serial, 10 years, EC P-256', async (t) => {
  const ca = await GatewayCa.open({ dataDir: await makeTempDir(t), config: EC });
  const node = new X509Certificate(ca.certificatePem);
  const cert = new x509.X509Certificate(ca.certificatePem);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  assert.ok(bc !== null && bc.ca && bc.critical);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  assert.ok(ku !== null && ku.critical);
  assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  assert.ok(ski !== null && ski.keyId.length === 40);
  assert.match(cert.subject, /^CN=Gatehouse CA [0-9a-f]{8}, O=Gatehouse$/);
  assert.equal(cert.subject, cert.issuer);
  assert.ok(node.verify(node.publicKey), 'self-signed');
  assert.equal(node.publicKey.asymmetricKeyType, 'ec');
  assert.equal(node.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(ca.keyType, 'EC_P256');
  const serial = BigInt('0x' + node.serialNumber);
  assert.ok(serial > 0n);
  assert.ok(serial < 1n << 128n && serial >= 1n << 120n, `128-bit serial, got ${node.serialNumber}`);
  const days = (new Date(node.validTo).getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 3649 && days <= 3650, `valid ~10 years, got ${days}`);
  assert.ok(new Date(node.validFrom).getTime() <= Date.now());
});

test('caType RSA_2048 creates an RSA-2048 CA; its server certificates get RSA keys with keyEncipherment', async (t) => {
  const dir = await makeTempDir(t);
  const ca = await GatewayCa.open({ dataDir: dir, config: RSA });
  assert.equal(ca.keyType, 'RSA');
  const node = new X509Certificate(ca.certificatePem);
  assert.equal(node.publicKey.asymmetricKeyType, 'rsa');
  assert.equal(node.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.equal((await GatewayCa.open({ dataDir: dir, config: RSA })).id, ca.id);
  const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1'], validitySeconds: 3600 });
  assert.ok(keyMatches(server));
  assert.equal(createPrivateKey(server.privateKeyPem).asymmetricKeyType, 'rsa');
  const ku = new x509.X509Certificate(server.certificatePem).getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  assert.ok(ca.issued(server.certificatePem));
  // Device keys are EC P-256 regardless of the CA type.
  const dev = await ca.issueDeviceCertificate({ thingName: 'rsa-ca-device' });
  assert.equal(createPrivateKey(dev.privateKeyPem).asymmetricKeyType, 'ec');
  assert.ok(ca.issued(dev.certificatePem));
});

test('changing caType does not silently replace the managed CA', async (t) => {
  const dir = await makeTempDir(t);
  const ca = await GatewayCa.open({ dataDir: dir, config: EC });
  const before = await readFile(join(dir, 'ca', 'managed-ca.pem'), 'utf8');
  await assert.rejects(GatewayCa.open({ dataDir: dir, config: RSA }), isCaError('CA_TYPE_MISMATCH'));
  assert.equal(await readFile(join(dir, 'ca', 'managed-ca.pem'), 'utf8'), before);
  assert.equal((await GatewayCa.open({ dataDir: dir, config: EC })).id, ca.id);
});

test('a damaged managed CA file is refused with CA_STORE_CORRUPT and left in place', async (t) => {
  const dir = await makeTempDir(t);
  await GatewayCa.open({ dataDir: dir, config: EC });
  const file = join(dir, 'ca', 'managed-ca.pem');
  const good = await readFile(file, 'utf8');

  await writeFile(file, 'garbage');
  await assert.rejects(GatewayCa.open({ dataDir: dir, config: EC }), isCaError('CA_STORE_CORRUPT'));
  assert.equal(await readFile(file, 'utf8'), 'garbage');

  await writeFile(file, good.slice(0, good.length - 60)); // truncated key
  await assert.rejects(GatewayCa.open({ dataDir: dir, config: EC }), isCaError('CA_STORE_CORRUPT'));

  // Certificate with somebody else's key.
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const certPart = good.slice(0, good.indexOf('-----BEGIN PRIVATE KEY-----'));
  await writeFile(file, certPart + other);
  await assert.rejects(GatewayCa.open({ dataDir: dir, config: EC }), isCaError('CA_STORE_CORRUPT'));

  await writeFile(file, good);
  await GatewayCa.open({ dataDir: dir, config: EC });
});

test('concurrent first opens agree on a single CA', async (t) => {
  const dir = await makeTempDir(t);
  const cas = await Promise.all([1, 2, 3, 4].map(() => GatewayCa.open({ dataDir: dir, config: EC })));
  assert.equal(new Set(cas.map((c) => c.id)).size, 1);
  assert.equal((await GatewayCa.open({ dataDir: dir, config: EC })).id, cas[0]?.id);
  assert.deepEqual((await readdir(join(dir, 'ca'))).sort(), ['ca.pem', 'chain.pem', 'managed-ca.pem']);
});

test('device certificate with a generated key: CN = thing name, clientAuth, CA:false, AKI = CA SKI, id = SHA-256 of DER', async (t) => {
  const ca = await GatewayCa.open({ dataDir: await makeTempDir(t), config: EC });
  const dev = await ca.issueDeviceCertificate({ thingName: 'sensor-1:a_b' });
  assert.ok(keyMatches(dev));
  assert.equal(createPrivateKey(dev.privateKeyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(createPublicKey(dev.publicKeyPem).export({ type: 'spki', format: 'der' }).toString('hex'),
    new X509Certificate(dev.certificatePem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
  const node = new X509Certificate(dev.certificatePem);
  assert.equal(dev.id, createHash('sha256').update(node.raw).digest('hex'));
  assert.equal(dev.id, node.fingerprint256.replace(/:/g, '').toLowerCase());
  assert.equal(node.subject, 'CN=sensor-1:a_b');
  assert.equal(node.ca, false);
  assert.ok(ca.issued(node));
  assert.deepEqual(node.keyUsage, ['1.3.6.1.5.5.7.3.2']); // Node returns the EKU OIDs here
  assert.deepEqual(dev.chainPem, [ca.certificatePem]);
  const cert = new x509.X509Certificate(dev.certificatePem);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  assert.ok(bc !== null && !bc.ca && bc.critical);
  assert.equal(cert.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
  const caSki = new x509.X509Certificate(ca.certificatePem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  assert.equal(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, caSki);
  assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension) !== null);
  assert.equal(cert.getExtension(x509.SubjectAlternativeNameExtension), null);
  const lifetimeDays = (dev.notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(lifetimeDays > 364.9 && lifetimeDays <= 365, String(lifetimeDays));
  assert.ok(dev.notBefore.getTime() <= Date.now());
  assert.equal(dev.notAfter.getTime(), new Date(node.validTo).getTime());
});

test('device certificate for a supplied public key: no private key returned; RSA keys get keyEncipherment', async (t) => {
  const ca = await GatewayCa.open({ dataDir: await makeTempDir(t), config: EC });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const dev = await ca.issueDeviceCertificate({ thingName: 'ext-key', publicKeyPem: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(), validityDays: 30 });
  assert.equal(dev.privateKeyPem, '');
  const node = new X509Certificate(dev.certificatePem);
  assert.ok(node.publicKey.equals(ec.publicKey));
  assert.ok((dev.notAfter.getTime() - Date.now()) / 86_400_000 <= 30);

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rdev = await ca.issueDeviceCertificate({ thingName: 'rsa-dev', publicKeyPem: rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString() });
  assert.equal(new x509.X509Certificate(rdev.certificatePem).getExtension(x509.KeyUsagesExtension)?.usages,
    x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
});

test('device certificate input errors have codes and never echo keys', async (t) => {
  const ca = await GatewayCa.open({ dataDir: await makeTempDir(t), config: EC });
  for (const thingName of ['', 'a'.repeat(129), 'a/b', 'a b', 'dev#1', 'dev+1', 'ä']) {
    await assert.rejects(ca.issueDeviceCertificate({ thingName }), isCaError('THING_NAME_INVALID'), thingName);
  }
  await ca.issueDeviceCertificate({ thingName: 'a'.repeat(128) });
  const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await assert.rejects(ca.issueDeviceCertificate({ thingName: 'x', publicKeyPem: priv }), (e: unknown) => {
    isCaError('CA_PUBLIC_KEY_INVALID')(e);
    assert.ok(!(e as Error).message.includes(priv.split('\n')[1] ?? '@@'));
    return true;
  });
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await assert.rejects(ca.issueDeviceCertificate({ thingName: 'x', publicKeyPem: weak }), isCaError('CA_PUBLIC_KEY_INVALID'));
  await assert.rejects(ca.issueDeviceCertificate({ thingName: 'x', publicKeyPem: 'not a key' }), isCaError('CA_PUBLIC_KEY_INVALID'));
  const caPub = new X509Certificate(ca.certificatePem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await assert.rejects(ca.issueDeviceCertificate({ thingName: 'x', publicKeyPem: caPub }), isCaError('CA_PUBLIC_KEY_INVALID'));
  for (const validityDays of [0, -1, 1.5, 36501, Number.NaN]) {
    await assert.rejects(ca.issueDeviceCertificate({ thingName: 'x', validityDays }), isCaError('CA_VALIDITY_INVALID'), String(validityDays));
  }
});

test('issued certificates never outlive the CA', async (t) => {
  const ca = await GatewayCa.open({ dataDir: await makeTempDir(t), config: EC });
  const dev = await ca.issueDeviceCertificate({ thingName: 'long', validityDays: 36500 });
  assert.equal(dev.notAfter.getTime(), ca.notAfter.getTime());
});

test('server certificate input errors: validity and host forms', async (t) => {
  const ca = await GatewayCa.open({ dataDir: await makeTempDir(t), config: EC });
  for (const validitySeconds of [0, 59, 1.5, Number.POSITIVE_INFINITY]) {
    await assert.rejects(ca.issueServerCertificate({ hosts: [], validitySeconds }), isCaError('CA_VALIDITY_INVALID'));
  }
  await assert.rejects(ca.issueServerCertificate({ hosts: ['gw:8883'], validitySeconds: 3600 }), isCaError('CA_HOST_HAS_PORT'));
  await assert.rejects(ca.issueServerCertificate({ hosts: ['http://gw'], validitySeconds: 3600 }), isCaError('CA_HOST_INVALID'));
  const s = await ca.issueServerCertificate({ hosts: [], validitySeconds: 3600, now: new Date(Date.now() + 86_400_000) });
  assert.equal(s.notAfter.getTime() - Math.floor((Date.now() + 86_400_000) / 1000) * 1000 > 3599_000, true);
  assert.equal(new X509Certificate(s.certificatePem).subjectAltName, 'DNS:localhost');
});
