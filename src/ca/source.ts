/**
 * Reading CA material from `certificateAuthority.*Uri` settings and from the managed
 * store, and checking it: the key matches the certificate, the certificate is a CA, it
 * is valid now, and the chain links up. Every failure is a {@link CaError} with a code.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeKey, keyMatchesCertificate, x509, type KeyInfo } from './crypto.js';
import { CaError, errnoCode } from './errors.js';
import { readPemBlocks, toPem, type PemBlock } from '../core/pem.js';

/** A CA certificate with its private key and chain (issuing CA first), checked. */
export interface CaMaterial {
  readonly certificate: X509Certificate;
  readonly chain: readonly X509Certificate[];
  readonly privateKey: KeyObject;
  readonly keyInfo: KeyInfo;
}

export type CaField = 'certificateUri' | 'certificateChainUri' | 'privateKeyUri';

/**
 * Resolves a `file:` URI or a plain path to an absolute path. `pkcs11:` and other
 * schemes are refused with a coded error.
 */
export function resolveCaUri(uri: string, field: CaField, baseDir: string): string {
  const where = `certificateAuthority.${field}`;
  const trimmed = uri.trim();
  if (trimmed === '') throw new CaError('CA_CONFIG_INCOMPLETE', `${where} is empty`, `set ${where} to a file: URI or a path, or remove it`);
  if (/^pkcs11:/i.test(trimmed)) {
    throw new CaError('CA_PKCS11_UNSUPPORTED', `${where} is a PKCS#11 URI; Gatehouse cannot use keys held in hardware tokens or HSMs yet`,
      'export the CA certificate and key to PEM files and set file: URIs or paths, or remove the certificateAuthority URIs to use the managed CA');
  }
  if (/^file:/i.test(trimmed)) {
    try {
      return fileURLToPath(trimmed);
    } catch (err) {
      throw new CaError('CA_URI_UNSUPPORTED', `${where} is not a valid local file: URI (${(err as Error).message})`,
        'use file:///absolute/path or a plain path');
    }
  }
  // A scheme is two or more letters before ':' (a single letter would be a Windows drive).
  if (/^[a-z][a-z0-9+.-]+:/i.test(trimmed)) {
    const scheme = trimmed.slice(0, trimmed.indexOf(':'));
    throw new CaError('CA_URI_UNSUPPORTED', `${where} uses the unsupported URI scheme "${scheme}:"`,
      'use a file: URI or a plain path to a PEM file');
  }
  return isAbsolute(trimmed) ? trimmed : resolve(baseDir, trimmed);
}

async function readCaFile(path: string, field: CaField): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = errnoCode(err) ?? 'error';
    throw new CaError('CA_FILE_UNREADABLE', `cannot read certificateAuthority.${field} file ${path}: ${code}`,
      code === 'EACCES' ? `make ${path} readable by the user running gatehouse (keys should stay mode 0600 and owned by that user)` : `check that ${path} exists and is a readable file`);
  }
}

/** Parses every CERTIFICATE block of `text`. */
export function parseCertificates(text: string, what: string, minimum = 1): X509Certificate[] {
  const read = readPemBlocks(text);
  if (!read.ok) throw new CaError('CA_PEM_INVALID', `${what} is not valid PEM: ${read.message}`, 'provide PEM "-----BEGIN CERTIFICATE-----" blocks');
  const blocks = read.blocks;
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE');
  if (certs.length < minimum) {
    throw new CaError('CA_PEM_INVALID', `${what} holds no PEM certificate`, 'provide a file with "-----BEGIN CERTIFICATE-----" blocks');
  }
  return certs.map((b, i) => {
    try {
      return new X509Certificate(b.der);
    } catch {
      throw new CaError('CA_PEM_INVALID', `${what}: certificate #${i + 1} is not a valid X.509 certificate`, 'check that the file was not truncated or corrupted');
    }
  });
}

