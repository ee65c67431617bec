/**
 * The AWS IoT control-plane and Greengrass connectivity operations as management routes:
 * the paths, methods and JSON shapes of the AWS service models, signed with SigV4 for
 * the `iot` and `greengrass` signing names, so that `@aws-sdk/client-iot` and
 * `@aws-sdk/client-greengrassv2` work with only an endpoint override.
 *
 * Each handler reads and checks its input (a malformed request is refused with a 400
 * before anything is decided), authorizes each action on its resource, then acts.
 * Errors are AWS's: the service's exception name in `x-amzn-ErrorType`, its status, and
 * `{ "message" }` with the exception's other members (`resourceId`, `resourceArn`);
 * authorization denials and framework errors are the server's (server.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AwsServiceError, toIotError } from '../aws/errors.js';
import type { AwsCall, AwsOperation } from '../aws/operation.js';
import { ManagementError } from '../errors.js';
import { CONNECTIVITY_OPERATIONS } from '../greengrass/connectivity.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from '../routes.js';
import { CA_OPERATIONS } from './ca-certificates.js';
import { CERTIFICATE_OPERATIONS } from './certificates.js';
import type { IotControlPlaneContext } from './context.js';
import { GROUP_OPERATIONS } from './groups.js';
import { JOB_OPERATIONS } from './jobs.js';
import { POLICY_OPERATIONS } from './policies.js';
import { ROLE_ALIAS_AND_TAG_OPERATIONS } from './role-aliases.js';
import { SHADOW_OPERATIONS } from './shadows.js';
import { TEST_AUTHORIZATION_OPERATIONS } from './test-authorization.js';
import { THING_TYPE_OPERATIONS } from './thing-types.js';
import { THING_OPERATIONS } from './things.js';

/** Every AWS IoT operation served, in documentation order. */
export const IOT_OPERATIONS: readonly AwsOperation<IotControlPlaneContext>[] = [
  ...THING_OPERATIONS,
  ...THING_TYPE_OPERATIONS,
  ...GROUP_OPERATIONS,
  ...CERTIFICATE_OPERATIONS,
  ...POLICY_OPERATIONS,
  ...TEST_AUTHORIZATION_OPERATIONS,
  ...CA_OPERATIONS,
  ...ROLE_ALIAS_AND_TAG_OPERATIONS,
  ...JOB_OPERATIONS,
];

/** The Greengrass v2 operations served. */
export const GREENGRASS_OPERATIONS: readonly AwsOperation<IotControlPlaneContext>[] = CONNECTIVITY_OPERATIONS;

/** The Device Shadow reads and deletes, signed for the AWS IoT data plane's `iotdata`. */
export const IOT_DATA_OPERATIONS: readonly AwsOperation<IotControlPlaneContext>[] = SHADOW_OPERATIONS;

type Service = 'iot' | 'greengrass' | 'iotdata';

/** `/things/{thingName}` in fastify's syntax (`/things/:thingName`). */
export const fastifyPath = (path: string): string => path.replace(/\{([A-Za-z]+)\}/g, ':$1');

function controlPlane(ctx: ManagementContext, service: Service): IotControlPlaneContext {
  // Without the gateway's extras, the operations that need them fail when they reach
  // for them — after their authorization, like any other failure.
  const extras = (): NonNullable<ManagementContext['iotControlPlane']> => {
    if (ctx.iotControlPlane !== undefined) return ctx.iotControlPlane;
    throw service !== 'greengrass'
      ? new AwsServiceError('ServiceUnavailableException', 'the AWS IoT operations are not available on this listener')
      : new AwsServiceError('InternalServerException', 'the Greengrass operations are not available on this listener');
  };
  return {
    registry: ctx.registry,
    control: ctx.control,
    get ca() {
      return extras().ca;
    },
    policy: ctx.policy,
    deployment: () => ctx.iot,
    get connectivity() {
      return extras().connectivity;
    },
    onConnectivityChanged: () => extras().onConnectivityChanged(),
    get jobs() {
      const j = extras().jobs;
      if (j === undefined) throw new AwsServiceError('ServiceUnavailableException', 'the jobs service is disabled (gatehouse.jobs.enabled)');
      return j;
    },
    get shadows() {
      const sh = extras().shadows;
      if (sh === undefined) throw new AwsServiceError('ServiceUnavailableException', 'the Device Shadow service is disabled (gatehouse.shadows.enabled)');
      return sh;
    },
    clock: ctx.clock,
  };
}

