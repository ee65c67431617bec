/**
 * The engine's one decision order against a simple reference evaluator over the same
 * statements, on random policies and requests, for each dialect and for the two
 * combined on a connection:
 *
 * - Greengrass: the match tables (exact entries, glob meta, lazy character checks,
 *   remembered exact decisions) against the plain statement list with the reference
 *   glob match, the validation done first;
 * - IoT: the ARN index (action masks, Deny first per policy) against a loop over the
 *   documents' statements in order that tests each action pattern, with the retained
 *   publish rule written out;
 * - a connection: the CombinedView against the combination written out step by step
 *   (refusal, Greengrass Deny, missing policy, IoT Deny, Greengrass Allow, IoT Allow).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import '../../../helpers/seed.js';
import { validateConfig } from '../../../../src/core/config/validate.js';
import { CombinedView, IotPart } from '../../../../src/core/policy/combined.js';
import { compileDeviceGroups } from '../../../../src/core/policy/compile.js';
import { arnRequest, arnStatement, type ArnRequest } from '../../../../src/core/policy/engine/arn-index.js';
import { decideValid, decidingFirst, REFUSED } from '../../../../src/core/policy/engine/decide.js';
import type { Statement } from '../../../../src/core/policy/engine/statement.js';
import { validateGreengrassRequest } from '../../../../src/core/policy/evaluate.js';
import { actionMatches, IOT_ACTION_CATALOG } from '../../../../src/core/policy/iot/actions.js';
import { iotArn, resolvedText, resourceMatches } from '../../../../src/core/policy/iot/arn.js';
import type { IotContext, IotDeployment } from '../../../../src/core/policy/iot/context.js';
import { IOT_DIALECT } from '../../../../src/core/policy/iot/dialect.js';
import { parseIotPolicyDocument } from '../../../../src/core/policy/iot/document.js';
import { compileIotPolicies } from '../../../../src/core/policy/iot/engine.js';
import type { Decision } from '../../../../src/core/policy/model.js';
import { OPERATIONS } from '../../../../src/core/policy/request.js';
import { parseTemplate, substituteParts } from '../../../../src/core/policy/iot/variables.js';

const DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
const arn = (rest: string): string => `arn:aws:iot:eu-west-1:123456789012:${rest}`;
const NOW = Date.UTC(2026, 0, 1);

// ---------------------------------------------------------------------------
// Random policies.

const GG_RESOURCES: Record<string, readonly string[]> = {
  'mqtt:connect': ['mqtt:clientId:*', 'mqtt:clientId:${iot:Connection.Thing.ThingName}', 'mqtt:clientId:t1', 'mqtt:clientId:t*'],
  'mqtt:publish': ['mqtt:topic:a/*', 'mqtt:topic:a/b', 'mqtt:topic:${iot:Connection.Thing.ThingName}/*', 'mqtt:topic:*/secret*', 'mqtt:topic:a/*/c/*', 'mqtt:topic:${iot:Connection.Thing.Attributes[site]}/x', 'mqtt:topic:*'],
  'mqtt:subscribe': ['mqtt:topicfilter:a/#', 'mqtt:topicfilter:*', 'mqtt:topicfilter:${iot:ClientId}/+', 'mqtt:topicfilter:a/+/c'],
};

const ggStatement = fc.record({
  effect: fc.constantFrom('ALLOW', 'ALLOW', 'DENY'),
  ops: fc.subarray(['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe', 'mqtt:*'], { minLength: 1, maxLength: 2 }),
  pick: fc.array(fc.nat(20), { minLength: 1, maxLength: 3 }),
}).map((s) => {
  const all = s.ops.flatMap((op) => (op === 'mqtt:*' ? OPERATIONS.flatMap((o) => GG_RESOURCES[o]!) : GG_RESOURCES[op]!));
  const resources = [...new Set(s.pick.map((i) => all[i % all.length]!))];
  return { statementDescription: 'random', operations: s.ops, resources, effect: s.effect };
});

/** A configuration of two groups selecting `t*` and `*1`, and the IoT policies they name. */
const ggConfig = fc.record({
  p0: fc.array(ggStatement, { maxLength: 4 }),
  p1: fc.array(ggStatement, { maxLength: 3 }),
  iot0: fc.subarray(['p0', 'p1', 'p2', 'ghost'], { maxLength: 2 }),
}).map(({ p0, p1, iot0 }) => ({
  deviceGroups: {
    formatVersion: '2021-03-05',
    definitions: {
      fleet: { selectionRule: 'thingName: t*', policyName: 'gp0', ...(iot0.length > 0 ? { iotPolicies: iot0 } : {}) },
      ones: { selectionRule: 'thingName: *1', policyName: 'gp1' },
    },
    policies: {
      gp0: Object.fromEntries(p0.map((s, i) => [`s${i}`, s])),
      gp1: Object.fromEntries(p1.map((s, i) => [`s${i}`, s])),
    },
  },
}));

