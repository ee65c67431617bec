/**
 * The IAM operations served: users and their access keys, roles, managed policies with
 * versions and attachments, and tags, as the IAM API reference defines them
 * (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Operations.html).
 *
 * Every handler checks its parameters first (a 400 about the request's own input),
 * then authorizes its action on the resource the request names (the user, role or
 * policy ARN; `*` for the list operations), found or not, then acts. Creating with tags
 * needs the tagging action too (`iam:TagUser`, `iam:TagRole`, `iam:TagPolicy`), as in
 * IAM. Not served: groups, paths other than `/`, inline policies, permissions
 * boundaries, login profiles, MFA devices, service-linked roles.
 */
import type { AccessKeyStatus, PolicyHolder } from '../../../identity/control.js';
import { compileIamPolicies } from '../../../core/policy/iam/index.js';
import { constraintError, el, isoSeconds, memberList, queryTags } from '../query.js';
import {
  authorizePolicy, authorizeRole, authorizeUser, booleanParam, entityName, iamArn, iamError, invalidInput, members, noPermissionsBoundary,
  noSuchEntity, page, pathPrefixMatches, policyArnParam, policyXml, required, roleXml, rootPathOnly, userNameOrCaller, userXml, versionXml,
  type IamCall, type IamOperation,
} from './common.js';

const POLICY_ARN_EXAMPLE = 'arn:aws:iam::000000000000:policy/example';
const TRUST_EXAMPLE = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}';
const POLICY_EXAMPLE = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:ListThings","Resource":"*"}]}';

function op(name: string, example: Readonly<Record<string, string>>, handler: (call: IamCall) => Promise<string | undefined>): IamOperation {
  return { name, action: `iam:${name}`, example, handler };
}

function tagKeys(call: IamCall): string[] {
  const keys = memberList(call.params, 'TagKeys', 50);
  if (keys === undefined) throw constraintError(null, 'tagKeys', 'Member must not be null');
  for (const k of keys) if (k.length < 1 || k.length > 128) throw constraintError(k, 'tagKeys', 'Member must have length between 1 and 128');
  return keys;
}

function tagsToAdd(call: IamCall): Record<string, string> {
  const tags = queryTags(call.params, 'tags');
  if (tags === undefined) throw constraintError(null, 'tags', 'Member must not be null');
  return tags;
}

function tagPage(call: IamCall, tags: Readonly<Record<string, string>>): string {
  const p = page(call.params, Object.keys(tags), (k) => k);
  return `<Tags>${members(p.items.map((k) => `${el('Key', k)}${el('Value', tags[k])}`))}</Tags>${p.xml}`;
}

function accessKeyStatus(call: IamCall): AccessKeyStatus {
  const s = required(call.params, 'Status');
  if (s !== 'Active' && s !== 'Inactive') throw constraintError(s, 'status', 'Member must satisfy enum value set: [Active, Inactive]');
  return s;
}

function accessKeyId(call: IamCall): string {
  const id = required(call.params, 'AccessKeyId');
  if (id.length < 16 || id.length > 128 || !/^\w+$/.test(id)) throw constraintError(id, 'accessKeyId', 'Member must satisfy regular expression pattern: [\\w]+');
  return id;
}

/** The named user's key, after authorization on the user. */
async function userKey(call: IamCall, action: string): Promise<{ readonly id: string; readonly userName: string }> {
  const id = accessKeyId(call);
  const user = await authorizeUser(call, action, userNameOrCaller(call));
  const keys = await call.ctx.control.listAccessKeys(user.name);
  if (!keys.some((k) => k.accessKeyId === id)) throw noSuchEntity(`The Access Key with id ${id} cannot be found.`);
  return { id, userName: user.name };
}

function maxSessionDuration(call: IamCall): number | undefined {
  const v = call.params['MaxSessionDuration'];
  if (v === undefined) return undefined;
  if (!/^\d{1,6}$/.test(v) || Number(v) < 3600 || Number(v) > 43200) throw constraintError(v, 'maxSessionDuration', 'Member must have value between 3600 and 43200');
  return Number(v);
}

function description(call: IamCall): string | undefined {
  const d = call.params['Description'];
  if (d !== undefined && d.length > 1000) throw constraintError(d.slice(0, 32), 'description', 'Member must have length less than or equal to 1000');
  return d;
}

