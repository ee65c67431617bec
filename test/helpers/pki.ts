/**
 * Test PKI built directly with @peculiar/x509, independent of src/ca on purpose so that
 * the CA code and the verifier are tested against certificates they did not make:
 * roots, intermediates and leaves, with knobs for the broken cases.
 *
 * `makeCert` is the one generator; `makeCa` and `makeLeaf` are its shorthands for the
 * identity tests, whose certificates are valid around the fixed instant `NOW`.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const DAY = 86_400_000;

/** The fixed "now" of the identity tests; `makeCa`/`makeLeaf` certificates are valid around it. */
export const NOW = new Date('2026-06-01T12:00:00Z');

export interface TestCert {
  /** The certificate, PEM, with a final newline. */
  readonly pem: string;
  /** The private key, PKCS#8 PEM. */
  readonly keyPem: string;
  /** The certificate ID: SHA-256 of the DER, hex. */
  readonly id: string;
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly subject: string;
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
  /** Default: a day ago. */
  readonly notBefore?: Date;
  /** Default: a year from now. */
  readonly notAfter?: Date;
  readonly keyType?: 'EC_P256' | 'EC_P384' | 'RSA_2048';
  readonly extendedKeyUsage?: readonly string[];
  readonly sans?: { type: 'dns' | 'ip'; value: string }[];
  /** Sign with this key instead of the issuer's (a forged signature). */
  readonly signingKey?: CryptoKey;
}

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
  if (o.issuer !== undefined) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(o.issuer.keys.publicKey));
  if (o.extendedKeyUsage !== undefined) extensions.push(new x509.ExtendedKeyUsageExtension([...o.extendedKeyUsage]));
  if (o.sans !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(o.sans));
  const now = Date.now();
  const common = {
    serialNumber: '01' + randomBytes(15).toString('hex'),
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
      signingKey: o.signingKey ?? o.issuer.keys.privateKey,
      signingAlgorithm: o.issuer.signingAlgorithm,
    });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    pem: cert.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    id: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
    cert,
    keys,
    subject: cert.subject,
    signingAlgorithm: alg,
  };
}

let counter = 1;

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

/** A CA valid a year either side of `NOW`. */
export function makeCa(options: CaOptions = {}): Promise<TestCert> {
  return makeCert({
    name: options.name ?? `CN=Test CA ${counter++}`,
    issuer: options.issuer,
    ca: options.isCa ?? true,
    pathLength: options.pathLength,
    keyUsage: options.mayCertify === false ? x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    notBefore: options.notBefore ?? new Date(NOW.getTime() - 365 * DAY),
    notAfter: options.notAfter ?? new Date(NOW.getTime() + 365 * DAY),
  });
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

/** A device certificate valid 30 days either side of `NOW`; no basicConstraints unless `isCa`. */
export function makeLeaf(options: LeafOptions = {}): Promise<TestCert> {
  const eku = options.eku === undefined ? [x509.ExtendedKeyUsage.clientAuth] : options.eku;
  return makeCert({
    name: `CN=${options.cn ?? `device-${counter++}`}`,
    issuer: options.issuer,
    ca: options.isCa === true ? true : null,
    keyUsage: x509.KeyUsageFlags.digitalSignature | (options.isCa === true ? x509.KeyUsageFlags.keyCertSign : 0),
    extendedKeyUsage: eku ?? undefined,
    notBefore: options.notBefore ?? new Date(NOW.getTime() - 30 * DAY),
    notAfter: options.notAfter ?? new Date(NOW.getTime() + 30 * DAY),
    signingKey: options.signingKey,
  });
}

export const EKU = { clientAuth: x509.ExtendedKeyUsage.clientAuth, serverAuth: x509.ExtendedKeyUsage.serverAuth, any: '2.5.29.37.0' } as const;

export { x509 };
