/**
 * Test certificates made with @peculiar/x509: CAs, intermediates and leaves with
 * chosen validity, extensions and issuers. Independent of src/ca on purpose, so the
 * verifier is tested against certificates it did not make.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** The fixed "now" of the tests; certificates are valid a year either side by default. */
export const NOW = new Date('2026-06-01T12:00:00Z');

export interface TestCert {
  readonly pem: string;
  readonly keyPem: string;
  readonly id: string;
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly subject: string;
}

export interface CaOptions {
  readonly name?: string;
  /** Signed by this CA (an intermediate); self-signed when absent. */
  readonly issuer?: TestCert;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly pathLength?: number;
  /** false: no basicConstraints cA (a "CA" that is not one). */
  readonly isCa?: boolean;
  /** false: KeyUsage without keyCertSign. */
  readonly mayCertify?: boolean;
}

export interface LeafOptions {
  readonly issuer?: TestCert;
  readonly cn?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** EKU OIDs; null: no EKU extension. Default: clientAuth. */
  readonly eku?: readonly string[] | null;
  readonly isCa?: boolean;
  /** Sign with this key instead of the issuer's (a forged signature). */
  readonly signingKey?: CryptoKey;
}

let serial = 1;
const nextSerial = (): string => (serial++).toString(16).padStart(2, '0') + createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 14);

export async function makeCa(options: CaOptions = {}): Promise<TestCert> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const name = options.name ?? `CN=Test CA ${serial}`;
  const notBefore = options.notBefore ?? new Date(NOW.getTime() - 365 * DAY);
  const notAfter = options.notAfter ?? new Date(NOW.getTime() + 365 * DAY);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(options.isCa ?? true, options.pathLength, true),
    new x509.KeyUsagesExtension(options.mayCertify === false ? x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  let cert: x509.X509Certificate;
  if (options.issuer) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(options.issuer.keys.publicKey));
    cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(), subject: name, issuer: options.issuer.cert.subject, notBefore, notAfter,
      signingAlgorithm: ALG, publicKey: keys.publicKey, signingKey: options.issuer.keys.privateKey, extensions,
    });
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: nextSerial(), name, notBefore, notAfter, signingAlgorithm: ALG, keys, extensions });
  }
  return finish(cert, keys);
}

export async function makeLeaf(options: LeafOptions = {}): Promise<TestCert> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cn = options.cn ?? `device-${serial}`;
  const eku = options.eku === undefined ? [x509.ExtendedKeyUsage.clientAuth] : options.eku;
  const usage = x509.KeyUsageFlags.digitalSignature | (options.isCa ? x509.KeyUsageFlags.keyCertSign : 0);
  const extensions: x509.Extension[] = [new x509.KeyUsagesExtension(usage, true)];
  if (eku !== null) extensions.push(new x509.ExtendedKeyUsageExtension([...eku]));
  if (options.isCa) extensions.push(new x509.BasicConstraintsExtension(true, undefined, true));
  const notBefore = options.notBefore ?? new Date(NOW.getTime() - 30 * DAY);
  const notAfter = options.notAfter ?? new Date(NOW.getTime() + 30 * DAY);
  let cert: x509.X509Certificate;
  if (options.issuer) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(options.issuer.keys.publicKey));
    cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(), subject: `CN=${cn}`, issuer: options.issuer.cert.subject, notBefore, notAfter, signingAlgorithm: ALG,
      publicKey: keys.publicKey, signingKey: options.signingKey ?? options.issuer.keys.privateKey, extensions,
    });
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: nextSerial(), name: `CN=${cn}`, notBefore, notAfter, signingAlgorithm: ALG, keys, extensions });
  }
  return finish(cert, keys);
}

async function finish(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<TestCert> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    pem: cert.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    id: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
    cert,
    keys,
    subject: cert.subject,
  };
}

export const EKU = { clientAuth: x509.ExtendedKeyUsage.clientAuth, serverAuth: x509.ExtendedKeyUsage.serverAuth, any: '2.5.29.37.0' } as const;
