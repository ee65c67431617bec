/**
 * AuthorizeClientDeviceAction (docs/greengrass-behaviour.md, section 9): the hot path.
 * In memory, not bounded by the identity limiter (the Greengrass component also runs it
 * on the caller's thread).
 *
 * The session's principal (thing name, client ID, attributes captured when the session
 * was created) is decided against the policy snapshot in force, so a reload applies to
 * the very next call. There is no magic token (section 12.6 of that page), and an unknown
 * operation or malformed resource is a plain `false` with its reason, not an error.
 *
 * Most calls never reach fastify: the fast lane (../fast-lane.ts) answers them with
 * `authorizeRoute`, and hands anything it does not answer with 200 to the route here.
 */
import type { FastifyInstance } from 'fastify';
import { DECISION_REASONS, type DecisionReason } from '../../core/index.js';
import { HttpError, type ApiContext } from '../context.js';
import type { FastLaneRoute } from '../fast-lane.js';
import { ROUTES, routeOptions } from '../routes.js';
import { AuthorizeRequest, type AuthorizeRequestBody } from '../schemas.js';

/** Response bodies, serialized once: one per decision reason. */
const BODIES: Readonly<Record<DecisionReason, string>> = Object.freeze(Object.fromEntries(
  DECISION_REASONS.map((r) => [r, JSON.stringify({ isAuthorized: r === 'ALLOWED_BY_STATEMENT', reason: r })]),
) as Record<DecisionReason, string>);

/**
 * Decides a request whose body is valid: the answer's JSON text, or undefined (with
 * nothing counted) when the token names no live session.
 */
function decide(ctx: ApiContext, body: AuthorizeRequestBody): string | undefined {
  const { clientDeviceAuthToken, operation, resource } = body;
  const started = performance.now();
  const session = ctx.sessions.get(clientDeviceAuthToken);
  if (session === undefined) return undefined;
  const decision = ctx.policy.current.decide({ thingName: session.thingName, clientId: session.clientId, attributes: session.attributes }, operation, resource);
  ctx.prometheus.observeDecision(operation, (performance.now() - started) / 1000);
  if (operation === 'mqtt:connect' || operation === 'mqtt:publish' || operation === 'mqtt:subscribe') ctx.metrics.authorization(operation, decision.allowed);
  else ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
  if (!decision.allowed && ctx.logger.isLevelEnabled('debug')) {
    ctx.logger.debug({ event: 'api-denied', sessionId: session.id, thingName: session.thingName, operation, resource, reason: decision.reason }, 'API authorization denied');
  }
  return BODIES[decision.reason];
}

/**
 * The fast lane's view of this route: bodies that pass the route's own schema (the one
 * fastify validates with, through its JSON Schema) and name a live session; fastify
 * validates and explains every other.
 */
export function authorizeRoute(ctx: ApiContext): FastLaneRoute {
  return {
    path: ROUTES.authorize.url,
    answer: (body) => {
      const valid = AuthorizeRequest.safeParse(body);
      return valid.success ? decide(ctx, valid.data) : undefined;
    },
  };
}

export function registerAuthorize(app: FastifyInstance, ctx: ApiContext): void {
  app.route({
    ...routeOptions(ROUTES.authorize),
    handler: (request, reply) => {
      const answer = decide(ctx, request.body as AuthorizeRequestBody);
      if (answer === undefined) {
        ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
        throw new HttpError('InvalidClientDeviceAuthTokenError', 'unknown, closed or expired client device auth token');
      }
      reply.type('application/json; charset=utf-8').send(answer);
    },
  });
}
