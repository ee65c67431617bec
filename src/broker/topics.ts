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

/**
 * A topic under `$share/`: the prefix names shared subscriptions (MQTT 5.0 §4.8.2), so no
 * subscription can match such a topic; publishing to one (a message or a will) is refused
 * as a reserved topic, as AWS IoT Core refuses topics beginning with `$`.
 */
export function isShareTopic(topic: string): boolean {
  return topic.charCodeAt(0) === 0x24 && topic.startsWith('$share/');
}

/**
 * MQTT 3.1.1 §4.7 matching of a topic name against a filter, level by level, without
 * splitting either string (it runs on every delivery whose answer is not cached).
 * An empty level is a level: `a/` has the levels `a` and ``.
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  // [MQTT-4.7.2-1] wildcards at the first level do not match topics beginning with `$`.
  if (topic.charCodeAt(0) === 0x24 && (filter.charCodeAt(0) === 0x23 || filter.charCodeAt(0) === 0x2b)) return false;
  const tl = topic.length;
  const fl = filter.length;
  let t = 0;
  let f = 0;
  for (;;) {
    let fe = filter.indexOf('/', f);
    if (fe < 0) fe = fl;
    // `#` matches the parent level and everything below it [MQTT-4.7.1-2].
    if (fe - f === 1 && filter.charCodeAt(f) === 0x23) return true;
    if (t > tl) return false; // the topic has no level left
    let te = topic.indexOf('/', t);
    if (te < 0) te = tl;
    if (!(fe - f === 1 && filter.charCodeAt(f) === 0x2b)) {
      if (fe - f !== te - t) return false;
      for (let i = 0; i < fe - f; i++) if (filter.charCodeAt(f + i) !== topic.charCodeAt(t + i)) return false;
    }
    f = fe + 1;
    t = te + 1;
    if (f > fl) return t > tl; // the filter has no level left: match if neither has
  }
}

/** Every shared subscription's filter starts with this (MQTT 5.0 §4.8.2). */
export const SHARE_PREFIX = '$share/';

/** A shared subscription's parts. */
export interface SharedFilter {
  readonly shareName: string;
  readonly topicFilter: string;
}

/**
 * `$share/{ShareName}/{TopicFilter}` split into its parts; undefined when `filter` is not
 * a shared subscription, 'invalid' when it starts with `$share/` but breaks §4.8.2 (empty
 * ShareName, one with `+` or `#`, or no TopicFilter after it).
 */
export function parseShared(filter: string): SharedFilter | 'invalid' | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash <= SHARE_PREFIX.length || slash === filter.length - 1) return 'invalid';
  const shareName = filter.slice(SHARE_PREFIX.length, slash);
  if (shareName.includes('+') || shareName.includes('#')) return 'invalid';
  return { shareName, topicFilter: filter.slice(slash + 1) };
}

/**
 * The filter a held subscription matches topics with: the TopicFilter of a shared
 * subscription, the filter itself otherwise (receive.ts).
 */
export function matchingFilter(filter: string): string {
  if (filter.charCodeAt(0) !== 0x24 || !filter.startsWith(SHARE_PREFIX)) return filter;
  const p = parseShared(filter);
  // An invalid shared filter is never granted; it matches no topic.
  return typeof p === 'object' ? p.topicFilter : '\u0000';
}
