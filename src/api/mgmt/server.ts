/**
 * The management API (fastify 5 over HTTPS with the gateway's server certificate):
 * AWS's protocols where AWS defines the operation (IoT and Greengrass REST-JSON, the
 * STS query protocol, the IoT credentials provider), Gatehouse's JSON for its own.
 *
 * Order of checks for every request to a `signed` route:
 *  1. onRequest (before the body is read): a request id (`x-amzn-RequestId`); room in
 *     the audit queue (every route with a caller: when it is full the call waits for
 *     room, then is refused with 503 before anything is done for it, audit.ts); without
 *     an `Authorization` header, a console session cookie (with its CSRF token on a
 *     state-changing method) makes the session's user the caller (browser-session.ts),
 *     else MissingAuthenticationToken; `Bearer <API token>` is checked here, on the
 *     routes that accept it.
 *  2. Body: at most `bodyLimitBytes` (413), kept as the bytes received.
 *  3. preValidation: the SigV4 signature over those bytes (sigv4.ts, every check in
 *     its order); then the caller's IAM context; then the body is decoded (JSON or a
 *     form; 400 when it does not parse, 415 for another media type).
 *  4. Schema validation (400 in the route's protocol).
 *  5. The handler, which calls `request.authorizeCall` before each action (IAM
 *     decision, audit record, 403 on deny). An answer the handler produces without
 *     having called it (other than a 400 about its input) is replaced by a 500 and
 *     logged.
 *  6. onResponse: the audit records of the request (one per authorization decision,
 *     or one for the authentication failure, or one for a refused input) are queued
 *     with the status answered and written in batches.
 *
 * Nothing here logs a request URL, header or body: they carry signatures, session
 * tokens and the API token.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GatehouseError } from '../../core/errors.js';
import type { NewAuditRecord, ResolvedPrincipal } from '../../identity/control.js';
import { RegistryError } from '../../identity/errors.js';
import { validationSchema } from '../schemas.js';
import { BearerCheck } from '../token.js';
import { parse as parseCookies } from 'cookie';
import { AuditWriter } from './audit.js';
import { BACKGROUND_HEADER, CSRF_HEADER, SERVICE_HEADER, type BrowserSessionPort } from './browser-session.js';
import { API_TOKEN_ARN, callerArn, decideCall, denialMessage, requestContext, type CallAuthority } from './authorize.js';
import type { CallCheck, WireProtocol } from './call.js';
import {
  accessDeniedError, auditBacklogError, authFailureError, internalError, invalidRequestError, ManagementError, renderError, type AuthFailure,
} from './errors.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from './routes.js';
import { verifySigV4 } from './sigv4.js';

export interface ManagementTls {
  readonly key: string;
  /** The server certificate followed by its chain (PEM). */
  readonly cert: string;
  /** Trusted device CAs (PEM), for the credentials provider's client certificates. */
  readonly ca: readonly string[];
}

export interface ManagementServerOptions {
  readonly ctx: ManagementContext;
  readonly routeSets: readonly ManagementRouteSet[];
  readonly tls: ManagementTls;
  readonly listen: { readonly host: string; readonly port: number };
  readonly bodyLimitBytes: number;
  readonly maxClockSkewSeconds: number;
  readonly auditRetentionDays: number;
  /**
   * The gateway's audit writer, shared with the local API; the gateway prunes and closes
   * it. Without one the server makes its own, prunes it and closes it.
   */
  readonly audit?: AuditWriter;
  /** The local API's token, accepted as the `api-token` principal on the routes that say so. */
  readonly apiToken?: string;
  /** The operator console's sessions, accepted on signed routes in place of a signature (browser-session.ts). */
  readonly browserSessions?: BrowserSessionPort;
}

export { API_TOKEN_ACTIONS, API_TOKEN_ARN } from './authorize.js';

/** A console background refresh is recorded once per session, action and resource in each window this long. */
export const BACKGROUND_AUDIT_WINDOW_MS = 300_000;
/** Bound on the (session, action, resource) keys remembered for that; beyond it, every key starts a new window. */
const BACKGROUND_AUDIT_KEYS = 10_000;

