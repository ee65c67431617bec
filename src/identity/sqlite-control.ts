/**
 * The SQLite backend of the ControlStore contract (control.ts), in the registry's own
 * database file: a control change runs in the registry's IMMEDIATE transactions, and
 * deleting a thing, group, certificate or policy removes its tags in the same
 * transaction (triggers of migration step 3).
 *
 * Callers get it from an open registry: `registry.control({ deployment, keyFile })`
 * (or `openControlStore` in admin-bootstrap.ts with a data directory). It shares the
 * registry's connection and closes with it.
 *
 * Secrets: secret access keys (users' and role sessions') are AES-256-GCM encrypted
 * with the key file (control-key.ts); session tokens are kept as SHA-256 digests. No
 * message, record or log line built here contains a secret.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { IotDeployment } from '../core/policy/iot/context.js';
import type {
  AccessKeyRecord, AccessKeyStatus, AuditQuery, AuditRecord, CreateSessionOptions, LocalControlStore, IamRole, IamUser,
  ManagedPolicy, ManagedPolicyVersion, NewAuditRecord, PolicyHolder, ResolvedAccessKey, RoleAlias, SessionCredentials, TagTarget,
} from './control.js';
import { MAX_TAGS_PER_RESOURCE } from './control.js';
import { SecretBox } from './control-key.js';
import {
  assertDescription, assertIamDocument, assertIamPolicyName, assertRoleAliasName, assertRoleName, assertSessionName, assertTagKey,
  assertTags, assertTrustPolicy, assertUserName,
} from './control-rules.js';
import { ControlError } from './errors.js';
import { shown } from './names.js';

type Db = Database.Database;
type Tags = Readonly<Record<string, string>>;

/** What the registry lends the control store: its connection, clock and transaction helpers. */
export interface ControlConnection {
  readonly db: Db;
  readonly now: () => Date;
  /** Runs `fn` after checking the registry is open, mapping SQLite's busy errors. */
  read<T>(fn: () => T): T;
  /** Runs `fn` in an IMMEDIATE transaction (a savepoint when already in one). */
  write<T>(fn: () => T): T;
  /**
   * `write` for rows no change-feed watcher reads (the audit log): the registry's
   * watchers are not woken, so a write costs one transaction and nothing more.
   */
  writeUnwatched<T>(fn: () => T): T;
}

export interface SqliteControlStoreOptions {
  /** Partition, region and account of the ARNs (the gateway's `gatehouse.iot`). */
  readonly deployment: IotDeployment;
  /** Path of the secret key file (`controlKeyPath(dataDir)`); created 0600 on first need. */
  readonly keyFile: string;
}

/** IAM quotas: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html */
export const ACCESS_KEYS_PER_USER = 2;
export const IAM_POLICY_VERSION_LIMIT = 5;
export const MANAGED_POLICIES_PER_HOLDER = 10;
/** Role MaxSessionDuration and AssumeRole DurationSeconds bounds (seconds). */
export const ROLE_MAX_SESSION_MIN = 3600;
export const ROLE_MAX_SESSION_MAX = 43_200;
export const SESSION_DURATION_MIN = 900;
/** Role alias credentialDurationSeconds bounds (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html). */
export const ROLE_ALIAS_DURATION_MIN = 900;
export const ROLE_ALIAS_DURATION_MAX = 43_200;
export const AUDIT_QUERY_DEFAULT_LIMIT = 100;
export const AUDIT_QUERY_MAX_LIMIT = 1000;
/** `lastUsedAt` of an access key is written at most this often. */
export const LAST_USED_GRANULARITY_MS = 60_000;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const VERSION_ID = /^v([1-9]\d{0,8})$/;
export const AKIA = /^AKIA[A-Z2-7]{16}$/;
export const ASIA = /^ASIA[A-Z2-7]{16}$/;

export interface UserRow { name: string; id: string; created_at: number }
export interface KeyRow { id: string; user_name: string; secret: string; status: AccessKeyStatus; created_at: number; last_used_at: number | null }
export interface RoleRow { name: string; id: string; trust_policy: string; max_session_seconds: number; description: string; created_at: number }
export interface SessionRow { id: string; role_name: string; session_name: string; secret: string; token_sha256: string; tags: string; expires_at: number }
export interface PolicyRow { name: string; id: string; default_version: number; next_version: number; description: string; created_at: number; updated_at: number; attachments: number }
export interface VersionRow { version: number; document: string; created_at: number }
export interface AliasRow { alias: string; role_name: string; duration_seconds: number; created_at: number; updated_at: number }
export interface AuditRow {
  id: number; at: number; principal: string; action: string; resource: string; decision: 'allow' | 'deny'; reason: string;
  policy: string | null; statement: string | null; source_ip: string; user_agent: string | null; status: number; request_id: string;
}

export class SqliteControlStore implements LocalControlStore {
  private readonly c: ControlConnection;
  private readonly deployment: IotDeployment;
  private readonly keyFile: string;
  private readonly s: ReturnType<typeof prepare>;
  private box: SecretBox | undefined;

  constructor(connection: ControlConnection, options: SqliteControlStoreOptions) {
    this.c = connection;
    this.deployment = Object.freeze({ ...options.deployment });
    this.keyFile = options.keyFile;
    this.s = prepare(connection.db);
  }

  // ------------------------------------------------------------------ ARNs

  userArn(name: string): string {
    return `arn:${this.deployment.partition}:iam::${this.deployment.accountId}:user/${name}`;
  }

  roleArn(name: string): string {
    return `arn:${this.deployment.partition}:iam::${this.deployment.accountId}:role/${name}`;
  }

  iamPolicyArn(name: string): string {
    return `arn:${this.deployment.partition}:iam::${this.deployment.accountId}:policy/${name}`;
  }

  assumedRoleArn(roleName: string, sessionName: string): string {
    return `arn:${this.deployment.partition}:sts::${this.deployment.accountId}:assumed-role/${roleName}/${sessionName}`;
  }

  roleAliasArn(alias: string): string {
    return `arn:${this.deployment.partition}:iot:${this.deployment.region}:${this.deployment.accountId}:rolealias/${alias}`;
  }

  // ------------------------------------------------------- users and keys

  async createUser(name: string, options: { readonly tags?: Tags } = {}): Promise<IamUser> {
    assertUserName(name);
    const tags = options.tags ?? {};
    assertTags(tags);
    return this.mutate(() => this.insertUser(name, tags));
  }

  async getUser(name: string): Promise<IamUser | undefined> {
    return this.c.read(() => {
      const row = this.s.getUser.get(name) as UserRow | undefined;
      return row ? this.userFromRow(row, this.loadTags('user', row.name)) : undefined;
    });
  }

  async listUsers(): Promise<IamUser[]> {
    return this.c.read(() => {
      const tags = this.tagsByResource('user');
      return (this.s.listUsers.all() as UserRow[]).map((r) => this.userFromRow(r, tags.get(r.name) ?? {}));
    });
  }

