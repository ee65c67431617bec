import { formatIssue, GatehouseError, type ConfigIssue } from '../core/index.js';

/** Exit statuses shared by every command (docs/cli.md). */
export const EXIT = {
  /** Done; for `authorize`, every request was answered, allowed or denied. */
  OK: 0,
  /** The input was well formed but refused: invalid configuration, unknown thing, ... */
  INVALID: 1,
  /** Usage error, unreadable file or malformed input. */
  USAGE: 2,
  /** A remote gateway could not be reached, was not trusted, or failed (EX_UNAVAILABLE of sysexits.h): worth retrying. */
  UNAVAILABLE: 69,
  /** A bug: an error that is not a GatehouseError (EX_SOFTWARE of sysexits.h). */
  INTERNAL: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure of the CLI itself, with the exit status it ends the command with. */
export class CliError extends GatehouseError {
  constructor(code: string, message: string, readonly exitCode: ExitCode = EXIT.USAGE, fix?: string) {
    super(code, message, fix);
    this.name = 'CliError';
  }
}

/** Codes of the library layers that mean "the input was wrong" (exit 2); every other one exits 1. */
const INPUT_CODES: ReadonlySet<string> = new Set([
  'USAGE',
  'FILE_UNREADABLE',
  'CONFIG_UNREADABLE',
  'THING_NAME_INVALID',
  'THING_ATTRIBUTE_INVALID',
  'THING_TYPE_NAME_INVALID',
  'THING_TYPE_PROPERTIES_INVALID',
  'THING_GROUP_NAME_INVALID',
  'THING_GROUP_DESCRIPTION_INVALID',
  'POLICY_NAME_INVALID',
  'CERT_ID_INVALID',
  'CERT_MALFORMED',
  'CA_VALIDITY_INVALID',
  'CONTROL_NAME_INVALID',
  'CONTROL_DESCRIPTION_INVALID',
  'CONTROL_TAG_INVALID',
  'CONTROL_ACCESS_KEY_STATUS_INVALID',
  'CONTROL_MAX_SESSION_DURATION_INVALID',
  'CONTROL_CREDENTIAL_DURATION_INVALID',
  'CONTROL_SESSION_NAME_INVALID',
  'CONTROL_ROLE_ARN_INVALID',
  'CONTROL_AUDIT_QUERY_INVALID',
]);

/** The exit status a coded error ends a command with. */
export function exitCodeOf(e: GatehouseError): ExitCode {
  if (e instanceof CliError) return e.exitCode;
  return INPUT_CODES.has(e.code) ? EXIT.USAGE : EXIT.INVALID;
}

/** `error CODE: message` and, when there is one, the fix on the next line. */
export function printError(io: Io, e: GatehouseError): void {
  io.err(`error ${e.code}: ${e.message}${e.fix ? `\n    fix: ${e.fix}` : ''}`);
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

export function printIssues(io: Io, errors: readonly ConfigIssue<string>[], warnings: readonly ConfigIssue<string>[]): void {
  for (const e of errors) io.err(`error ${formatIssue(e)}`);
  for (const w of warnings) io.err(`warning ${formatIssue(w)}`);
}
