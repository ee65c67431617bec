/**
 * The CA constraints Node's X509Certificate does not expose (ecosystem.md §2.4):
 * basicConstraints pathLenConstraint and the KeyUsage bits. Parsed with @peculiar/x509
 * (about 0.8 ms a certificate), so callers cache the result per certificate id.
 */
import 'reflect-metadata'; // must load before @peculiar/x509 (ecosystem.md trap 8)
import * as x509 from '@peculiar/x509';

export interface CaConstraints {
  /** basicConstraints cA. */
  readonly ca: boolean;
  /** Most non-self-issued intermediates allowed below this CA; undefined = no limit. */
  readonly pathLength: number | undefined;
  /** False only when a KeyUsage extension is present without keyCertSign. */
  readonly mayCertify: boolean;
}

/** Reads the constraints; undefined when the extensions cannot be decoded. */
export function readCaConstraints(der: Uint8Array): CaConstraints | undefined {
  try {
    const cert = new x509.X509Certificate(Buffer.from(der));
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    return Object.freeze({
      ca: bc?.ca === true,
      pathLength: bc?.pathLength,
      mayCertify: ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0,
    });
  } catch {
    return undefined;
  }
}
