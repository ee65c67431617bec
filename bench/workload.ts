/**
 * Benchmark workloads: configurations (raw documents, as parsed from YAML/JSON) and
 * pre-built request lists for each case.
 *
 * Everything is generated from a fixed seed, so every run measures the same inputs.
 */
import { decideWith, selectStatements, tokenizeResource, type ReferenceGroup } from '../test/helpers/reference-evaluator.js';

export type Op = 'mqtt:connect' | 'mqtt:publish' | 'mqtt:subscribe';

export interface RawStatement {
  effect?: 'ALLOW' | 'DENY';
  operations: string[];
  resources: string[];
}

export interface RawConfig {
  deviceGroups: {
    formatVersion: '2021-03-05';
    definitions: Record<string, { selectionRule: string; policyName: string }>;
    policies: Record<string, Record<string, RawStatement>>;
  };
}

export interface Request {
  readonly thingName: string;
  readonly clientId: string;
  readonly operation: Op;
  /** `mqtt:clientId:`, `mqtt:topic:` or `mqtt:topicfilter:`. */
  readonly prefix: string;
  /** The resource name after the prefix. */
  readonly name: string;
}

export interface Workload {
  readonly id: string;
  readonly title: string;
  readonly config: RawConfig;
  readonly requests: readonly Request[];
  /**
   * Independent expectation of each request's decision (`allowed`), computed without
   * Gatehouse code, where the case defines one. Reasons are checked separately.
   */
  readonly expectedAllowed: readonly boolean[];
  /** Group selection predicate of each group, in definition order (for the oracle). */
  readonly selects?: readonly ((thing: string) => boolean)[];
}

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const PREFIX: Record<Op, string> = {
  'mqtt:connect': 'mqtt:clientId:',
  'mqtt:publish': 'mqtt:topic:',
  'mqtt:subscribe': 'mqtt:topicfilter:',
};

function req(thingName: string, operation: Op, name: string, clientId = thingName): Request {
  return { thingName, clientId, operation, prefix: PREFIX[operation], name };
}

function single(policy: Record<string, RawStatement>, rule = 'thingName: myThing'): RawConfig {
  return {
    deviceGroups: {
      formatVersion: '2021-03-05',
      definitions: { group1: { selectionRule: rule, policyName: 'policy1' } },
      policies: { policy1: policy },
    },
  };
}

/** Repeats `allowed` and `denied` request names to `size` requests, 3 allowed : 1 denied, shuffled. */
function mix(thing: string, op: Op, allowed: string[], denied: string[], size: number, seed: number): { requests: Request[]; expected: boolean[] } {
  const rand = rng(seed);
  const rows: [Request, boolean][] = [];
  for (let i = 0; i < size; i++) {
    const ok = i % 4 !== 3;
    const list = ok ? allowed : denied;
    rows.push([req(thing, op, list[Math.floor(i / 4) % list.length]!), ok]);
  }
  shuffle(rows, rand);
  return { requests: rows.map((r) => r[0]), expected: rows.map((r) => r[1]) };
}

const SMALL = 4096;

/** (a) One literal statement: mqtt:publish on mqtt:topic:humidity. */
export function caseA(): Workload {
  const config = single({ publishHumidity: { operations: ['mqtt:publish'], resources: ['mqtt:topic:humidity'] } });
  const { requests, expected } = mix('myThing', 'mqtt:publish', ['humidity'],
    ['temperature', 'humidit', 'humidity2', 'Humidity', 'humidity/x', 'pressure'], SMALL, 1);
  return { id: 'a', title: '(a) literal mqtt:topic:humidity', config, requests, expectedAllowed: expected };
}

/** (b) A thing-name variable: mqtt:topic:${iot:Connection.Thing.ThingName}/humidity. */
export function caseB(): Workload {
  const config = single({
    publishOwnHumidity: { operations: ['mqtt:publish'], resources: ['mqtt:topic:${iot:Connection.Thing.ThingName}/humidity'] },
  });
  const { requests, expected } = mix('myThing', 'mqtt:publish', ['myThing/humidity'],
    ['otherThing/humidity', 'myThing/temperature', 'myThing/humidity/x', 'myThin/humidity', 'MyThing/humidity'], SMALL, 2);
  return { id: 'b', title: '(b) ${iot:Connection.Thing.ThingName}/humidity', config, requests, expectedAllowed: expected };
}

