import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import { validateConfig, validateDeviceGroups, type ValidatedDeviceGroups } from '../../../src/core/config/validate.js';
import type { DeviceGroupsConfig, StatementConfig } from '../../../src/core/config/types.js';

function raw(policies: Record<string, Record<string, StatementConfig>>, definitions: DeviceGroupsConfig['definitions']): DeviceGroupsConfig {
  return { formatVersion: '2021-03-05', definitions, policies };
}

/** The device groups, validated (the only form compileDeviceGroups takes). */
function groups(policies: Record<string, Record<string, StatementConfig>>, definitions: DeviceGroupsConfig['definitions']): ValidatedDeviceGroups {
  const r = validateDeviceGroups(raw(policies, definitions));
  if (!r.ok) assert.fail(`test device groups are invalid: ${JSON.stringify(r.errors)}`);
  return r.deviceGroups;
}

const allowAll: StatementConfig = { effect: 'ALLOW', operations: ['*'], resources: ['*'] };

describe('compileDeviceGroups', () => {
  it('compiles groups in configuration order with their rule and statements', () => {
    const snap = compileDeviceGroups(groups(
      { P: { S: { effect: 'DENY', operations: ['mqtt:publish', 'mqtt:*'], resources: ['mqtt:topic:a', 'mqtt:topic:${iot:Connection.Thing.ThingName}'] } } },
      { B: { selectionRule: 'thingName: b*', policyName: 'P' }, A: { selectionRule: 'thingName: a', policyName: 'P' } },
    ));
    assert.deepEqual(snap.groups.map((g) => [g.name, g.policy, g.rule.source]), [['B', 'P', 'thingName: b*'], ['A', 'P', 'thingName: a']]);
    const [st] = snap.groups[0]!.statements;
    assert.equal(st!.policy, 'P');
    assert.equal(st!.statement, 'S');
    assert.equal(st!.effect, 'DENY');
    // `mqtt:*` expands to the three operations; duplicates collapse.
    assert.deepEqual([...st!.operations].sort(), ['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe']);
    assert.deepEqual(st!.resources.map((r) => [r.source, r.hasVariables]), [['mqtt:topic:a', false], ['mqtt:topic:${iot:Connection.Thing.ThingName}', true]]);
  });

  it('compiles a policy shared by several groups once', () => {
    const snap = compileDeviceGroups(groups({ P: { S: allowAll } }, {
      A: { selectionRule: 'thingName: a', policyName: 'P' },
      B: { selectionRule: 'thingName: b', policyName: 'P' },
    }));
    assert.equal(snap.groups[0]!.statements, snap.groups[1]!.statements);
  });

  it('freezes what it builds', () => {
    const snap = compileDeviceGroups(groups({ P: { S: allowAll } }, { A: { selectionRule: 'thingName: *', policyName: 'P' } }));
    assert.ok(Object.isFrozen(snap.groups));
    assert.ok(Object.isFrozen(snap.groups[0]));
    assert.ok(Object.isFrozen(snap.groups[0]!.statements));
    assert.ok(Object.isFrozen(snap.groups[0]!.statements[0]));
    assert.ok(Object.isFrozen(snap.groups[0]!.statements[0]!.operations));
  });

  it('takes only validated device groups (a type error otherwise)', () => {
    const unvalidated = raw({ P: { S: allowAll } }, { A: { selectionRule: 'thingName: *', policyName: 'P' } });
    // Never called: the check is the compiler's. Without the brand on compileDeviceGroups'
    // parameter this directive is unused, which is itself a compile error.
    // @ts-expect-error a plain device-groups object has not been through validation
    const compileUnvalidated = (): unknown => compileDeviceGroups(unvalidated);
    assert.equal(typeof compileUnvalidated, 'function');
  });

  it('is reached only through validation, which reports what compiling could not handle', () => {
    const codes = (policies: Record<string, Record<string, StatementConfig>>, definitions: DeviceGroupsConfig['definitions']): string[][] => {
      const r = validateDeviceGroups(raw(policies, definitions));
      assert.equal(r.ok, false);
      return r.ok ? [] : r.errors.map((e) => [e.code, e.path]);
    };
    const any = { A: { selectionRule: 'thingName: *', policyName: 'P' } };
    assert.deepEqual(codes({ P: { S: { effect: 'ALLOW', operations: ['mqtt:retain'], resources: ['*'] } } }, any),
      [['CONFIG_UNKNOWN_OPERATION', 'deviceGroups.policies.P.S.operations[0]']]);
    assert.deepEqual(codes({ P: { S: { effect: 'ALLOW', operations: ['*'], resources: ['mqtt:topic:${nope}'] } } }, any),
      [['CONFIG_UNKNOWN_VARIABLE', 'deviceGroups.policies.P.S.resources[0]']]);
    assert.deepEqual(codes({ P: { S: allowAll } }, { A: { selectionRule: 'thingName: a.b', policyName: 'P' } }),
      [['RULE_INVALID_CHARACTER', 'deviceGroups.definitions.A.selectionRule']]);
  });

  it('validateDeviceGroups and validateConfig give the same device groups', () => {
    const doc = raw({ P: { S: { effect: 'ALLOW', operations: ['mqtt:publish'], resources: ['mqtt:topic:${iot:ClientId}/${iot:Connection.Thing.Attributes[room]}'] } } },
      { A: { selectionRule: 'thingName: a*', policyName: 'P' } });
    const alone = validateDeviceGroups(doc);
    const whole = validateConfig({ deviceGroups: doc });
    assert.ok(alone.ok && whole.ok);
    assert.deepEqual(alone.deviceGroups, whole.deviceGroups);
    assert.equal(whole.deviceGroups.config, whole.config.deviceGroups);
    assert.ok(Object.isFrozen(alone.deviceGroups) && Object.isFrozen(alone.deviceGroups.config.policies));
    const principal = { thingName: 'a1', clientId: 'c1', attributes: { room: 'r2' } };
    for (const snap of [compileDeviceGroups(alone.deviceGroups), compileDeviceGroups(whole.deviceGroups)]) {
      assert.equal(snap.decide(principal, 'mqtt:publish', 'mqtt:topic:c1/r2').reason, 'ALLOWED_BY_STATEMENT');
      assert.equal(snap.decide({ ...principal, clientId: 'c2' }, 'mqtt:publish', 'mqtt:topic:c1/r2').reason, 'NO_MATCHING_STATEMENT');
    }
  });

  it('compiles an empty configuration into a snapshot that denies everything', () => {
    const snap = compileDeviceGroups(groups({}, {}));
    assert.deepEqual(snap.decide({ thingName: 'a' }, 'mqtt:connect', 'mqtt:clientId:a'), { allowed: false, reason: 'NO_GROUP_SELECTS_THING' });
  });
});
