import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { readCaConstraints } from '../../src/identity/ca-constraints.js';
import { makeCa, makeLeaf } from '../helpers/pki.js';
import { seededRandom } from '../helpers/seed.js';

/** What @peculiar/x509 reads from the same certificate: the reference for the DER walker. */
function reference(der: ArrayBuffer): { ca: boolean; pathLength: number | undefined; mayCertify: boolean } {
  const c = new x509.X509Certificate(der);
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  const ku = c.getExtension(x509.KeyUsagesExtension);
  return { ca: bc?.ca === true, pathLength: bc?.pathLength, mayCertify: ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0 };
}

describe('readCaConstraints', () => {
  it('agrees with @peculiar/x509 on CAs, intermediates and leaves', async () => {
    const root = await makeCa();
    const certs = [
      root,
      await makeCa({ pathLength: 0 }),
      await makeCa({ pathLength: 3, issuer: root }),
      await makeCa({ pathLength: 300 }),
      await makeCa({ isCa: false }),
      await makeCa({ mayCertify: false }),
      await makeLeaf({ issuer: root }),
      await makeLeaf({ issuer: root, isCa: true }),
      await makeLeaf({ eku: null }),
    ];
    for (const c of certs) {
      assert.deepEqual(readCaConstraints(new Uint8Array(c.cert.rawData)), reference(c.cert.rawData), c.subject);
    }
    assert.deepEqual(readCaConstraints(new Uint8Array(certs[1]!.cert.rawData)), { ca: true, pathLength: 0, mayCertify: true });
  });

  it('returns undefined for anything that is not a certificate, never throws', async () => {
    const der = new Uint8Array((await makeCa()).cert.rawData);
    for (const bad of [new Uint8Array(), new Uint8Array([0x30]), new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), der.subarray(0, der.length - 10), new Uint8Array([0x04, 0x00])]) {
      assert.equal(readCaConstraints(bad), undefined);
    }
    const random = seededRandom('ca-constraints bit flips');
    for (let i = 0; i < 200; i++) {
      const copy = Uint8Array.from(der);
      const k = Math.floor(random() * copy.length);
      copy[k] = copy[k]! ^ 0xff;
      assert.doesNotThrow(() => readCaConstraints(copy));
    }
  });
});
