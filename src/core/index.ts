export * from './errors.js';
export type * from './config/types.js';
export {
  validateConfig, validateDeviceGroups, FORMAT_VERSION, type ValidationResult, type DeviceGroupsValidationResult, type ValidatedDeviceGroups,
} from './config/validate.js';
export { parseConfig, parseConfigDocument, formatFromName, type ConfigFormat } from './config/parse.js';
export { CLUSTER_CONFIG_SOURCES, explicitlyNoGroups, localKeyErrors, mergeSharedConfig, type ClusterConfigSource } from './config/cluster.js';
export { parseRule, RuleSyntaxError } from './rules/parse.js';
export type { Rule, Clause, ClauseMode } from './rules/ast.js';
export { ruleMatches, clauseMatches } from './rules/match.js';
export { compileDeviceGroups } from './policy/compile.js';
export { PolicySnapshot } from './policy/snapshot.js';
export { PrincipalView } from './policy/evaluate.js';
export { CombinedView, IotPart, MAX_CACHED_KEY_LENGTH, type IotAttachments } from './policy/combined.js';
export { explainConnection, parseIotRequest, type ConnectionExplanation, type ConnectionRequest, type ConnectionRequestProblem, type ConnectionSubject } from './policy/connection-explain.js';
export type * from './policy/model.js';
export { DECISION_REASONS } from './policy/model.js';
export type { Principal } from './policy/resource.js';
export { OPERATIONS, type Operation } from './policy/request.js';
export * from './policy/iot/index.js';
export * from './policy/iam/index.js';
