/**
 * Policy variables and condition keys: what each resolves to, AWS's rules for
 * certificate values, escapes, single-pass literal substitution, and Version.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IotContext } from '../../../../src/core/policy/iot/context.js';
import { resolveKey, resolveVariable, serialToDecimal } from '../../../../src/core/policy/iot/keys.js';
import { compileIotPolicies } from '../../../../src/core/policy/iot/engine.js';
import { ARN, CTX, DEPLOYMENT, allow, allowed, deny, policies } from './helpers.js';

const CERT_CTX: IotContext = {
  clientId: 'dev1',
  thingName: 'dev1',
  thingTypeName: 'Lamp',
  attributes: { room: 'kitchen', Floor: '2' },
  isAttached: true,
  sourceIp: '10.0.0.7',
  certificate: {
    subject: { CommonName: ['dev1'], Country: ['US', 'DE', 'FR', 'IT', 'ES', 'PT'], Organization: ['Acme*'], OrganizationalUnit: ['x'.repeat(1025)] },
    issuer: { CommonName: ['Root CA'] },
    subjectAlternativeName: { DNSName: ['dev1.example.com', 'alt.example.com'] },
    serialNumber: '92:12:85:cb:b7:a5:e0:86',
  },
};

describe('resolveKey', () => {
  it('resolves the basic, thing and certificate keys, names case-insensitive', () => {
    const r = (k: string): readonly string[] | undefined => resolveKey(CERT_CTX, k, DEPLOYMENT);
    assert.deepEqual(r('iot:ClientId'), ['dev1']);
    assert.deepEqual(r('IOT:CLIENTID'), ['dev1']);
    assert.deepEqual(r('iot:Connection.Thing.ThingName'), ['dev1']);
    assert.deepEqual(r('iot:Connection.Thing.ThingTypeName'), ['Lamp']);
    assert.deepEqual(r('iot:Connection.Thing.Attributes[room]'), ['kitchen']);
    assert.deepEqual(r('iot:connection.thing.attributes[Floor]'), ['2']);
    assert.equal(r('iot:Connection.Thing.Attributes[floor]'), undefined, 'attribute names keep their case');
    assert.deepEqual(r('iot:Connection.Thing.IsAttached'), ['true']);
    assert.deepEqual(r('aws:SourceIp'), ['10.0.0.7']);
    assert.equal(r('iot:DomainName'), undefined);
    assert.deepEqual(r('iot:Certificate.Subject.CommonName'), ['dev1']);
    assert.deepEqual(r('iot:Certificate.Issuer.CommonName'), ['Root CA']);
    assert.deepEqual(r('iot:Certificate.Subject.AlternativeName.DNSName'), ['dev1.example.com']);
    assert.deepEqual(r('iot:Certificate.Subject.AlternativeName.DNSName.1'), ['alt.example.com']);
    assert.equal(r('iot:Certificate.Subject.Locality'), undefined);
  });

  it('multi-valued certificate attributes: first value, `.N` counted from zero as in AWS example, `.List`, at most five values', () => {
    const r = (k: string): readonly string[] | undefined => resolveKey(CERT_CTX, k, DEPLOYMENT);
    assert.deepEqual(r('iot:Certificate.Subject.Country'), ['US']);
    assert.deepEqual(r('iot:Certificate.Subject.Country.0'), ['US']);
    assert.deepEqual(r('iot:Certificate.Subject.Country.1'), ['DE']);
    assert.deepEqual(r('iot:Certificate.Subject.Country.4'), ['ES']);
    assert.equal(r('iot:Certificate.Subject.Country.5'), undefined);
    assert.deepEqual(r('iot:Certificate.Subject.Country.List'), ['US', 'DE', 'FR', 'IT', 'ES']);
  });

  it('the serial number is the decimal integer', () => {
    assert.equal(serialToDecimal('92:12:85:cb:b7:a5:e0:86'), '10525622389124227206');
    assert.deepEqual(resolveKey(CERT_CTX, 'iot:Certificate.SerialNumber', DEPLOYMENT), ['10525622389124227206']);
  });

  it('without a thing the thing keys are absent', () => {
    const noThing: IotContext = { clientId: 'c', thingName: null, thingTypeName: 'Lamp', attributes: { room: 'k' } };
    assert.equal(resolveKey(noThing, 'iot:Connection.Thing.ThingName', DEPLOYMENT), undefined);
    assert.equal(resolveKey(noThing, 'iot:Connection.Thing.ThingTypeName', DEPLOYMENT), undefined);
    assert.equal(resolveKey(noThing, 'iot:Connection.Thing.Attributes[room]', DEPLOYMENT), undefined);
  });

  it('connection keys and time', () => {
    const c: IotContext = { clientId: 'c', thingName: null, connectAttributes: ['PersistentConnect', 'LastWill'], lastWillTopic: 'w/1', secureTransport: true };
    assert.deepEqual(resolveKey(c, 'iot:ConnectAttributes', DEPLOYMENT), ['PersistentConnect', 'LastWill']);
    assert.deepEqual(resolveKey(c, 'iot:LastWillTopic', DEPLOYMENT), [`${ARN}:topic/w/1`]);
    assert.deepEqual(resolveKey(c, 'aws:SecureTransport', DEPLOYMENT), ['true']);
    assert.deepEqual(resolveKey(c, 'aws:CurrentTime', DEPLOYMENT, Date.UTC(2026, 5, 1)), ['2026-06-01T00:00:00.000Z']);
    assert.deepEqual(resolveKey(c, 'aws:EpochTime', DEPLOYMENT, Date.UTC(2026, 5, 1, 0, 0, 1, 999)), [String(Date.UTC(2026, 5, 1) / 1000 + 1)]);
    assert.deepEqual(resolveKey({ ...c, currentTime: '2020-01-01T00:00:00Z' }, 'aws:CurrentTime', DEPLOYMENT, 0), ['2020-01-01T00:00:00Z']);
  });
});

describe('resolveVariable', () => {
  it('does not substitute certificate values with `* $ + ? #` or longer than 1024 characters, nor `.List`', () => {
    assert.equal(resolveVariable(CERT_CTX, 'iot:Certificate.Subject.Organization', DEPLOYMENT), undefined);
    assert.equal(resolveVariable(CERT_CTX, 'iot:Certificate.Subject.OrganizationalUnit', DEPLOYMENT), undefined);
    assert.equal(resolveVariable(CERT_CTX, 'iot:Certificate.Subject.Country.List', DEPLOYMENT), undefined);
    assert.equal(resolveVariable(CERT_CTX, 'iot:ConnectAttributes', DEPLOYMENT), undefined);
    assert.equal(resolveVariable(CERT_CTX, 'iot:Certificate.Subject.Country.1', DEPLOYMENT), 'DE');
    // Non-certificate values are substituted whatever they hold (and stay literal).
    assert.equal(resolveVariable({ clientId: 'a*#', thingName: null }, 'iot:ClientId', DEPLOYMENT), 'a*#');
  });
});

describe('variables in resources', () => {
  it('substitute the connection values', () => {
    const s = policies([allow('iot:Publish', [`${ARN}:topic/t/\${iot:Connection.Thing.ThingName}/*`, `${ARN}:topic/cn/\${iot:Certificate.Subject.CommonName}`, `${ARN}:topic/sn/\${iot:Certificate.SerialNumber}`])]);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/t/dev1/x`, CERT_CTX));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/t/dev2/x`, CERT_CTX));
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/cn/dev1`, CERT_CTX));
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/sn/10525622389124227206`, CERT_CTX));
  });

  it('variable names are case-insensitive', () => {
    const s = policies([allow('iot:Connect', `${ARN}:client/\${IOT:clientid}`)]);
    assert.ok(allowed(s, 'iot:Connect', `${ARN}:client/dev1`));
  });

  it('substituted text is literal: a `*` in a client ID is not a wildcard, and `${…}` in a value is not expanded again', () => {
    const s = policies([allow('iot:Publish', `${ARN}:topic/c/\${iot:ClientId}`)]);
    const star: IotContext = { clientId: '*', thingName: null };
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/c/*`, star));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/c/anything`, star));
    const q: IotContext = { clientId: 'a?', thingName: null };
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/c/ab`, q));
    const nested: IotContext = { clientId: '${iot:Connection.Thing.ThingName}', thingName: 'dev1' };
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/c/dev1`, nested));
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/c/\${iot:Connection.Thing.ThingName}`, nested));
  });

  it('`+` and `#` from a client ID stay literal characters', () => {
    const s = policies([allow('iot:Subscribe', `${ARN}:topicfilter/my/\${iot:ClientId}/topic`)]);
    assert.ok(allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/my/+/topic`, { clientId: '+', thingName: null }));
    assert.ok(!allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/my/x/topic`, { clientId: '+', thingName: null }));
  });

  it('`${*}`, `${?}`, `${$}` are literal characters', () => {
    const s = policies([allow('iot:Publish', [`${ARN}:topic/star/\${*}`, `${ARN}:topic/q/\${?}`, `${ARN}:topic/d/\${$}{iot:ClientId}`])]);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/star/*`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/star/x`));
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/q/?`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/q/x`));
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/d/\${iot:ClientId}`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/d/dev1`));
  });

  it('only with Version 2012-10-17: otherwise `${…}` is plain text', () => {
    for (const Version of ['2008-10-17', undefined]) {
      const r = compileIotPolicies([{ name: 'p', document: { ...(Version ? { Version } : {}), Statement: allow('iot:Connect', `${ARN}:client/\${iot:ClientId}`) } }], DEPLOYMENT);
      assert.ok(r.ok);
      assert.ok(!r.set.decide('all', CTX, { action: 'iot:Connect', resource: `${ARN}:client/dev1` }, 0).allowed);
      assert.ok(r.set.decide('all', CTX, { action: 'iot:Connect', resource: `${ARN}:client/\${iot:ClientId}` }, 0).allowed);
    }
  });

  it('an unresolved variable: the entry matches nothing (Allow grants nothing)', () => {
    const s = policies([allow('iot:Publish', [`${ARN}:topic/a/\${iot:Connection.Thing.Attributes[missing]}`, `${ARN}:topic/b/\${iot:Certificate.Subject.Organization}`, `${ARN}:topic/c/\${iot:Certificate.Subject.Country.7}`, `${ARN}:topic/d/\${iot:DomainName}`, `${ARN}:topic/e/\${iot:NoSuchVariable}`])]);
    for (const t of ['a/', 'b/', 'b/Acme*', 'c/', 'd/', 'e/']) assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/${t}`, CERT_CTX), t);
    const noThing = policies([allow('iot:Connect', `${ARN}:client/\${iot:Connection.Thing.ThingName}`)]);
    assert.ok(!allowed(noThing, 'iot:Connect', `${ARN}:client/dev1`, { clientId: 'dev1', thingName: null }));
  });

  it('an unresolved variable in a Deny Resource: the Deny does not fire through it (IAM)', () => {
    const s = policies([allow('iot:Publish', '*'), deny('iot:Publish', `${ARN}:topic/\${iot:Connection.Thing.Attributes[blocked]}`)]);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/x`, { clientId: 'c', thingName: 't', attributes: {} }));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/x`, { clientId: 'c', thingName: 't', attributes: { blocked: 'x' } }));
  });

  it('an unresolved variable in NotResource fails closed: an Allow does not apply, a Deny does', () => {
    const noThing: IotContext = { clientId: 'c', thingName: null };
    const a = policies([{ Effect: 'Allow', Action: 'iot:Publish', NotResource: `${ARN}:topic/\${iot:Connection.Thing.ThingName}/private` }]);
    assert.ok(!allowed(a, 'iot:Publish', `${ARN}:topic/x`, noThing));
    assert.ok(allowed(a, 'iot:Publish', `${ARN}:topic/x`, CTX));
    assert.ok(!allowed(a, 'iot:Publish', `${ARN}:topic/dev1/private`, CTX));
    const d = policies([allow('iot:Publish', '*'), { Effect: 'Deny', Action: 'iot:Publish', NotResource: `${ARN}:topic/\${iot:Connection.Thing.ThingName}/*` }]);
    assert.ok(!allowed(d, 'iot:Publish', `${ARN}:topic/x`, noThing));
    assert.ok(allowed(d, 'iot:Publish', `${ARN}:topic/dev1/x`, CTX));
  });
});
