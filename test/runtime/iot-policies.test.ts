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
