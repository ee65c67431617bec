/**
 * Evaluation: explicit Deny wins, then Allow, else implicit deny; NotAction and
 * NotResource; retained publishes; policy sets rejected as a whole; explanations; and
 * the compiled matcher against a naive regular-expression reference.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import '../../../helpers/seed.js';
import { KNOWN_ACTIONS } from '../../../../src/core/policy/iot/actions.js';
import { compileIotPolicies } from '../../../../src/core/policy/iot/engine.js';
import { ARN, CTX, DEPLOYMENT, allow, allowed, deny, policies } from './helpers.js';

const T = (t: string): string => `${ARN}:topic/${t}`;
const NOW = Date.UTC(2026, 0, 1);

describe('evaluation order', () => {
  it('no statement: implicit deny; no policy in force: implicit deny', () => {
    const s = policies([allow('iot:Publish', T('a'))]);
    assert.deepEqual(s.decide('all', CTX, { action: 'iot:Publish', resource: T('b') }, NOW), { allowed: false, reason: 'NO_MATCHING_STATEMENT', action: 'iot:Publish' });
    assert.equal(s.decide([], CTX, { action: 'iot:Publish', resource: T('a') }, NOW).reason, 'NO_MATCHING_STATEMENT');
  });

  it('an Allow names its policy and statement (Sid, or index)', () => {
    const s = policies([deny('iot:Connect', '*'), allow('iot:Publish', T('a'), { Sid: 'Pub' })], [allow('iot:Receive', T('a'))]);
    assert.deepEqual(s.decide('all', CTX, { action: 'iot:Publish', resource: T('a') }, NOW), { allowed: true, reason: 'ALLOWED_BY_STATEMENT', action: 'iot:Publish', policy: 'p0', statement: 'Pub', statementIndex: 1 });
    assert.deepEqual(s.decide('all', CTX, { action: 'iot:receive', resource: T('a') }, NOW), { allowed: true, reason: 'ALLOWED_BY_STATEMENT', action: 'iot:Receive', policy: 'p1', statement: '0', statementIndex: 0 });
  });

  it('an explicit Deny in any policy wins over any Allow, whatever the order', () => {
    const d = deny('iot:Publish', T('a/secret'), { Sid: 'NoSecret' });
    const a = allow('iot:*', '*');
    for (const s of [policies([a], [d]), policies([d], [a]), policies([a, d])]) {
      const r = s.decide('all', CTX, { action: 'iot:Publish', resource: T('a/secret') }, NOW);
      assert.equal(r.allowed, false);
      assert.equal(r.reason, 'DENIED_BY_STATEMENT');
      assert.equal(r.statement, 'NoSecret');
      assert.ok(allowed(s, 'iot:Publish', T('a/public')));
    }
  });

  it('only the named policies are in force; an unknown name is refused, not skipped', () => {
    const s = policies([allow('iot:Publish', '*')], [deny('iot:Publish', '*')]);
    assert.ok(s.decide(['p0'], CTX, { action: 'iot:Publish', resource: T('a') }, NOW).allowed);
    assert.ok(!s.decide(['p0', 'p1'], CTX, { action: 'iot:Publish', resource: T('a') }, NOW).allowed);
    assert.throws(() => s.decide(['p0', 'nope'], CTX, { action: 'iot:Publish', resource: T('a') }, NOW), { code: 'IOT_POLICY_NOT_FOUND' });
  });

  it('a policy with only Deny statements allows nothing', () => {
    assert.ok(!allowed(policies([deny('iot:Connect', '*')]), 'iot:Publish', T('a')));
  });

  it('a statement with a false condition does not apply (a conditional Deny does not block)', () => {
    const s = policies([allow('iot:Publish', '*'), deny('iot:Publish', '*', { Condition: { StringEquals: { 'iot:ClientId': 'bad' } } })]);
    assert.ok(allowed(s, 'iot:Publish', T('a')));
    assert.ok(!allowed(s, 'iot:Publish', T('a'), { clientId: 'bad', thingName: null }));
    const c = policies([allow('iot:Connect', '*', { Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } } })]);
    assert.ok(allowed(c, 'iot:Connect', `${ARN}:client/x`, { ...CTX, isAttached: true }));
    assert.ok(!allowed(c, 'iot:Connect', `${ARN}:client/x`, { ...CTX, isAttached: false }));
    assert.ok(!allowed(c, 'iot:Connect', `${ARN}:client/x`, CTX));
  });

  it('date conditions use the context time when it fixes one, else the clock passed in', () => {
    const s = policies([allow('iot:Connect', '*', { Condition: { DateLessThan: { 'aws:CurrentTime': '2026-06-01T00:00:00Z' } } })]);
    const req = { action: 'iot:Connect', resource: `${ARN}:client/x` };
    assert.ok(s.decide('all', CTX, req, Date.UTC(2026, 0, 1)).allowed);
    assert.ok(!s.decide('all', CTX, req, Date.UTC(2026, 11, 1)).allowed);
    assert.ok(s.decide('all', { ...CTX, currentTime: '2026-01-01T00:00:00Z' }, req, Date.UTC(2026, 11, 1)).allowed);
  });

  it('condition values substitute variables', () => {
    const s = policies([allow('iot:Connect', '*', { Condition: { StringEquals: { 'iot:Certificate.Subject.CommonName': '${iot:ClientId}' } } })]);
    const cert = { subject: { CommonName: ['dev1'] }, issuer: {}, serialNumber: '01' };
    assert.ok(allowed(s, 'iot:Connect', `${ARN}:client/dev1`, { clientId: 'dev1', thingName: null, certificate: cert }));
    assert.ok(!allowed(s, 'iot:Connect', `${ARN}:client/dev2`, { clientId: 'dev2', thingName: null, certificate: cert }));
  });
});

describe('NotAction and NotResource', () => {
  it('Allow + NotAction allows every other action, only on the named resources', () => {
    const s = policies([{ Effect: 'Allow', NotAction: 'iot:Publish', Resource: T('a/*') }]);
    assert.ok(allowed(s, 'iot:Receive', T('a/b')));
    assert.ok(!allowed(s, 'iot:Publish', T('a/b')));
    assert.ok(!allowed(s, 'iot:Receive', T('b')));
    assert.ok(allowed(s, 'iot:SomethingNew', T('a/b')), 'NotAction covers actions outside the known list too');
  });

  it('Deny + NotAction denies every action not listed', () => {
    const s = policies([allow('iot:*', '*'), { Effect: 'Deny', NotAction: ['iot:Connect', 'iot:Receive'], Resource: '*' }]);
    assert.ok(allowed(s, 'iot:Connect', `${ARN}:client/x`));
    assert.ok(!allowed(s, 'iot:Publish', T('a')));
  });

  it('one policy\'s action list cannot change what another\'s NotAction covers', () => {
    // `!iot:Publish` is a (meaningless) action name; `NotAction: iot:Publish` is every action but iot:Publish.
    const odd = [allow('!iot:Publish', '*')];
    const guard = [{ Effect: 'Deny', NotAction: 'iot:Publish', Resource: '*' }, allow('iot:*', '*')];
    for (const s of [policies(odd, guard), policies(guard, odd)]) {
      assert.ok(!allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/a`), 'the Deny with NotAction covers iot:Subscribe');
      assert.ok(allowed(s, 'iot:Publish', T('a')));
    }
    const alone = policies(odd, [{ Effect: 'Deny', NotAction: 'iot:Publish', Resource: '*' }]);
    assert.ok(!allowed(alone, 'iot:Connect', `${ARN}:client/a`), 'the odd action name grants nothing');
  });

  it('Allow + NotResource allows every resource except those listed; Deny + NotResource denies everything outside the list', () => {
    const a = policies([{ Effect: 'Allow', Action: 'iot:Publish', NotResource: [T('admin/*'), T('x')] }]);
    assert.ok(allowed(a, 'iot:Publish', T('a')));
    assert.ok(!allowed(a, 'iot:Publish', T('admin/1')));
    assert.ok(!allowed(a, 'iot:Publish', T('x')));
    const d = policies([allow('iot:Publish', '*'), { Effect: 'Deny', Action: 'iot:Publish', NotResource: T('ok/*') }]);
    assert.ok(allowed(d, 'iot:Publish', T('ok/1')));
    assert.ok(!allowed(d, 'iot:Publish', T('other')));
  });

  it('AWS Receive example: Allow Subscribe a/*, Deny Subscribe a/restricted/*, Receive everywhere but a/restricted/*', () => {
    const s = policies([
      allow('iot:Subscribe', `${ARN}:topicfilter/a/*`),
      deny('iot:Subscribe', `${ARN}:topicfilter/a/restricted/*`),
      { Effect: 'Allow', Action: 'iot:Receive', NotResource: T('a/restricted/*') },
    ]);
    assert.ok(allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/a/#`));
    assert.ok(!allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/a/restricted/#`));
    assert.ok(allowed(s, 'iot:Receive', T('a/open')));
    assert.ok(!allowed(s, 'iot:Receive', T('a/restricted/x')));
  });
});

describe('retained publish', () => {
  const req = (retain: boolean): { action: string; resource: string; retain: boolean } => ({ action: 'iot:Publish', resource: T('r'), retain });

  it('needs both iot:Publish and iot:RetainPublish', () => {
    const both = policies([allow(['iot:Publish', 'iot:RetainPublish'], T('r'))]);
    assert.ok(both.decide('all', CTX, req(true), NOW).allowed);
    const pubOnly = policies([allow('iot:Publish', T('r'))]);
    assert.ok(pubOnly.decide('all', CTX, req(false), NOW).allowed);
    assert.deepEqual(pubOnly.decide('all', CTX, req(true), NOW), { allowed: false, reason: 'NO_MATCHING_STATEMENT', action: 'iot:RetainPublish' });
    const retainOnly = policies([allow('iot:RetainPublish', T('r'))]);
    assert.deepEqual(retainOnly.decide('all', CTX, req(true), NOW), { allowed: false, reason: 'NO_MATCHING_STATEMENT', action: 'iot:Publish' });
    assert.ok(!retainOnly.decide('all', CTX, req(false), NOW).allowed);
  });

  it('a Deny of RetainPublish refuses the retained publish only', () => {
    const s = policies([allow('iot:*', '*'), deny('iot:RetainPublish', T('r'), { Sid: 'NoRetain' })]);
    assert.ok(s.decide('all', CTX, req(false), NOW).allowed);
    const r = s.decide('all', CTX, req(true), NOW);
    assert.equal(r.allowed, false);
    assert.equal(r.reason, 'DENIED_BY_STATEMENT');
    assert.equal(r.action, 'iot:RetainPublish');
    assert.equal(r.statement, 'NoRetain');
  });

  it('a Deny of RetainPublish is reported even when no statement allows iot:Publish', () => {
    // The other dialect may allow the publish: the explicit Deny must be what decides.
    const s = policies([deny('iot:RetainPublish', T('r'), { Sid: 'NoRetain' })]);
    const r = s.decide('all', CTX, req(true), NOW);
    assert.equal(r.allowed, false);
    assert.equal(r.reason, 'DENIED_BY_STATEMENT');
    assert.equal(r.action, 'iot:RetainPublish');
  });

  it('retain on another action changes nothing', () => {
    const s = policies([allow('iot:Receive', T('r'))]);
    assert.ok(s.decide('all', CTX, { action: 'iot:Receive', resource: T('r'), retain: true }, NOW).allowed);
  });
});

describe('explain', () => {
  it('lists every applying statement, Deny first, with the resources that matched', () => {
    const s = policies([allow('iot:Publish', [T('a/*'), T('b')], { Sid: 'A' }), deny('iot:*', T('a/x'), { Sid: 'D' })], [allow('iot:Publish', `${ARN}:topic/\${iot:ClientId}/*`)]);
    const ex = s.explain('all', { clientId: 'a', thingName: null }, { action: 'iot:Publish', resource: T('a/x') }, NOW);
    assert.equal(ex.reason, 'DENIED_BY_STATEMENT');
    assert.deepEqual(ex.matches.map((m) => [m.effect, m.policy, m.statement, m.resources]), [
      ['Deny', 'p0', 'D', [T('a/x')]],
      ['Allow', 'p0', 'A', [T('a/*')]],
      ['Allow', 'p1', '0', [T('a/*')]],
    ]);
    assert.deepEqual(s.explain('all', CTX, { action: 'iot:Publish', resource: T('zzz') }, NOW).matches, []);
  });
});

describe('compiling a policy set', () => {
  it('one invalid document rejects the whole set, with every problem named by policy', () => {
    const r = compileIotPolicies([
      { name: 'good', document: { Statement: allow('iot:Connect', '*') } },
      { name: 'bad', document: '{"Statement": {"Effect": "Permit", "Action": "iot:Connect", "Resource": "*"}}' },
      { name: 'worse', document: { Statement: [allow('iot:Connect', 'nope')] } },
    ], DEPLOYMENT);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.problems.map((p) => [p.policy, p.code, p.path]), [
      ['bad', 'IOT_POLICY_EFFECT_INVALID', '$.Statement.Effect'],
      ['worse', 'IOT_POLICY_RESOURCE_INVALID', '$.Statement[0].Resource'],
    ]);
  });

  it('every known action has a bit of a 32-bit action mask', () => {
    assert.ok(KNOWN_ACTIONS.length <= 31);
  });

  it('policy names are unique', () => {
    const d = { Statement: allow('iot:Connect', '*') };
    const r = compileIotPolicies([{ name: 'x', document: d }, { name: 'x', document: d }], DEPLOYMENT);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.problems.map((p) => [p.policy, p.code]), [['x', 'IOT_POLICY_NAME_DUPLICATE']]);
  });

  it('warnings do not stop compilation', () => {
    const r = compileIotPolicies([{ name: 'w', document: { Statement: allow('iot:Publsh', '*') } }], DEPLOYMENT);
    assert.ok(r.ok);
    assert.deepEqual(r.warnings.map((w) => [w.policy, w.code]), [['w', 'IOT_POLICY_ACTION_UNKNOWN']]);
  });

  it('compiles ten thousand policies (functional check; timings live in the benchmark)', () => {
    const inputs = Array.from({ length: 10_000 }, (_, i) => ({
      name: `pol-${i}`,
      document: { Version: '2012-10-17', Statement: [allow('iot:Connect', `${ARN}:client/\${iot:Connection.Thing.ThingName}`), allow(['iot:Publish', 'iot:Receive'], T(`fleet/${i}/*`)), deny('iot:Publish', T(`fleet/${i}/admin`))] },
    }));
    const r = compileIotPolicies(inputs, DEPLOYMENT);
    assert.ok(r.ok);
    assert.ok(r.set.decide(['pol-42'], CTX, { action: 'iot:Publish', resource: T('fleet/42/x') }, NOW).allowed);
    assert.ok(!r.set.decide(['pol-42'], CTX, { action: 'iot:Publish', resource: T('fleet/43/x') }, NOW).allowed);
  });
});

/** A naive reference: a resource pattern as a regular expression, per the IAM page's rules. */
function naiveResourceMatch(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  let colons = 0;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === ':') {
      colons++;
      re += ':';
    } else if (c === '*') {
      const endsSegment = i + 1 === pattern.length || pattern[i + 1] === ':';
      re += colons < 5 && !endsSegment ? '[^:]*' : '.*';
    } else if (c === '?') {
      re += colons < 5 ? '[^:]' : '.';
    } else {
      re += c.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`, 's').test(arn);
}

describe('property: the compiled matcher agrees with a naive reference', () => {
  it('on random patterns and ARNs over a small alphabet', () => {
    const ch = fc.constantFrom('a', 'b', ':', '/', '*', '?', '+', '#');
    const seg = fc.constantFrom('a', 'b', '*', 'a*', '*b', '?', 'a?b', 'us-east-1');
    const arnCh = fc.constantFrom('a', 'b', ':', '/', '+', '#');
    fc.assert(fc.property(
      fc.tuple(seg, seg, seg, fc.array(ch, { maxLength: 8 })),
      fc.tuple(fc.constantFrom('a', 'b', 'us-east-1', 'a:b', 'b:a'), fc.constantFrom('a', 'b', 'a:b'), fc.array(arnCh, { maxLength: 8 })),
      ([partition, region, account, rest], [rRegion, rAccount, rRest]) => {
        const pattern = `arn:${partition}:iot:${region}:${account}:${rest.join('')}`;
        const arn = `arn:a:iot:${rRegion}:${rAccount}:${rRest.join('')}`;
        const s = policies([allow('iot:Publish', pattern)]);
        assert.equal(allowed(s, 'iot:Publish', arn), naiveResourceMatch(pattern, arn), `${pattern} vs ${arn}`);
      },
    ), { numRuns: 1000 });
  });
});

describe('compiling again from the previous set', () => {
  const text = (topic: string): string => JSON.stringify({ Version: '2012-10-17', Statement: [allow('iot:Publish', T(topic))] });
  const compile = (inputs: { name: string; document: unknown }[], previous?: Parameters<typeof compileIotPolicies>[2], deployment = DEPLOYMENT): Extract<ReturnType<typeof compileIotPolicies>, { ok: true }> => {
    const r = compileIotPolicies(inputs, deployment, previous);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    return r;
  };

  it('reuses the policies whose name and text are unchanged and compiles the changed one', () => {
    const first = compile([{ name: 'a', document: text('a') }, { name: 'b', document: text('b') }, { name: 'gone', document: text('g') }]);
    assert.equal(first.reused, 0);
    const second = compile([{ name: 'a', document: text('a') }, { name: 'b', document: text('b2') }, { name: 'new', document: text('n') }], first.set);
    assert.equal(second.reused, 1);
    assert.deepEqual(second.set.names, ['a', 'b', 'new']);
    assert.ok(second.set.decide(['a'], CTX, { action: 'iot:Publish', resource: T('a') }, NOW).allowed);
    // The changed document is the one in force, not the previous one.
    assert.ok(second.set.decide(['b'], CTX, { action: 'iot:Publish', resource: T('b2') }, NOW).allowed);
    assert.ok(!second.set.decide(['b'], CTX, { action: 'iot:Publish', resource: T('b') }, NOW).allowed);
    assert.ok(!second.set.has('gone'));
    // The previous set is unchanged.
    assert.ok(first.set.decide(['b'], CTX, { action: 'iot:Publish', resource: T('b') }, NOW).allowed);
  });

  it('the same text under another name is compiled, not taken from the other policy', () => {
    const first = compile([{ name: 'a', document: text('a') }]);
    const second = compile([{ name: 'b', document: text('a') }], first.set);
    assert.equal(second.reused, 0);
    assert.equal(second.set.decide(['b'], CTX, { action: 'iot:Publish', resource: T('a') }, NOW).policy, 'b');
  });

  it('a changed deployment compiles everything again', () => {
    const first = compile([{ name: 'a', document: text('a') }]);
    for (const d of [{ ...DEPLOYMENT, region: 'eu-west-1' }, { ...DEPLOYMENT, accountId: '999999999999' }, { ...DEPLOYMENT, partition: 'aws-cn' }]) {
      const again = compile([{ name: 'a', document: text('a') }], first.set, d);
      assert.equal(again.reused, 0);
      assert.deepEqual(again.set.deployment, d);
    }
    assert.equal(compile([{ name: 'a', document: text('a') }], first.set, { ...DEPLOYMENT }).reused, 1);
  });

  it('documents given as parsed values are always compiled again', () => {
    const d = { Version: '2012-10-17', Statement: [allow('iot:Publish', T('a'))] };
    const first = compile([{ name: 'a', document: d }]);
    assert.equal(compile([{ name: 'a', document: d }], first.set).reused, 0);
  });

  it('a reused policy reports its warnings again, and an invalid new text still rejects the set', () => {
    const warned = JSON.stringify({ Statement: [allow('iot:Publsh', '*')] });
    const first = compile([{ name: 'w', document: warned }]);
    const second = compile([{ name: 'w', document: warned }], first.set);
    assert.equal(second.reused, 1);
    assert.deepEqual(second.warnings.map((w) => [w.policy, w.code]), [['w', 'IOT_POLICY_ACTION_UNKNOWN']]);
    const bad = compileIotPolicies([{ name: 'w', document: warned }, { name: 'x', document: '{"Statement": {"Effect": "Permit"}}' }], DEPLOYMENT, first.set);
    assert.equal(bad.ok, false);
  });
});
