import { RuleIndex } from '../rules/match.js';
import { CombinedView, IotPart } from './combined.js';
import { compileIotPolicies } from './iot/engine.js';
import { explainDecision, PrincipalView } from './evaluate.js';
import { DEFAULT_IOT_DEPLOYMENT, type IotContext } from './iot/context.js';
import type { CompiledGroup, CompiledStatement, Decision, Explanation } from './model.js';
import type { Principal } from './resource.js';
import { planGroup, type GroupPlan } from './tables.js';

/**
 * The policy engine's public entry points: a PolicySnapshot is one compiled, frozen
 * configuration; view() gives the cached permissions of a principal (a PrincipalView,
 * whose decide() is the broker's hot path), decide() and explain() answer one request.
 *
 * The order of a decision is the engine's (engine/decide.ts); the Greengrass
 * validation, implicit deny and explanation are in evaluate.ts, the match tables a view
 * is made of (its index) in tables.ts, the two dialects for one connection in combined.ts.
 */

interface ObjectCacheEntry {
  readonly view: PrincipalView;
  readonly thingName: string;
  readonly clientId: string | undefined;
  readonly attributes: readonly (string | undefined)[] | undefined;
}

/** The IoT part of a snapshot whose registry holds no policy. */
const EMPTY_IOT: IotPart = (() => {
  const r = compileIotPolicies([], DEFAULT_IOT_DEPLOYMENT);
  if (!r.ok) throw new Error('an empty IoT policy set does not compile');
  return new IotPart(r.set, { certificatePolicies: new Map(), thingGroupPolicies: new Map(), thingGroups: new Map(), thingTypes: new Map() }, new Set());
})();

/** Bound on cached principal views per snapshot; the oldest is dropped beyond it. */
const MAX_VIEWS = 65536;

/**
 * A compiled, frozen policy configuration. Build one per configuration; swap the
 * whole snapshot on reload.
 */
export class PolicySnapshot {
  readonly groups: readonly CompiledGroup[];
  /** The site's AWS IoT Core policies and attachments (absent: the Greengrass dialect alone). */
  readonly iot: IotPart | undefined;
  private readonly variables: { readonly usesClientId: boolean; readonly attributeNames: readonly string[] } | undefined;
  private readonly index: RuleIndex<CompiledGroup>;
  private readonly views: Map<string, PrincipalView>;
  private readonly usesClientId: boolean;
  private readonly attributeNames: readonly string[];
  /** Per group, its statements arranged per operation (built when a view first needs the group). */
  private readonly plans: Map<CompiledGroup, GroupPlan>;
  private readonly planOf: (group: CompiledGroup) => GroupPlan;
  /**
   * The view last returned for a principal object, with the values its cache key was
   * made of: a caller that keeps its principal object skips building the key.
   */
  private readonly byObject: WeakMap<object, ObjectCacheEntry>;

  /**
   * `variables`, when given, must be what the scan of the groups' statements below would
   * find (compileDeviceGroups knows it from validation without compiling every statement).
   * `greengrassOf` (withIot only): a snapshot of the same groups whose group index, views
   * and plans this one shares.
   */
  constructor(groups: readonly CompiledGroup[], variables?: { readonly usesClientId: boolean; readonly attributeNames: readonly string[] }, iot?: IotPart, greengrassOf?: PolicySnapshot) {
    this.iot = iot;
    this.variables = variables;
    if (greengrassOf !== undefined) {
      // A principal's view depends on the device groups alone (connectionView adds the
      // IoT part on top), so a registry change keeps every view built so far.
      this.groups = greengrassOf.groups;
      this.index = greengrassOf.index;
      this.views = greengrassOf.views;
      this.plans = greengrassOf.plans;
      this.planOf = greengrassOf.planOf;
      this.byObject = greengrassOf.byObject;
      this.usesClientId = greengrassOf.usesClientId;
      this.attributeNames = greengrassOf.attributeNames;
      return;
    }
    this.groups = Object.freeze([...groups]);
    this.index = new RuleIndex<CompiledGroup>();
    this.views = new Map<string, PrincipalView>();
    const plans = (this.plans = new Map<CompiledGroup, GroupPlan>());
    this.planOf = (group: CompiledGroup): GroupPlan => {
      let plan = plans.get(group);
      if (plan === undefined) plans.set(group, (plan = planGroup(group)));
      return plan;
    };
    this.byObject = new WeakMap<object, ObjectCacheEntry>();
    for (const g of this.groups) this.index.add(g.rule, g);
    if (variables !== undefined) {
      this.usesClientId = variables.usesClientId;
      this.attributeNames = variables.attributeNames;
      return;
    }
    const attrs = new Set<string>();
    let usesClientId = false;
    const seen = new Set<readonly CompiledStatement[]>();
    for (const g of this.groups) {
      // Groups that share a policy share its statement list.
      if (seen.has(g.statements)) continue;
      seen.add(g.statements);
      for (const s of g.statements) {
        for (const r of s.resources) {
          if (!r.hasVariables) continue;
          for (const p of r.parts) {
            if (p.kind !== 'variable') continue;
            if (p.variable.kind === 'clientId') usesClientId = true;
            if (p.variable.kind === 'attribute') attrs.add(p.variable.name);
          }
        }
      }
    }
    this.usesClientId = usesClientId;
    this.attributeNames = [...attrs].sort();
  }

