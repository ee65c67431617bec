/**
 * Host addresses of the broker's server certificate: classification of each entry as an
 * IP address or a DNS name (the pure classifier in src/core/config/hosts.ts, which
 * fixes the Greengrass component's), de-duplication and detection of the machine's
 * interface addresses.
 */
import { networkInterfaces } from 'node:os';
import { checkHost, type SanEntry } from '../core/config/hosts.js';
import { CaError } from './errors.js';

export type { SanEntry };

export const LOCALHOST = 'localhost';

/**
 * Classifies and normalises one host address (see src/core/config/hosts.ts for what is
 * accepted). Throws {@link CaError} `CA_HOST_HAS_PORT` for `host:port`, `[v6]:port`
 * forms and `CA_HOST_INVALID` for anything that is neither an IP address nor a valid
 * DNS name. `config validate` refuses the same inputs, so a configuration that
 * validates never fails here.
 */
export function classifyHost(input: string): SanEntry {
  const r = checkHost(input);
  if (r.ok) return r.entry;
  throw new CaError(r.code === 'HOST_HAS_PORT' ? 'CA_HOST_HAS_PORT' : 'CA_HOST_INVALID', r.message, r.fix);
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
