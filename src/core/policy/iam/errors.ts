/** Errors the IAM policy evaluator throws (each code documented in docs/errors.md). */
import { GatehouseError } from '../../errors.js';

/**
 * A decision named a policy the set does not hold. The evaluator refuses rather than
 * decide without it, since the missing policy could hold a Deny.
 */
export class IamPolicyNotFoundError extends GatehouseError<'IAM_POLICY_NOT_FOUND'> {
  constructor(readonly policy: string) {
    super('IAM_POLICY_NOT_FOUND', `IAM policy \`${policy}\` is not in the policy set in force`, 'compile the policy set with every policy attached to the caller, or detach the missing policy');
    this.name = 'IamPolicyNotFoundError';
  }
}
