/**
 * The certificate part of the AWS IoT policy context: what the `iot:Certificate.*`
 * policy variables and condition keys name, read from a device certificate.
 *
 * https://docs.aws.amazon.com/iot/latest/developerguide/cert-policy-variables.html
 * https://docs.aws.amazon.com/iot/latest/developerguide/use-policy-variables.html
 *
 * The certificate is decoded by @peculiar/x509 (the library the CA uses), attribute by
 * attribute, never by splitting a printed distinguished name: a printed subject is
 * ambiguous when a value contains `,` `+` or `=` or an RDN has several attributes.
 *
 * Work is bounded by the certificate's size (the PEM reader caps it); beyond that, a
 * certificate with more values than any real one has is refused (CERT_MALFORMED)
 * rather than cut short, because dropping or shortening a value could make a condition
 * such as `ForAllValues:StringEquals` or `StringNotLike` hold when it should not.
 *
 * Importing this module loads @peculiar/x509 (a few hundred milliseconds the first
 * time): commands that never read device certificates should import it on demand, as
 * bootstrap.ts does with the CA. Decoding costs one full library parse and a little more
 * (2–7 ms per certificate measured on a loaded 2-core machine);
 * the result is cached per parsed certificate, which the verifier reuses for the same
 * bytes.
 */
import { x509 } from '../ca/crypto.js';
import type { IotCertificateContext } from '../core/policy/iot/context.js';
import { certificateId, type ParsedCertificate } from './certificate.js';
import { RegistryError } from './errors.js';

/** Most values kept for one subject or issuer attribute, or one alternative-name type. */
export const MAX_VALUES_PER_ATTRIBUTE = 64;
/** Longest attribute or alternative-name value, in characters. */
export const MAX_VALUE_LENGTH = 8192;

/** Subject and issuer attributes by OID, under the names AWS IoT uses. */
export const IOT_NAME_ATTRIBUTES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CommonName',
  '2.5.4.10': 'Organization',
  '2.5.4.11': 'OrganizationalUnit',
  '2.5.4.6': 'Country',
  '2.5.4.8': 'State',
  '2.5.4.7': 'Locality',
  '2.5.4.5': 'SerialNumber',
  '2.5.4.12': 'Title',
  '2.5.4.4': 'Surname',
  '2.5.4.42': 'GivenName',
  '2.5.4.43': 'Initials',
  '2.5.4.65': 'Pseudonym',
  '2.5.4.44': 'GenerationQualifier',
  '2.5.4.46': 'DistinguishedNameQualifier',
};

/** Short names @peculiar/x509 gives some attribute types in `Name#toJSON`, back to OIDs. */
const LIBRARY_NAMES: Readonly<Record<string, string>> = {
  CN: '2.5.4.3', L: '2.5.4.7', ST: '2.5.4.8', O: '2.5.4.10', OU: '2.5.4.11', C: '2.5.4.6',
  DC: '0.9.2342.19200300.100.1.25', E: '1.2.840.113549.1.9.1', G: '2.5.4.42', I: '2.5.4.43', SN: '2.5.4.4', T: '2.5.4.12',
};

/** Attribute type names in a rendered DirectoryName (lower case, as in AWS's example); other types print as their OID. */
const DN_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'cn', '2.5.4.10': 'o', '2.5.4.11': 'ou', '2.5.4.6': 'c', '2.5.4.8': 'st', '2.5.4.7': 'l',
  '2.5.4.5': 'serialnumber', '2.5.4.12': 'title', '2.5.4.4': 'sn', '2.5.4.42': 'gn', '2.5.4.43': 'initials',
  '2.5.4.65': 'pseudonym', '2.5.4.44': 'generationqualifier', '2.5.4.46': 'dnqualifier', '2.5.4.9': 'street',
  '0.9.2342.19200300.100.1.25': 'dc', '0.9.2342.19200300.100.1.1': 'uid', '1.2.840.113549.1.9.1': 'emailaddress',
};

/** One relative distinguished name: its attributes as [OID, value], in encoded order. */
type Rdn = readonly (readonly [string, string])[];

/**
 * Contexts already decoded, by certificate id (SHA-256 of the DER: the same id, the same
 * bytes, the same fields). Decoding takes about 1.2 ms with the library (it parses every
 * extension of the certificate to find the alternative names), once per connection of
 * a device authorized by AWS IoT policies; a device that reconnects is decoded once.
 * Contexts are frozen, so sharing them is safe. Bounded; the oldest entry goes first.
 */