/** Parses the (single) unencrypted private key of `text`. Never echoes key material. */
export function parsePrivateKey(text: string, what: string): { key: KeyObject; info: KeyInfo } {
  const encryptedFix = 'decrypt the key (e.g. `openssl pkey -in key.pem -out key-plain.pem`), store it mode 0600, and point privateKeyUri at it';
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(text)) {
    throw new CaError('CA_KEY_ENCRYPTED', `${what} is encrypted with a passphrase, which Gatehouse cannot prompt for`, encryptedFix);
  }
  const read = readPemBlocks(text);
  if (!read.ok) throw new CaError('CA_PEM_INVALID', `${what} is not valid PEM: ${read.message}`, 'provide a PEM private key (PKCS#8 "PRIVATE KEY", or "RSA/EC PRIVATE KEY")');
  const blocks = read.blocks;
  const keyBlocks = blocks.filter((b) => b.label === 'PRIVATE KEY' || b.label === 'RSA PRIVATE KEY' || b.label === 'EC PRIVATE KEY');
  if (keyBlocks.length !== 1) {
    throw new CaError('CA_PEM_INVALID', keyBlocks.length === 0 ? `${what} holds no PEM private key` : `${what} holds ${keyBlocks.length} private keys; expected one`,
      'provide exactly one PEM private key (PKCS#8 "PRIVATE KEY", or "RSA/EC PRIVATE KEY")');
  }
  const block = keyBlocks[0] as PemBlock;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: toPem(block.label, block.der), format: 'pem' });
  } catch (err) {
    if (errnoCode(err) === 'ERR_MISSING_PASSPHRASE') throw new CaError('CA_KEY_ENCRYPTED', `${what} is encrypted`, encryptedFix);
    throw new CaError('CA_PEM_INVALID', `${what} is not a valid private key`, 'check that the file was not truncated or corrupted');
  }
  const info = describeKey(key);
  if (info === undefined) {
    throw new CaError('CA_KEY_UNSUPPORTED', `${what} is a ${key.asymmetricKeyType ?? 'unknown'} key; supported CA keys are RSA (2048 bits or more), EC P-256/P-384/P-521 and Ed25519`,
      'use a CA with a supported key type');
  }
  if (info.type === 'RSA' && info.bits < 2048) {
    throw new CaError('CA_KEY_UNSUPPORTED', `${what} is an RSA key of ${info.bits} bits; at least 2048 are required`, 'use a CA with a stronger key');
  }
  return { key, info };
}

export interface CaExtensions {
  readonly ca: boolean;
  readonly pathLength: number | undefined;
  /** undefined when the certificate has no keyUsage extension. */
  readonly keyCertSign: boolean | undefined;
  readonly subjectKeyId: string | undefined;
}

/**
 * The CA extensions of a certificate (DER), read by @peculiar/x509: the one reader of
 * basicConstraints and keyUsage, for the CA's own material and for the verifier of
 * device chains. Throws on input it cannot decode.
 */
export function caExtensions(der: Uint8Array): CaExtensions {
  const parsed = new x509.X509Certificate(der);
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension);
  return {
    ca: bc?.ca === true,
    pathLength: bc?.pathLength,
    keyCertSign: ku === null ? undefined : (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0,
    subjectKeyId: ski?.keyId,
  };
}

function describeCert(cert: X509Certificate): string {
  return `"${cert.subject.replace(/\n/g, ', ')}"`;
}

/**
 * Checks CA material: key matches certificate, every certificate is a CA allowed to sign
 * certificates (basicConstraints cA, keyCertSign if keyUsage is present, path length),
 * everything is valid at `now`, and chain[i] is issued and signed by chain[i + 1].
 * `what` names the source in messages.
 */
