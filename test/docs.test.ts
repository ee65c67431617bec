/**
 * Keeps the user documentation in step with the code: every error, warning, CLI
 * and decision-reason code is documented in docs/errors.md, every configuration
 * key in docs/configuration.md, and links between the docs resolve.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_CODES, DECISION_REASONS, WARNING_CODES, InvalidConfigError } from '../src/index.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');

/** Codes the CLI prints (src/cli), plus the code carried by InvalidConfigError. */
const CLI_CODES = ['USAGE', 'FILE_UNREADABLE', 'REQUEST_LINE_INVALID', 'INTERNAL', 'CONFIG_INVALID'] as const;

const errorsDoc = read('docs/errors.md');

/** True when the code has its own `###` heading or starts a table row in the text. */
function documented(doc: string, code: string): boolean {
  const headings = new RegExp(`^#{2,4} \`?${code}\`?\\s*$`, 'm');
  const row = new RegExp(`^\\| \`?${code}\`? \\|`, 'm');
  return headings.test(doc) || row.test(doc);
}

test('every configuration error code is documented in docs/errors.md', () => {
  assert.ok(CONFIG_CODES.length > 0);
  const missing = CONFIG_CODES.filter((c) => !documented(errorsDoc, c));
  assert.deepEqual(missing, [], `add a heading or table row for: ${missing.join(', ')}`);
});

test('every configuration warning code is documented in docs/errors.md', () => {
  assert.ok(WARNING_CODES.length > 0);
  const missing = WARNING_CODES.filter((c) => !documented(errorsDoc, c));
  assert.deepEqual(missing, [], `add a heading or table row for: ${missing.join(', ')}`);
});

