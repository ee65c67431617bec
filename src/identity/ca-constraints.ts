/**
 * The CA constraints Node's X509Certificate does not expose: basicConstraints
 * pathLenConstraint and the KeyUsage bits. (On Node 20, `X509Certificate#keyUsage`
 * returns the *extended* key usage OIDs, and `ca` is the only basicConstraints field.)
 *
 * Read with a minimal DER walker rather than @peculiar/x509: it runs on certificates
 * Node has already parsed (so the outer structure is known to be well-formed), it needs
 * three fields, and it keeps the verification path free of a 0.8 ms parse and of the
 * reflect-metadata import order trap. Anything unexpected yields `undefined`, which
 * callers treat as "not a usable CA" (fail closed).
 */

export interface CaConstraints {
  /** basicConstraints cA. */
  readonly ca: boolean;
  /** Most non-self-issued intermediates allowed below this CA; undefined = no limit. */
  readonly pathLength: number | undefined;
  /** False only when a KeyUsage extension is present without keyCertSign. */
  readonly mayCertify: boolean;
}

interface Tlv {
  readonly tag: number;
  /** Start and end of the contents. */
  readonly start: number;
  readonly end: number;
}

const SEQUENCE = 0x30;
const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OID = 0x06;
const EXTENSIONS = 0xa3; // [3] EXPLICIT in TBSCertificate
const BASIC_CONSTRAINTS = [0x55, 0x1d, 0x13]; // 2.5.29.19
const KEY_USAGE = [0x55, 0x1d, 0x0f]; // 2.5.29.15
const KEY_CERT_SIGN = 0x04; // bit 5 of the first byte (RFC 5280, section 4.2.1.3)

class Malformed extends Error {}

/** Reads the constraints from a certificate's DER; undefined when they cannot be decoded. */
export function readCaConstraints(der: Uint8Array): CaConstraints | undefined {
  try {
    const cert = one(der, 0, der.length, SEQUENCE);
    const tbs = one(der, cert.start, cert.end, SEQUENCE);
    const ext = children(der, tbs).find((c) => c.tag === EXTENSIONS);
    let ca = false;
    let pathLength: number | undefined;
    let mayCertify = true;
    if (ext !== undefined) {
      const list = one(der, ext.start, ext.end, SEQUENCE);
      for (const e of children(der, list)) {
        if (e.tag !== SEQUENCE) throw new Malformed();
        const parts = children(der, e);
        const oid = parts[0];
        const value = parts[parts.length - 1];
        if (oid?.tag !== OID || value?.tag !== OCTET_STRING) throw new Malformed();
        if (equals(der, oid, BASIC_CONSTRAINTS)) {
          const bc = one(der, value.start, value.end, SEQUENCE);
          for (const f of children(der, bc)) {
            if (f.tag === BOOLEAN) ca = f.end > f.start && der[f.start] !== 0;
            else if (f.tag === INTEGER) pathLength = smallInteger(der, f);
          }
        } else if (equals(der, oid, KEY_USAGE)) {
          const bits = one(der, value.start, value.end, BIT_STRING);
          const first = bits.end - bits.start >= 2 ? der[bits.start + 1]! : 0;
          mayCertify = (first & KEY_CERT_SIGN) !== 0;
        }
      }
    }
    return Object.freeze({ ca, pathLength, mayCertify });
  } catch (e) {
    if (e instanceof Malformed) return undefined;
    throw e;
  }
}

function readTlv(der: Uint8Array, pos: number, limit: number): Tlv & { next: number } {
  if (pos + 2 > limit) throw new Malformed();
  const tag = der[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new Malformed(); // high tag numbers do not occur here
  let len = der[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Malformed();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Malformed();
  return { tag, start, end, next: end };
}

function one(der: Uint8Array, start: number, end: number, tag: number): Tlv {
  const t = readTlv(der, start, end);
  if (t.tag !== tag) throw new Malformed();
  return t;
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end;) {
    const t = readTlv(der, pos, parent.end);
    out.push(t);
    pos = t.next;
  }
  return out;
}

function equals(der: Uint8Array, t: Tlv, bytes: readonly number[]): boolean {
  if (t.end - t.start !== bytes.length) return false;
  return bytes.every((b, i) => der[t.start + i] === b);
}

function smallInteger(der: Uint8Array, t: Tlv): number {
  const n = t.end - t.start;
  if (n < 1 || n > 4 || (der[t.start]! & 0x80) !== 0) throw new Malformed(); // negative or huge
  let v = 0;
  for (let i = t.start; i < t.end; i++) v = v * 256 + der[i]!;
  return v;
}