function versionId(call: IamCall): string {
  const v = required(call.params, 'VersionId');
  if (!/^v[1-9]\d{0,8}$/.test(v)) throw constraintError(v, 'versionId', 'Member must satisfy regular expression pattern: v[1-9][0-9]*');
  return v;
}

async function attach(call: IamCall, kind: 'user' | 'role', attachIt: boolean): Promise<undefined> {
  const action = `iam:${attachIt ? 'Attach' : 'Detach'}${kind === 'user' ? 'User' : 'Role'}Policy`;
  const name = entityName(call.params, kind === 'user' ? 'UserName' : 'RoleName', 128);
  const { arn, name: policyName } = policyArnParam(call);
  const holder = kind === 'user' ? await authorizeUser(call, action, name) : await authorizeRole(call, action, name);
  const policy = policyName === undefined ? undefined : await call.ctx.control.getIamPolicy(policyName);
  if (policy === undefined) throw noSuchEntity(`Policy ${arn} does not exist or is not attachable.`);
  const h: PolicyHolder = { kind, name: holder.name };
  if (attachIt) await call.ctx.control.attachIamPolicy(policy.name, h);
  else await call.ctx.control.detachIamPolicy(policy.name, h);
  return undefined;
}

async function listAttached(call: IamCall, kind: 'user' | 'role'): Promise<string> {
  const name = entityName(call.params, kind === 'user' ? 'UserName' : 'RoleName', 128);
  const action = `iam:ListAttached${kind === 'user' ? 'User' : 'Role'}Policies`;
  const holder = kind === 'user' ? await authorizeUser(call, action, name) : await authorizeRole(call, action, name);
  const names = pathPrefixMatches(call.params) ? await call.ctx.control.attachedIamPolicies({ kind, name: holder.name }) : [];
  const p = page(call.params, names, (n) => n.toLowerCase());
  return `<AttachedPolicies>${members(p.items.map((n) => `${el('PolicyName', n)}${el('PolicyArn', iamArn(call.ctx, 'policy', n))}`))}</AttachedPolicies>${p.xml}`;
}

