/**
 * Things: CreateThing, DescribeThing, ListThings, UpdateThing, DeleteThing
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThing.html and the
 * neighbouring pages), on the registry's things.
 *
 * What differs from AWS IoT: the registry keeps no thing version, so `version` is not
 * answered and an `expectedVersion` is refused (InvalidRequestException) rather than
 * ignored; it keeps no thing-type records, so a `thingTypeName` is accepted as a label
 * without checking that such a type was created; billing groups do not exist.
 */
import type { Thing } from '../../../identity/registry.js';
import { AwsServiceError } from '../aws/errors.js';
import { out, page, type AwsCall, type AwsOperation, type Input } from '../aws/operation.js';
import { DEFAULT_PAGE_SIZE, arn, authorizeOn, derivedId, iotInput } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

/** AWS IoT's ThingTypeName pattern and length (the registry keeps the same rule). */
const THING_TYPE_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;

function refuseVersion(input: Input, expected: number | undefined): void {
  if (expected !== undefined) throw input.fail('expectedVersion is not supported: this gateway\'s registry keeps no thing versions');
}

/** `attributePayload` as the registry's update: replace (default) or merge, where an empty value removes. */
function attributeUpdate(input: Input, current: Readonly<Record<string, string>>, payload: Readonly<Record<string, unknown>>): { setAttributes: Record<string, string>; removeAttributes: string[] } {
  const attributes = input.stringMap('attributes', payload) ?? {};
  const mergeValue = payload['merge'];
  if (mergeValue !== undefined && typeof mergeValue !== 'boolean') throw input.fail('attributePayload.merge must be a boolean');
  const merge = mergeValue === true;
  const setAttributes: Record<string, string> = {};
  const removeAttributes: string[] = [];
  for (const [k, v] of Object.entries(attributes)) {
    if (v === '') {
      if (Object.hasOwn(current, k)) removeAttributes.push(k);
    } else {
      setAttributes[k] = v;
    }
  }
  if (!merge) for (const k of Object.keys(current)) if (!Object.hasOwn(attributes, k)) removeAttributes.push(k);
  return { setAttributes, removeAttributes };
}

