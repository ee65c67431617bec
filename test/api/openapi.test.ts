/**
 * docs/openapi.json is generated from the route table and the zod schemas; this test
 * fails when it is stale. Regenerate with:
 *   npx tsc -p . && UPDATE_OPENAPI=1 node --test dist/test/api/openapi.test.js
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { buildOpenApi, openApiText } from '../../src/api/openapi.js';
import { ROUTES } from '../../src/api/routes.js';
import { validationSchema } from '../../src/api/schemas.js';

const FILE = new URL('../../../docs/openapi.json', import.meta.url);

describe('OpenAPI document', () => {
  test('docs/openapi.json is up to date', () => {
    const text = openApiText();
    if (process.env['UPDATE_OPENAPI'] === '1') writeFileSync(FILE, text);
    let onDisk = '';
    try {
      onDisk = readFileSync(FILE, 'utf8');
    } catch {
      // reported below
    }
    assert.equal(onDisk, text, 'docs/openapi.json is stale: run `npx tsc -p . && UPDATE_OPENAPI=1 node --test dist/test/api/openapi.test.js`');
  });

  test('documents every route once, with a unique operation id, and only the health check without the token', () => {
    const doc = buildOpenApi() as { paths: Record<string, Record<string, { operationId: string; security?: unknown[]; responses: Record<string, unknown> }>> };
    const ids = new Set<string>();
    for (const route of Object.values(ROUTES)) {
      const op = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.url} missing`);
      assert.ok(!ids.has(op.operationId), `duplicate operationId ${op.operationId}`);
      ids.add(op.operationId);
      assert.equal(op.security !== undefined, !route.auth, `${route.url}: security`);
      if (route.auth) assert.ok(op.responses['401'], `${route.url} documents its 401`);
    }
    assert.equal(Object.values(doc.paths).reduce((n, p) => n + Object.keys(p).length, 0), Object.keys(ROUTES).length);
  });

  test('request schemas are the ones fastify validates with (draft-7, strict IPC objects, loose EMQX bodies)', () => {
    const verify = validationSchema(ROUTES.verify.body) as { $schema: string; additionalProperties: boolean; required: string[] };
    assert.equal(verify.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.equal(verify.additionalProperties, false);
    assert.deepEqual(verify.required, ['credential']);
    const emqx = validationSchema(ROUTES.emqxAuthz.body) as { additionalProperties?: unknown; required: string[] };
    assert.notEqual(emqx.additionalProperties, false);
    assert.deepEqual([...emqx.required].sort(), ['action', 'clientid', 'topic']);
    const doc = JSON.stringify(buildOpenApi());
    assert.ok(!doc.includes('2020-12'), 'no draft 2020-12 schema in the document');
    const refs = new Set([...doc.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]));
    assert.deepEqual([...refs], ['#/components/schemas/Error'], 'only the shared error schema is referenced');
  });
});
