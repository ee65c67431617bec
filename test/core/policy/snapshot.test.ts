import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../../src/core/config/validate.js';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import type { PolicySnapshot } from '../../../src/core/policy/snapshot.js';
import type { Principal } from '../../../src/core/policy/resource.js';

const THING = '${iot:Connection.Thing.ThingName}';

type Statement = { effect?: string; operations: string[]; resources: string[] };

/** Validates `{ deviceGroups: { definitions, policies } }` and compiles it. */
function snapshot(
  definitions: Record<string, { selectionRule: string; policyName: string }>,
  policies: Record<string, Record<string, Statement>>,
): PolicySnapshot {
  const result = validateConfig({ deviceGroups: { definitions, policies } });
  if (!result.ok) assert.fail(`test configuration is invalid: ${JSON.stringify(result.errors)}`);
  return compileDeviceGroups(result.deviceGroups);
}

/** One group selecting `rule` with one policy of the given statements. */
function single(rule: string, statements: Record<string, Statement>): PolicySnapshot {
  return snapshot({ G: { selectionRule: rule, policyName: 'P' } }, { P: statements });
}

const t = (thingName: string): Principal => ({ thingName });

describe('PolicySnapshot.decide: reasons', () => {
  const snap = single('thingName: sensor*', {
    Connect: { operations: ['mqtt:connect'], resources: [`mqtt:clientId:${THING}`] },
    Publish: { operations: ['mqtt:publish'], resources: ['mqtt:topic:data/*'] },
    Everything: { operations: ['mqtt:subscribe'], resources: ['*'] },
  });

  it('ALLOWED_BY_STATEMENT names the group, policy, statement and resolved pattern', () => {
    assert.deepEqual(snap.decide(t('sensor1'), 'mqtt:connect', 'mqtt:clientId:sensor1'), {
      allowed: true, reason: 'ALLOWED_BY_STATEMENT', group: 'G', policy: 'P', statement: 'Connect', resourcePattern: 'mqtt:clientId:sensor1',
    });
    assert.deepEqual(snap.decide(t('sensor1'), 'mqtt:publish', 'mqtt:topic:data/x/y'), {
      allowed: true, reason: 'ALLOWED_BY_STATEMENT', group: 'G', policy: 'P', statement: 'Publish', resourcePattern: 'mqtt:topic:data/*',
    });
  });

  it('NO_MATCHING_STATEMENT when groups select the thing but nothing allows', () => {
    assert.deepEqual(snap.decide(t('sensor1'), 'mqtt:connect', 'mqtt:clientId:sensor2'), { allowed: false, reason: 'NO_MATCHING_STATEMENT' });
    assert.deepEqual(snap.decide(t('sensor1'), 'mqtt:publish', 'mqtt:topic:other'), { allowed: false, reason: 'NO_MATCHING_STATEMENT' });
  });

  it('NO_GROUP_SELECTS_THING when no rule selects the thing (or the thing name is empty)', () => {
    assert.deepEqual(snap.decide(t('camera1'), 'mqtt:publish', 'mqtt:topic:data/x'), { allowed: false, reason: 'NO_GROUP_SELECTS_THING' });
    const all = single('thingName: *', { A: { operations: ['*'], resources: ['*'] } });
    assert.equal(all.decide(t(''), 'mqtt:publish', 'mqtt:topic:x').reason, 'NO_GROUP_SELECTS_THING');
    assert.equal(all.decide(t('x'), 'mqtt:publish', 'mqtt:topic:x').reason, 'ALLOWED_BY_STATEMENT');
  });

  it('UNKNOWN_OPERATION for anything but the three MQTT operations', () => {
    for (const op of ['mqtt:Publish', 'MQTT:publish', 'mqtt:*', '*', 'iot:publish', 'mqtt:receive', 'publish', '']) {
      assert.deepEqual(snap.decide(t('sensor1'), op, 'mqtt:topic:data/x'), { allowed: false, reason: 'UNKNOWN_OPERATION' }, op);
    }
  });

  it('RESOURCE_TYPE_MISMATCH when the resource has another MQTT type', () => {
    assert.equal(snap.decide(t('sensor1'), 'mqtt:connect', 'mqtt:topic:data/x').reason, 'RESOURCE_TYPE_MISMATCH');
    assert.equal(snap.decide(t('sensor1'), 'mqtt:publish', 'mqtt:topicfilter:data/x').reason, 'RESOURCE_TYPE_MISMATCH');
    assert.equal(snap.decide(t('sensor1'), 'mqtt:subscribe', 'mqtt:topic:data/x').reason, 'RESOURCE_TYPE_MISMATCH');
    assert.equal(snap.decide(t('sensor1'), 'mqtt:subscribe', 'mqtt:clientId:sensor1').reason, 'RESOURCE_TYPE_MISMATCH');
    // The `*` grant for subscribe does not make a topic resource acceptable.
    assert.equal(snap.decide(t('sensor1'), 'mqtt:subscribe', 'mqtt:topic:x').allowed, false);
  });

  it('MALFORMED_RESOURCE for an empty name, an unknown type, control characters or emoji', () => {
    for (const resource of ['mqtt:topicfilter:', 'mqtt:topic:', '', 'topicfilter', 'mqtt:queue:x', 'iot:topicfilter:x', 'mqtt:topicfilter']) {
      assert.equal(snap.decide(t('sensor1'), 'mqtt:subscribe', resource).reason, 'MALFORMED_RESOURCE', JSON.stringify(resource));
    }
    // The `*` grant would match these strings; their characters make them malformed.
    for (const name of ['a\tb', 'a\nb', 'a\u0000', 'a\u007f', 'temp\u{1F321}', '\u{1F600}', 'a\uD800b']) {
      const d = snap.decide(t('sensor1'), 'mqtt:subscribe', `mqtt:topicfilter:${name}`);
      assert.deepEqual(d, { allowed: false, reason: 'MALFORMED_RESOURCE' }, JSON.stringify(name));
    }
  });

  it('accepts Unicode letters, digits and printable punctuation in names', () => {
    for (const name of ['température', '日本/東京', 'ü̈', 'a b', '$aws/things/x', '~!@#$%^&*()[]{}|;\'",.<>?`=+', '٣']) {
      assert.equal(snap.decide(t('sensor1'), 'mqtt:subscribe', `mqtt:topicfilter:${name}`).reason, 'ALLOWED_BY_STATEMENT', name);
    }
  });

  it('checks the characters of a name granted through a variable', () => {
    const s = single('thingName: *', { C: { operations: ['mqtt:connect'], resources: [`mqtt:clientId:${THING}`] } });
    assert.equal(s.decide(t('dev\u{1F600}'), 'mqtt:connect', 'mqtt:clientId:dev\u{1F600}').reason, 'MALFORMED_RESOURCE');
    assert.equal(s.decide(t('dev\t'), 'mqtt:connect', 'mqtt:clientId:dev\t').reason, 'MALFORMED_RESOURCE');
    assert.equal(s.decide(t('dév'), 'mqtt:connect', 'mqtt:clientId:dév').reason, 'ALLOWED_BY_STATEMENT');
  });
});

