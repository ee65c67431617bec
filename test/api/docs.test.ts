/** The API's codes, endpoints and settings and its documentation cannot drift apart. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { API_ERROR_CODES, API_RESPONSE_CODES } from '../../src/api/errors.js';
import { ROUTES } from '../../src/api/routes.js';

const read = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const tableCodes = (doc: string): Set<string> => new Set([...doc.matchAll(/^\| `([A-Za-z_]+)` \|/gm)].map((m) => m[1]!));

describe('API documentation', () => {
  const api = read('docs/api.md');
  const errors = read('docs/errors.md');

  test('every API code is in a table of docs/errors.md and of docs/api.md, with its HTTP status in api.md', () => {
    const inErrors = tableCodes(errors);
    const inApi = tableCodes(api);
    for (const code of API_ERROR_CODES) {
      assert.ok(inErrors.has(code), `${code} is not in a table in docs/errors.md`);
      assert.ok(inApi.has(code), `${code} is not in a table in docs/api.md`);
    }
    for (const [code, status] of Object.entries(API_RESPONSE_CODES)) {
      assert.match(api, new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, 'm'), `docs/api.md: ${code} with status ${status}`);
    }
  });

  test('docs/api.md lists no API code that does not exist', () => {
    const known = new Set(API_ERROR_CODES);
    const apiSection = errors.slice(errors.indexOf('## Local API errors'));
    const stale = [...tableCodes(apiSection.slice(0, apiSection.indexOf('\n## ', 5) > 0 ? apiSection.indexOf('\n## ', 5) : undefined))].filter((c) => !known.has(c));
    assert.deepEqual(stale, []);
  });

  test('every endpoint has a section in docs/api.md', () => {
    for (const r of Object.values(ROUTES)) {
      const heading = `### \`${r.method} ${r.url.replace(':token', '{token}')}`;
      assert.ok(api.includes(heading), `docs/api.md lacks ${heading}`);
    }
  });

  test('docs/emqx.md shows both HTTP blocks, the bearer header and no_match = deny', () => {
    const emqx = read('docs/emqx.md');
    for (const s of ['mechanism = password_based', 'backend = http', 'type = http', '/v1/emqx/authn', '/v1/emqx/authz', 'Bearer', 'no_match = deny', 'deny_action', 'cache', 'peer_cert_as_username', '${cert_common_name}', '${clientid}', '${action}', '${topic}']) {
      assert.ok(emqx.includes(s), `docs/emqx.md lacks ${s}`);
    }
  });

  test('docs/emqx.md lists every reason the EMQX backends log', () => {
    const emqx = read('docs/emqx.md');
    const source = read('src/api/handlers/emqx.ts');
    const reasons = new Set([...source.matchAll(/(?:deny|refuse|log)\('([A-Z_]+)'/g)].map((m) => m[1]!));
    assert.ok(reasons.has('EMQX_CN_MISMATCH') && reasons.size >= 8, [...reasons].join());
    for (const r of reasons) assert.ok(emqx.includes(`\`${r}\``), `docs/emqx.md does not list ${r}`);
  });

  test('docs/gateway.md describes --api-port and the API listening line', () => {
    const gw = read('docs/gateway.md');
    assert.ok(gw.includes('--api-port'));
    assert.ok(gw.includes('listening http://127.0.0.1:8090'));
    assert.ok(gw.includes('api.md'));
  });
});
