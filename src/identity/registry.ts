/**
 * The registry of things, certificates, attachments and trusted device CAs.
 *
 * `Registry` is the interface every backend implements; `SqliteRegistry`
 * (./sqlite-registry.ts) is the embedded default and is authoritative. The interface is
 * asynchronous so that other backends can be added without changing callers:
 *
 * - a remote AWS IoT registry (DescribeThing, DescribeCertificate,
 *   ListThingPrincipals, ...) whose answers are cached locally, with the cache as the
 *   offline fallback — the Greengrass component's model. Gatehouse follows AWS IoT by
 *   copying it instead: `gatehouse sync --from-aws` and the gateway's continuous sync
 *   write the cloud's fleet into this registry (sync-apply.ts), and
 *   `security.clientDeviceTrustDurationMinutes` bounds how long the certificates the
 *   continuous sync manages are admitted while the cloud is out of reach
 *   (sync/continuous.ts, docs/migration.md);
 * - `PgRegistry` (./pg-registry.ts): PostgreSQL, for several gateways sharing one
 *   registry; its `changes` table and LISTEN/NOTIFY feed {@link Registry.watch}
 *   (docs/cluster.md).
 *
 * Contract for every backend:
 * - Each mutation is atomic: it happens completely or not at all, and records one or
 *   more {@link Change}s in the same transaction.
 * - Change sequence numbers increase strictly; `changesSince` returns them in order.
 *   Another process's mutations become visible through `changesSince` and `watch`.
 * - Reads never create records. Thing names are case-sensitive.
 * - Failures are {@link RegistryError}s with a code from REGISTRY_CODES.
 */
import type { RegistryError } from './errors.js';

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED';
export const CERTIFICATE_STATUSES: readonly CertificateStatus[] = ['ACTIVE', 'INACTIVE', 'REVOKED'];

export interface Thing {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** The thing's type (at most one, a declared {@link ThingType}), or null. */
  readonly thingTypeName: string | null;
  /** 1 at creation, one more on every change of the type or attributes (AWS IoT's thing version). */
  readonly version: number;
  readonly createdAt: Date;
}

/** A declared thing type (AWS IoT's CreateThingType). Its name and properties never change. */
export interface ThingType {
  readonly name: string;
  readonly description: string | null;
  /** At most three attribute names. */
  readonly searchableAttributes: readonly string[];
  /** When it was deprecated, or null: no thing can take a deprecated type, and only a deprecated type can be deleted. */
  readonly deprecatedAt: Date | null;
  readonly createdAt: Date;
}

export interface CreateThingTypeOptions {
  /** At most 2028 characters. */
  readonly description?: string;
  /** At most three distinct attribute names. */
  readonly searchableAttributes?: readonly string[];
}

export interface CertificateRecord {
  /** Lower-case hex SHA-256 of the DER encoding. */
  readonly id: string;
  readonly pem: string;
  readonly status: CertificateStatus;
  readonly subject: string;
  readonly issuerSubject: string;
  /** Id of the trusted CA (or issuing certificate) it was verified against when registered, if known. */
  readonly issuerId: string | null;
  /**
   * How it is trusted: `ca`, it must chain to a trusted device CA; `registration`, its
   * issuer is unknown here and this exact certificate (same DER, so same id) is trusted
   * because it is registered — imported from AWS IoT Core, where it was created by AWS IoT
   * or registered without a CA, or registered here without a CA. The registry status
   * (ACTIVE) and validity period apply to both.
   */
  readonly trust: CertificateTrust;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly createdAt: Date;
  readonly statusUpdatedAt: Date;
}

export type CertificateTrust = 'ca' | 'registration';

export type TrustedCaSource = 'gateway' | 'operator';

export interface TrustedCa {
  /** Lower-case hex SHA-256 of the DER encoding. */
  readonly id: string;
  readonly pem: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly addedAt: Date;
  /** `gateway`: added automatically as the gateway's device-issuing CA; `operator`: `ca trust`. */
  readonly source: TrustedCaSource;
}

