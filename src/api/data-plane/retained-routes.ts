/**
 * Retained messages and Publish on the data-plane listener
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_GetRetainedMessage.html,
 * https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_ListRetainedMessages.html,
 * https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_Publish.html):
 *
 *   GET  /retainedMessage/{topic}                        GetRetainedMessage    iot:GetRetainedMessage on topic/TOPIC
 *   GET  /retainedMessage[?maxResults=1..200&nextToken=] ListRetainedMessages  iot:ListRetainedMessages on *
 *   POST /topics/{topic}[?qos=0|1&retain=true|false]     Publish               iot:Publish (and iot:RetainPublish when retain) on topic/TOPIC
 *
 * Each handler checks its input (400), asks for every action before acting (a caller
 * without the permission learns nothing about the topic), then acts. A Publish goes
 * through the broker as the broker's own publish (the service bus): every subscriber
 * receives it only through the delivery checks (its subscription, `iot:Receive`); a
 * retained one is stored with the broker's limits, and one over them is refused here
 * (the same limits a device's MQTT publish meets).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RetainedPlane } from './retained-service.js';
import { DataPlaneError, type DataPlaneContext, type DataPlaneRoute, type DataPlaneRouteSet } from './routes.js';

/** ListRetainedMessages: AWS's valid range of maxResults, and Gatehouse's page size when none is given. */
export const RETAINED_LIST_MAX = 200;
export const RETAINED_LIST_DEFAULT = 50;
/** Bytes of a topic name (MQTT 3.1.1 section 1.5.3: a UTF-8 string of at most 65535 bytes). */
const MAX_TOPIC_BYTES = 65_535;
/** Topic prefixes the gateway keeps for itself (the broker's reserved topics). */
const RESERVED = ['$SYS', '$gatehouse'];

function invalid(message: string): DataPlaneError {
  return new DataPlaneError(400, 'InvalidRequestException', message, 'INVALID_REQUEST');
}

function plane(ctx: DataPlaneContext): RetainedPlane {
  if (ctx.retained === undefined) throw new DataPlaneError(503, 'ServiceUnavailableException', 'retained messages and Publish are not served by this listener', 'RETAINED_DISABLED');
  return ctx.retained;
}

function single(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid('a query parameter is given more than once');
  return v;
}

/** The topic of the path, checked: a topic name (no wildcard), not one of the gateway's own. */
function topicOf(request: FastifyRequest): string {
  const { topic } = request.params as { topic: string };
  if (topic.length === 0) throw invalid('topic must not be empty');
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) throw invalid(`topic must be at most ${MAX_TOPIC_BYTES} bytes`);
  if (topic.includes('+') || topic.includes('#')) throw invalid('topic must not contain the wildcards + or #');
  if (topic.includes('\u0000')) throw invalid('topic must not contain U+0000');
  if (RESERVED.some((p) => topic === p || topic.startsWith(`${p}/`))) throw invalid('topic is reserved by the gateway');
  return topic;
}

function topicArn(ctx: DataPlaneContext, topic: string): string {
  return `arn:${ctx.iot.partition}:iot:${ctx.iot.region}:${ctx.iot.accountId}:topic/${topic}`;
}

