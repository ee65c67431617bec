/**
 * `npm run bench:decide`: decisions per second and compile time of the policy core.
 *
 *   node dist/bench/decide.js [--json] [--case a,b,c,d,compile,newthing,i1,i2,i3,i4,iotcompile]
 *                             [--rounds N] [--round-ms MS] [--warmup-ms MS]
 *                             [--no-isolate] [--no-pin] [--quick]
 *
 * Each case runs in a fresh Node process (so JIT feedback and heap state of one case do
 * not leak into the next), pinned to one CPU with `taskset` when available. See
 * bench/README.md for what each case measures.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileDeviceGroups, validateConfig, type Decision, type PolicySnapshot, type PrincipalView } from '../src/core/index.js';
import type { Principal } from '../src/core/policy/resource.js';
import { fmtRate, pad, stats, throughput, timeMs, type RoundOptions, type Stats, type Throughput } from './harness.js';
import { loadavg } from 'node:os';
import { compileIotPolicies, iotPolicyIndex, type IotPolicySet } from '../src/core/policy/iot/engine.js';
import { IotPart } from '../src/core/policy/combined.js';
import { buildAttachmentMaps, type AttachmentListRows } from '../src/identity/iot-attachments.js';

const NO_NAMES: readonly string[] = [];
import type { IotContext } from '../src/core/policy/iot/context.js';
import {
  attachmentRows, caseI1, caseI2, caseI3, caseI4, compilePolicies, COMPILE_GROUPS, COMPILE_POLICIES, COMPILE_THINGS, IOT_DEPLOYMENT,
  type AttachmentRows, type IotWorkload,
} from './iot-workload.js';
import {
  bigConfig, bigThings, caseA, caseB, caseC, caseD, D_GROUPS, oracle, selectsOfSingle, type RawConfig, type Workload,
} from './workload.js';

const DECISION_CASES = ['a', 'b', 'c', 'd'] as const;
const IOT_CASES = ['i1', 'i2', 'i3', 'i4', 'iotcompile'] as const;
const ALL_CASES = [...DECISION_CASES, 'compile', 'newthing', ...IOT_CASES] as const;
type CaseId = (typeof ALL_CASES)[number];

const TARGET_SMALL = 10e6;
const TARGET_BIG = 1e6;
const TARGET_COMPILE_MS = 500;
/** IoT decisions: at most 1 µs each on one core. */
const TARGET_IOT = 1e6;
/** 10,000 IoT policies attached across 100,000 things: compiled, with the attachment maps, in under a second. */
const TARGET_IOT_COMPILE_MS = 1000;
/** Evaluation time of the IoT cases (no condition of theirs depends on it). */
const IOT_NOW = Date.UTC(2026, 0, 1);

interface Options extends RoundOptions {
  readonly json: boolean;
  readonly cases: readonly CaseId[];
  readonly isolate: boolean;
  readonly pin: boolean;
  readonly worker?: CaseId;
}

