/**
 * The `gatehouse iam …` commands' store answered by a remote gateway's IAM API: the AWS
 * query protocol (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonParameters.html),
 * a form body `Action=…&Version=2010-05-08&…` POSTed to `/`, signed for the `iam` service,
 * and XML answers. The answers are read by a small strict reader of exactly the elements
 * the commands print; policy documents in answers are URL-encoded as IAM returns them
 * (https://docs.aws.amazon.com/IAM/latest/APIReference/API_PolicyVersion.html) and are
 * decoded here.
 *
 * Where IAM's API has no single call for what a command shows, calls are composed: the
 * users and roles a policy is attached to are read from ListAttachedUserPolicies and
 * ListAttachedRolePolicies of every user and role.
 */
import type { AccessKeyRecord, AccessKeyStatus, ControlStore, IamRole, IamUser, ManagedPolicy, ManagedPolicyVersion, PolicyHolder } from '../../identity/control.js';
import { CliError, EXIT } from '../output.js';
import type { RemoteClient } from './client.js';

/** What the `iam` commands call, on either side. */
export type CommandIam = Pick<ControlStore,
  | 'createUser' | 'getUser' | 'listUsers' | 'deleteUser'
  | 'createAccessKey' | 'listAccessKeys' | 'updateAccessKey' | 'deleteAccessKey'
  | 'createRole' | 'getRole' | 'listRoles' | 'updateAssumeRolePolicy' | 'deleteRole'
  | 'createIamPolicy' | 'getIamPolicy' | 'listIamPolicies' | 'deleteIamPolicy' | 'createIamPolicyVersion' | 'listIamPolicyVersions'
  | 'setDefaultIamPolicyVersion' | 'deleteIamPolicyVersion' | 'attachIamPolicy' | 'detachIamPolicy' | 'attachedIamPolicies'> & {
    /** The users and roles a policy is attached to. */
    iamPolicyHolders(policyName: string): Promise<PolicyHolder[]>;
  };

const IAM_VERSION = '2010-05-08';

// ------------------------------------------------------------------ a strict XML reader

/** One element: its name and its raw inner text (children included). */
interface Node {
  readonly name: string;
  readonly inner: string;
}

function protocolError(operation: string, what: string): CliError {
  return new CliError('REMOTE_PROTOCOL_ERROR', `the gateway's answer to ${operation} is not the XML IAM writes (${what})`, EXIT.INVALID, 'check that the endpoint is a Gatehouse management API');
}

/** The top-level child elements of `xml` (no attributes but on the outermost element, no CDATA, no comments). */
function children(xml: string, operation: string): Node[] {
  const out: Node[] = [];
  const open = /<([A-Za-z][A-Za-z0-9]*)(\s[^<>]*?)?(\/)?>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) break;
    if (xml.slice(i, lt).trim() !== '') throw protocolError(operation, 'text beside elements');
    open.lastIndex = lt;
    const m = open.exec(xml);
    if (m === null) {
      if (xml.startsWith('<?xml', lt)) {
        const end = xml.indexOf('?>', lt);
        if (end < 0) throw protocolError(operation, 'an unterminated declaration');
        i = end + 2;
        continue;
      }
      throw protocolError(operation, 'an element that cannot be read');
    }
    const name = m[1]!;
    if (m[3] === '/') {
      out.push({ name, inner: '' });
      i = open.lastIndex;
      continue;
    }
    // Find the matching close tag, counting nested elements of the same name.
    let depth = 1;
    let j = open.lastIndex;
    const tag = new RegExp(`<(/?)${name}(?:\\s[^<>]*?)?(/?)>`, 'g');
    tag.lastIndex = j;
    let end = -1;
    for (let t = tag.exec(xml); t !== null; t = tag.exec(xml)) {
      if (t[2] === '/') continue;
      depth += t[1] === '/' ? -1 : 1;
      if (depth === 0) {
        end = t.index;
        j = tag.lastIndex;
        break;
      }
    }
    if (end < 0) throw protocolError(operation, `an unterminated <${name}>`);
    out.push({ name, inner: xml.slice(open.lastIndex, end) });
    i = j;
  }
  if (xml.slice(i).trim() !== '') throw protocolError(operation, 'trailing text');
  return out;
}