  async deleteUser(name: string): Promise<void> {
    this.mutate(() => {
      const user = this.requireUser(name);
      const keys = (this.s.countKeys.get(user.name) as { n: number }).n;
      const policies = (this.s.countUserPolicies.get(user.name) as { n: number }).n;
      if (keys > 0 || policies > 0) {
        const what = [keys > 0 ? `${keys} access key(s)` : '', policies > 0 ? `${policies} attached policy(ies)` : ''].filter(Boolean).join(' and ');
        throw new ControlError('CONTROL_USER_HAS_DEPENDENTS', `user ${shown(user.name)} still has ${what}`,
          `delete its access keys (\`gatehouse iam access-keys delete\`) and detach its policies (\`gatehouse iam policies detach NAME --user ${user.name}\`) first`);
      }
      this.s.deleteUser.run(user.name);
    });
  }

  async createAccessKey(userName: string): Promise<{ readonly key: AccessKeyRecord; readonly secretAccessKey: string }> {
    return this.mutate(() => this.insertAccessKey(userName));
  }

  async listAccessKeys(userName: string): Promise<AccessKeyRecord[]> {
    return this.c.read(() => {
      const user = this.requireUser(userName);
      return (this.s.keysOfUser.all(user.name) as KeyRow[]).map(keyFromRow);
    });
  }

  async updateAccessKey(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    if (status !== 'Active' && status !== 'Inactive') {
      throw new ControlError('CONTROL_ACCESS_KEY_STATUS_INVALID', `invalid access key status ${shown(status)}`, 'use `Active` or `Inactive`');
    }
    this.mutate(() => {
      if (this.s.setKeyStatus.run(status, accessKeyId).changes === 0) throw accessKeyNotFound(accessKeyId);
    });
  }

  async deleteAccessKey(accessKeyId: string): Promise<void> {
    this.mutate(() => {
      if (this.s.deleteKey.run(accessKeyId).changes === 0) throw accessKeyNotFound(accessKeyId);
    });
  }

  async resolveAccessKey(accessKeyId: string, now: Date): Promise<ResolvedAccessKey | undefined> {
    if (AKIA.test(accessKeyId)) return this.resolveUserKey(accessKeyId, now);
    if (ASIA.test(accessKeyId)) return this.resolveSessionKey(accessKeyId, now);
    return undefined;
  }

  private resolveUserKey(accessKeyId: string, now: Date): ResolvedAccessKey | undefined {
    const found = this.c.read(() => {
      const key = this.s.getKey.get(accessKeyId) as KeyRow | undefined;
      if (!key || key.status !== 'Active') return undefined;
      const user = this.s.getUser.get(key.user_name) as UserRow;
      return { key, user: this.userFromRow(user, this.loadTags('user', user.name)) };
    });
    if (!found) return undefined;
    const secretAccessKey = this.secrets().decrypt(accessKeyId, found.key.secret);
    let lastUsed = found.key.last_used_at;
    if (lastUsed === null || now.getTime() - lastUsed >= LAST_USED_GRANULARITY_MS) {
      lastUsed = now.getTime();
      this.c.write(() => this.s.setKeyLastUsed.run(lastUsed, accessKeyId));
    }
    const accessKey = keyFromRow({ ...found.key, last_used_at: lastUsed });
    return { secretAccessKey, principal: { kind: 'user', user: found.user, accessKey } };
  }

  private resolveSessionKey(accessKeyId: string, now: Date): ResolvedAccessKey | undefined {
    const found = this.c.read(() => {
      const session = this.s.getSession.get(accessKeyId, now.getTime()) as SessionRow | undefined;
      if (!session) return undefined;
      const roleRow = this.s.getRole.get(session.role_name) as RoleRow;
      return { session, role: this.roleFromRow(roleRow, this.loadTags('role', roleRow.name)) };
    });
    if (!found) return undefined;
    const { session, role } = found;
    const secretAccessKey = this.secrets().decrypt(accessKeyId, session.secret);
    const sessionTags = JSON.parse(session.tags) as Record<string, string>;
    return {
      secretAccessKey,
      sessionTokenSha256: session.token_sha256,
      principal: {
        kind: 'role-session',
        role,
        sessionName: session.session_name,
        assumedRoleArn: this.assumedRoleArn(role.name, session.session_name),
        assumedRoleId: `${role.id}:${session.session_name}`,
        expiration: new Date(session.expires_at),
        // A session tag overrides a role tag with the same key (IAM's rule for session tags).
        tags: Object.freeze({ ...role.tags, ...sessionTags }),
      },
    };
  }

  // ----------------------------------------------------------------- roles

  async createRole(name: string, assumeRolePolicyDocument: string, options: {
    readonly maxSessionDurationSeconds?: number; readonly description?: string; readonly tags?: Tags;
  } = {}): Promise<IamRole> {
    assertRoleName(name);
    assertTrustPolicy(assumeRolePolicyDocument);
    const maxSession = options.maxSessionDurationSeconds ?? ROLE_MAX_SESSION_MIN;
    assertMaxSession(maxSession);
    const description = options.description ?? '';
    assertDescription(description);
    const tags = options.tags ?? {};
    assertTags(tags);
    return this.mutate(() => {
      const existing = this.s.getRole.get(name) as RoleRow | undefined;
      if (existing) throw new ControlError('CONTROL_ROLE_EXISTS', `role ${shown(existing.name)} already exists (role names are not case-sensitive)`, 'choose another name, or update its trust policy');
      const createdAt = this.c.now().getTime();
      const id = uniqueId('AROA', 17);
      this.s.insertRole.run(name, id, assumeRolePolicyDocument, maxSession, description, createdAt);
      this.insertTags('role', name, tags);
      return this.roleFromRow({ name, id, trust_policy: assumeRolePolicyDocument, max_session_seconds: maxSession, description, created_at: createdAt }, tags);
    });
  }

  async getRole(name: string): Promise<IamRole | undefined> {
    return this.c.read(() => {
      const row = this.s.getRole.get(name) as RoleRow | undefined;
      return row ? this.roleFromRow(row, this.loadTags('role', row.name)) : undefined;
    });
  }

  async listRoles(): Promise<IamRole[]> {
    return this.c.read(() => {
      const tags = this.tagsByResource('role');
      return (this.s.listRoles.all() as RoleRow[]).map((r) => this.roleFromRow(r, tags.get(r.name) ?? {}));
    });
  }

  async updateAssumeRolePolicy(name: string, document: string): Promise<void> {
    assertTrustPolicy(document);
    this.mutate(() => {
      const role = this.requireRole(name);
      this.s.setTrustPolicy.run(document, role.name);
    });
  }

