/**
 * The CA constraints Node's X509Certificate does not expose: basicConstraints
 * pathLenConstraint and the KeyUsage bits. (On Node 20, `X509Certificate#keyUsage`
 * returns the *extended* key usage OIDs, and `ca` is the only basicConstraints field.)
 *
 * Read by the same library reader as the CA's own material (`caExtensions`,
 * @peculiar/x509), not by a parser of our own. That costs about 1 ms per certificate (a
 * full parse by the library), so the verifier runs it once per distinct CA or
 * intermediate certificate and caches the result by certificate id: it is not paid per
 * connection. Loading the library costs more still (a few hundred milliseconds), so it
 * is loaded on first use, not at import: commands that never build a chain do not pay it.
 *
 * Anything the library cannot decode, and a path length that is not a non-negative
 * 32-bit integer, yields `undefined`, which callers treat as "not a usable CA" (fail
 * closed); the reader never throws.
 */

export interface CaConstraints {
  /** basicConstraints cA. */
  readonly ca: boolean;
  /** Most non-self-issued intermediates allowed below this CA; undefined = no limit. */
  readonly pathLength: number | undefined;
  /** False only when a KeyUsage extension is present without keyCertSign. */
  readonly mayCertify: boolean;
}

/** Reads the constraints from a certificate's DER; undefined when they cannot be decoded. */
export type CaConstraintsReader = (der: Uint8Array) => CaConstraints | undefined;

/** Largest path length taken at face value (a 4-byte INTEGER); anything else is malformed. */
const MAX_PATH_LENGTH = 0x7fffffff;

let loading: Promise<CaConstraintsReader> | undefined;

/** The reader, loading the library the first time. */
export function caConstraintsReader(): Promise<CaConstraintsReader> {
  loading ??= import('../ca/source.js').then(({ caExtensions }) => (der: Uint8Array): CaConstraints | undefined => {
    try {
      const { ca, pathLength, keyCertSign } = caExtensions(der);
      if (pathLength !== undefined && !(Number.isSafeInteger(pathLength) && pathLength >= 0 && pathLength <= MAX_PATH_LENGTH)) return undefined;
      return Object.freeze({ ca, pathLength, mayCertify: keyCertSign !== false });
    } catch {
      return undefined;
    }
  });
  return loading;
}
