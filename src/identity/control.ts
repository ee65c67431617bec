/**
 * The control plane's records: who may call the management API (IAM users with access
 * keys, roles and their temporary credentials, the API-token principal), the IAM
 * identity policies attached to them, role aliases for the credentials provider, tags
 * on every taggable resource, and the audit log of management calls.
 *
 * `ControlStore` is the contract every registry backend implements next to `Registry`
 * (the SQLite backend keeps both in the same database file, so a control change and
 * its audit record share a transaction where they must). Models follow AWS IAM and STS
 * (https://docs.aws.amazon.com/IAM/latest/APIReference/, https://docs.aws.amazon.com/STS/latest/APIReference/)
 * closely enough that the AWS SDKs' shapes map onto them one to one.
 *
 * Contract for every backend:
 * - Secret access keys are stored encrypted at rest (the SigV4 check needs the secret
 *   itself to re-sign), never hashed away and never returned except by
 *   `createAccessKey` / `createSessionCredentials` (once) and `resolveAccessKey` (to
 *   the request verifier only). Session tokens are stored as SHA-256 digests.
 * - Names follow IAM's rules (users, roles, policies: `[\w+=,.@-]{1,64}` — 128 for
 *   roles, 128 for policies); ARNs are `arn:<partition>:iam::<account>:user/<name>`,
 *   `…:role/<name>`, `…:policy/<name>`, `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`,
 *   `arn:<partition>:iot:<region>:<account>:rolealias/<alias>`.
 * - Failures are `ControlError`s (identity/errors.ts) with stable codes.
 */

export type AccessKeyStatus = 'Active' | 'Inactive';

export interface IamUser {
  readonly name: string;
  /** Unique id, `AIDA` + 17 upper-case base32 characters (like IAM). */
  readonly id: string;
  readonly arn: string;
  readonly createdAt: Date;
  readonly tags: Readonly<Record<string, string>>;
}