/** A Greengrass handler's failure in Greengrass's exceptions. */
function toGreengrassError(e: unknown): AwsServiceError | undefined {
  if (e instanceof AwsServiceError && e.errorType !== 'InvalidRequestException' && e.errorType !== 'ServiceUnavailableException') return e;
  const iot = toIotError(e);
  if (iot === undefined) return undefined;
  if (iot.errorType === 'ResourceNotFoundException') return iot;
  if (iot.status === 400) return new AwsServiceError('ValidationException', iot.message);
  return new AwsServiceError('InternalServerException', 'the request failed; see the gateway log');
}

function route(op: AwsOperation<IotControlPlaneContext>, service: Service): ManagementRoute {
  return {
    method: op.method,
    url: fastifyPath(op.path),
    operationId: op.name,
    action: op.action,
    protocol: 'rest-json',
    auth: { kind: 'signed', services: [service] },
    summary: op.summary,
    description: `AWS ${service === 'iot' ? 'IoT' : service === 'iotdata' ? 'IoT data plane' : 'IoT Greengrass V2'} ${op.name} (${op.method} ${op.path}); see docs/management.md for the IAM action, the resource and what differs from AWS.`,
    tag: service === 'iot' ? 'AWS IoT' : service === 'iotdata' ? 'AWS IoT data plane' : 'AWS Greengrass',
    responses: {
      200: { description: 'The operation\'s output members (empty for operations without output)' },
      400: { description: `${service !== 'greengrass' ? 'InvalidRequestException and the other client exceptions of the service model' : 'ValidationException'}` },
      403: { description: 'AccessDeniedException: no identity policy allows the action on the resource' },
      404: { description: 'ResourceNotFoundException' },
    },
    example: { path: op.example.path, ...(op.example.body !== undefined ? { body: op.example.body, contentType: 'application/json' } : {}), ...(op.example.headers !== undefined ? { headers: op.example.headers } : {}) },
    handler: async (request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> => {
      try {
        const body = request.body;
        if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
          throw new AwsServiceError(service !== 'greengrass' ? 'InvalidRequestException' : 'ValidationException', 'the body must be a JSON object');
        }
        const call: AwsCall = {
          labels: (request.params ?? {}) as Record<string, string>,
          query: (request.query ?? {}) as Record<string, string | string[] | undefined>,
          headers: request.headers,
          body: (body ?? {}) as Record<string, unknown>,
          authorize: (check) => request.authorizeCall(check),
        };
        return (await op.handler(controlPlane(ctx, service), call)) ?? {};
      } catch (e) {
        if (e instanceof ManagementError) throw e;
        let aws = service !== 'greengrass' ? toIotError(e) : toGreengrassError(e);
        if (aws === undefined) {
          // The server answers unexpected failures as IoT's InternalFailureException; Greengrass's is InternalServerException.
          if (service !== 'greengrass') throw e;
          ctx.logger.error({ event: 'management-error', operation: op.name, err: e instanceof Error ? e.message : String(e) }, 'management request failed unexpectedly');
          aws = new AwsServiceError('InternalServerException', 'the request failed; see the gateway log');
        }
        // Written here rather than by the server, to keep the exception's other members.
        void reply.code(aws.status).header('x-amzn-errortype', aws.errorType).type('application/json; charset=utf-8').send(JSON.stringify(aws.body()));
        return undefined;
      }
    },
  };
}

export const IOT_ROUTES: ManagementRouteSet = { name: 'aws-iot', routes: IOT_OPERATIONS.map((op) => route(op, 'iot')) };
export const IOT_DATA_ROUTES: ManagementRouteSet = { name: 'aws-iot-data', routes: IOT_DATA_OPERATIONS.map((op) => route(op, 'iotdata')) };
export const GREENGRASS_ROUTES: ManagementRouteSet = { name: 'aws-greengrass', routes: GREENGRASS_OPERATIONS.map((op) => route(op, 'greengrass')) };
