import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_CODES, WARNING_CODES, InvalidConfigError, formatIssue, type ConfigError } from '../../src/core/errors.js';

describe('error codes', () => {
  it('are unique and distinct between errors and warnings', () => {
    const all = [...CONFIG_CODES, ...WARNING_CODES];
    assert.equal(new Set(all).size, all.length);
    for (const code of all) assert.match(code, /^(CONFIG|RULE)_[A-Z_]+$/);
  });
});

describe('formatIssue', () => {
  it('prints code, path, position, message and fix', () => {
    assert.equal(
      formatIssue({ code: 'CONFIG_UNKNOWN_KEY', path: 'metrics.disableMetric', message: 'unknown key `disableMetric`', fix: 'did you mean `disableMetrics`?' }),
      'CONFIG_UNKNOWN_KEY at metrics.disableMetric: unknown key `disableMetric`\n    fix: did you mean `disableMetrics`?',
    );
    assert.equal(
      formatIssue({ code: 'CONFIG_DUPLICATE_KEY', path: '', message: 'a key appears twice', line: 3, column: 5 }),
      'CONFIG_DUPLICATE_KEY at (file) (line 3, column 5): a key appears twice',
    );
    assert.equal(formatIssue({ code: 'X', path: 'a', message: 'm', line: 2 }), 'X at a (line 2, column 1): m');
  });
});

describe('InvalidConfigError', () => {
  it('carries every error and the warnings, and lists them in its message', () => {
    const errors: ConfigError[] = [
      { code: 'CONFIG_OUT_OF_RANGE', path: 'startupTimeoutSeconds', message: '0 is out of range' },
      { code: 'RULE_EMPTY', path: 'deviceGroups.definitions.G.selectionRule', message: 'the selection rule is empty', fix: 'write a clause' },
    ];
    const warnings = [{ code: 'CONFIG_POLICY_UNUSED', path: 'deviceGroups.policies.P', message: 'unused' }] as const;
    const e = new InvalidConfigError(errors, warnings);
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'InvalidConfigError');
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.equal(e.errors, errors);
    assert.equal(e.warnings, warnings);
    assert.equal(e.message, ['invalid configuration: 2 errors', ...errors.map(formatIssue)].join('\n'));
    assert.match(new InvalidConfigError([errors[0]!]).message, /^invalid configuration: 1 error\n/);
    assert.deepEqual(new InvalidConfigError([errors[0]!]).warnings, []);
  });
});
