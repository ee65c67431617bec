/**
 * Runs the AWS IoT Core policy vectors in conformance/iot/*.json through the library.
 *
 * The vectors were written from the AWS documentation alone (each case cites its public
 * page), so a failure here means the engine and AWS disagree — or, after re-reading the
 * page, that the vector is wrong. Each file is checked for shape first; then every case
 * becomes one test: its policy documents are loaded (an invalid-document case must fail
 * to load, with a problem at each expected JSON path), and every request is decided
 * against the case's context and compared with the decision AWS would make.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IotContext, IotDeployment, IotPolicyProblem, IotRequest } from '../src/core/policy/iot/context.js';
import { compileIotPolicies, type IotPolicySet } from '../src/core/policy/iot/index.js';
import { wellFormedVectorFiles } from './helpers/vector-files.js';

const DIR = new URL('../../conformance/iot/', import.meta.url);

const DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
const ARN_PREFIX = `arn:${DEPLOYMENT.partition}:iot:${DEPLOYMENT.region}:${DEPLOYMENT.accountId}:`;

/** Evaluation time for vectors without `currentTime` (none of them depends on it). */
const NOW = Date.parse('2026-06-01T12:00:00Z');

type LoadResult = { ok: true; set: IotPolicySet } | { ok: false; problems: readonly IotPolicyProblem[] };

/** Loads a case's documents as one policy set, named `policy-0`, `policy-1`, … in order. */
function loadPolicies(docs: readonly unknown[]): LoadResult {
  const result = compileIotPolicies(docs.map((document, i) => ({ name: `policy-${i}`, document })), DEPLOYMENT);
  return result.ok ? { ok: true, set: result.set } : { ok: false, problems: result.problems };
}

/** Decides one request under every policy of the set. */
function decide(set: IotPolicySet, ctx: IotContext, request: IotRequest): { allowed: boolean; namesStatement: boolean; detail: string } {
  const d = set.decide('all', ctx, request, NOW);
  const by = d.policy !== undefined ? ` by ${d.policy} statement ${d.statement ?? '?'}` : '';
  return { allowed: d.allowed, namesStatement: d.policy !== undefined && d.statement !== undefined, detail: `${d.reason}${by}, action ${d.action}` };
}

interface RequestVector { action: string; resource: string; retain?: boolean; allowed: boolean }

interface CaseVector {
  name: string;
  source: string;
  quote?: string;
  gatehouseChoice?: string;
  policies: unknown[];
  context?: IotContext;
  requests?: RequestVector[];
  invalid?: true;
  paths?: string[];
}

interface VectorFile { description: string; deployment: IotDeployment; cases: CaseVector[] }