describe('PolicySnapshot.decide: deny and union', () => {
  it('a DENY in the same policy overrides an ALLOW, in either statement order', () => {
    for (const order of ['allow-first', 'deny-first']) {
      const allow = { operations: ['mqtt:publish'], resources: ['mqtt:topic:*'] };
      const deny = { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:secret/*'] };
      const s = single('thingName: *', order === 'allow-first' ? { A: allow, D: deny } : { D: deny, A: allow });
      assert.deepEqual(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:secret/1'), {
        allowed: false, reason: 'DENIED_BY_STATEMENT', group: 'G', policy: 'P', statement: 'D', resourcePattern: 'mqtt:topic:secret/*',
      });
      assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:public/1').reason, 'ALLOWED_BY_STATEMENT');
    }
  });

  it('a DENY of one group overrides an ALLOW of another, whatever their order', () => {
    const allowPolicy = { A: { operations: ['mqtt:publish'], resources: ['mqtt:topic:secret'] } };
    const denyPolicy = { D: { effect: 'deny', operations: ['mqtt:*'], resources: ['mqtt:topic:secret'] } };
    const groups = {
      Allow: { selectionRule: 'thingName: *', policyName: 'AllowP' },
      Deny: { selectionRule: 'thingName: bad*', policyName: 'DenyP' },
    };
    const forward = snapshot(groups, { AllowP: allowPolicy, DenyP: denyPolicy });
    const backward = snapshot({ Deny: groups.Deny, Allow: groups.Allow }, { DenyP: denyPolicy, AllowP: allowPolicy });
    for (const s of [forward, backward]) {
      const d = s.decide(t('bad1'), 'mqtt:publish', 'mqtt:topic:secret');
      assert.equal(d.reason, 'DENIED_BY_STATEMENT');
      assert.equal(d.group, 'Deny');
      assert.equal(d.allowed, false);
      assert.equal(s.decide(t('good1'), 'mqtt:publish', 'mqtt:topic:secret').reason, 'ALLOWED_BY_STATEMENT');
    }
  });

  it('an exact DENY beats a wildcard ALLOW and a wildcard DENY beats an exact ALLOW', () => {
    const s = single('thingName: *', {
      AllowAll: { operations: ['mqtt:publish'], resources: ['*'] },
      DenyOne: { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:a'] },
      AllowB: { operations: ['mqtt:publish'], resources: ['mqtt:topic:b/c'] },
      DenyB: { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:b/*'] },
    });
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:a').statement, 'DenyOne');
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:b/c').statement, 'DenyB');
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:c').statement, 'AllowAll');
  });

  it('a DENY applies only to its operations', () => {
    const s = single('thingName: *', {
      A: { operations: ['*'], resources: ['*'] },
      D: { effect: 'DENY', operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:*'] },
    });
    assert.equal(s.decide(t('x'), 'mqtt:subscribe', 'mqtt:topicfilter:a').reason, 'DENIED_BY_STATEMENT');
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:a').reason, 'ALLOWED_BY_STATEMENT');
  });

  it('a DENY whose attribute the thing lacks denies every value; an ALLOW is skipped', () => {
    const s = single('thingName: *', {
      A: { operations: ['mqtt:publish'], resources: ['mqtt:topic:*'] },
      D: { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:${iot:Connection.Thing.Attributes[zone]}/*'] },
      R: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:${iot:Connection.Thing.Attributes[zone]}'] },
    });
    assert.equal(s.decide({ thingName: 'x', attributes: { zone: 'z1' } }, 'mqtt:publish', 'mqtt:topic:z2/a').reason, 'ALLOWED_BY_STATEMENT');
    assert.equal(s.decide({ thingName: 'x', attributes: { zone: 'z1' } }, 'mqtt:publish', 'mqtt:topic:z1/a').reason, 'DENIED_BY_STATEMENT');
    assert.equal(s.decide({ thingName: 'x' }, 'mqtt:publish', 'mqtt:topic:z2/a').reason, 'DENIED_BY_STATEMENT');
    assert.equal(s.decide({ thingName: 'x', attributes: { zone: 'z1' } }, 'mqtt:subscribe', 'mqtt:topicfilter:z1').reason, 'ALLOWED_BY_STATEMENT');
    assert.equal(s.decide({ thingName: 'x' }, 'mqtt:subscribe', 'mqtt:topicfilter:z1').reason, 'NO_MATCHING_STATEMENT');
  });

  it('grants the union of the permissions of every selecting group', () => {
    const s = snapshot(
      {
        Sensors: { selectionRule: 'thingName: sensor*', policyName: 'SensorP' },
        Odd: { selectionRule: 'thingName: *1 OR thingName: *3', policyName: 'OddP' },
        None: { selectionRule: 'thingName: nobody', policyName: 'OddP' },
      },
      {
        SensorP: { S: { operations: ['mqtt:publish'], resources: ['mqtt:topic:sensors'] } },
        OddP: { O: { operations: ['mqtt:publish'], resources: ['mqtt:topic:odd'] } },
      },
    );
    assert.equal(s.decide(t('sensor1'), 'mqtt:publish', 'mqtt:topic:sensors').allowed, true);
    assert.equal(s.decide(t('sensor1'), 'mqtt:publish', 'mqtt:topic:odd').allowed, true);
    assert.equal(s.decide(t('sensor2'), 'mqtt:publish', 'mqtt:topic:sensors').allowed, true);
    assert.equal(s.decide(t('sensor2'), 'mqtt:publish', 'mqtt:topic:odd').reason, 'NO_MATCHING_STATEMENT');
    assert.equal(s.decide(t('camera3'), 'mqtt:publish', 'mqtt:topic:odd').group, 'Odd');
    assert.equal(s.decide(t('camera3'), 'mqtt:publish', 'mqtt:topic:sensors').reason, 'NO_MATCHING_STATEMENT');
    assert.deepEqual(s.selectGroups('sensor1').map((g) => g.name), ['Sensors', 'Odd']);
  });

  it('expands the operations `*` and `mqtt:*` to the three MQTT operations', () => {
    for (const op of ['*', 'mqtt:*']) {
      const s = single('thingName: *', { A: { operations: [op], resources: ['*'] } });
      assert.equal(s.decide(t('x'), 'mqtt:connect', 'mqtt:clientId:x').allowed, true);
      assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:x').allowed, true);
      assert.equal(s.decide(t('x'), 'mqtt:subscribe', 'mqtt:topicfilter:x').allowed, true);
      assert.equal(s.decide(t('x'), 'mqtt:unsubscribe', 'mqtt:topicfilter:x').reason, 'UNKNOWN_OPERATION');
    }
  });

  it('grants only the listed operations', () => {
    const s = single('thingName: *', { A: { operations: ['mqtt:publish'], resources: ['*'] } });
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:x').allowed, true);
    assert.equal(s.decide(t('x'), 'mqtt:subscribe', 'mqtt:topicfilter:x').reason, 'NO_MATCHING_STATEMENT');
    assert.equal(s.decide(t('x'), 'mqtt:connect', 'mqtt:clientId:x').reason, 'NO_MATCHING_STATEMENT');
  });
});

describe('PolicySnapshot.decide: resource matching', () => {
  it('compares topic filters literally, as the reference does', () => {
    const s = single('thingName: *', {
      Plus: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:client/+/status'] },
      Star: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:sensors/*'] },
      Hash: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:alerts/#'] },
    });
    const sub = (filter: string): boolean => s.decide(t('x'), 'mqtt:subscribe', `mqtt:topicfilter:${filter}`).allowed;
    assert.equal(sub('client/+/status'), true);
    assert.equal(sub('client/x/status'), false);
    assert.equal(sub('client/#'), false);
    assert.equal(sub('sensors/#'), true);
    assert.equal(sub('sensors/temp'), true);
    assert.equal(sub('sensors/+/x'), true);
    assert.equal(sub('sensors'), false);
    assert.equal(sub('alerts/#'), true);
    assert.equal(sub('alerts/fire'), false);
  });

  it('treats MQTT wildcards in a publish grant as literal characters', () => {
    const s = single('thingName: *', { P: { operations: ['mqtt:publish'], resources: ['mqtt:topic:a/+/c'] } });
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:a/b/c').allowed, false);
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:a/+/c').allowed, true);
  });

  it('matches resources case-sensitively', () => {
    const s = single('thingName: *', { P: { operations: ['mqtt:publish'], resources: ['mqtt:topic:Data/*'] } });
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:Data/1').allowed, true);
    assert.equal(s.decide(t('x'), 'mqtt:publish', 'mqtt:topic:data/1').allowed, false);
  });

  it('substitutes thing name and client ID literally; wildcards in names never widen a grant', () => {
    const s = single('thingName: *', {
      C: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:${iot:ClientId}'] },
      P: { operations: ['mqtt:publish'], resources: [`mqtt:topic:things/${THING}`] },
    });
    assert.equal(s.decide({ thingName: 'a*' }, 'mqtt:publish', 'mqtt:topic:things/a*').allowed, true);
    assert.equal(s.decide({ thingName: 'a*' }, 'mqtt:publish', 'mqtt:topic:things/ab').allowed, false);
    assert.equal(s.decide({ thingName: '#' }, 'mqtt:publish', 'mqtt:topic:things/x').allowed, false);
    assert.equal(s.decide({ thingName: 't', clientId: 'c1' }, 'mqtt:connect', 'mqtt:clientId:c1').allowed, true);
    assert.equal(s.decide({ thingName: 't', clientId: 'c1' }, 'mqtt:connect', 'mqtt:clientId:t').allowed, false);
    assert.equal(s.decide({ thingName: 't' }, 'mqtt:connect', 'mqtt:clientId:t').allowed, true);
    assert.equal(s.decide({ thingName: 't', clientId: 'c*' }, 'mqtt:connect', 'mqtt:clientId:cx').allowed, false);
  });
});

describe('PolicySnapshot.explain', () => {
  const s = snapshot(
    {
      Everyone: { selectionRule: 'thingName: *', policyName: 'Base' },
      Nobody: { selectionRule: 'thingName: nobody', policyName: 'Base' },
      Restricted: { selectionRule: 'thingName: r*', policyName: 'Restrict' },
    },
    {
      Base: {
        Wide: { operations: ['mqtt:publish'], resources: ['mqtt:topic:*'] },
        Own: { operations: ['mqtt:publish'], resources: [`mqtt:topic:${THING}/data`] },
      },
      Restrict: { NoData: { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:*/data'] } },
    },
  );

  it('lists the selecting groups and the matching statements, the deciding one first', () => {
    const e = s.explain(t('dev1'), 'mqtt:publish', 'mqtt:topic:dev1/data');
    assert.equal(e.allowed, true);
    assert.equal(e.reason, 'ALLOWED_BY_STATEMENT');
    // The exact grant decides, though `Wide` comes first in the configuration.
    assert.equal(e.statement, 'Own');
    assert.deepEqual(e.groups, [{ name: 'Everyone', policy: 'Base' }]);
    assert.deepEqual(e.matches, [
      { effect: 'ALLOW', group: 'Everyone', policy: 'Base', statement: 'Own', pattern: `mqtt:topic:${THING}/data`, resolved: 'mqtt:topic:dev1/data' },
      { effect: 'ALLOW', group: 'Everyone', policy: 'Base', statement: 'Wide', pattern: 'mqtt:topic:*', resolved: 'mqtt:topic:*' },
    ]);
    assert.equal(e.thingName, 'dev1');
    assert.equal(e.clientId, 'dev1');
    assert.equal(e.operation, 'mqtt:publish');
    assert.equal(e.resource, 'mqtt:topic:dev1/data');
    assert.match(e.message, /^allowed: statement `Own` of policy `Base` \(group `Everyone`\)/);
  });

  it('puts a deciding deny first and says that a deny overrides allows', () => {
    const e = s.explain({ thingName: 'r1', clientId: 'cid' }, 'mqtt:publish', 'mqtt:topic:r1/data');
    assert.equal(e.reason, 'DENIED_BY_STATEMENT');
    assert.deepEqual(e.groups, [{ name: 'Everyone', policy: 'Base' }, { name: 'Restricted', policy: 'Restrict' }]);
    assert.deepEqual(e.matches.map((m) => [m.effect, m.statement]), [['DENY', 'NoData'], ['ALLOW', 'Wide'], ['ALLOW', 'Own']]);
    assert.equal(e.clientId, 'cid');
    assert.match(e.message, /^denied: statement `NoData` of policy `Restrict` \(group `Restricted`\)/);
    assert.match(e.message, /overrides/);
  });

  it('explains denials without a statement', () => {
    const none = s.explain(t('dev1'), 'mqtt:subscribe', 'mqtt:topicfilter:x');
    assert.equal(none.reason, 'NO_MATCHING_STATEMENT');
    assert.deepEqual(none.matches, []);
    assert.match(none.message, /1 group selects thing `dev1`, but no statement allows `mqtt:subscribe` on `mqtt:topicfilter:x`/);
    const two = s.explain(t('r2'), 'mqtt:subscribe', 'mqtt:topicfilter:x');
    assert.match(two.message, /2 groups select thing `r2`/);

    const op = s.explain(t('dev1'), 'mqtt:retain', 'mqtt:topic:x');
    assert.equal(op.reason, 'UNKNOWN_OPERATION');
    assert.deepEqual(op.matches, []);
    assert.match(op.message, /`mqtt:retain` is not an operation/);

    const mismatch = s.explain(t('dev1'), 'mqtt:connect', 'mqtt:topic:x');
    assert.equal(mismatch.reason, 'RESOURCE_TYPE_MISMATCH');
    assert.match(mismatch.message, /`mqtt:clientId:…`/);

    const malformed = s.explain(t('dev1'), 'mqtt:publish', 'mqtt:topic:\u{1F600}');
    assert.equal(malformed.reason, 'MALFORMED_RESOURCE');
    assert.deepEqual(malformed.matches, []);
    assert.match(malformed.message, /not a well-formed resource/);
  });

  it('explains that no group selects a thing, or that the thing name is empty', () => {
    const empty = single('thingName: x', {});
    const e = empty.explain(t('y'), 'mqtt:publish', 'mqtt:topic:x');
    assert.equal(e.reason, 'NO_GROUP_SELECTS_THING');
    assert.deepEqual(e.groups, []);
    assert.match(e.message, /no device group's selection rule selects thing `y`/);
    assert.match(empty.explain(t(''), 'mqtt:publish', 'mqtt:topic:x').message, /no thing name/);
  });

  it('agrees with decide() on allowed and reason', () => {
    const requests: [Principal, string, string][] = [
      [t('dev1'), 'mqtt:publish', 'mqtt:topic:dev1/data'],
      [t('r1'), 'mqtt:publish', 'mqtt:topic:r1/data'],
      [t('r1'), 'mqtt:publish', 'mqtt:topic:r1/other'],
      [t('dev1'), 'mqtt:subscribe', 'mqtt:topicfilter:a'],
      [t(''), 'mqtt:publish', 'mqtt:topic:a'],
      [t('dev1'), 'mqtt:bogus', 'mqtt:topic:a'],
      [t('dev1'), 'mqtt:publish', 'mqtt:topicfilter:a'],
      [t('dev1'), 'mqtt:publish', 'mqtt:topic:a\u0001'],
    ];
    for (const [p, op, res] of requests) {
      const d = s.decide(p, op, res);
      const e = s.explain(p, op, res);
      assert.equal(e.allowed, d.allowed, `${op} ${res}`);
      assert.equal(e.reason, d.reason, `${op} ${res}`);
      assert.equal(e.statement, d.statement);
      if (e.matches.length > 0 && (d.reason === 'ALLOWED_BY_STATEMENT' || d.reason === 'DENIED_BY_STATEMENT')) {
        assert.equal(e.matches[0]!.statement, d.statement);
      }
    }
  });
});

describe('PolicySnapshot.view caching', () => {
  it('returns the same view for the same principal', () => {
    const s = single('thingName: *', { A: { operations: ['*'], resources: [`mqtt:topic:${THING}`] } });
    const v = s.view({ thingName: 'a' });
    assert.equal(s.view({ thingName: 'a' }), v);
    // Client ID and attributes are not used by this configuration, so they do not split the cache.
    assert.equal(s.view({ thingName: 'a', clientId: 'c', attributes: { k: 'v' } }), v);
    assert.notEqual(s.view({ thingName: 'b' }), v);
    assert.deepEqual(v.groups.map((g) => g.name), ['G']);
    assert.equal(v.decide('mqtt:publish', 'mqtt:topic:a').allowed, true);
  });

  it('keeps separate views for client IDs when a policy uses ${iot:ClientId}', () => {
    const s = single('thingName: *', { C: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:${iot:ClientId}'] } });
    const v1 = s.view({ thingName: 't', clientId: 'c1' });
    const v2 = s.view({ thingName: 't', clientId: 'c2' });
    assert.notEqual(v1, v2);
    assert.equal(s.view({ thingName: 't', clientId: 'c1' }), v1);
    // An absent client ID means the thing name.
    assert.equal(s.view({ thingName: 't' }), s.view({ thingName: 't', clientId: 't' }));
    assert.equal(s.decide({ thingName: 't', clientId: 'c2' }, 'mqtt:connect', 'mqtt:clientId:c2').allowed, true);
    assert.equal(s.decide({ thingName: 't', clientId: 'c2' }, 'mqtt:connect', 'mqtt:clientId:c1').allowed, false);
  });

  it('keeps separate views for attribute values, and for a missing attribute', () => {
    const s = single('thingName: *', {
      A: { operations: ['mqtt:publish'], resources: ['mqtt:topic:${iot:Connection.Thing.Attributes[zone]}'] },
    });
    const z1 = s.view({ thingName: 't', attributes: { zone: 'z1' } });
    const z2 = s.view({ thingName: 't', attributes: { zone: 'z2' } });
    const none = s.view({ thingName: 't' });
    const empty = s.view({ thingName: 't', attributes: { zone: '' } });
    assert.equal(new Set([z1, z2, none, empty]).size, 4);
    assert.equal(s.view({ thingName: 't', attributes: { zone: 'z1', other: 'x' } }), z1);
    assert.equal(z1.decide('mqtt:publish', 'mqtt:topic:z1').allowed, true);
    assert.equal(z2.decide('mqtt:publish', 'mqtt:topic:z1').allowed, false);
  });

  it('never hands one principal the view of another (no cache-key collisions)', () => {
    const attr = single('thingName: *', {
      A: { operations: ['mqtt:publish'], resources: ['mqtt:topic:*'] },
      D: { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:${iot:Connection.Thing.Attributes[zone]}*'] },
    });
    // Missing attribute: the deny covers every topic. Attribute "\u0001": only topics starting with it.
    const withValue = { thingName: 't', attributes: { zone: '\u0001' } };
    const missing = { thingName: 't' };
    assert.equal(attr.decide(withValue, 'mqtt:publish', 'mqtt:topic:x').allowed, true);
    assert.equal(attr.decide(missing, 'mqtt:publish', 'mqtt:topic:x').allowed, false);
    assert.notEqual(attr.view(withValue), attr.view(missing));

    const cid = single('thingName: a', { C: { operations: ['mqtt:connect'], resources: ['mqtt:clientId:${iot:ClientId}'] } });
    const p1 = { thingName: 'a', clientId: 'b\u0000c' };
    const p2 = { thingName: 'a\u0000b', clientId: 'c' };
    assert.equal(cid.decide(p1, 'mqtt:connect', 'mqtt:clientId:b\u0000c').reason, 'MALFORMED_RESOURCE');
    assert.equal(cid.view(p2).groups.length, 0);
    assert.equal(cid.decide(p2, 'mqtt:connect', 'mqtt:clientId:c').reason, 'NO_GROUP_SELECTS_THING');
  });
});
