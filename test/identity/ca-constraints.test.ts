import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { caConstraintsReader } from '../../src/identity/ca-constraints.js';
import { makeCa, makeLeaf } from '../helpers/pki.js';
import { seededRandom } from '../helpers/seed.js';

/** What @peculiar/x509's extension classes say, mapped to CaConstraints by hand. */
function reference(der: ArrayBuffer): { ca: boolean; pathLength: number | undefined; mayCertify: boolean } {
  const c = new x509.X509Certificate(der);
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  const ku = c.getExtension(x509.KeyUsagesExtension);
  return { ca: bc?.ca === true, pathLength: bc?.pathLength, mayCertify: ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0 };
}

describe('caConstraintsReader', () => {
  it('agrees with @peculiar/x509 on CAs, intermediates and leaves', async () => {
    const readCaConstraints = await caConstraintsReader();
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
    assert.deepEqual(readCaConstraints(new Uint8Array(certs[3]!.cert.rawData)), { ca: true, pathLength: 300, mayCertify: true });
    assert.deepEqual(readCaConstraints(new Uint8Array(certs[4]!.cert.rawData)), { ca: false, pathLength: undefined, mayCertify: true });
    assert.equal(readCaConstraints(new Uint8Array(certs[5]!.cert.rawData))?.mayCertify, false);
    assert.equal(readCaConstraints(new Uint8Array(certs[6]!.cert.rawData))?.ca, false);
  });

  it('treats a path length beyond 32 bits as malformed', async () => {
    const readCaConstraints = await caConstraintsReader();
    const huge = await makeCa({ pathLength: 2 ** 40 });
    // The library hands such a value over as a string, not a number.
    assert.equal(String(reference(huge.cert.rawData).pathLength), String(2 ** 40));
    assert.equal(readCaConstraints(new Uint8Array(huge.cert.rawData)), undefined);
  });

  it('returns undefined for anything that is not a certificate, never throws', async () => {
    const readCaConstraints = await caConstraintsReader();
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
