import type { ConfigError, ConfigErrorCode, ConfigWarning, ConfigWarningCode } from '../errors.js';
import { formatPath, type PathSegment } from './path.js';
import { didYouMean } from './suggest.js';

/**
 * Collects every problem of a configuration instead of stopping at the first, and
 * provides the small checks the section validators are built from.
 */
export class Checker {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigWarning[] = [];

  error(code: ConfigErrorCode, path: readonly PathSegment[], message: string, fix?: string): void {
    this.errors.push(fix === undefined ? { code, path: formatPath(path), message } : { code, path: formatPath(path), message, fix });
  }

  warn(code: ConfigWarningCode, path: readonly PathSegment[], message: string, fix?: string): void {
    this.warnings.push(fix === undefined ? { code, path: formatPath(path), message } : { code, path: formatPath(path), message, fix });
  }

  /**
   * A mapping with a fixed set of keys. Unknown keys are errors with a suggestion;
   * keys that differ from a known key only in letter case are accepted with a warning
   * (Greengrass reads keys case-insensitively). With `greengrass`, keys starting with
   * `_` are dropped with a warning, as the Greengrass configuration store drops them.
   */
  fields(value: unknown, path: readonly PathSegment[], known: readonly string[], greengrass: boolean): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return {};
    if (!isPlainObject(value)) {
      this.error('CONFIG_WRONG_TYPE', path, `expected an object, found ${typeName(value)}`);
      return undefined;
    }
    const out: Record<string, unknown> = {};
    // Exact keys first, so that a case variant never silently loses to (or wins over)
    // an exact key written after it: the variant is then always the reported one.
    for (const [key, v] of Object.entries(value)) if (known.includes(key)) out[key] = v;
    for (const [key, v] of Object.entries(value)) {
      if (known.includes(key)) continue;
      if (greengrass && key.startsWith('_')) {
        this.warn('CONFIG_KEY_IGNORED', [...path, key], `\`${key}\` is ignored: Greengrass drops keys that begin with \`_\``, 'remove the key or rename it without the leading `_`');
        continue;
      }
      const sameCase = greengrass ? known.find((k) => k.toLowerCase() === key.toLowerCase()) : undefined;
      if (sameCase !== undefined && !(sameCase in out)) {
        this.warn('CONFIG_KEY_CASE', [...path, key], `\`${key}\` is read as \`${sameCase}\``, `write it as \`${sameCase}\``);
        out[sameCase] = v;
        continue;
      }
      this.error('CONFIG_UNKNOWN_KEY', [...path, key], `unknown key \`${key}\``, didYouMean(key, known) ?? `known keys here: ${known.map((k) => `\`${k}\``).join(', ')}`);
    }
    return out;
  }

  /** A mapping whose keys are user-chosen names (groups, policies, statements). */
  named(value: unknown, path: readonly PathSegment[], what: string): [string, unknown][] {
    if (value === undefined || value === null) return [];
    if (!isPlainObject(value)) {
      this.error('CONFIG_WRONG_TYPE', path, `expected an object of ${what}, found ${typeName(value)}`);
      return [];
    }
    const out: [string, unknown][] = [];
    for (const [key, v] of Object.entries(value)) {
      if (key.startsWith('_')) {
        this.warn('CONFIG_KEY_IGNORED', [...path, key], `${singular(what)} \`${key}\` is ignored: Greengrass drops keys that begin with \`_\``, 'rename it without the leading `_`');
        continue;
      }
      if (key.trim() === '') {
        this.error('CONFIG_INVALID_VALUE', [...path, key], `${singular(what)} names must not be blank`);
        continue;
      }
      out.push([key, v]);
    }
    return out;
  }

  /**
   * An integer in [min, max]. JSON numbers with an integral value and decimal strings
   * (Greengrass deployments may carry numbers as strings) are accepted.
   */
  int(value: unknown, path: readonly PathSegment[], def: number, min: number, max: number): number {
    if (value === undefined) return def;
    let n: number | undefined;
    if (typeof value === 'number') n = value;
    else if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) n = Number(value);
    if (n === undefined || !Number.isFinite(n)) {
      this.error('CONFIG_WRONG_TYPE', path, `expected an integer, found ${typeName(value)}`, `write a whole number between ${min} and ${max}`);
      return def;
    }
    if (!Number.isInteger(n)) {
      this.error('CONFIG_WRONG_TYPE', path, `expected an integer, found ${n}`, `write a whole number between ${min} and ${max}`);
      return def;
    }
    if (n < min || n > max) {
      this.error('CONFIG_OUT_OF_RANGE', path, `${n} is out of range: must be between ${min} and ${max}`, `use a value from ${min} to ${max} (default ${def})`);
      return def;
    }
    return n;
  }

  bool(value: unknown, path: readonly PathSegment[], def: boolean): boolean {
    if (value === undefined) return def;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    this.error('CONFIG_WRONG_TYPE', path, `expected true or false, found ${typeName(value)}`);
    return def;
  }

  string(value: unknown, path: readonly PathSegment[], opts: { nonBlank?: boolean } = {}): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.error('CONFIG_WRONG_TYPE', path, `expected a string, found ${typeName(value)}`);
      return undefined;
    }
    if (opts.nonBlank && value.trim() === '') {
      this.error('CONFIG_INVALID_VALUE', path, 'must not be blank');
      return undefined;
    }
    return value;
  }

  oneOf<T extends string>(value: unknown, path: readonly PathSegment[], allowed: readonly T[], def: T): T {
    if (value === undefined) return def;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    const shown = typeof value === 'string' ? `\`${value}\`` : typeName(value);
    this.error('CONFIG_INVALID_VALUE', path, `${shown} is not one of ${allowed.map((a) => `\`${a}\``).join(', ')}`,
      typeof value === 'string' ? didYouMean(value, allowed) : undefined);
    return def;
  }

  /** A list of strings; a single string is an error (Greengrass rejects it too). */
  strings(value: unknown, path: readonly PathSegment[]): string[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      const fix = typeof value === 'string' ? `write it as a list: [${JSON.stringify(value)}]` : undefined;
      this.error('CONFIG_WRONG_TYPE', path, `expected a list of strings, found ${typeName(value)}`, fix);
      return [];
    }
    const out: string[] = [];
    value.forEach((item, i) => {
      if (typeof item !== 'string') this.error('CONFIG_WRONG_TYPE', [...path, i], `expected a string, found ${typeName(item)}`);
      else out.push(item);
    });
    return out;
  }
}

/** `policies` → `policy`, `groups` → `group`, `statements` → `statement`. */
function singular(plural: string): string {
  return plural.endsWith('ies') ? `${plural.slice(0, -3)}y` : plural.replace(/s$/, '');
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `\`${String(v)}\``;
  return typeof v;
}
