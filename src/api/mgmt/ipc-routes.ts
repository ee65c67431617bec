/**
 * The IPC operations and the EMQX adapter on the management listener, for deployments
 * that serve HTTPS only: the local API's routes at the same paths (`/v1/...`), with the
 * same handlers (handlers/ipc.ts), request bodies and answers, over the gateway's one
 * operations context (`ManagementContext.ipc`).
 *
 * Callers: an IAM user or role session (SigV4, service `gatehouse` or `execute-api`)
 * whose identity policies allow the route's action (`gatehouse:AuthorizeClientDeviceAction`
 * on `*`, …), or the API token as `Authorization: Bearer`, the principal
 * `gatehouse:api-token` with its built-in policy, which allows exactly these actions
 * (and `gatehouse:GetMetrics`): so an EMQX or external broker moves to HTTPS by changing
 * only the URL. The token is accepted by no other management route but GetMetrics.
 *
 * What differs from the local API: the front's answers (authentication, the denial,
 * body and schema errors) are the management listener's (`MGMT_*` codes, the denial
 * message names the caller's ARN); the operations' own answers, errors included
 * (`InvalidCredentialError` with its reason, `InvalidClientDeviceAuthTokenError`,
 * `API_QUEUE_FULL`, …), are the local API's, byte for byte. The EMQX routes answer
 * `deny` with status 200 to anything they cannot accept once the caller is
 * authenticated, as on the local API (EMQX reads other statuses as "ignore").
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../context.js';
import { IPC_OPERATIONS, type IpcOperation } from '../handlers/ipc.js';
import type { ResponseSpec } from '../routes.js';
import { ManagementError } from './errors.js';
import type { ManagementContext, ManagementResponseSpec, ManagementRoute, ManagementRouteSet } from './routes.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const SIGNED_OR_TOKEN = { kind: 'signed', services: ['gatehouse', 'execute-api'], apiToken: true } as const;
const DENIED = 'MGMT_ACCESS_DENIED (the caller\'s identity policies do not allow the action) and the authentication failures';

/** Requests that pass each route's validation (for the test that every route authorizes before it acts). */
const EXAMPLES: Readonly<Record<string, NonNullable<ManagementRoute['example']>>> = {
  VerifyClientDeviceIdentity: { path: '/v1/verify-client-device-identity', body: { credential: { clientDeviceCertificate: 'MIIB' } } },
  GetClientDeviceAuthToken: { path: '/v1/get-client-device-auth-token', body: { credential: { mqttCredential: { clientId: 'sensor-1', certificatePem: 'MIIB' } } } },
  AuthorizeClientDeviceAction: { path: '/v1/authorize-client-device-action', body: { clientDeviceAuthToken: 'token', operation: 'mqtt:connect', resource: 'mqtt:clientId:sensor-1' } },
  AuthorizeClientDeviceActions: { path: '/v1/authorize-client-device-actions', body: { requests: [{ clientDeviceAuthToken: 'token', operation: 'mqtt:connect', resource: 'mqtt:clientId:sensor-1' }] } },
  SubscribeToCertificateUpdates: { path: '/v1/certificate-updates?certificateType=SERVER' },
  CloseSession: { path: '/v1/sessions/token' },
  EmqxAuthenticate: { path: '/v1/emqx/authn', body: { clientid: 'sensor-1', cert_common_name: 'sensor-1' } },
  EmqxAuthorize: { path: '/v1/emqx/authz', body: { clientid: 'sensor-1', action: 'publish', topic: 't' } },
};

/** The local route's documented answers, with the front's errors in the management listener's codes. */
function responses(op: IpcOperation): Record<number, ManagementResponseSpec> {
  const out: Record<number, ManagementResponseSpec> = {};
  for (const [status, spec] of Object.entries<ResponseSpec>(op.route.responses)) {
    const s = Number(status);
    if (s === 401 || s === 413 || s === 415) continue;
    if (s === 400) out[s] = { description: 'MGMT_INVALID_REQUEST: the body, query or path does not match the schema' };
    else if (s === 403) out[s] = { description: spec.description.includes('InvalidCredentialError') ? `InvalidCredentialError (the local API's answer, with \`error.reason\`), or ${DENIED}` : DENIED };
    else out[s] = spec;
  }
  out[403] ??= { description: DENIED };
  out[503] = { description: `${out[503]?.description !== undefined ? `${out[503].description}; or ` : ''}MGMT_AUDIT_BACKLOG: the audit log cannot record more calls now (nothing was done)` };
  return out;
}

function ipcRoute(op: IpcOperation): ManagementRoute {
  const spec = op.route;
  const example = EXAMPLES[op.name];
  if (example === undefined) throw new Error(`no example request for ${op.name}`);
  const validated = spec.validateRequest;
  return {
    method: spec.method,
    url: spec.url,
    operationId: op.name,
    action: spec.action,
    protocol: 'gatehouse',
    auth: SIGNED_OR_TOKEN,
    tag: spec.tag === 'EMQX' ? 'EMQX' : 'IPC operations',
    summary: spec.summary,
    description: `${spec.description !== undefined ? `${spec.description} ` : ''}The local API's operation (same path, body and answers; docs/api.md), authorized for SigV4 callers by their identity policies and for the API token by its built-in policy.`,
    ...(validated && spec.body !== undefined ? { body: spec.body } : {}),
    ...(validated && spec.query !== undefined ? { query: spec.query } : {}),
    ...(validated && spec.params !== undefined ? { params: spec.params } : {}),
    responses: responses(op),
    example,
    ...(op.refusal !== undefined ? { refusal: op.refusal } : {}),
    handler: (request, reply, ctx) => serve(op, request, reply, ctx),
  };
}

async function serve(op: IpcOperation, request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  await request.authorizeCall({ action: op.route.action, resource: '*' });
  const ipc = ctx.ipc;
  if (ipc === undefined) throw new ManagementError(503, 'MGMT_UNAVAILABLE', 'the IPC operations are not available on this gateway');
  try {
    return await op.handler(ipc, request, reply);
  } catch (e) {
    if (reply.sent || e instanceof ManagementError) throw e;
    // EMQX: anything but 200 would be "ignore".
    if (op.refusal !== undefined) void reply.code(200).type(JSON_TYPE).send(op.refusal);
    // The operation's own error answers are the local API's.
    else if (e instanceof HttpError) void reply.code(e.status).headers(e.headers).type(JSON_TYPE).send(JSON.stringify(e.body));
    else throw e;
    return undefined;
  }
}

export const IPC_ROUTES: ManagementRouteSet = { name: 'ipc-operations', routes: IPC_OPERATIONS.map(ipcRoute) };
