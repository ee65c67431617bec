/**
 * The local HTTP API (fastify 5): the component's IPC operations as JSON over HTTP,
 * the EMQX adapter, explanations, sessions, metrics.
 *
 * Order of checks for every request:
 *  0. Room in the audit queue (mgmt/audit.ts): when it is full the call waits for
 *     room, then is refused with 503 API_AUDIT_BACKLOG before anything is done for it.
 *  1. Bearer token (onRequest, before the body is read): every route but
 *     `GET /healthz`; a missing or wrong token is 401 and nothing else — not even
 *     whether the route exists. Then the route's action (routes.ts) is authorized for
 *     the token's principal (`gatehouse:api-token`) by the IAM evaluator, with the
 *     management API's decision (mgmt/authorize.ts): 403 API_ACCESS_DENIED for an
 *     action outside the token's built-in policy. Every request to a route, allowed
 *     or not, is an audit record (written with the status answered).
 *  2. Body: application/json only (415), at most `bodyLimitBytes` (413), valid JSON
 *     (400 API_INVALID_JSON).
 *  3. Schema (400 API_INVALID_REQUEST with the field's JSON path); the EMQX routes
 *     validate in their handlers and answer `deny` with status 200 instead.
 *  4. The handler; identity work waits in the limiter or is refused (429).
 *
 * Nothing here logs a request URL, header or body: the session-closing route carries
 * a token in its path, and bodies carry tokens and passwords.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { IotDeployment, PerformanceConfig } from '../core/index.js';
import type { ControlStore, NewAuditRecord } from '../identity/control.js';
import { formatPath, type PathSegment } from '../core/config/path.js';
import { HttpError, type ApiContext } from './context.js';
import { ApiError, errorBody } from './errors.js';
import { registerAuthorize } from './handlers/authorize.js';
import { subscribeToCertificateUpdates } from './handlers/certificate-updates.js';
import { EMQX_DENY_AUTHN, EMQX_DENY_AUTHZ, registerEmqx } from './handlers/emqx.js';
import { registerIdentity } from './handlers/identity.js';
import { registerService } from './handlers/service.js';
import { registerSessions } from './handlers/sessions.js';
import { Prometheus } from './prometheus.js';
import { AuditWriter } from './mgmt/audit.js';
import { API_TOKEN_ARN, decideCall, denialMessage, requestContext, type CallAuthority } from './mgmt/authorize.js';
import type { Caller } from './mgmt/call.js';
import type { IamPolicyCache } from './mgmt/iam-engine.js';
import { ApiOperations, type ApiOperationsOptions } from './operations.js';
import { ROUTES, routeOptions, type RouteSpec } from './routes.js';
import { BearerCheck } from './token.js';

/** How the local API authorizes and audits its calls (the management API's evaluator and audit log). */
export interface LocalApiAuthorization {
  readonly control: ControlStore;
  readonly iamPolicies: IamPolicyCache;
  /** `gatehouse.iot`: the account and region of the IAM context. */
  readonly deployment: IotDeployment;
  /**
   * The gateway's audit writer, shared with the management API (the gateway closes it
   * after both listeners). Without one the server makes its own and closes it.
   */
  readonly audit?: AuditWriter;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The local API's audit record of the request (written on response, with the status). */
    localAudit?: Omit<NewAuditRecord, 'status'>;
  }
}

export type ApiListen = { readonly host: string; readonly port: number } | { readonly socketPath: string };

export interface ApiServerOptions extends ApiOperationsOptions {
  /** The API token (see token.ts). */
  readonly token: string;
  readonly listen: ApiListen;
  readonly bodyLimitBytes: number;
  /** The IAM evaluator and audit log every call goes through. */
  readonly authorization: LocalApiAuthorization;
  /**
   * The gateway's operations context, shared with the management listener (the gateway
   * closes it). Without one the server makes its own from the options above and closes it.
   */
  readonly operations?: ApiOperations;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const UNAUTHORIZED = JSON.stringify(errorBody('API_UNAUTHORIZED', 'missing or wrong API token'));
const NOT_FOUND = JSON.stringify(errorBody('API_NOT_FOUND', 'no such endpoint; see GET /openapi.json'));
const AUDIT_BACKLOG = JSON.stringify(errorBody('API_AUDIT_BACKLOG', 'the audit log cannot record more calls now; nothing was done; retry later'));
const EMQX_DENIALS: Readonly<Record<string, string>> = { [ROUTES.emqxAuthn.url]: EMQX_DENY_AUTHN, [ROUTES.emqxAuthz.url]: EMQX_DENY_AUTHZ };
const UNMATCHED = '(unmatched)';

export class ApiServer {
  /** `http://HOST:PORT` or `unix:PATH`. */
  readonly url: string;
  readonly prometheus: Prometheus;
  private readonly app: FastifyInstance;
  private readonly operations: ApiOperations;
  private readonly ownOperations: boolean;
  /** The audit records of the local API's calls. */
  readonly audit: AuditWriter;
  private readonly ownAudit: boolean;
  private closed = false;

