/**
 * The broker's server certificate: issued by the gateway CA, persisted in the data
 * directory as ONE file holding certificate, chain and key (replaced atomically, so the
 * key and certificate on disk always match), re-issued when it nears expiry, when the
 * host addresses change and when the CA changes. Subscribers get every new certificate.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { ensureDataDir } from '../data-dir.js';
import { removeStaleTempFiles, writeFileAtomic } from './atomic.js';
import type { GatewayCa, IssuedCertificate } from './authority.js';
import { describeKey, keyMatchesCertificate, sha256Hex, x509 } from './crypto.js';
import { CaError, errnoCode } from './errors.js';
import { buildSanList, classifyHost, detectInterfaceAddresses, sameSanSet, type SanEntry } from './hosts.js';
import { toPem } from '../core/pem.js';
import { certificatePem } from '../core/pem.js';
import { BundleFormatError, PRIVATE_FILE_MODE, dataLayout, formatBundle, parseBundle, readIfExists } from './store.js';

/** Re-issue when less than this remains, as the Greengrass component does (docs/greengrass-behaviour.md, section 7.4). */
export const ROTATE_BEFORE_EXPIRY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CHECK_INTERVAL_MS = 30_000;

/** Why a server certificate was (re-)issued. */
export type RotationReason =
  | 'missing' // no certificate stored yet
  | 'unreadable' // the stored file is damaged or its key does not match
  | 'ca-changed' // the stored certificate was not issued by the current CA (or the chain differs)
  | 'hosts-changed' // the SAN set differs from configured + detected hosts + localhost
  | 'expired'
  | 'not-yet-valid'
  | 'expiring'; // less than 24 h remain

export type ServerCertificateListener = (cert: IssuedCertificate, reason: RotationReason) => void;

export interface ServerCertificateManagerOptions {
  readonly ca: GatewayCa;
  readonly dataDir: string;
  /** Configured host names and addresses (`gatehouse.hostAddresses`). */
  readonly hostAddresses: readonly string[];
  readonly detectInterfaceAddresses: boolean;
  /** `certificates.serverCertificateValiditySeconds`. */
  readonly validitySeconds: number;
  /** `certificates.disableCertificateRotation`: suppresses time-based re-issue of a still-valid certificate. */
  readonly disableRotation: boolean;
  readonly now?: () => Date;
  /** Period of the background check; default 30000. 0 disables the timer (call check() yourself). */
  readonly checkIntervalMs?: number;
  /** Source of interface addresses; default: os.networkInterfaces() without IPv6 link-local. */
  readonly interfaceAddresses?: () => string[];
  /** Called with errors of background checks and of listeners; default: process.emitWarning. */
  readonly onError?: (err: unknown) => void;
}

/** What {@link loadServerCertificate} found on disk. */
export type StoredServerCertificate =
  | { readonly status: 'missing' }
  | { readonly status: 'unreadable'; readonly reason: string }
  | { readonly status: 'ok'; readonly certificate: IssuedCertificate; readonly sans: readonly SanEntry[] };

/**
 * Reads `<dataDir>/server/server.pem` and checks that its key matches its certificate.
 * Never throws for a damaged file (status `unreadable`); only for I/O errors other than
 * "not found".
 */
