/**
 * Opening the identity layer of a data directory: the registry (`registry.db`) and
 * the gateway CA, with the gateway CA trusted as a device CA on first use.
 *
 * The gateway and the CLI both come through here, so "first use" means the same
 * thing whichever runs first. Trusting happens once per CA certificate (see
 * Registry.trustGatewayCa): if the operator later runs `gatehouse ca untrust` on it,
 * a restart does not add it back. A new gateway CA (a custom CA configured later, a
 * re-created managed CA) is trusted on its first use; the old one stays trusted until
 * the operator untrusts it, so devices it issued keep working.
 */
import type { CertificateAuthorityConfig } from '../core/config/types.js';
import type { GatewayCa } from '../ca/authority.js';
import { ensureDataDir } from '../data-dir.js';
import { registryPath, SqliteRegistry } from './sqlite-registry.js';

export interface OpenIdentityOptions {
  readonly now?: () => Date;
  /** Directory that relative custom-CA paths are resolved against (the CLI passes the config file's directory). */
  readonly baseDir?: string;
}

export interface IdentityHandles {
  readonly registry: SqliteRegistry;
  readonly ca: GatewayCa;
  /** True when this call added the gateway CA to the trusted device CAs. */
  readonly gatewayCaTrusted: boolean;
}

/** Creates the data directory (0700) if needed and opens its registry. */
export async function openRegistry(dataDir: string, options: { readonly now?: () => Date } = {}): Promise<SqliteRegistry> {
  await ensureDataDir(dataDir);
  return SqliteRegistry.open({ file: registryPath(dataDir), ...(options.now ? { now: options.now } : {}) });
}

/**
 * Opens the gateway CA (creating the managed CA on first use) and the registry, and
 * trusts the CA's certificate as a device CA the first time this CA is seen. If the CA
 * cannot be opened, nothing else is.
 */
export async function openIdentity(
  dataDir: string,
  config: { readonly certificateAuthority: CertificateAuthorityConfig },
  options: OpenIdentityOptions = {},
): Promise<IdentityHandles> {
  await ensureDataDir(dataDir);
  // Loaded on demand: the CA pulls in @peculiar/x509, which registry-only commands never need.
  const { GatewayCa } = await import('../ca/authority.js');
  const ca = await GatewayCa.open({
    dataDir,
    config: config.certificateAuthority,
    ...(options.now ? { now: options.now } : {}),
    ...(options.baseDir !== undefined ? { baseDir: options.baseDir } : {}),
  });
  const registry = await openRegistry(dataDir, options);
  try {
    const { added } = await registry.trustGatewayCa(ca.certificatePem);
    return { registry, ca, gatewayCaTrusted: added };
  } catch (e) {
    await registry.close();
    throw e;
  }
}
