/**
 * Every code of the IAM dialect has a row in docs/errors.md, no documented IAM_ code is
 * stale, every code can actually be produced, and every management action is listed
 * in docs/policies.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { IAM_ACTIONS } from '../../../../src/core/policy/iam/actions.js';
import { IAM_CONDITION_CODES, IAM_POLICY_CODES, IAM_POLICY_WARNING_CODES } from '../../../../src/core/policy/iam/document.js';
import { IamPolicyNotFoundError } from '../../../../src/core/policy/iam/errors.js';

const ROOT = new URL('../../../../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');
const errorsDoc = read('docs/errors.md');
const row = (code: string): boolean => new RegExp(`^\\| \`${code}\` \\|`, 'm').test(errorsDoc);
const ALL = [...IAM_POLICY_CODES, ...IAM_POLICY_WARNING_CODES, ...IAM_CONDITION_CODES, new IamPolicyNotFoundError('x').code];

test('every IAM policy problem, warning and condition code has a row in docs/errors.md', () => {
  assert.deepEqual(ALL.filter((c) => !row(c)), []);
});

test('docs/errors.md documents no IAM_ code the engine does not have', () => {
  const known = new Set<string>(ALL);
  const documented = [...errorsDoc.matchAll(/^\| `(IAM_[A-Z_]+)` \|/gm)].map((m) => m[1]!);
  assert.deepEqual(documented.filter((c) => !known.has(c)), []);
});

test('every code the IAM dialect lists is one the engine writes (under IoT\'s name or its own)', () => {
  const sources = ['document.ts', 'conditions.ts', 'arn.ts', 'evaluator.ts'].map((f) => read(`src/core/policy/iot/${f}`)).join('\n');
  for (const c of ALL) {
    if (c === 'IAM_POLICY_NOT_FOUND') continue;
    assert.ok(sources.includes(`'${c}'`) || sources.includes(`'IOT_${c.slice(4)}'`) || c === 'IAM_POLICY_NAME_DUPLICATE', `${c} is never produced`);
  }
});

test('every management action is listed in docs/policies.md', () => {
  const doc = read('docs/policies.md');
  assert.deepEqual(Object.keys(IAM_ACTIONS).filter((a) => !doc.includes(`\`${a}\``)), []);
});