  /** Sets a role's MaxSessionDuration and/or description (IAM UpdateRole). */
  async updateRole(name: string, update: { readonly maxSessionDurationSeconds?: number; readonly description?: string }): Promise<IamRole> {
    if (update.maxSessionDurationSeconds !== undefined) assertMaxSession(update.maxSessionDurationSeconds);
    if (update.description !== undefined) assertDescription(update.description);
    return this.mutate(() => {
      const role = this.requireRole(name);
      const maxSession = update.maxSessionDurationSeconds ?? role.max_session_seconds;
      const description = update.description ?? role.description;
      this.s.updateRole.run(maxSession, description, role.name);
      return this.roleFromRow({ ...role, max_session_seconds: maxSession, description }, this.loadTags('role', role.name));
    });
  }

  async deleteRole(name: string): Promise<void> {
    this.mutate(() => {
      const role = this.requireRole(name);
      const policies = (this.s.countRolePolicies.get(role.name) as { n: number }).n;
      if (policies > 0) {
        throw new ControlError('CONTROL_ROLE_IN_USE', `role ${shown(role.name)} has ${policies} attached policy(ies)`, `detach them first (\`gatehouse iam policies detach NAME --role ${role.name}\`)`);
      }
      const alias = this.s.aliasOfRole.get(role.name) as { alias: string } | undefined;
      if (alias) {
        throw new ControlError('CONTROL_ROLE_IN_USE', `role ${shown(role.name)} is named by role alias ${shown(alias.alias)}`, 'delete the role alias or point it at another role first');
      }
      // Its sessions end with it (ON DELETE CASCADE).
      this.s.deleteRole.run(role.name);
    });
  }

  async createSessionCredentials(options: CreateSessionOptions): Promise<SessionCredentials> {
    assertSessionName(options.sessionName);
    const tags = options.tags ?? {};
    assertTags(tags);
    const d = options.durationSeconds;
    return this.c.write(() => {
      const role = this.requireRole(options.roleName);
      if (!Number.isInteger(d) || d < SESSION_DURATION_MIN || d > role.max_session_seconds) {
        throw new ControlError('CONTROL_SESSION_DURATION_INVALID',
          `session duration ${String(d)} s is outside ${SESSION_DURATION_MIN}-${role.max_session_seconds} s (the maximum session duration of role ${shown(role.name)})`,
          'ask for a shorter session, or raise the role\'s maximum session duration');
      }
      const now = options.now.getTime();
      this.s.pruneSessions.run(now);
      const accessKeyId = uniqueId('ASIA', 16);
      const secretAccessKey = newSecret();
      const sessionToken = randomBytes(48).toString('base64');
      const expiresAt = now + d * 1000;
      this.s.insertSession.run(accessKeyId, role.name, options.sessionName, this.secrets().encrypt(accessKeyId, secretAccessKey),
        sha256Hex(sessionToken), options.sourceArn, JSON.stringify(tags), now, expiresAt);
      return Object.freeze({
        accessKeyId, secretAccessKey, sessionToken, expiration: new Date(expiresAt),
        assumedRoleArn: this.assumedRoleArn(role.name, options.sessionName),
        assumedRoleId: `${role.id}:${options.sessionName}`,
      });
    });
  }

  /** Deletes role sessions that expired at or before `now`; returns how many. */
  async pruneExpiredSessions(now: Date): Promise<number> {
    return this.c.write(() => this.s.pruneSessions.run(now.getTime()).changes);
  }

  // ------------------------------------------------------ managed policies

  async createIamPolicy(name: string, document: string, options: { readonly description?: string; readonly tags?: Tags } = {}): Promise<ManagedPolicy> {
    assertIamPolicyName(name);
    assertIamDocument(document);
    const description = options.description ?? '';
    assertDescription(description);
    const tags = options.tags ?? {};
    assertTags(tags);
    return this.mutate(() => this.insertPolicy(name, document, description, tags));
  }

  async getIamPolicy(name: string): Promise<ManagedPolicy | undefined> {
    return this.c.read(() => {
      const row = this.s.getPolicy.get(name) as PolicyRow | undefined;
      return row ? this.policyFromRow(row, this.loadTags('iampolicy', row.name)) : undefined;
    });
  }

  async listIamPolicies(): Promise<ManagedPolicy[]> {
    return this.c.read(() => {
      const tags = this.tagsByResource('iampolicy');
      return (this.s.listPolicies.all() as PolicyRow[]).map((r) => this.policyFromRow(r, tags.get(r.name) ?? {}));
    });
  }

  async deleteIamPolicy(name: string): Promise<void> {
    this.mutate(() => {
      const p = this.requirePolicy(name);
      if (p.attachments > 0) {
        throw new ControlError('CONTROL_POLICY_ATTACHED', `IAM policy ${shown(p.name)} is attached to ${p.attachments} user(s) or role(s)`, `detach it first (\`gatehouse iam policies show ${p.name}\` lists them)`);
      }
      const versions = (this.s.countVersions.get(p.name) as { n: number }).n;
      if (versions > 1) {
        throw new ControlError('CONTROL_POLICY_HAS_VERSIONS', `IAM policy ${shown(p.name)} has ${versions - 1} version(s) besides the default`, 'delete the other versions first (`gatehouse iam policies delete-version`)');
      }
      this.s.deletePolicy.run(p.name);
    });
  }

  async createIamPolicyVersion(name: string, document: string, setAsDefault: boolean): Promise<ManagedPolicyVersion> {
    assertIamDocument(document);
    return this.mutate(() => {
      const p = this.requirePolicy(name);
      const count = (this.s.countVersions.get(p.name) as { n: number }).n;
      if (count >= IAM_POLICY_VERSION_LIMIT) {
        throw new ControlError('CONTROL_POLICY_VERSION_LIMIT', `IAM policy ${shown(p.name)} has ${IAM_POLICY_VERSION_LIMIT} versions already`, 'delete a version that is not the default first');
      }
      const version = p.next_version;
      const now = this.c.now().getTime();
      this.s.insertVersion.run(p.name, version, document, now);
      this.s.bumpPolicy.run(setAsDefault ? version : p.default_version, version + 1, now, p.name);
      return versionFromRow({ version, document, created_at: now }, setAsDefault ? version : p.default_version);
    });
  }

  async getIamPolicyVersion(name: string, versionId: string): Promise<ManagedPolicyVersion | undefined> {
    return this.c.read(() => {
      const p = this.s.getPolicy.get(name) as PolicyRow | undefined;
      const v = parseVersionId(versionId);
      if (!p || v === undefined) return undefined;
      const row = this.s.getVersion.get(p.name, v) as VersionRow | undefined;
      return row ? versionFromRow(row, p.default_version) : undefined;
    });
  }

  async listIamPolicyVersions(name: string): Promise<ManagedPolicyVersion[]> {
    return this.c.read(() => {
      const p = this.requirePolicy(name);
      return (this.s.listVersions.all(p.name) as VersionRow[]).map((r) => versionFromRow(r, p.default_version));
    });
  }