  private constructor(app: FastifyInstance, url: string, operations: ApiOperations, ownOperations: boolean, audit: AuditWriter, ownAudit: boolean) {
    this.app = app;
    this.audit = audit;
    this.ownAudit = ownAudit;
    this.url = url;
    this.prometheus = operations.prometheus;
    this.operations = operations;
    this.ownOperations = ownOperations;
  }

  static async start(opts: ApiServerOptions): Promise<ApiServer> {
    const ownOperations = opts.operations === undefined;
    const operations = opts.operations ?? ApiOperations.create(opts);
    const ctx = operations.ctx;
    const bearer = new BearerCheck(opts.token);
    const ownAudit = opts.authorization.audit === undefined;
    const audit = opts.authorization.audit ?? new AuditWriter(opts.authorization.control, opts.logger);
    const app = buildApp(ctx, bearer, opts.bodyLimitBytes, { ...opts.authorization, audit });
    let url: string;
    try {
      url = await listen(app, opts.listen);
    } catch (e) {
      if (ownOperations) operations.close();
      await app.close().catch(() => undefined);
      if (ownAudit) await audit.close();
      throw e;
    }
    opts.logger.info({ event: 'api-listening', url }, 'local API listening');
    return new ApiServer(app, url, operations, ownOperations, audit, ownAudit);
  }

  /** Applies `performance.*` after a configuration reload. */
  configure(performance: Pick<PerformanceConfig, 'maxConcurrentCloudRequests' | 'cloudRequestQueueSize'>): void {
    this.operations.configure(performance);
  }