export const USER_OPERATIONS: readonly IamOperation[] = [
  op('CreateUser', { UserName: 'example' }, async (call) => {
    const name = entityName(call.params, 'UserName', 64);
    rootPathOnly(call.params);
    noPermissionsBoundary(call.params);
    const tags = queryTags(call.params, 'tags');
    const arn = iamArn(call.ctx, 'user', name);
    await call.authorize({ action: 'iam:CreateUser', resource: arn, ...(tags !== undefined ? { requestTags: tags } : {}) });
    if (tags !== undefined) await call.authorize({ action: 'iam:TagUser', resource: arn, requestTags: tags });
    const user = await call.ctx.control.createUser(name, tags !== undefined ? { tags } : {});
    return `<User>${userXml(user, true)}</User>`;
  }),
  op('GetUser', { UserName: 'example' }, async (call) => {
    const user = await authorizeUser(call, 'iam:GetUser', userNameOrCaller(call));
    return `<User>${userXml(user, true)}</User>`;
  }),
  op('ListUsers', {}, async (call) => {
    await call.authorize({ action: 'iam:ListUsers', resource: '*' });
    const users = pathPrefixMatches(call.params) ? await call.ctx.control.listUsers() : [];
    const p = page(call.params, users, (u) => u.name.toLowerCase());
    return `<Users>${members(p.items.map((u) => userXml(u, false)))}</Users>${p.xml}`;
  }),
  op('DeleteUser', { UserName: 'example' }, async (call) => {
    const user = await authorizeUser(call, 'iam:DeleteUser', entityName(call.params, 'UserName', 128));
    await call.ctx.control.deleteUser(user.name);
    return undefined;
  }),
  op('TagUser', { UserName: 'example', 'Tags.member.1.Key': 'k', 'Tags.member.1.Value': 'v' }, async (call) => {
    const name = entityName(call.params, 'UserName', 128);
    const tags = tagsToAdd(call);
    const user = await authorizeUser(call, 'iam:TagUser', name, { requestTags: tags });
    await call.ctx.control.tagResource({ kind: 'user', name: user.name }, tags);
    return undefined;
  }),
  op('UntagUser', { UserName: 'example', 'TagKeys.member.1': 'k' }, async (call) => {
    const name = entityName(call.params, 'UserName', 128);
    const keys = tagKeys(call);
    const user = await authorizeUser(call, 'iam:UntagUser', name, { tagKeys: keys });
    await call.ctx.control.untagResource({ kind: 'user', name: user.name }, keys);
    return undefined;
  }),
  op('ListUserTags', { UserName: 'example' }, async (call) => {
    const user = await authorizeUser(call, 'iam:ListUserTags', entityName(call.params, 'UserName', 128));
    return tagPage(call, user.tags);
  }),
  op('CreateAccessKey', { UserName: 'example' }, async (call) => {
    const user = await authorizeUser(call, 'iam:CreateAccessKey', userNameOrCaller(call));
    const { key, secretAccessKey } = await call.ctx.control.createAccessKey(user.name);
    return `<AccessKey>${el('UserName', key.userName)}${el('AccessKeyId', key.accessKeyId)}${el('Status', key.status)}${el('SecretAccessKey', secretAccessKey)}${el('CreateDate', isoSeconds(key.createdAt))}</AccessKey>`;
  }),
  op('ListAccessKeys', { UserName: 'example' }, async (call) => {
    const user = await authorizeUser(call, 'iam:ListAccessKeys', userNameOrCaller(call));
    const keys = await call.ctx.control.listAccessKeys(user.name);
    const p = page(call.params, keys, (k) => k.accessKeyId);
    return `<AccessKeyMetadata>${members(p.items.map((k) => `${el('UserName', k.userName)}${el('AccessKeyId', k.accessKeyId)}${el('Status', k.status)}${el('CreateDate', isoSeconds(k.createdAt))}`))}</AccessKeyMetadata>${p.xml}`;
  }),
  op('UpdateAccessKey', { UserName: 'example', AccessKeyId: 'AKIAAAAAAAAAAAAAAAAA', Status: 'Inactive' }, async (call) => {
    const status = accessKeyStatus(call);
    const key = await userKey(call, 'iam:UpdateAccessKey');
    await call.ctx.control.updateAccessKey(key.id, status);
    return undefined;
  }),
  op('DeleteAccessKey', { UserName: 'example', AccessKeyId: 'AKIAAAAAAAAAAAAAAAAA' }, async (call) => {
    const key = await userKey(call, 'iam:DeleteAccessKey');
    await call.ctx.control.deleteAccessKey(key.id);
    return undefined;
  }),
];

