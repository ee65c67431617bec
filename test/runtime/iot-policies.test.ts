import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CombinedView, compileDeviceGroups, validateConfig } from '../../src/core/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { compileIotPart, IotPolicyLoader, type IotPolicyData } from '../../src/runtime/iot-policies.js';
import { PolicyStore } from '../../src/runtime/policy-store.js';

/** compileIotPart: the registry's policies as the gateway compiles them. */

const DEPLOYMENT = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
const ARN = 'arn:aws:iot:eu-west-1:123456789012';

function data(document: string): IotPolicyData {
  return {
    seq: 1,
    policies: [{ name: 'Timed', document }],
    certificatePolicies: new Map([['cert-1', ['Timed']]]),
    thingGroupPolicies: new Map(),
    thingGroups: new Map(),
    thingTypes: new Map(),
  };
}

test('compileIotPart: a policy reading the clock is never cached, however its key is spelled in JSON', () => {
  // `\u0054` is `T`: the same key, written with a JSON escape.
  const document = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"${ARN}:topic/t",`
    + '"Condition":{"DateLessThan":{"aws:Current\\u0054ime":"2026-12-05T12:00:01Z"}}}]}';
  const r = compileIotPart(data(document), DEPLOYMENT);
  assert.ok(r.ok && r.part !== undefined);
  const cfg = validateConfig({ deviceGroups: { formatVersion: '2021-03-05', definitions: {}, policies: {} } });
  assert.ok(cfg.ok);
  let t = Date.parse('2026-12-05T12:00:00Z');
  const view = compileDeviceGroups(cfg.deviceGroups).withIot(r.part).connectionView({ thingName: 'd', clientId: 'd', attributes: {} }, 'cert-1', { clientId: 'd', thingName: 'd' }, () => t);
  assert.ok(view instanceof CombinedView);
  assert.equal(view.decide('mqtt:publish', 'mqtt:topic:t').allowed, true, 'before the date');
  t += 2000;
  assert.equal(view.decide('mqtt:publish', 'mqtt:topic:t').allowed, false, 'after the date the same request is decided again');
  assert.equal(view.timed, true);
});

test('IotPolicyLoader: a registry that could not be read is read again, so the change that asked for it is applied', async () => {
  const cfg = validateConfig({ deviceGroups: { formatVersion: '2021-03-05', definitions: {}, policies: {} } });
  assert.ok(cfg.ok);
  const store = new PolicyStore(compileDeviceGroups(cfg.deviceGroups));
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => { lines.push(line); } });
  let reads = 0;
  const document = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/t` }] });
  const loader = new IotPolicyLoader(() => (++reads === 1 ? Promise.reject(new Error('database is locked')) : Promise.resolve(data(document))), store, logger, DEPLOYMENT);
  // The retry timer does not hold the process open (unref); this one does, for the test only.
  const keepAlive = setTimeout(() => undefined, 10_000);
  try {
    const swapped = new Promise<void>((resolve) => { const off = store.onSwap(() => { off(); resolve(); }); });
    await loader.reload('registry');
    const before = store.current;
    assert.equal(before.iot, undefined, 'the first read failed: nothing changed yet');
    assert.ok(lines.some((l) => l.includes('"iot-policies-error"')), 'the failure is logged');
    await swapped;
    assert.equal(reads, 2);
    assert.notEqual(store.current, before);
    assert.deepEqual(store.current.iot?.set.names, ['Timed']);
  } finally {
    clearTimeout(keepAlive);
    loader.close();
  }
});

test('a stored policy that no longer compiles is left out and denies where it applies; the others keep working', async () => {
  // Greengrass allows every publish: only the broken IoT policy's Deny would refuse `secret`.
  const cfg = validateConfig({ deviceGroups: { formatVersion: '2021-03-05', definitions: { All: { selectionRule: 'thingName: *', policyName: 'P' } }, policies: { P: { S: { operations: ['mqtt:connect', 'mqtt:publish'], resources: ['*'] } } } } });
  assert.ok(cfg.ok);
  const store = new PolicyStore(compileDeviceGroups(cfg.deviceGroups));
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => { lines.push(line); } });
  const good = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/a` }] });
  const broken = JSON.stringify({ Version: '2012-10-17', Statement: [
    { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/secret` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/x`, Condition: { StringEqualz: { 'iot:ClientId': 'd' } } },
  ] });
  const registry: IotPolicyData = {
    seq: 7,
    policies: [{ name: 'Good', document: good }, { name: 'Broken', document: broken }],
    certificatePolicies: new Map([['cert-1', ['Good']], ['cert-2', ['Broken']]]),
    thingGroupPolicies: new Map(),
    thingGroups: new Map(),
    thingTypes: new Map(),
  };
  const loader = new IotPolicyLoader(() => Promise.resolve(registry), store, logger, DEPLOYMENT);
  try {
    await loader.reload('start');
    assert.deepEqual(store.current.iot?.set.names, ['Good']);
    assert.ok(lines.some((l) => l.includes('"iot-policies-rejected"') && l.includes('Broken')), 'the broken policy is logged');
    const view = (cert: string): ReturnType<typeof store.current.connectionView> =>
      store.current.connectionView({ thingName: 'd', clientId: 'd', attributes: {} }, cert, { clientId: 'd', thingName: 'd' }, () => 0);
    const d = view('cert-2').decide('mqtt:publish', 'mqtt:topic:secret');
    assert.deepEqual([d.allowed, d.reason], [false, 'IOT_POLICY_NOT_FOUND'], 'its Deny might have applied');
    assert.equal(view('cert-1').decide('mqtt:subscribe', 'mqtt:topicfilter:a').allowed, true, 'the valid policy is in force');
    assert.equal(view('cert-1').decide('mqtt:publish', 'mqtt:topic:secret').allowed, true, 'a connection the broken policy does not apply to is not affected');
  } finally {
    loader.close();
  }
});
