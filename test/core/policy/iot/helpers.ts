import assert from 'node:assert/strict';
import { compileIotPolicies, type IotPolicySet } from '../../../../src/core/policy/iot/engine.js';
import type { IotContext, IotDeployment } from '../../../../src/core/policy/iot/context.js';

export const DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
export const ARN = 'arn:aws:iot:us-east-1:123456789012';
export const CTX: IotContext = { clientId: 'dev1', thingName: 'dev1' };

/** A policy set of one or more documents (each a statement list), named p0, p1, … */
export function policies(...statementLists: unknown[][]): IotPolicySet {
  const r = compileIotPolicies(statementLists.map((s, i) => ({ name: `p${i}`, document: { Version: '2012-10-17', Statement: s } })), DEPLOYMENT);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  return r.set;
}

export function allow(action: unknown, resource: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { Effect: 'Allow', Action: action, Resource: resource, ...extra };
}

export function deny(action: unknown, resource: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { Effect: 'Deny', Action: action, Resource: resource, ...extra };
}

/** Whether `action` on `resource` is allowed by a one-statement-list set. */
export function allowed(set: IotPolicySet, action: string, resource: string, ctx: IotContext = CTX, retain?: boolean): boolean {
  return set.decide('all', ctx, { action, resource, ...(retain !== undefined ? { retain } : {}) }, Date.UTC(2026, 0, 1)).allowed;
}