export function checkCaMaterial(m: CaMaterial, now: Date, what: string, mismatchCode: 'CA_KEY_MISMATCH' | 'CA_STORE_CORRUPT' = 'CA_KEY_MISMATCH'): void {
  if (!keyMatchesCertificate(m.privateKey, m.keyInfo, m.certificate)) {
    throw new CaError(mismatchCode, `${what}: the private key does not belong to the CA certificate ${describeCert(m.certificate)}`,
      mismatchCode === 'CA_KEY_MISMATCH' ? 'point privateKeyUri at the key the CA certificate was issued for' : 'restore the file from a backup, or move it aside to generate a new CA (devices must then trust the new CA certificate)');
  }
  m.chain.forEach((cert, i) => {
    const ext = caExtensions(cert.raw);
    const label = i === 0 ? `${what}: the CA certificate ${describeCert(cert)}` : `${what}: chain certificate #${i + 1} ${describeCert(cert)}`;
    if (!ext.ca) {
      throw new CaError('CA_NOT_A_CA', `${label} is not a CA certificate (basicConstraints cA is not true)`,
        'use a certificate issued as a CA (basicConstraints critical, CA:TRUE), e.g. `openssl req -x509 ... -addext basicConstraints=critical,CA:TRUE`');
    }
    if (ext.keyCertSign === false) {
      throw new CaError('CA_NOT_A_CA', `${label} has a keyUsage extension without keyCertSign, so it may not sign certificates`,
        'use a CA certificate whose keyUsage includes keyCertSign');
    }
    // pathLenConstraint bounds the CA certificates below this one (chain[0..i-1]).
    if (ext.pathLength !== undefined && ext.pathLength < i) {
      throw new CaError('CA_CHAIN_INVALID', `${label} has pathLenConstraint ${ext.pathLength} but ${i} CA certificate(s) below it in the chain`,
        'use a chain whose path length constraints allow this intermediate');
    }
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    if (now.getTime() > to.getTime()) {
      throw new CaError('CA_EXPIRED', `${label} expired on ${to.toISOString()}`,
        i === 0 && mismatchCode === 'CA_STORE_CORRUPT'
          ? 'move the managed CA file aside to generate a new CA (devices must then trust the new CA certificate)'
          : 'renew the CA certificate (same key) and update the certificate and chain files');
    }
    if (now.getTime() < from.getTime()) {
      throw new CaError('CA_NOT_YET_VALID', `${label} is not valid before ${from.toISOString()}`,
        'check the system clock, or wait until the certificate becomes valid');
    }
    const parent = m.chain[i + 1];
    if (parent !== undefined) {
      if (cert.checkIssued(parent) === false || !cert.verify(parent.publicKey)) {
        throw new CaError('CA_CHAIN_INVALID', `${what}: chain certificate ${describeCert(cert)} is not issued by the next certificate ${describeCert(parent)}`,
          'order the chain file issuing CA first, then its issuer, up to the root, with nothing missing in between');
      }
    } else if (cert.checkIssued(cert) && !cert.verify(cert.publicKey)) {
      throw new CaError('CA_CHAIN_INVALID', `${what}: the self-signed certificate ${describeCert(cert)} has a bad signature`,
        'replace the corrupted certificate');
    }
  });
}

export interface CustomCaSettings {
  readonly certificateUri: string;
  readonly privateKeyUri: string;
  readonly certificateChainUri?: string;
}

/** Loads and checks a custom CA. Relative paths are resolved against `baseDir`. */
export async function loadCustomCa(settings: CustomCaSettings, baseDir: string, now: Date): Promise<CaMaterial> {
  const certPath = resolveCaUri(settings.certificateUri, 'certificateUri', baseDir);
  const keyPath = resolveCaUri(settings.privateKeyUri, 'privateKeyUri', baseDir);
  const chainPath = settings.certificateChainUri !== undefined ? resolveCaUri(settings.certificateChainUri, 'certificateChainUri', baseDir) : undefined;

  const certs = parseCertificates(await readCaFile(certPath, 'certificateUri'), `CA certificate file ${certPath}`);
  const { key, info } = parsePrivateKey(await readCaFile(keyPath, 'privateKeyUri'), `CA private key file ${keyPath}`);
  const certificate = certs[0] as X509Certificate;

  let chain: X509Certificate[];
  if (chainPath !== undefined) {
    const listed = parseCertificates(await readCaFile(chainPath, 'certificateChainUri'), `CA chain file ${chainPath}`);
    const first = listed[0] as X509Certificate;
    if (first.raw.equals(certificate.raw)) chain = listed;
    else if (certificate.checkIssued(first)) chain = [certificate, ...listed];
    else {
      throw new CaError('CA_CHAIN_INVALID', `CA chain file ${chainPath} neither starts with the CA certificate ${describeCert(certificate)} nor with its issuer`,
        'put the issuing CA certificate first in the chain file, then its issuer, up to the root');
    }
  } else {
    chain = certs; // extra certificates in the certificate file continue the chain
  }
  const material: CaMaterial = { certificate, chain, privateKey: key, keyInfo: info };
  checkCaMaterial(material, now, `custom CA (${certPath})`);
  return material;
}
