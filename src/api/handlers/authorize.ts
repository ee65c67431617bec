/**
 * AuthorizeClientDeviceAction (cda-spec §9): the hot path. In memory, not bounded by
 * the identity limiter (the reference also runs it on the caller's thread).
 *
 * The session's principal (thing name, client ID, attributes captured when the session
 * was created) is decided against the policy snapshot in force, so a reload applies to
 * the very next call. There is no magic token (cda-spec §12.10), and an unknown
 * operation or malformed resource is a plain `false` with its reason, not an error.
 */
import type { FastifyInstance } from 'fastify';
import type { DecisionReason } from '../../core/index.js';
import { HttpError, type ApiContext } from '../context.js';
import { ROUTES, routeOptions } from '../routes.js';
import type { AuthorizeRequestBody } from '../schemas.js';

/** Response bodies, serialized once: one per decision reason. */
const BODIES: Readonly<Record<DecisionReason, string>> = Object.freeze(Object.fromEntries(
  (['ALLOWED_BY_STATEMENT', 'DENIED_BY_STATEMENT', 'NO_GROUP_SELECTS_THING', 'NO_MATCHING_STATEMENT', 'UNKNOWN_OPERATION', 'MALFORMED_RESOURCE', 'RESOURCE_TYPE_MISMATCH'] as const)
    .map((r) => [r, JSON.stringify({ isAuthorized: r === 'ALLOWED_BY_STATEMENT', reason: r })]),
) as Record<DecisionReason, string>);

export function registerAuthorize(app: FastifyInstance, ctx: ApiContext): void {
  app.route({
    ...routeOptions(ROUTES.authorize),
    handler: (request, reply) => {
      const { clientDeviceAuthToken, operation, resource } = request.body as AuthorizeRequestBody;
      const started = performance.now();
      const session = ctx.sessions.get(clientDeviceAuthToken);
      if (session === undefined) {
        ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
        throw new HttpError('InvalidClientDeviceAuthTokenError', 'unknown, closed or expired client device auth token');
      }
      const decision = ctx.policy.current.decide({ thingName: session.thingName, clientId: session.clientId, attributes: session.attributes }, operation, resource);
      ctx.prometheus.observeDecision(operation, (performance.now() - started) / 1000);
      if (operation === 'mqtt:connect' || operation === 'mqtt:publish' || operation === 'mqtt:subscribe') ctx.metrics.authorization(operation, decision.allowed);
      else ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
      if (!decision.allowed && ctx.logger.isLevelEnabled('debug')) {
        ctx.logger.debug({ event: 'api-denied', sessionId: session.id, thingName: session.thingName, operation, resource, reason: decision.reason }, 'API authorization denied');
      }
      reply.type('application/json; charset=utf-8').send(BODIES[decision.reason]);
    },
  });
}
