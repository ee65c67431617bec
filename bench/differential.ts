/**
 * Differential check: the policy core of this tree against a baseline build of an
 * earlier revision, on random configurations, principals and requests. Every output
 * must be deep-equal: validateConfig results (errors, warnings, config, frozenness),
 * selectGroups, decide (view and snapshot), explain, matches, parseResourcePattern,
 * resolvePattern and globMatches.
 *
 *   sh bench/build-baseline.sh [REV]          # builds REV (default HEAD) into dist/.baseline
 *   node dist/bench/differential.js [--baseline DIR] [--seed N] [--configs N]
 */
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import * as current from '../src/core/index.js';
import * as currentResource from '../src/core/policy/resource.js';
import { rng } from './workload.js';

type Core = typeof current;
type ResourceModule = typeof currentResource;

function args(): { baseline: string; seed: number; configs: number } {
  const argv = process.argv.slice(2);
  let baseline = 'dist/.baseline/dist/src';
  let seed = 1;
  let configs = 300;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--baseline') baseline = argv[++i]!;
    else if (argv[i] === '--seed') seed = Number(argv[++i]);
    else if (argv[i] === '--configs') configs = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return { baseline, seed, configs };
}

const THING_CHARS = ['a', 'b', 'c', 's', 'e', 'n', 'o', 'r', '1', '2', '-', '_', ':', '*', '/', '+', '#', '$', '{', '}', ' ', 'é', '\u0001', '😀', '\uD835', 'Z'];
const CLEAN_CHARS = ['a', 'b', 'x', '/', '/', '/', '+', '#', '-', '1', ':', ' ', 'é', '$'];
const TOPIC_CHARS = ['a', 'b', 'x', '/', '/', '/', '+', '#', '-', '1', ':', '*', ' ', 'é', '\u0007', '$', '😀', '\u200D'];

const PREFIX_OF: Record<string, string> = { 'mqtt:connect': 'mqtt:clientId:', 'mqtt:publish': 'mqtt:topic:', 'mqtt:subscribe': 'mqtt:topicfilter:' };

