import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GatewayCa } from '../../src/ca/authority.js';
import { hasOpenssl, openssl, opensslOk } from '../helpers/openssl.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

/** The block of `openssl x509 -text` output following `header`. */
function extension(text: string, header: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim().startsWith(header));
  assert.ok(i >= 0, `${header} present in:\n${text}`);
  return `${lines[i]?.trim() ?? ''} | ${lines[i + 1]?.trim() ?? ''}`;
}

describe('OpenSSL interoperability', { skip: !hasOpenssl && 'openssl not installed' }, () => {
  for (const caType of ['ECDSA_P256', 'RSA_2048'] as const) {
    test(`${caType}: openssl verify accepts issued server and device certificates; x509 -text shows SANs, key usage, EKU`, async (t) => {
      const dir = await makeTempDir(t);
      const ca = await GatewayCa.open({ dataDir: join(dir, 'data'), config: { caType } });
      const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1', '::1', 'FD00::ABCD', 'gw.example.com', 'Edge.LOCAL'], validitySeconds: 7 * 86400 });
      const device = await ca.issueDeviceCertificate({ thingName: 'sensor-1' });
      const caFile = join(dir, 'data', 'ca', 'ca.pem');
      await writeFile(join(dir, 'server.pem'), server.certificatePem);
      await writeFile(join(dir, 'device.pem'), device.certificatePem);
      await writeFile(join(dir, 'server.key'), server.privateKeyPem, { mode: 0o600 });

      const out = opensslOk(['verify', '-CAfile', caFile, join(dir, 'server.pem'), join(dir, 'device.pem')]);
      assert.match(out, /server\.pem: OK/);
      assert.match(out, /device\.pem: OK/);
      // Purposes: the server certificate is for TLS servers only, the device certificate for TLS clients only.
      assert.equal(openssl(['verify', '-purpose', 'sslserver', '-CAfile', caFile, join(dir, 'server.pem')]).status, 0);
      assert.equal(openssl(['verify', '-purpose', 'sslclient', '-CAfile', caFile, join(dir, 'device.pem')]).status, 0);
      assert.notEqual(openssl(['verify', '-purpose', 'sslclient', '-CAfile', caFile, join(dir, 'server.pem')]).status, 0);
      assert.notEqual(openssl(['verify', '-purpose', 'sslserver', '-CAfile', caFile, join(dir, 'device.pem')]).status, 0);
      // Host checks as a TLS client would do them.
      assert.equal(openssl(['verify', '-CAfile', caFile, '-verify_ip', '127.0.0.1', join(dir, 'server.pem')]).status, 0);
      assert.equal(openssl(['verify', '-CAfile', caFile, '-verify_ip', 'fd00::abcd', join(dir, 'server.pem')]).status, 0);
      assert.equal(openssl(['verify', '-CAfile', caFile, '-verify_hostname', 'edge.local', join(dir, 'server.pem')]).status, 0);
      assert.notEqual(openssl(['verify', '-CAfile', caFile, '-verify_hostname', 'other.local', join(dir, 'server.pem')]).status, 0);
      // The key belongs to the certificate.
      assert.equal(opensslOk(['x509', '-in', join(dir, 'server.pem'), '-noout', '-pubkey']), opensslOk(['pkey', '-in', join(dir, 'server.key'), '-pubout']));

      const text = opensslOk(['x509', '-in', join(dir, 'server.pem'), '-noout', '-text']);
      const san = extension(text, 'X509v3 Subject Alternative Name');
      assert.match(san, /IP Address:127\.0\.0\.1/);
      assert.match(san, /IP Address:(0:0:0:0:0:0:0:1|::1)(,|$)/);
      assert.match(san, /IP Address:FD00:0:0:0:0:0:0:ABCD/i, 'upper-case IPv6 input is an IP SAN');
      assert.match(san, /DNS:gw\.example\.com/);
      assert.match(san, /DNS:edge\.local/);
      assert.match(san, /DNS:localhost/);
      assert.doesNotMatch(san, /DNS:[0-9a-f]*:/i, 'no address ended up as a DNS name');
      assert.match(extension(text, 'X509v3 Key Usage'), caType === 'RSA_2048' ? /critical \| Digital Signature, Key Encipherment$/ : /critical \| Digital Signature$/);
      assert.match(extension(text, 'X509v3 Extended Key Usage'), /\| TLS Web Server Authentication$/);
      assert.match(extension(text, 'X509v3 Basic Constraints'), /critical \| CA:FALSE/);
      assert.match(text, /X509v3 Subject Key Identifier/);
      assert.match(text, /X509v3 Authority Key Identifier/);

      const dtext = opensslOk(['x509', '-in', join(dir, 'device.pem'), '-noout', '-text']);
      assert.match(dtext, /Subject: CN ?= ?sensor-1/);
      assert.match(extension(dtext, 'X509v3 Extended Key Usage'), /\| TLS Web Client Authentication$/);
      assert.match(extension(dtext, 'X509v3 Key Usage'), /critical \| Digital Signature$/);

      const catext = opensslOk(['x509', '-in', caFile, '-noout', '-text']);
      assert.match(extension(catext, 'X509v3 Basic Constraints'), /critical \| CA:TRUE/);
      assert.match(extension(catext, 'X509v3 Key Usage'), /critical \| Certificate Sign, CRL Sign/);
      assert.doesNotMatch(catext, /Serial Number: \(Negative\)|Serial Number:.*-/);
    });
  }

  test('serial numbers are positive (including those with the top bit set) and parse in OpenSSL', async (t) => {
    const dir = await makeTempDir(t);
    const ca = await GatewayCa.open({ dataDir: join(dir, 'data'), config: { caType: 'ECDSA_P256' } });
    let topBitSeen = false;
    for (let i = 0; i < 24; i++) {
      const c = await ca.issueDeviceCertificate({ thingName: `d${i}` });
      const serial = opensslOk(['x509', '-noout', '-serial'], c.certificatePem).trim().replace(/^serial=/, '');
      assert.match(serial, /^[0-9A-F]+$/);
      const value = BigInt('0x' + serial);
      assert.ok(value > 0n && value < 1n << 128n);
      if (value >= 1n << 127n) topBitSeen = true;
    }
    // 24 draws without a top-bit serial has probability 2^-24; if it happens the test is simply weaker.
    t.diagnostic(`top-bit serial seen: ${String(topBitSeen)}`);
  });
});
