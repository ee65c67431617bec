/**
 * The values a policy variable or a condition key names, for one connection
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-variables.html and the
 * pages it links: basic, thing and X.509 certificate variables;
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
 * for the global `aws:` keys).
 *
 * `resolveKey` answers condition lookups (multi-valued keys give every value);
 * `resolveVariable` answers `${…}` substitution, which is stricter: only single values,
 * and certificate values AWS does not substitute stay unresolved.
 *
 * Names compare case-insensitively; attribute names inside `Attributes[…]` are kept
 * as written. Absent means undefined, never an empty string.
 */
import type { IotContext, IotDeployment } from './context.js';

/** AWS keeps at most this many values of a multi-valued certificate attribute. */
export const MAX_CERT_VALUES = 5;
/** Certificate values longer than this are not substituted. */
export const MAX_SUBSTITUTED_LENGTH = 1024;
/** Certificate values holding one of these characters are not substituted. */
const UNSUBSTITUTABLE = /[*$+?#]/;

const THING_ATTR = /^iot:connection\.thing\.attributes\[(.+)\]$/;
const CERT_ATTR = /^iot:certificate\.(subject|issuer)\.(alternativename\.)?([a-z0-9]+)(?:\.(list|\d+))?$/;

function one(v: string | null | undefined): readonly string[] | undefined {
  return v === undefined || v === null ? undefined : [v];
}

/** The spelling of certificate attribute names in contexts, by lower-cased name. */
const CERT_NAMES: ReadonlyMap<string, string> = new Map([
  'CommonName', 'Organization', 'OrganizationalUnit', 'Country', 'State', 'Locality', 'SerialNumber', 'Title', 'Surname', 'GivenName',
  'Initials', 'Pseudonym', 'GenerationQualifier', 'DistinguishedNameQualifier',
  'DNSName', 'IPAddress', 'RFC822Name', 'UniformResourceIdentifier', 'DirectoryName',
].map((n) => [n.toLowerCase(), n]));

/** Looks a record key up ignoring case (certificate attribute names): the documented spelling first, then any. */
function pick(record: Readonly<Record<string, readonly string[]>> | undefined, lowerName: string): readonly string[] | undefined {
  if (!record) return undefined;
  const spelled = CERT_NAMES.get(lowerName);
  if (spelled !== undefined && Object.prototype.hasOwnProperty.call(record, spelled)) return record[spelled];
  for (const k of Object.keys(record)) if (k.toLowerCase() === lowerName) return record[k];
  return undefined;
}

/** A parsed `iot:Certificate.(Subject|Issuer)[.AlternativeName].<Name>[.List|.N]` key. */
interface CertKey {
  readonly subject: boolean;
  readonly alt: boolean;
  readonly name: string;
  /** -1 for `.List`, else the value's index. */
  readonly index: number;
}

/**
 * Parsed certificate keys, attribute names and lower-cased names, by the text as
 * written: policies name the same few keys on every decision. Both caches are bounded (cleared when full), so
 * arbitrary names cannot grow them without limit.
 */
const CACHE_LIMIT = 1024;
const certKeys = new Map<string, CertKey | null>();
const lowerNames = new Map<string, string>();

function lowerName(name: string): string {
  let lower = lowerNames.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (lowerNames.size >= CACHE_LIMIT) lowerNames.clear();
    lowerNames.set(name, lower);
  }
  return lower;
}

const attributeNames = new Map<string, string | null>();

/** The attribute a `iot:Connection.Thing.Attributes[…]` key names, as written in the key (case kept); undefined for other keys. */
function attributeName(key: string, lower: string): string | undefined {
  let name = attributeNames.get(key);
  if (name === undefined) {
    name = THING_ATTR.test(lower) ? key.slice(key.indexOf('[') + 1, key.lastIndexOf(']')) : null;
    if (attributeNames.size >= CACHE_LIMIT) attributeNames.clear();
    attributeNames.set(key, name);
  }
  return name ?? undefined;
}

function parseCertKey(lower: string): CertKey | undefined {
  let k = certKeys.get(lower);
  if (k === undefined) {
    const m = CERT_ATTR.exec(lower);
    k = m ? { subject: m[1] === 'subject', alt: m[2] !== undefined, name: m[3]!, index: m[4] === 'list' ? -1 : m[4] === undefined ? 0 : Number(m[4]) } : null;
    if (certKeys.size >= CACHE_LIMIT) certKeys.clear();
    certKeys.set(lower, k);
  }
  return k ?? undefined;
}

/** `92:12:85:cb` → the decimal string of that integer, as AWS IoT substitutes serial numbers. */
export function serialToDecimal(hex: string): string | undefined {
  const digits = hex.replace(/:/g, '');
  if (!/^[0-9a-fA-F]+$/.test(digits)) return undefined;
  return BigInt(`0x${digits}`).toString(10);
}

interface CertLookup {
  readonly values: readonly string[];
  /** `.List`: every value, usable only as a multi-valued condition key. */
  readonly list: boolean;
}