export async function loadServerCertificate(dataDir: string): Promise<StoredServerCertificate> {
  const text = await readIfExists(dataLayout(dataDir).serverFile);
  if (text === undefined) return { status: 'missing' };
  let bundle;
  try {
    bundle = parseBundle(text);
  } catch (err) {
    if (err instanceof BundleFormatError) return { status: 'unreadable', reason: err.message };
    throw err;
  }
  let leaf: X509Certificate;
  let key: KeyObject;
  try {
    leaf = new X509Certificate(bundle.certificates[0] as Buffer);
    key = createPrivateKey({ key: bundle.privateKey, format: 'der', type: 'pkcs8' });
  } catch {
    return { status: 'unreadable', reason: 'certificate or key cannot be parsed' };
  }
  const info = describeKey(key);
  if (info === undefined || !keyMatchesCertificate(key, info, leaf)) return { status: 'unreadable', reason: 'the private key does not match the certificate' };
  let sans: SanEntry[];
  try {
    sans = certificateSans(leaf);
  } catch {
    return { status: 'unreadable', reason: 'the subjectAltName extension cannot be parsed' };
  }
  const certificate: IssuedCertificate = {
    certificatePem: certificatePem(leaf.raw),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: toPem('PUBLIC KEY', leaf.publicKey.export({ type: 'spki', format: 'der' })),
    chainPem: Object.freeze(bundle.certificates.slice(1).map((d) => certificatePem(d))),
    id: sha256Hex(leaf.raw),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
  return { status: 'ok', certificate, sans };
}

/** The IP and DNS SANs of a certificate, normalised like configured hosts. */
function certificateSans(cert: X509Certificate): SanEntry[] {
  const ext = new x509.X509Certificate(cert.raw).getExtension(x509.SubjectAlternativeNameExtension);
  if (ext === null) return [];
  const out: SanEntry[] = [];
  for (const name of ext.names.toJSON()) {
    if (name.type === 'ip' || name.type === 'dns') {
      try {
        out.push(classifyHost(name.value));
      } catch {
        out.push({ type: name.type, value: name.value });
      }
    }
  }
  return out;
}

interface CurrentState {
  readonly certificate: IssuedCertificate;
  readonly sans: readonly SanEntry[];
}

export class ServerCertificateManager {
  #ca: GatewayCa;
  #hosts: readonly string[];
  readonly #dataDir: string;
  readonly #serverFile: string;
  readonly #detect: boolean;
  readonly #validitySeconds: number;
  readonly #disableRotation: boolean;
  readonly #now: () => Date;
  readonly #interfaceAddresses: () => string[];
  readonly #onError: (err: unknown) => void;
  readonly #listeners = new Set<ServerCertificateListener>();
  #current: CurrentState | undefined;
  #timer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #lastReason: RotationReason | undefined;

  private constructor(opts: ServerCertificateManagerOptions) {
    this.#ca = opts.ca;
    this.#hosts = [...opts.hostAddresses];
    this.#dataDir = opts.dataDir;
    this.#serverFile = dataLayout(opts.dataDir).serverFile;
    this.#detect = opts.detectInterfaceAddresses;
    this.#validitySeconds = opts.validitySeconds;
    this.#disableRotation = opts.disableRotation;
    this.#now = opts.now ?? (() => new Date());
    this.#interfaceAddresses = opts.interfaceAddresses ?? (() => detectInterfaceAddresses());
    this.#onError = opts.onError ?? ((err) => process.emitWarning(`server certificate: ${err instanceof Error ? err.message : String(err)}`, 'GatehouseWarning'));
  }

  /**
   * Loads the stored server certificate, re-issues it if needed (see {@link check}) and
   * starts the periodic check. Throws {@link CaError} for invalid host addresses or
   * validity, and when a needed certificate cannot be issued or stored.
   */
  static async start(opts: ServerCertificateManagerOptions): Promise<ServerCertificateManager> {
    buildSanList(opts.hostAddresses); // throws CA_HOST_INVALID / CA_HOST_HAS_PORT
    if (!Number.isInteger(opts.validitySeconds) || opts.validitySeconds < 60) {
      throw new CaError('CA_VALIDITY_INVALID', `server certificate validity ${String(opts.validitySeconds)} s is not a whole number of at least 60`,
        'set certificates.serverCertificateValiditySeconds (default 604800 = 7 days)');
    }
    const layout = dataLayout(opts.dataDir);
    await ensureDataDir(layout.dataDir);
    await ensureDataDir(layout.serverDir);
    await removeStaleTempFiles(layout.serverDir);
    const m = new ServerCertificateManager(opts);
    await m.#serialize(() => m.#checkNow(true));
    const interval = opts.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS;
    if (interval > 0) {
      m.#timer = setInterval(() => {
        m.check().catch((err: unknown) => m.#onError(err));
      }, interval);
      m.#timer.unref();
    }
    return m;
  }

  /** The certificate in force: key, certificate and chain (issuing CA first). */
  current(): IssuedCertificate {
    if (this.#current === undefined) throw new Error('server certificate manager has no certificate'); // unreachable after start()
    return this.#current.certificate;
  }

  /** Why the current certificate was last (re-)issued in this process; undefined if it was loaded unchanged. */
  get lastRotationReason(): RotationReason | undefined {
    return this.#lastReason;
  }

  /** The current certificate's SANs, normalised. */
  sans(): readonly SanEntry[] {
    return this.#current?.sans ?? [];
  }

  /** Calls `listener` on every rotation (not on subscribe). Returns the unsubscribe function. */
  subscribe(listener: ServerCertificateListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Replaces the configured host addresses; re-issues if the SAN set changes. */
  async setHostAddresses(hosts: readonly string[]): Promise<void> {
    buildSanList(hosts);
    const copy = [...hosts];
    await this.#serialize(async () => {
      this.#hosts = copy;
      await this.#checkNow(false);
    });
  }

  /** Switches to another CA (e.g. after a configuration reload); re-issues if it differs. Not suppressed by disableRotation. */
  async setCa(ca: GatewayCa): Promise<void> {
    await this.#serialize(async () => {
      this.#ca = ca;
      await this.#checkNow(false);
    });
  }

  /**
   * Re-issues when less than 24 h remain (unless rotation is disabled), when the
   * certificate has expired or is not yet valid, when the SAN set changed (configured
   * hosts, detected interfaces) and when the CA changed. Returns true if it re-issued.
   */
  check(): Promise<boolean> {
    return this.#serialize(() => this.#checkNow(false));
  }

  /** Stops the periodic check. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #desiredSans(): SanEntry[] {
    let detected: string[] = [];
    if (this.#detect) {
      try {
        detected = this.#interfaceAddresses();
      } catch (err) {
        this.#onError(err);
      }
    }
    return buildSanList(this.#hosts, detected);
  }

  #rotationThresholdMs(): number {
    // With a validity of 24 h or less, "less than 24 h remain" would hold at once and
    // re-issue on every check, as the Greengrass component does (docs/greengrass-behaviour.md,
    // section 12.2); rotate at half-life instead.
    return Math.min(ROTATE_BEFORE_EXPIRY_MS, (this.#validitySeconds * 1000) / 2);
  }

  #reasonFor(state: CurrentState | undefined, desired: readonly SanEntry[], now: Date): RotationReason | undefined {
    if (state === undefined) return 'missing';
    const cert = state.certificate;
    const chainMatches = cert.chainPem.length === this.#ca.chainPem.length && cert.chainPem.every((p, i) => p === this.#ca.chainPem[i]);
    if (!chainMatches || !this.#ca.issued(cert.certificatePem)) return 'ca-changed';
    if (!sameSanSet(state.sans, desired)) return 'hosts-changed';
    const t = now.getTime();
    if (t >= cert.notAfter.getTime()) return 'expired';
    if (t < cert.notBefore.getTime()) return 'not-yet-valid';
    if (!this.#disableRotation && cert.notAfter.getTime() - t < this.#rotationThresholdMs()) return 'expiring';
    return undefined;
  }

  async #checkNow(initial: boolean): Promise<boolean> {
    let unreadable = false;
    if (initial) {
      const stored = await loadServerCertificate(this.#dataDir);
      if (stored.status === 'ok') this.#current = { certificate: stored.certificate, sans: stored.sans };
      unreadable = stored.status === 'unreadable';
    }
    const desired = this.#desiredSans();
    const now = this.#now();
    const reason = unreadable ? 'unreadable' : this.#reasonFor(this.#current, desired, now);
    if (reason === undefined) return false;
    await this.#rotate(desired, now, reason);
    return true;
  }

  async #rotate(sans: readonly SanEntry[], now: Date, reason: RotationReason): Promise<void> {
    const issued = await this.#ca.issueServerCertificate({ hosts: sans.map((s) => s.value), validitySeconds: this.#validitySeconds, now });
    const bundle = formatBundle([issued.certificatePem, ...issued.chainPem], issued.privateKeyPem);
    try {
      await writeFileAtomic(this.#serverFile, bundle, PRIVATE_FILE_MODE);
    } catch (err) {
      throw new CaError('CA_STORE_WRITE_FAILED', `cannot store the new server certificate in ${this.#serverFile}: ${errnoCode(err) ?? (err instanceof Error ? err.message : String(err))}; the previous one stays in force`,
        'check free space and permissions of the data directory; the next check retries', { cause: err });
    }
    this.#current = { certificate: issued, sans: [...sans] };
    this.#lastReason = reason;
    for (const listener of [...this.#listeners]) {
      try {
        listener(issued, reason);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}
