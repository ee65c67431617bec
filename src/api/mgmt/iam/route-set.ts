/**
 * IAM over the AWS query protocol (`POST /`, a form body with `Action` and
 * `Version=2010-05-08`, XML answers in IAM's namespace), so that `@aws-sdk/client-iam`
 * and `aws iam` work with only an endpoint override.
 *
 * STS is served at the same URL: the router tells the two apart by the service of the
 * SigV4 credential scope (`iam` here, `sts` there; server.ts, routeRegistrations). IAM is
 * a global service: the scope may name the gateway's region or the partition's global
 * signing region (`us-east-1`), which is what the AWS CLI signs with when no region is
 * configured; the SDK, given an endpoint, signs with the region it is configured with.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ManagementError } from '../errors.js';
import { queryAction, queryParams, queryResponse, unknownAction, xmlAnswer } from '../query.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from '../routes.js';
import { IAM_NS, IAM_VERSION, toIamError, type IamOperation } from './common.js';
import { IAM_OPERATIONS } from './operations.js';

export { IAM_OPERATIONS };

const BY_NAME: ReadonlyMap<string, IamOperation> = new Map(IAM_OPERATIONS.map((o) => [o.name, o]));

/** The form body of an operation's example request. */
export function iamExampleBody(op: IamOperation): string {
  return new URLSearchParams({ Action: op.name, Version: IAM_VERSION, ...op.example }).toString();
}

async function handle(request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<string> {
  const params = queryParams(request);
  const action = queryAction(params, IAM_VERSION);
  const op = BY_NAME.get(action);
  if (op === undefined) throw unknownAction(action, IAM_VERSION);
  let result: string | undefined;
  try {
    result = await op.handler({ request, params, ctx, authorize: (check) => request.authorizeCall(check) });
  } catch (e) {
    if (e instanceof ManagementError) throw e;
    throw toIamError(e) ?? e;
  }
  return xmlAnswer(reply, queryResponse(op.name, IAM_NS, request.id, result));
}

const CREATE_USER = IAM_OPERATIONS.find((o) => o.name === 'CreateUser')!;

const IAM_ROUTE: ManagementRoute = {
  method: 'POST',
  url: '/',
  operationId: 'IAM',
  action: 'iam:CreateUser',
  protocol: 'query-xml',
  xmlNamespace: IAM_NS,
  auth: { kind: 'signed', services: ['iam'], globalService: true },
  tag: 'AWS IAM',
  summary: `IAM query protocol: ${IAM_OPERATIONS.map((o) => o.name).join(', ')}`,
  description: 'A form body with `Action` and `Version=2010-05-08`, signed for the `iam` service; XML answers and errors as IAM writes them. See docs/management.md#aws-iam.',
  responses: {
    200: { description: 'The operation\'s `…Response` element', contentType: 'text/xml' },
    400: { description: 'ValidationError, InvalidInput, MalformedPolicyDocument, MissingAction, InvalidAction, IncompleteSignature', contentType: 'text/xml' },
    403: { description: 'AccessDenied, SignatureDoesNotMatch, InvalidClientTokenId, ExpiredToken, MissingAuthenticationToken', contentType: 'text/xml' },
    404: { description: 'NoSuchEntity', contentType: 'text/xml' },
    409: { description: 'EntityAlreadyExists, DeleteConflict, LimitExceeded', contentType: 'text/xml' },
  },
  example: { path: '/', body: iamExampleBody(CREATE_USER), contentType: 'application/x-www-form-urlencoded' },
  handler: handle,
};

export const IAM_ROUTES: ManagementRouteSet = { name: 'iam', routes: [IAM_ROUTE] };
