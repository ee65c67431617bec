/**
 * Every code the IoT policy engine and `policy simulate` can print is documented in
 * docs/errors.md (as a table row), and the documented problem codes are the code's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { IOT_POLICY_CODES, IOT_POLICY_WARNING_CODES } from '../../../../src/core/policy/iot/document.js';
import { IotPolicyNotFoundError } from '../../../../src/core/policy/iot/errors.js';

const ROOT = new URL('../../../../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');
const errorsDoc = read('docs/errors.md');
const row = (code: string): boolean => new RegExp(`^\\| \`${code}\` \\|`, 'm').test(errorsDoc);

test('every IoT policy problem and warning code has a row in docs/errors.md', () => {
  const missing = [...IOT_POLICY_CODES, ...IOT_POLICY_WARNING_CODES, new IotPolicyNotFoundError('x').code].filter((c) => !row(c));
  assert.deepEqual(missing, []);
});

test('docs/errors.md documents no IOT_POLICY_ code the engine does not have', () => {
  const known = new Set<string>([...IOT_POLICY_CODES, ...IOT_POLICY_WARNING_CODES, new IotPolicyNotFoundError('x').code]);
  const documented = [...errorsDoc.matchAll(/^\| `(IOT_POLICY_[A-Z_]+)` \|/gm)].map((m) => m[1]!);
  assert.deepEqual(documented.filter((c) => !known.has(c)), []);
});

test('the codes policy simulate prints are used by it and documented', () => {
  // The request lines are read by the CLI's one JSON-lines reader.
  const source = read('src/cli/policy.ts') + read('src/cli/json-lines.ts');
  for (const code of ['USAGE', 'FILE_UNREADABLE', 'POLICIES_FILE_INVALID', 'CONTEXT_INVALID', 'REQUEST_LINE_INVALID']) {
    assert.ok(source.includes(`'${code}'`), `${code} is not used by policy simulate`);
    assert.ok(row(code), `${code} has no row in docs/errors.md`);
  }
});
