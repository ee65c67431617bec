/**
 * The PostgreSQL backend of the ControlStore contract (control.ts), in the shared
 * registry's schema (tables of pg-migrations.ts step 5), for several gateways that
 * authorize and audit management calls with the same users, keys, roles and policies
 * (docs/cluster.md).
 *
 * Same semantics as the SQLite store (sqlite-control.ts), which is the reference:
 * - Every change of the control records runs in a transaction holding the registry's
 *   write lock (`PgRegistry`'s writes), so checks such as "at most 2 access keys" or "the
 *   user does not exist yet" see every earlier write of every node, and a tag is never
 *   added to a thing another node is deleting. It records no registry change: nothing
 *   is cached from these records between requests (each call resolves its access key
 *   and reads the policies in force), so a change made through one node applies to the
 *   next request on every node.
 * - IAM names are unique regardless of case: the tables keep the spelling of creation
 *   and a unique index on `lower(name)`; lookups compare `lower(name)` (names are ASCII).
 * - Audit records and an access key's `lastUsedAt` are written in plain transactions,
 *   without the write lock.
 *
 * Secrets: as with SQLite, secret access keys are AES-256-GCM encrypted with the key file
 * (control-key.ts) and session tokens kept as SHA-256 digests. Every node must hold the
 * same key file; the schema keeps its fingerprint, and a transaction that stores a secret
 * checks it under the write lock, so a node with another key is refused
 * (CONTROL_KEY_MISMATCH) instead of writing secrets no other node can read.
 */
import { randomBytes } from 'node:crypto';
import type { IotDeployment } from '../core/policy/iot/context.js';
import type {
  AccessKeyRecord, AccessKeyStatus, AuditQuery, AuditRecord, CreateAdministratorOptions, CreateAdministratorResult, CreateSessionOptions, IamRole, IamUser,
  LocalControlStore, ManagedPolicy, ManagedPolicyVersion, NewAuditRecord, PolicyHolder, ResolvedAccessKey, RoleAlias, SessionCredentials, TagTarget,
} from './control.js';
import { MAX_TAGS_PER_RESOURCE } from './control.js';
import { SecretBox } from './control-key.js';
import {
  assertDescription, assertIamDocument, assertIamPolicyName, assertRoleAliasName, assertRoleName, assertSessionName, assertTagKey,
  assertTags, assertTrustPolicy, assertUserName,
} from './control-rules.js';
import { ControlError } from './errors.js';
import { shown } from './names.js';
import type { Tx } from './pg-tx.js';
import {
  ACCESS_KEYS_PER_USER, accessKeyNotFound, AKIA, ASIA, assertAliasDuration, assertMaxSession, assertWithinRole, AUDIT_QUERY_DEFAULT_LIMIT, AUDIT_QUERY_MAX_LIMIT,
  auditFromRow, describeTarget, IAM_POLICY_VERSION_LIMIT, keyFromRow, LAST_USED_GRANULARITY_MS, MANAGED_POLICIES_PER_HOLDER, newSecret, parseVersionId,
  ROLE_MAX_SESSION_MIN, roleAliasNotFound, SESSION_DURATION_MIN, sha256Hex, uniqueId, versionFromRow,
  type AliasRow, type AuditRow, type KeyRow, type PolicyRow, type RoleRow, type SessionRow, type SqliteControlStoreOptions, type UserRow, type VersionRow,
} from './sqlite-control.js';

type Tags = Readonly<Record<string, string>>;

/** What the PostgreSQL registry lends the control store. */
export interface PgControlConnection {
  readonly now: () => Date;
  /** One read-only snapshot. */
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** One transaction holding the registry's write lock (no change recorded). */
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** One plain transaction without the write lock (audit records, last-used times). */
  writeUnlocked<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

export type PgControlStoreOptions = SqliteControlStoreOptions;

const USER_COLS = 'name, id, created_at';
const KEY_COLS = 'id, user_name, secret, status, created_at, last_used_at';
const ROLE_COLS = 'name, id, trust_policy, max_session_seconds, description, created_at';
const ALIAS_COLS = 'alias, role_name, duration_seconds, created_at, updated_at';
const POLICY_COLS = `p.name, p.id, p.default_version, p.next_version, p.description, p.created_at, p.updated_at,
  (SELECT count(*) FROM iam_user_policies u WHERE u.policy_name = p.name) + (SELECT count(*) FROM iam_role_policies r WHERE r.policy_name = p.name) AS attachments`;

/** How a taggable resource is found: IAM names regardless of case, the others exactly. */
const EXISTS: Readonly<Record<TagTarget['kind'], string>> = {
  thing: 'SELECT name AS k FROM things WHERE name = $1',
  thinggroup: 'SELECT name AS k FROM thing_groups WHERE name = $1',
  policy: 'SELECT name AS k FROM iot_policies WHERE name = $1',
  cert: 'SELECT id AS k FROM certificates WHERE id = $1',
  cacert: 'SELECT id AS k FROM trusted_cas WHERE id = $1',
  rolealias: 'SELECT alias AS k FROM role_aliases WHERE alias = $1',
  user: 'SELECT name AS k FROM iam_users WHERE lower(name) = lower($1)',
  role: 'SELECT name AS k FROM iam_roles WHERE lower(name) = lower($1)',
  iampolicy: 'SELECT name AS k FROM iam_policies WHERE lower(name) = lower($1)',
};

/** Key class of the advisory lock that orders audit appends (the second key is the schema's hash). */
const AUDIT_LOCK_CLASS = 0x6175_6474; // "audt"

export class PgControlStore implements LocalControlStore {
  private readonly c: PgControlConnection;
  private readonly deployment: IotDeployment;
  private readonly keyFile: string;
  private box: SecretBox | undefined;