test('the decision-reasons section of docs/errors.md lists exactly DECISION_REASONS', () => {
  const start = errorsDoc.indexOf('\n## Decision reasons');
  assert.ok(start >= 0, 'docs/errors.md has no "## Decision reasons" section');
  const next = errorsDoc.indexOf('\n## ', start + 1);
  const section = errorsDoc.slice(start, next < 0 ? undefined : next);
  const headings = [...section.matchAll(/^### `?([A-Z][A-Z_]+)`?\s*$/gm)].map((m) => m[1]!);
  assert.deepEqual(headings, [...DECISION_REASONS], 'one ### heading per reason, in the order of DECISION_REASONS in src/core/policy/model.ts');
});

test('every decision reason is documented in docs/errors.md', () => {
  const missing = DECISION_REASONS.filter((c) => !documented(errorsDoc, c));
  assert.deepEqual(missing, [], `add a heading or table row for: ${missing.join(', ')}`);
});

test('every CLI code is used by the code and documented in docs/errors.md', () => {
  const cliSource = ['authorize.ts', 'config-validate.ts', 'json-lines.ts', 'main.ts', 'output.ts', 'program.ts']
    .map((f) => read(`src/cli/${f}`)).join('\n') + read('src/config-file.ts');
  for (const code of CLI_CODES) {
    if (code === 'CONFIG_INVALID') assert.equal(new InvalidConfigError([]).code, code);
    else assert.ok(cliSource.includes(`'${code}'`) || cliSource.includes(`error ${code}:`), `${code} does not appear in src/cli`);
    assert.ok(documented(errorsDoc, code), `${code} has no heading or table row in docs/errors.md`);
  }
});

test('docs/errors.md documents no code that does not exist', () => {
  const known = new Set<string>([...CONFIG_CODES, ...WARNING_CODES, ...DECISION_REASONS, ...CLI_CODES]);
  const headings = [...errorsDoc.matchAll(/^#{3} `?([A-Z][A-Z_]+)`?\s*$/gm)].map((m) => m[1]!);
  const stale = headings.filter((h) => !known.has(h));
  assert.deepEqual(stale, []);
});

/** Every configuration key, as a dotted path; the last segment must appear in the validator. */
const CONFIG_KEYS = [
  'deviceGroups', 'deviceGroups.formatVersion', 'deviceGroups.definitions', 'deviceGroups.policies',
  'selectionRule', 'policyName', 'statementDescription', 'effect', 'operations', 'resources',
  'certificates.serverCertificateValiditySeconds', 'certificates.clientCertificateValiditySeconds', 'certificates.disableCertificateRotation',
  'performance.maxActiveAuthTokens', 'performance.cloudRequestQueueSize', 'performance.maxConcurrentCloudRequests',
  'certificateAuthority.certificateUri', 'certificateAuthority.privateKeyUri', 'certificateAuthority.certificateChainUri', 'certificateAuthority.caType',
  'ca_type',
  'security.clientDeviceTrustDurationMinutes',
  'metrics.disableMetrics', 'metrics.aggregatePeriodSeconds',
  'startupTimeoutSeconds',
  'gatehouse.dataDir', 'gatehouse.hostAddresses', 'gatehouse.detectInterfaceAddresses', 'gatehouse.watchConfig',
  'gatehouse.mqtt.host', 'gatehouse.mqtt.port',
  'gatehouse.mqtt.websocket.enabled', 'gatehouse.mqtt.websocket.host', 'gatehouse.mqtt.websocket.port', 'gatehouse.mqtt.websocket.path',
  'gatehouse.api.enabled', 'gatehouse.api.host', 'gatehouse.api.port', 'gatehouse.api.socketPath', 'gatehouse.api.bodyLimitBytes',
  'gatehouse.management.enabled', 'gatehouse.management.host', 'gatehouse.management.port', 'gatehouse.management.bodyLimitBytes',
  'gatehouse.management.maxClockSkewSeconds', 'gatehouse.management.auditRetentionDays',
  'gatehouse.dataPlane.enabled', 'gatehouse.dataPlane.host', 'gatehouse.dataPlane.port', 'gatehouse.dataPlane.bodyLimitBytes',
  'gatehouse.shadows.enabled', 'gatehouse.shadows.maxDocumentSizeBytes',
  'gatehouse.logging.level',
  'gatehouse.sync.aws.enabled', 'gatehouse.sync.aws.region', 'gatehouse.sync.aws.profile', 'gatehouse.sync.aws.endpoint', 'gatehouse.sync.aws.caBundle',
  'gatehouse.sync.aws.intervalSeconds', 'gatehouse.sync.aws.thingGroups', 'gatehouse.sync.aws.pageSize',
];

test('every configuration key is documented in docs/configuration.md', () => {
  const validator = read('src/core/config/validate.ts');
  const doc = read('docs/configuration.md');
  for (const key of CONFIG_KEYS) {
    const leaf = key.split('.').at(-1)!;
    assert.ok(validator.includes(`'${leaf}'`), `\`${leaf}\` no longer appears in src/core/config/validate.ts: update CONFIG_KEYS and the docs`);
    assert.ok(doc.includes(`\`${key}\``) || doc.includes(`\`…STATEMENT.${key}\``) || doc.includes(`GROUP.${key}\``), `docs/configuration.md does not mention \`${key}\``);
  }
});

test('the validator knows no top-level or section key that the documentation lacks', () => {
  const validator = read('src/core/config/validate.ts');
  const doc = read('docs/configuration.md');
  // Key lists passed to ck.fields(...) and the TOP_LEVEL constant.
  const lists = [...validator.matchAll(/\[((?:\s*'[A-Za-z_]+',?)+\s*)\]/g)].map((m) => [...m[1]!.matchAll(/'([A-Za-z_]+)'/g)].map((x) => x[1]!));
  const keys = new Set(lists.flat());
  const values = new Set(['ALLOW', 'DENY', 'RSA_2048', 'ECDSA_P256', 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  const undocumented = [...keys].filter((k) => !values.has(k) && !doc.includes(k));
  assert.deepEqual(undocumented, []);
});

test('docs/policies.md covers the required topics', () => {
  const doc = read('docs/policies.md');
  for (const heading of ['## Selection rules', '## Operations', '## Resources and wildcards', '## Policy variables', '## DENY statements', '## Decision order', '## Differences from Greengrass']) {
    assert.ok(doc.includes(`\n${heading}\n`), `missing section ${heading}`);
  }
});

test('docs/cli.md documents both commands and the exit statuses', () => {
  const doc = read('docs/cli.md');
  for (const s of ['## gatehouse config validate', '## gatehouse authorize', '--requests', '--json', '| 0 |', '| 1 |', '| 2 |']) {
    assert.ok(doc.includes(s), `docs/cli.md lacks ${s}`);
  }
});

/** GitHub-style heading anchors of a Markdown text. */
function anchors(md: string): Set<string> {
  const out = new Set<string>();
  for (const m of md.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return out;
}

test('links between the docs resolve, including anchors', () => {
  const docs = readdirSync(new URL('docs/', ROOT)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  const files = [...docs, 'README.md', 'conformance/README.md', 'bench/README.md'];
  const broken: string[] = [];
  for (const file of files) {
    const text = read(file).replace(/```[\s\S]*?```/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/.test(link)) continue;
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? new URL(file, ROOT) : new URL(path, new URL(file, ROOT));
      if (!existsSync(target)) {
        broken.push(`${file}: ${link} (no such file)`);
        continue;
      }
      if (anchor !== undefined && !anchors(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${file}: ${link} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

test('code, tests and docs cite nothing outside the repository (the reader cannot follow it)', () => {
  const roots = ['src', 'test', 'bench', 'docs', 'conformance', 'scripts', 'examples'];
  const walk = (dir: string): string[] =>
    readdirSync(new URL(`${dir}/`, ROOT), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(`${dir}/${e.name}`) : /\.(ts|mjs|js|json|md|ya?ml|jsonl|sh)$/.test(e.name) ? [`${dir}/${e.name}`] : [],
    );
  const files = [...roots.flatMap(walk), 'README.md'];
  // A Markdown document named anywhere must be one of the repository's own.
  const ownDocs = new Set(files.filter((f) => f.endsWith('.md')).map((f) => f.slice(f.lastIndexOf('/') + 1)));
  const documentName = /\b[\w-]+\.md\b/g;
  // Tickets by number and paths of the machine the project was developed on cannot be followed either.
  const ticket = /\bissue \d+\b/i;
  const machinePath = /(?:^|[\s'"`(])\/work\//;
  const found: string[] = [];
  for (const file of files) {
    read(file).split('\n').forEach((line, i) => {
      const foreign = [...line.matchAll(documentName)].map((m) => m[0]).filter((name) => !ownDocs.has(name));
      if (foreign.length > 0 || ticket.test(line) || machinePath.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

test('every AWS IoT sync code is documented in docs/errors.md', async () => {
  const { SYNC_CODES, SYNC_REFUSAL_CODES } = await import('../src/sync/errors.js');
  const missing = [...SYNC_CODES, ...SYNC_REFUSAL_CODES].filter((c) => !documented(errorsDoc, c));
  assert.deepEqual(missing, []);
});
