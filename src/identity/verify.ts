/**
 * Client certificate verification: is this PEM (a leaf, optionally followed by
 * intermediates) a registered, active device certificate that chains to a trusted
 * device CA at time `now`?
 *
 * Evaluation order (the first failure decides the reason):
 *   1. parse                      CERT_MALFORMED
 *   2. leaf validity period       CERT_NOT_YET_VALID, CERT_EXPIRED   (inclusive bounds)
 *   3. leaf usage                 CERT_WRONG_USAGE  (EKU without clientAuth; a CA cert)
 *   4. chain to a trusted CA      CERT_SELF_SIGNED, CERT_UNTRUSTED, unless the chain
 *                                 reaches no trusted CA and this exact certificate is
 *                                 registered with `trust: 'registration'` (below)
 *   5. registry status            CERT_NOT_REGISTERED, CERT_REVOKED, CERT_INACTIVE
 *   6. cloud trust window         CERT_CLOUD_TRUST_EXPIRED (only with an admission gate, for
 *                                 certificates synced from AWS IoT Core; not on re-checks)
 *
 * Differences from the Greengrass component on purpose (docs/greengrass-behaviour.md,
 * sections 6, 12.6 and 12.8): the chain is
 * always checked; a certificate issued by the gateway's own CA gets no bypass (it goes
 * through the registry like any other); EKU is checked; nothing is written to the
 * registry, on success or failure.
 *
 * Trust by registration (step 4): a certificate whose issuer is unknown here — created by
 * AWS IoT (CreateKeysAndCertificate, CreateCertificateFromCsr: signed by Amazon's own CA,
 * which is in no account's CA list), or registered without a CA (RegisterCertificateWithoutCA)
 * — is what AWS IoT trusts by its registration in the account. Such a record (imported by
 * the sync, or registered here without a CA) is admitted on exactly that: the presented
 * leaf's SHA-256 is the id of a record with `trust: 'registration'`, and steps 1–3 and 5–6
 * apply unchanged (validity period, usage, ACTIVE, the cloud trust window). The TLS
 * handshake proved the peer holds the private key of that certificate. Nothing else is
 * widened: a chain failure other than an unknown issuer, a certificate registered through
 * a CA (`trust: 'ca'`) whose CA is no longer trusted, another certificate of the same
 * unknown issuer, or one with the same subject and key but other bytes, is refused as before.
 *
 * There is no hidden clock: `now` is an argument. Parsing problems never throw; only a
 * failing registry (RegistryError, e.g. REGISTRY_BUSY) does.
 */
import { createHash } from 'node:crypto';
import { caConstraintsReader, type CaConstraints, type CaConstraintsReader } from './ca-constraints.js';
import { allowsClientAuth, parseCertificatePem, type ParsedCertificate, type ParseResult } from './certificate.js';
import type { VerifyFailureReason } from './errors.js';
import type { CertificateRecord, CertificateTrust, Registry, TrustedCa } from './registry.js';

export interface VerifySuccess {
  readonly ok: true;
  readonly certificateId: string;
  /** Things the certificate is attached to (possibly none). */
  readonly thingNames: readonly string[];
  readonly subject: string;
  readonly notAfter: Date;
  /**
   * Id of the trusted device CA the chain ends at; for a certificate trusted by its
   * registration (`trust: 'registration'`), its own id.
   */
  readonly trustedCaId: string;
  /** `ca`: the chain reached a trusted CA; `registration`: admitted by its exact registration. */
  readonly trust: CertificateTrust;
}

export interface VerifyFailure {
  readonly ok: false;
  readonly reason: VerifyFailureReason;
  /** For the operator's log: names the certificate and the problem. No secrets. */
  readonly message: string;
  /** Present once the certificate could be parsed. */
  readonly certificateId?: string;
}

export type VerifyResult = VerifySuccess | VerifyFailure;

/** Why a new verification of a certificate must be refused now, or undefined to admit it. */
export type AdmissionGate = (certificateId: string, now: Date) => string | undefined;

export type ChainFailureReason = Extract<VerifyFailureReason, 'CERT_MALFORMED' | 'CERT_EXPIRED' | 'CERT_NOT_YET_VALID' | 'CERT_WRONG_USAGE' | 'CERT_SELF_SIGNED' | 'CERT_UNTRUSTED'>;

export type ChainResult =
  | { readonly ok: true; readonly leaf: ParsedCertificate; readonly trustedCaId: string; readonly issuerId: string }
  | { readonly ok: false; readonly reason: ChainFailureReason; readonly message: string; readonly certificateId?: string };

