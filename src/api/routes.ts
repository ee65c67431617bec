/**
 * The route table: method, path, schemas and documented answers of every endpoint.
 * The server registers its handlers from it and the OpenAPI document is generated
 * from it, so the two cannot disagree.
 */
import type { z } from 'zod';
import {
  AUTHORIZE_BATCH_MAX, AuthorizeBatchRequest, AuthorizeBatchResponse, AuthorizeRequest, AuthorizeResponse, CertificateUpdatesQuery, EmqxAuthnRequest, EmqxAuthnResponse, EmqxAuthzRequest, EmqxAuthzResponse,
  ErrorResponse, ExplainRequest, ExplainResponse, HealthResponse, SessionParams, SessionsResponse, TokenRequest, TokenResponse, VerifyRequest,
  VerifyResponse, validationSchema,
} from './schemas.js';

export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default application/json. */
  readonly contentType?: string;
}

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** fastify path syntax (`:param`). */
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: 'IPC operations' | 'Gatehouse' | 'EMQX' | 'Service';
  /** False only for GET /healthz. */
  readonly auth: boolean;
  /**
   * The IAM action the route performs, authorized with the caller's identity policies
   * (the API token's built-in policy allows exactly API_TOKEN_ACTIONS). Every route
   * with `auth` names one.
   */
  readonly action?: string;
  readonly body?: z.ZodType;
  readonly query?: z.ZodType;
  readonly params?: z.ZodType;
  /**
   * Whether fastify validates the request against the schemas (400 on failure). The
   * EMQX routes validate in the handler instead, to answer `deny` with status 200.
   */
  readonly validateRequest: boolean;
  /** Whether identity work may be refused with 429. */
  readonly limited?: boolean;
  readonly responses: Readonly<Record<number, ResponseSpec>>;
}

const err = (description: string): ResponseSpec => ({ description, schema: ErrorResponse });
const COMMON = {
  400: err('API_INVALID_JSON or API_INVALID_REQUEST (with the field\'s JSON path in `error.path`)'),
  401: err('API_UNAUTHORIZED: missing or wrong API token'),
  403: err('API_ACCESS_DENIED: the API token may not perform this operation (its built-in policy allows the IPC operations, the EMQX and external-broker calls and metrics)'),
  413: err('API_BODY_TOO_LARGE: the body is larger than gatehouse.api.bodyLimitBytes'),
  415: err('API_UNSUPPORTED_MEDIA_TYPE: the body is not application/json'),
} as const;

