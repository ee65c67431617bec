import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { parseCertificatePem, type ParsedCertificate } from '../../src/identity/certificate.js';
import { colonHex, extensionIds, iotCertificateContext, iotCertificateContextFromDer, MAX_VALUES_PER_ATTRIBUTE } from '../../src/identity/iot-context.js';
import { x509 } from '../../src/ca/crypto.js';
import { RegistryError } from '../../src/identity/errors.js';
import { hasOpenssl, opensslOk } from '../helpers/openssl.js';
import { makeProcessTempDir } from '../helpers/tmp-dir.js';
import { makeCa, makeCert } from '../helpers/pki.js';

const CERT_VARS = 'https://docs.aws.amazon.com/iot/latest/developerguide/cert-policy-variables.html';
const USE_VARS = 'https://docs.aws.amazon.com/iot/latest/developerguide/use-policy-variables.html';

/** A self-signed certificate made by the openssl command line, parsed as the gateway parses device certificates. */
function opensslCert(subject: string, options: { serial?: string; extensions?: readonly string[]; config?: string } = {}): { parsed: ParsedCertificate; pem: string } {
  const dir = makeProcessTempDir('gatehouse-iotctx-');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', subject, '-multivalue-rdn'];
  if (options.serial !== undefined) args.push('-set_serial', options.serial);
  for (const e of options.extensions ?? []) args.push('-addext', e);
  if (options.config !== undefined) {
    const base = readFileSync(opensslOk(['version', '-d']).match(/"(.*)"/)![1] + '/openssl.cnf', 'utf8');
    writeFileSync(join(dir, 'openssl.cnf'), `${base}\n${options.config}\n`);
    args.push('-config', join(dir, 'openssl.cnf'));
  }
  opensslOk(args);
  const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
  const parsed = parseCertificatePem(pem);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
  return { parsed: parsed.certificates[0], pem };
}

function assertMalformed(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof RegistryError && e.code === 'CERT_MALFORMED' && pattern.test(e.message));
}