/** What the front records about one request. */
interface CallState {
  readonly requestId: string;
  readonly route: ManagementRoute | undefined;
  readonly clock: () => Date;
  authFailure: { readonly failure: AuthFailure | 'INVALID_API_TOKEN' } | undefined;
  readonly decisions: Omit<NewAuditRecord, 'status'>[];
  handlerStarted: boolean;
  /** Refused because the audit queue was full: counted by the writer, not recorded. */
  refused: boolean;
  /** Its audit records are queued. */
  audited: boolean;
  /** The body as received (for the signature). */
  rawBody: Buffer;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The body's bytes as received (management API). */
    rawBody?: Buffer;
    mgmtCall?: CallState;
  }
  interface FastifyRequest {
    /** The console session the request was authenticated by (browser-session.ts). */
    browserSessionId?: string;
  }
  interface FastifyContextConfig {
    mgmt?: ManagementRoute;
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY = Buffer.alloc(0);

/** The route a request matched (undefined when none did). */
function routeOf(request: FastifyRequest): ManagementRoute | undefined {
  return request.routeOptions.config.mgmt;
}

function protocolOf(request: FastifyRequest): WireProtocol {
  return routeOf(request)?.protocol ?? 'gatehouse';
}

function sourceIp(request: FastifyRequest): string {
  const a = request.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function userAgent(request: FastifyRequest): string | undefined {
  const ua = request.headers['user-agent'];
  return typeof ua === 'string' ? ua : undefined;
}

function principalArn(p: ResolvedPrincipal): string {
  return p.kind === 'user' ? p.user.arn : p.assumedRoleArn;
}

/**
 * Adds a decision made outside `authorizeCall` (a role's trust policy, the credentials
 * provider's IoT decision, an operation every caller may perform) to the request's
 * audit records. A `signed` route's answer counts it as its authorization decision.
 */
export function recordDecision(request: FastifyRequest, decision: { readonly principal: string; readonly action: string; readonly resource: string; readonly allowed: boolean; readonly reason: string; readonly policy?: string | null; readonly statement?: string | null }): void {
  const state = request.mgmtCall;
  if (state === undefined) throw new Error('recordDecision outside the management API');
  state.decisions.push({
    at: state.clock(),
    principal: decision.principal,
    action: decision.action,
    resource: decision.resource,
    decision: decision.allowed ? 'allow' : 'deny',
    reason: decision.reason,
    policy: decision.policy ?? null,
    statement: decision.statement ?? null,
    sourceIp: sourceIp(request),
    userAgent: userAgent(request) ?? null,
    requestId: state.requestId,
  });
}

export { denialMessage } from './authorize.js';

export class ManagementServer {
  /** `https://HOST:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly audit: AuditWriter;
  readonly #app: FastifyInstance;
  readonly #ownAudit: boolean;
  #closed = false;

  private constructor(app: FastifyInstance, url: string, port: number, audit: AuditWriter, ownAudit: boolean) {
    this.#app = app;
    this.url = url;
    this.port = port;
    this.audit = audit;
    this.#ownAudit = ownAudit;
  }

  static async start(opts: ManagementServerOptions): Promise<ManagementServer> {
    const ownAudit = opts.audit === undefined;
    const audit = opts.audit ?? new AuditWriter(opts.ctx.control, opts.ctx.logger);
    const app = buildManagementApp(opts, audit);
    try {
      await app.listen({ host: opts.listen.host, port: opts.listen.port });
    } catch (e) {
      await app.close().catch(() => undefined);
      const code = (e as NodeJS.ErrnoException).code;
      throw new ManagementListenError(`the management API cannot listen on ${opts.listen.host}:${opts.listen.port}: ${code ?? (e as Error).message}`);
    }
    if (ownAudit) audit.startPruning(opts.auditRetentionDays, opts.ctx.clock);
    const a = app.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    const url = `https://${host}:${a.port}`;
    opts.ctx.logger.info({ event: 'management-listening', url }, 'management API listening');
    return new ManagementServer(app, url, a.port, audit, ownAudit);
  }

  /** New handshakes use the new certificate (rotation) or trusted CAs; open connections stay. */
  updateTls(tls: ManagementTls): void {
    (this.#app.server as HttpsServer).setSecureContext({ key: tls.key, cert: tls.cert, ca: [...tls.ca] });
  }

  /** Closes every connection and the listener, then writes the queued audit records. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#app.close();
    if (this.#ownAudit) await this.audit.close();
    else await this.audit.flush();
  }
}

/** The listener could not be opened (the gateway turns it into its start-up error). */
export class ManagementListenError extends GatehouseError<'MGMT_LISTEN_FAILED'> {
  constructor(message: string) {
    super('MGMT_LISTEN_FAILED', message, 'another program may use that address: choose another gatehouse.management.port, or set gatehouse.management.enabled: false');
    this.name = 'ManagementListenError';
  }
}

/** Every route of the sets, checked for duplicates. */
export function managementRoutes(sets: readonly ManagementRouteSet[]): ManagementRoute[] {
  return routeRegistrations(sets).map((r) => r.route);
}

/**
 * How a route is registered: alone at its method and path, or sharing them with other
 * signed routes (the query protocol's `POST /` serves STS and IAM). Routes that share a
 * method and path must be signed for different services; the first one listed takes
 * every request whose credential scope names none of the others' services (and unsigned
 * requests, which it then refuses), each later one the requests signed for its own
 * (`signingServices`, matched by the router on the `Authorization` header's scope).
 */
export interface RouteRegistration {
  readonly route: ManagementRoute;
  readonly signingServices?: readonly string[];
}

export function routeRegistrations(sets: readonly ManagementRouteSet[]): RouteRegistration[] {
  const byKey = new Map<string, ManagementRoute[]>();
  const all: RouteRegistration[] = [];
  for (const set of sets) {
    for (const r of set.routes) {
      const key = `${r.method} ${r.url}`;
      const others = byKey.get(key);
      if (others === undefined) {
        byKey.set(key, [r]);
        all.push({ route: r });
        continue;
      }
      const services = r.auth.kind === 'signed' ? r.auth.services : [];
      const clash = services.length === 0 || others.some((o) => o.auth.kind !== 'signed' || o.auth.services.some((s) => services.includes(s)));
      if (clash) throw new Error(`management route ${key} is registered twice (set ${set.name})`);
      others.push(r);
      all.push({ route: r, signingServices: services });
    }
  }
  return all;
}

/** The service of a SigV4 `Authorization` header's credential scope (unverified: it only picks the route, whose check follows). */
export function scopeService(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return /^AWS4-HMAC-SHA256 Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([a-z0-9-]{1,64})\/aws4_request[,\s]/.exec(authorization)?.[1];
}

/**
 * Regions a credential scope may name for a service besides the gateway's own: IAM is a
 * global service, which the AWS SDKs and CLI sign for its partition's global region
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
 */
const GLOBAL_SIGNING_REGION: Readonly<Record<string, string>> = { aws: 'us-east-1', 'aws-cn': 'cn-north-1', 'aws-us-gov': 'us-gov-west-1' };

function acceptedRegions(route: ManagementRoute, partition: string, region: string): readonly string[] {
  const global = route.auth.kind === 'signed' && route.auth.globalService === true ? GLOBAL_SIGNING_REGION[partition] : undefined;
  return global === undefined || global === region ? [region] : [region, global];
}

/** The router's constraint on routes that share a method and path (routeRegistrations). */
const SIGNING_SERVICE_CONSTRAINT = {
  name: 'signingService',
  mustMatchWhenDerived: false,
  storage() {
    const handlers = new Map<string, never>();
    return {
      get(service: string): never | null {
        return handlers.get(service) ?? null;
      },
      set(service: string, handler: never): void {
        handlers.set(service, handler);
      },
    };
  },
  // No value (an unsigned request) is no constraint: the first route takes it. A request
  // without a signature (the console's, authenticated by its session cookie) names the
  // service in `x-gatehouse-service`; like the scope, it only picks the route.
  deriveConstraint: (req: IncomingMessage): string => {
    const authorization = req.headers.authorization;
    if (typeof authorization === 'string' && authorization !== '') return scopeService(authorization) as string;
    const named = req.headers[SERVICE_HEADER];
    return (typeof named === 'string' && /^[a-z0-9-]{1,64}$/.test(named) ? named : undefined) as string;
  },
};

/** Builds the fastify instance with every route, the authentication front and the audit (no listener). */
export function buildManagementApp(opts: ManagementServerOptions, audit: AuditWriter): FastifyInstance {
  // The audit list writes what is queued before it reads (audit-route.ts).
  const ctx: ManagementContext = { ...opts.ctx, flushAudit: () => audit.flush() };
  const bearer = opts.apiToken !== undefined ? new BearerCheck(opts.apiToken) : undefined;
  const authority: CallAuthority = { control: ctx.control, iamPolicies: ctx.iamPolicies, clock: ctx.clock, accountId: ctx.iot.accountId };
  const app = Fastify({
    logger: false,
    https: { key: opts.tls.key, cert: opts.tls.cert, ca: [...opts.tls.ca], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
    bodyLimit: opts.bodyLimitBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
    requestTimeout: 30_000,
    genReqId: () => randomUUID(),
    // Path parameters as long as an encoded certificate ARN (ListAttachedPolicies' target).
    routerOptions: {
      maxParamLength: 1024,
      constraints: {
        // Routes sharing a method and path, told apart by the credential scope's service (routeRegistrations).
        signingService: SIGNING_SERVICE_CONSTRAINT,
      },
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });

  // Every body is kept as bytes: the signature covers them; decoding waits until it is verified.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.decorateRequest('caller', undefined);
  app.decorateRequest('iamContext', undefined);
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('mgmtCall', undefined);
  app.decorateRequest('browserSessionId', undefined);
  app.decorateRequest('authorizeCall', async function authorizeCall(this: FastifyRequest, check: CallCheck): Promise<void> {
    const state = this.mgmtCall;
    const caller = this.caller;
    const base = this.iamContext;
    const route = routeOf(this);
    if (state === undefined || caller === undefined || base === undefined || route === undefined) {
      throw new Error('authorizeCall on a request without an authenticated caller');
    }
    const decision = await decideCall(authority, caller, base, check, { sourceIp: sourceIp(this), userAgent: userAgent(this), requestId: state.requestId, secureTransport: base.secureTransport === true });
    state.decisions.push(decision.record);
    if (!decision.allowed) {
      throw accessDeniedError(route.protocol, denialMessage(callerArn(caller), check.action, check.resource, decision.explicit));
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    const route = routeOf(request);
    const state: CallState = { requestId: request.id, route, clock: ctx.clock, authFailure: undefined, decisions: [], handlerStarted: false, refused: false, audited: false, rawBody: EMPTY };
    request.mgmtCall = state;
    void reply.header('x-amzn-RequestId', request.id);
    // Every call is recorded: none starts while the audit queue is full (it fails closed).
    if (route !== undefined && (route.auth.kind !== 'none' || route.auth.audited === true) && !audit.hasRoom() && !(await audit.waitForRoom())) {
      state.refused = true;
      throw auditBacklogError(route.protocol);
    }
    if (route?.auth.kind !== 'signed') return;
    const authorization = request.headers.authorization;
    if ((authorization === undefined || authorization === '') && opts.browserSessions !== undefined) {
      const browser = opts.browserSessions;
      const token = sessionCookie(request, browser.cookieName);
      if (token !== undefined) {
        const csrf = request.headers[CSRF_HEADER];
        const r = browser.check(token, typeof csrf === 'string' ? csrf : undefined,
          { stateChanging: request.method !== 'GET' && request.method !== 'HEAD', touch: request.headers[BACKGROUND_HEADER] === undefined, now: ctx.clock().getTime() });
        if (!r.ok) {
          state.authFailure = { failure: r.failure };
          throw authFailureError(route.protocol, r.failure, r.failure === 'CONSOLE_CSRF_MISMATCH'
            ? 'a state-changing console request needs the session\'s CSRF token in x-csrf-token' : 'the console session has ended: sign in again');
        }
        // The key is resolved on every request: deactivating it, or deleting the user, ends the session.
        const key = await ctx.control.resolveAccessKey(r.accessKeyId, ctx.clock());
        if (key === undefined || key.principal.kind !== 'user') {
          browser.end(r.sessionId);
          state.authFailure = { failure: 'CONSOLE_SESSION_INVALID' };
          throw authFailureError(route.protocol, 'CONSOLE_SESSION_INVALID', 'the console session has ended: its access key is no longer active');
        }
        request.caller = { kind: 'iam', arn: principalArn(key.principal), principal: key.principal };
        request.browserSessionId = r.sessionId;
        return;
      }
    }
    if (authorization === undefined || authorization === '') {
      state.authFailure = { failure: 'MISSING_AUTHENTICATION' };
      if (route.auth.quietWhenAnonymous === true && request.headers.cookie === undefined) state.audited = true;
      throw authFailureError(route.protocol, 'MISSING_AUTHENTICATION', 'Missing Authentication Token');
    }
    if (/^bearer /i.test(authorization)) {
      if (route.auth.apiToken !== true || bearer === undefined) {
        state.authFailure = { failure: 'INCOMPLETE_SIGNATURE' };
        throw authFailureError(route.protocol, 'INCOMPLETE_SIGNATURE', 'this operation takes a Signature Version 4 Authorization header, not a bearer token');
      }
      if (!bearer.accepts(authorization)) {
        state.authFailure = { failure: 'INVALID_API_TOKEN' };
        throw authFailureError(route.protocol, 'UNKNOWN_ACCESS_KEY', 'the API token is not valid');
      }
      request.caller = { kind: 'api-token', arn: API_TOKEN_ARN };
    }
  });

  app.addHook('preValidation', async (request) => {
    const state = request.mgmtCall!;
    const route = state.route;
    const raw = Buffer.isBuffer(request.body) ? request.body : EMPTY;
    state.rawBody = raw;
    request.rawBody = raw;
    if (route === undefined) return;
    if (route.auth.kind === 'signed' && request.caller === undefined) {
      const now = ctx.clock();
      const r = await verifySigV4(
        { method: request.method, url: request.raw.url ?? request.url, headers: request.headers, rawHeaders: request.raw.rawHeaders, body: raw },
        { now, maxClockSkewSeconds: opts.maxClockSkewSeconds, region: acceptedRegions(route, ctx.iot.partition, ctx.iot.region), services: route.auth.services, resolve: (id, at) => ctx.control.resolveAccessKey(id, at),
          // As of the epoch: the session of the key whatever its expiry, while the store still holds it.
          resolveExpired: (id) => ctx.control.resolveAccessKey(id, new Date(0)) },
      );
      if (!r.ok) {
        state.authFailure = { failure: r.failure };
        throw authFailureError(route.protocol, r.failure, r.message);
      }
      request.caller = { kind: 'iam', arn: principalArn(r.principal), principal: r.principal };
    }
    if (request.caller !== undefined) {
      const origin = { sourceIp: sourceIp(request), userAgent: userAgent(request), requestId: state.requestId, secureTransport: (request.socket as Partial<TLSSocket>).encrypted === true };
      request.iamContext = requestContext(request.caller, origin, ctx.clock(), ctx.iot.accountId, ctx.iot.region);
    }
    request.body = decodeBody(request, raw, route.protocol);
  });

  app.addHook('preHandler', (request, _reply, done) => {
    request.mgmtCall!.handlerStarted = true;
    done();
  });

  // The guarantee that no signed route answers without an authorization decision.
  app.addHook('onSend', async (request, reply, payload) => {
    const state = request.mgmtCall;
    if (state?.route?.auth.kind !== 'signed' || !state.handlerStarted || state.decisions.length > 0 || reply.statusCode === 400) return payload;
    ctx.logger.error({ event: 'management-unauthorized-answer', operation: state.route.operationId, status: reply.statusCode },
      'a management route answered without an authorization decision; the answer was replaced by a 500');
    const answer = renderError(state.route.protocol, internalError(state.route.protocol), state.requestId, state.route.xmlNamespace);
    void reply.code(answer.status).headers(answer.headers).type(answer.contentType);
    return answer.body;
  });

  /**
   * The console's background refreshes (docs/console.md, "Live by polling"): a read made
   * by the page itself every few seconds, with a session cookie and the background
   * header, allowed and answered, is recorded once per session, action and resource in
   * each BACKGROUND_AUDIT_WINDOW_MS; the others in the window are not. A refused or
   * failed refresh is always recorded, and so is every request that changes anything
   * (only GET and HEAD, and the permissions question, which performs nothing, qualify).
   */
  const refreshesRecorded = new Map<string, number>();
  const quietRefresh = (request: FastifyRequest, route: ManagementRoute, state: CallState, status: number): boolean => {
    if (request.browserSessionId === undefined || request.headers[BACKGROUND_HEADER] === undefined || status >= 400) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD' && route.operationId !== 'GetConsolePermissions') return false;
    if (state.decisions.length === 0 || state.decisions.some((d) => d.decision !== 'allow')) return false;
    const now = ctx.clock().getTime();
    let quiet = true;
    for (const d of state.decisions) {
      const key = `${request.browserSessionId}\u0000${d.action}\u0000${d.resource}`;
      const last = refreshesRecorded.get(key);
      if (last === undefined || now - last >= BACKGROUND_AUDIT_WINDOW_MS) {
        quiet = false;
        if (refreshesRecorded.size >= BACKGROUND_AUDIT_KEYS) refreshesRecorded.clear();
        refreshesRecorded.set(key, now);
      }
    }
    return quiet;
  };

  /** Queues the audit records of a request, once: as its answer finishes, or as a stream it opened starts. */
  const auditRequest = (request: FastifyRequest, status: number): void => {
    const state = request.mgmtCall;
    const route = state?.route;
    if (state === undefined || route === undefined || state.refused || state.audited) return;
    state.audited = true;
    const common = { sourceIp: sourceIp(request), userAgent: userAgent(request) ?? null, status, requestId: state.requestId };
    if (state.authFailure !== undefined) {
      audit.append({ at: ctx.clock(), principal: 'anonymous', action: auditAction(route, state.rawBody), resource: '*', decision: 'deny', reason: state.authFailure.failure, policy: null, statement: null, ...common });
      return;
    }
    if (quietRefresh(request, route, state, status)) return;
    for (const d of state.decisions) audit.append({ ...d, status });
    if (state.decisions.length === 0 && request.caller === undefined && route.auth.kind === 'device-certificate') {
      // Refused before the handler could decide (its path parameters did not validate).
      audit.append({ at: ctx.clock(), principal: 'anonymous', action: route.action, resource: '*', decision: 'deny', reason: 'INVALID_REQUEST', policy: null, statement: null, ...common });
    }
    if (state.decisions.length === 0 && request.caller !== undefined) {
      // Authenticated, but no decision: its input was refused, or the handler broke the rule.
      const reason = state.handlerStarted && status !== 400 ? 'NO_AUTHORIZATION_DECISION' : 'INVALID_REQUEST';
      audit.append({ at: ctx.clock(), principal: callerArn(request.caller), action: route.action, resource: '*', decision: 'deny', reason, policy: null, statement: null, ...common });
    }
  };
  app.addHook('onResponse', async (request, reply) => {
    auditRequest(request, reply.statusCode);
  });

  app.setNotFoundHandler((request, reply) => {
    const answer = renderError('gatehouse', new ManagementError(404, 'MGMT_NOT_FOUND', 'no such operation'), request.id);
    void reply.code(404).header('x-amzn-ErrorType', 'UnknownOperationException').type(answer.contentType).send(answer.body);
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const route = routeOf(request);
    const state = request.mgmtCall;
    if (route?.refusal !== undefined && (state?.refused === true
      || (request.caller !== undefined && state?.authFailure === undefined && !(error instanceof ManagementError && error.status === 403)))) {
      return reply.code(200).type(JSON_TYPE).send(route.refusal);
    }
    const protocol = protocolOf(request);
    const e = toManagementError(error, protocol);
    if (e.status >= 500 && !(error instanceof ManagementError)) {
      ctx.logger.error({ event: 'management-error', operation: routeOf(request)?.operationId, method: request.method, err: error.message }, 'management request failed unexpectedly');
    }
    const answer = renderError(protocol, e, request.id, routeOf(request)?.xmlNamespace);
    return reply.code(answer.status).headers(answer.headers).type(answer.contentType).send(answer.body);
  });

  for (const { route, signingServices } of routeRegistrations(opts.routeSets)) {
    const schema: Record<string, unknown> = {};
    if (route.body) schema['body'] = validationSchema(route.body);
    if (route.query) schema['querystring'] = validationSchema(route.query);
    if (route.params) schema['params'] = validationSchema(route.params);
    for (const service of signingServices ?? [undefined]) {
      app.route({
        method: route.method,
        url: route.url,
        schema,
        config: { mgmt: route },
        ...(service !== undefined ? { constraints: { signingService: service } } : {}),
        handler: async (request, reply) => {
          const out = await route.handler(request, reply, ctx);
          // A stream the handler took over (hijacked) may never finish: its records are written as it opens.
          if (reply.sent && !reply.raw.writableEnded) auditRequest(request, reply.raw.statusCode);
          if (out === undefined || reply.sent) return reply;
          if (typeof out === 'string' || Buffer.isBuffer(out)) return reply.send(out);
          return reply.type(JSON_TYPE).send(JSON.stringify(out));
        },
      });
    }
  }
  return app;
}

/** The value of the cookie named `name` (the first one when repeated), if any. */
function sessionCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string' || header === '') return undefined;
  const v = parseCookies(header)[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The action an unauthenticated request asked for: the route's, or for the query
 * protocol (one route, many actions) `sts:<Action>` of its form body when readable.
 */
function auditAction(route: ManagementRoute, raw: Buffer): string {
  if (route.protocol !== 'query-xml' || raw.length === 0 || raw.length > 4096) return route.action;
  const action = new URLSearchParams(raw.toString('latin1')).get('Action');
  const service = route.action.split(':')[0]!;
  return action !== null && /^[A-Za-z]{1,64}$/.test(action) ? `${service}:${action}` : route.action;
}

function decodeBody(request: FastifyRequest, raw: Buffer, protocol: WireProtocol): unknown {
  if (raw.length === 0) return undefined;
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json')) || type.startsWith('application/x-amz-json')) {
    try {
      return JSON.parse(raw.toString('utf8'), (key, value: unknown) => {
        if (key === '__proto__') throw new SyntaxError('forbidden key');
        return value;
      }) as unknown;
    } catch {
      throw invalidRequestError(protocol, 'the body is not valid JSON');
    }
  }
  if (type === 'application/x-www-form-urlencoded') {
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) {
      if (k in out) throw invalidRequestError(protocol, `the parameter ${k.slice(0, 64)} is given more than once`);
      out[k] = v;
    }
    return out;
  }
  const code = protocol === 'rest-json' ? 'UnsupportedMediaTypeException' : protocol === 'query-xml' ? 'InvalidParameterValue' : 'MGMT_UNSUPPORTED_MEDIA_TYPE';
  throw new ManagementError(415, code, 'send the body as application/json (or a form for the query protocol)');
}

interface AjvIssue {
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
  readonly keyword: string;
}

function toManagementError(error: FastifyError, protocol: WireProtocol): ManagementError {
  if (error instanceof ManagementError) return error;
  if (Array.isArray(error.validation) && error.validation.length > 0) {
    const issue = error.validation[0] as AjvIssue;
    const where = error.validationContext ?? 'body';
    const field = issue.keyword === 'required' ? `${issue.instancePath}/${String(issue.params['missingProperty'])}`
      : issue.keyword === 'additionalProperties' ? `${issue.instancePath}/${String(issue.params['additionalProperty'])}` : issue.instancePath;
    return invalidRequestError(protocol, `${where}${field === '' ? '' : ` ${field}`}: ${issue.message ?? 'is invalid'}`);
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const code = protocol === 'rest-json' ? 'RequestEntityTooLargeException' : protocol === 'query-xml' ? 'RequestEntityTooLarge' : 'MGMT_BODY_TOO_LARGE';
    return new ManagementError(413, code, 'the body is larger than gatehouse.management.bodyLimitBytes');
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) return invalidRequestError(protocol, 'the request cannot be accepted');
  if (error.statusCode === 503) {
    const code = protocol === 'rest-json' ? 'ServiceUnavailableException' : protocol === 'query-xml' ? 'ServiceUnavailable' : 'MGMT_UNAVAILABLE';
    return new ManagementError(503, code, 'the gateway is stopping');
  }
  // A shared registry (and its control store) out of reach, wherever the call met it
  // (authentication, authorization, an operation): nothing was decided or changed.
  if (error instanceof RegistryError && (error.code === 'REGISTRY_UNAVAILABLE' || error.code === 'REGISTRY_BUSY')) {
    const code = protocol === 'rest-json' ? 'ServiceUnavailableException' : protocol === 'query-xml' ? 'ServiceUnavailable' : 'MGMT_UNAVAILABLE';
    return new ManagementError(503, code, 'the registry cannot be reached or is busy; try again');
  }
  return internalError(protocol);
}
