/**
 * The thing-name rule, the one copy of it: 1 to 128 characters from `a-z`, `A-Z`,
 * `0-9`, `:`, `_` and `-` (the AWS IoT rule, so that names exported from AWS IoT import
 * unchanged). The registry, the sessions, the local API, the CLI and the certificate
 * authority all check names with it and report a bad one as `THING_NAME_INVALID`.
 *
 * Thing names are case-sensitive: `Dev1` and `dev1` are two things.
 */

export const THING_NAME_MAX = 128;
const THING_NAME = /^[A-Za-z0-9:_-]{1,128}$/;
const THING_NAME_CHARACTER = /[A-Za-z0-9:_-]/;

/** The fix to print with a THING_NAME_INVALID error. */
export const THING_NAME_FIX = 'use 1 to 128 characters from a-z, A-Z, 0-9, `:`, `_` and `-`';

export function isValidThingName(name: unknown): name is string {
  return typeof name === 'string' && THING_NAME.test(name);
}

/** Why `name` is not a thing name, or undefined when it is one. */
export function thingNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'a thing name must be a string';
  if (name.length === 0) return 'a thing name cannot be empty';
  if (name.length > THING_NAME_MAX) return `a thing name is at most ${THING_NAME_MAX} characters (this one has ${name.length})`;
  if (!THING_NAME.test(name)) {
    const bad = [...name].find((c) => !THING_NAME_CHARACTER.test(c)) ?? '?';
    return `character ${JSON.stringify(bad)} is not allowed in a thing name`;
  }
  return undefined;
}
