import { LineCounter, isMap, isScalar, parseDocument, visit, type Document } from 'yaml';
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
  if (format === 'json') {
    const fast = parseJson(text);
    if (fast !== undefined) return fast;
  }
  // The yaml package's own duplicate-key check (uniqueKeys) compares every pair of keys
  // of a mapping: seconds for 10,000 device groups. duplicateKeys() below is linear.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    version: '1.2',
    schema: format === 'json' ? 'json' : 'core',
    uniqueKeys: false,
    lineCounter,
    prettyErrors: true, // fills in linePos; the appended excerpt is cut from the message below
    strict: true,
  });
  const problems = [...doc.errors, ...doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED')];
  if (problems.length > 0) {
    return {
      ok: false,
      errors: problems.map((e) => {
        const pos = e.linePos?.[0];
        const message = e.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
        const err: ConfigError = {
          code: 'CONFIG_SYNTAX',
          path: '',
          message: `${format === 'json' ? 'JSON' : 'YAML'} syntax error: ${message}`,
          fix: 'correct the syntax at the position shown',
        };
        return pos ? { ...err, line: pos.line, column: pos.col } : err;
      }),
    };
  }
  const duplicates = duplicateKeys(doc).map((offset) => duplicateKeyError(lineCounter.linePos(offset)));
  if (duplicates.length > 0) return { ok: false, errors: duplicates };
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    return { ok: false, errors: [{ code: 'CONFIG_SYNTAX', path: '', message: `cannot read the document: ${(e as Error).message}`, fix: 'remove excessive aliases or unusual tags' }] };
  }
}

function duplicateKeyError(pos: { line: number; col: number }): ConfigError {
  return {
    code: 'CONFIG_DUPLICATE_KEY', path: '', message: 'a key appears twice in the same mapping', fix: 'keep one of the two entries',
    line: pos.line, column: pos.col,
  };
}

/** Offsets of every key that repeats an earlier scalar key of the same mapping. */
function duplicateKeys(doc: Document): number[] {
  const found: number[] = [];
  visit(doc, {
    Map(_, map) {
      if (!isMap(map) || map.items.length < 2) return;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key)) continue;
        if (seen.has(key.value)) found.push(key.range?.[0] ?? 0);
        else seen.add(key.value);
      }
    },
  });
  return found.sort((a, b) => a - b);
}

/**
 * JSON through JSON.parse (a hundred times faster than the YAML parser on large
 * files), with a linear scan for duplicate keys, which JSON.parse silently resolves.
 * undefined when JSON.parse refuses the text: the YAML parser then reports the error
 * with its position, exactly as before.
 */
function parseJson(text: string): { ok: true; value: unknown } | { ok: false; errors: ConfigError[] } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const duplicates = jsonDuplicateKeys(text);
  if (duplicates.length === 0) return { ok: true, value };
  return { ok: false, errors: duplicates.map((offset) => duplicateKeyError(linePos(text, offset))) };
}

/** 1-based line and column of `offset`. */
function linePos(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, col: offset - lineStart + 1 };
}

/** Offsets of repeated keys in text that JSON.parse accepted (so its syntax is valid). */
function jsonDuplicateKeys(text: string): number[] {
  const found: number[] = [];
  const objects: Set<string>[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) objects.push(new Set());
    else if (c === 0x7d /* } */) objects.pop();
    else if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c /* \ */) {
          escaped = true;
          i++;
        }
      }
      let j = i + 1;
      while (j < text.length && (text[j] === ' ' || text[j] === '\t' || text[j] === '\n' || text[j] === '\r')) j++;
      if (text.charCodeAt(j) !== 0x3a /* : */) continue; // a value, not a key
      const raw = text.slice(start, i + 1);
      const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      const keys = objects[objects.length - 1]!;
      if (keys.has(key)) found.push(start);
      else keys.add(key);
    }
  }
  return found;
}

/** Parses and validates configuration text in one step. */
export function parseConfig(text: string, format: ConfigFormat = 'yaml'): ValidationResult {
  const parsed = parseConfigDocument(text, format);
  if (!parsed.ok) return { ok: false, errors: parsed.errors, warnings: [] };
  return validateConfig(parsed.value);
}