const FILE_KEYS = new Set(['description', 'deployment', 'cases']);
const CASE_KEYS = new Set(['name', 'source', 'quote', 'gatehouseChoice', 'policies', 'context', 'requests', 'invalid', 'paths']);
const REQUEST_KEYS = new Set(['action', 'resource', 'retain', 'allowed']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/** Returns every shape problem of a vector file; empty when it is well-formed. */
function shapeProblems(data: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(data)) return ['the file must contain a JSON object'];
  for (const k of Object.keys(data)) if (!FILE_KEYS.has(k)) problems.push(`unknown top-level key \`${k}\``);
  if (!nonEmpty(data['description'])) problems.push('`description` must be a non-empty string');
  const dep = data['deployment'];
  if (!isObject(dep) || dep['partition'] !== DEPLOYMENT.partition || dep['region'] !== DEPLOYMENT.region || dep['accountId'] !== DEPLOYMENT.accountId) {
    problems.push(`\`deployment\` must be ${JSON.stringify(DEPLOYMENT)}`);
  }
  const cases = data['cases'];
  if (!Array.isArray(cases) || cases.length === 0) return [...problems, '`cases` must be a non-empty list'];
  const seen = new Set<string>();
  cases.forEach((c: unknown, i) => {
    const at = `cases[${i}]`;
    if (!isObject(c)) return problems.push(`${at} is not an object`);
    for (const k of Object.keys(c)) if (!CASE_KEYS.has(k)) problems.push(`${at}: unknown key \`${k}\``);
    if (!nonEmpty(c['name'])) problems.push(`${at}: \`name\` must be a non-empty string`);
    else if (seen.has(c['name'])) problems.push(`${at}: duplicate name \`${c['name']}\``);
    else seen.add(c['name']);
    if (typeof c['source'] !== 'string' || !c['source'].startsWith('https://docs.aws.amazon.com/')) {
      problems.push(`${at}: \`source\` must be the URL of a public AWS documentation page`);
    }
    if (c['quote'] !== undefined && (!nonEmpty(c['quote']) || c['quote'].trim().split(/\s+/).length > 20)) {
      problems.push(`${at}: \`quote\` must be a fragment of at most 20 words`);
    }
    if (c['gatehouseChoice'] !== undefined && !nonEmpty(c['gatehouseChoice'])) problems.push(`${at}: \`gatehouseChoice\` must be a non-empty string`);
    if (!Array.isArray(c['policies'])) problems.push(`${at}: \`policies\` must be a list of policy documents`);
    if (c['invalid'] !== undefined) {
      if (c['invalid'] !== true) problems.push(`${at}: \`invalid\` must be true when present`);
      if (Array.isArray(c['policies']) && c['policies'].length !== 1) problems.push(`${at}: an invalid-document case holds exactly one policy`);
      const paths = c['paths'];
      if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.startsWith('$'))) {
        problems.push(`${at}: \`paths\` must be a non-empty list of JSON paths`);
      }
      if (c['requests'] !== undefined || c['context'] !== undefined) problems.push(`${at}: an invalid-document case has no context or requests`);
      return undefined;
    }
    if (c['paths'] !== undefined) problems.push(`${at}: \`paths\` only goes with \`invalid\``);
    const ctx = c['context'];
    if (!isObject(ctx) || typeof ctx['clientId'] !== 'string' || !(ctx['thingName'] === null || typeof ctx['thingName'] === 'string')) {
      problems.push(`${at}: \`context\` must be an object with \`clientId\` and \`thingName\``);
    }
    const reqs = c['requests'];
    if (!Array.isArray(reqs) || reqs.length === 0) return problems.push(`${at}: \`requests\` must be a non-empty list`);
    reqs.forEach((r: unknown, j) => {
      const rat = `${at}.requests[${j}]`;
      if (!isObject(r)) return problems.push(`${rat} is not an object`);
      for (const k of Object.keys(r)) if (!REQUEST_KEYS.has(k)) problems.push(`${rat}: unknown key \`${k}\``);
      if (!nonEmpty(r['action'])) problems.push(`${rat}: \`action\` must be a non-empty string`);
      if (typeof r['resource'] !== 'string' || !(r['resource'] === '*' || r['resource'].startsWith(ARN_PREFIX))) {
        problems.push(`${rat}: \`resource\` must be an ARN in the vectors' deployment`);
      }
      if (r['retain'] !== undefined && typeof r['retain'] !== 'boolean') problems.push(`${rat}: \`retain\` must be true or false`);
      if (typeof r['allowed'] !== 'boolean') problems.push(`${rat}: \`allowed\` must be true or false`);
      return undefined;
    });
    return undefined;
  });
  return problems;
}

/** True when `path` is `at` or inside it (`$.Statement[0]` covers `$.Statement[0].Effect`). */
function within(path: string, at: string): boolean {
  return path === at || path.startsWith(`${at}.`) || path.startsWith(`${at}[`);
}

const listProblems = (problems: readonly IotPolicyProblem[]): string =>
  problems.map((p) => `  ${p.code} at ${p.path}: ${p.message}`).join('\n') || '  (none)';

function runInvalidCase(c: CaseVector): void {
  const result = loadPolicies(c.policies);
  assert.ok(!result.ok, 'the document loaded, but it is invalid');
  const problems = result.problems;
  for (const p of problems) {
    assert.ok(nonEmpty(p.code) && nonEmpty(p.message) && nonEmpty(p.fix), `every problem has a code, a message and a fix:\n${listProblems(problems)}`);
  }
  for (const at of c.paths!) {
    assert.ok(problems.some((p) => within(p.path, at)), `no problem reported at ${at}:\n${listProblems(problems)}`);
  }
}

function runDecisionCase(c: CaseVector): void {
  const result = loadPolicies(c.policies);
  assert.ok(result.ok, `the policies do not load:\n${result.ok ? '' : listProblems(result.problems)}`);
  const failures: string[] = [];
  c.requests!.forEach((r, i) => {
    const request: IotRequest = { action: r.action, resource: r.resource, ...(r.retain !== undefined ? { retain: r.retain } : {}) };
    const d = decide(result.set, c.context!, request);
    const what = `requests[${i}] ${r.action} ${r.resource}${r.retain === true ? ' (retain)' : ''}`;
    if (d.allowed !== r.allowed) {
      failures.push(`${what}: expected ${r.allowed ? 'allowed' : 'denied'}, got ${d.allowed ? 'allowed' : 'denied'} (${d.detail})`);
    } else if (d.allowed && !d.namesStatement) {
      failures.push(`${what}: an Allow must name the deciding policy and statement (${d.detail})`);
    }
  });
  assert.deepEqual(failures, [], `decisions differ from AWS:\n  ${failures.join('\n  ')}`);
}

for (const { file, data } of wellFormedVectorFiles<VectorFile>(DIR, 'iot/', shapeProblems)) {
  for (const c of data.cases) {
    test(`iot/${file}: ${c.name}${c.gatehouseChoice !== undefined ? ' [gatehouse choice]' : ''}`, () => {
      if (c.invalid === true) runInvalidCase(c);
      else runDecisionCase(c);
    });
  }
}
