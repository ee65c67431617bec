/**
 * `npm run bench:decide`: decisions per second and compile time of the policy core.
 *
 *   node dist/bench/decide.js [--json] [--case a,b,c,d,compile,newthing]
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
import {
  bigConfig, bigThings, caseA, caseB, caseC, caseD, D_GROUPS, oracle, selectsOfSingle, type RawConfig, type Workload,
} from './workload.js';

const DECISION_CASES = ['a', 'b', 'c', 'd'] as const;
const ALL_CASES = [...DECISION_CASES, 'compile', 'newthing'] as const;
type CaseId = (typeof ALL_CASES)[number];

const TARGET_SMALL = 10e6;
const TARGET_BIG = 1e6;
const TARGET_COMPILE_MS = 500;

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
        process.stdout.write('usage: node dist/bench/decide.js [--json] [--case a,b,c,d,compile,newthing] [--rounds N] [--round-ms MS] [--warmup-ms MS] [--quick] [--no-isolate] [--no-pin]\n');
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

type Result = DecisionResult | CompileResult | NewThingResult;

function runCase(id: CaseId, opts: Options): Result {
  switch (id) {
    case 'a': return runDecisionCase(caseA(), opts);
    case 'b': return runDecisionCase(caseB(), opts);
    case 'c': return runDecisionCase(caseC(), opts);
    case 'd': return runDecisionCase(caseD(), opts);
    case 'compile': return runCompile(opts.rounds);
    case 'newthing': return runNewThing(opts.rounds);
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