  async setDefaultIamPolicyVersion(name: string, versionId: string): Promise<void> {
    this.mutate(() => {
      const p = this.requirePolicy(name);
      const v = this.requireVersion(p, versionId);
      this.s.bumpPolicy.run(v, p.next_version, this.c.now().getTime(), p.name);
    });
  }

  async deleteIamPolicyVersion(name: string, versionId: string): Promise<void> {
    this.mutate(() => {
      const p = this.requirePolicy(name);
      const v = this.requireVersion(p, versionId);
      if (v === p.default_version) {
        throw new ControlError('CONTROL_POLICY_VERSION_IS_DEFAULT', `${versionId} is the default version of IAM policy ${shown(p.name)}`,
          'make another version the default first, or delete the whole policy');
      }
      this.s.deleteVersion.run(p.name, v);
      this.s.touchPolicy.run(this.c.now().getTime(), p.name);
    });
  }

  async attachIamPolicy(policyName: string, holder: PolicyHolder): Promise<{ readonly changed: boolean }> {
    return this.mutate(() => this.attach(policyName, holder));
  }

  async detachIamPolicy(policyName: string, holder: PolicyHolder): Promise<void> {
    this.mutate(() => {
      const p = this.requirePolicy(policyName);
      const holderName = this.requireHolder(holder);
      const stmt = holder.kind === 'user' ? this.s.detachUser : this.s.detachRole;
      if (stmt.run(holderName, p.name).changes === 0) {
        throw new ControlError('CONTROL_POLICY_NOT_ATTACHED', `IAM policy ${shown(p.name)} is not attached to ${holder.kind} ${shown(holderName)}`,
          `see what is attached with \`gatehouse iam ${holder.kind}s show ${holderName}\``);
      }
    });
  }

  async attachedIamPolicies(holder: PolicyHolder): Promise<string[]> {
    return this.c.read(() => {
      const holderName = this.requireHolder(holder);
      const stmt = holder.kind === 'user' ? this.s.policiesOfUser : this.s.policiesOfRole;
      return (stmt.all(holderName) as { name: string }[]).map((r) => r.name);
    });
  }

  /** Empty for a holder that does not exist (nothing is in force for it). */
  async iamPoliciesInForce(holder: PolicyHolder): Promise<{ readonly name: string; readonly versionId: string; readonly document: string }[]> {
    return this.c.read(() => {
      const stmt = holder.kind === 'user' ? this.s.inForceForUser : this.s.inForceForRole;
      return (stmt.all(holder.name) as { name: string; version: number; document: string }[])
        .map((r) => Object.freeze({ name: r.name, versionId: `v${r.version}`, document: r.document }));
    });
  }

  /** Users and roles an IAM policy is attached to (IAM ListEntitiesForPolicy). */
  async iamPolicyHolders(policyName: string): Promise<PolicyHolder[]> {
    return this.c.read(() => {
      const p = this.requirePolicy(policyName);
      return (this.s.holdersOfPolicy.all(p.name, p.name) as { kind: 'user' | 'role'; name: string }[]).map((r) => Object.freeze({ kind: r.kind, name: r.name }));
    });
  }

  // ----------------------------------------------------------- role aliases

  async createRoleAlias(alias: string, roleArn: string, options: { readonly credentialDurationSeconds?: number; readonly tags?: Tags } = {}): Promise<RoleAlias> {
    assertRoleAliasName(alias);
    const duration = options.credentialDurationSeconds ?? 3600;
    assertAliasDuration(duration);
    const tags = options.tags ?? {};
    assertTags(tags);
    const wanted = this.roleNameOfArn(roleArn);
    return this.mutate(() => {
      if (this.s.getAlias.get(alias)) throw new ControlError('CONTROL_ROLE_ALIAS_EXISTS', `role alias ${shown(alias)} already exists`, 'choose another alias, or update this one');
      const role = this.requireRole(wanted);
      assertWithinRole(duration, role);
      const now = this.c.now().getTime();
      this.s.insertAlias.run(alias, role.name, duration, now, now);
      this.insertTags('rolealias', alias, tags);
      return this.aliasFromRow({ alias, role_name: role.name, duration_seconds: duration, created_at: now, updated_at: now }, tags);
    });
  }

  async getRoleAlias(alias: string): Promise<RoleAlias | undefined> {
    return this.c.read(() => {
      const row = this.s.getAlias.get(alias) as AliasRow | undefined;
      return row ? this.aliasFromRow(row, this.loadTags('rolealias', row.alias)) : undefined;
    });
  }

  async listRoleAliases(): Promise<RoleAlias[]> {
    return this.c.read(() => {
      const tags = this.tagsByResource('rolealias');
      return (this.s.listAliases.all() as AliasRow[]).map((r) => this.aliasFromRow(r, tags.get(r.alias) ?? {}));
    });
  }

  async updateRoleAlias(alias: string, update: { readonly roleArn?: string; readonly credentialDurationSeconds?: number }): Promise<RoleAlias> {
    if (update.credentialDurationSeconds !== undefined) assertAliasDuration(update.credentialDurationSeconds);
    const wanted = update.roleArn !== undefined ? this.roleNameOfArn(update.roleArn) : undefined;
    return this.mutate(() => {
      const row = this.requireAlias(alias);
      const role = this.requireRole(wanted ?? row.role_name);
      const roleName = role.name;
      const duration = update.credentialDurationSeconds ?? row.duration_seconds;
      assertWithinRole(duration, role);
      const now = this.c.now().getTime();
      this.s.updateAlias.run(roleName, duration, now, row.alias);
      return this.aliasFromRow({ ...row, role_name: roleName, duration_seconds: duration, updated_at: now }, this.loadTags('rolealias', row.alias));
    });
  }

  async deleteRoleAlias(alias: string): Promise<void> {
    this.mutate(() => {
      if (this.s.deleteAlias.run(alias).changes === 0) throw roleAliasNotFound(alias);
    });
  }

  // ------------------------------------------------------------------ tags

  async tagResource(target: TagTarget, tags: Tags): Promise<void> {
    assertTags(tags);
    this.mutate(() => {
      const resource = this.requireResource(target);
      const existing = this.loadTags(target.kind, resource);
      const merged = { ...existing, ...tags };
      const count = Object.keys(merged).length;
      if (count > MAX_TAGS_PER_RESOURCE) {
        throw new ControlError('CONTROL_TAG_LIMIT', `${describeTarget(target)} would have ${count} tags; the limit is ${MAX_TAGS_PER_RESOURCE}`, 'remove tags you do not need first');
      }
      this.insertTags(target.kind, resource, tags);
    });
  }

  async untagResource(target: TagTarget, keys: readonly string[]): Promise<void> {
    for (const k of keys) assertTagKey(k);
    this.mutate(() => {
      const resource = this.requireResource(target);
      for (const k of keys) this.s.deleteTag.run(target.kind, resource, k);
    });
  }