function parseArgs(argv: readonly string[]): Options {
  let json = false;
  let cases: CaseId[] = [...ALL_CASES];
  let rounds = 7;
  let roundMs = 1000;
  let warmupMs = 1500;
  let isolate = true;
  let pin = true;
  let worker: CaseId | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const caseId = (v: string): CaseId => {
      if (!(ALL_CASES as readonly string[]).includes(v)) throw new Error(`unknown case ${v}; cases: ${ALL_CASES.join(', ')}`);
      return v as CaseId;
    };
    switch (a) {
      case '--json': json = true; break;
      case '--case': case '--cases': cases = value().split(',').map(caseId); break;
      case '--rounds': rounds = Number(value()); break;
      case '--round-ms': roundMs = Number(value()); break;
      case '--warmup-ms': warmupMs = Number(value()); break;
      case '--quick': rounds = 3; roundMs = 300; warmupMs = 300; break;
      case '--no-isolate': isolate = false; break;
      case '--no-pin': pin = false; break;
      case '--worker': worker = caseId(value()); break;
      case '-h': case '--help':
        process.stdout.write('usage: node dist/bench/decide.js [--json] [--case a,b,c,d,compile,newthing,i1,i2,i3,i4,iotcompile] [--rounds N] [--round-ms MS] [--warmup-ms MS] [--quick] [--no-isolate] [--no-pin]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!(rounds >= 1) || !(roundMs > 0) || !(warmupMs >= 0)) throw new Error('bad --rounds/--round-ms/--warmup-ms');
  return { json, cases, rounds, roundMs, warmupMs, isolate, pin, worker };
}

// ---------------------------------------------------------------------------
// Decision cases.

interface DecisionResult {
  readonly kind: 'decide';
  readonly id: string;
  readonly title: string;
  readonly requests: number;
  readonly things: number;
  readonly allowed: number;
  readonly denied: number;
  readonly reasons: Record<string, number>;
  /** Broker path: a PrincipalView per session, then view.decide(op, resource). */
  readonly view: Throughput;
  /** snapshot.decide(principal, op, resource): includes the per-principal cache lookup. */
  readonly snapshot: Throughput;
  /** Informational: view.decide(op, prefix + name), the resource string built per call as a broker adapter would. */
  readonly viewConcat: Throughput;
  readonly target: number;
  /** 1-minute load average before and after the case (other processes share the machine). */
  readonly load: readonly [number, number];
}

/** A fresh, flat, non-internalized copy of a string (as if decoded from a packet). */
function fresh(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

function compileOrThrow(config: RawConfig): PolicySnapshot {
  const v = validateConfig(config);
  if (!v.ok) throw new Error(`benchmark configuration is invalid: ${JSON.stringify(v.errors.slice(0, 3))}`);
  return compileDeviceGroups(v.deviceGroups);
}

function runDecisionCase(w: Workload, opts: RoundOptions): DecisionResult {
  const load0 = loadavg()[0]!;
  const snapshot = compileOrThrow(w.config);
  const n = w.requests.length;
  const principalOf = new Map<string, Principal>();
  const viewOf = new Map<string, PrincipalView>();
  const principals: Principal[] = new Array<Principal>(n);
  const views: PrincipalView[] = new Array<PrincipalView>(n);
  const ops: string[] = new Array<string>(n);
  const resources: string[] = new Array<string>(n);
  const prefixes: string[] = new Array<string>(n);
  const names: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = w.requests[i]!;
    let p = principalOf.get(r.thingName);
    if (p === undefined) {
      p = { thingName: fresh(r.thingName), clientId: fresh(r.clientId) };
      principalOf.set(r.thingName, p);
      viewOf.set(r.thingName, snapshot.view(p));
    }
    principals[i] = p;
    views[i] = viewOf.get(r.thingName)!;
    // The operation is a constant in a broker adapter (an internalized literal); the
    // resource arrives with the packet.
    ops[i] = r.operation;
    resources[i] = fresh(r.prefix + r.name);
    prefixes[i] = fresh(r.prefix);
    names[i] = fresh(r.name);
  }

  // Verify every decision before timing anything: against the case's own expectation,
  // against the naive oracle, and between the two paths.
  const naive = oracle(w.config, w.selects ?? selectsOfSingle(), w.requests);
  const reasons: Record<string, number> = {};
  let expectedAllowed = 0;
  for (let i = 0; i < n; i++) {
    const d: Decision = snapshot.decide(principals[i]!, ops[i]!, resources[i]!);
    const dv = views[i]!.decide(ops[i]!, resources[i]!);
    const dc = views[i]!.decide(ops[i]!, prefixes[i]! + names[i]!);
    if (d !== dv || d !== dc) throw new Error(`case ${w.id}: paths disagree on request ${i}`);
    if (d.allowed !== w.expectedAllowed[i] || d.allowed !== naive[i]) {
      throw new Error(`case ${w.id}: request ${i} ${JSON.stringify(w.requests[i])} decided ${JSON.stringify(d)}, expected allowed=${w.expectedAllowed[i]} (oracle ${naive[i]})`);
    }
    if (d.allowed !== (d.reason === 'ALLOWED_BY_STATEMENT')) throw new Error(`case ${w.id}: inconsistent decision ${JSON.stringify(d)}`);
    reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    if (d.allowed) expectedAllowed++;
  }
  if (expectedAllowed === 0 || expectedAllowed === n) throw new Error(`case ${w.id}: the request mix must contain allowed and denied requests`);

  const viewPass = (): number => {
    let allowed = 0;
    for (let i = 0; i < n; i++) if (views[i]!.decide(ops[i]!, resources[i]!).allowed) allowed++;
    return allowed;
  };
  const snapshotPass = (): number => {
    let allowed = 0;
    for (let i = 0; i < n; i++) if (snapshot.decide(principals[i]!, ops[i]!, resources[i]!).allowed) allowed++;
    return allowed;
  };
  const concatPass = (): number => {
    let allowed = 0;
    for (let i = 0; i < n; i++) if (views[i]!.decide(ops[i]!, prefixes[i]! + names[i]!).allowed) allowed++;
    return allowed;
  };
  const view = throughput(viewPass, n, expectedAllowed, opts);
  const snap = throughput(snapshotPass, n, expectedAllowed, opts);
  const viewConcat = throughput(concatPass, n, expectedAllowed, opts);
  return {
    kind: 'decide', id: w.id, title: w.title, requests: n, things: principalOf.size, allowed: expectedAllowed, denied: n - expectedAllowed, reasons,
    view, snapshot: snap, viewConcat, target: w.id === 'd' ? TARGET_BIG : TARGET_SMALL, load: [load0, loadavg()[0]!],
  };
}

// ---------------------------------------------------------------------------
// Compile time of (d) and the cost of a new thing's first decision.

interface CompileResult {
  readonly kind: 'compile';
  readonly groups: number;
  readonly statements: number;
  readonly resources: number;
  /** CPU milliseconds: the first run in a fresh process, then the statistics of the following runs. */
  readonly validate: Timing;
  readonly compile: Timing;
  readonly total: Timing;
  readonly heapMB: number;
  readonly target: number;
  readonly load: readonly [number, number];
}

/** CPU time statistics (cold = first run in the process) and the wall-clock median, in ms. */
type Timing = { readonly cold: number; readonly wallCold: number; readonly wallMedian: number } & Stats;

function timing(cpu: readonly number[], wall: readonly number[]): Timing {
  return { cold: cpu[0]!, wallCold: wall[0]!, wallMedian: stats(wall.slice(1)).median, ...stats(cpu.slice(1)) };
}

function runCompile(rounds: number): CompileResult {
  const load0 = loadavg()[0]!;
  const { config } = bigConfig();
  let statements = 0;
  let resources = 0;
  for (const p of Object.values(config.deviceGroups.policies)) {
    for (const s of Object.values(p)) {
      statements++;
      resources += s.resources.length;
    }
  }
  const v: number[] = [];
  const c: number[] = [];
  const tot: number[] = [];
  const vw: number[] = [];
  const cw: number[] = [];
  const totw: number[] = [];
  let keep: PolicySnapshot | undefined;
  const heap0 = process.memoryUsage().heapUsed;
  let heapMB = 0;
  for (let r = 0; r <= Math.max(rounds, 3); r++) {
    keep = undefined;
    const [valid, vmWall, vm] = timeMs(() => validateConfig(config));
    if (!valid.ok) throw new Error('(d) configuration is invalid');
    if (valid.warnings.length > 0) throw new Error(`(d) configuration has warnings: ${JSON.stringify(valid.warnings.slice(0, 3))}`);
    const [snap, cmWall, cm] = timeMs(() => compileDeviceGroups(valid.deviceGroups));
    if (snap.groups.length !== D_GROUPS) throw new Error('(d) compiled the wrong number of groups');
    keep = snap;
    if (r === 0) heapMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    v.push(vm);
    c.push(cm);
    tot.push(vm + cm);
    vw.push(vmWall);
    cw.push(cmWall);
    totw.push(vmWall + cmWall);
  }
  if (keep === undefined) throw new Error('unreachable');
  return {
    kind: 'compile', groups: D_GROUPS, statements, resources, validate: timing(v, vw), compile: timing(c, cw), total: timing(tot, totw), heapMB,
    target: TARGET_COMPILE_MS, load: [load0, loadavg()[0]!],
  };
}

interface NewThingResult {
  readonly kind: 'newthing';
  readonly thingsPerRound: number;
  readonly avgGroups: number;
  /** CPU microseconds per new thing: snapshot.decide on a principal not seen before (builds its view). */
  readonly firstDecision: Timing;
  /** CPU microseconds per new thing: selectGroups alone. */
  readonly selectGroups: Timing;
  readonly load: readonly [number, number];
}

function runNewThing(rounds: number): NewThingResult {
  const load0 = loadavg()[0]!;
  const { config } = bigConfig();
  const snapshot = compileOrThrow(config);
  const perRound = 4000;
  const total = perRound * (Math.max(rounds, 3) + 1);
  const things = bigThings(total, 1234);
  const selectUs: number[] = [];
  const firstUs: number[] = [];
  const selectWallUs: number[] = [];
  const firstWallUs: number[] = [];
  let groups = 0;
  let sink = 0;
  for (let r = 0; r * perRound < total; r++) {
    const batch = things.slice(r * perRound, (r + 1) * perRound).map((t) => ({ thingName: fresh(t), clientId: fresh(t) }));
    const [, smWall, sm] = timeMs(() => {
      for (const p of batch) sink += snapshot.selectGroups(p.thingName).length;
    });
    const [, fmWall, fm] = timeMs(() => {
      for (const p of batch) if (snapshot.decide(p, 'mqtt:connect', 'mqtt:clientId:' + p.thingName).allowed) sink++;
    });
    for (const p of batch) groups += snapshot.view(p).groups.length;
    selectUs.push((sm * 1000) / perRound);
    firstUs.push((fm * 1000) / perRound);
    selectWallUs.push((smWall * 1000) / perRound);
    firstWallUs.push((fmWall * 1000) / perRound);
  }
  if (sink === 0) throw new Error('no thing was selected');
  return {
    kind: 'newthing', thingsPerRound: perRound, avgGroups: groups / total,
    firstDecision: timing(firstUs, firstWallUs), selectGroups: timing(selectUs, selectWallUs), load: [load0, loadavg()[0]!],
  };
}

// ---------------------------------------------------------------------------
// IoT policy decisions (AWS IoT Core documents) and the IoT compile case.

interface IotDecisionResult {
  readonly kind: 'iot-decide';
  readonly id: string;
  readonly title: string;
  readonly policies: number;
  readonly requests: number;
  readonly connections: number;
  readonly allowed: number;
  readonly denied: number;
  readonly reasons: Record<string, number>;
  /** set.decide(names, ctx, {action, resource}, now) with the resource ARN already built. */
  readonly decide: Throughput;
  /** Informational: the ARN built per call (prefix + topic), as a broker adapter does. */
  readonly decideConcat: Throughput;
  /** Informational, (i4) only: the same kind of connections under a set of 99 policies. */
  readonly smallSet?: Throughput;
  /** Informational, (i4) only: the same requests grouped by connection (a connection's policies stay in the CPU caches). */
  readonly grouped?: Throughput;
  readonly target: number;
  readonly load: readonly [number, number];
}

function compileIotOrThrow(w: IotWorkload): IotPolicySet {
  const r = compileIotPolicies(w.policies.map((p) => ({ name: p.name, document: p.document })), IOT_DEPLOYMENT);
  if (!r.ok) throw new Error(`case ${w.id}: policies are invalid: ${JSON.stringify(r.problems.slice(0, 3))}`);
  if (r.warnings.length > 0) throw new Error(`case ${w.id}: policies have warnings: ${JSON.stringify(r.warnings.slice(0, 3))}`);
  return r.set;
}

interface IotPrepared {
  readonly set: IotPolicySet;
  readonly n: number;
  readonly names: (readonly string[])[];
  readonly ctxs: IotContext[];
  readonly actions: string[];
  readonly resources: string[];
  readonly prefixes: string[];
  readonly topics: string[];
  readonly allowed: number;
  readonly reasons: Record<string, number>;
}

/** Compiles a workload, builds its per-request inputs and checks every decision against the expectation. */
function prepareIot(w: IotWorkload): IotPrepared {
  const set = compileIotOrThrow(w);
  const n = w.requests.length;
  // Per connection, as a broker keeps them: the context and the list of policies in force.
  const ctxOf = w.connections.map((c) => ({ ...c.ctx, clientId: fresh(c.ctx.clientId), thingName: c.ctx.thingName === null ? null : fresh(c.ctx.thingName) }));
  const namesOf = w.connections.map((c) => c.policies.map(fresh));
  const names = new Array<readonly string[]>(n);
  const ctxs = new Array<IotContext>(n);
  const actions = new Array<string>(n);
  const resources = new Array<string>(n);
  const prefixes = new Array<string>(n);
  const topics = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = w.requests[i]!;
    names[i] = namesOf[r.connection]!;
    ctxs[i] = ctxOf[r.connection]!;
    // The action is a constant of the adapter; the topic arrives with the packet.
    actions[i] = r.action;
    resources[i] = fresh(r.prefix + r.name);
    prefixes[i] = r.prefix;
    topics[i] = fresh(r.name);
  }
  const reasons: Record<string, number> = {};
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    const d = set.decide(names[i]!, ctxs[i]!, { action: actions[i]!, resource: resources[i]! }, IOT_NOW);
    const dc = set.decide(names[i]!, ctxs[i]!, { action: actions[i]!, resource: prefixes[i]! + topics[i]! }, IOT_NOW);
    if (d.allowed !== dc.allowed || d.reason !== dc.reason) throw new Error(`case ${w.id}: paths disagree on request ${i}`);
    if (d.allowed !== w.expectedAllowed[i]) {
      throw new Error(`case ${w.id}: request ${i} ${JSON.stringify(w.requests[i])} decided ${JSON.stringify(d)}, expected allowed=${w.expectedAllowed[i]}`);
    }
    if (d.allowed !== (d.reason === 'ALLOWED_BY_STATEMENT')) throw new Error(`case ${w.id}: inconsistent decision ${JSON.stringify(d)}`);
    reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    if (d.allowed) allowed++;
  }
  if (allowed === 0 || allowed === n) throw new Error(`case ${w.id}: the request mix must contain allowed and denied requests`);
  return { set, n, names, ctxs, actions, resources, prefixes, topics, allowed, reasons };
}

