/**
 * Key lookups stay correct behind the parsed-key caches: certificate attribute names in
 * any spelling, and many distinct names (the caches are bounded and cleared when full).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IotContext } from '../../../../src/core/policy/iot/context.js';
import { resolveKey, resolveVariable } from '../../../../src/core/policy/iot/keys.js';
import { DEPLOYMENT } from './helpers.js';

const ctx = (subject: Record<string, string[]>): IotContext => ({
  clientId: 'dev1',
  thingName: 'dev1',
  attributes: { site: 'plant-7' },
  certificate: { subject, issuer: { CommonName: ['Root CA'] }, serialNumber: '01' },
});

describe('key lookups behind the caches', () => {
  it('find certificate attributes spelled otherwise than documented, and prefer the documented spelling', () => {
    assert.equal(resolveVariable(ctx({ commonNAME: ['odd'] }), 'iot:Certificate.Subject.CommonName', DEPLOYMENT), 'odd');
    assert.equal(resolveVariable(ctx({ commonname: ['a'], CommonName: ['b'] }), 'iot:certificate.subject.commonname', DEPLOYMENT), 'b');
    assert.equal(resolveVariable(ctx({ Organization: ['acme'] }), 'iot:Certificate.Subject.CommonName', DEPLOYMENT), undefined);
  });

  it('answer the same after thousands of distinct names have filled and cleared the caches', () => {
    const c = ctx({ CommonName: ['dev1'], Organization: ['acme'] });
    for (let i = 0; i < 3000; i++) {
      assert.equal(resolveKey(c, `iot:Connection.Thing.Attributes[a${i}]`, DEPLOYMENT), undefined);
      assert.equal(resolveVariable(c, `iot:Certificate.Subject.X${i}`, DEPLOYMENT), undefined);
      if (i % 500 === 0) {
        assert.equal(resolveVariable(c, 'iot:Certificate.Subject.Organization', DEPLOYMENT), 'acme');
        assert.deepEqual(resolveKey(c, 'IOT:CERTIFICATE.SUBJECT.COMMONNAME', DEPLOYMENT), ['dev1']);
        assert.deepEqual(resolveKey(c, 'iot:Connection.Thing.Attributes[site]', DEPLOYMENT), ['plant-7']);
        assert.deepEqual(resolveKey(c, 'iot:Connection.Thing.Attributes[Site]', DEPLOYMENT), undefined);
        assert.deepEqual(resolveKey(c, 'IOT:CONNECTION.THING.ATTRIBUTES[site]', DEPLOYMENT), ['plant-7']);
        assert.equal(resolveVariable({ ...c, thingName: null }, 'iot:Connection.Thing.Attributes[site]', DEPLOYMENT), undefined);
      }
    }
  });
});
