/**
 * `GET /gatehouse/audit` (`gatehouse:ListAuditRecords`): the audit log of management
 * calls, newest first, with filters and paging backwards by record id.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditQuery, AuditRecord } from '../../identity/control.js';
import { invalidRequestError } from './errors.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from './routes.js';

const AuditQueryParams = z.strictObject({
  since: z.string().optional().describe('ISO 8601: records at or after this time'),
  until: z.string().optional().describe('ISO 8601: records before this time'),
  principal: z.string().min(1).optional().describe('The caller\'s ARN, `gatehouse:api-token` or `anonymous`'),
  action: z.string().min(1).optional().describe('`iot:CreateThing`, `sts:AssumeRole`, …'),
  decision: z.enum(['allow', 'deny']).optional(),
  limit: z.string().regex(/^\d{1,4}$/).optional().describe('1 to 1000, default 100'),
  beforeId: z.string().regex(/^\d{1,15}$/).optional().describe('Only records with a smaller id (the `nextBeforeId` of the previous page)'),
});

const AuditRecordBody = z.object({
  id: z.number().int(),
  at: z.string(),
  principal: z.string(),
  action: z.string(),
  resource: z.string(),
  decision: z.enum(['allow', 'deny']),
  reason: z.string(),
  policy: z.string().nullable(),
  statement: z.string().nullable(),
  sourceIp: z.string(),
  userAgent: z.string().nullable(),
  status: z.number().int(),
  requestId: z.string(),
});

const AuditResponse = z.object({
  records: z.array(AuditRecordBody),
  nextBeforeId: z.number().int().optional().describe('Present when there may be older records: pass it as `beforeId`'),
});

function date(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw invalidRequestError('gatehouse', `querystring ${name}: must be an ISO 8601 date-time`);
  return d;
}

function recordBody(r: AuditRecord): z.infer<typeof AuditRecordBody> {
  return { ...r, at: r.at.toISOString() };
}

async function listAudit(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const q = request.query as z.infer<typeof AuditQueryParams>;
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (limit < 1 || limit > 1000) throw invalidRequestError('gatehouse', 'querystring limit: must be between 1 and 1000');
  const since = date(q.since, 'since');
  const until = date(q.until, 'until');
  await request.authorizeCall({ action: 'gatehouse:ListAuditRecords', resource: '*' });
  const query: AuditQuery = {
    limit,
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(q.principal !== undefined ? { principal: q.principal } : {}),
    ...(q.action !== undefined ? { action: q.action } : {}),
    ...(q.decision !== undefined ? { decision: q.decision } : {}),
    ...(q.beforeId !== undefined ? { beforeId: Number(q.beforeId) } : {}),
  };
  // Records are written in batches: what is queued (calls that have returned) is written first.
  await ctx.flushAudit?.();
  const records = await ctx.control.queryAudit(query);
  const last = records[records.length - 1];
  return { records: records.map(recordBody), ...(records.length === limit && last !== undefined ? { nextBeforeId: last.id } : {}) };
}

const AUDIT_ROUTE: ManagementRoute = {
  method: 'GET',
  url: '/gatehouse/audit',
  operationId: 'ListAuditRecords',
  action: 'gatehouse:ListAuditRecords',
  protocol: 'gatehouse',
  auth: { kind: 'signed', services: ['gatehouse', 'execute-api'] },
  tag: 'Gatehouse',
  summary: 'The audit log of management calls, newest first',
  query: AuditQueryParams,
  responses: {
    200: { description: 'Audit records', schema: AuditResponse },
    400: { description: 'MGMT_INVALID_REQUEST' },
    403: { description: 'MGMT_ACCESS_DENIED and the authentication failures' },
  },
  example: { path: '/gatehouse/audit?limit=10' },
  handler: listAudit,
};

export const AUDIT_ROUTES: ManagementRouteSet = { name: 'audit', routes: [AUDIT_ROUTE] };
