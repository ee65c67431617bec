/**
 * Syntax of thing names (the rule itself is core/names.ts) and thing attributes (the
 * AWS IoT rules, so that names and attributes exported from AWS IoT import unchanged).
 *
 * Thing names are case-sensitive: `Dev1` and `dev1` are two things (the Greengrass
 * component's case-insensitive store lets one borrow the other's attachment:
 * docs/greengrass-behaviour.md, section 12.9).
 */
import { THING_NAME_FIX, thingNameProblem } from '../core/names.js';
import { RegistryError } from './errors.js';

export { isValidThingName, thingNameProblem, THING_NAME_MAX } from '../core/names.js';

const ATTRIBUTE_KEY = /^[A-Za-z0-9_.,@/:#-]{1,128}$/;
const ATTRIBUTE_VALUE = /^[A-Za-z0-9_.,@/:#=[\]-]{0,800}$/;
export const MAX_ATTRIBUTES = 50;

/** Throws THING_NAME_INVALID unless `name` is 1–128 characters of `A-Za-z0-9:_-`. */
export function assertThingName(name: unknown): asserts name is string {
  const problem = thingNameProblem(name);
  if (problem !== undefined) {
    throw new RegistryError('THING_NAME_INVALID', `invalid thing name ${shown(name)}: ${problem}`, THING_NAME_FIX);
  }
}

/** Throws THING_ATTRIBUTE_INVALID unless every key and value follows the AWS IoT rules. */
export function assertAttributes(attributes: Readonly<Record<string, string>>): void {
  const entries = Object.entries(attributes);
  const fix = 'keys: 1-128 of A-Za-z0-9_.,@/:#-; values: up to 800 of A-Za-z0-9_.,@/:#=[]-; at most 50 attributes';
  if (entries.length > MAX_ATTRIBUTES) throw new RegistryError('THING_ATTRIBUTE_INVALID', `a thing has at most ${MAX_ATTRIBUTES} attributes (got ${entries.length})`, fix);
  for (const [k, v] of entries) {
    if (!ATTRIBUTE_KEY.test(k)) throw new RegistryError('THING_ATTRIBUTE_INVALID', `invalid attribute name ${shown(k)}`, fix);
    if (typeof v !== 'string' || !ATTRIBUTE_VALUE.test(v)) throw new RegistryError('THING_ATTRIBUTE_INVALID', `invalid value for attribute \`${k}\``, fix);
  }
}

/** Quotes untrusted text for a message, shortened so a huge input cannot flood a log. */
export function shown(value: unknown): string {
  if (typeof value !== 'string') return `(${typeof value})`;
  const s = value.length > 130 ? `${value.slice(0, 130)}…` : value;
  return `\`${s.replace(/[\u0000-\u001f\u007f`]/g, '?')}\``;
}