/** (c) Six wildcards: mqtt:topic:*\/*\/*\/*\/*\/* against six-level topics. */
export function caseC(): Workload {
  const config = single({ publishSixLevels: { operations: ['mqtt:publish'], resources: ['mqtt:topic:*/*/*/*/*/*'] } });
  // Six short levels like the reference's `a/b/c/d/e/f`, varied; (d) has long topics.
  const allowed = ['a/b/c/d/e/f', 'u/v/w/x/y/z', 'a1/b2/c3/d4/e5/f6', 'f/e/d/c/b/a', 'a/b/c/d/e/f/g', 'x/y/z/x/y/z'];
  const denied = ['a/b/c/d/e', 'a-b-c-d-e-f', 'abcdef', 'a/b', 'u/v/w/x/y'];
  const { requests, expected } = mix('myThing', 'mqtt:publish', allowed, denied, SMALL, 3);
  return { id: 'c', title: '(c) mqtt:topic:*/*/*/*/*/* vs a/b/c/d/e/f', config, requests, expectedAllowed: expected };
}

// ---------------------------------------------------------------------------
// (d) 10,000 groups x 10 statements.

export const D_FLEETS = 3000;
export const D_SITES = 3000;
const D_EXACT = 3000;
const D_COMBO = 997;
const D_GLOBAL = 3;
export const D_GROUPS = D_FLEETS + D_SITES + D_EXACT + D_COMBO + D_GLOBAL;
const UNITS = 1000;

const TN = '${iot:Connection.Thing.ThingName}';

/** Ten statements under the topic namespace `ns`. */
function policyFor(ns: string, opts: { deny: boolean; clientIdVar: boolean }): Record<string, RawStatement> {
  return {
    connect: { operations: ['mqtt:connect'], resources: [`mqtt:clientId:${opts.clientIdVar ? '${iot:ClientId}' : TN}`] },
    telemetry: { operations: ['mqtt:publish'], resources: [`mqtt:topic:${ns}/${TN}/telemetry`, `mqtt:topic:${ns}/${TN}/telemetry/*`] },
    events: { operations: ['mqtt:publish'], resources: [`mqtt:topic:${ns}/events/*`] },
    commands: { operations: ['mqtt:subscribe'], resources: [`mqtt:topicfilter:${ns}/${TN}/cmd/#`, `mqtt:topicfilter:${ns}/${TN}/cmd/+/ack`] },
    broadcast: { operations: ['mqtt:subscribe'], resources: [`mqtt:topicfilter:${ns}/broadcast/#`, `mqtt:topicfilter:${ns}/+/status`] },
    status: { operations: ['mqtt:publish'], resources: [`mqtt:topic:${ns}/${TN}/status`] },
    shared: { operations: ['mqtt:publish', 'mqtt:subscribe'], resources: [`mqtt:topic:${ns}/shared`, `mqtt:topicfilter:${ns}/shared`] },
    alerts: { operations: ['mqtt:publish'], resources: [`mqtt:topic:*/${ns}/alerts`] },
    ninth: opts.deny
      ? { effect: 'DENY', operations: ['mqtt:publish', 'mqtt:subscribe'], resources: [`mqtt:topic:${ns}/events/admin/*`, `mqtt:topicfilter:${ns}/#`] }
      : { operations: ['mqtt:publish'], resources: [`mqtt:topic:${ns}/logs/${TN}/*`] },
    ota: { operations: ['mqtt:*'], resources: [`mqtt:topic:${ns}/ota/${TN}/*`, `mqtt:topicfilter:${ns}/ota/${TN}/*`] },
  };
}

