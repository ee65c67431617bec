/**
 * Gatehouse additions: explain a decision, list live sessions, close a session.
 *
 * Session listings carry the non-secret session id, never a token (the gateway keeps
 * only token hashes). Closing takes the token: whoever holds a session can end it
 * (an external broker does when its client disconnects).
 */
import type { FastifyInstance } from 'fastify';
import type { Session } from '../../identity/sessions.js';
import { HttpError, type ApiContext, type OperationHandler } from '../context.js';
import { ROUTES, routeOptions } from '../routes.js';
import { explain } from './explain.js';
import type { ExplainRequestBody, SessionInfoBody } from '../schemas.js';

function sessionInfo(s: Session): SessionInfoBody {
  return {
    id: s.id,
    clientId: s.clientId,
    thingName: s.thingName,
    certificateId: s.certificateId,
    trustedCaId: s.trustedCaId,
    attributes: { ...s.attributes },
    createdAt: s.createdAt.toISOString(),
    lastUsedAt: s.lastUsedAt.toISOString(),
    certificateNotAfter: s.certificateNotAfter.toISOString(),
  };
}

export function registerSessions(app: FastifyInstance, ctx: ApiContext): void {
  app.route({
    ...routeOptions(ROUTES.explain),
    handler: (request) => explain(ctx, request.body as ExplainRequestBody),
  });

  app.route({
    ...routeOptions(ROUTES.sessions),
    handler: () => ({ sessions: ctx.sessions.list().map(sessionInfo), maxActiveAuthTokens: ctx.sessions.maxActiveAuthTokens }),
  });

  app.route({ ...routeOptions(ROUTES.closeSession), handler: (request, reply) => closeSession(ctx, request, reply) });
}

export const closeSession: OperationHandler = (ctx, request, reply) => {
  const { token } = request.params as { token: string };
  if (!ctx.sessions.close(token)) throw new HttpError('InvalidClientDeviceAuthTokenError', 'unknown or already closed client device auth token');
  ctx.logger.debug({ event: 'api-session-closed' }, 'session closed by an API client');
  reply.code(204).send();
};
