import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateDeviceGroups } from '../../../src/core/config/validate.js';
import { CombinedView, IotPart, type IotAttachments } from '../../../src/core/policy/combined.js';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import { PrincipalView } from '../../../src/core/policy/evaluate.js';
import type { IotContext } from '../../../src/core/policy/iot/context.js';
import { compileIotPolicies } from '../../../src/core/policy/iot/engine.js';
import type { PolicySnapshot } from '../../../src/core/policy/snapshot.js';

/**
 * The two dialects decided together for one connection (src/core/policy/combined.ts):
 * one union of statements, an explicit Deny in either wins, then an Allow in either.
 */

const DEPLOYMENT = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
const ARN = 'arn:aws:iot:eu-west-1:123456789012';

function greengrass(deviceGroups: Record<string, unknown>): PolicySnapshot {
  const r = validateDeviceGroups(deviceGroups);
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return compileDeviceGroups(r.deviceGroups);
}

const GG = greengrass({
  formatVersion: '2021-03-05',
  definitions: {
    Sensors: { selectionRule: 'thingName: sensor-*', policyName: 'SensorPolicy', iotPolicies: ['GroupNamed'] },
  },
  policies: {
    SensorPolicy: {
      Connect: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:${iot:Connection.Thing.ThingName}'] },
      Pub: { operations: ['mqtt:publish'], resources: ['mqtt:topic:gg/*', 'mqtt:topic:shared/*'] },
      Sub: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:gg/#', 'mqtt:topicfilter:shared/#'] },
      NoSecret: { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:gg/secret'] },
    },
  },
});

function iotPart(policies: Record<string, unknown>, attachments: Partial<IotAttachments> = {}, timed: string[] = []): IotPart {
  const r = compileIotPolicies(Object.entries(policies).map(([name, document]) => ({ name, document })), DEPLOYMENT);
  if (!r.ok) assert.fail(JSON.stringify(r.problems));
  return new IotPart(r.set, {
    certificatePolicies: attachments.certificatePolicies ?? new Map(),
    thingGroupPolicies: attachments.thingGroupPolicies ?? new Map(),
    thingGroups: attachments.thingGroups ?? new Map(),
    thingTypes: attachments.thingTypes ?? new Map(),
  }, new Set(timed));
}

const doc = (...statements: unknown[]): unknown => ({ Version: '2012-10-17', Statement: statements });

const IOT = iotPart({
  CertPolicy: doc(
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/iot/*` },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/iot/*` },
    { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/shared/blocked` },
    { Effect: 'Deny', Action: 'iot:Receive', Resource: `${ARN}:topic/shared/hidden/*` },
  ),
  GroupPolicy: doc({ Effect: 'Allow', Action: ['iot:Publish', 'iot:RetainPublish'], Resource: `${ARN}:topic/retained/*` }),
  GroupNamed: doc({ Sid: 'TypeOnly', Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/typed/*`, Condition: { StringEquals: { 'iot:Connection.Thing.ThingTypeName': 'Camera' } } }),
}, {
  certificatePolicies: new Map([['cert-1', ['CertPolicy']]]),
  thingGroupPolicies: new Map([['Floor1', ['GroupPolicy']]]),
  thingGroups: new Map([['sensor-1', ['Floor1', 'Building']]]),
  thingTypes: new Map([['sensor-1', 'Camera']]),
});

const principal = { thingName: 'sensor-1', clientId: 'sensor-1', attributes: {} };
const context: IotContext = { clientId: 'sensor-1', thingName: 'sensor-1', isAttached: true };
const now = (): number => Date.parse('2026-12-05T12:00:00Z');

function view(snapshot: PolicySnapshot, certificateId = 'cert-1'): CombinedView {
  const v = snapshot.connectionView(principal, certificateId, context, now);
  assert.ok(v instanceof CombinedView);
  return v;
}

describe('connectionView: which view a connection gets', () => {
  it('a site without IoT policies, and a connection with none in force, get the Greengrass view itself', () => {
    const plain = greengrass({ formatVersion: '2021-03-05', definitions: { S: { selectionRule: 'thingName: sensor-*', policyName: 'P' } }, policies: { P: {} } });
    assert.ok(plain.connectionView(principal, 'cert-1', context, now) instanceof PrincipalView);
    const withIot = plain.withIot(IOT);
    assert.ok(withIot.connectionView({ ...principal, thingName: 'other' }, 'cert-9', { ...context, thingName: 'other' }, now) instanceof PrincipalView);
    assert.ok(withIot.connectionView(principal, 'cert-1', context, now) instanceof CombinedView, 'its certificate has a policy');
  });

  it('policies in force: the certificate\'s, its thing groups\' (ancestors included) and those its device groups name, each once', () => {
    assert.deepEqual(view(GG.withIot(IOT)).policies, ['CertPolicy', 'GroupPolicy', 'GroupNamed']);
    assert.deepEqual(IOT.policiesFor('cert-1', 'sensor-1', ['CertPolicy', 'Gone']), { names: ['CertPolicy', 'GroupPolicy'], missing: ['Gone'], timed: false });
  });
});

describe('CombinedView: one union, deny wins across dialects', () => {
  const v = view(GG.withIot(IOT));

  it('an Allow in either dialect allows', () => {
    assert.equal(v.decide('mqtt:publish', 'mqtt:topic:gg/a').allowed, true, 'Greengrass allows');
    const d = v.decide('mqtt:publish', 'mqtt:topic:iot/a');
    assert.deepEqual([d.allowed, d.reason, d.dialect, d.policy], [true, 'ALLOWED_BY_STATEMENT', 'iot', 'CertPolicy']);
    assert.equal(v.decide('mqtt:connect', 'mqtt:clientId:sensor-1').allowed, true);
  });

  it('an IoT Deny beats a Greengrass Allow, and a Greengrass DENY beats an IoT Allow', () => {
    const d = v.decide('mqtt:publish', 'mqtt:topic:shared/blocked');
    assert.deepEqual([d.allowed, d.reason, d.dialect, d.policy, d.statement], [false, 'DENIED_BY_STATEMENT', 'iot', 'CertPolicy', '2']);
    const both = GG.withIot(iotPart({ CertPolicy: doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/gg/*` }) }, { certificatePolicies: new Map([['cert-1', ['CertPolicy']]]) }));
    const g = view(both).decide('mqtt:publish', 'mqtt:topic:gg/secret');
    assert.deepEqual([g.allowed, g.reason, g.dialect, g.statement], [false, 'DENIED_BY_STATEMENT', undefined, 'NoSecret']);
  });

  it('nothing allows: denied with the Greengrass reason', () => {
    assert.deepEqual([v.decide('mqtt:publish', 'mqtt:topic:nowhere').allowed, v.decide('mqtt:publish', 'mqtt:topic:nowhere').reason], [false, 'NO_MATCHING_STATEMENT']);
  });

  it('a malformed request is refused before the IoT policies are asked', () => {
    assert.equal(v.decide('mqtt:publish', 'mqtt:topicfilter:iot/a').reason, 'RESOURCE_TYPE_MISMATCH');
    assert.equal(v.decide('mqtt:delete', 'mqtt:topic:iot/a').reason, 'UNKNOWN_OPERATION');
  });

  it('conditions see the thing type from the registry', () => {
    assert.equal(v.decide('mqtt:subscribe', 'mqtt:topicfilter:typed/a').allowed, true);
    const untyped = GG.withIot(iotPart({ GroupNamed: doc({ Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/typed/*`, Condition: { StringEquals: { 'iot:Connection.Thing.ThingTypeName': 'Camera' } } }) }));
    assert.equal(view(untyped).decide('mqtt:subscribe', 'mqtt:topicfilter:typed/a').allowed, false);
  });
});

describe('CombinedView: what only the IoT dialect says', () => {
  const v = view(GG.withIot(IOT));

  it('a retained publish needs iot:RetainPublish under IoT; a Greengrass publish grant covers retain', () => {
    assert.equal(v.decideRetained('iot/a').allowed, false, 'iot:Publish without iot:RetainPublish');
    assert.equal(v.decide('mqtt:publish', 'mqtt:topic:iot/a').allowed, true);
    assert.equal(v.decideRetained('retained/a').allowed, true);
    assert.equal(v.decideRetained('gg/a').allowed, true, 'Greengrass has no retain permission: its publish grant covers it');
  });

  it('an IoT Deny of iot:RetainPublish refuses a retained publish that only Greengrass allows', () => {
    // No IoT statement speaks of iot:Publish on gg/…: the Deny of iot:RetainPublish must still apply.
    const part = iotPart({ NoRetain: doc({ Effect: 'Deny', Action: 'iot:RetainPublish', Resource: `${ARN}:topic/gg/*` }), GroupNamed: doc({ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }) }, { certificatePolicies: new Map([['cert-1', ['NoRetain']]]) });
    const nv = view(GG.withIot(part));
    assert.equal(nv.decide('mqtt:publish', 'mqtt:topic:gg/a').allowed, true, 'a plain publish is still allowed');
    const d = nv.decideRetained('gg/a');
    assert.equal(d.allowed, false);
    assert.equal(d.reason, 'DENIED_BY_STATEMENT');
    assert.equal(d.action, 'iot:RetainPublish');
  });

  it('receive: IoT Deny refuses, IoT Allow grants, otherwise the Greengrass rule decides', () => {
    assert.equal(v.receive('shared/hidden/x'), 'deny');
    assert.equal(v.receive('iot/x'), 'allow');
    assert.equal(v.receive('gg/x'), 'none');
  });

  it('a device group naming a policy the registry lacks denies what IoT would decide, but not what a Greengrass DENY already says', () => {
    const missing = GG.withIot(iotPart({ CertPolicy: doc({ Effect: 'Allow', Action: 'iot:*', Resource: '*' }) }, { certificatePolicies: new Map([['cert-1', ['CertPolicy']]]) }));
    const m = view(missing);
    assert.equal(m.decide('mqtt:publish', 'mqtt:topic:gg/a').reason, 'IOT_POLICY_NOT_FOUND', 'even what Greengrass allows');
    assert.equal(m.decide('mqtt:publish', 'mqtt:topic:gg/secret').reason, 'DENIED_BY_STATEMENT');
    assert.equal(m.receive('gg/a'), 'deny');
    // Without any registry behind the snapshot, the same.
    const none = GG.connectionView(principal, 'cert-1', context, now);
    assert.ok(none instanceof CombinedView);
    assert.equal(none.decide('mqtt:connect', 'mqtt:clientId:sensor-1').reason, 'IOT_POLICY_NOT_FOUND');
  });

  it('decisions on long topics are not remembered (a device cannot make the caches hold megabytes)', () => {
    const lv = view(GG.withIot(IOT));
    const cacheOf = (x: CombinedView): readonly (Map<string, unknown> | undefined)[] => (x as unknown as { cache: { maps: (Map<string, unknown> | undefined)[] } }).cache.maps;
    for (let i = 0; i < 20; i++) {
      const topic = `gg/${i}/${'x'.repeat(60_000)}`;
      assert.equal(lv.decide('mqtt:publish', `mqtt:topic:${topic}`).allowed, true);
      assert.equal(lv.decideRetained(topic).allowed, true);
      assert.equal(lv.receive(topic), 'none');
    }
    assert.equal(lv.decide('mqtt:publish', 'mqtt:topic:gg/short').allowed, true);
    const held = cacheOf(lv).reduce((n, m) => n + [...(m?.keys() ?? [])].reduce((k, key) => k + key.length, 0), 0);
    assert.ok(held < 1000, `the caches hold ${held} characters of keys`);
  });

  it('decisions under clock-dependent policies are not cached', () => {
    const timedDoc = doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/t`, Condition: { DateLessThan: { 'aws:CurrentTime': '2026-12-05T12:00:01Z' } } });
    const part = iotPart({ T: timedDoc }, { certificatePolicies: new Map([['cert-1', ['T']]]) }, ['T']);
    let t = Date.parse('2026-12-05T12:00:00Z');
    const plain = greengrass({ formatVersion: '2021-03-05', definitions: {}, policies: {} });
    const tv = plain.withIot(part).connectionView(principal, 'cert-1', context, () => t);
    assert.ok(tv instanceof CombinedView && tv.timed);
    assert.equal(tv.decide('mqtt:publish', 'mqtt:topic:t').allowed, true);
    t += 2000;
    assert.equal(tv.decide('mqtt:publish', 'mqtt:topic:t').allowed, false, 'the same request later is decided again');
  });
});

describe('what connections and snapshots share', () => {
  const PLAIN = greengrass({
    formatVersion: '2021-03-05',
    definitions: { Sensors: { selectionRule: 'thingName: sensor-*', policyName: 'P' } },
    policies: { P: { Connect: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:${iot:Connection.Thing.ThingName}'] } } },
  });
  const THING_POLICY = iotPart({
    Own: doc(
      { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/things/\${iot:Connection.Thing.ThingName}/*` },
      { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/things/\${iot:Connection.Thing.ThingName}/locked` },
    ),
    Other: doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/other/*` }),
    'a:b': doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/ab/*` }),
  }, { certificatePolicies: new Map([['cert-a', ['Own']], ['cert-b', ['Own']], ['cert-c', ['Own', 'Other']]]) });
  const connection = (snapshot: PolicySnapshot, thing: string, cert: string): CombinedView => {
    const v = snapshot.connectionView({ thingName: thing, clientId: thing, attributes: {} }, cert, { clientId: thing, thingName: thing, isAttached: true }, now);
    assert.ok(v instanceof CombinedView);
    return v;
  };

  it('connections with the same policies in force share one index, and each still decides with its own variables', () => {
    const snapshot = PLAIN.withIot(THING_POLICY);
    const a = connection(snapshot, 'sensor-a', 'cert-a');
    const b = connection(snapshot, 'sensor-b', 'cert-b');
    assert.equal(THING_POLICY.indexOf(['Own']), THING_POLICY.indexOf(['Own']));
    // Decided first for a, then for b through the same index: b's answers are b's.
    assert.equal(a.decide('mqtt:publish', 'mqtt:topic:things/sensor-a/t').allowed, true);
    assert.equal(b.decide('mqtt:publish', 'mqtt:topic:things/sensor-a/t').allowed, false);
    assert.equal(b.decide('mqtt:publish', 'mqtt:topic:things/sensor-b/t').allowed, true);
    assert.equal(a.decide('mqtt:publish', 'mqtt:topic:things/sensor-b/t').allowed, false);
    const denied = b.decide('mqtt:publish', 'mqtt:topic:things/sensor-b/locked');
    assert.deepEqual([denied.allowed, denied.reason, denied.policy], [false, 'DENIED_BY_STATEMENT', 'Own']);
    assert.equal(a.receive('things/sensor-a/t'), 'allow');
    assert.equal(b.receive('things/sensor-a/t'), 'none');
  });

  it('different lists of policies get different indexes, whatever their names hold', () => {
    assert.notEqual(THING_POLICY.indexOf(['Own']), THING_POLICY.indexOf(['Own', 'Other']));
    assert.notEqual(THING_POLICY.indexOf(['Own', 'Other']), THING_POLICY.indexOf(['Other', 'Own']));
    const snapshot = PLAIN.withIot(THING_POLICY);
    assert.equal(connection(snapshot, 'sensor-a', 'cert-a').decide('mqtt:publish', 'mqtt:topic:other/x').allowed, false);
    assert.equal(connection(snapshot, 'sensor-c', 'cert-c').decide('mqtt:publish', 'mqtt:topic:other/x').allowed, true);
  });

  it('a registry change keeps the Greengrass views built so far; a new configuration does not', () => {
    const p = { thingName: 'sensor-9', clientId: 'sensor-9', attributes: {} };
    const before = GG.withIot(IOT);
    const after = before.withIot(THING_POLICY);
    assert.equal(after.view(p), before.view(p));
    const recompiled = greengrass({
      formatVersion: '2021-03-05',
      definitions: { Sensors: { selectionRule: 'thingName: sensor-*', policyName: 'P' } },
      policies: { P: { Connect: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:other'] } } },
    }).withIot(THING_POLICY);
    assert.notEqual(recompiled.view(p), before.view(p));
    assert.equal(before.view(p).decide('mqtt:connect', 'mqtt:clientId:sensor-9').allowed, true);
    assert.equal(recompiled.view(p).decide('mqtt:connect', 'mqtt:clientId:sensor-9').allowed, false);
  });
});
