/**
 * IAM over the query protocol with the official client (`@aws-sdk/client-iam`, only the
 * endpoint overridden): users, access keys, managed policies that then govern the new
 * user's AWS IoT calls, roles assumed through STS, IAM's errors as the SDK's exception
 * classes, and every operation denied to a caller without permission. On both registry
 * backends (test/helpers/registry-backends.ts): SQLite, and PostgreSQL when it can run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AttachRolePolicyCommand, AttachUserPolicyCommand, CreateAccessKeyCommand, CreatePolicyCommand, CreatePolicyVersionCommand, CreateRoleCommand,
  CreateUserCommand, DeleteConflictException, DeletePolicyCommand, DeletePolicyVersionCommand, DeleteUserCommand, DetachUserPolicyCommand,
  EntityAlreadyExistsException, GetPolicyVersionCommand, GetRoleCommand, GetUserCommand, IAMClient, LimitExceededException, ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand, ListPoliciesCommand, ListPolicyVersionsCommand, ListRolesCommand, ListUsersCommand, ListUserTagsCommand,
  MalformedPolicyDocumentException, NoSuchEntityException, SetDefaultPolicyVersionCommand, TagUserCommand, UntagUserCommand, UpdateAccessKeyCommand,
  UpdateAssumeRolePolicyCommand, IAMServiceException, DeleteAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateThingCommand, IoTClient, ListThingsCommand } from '@aws-sdk/client-iot';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { IAM_OPERATIONS, iamExampleBody } from '../../../src/api/mgmt/iam/route-set.js';
import { IAM_ACTIONS } from '../../../src/core/policy/iam/actions.js';
import { registryBackends } from '../../helpers/registry-backends.js';
import { ACCOUNT, call, REGION, startManagement, xmlCode, type Credentials, type Fixture } from './helpers.js';

const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
const USER = (name: string): string => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const POLICY = (name: string): string => `arn:aws:iam::${ACCOUNT}:policy/${name}`;

function iam(f: Fixture, credentials: Credentials, region = REGION): IAMClient {
  return new IAMClient({ endpoint: f.url, region, credentials, requestHandler: { httpsAgent: f.agent }, maxAttempts: 1 });
}

function iot(f: Fixture, credentials: Credentials): IoTClient {
  return new IoTClient({ endpoint: f.url, region: REGION, credentials, requestHandler: { httpsAgent: f.agent }, maxAttempts: 1 });
}

async function rejects<T extends Error>(p: Promise<unknown>, cls: abstract new (...args: never[]) => T, status: number): Promise<T> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  assert.equal((caught as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, status);
  return caught;
}

const backends = await registryBackends();

for (const b of backends) describe(`IAM over the query protocol (${b.name})`, { skip: b.skip }, () => {
  test('an administrator creates a user, a key and a policy allowing iot:List*; the user may list things and nothing else', async (t) => {
    const f = await startManagement(t, { backend: b });
    const admin = iam(f, await f.user('admin', [ALLOW_ALL]));
    const created = await admin.send(new CreateUserCommand({ UserName: 'lister', Tags: [{ Key: 'team', Value: 'ops' }] }));
    assert.equal(created.User?.Arn, USER('lister'));
    assert.equal(created.User?.Path, '/');
    assert.match(created.User?.UserId ?? '', /^AIDA/);
    assert.deepEqual(created.User?.Tags, [{ Key: 'team', Value: 'ops' }]);
    const key = await admin.send(new CreateAccessKeyCommand({ UserName: 'lister' }));
    assert.match(key.AccessKey?.AccessKeyId ?? '', /^AKIA/);
    assert.equal(key.AccessKey?.Status, 'Active');
    const document = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:List*', Resource: '*' }] });
    const policy = await admin.send(new CreatePolicyCommand({ PolicyName: 'list-only', PolicyDocument: document, Description: 'read the registry' }));
    assert.equal(policy.Policy?.Arn, POLICY('list-only'));
    assert.equal(policy.Policy?.DefaultVersionId, 'v1');
    await admin.send(new AttachUserPolicyCommand({ UserName: 'lister', PolicyArn: POLICY('list-only') }));
    const attached = await admin.send(new ListAttachedUserPoliciesCommand({ UserName: 'lister' }));
    assert.deepEqual(attached.AttachedPolicies, [{ PolicyName: 'list-only', PolicyArn: POLICY('list-only') }]);

    const creds = { accessKeyId: key.AccessKey.AccessKeyId!, secretAccessKey: key.AccessKey.SecretAccessKey! };
    const things = await iot(f, creds).send(new ListThingsCommand({}));
    assert.deepEqual(things.things, []);
    await rejects(iot(f, creds).send(new CreateThingCommand({ thingName: 'sensor-1' })), Error, 403);
    // The same user may not manage IAM either.
    const denied = await rejects(iam(f, creds).send(new ListUsersCommand({})), IAMServiceException, 403);
    assert.equal(denied.name, 'AccessDenied');
    assert.match(denied.message, /iam:ListUsers/);

    // The key can be switched off and on, and its listing never shows the secret.
    const listed = await admin.send(new ListAccessKeysCommand({ UserName: 'lister' }));
    assert.equal(listed.AccessKeyMetadata?.length, 1);
    assert.equal((listed.AccessKeyMetadata[0] as Record<string, unknown>)['SecretAccessKey'], undefined);
    await admin.send(new UpdateAccessKeyCommand({ UserName: 'lister', AccessKeyId: creds.accessKeyId, Status: 'Inactive' }));
    await rejects(iot(f, creds).send(new ListThingsCommand({})), Error, 403);
    await admin.send(new UpdateAccessKeyCommand({ UserName: 'lister', AccessKeyId: creds.accessKeyId, Status: 'Active' }));
    await iot(f, creds).send(new ListThingsCommand({}));

    // Deleting needs its keys deleted and its policies detached first (IAM's rule).
    await rejects(admin.send(new DeleteUserCommand({ UserName: 'lister' })), DeleteConflictException, 409);
    await rejects(admin.send(new DeletePolicyCommand({ PolicyArn: POLICY('list-only') })), DeleteConflictException, 409);
    await admin.send(new DeleteAccessKeyCommand({ UserName: 'lister', AccessKeyId: creds.accessKeyId }));
    await admin.send(new DetachUserPolicyCommand({ UserName: 'lister', PolicyArn: POLICY('list-only') }));
    await admin.send(new DeleteUserCommand({ UserName: 'lister' }));
    await admin.send(new DeletePolicyCommand({ PolicyArn: POLICY('list-only') }));
    await rejects(admin.send(new GetUserCommand({ UserName: 'lister' })), NoSuchEntityException, 404);
    const records = await f.audit();
    assert.ok(records.some((r) => r.action === 'iam:CreateUser' && r.resource === USER('lister') && r.decision === 'allow'));
    assert.ok(records.some((r) => r.action === 'iam:ListUsers' && r.decision === 'deny' && r.status === 403));
    assert.ok(records.every((r) => !JSON.stringify(r).includes(creds.secretAccessKey)));
  });

  test('IAM requests may be signed for us-east-1, the global signing region; STS requests may not', async (t) => {
    const f = await startManagement(t, { backend: b, deployment: { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' } });
    const creds = await f.user('admin', [ALLOW_ALL]);
    const me = await iam(f, creds, 'us-east-1').send(new GetUserCommand({}));
    assert.equal(me.User?.UserName, 'admin');
    assert.equal(me.User?.Arn, 'arn:aws:iam::123456789012:user/admin');
    assert.equal((await iam(f, creds, 'eu-west-1').send(new GetUserCommand({}))).User?.UserName, 'admin');
    const sts = await call(f, { path: '/', body: 'Action=GetCallerIdentity&Version=2011-06-15', contentType: 'application/x-www-form-urlencoded', credentials: creds, service: 'sts', region: 'us-east-1' });
    assert.equal(sts.status, 403);
    assert.equal(xmlCode(sts.body), 'SignatureDoesNotMatch');
    const other = await call(f, { path: '/', body: 'Action=ListUsers&Version=2010-05-08', contentType: 'application/x-www-form-urlencoded', credentials: creds, service: 'iam', region: 'eu-central-1' });
    assert.equal(other.status, 403);
    // An IAM action sent to the STS signing service is not an IAM call.
    const wrong = await call(f, { path: '/', body: 'Action=ListUsers&Version=2010-05-08', contentType: 'application/x-www-form-urlencoded', credentials: creds, service: 'sts', region: 'eu-west-1' });
    assert.equal(wrong.status, 400);
    assert.equal(xmlCode(wrong.body), 'InvalidAction');
    const ok = await call(f, { path: '/', body: 'Action=ListUsers&Version=2010-05-08', contentType: 'application/x-www-form-urlencoded', credentials: creds, service: 'iam', region: 'eu-west-1' });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^<ListUsersResponse xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/">/);
    const unknown = await call(f, { path: '/', body: 'Action=CreateGroup&Version=2010-05-08&GroupName=g', contentType: 'application/x-www-form-urlencoded', credentials: creds, service: 'iam', region: 'eu-west-1' });
    assert.equal(unknown.status, 400);
    assert.equal(xmlCode(unknown.body), 'InvalidAction');
    assert.match(unknown.body, /xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/"/);
    const records = await f.audit();
    assert.ok(records.some((r) => r.principal === 'anonymous' && r.action === 'iam:ListUsers' && r.reason === 'WRONG_CREDENTIAL_SCOPE' && r.status === 403));
  });

  test('roles with trust policies, assumed through STS; policy documents come back URL-encoded', async (t) => {
    const f = await startManagement(t, { backend: b });
    const adminCreds = await f.user('admin', [ALLOW_ALL]);
    const admin = iam(f, adminCreds);
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: USER('admin') }, Action: 'sts:AssumeRole' }] });
    const role = await admin.send(new CreateRoleCommand({ RoleName: 'reader', AssumeRolePolicyDocument: trust, MaxSessionDuration: 7200, Description: 'reads' }));
    assert.equal(role.Role?.MaxSessionDuration, 7200);
    assert.equal(role.Role?.AssumeRolePolicyDocument, encodeURIComponent(trust));
    assert.equal(decodeURIComponent(role.Role.AssumeRolePolicyDocument), trust);
    await rejects(admin.send(new CreateRoleCommand({ RoleName: 'READER', AssumeRolePolicyDocument: trust })), EntityAlreadyExistsException, 409);
    await rejects(admin.send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: '{"Statement":[]}' })), MalformedPolicyDocumentException, 400);
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:ListThings', Resource: '*' }] });
    await admin.send(new CreatePolicyCommand({ PolicyName: 'things', PolicyDocument: doc }));
    await admin.send(new AttachRolePolicyCommand({ RoleName: 'reader', PolicyArn: POLICY('things') }));

    const sts = new STSClient({ endpoint: f.url, region: REGION, credentials: adminCreds, requestHandler: { httpsAgent: f.agent }, maxAttempts: 1 });
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: role.Role.Arn!, RoleSessionName: 's1' }));
    const session = { accessKeyId: out.Credentials!.AccessKeyId!, secretAccessKey: out.Credentials!.SecretAccessKey!, sessionToken: out.Credentials!.SessionToken! };
    await iot(f, session).send(new ListThingsCommand({}));
    await rejects(iam(f, session).send(new GetRoleCommand({ RoleName: 'reader' })), IAMServiceException, 403);

    // A trust policy that no longer names the caller.
    await admin.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'reader', PolicyDocument: trust.replace(USER('admin'), USER('nobody')) }));
    await rejects(sts.send(new AssumeRoleCommand({ RoleArn: role.Role.Arn!, RoleSessionName: 's2' })), Error, 403);
    const got = await admin.send(new GetRoleCommand({ RoleName: 'Reader' }));
    assert.equal(got.Role?.RoleName, 'reader');
    assert.match(decodeURIComponent(got.Role.AssumeRolePolicyDocument!), /user\/nobody/);
    const roles = await admin.send(new ListRolesCommand({}));
    assert.deepEqual(roles.Roles?.map((r) => r.RoleName), ['reader']);

    // Versions: the document is returned by GetPolicyVersion only, URL-encoded.
    const doc2 = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:ListThings', 'iot:DescribeThing'], Resource: '*' }] });
    const v2 = await admin.send(new CreatePolicyVersionCommand({ PolicyArn: POLICY('things'), PolicyDocument: doc2, SetAsDefault: true }));
    assert.equal(v2.PolicyVersion?.VersionId, 'v2');
    assert.equal(v2.PolicyVersion?.IsDefaultVersion, true);
    assert.equal(v2.PolicyVersion?.Document, undefined);
    const gv = await admin.send(new GetPolicyVersionCommand({ PolicyArn: POLICY('things'), VersionId: 'v2' }));
    assert.equal(decodeURIComponent(gv.PolicyVersion!.Document!), doc2);
    const versions = await admin.send(new ListPolicyVersionsCommand({ PolicyArn: POLICY('things') }));
    assert.deepEqual(versions.Versions?.map((v) => [v.VersionId, v.IsDefaultVersion]), [['v2', true], ['v1', false]]);
    await rejects(admin.send(new DeletePolicyVersionCommand({ PolicyArn: POLICY('things'), VersionId: 'v2' })), DeleteConflictException, 409);
    await admin.send(new SetDefaultPolicyVersionCommand({ PolicyArn: POLICY('things'), VersionId: 'v1' }));
    await admin.send(new DeletePolicyVersionCommand({ PolicyArn: POLICY('things'), VersionId: 'v2' }));
    await rejects(admin.send(new GetPolicyVersionCommand({ PolicyArn: POLICY('things'), VersionId: 'v2' })), NoSuchEntityException, 404);
    await rejects(admin.send(new CreatePolicyVersionCommand({ PolicyArn: POLICY('things'), PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}' })), MalformedPolicyDocumentException, 400);
    await rejects(admin.send(new GetPolicyVersionCommand({ PolicyArn: POLICY('missing'), VersionId: 'v1' })), NoSuchEntityException, 404);
  });

  test('errors, tags, limits and paging', async (t) => {
    const f = await startManagement(t, { backend: b });
    const admin = iam(f, await f.user('admin', [ALLOW_ALL]));
    await rejects(admin.send(new CreateUserCommand({ UserName: 'Admin' })), EntityAlreadyExistsException, 409);
    await rejects(admin.send(new CreatePolicyCommand({ PolicyName: 'broken', PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:ListThings","Resource":"*","Principal":"*"}]}' })), MalformedPolicyDocumentException, 400);
    await rejects(admin.send(new AttachUserPolicyCommand({ UserName: 'admin', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' })), NoSuchEntityException, 404);
    await rejects(admin.send(new DeleteUserCommand({ UserName: 'ghost' })), NoSuchEntityException, 404);
    await admin.send(new CreateAccessKeyCommand({}));
    await rejects(admin.send(new CreateAccessKeyCommand({ UserName: 'admin' })), LimitExceededException, 409);

    await admin.send(new TagUserCommand({ UserName: 'admin', Tags: [{ Key: 'b', Value: '2' }, { Key: 'a', Value: '1' }] }));
    assert.deepEqual((await admin.send(new ListUserTagsCommand({ UserName: 'admin' }))).Tags, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }]);
    await admin.send(new UntagUserCommand({ UserName: 'admin', TagKeys: ['a'] }));
    assert.deepEqual((await admin.send(new ListUserTagsCommand({ UserName: 'admin' }))).Tags, [{ Key: 'b', Value: '2' }]);

    for (const n of ['u1', 'u2', 'u3', 'u4']) await admin.send(new CreateUserCommand({ UserName: n }));
    const seen: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const p = await admin.send(new ListUsersCommand({ MaxItems: 2, ...(marker !== undefined ? { Marker: marker } : {}) }));
      seen.push(...(p.Users ?? []).map((u) => u.UserName!));
      if (p.IsTruncated !== true) break;
      marker = p.Marker;
    }
    assert.deepEqual(seen, ['admin', 'u1', 'u2', 'u3', 'u4']);
    const policies = await admin.send(new ListPoliciesCommand({ Scope: 'Local' }));
    assert.ok((policies.Policies ?? []).length >= 1);
    assert.deepEqual((await admin.send(new ListPoliciesCommand({ Scope: 'AWS' }))).Policies ?? [], []);
  });

  test('a user denied iam:DeleteUser on the administrator cannot get round it with another spelling', async (t) => {
    const f = await startManagement(t, { backend: b });
    const admin = iam(f, await f.user('admin', [ALLOW_ALL]));
    const guard = await f.user('guard', [ALLOW_ALL, { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'iam:*', Resource: USER('admin') }] }]);
    await rejects(iam(f, guard).send(new GetUserCommand({ UserName: 'ADMIN' })), IAMServiceException, 403);
    await rejects(iam(f, guard).send(new AttachUserPolicyCommand({ UserName: 'Admin', PolicyArn: POLICY('x') })), IAMServiceException, 403);
    assert.equal((await admin.send(new GetUserCommand({ UserName: 'admin' }))).User?.UserName, 'admin');
  });

  test('every operation is denied to a caller without permission, before anything is looked at or changed', async (t) => {
    const f = await startManagement(t, { backend: b });
    const nobody = await f.user('nobody', []);
    for (const op of IAM_OPERATIONS) assert.ok(Object.hasOwn(IAM_ACTIONS, op.action), `${op.action} is in the action catalog`);
    const before = { users: (await f.control.listUsers()).length, roles: (await f.control.listRoles()).length, policies: (await f.control.listIamPolicies()).length };
    for (const op of IAM_OPERATIONS) {
      const a = await call(f, { path: '/', body: iamExampleBody(op), contentType: 'application/x-www-form-urlencoded', credentials: nobody, service: 'iam' });
      assert.equal(a.status, 403, `${op.name}: ${a.body}`);
      assert.equal(xmlCode(a.body), 'AccessDenied', op.name);
      assert.match(a.body, new RegExp(op.action), op.name);
    }
    assert.deepEqual({ users: (await f.control.listUsers()).length, roles: (await f.control.listRoles()).length, policies: (await f.control.listIamPolicies()).length }, before);
    const records = await f.audit();
    for (const op of IAM_OPERATIONS) assert.ok(records.some((r) => r.action === op.action && r.decision === 'deny'), op.name);
  });
});
