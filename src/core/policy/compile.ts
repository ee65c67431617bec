import type { ValidatedDeviceGroups } from '../config/validate.js';
import { parseRule } from '../rules/parse.js';
import type { ActionTest } from './engine/statement.js';
import type { CompiledGroup, CompiledStatement } from './model.js';
import { OPERATIONS, type Operation } from './request.js';
import { parseResourcePattern, type ResourcePattern } from './resource.js';
import { PolicySnapshot } from './snapshot.js';

/**
 * Compiles device groups that validation accepted (validateConfig's `deviceGroups`, or
 * validateDeviceGroups') into a frozen snapshot. Validation has reported every problem,
 * so compiling cannot fail; a policy's statements are compiled when a group first needs
 * them, and the selection rules validation parsed are reused.
 */
export function compileDeviceGroups(validated: ValidatedDeviceGroups): PolicySnapshot {
  const deviceGroups = validated.config;
  const compiledPolicies = new Map<string, readonly CompiledStatement[]>();
  const policyStatements = (policy: string): readonly CompiledStatement[] => {
    let list = compiledPolicies.get(policy);
    if (!list) {
      list = Object.freeze(Object.entries(deviceGroups.policies[policy] ?? {}).map(([statement, st], index): CompiledStatement => {
        const operations = expandOperations(st.operations);
        const resources = Object.freeze(st.resources.map(compilePattern));
        return Object.freeze({
          dialect: 'greengrass' as const,
          policy,
          label: statement,
          index,
          deny: st.effect === 'DENY',
          actionTest: actionTestOf(operations),
          resourceTest: Object.freeze({ kind: 'glob' as const, patterns: resources }),
          condition: undefined,
          statement,
          effect: st.effect,
          operations,
          resources,
        });
      }));
      compiledPolicies.set(policy, list);
    }
    return list;
  };

  const groups: CompiledGroup[] = Object.entries(deviceGroups.definitions).map(([name, def]) => {
    // Validation parsed every group's rule; parsing again is only a fallback.
    const rule = validated.rules.get(def.selectionRule) ?? parseRule(def.selectionRule);
    const policy = def.policyName;
    const iot = def.iotPolicies !== undefined && def.iotPolicies.length > 0 ? { iotPolicies: def.iotPolicies } : {};
    return Object.freeze({
      name, rule, policy, ...iot,
      get statements(): readonly CompiledStatement[] {
        return policyStatements(policy);
      },
    });
  });
  // What the snapshot would find in the statements, from what validation saw in them.
  let usesClientId = false;
  const attributes = new Set<string>();
  if (validated.policies.size > 0) {
    const referenced = new Set<string>();
    for (const g of groups) referenced.add(g.policy);
    for (const [policy, known] of validated.policies) {
      // Only the policies' own entries: a missing policy compiles to no statements.
      if (!referenced.has(policy) || !Object.hasOwn(deviceGroups.policies, policy)) continue;
      if (known.clientId) usesClientId = true;
      if (known.attributes !== undefined) for (const a of known.attributes) attributes.add(a);
    }
  }
  return new PolicySnapshot(groups, { usesClientId, attributeNames: [...attributes].sort() });
}

/** The operations in the order first named, wildcards expanded (equal lists share one frozen array). */
function expandOperations(ops: readonly string[]): readonly Operation[] {
  // Key: the operations' indexes plus one, in base 4, in the order they were added.
  let key = 0;
  let seen = 0;
  for (const op of ops) {
    if (op === '*' || op === 'mqtt:*') {
      for (let i = 0; i < 3; i++) {
        if ((seen & (1 << i)) === 0) {
          seen |= 1 << i;
          key = key * 4 + i + 1;
        }
      }
    } else {
      const i = (OPERATIONS as readonly string[]).indexOf(op);
      if (i < 0) throw new Error(`unvalidated operation ${JSON.stringify(op)}`);
      if ((seen & (1 << i)) === 0) {
        seen |= 1 << i;
        key = key * 4 + i + 1;
      }
    }
  }
  let shared = OPERATION_LISTS[key];
  if (shared === undefined) {
    const out: Operation[] = [];
    for (let k = key; k > 0; k = Math.floor(k / 4)) out.unshift(OPERATIONS[(k % 4) - 1]!);
    OPERATION_LISTS[key] = shared = Object.freeze(out);
  }
  return shared;
}

/** The engine's action test of an expanded operation list (one per list: they are shared). */
function actionTestOf(operations: readonly Operation[]): ActionTest {
  let test = ACTION_TESTS.get(operations);
  if (test === undefined) {
    let mask = 0;
    for (const op of operations) mask |= 1 << OPERATIONS.indexOf(op);
    ACTION_TESTS.set(operations, (test = Object.freeze({ mask, words: Object.freeze([mask]), not: false, text: operations })));
  }
  return test;
}

const ACTION_TESTS = new Map<readonly Operation[], ActionTest>();

/** Indexed by expandOperations' key (below 64). */
const OPERATION_LISTS: (readonly Operation[] | undefined)[] = new Array<readonly Operation[] | undefined>(64).fill(undefined);

function compilePattern(source: string): ResourcePattern {
  const { pattern } = parseResourcePattern(source);
  if (!pattern) throw new Error(`unvalidated resource ${JSON.stringify(source)}`);
  return pattern;
}
