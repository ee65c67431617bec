/**
 * Static thing groups and membership: CreateThingGroup, DescribeThingGroup,
 * ListThingGroups, DeleteThingGroup, AddThingToThingGroup, RemoveThingFromThingGroup,
 * ListThingsInThingGroup, ListThingGroupsForThing
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThingGroup.html and
 * the neighbouring pages), on the registry's thing groups.
 *
 * What differs from AWS IoT: groups have no version (`expectedVersion` is refused, no
 * `version` is answered) and no attributes (a non-empty `attributePayload` is refused);
 * dynamic groups do not exist. The registry refuses to delete a group that has child
 * groups or attached policies (InvalidRequestException), where AWS IoT detaches them.
 */
import type { ThingGroup } from '../../../identity/registry.js';
import { parseIotArn } from '../aws/arns.js';
import { AwsServiceError } from '../aws/errors.js';
import { epochSeconds, out, page, type AwsCall, type AwsOperation, type Input } from '../aws/operation.js';
import { DEFAULT_PAGE_SIZE, arn, authorizeOn, derivedId, iotInput } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

const groupId = (g: ThingGroup): string => derivedId('thinggroup', g.name, g.createdAt);
const groupRef = (ctx: Ctx, name: string): { groupName: string; groupArn: string } => ({ groupName: name, groupArn: arn(ctx, 'thinggroup', name) });

async function getGroup(ctx: Ctx, name: string): Promise<ThingGroup> {
  const g = await ctx.registry.getThingGroup(name);
  if (g === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing group \`${name}\` does not exist`);
  return g;
}

async function createThingGroup(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingGroupName');
  const parent = input.string('parentGroupName');
  const props = input.object('thingGroupProperties');
  const description = props !== undefined ? input.string('thingGroupDescription', props) : undefined;
  const payload = props !== undefined ? input.object('attributePayload', props) : undefined;
  if (payload !== undefined && Object.keys(input.stringMap('attributes', payload) ?? {}).length > 0) throw input.fail('thing group attributes are not supported by this gateway');
  const tags = input.tags();
  const groupArn = arn(ctx, 'thinggroup', name);
  await authorizeOn(ctx, call, 'iot:CreateThingGroup', groupArn, undefined, tags);
  const existing = await ctx.registry.getThingGroup(name);
  let group: ThingGroup;
  if (existing !== undefined) {
    if ((existing.parent ?? undefined) !== parent || (existing.description ?? undefined) !== description) {
      throw new AwsServiceError('ResourceAlreadyExistsException', `thing group \`${name}\` already exists with a different configuration`, { resourceId: groupId(existing), resourceArn: groupArn });
    }
    group = existing;
  } else {
    group = await ctx.registry.createThingGroup(name, { ...(parent !== undefined ? { parent } : {}), ...(description !== undefined ? { description } : {}) });
    if (tags !== undefined && Object.keys(tags).length > 0) await ctx.control.tagResource({ kind: 'thinggroup', name }, tags);
  }
  return { thingGroupName: group.name, thingGroupArn: groupArn, thingGroupId: groupId(group) };
}

async function ancestors(ctx: Ctx, group: ThingGroup): Promise<ThingGroup[]> {
  const chain: ThingGroup[] = [];
  let parent = group.parent;
  while (parent !== null) {
    const g = await ctx.registry.getThingGroup(parent);
    if (g === undefined) break;
    chain.unshift(g);
    parent = g.parent;
  }
  return chain;
}

async function describeThingGroup(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingGroupName');
  const groupArn = arn(ctx, 'thinggroup', name);
  await authorizeOn(ctx, call, 'iot:DescribeThingGroup', groupArn, { kind: 'thinggroup', name });
  const group = await getGroup(ctx, name);
  const chain = await ancestors(ctx, group);
  return {
    thingGroupName: group.name,
    thingGroupId: groupId(group),
    thingGroupArn: groupArn,
    thingGroupProperties: out({ thingGroupDescription: group.description ?? undefined }),
    thingGroupMetadata: out({
      parentGroupName: group.parent ?? undefined,
      rootToParentThingGroups: chain.map((g) => groupRef(ctx, g.name)),
      creationDate: epochSeconds(group.createdAt),
    }),
    status: 'ACTIVE',
  };
}

