/**
 * Cryptographic plumbing shared by the CA modules: the one place that loads
 * @peculiar/x509 (after reflect-metadata: its dependency injection container throws at
 * import time unless reflect-metadata was loaded first) and points it at Node's
 * WebCrypto, key-type detection, key generation, signing-key import and serials.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, generateKeyPair, randomBytes, sign, verify, webcrypto, type KeyObject, type X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** Key types Gatehouse can sign with and accepts in certificates it issues. */
export type KeyType = 'EC_P256' | 'EC_P384' | 'EC_P521' | 'RSA' | 'ED25519';

export interface KeyInfo {
  readonly type: KeyType;
  /** Modulus length for RSA; curve size otherwise. */
  readonly bits: number;
}

/** The supported type of `key` (private or public), or undefined. */
export function describeKey(key: KeyObject): KeyInfo | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      return { type: 'RSA', bits };
    }
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1' || curve === 'P-256') return { type: 'EC_P256', bits: 256 };
      if (curve === 'secp384r1' || curve === 'P-384') return { type: 'EC_P384', bits: 384 };
      if (curve === 'secp521r1' || curve === 'P-521') return { type: 'EC_P521', bits: 521 };
      return undefined;
    }
    case 'ed25519':
      return { type: 'ED25519', bits: 256 };
    default:
      return undefined;
  }
}

type SigningAlgorithm = Parameters<typeof webcrypto.subtle.sign>[0];
type ImportAlgorithm = Parameters<typeof webcrypto.subtle.importKey>[2];

interface AlgorithmPair {
  readonly importAlg: ImportAlgorithm;
  readonly signAlg: SigningAlgorithm;
  /** Digest for node:crypto sign/verify (undefined for Ed25519). */
  readonly nodeDigest: string | undefined;
}

function algorithmsFor(type: KeyType): AlgorithmPair {
  switch (type) {
    case 'EC_P256':
      return { importAlg: { name: 'ECDSA', namedCurve: 'P-256' }, signAlg: { name: 'ECDSA', hash: 'SHA-256' }, nodeDigest: 'sha256' };
    case 'EC_P384':
      return { importAlg: { name: 'ECDSA', namedCurve: 'P-384' }, signAlg: { name: 'ECDSA', hash: 'SHA-384' }, nodeDigest: 'sha384' };
    case 'EC_P521':
      return { importAlg: { name: 'ECDSA', namedCurve: 'P-521' }, signAlg: { name: 'ECDSA', hash: 'SHA-512' }, nodeDigest: 'sha512' };
    case 'RSA':
      return {
        importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        signAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        nodeDigest: 'sha256',
      };
    case 'ED25519':
      return { importAlg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' }, nodeDigest: undefined };
  }
}

/** A CA signing key usable by @peculiar/x509: a non-extractable WebCrypto key plus its algorithm. */
export interface SigningKey {
  readonly key: webcrypto.CryptoKey;
  readonly algorithm: SigningAlgorithm;
  readonly info: KeyInfo;
}

/** Imports a Node private key as a non-extractable WebCrypto signing key (PKCS#8 route; Node 20 lacks KeyObject#toCryptoKey). */
export async function importSigningKey(privateKey: KeyObject, info: KeyInfo): Promise<SigningKey> {
  const { importAlg, signAlg } = algorithmsFor(info.type);
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, importAlg, false, ['sign']);
  return { key, algorithm: signAlg, info };
}

/** True when `privateKey` is the private half of the certificate's public key (sign, then verify). */
export function keyMatchesCertificate(privateKey: KeyObject, info: KeyInfo, cert: X509Certificate): boolean {
  const data = randomBytes(32);
  const digest = algorithmsFor(info.type).nodeDigest ?? null;
  try {
    const signature = sign(digest, data, privateKey);
    return verify(digest, data, cert.publicKey, signature);
  } catch {
    return false;
  }
}

export type LeafKeyType = 'EC_P256' | 'RSA_2048';

const generateKeyPairAsync = promisify(generateKeyPair);

/** A fresh key pair, generated off the event loop (RSA takes ~200 ms). */
export async function generateLeafKeyPair(type: LeafKeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (type === 'RSA_2048') return generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  return generateKeyPairAsync('ec', { namedCurve: 'P-256' });
}

/**
 * A random positive serial number of 128 bits, as hex DER INTEGER content: 16 random
 * bytes (first byte non-zero, so the encoding is minimal) with a 0x00 prefix when the
 * top bit is set, so the value stays positive.
 */
export function randomSerialHex(): string {
  for (;;) {
    const bytes = randomBytes(16);
    const first = bytes[0] ?? 0;
    if (first === 0) continue;
    return (first & 0x80 ? '00' : '') + bytes.toString('hex');
  }
}

/** Lower-case hex SHA-256 of `der` (the certificate id, as AWS IoT computes it). */
export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}
