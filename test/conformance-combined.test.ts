/**
 * conformance/combined/: the Greengrass device groups and the AWS IoT Core policies of
 * one connection decided together (src/core/policy/combined.ts), through the same
 * `connectionView` the broker asks. Each case cites where its expectation comes from.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CombinedView, compileDeviceGroups, compileIotPolicies, IotPart, validateConfig, type IotDeployment } from '../src/core/index.js';
import { wellFormedVectorFiles } from './helpers/vector-files.js';

const DIR = new URL('../../conformance/combined/', import.meta.url);

interface Request {
  readonly operation: string;
  readonly resource: string;
  readonly retain?: boolean;
  readonly allowed: boolean;
  readonly reason: string;
  readonly dialect?: 'iot';
  readonly policy?: string;
  readonly statement?: string;
}

interface Case {
  readonly name: string;
  readonly source: string;
  readonly quote?: string;
  readonly configuration: unknown;
  readonly iotPolicies: Readonly<Record<string, unknown>>;
  readonly certificatePolicies: Readonly<Record<string, readonly string[]>>;
  readonly thingGroupPolicies?: Readonly<Record<string, readonly string[]>>;
  readonly thingGroups?: Readonly<Record<string, readonly string[]>>;
  readonly connection: { readonly thingName: string; readonly clientId: string; readonly certificateId: string };
  readonly requests?: readonly Request[];
  readonly receive?: readonly { readonly topic: string; readonly answer: 'allow' | 'deny' | 'none' }[];
}

interface VectorFile {
  readonly deployment: IotDeployment;
  readonly cases: readonly Case[];
}

function shapeProblems(data: unknown): string[] {
  const f = data as Partial<VectorFile> | null;
  if (typeof f !== 'object' || f === null || !Array.isArray(f.cases) || f.cases.length === 0) return ['needs a non-empty `cases` array'];
  if (typeof f.deployment !== 'object' || f.deployment === null) return ['needs a `deployment`'];
  const problems: string[] = [];
  (f.cases as readonly Partial<Case>[]).forEach((c, i) => {
    if (typeof c.name !== 'string' || typeof c.source !== 'string' || c.source === '') problems.push(`cases[${i}]: needs a name and a source`);
    if ((c.requests?.length ?? 0) + (c.receive?.length ?? 0) === 0) problems.push(`cases[${i}]: needs requests or receive checks`);
  });
  return problems;
}

const map = (o: Readonly<Record<string, readonly string[]>> | undefined): Map<string, readonly string[]> => new Map(Object.entries(o ?? {}));

function runCase(deployment: IotDeployment, c: Case): void {
  const cfg = validateConfig(c.configuration);
  if (!cfg.ok) assert.fail(`the case's configuration is invalid: ${JSON.stringify(cfg.errors)}`);
  const iot = compileIotPolicies(Object.entries(c.iotPolicies).map(([name, document]) => ({ name, document })), deployment);
  if (!iot.ok) assert.fail(`the case's IoT policies are invalid: ${JSON.stringify(iot.problems)}`);
  const part = new IotPart(iot.set, {
    certificatePolicies: map(c.certificatePolicies), thingGroupPolicies: map(c.thingGroupPolicies), thingGroups: map(c.thingGroups), thingTypes: new Map(),
  }, new Set());
  const { thingName, clientId, certificateId } = c.connection;
  const view = compileDeviceGroups(cfg.deviceGroups).withIot(part)
    .connectionView({ thingName, clientId, attributes: {} }, certificateId, { clientId, thingName, isAttached: true }, () => 0);
  const failures: string[] = [];
  for (const r of c.requests ?? []) {
    const d = r.retain === true && view instanceof CombinedView ? view.decideRetained(r.resource.replace(/^mqtt:topic:/, '')) : view.decide(r.operation, r.resource);
    const want = { allowed: r.allowed, reason: r.reason, dialect: r.dialect, ...(r.policy !== undefined ? { policy: r.policy } : {}), ...(r.statement !== undefined ? { statement: r.statement } : {}) };
    const got = { allowed: d.allowed, reason: d.reason, dialect: d.dialect, ...(r.policy !== undefined ? { policy: d.policy } : {}), ...(r.statement !== undefined ? { statement: d.statement } : {}) };
    if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${r.operation} ${r.resource}${r.retain === true ? ' (retained)' : ''}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  for (const r of c.receive ?? []) {
    const got = view instanceof CombinedView ? view.receive(r.topic) : 'none';
    if (got !== r.answer) failures.push(`receive ${r.topic}: want ${r.answer}, got ${got}`);
  }
  assert.deepEqual(failures, []);
}

for (const { file, data } of wellFormedVectorFiles<VectorFile>(DIR, 'combined/', shapeProblems)) {
  for (const c of data.cases) test(`combined/${file}: ${c.name}`, () => runCase(data.deployment, c));
}