class Gen {
  /** Clean configurations avoid what validation rejects, so most of them compile. */
  clean = true;
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  word(chars: readonly string[], max: number, min = 0): string {
    let s = '';
    const n = min + this.int(max - min + 1);
    for (let i = 0; i < n; i++) s += this.pick(chars);
    return s;
  }
  /** Thing names drawn from a small pool (so rules and variables hit), sometimes odd ones. */
  thing(pool: readonly string[]): string {
    if (this.chance(0.8)) return this.pick(pool);
    return this.word(THING_CHARS, 8);
  }
  ruleValue(pool: readonly string[]): string {
    const base = this.chance(0.7) ? this.pick(pool) : this.word(['a', 'b', 's', '1', '-', '_', 'n'], 4, 1);
    const safe = base.replace(/[^A-Za-z0-9_-]/g, '') || 'x';
    const cut = safe.slice(0, 1 + this.int(safe.length));
    switch (this.int(7)) {
      case 0: return '*';
      case 1: return `${cut}*`;
      case 2: return `*${safe.slice(this.int(safe.length))}`;
      case 3: return `*${cut}*`;
      case 4: return safe.includes('-') ? safe.replace('-', '\\:') : safe;
      case 5: return this.clean ? safe : this.pick(['a*b', '**', 'x y', 'a:b', '']);
      default: return safe;
    }
  }
  rule(pool: readonly string[]): string {
    if (!this.clean && this.chance(0.03)) return this.pick(['', 'thingName:', 'thingName: a OR', 'AND thingName: a', 'thingname: a', '  thingName:  a\n']);
    const terms: string[] = [];
    const nt = 1 + this.int(3);
    for (let i = 0; i < nt; i++) {
      const clauses: string[] = [];
      const nc = 1 + this.int(2);
      for (let j = 0; j < nc; j++) clauses.push(`thingName: ${this.ruleValue(pool)}`);
      terms.push(clauses.join(' AND '));
    }
    return terms.join(' OR ');
  }
  prefix(): string {
    if (this.clean) return this.pick(['mqtt:topic:', 'mqtt:topic:', 'mqtt:topicfilter:', 'mqtt:topicfilter:', 'mqtt:clientId:', 'mqtt:clientId:', '*', 'mqtt:*', 'mqtt:t*']);
    return this.pick(['mqtt:topic:', 'mqtt:topic:', 'mqtt:topicfilter:', 'mqtt:topicfilter:', 'mqtt:clientId:', 'mqtt:clientId:', '', 'mqtt:', 'mqtt:topicfiltr:',
      'mqtt:clientid:', 'iot:topic:', '*', 'mqtt:*', 'mqtt:t*', 'mqtt:topic', ':']);
  }
  variable(): string {
    if (this.clean) {
      return this.pick(['${iot:Connection.Thing.ThingName}', '${iot:Connection.Thing.ThingName}', '${iot:ClientId}', '${iot:Connection.Thing.Attributes[a]}',
        '${iot:Connection.Thing.Attributes[b]}', '$']);
    }
    return this.pick(['${iot:Connection.Thing.ThingName}', '${iot:Connection.Thing.ThingName}', '${iot:ClientId}', '${iot:Connection.Thing.Attributes[a]}',
      '${iot:Connection.Thing.Attributes[b]}', '${iot:Connection.Thing.Thingname}', '${}', '${iot:ClientId', '${a${b}}', '$', '${']);
  }
  topicPiece(pool: readonly string[]): string {
    switch (this.int(6)) {
      case 0: return '*';
      case 1: return this.variable();
      case 2: return this.pick(pool);
      default: return this.word(this.clean ? CLEAN_CHARS : TOPIC_CHARS, 4);
    }
  }
  resource(pool: readonly string[]): string {
    if (this.clean && this.chance(0.04)) return this.pick(['*', 'mqtt:topic:*', '**', 'mqtt:clientId:${iot:ClientId}']);
    if (this.chance(0.04)) return this.pick(['*', ' ', '', 'mqtt:topic:', 'mqtt:topic:*', '**', 'mqtt:topic:a\u0001', 'mqtt:clientId:${iot:ClientId}']);
    let s = this.prefix();
    const n = (this.clean ? 1 : 0) + this.int(5);
    for (let i = 0; i < n; i++) s += this.topicPiece(pool);
    return s;
  }
  /** A request resource: often built from the same pieces as the policies, so they match. */
  request(pool: readonly string[], resources: readonly string[], thing: string, op?: string): string {
    const chars = this.chance(0.9) ? CLEAN_CHARS : TOPIC_CHARS.filter((c) => c !== '*');
    const typed = op === undefined ? [] : resources.filter((r) => r.startsWith(PREFIX_OF[op] ?? '-') || r.startsWith('*') || r.startsWith('mqtt:*'));
    if (typed.length > 0 && this.chance(0.6)) resources = typed;
    if (resources.length > 0 && this.chance(0.6)) {
      // Instantiate a policy resource: variables become this thing (or another), `*` a piece.
      let s = this.pick(resources);
      s = s.replace(/\$\{[^}]*\}/g, () => (this.chance(0.8) ? thing : this.thing(pool)));
      s = s.replace(/\*/g, () => this.word(chars, 4));
      if (op !== undefined && PREFIX_OF[op] !== undefined && !s.startsWith('mqtt:') && this.chance(0.8)) s = PREFIX_OF[op] + s;
      if (this.chance(0.1)) s = s.slice(0, this.int(s.length + 1));
      if (this.chance(0.1)) s += this.word(TOPIC_CHARS, 2, 1);
      return s;
    }
    let s = op !== undefined && PREFIX_OF[op] !== undefined && this.chance(0.8) ? PREFIX_OF[op] : this.prefix();
    const n = this.int(5);
    for (let i = 0; i < n; i++) s += this.chance(0.3) ? this.pick(pool) : this.word(chars, 4);
    return s;
  }
  operations(): unknown {
    if (!this.clean && this.chance(0.03)) return this.pick(['mqtt:publish', [1], null, ['mqtt:publsh'], []]);
    const ops: string[] = [];
    const n = 1 + this.int(2);
    for (let i = 0; i < n; i++) ops.push(this.pick(['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe', 'mqtt:publish', 'mqtt:subscribe', '*', 'mqtt:*']));
    return ops;
  }
}