function iotPass(p: IotPrepared, concat: boolean): () => number {
  const { set, n, names, ctxs, actions, resources, prefixes, topics } = p;
  if (concat) {
    return () => {
      let allowed = 0;
      for (let i = 0; i < n; i++) if (set.decide(names[i]!, ctxs[i]!, { action: actions[i]!, resource: prefixes[i]! + topics[i]! }, IOT_NOW).allowed) allowed++;
      return allowed;
    };
  }
  return () => {
    let allowed = 0;
    for (let i = 0; i < n; i++) if (set.decide(names[i]!, ctxs[i]!, { action: actions[i]!, resource: resources[i]! }, IOT_NOW).allowed) allowed++;
    return allowed;
  };
}

function runIotDecisionCase(w: IotWorkload, opts: RoundOptions, small?: IotWorkload): IotDecisionResult {
  const load0 = loadavg()[0]!;
  const p = prepareIot(w);
  const decide = throughput(iotPass(p, false), p.n, p.allowed, opts);
  const decideConcat = throughput(iotPass(p, true), p.n, p.allowed, opts);
  let smallSet: Throughput | undefined;
  let grouped: Throughput | undefined;
  if (small) {
    const ps = prepareIot(small);
    smallSet = throughput(iotPass(ps, false), ps.n, ps.allowed, opts);
    const order = w.requests.map((r, i) => [r.connection, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]).map((x) => x[1]);
    const pg = prepareIot({ ...w, requests: order.map((i) => w.requests[i]!), expectedAllowed: order.map((i) => w.expectedAllowed[i]!) });
    grouped = throughput(iotPass(pg, false), pg.n, pg.allowed, opts);
  }
  return {
    kind: 'iot-decide', id: w.id, title: w.title, policies: w.policies.length, requests: p.n, connections: w.connections.length,
    allowed: p.allowed, denied: p.n - p.allowed, reasons: p.reasons, decide, decideConcat, ...(smallSet ? { smallSet } : {}), ...(grouped ? { grouped } : {}),
    target: TARGET_IOT, load: [load0, loadavg()[0]!],
  };
}

