import type { Client } from 'aedes';
import type { BrokerContext } from './context.js';

/**
 * MQTT 5 reason codes Gatehouse sends (MQTT 5.0 §2.4; DISCONNECT codes §3.14.2.1), and
 * the Reason String that may go with them.
 */
export const REASON = {
  /** 0x87 Not authorized: PUBACK/PUBREC, SUBACK per filter, CONNACK, DISCONNECT. */
  NOT_AUTHORIZED: 0x87,
  /** 0x8B Server shutting down (DISCONNECT; sent by aedes itself on close). */
  SERVER_SHUTTING_DOWN: 0x8b,
  /** 0x8E Session taken over (DISCONNECT to the older connection of a client ID). */
  SESSION_TAKEN_OVER: 0x8e,
  /** 0x98 Administrative action (DISCONNECT: an operator, a revoked or detached certificate…). */
  ADMINISTRATIVE_ACTION: 0x98,
  /** 0x93 Receive Maximum exceeded (DISCONNECT: more unacknowledged QoS 1/2 messages than announced in CONNACK). */
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  /** 0x95 Packet too large (DISCONNECT: a packet over the Maximum Packet Size announced in CONNACK). */
  PACKET_TOO_LARGE: 0x95,
} as const;

/**
 * The Reason String for a refusal: Gatehouse's reason code (`NO_MATCHING_STATEMENT`,
 * `DENIED_BY_STATEMENT`, `SESSION_REPLACED`…), never policy text or statement contents, and
 * only when `gatehouse.mqtt.reasonStrings` is true. Empty otherwise: aedes sends an error's
 * message as the Reason String of a PUBACK/PUBREC, and sends none for an empty message.
 */
export function reasonString(ctx: BrokerContext, reason: string): string {
  return ctx.reasonStrings ? reason : '';
}

/**
 * Ends a connection: an MQTT 5 client receives DISCONNECT with `reasonCode` (and the
 * Reason String when allowed) before the close; an MQTT 3.1.1 client is closed as before.
 */
export function endConnection(ctx: BrokerContext, client: Client, reasonCode: number, reason: string): void {
  if (client.version !== 5) {
    client.close();
    return;
  }
  const text = reasonString(ctx, reason);
  client.disconnect({ reasonCode, ...(text === '' ? {} : { properties: { reasonString: text } }) }, () => {});
}
