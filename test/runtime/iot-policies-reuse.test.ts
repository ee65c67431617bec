/**
 * The IoT policy loader recompiles only what changed: a reload reuses the compiled
 * policies of the set in force whose text is unchanged, compiles the changed ones (which
 * then decide), and a new deployment compiles everything again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileDeviceGroups, validateDeviceGroups, type IotDeployment } from '../../src/core/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { IotPolicyLoader, type IotPolicyData } from '../../src/runtime/iot-policies.js';
import { PolicyStore } from '../../src/runtime/policy-store.js';

const DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
const ARN = 'arn:aws:iot:us-east-1:123456789012';
const CTX = { clientId: 'c', thingName: null };

function document(topic: string): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/${topic}` }] });
}

function data(seq: number, policies: Record<string, string>): IotPolicyData {
  return {
    seq,
    policies: Object.entries(policies).map(([name, doc]) => ({ name, document: doc })),
    certificatePolicies: new Map([['cert', Object.keys(policies)]]),
    thingGroupPolicies: new Map(),
    thingGroups: new Map(),
    thingTypes: new Map(),
  };
}

interface Line { event?: string; reused?: number; policies?: number }

describe('IotPolicyLoader', () => {
  it('reuses unchanged policies on reload, compiles the changed one, and everything after a deployment change', async () => {
    const groups = validateDeviceGroups({ formatVersion: '2021-03-05', definitions: {}, policies: {} });
    assert.ok(groups.ok);
    const store = new PolicyStore(compileDeviceGroups(groups.deviceGroups));
    const lines: Line[] = [];
    const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
    let current = data(1, { a: document('a'), b: document('b'), c: document('c') });
    const loader = new IotPolicyLoader(() => Promise.resolve(current), store, logger, DEPLOYMENT);
    const applied = (): Line[] => lines.filter((l) => l.event === 'iot-policies-applied');
    const allowed = (policy: string, topic: string): boolean => {
      const set = store.current.iot?.set;
      assert.ok(set);
      return set.decide([policy], CTX, { action: 'iot:Publish', resource: `${ARN}:topic/${topic}` }, 0).allowed;
    };

    await loader.reload('test');
    assert.equal(applied().at(-1)?.reused, 0);

    current = data(2, { a: document('a'), b: document('b2'), c: document('c') });
    await loader.reload('test');
    assert.equal(applied().at(-1)?.reused, 2);
    assert.ok(allowed('b', 'b2'));
    assert.ok(!allowed('b', 'b'));
    assert.ok(allowed('a', 'a'));

    await loader.setDeployment({ ...DEPLOYMENT, region: 'eu-west-1' });
    assert.equal(applied().at(-1)?.reused, 0);
    assert.equal(store.current.iot?.set.deployment.region, 'eu-west-1');
  });
});
