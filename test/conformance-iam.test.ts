/**
 * Runs the IAM identity-policy vectors in conformance/iam/*.json through the library.
 *
 * The vectors were written from the AWS IAM documentation alone (each case cites its
 * public page), without reading the engine, so a failure here means the engine and AWS
 * disagree — or, after re-reading the page, that the vector is wrong. Each file is
 * checked for shape first; then every case becomes one test: its policy documents are
 * compiled as one set (an invalid-document case must fail to compile, with a problem at
 * each expected JSON path, carrying the expected code when the case names one), and
 * every request is decided under every policy of the set and compared with the decision
 * AWS would make: allowed or not, the reason, and the deciding policy and statement
 * where the case names them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IamContext, IamRequest } from '../src/core/policy/iam/context.js';
import { compileIamPolicies } from '../src/core/policy/iam/index.js';
import { wellFormedVectorFiles } from './helpers/vector-files.js';

const DIR = new URL('../../conformance/iam/', import.meta.url);

/**
 * Evaluation time: aws:CurrentTime and aws:EpochTime for vectors whose context does not
 * give them (the cases that rely on it say so).
 */
const NOW = Date.parse('2026-06-01T12:00:00Z');

type Compiled = ReturnType<typeof compileIamPolicies>;
type IamSet = NonNullable<Extract<Compiled, { ok: true }>['set']>;
type Problem = Extract<Compiled, { ok: false }>['problems'][number];

const REASONS = ['ALLOWED_BY_STATEMENT', 'DENIED_BY_STATEMENT', 'NO_MATCHING_STATEMENT'] as const;
type Reason = (typeof REASONS)[number];

interface Expected { allowed: boolean; reason: Reason; statement?: string; policy?: string }
interface RequestVector { action: string; resource: string; expected: Expected; note?: string }

interface CaseVector {
  name: string;
  source: string;
  quote?: string;
  gatehouseChoice?: string;
  policies: unknown[];
  context?: IamContext;
  requests?: RequestVector[];
  invalid?: true;
  paths?: string[];
  code?: string;
}

interface VectorFile { description: string; cases: CaseVector[] }

const FILE_KEYS = new Set(['description', 'cases']);
const CASE_KEYS = new Set(['name', 'source', 'quote', 'gatehouseChoice', 'policies', 'context', 'requests', 'invalid', 'paths', 'code']);
const REQUEST_KEYS = new Set(['action', 'resource', 'expected', 'note']);
const EXPECTED_KEYS = new Set(['allowed', 'reason', 'statement', 'policy']);

/** The fields of IamContext and their kinds: the vectors may use exactly these. */
const CONTEXT_FIELDS: Record<string, 'string' | 'number' | 'boolean' | 'strings' | 'tags' | 'principal'> = {
  currentTime: 'string',
  epochTime: 'number',
  secureTransport: 'boolean',
  sourceIp: 'string',
  userAgent: 'string',
  principal: 'principal',
  requestTags: 'tags',
  tagKeys: 'strings',
  resourceTags: 'tags',
  multiFactorAuthPresent: 'boolean',
  multiFactorAuthAge: 'number',
  requestedRegion: 'string',
};
const PRINCIPAL_FIELDS: Record<string, 'string' | 'tags'> = { username: 'string', userid: 'string', arn: 'string', type: 'string', account: 'string', tags: 'tags' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const isTags = (v: unknown): boolean => isObject(v) && Object.values(v).every((x) => typeof x === 'string');

function contextProblems(ctx: unknown, at: string): string[] {
  if (!isObject(ctx)) return [`${at}: \`context\` must be an object (the IamContext shape)`];
  const problems: string[] = [];
  for (const [k, v] of Object.entries(ctx)) {
    const kind = CONTEXT_FIELDS[k];
    if (kind === undefined) {
      problems.push(`${at}.context: unknown field \`${k}\``);
    } else if (kind === 'principal') {
      if (!isObject(v)) {
        problems.push(`${at}.context.principal must be an object`);
        continue;
      }
      for (const [pk, pv] of Object.entries(v)) {
        const pkind = PRINCIPAL_FIELDS[pk];
        if (pkind === undefined) problems.push(`${at}.context.principal: unknown field \`${pk}\``);
        else if (pkind === 'tags' ? !isTags(pv) : typeof pv !== 'string') problems.push(`${at}.context.principal.${pk} has the wrong type`);
      }
    } else if (kind === 'tags' ? !isTags(v) : kind === 'strings' ? !(Array.isArray(v) && v.every((x) => typeof x === 'string')) : typeof v !== kind) {
      problems.push(`${at}.context.${k} has the wrong type`);
    }
  }
  return problems;
}

/** Returns every shape problem of a vector file; empty when it is well-formed. */
function shapeProblems(data: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(data)) return ['the file must contain a JSON object'];
  for (const k of Object.keys(data)) if (!FILE_KEYS.has(k)) problems.push(`unknown top-level key \`${k}\``);
  if (!nonEmpty(data['description'])) problems.push('`description` must be a non-empty string');
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
      if (c['code'] !== undefined && !(typeof c['code'] === 'string' && /^[A-Z][A-Z0-9_]+$/.test(c['code']))) problems.push(`${at}: \`code\` must be an error code`);
      if (c['requests'] !== undefined || c['context'] !== undefined) problems.push(`${at}: an invalid-document case has no context or requests`);
      return undefined;
    }
    if (c['paths'] !== undefined || c['code'] !== undefined) problems.push(`${at}: \`paths\` and \`code\` only go with \`invalid\``);
    problems.push(...contextProblems(c['context'], at));
    const reqs = c['requests'];
    if (!Array.isArray(reqs) || reqs.length === 0) return problems.push(`${at}: \`requests\` must be a non-empty list`);
    reqs.forEach((r: unknown, j) => {
      const rat = `${at}.requests[${j}]`;
      if (!isObject(r)) return problems.push(`${rat} is not an object`);
      for (const k of Object.keys(r)) if (!REQUEST_KEYS.has(k)) problems.push(`${rat}: unknown key \`${k}\``);
      if (!nonEmpty(r['action'])) problems.push(`${rat}: \`action\` must be a non-empty string`);
      if (typeof r['resource'] !== 'string' || !(r['resource'] === '*' || r['resource'].startsWith('arn:'))) {
        problems.push(`${rat}: \`resource\` must be an ARN or \`*\``);
      }
      const e = r['expected'];
      if (!isObject(e)) return problems.push(`${rat}: \`expected\` must be an object`);
      for (const k of Object.keys(e)) if (!EXPECTED_KEYS.has(k)) problems.push(`${rat}.expected: unknown key \`${k}\``);
      if (typeof e['allowed'] !== 'boolean') problems.push(`${rat}.expected: \`allowed\` must be true or false`);
      if (!REASONS.includes(e['reason'] as Reason)) problems.push(`${rat}.expected: \`reason\` must be one of ${REASONS.join(', ')}`);
      else if ((e['reason'] === 'ALLOWED_BY_STATEMENT') !== (e['allowed'] === true)) problems.push(`${rat}.expected: \`allowed\` contradicts \`reason\``);
      if (e['reason'] === 'NO_MATCHING_STATEMENT' && (e['statement'] !== undefined || e['policy'] !== undefined)) {
        problems.push(`${rat}.expected: no statement decides an implicit deny`);
      }
      if (e['statement'] !== undefined && !nonEmpty(e['statement'])) problems.push(`${rat}.expected: \`statement\` must be a Sid`);
      if (e['policy'] !== undefined && !(typeof e['policy'] === 'string' && /^policy-\d+$/.test(e['policy']))) problems.push(`${rat}.expected: \`policy\` must be policy-N`);
      return undefined;
    });
    return undefined;
  });
  return problems;
}

