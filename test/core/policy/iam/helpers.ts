import assert from 'node:assert/strict';
import type { IamContext } from '../../../../src/core/policy/iam/context.js';
import { compileIamPolicies, type IamPolicySet } from '../../../../src/core/policy/iam/engine.js';
import type { IotPolicyProblem } from '../../../../src/core/policy/iot/context.js';

export const ACCOUNT = '123456789012';
export const IOT = `arn:aws:iot:us-east-1:${ACCOUNT}`;
export const IAM = `arn:aws:iam::${ACCOUNT}`;
export const NOW = Date.UTC(2026, 5, 1, 12);

/** A set of one or more documents (each a statement list), named p0, p1, … */
export function iamPolicies(...statementLists: unknown[][]): IamPolicySet {
  const r = compileIamPolicies(statementLists.map((s, i) => ({ name: `p${i}`, document: { Version: '2012-10-17', Statement: s } })));
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  return r.set;
}

/** The problem codes (or, when the document loads, the warning codes prefixed `warn:`) of one document. */
export function codesOf(document: unknown): string[] {
  const r = compileIamPolicies([{ name: 'p', document }]);
  const list: readonly IotPolicyProblem[] = r.ok ? r.warnings : r.problems;
  return list.map((p) => (r.ok ? `warn:${p.code}` : p.code));
}

export function isAllowed(set: IamPolicySet, action: string, resource: string, ctx: IamContext = {}): boolean {
  return set.decide('all', ctx, { action, resource }, NOW).allowed;
}
