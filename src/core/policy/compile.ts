import type { DeviceGroupsConfig } from '../config/types.js';
import { parseRule } from '../rules/parse.js';
import type { CompiledGroup, CompiledStatement } from './model.js';
import { OPERATIONS, type Operation } from './request.js';
import { parseResourcePattern, type ResourcePattern } from './resource.js';
import { PolicySnapshot } from './snapshot.js';

/**
 * Compiles validated device groups into a frozen snapshot. The input must have passed
 * validateConfig; compile does not re-report problems (it throws on what validation
 * would have rejected).
 */
export function compileDeviceGroups(deviceGroups: DeviceGroupsConfig): PolicySnapshot {
  const compiledPolicies = new Map<string, readonly CompiledStatement[]>();
  const policyStatements = (policy: string): readonly CompiledStatement[] => {
    let list = compiledPolicies.get(policy);
    if (!list) {
      list = Object.freeze(Object.entries(deviceGroups.policies[policy] ?? {}).map(([statement, st]) => Object.freeze({
        policy,
        statement,
        effect: st.effect,
        operations: Object.freeze(expandOperations(st.operations)),
        resources: Object.freeze(st.resources.map(compilePattern)),
      })));
      compiledPolicies.set(policy, list);
    }
    return list;
  };

  const groups: CompiledGroup[] = Object.entries(deviceGroups.definitions).map(([name, def]) => Object.freeze({
    name,
    rule: parseRule(def.selectionRule),
    policy: def.policyName,
    statements: policyStatements(def.policyName),
  }));
  return new PolicySnapshot(groups);
}

function expandOperations(ops: readonly string[]): Operation[] {
  const out = new Set<Operation>();
  for (const op of ops) {
    if (op === '*' || op === 'mqtt:*') OPERATIONS.forEach((o) => out.add(o));
    else if ((OPERATIONS as readonly string[]).includes(op)) out.add(op as Operation);
    else throw new Error(`unvalidated operation ${JSON.stringify(op)}`);
  }
  return [...out];
}

function compilePattern(source: string): ResourcePattern {
  const { pattern } = parseResourcePattern(source);
  if (!pattern) throw new Error(`unvalidated resource ${JSON.stringify(source)}`);
  return pattern;
}