  /** Ends certificate-update streams, closes every connection and the listener. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownOperations) this.operations.close();
    await this.app.close();
    if (this.ownAudit) await this.audit.close();
    else await this.audit.flush();
  }
}

const TOKEN_CALLER: Caller = { kind: 'api-token', arn: API_TOKEN_ARN };
const SPECS: ReadonlyMap<string, RouteSpec> = new Map(Object.values(ROUTES).map((r: RouteSpec) => [`${r.method} ${r.url}`, r]));

function sourceIp(request: FastifyRequest): string {
  const a = request.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function userAgent(request: FastifyRequest): string | undefined {
  const ua = request.headers['user-agent'];
  return typeof ua === 'string' ? ua : undefined;
}

/** Builds the fastify instance with every route, hook and error mapping (no listener). */
export function buildApp(ctx: ApiContext, bearer: BearerCheck, bodyLimitBytes: number, authorization: LocalApiAuthorization & { readonly audit: AuditWriter }): FastifyInstance {
  const authority: CallAuthority = { control: authorization.control, iamPolicies: authorization.iamPolicies, clock: ctx.clock, accountId: authorization.deployment.accountId };
  const app = Fastify({
    logger: false,
    bodyLimit: bodyLimitBytes,
    // Closing must not wait for keep-alive connections or open event streams.
    forceCloseConnections: true,
    return503OnClosing: true,
    requestTimeout: 30_000,
    // The audit records' request ids (unique across restarts).
    genReqId: () => randomUUID(),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });
  // JSON only: a text/plain body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');

  app.decorateRequest('localAudit', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route === ROUTES.healthz.url && (request.method === 'GET' || request.method === 'HEAD')) return;
    const spec = route === undefined ? undefined : SPECS.get(`${request.method === 'HEAD' ? 'GET' : request.method} ${route}`);
    // Every call is recorded: none starts while the audit queue is full (it fails closed).
    if (spec !== undefined && !authorization.audit.hasRoom() && !(await authorization.audit.waitForRoom())) {
      // EMQX reads any status but 200 as "ignore": it gets an explicit deny.
      const emqxDeny = EMQX_DENIALS[spec.url];
      if (emqxDeny !== undefined) return reply.code(200).type(JSON_TYPE).send(emqxDeny);
      return reply.code(503).header('retry-after', '1').type(JSON_TYPE).send(AUDIT_BACKLOG);
    }
    const origin = { sourceIp: sourceIp(request), userAgent: userAgent(request), requestId: request.id, secureTransport: false };
    if (!bearer.accepts(request.headers.authorization)) {
      if (spec?.action !== undefined) {
        const reason = request.headers.authorization === undefined ? 'MISSING_AUTHENTICATION' : 'INVALID_API_TOKEN';
        request.localAudit = { at: ctx.clock(), principal: 'anonymous', action: spec.action, resource: '*', decision: 'deny', reason, policy: null, statement: null, sourceIp: origin.sourceIp, userAgent: origin.userAgent ?? null, requestId: origin.requestId };
      }
      return reply.code(401).header('www-authenticate', 'Bearer').type(JSON_TYPE).send(UNAUTHORIZED);
    }
    // No such route: answered 404 once the token is known good.
    if (spec === undefined) return;
    if (spec.action === undefined) throw new Error(`local API route ${spec.method} ${spec.url} names no action`);
    const base = requestContext(TOKEN_CALLER, origin, ctx.clock(), authorization.deployment.accountId, authorization.deployment.region);
    const d = await decideCall(authority, TOKEN_CALLER, base, { action: spec.action, resource: '*' }, origin);
    request.localAudit = d.record;
    if (d.allowed) return;
    return reply.code(403).type(JSON_TYPE).send(JSON.stringify(errorBody('API_ACCESS_DENIED', denialMessage(API_TOKEN_ARN, spec.action, '*', d.explicit))));
  });
  /** Queues the request's audit record, once. */
  const auditRequest = (request: FastifyRequest, status: number): void => {
    const record = request.localAudit;
    if (record === undefined) return;
    request.localAudit = undefined;
    authorization.audit.append({ ...record, status });
  };
  app.addHook('onResponse', (request, reply, done) => {
    ctx.prometheus.countResponse(request.routeOptions.url ?? UNMATCHED, reply.statusCode);
    auditRequest(request, reply.statusCode);
    done();
  });

  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).type(JSON_TYPE).send(NOT_FOUND);
  });
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? UNMATCHED;
    const emqxDeny = EMQX_DENIALS[route];
    if (emqxDeny !== undefined) {
      // EMQX reads anything but 200/204 as "ignore": answer an explicit deny.
      ctx.logger.info({ event: route === ROUTES.emqxAuthn.url ? 'emqx-authn' : 'emqx-authz', result: 'deny', reason: 'EMQX_REQUEST_INVALID', detail: error.code ?? error.message }, 'EMQX request unreadable; denied');
      return reply.code(200).type(JSON_TYPE).send(emqxDeny);
    }
    const e = toHttpError(error, request);
    if (e.status >= 500 && !(error instanceof HttpError)) {
      ctx.metrics.inc('ServiceError');
      ctx.logger.error({ event: 'api-error', route, method: request.method, err: error.message }, 'local API request failed unexpectedly');
    }
    return reply.code(e.status).headers(e.headers).type(JSON_TYPE).send(e.body);
  });

  registerService(app, ctx);
  registerIdentity(app, ctx);
  registerAuthorize(app, ctx);
  app.route({
    ...routeOptions(ROUTES.certificateUpdates),
    handler: async (request, reply) => {
      await subscribeToCertificateUpdates(ctx, request, reply);
      // A stream may never finish (its client just goes away): its record is queued as it opens.
      if (reply.sent && !reply.raw.writableEnded) auditRequest(request, reply.raw.statusCode);
    },
  });
  registerSessions(app, ctx);
  registerEmqx(app, ctx);
  return app;
}

