/**
 * The renaming that carries MQTT 5 shared subscriptions past aedes 2.0.0-beta.1, which
 * refuses a `$share/` filter (SUBACK 0x9E) before any hook runs (see shared.ts): the
 * filters are renamed on their way in and given their name back in the subscribe hook.
 */
import type { Client, Subscription } from 'aedes';
import { SHARE_PREFIX } from './topics.js';

/**
 * What an MQTT 5 `$share/` filter is renamed to on its way through aedes: same levels,
 * so aedes's topic checks (levels, wildcards) see the same filter.
 */
const PLACEHOLDER_PREFIX = '$gatehouse-share/';

/** Subscription objects whose `$share/` name was hidden from aedes. */
const hidden = new WeakSet<object>();

function hide<T extends { topic: string }>(sub: T): T {
  if (!sub.topic.startsWith(SHARE_PREFIX)) return sub;
  sub.topic = PLACEHOLDER_PREFIX + sub.topic.slice(SHARE_PREFIX.length);
  hidden.add(sub);
  return sub;
}

/**
 * Renames the `$share/` filters of every SUBSCRIBE of a connection before aedes reads
 * them (a listener put ahead of aedes's own on the connection's packet parser).
 * Returns false when the client has no parser to listen on (aedes changed).
 */
export function hideSharedFilters(client: Client): boolean {
  const parser = (client as unknown as { _parser?: { prependListener?: (event: string, fn: (p: { cmd?: string; subscriptions?: { topic: string }[] }) => void) => void } })._parser;
  if (typeof parser?.prependListener !== 'function') return false;
  parser.prependListener('packet', (packet) => {
    if (packet.cmd !== 'subscribe' || !Array.isArray(packet.subscriptions)) return;
    for (const s of packet.subscriptions) if (typeof s?.topic === 'string') hide(s);
  });
  return true;
}

/** A persistent session's stored subscriptions as aedes restores them: copies, `$share/` ones hidden. */
export function hideStored<T extends { topic: string }>(subs: readonly T[]): T[] {
  return subs.map((s) => (s.topic.startsWith(SHARE_PREFIX) ? hide({ ...s }) : s));
}

/**
 * In the subscribe hook: gives a hidden subscription its `$share/` name back (so aedes
 * stores and acknowledges it under that name). Whether it was one.
 */
export function revealShared(sub: Subscription): boolean {
  if (!hidden.has(sub)) return false;
  hidden.delete(sub);
  sub.topic = SHARE_PREFIX + sub.topic.slice(PLACEHOLDER_PREFIX.length);
  return true;
}
