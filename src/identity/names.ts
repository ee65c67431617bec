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

// AWS IoT API reference, CreatePolicy / CreateThingGroup / CreateThingType:
// https://docs.aws.amazon.com/iot/latest/apireference/API_CreatePolicy.html
// https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThingGroup.html
// https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThingType.html
const POLICY_NAME = /^[A-Za-z0-9_+=,.@-]{1,128}$/;
const GROUP_OR_TYPE_NAME = /^[A-Za-z0-9:_-]{1,128}$/;
/** Printable ASCII and space, at most 2028 characters (the AWS thing group description rule). */
const GROUP_DESCRIPTION = /^[\x20-\x7e]{0,2028}$/;

/** Throws POLICY_NAME_INVALID unless `name` is 1–128 characters of `A-Za-z0-9_+=,.@-`. */
export function assertPolicyName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !POLICY_NAME.test(name)) {
    throw new RegistryError('POLICY_NAME_INVALID', `invalid policy name ${shown(name)}`, 'use 1-128 characters of A-Z a-z 0-9 and _ + = , . @ -');
  }
}

/** Throws THING_GROUP_NAME_INVALID unless `name` is 1–128 characters of `A-Za-z0-9:_-`. */
export function assertThingGroupName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !GROUP_OR_TYPE_NAME.test(name)) {
    throw new RegistryError('THING_GROUP_NAME_INVALID', `invalid thing group name ${shown(name)}`, 'use 1-128 characters of A-Z a-z 0-9 and : _ -');
  }
}

/** Throws THING_GROUP_DESCRIPTION_INVALID unless it is at most 2028 printable ASCII characters. */
export function assertThingGroupDescription(text: unknown): asserts text is string {
  if (typeof text !== 'string' || !GROUP_DESCRIPTION.test(text)) {
    throw new RegistryError('THING_GROUP_DESCRIPTION_INVALID', 'a thing group description is at most 2028 printable ASCII characters (letters, digits, punctuation, spaces)', 'shorten the description and remove tabs, line breaks and non-ASCII characters');
  }
}

/** Throws THING_TYPE_NAME_INVALID unless `name` is 1–128 characters of `A-Za-z0-9:_-`. */
export function assertThingTypeName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !GROUP_OR_TYPE_NAME.test(name)) {
    throw new RegistryError('THING_TYPE_NAME_INVALID', `invalid thing type name ${shown(name)}`, 'use 1-128 characters of A-Z a-z 0-9 and : _ -');
  }
}

/**
 * Throws THING_TYPE_PROPERTIES_INVALID unless the description is at most 2028 printable
 * ASCII characters and there are at most three distinct searchable attribute names
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_ThingTypeProperties.html).
 */
export function assertThingTypeProperties(description: unknown, searchableAttributes: readonly unknown[]): void {
  const fail = (message: string, fix: string): never => {
    throw new RegistryError('THING_TYPE_PROPERTIES_INVALID', message, fix);
  };
  if (description !== undefined && (typeof description !== 'string' || !GROUP_DESCRIPTION.test(description))) {
    fail('a thing type description is at most 2028 printable ASCII characters', 'shorten the description and remove tabs, line breaks and non-ASCII characters');
  }
  if (searchableAttributes.length > 3) fail(`a thing type has at most 3 searchable attributes (${searchableAttributes.length} given)`, 'keep the three attributes you search by most');
  const seen = new Set<unknown>();
  for (const a of searchableAttributes) {
    if (typeof a !== 'string' || !ATTRIBUTE_KEY.test(a)) fail(`invalid searchable attribute name ${shown(a)}`, 'use 1-128 characters of A-Z a-z 0-9 and _ . , @ / : # -');
    if (seen.has(a)) fail(`searchable attribute ${shown(a)} is given twice`, 'name each attribute once');
    seen.add(a);
  }
}

/** An UpdateThing request, checked before any read: what both registry backends apply. */
export interface CheckedThingUpdate {
  readonly type: string | null | undefined;
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
  readonly expected: number | undefined;
}

/** Checks the thing name, the type name and the attributes of an UpdateThing request (an attribute both set and removed is refused). */
export function checkThingUpdate(name: string, update: {
  readonly thingTypeName?: string | null; readonly expectedVersion?: number; readonly setAttributes?: Readonly<Record<string, string>>; readonly removeAttributes?: readonly string[];
}): CheckedThingUpdate {
  assertThingName(name);
  const type = update.thingTypeName;
  if (type !== undefined && type !== null) assertThingTypeName(type);
  const set = update.setAttributes ?? {};
  assertAttributes(set);
  const remove = update.removeAttributes ?? [];
  for (const k of remove) {
    assertAttributes({ [k]: '' });
    if (Object.hasOwn(set, k)) throw new RegistryError('THING_ATTRIBUTE_INVALID', `attribute \`${k}\` is both set and removed`, 'set or remove each attribute, not both');
  }
  return { type, set, remove, expected: update.expectedVersion };
}

/** Refuses a thing left with more than MAX_ATTRIBUTES attributes by an update (checked after its writes, in its transaction). */
export function assertAttributeCount(attributes: Readonly<Record<string, string>>): void {
  const count = Object.keys(attributes).length;
  if (count > MAX_ATTRIBUTES) {
    throw new RegistryError('THING_ATTRIBUTE_INVALID', `a thing has at most ${MAX_ATTRIBUTES} attributes (this update would leave ${count})`, 'remove attributes in the same update');
  }
}
