/**
 * Error and warning codes of the configuration and rule layers.
 *
 * Every code here is documented in docs/errors.md with its fix; a test keeps the
 * two in step. Codes are stable: a retired code is never reused for something else.
 */
export const CONFIG_CODES = [
  'CONFIG_SYNTAX',
  'CONFIG_DUPLICATE_KEY',
  'CONFIG_NOT_AN_OBJECT',
  'CONFIG_UNKNOWN_KEY',
  'CONFIG_MISSING_KEY',
  'CONFIG_WRONG_TYPE',
  'CONFIG_OUT_OF_RANGE',
  'CONFIG_INVALID_VALUE',
  'CONFIG_FORMAT_VERSION',
  'CONFIG_POLICY_NOT_FOUND',
  'CONFIG_UNKNOWN_OPERATION',
  'CONFIG_MALFORMED_RESOURCE',
  'CONFIG_UNKNOWN_VARIABLE',
  'CONFIG_MALFORMED_VARIABLE',
  'CONFIG_CLUSTER_LOCAL_KEY',
  'CONFIG_CLUSTER_SHARED_KEY',
  'RULE_EMPTY',
  'RULE_INVALID_CHARACTER',
  'RULE_UNEXPECTED_TOKEN',
  'RULE_INVALID_WILDCARD',
] as const;

export const WARNING_CODES = [
  'CONFIG_KEY_IGNORED',
  'CONFIG_KEY_CASE',
  'CONFIG_POLICY_UNUSED',
  'CONFIG_STATEMENT_EMPTY',
  'CONFIG_RESOURCE_NEVER_MATCHES',
] as const;

export type ConfigErrorCode = (typeof CONFIG_CODES)[number];
export type ConfigWarningCode = (typeof WARNING_CODES)[number];
export type RuleErrorCode = Extract<ConfigErrorCode, `RULE_${string}`>;

/** One problem found in a configuration: where, what, and how to fix it. */
export interface ConfigIssue<C extends string = ConfigErrorCode | ConfigWarningCode> {
  readonly code: C;
  /** JSON path such as `deviceGroups.policies.P.S.resources[1]`; `""` for the whole file. */
  readonly path: string;
  readonly message: string;
  readonly fix?: string;
  /** 1-based line and column in the file, when the problem is tied to text. */
  readonly line?: number;
  readonly column?: number;
}

export type ConfigError = ConfigIssue<ConfigErrorCode>;
export type ConfigWarning = ConfigIssue<ConfigWarningCode>;

/**
 * The base of every error Gatehouse throws on purpose: a stable `code` (documented in
 * docs/errors.md or the module's own doc, never reused for something else), a message
 * naming the input or path concerned, and, when there is one, the `fix` an operator
 * should apply. The CLI maps this one class to its output and exit status.
 *
 * Messages never carry secrets (tokens, keys, passwords).
 */
export class GatehouseError<C extends string = string> extends Error {
  readonly code: C;
  /** What to do about it; absent when the message says it all. */
  declare readonly fix?: string;

  constructor(code: C, message: string, fix?: string, options?: { cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'GatehouseError';
    this.code = code;
    if (fix !== undefined) this.fix = fix;
  }
}

/** Narrows to GatehouseError with a string code (`instanceof` alone yields `GatehouseError<any>`). */
export function isGatehouseError(e: unknown): e is GatehouseError {
  return e instanceof GatehouseError;
}

/**
 * Thrown by the convenience loaders when a configuration has errors. Carries every
 * error, not just the first.
 */
export class InvalidConfigError extends GatehouseError<'CONFIG_INVALID'> {
  readonly errors: readonly ConfigError[];
  readonly warnings: readonly ConfigWarning[];

  constructor(errors: readonly ConfigError[], warnings: readonly ConfigWarning[] = []) {
    super(
      'CONFIG_INVALID',
      `invalid configuration: ${errors.length} error${errors.length === 1 ? '' : 's'}\n` + errors.map(formatIssue).join('\n'),
      'correct each error listed (code, path and fix); `gatehouse config validate FILE` prints them',
    );
    this.name = 'InvalidConfigError';
    this.errors = errors;
    this.warnings = warnings;
  }
}

/** `path: CODE message (fix)` on one line, the form the CLI prints. */
export function formatIssue(issue: ConfigIssue<string>): string {
  const where = issue.path === '' ? '(file)' : issue.path;
  const pos = issue.line !== undefined ? ` (line ${issue.line}, column ${issue.column ?? 1})` : '';
  const fix = issue.fix ? `\n    fix: ${issue.fix}` : '';
  return `${issue.code} at ${where}${pos}: ${issue.message}${fix}`;
}