  /** The same Greengrass configuration with other IoT policies (a registry change). */
  withIot(iot: IotPart | undefined): PolicySnapshot {
    return new PolicySnapshot(this.groups, this.variables, iot, this);
  }

  /**
   * The permissions of one connection under both dialects: its Greengrass view when no
   * IoT policy is in force for it (nothing else to ask), else a CombinedView.
   * `certificateId` selects the policies attached to the certificate, the thing those of
   * its thing groups, the device groups selecting the thing those they name.
   */
  connectionView(principal: Principal, certificateId: string | undefined, context: IotContext, now: () => number): PrincipalView | CombinedView {
    const view = this.view(principal);
    const iot = this.iot;
    const named: string[] = [];
    for (const g of view.groups) if (g.iotPolicies !== undefined) named.push(...g.iotPolicies);
    if (iot === undefined) {
      // A device group naming IoT policies with no registry behind it: nothing can say
      // what they hold, so nothing they might deny may be allowed.
      return named.length === 0 ? view : new CombinedView(view, EMPTY_IOT, { names: [], missing: named, timed: true }, context, now);
    }
    const policies = iot.policiesFor(certificateId, context.thingName, named);
    if (policies.names.length === 0 && policies.missing.length === 0) return view;
    const thingTypeName = context.thingName === null ? undefined : iot.attachments.thingTypes.get(context.thingName);
    // On top of the connection's context (not a copy: its certificate is decoded on demand).
    const ctx: IotContext = thingTypeName === undefined ? context : Object.create(context, { thingTypeName: { value: thingTypeName, enumerable: true } }) as IotContext;
    return new CombinedView(view, iot, policies, ctx, now);
  }

  /** Names of the groups whose selection rule selects a thing, in configuration order. */
  selectGroups(thingName: string): readonly CompiledGroup[] {
    return thingName === '' ? [] : this.index.select(thingName);
  }

  /** The cached permission view of a principal (built on first use). */
  view(principal: Principal): PrincipalView {
    if (!this.usesClientId && this.attributeNames.length === 0) {
      // The key is the thing name itself: one lookup.
      let v = this.views.get(principal.thingName);
      if (v === undefined) v = this.addView(principal.thingName, principal);
      return v;
    }
    const isObject = typeof principal === 'object' && principal !== null;
    if (isObject) {
      const hit = this.byObject.get(principal);
      if (hit !== undefined && this.sameKey(hit, principal)) return hit.view;
    }
    const key = this.cacheKey(principal);
    let v = this.views.get(key);
    if (v === undefined) v = this.addView(key, principal);
    if (isObject) this.byObject.set(principal, this.objectEntry(principal, v));
    return v;
  }

  private addView(key: string, principal: Principal): PrincipalView {
    const v = new PrincipalView(principal, this.selectGroups(principal.thingName), this.planOf);
    if (this.views.size >= MAX_VIEWS) this.views.delete(this.views.keys().next().value!);
    this.views.set(key, v);
    return v;
  }

  decide(principal: Principal, operation: string, resource: string): Decision {
    return this.view(principal).decide(operation, resource);
  }

  explain(principal: Principal, operation: string, resource: string): Explanation {
    return explainDecision(this.view(principal), principal, operation, resource);
  }

  private objectEntry(p: Principal, view: PrincipalView): ObjectCacheEntry {
    const names = this.attributeNames;
    let attributes: (string | undefined)[] | undefined;
    if (names.length > 0) {
      attributes = [];
      for (const a of names) attributes.push(p.attributes && Object.hasOwn(p.attributes, a) ? p.attributes[a] : undefined);
    }
    return { view, thingName: p.thingName, clientId: this.usesClientId ? (p.clientId ?? p.thingName) : undefined, attributes };
  }

  /** True when cacheKey(p) is the key the entry's view was cached under (compares the key's parts). */
  private sameKey(e: ObjectCacheEntry, p: Principal): boolean {
    if (e.thingName !== p.thingName) return false;
    if (this.usesClientId && e.clientId !== (p.clientId ?? p.thingName)) return false;
    const attributes = e.attributes;
    if (attributes !== undefined) {
      const names = this.attributeNames;
      for (let i = 0; i < names.length; i++) {
        const a = names[i]!;
        const v = p.attributes && Object.hasOwn(p.attributes, a) ? p.attributes[a] : undefined;
        if (v !== attributes[i]) return false;
      }
    }
    return true;
  }

  /**
   * Distinct for distinct principals (as far as this snapshot can tell them apart):
   * with more than one component, each is length-prefixed and a missing attribute is
   * `-`, so no choice of characters in names or values makes two keys collide.
   */
  private cacheKey(p: Principal): string {
    if (!this.usesClientId && this.attributeNames.length === 0) return p.thingName;
    let key = `${p.thingName.length}:${p.thingName}`;
    if (this.usesClientId) {
      const clientId = p.clientId ?? p.thingName;
      key += `${clientId.length}:${clientId}`;
    }
    for (const a of this.attributeNames) {
      const v = p.attributes && Object.hasOwn(p.attributes, a) ? p.attributes[a] : undefined;
      key += v === undefined ? '-' : `${String(v).length}:${v}`;
    }
    return key;
  }
}