function sameAttributes(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

const thingId = (t: Thing): string => derivedId('thing', t.name, t.createdAt);

async function createThing(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingName');
  const type = input.string('thingTypeName');
  const payload = input.object('attributePayload');
  const attributes = payload !== undefined ? input.stringMap('attributes', payload) ?? {} : {};
  if (input.string('billingGroupName') !== undefined) throw input.fail('billing groups are not supported by this gateway');
  // Checked before anything is created: the thing and its type are two registry writes.
  if (type !== undefined && !THING_TYPE_NAME.test(type)) throw input.fail('thingTypeName must be 1 to 128 of A-Z a-z 0-9 : _ -');
  const thingArn = arn(ctx, 'thing', name);
  await authorizeOn(ctx, call, 'iot:CreateThing', thingArn);
  for (const [k, v] of Object.entries(attributes)) if (v === '') throw input.fail(`attribute \`${k}\` has an empty value`);
  let thing: Thing;
  const existing = await ctx.registry.getThing(name);
  if (existing !== undefined) {
    // Same name and configuration: success, as AWS IoT answers a repeated CreateThing.
    if ((existing.thingTypeName ?? undefined) !== type || !sameAttributes(existing.attributes, attributes)) {
      throw new AwsServiceError('ResourceAlreadyExistsException', `thing \`${name}\` already exists with a different configuration`, { resourceId: thingId(existing), resourceArn: thingArn });
    }
    thing = existing;
  } else {
    thing = await ctx.registry.createThing(name, attributes);
    if (type !== undefined) thing = (await ctx.registry.updateThing(name, { thingTypeName: type })).thing;
  }
  return { thingName: thing.name, thingArn, thingId: thingId(thing) };
}

async function describeThing(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingName');
  const thingArn = arn(ctx, 'thing', name);
  await authorizeOn(ctx, call, 'iot:DescribeThing', thingArn, { kind: 'thing', name });
  const thing = await ctx.registry.getThing(name);
  if (thing === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing \`${name}\` does not exist`);
  return out({
    defaultClientId: thing.name,
    thingName: thing.name,
    thingId: thingId(thing),
    thingArn,
    thingTypeName: thing.thingTypeName ?? undefined,
    attributes: { ...thing.attributes },
  });
}

async function listThings(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  const attributeName = input.queryString('attributeName');
  const attributeValue = input.queryString('attributeValue');
  const type = input.queryString('thingTypeName');
  const prefixValue = input.queryBool('usePrefixAttributeValue') === true;
  if ((attributeName === undefined) !== (attributeValue === undefined)) throw input.fail('give attributeName and attributeValue together');
  await call.authorize({ action: 'iot:ListThings', resource: '*' });
  const matches = (t: Thing): boolean => {
    if (type !== undefined && t.thingTypeName !== type) return false;
    if (attributeName !== undefined) {
      const v = t.attributes[attributeName];
      if (v === undefined) return false;
      return prefixValue ? v.startsWith(attributeValue!) : v === attributeValue;
    }
    return true;
  };
  const things = (await ctx.registry.listThings()).filter(matches);
  const p = page(things, (t) => t.name, token, size, input);
  return out({
    things: p.items.map((t) => out({ thingName: t.name, thingTypeName: t.thingTypeName ?? undefined, thingArn: arn(ctx, 'thing', t.name), attributes: { ...t.attributes } })),
    nextToken: p.next,
  });
}

async function updateThing(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingName');
  const type = input.string('thingTypeName');
  const removeType = input.bool('removeThingType') === true;
  const payload = input.object('attributePayload');
  const expected = input.int('expectedVersion', 0, Number.MAX_SAFE_INTEGER);
  if (removeType && type !== undefined) throw input.fail('give thingTypeName or removeThingType, not both');
  await authorizeOn(ctx, call, 'iot:UpdateThing', arn(ctx, 'thing', name), { kind: 'thing', name });
  refuseVersion(input, expected);
  const thing = await ctx.registry.getThing(name);
  if (thing === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing \`${name}\` does not exist`);
  const attributes = payload !== undefined ? attributeUpdate(input, thing.attributes, payload) : { setAttributes: {}, removeAttributes: [] };
  await ctx.registry.updateThing(name, {
    ...(removeType ? { thingTypeName: null } : type !== undefined ? { thingTypeName: type } : {}),
    ...attributes,
  });
  return {};
}

async function deleteThing(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('thingName');
  const expected = input.queryInt('expectedVersion', 0, Number.MAX_SAFE_INTEGER);
  await authorizeOn(ctx, call, 'iot:DeleteThing', arn(ctx, 'thing', name), { kind: 'thing', name });
  refuseVersion(input, expected);
  // AWS IoT refuses to delete a thing that still has principals attached.
  const principals = await ctx.registry.certificatesForThing(name);
  if (principals.length > 0) throw input.fail(`thing \`${name}\` still has ${principals.length} certificate(s) attached; detach them first (DetachThingPrincipal)`);
  try {
    await ctx.registry.deleteThing(name);
  } catch (e) {
    // Deleting a thing that does not exist succeeds, as in AWS IoT.
    if (!(e instanceof Error && 'code' in e && e.code === 'THING_NOT_FOUND')) throw e;
  }
  return {};
}

export const THING_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'CreateThing', method: 'POST', path: '/things/{thingName}', action: 'iot:CreateThing', summary: 'Creates a thing in the registry', example: { path: '/things/example-thing', body: {} }, handler: createThing },
  { name: 'DescribeThing', method: 'GET', path: '/things/{thingName}', action: 'iot:DescribeThing', summary: 'Describes a thing', example: { path: '/things/example-thing' }, handler: describeThing },
  { name: 'ListThings', method: 'GET', path: '/things', action: 'iot:ListThings', summary: 'Lists things, by attribute or type', example: { path: '/things?maxResults=10' }, handler: listThings },
  { name: 'UpdateThing', method: 'PATCH', path: '/things/{thingName}', action: 'iot:UpdateThing', summary: 'Updates a thing\'s attributes and type', example: { path: '/things/example-thing', body: { attributePayload: { attributes: { a: '1' }, merge: true } } }, handler: updateThing },
  { name: 'DeleteThing', method: 'DELETE', path: '/things/{thingName}', action: 'iot:DeleteThing', summary: 'Deletes a thing', example: { path: '/things/example-thing' }, handler: deleteThing },
];
