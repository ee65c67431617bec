/**
 * Runs the decision vectors in conformance/*.json through the library.
 *
 * Each file is checked for shape first (a malformed file, or one without cases, is a
 * failing test). Then every case becomes one test: its configuration is validated
 * (from the object with validateConfig, or from text with parseConfig), and either
 * the expected errors are compared, or the configuration is compiled and every
 * request is decided with snapshot.decide() and snapshot.explain(), asserting every
 * field the vector gives.
 *
 * A vector may carry `knownDeviation`: the expectation states what the specification
 * or the documentation requires, and the code currently does something else. Such a
 * vector must fail its assertion; the test passes while it does, and fails as soon as
 * the code conforms, so that the marker gets removed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DECISION_REASONS, compileDeviceGroups, parseConfig, validateConfig,
  type ConfigIssue, type PolicySnapshot, type Principal, type ValidationResult,
} from '../src/index.js';
import { wellFormedVectorFiles } from './helpers/vector-files.js';

const DIR = new URL('../../conformance/', import.meta.url);

/** Decision reasons: the library's one list. */
const REASONS: readonly string[] = DECISION_REASONS;

interface IssueExpectation { code: string; path: string; line?: number }

interface RequestVector {
  thingName: string;
  clientId?: string;
  attributes?: Record<string, string>;
  operation: string;
  resource: string;
  allowed: boolean;
  reason: string;
  group?: string | null;
  policy?: string | null;
  statement?: string | null;
  resourcePattern?: string;
  groups?: string[];
  note?: string;
  knownDeviation?: string;
}

interface CaseVector {
  description: string;
  source: string;
  configuration?: unknown;
  configurationText?: string;
  format?: 'yaml' | 'json';
  requests?: RequestVector[];
  expectErrors?: IssueExpectation[];
  expectWarnings?: IssueExpectation[];
  knownDeviation?: string;
}

interface VectorFile { description?: string; cases: CaseVector[] }

const CASE_KEYS = new Set(['description', 'source', 'configuration', 'configurationText', 'format', 'requests', 'expectErrors', 'expectWarnings', 'knownDeviation']);
const REQUEST_KEYS = new Set(['thingName', 'clientId', 'attributes', 'operation', 'resource', 'allowed', 'reason', 'group', 'policy', 'statement',
  'resourcePattern', 'groups', 'note', 'knownDeviation']);
