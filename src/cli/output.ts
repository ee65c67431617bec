import { formatIssue, type ConfigIssue } from '../core/index.js';

/** Exit codes shared by every command. */
export const EXIT = { OK: 0, INVALID: 1, USAGE: 2 } as const;

/** A failure that ends a command with a code and a message on stderr. */
export class CliError extends Error {
  constructor(readonly code: string, message: string, readonly exitCode: number = EXIT.USAGE, readonly fix?: string) {
    super(message);
    this.name = 'CliError';
  }
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