  constructor(connection: PgControlConnection, options: PgControlStoreOptions) {
    this.c = connection;
    this.deployment = Object.freeze({ ...options.deployment });
    this.keyFile = options.keyFile;
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
    return this.mutate((tx) => this.insertUser(tx, name, tags));
  }

  async getUser(name: string): Promise<IamUser | undefined> {
    return this.c.read(async (tx) => {
      const row = await findUser(tx, name);
      return row ? this.userFromRow(row, await loadTags(tx, 'user', row.name)) : undefined;
    });
  }

  async listUsers(): Promise<IamUser[]> {
    return this.c.read(async (tx) => {
      const tags = await tagsByResource(tx, 'user');
      return (await tx.rows<UserRow>(`SELECT ${USER_COLS} FROM iam_users ORDER BY lower(name), name`)).map((r) => this.userFromRow(r, tags.get(r.name) ?? {}));
    });
  }

  async deleteUser(name: string): Promise<void> {
    await this.mutate(async (tx) => {
      const user = await requireUser(tx, name);
      const keys = await count(tx, 'SELECT count(*) AS n FROM iam_access_keys WHERE user_name = $1', [user.name]);
      const policies = await count(tx, 'SELECT count(*) AS n FROM iam_user_policies WHERE user_name = $1', [user.name]);
      if (keys > 0 || policies > 0) {
        const what = [keys > 0 ? `${keys} access key(s)` : '', policies > 0 ? `${policies} attached policy(ies)` : ''].filter(Boolean).join(' and ');
        throw new ControlError('CONTROL_USER_HAS_DEPENDENTS', `user ${shown(user.name)} still has ${what}`,
          `delete its access keys (\`gatehouse iam access-keys delete\`) and detach its policies (\`gatehouse iam policies detach NAME --user ${user.name}\`) first`);
      }
      await tx.run('DELETE FROM iam_users WHERE name = $1', [user.name]);
    });
  }

  async createAccessKey(userName: string): Promise<{ readonly key: AccessKeyRecord; readonly secretAccessKey: string }> {
    const box = await this.secrets();
    return this.mutate((tx) => this.insertAccessKey(tx, box, userName));
  }

  async listAccessKeys(userName: string): Promise<AccessKeyRecord[]> {
    return this.c.read(async (tx) => {
      const user = await requireUser(tx, userName);
      return (await tx.rows<KeyRow>(`SELECT ${KEY_COLS} FROM iam_access_keys WHERE user_name = $1 ORDER BY created_at, id`, [user.name])).map(keyFromRow);
    });
  }

  async updateAccessKey(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    if (status !== 'Active' && status !== 'Inactive') {
      throw new ControlError('CONTROL_ACCESS_KEY_STATUS_INVALID', `invalid access key status ${shown(status)}`, 'use `Active` or `Inactive`');
    }
    await this.mutate(async (tx) => {
      if (await tx.run('UPDATE iam_access_keys SET status = $1 WHERE id = $2', [status, accessKeyId]) === 0) throw accessKeyNotFound(accessKeyId);
    });
  }

  async deleteAccessKey(accessKeyId: string): Promise<void> {
    await this.mutate(async (tx) => {
      if (await tx.run('DELETE FROM iam_access_keys WHERE id = $1', [accessKeyId]) === 0) throw accessKeyNotFound(accessKeyId);
    });
  }

  async resolveAccessKey(accessKeyId: string, now: Date): Promise<ResolvedAccessKey | undefined> {
    if (AKIA.test(accessKeyId)) return this.resolveUserKey(accessKeyId, now);
    if (ASIA.test(accessKeyId)) return this.resolveSessionKey(accessKeyId, now);
    return undefined;
  }

  private async resolveUserKey(accessKeyId: string, now: Date): Promise<ResolvedAccessKey | undefined> {
    const found = await this.c.read(async (tx) => {
      const key = await tx.one<KeyRow>(`SELECT ${KEY_COLS} FROM iam_access_keys WHERE id = $1`, [accessKeyId]);
      if (!key || key.status !== 'Active') return undefined;
      const user = (await tx.one<UserRow>(`SELECT ${USER_COLS} FROM iam_users WHERE name = $1`, [key.user_name]))!;
      return { key, user: this.userFromRow(user, await loadTags(tx, 'user', user.name)) };
    });
    if (!found) return undefined;
    const secretAccessKey = (await this.secrets()).decrypt(accessKeyId, found.key.secret);
    let lastUsed = found.key.last_used_at;
    if (lastUsed === null || now.getTime() - lastUsed >= LAST_USED_GRANULARITY_MS) {
      lastUsed = now.getTime();
      const at = lastUsed;
      await this.c.writeUnlocked((tx) => tx.run('UPDATE iam_access_keys SET last_used_at = $1 WHERE id = $2', [at, accessKeyId]));
    }
    const accessKey = keyFromRow({ ...found.key, last_used_at: lastUsed });
    return { secretAccessKey, principal: { kind: 'user', user: found.user, accessKey } };
  }