const ACTIONS = ['iot:Connect', 'iot:Publish', 'iot:Subscribe', 'iot:Receive', 'iot:RetainPublish', 'iot:*', '*', 'iot:P*', 'IOT:publish', 'iot:GetThingShadow', 'iot:Re*', 'iot:?onnect'];
const RESOURCES = [
  'topic/a/*', 'topic/${iot:Connection.Thing.ThingName}/*', 'topic/*', 'topicfilter/a/#', 'topicfilter/*', 'client/${iot:ClientId}', 'client/*',
  'topic/a/b', 'topic/${iot:Connection.Thing.Attributes[site]}/x', '*', 'topic/?/b', 'topicfilter/${iot:Connection.Thing.ThingName}/+', 'topic/a/secret*',
];
const CONDITIONS = [
  undefined,
  { StringEquals: { 'iot:Connection.Thing.Attributes[site]': 'a' } },
  { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
  { StringLike: { 'iot:ClientId': 't*' } },
  { Null: { 'iot:Connection.Thing.Attributes[site]': 'true' } },
  { StringEquals: { 'iot:ClientId': '${iot:Connection.Thing.ThingName}' } },
];

const iotStatement = fc.record({
  sid: fc.option(fc.constantFrom('s1', 's2', 'lock'), { nil: undefined }),
  effect: fc.constantFrom('Allow', 'Allow', 'Deny'),
  notAction: fc.boolean(),
  notResource: fc.nat(5),
  actions: fc.subarray(ACTIONS, { minLength: 1, maxLength: 3 }),
  resources: fc.subarray(RESOURCES, { minLength: 1, maxLength: 3 }),
  condition: fc.constantFrom(...CONDITIONS),
}).map((s) => ({
  ...(s.sid !== undefined ? { Sid: s.sid } : {}),
  Effect: s.effect,
  [s.notAction ? 'NotAction' : 'Action']: s.actions,
  [s.notResource === 0 ? 'NotResource' : 'Resource']: s.resources.map(arn),
  ...(s.condition !== undefined ? { Condition: s.condition } : {}),
}));

const iotDocument = fc.array(iotStatement, { minLength: 1, maxLength: 5 }).map((Statement) => ({ Version: '2012-10-17', Statement }));

const NAMES = ['a', 'a/b', 'a/secret1', 't1', 't1/x', 'x/y', 'a/x/c/d', 'b', 'a/+', 'a/#', 'z', 'a/\u0007', 'a/é'];
const request = fc.record({
  kind: fc.constantFrom('connect', 'publish', 'subscribe', 'retain', 'receive', 'bogus', 'wrongtype'),
  name: fc.constantFrom(...NAMES),
});

const scenario = fc.record({
  documents: fc.array(iotDocument, { minLength: 3, maxLength: 3 }),
  certificate: fc.subarray(['p0', 'p1', 'p2']),
  config: ggConfig,
  thing: fc.constantFrom('t1', 't2', 'x1', 'other'),
  site: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
  requests: fc.array(request, { minLength: 1, maxLength: 10 }),
});

// ---------------------------------------------------------------------------
// The reference evaluators.

/** Whether a statement of an ARN document applies: each test written out, no action masks. */
function referenceApplies(s: Statement, r: ArnRequest): boolean {
  assert.ok(s.resourceTest.kind === 'arn');
  const named = (s.actionTest.patterns ?? []).some((p) => actionMatches(p, r.lowerAction));
  if (named === s.actionTest.not) return false;
  const test = s.resourceTest;
  const hits = test.patterns.filter((p) => resourceMatches(p, r.arn, r.resolve));
  if (!test.not && hits.length === 0) return false;
  if (test.not) {
    if (hits.length > 0) return false;
    const unresolved = test.patterns.some((p) => p.kind === 'template' && resolvedText(p, r.resolve) === undefined);
    // An entry that cannot say what it excludes: a Deny applies, an Allow does not.
    if (unresolved && !s.deny) return false;
  }
  if (s.condition === undefined) return true;
  const substitute = (text: string): string | undefined => {
    const t = parseTemplate(text, test.variables);
    return t.ok ? substituteParts(t.parts, r.resolve) : undefined;
  };
  return s.condition.test(r.lookup, substitute, r.now);
}

interface ReferenceIot {
  readonly allowed: boolean;
  readonly reason: string;
  readonly action: string;
  readonly policy?: string;
  readonly statement?: string;
  readonly statementIndex?: number;
}

/** One action: the first applying Deny of any policy (in order), else the first Allow, else no match. */
function referenceAction(policies: readonly (readonly Statement[])[], r: ArnRequest): ReferenceIot {
  for (const deny of [true, false]) {
    for (const list of policies) {
      for (const s of list) {
        if (s.deny === deny && referenceApplies(s, r)) {
          return { allowed: !deny, reason: deny ? 'DENIED_BY_STATEMENT' : 'ALLOWED_BY_STATEMENT', action: r.action, policy: s.policy, statement: s.label, statementIndex: s.index };
        }
      }
    }
  }
  return { allowed: false, reason: 'NO_MATCHING_STATEMENT', action: r.action };
}

/** A request, retained publish included: a Deny of either action denies, both must be allowed. */
function referenceIot(policies: readonly (readonly Statement[])[], ctx: IotContext, action: string, resource: string, retain: boolean): ReferenceIot {
  const first = referenceAction(policies, arnRequest(IOT_DIALECT, DEPLOYMENT, ctx, action, resource, NOW));
  if (!retain || action.toLowerCase() !== 'iot:publish') return first;
  const second = referenceAction(policies, arnRequest(IOT_DIALECT, DEPLOYMENT, ctx, 'iot:RetainPublish', resource, NOW));
  if (first.reason === 'DENIED_BY_STATEMENT') return first;
  if (second.reason === 'DENIED_BY_STATEMENT') return second;
  if (!first.allowed) return first;
  return second.allowed ? first : second;
}

/** The documents as the engine's statements, by policy name. */
function statementsOf(documents: readonly unknown[]): Map<string, readonly Statement[]> {
  const out = new Map<string, readonly Statement[]>();
  documents.forEach((d, i) => {
    const parsed = parseIotPolicyDocument(d);
    assert.ok(parsed.document, JSON.stringify(parsed.problems));
    const doc = parsed.document;
    out.set(`p${i}`, doc.statements.map((s) => arnStatement('iot', `p${i}`, doc.variables, s, IOT_ACTION_CATALOG)));
  });
  return out;
}

const IOT_FORM: Record<string, { action: string; type: 'client' | 'topic' | 'topicfilter'; prefix: string; operation: string }> = {
  connect: { action: 'iot:Connect', type: 'client', prefix: 'mqtt:clientId:', operation: 'mqtt:connect' },
  publish: { action: 'iot:Publish', type: 'topic', prefix: 'mqtt:topic:', operation: 'mqtt:publish' },
  retain: { action: 'iot:Publish', type: 'topic', prefix: 'mqtt:topic:', operation: 'mqtt:publish' },
  subscribe: { action: 'iot:Subscribe', type: 'topicfilter', prefix: 'mqtt:topicfilter:', operation: 'mqtt:subscribe' },
  bogus: { action: 'iot:Publish', type: 'topic', prefix: 'mqtt:topic:', operation: 'mqtt:bogus' },
  wrongtype: { action: 'iot:Publish', type: 'topic', prefix: 'mqtt:topicfilter:', operation: 'mqtt:publish' },
};

function fromReference(d: ReferenceIot): Decision | undefined {
  if (d.reason === 'NO_MATCHING_STATEMENT') return undefined;
  return { allowed: d.allowed, reason: d.reason as Decision['reason'], policy: d.policy, statement: d.statement, action: d.action, dialect: 'iot' };
}

// ---------------------------------------------------------------------------

describe('the one decision order against a reference evaluator over the same statements', () => {
  it('Greengrass: the match tables decide as the plain statement list does, validation first; explanations name the deciding statement first', () => {
    fc.assert(fc.property(ggConfig, fc.constantFrom('t1', 't2', 'x1', 'other'), fc.option(fc.constantFrom('a', 'b'), { nil: undefined }), fc.array(request, { minLength: 1, maxLength: 12 }), (config, thing, site, requests) => {
      const v = validateConfig(config);
      if (!v.ok) return;
      const snapshot = compileDeviceGroups(v.deviceGroups);
      const principal = { thingName: thing, clientId: thing, attributes: (site !== undefined ? { site } : {}) as Record<string, string> };
      const view = snapshot.view(principal);
      // Twice: the second pass answers from the remembered exact decisions.
      for (const pass of [0, 1]) {
        for (const r of requests) {
          const form = IOT_FORM[r.kind === 'receive' ? 'publish' : r.kind]!;
          const resource = form.prefix + r.name;
          const k = OPERATIONS.indexOf(form.operation as (typeof OPERATIONS)[number]);
          const implicit = view.groups.length === 0 ? REFUSED.NO_GROUP_SELECTS_THING : REFUSED.NO_MATCHING_STATEMENT;
          const want = validateGreengrassRequest(form.operation, resource) ?? decideValid([view.statements(k)], resource) ?? implicit;
          const got = view.decide(form.operation, resource);
          assert.deepStrictEqual(got, want, `pass ${pass}: ${form.operation} ${JSON.stringify(resource)} for ${thing}`);
          if (got.group !== undefined) {
            const ex = snapshot.explain(principal, form.operation, resource);
            assert.deepStrictEqual([ex.matches[0]?.group, ex.matches[0]?.statement, ex.matches[0]?.resolved], [got.group, got.statement, got.resourcePattern]);
          }
        }
      }
    }), { numRuns: 300 });
  });

  it('IoT: the ARN index decides and explains as a loop over the statements in document order', () => {
    fc.assert(fc.property(scenario, (s) => {
      const compiled = compileIotPolicies(s.documents.map((d, i) => ({ name: `p${i}`, document: d })), DEPLOYMENT);
      assert.ok(compiled.ok);
      const byName = statementsOf(s.documents);
      const ctx: IotContext = { clientId: s.thing, thingName: s.thing, attributes: s.site !== undefined ? { site: s.site } : {}, isAttached: true };
      const names = s.certificate;
      const inForce = names.map((n) => byName.get(n)!);
      for (const r of s.requests) {
        for (const action of ['iot:Connect', 'iot:Publish', 'iot:Subscribe', 'iot:Receive', 'iot:RetainPublish', 'iot:UpdateThingShadow', 'iot:NotAKnownAction']) {
          const type = action === 'iot:Connect' ? 'client' : action === 'iot:Subscribe' ? 'topicfilter' : 'topic';
          const resource = iotArn(DEPLOYMENT, type, r.name);
          const retain = r.kind === 'retain' && action === 'iot:Publish';
          const got = compiled.set.decide(names, ctx, { action, resource, retain }, NOW);
          assert.deepStrictEqual({ ...got }, referenceIot(inForce, ctx, action, resource, retain), `${action} ${resource}`);
          // The explanation lists every applying statement, Deny first, the deciding one first.
          const ex = compiled.set.explain(names, ctx, { action, resource }, NOW);
          const applying = inForce.flat().filter((st) => referenceApplies(st, arnRequest(IOT_DIALECT, DEPLOYMENT, ctx, action, resource, NOW)));
          assert.deepStrictEqual(ex.matches.map((m) => `${m.policy}/${m.statementIndex}`).sort(), applying.map((st) => `${st.policy}/${st.index}`).sort());
          if (ex.reason !== 'NO_MATCHING_STATEMENT') assert.deepStrictEqual([ex.matches[0]!.policy, ex.matches[0]!.statementIndex], [ex.policy, ex.statementIndex]);
        }
      }
    }), { numRuns: 300 });
  });

  it('a connection: the engine over the indexes in force decides as the combination written out', () => {
    fc.assert(fc.property(scenario, (s) => {
      const compiled = compileIotPolicies(s.documents.map((d, i) => ({ name: `p${i}`, document: d })), DEPLOYMENT);
      assert.ok(compiled.ok);
      const v = validateConfig(s.config);
      if (!v.ok) return;
      const byName = statementsOf(s.documents);
      const part = new IotPart(compiled.set, { certificatePolicies: new Map([['c1', s.certificate]]), thingGroupPolicies: new Map(), thingGroups: new Map(), thingTypes: new Map() }, new Set());
      const snapshot = compileDeviceGroups(v.deviceGroups).withIot(part);
      const attributes: Record<string, string> = s.site !== undefined ? { site: s.site } : {};
      const ctx: IotContext = { clientId: s.thing, thingName: s.thing, attributes, isAttached: true };
      const principal = { thingName: s.thing, clientId: s.thing, attributes };
      const view = snapshot.connectionView(principal, 'c1', ctx, () => NOW);
      const gview = snapshot.view(principal);
      const named = gview.groups.flatMap((g) => g.iotPolicies ?? []);
      const wanted = [...new Set([...s.certificate, ...named])];
      const missing = wanted.some((n) => !byName.has(n));
      const inForce = wanted.filter((n) => byName.has(n)).map((n) => byName.get(n)!);
      assert.equal(view instanceof CombinedView, wanted.length > 0);
      for (const r of s.requests) {
        if (r.kind === 'receive') {
          if (!(view instanceof CombinedView)) continue;
          const d = referenceIot(inForce, ctx, 'iot:Receive', iotArn(DEPLOYMENT, 'topic', r.name), false);
          const want = missing ? 'deny' : d.allowed ? 'allow' : d.reason === 'DENIED_BY_STATEMENT' ? 'deny' : 'none';
          assert.equal(view.receive(r.name), want, `receive ${r.name}`);
          continue;
        }
        const form = IOT_FORM[r.kind]!;
        const resource = form.prefix + r.name;
        const retain = r.kind === 'retain';
        const got = retain && view instanceof CombinedView ? view.decideRetained(r.name) : view.decide(form.operation, resource);
        const gg = gview.decide(form.operation, resource);
        let want: Decision;
        if (!(view instanceof CombinedView)) want = gg;
        else if (gg.reason === 'UNKNOWN_OPERATION' || gg.reason === 'MALFORMED_RESOURCE' || gg.reason === 'RESOURCE_TYPE_MISMATCH') want = gg;
        else if (gg.reason === 'DENIED_BY_STATEMENT') want = gg;
        else if (missing) want = REFUSED.IOT_POLICY_NOT_FOUND;
        else {
          const iot = fromReference(referenceIot(inForce, ctx, form.action, iotArn(DEPLOYMENT, form.type, r.name), retain));
          if (iot?.reason === 'DENIED_BY_STATEMENT') want = iot;
          else if (gg.allowed) want = gg;
          else want = iot?.allowed === true ? iot : gg;
        }
        assert.deepStrictEqual({ ...got }, { ...want }, `${r.kind} ${resource}`);
      }
    }), { numRuns: 300 });
  });

  it('decidingFirst puts the deciding statement first and keeps the others in order', () => {
    assert.deepStrictEqual(decidingFirst(['a', 'b', 'c', 'd'], (x) => x === 'c'), ['c', 'a', 'b', 'd']);
    assert.deepStrictEqual(decidingFirst(['a', 'b'], () => false), ['a', 'b']);
  });
});