const decoded = new Map<string, IotCertificateContext>();
const DECODED_LIMIT = 4096;

/**
 * The IoT policy context of a device certificate. Throws `RegistryError` CERT_MALFORMED
 * when the library cannot decode a part AWS IoT exposes, or when the certificate
 * exceeds the limits above.
 */
export function iotCertificateContext(cert: ParsedCertificate): IotCertificateContext {
  return contextOf(cert.id, cert.x509.raw);
}

/** The same from DER bytes (for callers without a ParsedCertificate, and for tests). */
export function iotCertificateContextFromDer(der: Uint8Array): IotCertificateContext {
  return contextOf(certificateId(der), der);
}

/** The context of the certificate `id` (its DER's SHA-256), decoded from `der` unless kept. */
function contextOf(id: string, der: Uint8Array): IotCertificateContext {
  const hit = decoded.get(id);
  if (hit !== undefined) return hit;
  const context = decode(der);
  if (decoded.size >= DECODED_LIMIT) decoded.delete(decoded.keys().next().value as string);
  decoded.set(id, context);
  return context;
}

function decode(der: Uint8Array): IotCertificateContext {
  let c: x509.X509Certificate;
  try {
    c = new x509.X509Certificate(der);
  } catch (e) {
    throw malformed(`the certificate cannot be decoded: ${(e as Error).message}`);
  }
  const present = extensionIds(c);
  const subjectAlternativeName = present?.has(SAN_OID) === false ? undefined : alternativeNames(c, x509.SubjectAlternativeNameExtension, 'subject alternative name');
  const issuerAlternativeName = present?.has(IAN_OID) === false ? undefined : alternativeNames(c, x509.IssuerAlternativeNameExtension, 'issuer alternative name');
  return deepFreeze({
    subject: nameAttributes(rdnsOf(c.subjectName, 'subject'), 'subject'),
    issuer: nameAttributes(rdnsOf(c.issuerName, 'issuer'), 'issuer'),
    ...(subjectAlternativeName !== undefined ? { subjectAlternativeName } : {}),
    ...(issuerAlternativeName !== undefined ? { issuerAlternativeName } : {}),
    serialNumber: colonHex(c.serialNumber),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
  });
}

/** The RDNs of a name, with attribute types as OIDs. */
function rdnsOf(name: x509.Name, where: string): Rdn[] {
  let json: ReturnType<x509.Name['toJSON']>;
  try {
    json = name.toJSON();
  } catch (e) {
    throw malformed(`the ${where} cannot be decoded: ${(e as Error).message}`);
  }
  return json.map((rdn) => {
    const out: (readonly [string, string])[] = [];
    for (const [type, values] of Object.entries(rdn)) {
      const oid = LIBRARY_NAMES[type] ?? type;
      for (const v of values) out.push([oid, v]);
    }
    return out;
  });
}

function nameAttributes(rdns: readonly Rdn[], where: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const rdn of rdns) {
    for (const [oid, value] of rdn) {
      const name = IOT_NAME_ATTRIBUTES[oid];
      if (name === undefined) continue;
      add(out, name, value, `${where} ${name}`);
    }
  }
  return out;
}

type AltNameExtension = typeof x509.SubjectAlternativeNameExtension | typeof x509.IssuerAlternativeNameExtension;

const SAN_OID = '2.5.29.17';
const IAN_OID = '2.5.29.18';

/**
 * The OIDs of the certificate's extensions as the library has already read them, or
 * undefined when they cannot be read that way (then every extension is looked up as
 * usual). The library's `getExtension` builds a typed object for every extension of the
 * certificate (serializing and parsing each one again) just to find one: about 0.65 ms
 * for a device certificate, half the cost of this whole context. Most device
 * certificates have no alternative names, and for them this list is enough. When a
 * certificate has one, it is still read through `getExtension`, unchanged. `asn` is the
 * library's parsed structure (declared protected in @peculiar/x509 2.2.0, which
 * package.json pins).
 */
export function extensionIds(c: x509.X509Certificate): ReadonlySet<string> | undefined {
  const tbs = (c as unknown as { asn?: { tbsCertificate?: { extensions?: unknown } } }).asn?.tbsCertificate;
  if (typeof tbs !== 'object' || tbs === null) return undefined;
  const extensions = tbs.extensions;
  if (extensions === undefined) return new Set(); // a certificate without extensions
  if (!Array.isArray(extensions)) return undefined;
  const ids = new Set<string>();
  for (const e of extensions as unknown[]) {
    const id = (e as { extnID?: unknown } | null)?.extnID;
    if (typeof id !== 'string') return undefined;
    ids.add(id);
  }
  return ids;
}

