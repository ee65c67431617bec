/**
 * The OpenAPI 3.0 document of the management API, generated from the route sets and
 * their zod schemas, checked in as docs/management-openapi.json (a test fails when that
 * file is stale). AWS's own operations are documented by AWS; this document lists what
 * the gateway serves, with the signing services each accepts.
 */
import { z } from 'zod';
import type { ManagementRoute, ManagementRouteSet } from './routes.js';

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io });
}

function parameters(route: ManagementRoute): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [where, schema] of [['query', route.query], ['path', route.params]] as const) {
    if (schema === undefined) continue;
    const json = schemaOf(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
    for (const [name, prop] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = prop;
      out.push({ name, in: where, required: where === 'path' || (json.required?.includes(name) ?? false), ...(description !== undefined ? { description } : {}), schema: rest });
    }
  }
  return out;
}

function security(route: ManagementRoute): Record<string, unknown>[] {
  switch (route.auth.kind) {
    case 'signed':
      return route.auth.apiToken === true ? [{ sigv4: [] }, { apiToken: [] }] : [{ sigv4: [] }];
    case 'device-certificate':
      return [{ deviceCertificate: [] }];
    case 'none':
      return [];
  }
}

export function buildManagementOpenApi(sets: readonly ManagementRouteSet[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  for (const set of sets) {
    for (const route of set.routes) {
      tags.add(route.tag);
      const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const responses: Record<string, unknown> = {};
      for (const [status, r] of Object.entries(route.responses)) {
        const type = r.contentType ?? 'application/json';
        responses[status] = {
          description: r.description,
          ...(r.schema !== undefined ? { content: { [type]: { schema: schemaOf(r.schema, 'output') } } }
            : r.contentType !== undefined ? { content: { [type]: { schema: { type: 'string' } } } } : {}),
        };
      }
      const params = parameters(route);
      paths[path] = {
        ...paths[path],
        [route.method.toLowerCase()]: {
          operationId: route.operationId,
          tags: [route.tag],
          summary: route.summary,
          description: [
            route.description,
            `IAM action: \`${route.action}\`. Wire protocol: ${route.protocol}.`,
            route.auth.kind === 'signed' ? `SigV4 signing services: ${route.auth.services.map((s) => `\`${s}\``).join(', ')}.` : undefined,
          ].filter((s) => s !== undefined).join(' '),
          security: security(route),
          ...(params.length > 0 ? { parameters: params } : {}),
          ...(route.body !== undefined ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } } : {}),
          responses,
        },
      };
    }
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Gatehouse management API',
      version: '1.0.0',
      description: 'AWS IoT, Greengrass and STS operations in AWS\'s own protocols, the IoT credentials provider, and Gatehouse\'s own operations. See docs/management.md.',
    },
    servers: [{ url: 'https://127.0.0.1:8444', description: 'default (gatehouse.management.host and gatehouse.management.port)' }],
    components: {
      securitySchemes: {
        sigv4: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'AWS Signature Version 4 (AWS4-HMAC-SHA256); see docs/management.md#signature-version-4' },
        apiToken: { type: 'http', scheme: 'bearer', description: 'The local API\'s token, as the `gatehouse:api-token` principal' },
        // OpenAPI 3.0 has no mutual-TLS scheme: the thing-name header stands for it, the description says the rest.
        deviceCertificate: { type: 'apiKey', in: 'header', name: 'x-amzn-iot-thingname', description: 'Mutual TLS: a registered, ACTIVE device certificate in the TLS handshake, attached to the thing named in this header' },
      },
    },
    tags: [...tags].sort().map((name) => ({ name })),
    paths,
  };
}

/** The document as written to docs/management-openapi.json. */
export function managementOpenApiText(sets: readonly ManagementRouteSet[]): string {
  return `${JSON.stringify(buildManagementOpenApi(sets), null, 2)}\n`;
}