export const ROLE_OPERATIONS: readonly IamOperation[] = [
  op('CreateRole', { RoleName: 'example', AssumeRolePolicyDocument: TRUST_EXAMPLE }, async (call) => {
    const name = entityName(call.params, 'RoleName', 64);
    const trust = required(call.params, 'AssumeRolePolicyDocument');
    rootPathOnly(call.params);
    noPermissionsBoundary(call.params);
    const max = maxSessionDuration(call);
    const desc = description(call);
    const tags = queryTags(call.params, 'tags');
    const arn = iamArn(call.ctx, 'role', name);
    await call.authorize({ action: 'iam:CreateRole', resource: arn, ...(tags !== undefined ? { requestTags: tags } : {}) });
    if (tags !== undefined) await call.authorize({ action: 'iam:TagRole', resource: arn, requestTags: tags });
    const role = await call.ctx.control.createRole(name, trust, {
      ...(max !== undefined ? { maxSessionDurationSeconds: max } : {}), ...(desc !== undefined ? { description: desc } : {}), ...(tags !== undefined ? { tags } : {}),
    });
    return `<Role>${roleXml(role, true)}</Role>`;
  }),
  op('GetRole', { RoleName: 'example' }, async (call) => {
    const role = await authorizeRole(call, 'iam:GetRole', entityName(call.params, 'RoleName', 64));
    return `<Role>${roleXml(role, true)}</Role>`;
  }),
  op('ListRoles', {}, async (call) => {
    await call.authorize({ action: 'iam:ListRoles', resource: '*' });
    const roles = pathPrefixMatches(call.params) ? await call.ctx.control.listRoles() : [];
    const p = page(call.params, roles, (r) => r.name.toLowerCase());
    return `<Roles>${members(p.items.map((r) => roleXml(r, false)))}</Roles>${p.xml}`;
  }),
  op('DeleteRole', { RoleName: 'example' }, async (call) => {
    const role = await authorizeRole(call, 'iam:DeleteRole', entityName(call.params, 'RoleName', 64));
    await call.ctx.control.deleteRole(role.name);
    return undefined;
  }),
  op('UpdateAssumeRolePolicy', { RoleName: 'example', PolicyDocument: TRUST_EXAMPLE }, async (call) => {
    const name = entityName(call.params, 'RoleName', 64);
    const doc = required(call.params, 'PolicyDocument');
    const role = await authorizeRole(call, 'iam:UpdateAssumeRolePolicy', name);
    await call.ctx.control.updateAssumeRolePolicy(role.name, doc);
    return undefined;
  }),
  op('TagRole', { RoleName: 'example', 'Tags.member.1.Key': 'k', 'Tags.member.1.Value': 'v' }, async (call) => {
    const name = entityName(call.params, 'RoleName', 64);
    const tags = tagsToAdd(call);
    const role = await authorizeRole(call, 'iam:TagRole', name, { requestTags: tags });
    await call.ctx.control.tagResource({ kind: 'role', name: role.name }, tags);
    return undefined;
  }),
  op('UntagRole', { RoleName: 'example', 'TagKeys.member.1': 'k' }, async (call) => {
    const name = entityName(call.params, 'RoleName', 64);
    const keys = tagKeys(call);
    const role = await authorizeRole(call, 'iam:UntagRole', name, { tagKeys: keys });
    await call.ctx.control.untagResource({ kind: 'role', name: role.name }, keys);
    return undefined;
  }),
  op('ListRoleTags', { RoleName: 'example' }, async (call) => {
    const role = await authorizeRole(call, 'iam:ListRoleTags', entityName(call.params, 'RoleName', 64));
    return tagPage(call, role.tags);
  }),
];

