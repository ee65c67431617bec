/**
 * The gateway certificate authority: a managed CA generated in the data directory on
 * first open (EC P-256 by default, RSA-2048 on request) or a custom CA loaded from
 * `certificateAuthority.*Uri`. It issues device (clientAuth) and server (serverAuth)
 * certificates. See docs/ca.md.
 */
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import type { CaType, CertificateAuthorityConfig } from '../core/config/types.js';
import { ensureDataDir } from '../data-dir.js';
import { removeStaleTempFiles, writeFileAtomic } from './atomic.js';
import {
  describeKey, generateLeafKeyPair, importSigningKey, randomSerialHex, sha256Hex, x509,
  type KeyInfo, type KeyType, type LeafKeyType, type SigningKey,
} from './crypto.js';
import { CaError, errnoCode } from './errors.js';
import { buildSanList, type SanEntry } from './hosts.js';
import { THING_NAME_FIX, thingNameProblem } from '../core/names.js';
import { certificatePem, toPem } from '../core/pem.js';
import { caExtensions, checkCaMaterial, loadCustomCa, parseCertificates, type CaMaterial } from './source.js';
import {
  BundleFormatError, PRIVATE_FILE_MODE, dataLayout, formatBundle, parseBundle, readIfExists, writePublicIfChanged,
} from './store.js';

export { CaError, CA_ERROR_CODES, type CaErrorCode } from './errors.js';
export type { KeyType } from './crypto.js';

/** A certificate issued by the gateway CA, with its key (when generated here) and the CA chain. */
export interface IssuedCertificate {
  readonly certificatePem: string;
  /** PKCS#8 PEM of the generated key; `''` when the caller supplied the public key. */
  readonly privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM (`PUBLIC KEY`). */
  readonly publicKeyPem: string;
  /** The CA chain: issuing CA first, up to the root (the leaf is not included). */
  readonly chainPem: readonly string[];
  /** Lower-case hex SHA-256 of the leaf certificate's DER encoding. */
  readonly id: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface GatewayCaOpenOptions {
  readonly dataDir: string;
  readonly config: CertificateAuthorityConfig;
  readonly now?: () => Date;
  /** Directory that relative custom-CA paths are resolved against; defaults to the working directory. */
  readonly baseDir?: string;
}

export interface IssueDeviceCertificateOptions {
  readonly thingName: string;
  /** The device's public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY` PEM). A P-256 key is generated when absent. */
  readonly publicKeyPem?: string;
  /** Default {@link DEFAULT_DEVICE_VALIDITY_DAYS}. */
  readonly validityDays?: number;
  /** Issue as of this time instead of the CA's clock. */
  readonly now?: Date;
}

export interface IssueServerCertificateOptions {
  /** Host names and addresses; `localhost` is always added. */
  readonly hosts: readonly string[];
  readonly validitySeconds: number;
  /** Issue as of this time instead of the CA's clock. */
  readonly now?: Date;
  /** Key type of the new server key; defaults to RSA_2048 for an RSA CA and EC_P256 otherwise. */
  readonly keyType?: LeafKeyType;
}

/** Validity of the managed CA certificate. */
export const MANAGED_CA_VALIDITY_DAYS = 3650;
/** Validity of device certificates when the caller does not say. */
export const DEFAULT_DEVICE_VALIDITY_DAYS = 365;
/** notBefore is set this far in the past to tolerate clocks that lag the gateway's. */
export const BACKDATE_SECONDS = 300;
const MAX_VALIDITY_DAYS = 36500;
const DAY_MS = 86_400_000;

/** Key type of the managed CA for a configured caType. */
function managedKeyType(caType: CaType): LeafKeyType {
  return caType === 'RSA_2048' ? 'RSA_2048' : 'EC_P256';
}

function matchesCaType(info: KeyInfo, caType: CaType): boolean {
  return caType === 'RSA_2048' ? info.type === 'RSA' && info.bits === 2048 : info.type === 'EC_P256';
}

export class GatewayCa {
  /** The issuing CA certificate (PEM): what devices trust to verify the broker. */
  readonly certificatePem: string;
  /** The CA chain (PEM each), issuing CA first, up to the root. */
  readonly chainPem: readonly string[];
  /** Lower-case hex SHA-256 of the issuing CA certificate's DER. */
  readonly id: string;
  readonly kind: 'managed' | 'custom';
  readonly keyType: KeyType;
  /** Subject of the issuing CA, RFC 2253-like (`CN=..., O=...`). */
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Node's parsed issuing CA certificate, for chain checks. */
  readonly certificate: X509Certificate;

