/**
 * Every coded error of every layer is a GatehouseError carrying `code` and, when given,
 * `fix`; the CLI maps that one class to its output and exit status.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../src/api/errors.js';
import { CaError } from '../src/ca/errors.js';
import { CliError, EXIT, exitCodeOf, printError, type Io } from '../src/cli/output.js';
import { runCli } from '../src/cli/program.js';
import { GatehouseError, InvalidConfigError } from '../src/core/errors.js';
import { RuleSyntaxError } from '../src/core/rules/parse.js';
import { DataDirError } from '../src/data-dir.js';
import { GatewayError } from '../src/gateway.js';
import { RegistryError } from '../src/identity/errors.js';

const samples: readonly [GatehouseError, string, string | undefined][] = [
  [new InvalidConfigError([]), 'CONFIG_INVALID', 'correct each error listed (code, path and fix); `gatehouse config validate FILE` prints them'],
  [new RuleSyntaxError('RULE_EMPTY', 'empty', '', 0, 'write a rule'), 'RULE_EMPTY', 'write a rule'],
  [new RegistryError('THING_NOT_FOUND', 'no thing'), 'THING_NOT_FOUND', undefined],
  [new CaError('CA_PEM_INVALID', 'bad pem', 'check the file'), 'CA_PEM_INVALID', 'check the file'],
  [new ApiError('API_TOKEN_MISSING', 'no token', 'start the gateway'), 'API_TOKEN_MISSING', 'start the gateway'],
  [new DataDirError('DATA_DIR_CREATE_FAILED', '/x', 'cannot create'), 'DATA_DIR_CREATE_FAILED', undefined],
  [new GatewayError('STARTUP_TIMEOUT', 'slow', [], 'wait'), 'STARTUP_TIMEOUT', 'wait'],
  [new CliError('USAGE', 'bad flag'), 'USAGE', undefined],
];

test('every error class is a GatehouseError with its code, fix and own name', () => {
  for (const [e, code, fix] of samples) {
    assert.ok(e instanceof GatehouseError, e.name);
    assert.ok(e instanceof Error);
    assert.equal(e.code, code);
    assert.equal(e.fix, fix);
    // No `fix: undefined` key: JSON output and deep comparisons see only what was given.
    assert.equal('fix' in e, fix !== undefined, `${e.name} has a fix key`);
    assert.notEqual(e.name, 'Error');
  }
});

test('the CLI maps a coded error to its exit status: input errors 2, refusals 1, its own status for CliError', () => {
  assert.equal(exitCodeOf(new RegistryError('THING_NAME_INVALID', 'bad name')), EXIT.USAGE);
  assert.equal(exitCodeOf(new RegistryError('THING_NOT_FOUND', 'no thing')), EXIT.INVALID);
  assert.equal(exitCodeOf(new GatewayError('CONFIG_UNREADABLE', 'cannot read')), EXIT.USAGE);
  assert.equal(exitCodeOf(new ApiError('API_TOKEN_MISSING', 'no token')), EXIT.INVALID);
  assert.equal(exitCodeOf(new CliError('FILE_EXISTS', 'exists', EXIT.INVALID)), EXIT.INVALID);
  assert.equal(exitCodeOf(new CliError('USAGE', 'bad flag')), EXIT.USAGE);
  const lines: string[] = [];
  const io: Io = { out: (l) => lines.push(l), err: (l) => lines.push(l) };
  printError(io, new CaError('CA_PEM_INVALID', 'bad pem', 'check the file'));
  assert.deepEqual(lines, ['error CA_PEM_INVALID: bad pem\n    fix: check the file']);
});

test('an error that is not a GatehouseError is a bug: INTERNAL, exit 70', async () => {
  const lines: string[] = [];
  const io: Io = {
    out: () => {
      throw new TypeError('stdout broke');
    },
    err: (l) => lines.push(l),
  };
  assert.equal(EXIT.INTERNAL, 70);
  assert.equal(await runCli(['--version'], io), EXIT.INTERNAL);
  assert.match(lines.join('\n'), /^error INTERNAL: TypeError: stdout broke/);
});
