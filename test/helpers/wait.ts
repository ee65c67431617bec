/**
 * Waiting in tests: for an event, never for a fixed time.
 *
 * `waitUntil` polls a condition with a deadline; use it only when the condition IS the
 * event awaited (a message in a list an event listener fills, a counter a callback
 * bumps, a row written by another process). Prefer `waitForEvent`/`nextMessage` when the
 * thing awaited is an emitter's event.
 */
import type { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';

/** Resolves once `cond` holds (checked every `intervalMs`); fails after `timeoutMs`. Returns the time waited. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition', intervalMs = 10): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return Date.now() - t0;
}

/** The next `event` from `emitter` whose arguments satisfy `pred`; fails after `timeoutMs`. */
export function waitForEvent<A extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, pred: (...args: A) => boolean = () => true, timeoutMs = 5000): Promise<A> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      if (!pred(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, onEvent);
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, onEvent);
  });
}

export interface ReceivedMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

/**
 * The next message `client` receives that satisfies `pred`. Register it before the action
 * that causes the message. Used as the marker that bounds a negative check: a message
 * published after the unwanted one, on a path the unwanted one would have taken first.
 */
export function nextMessage(client: MqttClient, pred: (m: ReceivedMessage) => boolean = () => true, timeoutMs = 5000): Promise<ReceivedMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (topic: string, payload: Buffer, packet: { retain: boolean }): void => {
      const m = { topic, payload: payload.toString(), retain: packet.retain };
      if (!pred(m)) return;
      clearTimeout(timer);
      client.removeListener('message', onMessage);
      resolve(m);
    };
    const timer = setTimeout(() => {
      client.removeListener('message', onMessage);
      reject(new Error(`no matching message within ${timeoutMs} ms`));
    }, timeoutMs);
    client.on('message', onMessage);
  });
}
