import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import { RuleSyntaxError } from '../../../src/core/rules/parse.js';
import type { DeviceGroupsConfig, StatementConfig } from '../../../src/core/config/types.js';

function groups(policies: Record<string, Record<string, StatementConfig>>, definitions: DeviceGroupsConfig['definitions']): DeviceGroupsConfig {
  return { formatVersion: '2021-03-05', definitions, policies };
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

  it('throws on input that validation would have rejected', () => {
    assert.throws(() => compileDeviceGroups(groups({ P: { S: { effect: 'ALLOW', operations: ['mqtt:retain'], resources: ['*'] } } },
      { A: { selectionRule: 'thingName: *', policyName: 'P' } })), /unvalidated operation "mqtt:retain"/);
    assert.throws(() => compileDeviceGroups(groups({ P: { S: { effect: 'ALLOW', operations: ['*'], resources: ['mqtt:topic:${nope}'] } } },
      { A: { selectionRule: 'thingName: *', policyName: 'P' } })), /unvalidated resource/);
    assert.throws(() => compileDeviceGroups(groups({ P: { S: allowAll } }, { A: { selectionRule: 'thingName: a.b', policyName: 'P' } })),
      (e: unknown) => e instanceof RuleSyntaxError && e.code === 'RULE_INVALID_CHARACTER');
  });

  it('compiles an empty configuration into a snapshot that denies everything', () => {
    const snap = compileDeviceGroups(groups({}, {}));
    assert.deepEqual(snap.decide({ thingName: 'a' }, 'mqtt:connect', 'mqtt:clientId:a'), { allowed: false, reason: 'NO_GROUP_SELECTS_THING' });
  });
});
