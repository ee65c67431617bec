/**
 * The reserved MQTT topics of the Device Shadow service
 * (https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-mqtt.html):
 * a prefix per shadow — `$aws/things/THING/shadow` for the classic shadow,
 * `$aws/things/THING/shadow/name/SHADOW` for a named one — followed by the request
 * (`/get`, `/update`, `/delete`) or a response (`/accepted`, `/rejected` after the
 * request, `/update/delta`, `/update/documents`).
 */
import { isValidThingName } from '../names.js';
import { isValidShadowName } from './document.js';

export type ShadowOperation = 'get' | 'update' | 'delete';

export interface ShadowRequestTopic {
  readonly thingName: string;
  /** '' for the classic shadow. */
  readonly shadowName: string;
  readonly operation: ShadowOperation;
}

/** Topic filters of the requests the service answers (one per operation and shadow kind). */
export const SHADOW_REQUEST_FILTERS: readonly string[] = [
  '$aws/things/+/shadow/get', '$aws/things/+/shadow/update', '$aws/things/+/shadow/delete',
  '$aws/things/+/shadow/name/+/get', '$aws/things/+/shadow/name/+/update', '$aws/things/+/shadow/name/+/delete',
];

const OPERATIONS: ReadonlySet<string> = new Set(['get', 'update', 'delete']);

/** The request a topic names, or undefined when it names none (a response topic, a bad name). */
export function parseShadowRequestTopic(topic: string): ShadowRequestTopic | undefined {
  const l = topic.split('/');
  if (l[0] !== '$aws' || l[1] !== 'things' || l[3] !== 'shadow') return undefined;
  const thingName = l[2]!;
  if (!isValidThingName(thingName)) return undefined;
  if (l.length === 5 && OPERATIONS.has(l[4]!)) return { thingName, shadowName: '', operation: l[4] as ShadowOperation };
  if (l.length === 7 && l[4] === 'name' && isValidShadowName(l[5]!) && OPERATIONS.has(l[6]!)) {
    return { thingName, shadowName: l[5]!, operation: l[6] as ShadowOperation };
  }
  return undefined;
}

/** The topic prefix of a shadow. */
export function shadowTopicPrefix(thingName: string, shadowName: string): string {
  return shadowName === '' ? `$aws/things/${thingName}/shadow` : `$aws/things/${thingName}/shadow/name/${shadowName}`;
}
