/** The IAM identity-policy dialect that authorizes management calls, on the engine of `../iot/`. */
export type { IamContext, IamPrincipalContext, IamRequest } from './context.js';
export { IAM_ACTIONS, IAM_ACTIONS_ALSO_ON, IAM_ACTION_CATALOG, canonicalIamAction, type IamResourceType } from './actions.js';
export { IAM_DIALECT, IAM_MAX_POLICY_CHARACTERS } from './dialect.js';
export { IAM_POLICY_CODES, IAM_POLICY_WARNING_CODES, IAM_CONDITION_CODES, parseIamPolicyDocument, type IamPolicyCode } from './document.js';
export { isKnownIamConditionKey, isKnownIamVariable, resolveIamKey, resolveIamVariable } from './keys.js';
export {
  compileIamPolicies, IamPolicySet,
  type IamCompileResult, type IamDecision, type IamDecisionReason, type IamExplanation, type IamNamedProblem, type IamPolicyInput, type IamStatementMatch,
} from './engine.js';
export { IamPolicyNotFoundError } from './errors.js';
export { arnFor, type IamArnKind } from './arns.js';
