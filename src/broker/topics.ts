/** MQTT topic helpers used by the broker (not by policy matching, which is glob-based). */

/** Topic prefix reserved for the broker itself; devices may neither publish nor subscribe there. */
export const RESERVED_PREFIXES = ['$SYS', '$gatehouse'] as const;

/** Where denied publishes are redirected so that nobody receives them (see hooks/publish.ts). */
export const DROP_TOPIC = '$gatehouse/dropped';

export function isReserved(topicOrFilter: string): boolean {
  // Every reserved prefix starts with `$`; most topics do not (checked on every message).
  if (topicOrFilter.charCodeAt(0) !== 0x24) return false;
  for (const p of RESERVED_PREFIXES) {
    if (topicOrFilter === p || topicOrFilter.startsWith(p + '/')) return true;
  }
  return false;
}

/** MQTT 3.1.1 §4.7 matching of a topic name against a filter. */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  // [MQTT-4.7.2-1] wildcards at the first level do not match topics beginning with `$`.
  if (topic.startsWith('$') && (filter.startsWith('#') || filter.startsWith('+'))) return false;
  const t = topic.split('/');
  const f = filter.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return t.length === f.length;
}
