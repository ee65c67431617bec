/**
 * Role aliases of the credentials provider: CreateRoleAlias, DescribeRoleAlias,
 * ListRoleAliases, UpdateRoleAlias, DeleteRoleAlias
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html and the
 * neighbouring pages), and tags on IoT resources: TagResource, UntagResource,
 * ListTagsForResource — both over the control store.
 *
 * As in AWS IoT, naming a role in a role alias also needs `iam:PassRole` on the role
 * (https://docs.aws.amazon.com/iot/latest/developerguide/authorizing-direct-aws.html).
 * What differs: tags can also be set on things and device certificates (the control
 * store keeps tags for every IoT resource it knows); tags given with a creation are
 * written just after it, not in the same transaction.
 */
import type { RoleAlias, TagTarget } from '../../../identity/control.js';
import { parseIotArn, tagTargetOf } from '../aws/arns.js';
import { AwsServiceError } from '../aws/errors.js';
import { epochSeconds, out, page, tagList, type AwsCall, type AwsOperation, type Input } from '../aws/operation.js';
import { DEFAULT_PAGE_SIZE, exampleArn, arn, authorizeOn, createdKey, iotInput, sortBy } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

async function getAlias(ctx: Ctx, alias: string): Promise<RoleAlias> {
  const a = await ctx.control.getRoleAlias(alias);
  if (a === undefined) throw new AwsServiceError('ResourceNotFoundException', `role alias \`${alias}\` does not exist`);
  return a;
}

async function createRoleAlias(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const alias = input.label('roleAlias');
  const roleArn = input.requiredString('roleArn');
  const duration = input.int('credentialDurationSeconds', 900, 43200);
  const tags = input.tags();
  const aliasArn = arn(ctx, 'rolealias', alias);
  await authorizeOn(ctx, call, 'iot:CreateRoleAlias', aliasArn, undefined, tags);
  await call.authorize({ action: 'iam:PassRole', resource: roleArn });
  const a = await ctx.control.createRoleAlias(alias, roleArn, { ...(duration !== undefined ? { credentialDurationSeconds: duration } : {}), ...(tags !== undefined ? { tags } : {}) });
  return { roleAlias: a.alias, roleAliasArn: a.arn };
}

async function describeRoleAlias(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const alias = input.label('roleAlias');
  await authorizeOn(ctx, call, 'iot:DescribeRoleAlias', arn(ctx, 'rolealias', alias), { kind: 'rolealias', name: alias });
  const a = await getAlias(ctx, alias);
  return {
    roleAliasDescription: {
      roleAlias: a.alias, roleAliasArn: a.arn, roleArn: a.roleArn, owner: ctx.deployment().accountId,
      credentialDurationSeconds: a.credentialDurationSeconds, creationDate: epochSeconds(a.createdAt), lastModifiedDate: epochSeconds(a.updatedAt),
    },
  };
}