export const ROUTES = {
  verify: {
    action: 'gatehouse:VerifyClientDeviceIdentity',
    method: 'POST', url: '/v1/verify-client-device-identity', operationId: 'verifyClientDeviceIdentity', tag: 'IPC operations', auth: true, validateRequest: true, limited: true,
    summary: 'VerifyClientDeviceIdentity: is this a valid client device certificate?',
    description: 'Checks the chain against the trusted device CAs, the validity period, and that the certificate is registered and ACTIVE. Does not check a thing association (get-client-device-auth-token does).',
    body: VerifyRequest,
    responses: { 200: { description: 'The verdict', schema: VerifyResponse }, ...COMMON, 429: err('API_QUEUE_FULL: too much identity work waiting; retry later'), 500: err('ServiceError') },
  },
  token: {
    action: 'gatehouse:GetClientDeviceAuthToken',
    method: 'POST', url: '/v1/get-client-device-auth-token', operationId: 'getClientDeviceAuthToken', tag: 'IPC operations', auth: true, validateRequest: true, limited: true,
    summary: 'GetClientDeviceAuthToken: authenticate a device and open a session',
    description: 'The client ID must be the thing name; the certificate must verify and be attached to that thing. A new session for a client ID replaces the previous one (and disconnects it from the embedded broker).',
    body: TokenRequest,
    responses: {
      200: { description: 'The session token', schema: TokenResponse }, ...COMMON,
      403: err('InvalidCredentialError: the device could not be authenticated; `error.reason` says why (or API_ACCESS_DENIED: the caller may not call this operation)'),
      429: err('API_QUEUE_FULL'), 500: err('ServiceError'), 503: err('API_UNAVAILABLE: the registry kept changing; retry'),
    },
  },
  authorize: {
    action: 'gatehouse:AuthorizeClientDeviceAction',
    method: 'POST', url: '/v1/authorize-client-device-action', operationId: 'authorizeClientDeviceAction', tag: 'IPC operations', auth: true, validateRequest: true,
    summary: 'AuthorizeClientDeviceAction: may the session\'s device do this?',
    description: 'Decides with the policy in force. A malformed operation or resource is a plain `false` (with its reason), as in the reference.',
    body: AuthorizeRequest,
    responses: { 200: { description: 'The decision', schema: AuthorizeResponse }, ...COMMON, 404: err('InvalidClientDeviceAuthTokenError: unknown, closed or expired session token') },
  },
  authorizeBatch: {
    action: 'gatehouse:AuthorizeClientDeviceAction',
    method: 'POST', url: '/v1/authorize-client-device-actions', operationId: 'authorizeClientDeviceActions', tag: 'Gatehouse', auth: true, validateRequest: true,
    summary: 'Many AuthorizeClientDeviceAction decisions in one request (Gatehouse extension; the IPC service has no batch operation)',
    description: `Each entry is the body of authorize-client-device-action and gets the answer that call would give, in order, all decided with the same policy snapshot. An entry whose token is unknown, closed or expired gets \`isAuthorized: false\` with the InvalidClientDeviceAuthTokenError in \`error\` (the single call's 404); the other entries are still decided. An entry that fails the single call's schema (missing, blank or unknown field) makes the whole request a 400 naming it (\`requests[i].field\`). At most ${AUTHORIZE_BATCH_MAX} entries, within gatehouse.api.bodyLimitBytes.`,
    body: AuthorizeBatchRequest,
    responses: { 200: { description: 'One result per request, in order', schema: AuthorizeBatchResponse }, ...COMMON },
  },
  certificateUpdates: {
    action: 'gatehouse:SubscribeToCertificateUpdates',
    method: 'GET', url: '/v1/certificate-updates', operationId: 'subscribeToCertificateUpdates', tag: 'IPC operations', auth: true, validateRequest: true,
    summary: 'SubscribeToCertificateUpdates: a server certificate for another broker, as a Server-Sent Events stream',
    description: 'Each subscriber gets its own key and certificate from the gateway CA, sent as a `certificateUpdate` event at once and again whenever the gateway\'s server certificate is re-issued (expiry, host addresses, CA change). The data of each event is the JSON object described by the CertificateUpdateEvent schema (components.schemas). Comment lines are sent every 15 s to keep the stream alive.',
    query: CertificateUpdatesQuery,
    responses: {
      200: { description: 'text/event-stream of `certificateUpdate` events (data: CertificateUpdateEvent)', contentType: 'text/event-stream' },
      400: COMMON[400], 401: COMMON[401], 403: COMMON[403], 429: err('API_TOO_MANY_STREAMS: too many open certificate-update streams'), 500: err('ServiceError: the certificate could not be issued'),
    },
  },
  explain: {
    action: 'gatehouse:Explain',
    method: 'POST', url: '/v1/explain', operationId: 'explain', tag: 'Gatehouse', auth: true, validateRequest: true,
    summary: 'Explain a decision: group, policy, statement and resolved pattern',
    body: ExplainRequest,
    responses: { 200: { description: 'The decision and its explanation', schema: ExplainResponse }, ...COMMON },
  },
  sessions: {
    action: 'gatehouse:ListSessions',
    method: 'GET', url: '/v1/sessions', operationId: 'listSessions', tag: 'Gatehouse', auth: true, validateRequest: true,
    summary: 'List live sessions (ids only, never tokens)',
    responses: { 200: { description: 'Live sessions', schema: SessionsResponse }, 401: COMMON[401], 403: COMMON[403] },
  },
  closeSession: {
    action: 'gatehouse:CloseSession',
    method: 'DELETE', url: '/v1/sessions/:token', operationId: 'closeSession', tag: 'Gatehouse', auth: true, validateRequest: true,
    summary: 'Close the session of a token (an external broker calls this when its client disconnects)',
    params: SessionParams,
    responses: { 204: { description: 'Closed' }, 401: COMMON[401], 403: COMMON[403], 404: err('InvalidClientDeviceAuthTokenError: unknown or already closed') },
  },
  emqxAuthn: {
    action: 'gatehouse:EmqxAuthenticate',
    method: 'POST', url: '/v1/emqx/authn', operationId: 'emqxAuthenticate', tag: 'EMQX', auth: true, validateRequest: false, limited: true,
    summary: 'EMQX 5 HTTP authentication backend',
    description: 'Always answers 200 with an explicit result; a malformed, oversized or refused request is `deny` (EMQX treats errors as "ignore"). See docs/emqx.md.',
    body: EmqxAuthnRequest,
    responses: { 200: { description: 'allow or deny', schema: EmqxAuthnResponse }, 401: COMMON[401], 403: COMMON[403] },
  },
  emqxAuthz: {
    action: 'gatehouse:EmqxAuthorize',
    method: 'POST', url: '/v1/emqx/authz', operationId: 'emqxAuthorize', tag: 'EMQX', auth: true, validateRequest: false,
    summary: 'EMQX 5 HTTP authorization backend',
    description: 'Maps `publish` to mqtt:publish on mqtt:topic:TOPIC and `subscribe` to mqtt:subscribe on mqtt:topicfilter:TOPIC. Always answers 200 with an explicit result; anything malformed is `deny`.',
    body: EmqxAuthzRequest,
    responses: { 200: { description: 'allow or deny', schema: EmqxAuthzResponse }, 401: COMMON[401], 403: COMMON[403] },
  },
  metrics: {
    action: 'gatehouse:GetMetrics',
    method: 'GET', url: '/metrics', operationId: 'metrics', tag: 'Service', auth: true, validateRequest: true,
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain; version=0.0.4' }, 401: COMMON[401], 403: COMMON[403] },
  },
  openapi: {
    action: 'gatehouse:GetOpenApi',
    method: 'GET', url: '/openapi.json', operationId: 'openapi', tag: 'Service', auth: true, validateRequest: true,
    summary: 'This OpenAPI document',
    responses: { 200: { description: 'OpenAPI 3.0 document' }, 401: COMMON[401], 403: COMMON[403] },
  },
  healthz: {
    method: 'GET', url: '/healthz', operationId: 'healthz', tag: 'Service', auth: false, validateRequest: true,
    summary: 'Liveness (no token needed)',
    responses: { 200: { description: 'The API is serving', schema: HealthResponse } },
  },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

/** fastify route options (method, url, validation schemas) of a route. */
export function routeOptions(spec: RouteSpec): { method: RouteSpec['method']; url: string; schema: Record<string, unknown> } {
  const schema: Record<string, unknown> = {};
  if (spec.validateRequest) {
    if (spec.body) schema['body'] = validationSchema(spec.body);
    if (spec.query) schema['querystring'] = validationSchema(spec.query);
    if (spec.params) schema['params'] = validationSchema(spec.params);
  }
  return { method: spec.method, url: spec.url, schema };
}