function randomConfig(g: Gen, pool: readonly string[]): { doc: unknown; resources: string[] } {
  g.clean = g.chance(0.8);
  const resources: string[] = [];
  const policies: Record<string, unknown> = {};
  const np = 1 + g.int(4);
  for (let p = 0; p < np; p++) {
    const statements: Record<string, unknown> = {};
    const ns = 1 + g.int(4);
    for (let s = 0; s < ns; s++) {
      const rs: unknown[] = [];
      const nr = g.int(4);
      for (let k = 0; k < nr; k++) {
        const res = g.resource(pool);
        resources.push(res);
        rs.push(res);
      }
      if (!g.clean && g.chance(0.1)) rs.push(42);
      const st: Record<string, unknown> = { operations: g.operations(), resources: !g.clean && g.chance(0.1) ? 'mqtt:topic:x' : rs };
      if (g.chance(0.25)) st['effect'] = g.pick(g.clean ? ['DENY', 'deny', 'ALLOW', 'Allow'] : ['DENY', 'maybe']);
      if (g.chance(0.2)) st['statementDescription'] = g.pick(g.clean ? ['d', ''] : ['d', 7, '']);
      if (!g.clean && g.chance(0.1)) st['extra'] = 1;
      if (!g.clean && g.chance(0.1)) st[g.pick(['Effect', 'RESOURCES', '_note', 'operations'])] = g.pick([['mqtt:publish'], 'DENY', ['mqtt:topic:x']]);
      statements[g.chance(0.03) ? `_s${s}` : `s${s}`] = st;
    }
    policies[`p${p}`] = statements;
  }
  const definitions: Record<string, unknown> = {};
  const ng = 1 + g.int(5);
  for (let i = 0; i < ng; i++) {
    const def: Record<string, unknown> = { selectionRule: g.rule(pool), policyName: g.clean || g.chance(0.7) ? `p${g.int(np)}` : 'missing' };
    if (!g.clean) {
      // Keys and values that take the checker's slow paths.
      if (g.chance(0.1)) def['SelectionRule'] = def['selectionRule'];
      if (g.chance(0.1)) delete def['selectionRule'];
      if (g.chance(0.1)) def['_comment'] = 'x';
      if (g.chance(0.1)) def['policyname'] = 'p0';
      if (g.chance(0.1)) def['policyName'] = g.pick(['  ', '', 5, null, ' p0']);
      if (g.chance(0.1)) def['selectionRule'] = g.pick(['  ', '', 5, null]);
    }
    definitions[g.chance(0.03) && !g.clean ? g.pick(['_g', ' ', '']) + i : `g${i}`] = def;
  }
  if (!g.clean && g.chance(0.2)) policies[g.pick(['_p', ' ', ''])] = { s: { operations: ['*'], resources: ['*'] } };
  return { doc: { deviceGroups: { formatVersion: '2021-03-05', definitions, policies } }, resources };
}

function frozenShape(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = { __frozen: Object.isFrozen(v) };
  for (const [k, x] of Object.entries(v)) out[k] = frozenShape(x);
  return out;
}

type Compile = (deviceGroups: current.DeviceGroupsConfig) => current.PolicySnapshot;

/** `result` without the fields `baseline` lacks (a baseline may predate some). */
function comparable(result: current.ValidationResult, baseline: current.ValidationResult): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(result)) if (Object.hasOwn(baseline, k)) out[k] = v;
  return out;
}

function principalFor(g: Gen, thing: string, pool: readonly string[]): current.Principal {
  const p: { thingName: string; clientId?: string; attributes?: Record<string, string> } = { thingName: thing };
  if (g.chance(0.3)) p.clientId = g.chance(0.5) ? thing : g.thing(pool);
  if (g.chance(0.3)) {
    p.attributes = {};
    if (g.chance(0.7)) p.attributes['a'] = g.thing(pool);
    if (g.chance(0.5)) p.attributes['b'] = g.word(THING_CHARS, 3);
  }
  return p;
}

