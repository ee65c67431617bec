/**
 * The OpenAPI 3.0 document of the local API, generated from the route table and the
 * same zod schemas that validate requests. Served at `GET /openapi.json` and checked
 * in as docs/openapi.json (a test fails when that file is stale).
 */
import { z } from 'zod';
import { ROUTES, type RouteSpec } from './routes.js';
import { CertificateUpdateEvent, ErrorResponse } from './schemas.js';

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io });
}

function parameters(spec: RouteSpec): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [where, schema] of [['query', spec.query], ['path', spec.params]] as const) {
    if (schema === undefined) continue;
    const json = schemaOf(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
    for (const [name, prop] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = prop;
      out.push({ name, in: where, required: json.required?.includes(name) ?? false, ...(description !== undefined ? { description } : {}), schema: rest });
    }
  }
  return out;
}

export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of Object.values(ROUTES) as RouteSpec[]) {
    const path = spec.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(spec.responses)) {
      const type = r.contentType ?? 'application/json';
      responses[status] = {
        description: r.description,
        ...(r.schema === ErrorResponse ? { content: { [type]: { schema: { $ref: '#/components/schemas/Error' } } } }
          : r.schema !== undefined ? { content: { [type]: { schema: schemaOf(r.schema, 'output') } } }
            : r.contentType !== undefined ? { content: { [type]: { schema: { type: 'string' } } } } : {}),
      };
    }
    const params = parameters(spec);
    paths[path] = {
      ...paths[path],
      [spec.method.toLowerCase()]: {
        operationId: spec.operationId,
        tags: [spec.tag],
        summary: spec.summary,
        ...(spec.description !== undefined ? { description: spec.description } : {}),
        ...(spec.auth ? {} : { security: [] }),
        ...(params.length > 0 ? { parameters: params } : {}),
        ...(spec.body !== undefined ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(spec.body, 'input') } } } } : {}),
        responses,
      },
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Gatehouse local API',
      // The version of this API (its paths start with /v1), not of the package.
      version: '1.0.0',
      description: 'The client device auth component\'s IPC operations over HTTP, an EMQX 5 HTTP auth adapter and metrics. See docs/api.md.',
    },
    servers: [{ url: 'http://127.0.0.1:8090', description: 'default (gatehouse.api.host and gatehouse.api.port)' }],
    security: [{ bearerToken: [] }],
    components: {
      // CertificateUpdateEvent is the `data` of each certificate-update event (not a response body).
      schemas: { Error: schemaOf(ErrorResponse, 'output'), CertificateUpdateEvent: schemaOf(CertificateUpdateEvent, 'output') },
      securitySchemes: {
        bearerToken: { type: 'http', scheme: 'bearer', description: 'The token in DATA_DIR/api-token (`gatehouse api token` prints it)' },
      },
    },
    tags: [
      { name: 'IPC operations', description: 'The four operations of the client device auth component' },
      { name: 'Gatehouse', description: 'Batch authorization, explanations and sessions' },
      { name: 'EMQX', description: 'EMQX 5 HTTP authentication and authorization backends' },
      { name: 'Service', description: 'Health, metrics and this document' },
    ],
    paths,
  };
}

/** The document as written to docs/openapi.json (stable formatting, trailing newline). */
export function openApiText(): string {
  return `${JSON.stringify(buildOpenApi(), null, 2)}\n`;
}