  readonly #signing: SigningKey;
  readonly #issuerName: x509.Name;
  readonly #authorityKeyId: string;
  /** Earliest notAfter along the chain: no issued certificate outlives it. */
  readonly #chainNotAfter: Date;
  readonly #caPublicKeyDer: Buffer;
  readonly #now: () => Date;

  private constructor(material: CaMaterial, signing: SigningKey, kind: 'managed' | 'custom', authorityKeyId: string, now: () => Date) {
    this.certificate = material.certificate;
    this.chainPem = Object.freeze(material.chain.map((c) => certificatePem(c.raw)));
    this.certificatePem = this.chainPem[0] as string;
    this.id = sha256Hex(material.certificate.raw);
    this.kind = kind;
    this.keyType = material.keyInfo.type;
    const parsed = new x509.X509Certificate(material.certificate.raw);
    this.subject = parsed.subject;
    this.#issuerName = parsed.subjectName;
    this.notBefore = new Date(material.certificate.validFrom);
    this.notAfter = new Date(material.certificate.validTo);
    this.#signing = signing;
    this.#authorityKeyId = authorityKeyId;
    this.#chainNotAfter = new Date(Math.min(...material.chain.map((c) => new Date(c.validTo).getTime())));
    this.#caPublicKeyDer = material.certificate.publicKey.export({ type: 'spki', format: 'der' });
    this.#now = now;
  }

  /**
   * Opens the CA: the custom CA when `certificateUri` and `privateKeyUri` are set (checked,
   * never silently replaced by the managed one), otherwise the managed CA in
   * `<dataDir>/ca/managed-ca.pem`, created on first open. Creates the data directory
   * (0700) and refreshes the public copies `ca/ca.pem` and `ca/chain.pem`.
   */
  static async open(opts: GatewayCaOpenOptions): Promise<GatewayCa> {
    const now = opts.now ?? (() => new Date());
    const layout = dataLayout(opts.dataDir);
    await ensureDataDir(layout.dataDir);
    await ensureDataDir(layout.caDir);
    await removeStaleTempFiles(layout.caDir);
    const cfg = opts.config;

    let ca: GatewayCa;
    const { certificateUri, privateKeyUri, certificateChainUri } = cfg;
    if (certificateUri !== undefined || privateKeyUri !== undefined || certificateChainUri !== undefined) {
      if (certificateUri === undefined || privateKeyUri === undefined) {
        const missing = certificateUri === undefined ? 'certificateUri' : 'privateKeyUri';
        throw new CaError('CA_CONFIG_INCOMPLETE', `a custom CA needs certificateAuthority.certificateUri and privateKeyUri; ${missing} is missing`,
          'set both URIs (and optionally certificateChainUri), or remove them all to use the managed CA');
      }
      const settings = certificateChainUri !== undefined ? { certificateUri, privateKeyUri, certificateChainUri } : { certificateUri, privateKeyUri };
      const material = await loadCustomCa(settings, opts.baseDir ?? process.cwd(), now());
      ca = await GatewayCa.fromMaterial(material, 'custom', now);
    } else {
      ca = await GatewayCa.openManaged(layout.managedCaFile, cfg.caType, now);
    }
    try {
      await writePublicIfChanged(layout.caCertFile, ca.certificatePem);
      await writePublicIfChanged(layout.caChainFile, ca.chainPem.join(''));
    } catch (err) {
      throw new CaError('CA_STORE_WRITE_FAILED', `cannot write the CA certificate copies in ${layout.caDir}: ${errnoCode(err) ?? String(err)}`,
        'check free space and permissions of the data directory');
    }
    return ca;
  }