/**
 * The attachment rows as the registry's bulk read hands them over (registry.ts,
 * readIotAuthorizationData): one row per key, its names without repeats joined by a
 * space, in key order (SQLite's GROUP BY with group_concat). Built outside the timing:
 * that work is the database's (bench:iot-registry measures the whole read).
 */
function storeRows(rows: AttachmentRows): AttachmentListRows {
  const joined = (pairs: readonly (readonly [string, string])[]): [string, string][] => {
    const m = new Map<string, Set<string>>();
    for (const [k, v] of pairs) {
      let set = m.get(k);
      if (set === undefined) m.set(k, (set = new Set()));
      set.add(v);
    }
    return [...m].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map(([k, set]) => [k, [...set].join(' ')]);
  };
  const groups = new Set(rows.groupPolicy.map(([g]) => g));
  for (const [, g] of rows.thingGroup) groups.add(g);
  return {
    certificatePolicies: joined(rows.certificatePolicy),
    groupPolicies: joined(rows.groupPolicy),
    members: joined(rows.thingGroup),
    parents: [...groups].map((g) => [g, null] as const),
    thingTypes: [],
  };
}

interface IotCompileResult {
  readonly kind: 'iot-compile';
  readonly policies: number;
  readonly statements: number;
  readonly documentKB: number;
  readonly things: number;
  readonly groups: number;
  readonly attachments: number;
  readonly compile: Timing;
  readonly maps: Timing;
  readonly total: Timing;
  /** Informational: the in-force list of every one of the 100,000 things (done per connection by a broker, not at load). */
  readonly inForce: Timing;
  /** Informational: the engine's form of every policy, which a policy gets when a connection first selects it. */
  readonly firstUse: Timing;
  readonly avgInForce: number;
  readonly heapMB: number;
  /** Heap with every policy's engine form built as well. */
  readonly heapAllMB: number;
  readonly target: number;
  readonly load: readonly [number, number];
}