  async tagsOf(target: TagTarget): Promise<Tags> {
    return this.c.read(() => this.loadTags(target.kind, this.requireResource(target)));
  }

  // ----------------------------------------------------------------- audit

  async appendAudit(records: readonly NewAuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const r of records) {
      if (r.decision !== 'allow' && r.decision !== 'deny') throw new TypeError(`audit record: unknown decision ${shown(r.decision)}`);
      if (!(r.at instanceof Date) || Number.isNaN(r.at.getTime())) throw new TypeError('audit record: `at` is not a valid Date');
    }
    this.c.writeUnwatched(() => {
      for (const r of records) {
        this.s.insertAudit.run({
          at: r.at.getTime(), principal: r.principal, action: r.action, resource: r.resource, decision: r.decision, reason: r.reason,
          policy: r.policy, statement: r.statement, source_ip: r.sourceIp, user_agent: r.userAgent, status: r.status, request_id: r.requestId,
        });
      }
    });
  }

  async queryAudit(query: AuditQuery): Promise<AuditRecord[]> {
    const limit = query.limit ?? AUDIT_QUERY_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new ControlError('CONTROL_AUDIT_QUERY_INVALID', `invalid audit query limit ${String(limit)}`, `give a whole number from 1 to ${AUDIT_QUERY_MAX_LIMIT}`);
    }
    for (const [k, d] of [['since', query.since], ['until', query.until]] as const) {
      if (d !== undefined && (!(d instanceof Date) || Number.isNaN(d.getTime()))) {
        throw new ControlError('CONTROL_AUDIT_QUERY_INVALID', `invalid audit query \`${k}\``, 'give a valid date');
      }
    }
    if (query.decision !== undefined && query.decision !== 'allow' && query.decision !== 'deny') {
      throw new ControlError('CONTROL_AUDIT_QUERY_INVALID', `invalid audit query decision ${shown(query.decision)}`, 'use `allow` or `deny`');
    }
    return this.c.read(() => (this.s.queryAudit.all({
      since: query.since?.getTime() ?? null,
      until: query.until?.getTime() ?? null,
      principal: query.principal ?? null,
      action: query.action ?? null,
      decision: query.decision ?? null,
      beforeId: query.beforeId ?? null,
      limit: Math.min(limit, AUDIT_QUERY_MAX_LIMIT),
    }) as AuditRow[]).map(auditFromRow));
  }

  async pruneAudit(before: Date): Promise<number> {
    if (!(before instanceof Date) || Number.isNaN(before.getTime())) throw new ControlError('CONTROL_AUDIT_QUERY_INVALID', 'invalid prune date', 'give a valid date');
    return this.c.writeUnwatched(() => this.s.pruneAudit.run(before.getTime()).changes);
  }

  // ------------------------------------------------------------- bootstrap

  /**
   * The first-start administrator, in one transaction: unless an administrator was
   * created before or any user exists, creates the user, the managed policy (or reuses
   * one of that name), attaches it and creates one access key; `persist` is called with
   * the new credentials inside the transaction, so a failure to save them leaves
   * nothing behind. Marks the registry so that this happens once, even if the user is
   * later deleted.
   */
  createAdministrator(options: {
    readonly userName: string;
    readonly policyName: string;
    readonly policyDocument: string;
    readonly persist: (credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }) => void;
  }): { readonly created: false } | { readonly created: true; readonly user: IamUser; readonly accessKeyId: string } {
    assertUserName(options.userName);
    assertIamPolicyName(options.policyName);
    assertIamDocument(options.policyDocument);
    return this.mutate(() => {
      if (this.s.getMeta.get('administrator_created_at')) return { created: false } as const;
      const anyUser = this.s.anyUser.get();
      this.s.setMeta.run('administrator_created_at', String(this.c.now().getTime()));
      if (anyUser) return { created: false } as const;
      const user = this.insertUser(options.userName, {});
      if (!this.s.getPolicy.get(options.policyName)) this.insertPolicy(options.policyName, options.policyDocument, 'Full access to every management action (created at first start)', {});
      this.attach(options.policyName, { kind: 'user', name: user.name });
      const { key, secretAccessKey } = this.insertAccessKey(user.name);
      options.persist({ accessKeyId: key.accessKeyId, secretAccessKey });
      return { created: true, user, accessKeyId: key.accessKeyId } as const;
    });
  }

  /**
   * A number that grows with every change made to users, keys, roles, IAM policies,
   * attachments, role aliases and tags through a control store (in any process), so a
   * caller can keep compiled policies and re-read them only when it changed. Issuing
   * session credentials and the audit log do not change it; neither do registry
   * deletions of things, groups, certificates and IoT policies (which drop their tags).
   */
  async generation(): Promise<number> {
    return this.c.read(() => Number((this.s.getMeta.get('generation') as { value: string } | undefined)?.value ?? 0));
  }

  // --------------------------------------------------------------- private

  /** A write that changes the control records: bumps the generation in the same transaction. */
  private mutate<T>(fn: () => T): T {
    return this.c.write(() => {
      const result = fn();
      this.s.bumpGeneration.run();
      return result;
    });
  }

  private insertUser(name: string, tags: Tags): IamUser {
    const existing = this.s.getUser.get(name) as UserRow | undefined;
    if (existing) throw new ControlError('CONTROL_USER_EXISTS', `user ${shown(existing.name)} already exists (user names are not case-sensitive)`, 'choose another name');
    const createdAt = this.c.now().getTime();
    const id = uniqueId('AIDA', 17);
    this.s.insertUser.run(name, id, createdAt);
    this.insertTags('user', name, tags);
    return this.userFromRow({ name, id, created_at: createdAt }, tags);
  }

  private insertAccessKey(userName: string): { key: AccessKeyRecord; secretAccessKey: string } {
    const user = this.requireUser(userName);
    const count = (this.s.countKeys.get(user.name) as { n: number }).n;
    if (count >= ACCESS_KEYS_PER_USER) {
      throw new ControlError('CONTROL_ACCESS_KEY_LIMIT', `user ${shown(user.name)} has ${ACCESS_KEYS_PER_USER} access keys already`, 'delete one first (rotate: create the new key before deleting the old, one at a time)');
    }
    const accessKeyId = uniqueId('AKIA', 16);
    const secretAccessKey = newSecret();
    const createdAt = this.c.now().getTime();
    this.s.insertKey.run(accessKeyId, user.name, this.secrets().encrypt(accessKeyId, secretAccessKey), 'Active', createdAt);
    return { key: keyFromRow({ id: accessKeyId, user_name: user.name, secret: '', status: 'Active', created_at: createdAt, last_used_at: null }), secretAccessKey };
  }

  private insertPolicy(name: string, document: string, description: string, tags: Tags): ManagedPolicy {
    const existing = this.s.getPolicy.get(name) as PolicyRow | undefined;
    if (existing) throw new ControlError('CONTROL_POLICY_EXISTS', `IAM policy ${shown(existing.name)} already exists (names are not case-sensitive)`, 'choose another name, or add a version to it (`gatehouse iam policies create-version`)');
    const now = this.c.now().getTime();
    const id = uniqueId('ANPA', 17);
    this.s.insertPolicy.run(name, id, description, now, now);
    this.s.insertVersion.run(name, 1, document, now);
    this.insertTags('iampolicy', name, tags);
    return this.policyFromRow({ name, id, default_version: 1, next_version: 2, description, created_at: now, updated_at: now, attachments: 0 }, tags);
  }

  private attach(policyName: string, holder: PolicyHolder): { changed: boolean } {
    const p = this.requirePolicy(policyName);
    const holderName = this.requireHolder(holder);
    const [list, insert] = holder.kind === 'user' ? [this.s.policiesOfUser, this.s.attachUser] : [this.s.policiesOfRole, this.s.attachRole];
    const attached = (list.all(holderName) as { name: string }[]).map((r) => r.name.toLowerCase());
    if (attached.includes(p.name.toLowerCase())) return { changed: false };
    if (attached.length >= MANAGED_POLICIES_PER_HOLDER) {
      throw new ControlError('CONTROL_POLICY_ATTACHMENT_LIMIT', `${holder.kind} ${shown(holderName)} has ${MANAGED_POLICIES_PER_HOLDER} managed policies attached already`,
        'detach one first, or combine policies into one document');
    }
    insert.run(holderName, p.name, this.c.now().getTime());
    return { changed: true };
  }

  /** The key, loaded on first need; checked against the fingerprint the registry keeps. */
  private secrets(): SecretBox {
    if (this.box) return this.box;
    const hasSecrets = (): boolean => this.s.anySecret.get() !== undefined;
    const { box } = SecretBox.load(this.keyFile, () => !hasSecrets());
    const stored = this.s.getMeta.get('key_fingerprint') as { value: string } | undefined;
    if (stored && stored.value !== box.fingerprint && hasSecrets()) {
      throw new ControlError('CONTROL_KEY_MISMATCH', `the key file \`${this.keyFile}\` is not the key that encrypted the secrets in this registry`,
        'restore the key file that belongs to this registry (back up registry.db and control.key together); without it every access key must be deleted and created again');
    }
    if (stored?.value !== box.fingerprint) this.c.write(() => this.s.setMeta.run('key_fingerprint', box.fingerprint));
    this.box = box;
    return box;
  }

  private requireUser(name: string): UserRow {
    const row = this.s.getUser.get(name) as UserRow | undefined;
    if (!row) throw new ControlError('CONTROL_USER_NOT_FOUND', `no user named ${shown(name)}`, 'list users with `gatehouse iam users list`');
    return row;
  }

  private requireRole(name: string): RoleRow {
    const row = this.s.getRole.get(name) as RoleRow | undefined;
    if (!row) throw new ControlError('CONTROL_ROLE_NOT_FOUND', `no role named ${shown(name)}`, 'list roles with `gatehouse iam roles list`');
    return row;
  }

  private requirePolicy(name: string): PolicyRow {
    const row = this.s.getPolicy.get(name) as PolicyRow | undefined;
    if (!row) throw new ControlError('CONTROL_POLICY_NOT_FOUND', `no IAM policy named ${shown(name)}`, 'list IAM policies with `gatehouse iam policies list`');
    return row;
  }

  private requireVersion(p: PolicyRow, versionId: string): number {
    const v = parseVersionId(versionId);
    if (v === undefined || !this.s.getVersion.get(p.name, v)) {
      throw new ControlError('CONTROL_POLICY_VERSION_NOT_FOUND', `IAM policy ${shown(p.name)} has no version ${shown(versionId)}`, `list its versions with \`gatehouse iam policies show ${p.name}\``);
    }
    return v;
  }

  private requireAlias(alias: string): AliasRow {
    const row = this.s.getAlias.get(alias) as AliasRow | undefined;
    if (!row) throw roleAliasNotFound(alias);
    return row;
  }

  private requireHolder(holder: PolicyHolder): string {
    return holder.kind === 'user' ? this.requireUser(holder.name).name : this.requireRole(holder.name).name;
  }

  /** The role name of a role ARN of this deployment (no paths). */
  private roleNameOfArn(arn: string): string {
    const prefix = `arn:${this.deployment.partition}:iam::${this.deployment.accountId}:role/`;
    const name = typeof arn === 'string' && arn.startsWith(prefix) ? arn.slice(prefix.length) : undefined;
    if (name === undefined || !/^[\w+=,.@-]{1,64}$/.test(name)) {
      throw new ControlError('CONTROL_ROLE_ARN_INVALID', `${shown(arn)} is not the ARN of a role of this gateway`, `write ${prefix}ROLE_NAME`);
    }
    return name;
  }

  /** The stored key of a taggable resource (its canonical name or id), or CONTROL_RESOURCE_NOT_FOUND. */
  private requireResource(target: TagTarget): string {
    const key = 'id' in target ? target.id : target.name;
    const row = typeof key === 'string' ? this.s.exists[target.kind].get(key) as { k: string } | undefined : undefined;
    if (!row) throw new ControlError('CONTROL_RESOURCE_NOT_FOUND', `no ${describeTarget(target)}`, 'check the name (or id) and the resource type');
    return row.k;
  }

  private insertTags(kind: TagTarget['kind'], resource: string, tags: Tags): void {
    for (const [k, v] of Object.entries(tags)) this.s.upsertTag.run(kind, resource, k, v);
  }

  private loadTags(kind: TagTarget['kind'], resource: string): Tags {
    const out: Record<string, string> = {};
    for (const r of this.s.tagsOf.all(kind, resource) as { key: string; value: string }[]) out[r.key] = r.value;
    return Object.freeze(out);
  }

  private tagsByResource(kind: TagTarget['kind']): Map<string, Tags> {
    const out = new Map<string, Record<string, string>>();
    for (const r of this.s.tagsOfKind.all(kind) as { resource: string; key: string; value: string }[]) {
      let m = out.get(r.resource);
      if (!m) out.set(r.resource, (m = {}));
      m[r.key] = r.value;
    }
    for (const m of out.values()) Object.freeze(m);
    return out;
  }

  private userFromRow(r: UserRow, tags: Tags): IamUser {
    return Object.freeze({ name: r.name, id: r.id, arn: this.userArn(r.name), createdAt: new Date(r.created_at), tags });
  }

  private roleFromRow(r: RoleRow, tags: Tags): IamRole {
    return Object.freeze({
      name: r.name, id: r.id, arn: this.roleArn(r.name), assumeRolePolicyDocument: r.trust_policy, maxSessionDurationSeconds: r.max_session_seconds,
      description: r.description, createdAt: new Date(r.created_at), tags,
    });
  }

  private policyFromRow(r: PolicyRow, tags: Tags): ManagedPolicy {
    return Object.freeze({
      name: r.name, id: r.id, arn: this.iamPolicyArn(r.name), defaultVersionId: `v${r.default_version}`, attachmentCount: r.attachments,
      description: r.description, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at), tags,
    });
  }

  private aliasFromRow(r: AliasRow, tags: Tags): RoleAlias {
    return Object.freeze({
      alias: r.alias, arn: this.roleAliasArn(r.alias), roleArn: this.roleArn(r.role_name), credentialDurationSeconds: r.duration_seconds,
      createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at), tags,
    });
  }
}