function descendants(all: readonly ThingGroup[], root: string): Set<string> {
  const found = new Set<string>();
  let frontier = [root];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const g of all) if (g.parent !== null && frontier.includes(g.parent) && !found.has(g.name)) {
      found.add(g.name);
      next.push(g.name);
    }
    frontier = next;
  }
  return found;
}

async function listThingGroups(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  const parent = input.queryString('parentGroup');
  const prefix = input.queryString('namePrefixFilter');
  const recursive = input.queryBool('recursive') === true;
  await call.authorize({ action: 'iot:ListThingGroups', resource: '*' });
  const all = await ctx.registry.listThingGroups();
  let groups = all;
  if (parent !== undefined) {
    const under = recursive ? descendants(all, parent) : new Set(all.filter((g) => g.parent === parent).map((g) => g.name));
    groups = groups.filter((g) => under.has(g.name));
  }
  if (prefix !== undefined) groups = groups.filter((g) => g.name.startsWith(prefix));
  groups = [...groups].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const p = page(groups, (g) => g.name, token, size, input);
  return out({ thingGroups: p.items.map((g) => groupRef(ctx, g.name)), nextToken: p.next });
}

async function deleteThingGroup(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingGroupName');
  const expected = input.queryInt('expectedVersion', 0, Number.MAX_SAFE_INTEGER);
  await authorizeOn(ctx, call, 'iot:DeleteThingGroup', arn(ctx, 'thinggroup', name), { kind: 'thinggroup', name });
  if (expected !== undefined) throw input.fail('expectedVersion is not supported: this gateway keeps no thing group versions');
  try {
    await ctx.registry.deleteThingGroup(name);
  } catch (e) {
    // Deleting a group that does not exist succeeds, as in AWS IoT.
    if (!(e instanceof Error && 'code' in e && e.code === 'THING_GROUP_NOT_FOUND')) throw e;
  }
  return {};
}

/** The group and thing of Add/RemoveThingFromThingGroup, by name or by ARN (not both). */
function membership(ctx: Ctx, input: Input): { group: string; thing: string } {
  const pick = (nameField: string, arnField: string, type: 'thinggroup' | 'thing'): string => {
    const name = input.string(nameField);
    const a = input.string(arnField);
    if (name !== undefined && a !== undefined) throw input.fail(`give ${nameField} or ${arnField}, not both`);
    if (name !== undefined && name !== '') return name;
    if (a !== undefined) {
      const parsed = parseIotArn(ctx.deployment(), a);
      if (parsed === undefined || parsed.type !== type) throw input.fail(`${arnField} is not a ${type} ARN of this gateway`);
      return parsed.name;
    }
    throw input.fail(`${nameField} or ${arnField} is required`);
  };
  return { group: pick('thingGroupName', 'thingGroupArn', 'thinggroup'), thing: pick('thingName', 'thingArn', 'thing') };
}

async function addThingToThingGroup(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const { group, thing } = membership(ctx, input);
  // The action applies to both resources (the service authorization reference lists thing and thinggroup as required).
  await authorizeOn(ctx, call, 'iot:AddThingToThingGroup', arn(ctx, 'thinggroup', group), { kind: 'thinggroup', name: group });
  await authorizeOn(ctx, call, 'iot:AddThingToThingGroup', arn(ctx, 'thing', thing), { kind: 'thing', name: thing });
  await ctx.registry.addThingToGroup(group, thing);
  return {};
}

