/**
 * How a route joins the management API: a `ManagementRoute` (method, path, wire
 * protocol, how its caller is authenticated, the IAM action it performs for the audit
 * log, schemas for validation and OpenAPI) and its handler. Each group of routes is a
 * `ManagementRouteSet` listed in `route-sets.ts`; the server registers every set on
 * its fastify instance behind one authentication and audit front (server.ts).
 *
 * What the front guarantees a handler of a `signed` route:
 * - `request.caller` is set (SigV4 verified, or the API token when the route accepts it)
 *   and `request.iamContext` holds the request's IAM context;
 * - `request.body` is the parsed body (JSON for `application/json`, an object of
 *   strings for `application/x-www-form-urlencoded`), validated against `body` when
 *   given, and `request.rawBody` the bytes that were signed.
 *
 * What a handler of a `signed` route must do: call `request.authorizeCall(check)` for
 * every action before performing it, and before answering anything that depends on
 * the resource (found or not found alike: AWS authorizes on the ARN before looking the
 * resource up). An answer produced by the handler without a call is turned into a 500
 * and logged; the only exception is a 400 about the request's own input, which tells
 * nothing about any resource. Errors thrown by a handler are rendered in the route's
 * wire protocol (`ManagementError` carries status, AWS error code and message).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { IotDeployment } from '../../core/index.js';
import type { ApiContext } from '../context.js';
import type { ControlStore } from '../../identity/control.js';
import type { Registry } from '../../identity/registry.js';
import type { CertificateVerifier } from '../../identity/verify.js';
import type { Logger } from '../../observability/logger.js';
import type { PolicyStore } from '../../runtime/policy-store.js';
import type { WireProtocol } from './call.js';
import type { GatehouseOperations } from './operations.js';
import type { IamPolicyCache } from './iam-engine.js';
import type { IotControlPlaneExtras } from './iot/context.js';

/** How the caller of a route is identified. */
export type RouteAuth =
  /**
   * AWS Signature Version 4 with a credential scope naming one of `services` (the
   * signing names the AWS SDKs use: `iot`, `sts`, `greengrass`; Gatehouse's own routes
   * accept `gatehouse` and `execute-api`). With `apiToken`, `Authorization: Bearer
   * <API token>` is accepted too, as the `api-token` principal.
   */
  | {
    readonly kind: 'signed';
    readonly services: readonly string[];
    readonly apiToken?: boolean;
    /**
     * A global service (IAM): the scope may also name the partition's global signing
     * region (`us-east-1` in `aws`), as the AWS SDKs and CLI sign IAM requests.
     */
    readonly globalService?: boolean;
    /**
     * A request with neither `Authorization` nor a console session cookie is refused
     * without an audit record: the console's page asks whether it is signed in each time
     * it loads, which is not an attempt at anything.
     */
    readonly quietWhenAnonymous?: boolean;
  }
  /** A device's client certificate over mutual TLS (the credentials provider); the handler decides and audits. */
  | { readonly kind: 'device-certificate' }
  /**
   * No caller (health, the console's files). `audited`: the handler records decisions
   * (`recordDecision`, the console's sign-in), so the call waits for room in the audit
   * queue like an authenticated one, and is refused when there is none.
   */
  | { readonly kind: 'none'; readonly audited?: boolean };

export type ManagementMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ManagementResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default application/json. */
  readonly contentType?: string;
}

export interface ManagementRoute {
  readonly method: ManagementMethod;
  /** fastify path syntax (`/things/:thingName`). */
  readonly url: string;
  /** The AWS operation name (`CreateThing`), or Gatehouse's (`ListAuditRecords`). */
  readonly operationId: string;
  /**
   * The IAM action the route performs (`iot:CreateThing`), recorded in the audit log
   * when authentication fails before the handler could say more. Routes that perform
   * several actions name the main one.
   */
  readonly action: string;
  readonly protocol: WireProtocol;
  /** For `query-xml`: the XML namespace of its answers and errors (STS's when absent). */
  readonly xmlNamespace?: string;
  readonly auth: RouteAuth;
  readonly summary: string;
  readonly description?: string;
  /** OpenAPI tag: `AWS IoT`, `AWS Greengrass`, `AWS STS`, `Credentials provider`, `Gatehouse`, … */
  readonly tag: string;
  readonly body?: z.ZodType;
  readonly query?: z.ZodType;
  readonly params?: z.ZodType;
  readonly responses: Readonly<Record<number, ManagementResponseSpec>>;
  /**
   * A request that passes the route's validation (the path with its parameters filled
   * in, query and body). Required for `signed` routes: a test calls every route with
   * it as a caller who has no permission and expects the route's AccessDenied answer,
   * which proves the handler asks before it acts.
   */
  /**
   * An answer sent with status 200 instead of any error once the caller is
   * authenticated (a denial excepted), and instead of the audit queue's refusal: for
   * EMQX's backends, which read any other status as "ignore" (ipc-routes.ts).
   */
  readonly refusal?: string;
  readonly example?: { readonly path: string; readonly body?: unknown; readonly contentType?: string; readonly headers?: Readonly<Record<string, string>> };
  /**
   * Answers the request. The returned value is the response body: an object is sent as
   * JSON, a string as is (set the content type on `reply`); `undefined` after the
   * handler has sent the reply itself.
   */
  readonly handler: (request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext) => Promise<unknown>;
}

/** A group of routes (one service or one area), registered together. */
export interface ManagementRouteSet {
  readonly name: string;
  readonly routes: readonly ManagementRoute[];
}

/**
 * What the handlers share; built once per server. Fields other engineers' routes need
 * are added here as optional members (the gateway fills them in).
 */
export interface ManagementContext {
  readonly control: ControlStore;
  readonly registry: Registry;
  /** `gatehouse.iot`: partition, region and account of every ARN. */
  readonly iot: IotDeployment;
  readonly logger: Logger;
  readonly clock: () => Date;
  /** The certificate verifier devices are checked with (the credentials provider). */
  readonly verifier: CertificateVerifier;
  /** The policies in force for devices (the credentials provider decides `iot:AssumeRoleWithCertificate` with them). */
  readonly policy: PolicyStore;
  /** IAM policies compiled by the IAM dialect, cached by policy versions (identity and trust policies). */
  readonly iamPolicies: IamPolicyCache;
  /** The gateway CA and the connectivity information, for the AWS IoT and Greengrass routes (without it they answer 503). */
  readonly iotControlPlane?: IotControlPlaneExtras;
  /** The broker's connections, the configuration file and the metrics, for Gatehouse's operations (gatehouse-ops.ts). */
  readonly operations?: GatehouseOperations;
  /** The IPC operations' context (limiter, certificate streams, metrics), for ipc-routes.ts; without it they answer 503. */
  readonly ipc?: ApiContext;
  /** Writes the queued audit records (the server sets it: the audit list reads after it). */
  readonly flushAudit?: () => Promise<unknown>;
}