/** Compiles a case's documents as one set, named `policy-0`, `policy-1`, … in order. */
function compile(docs: readonly unknown[]): Compiled {
  return compileIamPolicies(docs.map((document, i) => ({ name: `policy-${i}`, document })));
}

/** True when `path` is `at` or inside it (`$.Statement[0]` covers `$.Statement[0].Effect`). */
function within(path: string, at: string): boolean {
  return path === at || path.startsWith(`${at}.`) || path.startsWith(`${at}[`);
}

const listProblems = (problems: readonly Problem[]): string =>
  problems.map((p) => `  ${p.code} at ${p.path}: ${p.message}`).join('\n') || '  (none)';

function runInvalidCase(c: CaseVector): void {
  const result = compile(c.policies);
  assert.ok(!result.ok, 'the document compiled, but it is invalid');
  const problems = result.problems;
  for (const p of problems) {
    assert.ok(nonEmpty(p.code) && nonEmpty(p.message) && nonEmpty(p.fix), `every problem has a code, a message and a fix:\n${listProblems(problems)}`);
  }
  for (const at of c.paths!) {
    assert.ok(problems.some((p) => within(p.path, at)), `no problem reported at ${at}:\n${listProblems(problems)}`);
    if (c.code !== undefined) {
      assert.ok(problems.some((p) => within(p.path, at) && p.code === c.code), `no ${c.code} reported at ${at}:\n${listProblems(problems)}`);
    }
  }
}

function describe(d: { allowed: boolean; reason: string; policy?: string | undefined; statement?: string | undefined }): string {
  const by = d.policy !== undefined ? ` by ${d.policy} statement ${d.statement ?? '?'}` : '';
  return `${d.allowed ? 'allowed' : 'denied'}, ${d.reason}${by}`;
}

function runDecisionCase(c: CaseVector): void {
  const result = compile(c.policies);
  assert.ok(result.ok, `the policies do not compile:\n${result.ok ? '' : listProblems(result.problems)}`);
  const set: IamSet = result.set;
  const failures: string[] = [];
  c.requests!.forEach((r, i) => {
    const request: IamRequest = { action: r.action, resource: r.resource };
    const d = set.decide('all', c.context!, request, NOW);
    const e = r.expected;
    const what = `requests[${i}] ${r.action} on ${r.resource}`;
    const want = describe({ ...e, ...(e.policy === undefined && e.statement !== undefined ? { policy: '(any)' } : {}) });
    const wrong =
      d.allowed !== e.allowed ||
      d.reason !== e.reason ||
      (e.statement !== undefined && d.statement !== e.statement) ||
      (e.policy !== undefined && d.policy !== e.policy) ||
      // A decision a statement made names it; the implicit deny names none.
      (e.reason !== 'NO_MATCHING_STATEMENT' && d.policy === undefined) ||
      (e.reason === 'NO_MATCHING_STATEMENT' && (d.policy !== undefined || d.statement !== undefined));
    if (wrong) failures.push(`${what}: expected ${want}; got ${describe(d)}`);
  });
  assert.deepEqual(failures, [], `decisions differ from AWS:\n  ${failures.join('\n  ')}`);
}

for (const { file, data } of wellFormedVectorFiles<VectorFile>(DIR, 'iam/', shapeProblems)) {
  for (const c of data.cases) {
    test(`iam/${file}: ${c.name}${c.gatehouseChoice !== undefined ? ' [gatehouse choice]' : ''}`, () => {
      if (c.invalid === true) runInvalidCase(c);
      else runDecisionCase(c);
    });
  }
}