const ISSUE_KEYS = new Set(['code', 'path', 'line']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/** Returns every shape problem of a vector file; empty when it is well-formed. */
function shapeProblems(data: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(data)) return ['the file must contain a JSON object'];
  for (const k of Object.keys(data)) if (k !== 'description' && k !== 'cases') problems.push(`unknown top-level key \`${k}\``);
  if (data['description'] !== undefined && !isString(data['description'])) problems.push('`description` must be a string');
  const cases = data['cases'];
  if (!Array.isArray(cases)) return [...problems, '`cases` must be a list'];
  if (cases.length === 0) problems.push('`cases` is empty');
  const seen = new Set<string>();
  cases.forEach((c: unknown, i) => {
    const at = `cases[${i}]`;
    if (!isObject(c)) {
      problems.push(`${at} is not an object`);
      return;
    }
    for (const k of Object.keys(c)) if (!CASE_KEYS.has(k)) problems.push(`${at}: unknown key \`${k}\``);
    if (!nonEmpty(c['description'])) problems.push(`${at}: \`description\` must be a non-empty string`);
    else if (seen.has(c['description'])) problems.push(`${at}: duplicate description \`${c['description']}\``);
    else seen.add(c['description']);
    if (!nonEmpty(c['source'])) problems.push(`${at}: \`source\` must be a non-empty string`);
    const hasObject = 'configuration' in c;
    const hasText = 'configurationText' in c;
    if (hasObject === hasText) problems.push(`${at}: give exactly one of \`configuration\` and \`configurationText\``);
    if (hasText && !isString(c['configurationText'])) problems.push(`${at}: \`configurationText\` must be a string`);
    if (hasText && c['format'] !== 'yaml' && c['format'] !== 'json') problems.push(`${at}: \`format\` must be "yaml" or "json" with \`configurationText\``);
    if (!hasText && c['format'] !== undefined) problems.push(`${at}: \`format\` only goes with \`configurationText\``);
    if (hasObject && !hasText && c['requests'] !== undefined && !isObject(c['configuration'])) problems.push(`${at}: \`configuration\` must be an object`);
    if (hasObject && isObject(c['configuration']) && c['requests'] !== undefined && !('deviceGroups' in c['configuration'])) {
      problems.push(`${at}: \`configuration\` must contain \`deviceGroups\``);
    }
    if (c['knownDeviation'] !== undefined && !nonEmpty(c['knownDeviation'])) problems.push(`${at}: \`knownDeviation\` must be a non-empty string`);
    const hasRequests = c['requests'] !== undefined;
    const hasErrors = c['expectErrors'] !== undefined;
    if (hasRequests === hasErrors) problems.push(`${at}: give exactly one of \`requests\` and \`expectErrors\``);
    for (const key of ['expectErrors', 'expectWarnings'] as const) {
      const list = c[key];
      if (list === undefined) continue;
      if (!Array.isArray(list)) {
        problems.push(`${at}: \`${key}\` must be a list`);
        continue;
      }
      list.forEach((e: unknown, j) => {
        const eat = `${at}.${key}[${j}]`;
        if (!isObject(e)) return problems.push(`${eat} is not an object`);
        for (const k of Object.keys(e)) if (!ISSUE_KEYS.has(k)) problems.push(`${eat}: unknown key \`${k}\``);
        if (!nonEmpty(e['code'])) problems.push(`${eat}: \`code\` must be a non-empty string`);
        if (!isString(e['path'])) problems.push(`${eat}: \`path\` must be a string`);
        if (e['line'] !== undefined && !Number.isInteger(e['line'])) problems.push(`${eat}: \`line\` must be an integer`);
        return undefined;
      });
    }
    if (hasRequests) {
      const reqs = c['requests'];
      if (!Array.isArray(reqs) || reqs.length === 0) {
        problems.push(`${at}: \`requests\` must be a non-empty list`);
        return;
      }
      reqs.forEach((r: unknown, j) => {
        const rat = `${at}.requests[${j}]`;
        if (!isObject(r)) return problems.push(`${rat} is not an object`);
        for (const k of Object.keys(r)) if (!REQUEST_KEYS.has(k)) problems.push(`${rat}: unknown key \`${k}\``);
        for (const k of ['thingName', 'operation', 'resource'] as const) if (!isString(r[k])) problems.push(`${rat}: \`${k}\` must be a string`);
        if (r['clientId'] !== undefined && !isString(r['clientId'])) problems.push(`${rat}: \`clientId\` must be a string`);
        if (r['attributes'] !== undefined && (!isObject(r['attributes']) || !Object.values(r['attributes']).every(isString))) {
          problems.push(`${rat}: \`attributes\` must be an object of strings`);
        }
        if (typeof r['allowed'] !== 'boolean') problems.push(`${rat}: \`allowed\` must be true or false`);
        if (!isString(r['reason']) || !REASONS.includes(r['reason'])) problems.push(`${rat}: \`reason\` must be one of ${REASONS.join(', ')}`);
        else if ((r['reason'] === 'ALLOWED_BY_STATEMENT') !== (r['allowed'] === true)) problems.push(`${rat}: \`allowed\` contradicts \`reason\``);
        for (const k of ['group', 'policy', 'statement'] as const) {
          if (r[k] !== undefined && r[k] !== null && !isString(r[k])) problems.push(`${rat}: \`${k}\` must be a string or null`);
        }
        if (r['resourcePattern'] !== undefined && !isString(r['resourcePattern'])) problems.push(`${rat}: \`resourcePattern\` must be a string`);
        if (r['groups'] !== undefined && (!Array.isArray(r['groups']) || !r['groups'].every(isString))) problems.push(`${rat}: \`groups\` must be a list of strings`);
        if (r['note'] !== undefined && !isString(r['note'])) problems.push(`${rat}: \`note\` must be a string`);
        if (r['knownDeviation'] !== undefined && !nonEmpty(r['knownDeviation'])) problems.push(`${rat}: \`knownDeviation\` must be a non-empty string`);
        return undefined;
      });
    }
  });
  return problems;
}

function validate(c: CaseVector): ValidationResult {
  return c.configurationText !== undefined ? parseConfig(c.configurationText, c.format) : validateConfig(c.configuration);
}

/** Order-insensitive comparison of issues by code, path and (when expected) line. */
function assertIssues(kind: string, actual: readonly ConfigIssue<string>[], expected: readonly IssueExpectation[]): void {
  const key = (i: { code: string; path: string; line?: number | undefined }, withLine: boolean): string =>
    `${i.code} at ${i.path === '' ? '(file)' : i.path}${withLine && i.line !== undefined ? ` line ${i.line}` : ''}`;
  const wantsLine = expected.some((e) => e.line !== undefined);
  const got = actual.map((i) => key(i, wantsLine)).sort();
  const want = expected.map((e) => key(e, wantsLine)).sort();
  assert.deepEqual(got, want, `${kind} differ:\n${actual.map((i) => `  ${i.code} at ${i.path}: ${i.message}`).join('\n') || '  (none)'}`);
}

