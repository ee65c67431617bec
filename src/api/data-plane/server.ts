/**
 * The HTTPS data-plane listener (AWS IoT's device data endpoint, port 8443 there):
 * fastify 5 over TLS with the gateway's server certificate, on its own port
 * (`gatehouse.dataPlane`). Two kinds of callers:
 *
 * - a device, by mutual TLS with its certificate: verified by the identity layer's
 *   verifier exactly as the broker does (chain to a trusted device CA, validity,
 *   registered and ACTIVE), acting as a thing the certificate is attached to (the one
 *   named in `x-amzn-iot-thingname`, or its only thing), and authorized by the AWS IoT
 *   policies in force for that connection (the policy engine's connection view);
 * - an IAM user or role session, by AWS Signature Version 4 signed for the `iotdata`
 *   service and the gateway's region, with credentials from the control plane, and
 *   authorized by its identity policies (the management API's `decideCall`).
 *
 * Order of checks for every request to a route:
 *  1. onRequest: a request id (`x-amzn-RequestId`).
 *  2. Body: at most `bodyLimitBytes` (413), kept as the bytes received.
 *  3. preValidation: an `Authorization` header means SigV4 (sigv4.ts, every check in its
 *     order; a client certificate sent as well is ignored) — refused at once when the
 *     gateway serves no IAM principals here (`ctx.iamPrincipals` false, shared registry); otherwise a client
 *     certificate means a device (verify, then the thing); otherwise 403
 *     MissingAuthenticationTokenException.
 *  4. The handler, which calls `request.authorizeData` before each action (decision,
 *     audit record, 403 ForbiddenException on deny). An answer without a decision (other
 *     than a 400 about the input) is replaced by a 500 and logged.
 *  5. onResponse: the request's audit records (one per decision, or one for the refusal
 *     before any) are queued with the status answered.
 *
 * Every refusal is AWS's error shape (`x-amzn-ErrorType` header, `{"message"}` body)
 * with Gatehouse's reason code added to the body as `reason`. Nothing here logs a URL,
 * header or body.
 */
import { randomUUID } from 'node:crypto';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { explainConnection } from '../../core/index.js';
import { GatehouseError } from '../../core/errors.js';
import type { NewAuditRecord } from '../../identity/control.js';
import { registeredConnection } from '../../identity/iot-connection.js';
import type { IotCertificateContext } from '../../core/policy/iot/context.js';
import { iotCertificateContextFromDer } from '../../identity/iot-context.js';
import { peerChainPem, peerLeafDer, requestSourceIp } from '../device-certificate.js';
import { AuditWriter } from '../mgmt/audit.js';
import type { ManagementTls } from '../mgmt/server.js';
import { callerArn, decideCall, denialMessage, requestContext, type CallAuthority } from '../mgmt/authorize.js';
import { authFailureError, ManagementError } from '../mgmt/errors.js';
import { verifySigV4 } from '../mgmt/sigv4.js';
import { DataPlaneError, dataPlaneErrorCode, type DataPlaneCaller, type DataPlaneContext, type DataPlaneRoute, type DataPlaneRouteSet } from './routes.js';

/** Key, certificate with chain, and trusted device CAs (the client certificates asked for): the management listener's shape. */
export type DataPlaneTls = ManagementTls;

export interface DataPlaneServerOptions {
  readonly ctx: DataPlaneContext;
  readonly routeSets: readonly DataPlaneRouteSet[];
  readonly tls: DataPlaneTls;
  readonly listen: { readonly host: string; readonly port: number };
  readonly bodyLimitBytes: number;
  readonly maxClockSkewSeconds: number;
  /** The gateway's audit writer, shared with the other listeners (one of its own when absent, closed with the listener). */
  readonly audit?: AuditWriter;
}

/** The signing name of the AWS IoT data plane (what `@aws-sdk/client-iot-data-plane` signs for). */
export const DATA_PLANE_SIGNING_SERVICE = 'iotdata';
const JSON_TYPE = 'application/json';

interface CallState {
  readonly requestId: string;
  readonly route: DataPlaneRoute | undefined;
  readonly decisions: Omit<NewAuditRecord, 'status'>[];
  /** A refusal before any decision (authentication): principal and reason. */
  refused: { readonly principal: string; readonly reason: string } | undefined;
  handlerStarted: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    dataCall?: CallState;
  }
  interface FastifyContextConfig {
    dataPlane?: DataPlaneRoute;
  }
}

function userAgent(request: FastifyRequest): string | undefined {
  const ua = request.headers['user-agent'];
  return typeof ua === 'string' ? ua : undefined;
}

