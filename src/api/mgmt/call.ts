/**
 * The contract between the management API's authentication (SigV4 or the API token),
 * its authorization (IAM identity policies) and the handlers.
 *
 * Every route that needs a caller gets `request.caller` from the authentication hook
 * before its handler runs, and every such handler calls `request.authorizeCall(...)`
 * once per action it performs, before it performs it. The call decides with the IAM
 * evaluator, writes the audit record, and throws `AccessDeniedError` on a deny, which
 * the route's wire protocol renders (AWS's error shape for AWS operations, Gatehouse's
 * for its own). A route that answers without having called it is a programming error
 * the server refuses to let through (500, logged): no call goes unauthorized.
 */
import type { IamContext } from '../../core/policy/iam/context.js';
import type { ResolvedPrincipal } from '../../identity/control.js';

/** How a route's answers and errors are written. */
export type WireProtocol =
  /** Gatehouse's own JSON (`{ "error": { "code", "message" } }`). */
  | 'gatehouse'
  /** AWS REST-JSON (IoT, Greengrass): `x-amzn-ErrorType` header and `{ "message" }` body. */
  | 'rest-json'
  /** AWS query protocol (STS): XML `ErrorResponse`. */
  | 'query-xml';

/** Who is calling. */
export type Caller =
  | { readonly kind: 'iam'; readonly arn: string; readonly principal: ResolvedPrincipal }
  /** The API token: a built-in principal allowed exactly the IPC operations (and the EMQX and external-broker calls). */
  | { readonly kind: 'api-token'; readonly arn: 'gatehouse:api-token' };

/** One action a handler is about to perform. */
export interface CallCheck {
  /** `iot:CreateThing`, `sts:AssumeRole`, `greengrass:UpdateConnectivityInfo`, `gatehouse:ListSessions`, … */
  readonly action: string;
  /** The resource's ARN, or `*` for actions that take none. */
  readonly resource: string;
  /** `aws:ResourceTag/…` of the resource (the handler looks them up). */
  readonly resourceTags?: Readonly<Record<string, string>>;
  /** `aws:RequestTag/…` and `aws:TagKeys` of a request that sets tags. */
  readonly requestTags?: Readonly<Record<string, string>>;
  /** `aws:TagKeys` of a request that names tag keys without values (UntagResource); ignored when `requestTags` is given. */
  readonly tagKeys?: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every authenticated route. */
    caller?: Caller;
    /** The request's IAM context before per-call keys are added (time, TLS, source address, user agent, principal). */
    iamContext?: IamContext;
    /** Decides, audits and throws AccessDeniedError on deny. */
    authorizeCall(check: CallCheck): Promise<void>;
  }
}
