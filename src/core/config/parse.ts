import { parseDocument } from 'yaml';
import type { ConfigError } from '../errors.js';
import { validateConfig, type ValidationResult } from './validate.js';

export type ConfigFormat = 'yaml' | 'json';

/** Picks the format from a file name: `.json` is JSON, anything else YAML. */
export function formatFromName(name: string): ConfigFormat {
  return /\.json$/i.test(name) ? 'json' : 'yaml';
}

/**
 * Parses configuration text. YAML is read as YAML 1.2 (core schema: `yes`/`on` stay
 * strings, `017` is 17); JSON with the JSON schema. Both reject duplicate keys.
 * Returns the document or every syntax error with its line and column.
 */
export function parseConfigDocument(text: string, format: ConfigFormat): { ok: true; value: unknown } | { ok: false; errors: ConfigError[] } {
  const doc = parseDocument(text, {
    version: '1.2',
    schema: format === 'json' ? 'json' : 'core',
    uniqueKeys: true,
    prettyErrors: true, // fills in linePos; the appended excerpt is cut from the message below
    strict: true,
  });
  const problems = [...doc.errors, ...doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED')];
  if (problems.length > 0) {
    return {
      ok: false,
      errors: problems.map((e) => {
        const pos = e.linePos?.[0];
        const duplicate = e.code === 'DUPLICATE_KEY';
        const message = e.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
        const err: ConfigError = {
          code: duplicate ? 'CONFIG_DUPLICATE_KEY' : 'CONFIG_SYNTAX',
          path: '',
          message: duplicate ? 'a key appears twice in the same mapping' : `${format === 'json' ? 'JSON' : 'YAML'} syntax error: ${message}`,
          fix: duplicate ? 'keep one of the two entries' : 'correct the syntax at the position shown',
        };
        return pos ? { ...err, line: pos.line, column: pos.col } : err;
      }),
    };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    return { ok: false, errors: [{ code: 'CONFIG_SYNTAX', path: '', message: `cannot read the document: ${(e as Error).message}`, fix: 'remove excessive aliases or unusual tags' }] };
  }
}

/** Parses and validates configuration text in one step. */
export function parseConfig(text: string, format: ConfigFormat = 'yaml'): ValidationResult {
  const parsed = parseConfigDocument(text, format);
  if (!parsed.ok) return { ok: false, errors: parsed.errors, warnings: [] };
  return validateConfig(parsed.value);
}
