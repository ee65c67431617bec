/**
 * explainConnection and parseIotRequest: IoT requests checked before anything is
 * decided, and decided through the connection view (the broker's decision) with what
 * each dialect found.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../../src/core/config/validate.js';
import { IotPart } from '../../../src/core/policy/combined.js';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import { explainConnection, parseIotRequest, type ConnectionSubject } from '../../../src/core/policy/connection-explain.js';
import type { IotRequest } from '../../../src/core/policy/iot/context.js';
import { compileIotPolicies } from '../../../src/core/policy/iot/engine.js';
import type { PolicySnapshot } from '../../../src/core/policy/snapshot.js';

const D = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
const ARN = 'arn:aws:iot:eu-west-1:123456789012';

function request(action: string, resource: string, retain = false): IotRequest {
  const r = parseIotRequest(D, action, resource, retain);
  if (!r.ok) assert.fail(`${action} ${resource}: ${r.problem.message}`);
  return r.request;
}

function site(): PolicySnapshot {
  const config = validateConfig({
    deviceGroups: {
      definitions: { Devs: { selectionRule: 'thingName: dev-*', policyName: 'P' } },
      policies: { P: { Sub: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:cmd/#'] } } },
    },
  });
  if (!config.ok) assert.fail(JSON.stringify(config.errors));
  const policies = compileIotPolicies([{
    name: 'CertPolicy',
    document: {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Pub', Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/data/*` },
        { Sid: 'NoCmdReceive', Effect: 'Deny', Action: 'iot:Receive', Resource: `${ARN}:topic/cmd/secret` },
        { Sid: 'NoRetain', Effect: 'Deny', Action: 'iot:RetainPublish', Resource: `${ARN}:topic/data/live` },
        { Sid: 'Retain', Effect: 'Allow', Action: 'iot:RetainPublish', Resource: `${ARN}:topic/data/*` },
      ],
    },
  }], D);
  if (!policies.ok) assert.fail(JSON.stringify(policies.problems));
  const part = new IotPart(policies.set, { certificatePolicies: new Map([['c1', ['CertPolicy']]]), thingGroupPolicies: new Map(), thingGroups: new Map(), thingTypes: new Map() }, new Set());
  return compileDeviceGroups(config.deviceGroups).withIot(part);
}

const subject = (certificateId: string): ConnectionSubject => ({
  principal: { thingName: 'dev-1', clientId: 'dev-1' },
  certificateId,
  context: { clientId: 'dev-1', thingName: 'dev-1', isAttached: true },
});
const now = (): number => Date.parse('2026-01-01T00:00:00Z');

describe('parseIotRequest', () => {
  it('completes TYPE/NAME into an ARN of the deployment and spells the action as documented', () => {
    assert.deepEqual(request('IOT:PUBLISH', 'topic/a/b'), { action: 'iot:Publish', resource: `${ARN}:topic/a/b` });
    assert.deepEqual(request('iot:ListRetainedMessages', '*'), { action: 'iot:ListRetainedMessages', resource: '*' });
    assert.deepEqual(request('iot:Publish', `${ARN}:topic/a`, true), { action: 'iot:Publish', resource: `${ARN}:topic/a`, retain: true });
  });

  it('refuses unknown actions, wildcards, foreign ARNs, wrong resource types and retain on other actions', () => {
    const code = (action: string, resource: string, retain = false): string | undefined => {
      const r = parseIotRequest(D, action, resource, retain);
      return r.ok ? undefined : r.problem.code;
    };
    assert.equal(code('iot:Frob', 'topic/a'), 'IOT_REQUEST_ACTION_UNKNOWN');
    assert.equal(code('iot:*', 'topic/a'), 'IOT_REQUEST_ACTION_UNKNOWN');
    assert.equal(code('iot:Publish', 'arn:aws:iot:us-east-1:123456789012:topic/a'), 'IOT_REQUEST_RESOURCE_INVALID');
    assert.equal(code('iot:Publish', 'arn:aws:iot:eu-west-1:000000000000:topic/a'), 'IOT_REQUEST_RESOURCE_INVALID');
    assert.equal(code('iot:Publish', 'topicfilter/a'), 'IOT_REQUEST_RESOURCE_INVALID');
    assert.equal(code('iot:Publish', 'topic/'), 'IOT_REQUEST_RESOURCE_INVALID');
    assert.equal(code('iot:Publish', '*'), 'IOT_REQUEST_RESOURCE_INVALID');
    assert.equal(code('iot:ListRetainedMessages', 'topic/a'), 'IOT_REQUEST_RESOURCE_INVALID');
    assert.equal(code('iot:Subscribe', 'topicfilter/a', true), 'IOT_REQUEST_RESOURCE_INVALID');
  });
});

describe('explainConnection', () => {
  const snap = site();

  it('an IoT publish is the view\'s decision, with the applying IoT statements', () => {
    const ex = explainConnection(snap, subject('c1'), { kind: 'iot', request: request('iot:Publish', 'topic/data/x') }, now);
    assert.deepEqual([ex.allowed, ex.reason, ex.dialect, ex.policy, ex.statement], [true, 'ALLOWED_BY_STATEMENT', 'iot', 'CertPolicy', 'Pub']);
    assert.deepEqual(ex.iotPolicies, ['CertPolicy']);
    assert.deepEqual(ex.iotMatches.map((m) => m.statement), ['Pub']);
  });

  it('a retained publish: an IoT Deny of iot:RetainPublish refuses it, an Allow grants it', () => {
    const denied = explainConnection(snap, subject('c1'), { kind: 'iot', request: request('iot:Publish', 'topic/data/live', true) }, now);
    assert.deepEqual([denied.allowed, denied.statement, denied.decidingAction], [false, 'NoRetain', 'iot:RetainPublish']);
    const allowed = explainConnection(snap, subject('c1'), { kind: 'iot', request: request('iot:Publish', 'topic/data/kept', true) }, now);
    assert.equal(allowed.allowed, true);
  });

  it('the certificate selects the policies: another certificate of the thing has none', () => {
    const ex = explainConnection(snap, subject('c2'), { kind: 'iot', request: request('iot:Publish', 'topic/data/x') }, now);
    assert.deepEqual([ex.allowed, ex.reason], [false, 'NO_MATCHING_STATEMENT']);
    assert.deepEqual(ex.iotPolicies, []);
  });

  it('iot:Receive is the IoT part alone: a Greengrass subscription grant does not answer it', () => {
    const denied = explainConnection(snap, subject('c1'), { kind: 'iot', request: request('iot:Receive', 'topic/cmd/secret') }, now);
    assert.deepEqual([denied.allowed, denied.reason, denied.statement], [false, 'DENIED_BY_STATEMENT', 'NoCmdReceive']);
    const none = explainConnection(snap, subject('c1'), { kind: 'iot', request: request('iot:Receive', 'topic/cmd/x') }, now);
    assert.deepEqual([none.allowed, none.reason, none.dialect], [false, 'NO_MATCHING_STATEMENT', 'iot']);
    assert.match(none.message, /implied by a granted subscription/);
  });

  it('iot:Subscribe is decided by both dialects: the Greengrass grant allows, with its matching statement', () => {
    const ex = explainConnection(snap, subject('c1'), { kind: 'iot', request: request('iot:Subscribe', 'topicfilter/cmd/#') }, now);
    assert.deepEqual([ex.allowed, ex.dialect, ex.group, ex.statement], [true, 'greengrass', 'Devs', 'Sub']);
    assert.deepEqual(ex.matches.map((m) => m.statement), ['Sub']);
    const gg = explainConnection(snap, subject('c1'), { kind: 'greengrass', operation: 'mqtt:publish', resource: 'mqtt:topic:data/x' }, now);
    assert.deepEqual([gg.allowed, gg.dialect, gg.operation], [true, 'iot', 'mqtt:publish']);
  });
});
