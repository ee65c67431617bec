/**
 * IoT registry bulk-read benchmark: `npm run bench:iot-registry`.
 *
 * Times `SqliteRegistry.iotAuthorizationData()`, the one read the IoT authorization
 * snapshot is built from, on a fleet-sized registry: 10,000 policies, 100,000 things
 * each with a certificate carrying one or two policies, 1,100 thing groups (100
 * hierarchies of a root and 10 children, each with a policy), every thing in one or two
 * groups, half of them with a thing type. The fixture is written with plain SQL in one
 * transaction (the API would take minutes); the read goes through the registry.
 *
 * Reports wall and CPU time of each of 5 full reads (each by a fresh registry instance:
 * an instance reuses its previous read while the change feed allows) and the load average: on a shared
 * machine wall time mostly measures the neighbours. Compare runs on the same machine.
 * Options: --policies N (default 10000), --things N (default 100000), --json.
 *
 * `--reload`: the whole reload path instead, as the gateway runs it — IotPolicyLoader
 * reading the registry, compiling and swapping the IoT part into a PolicyStore — with
 * the 10,000 varied documents of bench:decide's IoT compile case (2–6 statements,
 * variables, conditions) as the stored policies. Reports the CPU time of the first
 * reload in the process (cold), of reloads with nothing changed, and of a reload after
 * one policy's document changed.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { compileDeviceGroups, validateDeviceGroups } from '../src/core/index.js';
import { registryPath, SqliteRegistry } from '../src/identity/sqlite-registry.js';
import { createLogger } from '../src/observability/logger.js';
import { IotPolicyLoader } from '../src/runtime/iot-policies.js';
import { PolicyStore } from '../src/runtime/policy-store.js';
import { compilePolicies, IOT_DEPLOYMENT } from './iot-workload.js';

const args = process.argv.slice(2);
const num = (flag: string, fallback: number): number => Number(args[args.indexOf(flag) + 1] ?? NaN) || fallback;
const POLICIES = Math.max(1100, num('--policies', 10_000));
const THINGS = num('--things', 100_000);
const JSON_OUT = args.includes('--json');
const RELOAD = args.includes('--reload');
/** The compile case's documents, when timing the whole reload path. */
const VARIED = RELOAD ? compilePolicies().map((p) => p.document) : undefined;
const ROOTS = 100;
const CHILDREN = 10;

function document(i: number): string {
  if (VARIED !== undefined) return VARIED[i % VARIED.length]!;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `arn:aws:iot:us-east-1:123456789012:topic/fleet/${i}/\${iot:Connection.Thing.ThingName}/*` }],
  }, null, 2);
}