export type LeafFailureReason = Extract<ChainFailureReason, 'CERT_MALFORMED' | 'CERT_EXPIRED' | 'CERT_NOT_YET_VALID' | 'CERT_WRONG_USAGE'>;

export type LeafResult =
  | { readonly ok: true; readonly leaf: ParsedCertificate; readonly presented: readonly ParsedCertificate[] }
  | { readonly ok: false; readonly reason: LeafFailureReason; readonly message: string; readonly certificateId?: string };

/** Longest chain accepted: leaf + up to 4 intermediates below the trusted CA. */
const MAX_DEPTH = 5;
const CA_CACHE_LIMIT = 1000;
const PARSE_CACHE_LIMIT = 1024;
const EDGE_CACHE_LIMIT = 16_384;

interface CaCert {
  readonly cert: ParsedCertificate;
  readonly constraints: CaConstraints | undefined;
}

/**
 * Verifies client certificates against a registry.
 *
 * Caches (all bounded) hold only facts that cannot change for the same bytes: parsed
 * PEM texts (keyed by SHA-256 of the text), parsed CA certificates with their
 * constraints (keyed by certificate id), and issuer signatures that verified (keyed by
 * child id and issuer id). Everything that can change — the time, the set of trusted
 * CAs, the registry status and attachments — is read on every call, so an untrust or
 * a revocation takes effect at once, also when made by another process.
 */
export class CertificateVerifier {
  private readonly cas = new Map<string, CaCert>();
  private readonly parsed = new Map<string, Extract<ParseResult, { ok: true }>>();
  private readonly edges = new Set<string>();
  /** Set on the first chain built (the reader's library is loaded then, not at import). */
  private readConstraints: CaConstraintsReader | undefined;
  /** See {@link setAdmissionGate}. */
  private admissionGate: AdmissionGate | undefined;

  /** Reads only the trusted CAs, a certificate's record and its things (a sync passes a view with the CAs it is about to trust). */
  constructor(private readonly registry: Pick<Registry, 'listTrustedCas' | 'getCertificate' | 'thingsForCertificate'>) {}

  async verify(pem: string, now: Date, options: { readonly recheck?: boolean } = {}): Promise<VerifyResult> {
    const chain = await this.verifyChain(pem, now);
    let leaf: ParsedCertificate;
    let trustedCaId: string;
    let record: CertificateRecord | undefined;
    if (chain.ok) {
      leaf = chain.leaf;
      trustedCaId = chain.trustedCaId;
      record = await this.registry.getCertificate(leaf.id);
      if (record === undefined) return failure('CERT_NOT_REGISTERED', `certificate ${leaf.id} (${leaf.subject}) chains to a trusted CA but is not registered`, leaf.id);
    } else {
      // An unknown issuer only (steps 1–3 passed): trusted by its exact registration, or refused as the chain check said.
      if ((chain.reason !== 'CERT_UNTRUSTED' && chain.reason !== 'CERT_SELF_SIGNED') || chain.certificateId === undefined) return chain;
      const registered = await this.registry.getCertificate(chain.certificateId);
      if (registered === undefined || registered.trust !== 'registration' || registered.id !== chain.certificateId) return chain;
      const checked = this.verifyLeaf(pem, now);
      if (!checked.ok) return checked;
      leaf = checked.leaf;
      trustedCaId = leaf.id;
      record = registered;
    }
    const id = leaf.id;
    if (record.status === 'REVOKED') return failure('CERT_REVOKED', `certificate ${id} is revoked`, id);
    if (record.status === 'INACTIVE') return failure('CERT_INACTIVE', `certificate ${id} is inactive`, id);
    // Step 6, for new verifications only: a live session verified while it was trusted keeps going.
    if (options.recheck !== true && this.admissionGate !== undefined) {
      const refusal = this.admissionGate(id, now);
      if (refusal !== undefined) return failure('CERT_CLOUD_TRUST_EXPIRED', refusal, id);
    }
    const thingNames = Object.freeze(await this.registry.thingsForCertificate(id));
    return Object.freeze({ ok: true, certificateId: id, thingNames, subject: leaf.subject, notAfter: leaf.notAfter, trustedCaId, trust: chain.ok ? 'ca' as const : 'registration' as const });
  }

