/** The AWS IoT Core policy dialect: documents, ARNs, variables and the evaluator. */
export type { IotCertificateContext, IotContext, IotDeployment, IotPolicyProblem, IotRequest } from './context.js';
export { DEFAULT_IOT_DEPLOYMENT } from './context.js';
export { IOT_ACTIONS, canonicalAction, ActionCatalog, type IotResourceType } from './actions.js';
export { IOT_DIALECT, type PolicyDialect, type DialectGrammar, type DialectTexts } from './dialect.js';
export { iotArn } from './arn.js';
export {
  IOT_POLICY_CODES, IOT_POLICY_WARNING_CODES, MAX_POLICY_CHARACTERS, parseIotPolicyDocument,
  type IotPolicyCode, type IotPolicyDocument, type IotStatement, type ParseResult,
} from './document.js';
export { resolveKey, resolveVariable, serialToDecimal } from './keys.js';
export {
  compileIotPolicies, IotPolicySet,
  type IotCompileResult, type IotDecision, type IotDecisionReason, type IotExplanation, type IotNamedProblem, type IotPolicyInput, type IotStatementMatch,
} from './engine.js';
export { IOT_CONDITION_CODES, type CompiledCondition } from './conditions.js';
export { IotPolicyNotFoundError } from './errors.js';
export type { NamedPolicyProblem, PolicyDecision, PolicyDecisionReason, PolicyExplanation, PolicyInput, PolicyStatementMatch } from './evaluator.js';