function checkRequest(snapshot: PolicySnapshot, r: RequestVector): void {
  const principal: Principal = {
    thingName: r.thingName,
    ...(r.clientId !== undefined ? { clientId: r.clientId } : {}),
    ...(r.attributes !== undefined ? { attributes: r.attributes } : {}),
  };
  const what = `${JSON.stringify(r.thingName)} ${r.operation} ${JSON.stringify(r.resource)}`;
  const d = snapshot.decide(principal, r.operation, r.resource);
  assert.equal(d.allowed, r.allowed, `${what}: allowed (reason ${d.reason})`);
  assert.equal(d.reason, r.reason, `${what}: reason`);
  for (const k of ['group', 'policy', 'statement'] as const) {
    if (r[k] !== undefined) assert.equal(d[k] ?? null, r[k], `${what}: ${k}`);
  }
  if (r.resourcePattern !== undefined) assert.equal(d.resourcePattern, r.resourcePattern, `${what}: resourcePattern`);
  // A decision that no statement made names no statement.
  if (d.reason !== 'ALLOWED_BY_STATEMENT' && d.reason !== 'DENIED_BY_STATEMENT') {
    assert.equal(d.statement, undefined, `${what}: ${d.reason} must not name a statement`);
  } else {
    assert.ok(d.group !== undefined && d.policy !== undefined && d.statement !== undefined, `${what}: a statement decision names group, policy and statement`);
  }

  const ex = snapshot.explain(principal, r.operation, r.resource);
  for (const k of ['allowed', 'reason', 'group', 'policy', 'statement', 'resourcePattern'] as const) {
    assert.equal(ex[k], d[k], `${what}: explain().${k} differs from decide()`);
  }
  assert.equal(ex.thingName, r.thingName);
  assert.equal(ex.clientId, r.clientId ?? r.thingName);
  assert.equal(ex.operation, r.operation);
  assert.equal(ex.resource, r.resource);
  assert.ok(ex.message.startsWith(d.allowed ? 'allowed' : 'denied'), `${what}: explain().message ${JSON.stringify(ex.message)}`);
  if (d.statement !== undefined) {
    const first = ex.matches[0];
    assert.ok(first, `${what}: explain() lists no matching statement`);
    assert.deepEqual([first.group, first.policy, first.statement, first.effect], [d.group, d.policy, d.statement, d.allowed ? 'ALLOW' : 'DENY'],
      `${what}: the deciding statement comes first in explain().matches`);
  }
  if (r.groups !== undefined) {
    assert.deepEqual(ex.groups.map((g) => g.name).sort(), [...r.groups].sort(), `${what}: selecting groups`);
  }
}

/** Runs `check`; with a known deviation it must fail, and passing is reported as an error. */
function expectOutcome(deviation: string | undefined, what: string, check: () => void): void {
  if (deviation === undefined) {
    check();
    return;
  }
  let failed = false;
  try {
    check();
  } catch {
    failed = true;
  }
  assert.ok(failed, `${what} is marked knownDeviation (${deviation}) but now conforms: remove the marker`);
}

function runCase(c: CaseVector): void {
  const result = validate(c);
  if (c.expectErrors !== undefined) {
    expectOutcome(c.knownDeviation, 'this case', () => {
      assertIssues('errors', result.ok ? [] : result.errors, c.expectErrors!);
      if (c.expectWarnings !== undefined) assertIssues('warnings', result.warnings, c.expectWarnings);
    });
    return;
  }
  assert.ok(result.ok, `the configuration is invalid:\n${result.ok ? '' : result.errors.map((e) => `  ${e.code} at ${e.path}: ${e.message}`).join('\n')}`);
  if (c.expectWarnings !== undefined) assertIssues('warnings', result.warnings, c.expectWarnings);
  const snapshot = compileDeviceGroups(result.deviceGroups);
  c.requests!.forEach((r, i) => {
    expectOutcome(r.knownDeviation ?? c.knownDeviation, `requests[${i}]`, () => checkRequest(snapshot, r));
  });
}

for (const { file, data } of wellFormedVectorFiles<VectorFile>(DIR, '', shapeProblems)) {
  for (const c of data.cases) {
    const deviation = c.knownDeviation ?? c.requests?.find((r) => r.knownDeviation !== undefined)?.knownDeviation;
    test(`${file}: ${c.description}${deviation !== undefined ? ' [known deviation]' : ''}`, () => runCase(c));
  }
}