const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function text(inner: string, operation: string): string {
  if (inner.includes('<')) throw protocolError(operation, 'an element where text was expected');
  return inner.replace(/&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw protocolError(operation, `the entity &${e};`);
    return v;
  });
}

/** An element's fields by name (the last wins; IAM repeats none of the ones read here). */
export class Fields {
  readonly #map = new Map<string, string>();
  readonly #op: string;

  constructor(inner: string, operation: string) {
    this.#op = operation;
    for (const c of children(inner, operation)) this.#map.set(c.name, c.inner);
  }

  node(name: string): string | undefined {
    return this.#map.get(name);
  }

  opt(name: string): string | undefined {
    const v = this.#map.get(name);
    return v === undefined ? undefined : text(v, this.#op);
  }

  req(name: string): string {
    const v = this.opt(name);
    if (v === undefined) throw protocolError(this.#op, `no <${name}>`);
    return v;
  }

  date(name: string): Date {
    const v = this.req(name);
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw protocolError(this.#op, `<${name}> is not a date`);
    return d;
  }

  members(name: string): Fields[] {
    const list = this.#map.get(name);
    if (list === undefined) return [];
    return children(list, this.#op).map((m) => {
      if (m.name !== 'member') throw protocolError(this.#op, `<${m.name}> in <${name}>`);
      return new Fields(m.inner, this.#op);
    });
  }

  tags(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const t of this.members('Tags')) out[t.req('Key')] = t.opt('Value') ?? '';
    return out;
  }

  document(name: string): string {
    const v = this.req(name);
    try {
      return decodeURIComponent(v);
    } catch {
      throw protocolError(this.#op, `<${name}> is not URL-encoded`);
    }
  }
}

/** The `<ActionResult>` of an IAM answer, as fields (REMOTE_PROTOCOL_ERROR for anything else). */
export function iamResult(xml: string, action: string): Fields {
  const top = children(xml, action);
  if (top.length !== 1 || top[0]!.name !== `${action}Response`) throw protocolError(action, `no <${action}Response>`);
  const response = new Fields(top[0]!.inner, action);
  return new Fields(response.node(`${action}Result`) ?? '', action);
}

// ------------------------------------------------------------------ the client

function isNotFound(e: unknown): boolean {
  return e instanceof CliError && e.code === 'REMOTE_NOT_FOUND';
}

export class RemoteIam implements CommandIam {
  readonly #c: RemoteClient;
  #policyArnPrefix: string | undefined;

  constructor(client: RemoteClient) {
    this.#c = client;
  }

  /** The `<ActionResult>` of a call, as fields. */
  async #call(action: string, params: Readonly<Record<string, string | undefined>> = {}): Promise<Fields> {
    const form: Record<string, string> = { Action: action, Version: IAM_VERSION };
    for (const [k, v] of Object.entries(params)) if (v !== undefined) form[k] = v;
    return iamResult(await this.#c.callText({ service: 'iam', operation: action, method: 'POST', path: '/', form }), action);
  }

  /** Every member of a paged list (`IsTruncated`, `Marker`). */
  async #all(action: string, list: string, params: Readonly<Record<string, string | undefined>> = {}): Promise<Fields[]> {
    const out: Fields[] = [];
    let marker: string | undefined;
    for (let i = 0; i < 10_000; i++) {
      const r = await this.#call(action, { ...params, MaxItems: '1000', Marker: marker });
      out.push(...r.members(list));
      if (r.opt('IsTruncated') !== 'true') return out;
      marker = r.req('Marker');
    }
    throw protocolError(action, 'pages that do not end');
  }

  async #orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
    try {
      return await p;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** `arn:PARTITION:iam::ACCOUNT:policy/` of the gateway, from STS GetCallerIdentity. */
  async #policyArn(name: string): Promise<string> {
    if (this.#policyArnPrefix === undefined) {
      const xml = await this.#c.callText({ service: 'sts', operation: 'GetCallerIdentity', method: 'POST', path: '/', form: { Action: 'GetCallerIdentity', Version: '2011-06-15' } });
      const arn = /<Arn>([^<]+)<\/Arn>/.exec(xml)?.[1];
      const account = /<Account>(\d{12})<\/Account>/.exec(xml)?.[1];
      const partition = arn?.split(':')[1];
      if (account === undefined || partition === undefined || partition === '') throw new CliError('REMOTE_PROTOCOL_ERROR', 'GetCallerIdentity answered without an ARN and account', EXIT.INVALID);
      this.#policyArnPrefix = `arn:${partition}:iam::${account}:policy/`;
    }
    return this.#policyArnPrefix + name;
  }

  // ---------------------------------------------------------------- users

  async createUser(name: string, options: { readonly tags?: Readonly<Record<string, string>> } = {}): Promise<IamUser> {
    const r = await this.#call('CreateUser', { UserName: name, ...tagParams(options.tags) });
    return userOf(new Fields(r.node('User') ?? '', 'CreateUser'));
  }

  async getUser(name: string): Promise<IamUser | undefined> {
    const r = await this.#orUndefined(this.#call('GetUser', { UserName: name }));
    return r === undefined ? undefined : userOf(new Fields(r.node('User') ?? '', 'GetUser'));
  }

  async listUsers(): Promise<IamUser[]> {
    const names = (await this.#all('ListUsers', 'Users')).map((u) => u.req('UserName'));
    const out: IamUser[] = [];
    // ListUsers carries no tags: each user is read with GetUser.
    for (const n of names) {
      const u = await this.getUser(n);
      if (u !== undefined) out.push(u);
    }
    return out;
  }

  async deleteUser(name: string): Promise<void> {
    await this.#call('DeleteUser', { UserName: name });
  }

  // ---------------------------------------------------------------- access keys

  async createAccessKey(userName: string): Promise<{ readonly key: AccessKeyRecord; readonly secretAccessKey: string }> {
    const r = await this.#call('CreateAccessKey', { UserName: userName });
    const k = new Fields(r.node('AccessKey') ?? '', 'CreateAccessKey');
    return { key: keyOf(k), secretAccessKey: k.req('SecretAccessKey') };
  }

  async listAccessKeys(userName: string): Promise<AccessKeyRecord[]> {
    const keys = (await this.#all('ListAccessKeys', 'AccessKeyMetadata', { UserName: userName })).map(keyOf);
    // The last use is its own operation (GetAccessKeyLastUsed), which the gateway does not serve.
    return keys;
  }

  async updateAccessKey(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    await this.#call('UpdateAccessKey', { AccessKeyId: accessKeyId, UserName: await this.#ownerOf(accessKeyId), Status: status });
  }

  async deleteAccessKey(accessKeyId: string): Promise<void> {
    await this.#call('DeleteAccessKey', { AccessKeyId: accessKeyId, UserName: await this.#ownerOf(accessKeyId) });
  }

  /**
   * The user an access key belongs to: without UserName, IAM works on the caller's own
   * keys, so the owner is found among the users' keys.
   */
  async #ownerOf(accessKeyId: string): Promise<string> {
    for (const u of await this.#all('ListUsers', 'Users')) {
      const name = u.req('UserName');
      const keys = await this.#all('ListAccessKeys', 'AccessKeyMetadata', { UserName: name });
      if (keys.some((k) => k.req('AccessKeyId') === accessKeyId)) return name;
    }
    throw new CliError('CONTROL_ACCESS_KEY_NOT_FOUND', `no access key ${accessKeyId}`, EXIT.INVALID, 'list a user\'s keys with `gatehouse iam access-keys list --user NAME`');
  }

  // ---------------------------------------------------------------- roles

  async createRole(name: string, document: string, options: { readonly maxSessionDurationSeconds?: number; readonly description?: string; readonly tags?: Readonly<Record<string, string>> } = {}): Promise<IamRole> {
    const r = await this.#call('CreateRole', {
      RoleName: name, AssumeRolePolicyDocument: document, Description: options.description,
      MaxSessionDuration: options.maxSessionDurationSeconds !== undefined ? String(options.maxSessionDurationSeconds) : undefined,
      ...tagParams(options.tags),
    });
    return roleOf(new Fields(r.node('Role') ?? '', 'CreateRole'));
  }

  async getRole(name: string): Promise<IamRole | undefined> {
    const r = await this.#orUndefined(this.#call('GetRole', { RoleName: name }));
    return r === undefined ? undefined : roleOf(new Fields(r.node('Role') ?? '', 'GetRole'));
  }

  async listRoles(): Promise<IamRole[]> {
    return (await this.#all('ListRoles', 'Roles')).map(roleOf);
  }

  async updateAssumeRolePolicy(name: string, document: string): Promise<void> {
    await this.#call('UpdateAssumeRolePolicy', { RoleName: name, PolicyDocument: document });
  }

  async deleteRole(name: string): Promise<void> {
    await this.#call('DeleteRole', { RoleName: name });
  }

  // ---------------------------------------------------------------- managed policies

  async createIamPolicy(name: string, document: string, options: { readonly description?: string; readonly tags?: Readonly<Record<string, string>> } = {}): Promise<ManagedPolicy> {
    const r = await this.#call('CreatePolicy', { PolicyName: name, PolicyDocument: document, Description: options.description, ...tagParams(options.tags) });
    return policyOf(new Fields(r.node('Policy') ?? '', 'CreatePolicy'));
  }

  async getIamPolicy(name: string): Promise<ManagedPolicy | undefined> {
    const r = await this.#orUndefined(this.#call('GetPolicy', { PolicyArn: await this.#policyArn(name) }));
    return r === undefined ? undefined : policyOf(new Fields(r.node('Policy') ?? '', 'GetPolicy'));
  }

  async listIamPolicies(): Promise<ManagedPolicy[]> {
    return (await this.#all('ListPolicies', 'Policies', { Scope: 'Local' })).map(policyOf);
  }

  async deleteIamPolicy(name: string): Promise<void> {
    await this.#call('DeletePolicy', { PolicyArn: await this.#policyArn(name) });
  }

  async createIamPolicyVersion(name: string, document: string, setAsDefault: boolean): Promise<ManagedPolicyVersion> {
    const r = await this.#call('CreatePolicyVersion', { PolicyArn: await this.#policyArn(name), PolicyDocument: document, SetAsDefault: String(setAsDefault) });
    const v = versionOf(new Fields(r.node('PolicyVersion') ?? '', 'CreatePolicyVersion'));
    // CreatePolicyVersion's answer carries no document: it is the one just sent.
    return { ...v, document };
  }

  async listIamPolicyVersions(name: string): Promise<ManagedPolicyVersion[]> {
    const arn = await this.#policyArn(name);
    const out: ManagedPolicyVersion[] = [];
    for (const v of (await this.#all('ListPolicyVersions', 'Versions', { PolicyArn: arn })).map(versionOf)) {
      const r = await this.#call('GetPolicyVersion', { PolicyArn: arn, VersionId: v.versionId });
      out.push(versionOf(new Fields(r.node('PolicyVersion') ?? '', 'GetPolicyVersion')));
    }
    return out.sort((a, b) => versionNumber(a.versionId) - versionNumber(b.versionId));
  }

  async setDefaultIamPolicyVersion(name: string, versionId: string): Promise<void> {
    await this.#call('SetDefaultPolicyVersion', { PolicyArn: await this.#policyArn(name), VersionId: versionId });
  }

  async deleteIamPolicyVersion(name: string, versionId: string): Promise<void> {
    await this.#call('DeletePolicyVersion', { PolicyArn: await this.#policyArn(name), VersionId: versionId });
  }

  async attachIamPolicy(policyName: string, holder: PolicyHolder): Promise<{ readonly changed: boolean }> {
    const before = await this.attachedIamPolicies(holder);
    await this.#call(holder.kind === 'user' ? 'AttachUserPolicy' : 'AttachRolePolicy', { ...holderParam(holder), PolicyArn: await this.#policyArn(policyName) });
    return { changed: !before.some((n) => n.toLowerCase() === policyName.toLowerCase()) };
  }

  async detachIamPolicy(policyName: string, holder: PolicyHolder): Promise<void> {
    await this.#call(holder.kind === 'user' ? 'DetachUserPolicy' : 'DetachRolePolicy', { ...holderParam(holder), PolicyArn: await this.#policyArn(policyName) });
  }

  async attachedIamPolicies(holder: PolicyHolder): Promise<string[]> {
    const list = await this.#all(holder.kind === 'user' ? 'ListAttachedUserPolicies' : 'ListAttachedRolePolicies', 'AttachedPolicies', holderParam(holder));
    return list.map((p) => p.req('PolicyName'));
  }

  async iamPolicyHolders(policyName: string): Promise<PolicyHolder[]> {
    const out: PolicyHolder[] = [];
    const wanted = policyName.toLowerCase();
    for (const u of await this.#all('ListUsers', 'Users')) {
      const h: PolicyHolder = { kind: 'user', name: u.req('UserName') };
      if ((await this.attachedIamPolicies(h)).some((n) => n.toLowerCase() === wanted)) out.push(h);
    }
    for (const r of await this.#all('ListRoles', 'Roles')) {
      const h: PolicyHolder = { kind: 'role', name: r.req('RoleName') };
      if ((await this.attachedIamPolicies(h)).some((n) => n.toLowerCase() === wanted)) out.push(h);
    }
    return out;
  }
}

function tagParams(tags: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  Object.entries(tags ?? {}).forEach(([k, v], i) => {
    out[`Tags.member.${i + 1}.Key`] = k;
    out[`Tags.member.${i + 1}.Value`] = v;
  });
  return out;
}

function holderParam(holder: PolicyHolder): Record<string, string> {
  return holder.kind === 'user' ? { UserName: holder.name } : { RoleName: holder.name };
}

const versionNumber = (id: string): number => Number(id.replace(/^v/, '')) || 0;

function userOf(f: Fields): IamUser {
  return { name: f.req('UserName'), id: f.req('UserId'), arn: f.req('Arn'), createdAt: f.date('CreateDate'), tags: f.tags() };
}

function keyOf(f: Fields): AccessKeyRecord {
  const status = f.req('Status');
  return { accessKeyId: f.req('AccessKeyId'), userName: f.req('UserName'), status: status === 'Active' ? 'Active' : 'Inactive', createdAt: f.date('CreateDate'), lastUsedAt: null };
}

function roleOf(f: Fields): IamRole {
  const max = Number(f.opt('MaxSessionDuration') ?? '3600');
  return {
    name: f.req('RoleName'), id: f.req('RoleId'), arn: f.req('Arn'), assumeRolePolicyDocument: f.document('AssumeRolePolicyDocument'),
    maxSessionDurationSeconds: Number.isSafeInteger(max) ? max : 3600, description: f.opt('Description') ?? '', createdAt: f.date('CreateDate'), tags: f.tags(),
  };
}

function policyOf(f: Fields): ManagedPolicy {
  const count = Number(f.opt('AttachmentCount') ?? '0');
  return {
    name: f.req('PolicyName'), id: f.req('PolicyId'), arn: f.req('Arn'), defaultVersionId: f.req('DefaultVersionId'),
    attachmentCount: Number.isSafeInteger(count) ? count : 0, description: f.opt('Description') ?? '',
    createdAt: f.date('CreateDate'), updatedAt: f.date('UpdateDate'), tags: f.tags(),
  };
}

function versionOf(f: Fields): ManagedPolicyVersion {
  return { versionId: f.req('VersionId'), document: f.node('Document') !== undefined ? f.document('Document') : '', isDefaultVersion: f.req('IsDefaultVersion') === 'true', createdAt: f.date('CreateDate') };
}