function certificateKey(ctx: IotContext, lower: string): CertLookup | undefined {
  const cert = ctx.certificate;
  if (!cert) return undefined;
  if (lower === 'iot:certificate.serialnumber') {
    const d = serialToDecimal(cert.serialNumber);
    return d === undefined ? undefined : { values: [d], list: false };
  }
  const k = parseCertKey(lower);
  if (!k) return undefined;
  const record = k.alt
    ? k.subject ? cert.subjectAlternativeName : cert.issuerAlternativeName
    : k.subject ? cert.subject : cert.issuer;
  const all = pick(record, k.name);
  if (!all || all.length === 0) return undefined;
  if (k.index < 0) return { values: all.slice(0, MAX_CERT_VALUES), list: true };
  // `.N`: AWS's example reads `.1` as the second value, so N counts from zero.
  const v = k.index < MAX_CERT_VALUES ? all[k.index] : undefined;
  return v === undefined ? undefined : { values: [v], list: false };
}

/**
 * The request's values for a condition key (or a variable name), undefined when the key
 * is absent. `now` (epoch ms) answers `aws:CurrentTime` and `aws:EpochTime` when the
 * context does not fix the time.
 */
export function resolveKey(ctx: IotContext, key: string, deployment: IotDeployment, now?: number): readonly string[] | undefined {
  const lower = lowerName(key);
  switch (lower) {
    case 'iot:clientid':
      return one(ctx.clientId);
    case 'iot:connection.thing.thingname':
      return one(ctx.thingName);
    case 'iot:connection.thing.thingtypename':
      return ctx.thingName === null ? undefined : one(ctx.thingTypeName);
    case 'iot:connection.thing.isattached':
      return ctx.isAttached === undefined ? undefined : [String(ctx.isAttached)];
    case 'aws:sourceip':
      return one(ctx.sourceIp);
    case 'iot:domainname':
      return undefined;
    case 'iot:connectattributes':
      return ctx.connectAttributes;
    case 'iot:lastwilltopic':
      return ctx.lastWillTopic === undefined
        ? undefined
        : [`arn:${deployment.partition}:iot:${deployment.region}:${deployment.accountId}:topic/${ctx.lastWillTopic}`];
    case 'aws:securetransport':
      return ctx.secureTransport === undefined ? undefined : [String(ctx.secureTransport)];
    case 'aws:currenttime': {
      if (ctx.currentTime !== undefined) return [ctx.currentTime];
      return now === undefined ? undefined : [new Date(now).toISOString()];
    }
    case 'aws:epochtime': {
      const ms = ctx.currentTime !== undefined ? Date.parse(ctx.currentTime) : now;
      return ms === undefined || Number.isNaN(ms) ? undefined : [String(Math.floor(ms / 1000))];
    }
  }
  const name = attributeName(key, lower);
  if (name !== undefined) {
    if (ctx.thingName === null || !ctx.attributes) return undefined;
    return Object.prototype.hasOwnProperty.call(ctx.attributes, name) ? one(ctx.attributes[name]) : undefined;
  }
  return certificateKey(ctx, lower)?.values;
}

/**
 * The text a `${name}` variable is replaced with, or undefined when it stays unresolved:
 * an absent or multi-valued key, a `.List` name, or a certificate value AWS does not
 * substitute (longer than 1024 characters or holding `*`, `$`, `+`, `?`, `#`)
 * (https://docs.aws.amazon.com/iot/latest/developerguide/use-policy-variables.html).
 */
export function resolveVariable(ctx: IotContext, name: string, deployment: IotDeployment, now?: number): string | undefined {
  const lower = lowerName(name);
  if (lower === 'iot:connectattributes') return undefined;
  if (lower.startsWith('iot:certificate.')) {
    const c = certificateKey(ctx, lower);
    if (!c || c.list) return undefined;
    const v = c.values[0]!;
    return v.length > MAX_SUBSTITUTED_LENGTH || UNSUBSTITUTABLE.test(v) ? undefined : v;
  }
  const values = resolveKey(ctx, name, deployment, now);
  return values && values.length === 1 ? values[0] : undefined;
}

/** Whether a variable name is one Gatehouse can ever resolve (unknown names warn at load). */
export function isKnownVariable(name: string): boolean {
  const lower = name.toLowerCase();
  return [
    'iot:clientid', 'iot:connection.thing.thingname', 'iot:connection.thing.thingtypename', 'iot:connection.thing.isattached',
    'aws:sourceip', 'iot:domainname', 'iot:lastwilltopic', 'aws:securetransport', 'aws:currenttime', 'aws:epochtime',
    'iot:certificate.serialnumber',
  ].includes(lower) || THING_ATTR.test(lower) || (CERT_ATTR.test(lower) && !lower.endsWith('.list'));
}

/**
 * Whether a condition key is one Gatehouse can ever give a value: the variables above,
 * `iot:ConnectAttributes`, and the `.List` forms of certificate keys. Any other key is
 * always absent here (a misspelt key makes a positive operator false and a negated one
 * true), so documents naming one load with a warning.
 */
export function isKnownConditionKey(name: string): boolean {
  const lower = name.toLowerCase();
  return isKnownVariable(name) || lower === 'iot:connectattributes' || CERT_ATTR.test(lower);
}
