/**
 * Thing types: CreateThingType, DescribeThingType, ListThingTypes, DeprecateThingType,
 * DeleteThingType (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThingType.html
 * and the neighbouring pages), on the registry's declared types.
 *
 * As in AWS IoT: a type's properties never change (a repeated CreateThingType with the same ones succeeds); a deprecated type cannot be given to a
 * thing (things that have it keep it); only a type deprecated at least five minutes ago
 * and given to no thing can be deleted
 * (https://docs.aws.amazon.com/iot/latest/developerguide/delete-thing-types.html).
 *
 * What differs: thing types cannot be tagged (a non-empty `tags` is refused rather than
 * dropped), MQTT 5 propagating attributes are refused, and UpdateThingType is not served.
 */
import type { ThingType } from '../../../identity/registry.js';
import { AwsServiceError } from '../aws/errors.js';
import { epochSeconds, out, page, type AwsCall, type AwsOperation, type Input } from '../aws/operation.js';
import { DEFAULT_PAGE_SIZE, arn, derivedId, iotInput } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

/** AWS IoT's ThingTypeName pattern and length (the registry keeps the same rule). */
const THING_TYPE_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;

const thingTypeId = (t: ThingType): string => derivedId('thingtype', t.name, t.createdAt);

function typeName(input: Input, value: string): string {
  if (!THING_TYPE_NAME.test(value)) throw input.fail('thingTypeName must be 1 to 128 of A-Z a-z 0-9 : _ -');
  return value;
}

function properties(t: ThingType): Record<string, unknown> {
  return out({ thingTypeDescription: t.description ?? undefined, searchableAttributes: [...t.searchableAttributes] });
}

function metadata(t: ThingType): Record<string, unknown> {
  return out({
    deprecated: t.deprecatedAt !== null,
    deprecationDate: t.deprecatedAt !== null ? epochSeconds(t.deprecatedAt) : undefined,
    creationDate: epochSeconds(t.createdAt),
  });
}

async function createThingType(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = typeName(input, input.label('thingTypeName'));
  const props = input.object('thingTypeProperties') ?? {};
  const description = input.string('thingTypeDescription', props);
  const searchable = props['searchableAttributes'];
  if (searchable !== undefined && searchable !== null && (!Array.isArray(searchable) || searchable.some((a) => typeof a !== 'string'))) {
    throw input.fail('thingTypeProperties.searchableAttributes must be a list of strings');
  }
  const mqtt5 = input.object('mqtt5Configuration', props);
  const propagating = mqtt5?.['propagatingAttributes'];
  if (Array.isArray(propagating) && propagating.length > 0) throw input.fail('MQTT 5 propagating attributes are not supported by this gateway');
  const tags = input.tags();
  if (tags !== undefined && Object.keys(tags).length > 0) throw input.fail('thing types cannot be tagged on this gateway');
  const typeArn = arn(ctx, 'thingtype', name);
  await call.authorize({ action: 'iot:CreateThingType', resource: typeArn });
  try {
    const t = await ctx.registry.createThingType(name, {
      ...(description !== undefined ? { description } : {}),
      ...(Array.isArray(searchable) ? { searchableAttributes: searchable as string[] } : {}),
    });
    return { thingTypeName: t.name, thingTypeArn: typeArn, thingTypeId: thingTypeId(t) };
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'THING_TYPE_EXISTS') {
      const existing = await ctx.registry.getThingType(name);
      // Same name and configuration: success, as AWS IoT answers a repeated CreateThingType.
      const wanted = Array.isArray(searchable) ? (searchable as string[]) : [];
      if (existing !== undefined && (existing.description ?? undefined) === description
        && existing.searchableAttributes.length === wanted.length && existing.searchableAttributes.every((a, i) => a === wanted[i])) {
        return { thingTypeName: existing.name, thingTypeArn: typeArn, thingTypeId: thingTypeId(existing) };
      }
      throw new AwsServiceError('ResourceAlreadyExistsException', `thing type \`${name}\` already exists with a different configuration`,
        existing !== undefined ? { resourceId: thingTypeId(existing), resourceArn: typeArn } : { resourceArn: typeArn });
    }
    throw e;
  }
}

async function describeThingType(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = typeName(input, input.label('thingTypeName'));
  const typeArn = arn(ctx, 'thingtype', name);
  await call.authorize({ action: 'iot:DescribeThingType', resource: typeArn });
  const t = await ctx.registry.getThingType(name);
  if (t === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing type \`${name}\` does not exist`);
  return { thingTypeName: t.name, thingTypeId: thingTypeId(t), thingTypeArn: typeArn, thingTypeProperties: properties(t), thingTypeMetadata: metadata(t) };
}

async function listThingTypes(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  const only = input.queryString('thingTypeName');
  if (only !== undefined) typeName(input, only);
  await call.authorize({ action: 'iot:ListThingTypes', resource: '*' });
  const types = (await ctx.registry.listThingTypes()).filter((t) => only === undefined || t.name === only);
  const p = page(types, (t) => t.name, token, size, input);
  return out({
    thingTypes: p.items.map((t) => ({ thingTypeName: t.name, thingTypeArn: arn(ctx, 'thingtype', t.name), thingTypeProperties: properties(t), thingTypeMetadata: metadata(t) })),
    nextToken: p.next,
  });
}

async function deprecateThingType(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = typeName(input, input.label('thingTypeName'));
  const undo = input.bool('undoDeprecate') === true;
  await call.authorize({ action: 'iot:DeprecateThingType', resource: arn(ctx, 'thingtype', name) });
  await ctx.registry.deprecateThingType(name, undo);
  return {};
}

async function deleteThingType(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = typeName(input, input.label('thingTypeName'));
  await call.authorize({ action: 'iot:DeleteThingType', resource: arn(ctx, 'thingtype', name) });
  await ctx.registry.deleteThingType(name);
  return {};
}

export const THING_TYPE_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'CreateThingType', method: 'POST', path: '/thing-types/{thingTypeName}', action: 'iot:CreateThingType', summary: 'Declares a thing type', example: { path: '/thing-types/example-type', body: { thingTypeProperties: { thingTypeDescription: 'Example sensors', searchableAttributes: ['room'] } } }, handler: createThingType },
  { name: 'DescribeThingType', method: 'GET', path: '/thing-types/{thingTypeName}', action: 'iot:DescribeThingType', summary: 'Describes a thing type', example: { path: '/thing-types/example-type' }, handler: describeThingType },
  { name: 'ListThingTypes', method: 'GET', path: '/thing-types', action: 'iot:ListThingTypes', summary: 'Lists thing types', example: { path: '/thing-types?maxResults=10' }, handler: listThingTypes },
  { name: 'DeprecateThingType', method: 'POST', path: '/thing-types/{thingTypeName}/deprecate', action: 'iot:DeprecateThingType', summary: 'Deprecates a thing type, or undoes it', example: { path: '/thing-types/example-type/deprecate', body: { undoDeprecate: false } }, handler: deprecateThingType },
  { name: 'DeleteThingType', method: 'DELETE', path: '/thing-types/{thingTypeName}', action: 'iot:DeleteThingType', summary: 'Deletes a deprecated thing type that no thing has', example: { path: '/thing-types/example-type' }, handler: deleteThingType },
];