describe('iotCertificateContext', { skip: !hasOpenssl && 'openssl not installed' }, () => {
  it(`maps every subject attribute AWS IoT names, multi-valued ones in certificate order (${CERT_VARS})`, () => {
    const { parsed } = opensslCert('/C=US/O=IoT Devices/O=Second Org/OU=LightBulb/ST=NY/L=Albany/CN=LightBulb Device Cert/CN=second/GN=Bulb/initials=ZZ/dnQualifier=Bulb001/SN=Multi Color/title=RGB/pseudonym=RGB Device/generationQualifier=4/serialNumber=123');
    const ctx = iotCertificateContext(parsed);
    assert.deepEqual(ctx.subject, {
      Country: ['US'],
      Organization: ['IoT Devices', 'Second Org'],
      OrganizationalUnit: ['LightBulb'],
      State: ['NY'],
      Locality: ['Albany'],
      CommonName: ['LightBulb Device Cert', 'second'],
      GivenName: ['Bulb'],
      Initials: ['ZZ'],
      DistinguishedNameQualifier: ['Bulb001'],
      Surname: ['Multi Color'],
      Title: ['RGB'],
      Pseudonym: ['RGB Device'],
      GenerationQualifier: ['4'],
      SerialNumber: ['123'],
    });
    assert.deepEqual(ctx.issuer, ctx.subject, 'a self-signed certificate is its own issuer');
    assert.equal(ctx.subjectAlternativeName, undefined, 'no extension, no alternative names');
    assert.equal(ctx.issuerAlternativeName, undefined);
  });

  it('keeps the attributes of a multi-valued RDN and values with DN metacharacters intact', () => {
    const { parsed } = opensslCert('/O=x/OU=u+CN=b+OU=v/CN=a\\,b=c\\+d/O=y');
    const ctx = iotCertificateContext(parsed);
    assert.deepEqual(ctx.subject.CommonName, ['b', 'a,b=c+d']);
    assert.deepEqual(ctx.subject.Organization, ['x', 'y']);
    assert.deepEqual(ctx.subject.OrganizationalUnit, ['u', 'v']);
  });

  it(`reads subject alternative names of each type, the directory name rendered like AWS's example (${USE_VARS})`, () => {
    const { parsed } = opensslCert('/CN=dev', {
      extensions: ['subjectAltName=DNS:example.com,DNS:second.example.com,IP:1.2.3.4,IP:2001:DB8::1,email:dev@example.com,URI:https://example.com/dev,dirName:dir_sect,dirName:odd_sect'],
      config: '[dir_sect]\nC=US\nO=IoT\nOU=SmartHome\nCN=LightBulbCert\n[odd_sect]\nCN=a,b\nO=x;y<z\n',
    });
    const ctx = iotCertificateContext(parsed);
    assert.deepEqual(ctx.subjectAlternativeName, {
      DNSName: ['example.com', 'second.example.com'],
      IPAddress: ['1.2.3.4', '2001:db8::1'],
      RFC822Name: ['dev@example.com'],
      UniformResourceIdentifier: ['https://example.com/dev'],
      DirectoryName: ['cn=LightBulbCert,ou=SmartHome,o=IoT,c=US', 'o=x\\;y\\<z,cn=a\\,b'],
    });
  });

  it('reads issuer alternative names', () => {
    const { parsed } = opensslCert('/CN=dev', { extensions: ['issuerAltName=DNS:ca.example.com,email:ca@example.com'] });
    const ctx = iotCertificateContext(parsed);
    assert.deepEqual(ctx.issuerAlternativeName, { DNSName: ['ca.example.com'], RFC822Name: ['ca@example.com'] });
    assert.equal(ctx.subjectAlternativeName, undefined);
  });

  it(`gives the serial number as openssl prints it, without DER's leading zero byte (${USE_VARS})`, () => {
    // AWS's example serial 92:12:85:cb:b7:a5:e0:86 has its top bit set: DER encodes it as 00 92 12 ….
    const { parsed, pem } = opensslCert('/CN=dev', { serial: '0x921285cbb7a5e086' });
    const ctx = iotCertificateContext(parsed);
    assert.equal(ctx.serialNumber, '92:12:85:cb:b7:a5:e0:86');
    const printed = opensslOk(['x509', '-noout', '-serial'], pem).trim();
    assert.equal(printed, 'serial=921285CBB7A5E086');
    assert.equal(ctx.serialNumber.replaceAll(':', ''), printed.slice('serial='.length).toLowerCase());
    const long = opensslOk(['x509', '-noout', '-text'], pem);
    assert.ok(long.includes('92:12:85:cb:b7:a5:e0:86'), 'the same text as openssl x509 -text');
  });

  it('gives a short serial as whole bytes', () => {
    assert.equal(iotCertificateContext(opensslCert('/CN=dev', { serial: '0x0f01' }).parsed).serialNumber, '0f:01');
    assert.equal(iotCertificateContext(opensslCert('/CN=dev', { serial: '0' }).parsed).serialNumber, '00');
    assert.equal(colonHex('00921285'), '92:12:85');
    assert.equal(colonHex('ABC'), '0a:bc');
  });

  it('gives the validity as ISO 8601', () => {
    const { parsed, pem } = opensslCert('/CN=dev');
    const node = new X509Certificate(pem);
    const ctx = iotCertificateContext(parsed);
    assert.equal(ctx.notBefore, new Date(node.validFrom).toISOString());
    assert.equal(ctx.notAfter, new Date(node.validTo).toISOString());
  });

  it('refuses a certificate with more values than the limit (rather than dropping some)', () => {
    const many = Array.from({ length: MAX_VALUES_PER_ATTRIBUTE + 1 }, (_, i) => `/O=o${i}`).join('');
    assertMalformed(() => iotCertificateContext(opensslCert(`/CN=dev${many}`).parsed), /more than 64 subject Organization values/);
    const atLimit = Array.from({ length: MAX_VALUES_PER_ATTRIBUTE }, (_, i) => `/O=o${i}`).join('');
    assert.equal(iotCertificateContext(opensslCert(`/CN=dev${atLimit}`).parsed).subject.Organization?.length, MAX_VALUES_PER_ATTRIBUTE);
  });

  it('refuses a value longer than the limit (rather than shortening it)', () => {
    const { parsed } = opensslCert('/CN=dev', { extensions: [`subjectAltName=DNS:${'a'.repeat(8193)}`] });
    assertMalformed(() => iotCertificateContext(parsed), /longer than 8192 characters/);
  });

  it('returns a frozen context, decoded once per certificate: a device that reconnects (a new copy of the same bytes) is not decoded again', () => {
    const { parsed, pem } = opensslCert('/CN=dev/O=x', { extensions: ['subjectAltName=DNS:a.example'] });
    const ctx = iotCertificateContext(parsed);
    assert.equal(iotCertificateContext(parsed), ctx);
    assert.equal(iotCertificateContextFromDer(Buffer.from(new X509Certificate(pem).raw)), ctx, 'the same bytes from another connection');
    assert.ok(Object.isFrozen(ctx) && Object.isFrozen(ctx.subject) && Object.isFrozen(ctx.subject.Organization) && Object.isFrozen(ctx.subjectAlternativeName));
    // Another certificate with the same subject is another entry.
    const other = opensslCert('/CN=dev/O=x', { extensions: ['subjectAltName=DNS:a.example'] });
    const otherCtx = iotCertificateContext(other.parsed);
    assert.notEqual(otherCtx, ctx);
    assert.deepEqual(otherCtx.subject, ctx.subject);
  });

  it('finds which extensions a certificate has from what the library already parsed, as its own extension list says (the shortcut for certificates without alternative names)', () => {
    for (const extensions of [[], ['subjectAltName=DNS:a.example'], ['issuerAltName=email:ca@example.com', 'subjectAltName=IP:10.0.0.1']]) {
      const { pem } = opensslCert('/CN=dev', { extensions });
      const c = new x509.X509Certificate(pem);
      const ids = extensionIds(c);
      assert.ok(ids !== undefined, 'the library\'s parsed structure is readable (a library upgrade that changes it makes every lookup take the slow path)');
      assert.deepEqual([...ids].sort(), Array.from(c.extensions, (e) => e.type).sort());
    }
    // Without alternative names the context has none; with only an issuer one, only that.
    assert.equal(iotCertificateContext(opensslCert('/CN=plain').parsed).subjectAlternativeName, undefined);
    const ianOnly = iotCertificateContext(opensslCert('/CN=ian', { extensions: ['issuerAltName=DNS:ca.example'] }).parsed);
    assert.equal(ianOnly.subjectAlternativeName, undefined);
    assert.deepEqual(ianOnly.issuerAlternativeName, { DNSName: ['ca.example'] });
  });

  it('refuses bytes that are not a certificate', () => {
    assertMalformed(() => iotCertificateContextFromDer(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), /cannot be decoded/);
  });
});

describe('iotCertificateContext with the test PKI', () => {
  it('reads the issuer from a CA-signed leaf, and IP and DNS alternative names', async () => {
    const ca = await makeCa({ name: 'CN=Test Root CA, O=Example' });
    const leaf = await makeCert({ name: 'CN=sensor-1', issuer: ca, ca: null, sans: [{ type: 'dns', value: 'sensor-1.local' }, { type: 'ip', value: '10.0.0.7' }, { type: 'ip', value: 'fe80::1' }] });
    const parsed = parseCertificatePem(leaf.pem);
    assert.ok(parsed.ok);
    const ctx = iotCertificateContext(parsed.certificates[0]);
    assert.deepEqual(ctx.subject.CommonName, ['sensor-1']);
    assert.deepEqual(ctx.issuer, { CommonName: ['Test Root CA'], Organization: ['Example'] });
    assert.deepEqual(ctx.subjectAlternativeName, { DNSName: ['sensor-1.local'], IPAddress: ['10.0.0.7', 'fe80::1'] });
  });
});