  /**
   * Installs (or with undefined removes) the check of step 6: a message when a new
   * verification of this registered, ACTIVE certificate must be refused with
   * CERT_CLOUD_TRUST_EXPIRED. The continuous AWS IoT sync installs it: a certificate it
   * manages is trusted offline only for `security.clientDeviceTrustDurationMinutes`
   * past its last verification with the cloud (docs/migration.md).
   */
  setAdmissionGate(gate: AdmissionGate | undefined): void {
    this.admissionGate = gate;
  }

  /**
   * Steps 1–4 only (no registry status): what every registration of a device
   * certificate checks (`things register`, the management API's RegisterCertificate).
   */
  async verifyChain(pem: string, now: Date): Promise<ChainResult> {
    const checked = this.verifyLeaf(pem, now);
    if (!checked.ok) return checked;
    const { leaf, presented } = checked;
    const id = leaf.id;
    const t = now.getTime();

    const trusted = await this.registry.listTrustedCas();
    const read = this.readConstraints ?? (this.readConstraints = await caConstraintsReader());
    const anchors = trusted.map((ca) => this.anchor(ca, read)).filter((a): a is CaCert => a !== undefined);
    const intermediates = presented.map((c) => this.intermediate(c, read));
    const found = buildPath(leaf, intermediates, anchors, t, this.edges);
    if (found.ok) return { ok: true, leaf, trustedCaId: found.anchorId, issuerId: found.issuerId };
    // Not checkIssued: OpenSSL's version also wants keyCertSign, which a device's own key lacks.
    const selfSigned = leaf.x509.subject === leaf.x509.issuer && safeVerify(leaf, leaf);
    if (selfSigned) return failure('CERT_SELF_SIGNED', `certificate ${id} (${leaf.subject}) is self-signed and not from a trusted CA`, id);
    return failure('CERT_UNTRUSTED', `certificate ${id} (issuer ${leaf.issuer}) does not chain to a trusted device CA${found.detail ? `: ${found.detail}` : ''}`, id);
  }

  /**
   * Steps 1–3 only (parse, validity period, usage): the checks that need no trusted CA.
   * What registering a certificate without its CA checks (RegisterCertificateWithoutCA).
   */
  verifyLeaf(pem: string, now: Date): LeafResult {
    const parsed = this.parse(pem);
    if (!parsed.ok) return failure('CERT_MALFORMED', `client certificate is not usable: ${parsed.message}`);
    const [leaf, ...presented] = parsed.certificates;
    const id = leaf.id;
    const t = now.getTime();
    if (t < leaf.notBefore.getTime()) return failure('CERT_NOT_YET_VALID', `certificate ${id} is not valid before ${leaf.notBefore.toISOString()}`, id);
    if (t > leaf.notAfter.getTime()) return failure('CERT_EXPIRED', `certificate ${id} expired at ${leaf.notAfter.toISOString()}`, id);
    if (!allowsClientAuth(leaf)) return failure('CERT_WRONG_USAGE', `certificate ${id} has an extended key usage without clientAuth`, id);
    if (leaf.isCa) return failure('CERT_WRONG_USAGE', `certificate ${id} is a CA certificate, not a device certificate`, id);
    return { ok: true, leaf, presented };
  }

  private parse(pem: string): ParseResult {
    if (typeof pem !== 'string' || pem.length > 64 * 1024) return parseCertificatePem(pem);
    const key = createHash('sha256').update(pem).digest('base64');
    const hit = this.parsed.get(key);
    if (hit) return hit;
    // CA certificates seen before (anchors, presented intermediates) are not parsed again.
    const result = parseCertificatePem(pem, (id) => this.cas.get(id)?.cert);
    if (result.ok) {
      if (this.parsed.size >= PARSE_CACHE_LIMIT) this.parsed.delete(this.parsed.keys().next().value as string);
      this.parsed.set(key, result);
    }
    return result;
  }

  private anchor(ca: TrustedCa, read: CaConstraintsReader): CaCert | undefined {
    const hit = this.cas.get(ca.id);
    if (hit) return hit;
    const parsed = parseCertificatePem(ca.pem);
    if (!parsed.ok) return undefined;
    return this.remember(parsed.certificates[0], read);
  }

  private intermediate(c: ParsedCertificate, read: CaConstraintsReader): CaCert {
    return this.cas.get(c.id) ?? this.remember(c, read);
  }

  /** Runs the constraints reader (about 1 ms: a full parse by the library) once per CA certificate id. */
  private remember(cert: ParsedCertificate, read: CaConstraintsReader): CaCert {
    const entry: CaCert = { cert, constraints: cert.isCa ? read(cert.x509.raw) : undefined };
    if (this.cas.size >= CA_CACHE_LIMIT) this.cas.clear();
    this.cas.set(cert.id, entry);
    return entry;
  }
}

