/**
 * Parsing certificates from PEM text, and the facts the registry and the verifier need.
 *
 * Parsing never throws: untrusted input (a device's certificate, a file an operator
 * passes) gets a result with a reason. The PEM reader is strict — every BEGIN needs its
 * END, bodies are plain base64, and the DER must be exactly one certificate — because
 * lenient readers are how truncated or doctored input gets half-accepted.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { certificatePem, readPemBlocks } from '../core/pem.js';

/** OID of the clientAuth extended key usage, and of anyExtendedKeyUsage. */
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const EKU_ANY = '2.5.29.37.0';

/** Largest PEM text accepted (a chain of a leaf and a few intermediates is ~1–10 KiB). */
export const MAX_PEM_LENGTH = 256 * 1024;
/** Most certificates accepted in one PEM text (leaf plus intermediates). */
export const MAX_CHAIN_LENGTH = 8;

export interface ParsedCertificate {
  readonly x509: X509Certificate;
  /** Lower-case hex SHA-256 of the DER encoding: the certificate id (as AWS IoT computes it). */
  readonly id: string;
  /** Canonical PEM of this one certificate (64-column base64, `\n` line ends). */
  readonly pem: string;
  /** Subject and issuer as `CN=a, O=b` (Node's RDN order). */
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /**
   * Usable as a CA: basicConstraints cA, and keyCertSign when a KeyUsage extension is
   * present (OpenSSL's X509_check_ca, which Node's `ca` reports).
   */
  readonly isCa: boolean;
  /** Extended key usage OIDs, or undefined when the extension is absent (any use). */
  readonly extKeyUsage: readonly string[] | undefined;
}

export type ParseResult =
  | { readonly ok: true; readonly certificates: readonly [ParsedCertificate, ...ParsedCertificate[]] }
  | { readonly ok: false; readonly message: string };

/**
 * Parses one or more `CERTIFICATE` blocks (leaf first). Text between blocks is allowed
 * (OpenSSL writes explanatory text there); other block types, an unterminated block,
 * bad base64 or bad DER make the whole input malformed.
 */
export function parseCertificatePem(text: unknown, known?: KnownCertificates): ParseResult {
  if (typeof text !== 'string') return fail('certificate must be PEM text');
  if (text.length > MAX_PEM_LENGTH) return fail(`certificate text is larger than ${MAX_PEM_LENGTH} bytes`);
  const read = readPemBlocks(text, MAX_CHAIN_LENGTH);
  if (!read.ok) return fail(read.message);
  const out: ParsedCertificate[] = [];
  for (const { label, der } of read.blocks) {
    if (label !== 'CERTIFICATE') return fail(`expected CERTIFICATE blocks, found a ${label} block`);
    const parsed = parseCertificateDer(der, known);
    if (!parsed.ok) return fail(`certificate ${out.length + 1}: ${parsed.message}`);
    out.push(parsed.certificate);
  }
  const [first, ...rest] = out;
  if (first === undefined) return fail('no PEM certificate found (expected -----BEGIN CERTIFICATE-----)');
  return { ok: true, certificates: [first, ...rest] };
}

/** Certificates already parsed, by id; a hit is reused instead of parsing the same bytes again. */
export type KnownCertificates = (id: string) => ParsedCertificate | undefined;

/**
 * Parses exactly one DER certificate (no trailing bytes). With `known`, a certificate
 * parsed before (every device of a fleet presents the same issuer after its own
 * certificate) is not parsed again: same id means the same DER bytes.
 */
export function parseCertificateDer(der: Buffer, known?: KnownCertificates): { ok: true; certificate: ParsedCertificate } | { ok: false; message: string } {
  if (known === undefined) return parseDer(der);
  const hit = known(certificateId(der));
  return hit !== undefined ? { ok: true, certificate: hit } : parseDer(der);
}

function parseDer(der: Buffer): { ok: true; certificate: ParsedCertificate } | { ok: false; message: string } {
  let x: X509Certificate;
  try {
    x = new X509Certificate(der);
  } catch {
    return { ok: false, message: 'not a valid X.509 certificate' };
  }
  // OpenSSL ignores bytes after the certificate; we do not.
  if (x.raw.length !== der.length) return { ok: false, message: 'unexpected bytes after the certificate' };
  return describeCertificate(x);
}

/** The facts of a certificate `parseDer` has decoded. */
function describeCertificate(x: X509Certificate): { ok: true; certificate: ParsedCertificate } | { ok: false; message: string } {
  const notBefore = new Date(x.validFrom);
  const notAfter = new Date(x.validTo);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return { ok: false, message: 'unreadable validity dates' };
  let eku: string[] | undefined;
  try {
    // Node 20's `keyUsage` is the extended key usage list (OIDs), not the KeyUsage bits.
    eku = x.keyUsage;
  } catch {
    return { ok: false, message: 'unreadable extended key usage' };
  }
  return {
    ok: true,
    certificate: Object.freeze({
      x509: x,
      id: certificateId(x.raw),
      pem: certificatePem(x.raw),
      subject: rdns(x.subject),
      issuer: rdns(x.issuer),
      serialNumber: x.serialNumber.toLowerCase(),
      notBefore,
      notAfter,
      isCa: x.ca,
      extKeyUsage: eku === undefined ? undefined : Object.freeze([...eku]),
    }),
  };
}

/** Lower-case hex SHA-256 of the DER encoding. */
export function certificateId(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Whether the extended key usage (if present) allows TLS client authentication. */
export function allowsClientAuth(c: ParsedCertificate): boolean {
  return c.extKeyUsage === undefined || c.extKeyUsage.includes(EKU_CLIENT_AUTH) || c.extKeyUsage.includes(EKU_ANY);
}

function rdns(name: string): string {
  return name.split('\n').join(', ');
}

function fail(message: string): ParseResult {
  return { ok: false, message };
}
