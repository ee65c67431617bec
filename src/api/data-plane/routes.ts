/**
 * How a route joins the HTTPS data-plane listener (server.ts): a `DataPlaneRoute`
 * (method, path, the AWS operation and its main action) and its handler, grouped in a
 * `DataPlaneRouteSet` listed in `route-sets.ts`. Adding a service to the listener is
 * adding a route module and listing its set there; what the service needs from the
 * gateway goes into `DataPlaneContext` as an optional member, filled in by gateway.ts.
 *
 * What the listener guarantees a handler: `request.dataCaller` is set (a device by
 * mutual TLS, or an IAM principal by SigV4 signed for `iotdata`) and `request.body` is
 * the body's bytes as received (a Buffer, empty when there was none).
 *
 * What a handler must do: call `request.authorizeData({ action, resource })` for every
 * action before it performs it and before it answers anything that depends on the
 * resource (found or not alike). The call decides with the caller's own policies (the
 * device's AWS IoT policies; the IAM principal's identity policies), writes the audit
 * record, and throws the 403 on a deny. An answer without a decision is replaced by a
 * 500 and logged, except a 400 about the request's own input. Errors are thrown as
 * `DataPlaneError` (status, AWS error code, message, Gatehouse reason code).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IotDeployment } from '../../core/policy/iot/context.js';
import type { ConnectionSubject } from '../../core/index.js';
import type { ControlStore, ResolvedPrincipal } from '../../identity/control.js';
import type { Registry } from '../../identity/registry.js';
import type { CertificateVerifier } from '../../identity/verify.js';
import type { Logger } from '../../observability/logger.js';
import type { PolicyStore } from '../../runtime/policy-store.js';
import type { IamPolicyCache } from '../mgmt/iam-engine.js';
import type { RetainedPlane } from './retained-service.js';
import type { JobService } from './job-service.js';
import type { ShadowService } from './shadow-service.js';

export type DataPlaneMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface DataPlaneRoute {
  readonly method: DataPlaneMethod;
  /** fastify path syntax (`/things/:thingName/shadow`). */
  readonly url: string;
  /** The AWS operation (`GetThingShadow`). */
  readonly operationId: string;
  /** The action recorded when the caller could not be authenticated (`iot:GetThingShadow`). */
  readonly action: string;
  /** The SigV4 signing name signed requests must use (default `iotdata`; the jobs API's is `iot-jobs-data`). */
  readonly signingService?: string;
  /**
   * A request that passes the route's input checks (the path with its parameters and
   * query filled in, and the body). A test calls every route with it as a caller with no
   * permission and expects 403 ForbiddenException: the proof that the handler asks
   * before it acts.
   */
  readonly example: { readonly path: string; readonly body?: string };
  /**
   * Answers the request: an object is sent as JSON, a string or Buffer as is (set the
   * content type on `reply`), `undefined` when the handler sent the reply itself.
   */
  readonly handler: (request: FastifyRequest, reply: FastifyReply, ctx: DataPlaneContext) => Promise<unknown>;
}

export interface DataPlaneRouteSet {
  readonly name: string;
  readonly routes: readonly DataPlaneRoute[];
}

/** What the handlers share; built once per listener. */
export interface DataPlaneContext {
  readonly registry: Registry;
  readonly control: ControlStore;
  /** `gatehouse.iot`: partition, region and account of every ARN, and the SigV4 region. */
  readonly iot: IotDeployment;
  readonly logger: Logger;
  readonly clock: () => Date;
  /** Device certificates are verified with it (the broker's checks). */
  readonly verifier: CertificateVerifier;
  /** The policies in force for devices (their AWS IoT policies decide a device's calls). */
  readonly policy: PolicyStore;
  /** IAM identity policies of SigV4 callers, compiled and cached. */
  readonly iamPolicies: IamPolicyCache;
  /**
   * False when SigV4 callers are refused (`IAM_UNAVAILABLE_ON_SHARED_REGISTRY`): on a
   * shared (PostgreSQL) registry the IAM users and roles still live in each node's own
   * SQLite file, and a principal known to one node only must not be served. Default true.
   */
  readonly iamPrincipals?: boolean;
  /** The Device Shadow service; without it its routes answer 503. */
  readonly shadows?: ShadowService;
  /** Retained messages and the broker's publish (GetRetainedMessage, ListRetainedMessages, Publish); without it those routes answer 503. */
  readonly retained?: RetainedPlane;
  /** The jobs service; without it its routes answer 503. */
  readonly jobs?: JobService;
}

/** Who is calling. */
export type DataPlaneCaller =
  /** A device: its certificate verified, the thing it acts as, its connection for the IoT policies. */
  | { readonly kind: 'device'; readonly arn: string; readonly certificateId: string; readonly thingName: string; readonly subject: ConnectionSubject }
  /** An IAM user or role session (SigV4). */
  | { readonly kind: 'iam'; readonly arn: string; readonly principal: ResolvedPrincipal };

/** One action a handler is about to perform, on the resource's ARN (or `*`). */
export interface DataPlaneCheck {
  readonly action: string;
  readonly resource: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The data-plane listener's authenticated caller. */
    dataCaller?: DataPlaneCaller;
    /** Decides one action for the data-plane caller, audits it, throws the 403 on a deny. */
    authorizeData(check: DataPlaneCheck): Promise<void>;
  }
}

/**
 * An error answer: the status, the AWS error code (the `x-amzn-ErrorType` header the
 * SDKs read), the message, and Gatehouse's reason code (the body's `reason`, and the
 * audit record's reason for refusals before a decision).
 */
export class DataPlaneError extends Error {
  readonly status: number;
  readonly code: string;
  readonly reason: string;

  constructor(status: number, code: string, message: string, reason: string) {
    super(message);
    this.name = 'DataPlaneError';
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

/** The AWS error code of an IoT data-plane status (https://docs.aws.amazon.com/iot/latest/apireference/API_Operations_AWS_IoT_Data_Plane.html). */
export function dataPlaneErrorCode(status: number): string {
  switch (status) {
    case 400: return 'InvalidRequestException';
    case 401: return 'UnauthorizedException';
    case 403: return 'ForbiddenException';
    case 404: return 'ResourceNotFoundException';
    case 405: return 'MethodNotAllowedException';
    case 409: return 'ConflictException';
    case 413: return 'RequestEntityTooLargeException';
    case 415: return 'UnsupportedDocumentEncodingException';
    case 429: return 'ThrottlingException';
    case 503: return 'ServiceUnavailableException';
    default: return 'InternalFailureException';
  }
}
