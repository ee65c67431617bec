/**
 * A role's trust policy: may this caller assume the role?
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
 *
 * The registry's trust evaluation (`trustPolicyAllows`: principals, actions, Deny
 * first) decides, with each statement's `Condition` block evaluated by the IAM dialect
 * in the request's IAM context: the block is compiled as the condition of a one-statement
 * policy allowing the action, so every operator and key behaves as in an identity policy.
 */
import type { IamContext } from '../../core/policy/iam/context.js';
import { trustPolicyAllows } from '../../identity/control-rules.js';
import type { IamCallDecision, IamPolicyCache } from './iam-engine.js';

/** The trust policy's decision on `action` (default `sts:AssumeRole`) on the role by `callerArn`. */
export function decideTrust(
  cache: IamPolicyCache,
  role: { readonly name: string; readonly arn: string; readonly assumeRolePolicyDocument: string },
  callerArn: string,
  accountId: string,
  context: IamContext,
  now: number,
  action = 'sts:AssumeRole',
): IamCallDecision {
  const conditionMatches = (condition: Readonly<Record<string, unknown>>): boolean => {
    const document = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*', Condition: condition }] });
    // Throws for a condition the dialect refuses: the whole trust decision is then a deny (below).
    return cache.get([{ name: `trust-condition:${role.name}`, versionId: 'trust', document }]).decide(context, { action, resource: role.arn }, now).allowed;
  };
  let r: ReturnType<typeof trustPolicyAllows>;
  try {
    r = trustPolicyAllows(role.assumeRolePolicyDocument, callerArn, { action, accountId, conditionMatches });
  } catch {
    return { allowed: false, reason: 'NO_MATCHING_STATEMENT', policy: null, statement: null };
  }
  return { allowed: r.allowed, reason: r.reason, policy: r.statement !== undefined ? `trust-policy:${role.name}` : null, statement: r.statement ?? null };
}