export const POLICY_OPERATIONS: readonly IamOperation[] = [
  op('CreatePolicy', { PolicyName: 'example', PolicyDocument: POLICY_EXAMPLE }, async (call) => {
    const name = entityName(call.params, 'PolicyName', 128);
    const doc = required(call.params, 'PolicyDocument');
    rootPathOnly(call.params);
    const desc = description(call);
    const tags = queryTags(call.params, 'tags');
    const arn = iamArn(call.ctx, 'policy', name);
    await call.authorize({ action: 'iam:CreatePolicy', resource: arn, ...(tags !== undefined ? { requestTags: tags } : {}) });
    if (tags !== undefined) await call.authorize({ action: 'iam:TagPolicy', resource: arn, requestTags: tags });
    const policy = await call.ctx.control.createIamPolicy(name, doc, { ...(desc !== undefined ? { description: desc } : {}), ...(tags !== undefined ? { tags } : {}) });
    return `<Policy>${policyXml(policy, true)}</Policy>`;
  }),
  op('GetPolicy', { PolicyArn: POLICY_ARN_EXAMPLE }, async (call) => {
    const policy = await authorizePolicy(call, 'iam:GetPolicy');
    return `<Policy>${policyXml(policy, true)}</Policy>`;
  }),
  op('ListPolicies', { Scope: 'Local' }, async (call) => {
    const scope = call.params['Scope'];
    if (scope !== undefined && scope !== 'All' && scope !== 'AWS' && scope !== 'Local') throw constraintError(scope, 'scope', 'Member must satisfy enum value set: [All, AWS, Local]');
    const usage = call.params['PolicyUsageFilter'];
    if (usage !== undefined && usage !== 'PermissionsPolicy' && usage !== 'PermissionsBoundary') throw constraintError(usage, 'policyUsageFilter', 'Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]');
    const onlyAttached = booleanParam(call.params, 'OnlyAttached') ?? false;
    await call.authorize({ action: 'iam:ListPolicies', resource: '*' });
    // Every policy here is customer managed (Local), and none is a permissions boundary.
    const all = scope === 'AWS' || usage === 'PermissionsBoundary' || !pathPrefixMatches(call.params) ? [] : await call.ctx.control.listIamPolicies();
    const p = page(call.params, all.filter((x) => !onlyAttached || x.attachmentCount > 0), (x) => x.name.toLowerCase());
    return `<Policies>${members(p.items.map((x) => policyXml(x, false)))}</Policies>${p.xml}`;
  }),
  op('DeletePolicy', { PolicyArn: POLICY_ARN_EXAMPLE }, async (call) => {
    const policy = await authorizePolicy(call, 'iam:DeletePolicy');
    await call.ctx.control.deleteIamPolicy(policy.name);
    return undefined;
  }),
  op('CreatePolicyVersion', { PolicyArn: POLICY_ARN_EXAMPLE, PolicyDocument: POLICY_EXAMPLE }, async (call) => {
    policyArnParam(call);
    const doc = required(call.params, 'PolicyDocument');
    const setAsDefault = booleanParam(call.params, 'SetAsDefault') ?? false;
    const policy = await authorizePolicy(call, 'iam:CreatePolicyVersion');
    const v = await call.ctx.control.createIamPolicyVersion(policy.name, doc, setAsDefault);
    return `<PolicyVersion>${versionXml(v, false)}</PolicyVersion>`;
  }),
  op('GetPolicyVersion', { PolicyArn: POLICY_ARN_EXAMPLE, VersionId: 'v1' }, async (call) => {
    policyArnParam(call);
    const id = versionId(call);
    const policy = await authorizePolicy(call, 'iam:GetPolicyVersion');
    const v = await call.ctx.control.getIamPolicyVersion(policy.name, id);
    if (v === undefined) throw noSuchEntity(`Policy ${policy.arn} version ${id} does not exist or is not attachable.`);
    return `<PolicyVersion>${versionXml(v, true)}</PolicyVersion>`;
  }),
  op('ListPolicyVersions', { PolicyArn: POLICY_ARN_EXAMPLE }, async (call) => {
    const policy = await authorizePolicy(call, 'iam:ListPolicyVersions');
    const versions = await call.ctx.control.listIamPolicyVersions(policy.name);
    // Newest first; ids sort by their number.
    const p = page(call.params, versions, (v) => String(1e9 - Number(v.versionId.slice(1))).padStart(10, '0'));
    return `<Versions>${members(p.items.map((v) => versionXml(v, false)))}</Versions>${p.xml}`;
  }),
  op('SetDefaultPolicyVersion', { PolicyArn: POLICY_ARN_EXAMPLE, VersionId: 'v1' }, async (call) => {
    policyArnParam(call);
    const id = versionId(call);
    const policy = await authorizePolicy(call, 'iam:SetDefaultPolicyVersion');
    await call.ctx.control.setDefaultIamPolicyVersion(policy.name, id);
    return undefined;
  }),
  op('DeletePolicyVersion', { PolicyArn: POLICY_ARN_EXAMPLE, VersionId: 'v2' }, async (call) => {
    policyArnParam(call);
    const id = versionId(call);
    const policy = await authorizePolicy(call, 'iam:DeletePolicyVersion');
    await call.ctx.control.deleteIamPolicyVersion(policy.name, id);
    return undefined;
  }),
  op('AttachUserPolicy', { UserName: 'example', PolicyArn: POLICY_ARN_EXAMPLE }, (call) => attach(call, 'user', true)),
  op('DetachUserPolicy', { UserName: 'example', PolicyArn: POLICY_ARN_EXAMPLE }, (call) => attach(call, 'user', false)),
  op('AttachRolePolicy', { RoleName: 'example', PolicyArn: POLICY_ARN_EXAMPLE }, (call) => attach(call, 'role', true)),
  op('DetachRolePolicy', { RoleName: 'example', PolicyArn: POLICY_ARN_EXAMPLE }, (call) => attach(call, 'role', false)),
  op('ListAttachedUserPolicies', { UserName: 'example' }, (call) => listAttached(call, 'user')),
  op('ListAttachedRolePolicies', { RoleName: 'example' }, (call) => listAttached(call, 'role')),
  op('TagPolicy', { PolicyArn: POLICY_ARN_EXAMPLE, 'Tags.member.1.Key': 'k', 'Tags.member.1.Value': 'v' }, async (call) => {
    policyArnParam(call);
    const tags = tagsToAdd(call);
    const policy = await authorizePolicy(call, 'iam:TagPolicy', { requestTags: tags });
    await call.ctx.control.tagResource({ kind: 'iampolicy', name: policy.name }, tags);
    return undefined;
  }),
  op('UntagPolicy', { PolicyArn: POLICY_ARN_EXAMPLE, 'TagKeys.member.1': 'k' }, async (call) => {
    policyArnParam(call);
    const keys = tagKeys(call);
    const policy = await authorizePolicy(call, 'iam:UntagPolicy', { tagKeys: keys });
    await call.ctx.control.untagResource({ kind: 'iampolicy', name: policy.name }, keys);
    return undefined;
  }),
  op('ListPolicyTags', { PolicyArn: POLICY_ARN_EXAMPLE }, async (call) => {
    const policy = await authorizePolicy(call, 'iam:ListPolicyTags');
    return tagPage(call, policy.tags);
  }),
];

