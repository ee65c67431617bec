import type { DeviceGroupsConfig } from '../config/types.js';
import { parseRule } from '../rules/parse.js';
import type { CompiledGroup, CompiledStatement } from './model.js';
import { OPERATIONS, type Operation } from './request.js';
import { PARSED_RESOURCES, parseResourcePattern, type ResourcePattern } from './resource.js';
import { PolicySnapshot } from './snapshot.js';

/**
 * Compiles validated device groups into a frozen snapshot. The input must have passed
 * validateConfig; compile does not re-report problems (it throws on what validation
 * would have rejected).
 */
export function compileDeviceGroups(deviceGroups: DeviceGroupsConfig): PolicySnapshot {
  const parsed = PARSED_RESOURCES.get(deviceGroups.policies);
  const compiledPolicies = new Map<string, readonly CompiledStatement[]>();
  const policyStatements = (policy: string): readonly CompiledStatement[] => {
    let list = compiledPolicies.get(policy);
    if (!list) {
      list = Object.freeze(Object.entries(deviceGroups.policies[policy] ?? {}).map(([statement, st]) => Object.freeze({
        policy,
        statement,
        effect: st.effect,
        operations: expandOperations(st.operations),
        resources: compilePatterns(st.resources, parsed),
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

/** The operations in the order first named, wildcards expanded (frozen lists shared by equal ones). */
function expandOperations(ops: readonly string[]): readonly Operation[] {
  const out: Operation[] = [];
  for (const op of ops) {
    if (op === '*' || op === 'mqtt:*') {
      for (const o of OPERATIONS) if (!out.includes(o)) out.push(o);
    } else if ((OPERATIONS as readonly string[]).includes(op)) {
      if (!out.includes(op as Operation)) out.push(op as Operation);
    } else throw new Error(`unvalidated operation ${JSON.stringify(op)}`);
  }
  const key = out.join(' ');
  let shared = OPERATION_LISTS.get(key);
  if (shared === undefined) OPERATION_LISTS.set(key, (shared = Object.freeze(out)));
  return shared;
}

/** At most 15 distinct lists (ordered subsets of the three operations). */
const OPERATION_LISTS = new Map<string, readonly Operation[]>();

/** The parsed resources; validateConfig has parsed the lists it produced already. */
function compilePatterns(resources: readonly string[], known: ReadonlyMap<readonly string[], readonly ResourcePattern[]> | undefined): readonly ResourcePattern[] {
  const parsed = known?.get(resources);
  if (parsed !== undefined && Object.isFrozen(resources)) return Object.isFrozen(parsed) ? parsed : Object.freeze(parsed as ResourcePattern[]);
  return Object.freeze(resources.map(compilePattern));
}

function compilePattern(source: string): ResourcePattern {
  const { pattern } = parseResourcePattern(source);
  if (!pattern) throw new Error(`unvalidated resource ${JSON.stringify(source)}`);
  return pattern;
}