/** DNSName, IPAddress, RFC822Name, UniformResourceIdentifier, DirectoryName → values; undefined without the extension. */
function alternativeNames(c: x509.X509Certificate, type: AltNameExtension, where: string): Record<string, string[]> | undefined {
  let names: readonly x509.GeneralName[];
  try {
    const ext = c.getExtension(type);
    if (ext === null) return undefined;
    names = ext.names.items;
  } catch (e) {
    // Includes names of kinds the library does not decode (an otherName it does not
    // know, an X.400 address): refusing is safer than silently leaving names out.
    throw malformed(`the ${where} extension cannot be decoded: ${(e as Error).message}`);
  }
  const out: Record<string, string[]> = {};
  for (const n of names) {
    switch (n.type) {
      case 'dns': add(out, 'DNSName', n.value, where); break;
      case 'email': add(out, 'RFC822Name', n.value, where); break;
      case 'url': add(out, 'UniformResourceIdentifier', n.value, where); break;
      case 'ip': add(out, 'IPAddress', n.value.toLowerCase(), where); break;
      case 'dn': add(out, 'DirectoryName', renderDirectoryName(directoryNameRdns(n, where)), where); break;
      default: break; // registeredID, GUID, UPN: no AWS IoT variable names them
    }
  }
  return out;
}

/** The RDNs of a directoryName general name: the DER is `[4] EXPLICIT Name`, the inner part a Name. */
function directoryNameRdns(n: x509.GeneralName, where: string): Rdn[] {
  const der = new Uint8Array(n.rawData);
  const inner = explicitContent(der);
  if (inner === undefined) throw malformed(`a directoryName in the ${where} cannot be decoded`);
  return rdnsOf(new x509.Name(inner), where);
}

/** The content of a DER TLV (tag byte, definite length), or undefined when it does not span the input. */
function explicitContent(der: Uint8Array): Uint8Array | undefined {
  if (der.length < 2) return undefined;
  let length = der[1]!;
  let offset = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || der.length < 2 + count) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = (length << 8) | der[2 + i]!;
    offset = 2 + count;
  }
  if (offset + length !== der.length) return undefined;
  return der.subarray(offset);
}

/**
 * A directory name as in AWS IoT's one example (`/C=US/O=IoT/OU=SmartHome/CN=LightBulbCert`
 * becomes `cn=LightBulbCert,ou=SmartHome,o=IoT,c=US`): RDNs last to first, joined by
 * `,`; attributes of one RDN joined by `+`; lower-case type names; values escaped as
 * RFC 4514 says (`,` `+` `"` `\` `<` `>` `;` and `=`, a leading `#` or space, a trailing
 * space).
 */
export function renderDirectoryName(rdns: readonly Rdn[]): string {
  return [...rdns].reverse()
    .map((rdn) => rdn.map(([oid, value]) => `${DN_NAMES[oid] ?? oid}=${escapeDnValue(value)}`).join('+'))
    .join(',');
}

function escapeDnValue(value: string): string {
  let out = value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

function add(out: Record<string, string[]>, name: string, value: string, where: string): void {
  if (value.length > MAX_VALUE_LENGTH) throw malformed(`a ${where} value is longer than ${MAX_VALUE_LENGTH} characters`);
  const list = (out[name] ??= []);
  if (list.length >= MAX_VALUES_PER_ATTRIBUTE) throw malformed(`the certificate has more than ${MAX_VALUES_PER_ATTRIBUTE} ${where} values`);
  list.push(value);
}

/**
 * The serial number as openssl prints a long one: lower-case hex bytes joined by `:`,
 * without the zero byte DER adds before a serial whose top bit is set
 * (`00 92 12 …` → `92:12:…`).
 */
export function colonHex(hex: string): string {
  let h = hex.toLowerCase();
  if (!/^[0-9a-f]+$/.test(h)) throw malformed('the serial number cannot be decoded');
  if (h.length % 2 === 1) h = `0${h}`;
  while (h.length > 2 && h.startsWith('00')) h = h.slice(2);
  return h.match(/../g)!.join(':');
}

function malformed(message: string): RegistryError {
  return new RegistryError('CERT_MALFORMED', message, 'issue the device a certificate with ordinary subject and alternative names');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