  private static async fromMaterial(material: CaMaterial, kind: 'managed' | 'custom', now: () => Date): Promise<GatewayCa> {
    const signing = await importSigningKey(material.privateKey, material.keyInfo);
    const ski = caExtensions(material.certificate.raw).subjectKeyId;
    const akid = ski ?? Buffer.from(await new x509.PublicKey(material.certificate.publicKey.export({ type: 'spki', format: 'der' })).getKeyIdentifier()).toString('hex');
    return new GatewayCa(material, signing, kind, akid, now);
  }

  private static async openManaged(file: string, caType: CaType, now: () => Date): Promise<GatewayCa> {
    let text: string | undefined;
    try {
      text = await readIfExists(file);
    } catch (err) {
      throw new CaError('CA_STORE_CORRUPT', `cannot read the managed CA ${file}: ${errnoCode(err) ?? String(err)}`,
        `check the permissions of ${file} (mode 0600, owned by the user running gatehouse)`);
    }
    if (text === undefined) {
      const created = await createManagedCaBundle(caType, now());
      try {
        await writeFileAtomic(file, created, PRIVATE_FILE_MODE, { exclusive: true });
        text = created;
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') {
          throw new CaError('CA_STORE_WRITE_FAILED', `cannot write the managed CA ${file}: ${errnoCode(err) ?? String(err)}`,
            'check free space and permissions of the data directory');
        }
        // Another process created the CA first; use theirs.
        text = await readIfExists(file);
        if (text === undefined) throw new CaError('CA_STORE_CORRUPT', `the managed CA ${file} vanished while opening it`, 'retry; make sure only gatehouse manages the data directory');
      }
    }
    const material = parseManagedBundle(text, file);
    if (!matchesCaType(material.keyInfo, caType)) {
      const have = material.keyInfo.type === 'RSA' ? `RSA-${material.keyInfo.bits}` : material.keyInfo.type;
      throw new CaError('CA_TYPE_MISMATCH',
        `the managed CA in ${file} has a ${have} key but certificateAuthority.caType is ${caType}; Gatehouse does not replace a CA on its own`,
        `set certificateAuthority.caType to ${material.keyInfo.type === 'RSA' ? 'RSA_2048' : 'ECDSA_P256'}, or move ${file} aside to generate a new ${caType} CA (devices must then trust the new CA certificate and device certificates must be re-issued)`);
    }
    checkCaMaterial(material, now(), `managed CA (${file})`, 'CA_STORE_CORRUPT');
    return GatewayCa.fromMaterial(material, 'managed', now);
  }

  /** True when `cert` (PEM or parsed) was issued and signed by this CA. */
  issued(cert: string | X509Certificate): boolean {
    try {
      const c = typeof cert === 'string' ? new X509Certificate(cert) : cert;
      return c.checkIssued(this.certificate) && c.verify(this.certificate.publicKey);
    } catch {
      return false;
    }
  }

