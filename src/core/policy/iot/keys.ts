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

/** Looks a record key up ignoring case (certificate attribute names). */
function pick(record: Readonly<Record<string, readonly string[]>> | undefined, lowerName: string): readonly string[] | undefined {
  if (!record) return undefined;
  for (const k of Object.keys(record)) if (k.toLowerCase() === lowerName) return record[k];
  return undefined;
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
  const m = CERT_ATTR.exec(lower);
  if (!m) return undefined;
  const [, side, alt, name, suffix] = m;
  const record = alt
    ? side === 'subject' ? cert.subjectAlternativeName : cert.issuerAlternativeName
    : side === 'subject' ? cert.subject : cert.issuer;
  const all = pick(record, name!);
  if (!all || all.length === 0) return undefined;
  const kept = all.slice(0, MAX_CERT_VALUES);
  if (suffix === 'list') return { values: kept, list: true };
  // `.N`: AWS's example reads `.1` as the second value, so N counts from zero.
  const index = suffix === undefined ? 0 : Number(suffix);
  const v = kept[index];
  return v === undefined ? undefined : { values: [v], list: false };
}

/**
 * The request's values for a condition key (or a variable name), undefined when the key
 * is absent. `now` (epoch ms) answers `aws:CurrentTime` and `aws:EpochTime` when the
 * context does not fix the time.
 */
export function resolveKey(ctx: IotContext, key: string, deployment: IotDeployment, now?: number): readonly string[] | undefined {
  const lower = key.toLowerCase();
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
  const attr = THING_ATTR.exec(lower);
  if (attr) {
    if (ctx.thingName === null || !ctx.attributes) return undefined;
    // The attribute name keeps the case written in the key.
    const name = key.slice(key.indexOf('[') + 1, key.lastIndexOf(']'));
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
  const lower = name.toLowerCase();
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
