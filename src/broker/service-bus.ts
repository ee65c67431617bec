/**
 * The one seam between the broker and the gateway's MQTT services (the Device Shadow
 * service today; retained messages and jobs bind the same way): a service listens to
 * the messages devices publish on its request topics and answers by publishing.
 *
 * - `handle(filter, handler)`: the handler sees a message only after the publish hook
 *   allowed it (a denied publish is redirected to the drop topic before routing, so it
 *   never matches a service's filter). It runs as an internal subscriber of aedes'
 *   router, not as a client: no subscription or receive check applies to it.
 * - `publish(topic, payload)`: the message goes through aedes' normal routing as if the
 *   broker itself had published it: every subscriber receives it only through the
 *   delivery hook (`hooks/forward.ts`: the subscription's filter was authorized, and
 *   `iot:Receive` or the Greengrass receive rule is decided for the topic).
 *
 * Nothing else of the broker is reachable through it.
 */
import type { Aedes, AedesPublishPacket } from 'aedes';

export interface ServiceMessage {
  readonly topic: string;
  readonly payload: Buffer;
}

export interface ServiceBus {
  /** Calls `handler` for every allowed publish on a topic matching `filter`; returns the unsubscribe function. */
  handle(filter: string, handler: (message: ServiceMessage) => void): () => void;
  /**
   * Publishes as the broker (QoS 1, not retained, unless `options` say otherwise),
   * through the normal delivery checks. A retained message is stored through the
   * persistence (retained.ts limits apply: a store over them rejects).
   */
  publish(topic: string, payload: Buffer | string, options?: { readonly qos?: 0 | 1; readonly retain?: boolean }): Promise<void>;
}

export function aedesServiceBus(aedes: Aedes): ServiceBus {
  return {
    handle(filter, handler) {
      const deliver = (packet: AedesPublishPacket, callback: () => void): void => {
        const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
        try {
          handler({ topic: packet.topic, payload });
        } finally {
          callback();
        }
      };
      aedes.subscribe(filter, deliver, () => undefined);
      return () => aedes.unsubscribe(filter, deliver, () => undefined);
    },
    publish(topic, payload, options) {
      return new Promise<void>((resolve, reject) => {
        aedes.publish({ cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: options?.qos ?? 1, retain: options?.retain ?? false, dup: false },
          (e?: Error) => (e ? reject(e) : resolve()));
      });
    },
  };
}
