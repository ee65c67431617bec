/**
 * Host addresses for the broker's server certificate (`gatehouse.hostAddresses`):
 * classification of each entry as an IP address or a DNS name, and its normal form.
 * Pure, so that `config validate` refuses at validation time exactly what the
 * certificate authority would refuse when it issues the certificate (src/ca/hosts.ts
 * uses this same function).
 *
 * Accepted: IPv4 as four decimal numbers 0-255 without leading zeros; IPv6 bare or in
 * brackets (`[fd00::1]`), in any letter case, normalised to lower-case RFC 5952 form;
 * DNS names (lower-cased, trailing dot removed, internationalised names in punycode, a
 * `*` as the whole left-most label of a name with at least three labels).
 * Refused: a port (`host:8883`, `[::1]:8883`); a URL, path, range or user part; an IPv6
 * zone id (`fe80::1%eth0`); anything made only of digits and dots that is not a valid
 * IPv4 address (`1.2.3`, `256.0.0.1`, `01.2.3.4`), and a DNS name whose last label is
 * numeric — the Greengrass component turns such strings into DNS names that no
 * client would ever match.
 */

/** One subjectAltName entry, normalised: IPv6 in lower-case RFC 5952 form, DNS names in lower case. */
export interface SanEntry {
  readonly type: 'ip' | 'dns';
  readonly value: string;
}

export type HostCheck =
  | { readonly ok: true; readonly entry: SanEntry }
  | { readonly ok: false; readonly code: 'HOST_HAS_PORT' | 'HOST_INVALID'; readonly message: string; readonly fix: string };

const PORT_FIX = 'write the host without a port (the broker port is configured under gatehouse.mqtt.port); IPv6 addresses are written bare or in brackets, e.g. fd00::1';
const INVALID_FIX = 'write a DNS name (e.g. gateway.local) or an IPv4/IPv6 address, without scheme, port or path';

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** Classifies and normalises one host address. */
export function checkHost(input: string): HostCheck {
  const s = input.trim();
  const invalid = (why: string): HostCheck => ({ ok: false, code: 'HOST_INVALID', message: `host address ${JSON.stringify(input)} ${why}`, fix: INVALID_FIX });
  const hasPort = (): HostCheck => ({ ok: false, code: 'HOST_HAS_PORT', message: `host address ${JSON.stringify(input)} includes a port`, fix: PORT_FIX });
  if (s === '') return invalid('is empty');
  if (s.includes('/') || s.includes('@')) return invalid('looks like a URL or an address range, not a host');

  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(s);
  if (bracketed !== null) {
    if (bracketed[2] !== undefined) return hasPort();
    const inner = bracketed[1] ?? '';
    if (inner.includes('%')) return invalid('has an IPv6 zone id, which a certificate cannot hold');
    const v6 = ipv6(inner);
    return v6 === undefined ? invalid('is not a valid IPv6 address') : { ok: true, entry: { type: 'ip', value: v6 } };
  }
  if (s.includes('%')) return invalid('has an IPv6 zone id, which a certificate cannot hold');

  if (IPV4.test(s)) return { ok: true, entry: { type: 'ip', value: s } };
  if (s.includes(':')) {
    const v6 = ipv6(s);
    if (v6 !== undefined) return { ok: true, entry: { type: 'ip', value: v6 } };
    if (/^([^:]+):(\d+)$/.test(s)) return hasPort();
    return invalid('is not a valid IPv6 address');
  }
  if (/^[0-9.]+$/.test(s)) return invalid('is not a valid IPv4 address (four decimal numbers 0-255, no leading zeros)');

  let name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (/[^\x00-\x7f]/.test(name)) {
    // Internationalised name: only letters of any script, digits, '.', '-' and '_' may
    // reach the URL parser, which converts it to punycode (UTS #46).
    if (/[\s!-,/:-@[-^`{-~]/.test(name)) return invalid('is not a valid internationalised domain name');
    try {
      name = new URL(`http://${name}/`).hostname;
    } catch {
      return invalid('is not a valid internationalised domain name');
    }
  }
  name = name.toLowerCase();
  if (name.length === 0 || name.length > 253) return invalid('is not a valid DNS name (1-253 characters)');
  const labels = name.split('.');
  for (const [i, label] of labels.entries()) {
    if (i === 0 && label === '*' && labels.length > 2) continue; // wildcard as the whole left-most label
    if (label.length === 0 || label.length > 63 || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/.test(label)) {
      return invalid(`is not a valid DNS name (label ${JSON.stringify(label)}: 1-63 letters, digits, hyphens or underscores, not starting or ending with a hyphen)`);
    }
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return invalid('is not a valid DNS name (the last label is numeric)');
  return { ok: true, entry: { type: 'dns', value: name } };
}

/**
 * The RFC 5952 form of an IPv6 address, or undefined if it is not one. The WHATWG URL
 * parser validates IPv6 hosts and serialises them in that form (lower case, `::`
 * compression, an embedded IPv4 part as hex).
 */
function ipv6(address: string): string | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(address) || !address.includes(':')) return undefined;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}
