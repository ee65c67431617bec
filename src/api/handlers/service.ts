/** `GET /healthz` (no token), `GET /metrics`, `GET /openapi.json`. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { openApiText } from '../openapi.js';
import { ROUTES, routeOptions } from '../routes.js';

const HEALTHY = '{"status":"ok"}';

export function registerService(app: FastifyInstance, ctx: ApiContext): void {
  const openapi = openApiText();
  const json = 'application/json; charset=utf-8';

  app.route({ ...routeOptions(ROUTES.healthz), handler: (_request, reply) => void reply.type(json).send(HEALTHY) });

  app.route({ ...routeOptions(ROUTES.openapi), handler: (_request, reply) => void reply.type(json).send(openapi) });

  app.route({
    ...routeOptions(ROUTES.metrics),
    handler: async (_request, reply) => {
      const text = await ctx.prometheus.text();
      reply.type(ctx.prometheus.contentType).send(text);
    },
  });
}
