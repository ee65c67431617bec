/**
 * The Device Shadow service on its reserved MQTT topics
 * (https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-mqtt.html):
 * a message on `…/get`, `…/update` or `…/delete` of a classic or named shadow is
 * answered on `…/accepted` or `…/rejected` after the request topic; an accepted update
 * or delete is announced by the service itself (shadow-service.ts).
 *
 * Authorization is the broker's: the request reached this binding only because the
 * device's `iot:Publish` (or Greengrass `mqtt:publish`) on the request topic was
 * allowed, and an answer reaches a subscriber only through the delivery checks (its
 * subscription, `iot:Receive`). That is AWS IoT's model on MQTT: the shadow actions
 * (`iot:GetThingShadow`, …) are the HTTPS endpoint's.
 */
import { errorDocument, failure, parsePlainRequest, parseUpdateRequest, SHADOW_MESSAGES, type ShadowFailure } from '../../core/shadow/document.js';
import { parseShadowRequestTopic, SHADOW_REQUEST_FILTERS, shadowTopicPrefix } from '../../core/shadow/topics.js';
import type { Logger } from '../../observability/logger.js';
import type { ShadowAnswer, ShadowService } from './shadow-service.js';

/** The broker's service bus (broker/service-bus.ts), as this module uses it. */
export interface MessageBus {
  handle(filter: string, handler: (message: { readonly topic: string; readonly payload: Buffer }) => void): () => void;
  publish(topic: string, payload: string): Promise<void>;
}

/** Answers shadow requests published on the bus; returns the function that stops it. */
export function bindShadowTopics(bus: MessageBus, service: ShadowService, logger: Logger, clock: () => Date): () => void {
  const onMessage = (message: { readonly topic: string; readonly payload: Buffer }): void => {
    const t = parseShadowRequestTopic(message.topic);
    if (t === undefined) return;
    const prefix = `${shadowTopicPrefix(t.thingName, t.shadowName)}/${t.operation}`;
    const answer = async (): Promise<ShadowAnswer> => {
      if (t.operation === 'update') {
        const r = parseUpdateRequest(message.payload);
        return r.ok ? service.update(t.thingName, t.shadowName, r.request) : r;
      }
      const r = parsePlainRequest(message.payload);
      if (!r.ok) return r;
      return t.operation === 'get' ? service.get(t.thingName, t.shadowName, r.request) : service.delete(t.thingName, t.shadowName, r.request);
    };
    void answer().catch((e: unknown): ShadowFailure => {
      logger.error({ event: 'shadow-error', thingName: t.thingName, shadowName: t.shadowName, operation: t.operation, err: (e as Error).message }, 'a shadow request failed');
      return failure(500, SHADOW_MESSAGES.INTERNAL);
    }).then((a) => {
      // Accepted updates and deletes are announced by the service; a get's answer is ours.
      if (a.ok && t.operation !== 'get') return;
      const topic = a.ok ? `${prefix}/accepted` : `${prefix}/rejected`;
      const body = a.ok ? a.document : errorDocument(a, clock().getTime());
      if (!a.ok && logger.isLevelEnabled('debug')) {
        logger.debug({ event: 'shadow-rejected', thingName: t.thingName, shadowName: t.shadowName, operation: t.operation, code: a.code, message: a.message }, 'shadow request rejected');
      }
      return bus.publish(topic, JSON.stringify(body));
    }).catch((e: unknown) => logger.error({ event: 'shadow-publish-failed', topic: prefix, err: (e as Error).message }, 'a shadow answer could not be published'));
  };
  const stops = SHADOW_REQUEST_FILTERS.map((f) => bus.handle(f, onMessage));
  return () => {
    for (const s of stops) s();
  };
}
