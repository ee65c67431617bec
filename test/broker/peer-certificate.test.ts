import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { certificatePem } from '../../src/core/pem.js';
import { makeCert } from '../helpers/pki.js';

// The broker encodes the peer chain's DER as PEM itself instead of parsing each
// certificate (a measured third of the CPU per connection); the text handed to the
// identity layer must stay exactly what X509Certificate.toString() produced before.
test('certificatePem is byte-identical to X509Certificate.toString()', async () => {
  const root = await makeCert({ name: 'Root', keyType: 'RSA_2048' });
  const inter = await makeCert({ name: 'Intermediate', issuer: root });
  const leaf = await makeCert({ name: 'device-with-a-longer-name-0001', issuer: inter, ca: false, extendedKeyUsage: ['1.3.6.1.5.5.7.3.2'] });
  for (const c of [root, inter, leaf]) {
    const der = Buffer.from(c.cert.rawData);
    assert.equal(certificatePem(der), new X509Certificate(der).toString());
  }
});