export interface AccessKeyRecord {
  /** `AKIA` + 16 upper-case base32 characters. */
  readonly accessKeyId: string;
  readonly userName: string;
  readonly status: AccessKeyStatus;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

export interface IamRole {
  readonly name: string;
  /** `AROA` + 17 characters. */
  readonly id: string;
  readonly arn: string;
  /** The trust policy (JSON text): who may assume the role (`sts:AssumeRole` for IAM users and roles; role aliases name the role themselves). */
  readonly assumeRolePolicyDocument: string;
  /** 3600–43200, default 3600 (IAM's MaxSessionDuration). */
  readonly maxSessionDurationSeconds: number;
  readonly description: string;
  readonly createdAt: Date;
  readonly tags: Readonly<Record<string, string>>;
}

export interface ManagedPolicyVersion {
  /** `v1`, `v2`, …; ids are never reused. */
  readonly versionId: string;
  readonly document: string;
  readonly isDefaultVersion: boolean;
  readonly createdAt: Date;
}

export interface ManagedPolicy {
  readonly name: string;
  /** `ANPA` + 17 characters. */
  readonly id: string;
  readonly arn: string;
  readonly defaultVersionId: string;
  /** Users and roles it is attached to. */
  readonly attachmentCount: number;
  readonly description: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly tags: Readonly<Record<string, string>>;
}

export type PolicyHolder = { readonly kind: 'user'; readonly name: string } | { readonly kind: 'role'; readonly name: string };

/** Temporary credentials of a role session (AssumeRole, the credentials provider). */
export interface SessionCredentials {
  /** `ASIA` + 16 characters. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
  /** `arn:…:sts::<account>:assumed-role/<role>/<session>`. */
  readonly assumedRoleArn: string;
  /** `<role id>:<session name>`. */
  readonly assumedRoleId: string;
}

export interface CreateSessionOptions {
  readonly roleName: string;
  readonly sessionName: string;
  readonly durationSeconds: number;
  /** Who asked: a user or role-session ARN, or `rolealias/<alias>` with the certificate id for the credentials provider. */
  readonly sourceArn: string;
  /** Session tags (AssumeRole `Tags`), become `aws:PrincipalTag/…` of the session. */
  readonly tags?: Readonly<Record<string, string>>;
  readonly now: Date;
}

/** Who signed a request, as the verifier needs it. */
export type ResolvedPrincipal =
  | { readonly kind: 'user'; readonly user: IamUser; readonly accessKey: AccessKeyRecord }
  | {
    readonly kind: 'role-session';
    readonly role: IamRole;
    readonly sessionName: string;
    readonly assumedRoleArn: string;
    readonly assumedRoleId: string;
    readonly expiration: Date;
    readonly tags: Readonly<Record<string, string>>;
  };

export interface ResolvedAccessKey {
  readonly secretAccessKey: string;
  /** For `ASIA` keys: the SHA-256 (hex) of the session token the request must carry. */
  readonly sessionTokenSha256?: string;
  readonly principal: ResolvedPrincipal;
}

export interface RoleAlias {
  readonly alias: string;
  readonly arn: string;
  readonly roleArn: string;
  /** 900–43200, default 3600. */
  readonly credentialDurationSeconds: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly tags: Readonly<Record<string, string>>;
}

export type AuditDecision = 'allow' | 'deny';

export interface AuditRecord {
  readonly id: number;
  readonly at: Date;
  /** The caller's ARN (`arn:…:iam::…:user/alice`, an assumed-role ARN, `gatehouse:api-token`, or `anonymous` when authentication failed). */
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly decision: AuditDecision;
  /** A DECISION_REASONS code, or an authentication failure code (`SIGNATURE_DOES_NOT_MATCH`, …). */
  readonly reason: string;
  readonly policy: string | null;
  readonly statement: string | null;
  readonly sourceIp: string;
  readonly userAgent: string | null;
  /** The HTTP status answered. */
  readonly status: number;
  readonly requestId: string;
}

export type NewAuditRecord = Omit<AuditRecord, 'id'>;

export interface AuditQuery {
  readonly since?: Date;
  readonly until?: Date;
  readonly principal?: string;
  readonly action?: string;
  readonly decision?: AuditDecision;
  /** Newest first; default 100, at most 1000. */
  readonly limit?: number;
  /** Records with id below this (paging backwards). */
  readonly beforeId?: number;
}

/** Every taggable resource, by ARN kind. */
export type TagTarget =
  | { readonly kind: 'thing'; readonly name: string }
  | { readonly kind: 'thinggroup'; readonly name: string }
  | { readonly kind: 'policy'; readonly name: string }
  | { readonly kind: 'cert'; readonly id: string }
  | { readonly kind: 'cacert'; readonly id: string }
  | { readonly kind: 'rolealias'; readonly name: string }
  | { readonly kind: 'user'; readonly name: string }
  | { readonly kind: 'role'; readonly name: string }
  | { readonly kind: 'iampolicy'; readonly name: string };

/** At most 50 tags per resource; keys 1–128, values 0–256 characters; `aws:` keys are reserved (AWS's tag rules). */
export const MAX_TAGS_PER_RESOURCE = 50;

export interface ControlStore {
  // Users and access keys
  createUser(name: string, options?: { readonly tags?: Readonly<Record<string, string>> }): Promise<IamUser>;
  getUser(name: string): Promise<IamUser | undefined>;
  listUsers(): Promise<IamUser[]>;
  /** Refused (CONTROL_USER_HAS_DEPENDENTS) while it has access keys or attached policies, as IAM does. */
  deleteUser(name: string): Promise<void>;
  /** The secret is returned here once and never again. At most 2 keys per user (IAM's quota). */
  createAccessKey(userName: string): Promise<{ readonly key: AccessKeyRecord; readonly secretAccessKey: string }>;
  listAccessKeys(userName: string): Promise<AccessKeyRecord[]>;
  updateAccessKey(accessKeyId: string, status: AccessKeyStatus): Promise<void>;
  deleteAccessKey(accessKeyId: string): Promise<void>;
  /**
   * For the request verifier: the secret and who owns an Active, unexpired key (user key
   * or session key); undefined otherwise. Records `lastUsedAt` at most once a minute.
   */
  resolveAccessKey(accessKeyId: string, now: Date): Promise<ResolvedAccessKey | undefined>;

  // Roles
  createRole(name: string, assumeRolePolicyDocument: string, options?: { readonly maxSessionDurationSeconds?: number; readonly description?: string; readonly tags?: Readonly<Record<string, string>> }): Promise<IamRole>;
  getRole(name: string): Promise<IamRole | undefined>;
  listRoles(): Promise<IamRole[]>;
  updateAssumeRolePolicy(name: string, document: string): Promise<void>;
  /** Refused while policies are attached or a role alias names it. */
  deleteRole(name: string): Promise<void>;
  createSessionCredentials(options: CreateSessionOptions): Promise<SessionCredentials>;

