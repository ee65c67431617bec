/**
 * AuthorizeClientDeviceAction (docs/greengrass-behaviour.md, section 9): the hot path,
 * and its batch form (a Gatehouse extension: the IPC service has no batch operation).
 * In memory, not bounded by the identity limiter (the Greengrass component also runs it
 * on the caller's thread).
 *
 * The session's principal (thing name, client ID, attributes captured when the session
 * was created) is decided against the policy snapshot in force, so a reload applies to
 * the very next call. There is no magic token (section 12.6 of that page), and an unknown
 * operation or malformed resource is a plain `false` with its reason, not an error.
 *
 * Both routes are ordinary fastify routes: the bearer check, body parsing and schema
 * validation of server.ts run before either handler, and nothing else reads the request.
 */
import type { FastifyInstance } from 'fastify';
import { DECISION_REASONS, type DecisionReason, type PolicySnapshot } from '../../core/index.js';
import type { Session } from '../../identity/sessions.js';
import { HttpError, type ApiContext, type OperationHandler } from '../context.js';
import { errorBody } from '../errors.js';
import { ROUTES, routeOptions } from '../routes.js';
import type { AuthorizeBatchRequestBody, AuthorizeRequestBody } from '../schemas.js';

interface Answer {
  readonly isAuthorized: boolean;
  readonly reason: DecisionReason;
}

/** One frozen answer object per decision reason: deciding allocates nothing. */
const ANSWERS: Readonly<Record<DecisionReason, Answer>> = Object.freeze(Object.fromEntries(
  DECISION_REASONS.map((r) => [r, Object.freeze({ isAuthorized: r === 'ALLOWED_BY_STATEMENT', reason: r })]),
) as Record<DecisionReason, Answer>);

const UNKNOWN_TOKEN = 'unknown, closed or expired client device auth token';

/** A batch entry whose token names no live session: the single call's 404, in the entry. */
const UNKNOWN_TOKEN_RESULT = Object.freeze({ isAuthorized: false, ...errorBody('InvalidClientDeviceAuthTokenError', UNKNOWN_TOKEN) });

/** Decides one action of a live session against `policy`, counting it as the single call does. */
function decide(ctx: ApiContext, policy: PolicySnapshot, session: Session, operation: string, resource: string): Answer {
  const started = performance.now();
  const decision = policy.decide({ thingName: session.thingName, clientId: session.clientId, attributes: session.attributes }, operation, resource);
  ctx.prometheus.observeDecision(operation, (performance.now() - started) / 1000);
  if (operation === 'mqtt:connect' || operation === 'mqtt:publish' || operation === 'mqtt:subscribe') ctx.metrics.authorization(operation, decision.allowed);
  else ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
  if (!decision.allowed && ctx.logger.isLevelEnabled('debug')) {
    ctx.logger.debug({ event: 'api-denied', sessionId: session.id, thingName: session.thingName, operation, resource, reason: decision.reason }, 'API authorization denied');
  }
  return ANSWERS[decision.reason];
}

export const authorizeClientDeviceAction: OperationHandler = (ctx, request, reply) => {
  const { clientDeviceAuthToken, operation, resource } = request.body as AuthorizeRequestBody;
  const session = ctx.sessions.get(clientDeviceAuthToken);
  if (session === undefined) {
    ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
    throw new HttpError('InvalidClientDeviceAuthTokenError', UNKNOWN_TOKEN);
  }
  reply.send(decide(ctx, ctx.policy.current, session, operation, resource));
};

export const authorizeClientDeviceActions: OperationHandler = (ctx, request, reply) => {
  const { requests } = request.body as AuthorizeBatchRequestBody;
  // One snapshot for the whole batch: a reload lands between two batches, never inside one.
  const policy = ctx.policy.current;
  // A broker batches the actions of many devices, often several of the same one:
  // each distinct token is looked up (hashed) once per batch.
  const sessions = new Map<string, Session | undefined>();
  const results: object[] = new Array<object>(requests.length);
  for (let i = 0; i < requests.length; i++) {
    const { clientDeviceAuthToken, operation, resource } = requests[i]!;
    let session = sessions.get(clientDeviceAuthToken);
    if (session === undefined && !sessions.has(clientDeviceAuthToken)) {
      session = ctx.sessions.get(clientDeviceAuthToken);
      sessions.set(clientDeviceAuthToken, session);
    }
    if (session === undefined) {
      ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
      results[i] = UNKNOWN_TOKEN_RESULT;
    } else {
      results[i] = decide(ctx, policy, session, operation, resource);
    }
  }
  reply.send({ results });
};

export function registerAuthorize(app: FastifyInstance, ctx: ApiContext): void {
  app.route({ ...routeOptions(ROUTES.authorize), handler: (request, reply) => authorizeClientDeviceAction(ctx, request, reply) });
  app.route({ ...routeOptions(ROUTES.authorizeBatch), handler: (request, reply) => authorizeClientDeviceActions(ctx, request, reply) });
}