async function main(): Promise<void> {
  const opt = args();
  const dir = resolve(opt.baseline);
  const base = (await import(pathToFileURL(`${dir}/core/index.js`).href)) as Core;
  const baseResource = (await import(pathToFileURL(`${dir}/core/policy/resource.js`).href)) as ResourceModule;
  const g = new Gen(rng(opt.seed));
  const ops = ['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe', 'mqtt:connect', 'mqtt:publish', 'mqtt:subscribe', 'mqtt:publish', 'mqtt:subscribe',
    'mqtt:publish', 'mqtt:subscribe', 'mqtt:Publish', '*'];
  let decisions = 0;
  let valid = 0;
  let allowed = 0;
  const reasons: Record<string, number> = {};

  for (let c = 0; c < opt.configs; c++) {
    const pool = Array.from({ length: 6 }, () => g.word(['s', 'e', 'n', 'o', 'r', '1', '2', '-', '_', 'a'], 6, 1));
    const { doc, resources } = randomConfig(g, pool);
    g.clean = false;

    // Patterns: parse, resolve and match.
    for (const res of resources) {
      const a = base.validateConfig === undefined ? undefined : baseResource.parseResourcePattern(res);
      const b = currentResource.parseResourcePattern(res);
      assert.deepStrictEqual(b, a, `parseResourcePattern(${JSON.stringify(res)})`);
      if (a?.pattern && b.pattern) {
        for (let k = 0; k < 3; k++) {
          const p = principalFor(g, g.thing(pool), pool);
          for (const mode of ['skip', 'wildcard'] as const) {
            const ga = baseResource.resolvePattern(a.pattern, p, mode);
            const gb = currentResource.resolvePattern(b.pattern, p, mode);
            assert.deepStrictEqual(gb, ga, `resolvePattern(${JSON.stringify(res)}, ${JSON.stringify(p)}, ${mode})`);
            if (ga && gb) {
              for (let q = 0; q < 3; q++) {
                const s = g.request(pool, [res], p.thingName);
                assert.equal(currentResource.globMatches(gb, s), baseResource.globMatches(ga, s), `globMatches(${JSON.stringify(ga)}, ${JSON.stringify(s)})`);
              }
            }
          }
        }
      }
    }

    const va = base.validateConfig(doc);
    const vb = current.validateConfig(doc);
    // A baseline from before validation returned its parsed knowledge (`deviceGroups`)
    // is compared on what both return.
    assert.deepStrictEqual(comparable(vb, va), comparable(va, va), `validateConfig differs for ${JSON.stringify(doc)}`);
    if (va.ok && vb.ok) assert.deepStrictEqual(frozenShape(vb.config), frozenShape(va.config), 'frozenness differs');
    if (!va.ok && process.env.DIFF_DEBUG) process.stderr.write(va.errors.map((e) => e.code + " " + e.message).slice(0, 2).join("; ") + "\n");
    if (!va.ok || !vb.ok) continue;
    valid++;
    // Such a baseline compiles the plain device groups.
    const sa = 'deviceGroups' in va ? base.compileDeviceGroups(va.deviceGroups) : (base.compileDeviceGroups as unknown as Compile)((va as { config: current.GatehouseConfig }).config.deviceGroups);
    const sb = current.compileDeviceGroups(vb.deviceGroups);
    assert.deepStrictEqual(sb.groups.map((x) => [x.name, x.policy, x.rule]), sa.groups.map((x) => [x.name, x.policy, x.rule]));
    // Compared on the Greengrass fields (a tree may add fields of the engine's statement form).
    const greengrassFields = (groups: readonly current.CompiledGroup[]): unknown => JSON.parse(JSON.stringify(groups.map((g) => ({
      ...g, statements: g.statements.map((st) => ({ policy: st.policy, statement: st.statement, effect: st.effect, operations: st.operations, resources: st.resources })),
    }))));
    assert.deepStrictEqual(greengrassFields(sb.groups), greengrassFields(sa.groups), 'compiled groups differ');

    const things = [...pool, ...Array.from({ length: 4 }, () => g.thing(pool)), ''];
    for (const thing of things) {
      assert.deepStrictEqual(sb.selectGroups(thing).map((x) => x.name), sa.selectGroups(thing).map((x) => x.name), `selectGroups(${JSON.stringify(thing)})`);
      const p = principalFor(g, thing, pool);
      const viewA = new base.PrincipalView(p, sa.selectGroups(thing));
      const viewB = sb.view(p);
      for (let k = 0; k < 25; k++) {
        const op = g.pick(ops);
        g.clean = g.chance(0.8);
        const res = g.request(pool, resources, thing, op);
        const da = sa.decide(p, op, res);
        const db = sb.decide(p, op, res);
        assert.deepStrictEqual(db, da, `decide(${JSON.stringify(p)}, ${op}, ${JSON.stringify(res)}) in ${JSON.stringify(doc)}`);
        assert.equal(Object.isFrozen(db), Object.isFrozen(da));
        assert.deepStrictEqual(viewB.decide(op, res), viewA.decide(op, res));
        // Twice, so lazily built answers are checked too.
        assert.deepStrictEqual(sb.decide(p, op, res), da);
        assert.deepStrictEqual(viewB.matches(op, res), viewA.matches(op, res));
        if (k % 5 === 0) assert.deepStrictEqual(sb.explain(p, op, res), sa.explain(p, op, res));
        decisions++;
        reasons[da.reason] = (reasons[da.reason] ?? 0) + 1;
        if (da.allowed) allowed++;
      }
      // A principal object changed after its first use must not keep its old view.
      const mutable = { ...p } as { thingName: string; clientId?: string; attributes?: Record<string, string> };
      sb.decide(mutable, 'mqtt:connect', `mqtt:clientId:${thing}`);
      mutable.thingName = g.thing(pool);
      mutable.clientId = g.thing(pool);
      mutable.attributes = { a: g.thing(pool) };
      for (let k = 0; k < 5; k++) {
        const op = g.pick(ops);
        const res = g.request(pool, resources, mutable.thingName, op);
        assert.deepStrictEqual(sb.decide(mutable, op, res), sa.decide({ ...mutable }, op, res), 'mutated principal');
        decisions++;
      }
    }
  }
  if (decisions === 0 || allowed === 0) throw new Error('the differential check decided nothing');
  process.stdout.write(`differential check passed: ${opt.configs} configurations (${valid} valid), ${decisions} decisions (${allowed} allowed; ${
    Object.entries(reasons).map(([k, v]) => `${k} ${v}`).join(', ')})\n`);
}

await main();