export function keyFromRow(r: KeyRow): AccessKeyRecord {
  return Object.freeze({
    accessKeyId: r.id, userName: r.user_name, status: r.status, createdAt: new Date(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at),
  });
}

export function versionFromRow(r: VersionRow, defaultVersion: number): ManagedPolicyVersion {
  return Object.freeze({ versionId: `v${r.version}`, document: r.document, isDefaultVersion: r.version === defaultVersion, createdAt: new Date(r.created_at) });
}

export function auditFromRow(r: AuditRow): AuditRecord {
  return Object.freeze({
    id: r.id, at: new Date(r.at), principal: r.principal, action: r.action, resource: r.resource, decision: r.decision, reason: r.reason,
    policy: r.policy, statement: r.statement, sourceIp: r.source_ip, userAgent: r.user_agent, status: r.status, requestId: r.request_id,
  });
}

export function parseVersionId(versionId: string): number | undefined {
  const m = typeof versionId === 'string' ? VERSION_ID.exec(versionId) : null;
  return m ? Number(m[1]) : undefined;
}

export function assertMaxSession(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < ROLE_MAX_SESSION_MIN || seconds > ROLE_MAX_SESSION_MAX) {
    throw new ControlError('CONTROL_MAX_SESSION_DURATION_INVALID', `maximum session duration ${String(seconds)} is not a whole number of seconds from ${ROLE_MAX_SESSION_MIN} to ${ROLE_MAX_SESSION_MAX}`,
      'give 3600 (1 hour) to 43200 (12 hours)');
  }
}