  /**
   * Issues a device (MQTT client) certificate: CN = thing name, EKU clientAuth. Generates
   * an EC P-256 key unless `publicKeyPem` is given (then `privateKeyPem` is `''`).
   */
  async issueDeviceCertificate(opts: IssueDeviceCertificateOptions): Promise<IssuedCertificate> {
    const { thingName } = opts;
    const problem = thingNameProblem(thingName);
    if (problem !== undefined) {
      const text = String(thingName);
      const shown = text.length > 40 ? `${JSON.stringify(text.slice(0, 32))}... (${text.length} characters)` : JSON.stringify(text);
      throw new CaError('THING_NAME_INVALID', `invalid thing name ${shown}: ${problem}`, THING_NAME_FIX);
    }
    const days = opts.validityDays ?? DEFAULT_DEVICE_VALIDITY_DAYS;
    if (!Number.isInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) {
      throw new CaError('CA_VALIDITY_INVALID', `device certificate validity ${String(days)} days is not a whole number from 1 to ${MAX_VALIDITY_DAYS}`, 'pass a validity in whole days');
    }
    let publicKey: KeyObject;
    let privateKeyPem = '';
    if (opts.publicKeyPem !== undefined) {
      publicKey = this.#parseDevicePublicKey(opts.publicKeyPem);
    } else {
      const pair = await generateLeafKeyPair('EC_P256');
      publicKey = pair.publicKey;
      privateKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    }
    const now = opts.now ?? this.#now();
    return this.#issue({
      subject: [{ CN: [thingName] }],
      publicKey,
      privateKeyPem,
      eku: x509.ExtendedKeyUsage.clientAuth,
      sans: undefined,
      now,
      lifetimeMs: days * DAY_MS,
    });
  }

  /**
   * Issues a server (broker) certificate: EKU serverAuth, SANs = `hosts` + `localhost`
   * classified as IP or DNS; validity `validitySeconds` from now (never past the CA's).
   */
  async issueServerCertificate(opts: IssueServerCertificateOptions): Promise<IssuedCertificate> {
    const { validitySeconds } = opts;
    if (!Number.isInteger(validitySeconds) || validitySeconds < 60 || validitySeconds > MAX_VALIDITY_DAYS * 86_400) {
      throw new CaError('CA_VALIDITY_INVALID', `server certificate validity ${String(validitySeconds)} s is not a whole number of seconds from 60 to ${MAX_VALIDITY_DAYS * 86_400}`,
        'set certificates.serverCertificateValiditySeconds to a whole number of seconds (default 604800 = 7 days)');
    }
    const sans = buildSanList(opts.hosts);
    const keyType: LeafKeyType = opts.keyType ?? (this.keyType === 'RSA' ? 'RSA_2048' : 'EC_P256');
    const pair = await generateLeafKeyPair(keyType);
    const now = opts.now ?? this.#now();
    return this.#issue({
      subject: [{ CN: ['Gatehouse MQTT broker'] }],
      publicKey: pair.publicKey,
      privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      eku: x509.ExtendedKeyUsage.serverAuth,
      sans,
      now,
      lifetimeMs: validitySeconds * 1000,
    });
  }

  #parseDevicePublicKey(pem: string): KeyObject {
    if (/PRIVATE KEY-----/.test(pem)) {
      throw new CaError('CA_PUBLIC_KEY_INVALID', 'publicKeyPem holds a private key; only the public key may be sent to the CA',
        'send the public key (`openssl pkey -in key.pem -pubout`) and keep the private key on the device');
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: pem, format: 'pem' });
    } catch {
      throw new CaError('CA_PUBLIC_KEY_INVALID', 'publicKeyPem is not a valid PEM public key', 'send a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block');
    }
    const info = describeKey(key);
    if (info === undefined || (info.type === 'RSA' && info.bits < 2048)) {
      throw new CaError('CA_PUBLIC_KEY_INVALID',
        `publicKeyPem is ${info === undefined ? `a ${key.asymmetricKeyType ?? 'unknown'} key` : `an RSA key of ${info.bits} bits`}; supported are RSA (2048 bits or more), EC P-256/P-384/P-521 and Ed25519`,
        'generate a supported key on the device, e.g. `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`');
    }
    if (key.export({ type: 'spki', format: 'der' }).equals(this.#caPublicKeyDer)) {
      throw new CaError('CA_PUBLIC_KEY_INVALID', 'publicKeyPem is the CA\'s own public key', 'generate a separate key for the device');
    }
    return key;
  }

  async #issue(p: {
    subject: x509.JsonName;
    publicKey: KeyObject;
    privateKeyPem: string;
    eku: x509.ExtendedKeyUsage;
    sans: readonly SanEntry[] | undefined;
    now: Date;
    lifetimeMs: number;
  }): Promise<IssuedCertificate> {
    const spki = p.publicKey.export({ type: 'spki', format: 'der' });
    const leafKey = new x509.PublicKey(spki);
    const info = describeKey(p.publicKey);
    const notBefore = new Date(Math.floor(p.now.getTime() / 1000) * 1000 - BACKDATE_SECONDS * 1000);
    const wanted = Math.floor(p.now.getTime() / 1000) * 1000 + p.lifetimeMs;
    const notAfter = new Date(Math.min(wanted, this.#chainNotAfter.getTime()));
    if (notAfter.getTime() <= p.now.getTime()) {
      throw new CaError('CA_EXPIRED', `the CA chain expires on ${this.#chainNotAfter.toISOString()}; no certificate can be issued`,
        this.kind === 'managed' ? 'move the managed CA file aside to generate a new CA' : 'renew the custom CA certificates');
    }
    let usages = x509.KeyUsageFlags.digitalSignature;
    if (info?.type === 'RSA') usages |= x509.KeyUsageFlags.keyEncipherment;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([p.eku], false),
      await x509.SubjectKeyIdentifierExtension.create(leafKey),
      new x509.AuthorityKeyIdentifierExtension(this.#authorityKeyId),
    ];
    if (p.sans !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(p.sans.map((s) => ({ type: s.type, value: s.value }))));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: new x509.Name(p.subject),
      issuer: this.#issuerName,
      notBefore,
      notAfter,
      publicKey: leafKey,
      signingKey: this.#signing.key,
      signingAlgorithm: this.#signing.algorithm,
      extensions,
    });
    const der = new Uint8Array(cert.rawData);
    return {
      certificatePem: toPem('CERTIFICATE', der),
      privateKeyPem: p.privateKeyPem,
      publicKeyPem: toPem('PUBLIC KEY', spki),
      chainPem: this.chainPem,
      id: sha256Hex(der),
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    };
  }
}