const GLOBAL_POLICY: Record<string, RawStatement> = {
  noAwsTopics: { effect: 'DENY', operations: ['mqtt:publish', 'mqtt:subscribe'], resources: ['mqtt:topic:$aws/*', 'mqtt:topicfilter:$aws/*'] },
  noWildcardSubscriptions: { effect: 'DENY', operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:#', 'mqtt:topicfilter:+/#'] },
  announcements: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:global/announcements', 'mqtt:topicfilter:global/+/announcements'] },
  heartbeat: { operations: ['mqtt:publish'], resources: [`mqtt:topic:global/heartbeat/${TN}`] },
  time: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:global/time'] },
  shadowGet: { operations: ['mqtt:publish'], resources: [`mqtt:topic:things/${TN}/shadow/get`, `mqtt:topic:things/${TN}/shadow/update`] },
  shadowDelta: { operations: ['mqtt:subscribe'], resources: [`mqtt:topicfilter:things/${TN}/shadow/#`] },
  jobs: { operations: ['mqtt:publish', 'mqtt:subscribe'], resources: [`mqtt:topic:things/${TN}/jobs/*`, `mqtt:topicfilter:things/${TN}/jobs/*`] },
  metrics: { operations: ['mqtt:publish'], resources: [`mqtt:topic:metrics/*/${TN}`] },
  discovery: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:global/discovery/+'] },
};

function thingName(f: number, u: number, s: number): string {
  return `fleet${f}-unit${u}-site${s}`;
}

export interface BigConfig {
  readonly config: RawConfig;
  readonly selects: ((thing: string) => boolean)[];
  /** Whether fleet f's / site s's policy carries the DENY statement. */
  readonly fleetDeny: (f: number) => boolean;
  readonly siteDeny: (s: number) => boolean;
}

/** The (d) configuration: 10,000 groups, each with its own 10-statement policy. */
export function bigConfig(seed = 42): BigConfig {
  const rand = rng(seed);
  const definitions: RawConfig['deviceGroups']['definitions'] = {};
  const policies: RawConfig['deviceGroups']['policies'] = {};
  const selects: ((thing: string) => boolean)[] = [];
  const denyEvery = 10; // 10% of the policies carry a DENY statement
  const fleetDeny = (f: number): boolean => f % denyEvery === 3;
  const siteDeny = (s: number): boolean => s % denyEvery === 7;
  const add = (name: string, rule: string, policy: Record<string, RawStatement>, sel: (t: string) => boolean): void => {
    definitions[name] = { selectionRule: rule, policyName: `${name}-policy` };
    policies[`${name}-policy`] = policy;
    selects.push(sel);
  };

  // Global groups first, then interleave the others as a configuration would list them.
  add('global-fleet', 'thingName: fleet*', GLOBAL_POLICY, (t) => t.startsWith('fleet'));
  add('global-site0', 'thingName: *-site0 OR thingName: *-site1', policyFor('global/site01', { deny: true, clientIdVar: false }),
    (t) => t.endsWith('-site0') || t.endsWith('-site1'));
  add('global-gw', 'thingName: gateway-*', policyFor('gateways', { deny: false, clientIdVar: true }), (t) => t.startsWith('gateway-'));
  for (let i = 0; i < Math.max(D_FLEETS, D_SITES, D_EXACT); i++) {
    if (i < D_FLEETS) {
      const p = `fleet${i}-`;
      add(`fleet-${i}`, `thingName: ${p}*`, policyFor(`fleet/${i}`, { deny: fleetDeny(i), clientIdVar: i % 100 === 5 }), (t) => t.startsWith(p));
    }
    if (i < D_SITES) {
      const sfx = `-site${i}`;
      add(`site-${i}`, `thingName: *${sfx}`, policyFor(`site/${i}`, { deny: siteDeny(i), clientIdVar: false }), (t) => t.endsWith(sfx));
    }
    if (i < D_EXACT) {
      const t0 = thingName(Math.floor(rand() * D_FLEETS), Math.floor(rand() * UNITS), Math.floor(rand() * D_SITES));
      add(`device-${i}`, `thingName: ${t0}`, policyFor(`dev/${t0}`, { deny: false, clientIdVar: false }), (t) => t === t0);
    }
    if (i < D_COMBO) {
      const f = Math.floor(rand() * D_FLEETS);
      const s = Math.floor(rand() * D_SITES);
      const u = Math.floor(rand() * UNITS);
      const ns = `combo/${i}`;
      switch (i % 3) {
        case 0:
          add(`combo-${i}`, `thingName: fleet${f}-* AND thingName: *-site${s}`, policyFor(ns, { deny: false, clientIdVar: false }),
            (t) => t.startsWith(`fleet${f}-`) && t.endsWith(`-site${s}`));
          break;
        case 1: {
          const a = thingName(f, u, s);
          const b = thingName((f + 1) % D_FLEETS, u, s);
          add(`combo-${i}`, `thingName: ${a} OR thingName: ${b}`, policyFor(ns, { deny: false, clientIdVar: false }), (t) => t === a || t === b);
          break;
        }
        default:
          add(`combo-${i}`, `thingName: *-unit${u}-* AND thingName: fleet*`, policyFor(ns, { deny: i % 2 === 0, clientIdVar: false }),
            (t) => t.includes(`-unit${u}-`) && t.startsWith('fleet'));
      }
    }
  }
  if (selects.length !== D_GROUPS) throw new Error(`generated ${selects.length} groups, expected ${D_GROUPS}`);
  // Round-tripped through JSON text, as a configuration file would arrive (flat strings,
  // fresh objects), rather than the generator's concatenated strings.
  const config = JSON.parse(JSON.stringify({ deviceGroups: { formatVersion: '2021-03-05', definitions, policies } })) as RawConfig;
  return { config, selects, fleetDeny, siteDeny };
}

/** Things a (d) request comes from: mostly fleet things, some gateways, some unknown. */
export function bigThings(count: number, seed: number): string[] {
  const rand = rng(seed);
  const out = new Set<string>();
  while (out.size < count) {
    const r = rand();
    if (r < 0.9) out.add(thingName(Math.floor(rand() * D_FLEETS * 1.05), Math.floor(rand() * UNITS), Math.floor(rand() * D_SITES * 1.05)));
    else if (r < 0.95) out.add(`gateway-${Math.floor(rand() * 100000)}`);
    else out.add(`unknown-${Math.floor(rand() * 100000)}`);
  }
  return [...out];
}

/** Requests of one (d) thing: allowed and denied ones, about half each. */
function bigRequests(thing: string, other: string, rand: () => number): Request[] {
  const m = /^fleet(\d+)-unit(\d+)-site(\d+)$/.exec(thing);
  const f = m ? m[1]! : '0';
  const s = m ? m[3]! : '0';
  const ns = thing.startsWith('gateway-') ? 'gateways' : rand() < 0.5 ? `fleet/${f}` : `site/${s}`;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  return [
    req(thing, 'mqtt:connect', thing),
    req(thing, 'mqtt:connect', other),
    req(thing, 'mqtt:publish', `${ns}/${thing}/telemetry`),
    req(thing, 'mqtt:publish', `${ns}/${thing}/telemetry/${pick(['temp', 'humidity', 'battery/level'])}`),
    req(thing, 'mqtt:publish', `${ns}/${other}/telemetry`),
    req(thing, 'mqtt:publish', `${ns}/events/${pick(['boot', 'door/open', 'fault/42'])}`),
    req(thing, 'mqtt:publish', `${ns}/events/admin/${pick(['reset', 'wipe'])}`),
    req(thing, 'mqtt:publish', `${pick(['edge', 'x/y'])}/${ns}/alerts`),
    req(thing, 'mqtt:publish', `${pick(['unrelated', 'fleet/999999', 'site'])}/topic/${thing}`),
    req(thing, 'mqtt:publish', `$aws/things/${thing}/shadow/update`),
    req(thing, 'mqtt:publish', `things/${thing}/shadow/update`),
    req(thing, 'mqtt:subscribe', `${ns}/${thing}/cmd/#`),
    req(thing, 'mqtt:subscribe', `${ns}/broadcast/#`),
    req(thing, 'mqtt:subscribe', pick([`${ns}/#`, '#', '+/#', `${ns}/${other}/cmd/#`])),
    req(thing, 'mqtt:subscribe', `${ns}/ota/${thing}/firmware`),
    req(thing, 'mqtt:publish', `${ns}/ota/${thing}/progress`),
  ];
}

export interface BigWorkload extends Workload {
  readonly things: readonly string[];
  readonly big: BigConfig;
}

/** (d) 10,000 groups x 10 statements, requests from `thingCount` things. */
export function caseD(thingCount = 4000): BigWorkload {
  const big = bigConfig();
  const things = bigThings(thingCount, 7);
  const rand = rng(11);
  const requests: Request[] = [];
  for (const t of things) requests.push(...bigRequests(t, things[Math.floor(rand() * things.length)]!, rand));
  shuffle(requests, rand);
  const expectedAllowed = oracle(big.config, big.selects, requests);
  return {
    id: 'd', title: `(d) ${D_GROUPS} groups x 10 statements`, config: big.config, requests, expectedAllowed, selects: big.selects, things, big,
  };
}

// ---------------------------------------------------------------------------
// The benchmark's inputs are checked against the reference evaluator shared with the
// property test: groups select by the generator's own predicates.

export function oracle(config: RawConfig, selects: readonly ((t: string) => boolean)[], requests: readonly Request[]): boolean[] {
  const groups: ReferenceGroup[] = Object.values(config.deviceGroups.definitions).map((d, g) => ({
    selects: selects[g]!,
    statements: Object.values(config.deviceGroups.policies[d.policyName]!).map((st) => ({
      effect: st.effect,
      operations: st.operations,
      resources: st.resources.map(tokenizeResource),
    })),
  }));
  const selections = new Map<string, ReturnType<typeof selectStatements>>();
  return requests.map((r) => {
    let selection = selections.get(r.thingName);
    if (selection === undefined) {
      selection = selectStatements(groups, r.thingName);
      selections.set(r.thingName, selection);
    }
    return decideWith(selection, { thingName: r.thingName, clientId: r.clientId }, r.operation, r.prefix + r.name).allowed;
  });
}

export function selectsOfSingle(): ((t: string) => boolean)[] {
  return [(t) => t === 'myThing'];
}

export function allCases(): Workload[] {
  return [caseA(), caseB(), caseC(), caseD()];
}
