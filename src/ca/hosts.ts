/**
 * Host addresses of the broker's server certificate: classification of each entry as an
 * IP address or a DNS name (fixing the reference's classifier, cda-spec §7.4 and §12.20),
 * normalisation, de-duplication and detection of the machine's interface addresses.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { domainToASCII } from 'node:url';
import { CaError } from './errors.js';

/** One subjectAltName entry, normalised: IPv6 in lower-case RFC 5952 form, DNS names in lower case. */
export interface SanEntry {
  readonly type: 'ip' | 'dns';
  readonly value: string;
}

export const LOCALHOST = 'localhost';

const PORT_FIX = 'write the host without a port (the broker port is configured under gatehouse.mqtt.port); IPv6 addresses are written bare, e.g. fd00::1';

/**
 * Classifies and normalises one host address. Throws {@link CaError} `CA_HOST_HAS_PORT`
 * for `host:port`, `[v6]:port` forms and `CA_HOST_INVALID` for anything that is neither
 * an IP address nor a valid DNS name.
 */
export function classifyHost(input: string): SanEntry {
  const s = input.trim();
  const invalid = (why: string): CaError =>
    new CaError('CA_HOST_INVALID', `host address ${JSON.stringify(input)} ${why}`, 'write a DNS name (e.g. gateway.local) or an IPv4/IPv6 address, without scheme, port or path');
  if (s === '') throw invalid('is empty');
  if (s.includes('/') || s.includes('@')) throw invalid('looks like a URL or an address range, not a host');

  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(s);
  if (bracketed !== null) {
    if (bracketed[2] !== undefined) throw new CaError('CA_HOST_HAS_PORT', `host address ${JSON.stringify(input)} includes a port`, PORT_FIX);
    const inner = bracketed[1] ?? '';
    if (inner.includes('%')) throw invalid('has an IPv6 zone id, which a certificate cannot hold');
    if (isIP(inner) !== 6) throw invalid('is not a valid IPv6 address');
    return { type: 'ip', value: normaliseIpv6(inner) };
  }
  if (s.includes('%')) throw invalid('has an IPv6 zone id, which a certificate cannot hold');

  const family = isIP(s);
  if (family === 4) return { type: 'ip', value: s };
  if (family === 6) return { type: 'ip', value: normaliseIpv6(s) };

  if (s.includes(':')) {
    const hostPort = /^([^:]+):(\d+)$/.exec(s);
    if (hostPort !== null) throw new CaError('CA_HOST_HAS_PORT', `host address ${JSON.stringify(input)} includes a port`, PORT_FIX);
    throw invalid('is not a valid IPv6 address');
  }
  if (/^[0-9.]+$/.test(s)) throw invalid('is not a valid IPv4 address (four decimal numbers 0-255, no leading zeros)');

  let name = s.endsWith('.') ? s.slice(0, -1) : s;
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(name)) {
    const ascii = domainToASCII(name);
    if (ascii === '') throw invalid('is not a valid internationalised domain name');
    name = ascii;
  }
  name = name.toLowerCase();
  if (name.length === 0 || name.length > 253) throw invalid('is not a valid DNS name (1-253 characters)');
  const labels = name.split('.');
  labels.forEach((label, i) => {
    if (i === 0 && label === '*' && labels.length > 2) return; // wildcard as the whole left-most label
    if (label.length === 0 || label.length > 63 || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/.test(label)) {
      throw invalid(`is not a valid DNS name (label ${JSON.stringify(label)}: 1-63 letters, digits, hyphens or underscores, not starting or ending with a hyphen)`);
    }
  });
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) throw invalid('is not a valid DNS name (the last label is numeric)');
  return { type: 'dns', value: name };
}

function normaliseIpv6(address: string): string {
  // The WHATWG URL parser serialises IPv6 hosts in RFC 5952 canonical form (lower case, `::` compression).
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

export function sanKey(entry: SanEntry): string {
  return `${entry.type}:${entry.value}`;
}

/**
 * The server certificate's SAN list: `configured` hosts, then `detected` interface
 * addresses, then `localhost`; normalised and de-duplicated (first occurrence kept).
 * Configured entries that are not valid throw; detected entries that are not valid
 * (which the OS should never report) are skipped.
 */
export function buildSanList(configured: readonly string[], detected: readonly string[] = []): SanEntry[] {
  const seen = new Set<string>();
  const out: SanEntry[] = [];
  const add = (e: SanEntry): void => {
    const k = sanKey(e);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(e);
    }
  };
  for (const h of configured) add(classifyHost(h));
  for (const h of detected) {
    let e: SanEntry;
    try {
      e = classifyHost(h);
    } catch {
      continue;
    }
    add(e);
  }
  add({ type: 'dns', value: LOCALHOST });
  return out;
}

/** Same SAN set, regardless of order. */
export function sameSanSet(a: readonly SanEntry[], b: readonly SanEntry[]): boolean {
  const ka = new Set(a.map(sanKey));
  const kb = new Set(b.map(sanKey));
  if (ka.size !== kb.size) return false;
  for (const k of ka) if (!kb.has(k)) return false;
  return true;
}

/**
 * The machine's interface addresses (IPv4 and IPv6, loopback included). IPv6 link-local
 * addresses (fe80::/10, which need a zone id to be reachable) are skipped.
 */
export function detectInterfaceAddresses(interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): string[] {
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      const family = String(info.family);
      if (family === 'IPv6' || family === '6') {
        const scoped = 'scopeid' in info && typeof info.scopeid === 'number' && info.scopeid !== 0;
        if (scoped || /^fe[89ab][0-9a-f]:/i.test(info.address) || info.address.includes('%')) continue;
        out.push(info.address);
      } else if (family === 'IPv4' || family === '4') {
        out.push(info.address);
      }
    }
  }
  return out;
}
