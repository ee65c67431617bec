/**
 * Registers the AWS IoT control-plane and Greengrass connectivity operations on the
 * management listener, at the paths and methods of the AWS service models, so that
 * `@aws-sdk/client-iot` and `@aws-sdk/client-greengrassv2` work with only an endpoint
 * override.
 *
 * Order for every request: the listener authenticates it (SigV4) and sets
 * `request.authorizeCall`; the handler reads and checks its input (a malformed request
 * is refused before anything is decided), authorizes each action on its resource, then
 * acts. Errors are written in AWS's REST-JSON shape (`x-amzn-ErrorType` header,
 * `{ "message" }` body) with the service's status; what this plugin does not recognise
 * (the listener's authorization denial, framework errors) goes to the listener's error
 * handler unchanged.
 *
 * The listener must accept path parameters as long as a certificate ARN in its encoded
 * form (ListAttachedPolicies' `target`): fastify's `maxParamLength` of at least 512.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AwsServiceError, toIotError } from '../aws/errors.js';
import type { AwsCall, AwsOperation } from '../aws/operation.js';
import { CONNECTIVITY_OPERATIONS } from '../greengrass/connectivity.js';
import { CA_OPERATIONS } from './ca-certificates.js';
import { CERTIFICATE_OPERATIONS } from './certificates.js';
import type { IotControlPlaneContext } from './context.js';
import { GROUP_OPERATIONS } from './groups.js';
import { POLICY_OPERATIONS } from './policies.js';
import { ROLE_ALIAS_AND_TAG_OPERATIONS } from './role-aliases.js';
import { TEST_AUTHORIZATION_OPERATIONS } from './test-authorization.js';
import { THING_OPERATIONS } from './things.js';

export type { IotControlPlaneContext } from './context.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The AWS operation a route serves (`CreateThing`). */
    awsOperation?: string;
    awsService?: 'iot' | 'greengrass';
  }
}

/** Every AWS IoT operation served, in documentation order. */
export const IOT_OPERATIONS: readonly AwsOperation<IotControlPlaneContext>[] = [
  ...THING_OPERATIONS,
  ...GROUP_OPERATIONS,
  ...CERTIFICATE_OPERATIONS,
  ...POLICY_OPERATIONS,
  ...TEST_AUTHORIZATION_OPERATIONS,
  ...CA_OPERATIONS,
  ...ROLE_ALIAS_AND_TAG_OPERATIONS,
];

/** The Greengrass v2 operations served. */
export const GREENGRASS_OPERATIONS: readonly AwsOperation<IotControlPlaneContext>[] = CONNECTIVITY_OPERATIONS;

const JSON_TYPE = 'application/json';

/** `/things/{thingName}` in fastify's syntax (`/things/:thingName`). */
export const fastifyPath = (path: string): string => path.replace(/\{([A-Za-z]+)\}/g, ':$1');

function send(reply: FastifyReply, e: AwsServiceError): void {
  void reply.code(e.status).header('x-amzn-errortype', e.errorType).type(JSON_TYPE).send(JSON.stringify(e.body()));
}

function register(app: FastifyInstance, ctx: IotControlPlaneContext, ops: readonly AwsOperation<IotControlPlaneContext>[], service: 'iot' | 'greengrass'): void {
  for (const op of ops) {
    app.route({
      method: op.method,
      url: fastifyPath(op.path),
      config: { awsOperation: op.name, awsService: service },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const body = request.body;
        const call: AwsCall = {
          labels: (request.params ?? {}) as Record<string, string>,
          query: (request.query ?? {}) as Record<string, string | string[] | undefined>,
          headers: request.headers,
          body: typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {},
          authorize: (check) => request.authorizeCall(check),
        };
        if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
          throw new AwsServiceError(service === 'iot' ? 'InvalidRequestException' : 'ValidationException', 'the body must be a JSON object');
        }
        const output = await op.handler(ctx, call);
        return reply.code(200).type(JSON_TYPE).send(JSON.stringify(output ?? {}));
      },
      errorHandler: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
        const e = service === 'iot' ? toIotError(error) : toGreengrassError(error);
        if (e === undefined) throw error;
        send(reply, e);
      },
    });
  }
}

function toGreengrassError(e: unknown): AwsServiceError | undefined {
  if (e instanceof AwsServiceError) return e;
  const iot = toIotError(e);
  if (iot === undefined) return undefined;
  if (iot.errorType === 'ResourceNotFoundException') return iot;
  if (iot.status === 400) return new AwsServiceError('ValidationException', iot.message);
  return new AwsServiceError('InternalServerException', 'the request failed; see the gateway log');
}

/**
 * Registers every AWS IoT and Greengrass operation on `app` (the management listener,
 * whose authentication hook provides `request.authorizeCall`).
 */
export function registerIotControlPlane(app: FastifyInstance, ctx: IotControlPlaneContext): void {
  register(app, ctx, IOT_OPERATIONS, 'iot');
  register(app, ctx, GREENGRASS_OPERATIONS, 'greengrass');
}
