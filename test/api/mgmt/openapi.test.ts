/**
 * docs/management-openapi.json is generated from the management route sets; this test
 * fails when it is stale. Regenerate with:
 *   npx tsc -p . && UPDATE_OPENAPI=1 node --test dist/test/api/mgmt/openapi.test.js
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildManagementOpenApi, managementOpenApiText } from '../../../src/api/mgmt/openapi.js';
import { MANAGEMENT_ROUTE_SETS } from '../../../src/api/mgmt/route-sets.js';

const FILE = new URL('../../../../docs/management-openapi.json', import.meta.url);

test('docs/management-openapi.json is up to date', () => {
  const text = managementOpenApiText(MANAGEMENT_ROUTE_SETS);
  if (process.env['UPDATE_OPENAPI'] === '1') writeFileSync(FILE, text);
  let onDisk = '';
  try {
    onDisk = readFileSync(FILE, 'utf8');
  } catch {
    // reported below
  }
  assert.equal(onDisk, text, 'docs/management-openapi.json is stale: run `npx tsc -p . && UPDATE_OPENAPI=1 node --test dist/test/api/mgmt/openapi.test.js`');
});

test('every management route is documented once, with its security', () => {
  const doc = buildManagementOpenApi(MANAGEMENT_ROUTE_SETS) as { paths: Record<string, Record<string, { security: unknown[] }>> };
  let n = 0;
  for (const set of MANAGEMENT_ROUTE_SETS) {
    for (const route of set.routes) {
      n++;
      const op = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.url}`);
      assert.equal(op.security.length > 0, route.auth.kind !== 'none', `${route.url}: security`);
    }
  }
  assert.equal(Object.values(doc.paths).reduce((k, p) => k + Object.keys(p).length, 0), n);
});
