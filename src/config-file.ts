import { readFile } from 'node:fs/promises';
import { formatFromName, parseConfig, type ValidationResult } from './core/index.js';

export type ConfigFileResult =
  | ValidationResult
  | { readonly ok: false; readonly unreadable: true; readonly code: 'FILE_UNREADABLE'; readonly message: string };

/**
 * Reads and validates a configuration file (`.json` as JSON, anything else as YAML).
 * An unreadable file is reported separately from an invalid one.
 */
export async function loadConfigFile(path: string): Promise<ConfigFileResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, unreadable: true, code: 'FILE_UNREADABLE', message: `cannot read configuration file \`${path}\`: ${err.code ?? err.message}` };
  }
  return parseConfig(text, formatFromName(path));
}
