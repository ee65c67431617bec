/**
 * The Device Shadow REST API on the data-plane listener
 * (https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-rest-api.html,
 * https://docs.aws.amazon.com/iot/latest/apireference/API_Operations_AWS_IoT_Data_Plane.html):
 *
 *   GET    /things/{thingName}/shadow[?name=shadowName]            GetThingShadow
 *   POST   /things/{thingName}/shadow[?name=shadowName]            UpdateThingShadow
 *   DELETE /things/{thingName}/shadow[?name=shadowName]            DeleteThingShadow
 *   GET    /api/things/shadow/ListNamedShadowsForThing/{thingName}  ListNamedShadowsForThing
 *          [?nextToken=…&pageSize=1..100]
 *
 * Each handler checks its input (400), then asks for the action on its resource as the
 * AWS IoT action-resources page gives it
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html):
 * `thing/THING` for the classic shadow, `thing/THING/SHADOW` for a named one, and `*`
 * for iot:ListNamedShadowsForThing; then calls the service. The bodies are the service's
 * documents; errors carry the documented messages.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isValidThingName } from '../../core/names.js';
import { isValidShadowName, parsePlainRequest, parseUpdateRequest, type ShadowFailure } from '../../core/shadow/document.js';
import { DataPlaneError, dataPlaneErrorCode, type DataPlaneContext, type DataPlaneRoute, type DataPlaneRouteSet } from './routes.js';
import { LIST_PAGE_MAX, type ShadowService } from './shadow-service.js';

/** Gatehouse's reason code of a shadow refusal (the body's `reason`). */
export function shadowReason(f: ShadowFailure): string {
  switch (f.code) {
    case 400: return 'SHADOW_INVALID_REQUEST';
    case 404: return f.message === 'Thing not found' ? 'THING_NOT_FOUND' : 'SHADOW_NOT_FOUND';
    case 409: return 'SHADOW_VERSION_CONFLICT';
    case 413: return 'SHADOW_TOO_LARGE';
    case 415: return 'SHADOW_NOT_UTF8';
    default: return 'SHADOW_INTERNAL_ERROR';
  }
}

function shadowError(f: ShadowFailure): DataPlaneError {
  return new DataPlaneError(f.code, dataPlaneErrorCode(f.code), f.message, shadowReason(f));
}

function invalid(message: string): DataPlaneError {
  return new DataPlaneError(400, 'InvalidRequestException', message, 'INVALID_REQUEST');
}

function service(ctx: DataPlaneContext): ShadowService {
  if (ctx.shadows === undefined) throw new DataPlaneError(503, 'ServiceUnavailableException', 'the Device Shadow service is disabled (gatehouse.shadows.enabled)', 'SHADOWS_DISABLED');
  return ctx.shadows;
}

function single(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid('a query parameter is given more than once');
  return v;
}

/** The thing and shadow a request names, checked (400 otherwise). */
function target(request: FastifyRequest): { thingName: string; shadowName: string } {
  const { thingName } = request.params as { thingName: string };
  if (!isValidThingName(thingName)) throw invalid('thingName must be 1 to 128 characters of [a-zA-Z0-9:_-]');
  const name = single((request.query as Record<string, unknown>)['name']);
  if (name !== undefined && !isValidShadowName(name)) throw invalid('name must be 1 to 64 characters of [a-zA-Z0-9:_-]');
  return { thingName, shadowName: name ?? '' };
}

function shadowArn(ctx: DataPlaneContext, thingName: string, shadowName: string): string {
  const base = `arn:${ctx.iot.partition}:iot:${ctx.iot.region}:${ctx.iot.accountId}:thing/${thingName}`;
  return shadowName === '' ? base : `${base}/${shadowName}`;
}

function body(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

async function getShadow(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const { thingName, shadowName } = target(request);
  await request.authorizeData({ action: 'iot:GetThingShadow', resource: shadowArn(ctx, thingName, shadowName) });
  const r = await service(ctx).get(thingName, shadowName, {});
  if (!r.ok) throw shadowError(r);
  return r.document;
}

async function updateShadow(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const { thingName, shadowName } = target(request);
  const parsed = parseUpdateRequest(body(request));
  if (!parsed.ok) throw shadowError(parsed);
  await request.authorizeData({ action: 'iot:UpdateThingShadow', resource: shadowArn(ctx, thingName, shadowName) });
  const r = await service(ctx).update(thingName, shadowName, parsed.request);
  if (!r.ok) throw shadowError(r);
  return r.document;
}

async function deleteShadow(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const { thingName, shadowName } = target(request);
  const parsed = parsePlainRequest(body(request));
  if (!parsed.ok) throw shadowError(parsed);
  await request.authorizeData({ action: 'iot:DeleteThingShadow', resource: shadowArn(ctx, thingName, shadowName) });
  const r = await service(ctx).delete(thingName, shadowName, parsed.request);
  if (!r.ok) throw shadowError(r);
  return r.document;
}

async function listNamedShadows(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const { thingName } = request.params as { thingName: string };
  if (!isValidThingName(thingName)) throw invalid('thingName must be 1 to 128 characters of [a-zA-Z0-9:_-]');
  const q = request.query as Record<string, unknown>;
  const nextToken = single(q['nextToken']);
  const size = single(q['pageSize']);
  let pageSize: number | undefined;
  if (size !== undefined) {
    pageSize = /^\d{1,3}$/.test(size) ? Number(size) : NaN;
    if (!(pageSize >= 1 && pageSize <= LIST_PAGE_MAX)) throw invalid(`pageSize must be 1 to ${LIST_PAGE_MAX}`);
  }
  await request.authorizeData({ action: 'iot:ListNamedShadowsForThing', resource: '*' });
  const r = await service(ctx).listNamed(thingName, nextToken, pageSize);
  if (!r.ok) throw shadowError(r);
  return { results: r.results, ...(r.nextToken !== undefined ? { nextToken: r.nextToken } : {}), timestamp: r.timestamp };
}

const SHADOW_URL = '/things/:thingName/shadow';

const ROUTES: readonly DataPlaneRoute[] = [
  { method: 'GET', url: SHADOW_URL, operationId: 'GetThingShadow', action: 'iot:GetThingShadow', example: { path: '/things/lamp/shadow?name=config' }, handler: getShadow },
  {
    method: 'POST', url: SHADOW_URL, operationId: 'UpdateThingShadow', action: 'iot:UpdateThingShadow',
    example: { path: '/things/lamp/shadow', body: '{"state":{"desired":{"on":true}}}' }, handler: updateShadow,
  },
  { method: 'DELETE', url: SHADOW_URL, operationId: 'DeleteThingShadow', action: 'iot:DeleteThingShadow', example: { path: '/things/lamp/shadow' }, handler: deleteShadow },
  {
    method: 'GET', url: '/api/things/shadow/ListNamedShadowsForThing/:thingName', operationId: 'ListNamedShadowsForThing', action: 'iot:ListNamedShadowsForThing',
    example: { path: '/api/things/shadow/ListNamedShadowsForThing/lamp?pageSize=10' }, handler: listNamedShadows,
  },
];

export const SHADOW_ROUTES: DataPlaneRouteSet = { name: 'device-shadow', routes: ROUTES };