async function listRoleAliases(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('pageSize', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const marker = input.queryString('marker');
  const descending = input.queryBool('isAscendingOrder') !== true;
  await call.authorize({ action: 'iot:ListRoleAliases', resource: '*' });
  const key = (a: RoleAlias): string => createdKey(a.createdAt, a.alias);
  const all = sortBy(await ctx.control.listRoleAliases(), key, descending);
  const p = page(all, key, marker, size, input, descending);
  return out({ roleAliases: p.items.map((a) => a.alias), nextMarker: p.next });
}

async function updateRoleAlias(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const alias = input.label('roleAlias');
  const roleArn = input.string('roleArn');
  const duration = input.int('credentialDurationSeconds', 900, 43200);
  await authorizeOn(ctx, call, 'iot:UpdateRoleAlias', arn(ctx, 'rolealias', alias), { kind: 'rolealias', name: alias });
  if (roleArn !== undefined) await call.authorize({ action: 'iam:PassRole', resource: roleArn });
  const a = await ctx.control.updateRoleAlias(alias, { ...(roleArn !== undefined ? { roleArn } : {}), ...(duration !== undefined ? { credentialDurationSeconds: duration } : {}) });
  return { roleAlias: a.alias, roleAliasArn: a.arn };
}

async function deleteRoleAlias(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const alias = input.label('roleAlias');
  await authorizeOn(ctx, call, 'iot:DeleteRoleAlias', arn(ctx, 'rolealias', alias), { kind: 'rolealias', name: alias });
  await ctx.control.deleteRoleAlias(alias);
  return {};
}

/** The taggable IoT resource an ARN names. */
function taggable(ctx: Ctx, input: Input, resourceArn: string | undefined): { target: TagTarget; arn: string } {
  if (resourceArn === undefined || resourceArn === '') throw input.fail('resourceArn is required');
  const parsed = parseIotArn(ctx.deployment(), resourceArn);
  const target = parsed !== undefined ? tagTargetOf(parsed.type, parsed.name) : undefined;
  if (parsed === undefined || target === undefined) throw input.fail('resourceArn must name a thing, thing group, policy, certificate, CA certificate or role alias of this gateway');
  return { target, arn: resourceArn };
}

async function tagResource(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const r = taggable(ctx, input, input.string('resourceArn'));
  const tags = input.tags();
  if (tags === undefined) throw input.fail('tags is required');
  await authorizeOn(ctx, call, 'iot:TagResource', r.arn, r.target, tags);
  await ctx.control.tagResource(r.target, tags);
  return {};
}

async function untagResource(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const r = taggable(ctx, input, input.string('resourceArn'));
  const keys = input.stringList('tagKeys');
  if (keys === undefined) throw input.fail('tagKeys is required');
  // aws:TagKeys are the keys being removed.
  await authorizeOn(ctx, call, 'iot:UntagResource', r.arn, r.target, undefined, keys);
  await ctx.control.untagResource(r.target, keys);
  return {};
}

async function listTagsForResource(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const r = taggable(ctx, input, input.queryString('resourceArn'));
  const token = input.queryString('nextToken');
  await authorizeOn(ctx, call, 'iot:ListTagsForResource', r.arn, r.target);
  const tags = tagList(await ctx.control.tagsOf(r.target));
  const p = page(tags, (t) => t.Key, token, DEFAULT_PAGE_SIZE, input);
  return out({ tags: p.items, nextToken: p.next });
}

const ALIAS_PATH = '/role-aliases/example-alias';
const THING_ARN = exampleArn('thing', 'example-thing');

export const ROLE_ALIAS_AND_TAG_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'CreateRoleAlias', method: 'POST', path: '/role-aliases/{roleAlias}', action: 'iot:CreateRoleAlias', summary: 'Creates a role alias for the credentials provider', example: { path: ALIAS_PATH, body: { roleArn: 'arn:aws:iam::000000000000:role/example-role' } }, handler: createRoleAlias },
  { name: 'DescribeRoleAlias', method: 'GET', path: '/role-aliases/{roleAlias}', action: 'iot:DescribeRoleAlias', summary: 'Describes a role alias', example: { path: ALIAS_PATH }, handler: describeRoleAlias },
  { name: 'ListRoleAliases', method: 'GET', path: '/role-aliases', action: 'iot:ListRoleAliases', summary: 'Lists role aliases', example: { path: '/role-aliases' }, handler: listRoleAliases },
  { name: 'UpdateRoleAlias', method: 'PUT', path: '/role-aliases/{roleAlias}', action: 'iot:UpdateRoleAlias', summary: 'Changes a role alias\'s role or duration', example: { path: ALIAS_PATH, body: { credentialDurationSeconds: 900 } }, handler: updateRoleAlias },
  { name: 'DeleteRoleAlias', method: 'DELETE', path: '/role-aliases/{roleAlias}', action: 'iot:DeleteRoleAlias', summary: 'Deletes a role alias', example: { path: ALIAS_PATH }, handler: deleteRoleAlias },
  { name: 'TagResource', method: 'POST', path: '/tags', action: 'iot:TagResource', summary: 'Adds or changes tags of an IoT resource', example: { path: '/tags', body: { resourceArn: THING_ARN, tags: [{ Key: 'env', Value: 'lab' }] } }, handler: tagResource },
  { name: 'UntagResource', method: 'POST', path: '/untag', action: 'iot:UntagResource', summary: 'Removes tags of an IoT resource', example: { path: '/untag', body: { resourceArn: THING_ARN, tagKeys: ['env'] } }, handler: untagResource },
  { name: 'ListTagsForResource', method: 'GET', path: '/tags', action: 'iot:ListTagsForResource', summary: 'Lists the tags of an IoT resource', example: { path: `/tags?resourceArn=${encodeURIComponent(THING_ARN)}` }, handler: listTagsForResource },
];
