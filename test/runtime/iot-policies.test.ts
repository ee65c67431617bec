import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CombinedView, compileDeviceGroups, validateConfig } from '../../src/core/index.js';
import { compileIotPart, type IotPolicyData } from '../../src/runtime/iot-policies.js';

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