export class DataPlaneServer {
  /** `https://HOST:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly audit: AuditWriter;
  readonly #app: FastifyInstance;
  readonly #ownsAudit: boolean;
  #closed = false;

  private constructor(app: FastifyInstance, url: string, port: number, audit: AuditWriter, ownsAudit: boolean) {
    this.#app = app;
    this.url = url;
    this.port = port;
    this.audit = audit;
    this.#ownsAudit = ownsAudit;
  }

  static async start(opts: DataPlaneServerOptions): Promise<DataPlaneServer> {
    const audit = opts.audit ?? new AuditWriter(opts.ctx.control, opts.ctx.logger);
    const app = buildDataPlaneApp(opts, audit);
    try {
      await app.listen({ host: opts.listen.host, port: opts.listen.port });
    } catch (e) {
      await app.close().catch(() => undefined);
      const code = (e as NodeJS.ErrnoException).code;
      throw new DataPlaneListenError(`the data-plane listener cannot listen on ${opts.listen.host}:${opts.listen.port}: ${code ?? (e as Error).message}`);
    }
    const a = app.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    const url = `https://${host}:${a.port}`;
    opts.ctx.logger.info({ event: 'data-plane-listening', url }, 'data-plane listener ready');
    return new DataPlaneServer(app, url, a.port, audit, opts.audit === undefined);
  }

  /** New handshakes use the new certificate (rotation) or trusted CAs; open connections stay. */
  updateTls(tls: DataPlaneTls): void {
    (this.#app.server as HttpsServer).setSecureContext({ key: tls.key, cert: tls.cert, ca: [...tls.ca] });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#app.close();
    if (this.#ownsAudit) await this.audit.close();
  }
}

/** The listener could not be opened (the gateway turns it into its start-up error). */
export class DataPlaneListenError extends GatehouseError<'DATA_PLANE_LISTEN_FAILED'> {
  constructor(message: string) {
    super('DATA_PLANE_LISTEN_FAILED', message, 'another program may use that address: choose another gatehouse.dataPlane.port, or set gatehouse.dataPlane.enabled: false');
    this.name = 'DataPlaneListenError';
  }
}

function routeOf(request: FastifyRequest): DataPlaneRoute | undefined {
  return request.routeOptions.config.dataPlane;
}

/** The certificate ARN of a certificate id (the principal of a device's audit records). */
function certificateArn(ctx: DataPlaneContext, id: string): string {
  return `arn:${ctx.iot.partition}:iot:${ctx.iot.region}:${ctx.iot.accountId}:cert/${id}`;
}

/**
 * A device caller from its client certificate: the broker's identity checks (verified,
 * registered, ACTIVE, attached to the thing it acts as).
 */
async function deviceCaller(request: FastifyRequest, pem: string, ctx: DataPlaneContext, now: Date): Promise<DataPlaneCaller> {
  const verified = await ctx.verifier.verify(pem, now);
  const principal = verified.certificateId !== undefined ? certificateArn(ctx, verified.certificateId) : 'anonymous';
  const state = request.dataCall!;
  const refuse = (reason: string, message: string): DataPlaneError => {
    state.refused = { principal, reason };
    return new DataPlaneError(403, 'ForbiddenException', message, reason);
  };
  if (!verified.ok) throw refuse(verified.reason, 'Forbidden: the client certificate is not accepted');
  const header = request.headers['x-amzn-iot-thingname'];
  let thingName: string;
  if (typeof header === 'string' && header !== '') {
    if (!verified.thingNames.includes(header)) throw refuse('THING_NOT_ATTACHED', 'Forbidden: the certificate is not attached to the thing named in x-amzn-iot-thingname');
    thingName = header;
  } else if (verified.thingNames.length === 1) {
    thingName = verified.thingNames[0]!;
  } else if (verified.thingNames.length === 0) {
    throw refuse('THING_NOT_ATTACHED', 'Forbidden: the certificate is attached to no thing');
  } else {
    throw refuse('THING_NAME_REQUIRED', 'Forbidden: the certificate is attached to several things: name one in x-amzn-iot-thingname');
  }
  let subject;
  try {
    subject = await registeredConnection(ctx.registry, thingName, {
      certificateId: verified.certificateId, sourceIp: requestSourceIp(request), certificateContext: certificateContext(request, verified.certificateId),
    });
  } catch (e) {
    if (e instanceof GatehouseError) throw refuse(String(e.code), 'Forbidden: the thing or its certificate changed');
    throw e;
  }
  return { kind: 'device', arn: principal, certificateId: verified.certificateId, thingName, subject };
}

/** The certificate's fields as IoT policy variables name them, decoded once per TLS connection from the presented leaf. */
const decoded = new WeakMap<object, { readonly certificateId: string; readonly context: IotCertificateContext }>();

function certificateContext(request: FastifyRequest, certificateId: string): IotCertificateContext {
  const known = decoded.get(request.socket);
  if (known?.certificateId === certificateId) return known.context;
  const der = peerLeafDer(request);
  if (der === undefined) throw new Error('a verified device request without a client certificate');
  const context = iotCertificateContextFromDer(der);
  decoded.set(request.socket, { certificateId, context });
  return context;
}

/** Builds the fastify instance with every route and the authentication and audit front (no listener). */
export function buildDataPlaneApp(opts: DataPlaneServerOptions, audit: AuditWriter): FastifyInstance {
  const { ctx } = opts;
  const authority: CallAuthority = { control: ctx.control, iamPolicies: ctx.iamPolicies, clock: ctx.clock, accountId: ctx.iot.accountId };
  const app = Fastify({
    logger: false,
    https: { key: opts.tls.key, cert: opts.tls.cert, ca: [...opts.tls.ca], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
    bodyLimit: opts.bodyLimitBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
    requestTimeout: 30_000,
    genReqId: () => randomUUID(),
    routerOptions: { maxParamLength: 512 },
  });

  // Every body is kept as bytes: the signature covers them, and a shadow document is read by the service.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.decorateRequest('dataCaller', undefined);
  app.decorateRequest('dataCall', undefined);
  app.decorateRequest('authorizeData', async function authorizeData(this: FastifyRequest, check: { action: string; resource: string }): Promise<void> {
    const state = this.dataCall;
    const caller = this.dataCaller;
    if (state === undefined || caller === undefined) throw new Error('authorizeData on a request without an authenticated caller');
    const now = ctx.clock();
    const origin = { sourceIp: requestSourceIp(this), userAgent: userAgent(this), requestId: state.requestId, secureTransport: true };
    if (caller.kind === 'iam') {
      const iamCaller = { kind: 'iam' as const, arn: caller.arn, principal: caller.principal };
      const base = requestContext(iamCaller, origin, now, ctx.iot.accountId, ctx.iot.region);
      const d = await decideCall(authority, iamCaller, base, check, origin);
      state.decisions.push(d.record);
      if (!d.allowed) throw new DataPlaneError(403, 'ForbiddenException', denialMessage(callerArn(iamCaller), check.action, check.resource, d.explicit), d.record.reason);
      return;
    }
    // A device: its AWS IoT policies for the connection it makes (the broker's view).
    const d = explainConnection(ctx.policy.current, caller.subject, { kind: 'iot', request: { action: check.action, resource: check.resource } }, () => now.getTime());
    state.decisions.push({
      at: now, principal: caller.arn, action: check.action, resource: check.resource, decision: d.allowed ? 'allow' : 'deny', reason: d.reason,
      policy: d.policy ?? null, statement: d.statement ?? null, sourceIp: origin.sourceIp, userAgent: origin.userAgent ?? null, requestId: state.requestId,
    });
    if (!d.allowed) throw new DataPlaneError(403, 'ForbiddenException', `Forbidden: thing ${caller.thingName} may not perform ${check.action} on ${check.resource} (${d.reason})`, d.reason);
  });

  app.addHook('onRequest', async (request, reply) => {
    request.dataCall = { requestId: request.id, route: routeOf(request), decisions: [], refused: undefined, handlerStarted: false };
    void reply.header('x-amzn-RequestId', request.id);
  });

  app.addHook('preValidation', async (request) => {
    const state = request.dataCall!;
    const route = state.route;
    if (route === undefined) return;
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    request.body = raw;
    const now = ctx.clock();
    const authorization = request.headers.authorization;
    if (authorization !== undefined && authorization !== '') {
      if (ctx.iamPrincipals === false) {
        state.refused = { principal: 'anonymous', reason: 'IAM_UNAVAILABLE_ON_SHARED_REGISTRY' };
        throw new DataPlaneError(403, 'ForbiddenException',
          'Forbidden: this gateway serves the data plane to devices by their certificates only; IAM principals (SigV4) are not available with a shared registry yet', 'IAM_UNAVAILABLE_ON_SHARED_REGISTRY');
      }
      const r = await verifySigV4(
        { method: request.method, url: request.raw.url ?? request.url, headers: request.headers, rawHeaders: request.raw.rawHeaders, body: raw },
        { now, maxClockSkewSeconds: opts.maxClockSkewSeconds, region: ctx.iot.region, services: [route.signingService ?? DATA_PLANE_SIGNING_SERVICE], resolve: (id, at) => ctx.control.resolveAccessKey(id, at),
          resolveExpired: (id) => ctx.control.resolveAccessKey(id, new Date(0)) },
      );
      if (!r.ok) {
        state.refused = { principal: 'anonymous', reason: r.failure };
        const e = authFailureError('rest-json', r.failure, r.message);
        throw new DataPlaneError(e.status, e.code, e.message, r.failure);
      }
      const p = r.principal;
      request.dataCaller = { kind: 'iam', arn: p.kind === 'user' ? p.user.arn : p.assumedRoleArn, principal: p };
      return;
    }
    const pem = (request.socket as Partial<TLSSocket>).encrypted === true ? peerChainPem(request) : undefined;
    if (pem !== undefined) {
      request.dataCaller = await deviceCaller(request, pem, ctx, now);
      return;
    }
    state.refused = { principal: 'anonymous', reason: 'MISSING_AUTHENTICATION' };
    throw new DataPlaneError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token: sign the request (SigV4, service iotdata) or present a device certificate', 'MISSING_AUTHENTICATION');
  });

  app.addHook('preHandler', (request, _reply, done) => {
    request.dataCall!.handlerStarted = true;
    done();
  });

  // No route answers without an authorization decision.
  app.addHook('onSend', async (request, reply, payload) => {
    const state = request.dataCall;
    if (state?.route === undefined || !state.handlerStarted || state.decisions.length > 0 || reply.statusCode === 400) return payload;
    ctx.logger.error({ event: 'data-plane-unauthorized-answer', operation: state.route.operationId, status: reply.statusCode },
      'a data-plane route answered without an authorization decision; the answer was replaced by a 500');
    const e = new DataPlaneError(500, 'InternalFailureException', 'Internal service failure', 'NO_AUTHORIZATION_DECISION');
    void reply.code(500).header('x-amzn-ErrorType', e.code).type(JSON_TYPE);
    return JSON.stringify({ message: e.message, reason: e.reason });
  });

  app.addHook('onResponse', async (request, reply) => {
    const state = request.dataCall;
    const route = state?.route;
    if (state === undefined || route === undefined) return;
    const common = { sourceIp: requestSourceIp(request), userAgent: userAgent(request) ?? null, status: reply.statusCode, requestId: state.requestId };
    for (const d of state.decisions) audit.append({ ...d, status: reply.statusCode });
    if (state.decisions.length === 0) {
      const principal = state.refused?.principal ?? (request.dataCaller !== undefined ? request.dataCaller.arn : 'anonymous');
      const reason = state.refused?.reason ?? (state.handlerStarted && reply.statusCode !== 400 ? 'NO_AUTHORIZATION_DECISION' : 'INVALID_REQUEST');
      audit.append({ at: ctx.clock(), principal, action: route.action, resource: '*', decision: 'deny', reason, policy: null, statement: null, ...common });
    }
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).header('x-amzn-ErrorType', 'ResourceNotFoundException').type(JSON_TYPE)
      .send(JSON.stringify({ message: 'no such operation', reason: 'NO_SUCH_OPERATION' }));
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const e = toDataPlaneError(error);
    if (e.status >= 500 && !(error instanceof DataPlaneError)) {
      ctx.logger.error({ event: 'data-plane-error', operation: routeOf(request)?.operationId, method: request.method, err: error.message }, 'data-plane request failed unexpectedly');
    }
    return reply.code(e.status).header('x-amzn-ErrorType', e.code).type(JSON_TYPE).send(JSON.stringify({ message: e.message, reason: e.reason }));
  });

  const seen = new Set<string>();
  for (const set of opts.routeSets) {
    for (const route of set.routes) {
      const key = `${route.method} ${route.url}`;
      if (seen.has(key)) throw new Error(`data-plane route ${key} is registered twice (set ${set.name})`);
      seen.add(key);
      app.route({
        method: route.method,
        url: route.url,
        config: { dataPlane: route },
        handler: async (request, reply) => {
          const out = await route.handler(request, reply, ctx);
          if (out === undefined || reply.sent) return reply;
          if (typeof out === 'string' || Buffer.isBuffer(out)) return reply.send(out);
          return reply.type(JSON_TYPE).send(JSON.stringify(out));
        },
      });
    }
  }
  return app;
}

function toDataPlaneError(error: FastifyError): DataPlaneError {
  if (error instanceof DataPlaneError) return error;
  if (error instanceof ManagementError) return new DataPlaneError(error.status, error.code, error.message, error.code);
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new DataPlaneError(413, 'RequestEntityTooLargeException', 'The payload exceeds the maximum size allowed', 'BODY_TOO_LARGE');
  if (error.statusCode === 503) return new DataPlaneError(503, 'ServiceUnavailableException', 'the gateway is stopping', 'STOPPING');
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new DataPlaneError(error.statusCode, dataPlaneErrorCode(error.statusCode), 'the request cannot be accepted', 'INVALID_REQUEST');
  }
  return new DataPlaneError(500, 'InternalFailureException', 'Internal service failure', 'INTERNAL_ERROR');
}
