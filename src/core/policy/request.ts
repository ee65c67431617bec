/**
 * The MQTT operations and resource types Gatehouse authorizes, and checks on the
 * request strings brokers send.
 */

export const OPERATIONS = ['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Operation wildcards accepted in policies: `*` (all) and `mqtt:*` (all of service mqtt). */
export const OPERATION_WILDCARDS = ['*', 'mqtt:*'] as const;

/** The resource prefix each operation is checked against. */
export const RESOURCE_PREFIX: Readonly<Record<Operation, string>> = {
  'mqtt:connect': 'mqtt:clientId:',
  'mqtt:publish': 'mqtt:topic:',
  'mqtt:subscribe': 'mqtt:topicfilter:',
};

export const RESOURCE_PREFIXES: readonly string[] = Object.values(RESOURCE_PREFIX);

export function operationIndex(op: string): number {
  switch (op) {
    case 'mqtt:connect':
      return 0;
    case 'mqtt:publish':
      return 1;
    case 'mqtt:subscribe':
      return 2;
    default:
      return -1;
  }
}

// Characters the reference accepts in a resource name: printable ASCII and Unicode word
// characters. Control characters, emoji and other symbols make a request malformed.
const NAME_CHARS = /^[\x20-\x7E\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\u200C\u200D]+$/u;

/** True when every character of `s` may appear in a resource name. */
export function validNameChars(s: string, from = 0): boolean {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) continue;
    if (c < 0x80) return false;
    return NAME_CHARS.test(s.slice(i));
  }
  return true;
}

/** Splits `service:type:name` the way the reference does (first two colons). */
export function splitResource(resource: string): { service: string; type: string; name: string } | undefined {
  const a = resource.indexOf(':');
  if (a <= 0) return undefined;
  const b = resource.indexOf(':', a + 1);
  if (b <= a + 1) return undefined;
  return { service: resource.slice(0, a), type: resource.slice(a + 1, b), name: resource.slice(b + 1) };
}