export function assertAliasDuration(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < ROLE_ALIAS_DURATION_MIN || seconds > ROLE_ALIAS_DURATION_MAX) {
    throw new ControlError('CONTROL_CREDENTIAL_DURATION_INVALID', `credential duration ${String(seconds)} is not a whole number of seconds from ${ROLE_ALIAS_DURATION_MIN} to ${ROLE_ALIAS_DURATION_MAX}`,
      'give 900 (15 minutes) to 43200 (12 hours)');
  }
}

/**
 * A role alias's credential duration may not exceed its role's maximum session duration
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html).
 */
export function assertWithinRole(seconds: number, role: RoleRow): void {
  if (seconds > role.max_session_seconds) {
    throw new ControlError('CONTROL_CREDENTIAL_DURATION_INVALID', `credential duration ${seconds} s is longer than the maximum session duration of role ${shown(role.name)} (${role.max_session_seconds} s)`,
      'give a shorter duration, or raise the role\'s maximum session duration');
  }
}

export function describeTarget(t: TagTarget): string {
  const names: Record<TagTarget['kind'], string> = {
    thing: 'thing', thinggroup: 'thing group', policy: 'IoT policy', cert: 'certificate', cacert: 'CA certificate',
    rolealias: 'role alias', user: 'user', role: 'role', iampolicy: 'IAM policy',
  };
  return `${names[t.kind]} ${shown('id' in t ? t.id : t.name)}`;
}

export const accessKeyNotFound = (id: string): ControlError =>
  new ControlError('CONTROL_ACCESS_KEY_NOT_FOUND', `no access key ${shown(id)}`, 'list a user\'s keys with `gatehouse iam access-keys list --user NAME`');
export const roleAliasNotFound = (alias: string): ControlError =>
  new ControlError('CONTROL_ROLE_ALIAS_NOT_FOUND', `no role alias ${shown(alias)}`, 'list role aliases with `gatehouse role-aliases list`');

/** `prefix` and `n` random characters of IAM's unique-id alphabet (upper-case base32). */
export function uniqueId(prefix: string, n: number): string {
  let out = prefix;
  for (let i = 0; i < n; i++) out += BASE32[randomInt(32)]!;
  return out;
}