/** One-off verification (builds a fresh verifier; prefer a long-lived CertificateVerifier). */
export function verifyClientCertificate(registry: Registry, pem: string, options: { readonly now: Date }): Promise<VerifyResult> {
  return new CertificateVerifier(registry).verify(pem, options.now);
}

type PathResult = { ok: true; anchorId: string; issuerId: string } | { ok: false; detail: string | undefined };

/**
 * Depth-first search for a path leaf -> (presented intermediates)* -> trusted CA.
 * Each issuer must: be named as the issuer (checkIssued, which also matches key
 * identifiers), have signed the certificate (verify), be a CA allowed to sign
 * certificates, be valid at `t`, and respect its pathLenConstraint. A presented
 * intermediate that is itself a trusted CA ends the path.
 */
function buildPath(leaf: ParsedCertificate, intermediates: readonly CaCert[], anchors: readonly CaCert[], t: number, edges: Set<string>): PathResult {
  let detail: string | undefined;
  const anchorIds = new Set(anchors.map((a) => a.cert.id));
  const visit = (cert: ParsedCertificate, below: number, used: ReadonlySet<string>, depth: number): { anchorId: string; issuerId: string } | undefined => {
    if (depth >= MAX_DEPTH) {
      detail ??= `chain longer than ${MAX_DEPTH}`;
      return undefined;
    }
    for (const a of anchors) {
      const why = issuerProblem(cert, a, below, t, edges);
      if (why === undefined) return { anchorId: a.cert.id, issuerId: a.cert.id };
      if (why !== NOT_ISSUER) detail ??= `trusted CA ${a.cert.id} ${why}`;
    }
    for (const i of intermediates) {
      if (used.has(i.cert.id)) continue;
      const why = issuerProblem(cert, i, below, t, edges);
      if (why !== undefined) {
        if (why !== NOT_ISSUER) detail ??= `intermediate ${i.cert.id} (${i.cert.subject}) ${why}`;
        continue;
      }
      if (anchorIds.has(i.cert.id)) return { anchorId: i.cert.id, issuerId: i.cert.id };
      const selfIssued = i.cert.x509.checkIssued(i.cert.x509);
      const up = visit(i.cert, selfIssued ? below : below + 1, new Set([...used, i.cert.id]), depth + 1);
      if (up) return { anchorId: up.anchorId, issuerId: i.cert.id };
    }
    return undefined;
  };
  const found = visit(leaf, 0, new Set(), 0);
  return found ? { ok: true, ...found } : { ok: false, detail };
}

const NOT_ISSUER = 'is not the issuer';

/** Why `issuer` cannot have issued `cert` here; undefined when it can. */
function issuerProblem(cert: ParsedCertificate, issuer: CaCert, intermediatesBelow: number, t: number, edges: Set<string>): string | undefined {
  // A signature that verified once verifies forever for the same two certificates.
  const edge = `${cert.id}>${issuer.cert.id}`;
  if (!edges.has(edge)) {
    if (!cert.x509.checkIssued(issuer.cert.x509)) return NOT_ISSUER;
    if (!safeVerify(cert, issuer.cert)) return `is named as issuer but the signature of ${cert.id} does not verify with its key`;
    if (edges.size >= EDGE_CACHE_LIMIT) edges.clear();
    edges.add(edge);
  }
  const c = issuer.constraints;
  if (!issuer.cert.isCa || c === undefined || !c.ca) return 'is not a CA certificate';
  if (!c.mayCertify) return 'has a key usage that does not allow signing certificates';
  if (t < issuer.cert.notBefore.getTime()) return `is not valid before ${issuer.cert.notBefore.toISOString()}`;
  if (t > issuer.cert.notAfter.getTime()) return `expired at ${issuer.cert.notAfter.toISOString()}`;
  if (c.pathLength !== undefined && intermediatesBelow > c.pathLength) return `allows at most ${c.pathLength} intermediate CAs below it`;
  return undefined;
}

function safeVerify(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  try {
    return cert.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

function failure<R extends VerifyFailureReason>(reason: R, message: string, certificateId?: string): { readonly ok: false; readonly reason: R; readonly message: string; readonly certificateId?: string } {
  return certificateId === undefined ? { ok: false, reason, message } : { ok: false, reason, message, certificateId };
}