interface AjvIssue {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

const WHERE: Readonly<Record<string, string>> = { body: 'field', querystring: 'query parameter', params: 'path parameter', headers: 'header' };

function toHttpError(error: FastifyError, request: FastifyRequest): HttpError {
  if (error instanceof HttpError) return error;
  if (Array.isArray(error.validation) && error.validation.length > 0) {
    const context = error.validationContext ?? 'body';
    const data: unknown = context === 'body' ? request.body : context === 'querystring' ? request.query : context === 'params' ? request.params : request.headers;
    return validationError(error.validation[0] as AjvIssue, context, data);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError('API_INVALID_JSON', 'the body is not valid JSON', { path: '' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError('API_INVALID_JSON', 'the body is empty; send a JSON object', { path: '' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError('API_BODY_TOO_LARGE', 'the body is larger than gatehouse.api.bodyLimitBytes');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError('API_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    default:
      break;
  }
  // Other client errors fastify detects (prototype poisoning, bad content-length…).
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new HttpError('API_INVALID_JSON', 'the body cannot be accepted as JSON', { path: '' });
  }
  if (error.statusCode === 503) return new HttpError('API_UNAVAILABLE', 'the gateway is stopping');
  return new HttpError('ServiceError', 'the request failed; see the gateway log');
}

/**
 * The issue's JSON path, read against the request's data so that an array index is
 * written as one (`requests[3].operation`) and an object key that looks like a number
 * stays a key (`attributes["3"]`).
 */
function pathSegments(instancePath: string, data: unknown): PathSegment[] {
  if (instancePath === '') return [];
  const out: PathSegment[] = [];
  let at = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at) && /^(0|[1-9][0-9]*)$/.test(key)) {
      out.push(Number(key));
      at = at[Number(key)] as unknown;
    } else {
      out.push(key);
      at = at !== null && typeof at === 'object' && Object.hasOwn(at, key) ? (at as Record<string, unknown>)[key] : undefined;
    }
  }
  return out;
}

function validationError(issue: AjvIssue, context: string, data: unknown): HttpError {
  const segments = pathSegments(issue.instancePath, data);
  let message: string;
  switch (issue.keyword) {
    case 'required':
      segments.push(String(issue.params['missingProperty']));
      message = 'is required';
      break;
    case 'additionalProperties':
      segments.push(String(issue.params['additionalProperty']));
      message = 'is not a known field';
      break;
    case 'type':
      message = `must be of type ${String(issue.params['type'])}`;
      break;
    case 'minLength':
      message = 'must not be empty';
      break;
    case 'pattern':
      // The only pattern of the request schemas: not blank (schemas.ts, nonBlank).
      message = issue.params['pattern'] === '\\S' ? 'must not be blank' : 'is invalid';
      break;
    case 'minItems':
      message = issue.params['limit'] === 1 ? 'must not be empty' : `must have at least ${String(issue.params['limit'])} entries`;
      break;
    case 'maxItems':
      message = `must have at most ${String(issue.params['limit'])} entries; split it into several requests`;
      break;
    case 'enum':
      message = `must be one of ${(issue.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    default:
      message = issue.message ?? 'is invalid';
  }
  const path = formatPath(segments);
  const what = path === '' ? (context === 'body' ? 'the body' : `the ${WHERE[context] ?? context}s`) : `${WHERE[context] ?? context} \`${path}\``;
  return new HttpError('API_INVALID_REQUEST', `${what} ${message}`, { path });
}

async function listen(app: FastifyInstance, where: ApiListen): Promise<string> {
  if ('socketPath' in where) {
    await removeStaleSocket(where.socketPath);
    // The socket must never be reachable by other users, not even between bind and
    // chmod: bind under a umask that leaves only the owner's bits.
    const previous = process.umask(0o177);
    try {
      await app.listen({ path: where.socketPath });
    } catch (e) {
      throw listenFailed(`unix:${where.socketPath}`, e);
    } finally {
      process.umask(previous);
    }
    await chmod(where.socketPath, 0o600);
    return `unix:${where.socketPath}`;
  }
  try {
    await app.listen({ host: where.host, port: where.port });
  } catch (e) {
    throw listenFailed(`${where.host}:${where.port}`, e);
  }
  const a = app.server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

function listenFailed(where: string, e: unknown): ApiError {
  const code = (e as NodeJS.ErrnoException).code;
  return new ApiError('API_LISTEN_FAILED', `the local API cannot listen on ${where}: ${code ?? (e as Error).message}`,
    code === 'EADDRINUSE'
      ? 'another program uses that address: choose another gatehouse.api.port (or --api-port), or stop the other program'
      : 'check gatehouse.api.host, gatehouse.api.port and gatehouse.api.socketPath; set gatehouse.api.enabled: false to run without the API');
}

/** Removes a socket file left by a gateway that did not stop cleanly; refuses anything else. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw listenFailed(`unix:${path}`, e);
  }
  if (!st.isSocket()) {
    throw new ApiError('API_LISTEN_FAILED', `gatehouse.api.socketPath ${path} exists and is not a socket`, 'choose another path, or remove the file if it is not needed');
  }
  const inUse = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (inUse) throw new ApiError('API_LISTEN_FAILED', `another process is serving on ${path}`, 'stop the other gateway, or choose another gatehouse.api.socketPath');
  await unlink(path);
}