/** One recorded mutation. `seq` increases strictly across all processes using the registry. */
export type Change = { readonly seq: number; readonly at: Date } & (
  | { readonly kind: 'THING_CREATED'; readonly thingName: string }
  | { readonly kind: 'THING_DELETED'; readonly thingName: string }
  | { readonly kind: 'CERT_REGISTERED'; readonly certificateId: string; readonly status: CertificateStatus }
  | { readonly kind: 'CERT_STATUS_CHANGED'; readonly certificateId: string; readonly status: CertificateStatus }
  | { readonly kind: 'CERT_DELETED'; readonly certificateId: string }
  | { readonly kind: 'CERT_ATTACHED'; readonly thingName: string; readonly certificateId: string }
  | { readonly kind: 'CERT_DETACHED'; readonly thingName: string; readonly certificateId: string }
  | { readonly kind: 'CA_TRUSTED'; readonly caId: string }
  | { readonly kind: 'CA_UNTRUSTED'; readonly caId: string }
  /** The thing's type or attributes changed. */
  | { readonly kind: 'THING_UPDATED'; readonly thingName: string }
  /** A policy, one of its versions, or which version is the default changed. `version` is the version concerned. */
  | { readonly kind: 'POLICY_CHANGED'; readonly policyName: string; readonly event: PolicyEvent; readonly version: number }
  | { readonly kind: 'POLICY_ATTACHMENT_CHANGED'; readonly policyName: string; readonly target: PolicyTarget; readonly attached: boolean }
  /**
   * A group was created or deleted (`thingName` null; DELETED also ends every membership
   * of the group, which gets no THING_REMOVED of its own), or a thing joined or left it.
   */
  | { readonly kind: 'THING_GROUP_CHANGED'; readonly groupName: string; readonly event: ThingGroupEvent; readonly thingName: string | null }
  /** A thing type was declared, deprecated, undeprecated or deleted (things' types change with THING_UPDATED). */
  | { readonly kind: 'THING_TYPE_CHANGED'; readonly typeName: string; readonly event: ThingTypeEvent }
  /**
   * A message a service (jobs) made for a device's MQTT topic, carried to every node that
   * shares the registry so that the node the device is connected to publishes it. Only a
   * shared (PostgreSQL) registry records these; they change nothing in the registry.
   */
  | { readonly kind: 'SERVICE_MESSAGE'; readonly topic: string; readonly payload: string }
);
export type ChangeKind = Change['kind'];

export type PolicyEvent = 'CREATED' | 'VERSION_CREATED' | 'DEFAULT_VERSION_SET' | 'VERSION_DELETED' | 'DELETED';
export type ThingGroupEvent = 'CREATED' | 'DELETED' | 'THING_ADDED' | 'THING_REMOVED';
export type ThingTypeEvent = 'CREATED' | 'DEPRECATED' | 'UNDEPRECATED' | 'DELETED';

/** What a policy is attached to: a certificate (principal) or a static thing group. */
export type PolicyTarget =
  | { readonly kind: 'certificate'; readonly certificateId: string }
  | { readonly kind: 'thingGroup'; readonly groupName: string };

export interface PolicyVersion {
  readonly policyName: string;
  readonly version: number;
  /** The document exactly as the operator gave it. */
  readonly document: string;
  readonly isDefault: boolean;
  readonly createdAt: Date;
}