/** Writes the fixture into a registry file that has the current schema. */
function build(file: string): number {
  const db = new Database(file);
  db.pragma('foreign_keys = ON');
  const t0 = performance.now();
  db.transaction(() => {
    const policy = db.prepare('INSERT INTO iot_policies (name, default_version, next_version, created_at, updated_at) VALUES (?, 1, 2, 0, 0)');
    const version = db.prepare('INSERT INTO iot_policy_versions (policy_name, version, document, created_at) VALUES (?, 1, ?, 0)');
    for (let i = 0; i < POLICIES; i++) {
      policy.run(`policy-${i}`);
      version.run(`policy-${i}`, document(i));
    }
    const group = db.prepare('INSERT INTO thing_groups (name, parent, description, created_at) VALUES (?, ?, NULL, 0)');
    const groupPolicy = db.prepare('INSERT INTO iot_policy_group_attachments (group_name, policy_name, attached_at) VALUES (?, ?, 0)');
    for (let r = 0; r < ROOTS; r++) {
      group.run(`root-${r}`, null);
      groupPolicy.run(`root-${r}`, `policy-${r}`);
      for (let c = 0; c < CHILDREN; c++) {
        group.run(`g-${r}-${c}`, `root-${r}`);
        groupPolicy.run(`g-${r}-${c}`, `policy-${ROOTS + r * CHILDREN + c}`);
      }
    }
    const thing = db.prepare('INSERT INTO things (name, created_at) VALUES (?, 0)');
    const cert = db.prepare("INSERT INTO certificates (id, pem, status, subject, issuer_subject, issuer_id, serial_number, not_before, not_after, created_at, status_updated_at) VALUES (?, 'x', 'ACTIVE', 's', 'i', NULL, '01', 0, 1, 0, 0)");
    const attach = db.prepare('INSERT INTO attachments (thing_name, certificate_id, attached_at) VALUES (?, ?, 0)');
    const certPolicy = db.prepare('INSERT INTO iot_policy_certificate_attachments (certificate_id, policy_name, attached_at) VALUES (?, ?, 0)');
    const member = db.prepare('INSERT INTO thing_group_members (thing_name, group_name, added_at) VALUES (?, ?, 0)');
    const declareType = db.prepare('INSERT INTO thing_type_defs (name, created_at) VALUES (?, 0)');
    for (let i = 0; i < 20; i++) declareType.run(`Type${i}`);
    const type = db.prepare('INSERT INTO thing_types (thing_name, type_name) VALUES (?, ?)');
    for (let i = 0; i < THINGS; i++) {
      const name = `thing-${i}`;
      const id = createHash('sha256').update(name).digest('hex');
      thing.run(name);
      cert.run(id);
      attach.run(name, id);
      certPolicy.run(id, `policy-${i % POLICIES}`);
      if (i % 3 === 0) certPolicy.run(id, `policy-${(i * 7 + 1) % POLICIES}`);
      const r = i % ROOTS;
      member.run(name, `g-${r}-${i % CHILDREN}`);
      if (i % 5 === 0) member.run(name, `root-${(r + 1) % ROOTS}`);
      if (i % 2 === 0) type.run(name, `Type${i % 20}`);
    }
  })();
  db.close();
  return performance.now() - t0;
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-iot-'));
try {
  const file = registryPath(dir);
  await SqliteRegistry.open({ file }).close();
  const buildMs = build(file);
  const registry = SqliteRegistry.open({ file });
  if (RELOAD) {
    await reloadPath(registry);
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  const runs: { wallMs: number; cpuMs: number }[] = [];
  let sizes: Record<string, number> = {};
  for (let k = 0; k < 5; k++) {
    // A registry instance keeps its last read and reuses it while nothing changed: a
    // fresh instance per run times the full read.
    const reader = k === 0 ? registry : SqliteRegistry.open({ file });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const data = await reader.iotAuthorizationData();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    runs.push({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000 });
    if (reader !== registry) await reader.close();
    sizes = { policies: data.policies.length, certificates: data.certificatePolicies.size, groupsWithPolicies: data.thingGroupPolicies.size, thingsInGroups: data.thingGroups.size, thingTypes: data.thingTypes.size };
  }
  await registry.close();
  const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
  const result = {
    policies: POLICIES, things: THINGS, fixtureMs: Math.round(buildMs), sizes,
    wallMs: runs.map((r) => Math.round(r.wallMs)), cpuMs: runs.map((r) => Math.round(r.cpuMs)),
    minWallMs: Math.round(sorted(runs.map((r) => r.wallMs))[0]!), medianCpuMs: Math.round(sorted(runs.map((r) => r.cpuMs))[2]!),
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  };
  if (JSON_OUT) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(`iotAuthorizationData on ${POLICIES} policies, ${THINGS} things (fixture written in ${result.fixtureMs} ms)\n`);
    process.stdout.write(`  wall ms: ${result.wallMs.join(' ')} (min ${result.minWallMs})\n  cpu ms:  ${result.cpuMs.join(' ')} (median ${result.medianCpuMs})\n`);
    process.stdout.write(`  read: ${JSON.stringify(sizes)}\n  load average: ${result.loadavg.join(' ')}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** The whole reload path: IotPolicyLoader over the registry, as in the gateway. */
async function reloadPath(registry: SqliteRegistry): Promise<void> {
  const groups = validateDeviceGroups({ formatVersion: '2021-03-05', definitions: {}, policies: {} });
  if (!groups.ok) throw new Error('unreachable');
  const store = new PolicyStore(compileDeviceGroups(groups.deviceGroups));
  const lines: { event?: string; reused?: number; compileMilliseconds?: number }[] = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
  const loader = new IotPolicyLoader(() => registry.iotAuthorizationData(), store, logger, IOT_DEPLOYMENT);
  const timed = async (): Promise<{ cpuMs: number; wallMs: number; reused: number }> => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await loader.reload('bench');
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const last = lines.filter((l) => l.event === 'iot-policies-applied').at(-1);
    if (last === undefined || store.current.iot === undefined) throw new Error(`reload failed: ${JSON.stringify(lines.slice(-3))}`);
    return { cpuMs: Math.round((cpu.user + cpu.system) / 1000), wallMs: Math.round(wallMs), reused: last.reused ?? -1 };
  };
  const cold = await timed();
  const unchanged = [await timed(), await timed(), await timed()];
  // One policy gets a new default version (as `policies create-version --set-as-default`).
  await registry.createPolicyVersion('policy-0', VARIED![1]!, { setAsDefault: true });
  const oneChanged = await timed();
  // One certificate gets one more policy: the attachment maps are read again.
  const [certificateId] = (await registry.iotAuthorizationData()).certificatePolicies.keys();
  await registry.attachPolicy('policy-5', { kind: 'certificate', certificateId: certificateId! });
  const attached = await timed();
  // One thing joins a group (its groups with their ancestors are read again).
  await registry.addThingToGroup('root-5', 'thing-1');
  const joined = await timed();
  await registry.close();
  const result = { policies: POLICIES, things: THINGS, cold, unchanged, oneChanged, attached, joined, loadavg: loadavg().map((x) => Number(x.toFixed(2))) };
  if (JSON_OUT) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(`reload path (registry read + compile + IoT part) on ${POLICIES} varied policies, ${THINGS} things\n`);
    process.stdout.write(`  cold (first reload):   ${cold.cpuMs} ms CPU, ${cold.wallMs} ms wall\n`);
    process.stdout.write(`  nothing changed:       ${unchanged.map((u) => u.cpuMs).join(' ')} ms CPU (${unchanged[0]!.reused} policies reused)\n`);
    process.stdout.write(`  one document changed:  ${oneChanged.cpuMs} ms CPU, ${oneChanged.wallMs} ms wall (${oneChanged.reused} reused)\n`);
    process.stdout.write(`  one policy attached:   ${attached.cpuMs} ms CPU, ${attached.wallMs} ms wall (${attached.reused} reused)\n`);
    process.stdout.write(`  one thing joins a group: ${joined.cpuMs} ms CPU, ${joined.wallMs} ms wall (${joined.reused} reused)\n`);
    process.stdout.write(`  load average: ${result.loadavg.join(' ')}\n`);
  }
}
