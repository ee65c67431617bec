/**
 * The Device Shadow reads and deletes on the management listener, in the AWS IoT data
 * plane's shape (the same paths, JSON documents and IAM actions as the data-plane
 * listener, shadow-routes.ts), signed for `iotdata` as `@aws-sdk/client-iot-data-plane`
 * signs: the operator console reaches the shadows here, where the data-plane listener may
 * be off (it is by default) and is another origin.
 * https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_GetThingShadow.html
 * https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_ListNamedShadowsForThing.html
 * https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_DeleteThingShadow.html
 *
 * Resources as the AWS IoT action-resources page gives them: `thing/THING` for the classic
 * shadow, `thing/THING/SHADOW` for a named one, `*` for iot:ListNamedShadowsForThing.
 * Updates stay on the data plane (devices and applications change shadows; an operator
 * reads them and, at most, deletes one).
 */
import { isValidThingName } from '../../../core/names.js';
import { isValidShadowName, type ShadowFailure } from '../../../core/shadow/document.js';
import { LIST_PAGE_MAX } from '../../data-plane/shadow-service.js';
import { AwsServiceError } from '../aws/errors.js';
import { Input, type AwsCall, type AwsOperation } from '../aws/operation.js';
import type { IotControlPlaneContext } from './context.js';

function target(input: Input): { thingName: string; shadowName: string } {
  const thingName = input.label('thingName');
  if (!isValidThingName(thingName)) throw input.fail('thingName must be 1 to 128 characters of [a-zA-Z0-9:_-]');
  const name = input.queryString('name');
  if (name !== undefined && !isValidShadowName(name)) throw input.fail('name must be 1 to 64 characters of [a-zA-Z0-9:_-]');
  return { thingName, shadowName: name ?? '' };
}

function shadowArn(ctx: IotControlPlaneContext, thingName: string, shadowName: string): string {
  const d = ctx.deployment();
  const base = `arn:${d.partition}:iot:${d.region}:${d.accountId}:thing/${thingName}`;
  return shadowName === '' ? base : `${base}/${shadowName}`;
}

/** The service's failure as the AWS exception of the same status. */
function shadowError(f: ShadowFailure): AwsServiceError {
  if (f.code === 404) return new AwsServiceError('ResourceNotFoundException', f.message);
  if (f.code === 400) return new AwsServiceError('InvalidRequestException', f.message);
  if (f.code === 409) return new AwsServiceError('VersionConflictException', f.message);
  return new AwsServiceError('InternalFailureException', f.message);
}

async function getThingShadow(ctx: IotControlPlaneContext, call: AwsCall): Promise<Record<string, unknown>> {
  const input = new Input(call, 'InvalidRequestException');
  const { thingName, shadowName } = target(input);
  await call.authorize({ action: 'iot:GetThingShadow', resource: shadowArn(ctx, thingName, shadowName) });
  const r = await ctx.shadows.get(thingName, shadowName, {});
  if (!r.ok) throw shadowError(r);
  return r.document;
}

async function deleteThingShadow(ctx: IotControlPlaneContext, call: AwsCall): Promise<Record<string, unknown>> {
  const input = new Input(call, 'InvalidRequestException');
  const { thingName, shadowName } = target(input);
  await call.authorize({ action: 'iot:DeleteThingShadow', resource: shadowArn(ctx, thingName, shadowName) });
  const r = await ctx.shadows.delete(thingName, shadowName, {});
  if (!r.ok) throw shadowError(r);
  return r.document;
}

async function listNamedShadowsForThing(ctx: IotControlPlaneContext, call: AwsCall): Promise<Record<string, unknown>> {
  const input = new Input(call, 'InvalidRequestException');
  const thingName = input.label('thingName');
  if (!isValidThingName(thingName)) throw input.fail('thingName must be 1 to 128 characters of [a-zA-Z0-9:_-]');
  const pageSize = input.queryInt('pageSize', 1, LIST_PAGE_MAX);
  const nextToken = input.queryString('nextToken');
  await call.authorize({ action: 'iot:ListNamedShadowsForThing', resource: '*' });
  const r = await ctx.shadows.listNamed(thingName, nextToken, pageSize);
  if (!r.ok) throw shadowError(r);
  return { results: r.results, ...(r.nextToken !== undefined ? { nextToken: r.nextToken } : {}), timestamp: r.timestamp };
}

export const SHADOW_OPERATIONS: readonly AwsOperation<IotControlPlaneContext>[] = [
  { name: 'GetThingShadow', method: 'GET', path: '/things/{thingName}/shadow', action: 'iot:GetThingShadow', summary: 'Returns a thing\'s classic shadow, or the named shadow `name`', example: { path: '/things/example-thing/shadow?name=config' }, handler: getThingShadow },
  { name: 'DeleteThingShadow', method: 'DELETE', path: '/things/{thingName}/shadow', action: 'iot:DeleteThingShadow', summary: 'Deletes a thing\'s classic shadow, or the named shadow `name` (announced on its delete/accepted topic)', example: { path: '/things/example-thing/shadow' }, handler: deleteThingShadow },
  { name: 'ListNamedShadowsForThing', method: 'GET', path: '/api/things/shadow/ListNamedShadowsForThing/{thingName}', action: 'iot:ListNamedShadowsForThing', summary: 'Lists the names of a thing\'s named shadows', example: { path: '/api/things/shadow/ListNamedShadowsForThing/example-thing?pageSize=10' }, handler: listNamedShadowsForThing },
];