  // Managed IAM policies (documents validated by the IAM dialect before they are stored)
  createIamPolicy(name: string, document: string, options?: { readonly description?: string; readonly tags?: Readonly<Record<string, string>> }): Promise<ManagedPolicy>;
  getIamPolicy(name: string): Promise<ManagedPolicy | undefined>;
  listIamPolicies(): Promise<ManagedPolicy[]>;
  /** Refused while attached or while it has versions other than the default (IAM's rule). */
  deleteIamPolicy(name: string): Promise<void>;
  createIamPolicyVersion(name: string, document: string, setAsDefault: boolean): Promise<ManagedPolicyVersion>;
  getIamPolicyVersion(name: string, versionId: string): Promise<ManagedPolicyVersion | undefined>;
  listIamPolicyVersions(name: string): Promise<ManagedPolicyVersion[]>;
  setDefaultIamPolicyVersion(name: string, versionId: string): Promise<void>;
  deleteIamPolicyVersion(name: string, versionId: string): Promise<void>;
  attachIamPolicy(policyName: string, holder: PolicyHolder): Promise<{ readonly changed: boolean }>;
  detachIamPolicy(policyName: string, holder: PolicyHolder): Promise<void>;
  attachedIamPolicies(holder: PolicyHolder): Promise<string[]>;
  /** The default-version documents in force for a holder, by policy name (what the evaluator compiles). */
  iamPoliciesInForce(holder: PolicyHolder): Promise<{ readonly name: string; readonly versionId: string; readonly document: string }[]>;

  // Role aliases (credentials provider)
  createRoleAlias(alias: string, roleArn: string, options?: { readonly credentialDurationSeconds?: number; readonly tags?: Readonly<Record<string, string>> }): Promise<RoleAlias>;
  getRoleAlias(alias: string): Promise<RoleAlias | undefined>;
  listRoleAliases(): Promise<RoleAlias[]>;
  updateRoleAlias(alias: string, update: { readonly roleArn?: string; readonly credentialDurationSeconds?: number }): Promise<RoleAlias>;
  deleteRoleAlias(alias: string): Promise<void>;

  // Tags (any taggable resource; the resource must exist: CONTROL_RESOURCE_NOT_FOUND)
  tagResource(target: TagTarget, tags: Readonly<Record<string, string>>): Promise<void>;
  untagResource(target: TagTarget, keys: readonly string[]): Promise<void>;
  tagsOf(target: TagTarget): Promise<Readonly<Record<string, string>>>;

  // Audit
  appendAudit(records: readonly NewAuditRecord[]): Promise<void>;
  queryAudit(query: AuditQuery): Promise<AuditRecord[]>;
  /** Deletes records older than `before`; returns how many. */
  pruneAudit(before: Date): Promise<number>;
}

/** The first-start administrator (admin-bootstrap.ts): what to create, and where its key goes. */
export interface CreateAdministratorOptions {
  readonly userName: string;
  readonly policyName: string;
  readonly policyDocument: string;
  /** Called with the new credentials inside the transaction: a throw leaves nothing behind. */
  readonly persist: (credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }) => void;
}

export type CreateAdministratorResult = { readonly created: false } | { readonly created: true; readonly user: IamUser; readonly accessKeyId: string };

/**
 * What the gateway and the local CLI use beyond the contract: both backends' stores
 * (SQLite's `SqliteRegistry.control`, PostgreSQL's `PgRegistry.control`) implement it.
 */
export interface LocalControlStore extends ControlStore {
  /** Sets a role's MaxSessionDuration and/or description (IAM UpdateRole). */
  updateRole(name: string, update: { readonly maxSessionDurationSeconds?: number; readonly description?: string }): Promise<IamRole>;
  /** Deletes role sessions that expired at or before `now`; returns how many. */
  pruneExpiredSessions(now: Date): Promise<number>;
  /** Users and roles an IAM policy is attached to (IAM ListEntitiesForPolicy). */
  iamPolicyHolders(policyName: string): Promise<PolicyHolder[]>;
  /** Grows with every change of the control records (not with session credentials or audit records). */
  generation(): Promise<number>;
  /** The first-start administrator, once per store (see admin-bootstrap.ts). */
  createAdministrator(options: CreateAdministratorOptions): CreateAdministratorResult | Promise<CreateAdministratorResult>;
}