  private async resolveSessionKey(accessKeyId: string, now: Date): Promise<ResolvedAccessKey | undefined> {
    const found = await this.c.read(async (tx) => {
      const session = await tx.one<SessionRow>('SELECT id, role_name, session_name, secret, token_sha256, tags, expires_at FROM iam_role_sessions WHERE id = $1 AND expires_at > $2',
        [accessKeyId, now.getTime()]);
      if (!session) return undefined;
      const roleRow = (await tx.one<RoleRow>(`SELECT ${ROLE_COLS} FROM iam_roles WHERE name = $1`, [session.role_name]))!;
      return { session, role: this.roleFromRow(roleRow, await loadTags(tx, 'role', roleRow.name)) };
    });
    if (!found) return undefined;
    const { session, role } = found;
    const secretAccessKey = (await this.secrets()).decrypt(accessKeyId, session.secret);
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
    return this.mutate(async (tx) => {
      const existing = await findRole(tx, name);
      if (existing) throw new ControlError('CONTROL_ROLE_EXISTS', `role ${shown(existing.name)} already exists (role names are not case-sensitive)`, 'choose another name, or update its trust policy');
      const createdAt = this.c.now().getTime();
      const id = uniqueId('AROA', 17);
      await tx.run('INSERT INTO iam_roles (name, id, trust_policy, max_session_seconds, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [name, id, assumeRolePolicyDocument, maxSession, description, createdAt]);
      await insertTags(tx, 'role', name, tags);
      return this.roleFromRow({ name, id, trust_policy: assumeRolePolicyDocument, max_session_seconds: maxSession, description, created_at: createdAt }, tags);
    });
  }

  async getRole(name: string): Promise<IamRole | undefined> {
    return this.c.read(async (tx) => {
      const row = await findRole(tx, name);
      return row ? this.roleFromRow(row, await loadTags(tx, 'role', row.name)) : undefined;
    });
  }

  async listRoles(): Promise<IamRole[]> {
    return this.c.read(async (tx) => {
      const tags = await tagsByResource(tx, 'role');
      return (await tx.rows<RoleRow>(`SELECT ${ROLE_COLS} FROM iam_roles ORDER BY lower(name), name`)).map((r) => this.roleFromRow(r, tags.get(r.name) ?? {}));
    });
  }

  async updateAssumeRolePolicy(name: string, document: string): Promise<void> {
    assertTrustPolicy(document);
    await this.mutate(async (tx) => {
      const role = await requireRole(tx, name);
      await tx.run('UPDATE iam_roles SET trust_policy = $1 WHERE name = $2', [document, role.name]);
    });
  }

  async updateRole(name: string, update: { readonly maxSessionDurationSeconds?: number; readonly description?: string }): Promise<IamRole> {
    if (update.maxSessionDurationSeconds !== undefined) assertMaxSession(update.maxSessionDurationSeconds);
    if (update.description !== undefined) assertDescription(update.description);
    return this.mutate(async (tx) => {
      const role = await requireRole(tx, name);
      const maxSession = update.maxSessionDurationSeconds ?? role.max_session_seconds;
      const description = update.description ?? role.description;
      await tx.run('UPDATE iam_roles SET max_session_seconds = $1, description = $2 WHERE name = $3', [maxSession, description, role.name]);
      return this.roleFromRow({ ...role, max_session_seconds: maxSession, description }, await loadTags(tx, 'role', role.name));
    });
  }

  async deleteRole(name: string): Promise<void> {
    await this.mutate(async (tx) => {
      const role = await requireRole(tx, name);
      const policies = await count(tx, 'SELECT count(*) AS n FROM iam_role_policies WHERE role_name = $1', [role.name]);
      if (policies > 0) {
        throw new ControlError('CONTROL_ROLE_IN_USE', `role ${shown(role.name)} has ${policies} attached policy(ies)`, `detach them first (\`gatehouse iam policies detach NAME --role ${role.name}\`)`);
      }
      const alias = await tx.one<{ alias: string }>('SELECT alias FROM role_aliases WHERE role_name = $1 ORDER BY alias LIMIT 1', [role.name]);
      if (alias) {
        throw new ControlError('CONTROL_ROLE_IN_USE', `role ${shown(role.name)} is named by role alias ${shown(alias.alias)}`, 'delete the role alias or point it at another role first');
      }
      // Its sessions end with it (ON DELETE CASCADE).
      await tx.run('DELETE FROM iam_roles WHERE name = $1', [role.name]);
    });
  }

  async createSessionCredentials(options: CreateSessionOptions): Promise<SessionCredentials> {
    assertSessionName(options.sessionName);
    const tags = options.tags ?? {};
    assertTags(tags);
    const d = options.durationSeconds;
    const box = await this.secrets();
    return this.c.write(async (tx) => {
      const role = await requireRole(tx, options.roleName);
      if (!Number.isInteger(d) || d < SESSION_DURATION_MIN || d > role.max_session_seconds) {
        throw new ControlError('CONTROL_SESSION_DURATION_INVALID',
          `session duration ${String(d)} s is outside ${SESSION_DURATION_MIN}-${role.max_session_seconds} s (the maximum session duration of role ${shown(role.name)})`,
          'ask for a shorter session, or raise the role\'s maximum session duration');
      }
      await this.assertKeyInForce(tx, box);
      const now = options.now.getTime();
      await tx.run('DELETE FROM iam_role_sessions WHERE expires_at <= $1', [now]);
      const accessKeyId = uniqueId('ASIA', 16);
      const secretAccessKey = newSecret();
      const sessionToken = randomBytes(48).toString('base64');
      const expiresAt = now + d * 1000;
      await tx.run(`INSERT INTO iam_role_sessions (id, role_name, session_name, secret, token_sha256, source_arn, tags, created_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [accessKeyId, role.name, options.sessionName, box.encrypt(accessKeyId, secretAccessKey), sha256Hex(sessionToken), options.sourceArn, JSON.stringify(tags), now, expiresAt]);
      return Object.freeze({
        accessKeyId, secretAccessKey, sessionToken, expiration: new Date(expiresAt),
        assumedRoleArn: this.assumedRoleArn(role.name, options.sessionName),
        assumedRoleId: `${role.id}:${options.sessionName}`,
      });
    });
  }

  async pruneExpiredSessions(now: Date): Promise<number> {
    return this.c.writeUnlocked((tx) => tx.run('DELETE FROM iam_role_sessions WHERE expires_at <= $1', [now.getTime()]));
  }

  // ------------------------------------------------------ managed policies

  async createIamPolicy(name: string, document: string, options: { readonly description?: string; readonly tags?: Tags } = {}): Promise<ManagedPolicy> {
    assertIamPolicyName(name);
    assertIamDocument(document);
    const description = options.description ?? '';
    assertDescription(description);
    const tags = options.tags ?? {};
    assertTags(tags);
    return this.mutate((tx) => this.insertPolicy(tx, name, document, description, tags));
  }

  async getIamPolicy(name: string): Promise<ManagedPolicy | undefined> {
    return this.c.read(async (tx) => {
      const row = await findPolicy(tx, name);
      return row ? this.policyFromRow(row, await loadTags(tx, 'iampolicy', row.name)) : undefined;
    });
  }

  async listIamPolicies(): Promise<ManagedPolicy[]> {
    return this.c.read(async (tx) => {
      const tags = await tagsByResource(tx, 'iampolicy');
      return (await tx.rows<PolicyRow>(`SELECT ${POLICY_COLS} FROM iam_policies p ORDER BY lower(p.name), p.name`)).map((r) => this.policyFromRow(r, tags.get(r.name) ?? {}));
    });
  }

  async deleteIamPolicy(name: string): Promise<void> {
    await this.mutate(async (tx) => {
      const p = await requirePolicy(tx, name);
      if (p.attachments > 0) {
        throw new ControlError('CONTROL_POLICY_ATTACHED', `IAM policy ${shown(p.name)} is attached to ${p.attachments} user(s) or role(s)`, `detach it first (\`gatehouse iam policies show ${p.name}\` lists them)`);
      }
      const versions = await count(tx, 'SELECT count(*) AS n FROM iam_policy_versions WHERE policy_name = $1', [p.name]);
      if (versions > 1) {
        throw new ControlError('CONTROL_POLICY_HAS_VERSIONS', `IAM policy ${shown(p.name)} has ${versions - 1} version(s) besides the default`, 'delete the other versions first (`gatehouse iam policies delete-version`)');
      }
      await tx.run('DELETE FROM iam_policies WHERE name = $1', [p.name]);
    });
  }

  async createIamPolicyVersion(name: string, document: string, setAsDefault: boolean): Promise<ManagedPolicyVersion> {
    assertIamDocument(document);
    return this.mutate(async (tx) => {
      const p = await requirePolicy(tx, name);
      const n = await count(tx, 'SELECT count(*) AS n FROM iam_policy_versions WHERE policy_name = $1', [p.name]);
      if (n >= IAM_POLICY_VERSION_LIMIT) {
        throw new ControlError('CONTROL_POLICY_VERSION_LIMIT', `IAM policy ${shown(p.name)} has ${IAM_POLICY_VERSION_LIMIT} versions already`, 'delete a version that is not the default first');
      }
      const version = p.next_version;
      const now = this.c.now().getTime();
      await tx.run('INSERT INTO iam_policy_versions (policy_name, version, document, created_at) VALUES ($1, $2, $3, $4)', [p.name, version, document, now]);
      await tx.run('UPDATE iam_policies SET default_version = $1, next_version = $2, updated_at = $3 WHERE name = $4', [setAsDefault ? version : p.default_version, version + 1, now, p.name]);
      return versionFromRow({ version, document, created_at: now }, setAsDefault ? version : p.default_version);
    });
  }

  async getIamPolicyVersion(name: string, versionId: string): Promise<ManagedPolicyVersion | undefined> {
    return this.c.read(async (tx) => {
      const p = await findPolicy(tx, name);
      const v = parseVersionId(versionId);
      if (!p || v === undefined) return undefined;
      const row = await tx.one<VersionRow>('SELECT version, document, created_at FROM iam_policy_versions WHERE policy_name = $1 AND version = $2', [p.name, v]);
      return row ? versionFromRow(row, p.default_version) : undefined;
    });
  }

  async listIamPolicyVersions(name: string): Promise<ManagedPolicyVersion[]> {
    return this.c.read(async (tx) => {
      const p = await requirePolicy(tx, name);
      return (await tx.rows<VersionRow>('SELECT version, document, created_at FROM iam_policy_versions WHERE policy_name = $1 ORDER BY version', [p.name]))
        .map((r) => versionFromRow(r, p.default_version));
    });
  }

  async setDefaultIamPolicyVersion(name: string, versionId: string): Promise<void> {
    await this.mutate(async (tx) => {
      const p = await requirePolicy(tx, name);
      const v = await requireVersion(tx, p, versionId);
      await tx.run('UPDATE iam_policies SET default_version = $1, next_version = $2, updated_at = $3 WHERE name = $4', [v, p.next_version, this.c.now().getTime(), p.name]);
    });
  }

  async deleteIamPolicyVersion(name: string, versionId: string): Promise<void> {
    await this.mutate(async (tx) => {
      const p = await requirePolicy(tx, name);
      const v = await requireVersion(tx, p, versionId);
      if (v === p.default_version) {
        throw new ControlError('CONTROL_POLICY_VERSION_IS_DEFAULT', `${versionId} is the default version of IAM policy ${shown(p.name)}`,
          'make another version the default first, or delete the whole policy');
      }
      await tx.run('DELETE FROM iam_policy_versions WHERE policy_name = $1 AND version = $2', [p.name, v]);
      await tx.run('UPDATE iam_policies SET updated_at = $1 WHERE name = $2', [this.c.now().getTime(), p.name]);
    });
  }

  async attachIamPolicy(policyName: string, holder: PolicyHolder): Promise<{ readonly changed: boolean }> {
    return this.mutate((tx) => this.attach(tx, policyName, holder));
  }

  async detachIamPolicy(policyName: string, holder: PolicyHolder): Promise<void> {
    await this.mutate(async (tx) => {
      const p = await requirePolicy(tx, policyName);
      const holderName = await requireHolder(tx, holder);
      const sql = holder.kind === 'user' ? 'DELETE FROM iam_user_policies WHERE user_name = $1 AND policy_name = $2' : 'DELETE FROM iam_role_policies WHERE role_name = $1 AND policy_name = $2';
      if (await tx.run(sql, [holderName, p.name]) === 0) {
        throw new ControlError('CONTROL_POLICY_NOT_ATTACHED', `IAM policy ${shown(p.name)} is not attached to ${holder.kind} ${shown(holderName)}`,
          `see what is attached with \`gatehouse iam ${holder.kind}s show ${holderName}\``);
      }
    });
  }

  async attachedIamPolicies(holder: PolicyHolder): Promise<string[]> {
    return this.c.read(async (tx) => attachedNames(tx, holder.kind, await requireHolder(tx, holder)));
  }

  /** Empty for a holder that does not exist (nothing is in force for it). */
  async iamPoliciesInForce(holder: PolicyHolder): Promise<{ readonly name: string; readonly versionId: string; readonly document: string }[]> {
    const [table, column, holders] = holder.kind === 'user' ? ['iam_user_policies', 'user_name', 'iam_users'] : ['iam_role_policies', 'role_name', 'iam_roles'];
    return this.c.read(async (tx) => (await tx.rows<{ name: string; version: number; document: string }>(
      `SELECT p.name, v.version, v.document FROM ${table} a
         JOIN ${holders} h ON h.name = a.${column}
         JOIN iam_policies p ON p.name = a.policy_name
         JOIN iam_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version
       WHERE lower(h.name) = lower($1) ORDER BY lower(p.name), p.name`, [holder.name]))
      .map((r) => Object.freeze({ name: r.name, versionId: `v${r.version}`, document: r.document })));
  }

  async iamPolicyHolders(policyName: string): Promise<PolicyHolder[]> {
    return this.c.read(async (tx) => {
      const p = await requirePolicy(tx, policyName);
      const rows = await tx.rows<{ kind: 'user' | 'role'; name: string }>(`SELECT 'user' AS kind, user_name AS name FROM iam_user_policies WHERE policy_name = $1
        UNION ALL SELECT 'role', role_name FROM iam_role_policies WHERE policy_name = $1 ORDER BY 1, 2`, [p.name]);
      return rows.map((r) => Object.freeze({ kind: r.kind, name: r.name }));
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
    return this.mutate(async (tx) => {
      if (await findAlias(tx, alias)) throw new ControlError('CONTROL_ROLE_ALIAS_EXISTS', `role alias ${shown(alias)} already exists`, 'choose another alias, or update this one');
      const role = await requireRole(tx, wanted);
      assertWithinRole(duration, role);
      const now = this.c.now().getTime();
      await tx.run('INSERT INTO role_aliases (alias, role_name, duration_seconds, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)', [alias, role.name, duration, now, now]);
      await insertTags(tx, 'rolealias', alias, tags);
      return this.aliasFromRow({ alias, role_name: role.name, duration_seconds: duration, created_at: now, updated_at: now }, tags);
    });
  }

  async getRoleAlias(alias: string): Promise<RoleAlias | undefined> {
    return this.c.read(async (tx) => {
      const row = await findAlias(tx, alias);
      return row ? this.aliasFromRow(row, await loadTags(tx, 'rolealias', row.alias)) : undefined;
    });
  }

  async listRoleAliases(): Promise<RoleAlias[]> {
    return this.c.read(async (tx) => {
      const tags = await tagsByResource(tx, 'rolealias');
      return (await tx.rows<AliasRow>(`SELECT ${ALIAS_COLS} FROM role_aliases ORDER BY alias`)).map((r) => this.aliasFromRow(r, tags.get(r.alias) ?? {}));
    });
  }

  async updateRoleAlias(alias: string, update: { readonly roleArn?: string; readonly credentialDurationSeconds?: number }): Promise<RoleAlias> {
    if (update.credentialDurationSeconds !== undefined) assertAliasDuration(update.credentialDurationSeconds);
    const wanted = update.roleArn !== undefined ? this.roleNameOfArn(update.roleArn) : undefined;
    return this.mutate(async (tx) => {
      const row = await findAlias(tx, alias);
      if (!row) throw roleAliasNotFound(alias);
      const role = await requireRole(tx, wanted ?? row.role_name);
      const duration = update.credentialDurationSeconds ?? row.duration_seconds;
      assertWithinRole(duration, role);
      const now = this.c.now().getTime();
      await tx.run('UPDATE role_aliases SET role_name = $1, duration_seconds = $2, updated_at = $3 WHERE alias = $4', [role.name, duration, now, row.alias]);
      return this.aliasFromRow({ ...row, role_name: role.name, duration_seconds: duration, updated_at: now }, await loadTags(tx, 'rolealias', row.alias));
    });
  }

  async deleteRoleAlias(alias: string): Promise<void> {
    await this.mutate(async (tx) => {
      if (await tx.run('DELETE FROM role_aliases WHERE alias = $1', [alias]) === 0) throw roleAliasNotFound(alias);
    });
  }

  // ------------------------------------------------------------------ tags

  async tagResource(target: TagTarget, tags: Tags): Promise<void> {
    assertTags(tags);
    await this.mutate(async (tx) => {
      const resource = await requireResource(tx, target);
      const merged = { ...await loadTags(tx, target.kind, resource), ...tags };
      const n = Object.keys(merged).length;
      if (n > MAX_TAGS_PER_RESOURCE) {
        throw new ControlError('CONTROL_TAG_LIMIT', `${describeTarget(target)} would have ${n} tags; the limit is ${MAX_TAGS_PER_RESOURCE}`, 'remove tags you do not need first');
      }
      await insertTags(tx, target.kind, resource, tags);
    });
  }

  async untagResource(target: TagTarget, keys: readonly string[]): Promise<void> {
    for (const k of keys) assertTagKey(k);
    await this.mutate(async (tx) => {
      const resource = await requireResource(tx, target);
      for (const k of keys) await tx.run('DELETE FROM resource_tags WHERE kind = $1 AND resource = $2 AND key = $3', [target.kind, resource, k]);
    });
  }

  async tagsOf(target: TagTarget): Promise<Tags> {
    return this.c.read(async (tx) => loadTags(tx, target.kind, await requireResource(tx, target)));
  }

  // ----------------------------------------------------------------- audit

  async appendAudit(records: readonly NewAuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const r of records) {
      if (r.decision !== 'allow' && r.decision !== 'deny') throw new TypeError(`audit record: unknown decision ${shown(r.decision)}`);
      if (!(r.at instanceof Date) || Number.isNaN(r.at.getTime())) throw new TypeError('audit record: `at` is not a valid Date');
    }
    // One statement for the batch: the rows get ascending ids in the order given.
    const cols = ['at', 'principal', 'action', 'resource', 'decision', 'reason', 'policy', 'statement', 'source_ip', 'user_agent', 'status', 'request_id'];
    await this.c.writeUnlocked(async (tx) => {
      // Appends of every node take turns (not the registry's write lock: audit never waits
      // for registry writes). The lock is held until commit, so ids are taken in commit
      // order: a reader that has seen id N will never later see a new record below N, and
      // paging or following the log by id misses nothing.
      await tx.run('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [AUDIT_LOCK_CLASS]);
      for (let i = 0; i < records.length; i += 500) {
        const chunk = records.slice(i, i + 500);
        const params: unknown[] = [];
        const tuples = chunk.map((r) => {
          params.push(r.at.getTime(), r.principal, r.action, r.resource, r.decision, r.reason, r.policy, r.statement, r.sourceIp, r.userAgent, r.status, r.requestId);
          const base = params.length - cols.length;
          return `(${cols.map((_, j) => `$${base + j + 1}`).join(', ')})`;
        });
        await tx.run(`INSERT INTO audit_log (${cols.join(', ')}) VALUES ${tuples.join(', ')}`, params);
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
    if (query.beforeId !== undefined && !Number.isSafeInteger(query.beforeId)) {
      throw new ControlError('CONTROL_AUDIT_QUERY_INVALID', `invalid audit query beforeId ${String(query.beforeId)}`, 'give the id of a record');
    }
    return this.c.read(async (tx) => (await tx.rows<AuditRow>(
      `SELECT id, at, principal, action, resource, decision, reason, policy, statement, source_ip, user_agent, status, request_id
         FROM audit_log
        WHERE ($1::bigint IS NULL OR at >= $1) AND ($2::bigint IS NULL OR at <= $2)
          AND ($3::text IS NULL OR principal = $3) AND ($4::text IS NULL OR action = $4)
          AND ($5::text IS NULL OR decision = $5) AND ($6::bigint IS NULL OR id < $6)
        ORDER BY id DESC LIMIT $7`,
      [query.since?.getTime() ?? null, query.until?.getTime() ?? null, query.principal ?? null, query.action ?? null, query.decision ?? null,
        query.beforeId ?? null, Math.min(limit, AUDIT_QUERY_MAX_LIMIT)])).map(auditFromRow));
  }

  async pruneAudit(before: Date): Promise<number> {
    if (!(before instanceof Date) || Number.isNaN(before.getTime())) throw new ControlError('CONTROL_AUDIT_QUERY_INVALID', 'invalid prune date', 'give a valid date');
    return this.c.writeUnlocked((tx) => tx.run('DELETE FROM audit_log WHERE at < $1', [before.getTime()]));
  }

  // ------------------------------------------------------------- bootstrap

  /** As `SqliteControlStore.createAdministrator`: once per schema, whichever node gets there first. */
  async createAdministrator(options: CreateAdministratorOptions): Promise<CreateAdministratorResult> {
    assertUserName(options.userName);
    assertIamPolicyName(options.policyName);
    assertIamDocument(options.policyDocument);
    const box = await this.secrets();
    return this.mutate(async (tx): Promise<CreateAdministratorResult> => {
      if (await getMeta(tx, 'administrator_created_at') !== undefined) return { created: false };
      const anyUser = await tx.one('SELECT 1 FROM iam_users LIMIT 1');
      await setMeta(tx, 'administrator_created_at', String(this.c.now().getTime()));
      if (anyUser) return { created: false };
      const user = await this.insertUser(tx, options.userName, {});
      if (!await findPolicy(tx, options.policyName)) await this.insertPolicy(tx, options.policyName, options.policyDocument, 'Full access to every management action (created at first start)', {});
      await this.attach(tx, options.policyName, { kind: 'user', name: user.name });
      const { key, secretAccessKey } = await this.insertAccessKey(tx, box, user.name);
      options.persist({ accessKeyId: key.accessKeyId, secretAccessKey });
      return { created: true, user, accessKeyId: key.accessKeyId };
    });
  }

  async generation(): Promise<number> {
    return this.c.read(async (tx) => Number(await getMeta(tx, 'generation') ?? 0));
  }

  // --------------------------------------------------------------- private

  /** A locked write that changes the control records: bumps the generation in the same transaction. */
  private async mutate<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.c.write(async (tx) => {
      const result = await fn(tx);
      await tx.run(`INSERT INTO control_meta (key, value) VALUES ('generation', '1')
                    ON CONFLICT (key) DO UPDATE SET value = (control_meta.value::bigint + 1)::text`);
      return result;
    });
  }

  private async insertUser(tx: Tx, name: string, tags: Tags): Promise<IamUser> {
    const existing = await findUser(tx, name);
    if (existing) throw new ControlError('CONTROL_USER_EXISTS', `user ${shown(existing.name)} already exists (user names are not case-sensitive)`, 'choose another name');
    const createdAt = this.c.now().getTime();
    const id = uniqueId('AIDA', 17);
    await tx.run('INSERT INTO iam_users (name, id, created_at) VALUES ($1, $2, $3)', [name, id, createdAt]);
    await insertTags(tx, 'user', name, tags);
    return this.userFromRow({ name, id, created_at: createdAt }, tags);
  }

  private async insertAccessKey(tx: Tx, box: SecretBox, userName: string): Promise<{ key: AccessKeyRecord; secretAccessKey: string }> {
    const user = await requireUser(tx, userName);
    const n = await count(tx, 'SELECT count(*) AS n FROM iam_access_keys WHERE user_name = $1', [user.name]);
    if (n >= ACCESS_KEYS_PER_USER) {
      throw new ControlError('CONTROL_ACCESS_KEY_LIMIT', `user ${shown(user.name)} has ${ACCESS_KEYS_PER_USER} access keys already`, 'delete one first (rotate: create the new key before deleting the old, one at a time)');
    }
    await this.assertKeyInForce(tx, box);
    const accessKeyId = uniqueId('AKIA', 16);
    const secretAccessKey = newSecret();
    const createdAt = this.c.now().getTime();
    await tx.run('INSERT INTO iam_access_keys (id, user_name, secret, status, created_at) VALUES ($1, $2, $3, $4, $5)',
      [accessKeyId, user.name, box.encrypt(accessKeyId, secretAccessKey), 'Active', createdAt]);
    return { key: keyFromRow({ id: accessKeyId, user_name: user.name, secret: '', status: 'Active', created_at: createdAt, last_used_at: null }), secretAccessKey };
  }

  private async insertPolicy(tx: Tx, name: string, document: string, description: string, tags: Tags): Promise<ManagedPolicy> {
    const existing = await findPolicy(tx, name);
    if (existing) throw new ControlError('CONTROL_POLICY_EXISTS', `IAM policy ${shown(existing.name)} already exists (names are not case-sensitive)`, 'choose another name, or add a version to it (`gatehouse iam policies create-version`)');
    const now = this.c.now().getTime();
    const id = uniqueId('ANPA', 17);
    await tx.run('INSERT INTO iam_policies (name, id, default_version, next_version, description, created_at, updated_at) VALUES ($1, $2, 1, 2, $3, $4, $5)', [name, id, description, now, now]);
    await tx.run('INSERT INTO iam_policy_versions (policy_name, version, document, created_at) VALUES ($1, 1, $2, $3)', [name, document, now]);
    await insertTags(tx, 'iampolicy', name, tags);
    return this.policyFromRow({ name, id, default_version: 1, next_version: 2, description, created_at: now, updated_at: now, attachments: 0 }, tags);
  }

  private async attach(tx: Tx, policyName: string, holder: PolicyHolder): Promise<{ changed: boolean }> {
    const p = await requirePolicy(tx, policyName);
    const holderName = await requireHolder(tx, holder);
    const attached = (await attachedNames(tx, holder.kind, holderName)).map((n) => n.toLowerCase());
    if (attached.includes(p.name.toLowerCase())) return { changed: false };
    if (attached.length >= MANAGED_POLICIES_PER_HOLDER) {
      throw new ControlError('CONTROL_POLICY_ATTACHMENT_LIMIT', `${holder.kind} ${shown(holderName)} has ${MANAGED_POLICIES_PER_HOLDER} managed policies attached already`,
        'detach one first, or combine policies into one document');
    }
    const sql = holder.kind === 'user'
      ? 'INSERT INTO iam_user_policies (user_name, policy_name, attached_at) VALUES ($1, $2, $3)'
      : 'INSERT INTO iam_role_policies (role_name, policy_name, attached_at) VALUES ($1, $2, $3)';
    await tx.run(sql, [holderName, p.name, this.c.now().getTime()]);
    return { changed: true };
  }

  /**
   * The key file, loaded on first need and checked against the fingerprint the schema
   * keeps (recorded by the first node that stores a secret). Runs in its own locked
   * transaction: never inside another one.
   */
  private async secrets(): Promise<SecretBox> {
    if (this.box) return this.box;
    const hasSecrets = async (tx: Tx): Promise<boolean> => (await tx.one('SELECT 1 FROM iam_access_keys UNION ALL SELECT 1 FROM iam_role_sessions LIMIT 1')) !== undefined;
    const had = await this.c.read(hasSecrets);
    const { box } = SecretBox.load(this.keyFile, () => !had);
    await this.c.write(async (tx) => {
      const stored = await getMeta(tx, 'key_fingerprint');
      if (stored !== undefined && stored !== box.fingerprint && await hasSecrets(tx)) throw this.keyMismatch();
      if (stored !== box.fingerprint) await setMeta(tx, 'key_fingerprint', box.fingerprint);
    });
    this.box = box;
    return box;
  }

  /** In a transaction that stores a secret (under the write lock): the schema's key is still this node's. */
  private async assertKeyInForce(tx: Tx, box: SecretBox): Promise<void> {
    if (await getMeta(tx, 'key_fingerprint') !== box.fingerprint) {
      this.box = undefined;
      throw this.keyMismatch();
    }
  }

  private keyMismatch(): ControlError {
    return new ControlError('CONTROL_KEY_MISMATCH', `the key file \`${this.keyFile}\` is not the key that encrypted the secrets in the shared registry`,
      'give every node a copy of the same key file (gatehouse.registry.controlKeyFile; docs/cluster.md); without it every access key must be deleted and created again');
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
      name: r.name, id: r.id, arn: this.iamPolicyArn(r.name), defaultVersionId: `v${r.default_version}`, attachmentCount: Number(r.attachments),
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

// ---------------------------------------------------------------- queries

async function count(tx: Tx, sql: string, params: readonly unknown[]): Promise<number> {
  return Number((await tx.one<{ n: number }>(sql, params))!.n);
}

async function getMeta(tx: Tx, key: string): Promise<string | undefined> {
  return (await tx.one<{ value: string }>('SELECT value FROM control_meta WHERE key = $1', [key]))?.value;
}

async function setMeta(tx: Tx, key: string, value: string): Promise<void> {
  await tx.run('INSERT INTO control_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
}

const findUser = (tx: Tx, name: string): Promise<UserRow | undefined> => tx.one<UserRow>(`SELECT ${USER_COLS} FROM iam_users WHERE lower(name) = lower($1)`, [name]);
const findRole = (tx: Tx, name: string): Promise<RoleRow | undefined> => tx.one<RoleRow>(`SELECT ${ROLE_COLS} FROM iam_roles WHERE lower(name) = lower($1)`, [name]);
const findPolicy = (tx: Tx, name: string): Promise<PolicyRow | undefined> => tx.one<PolicyRow>(`SELECT ${POLICY_COLS} FROM iam_policies p WHERE lower(p.name) = lower($1)`, [name]);
const findAlias = (tx: Tx, alias: string): Promise<AliasRow | undefined> => tx.one<AliasRow>(`SELECT ${ALIAS_COLS} FROM role_aliases WHERE alias = $1`, [alias]);

async function requireUser(tx: Tx, name: string): Promise<UserRow> {
  const row = await findUser(tx, name);
  if (!row) throw new ControlError('CONTROL_USER_NOT_FOUND', `no user named ${shown(name)}`, 'list users with `gatehouse iam users list`');
  return row;
}

async function requireRole(tx: Tx, name: string): Promise<RoleRow> {
  const row = await findRole(tx, name);
  if (!row) throw new ControlError('CONTROL_ROLE_NOT_FOUND', `no role named ${shown(name)}`, 'list roles with `gatehouse iam roles list`');
  return row;
}

async function requirePolicy(tx: Tx, name: string): Promise<PolicyRow> {
  const row = await findPolicy(tx, name);
  if (!row) throw new ControlError('CONTROL_POLICY_NOT_FOUND', `no IAM policy named ${shown(name)}`, 'list IAM policies with `gatehouse iam policies list`');
  return row;
}

async function requireVersion(tx: Tx, p: PolicyRow, versionId: string): Promise<number> {
  const v = parseVersionId(versionId);
  if (v === undefined || !await tx.one('SELECT 1 FROM iam_policy_versions WHERE policy_name = $1 AND version = $2', [p.name, v])) {
    throw new ControlError('CONTROL_POLICY_VERSION_NOT_FOUND', `IAM policy ${shown(p.name)} has no version ${shown(versionId)}`, `list its versions with \`gatehouse iam policies show ${p.name}\``);
  }
  return v;
}

async function requireHolder(tx: Tx, holder: PolicyHolder): Promise<string> {
  return holder.kind === 'user' ? (await requireUser(tx, holder.name)).name : (await requireRole(tx, holder.name)).name;
}

async function attachedNames(tx: Tx, kind: PolicyHolder['kind'], holderName: string): Promise<string[]> {
  const sql = kind === 'user'
    ? 'SELECT p.name FROM iam_user_policies a JOIN iam_policies p ON p.name = a.policy_name WHERE a.user_name = $1 ORDER BY lower(p.name), p.name'
    : 'SELECT p.name FROM iam_role_policies a JOIN iam_policies p ON p.name = a.policy_name WHERE a.role_name = $1 ORDER BY lower(p.name), p.name';
  return (await tx.rows<{ name: string }>(sql, [holderName])).map((r) => r.name);
}

/** The stored key of a taggable resource (its canonical name or id), or CONTROL_RESOURCE_NOT_FOUND. */
async function requireResource(tx: Tx, target: TagTarget): Promise<string> {
  const key = 'id' in target ? target.id : target.name;
  const row = typeof key === 'string' ? await tx.one<{ k: string }>(EXISTS[target.kind], [key]) : undefined;
  if (!row) throw new ControlError('CONTROL_RESOURCE_NOT_FOUND', `no ${describeTarget(target)}`, 'check the name (or id) and the resource type');
  return row.k;
}

async function insertTags(tx: Tx, kind: TagTarget['kind'], resource: string, tags: Tags): Promise<void> {
  for (const [k, v] of Object.entries(tags)) {
    await tx.run('INSERT INTO resource_tags (kind, resource, key, value) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, resource, key) DO UPDATE SET value = excluded.value', [kind, resource, k, v]);
  }
}

async function loadTags(tx: Tx, kind: TagTarget['kind'], resource: string): Promise<Tags> {
  const out: Record<string, string> = {};
  for (const r of await tx.rows<{ key: string; value: string }>('SELECT key, value FROM resource_tags WHERE kind = $1 AND resource = $2 ORDER BY key', [kind, resource])) out[r.key] = r.value;
  return Object.freeze(out);
}

async function tagsByResource(tx: Tx, kind: TagTarget['kind']): Promise<Map<string, Tags>> {
  const out = new Map<string, Record<string, string>>();
  for (const r of await tx.rows<{ resource: string; key: string; value: string }>('SELECT resource, key, value FROM resource_tags WHERE kind = $1 ORDER BY resource, key', [kind])) {
    let m = out.get(r.resource);
    if (!m) out.set(r.resource, (m = {}));
    m[r.key] = r.value;
  }
  for (const m of out.values()) Object.freeze(m);
  return out;
}