const EVAL_DECISION: Readonly<Record<string, string>> = { ALLOWED_BY_STATEMENT: 'allowed', DENIED_BY_STATEMENT: 'explicitDeny', NO_MATCHING_STATEMENT: 'implicitDeny' };

/**
 * SimulateCustomPolicy (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulateCustomPolicy.html):
 * decides each action on each resource under the identity policies given as text, as
 * the management API would decide a call whose caller holds exactly those policies;
 * nothing is stored. `SourcePolicyId` names the deciding input as `PolicyInputList.N`.
 * A document the IAM dialect refuses is MalformedPolicyDocument, naming its path and the
 * fix. Not served: `ContextEntries`, resource policies, `ResourceOwner`, `CallerArn`.
 */
const SIMULATE_OPERATIONS: readonly IamOperation[] = [
  op('SimulateCustomPolicy', { 'PolicyInputList.member.1': POLICY_EXAMPLE, 'ActionNames.member.1': 'iot:ListThings' }, async (call) => {
    const documents = memberList(call.params, 'PolicyInputList', 10);
    if (documents === undefined) throw constraintError(null, 'policyInputList', 'Member must not be null');
    const actions = memberList(call.params, 'ActionNames', 100);
    if (actions === undefined) throw constraintError(null, 'actionNames', 'Member must not be null');
    const resources = memberList(call.params, 'ResourceArns', 100) ?? ['*'];
    for (const name of ['ContextEntries', 'ResourcePolicy', 'ResourceOwner', 'CallerArn', 'PermissionsBoundaryPolicyInputList']) {
      if (Object.keys(call.params).some((k) => k === name || k.startsWith(`${name}.`))) throw invalidInput(`${name} is not supported by this gateway`);
    }
    await call.authorize({ action: 'iam:SimulateCustomPolicy', resource: '*' });
    const inputs = documents.map((document, i) => ({ name: `PolicyInputList.${i + 1}`, document }));
    const compiled = compileIamPolicies(inputs);
    if (!compiled.ok) {
      const p = compiled.problems[0]!;
      throw iamError(400, 'MalformedPolicyDocument', `${p.policy}: ${p.message} (path ${p.path === '' ? '/' : p.path}; fix: ${p.fix})`);
    }
    const now = call.ctx.clock().getTime();
    const results: string[] = [];
    for (const action of actions) {
      for (const resource of resources) {
        const d = compiled.set.decide('all', call.request.iamContext ?? {}, { action, resource }, now);
        const matched = d.policy === undefined ? '' : members([`${el('SourcePolicyId', d.policy)}${el('SourcePolicyType', 'IAM Policy')}`]);
        results.push(`${el('EvalActionName', action)}${el('EvalResourceName', resource)}${el('EvalDecision', EVAL_DECISION[d.reason] ?? 'implicitDeny')}<MatchedStatements>${matched}</MatchedStatements><MissingContextValues></MissingContextValues>`);
      }
    }
    return `<EvaluationResults>${members(results)}</EvaluationResults>${el('IsTruncated', false)}`;
  }),
];

/** Every IAM operation served. */
export const IAM_OPERATIONS: readonly IamOperation[] = [...USER_OPERATIONS, ...ROLE_OPERATIONS, ...POLICY_OPERATIONS, ...SIMULATE_OPERATIONS];