function encodeToken(topic: string): string {
  return Buffer.from(topic, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid('Invalid nextToken');
  const topic = Buffer.from(token, 'base64url').toString('utf8');
  if (topic.length === 0 || encodeToken(topic) !== token) throw invalid('Invalid nextToken');
  return topic;
}

/** The refusal of a retained publish over a limit (HTTPS answer; on MQTT it is a denied publish). */
export function retainedLimitError(reason: string, message: string): DataPlaneError {
  return reason === 'RETAINED_PAYLOAD_TOO_LARGE'
    ? new DataPlaneError(413, 'RequestEntityTooLargeException', message, reason)
    : new DataPlaneError(403, 'ForbiddenException', message, reason);
}

async function getRetained(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const topic = topicOf(request);
  await request.authorizeData({ action: 'iot:GetRetainedMessage', resource: topicArn(ctx, topic) });
  const m = await plane(ctx).messages.get(topic);
  if (m === undefined) throw new DataPlaneError(404, 'ResourceNotFoundException', `No retained message exists for topic: '${topic}'`, 'RETAINED_NOT_FOUND');
  return { topic: m.topic, payload: m.payload.toString('base64'), qos: m.qos, lastModifiedTime: m.modifiedAt };
}

async function listRetained(request: FastifyRequest, _reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const q = request.query as Record<string, unknown>;
  const token = single(q['nextToken']);
  const max = single(q['maxResults']);
  let limit = RETAINED_LIST_DEFAULT;
  if (max !== undefined) {
    limit = /^\d{1,3}$/.test(max) ? Number(max) : NaN;
    if (!(limit >= 1 && limit <= RETAINED_LIST_MAX)) throw invalid(`maxResults must be 1 to ${RETAINED_LIST_MAX}`);
  }
  const after = token !== undefined && token !== '' ? decodeToken(token) : undefined;
  await request.authorizeData({ action: 'iot:ListRetainedMessages', resource: '*' });
  const rows = await plane(ctx).messages.list({ ...(after !== undefined ? { after } : {}), limit: limit + 1 });
  const page = rows.slice(0, limit);
  const more = rows.length > limit;
  return {
    retainedTopics: page.map((r) => ({ topic: r.topic, payloadSize: r.payloadSize, qos: r.qos, lastModifiedTime: r.modifiedAt })),
    ...(more ? { nextToken: encodeToken(page[page.length - 1]!.topic) } : {}),
  };
}

async function publish(request: FastifyRequest, reply: FastifyReply, ctx: DataPlaneContext): Promise<unknown> {
  const topic = topicOf(request);
  const q = request.query as Record<string, unknown>;
  const qosText = single(q['qos']);
  if (qosText !== undefined && qosText !== '0' && qosText !== '1') throw invalid('qos must be 0 or 1');
  const qos: 0 | 1 = qosText === '1' ? 1 : 0;
  const retainText = single(q['retain']);
  if (retainText !== undefined && retainText !== 'true' && retainText !== 'false') throw invalid('retain must be true or false');
  const retain = retainText === 'true';
  const payload = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const arn = topicArn(ctx, topic);
  await request.authorizeData({ action: 'iot:Publish', resource: arn });
  if (retain) await request.authorizeData({ action: 'iot:RetainPublish', resource: arn });
  const p = plane(ctx);
  if (retain) {
    const a = p.messages.admit(topic, payload.length);
    if (!a.ok) throw retainedLimitError(a.reason, a.message);
  }
  try {
    await p.publisher.publish(topic, payload, { qos, retain });
  } catch (e) {
    const reason = (e as { reason?: unknown }).reason;
    if (typeof reason === 'string' && reason.startsWith('RETAINED_')) throw retainedLimitError(reason, (e as Error).message);
    throw e;
  }
  void reply.code(200);
  return '';
}

const ROUTES: readonly DataPlaneRoute[] = [
  { method: 'GET', url: '/retainedMessage/:topic', operationId: 'GetRetainedMessage', action: 'iot:GetRetainedMessage', example: { path: '/retainedMessage/lamp%2Fstate' }, handler: getRetained },
  { method: 'GET', url: '/retainedMessage', operationId: 'ListRetainedMessages', action: 'iot:ListRetainedMessages', example: { path: '/retainedMessage' }, handler: listRetained },
  { method: 'POST', url: '/topics/:topic', operationId: 'Publish', action: 'iot:Publish', example: { path: '/topics/lamp%2Fstate?qos=1', body: '{"on":true}' }, handler: publish },
];

export const RETAINED_ROUTES: DataPlaneRouteSet = { name: 'retained-messages', routes: ROUTES };