/** 40 characters of base64 (240 random bits), the shape of an AWS secret access key. */
export function newSecret(): string {
  return randomBytes(30).toString('base64');
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

function prepare(db: Db) {
  const p = (sql: string): Database.Statement => db.prepare(sql);
  const policyCols = `p.name, p.id, p.default_version, p.next_version, p.description, p.created_at, p.updated_at,
    (SELECT count(*) FROM iam_user_policies u WHERE u.policy_name = p.name) + (SELECT count(*) FROM iam_role_policies r WHERE r.policy_name = p.name) AS attachments`;
  return {
    getMeta: p('SELECT value FROM control_meta WHERE key = ?'),
    setMeta: p('INSERT INTO control_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    bumpGeneration: p(`INSERT INTO control_meta (key, value) VALUES ('generation', '1')
                       ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`),
    anySecret: p('SELECT 1 FROM iam_access_keys UNION ALL SELECT 1 FROM iam_role_sessions LIMIT 1'),

    anyUser: p('SELECT 1 FROM iam_users LIMIT 1'),
    getUser: p('SELECT name, id, created_at FROM iam_users WHERE name = ?'),
    listUsers: p('SELECT name, id, created_at FROM iam_users ORDER BY name'),
    insertUser: p('INSERT INTO iam_users (name, id, created_at) VALUES (?, ?, ?)'),
    deleteUser: p('DELETE FROM iam_users WHERE name = ?'),

    countKeys: p('SELECT count(*) AS n FROM iam_access_keys WHERE user_name = ?'),
    keysOfUser: p('SELECT id, user_name, secret, status, created_at, last_used_at FROM iam_access_keys WHERE user_name = ? ORDER BY created_at, id'),
    getKey: p('SELECT id, user_name, secret, status, created_at, last_used_at FROM iam_access_keys WHERE id = ?'),
    insertKey: p('INSERT INTO iam_access_keys (id, user_name, secret, status, created_at) VALUES (?, ?, ?, ?, ?)'),
    setKeyStatus: p('UPDATE iam_access_keys SET status = ? WHERE id = ?'),
    setKeyLastUsed: p('UPDATE iam_access_keys SET last_used_at = ? WHERE id = ?'),
    deleteKey: p('DELETE FROM iam_access_keys WHERE id = ?'),

    getRole: p('SELECT name, id, trust_policy, max_session_seconds, description, created_at FROM iam_roles WHERE name = ?'),
    listRoles: p('SELECT name, id, trust_policy, max_session_seconds, description, created_at FROM iam_roles ORDER BY name'),
    insertRole: p('INSERT INTO iam_roles (name, id, trust_policy, max_session_seconds, description, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    setTrustPolicy: p('UPDATE iam_roles SET trust_policy = ? WHERE name = ?'),
    updateRole: p('UPDATE iam_roles SET max_session_seconds = ?, description = ? WHERE name = ?'),
    deleteRole: p('DELETE FROM iam_roles WHERE name = ?'),
    countRolePolicies: p('SELECT count(*) AS n FROM iam_role_policies WHERE role_name = ?'),
    aliasOfRole: p('SELECT alias FROM role_aliases WHERE role_name = ? ORDER BY alias LIMIT 1'),

    getSession: p('SELECT id, role_name, session_name, secret, token_sha256, tags, expires_at FROM iam_role_sessions WHERE id = ? AND expires_at > ?'),
    insertSession: p(`INSERT INTO iam_role_sessions (id, role_name, session_name, secret, token_sha256, source_arn, tags, created_at, expires_at)
                      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    pruneSessions: p('DELETE FROM iam_role_sessions WHERE expires_at <= ?'),

    getPolicy: p(`SELECT ${policyCols} FROM iam_policies p WHERE p.name = ?`),
    listPolicies: p(`SELECT ${policyCols} FROM iam_policies p ORDER BY p.name`),
    insertPolicy: p('INSERT INTO iam_policies (name, id, default_version, next_version, description, created_at, updated_at) VALUES (?, ?, 1, 2, ?, ?, ?)'),
    bumpPolicy: p('UPDATE iam_policies SET default_version = ?, next_version = ?, updated_at = ? WHERE name = ?'),
    touchPolicy: p('UPDATE iam_policies SET updated_at = ? WHERE name = ?'),
    deletePolicy: p('DELETE FROM iam_policies WHERE name = ?'),
    countVersions: p('SELECT count(*) AS n FROM iam_policy_versions WHERE policy_name = ?'),
    getVersion: p('SELECT version, document, created_at FROM iam_policy_versions WHERE policy_name = ? AND version = ?'),
    listVersions: p('SELECT version, document, created_at FROM iam_policy_versions WHERE policy_name = ? ORDER BY version'),
    insertVersion: p('INSERT INTO iam_policy_versions (policy_name, version, document, created_at) VALUES (?, ?, ?, ?)'),
    deleteVersion: p('DELETE FROM iam_policy_versions WHERE policy_name = ? AND version = ?'),

    attachUser: p('INSERT INTO iam_user_policies (user_name, policy_name, attached_at) VALUES (?, ?, ?)'),
    attachRole: p('INSERT INTO iam_role_policies (role_name, policy_name, attached_at) VALUES (?, ?, ?)'),
    detachUser: p('DELETE FROM iam_user_policies WHERE user_name = ? AND policy_name = ?'),
    detachRole: p('DELETE FROM iam_role_policies WHERE role_name = ? AND policy_name = ?'),
    countUserPolicies: p('SELECT count(*) AS n FROM iam_user_policies WHERE user_name = ?'),
    policiesOfUser: p('SELECT p.name FROM iam_user_policies a JOIN iam_policies p ON p.name = a.policy_name WHERE a.user_name = ? ORDER BY p.name'),
    policiesOfRole: p('SELECT p.name FROM iam_role_policies a JOIN iam_policies p ON p.name = a.policy_name WHERE a.role_name = ? ORDER BY p.name'),
    inForceForUser: p(`SELECT p.name, v.version, v.document FROM iam_user_policies a JOIN iam_policies p ON p.name = a.policy_name
                       JOIN iam_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version WHERE a.user_name = ? ORDER BY p.name`),
    inForceForRole: p(`SELECT p.name, v.version, v.document FROM iam_role_policies a JOIN iam_policies p ON p.name = a.policy_name
                       JOIN iam_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version WHERE a.role_name = ? ORDER BY p.name`),
    holdersOfPolicy: p(`SELECT 'user' AS kind, user_name AS name FROM iam_user_policies WHERE policy_name = ?
                        UNION ALL SELECT 'role', role_name FROM iam_role_policies WHERE policy_name = ? ORDER BY 1, 2`),

    getAlias: p('SELECT alias, role_name, duration_seconds, created_at, updated_at FROM role_aliases WHERE alias = ?'),
    listAliases: p('SELECT alias, role_name, duration_seconds, created_at, updated_at FROM role_aliases ORDER BY alias'),
    insertAlias: p('INSERT INTO role_aliases (alias, role_name, duration_seconds, created_at, updated_at) VALUES (?, ?, ?, ?, ?)'),
    updateAlias: p('UPDATE role_aliases SET role_name = ?, duration_seconds = ?, updated_at = ? WHERE alias = ?'),
    deleteAlias: p('DELETE FROM role_aliases WHERE alias = ?'),

    tagsOf: p('SELECT key, value FROM resource_tags WHERE kind = ? AND resource = ? ORDER BY key'),
    tagsOfKind: p('SELECT resource, key, value FROM resource_tags WHERE kind = ? ORDER BY resource, key'),
    upsertTag: p('INSERT INTO resource_tags (kind, resource, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (kind, resource, key) DO UPDATE SET value = excluded.value'),
    deleteTag: p('DELETE FROM resource_tags WHERE kind = ? AND resource = ? AND key = ?'),
    exists: {
      thing: p('SELECT name AS k FROM things WHERE name = ?'),
      thinggroup: p('SELECT name AS k FROM thing_groups WHERE name = ?'),
      policy: p('SELECT name AS k FROM iot_policies WHERE name = ?'),
      cert: p('SELECT id AS k FROM certificates WHERE id = ?'),
      cacert: p('SELECT id AS k FROM trusted_cas WHERE id = ?'),
      rolealias: p('SELECT alias AS k FROM role_aliases WHERE alias = ?'),
      user: p('SELECT name AS k FROM iam_users WHERE name = ?'),
      role: p('SELECT name AS k FROM iam_roles WHERE name = ?'),
      iampolicy: p('SELECT name AS k FROM iam_policies WHERE name = ?'),
    } satisfies Record<TagTarget['kind'], Database.Statement>,

    insertAudit: p(`INSERT INTO audit_log (at, principal, action, resource, decision, reason, policy, statement, source_ip, user_agent, status, request_id)
                    VALUES (@at, @principal, @action, @resource, @decision, @reason, @policy, @statement, @source_ip, @user_agent, @status, @request_id)`),
    queryAudit: p(`SELECT id, at, principal, action, resource, decision, reason, policy, statement, source_ip, user_agent, status, request_id
                   FROM audit_log
                   WHERE (@since IS NULL OR at >= @since) AND (@until IS NULL OR at <= @until)
                     AND (@principal IS NULL OR principal = @principal) AND (@action IS NULL OR action = @action)
                     AND (@decision IS NULL OR decision = @decision) AND (@beforeId IS NULL OR id < @beforeId)
                   ORDER BY id DESC LIMIT @limit`),
    pruneAudit: p('DELETE FROM audit_log WHERE at < ?'),
  };
}