/** Generates a managed CA and returns its bundle text (certificate, then PKCS#8 key). */
async function createManagedCaBundle(caType: CaType, now: Date): Promise<string> {
  const { privateKey, publicKey } = await generateLeafKeyPair(managedKeyType(caType));
  const info = describeKey(privateKey) as KeyInfo;
  const signing = await importSigningKey(privateKey, info);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const pub = new x509.PublicKey(spki);
  const name = new x509.Name([{ CN: [`Gatehouse CA ${randomBytes(4).toString('hex')}`] }, { O: ['Gatehouse'] }]);
  const ski = await x509.SubjectKeyIdentifierExtension.create(pub);
  const seconds = Math.floor(now.getTime() / 1000) * 1000;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: name,
    issuer: name,
    notBefore: new Date(seconds - BACKDATE_SECONDS * 1000),
    notAfter: new Date(seconds + MANAGED_CA_VALIDITY_DAYS * DAY_MS),
    publicKey: pub,
    signingKey: signing.key,
    signingAlgorithm: signing.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
  return formatBundle([toPem('CERTIFICATE', new Uint8Array(cert.rawData))], privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
}

function parseManagedBundle(text: string, file: string): CaMaterial {
  const corrupt = (why: string): CaError =>
    new CaError('CA_STORE_CORRUPT', `the managed CA ${file} is damaged: ${why}`,
      `restore ${file} from a backup; or move it aside to generate a new CA (devices must then trust the new CA certificate and device certificates must be re-issued)`);
  let bundle;
  try {
    bundle = parseBundle(text);
  } catch (err) {
    if (err instanceof BundleFormatError) throw corrupt(err.message);
    throw err;
  }
  const certs = parseCertificates(bundle.certificates.map((d) => certificatePem(d)).join(''), `managed CA ${file}`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKeyFromPkcs8(bundle.privateKey);
  } catch {
    throw corrupt('the private key cannot be parsed');
  }
  const info = describeKey(privateKey);
  if (info === undefined) throw corrupt('unsupported key type');
  return { certificate: certs[0] as X509Certificate, chain: certs, privateKey, keyInfo: info };
}

function createPrivateKeyFromPkcs8(der: Buffer): KeyObject {
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}