async function removeThingFromThingGroup(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const { group, thing } = membership(ctx, input);
  await authorizeOn(ctx, call, 'iot:RemoveThingFromThingGroup', arn(ctx, 'thinggroup', group), { kind: 'thinggroup', name: group });
  await authorizeOn(ctx, call, 'iot:RemoveThingFromThingGroup', arn(ctx, 'thing', thing), { kind: 'thing', name: thing });
  await ctx.registry.removeThingFromGroup(group, thing);
  return {};
}

async function listThingsInThingGroup(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingGroupName');
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  const recursive = input.queryBool('recursive') === true;
  await authorizeOn(ctx, call, 'iot:ListThingsInThingGroup', arn(ctx, 'thinggroup', name), { kind: 'thinggroup', name });
  await getGroup(ctx, name);
  const groups = recursive ? [name, ...descendants(await ctx.registry.listThingGroups(), name)] : [name];
  const things = new Set<string>();
  for (const g of groups) for (const t of await ctx.registry.thingsInGroup(g)) things.add(t);
  const sorted = [...things].sort();
  const p = page(sorted, (t) => t, token, size, input);
  return out({ things: p.items, nextToken: p.next });
}

async function listThingGroupsForThing(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingName');
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  await authorizeOn(ctx, call, 'iot:ListThingGroupsForThing', arn(ctx, 'thing', name), { kind: 'thing', name });
  if ((await ctx.registry.getThing(name)) === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing \`${name}\` does not exist`);
  const groups = (await ctx.registry.groupsForThing(name)).sort();
  const p = page(groups, (g) => g, token, size, input);
  return out({ thingGroups: p.items.map((g) => groupRef(ctx, g)), nextToken: p.next });
}

export const GROUP_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'CreateThingGroup', method: 'POST', path: '/thing-groups/{thingGroupName}', action: 'iot:CreateThingGroup', summary: 'Creates a static thing group', example: { path: '/thing-groups/example-group', body: {} }, handler: createThingGroup },
  { name: 'DescribeThingGroup', method: 'GET', path: '/thing-groups/{thingGroupName}', action: 'iot:DescribeThingGroup', summary: 'Describes a thing group', example: { path: '/thing-groups/example-group' }, handler: describeThingGroup },
  { name: 'ListThingGroups', method: 'GET', path: '/thing-groups', action: 'iot:ListThingGroups', summary: 'Lists thing groups', example: { path: '/thing-groups' }, handler: listThingGroups },
  { name: 'DeleteThingGroup', method: 'DELETE', path: '/thing-groups/{thingGroupName}', action: 'iot:DeleteThingGroup', summary: 'Deletes a thing group', example: { path: '/thing-groups/example-group' }, handler: deleteThingGroup },
  { name: 'AddThingToThingGroup', method: 'PUT', path: '/thing-groups/addThingToThingGroup', action: 'iot:AddThingToThingGroup', summary: 'Adds a thing to a thing group', example: { path: '/thing-groups/addThingToThingGroup', body: { thingGroupName: 'example-group', thingName: 'example-thing' } }, handler: addThingToThingGroup },
  { name: 'RemoveThingFromThingGroup', method: 'PUT', path: '/thing-groups/removeThingFromThingGroup', action: 'iot:RemoveThingFromThingGroup', summary: 'Removes a thing from a thing group', example: { path: '/thing-groups/removeThingFromThingGroup', body: { thingGroupName: 'example-group', thingName: 'example-thing' } }, handler: removeThingFromThingGroup },
  { name: 'ListThingsInThingGroup', method: 'GET', path: '/thing-groups/{thingGroupName}/things', action: 'iot:ListThingsInThingGroup', summary: 'Lists the things of a thing group', example: { path: '/thing-groups/example-group/things' }, handler: listThingsInThingGroup },
  { name: 'ListThingGroupsForThing', method: 'GET', path: '/things/{thingName}/thing-groups', action: 'iot:ListThingGroupsForThing', summary: 'Lists the thing groups of a thing', example: { path: '/things/example-thing/thing-groups' }, handler: listThingGroupsForThing },
];