function runIotCompile(rounds: number): IotCompileResult {
  const load0 = loadavg()[0]!;
  const inputs = compilePolicies();
  const rows = attachmentRows(inputs.map((p) => p.name));
  const listRows = storeRows(rows);
  // A connection knows its certificate: not part of the gateway's maps.
  const certificateOf = new Map(rows.thingCertificate);
  let statements = 0;
  let chars = 0;
  for (const p of inputs) {
    chars += p.document.length;
    statements += (JSON.parse(p.document) as { Statement: unknown[] }).Statement.length;
  }
  const c: number[] = [];
  const m: number[] = [];
  const tot: number[] = [];
  const f: number[] = [];
  const cw: number[] = [];
  const mw: number[] = [];
  const totw: number[] = [];
  const fw: number[] = [];
  const u: number[] = [];
  const uw: number[] = [];
  const heap0 = process.memoryUsage().heapUsed;
  let heapMB = 0;
  let heapAllMB = 0;
  let keep: unknown;
  let inForceTotal = 0;
  for (let r = 0; r <= Math.max(rounds, 3); r++) {
    keep = undefined;
    const [result, cWall, cCpu] = timeMs(() => compileIotPolicies(inputs, IOT_DEPLOYMENT));
    if (!result.ok) throw new Error(`IoT compile case: policies are invalid: ${JSON.stringify(result.problems.slice(0, 3))}`);
    if (result.warnings.length > 0) throw new Error(`IoT compile case: warnings: ${JSON.stringify(result.warnings.slice(0, 3))}`);
    if (result.set.names.length !== COMPILE_POLICIES) throw new Error('IoT compile case: wrong number of policies');
    // The registry's code: the gateway builds these maps when it reads the registry.
    const [maps, mWall, mCpu] = timeMs(() => buildAttachmentMaps(listRows));
    if (maps.thingGroups.size !== COMPILE_THINGS) throw new Error('IoT compile case: wrong number of things');
    const part = new IotPart(result.set, maps, new Set());
    keep = [result.set, maps];
    if (r === 0) heapMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    const [n, fWall, fCpu] = timeMs(() => {
      let total = 0;
      for (let t = 0; t < COMPILE_THINGS; t++) {
        const thing = `thing-${t}`;
        const inForce = part.policiesFor(certificateOf.get(thing), thing, NO_NAMES);
        // Every attached name is one of the set's (the workload's own check, not the gateway's).
        if (inForce.missing.length > 0) throw new Error(`IoT compile case: ${thing} names missing policies ${inForce.missing.join(', ')}`);
        total += inForce.names.length;
      }
      return total;
    });
    inForceTotal = n;
    const names = result.set.names;
    const [, uWall, uCpu] = timeMs(() => iotPolicyIndex(result.set, names));
    u.push(uCpu); uw.push(uWall);
    if (r === 0) heapAllMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    c.push(cCpu); m.push(mCpu); tot.push(cCpu + mCpu); f.push(fCpu);
    cw.push(cWall); mw.push(mWall); totw.push(cWall + mWall); fw.push(fWall);
  }
  if (keep === undefined) throw new Error('unreachable');
  return {
    kind: 'iot-compile', policies: COMPILE_POLICIES, statements, documentKB: chars / 1024, things: COMPILE_THINGS, groups: COMPILE_GROUPS,
    attachments: rows.certificatePolicy.length + rows.groupPolicy.length + rows.thingGroup.length,
    compile: timing(c, cw), maps: timing(m, mw), total: timing(tot, totw), inForce: timing(f, fw), firstUse: timing(u, uw), avgInForce: inForceTotal / COMPILE_THINGS,
    heapMB, heapAllMB, target: TARGET_IOT_COMPILE_MS, load: [load0, loadavg()[0]!],
  };
}

