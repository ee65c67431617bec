/**
 * What the retained-message routes (retained-routes.ts) need from the gateway: the
 * broker's retained keeper and its publish, as structural ports (the api layer does not
 * import the broker; gateway.ts passes `RetainedKeeper` and the service bus).
 */

/** What the routes need of the retained messages (the broker's RetainedKeeper, structurally). */
export interface RetainedMessages {
  get(topic: string): Promise<{ readonly topic: string; readonly payload: Buffer; readonly qos: number; readonly modifiedAt: number } | undefined>;
  list(options: { readonly after?: string; readonly limit: number }): Promise<readonly { readonly topic: string; readonly payloadSize: number; readonly qos: number; readonly modifiedAt: number }[]>;
  admit(topic: string, size: number): { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly message: string };
}

/** The broker's publish (the service bus, structurally). */
export interface BrokerPublisher {
  publish(topic: string, payload: Buffer, options: { readonly qos: 0 | 1; readonly retain: boolean }): Promise<void>;
}

/** The data-plane context's `retained` member. */
export interface RetainedPlane {
  readonly messages: RetainedMessages;
  readonly publisher: BrokerPublisher;
}
