/**
 * Where a command runs: the order of the command line, the environment and the
 * ~/.gatehouse files (as the AWS CLI orders them), the strict INI reader, the refusal of
 * a credentials file others can read, and the command table's coverage.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { CliError } from '../../src/cli/output.js';
import { buildProgram } from '../../src/cli/program.js';
import { commandPath, REMOTE_SUPPORT } from '../../src/cli/remote/commands.js';
import { remoteAnswerError } from '../../src/cli/remote/errors.js';
import { parseIni } from '../../src/cli/remote/ini.js';
import { resolveTarget, type RemoteTarget, type Target } from '../../src/cli/remote/target.js';
import type { Command } from 'commander';
import { makeTempDir } from '../helpers/tmp-dir.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function home(dir: string, files: { config?: string; credentials?: string; credentialsMode?: number } = {}): string {
  mkdirSync(join(dir, '.gatehouse'), { recursive: true });
  if (files.config !== undefined) writeFileSync(join(dir, '.gatehouse', 'config'), files.config);
  if (files.credentials !== undefined) {
    const f = join(dir, '.gatehouse', 'credentials');
    writeFileSync(f, files.credentials, { mode: 0o600 });
    chmodSync(f, files.credentialsMode ?? 0o600);
  }
  return dir;
}

function remote(t: Target): RemoteTarget {
  if (t.kind !== 'remote') assert.fail('expected a remote target');
  return t;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CliError, String(e));
    return e.code;
  }
  assert.fail('no error');
}

test('no endpoint anywhere: local mode, even with credentials in the environment', async (t) => {
  const h = home(await makeTempDir(t));
  assert.deepEqual(resolveTarget({}, { env: { HOME: h } }), { kind: 'local' });
  assert.deepEqual(resolveTarget({}, { env: { HOME: h, GATEHOUSE_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE00', GATEHOUSE_SECRET_ACCESS_KEY: 's' } }), { kind: 'local' });
});

test('command line over environment over the config file; the profile\'s region and CA bundle', async (t) => {
  const dir = await makeTempDir(t);
  writeFileSync(join(dir, 'ca.pem'), CA);
  const h = home(dir, {
    config: '[default]\nendpoint = https://file.example:8443\nregion = eu-west-1\nca_bundle = ../ca.pem\n\n[profile other]\nendpoint = https://other.example\n',
    credentials: '[default]\naws_access_key_id = AKIAFILEFILEFILE0000\naws_secret_access_key = file-secret\n[other]\naws_access_key_id = AKIAOTHEROTHEROTHER0\naws_secret_access_key = other-secret\n',
  });
  const fromFile = remote(resolveTarget({}, { env: { HOME: h } }));
  assert.equal(fromFile.endpoint.href, 'https://file.example:8443/');
  assert.equal(fromFile.region, 'eu-west-1');
  assert.equal(fromFile.ca, CA);
  assert.equal(fromFile.credentials.accessKeyId, 'AKIAFILEFILEFILE0000');

  const fromEnv = remote(resolveTarget({}, { env: { HOME: h, GATEHOUSE_ENDPOINT: 'https://env.example', GATEHOUSE_REGION: 'ap-south-1', GATEHOUSE_ACCESS_KEY_ID: 'AKIAENVENVENVENV0000', GATEHOUSE_SECRET_ACCESS_KEY: 'env-secret', GATEHOUSE_SESSION_TOKEN: 'tok' } }));
  assert.equal(fromEnv.endpoint.host, 'env.example');
  assert.equal(fromEnv.region, 'ap-south-1');
  assert.equal(fromEnv.credentials.accessKeyId, 'AKIAENVENVENVENV0000');
  assert.equal(fromEnv.credentials.sessionToken, 'tok');

  const fromFlag = remote(resolveTarget({ endpoint: 'https://flag.example:9' }, { env: { HOME: h, GATEHOUSE_ENDPOINT: 'https://env.example' } }));
  assert.equal(fromFlag.endpoint.host, 'flag.example:9');
  assert.equal(fromFlag.sources.endpoint, '--endpoint');

  // GATEHOUSE_PROFILE selects the profile; the environment's keys still come first.
  const envProfile = remote(resolveTarget({}, { env: { HOME: h, GATEHOUSE_PROFILE: 'other' } }));
  assert.equal(envProfile.endpoint.host, 'other.example');
  assert.equal(envProfile.region, 'us-east-1');
  assert.equal(envProfile.credentials.accessKeyId, 'AKIAOTHEROTHEROTHER0');
  // --profile on the command line: that profile's keys, the environment's are ignored (as the AWS CLI does).
  const flagProfile = remote(resolveTarget({ profile: 'other' }, { env: { HOME: h, GATEHOUSE_ACCESS_KEY_ID: 'AKIAENVENVENVENV0000', GATEHOUSE_SECRET_ACCESS_KEY: 'env-secret' } }));
  assert.equal(flagProfile.credentials.accessKeyId, 'AKIAOTHEROTHEROTHER0');
});

test('GATEHOUSE_CONFIG_FILE and GATEHOUSE_SHARED_CREDENTIALS_FILE name other files', async (t) => {
  const dir = await makeTempDir(t);
  writeFileSync(join(dir, 'cfg'), '[profile gatehouse-admin]\nendpoint = https://127.0.0.1:1\n');
  writeFileSync(join(dir, 'creds'), '[gatehouse-admin]\naws_access_key_id = AKIAADMINADMINADMIN0\naws_secret_access_key = x\n', { mode: 0o600 });
  const r = remote(resolveTarget({ profile: 'gatehouse-admin' }, { env: { HOME: dir, GATEHOUSE_CONFIG_FILE: join(dir, 'cfg'), GATEHOUSE_SHARED_CREDENTIALS_FILE: join(dir, 'creds') } }));
  assert.equal(r.credentials.accessKeyId, 'AKIAADMINADMINADMIN0');
});

test('refused settings: http, a path, a profile without endpoint, half of a key pair, no credentials', async (t) => {
  const h = home(await makeTempDir(t), { config: '[profile empty]\nregion = eu-west-1\n' });
  const env = { HOME: h, GATEHOUSE_ACCESS_KEY_ID: 'AKIAENVENVENVENV0000', GATEHOUSE_SECRET_ACCESS_KEY: 's' };
  assert.equal(code(() => resolveTarget({ endpoint: 'http://gw:8443' }, { env })), 'REMOTE_ENDPOINT_INVALID');
  assert.equal(code(() => resolveTarget({ endpoint: 'https://gw:8443/v1' }, { env })), 'REMOTE_ENDPOINT_INVALID');
  assert.equal(code(() => resolveTarget({ endpoint: 'https://user:pw@gw' }, { env })), 'REMOTE_ENDPOINT_INVALID');
  assert.equal(code(() => resolveTarget({ profile: 'empty' }, { env })), 'REMOTE_ENDPOINT_MISSING');
  assert.equal(code(() => resolveTarget({ profile: 'nowhere' }, { env })), 'REMOTE_ENDPOINT_MISSING');
  assert.equal(code(() => resolveTarget({ endpoint: 'https://gw' }, { env: { HOME: h, GATEHOUSE_ACCESS_KEY_ID: 'AKIAENVENVENVENV0000' } })), 'REMOTE_CREDENTIALS_MISSING');
  assert.equal(code(() => resolveTarget({ endpoint: 'https://gw' }, { env: { HOME: h } })), 'REMOTE_CREDENTIALS_MISSING');
  assert.equal(code(() => resolveTarget({ endpoint: 'https://gw' }, { env: { ...env, GATEHOUSE_REGION: 'Mars' } })), 'REMOTE_CONFIG_INVALID');
});

test('a credentials file group or others can read is refused, and its secret is not in the message', async (t) => {
  const h = home(await makeTempDir(t), { credentials: '[default]\naws_access_key_id = AKIAFILEFILEFILE0000\naws_secret_access_key = very-secret-value\n', credentialsMode: 0o644 });
  let err: unknown;
  try {
    resolveTarget({ endpoint: 'https://gw' }, { env: { HOME: h }, platform: 'linux' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CliError);
  assert.equal(err.code, 'REMOTE_CREDENTIALS_FILE_INSECURE');
  assert.match(err.message, /mode 0644/);
  assert.doesNotMatch(`${err.message} ${err.fix ?? ''}`, /very-secret-value/);
  chmodSync(join(h, '.gatehouse', 'credentials'), 0o600);
  assert.equal(remote(resolveTarget({ endpoint: 'https://gw' }, { env: { HOME: h }, platform: 'linux' })).credentials.accessKeyId, 'AKIAFILEFILEFILE0000');
});

test('the credentials object keeps its secret out of JSON and string forms', () => {
  const t = resolveTarget({ endpoint: 'https://gw' }, { env: { HOME: '/nonexistent', GATEHOUSE_ACCESS_KEY_ID: 'AKIAENVENVENVENV0000', GATEHOUSE_SECRET_ACCESS_KEY: 'top-secret', GATEHOUSE_SESSION_TOKEN: 'session-tok' } });
  const c = remote(t).credentials;
  const text = `${JSON.stringify(t)} ${inspect(c)} ${JSON.stringify(Object.entries(c))} ${Object.keys(c).join(',')}`;
  assert.doesNotMatch(text, /top-secret|session-tok/);
  assert.match(text, /AKIAENVENVENVENV0000/);
});

test('the INI reader is strict: file and line named, values never echoed', () => {
  const c = (text: string): string => code(() => parseIni(text, 'f'));
  assert.equal(c('a = 1\n'), 'REMOTE_CONFIG_INVALID');
  assert.equal(c('[x]\na = 1\na = 2\n'), 'REMOTE_CONFIG_INVALID');
  assert.equal(c('[x]\n[x]\n'), 'REMOTE_CONFIG_INVALID');
  assert.equal(c('[x]\njust words\n'), 'REMOTE_CONFIG_INVALID');
  assert.equal(c('[x]\ns3 =\n  max = 1\n'), 'REMOTE_CONFIG_INVALID');
  assert.equal(c('[x\n'), 'REMOTE_CONFIG_INVALID');
  assert.throws(() => parseIni('[x]\nsecret = hunter2\nsecret = hunter3\n', 'creds'), (e: Error) => /^creds:3: /.test(e.message) && !/hunter/.test(e.message));
  const ok = parseIni('# comment\n; other\n[ profile  a ]\nk = v=w\nempty =\n\n[b]\n', 'f');
  assert.deepEqual([...ok.keys()], ['profile a', 'b']);
  assert.equal(ok.get('profile a')?.get('k'), 'v=w');
  assert.equal(ok.get('profile a')?.get('empty'), '');
});

test('the config file refuses unknown settings and keys that belong in the credentials file', async (t) => {
  const h1 = home(await makeTempDir(t), { config: '[default]\nendpoint = https://gw\naws_secret_access_key = x\n' });
  assert.equal(code(() => resolveTarget({}, { env: { HOME: h1 } })), 'REMOTE_CONFIG_INVALID');
  const h2 = home(await makeTempDir(t), { config: '[dev]\nendpoint = https://gw\n' });
  assert.equal(code(() => resolveTarget({}, { env: { HOME: h2 } })), 'REMOTE_CONFIG_INVALID');
});

test('every leaf command says whether it runs remotely', () => {
  const program = buildProgram({ out: () => {}, err: () => {} }, () => {});
  const leaves: string[] = [];
  const walk = (c: Command): void => {
    // A command that runs an action of its own and has subcommands (`sync`, `sync status`) counts too.
    if (c.commands.length === 0 || (c as unknown as { _actionHandler?: unknown })._actionHandler != null) leaves.push(commandPath(c));
    for (const s of c.commands) walk(s);
  };
  for (const c of program.commands) walk(c);
  const missing = leaves.filter((l) => REMOTE_SUPPORT[l] === undefined);
  assert.deepEqual(missing, [], 'add these commands to REMOTE_SUPPORT in src/cli/remote/commands.ts');
  const stale = Object.keys(REMOTE_SUPPORT).filter((k) => !leaves.includes(k));
  assert.deepEqual(stale, []);
});

test('every REMOTE_ code of the CLI is documented in docs/errors.md and docs/cli.md names the files and variables', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const dirFiles = readdirSync(join(root, 'src/cli/remote')).map((f) => join('src/cli/remote', f));
  const source = [...dirFiles, 'src/cli/program.ts'].map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
  const codes = new Set([...source.matchAll(/'(REMOTE_[A-Z_]+)'/g)].map((m) => m[1]!));
  assert.ok(codes.size >= 10);
  const errors = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  for (const c of codes) assert.match(errors, new RegExp(`^\\| \`${c}\` \\| (1|2|69) \\|`, 'm'), `${c} has no row in docs/errors.md`);
  const cli = readFileSync(join(root, 'docs/cli.md'), 'utf8');
  for (const v of ['GATEHOUSE_ENDPOINT', 'GATEHOUSE_PROFILE', 'GATEHOUSE_ACCESS_KEY_ID', 'GATEHOUSE_SECRET_ACCESS_KEY', 'GATEHOUSE_SESSION_TOKEN', 'GATEHOUSE_CA_BUNDLE', 'GATEHOUSE_REGION', 'GATEHOUSE_CONFIG_FILE', 'GATEHOUSE_SHARED_CREDENTIALS_FILE', '~/.gatehouse/config', '~/.gatehouse/credentials']) {
    assert.ok(cli.includes(v), `docs/cli.md does not mention ${v}`);
  }
});

test('the gateway\'s error answers map to coded errors and exit statuses, in each wire shape', () => {
  const target = remote(resolveTarget({ endpoint: 'https://gw:8443' }, { env: { HOME: '/nonexistent', GATEHOUSE_ACCESS_KEY_ID: 'AKIAENVENVENVENV0000', GATEHOUSE_SECRET_ACCESS_KEY: 'top-secret' } }));
  const map = (status: number, headers: Record<string, string>, text: string): [string, number, string] => {
    const e = remoteAnswerError({ status, headers, text }, target, 'Op');
    return [e.code, e.exitCode, e.message];
  };
  assert.deepEqual(map(403, { 'x-amzn-errortype': 'InvalidSignatureException:http://internal.amazon.com/coral/', 'x-amzn-requestid': 'r-1' }, '{"message":"bad sig"}'),
    ['REMOTE_AUTH_FAILED', 1, 'bad sig (Op at gw:8443: InvalidSignatureException, request r-1)']);
  assert.equal(map(403, {}, '{"error":{"code":"MGMT_ACCESS_DENIED","message":"no"}}')[0], 'REMOTE_ACCESS_DENIED');
  assert.deepEqual(map(403, {}, '<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: a &amp; b</Message></Error></ErrorResponse>').slice(0, 2), ['REMOTE_ACCESS_DENIED', 1]);
  assert.match(map(403, {}, '<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: a &amp; b</Message></Error></ErrorResponse>')[2], /^User: a & b /);
  assert.equal(map(404, { 'x-amzn-errortype': 'ResourceNotFoundException' }, '{"message":"x"}')[0], 'REMOTE_NOT_FOUND');
  assert.equal(map(404, { 'x-amzn-errortype': 'UnknownOperationException' }, '{"error":{"code":"MGMT_NOT_FOUND","message":"no such operation"}}')[0], 'REMOTE_PROTOCOL_ERROR');
  assert.equal(map(409, { 'x-amzn-errortype': 'ResourceAlreadyExistsException' }, '{"message":"x"}')[0], 'REMOTE_CONFLICT');
  assert.equal(map(400, { 'x-amzn-errortype': 'MalformedPolicyException' }, '{"message":"x"}')[0], 'REMOTE_INVALID_REQUEST');
  assert.deepEqual(map(503, {}, 'busy').slice(0, 2), ['REMOTE_UNAVAILABLE', 69]);
  assert.equal(map(418, {}, '')[0], 'REMOTE_PROTOCOL_ERROR');
  for (const [code, , message] of [map(403, { 'x-amzn-errortype': 'UnrecognizedClientException' }, '{"message":"m"}')]) {
    assert.equal(code, 'REMOTE_AUTH_FAILED');
    assert.doesNotMatch(message, /top-secret/);
  }
});
