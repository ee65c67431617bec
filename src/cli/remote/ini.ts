/**
 * The one reader of the CLI's `~/.gatehouse/config` and `~/.gatehouse/credentials`
 * files: the INI subset the AWS CLI writes
 * (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html), read
 * strictly. Accepted:
 *
 * - `[section]` headers (surrounding spaces inside the brackets are trimmed);
 * - `key = value` lines (spaces around `=` and at both ends are trimmed; the value may
 *   be empty and may contain `=`);
 * - blank lines and whole-line comments starting with `#` or `;`.
 *
 * Refused, with the file and line: a setting before any section, a line that is none of
 * the above (including the AWS CLI's indented "nested" values, which no Gatehouse
 * setting uses), a key given twice in one section, a section given twice. A lenient
 * reader would let a typo silently select other credentials or another gateway.
 *
 * Error messages name keys, never values: a credentials file holds secrets.
 */
import { CliError, EXIT } from '../output.js';

export type IniSections = ReadonlyMap<string, ReadonlyMap<string, string>>;

const KEY = /^[A-Za-z0-9_.-]+$/;

export function parseIni(text: string, file: string): IniSections {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let currentName = '';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    if (/^\s/.test(raw) && raw.trim() !== '') {
      throw invalid(where, 'a line starts with white space (nested values are not supported)', 'remove the indentation');
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (line.startsWith('[')) {
      if (!line.endsWith(']')) throw invalid(where, 'a section header does not end with `]`', 'write it as `[name]` on a line of its own');
      const name = line.slice(1, -1).trim().replace(/\s+/g, ' ');
      if (name === '') throw invalid(where, 'a section has no name', 'write it as `[name]`');
      if (sections.has(name)) throw invalid(where, `section \`[${name}]\` is given twice`, 'merge the two sections into one');
      current = new Map();
      currentName = name;
      sections.set(name, current);
      return;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw invalid(where, 'a line is neither `[section]`, `key = value` nor a comment', 'fix or remove the line');
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!KEY.test(key)) throw invalid(where, 'a setting has no valid key before `=`', 'keys are letters, digits, `_`, `.` and `-`');
    if (current === undefined) throw invalid(where, `setting \`${key}\` comes before any \`[section]\``, 'put it under a section header');
    if (current.has(key)) throw invalid(where, `\`${key}\` is given twice in section \`[${currentName}]\``, 'keep one of them');
    current.set(key, value);
  });
  return sections;
}

function invalid(where: string, what: string, fix: string): CliError {
  return new CliError('REMOTE_CONFIG_INVALID', `${where}: ${what}`, EXIT.USAGE, fix);
}
