/**
 * Test PKI built directly with @peculiar/x509 (independent of src/ca), for custom-CA and
 * verification tests: roots, intermediates, leaves, with knobs for the broken cases.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface TestCert {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: x509.X509Certificate;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly signingAlgorithm: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams;
}

export interface MakeCertOptions {
  readonly name: string;
  /** Signed by this CA; self-signed when absent. */
  readonly issuer?: TestCert;
  /** basicConstraints cA (default true); `null` leaves the extension out. */
  readonly ca?: boolean | null;
  readonly pathLength?: number;
  /** keyUsage flags; `null` leaves the extension out; default keyCertSign|cRLSign for CAs, digitalSignature otherwise. */
  readonly keyUsage?: number | null;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly keyType?: 'EC_P256' | 'EC_P384' | 'RSA_2048';
  readonly extendedKeyUsage?: string[];
  readonly sans?: { type: 'dns' | 'ip'; value: string }[];
}

const DAY = 86_400_000;

export async function makeCert(o: MakeCertOptions): Promise<TestCert> {
  const keyType = o.keyType ?? 'EC_P256';
  const alg = keyType === 'RSA_2048'
    ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }
    : { name: 'ECDSA', namedCurve: keyType === 'EC_P384' ? 'P-384' : 'P-256', hash: keyType === 'EC_P384' ? 'SHA-384' : 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const isCa = o.ca === undefined ? true : o.ca;
  const extensions: x509.Extension[] = [];
  if (isCa !== null) extensions.push(new x509.BasicConstraintsExtension(isCa, o.pathLength, true));
  const ku = o.keyUsage === undefined
    ? (isCa === true ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature)
    : o.keyUsage;
  if (ku !== null) extensions.push(new x509.KeyUsagesExtension(ku, true));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  if (o.issuer !== undefined) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(o.issuer.cert));
  if (o.extendedKeyUsage !== undefined) extensions.push(new x509.ExtendedKeyUsageExtension(o.extendedKeyUsage));
  if (o.sans !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(o.sans));
  const now = Date.now();
  const serialNumber = '01' + randomBytes(15).toString('hex');
  const common = {
    serialNumber,
    notBefore: o.notBefore ?? new Date(now - DAY),
    notAfter: o.notAfter ?? new Date(now + 365 * DAY),
    extensions,
  };
  const cert = o.issuer === undefined
    ? await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: o.name, keys, signingAlgorithm: alg })
    : await x509.X509CertificateGenerator.create({
      ...common,
      subject: o.name,
      issuer: o.issuer.cert.subject,
      publicKey: keys.publicKey,
      signingKey: o.issuer.keys.privateKey,
      signingAlgorithm: o.issuer.signingAlgorithm,
    });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n';
  return { certPem: cert.toString('pem') + '\n', keyPem, cert, keys, signingAlgorithm: alg };
}

export { x509 };
