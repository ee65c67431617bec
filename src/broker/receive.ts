import { CombinedView, MAX_CACHED_KEY_LENGTH } from '../core/index.js';
import type { LiveSession, SessionView } from './live-sessions.js';
import { isReserved, matchingFilter, topicMatchesFilter } from './topics.js';

/**
 * The one place that decides whether a session may receive a message on a topic, at the
 * moment of delivery: live messages, messages queued for a persistent session, retained
 * messages sent after SUBSCRIBE and QoS 1/2 messages resent at reconnect all ask here.
 *
 * The Greengrass policy dialect has no receive permission, so "may receive" means: the
 * session still holds a granted subscription whose filter matches the topic (MQTT 3.1.1
 * §4.7; for a shared subscription `$share/{ShareName}/{TopicFilter}`, its TopicFilter),
 * and that filter is still allowed (`mqtt:subscribe` on `mqtt:topicfilter:<filter>`, the
 * whole shared filter) under the snapshot in force. A reserved topic is never receivable.
 *
 * Cost: one Map lookup per delivery. The answer is cached per session and topic; the
 * cache is cleared whenever the session's view (a snapshot swap) or its filters change
 * (LiveSession.setView / grant / revoke), and when it reaches RECEIVE_CACHE_LIMIT
 * entries, so a device receiving on ever-new topics cannot grow it without bound.
 */
export function mayReceive(session: LiveSession, topic: string): boolean {
  const cache = session.receivable;
  const known = cache.get(topic);
  if (known !== undefined) return known;
  const view = session.view;
  const answer = receivable(view, session.filters, topic);
  // Under a policy that reads the clock the answer may change by itself: not remembered.
  if (view instanceof CombinedView && view.timed) return answer;
  // A long topic is not kept alive by the cache (MQTT topics may be 65,535 bytes long).
  if (topic.length > MAX_CACHED_KEY_LENGTH) return answer;
  if (cache.size >= RECEIVE_CACHE_LIMIT) cache.clear();
  cache.set(topic, answer);
  return answer;
}

/**
 * Topics remembered per session before the cache starts over. At 256 a full cache holds
 * about 7 KiB (the topic strings are shared with the messages), so 5,000 sessions stay
 * under 40 MB, and never more than 256 KiB (topics longer than MAX_CACHED_KEY_LENGTH are
 * not remembered); a session receiving on more distinct topics than this pays the uncached
 * decision (about 0.5 µs with three filters) on most deliveries.
 */
export const RECEIVE_CACHE_LIMIT = 256;

/**
 * The uncached decision, also used for sessions that are not connected (re-check of
 * persistent sessions): some filter of `filters` matches `topic` and is allowed by `view`.
 */
export function receivable(view: SessionView, filters: Iterable<string>, topic: string): boolean {
  if (isReserved(topic)) return false;
  if (view instanceof CombinedView) {
    // iot:Receive on the topic: an IoT Deny refuses, an IoT Allow grants for any held
    // filter matching the topic; with neither, the Greengrass rule below decides (a
    // Greengrass subscribe grant implies receiving; an iot:Subscribe grant does not).
    const r = view.receive(topic);
    if (r === 'deny') return false;
    if (r === 'allow') {
      for (const f of filters) if (topicMatchesFilter(topic, matchingFilter(f))) return true;
      return false;
    }
  }
  for (const f of filters) {
    if (!topicMatchesFilter(topic, matchingFilter(f))) continue;
    const resource = 'mqtt:topicfilter:' + f;
    // The Greengrass rule needs a Greengrass grant: a filter allowed only by iot:Subscribe
    // receives only what iot:Receive allows (above). An IoT Deny of the filter still counts.
    if (view instanceof CombinedView ? view.greengrass.decide('mqtt:subscribe', resource).allowed && view.decide('mqtt:subscribe', resource).allowed : view.decide('mqtt:subscribe', resource).allowed) return true;
  }
  return false;
}