// ---------------------------------------------------------------------------

type Result = DecisionResult | CompileResult | NewThingResult | IotDecisionResult | IotCompileResult;

function runCase(id: CaseId, opts: Options): Result {
  switch (id) {
    case 'a': return runDecisionCase(caseA(), opts);
    case 'b': return runDecisionCase(caseB(), opts);
    case 'c': return runDecisionCase(caseC(), opts);
    case 'd': return runDecisionCase(caseD(), opts);
    case 'compile': return runCompile(opts.rounds);
    case 'newthing': return runNewThing(opts.rounds);
    case 'i1': return runIotDecisionCase(caseI1(), opts);
    case 'i2': return runIotDecisionCase(caseI2(), opts);
    case 'i3': return runIotDecisionCase(caseI3(), opts);
    case 'i4': return runIotDecisionCase(caseI4(), opts, caseI4(99));
    case 'iotcompile': return runIotCompile(opts.rounds);
  }
}

function runIsolated(id: CaseId, opts: Options, argv: readonly string[]): Result {
  const script = fileURLToPath(import.meta.url);
  const pin = opts.pin && existsSync('/usr/bin/taskset');
  const args = [...process.execArgv, script, ...argv, '--worker', id];
  const cmd = pin ? '/usr/bin/taskset' : process.execPath;
  const child = spawnSync(cmd, pin ? ['-c', String(pinCpu()), process.execPath, ...args] : args, {
    encoding: 'utf8', maxBuffer: 64 * 2 ** 20, stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (child.status !== 0) throw new Error(`case ${id} failed (exit ${child.status ?? child.signal})`);
  return JSON.parse(child.stdout) as Result;
}

/** The last CPU this process may run on (CPU 0 takes most interrupts). */
function pinCpu(): number {
  const r = spawnSync('/usr/bin/taskset', ['-pc', String(process.pid)], { encoding: 'utf8' });
  const list = /:\s*([0-9,-]+)\s*$/.exec(r.stdout ?? '')?.[1];
  if (!list) return 0;
  const last = list.split(',').at(-1)!.split('-').at(-1)!;
  return Number(last);
}

function mark(ok: boolean): string {
  return ok ? 'yes' : 'NO';
}

function printTable(results: readonly Result[], opts: Options, pinned: boolean): void {
  const out: string[] = [];
  out.push(`node ${process.version}, ${opts.rounds} rounds of >= ${opts.roundMs} ms after ${opts.warmupMs} ms warm-up, ` +
    `each case in its own process${pinned ? ' pinned to one CPU (taskset)' : ''}.`);
  out.push('Rates are per second of the process\'s CPU time (one core); "wall" is per wall-clock second. spread = (max - min) / median.');
  out.push('');
  const decisions = results.filter((r): r is DecisionResult => r.kind === 'decide');
  if (decisions.length > 0) {
    out.push('Decisions per second');
    out.push(`${pad('case', 42)}${pad('path', 26)}${pad('median', 11, true)}${pad('min', 11, true)}${pad('max', 11, true)}${pad('spread', 8, true)}` +
      `${pad('wall', 11, true)}  target`);
    for (const d of decisions) {
      const rows: [string, Throughput, boolean][] = [
        ['view.decide (broker)', d.view, true],
        ['snapshot.decide', d.snapshot, true],
        ['view.decide(prefix+name)', d.viewConcat, false],
      ];
      rows.forEach(([path, t, judged], i) => {
        const s = t.cpu;
        const met = mark(s.median >= d.target);
        const target = !judged ? '(info)' : i === 0 ? `>= ${fmtRate(d.target)}: ${met}` : `(${met}, not judged)`;
        out.push(`${pad(i === 0 ? d.title : '', 42)}${pad(path, 26)}${pad(fmtRate(s.median), 11, true)}${pad(fmtRate(s.min), 11, true)}` +
          `${pad(fmtRate(s.max), 11, true)}${pad(s.spreadPct.toFixed(1) + '%', 8, true)}${pad(fmtRate(t.wall.median), 11, true)}  ${target}`);
      });
      const reasons = Object.entries(d.reasons).map(([k, v]) => `${k} ${v}`).join(', ');
      out.push(`${pad('', 42)}${d.requests} requests from ${d.things} thing${d.things === 1 ? '' : 's'}: ${d.allowed} allowed, ${d.denied} denied (${reasons})` +
        `; load ${d.load[0].toFixed(2)} -> ${d.load[1].toFixed(2)}`);
    }
    out.push('');
  }
  const timingRow = (name: string, s: Timing, digits: number, extra = ''): string =>
    `${pad(name, 44)}${pad(s.cold.toFixed(digits), 9, true)}${pad(s.median.toFixed(digits), 9, true)}${pad(s.min.toFixed(digits), 9, true)}` +
    `${pad(s.max.toFixed(digits), 9, true)}${pad(s.wallCold.toFixed(digits), 11, true)}${pad(s.wallMedian.toFixed(digits), 11, true)}  ${extra}`;
  const timingHead = (): string =>
    `${pad('step', 44)}${pad('cold', 9, true)}${pad('median', 9, true)}${pad('min', 9, true)}${pad('max', 9, true)}${pad('wall cold', 11, true)}` +
    `${pad('wall med', 11, true)}  target`;
  const compile = results.find((r): r is CompileResult => r.kind === 'compile');
  if (compile) {
    out.push(`Compile (d): ${compile.groups} groups, ${compile.statements} statements, ${compile.resources} resources ` +
      `(CPU ms; cold = first run in a fresh process, then median/min/max of the next runs)`);
    out.push(timingHead());
    out.push(timingRow('validateConfig', compile.validate, 1));
    out.push(timingRow('compileDeviceGroups', compile.compile, 1));
    const t = compile.total;
    out.push(timingRow('validateConfig + compileDeviceGroups', t, 1, `< ${compile.target} ms: cold ${mark(t.cold < compile.target)}, warm ${mark(t.median < compile.target)}`));
    out.push(`${pad('', 44)}heap retained by the first snapshot and validated config: ${compile.heapMB.toFixed(0)} MB; load ${compile.load[0].toFixed(2)} -> ${compile.load[1].toFixed(2)}`);
    out.push('');
  }
  const nt = results.find((r): r is NewThingResult => r.kind === 'newthing');
  if (nt) {
    out.push(`First decision of a new thing under (d) (CPU µs per thing, ${nt.thingsPerRound} new things per round, ${nt.avgGroups.toFixed(1)} groups per thing on average)`);
    out.push(timingHead());
    out.push(timingRow('snapshot.decide, new principal (builds view)', nt.firstDecision, 2));
    out.push(timingRow('  of which selectGroups', nt.selectGroups, 2));
    out.push(`${pad('', 44)}load ${nt.load[0].toFixed(2)} -> ${nt.load[1].toFixed(2)}`);
    out.push('');
  }
  const iot = results.filter((r): r is IotDecisionResult => r.kind === 'iot-decide');
  if (iot.length > 0) {
    // Ratios against the Greengrass cases (a) and (b) when they ran in the same invocation.
    const gg = (id: string): number | undefined => decisions.find((d) => d.id === id)?.view.cpu.median;
    const a = gg('a');
    const b = gg('b');
    out.push('IoT policy decisions per second (set.decide(names, ctx, {action, resource}, now))');
    out.push(`${pad('case', 42)}${pad('path', 28)}${pad('median', 11, true)}${pad('min', 11, true)}${pad('max', 11, true)}${pad('spread', 8, true)}` +
      `${pad('wall', 11, true)}${pad('ns/dec', 8, true)}  target`);
    for (const d of iot) {
      const rows: [string, Throughput, boolean][] = [
        ['decide (ARN built)', d.decide, true],
        ['decide(prefix+topic)', d.decideConcat, false],
      ];
      if (d.smallSet) rows.push(['same, 99-policy set', d.smallSet, false]);
      if (d.grouped) rows.push(['same, grouped by connection', d.grouped, false]);
      rows.forEach(([path, t, judged], i) => {
        const s = t.cpu;
        const target = judged ? `>= ${fmtRate(d.target)}: ${mark(s.median >= d.target)}` : '(info)';
        out.push(`${pad(i === 0 ? d.title : '', 42)}${pad(path, 28)}${pad(fmtRate(s.median), 11, true)}${pad(fmtRate(s.min), 11, true)}` +
          `${pad(fmtRate(s.max), 11, true)}${pad(s.spreadPct.toFixed(1) + '%', 8, true)}${pad(fmtRate(t.wall.median), 11, true)}` +
          `${pad((1e9 / s.median).toFixed(0), 8, true)}  ${target}`);
      });
      const reasons = Object.entries(d.reasons).map(([k, v]) => `${k} ${v}`).join(', ');
      const ratio = (x: number | undefined, name: string): string => (x === undefined ? '' : `, ${(x / d.decide.cpu.median).toFixed(1)}x slower than ${name}`);
      out.push(`${pad('', 42)}${d.requests} requests, ${d.connections} connection${d.connections === 1 ? '' : 's'}, ${d.policies} polic${d.policies === 1 ? 'y' : 'ies'}: ` +
        `${d.allowed} allowed, ${d.denied} denied (${reasons})${ratio(a, '(a)')}${ratio(b, '(b)')}; load ${d.load[0].toFixed(2)} -> ${d.load[1].toFixed(2)}`);
    }
    out.push('');
  }
  const ic = results.find((r): r is IotCompileResult => r.kind === 'iot-compile');
  if (ic) {
    out.push(`IoT compile: ${ic.policies} policies (${ic.statements} statements, ${ic.documentKB.toFixed(0)} KB of JSON text), ` +
      `${ic.things} things in ${ic.groups} groups, ${ic.attachments} attachment rows (CPU ms; cold = first run in a fresh process)`);
    out.push(timingHead());
    out.push(timingRow('compileIotPolicies', ic.compile, 1));
    out.push(timingRow('attachment maps (the registry\'s)', ic.maps, 1));
    out.push(timingRow('compile + maps', ic.total, 1, `< ${ic.target} ms: cold ${mark(ic.total.cold < ic.target)}, warm ${mark(ic.total.median < ic.target)}`));
    out.push(timingRow('in-force lists of all things (info)', ic.inForce, 1, `${ic.avgInForce.toFixed(2)} policies per thing`));
    out.push(timingRow('engine form, every policy (info)', ic.firstUse, 1, 'built when a connection first selects a policy'));
    out.push(`${pad('', 44)}heap retained by the set and maps: ${ic.heapMB.toFixed(0)} MB (${ic.heapAllMB.toFixed(0)} MB with every engine form); load ${ic.load[0].toFixed(2)} -> ${ic.load[1].toFixed(2)}`);
    out.push('');
  }
  process.stdout.write(out.join('\n'));
}

function main(): void {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  if (opts.worker !== undefined) {
    process.stdout.write(JSON.stringify(runCase(opts.worker, opts)));
    return;
  }
  const passArgs = argv.filter((a, i) => !['--json', '--no-isolate', '--no-pin'].includes(a) && argv[i - 1] !== '--case' && argv[i - 1] !== '--cases' &&
    a !== '--case' && a !== '--cases');
  const pinned = opts.isolate && opts.pin && existsSync('/usr/bin/taskset');
  const results: Result[] = [];
  for (const id of opts.cases) {
    if (!opts.json) process.stderr.write(`running ${id}...\n`);
    results.push(opts.isolate ? runIsolated(id, opts, passArgs) : runCase(id, opts));
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify({
      node: process.version, rounds: opts.rounds, roundMs: opts.roundMs, warmupMs: opts.warmupMs, isolated: opts.isolate, pinned, results,
    }, null, 2) + '\n');
  } else printTable(results, opts, pinned);
}

main();