export interface IotPolicy {
  readonly name: string;
  readonly defaultVersion: number;
  /** The default version's document (the one in force). */
  readonly document: string;
  /** Every version id, ascending. */
  readonly versions: readonly number[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ThingGroup {
  readonly name: string;
  readonly parent: string | null;
  readonly description: string | null;
  readonly createdAt: Date;
}

export interface UpdateThingOptions {
  /**
   * A declared type to set (THING_TYPE_NOT_FOUND, or THING_TYPE_DEPRECATED unless the thing
   * has it already), or null to clear it; absent leaves the type unchanged.
   */
  readonly thingTypeName?: string | null;
  /** THING_VERSION_CONFLICT unless the thing's version is this one (checked in the same transaction). */
  readonly expectedVersion?: number;
  /** Attributes to add or overwrite. */
  readonly setAttributes?: Readonly<Record<string, string>>;
  /** Attribute names to remove (a name that is not set is ignored). */
  readonly removeAttributes?: readonly string[];
}

/**
 * Everything the IoT authorization snapshot needs, read in one consistent transaction.
 * Names in the lists are sorted, so two reads of the same data compare equal.
 */
export interface IotAuthorizationData {
  /** The change sequence number this data reflects: rebuild on any later change. */
  readonly seq: number;
  /** Every policy with its default version's document. */
  readonly policies: readonly { readonly name: string; readonly document: string; readonly version: number }[];
  /** Certificate id → names of the policies attached to it (certificates with none are absent). */
  readonly certificatePolicies: ReadonlyMap<string, readonly string[]>;
  /** Group name → names of the policies attached directly to it. */
  readonly thingGroupPolicies: ReadonlyMap<string, readonly string[]>;
  /**
   * Thing name → the groups whose policies apply to it: every group it is a member of
   * and all their ancestors (a parent group's policies are inherited).
   */
  readonly thingGroups: ReadonlyMap<string, readonly string[]>;
  /** Thing name → its type (things without a type are absent). */
  readonly thingTypes: ReadonlyMap<string, string>;
}

export interface ChangeBatch {
  readonly changes: readonly Change[];
  /**
   * False when changes after the requested sequence number were pruned before they
   * could be read: the caller missed something and must re-check whatever it caches.
   */
  readonly complete: boolean;
  /** Sequence number to pass to the next `changesSince` call. */
  readonly nextSeq: number;
}

export type ChangeListener = (changes: readonly Change[], info: { readonly complete: boolean }) => void;

export interface RegistryWatch {
  close(): void;
}

export interface WatchOptions {
  /** Poll interval for changes made by other processes (default 250 ms). */
  readonly intervalMs?: number;
  /**
   * Start after this sequence number. Default: the latest at the time of the call — for
   * SQLite exactly; for PostgreSQL the newest this process has seen committed (its own
   * writes and feed reads), so a change another node made just before the call may be
   * delivered as well. A watcher is never told less than what follows its start.
   */
  readonly afterSeq?: number;
  /** Called when polling or a listener fails; polling continues. */
  readonly onError?: (error: unknown) => void;
}

export interface ListThingsOptions {
  /** Only names starting with this text. */
  readonly prefix?: string;
  /** Only names sorting after this one (for paging). */
  readonly after?: string;
  readonly limit?: number;
}

export interface ListCertificatesOptions {
  readonly status?: CertificateStatus;
  readonly thingName?: string;
  readonly limit?: number;
}

export interface RegisterCertificateOptions {
  /** Initial status (default ACTIVE). */
  readonly status?: CertificateStatus;
  readonly issuerId?: string | null;
  /** Default `ca`; `registration` only for a certificate registered without its CA (see CertificateRecord.trust). */
  readonly trust?: CertificateTrust;
}

export interface EnrollOptions {
  readonly thingName: string;
  /** Attributes for a thing this call creates (ignored when the thing exists). */
  readonly attributes?: Readonly<Record<string, string>>;
  /** PEM; only the first certificate is registered. */
  readonly certificatePem: string;
  readonly status?: CertificateStatus;
  readonly issuerId?: string | null;
  /** `new`: the thing must not exist yet (THING_EXISTS); `any`: create it if missing. */
  readonly thing: 'new' | 'any';
}

export interface EnrollResult {
  readonly thing: Thing;
  readonly certificate: CertificateRecord;
  readonly thingCreated: boolean;
  readonly certificateCreated: boolean;
  readonly attached: boolean;
}

export interface Registry {
  // Things
  createThing(name: string, attributes?: Readonly<Record<string, string>>): Promise<Thing>;
  /**
   * Like createThing, with a declared type that is not deprecated (THING_TYPE_NOT_FOUND,
   * THING_TYPE_DEPRECATED), in one transaction.
   */
  createThingWithType(name: string, attributes: Readonly<Record<string, string>>, thingTypeName: string | null): Promise<Thing>;
  getThing(name: string): Promise<Thing | undefined>;
  listThings(options?: ListThingsOptions): Promise<Thing[]>;
  countThings(): Promise<number>;
  /**
   * Deletes the thing and its attachments (the certificates stay registered);
   * THING_VERSION_CONFLICT when `expectedVersion` is given and is not the thing's version.
   */
  deleteThing(name: string, options?: { readonly expectedVersion?: number }): Promise<void>;

  // Thing types
  /** THING_TYPE_EXISTS; THING_TYPE_PROPERTIES_INVALID for a long description or more than three searchable attributes. */
  createThingType(name: string, options?: CreateThingTypeOptions): Promise<ThingType>;
  getThingType(name: string): Promise<ThingType | undefined>;
  /** Sorted by name. */
  listThingTypes(): Promise<ThingType[]>;
  /** Deprecates (or with `undo`, undeprecates) the type; idempotent: `changed` is false when it was in that state. */
  deprecateThingType(name: string, undo?: boolean): Promise<{ readonly changed: boolean }>;
  /**
   * THING_TYPE_NOT_DEPRECATED unless deprecated at least THING_TYPE_DELETE_DELAY_MS ago
   * (AWS IoT's five minutes); THING_TYPE_IN_USE while a thing has it.
   */
  deleteThingType(name: string): Promise<void>;
  /** Names of the things of a type, sorted. */
  thingsOfType(name: string): Promise<string[]>;

  // Certificates
  /** Registers the first certificate of `pem`. CERT_EXISTS if already registered. */
  registerCertificate(pem: string, options?: RegisterCertificateOptions): Promise<CertificateRecord>;
  getCertificate(id: string): Promise<CertificateRecord | undefined>;
  /** Full id from a full id or a unique prefix of at least 8 hex characters. */
  resolveCertificateId(idOrPrefix: string): Promise<string>;
  listCertificates(options?: ListCertificatesOptions): Promise<CertificateRecord[]>;
  /** REVOKED is final: moving a revoked certificate to another status fails with CERT_REVOKED. */
  setCertificateStatus(id: string, status: CertificateStatus): Promise<{ readonly changed: boolean; readonly previous: CertificateStatus }>;
  /** Deletes the certificate record and its attachments. */
  deleteCertificate(id: string): Promise<void>;

  // Attachments (many-to-many)
  /** Idempotent: `changed` is false when it was already attached. */
  attach(thingName: string, certificateId: string): Promise<{ readonly changed: boolean }>;
  /** CERT_NOT_ATTACHED when it was not attached. */
  detach(thingName: string, certificateId: string): Promise<void>;
  isAttached(thingName: string, certificateId: string): Promise<boolean>;
  thingsForCertificate(certificateId: string): Promise<string[]>;
  certificatesForThing(thingName: string): Promise<string[]>;

  /**
   * Sets or clears the thing type and adds, overwrites or removes attributes, all or
   * nothing; records THING_UPDATED when something changed. At most 50 attributes remain.
   */
  updateThing(name: string, update: UpdateThingOptions): Promise<{ readonly thing: Thing; readonly changed: boolean }>;

  /** Create-thing-if-allowed + register-certificate-if-new + attach, in one transaction. */
  enroll(options: EnrollOptions): Promise<EnrollResult>;

  // Trusted device CAs
  /** CA_NOT_A_CA unless the certificate is a CA; CA_EXISTS if already trusted. */
  trustCa(pem: string): Promise<TrustedCa>;
  /**
   * Trusts the gateway's device-issuing CA unless this CA was trusted this way before
   * (so an operator's `ca untrust` of it sticks across restarts).
   */
  trustGatewayCa(pem: string): Promise<{ readonly added: boolean; readonly ca: TrustedCa | undefined }>;
  untrustCa(id: string): Promise<void>;
  getTrustedCa(id: string): Promise<TrustedCa | undefined>;
  listTrustedCas(): Promise<TrustedCa[]>;
  /** Full id from a full id or a unique prefix of at least 8 hex characters. */
  resolveCaId(idOrPrefix: string): Promise<string>;

  // IoT policies (AWS IoT rules: at most 5 versions, the default one in force)
  /**
   * Creates the policy with version 1 as its default. A document the IoT policy grammar
   * rejects is refused with POLICY_DOCUMENT_INVALID (its `problems`) and nothing is stored.
   */
  createPolicy(name: string, document: string): Promise<IotPolicy>;
  getPolicy(name: string): Promise<IotPolicy | undefined>;
  listPolicies(): Promise<IotPolicy[]>;
  /** POLICY_ATTACHED while attached anywhere; POLICY_HAS_VERSIONS while it has non-default versions. */
  deletePolicy(name: string): Promise<void>;
  /** POLICY_VERSION_LIMIT when the policy has 5 versions already. */
  createPolicyVersion(name: string, document: string, options?: { readonly setAsDefault?: boolean }): Promise<PolicyVersion>;
  getPolicyVersion(name: string, version: number): Promise<PolicyVersion | undefined>;
  listPolicyVersions(name: string): Promise<PolicyVersion[]>;
  /** Idempotent: `changed` is false when it was the default already. */
  setDefaultPolicyVersion(name: string, version: number): Promise<{ readonly changed: boolean }>;
  /** POLICY_VERSION_IS_DEFAULT for the default version. */
  deletePolicyVersion(name: string, version: number): Promise<void>;
  /** Idempotent: `changed` is false when it was attached already. */
  attachPolicy(name: string, target: PolicyTarget): Promise<{ readonly changed: boolean }>;
  /** POLICY_NOT_ATTACHED when it was not attached. */
  detachPolicy(name: string, target: PolicyTarget): Promise<void>;
  /** Everything the policy is attached to: certificates first, then groups, each sorted. */
  policyTargets(name: string): Promise<PolicyTarget[]>;
  /** Names of the policies attached directly to a certificate or group, sorted. */
  policiesForTarget(target: PolicyTarget): Promise<string[]>;

  // Static thing groups
  /** THING_GROUP_EXISTS; THING_GROUP_NOT_FOUND for a missing parent. The parent cannot change later. */
  createThingGroup(name: string, options?: { readonly parent?: string; readonly description?: string }): Promise<ThingGroup>;
  getThingGroup(name: string): Promise<ThingGroup | undefined>;
  listThingGroups(): Promise<ThingGroup[]>;
  /** Removes the memberships too. THING_GROUP_HAS_CHILDREN / THING_GROUP_HAS_POLICIES refuse it. */
  deleteThingGroup(name: string): Promise<void>;
  /**
   * Idempotent. THING_GROUP_LIMIT past 10 groups; THING_GROUP_HIERARCHY_CONFLICT when the
   * thing is already in another group of the same hierarchy (same root group).
   */
  addThingToGroup(groupName: string, thingName: string): Promise<{ readonly changed: boolean }>;
  /** THING_NOT_IN_GROUP when it was not a member. */
  removeThingFromGroup(groupName: string, thingName: string): Promise<void>;
  /** Direct members, sorted. */
  thingsInGroup(groupName: string): Promise<string[]>;
  /** Groups the thing is a direct member of, sorted. */
  groupsForThing(thingName: string): Promise<string[]>;

  /** One consistent bulk read for building the IoT authorization snapshot. */
  iotAuthorizationData(): Promise<IotAuthorizationData>;

  // Change feed
  latestChangeSeq(): Promise<number>;
  changesSince(seq: number, limit?: number): Promise<ChangeBatch>;
  /**
   * Calls `listener` with each batch of new changes, from this and other processes.
   * A number is the poll interval in milliseconds.
   */
  watch(listener: ChangeListener, options?: WatchOptions | number): RegistryWatch;

  close(): Promise<void>;
}

export type { RegistryError };
