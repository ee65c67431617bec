/**
 * The Device Shadow service: the semantics of `core/shadow/document.ts` over the store
 * in the registry database, shared by both ways in (the MQTT topics, shadow-mqtt.ts, and
 * the HTTPS endpoints, shadow-routes.ts). Authorization happens before a call reaches
 * it: the broker's publish hook for MQTT, the data-plane listener for HTTPS.
 *
 * Every accepted change is announced on the shadow's MQTT topics whichever way it came
 * in, as AWS IoT does: `…/update/accepted`, `…/update/delta` (when `desired` and
 * `reported` differ afterwards) and `…/update/documents` after an update,
 * `…/delete/accepted` after a delete. Answers to a request (`…/get/accepted`, every
 * `…/rejected`) are the MQTT binding's: an HTTPS caller gets them as the HTTP answer.
 * https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-mqtt.html
 */
import {
  applyUpdate, currentVersion, deleteDocument, failure, getDocument, noShadowMessage, SHADOW_MESSAGES,
  type JsonObject, type PlainRequest, type ShadowFailure, type UpdateOutcome, type UpdateRequest,
} from '../../core/shadow/document.js';
import { shadowTopicPrefix } from '../../core/shadow/topics.js';
import type { ShadowStore } from '../../identity/shadow-store.js';
import type { Logger } from '../../observability/logger.js';

/** Where the service announces changes (the broker's service bus, structurally). */
export interface ShadowPublisher {
  publish(topic: string, payload: string): Promise<void>;
}

export interface ShadowServiceOptions {
  readonly store: ShadowStore;
  readonly clock: () => Date;
  /** Bytes `desired` and `reported` may take together (`gatehouse.shadows.maxDocumentSizeBytes`). */
  readonly maxDocumentBytes: number;
  readonly logger: Logger;
  /** Undefined: changes are not announced (no broker, as in some tests). */
  readonly publisher?: ShadowPublisher;
}

export type ShadowAnswer = { readonly ok: true; readonly document: JsonObject } | ShadowFailure;

export interface NamedShadowPage {
  readonly ok: true;
  readonly results: readonly string[];
  readonly nextToken?: string;
  readonly timestamp: number;
}

/** ListNamedShadowsForThing's page size: 1 to 100 (https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_ListNamedShadowsForThing.html). */
export const LIST_PAGE_MAX = 100;
export const LIST_PAGE_DEFAULT = 25;

export class ShadowService {
  readonly #o: ShadowServiceOptions;

  constructor(options: ShadowServiceOptions) {
    this.#o = options;
  }

  get maxDocumentBytes(): number {
    return this.#o.maxDocumentBytes;
  }

  async get(thingName: string, shadowName: string, request: PlainRequest): Promise<ShadowAnswer> {
    const now = this.#o.clock().getTime();
    const { thingExists, slot } = await this.#o.store.get(thingName, shadowName);
    if (!thingExists) return failure(404, SHADOW_MESSAGES.THING_NOT_FOUND, request.clientToken);
    if (slot.document === undefined) return failure(404, noShadowMessage(thingName, shadowName), request.clientToken);
    return { ok: true, document: getDocument(slot.document, now, request.clientToken) };
  }

  async update(thingName: string, shadowName: string, request: UpdateRequest): Promise<ShadowAnswer> {
    const now = this.#o.clock().getTime();
    const outcome = await this.#o.store.transact<UpdateOutcome | ShadowFailure>(thingName, shadowName, ({ thingExists, slot }) => {
      if (!thingExists) return { result: failure(404, SHADOW_MESSAGES.THING_NOT_FOUND, request.clientToken) };
      const r = applyUpdate(slot, request, now, this.#o.maxDocumentBytes);
      return r.ok ? { write: { kind: 'put', document: r.current, at: now }, result: r } : { result: r };
    });
    if (!outcome.ok) return outcome;
    const prefix = shadowTopicPrefix(thingName, shadowName);
    this.#announce(`${prefix}/update/accepted`, outcome.accepted);
    if (outcome.delta !== undefined) this.#announce(`${prefix}/update/delta`, outcome.delta);
    this.#announce(`${prefix}/update/documents`, outcome.documents);
    return { ok: true, document: outcome.accepted };
  }

  async delete(thingName: string, shadowName: string, request: PlainRequest): Promise<ShadowAnswer> {
    const now = this.#o.clock().getTime();
    const r = await this.#o.store.transact(thingName, shadowName, ({ thingExists, slot }): { write?: { kind: 'delete'; version: number; at: number }; result: ShadowAnswer } => {
      if (!thingExists) return { result: failure(404, SHADOW_MESSAGES.THING_NOT_FOUND, request.clientToken) };
      const d = slot.document;
      if (d === undefined) return { result: failure(404, noShadowMessage(thingName, shadowName), request.clientToken) };
      if (request.version !== undefined && request.version !== currentVersion(slot, now)) return { result: failure(409, SHADOW_MESSAGES.VERSION_CONFLICT, request.clientToken) };
      return { write: { kind: 'delete', version: d.version, at: now }, result: { ok: true, document: deleteDocument(d.version, now, request.clientToken) } };
    });
    if (r.ok) this.#announce(`${shadowTopicPrefix(thingName, shadowName)}/delete/accepted`, r.document);
    return r;
  }

  /** A page of named shadow names; `nextToken` is the opaque token of the previous page. */
  async listNamed(thingName: string, nextToken: string | undefined, pageSize: number | undefined): Promise<NamedShadowPage | ShadowFailure> {
    const now = this.#o.clock().getTime();
    const size = pageSize ?? LIST_PAGE_DEFAULT;
    let after: string | undefined;
    if (nextToken !== undefined) {
      after = Buffer.from(nextToken, 'base64url').toString('utf8');
      if (after === '' || Buffer.from(after, 'utf8').toString('base64url') !== nextToken) return failure(400, 'Invalid nextToken');
    }
    const { thingExists, names } = await this.#o.store.listNamed(thingName, { ...(after !== undefined ? { after } : {}), limit: size + 1 });
    if (!thingExists) return failure(404, SHADOW_MESSAGES.THING_NOT_FOUND);
    const results = names.slice(0, size);
    const more = names.length > size;
    return { ok: true, results, ...(more ? { nextToken: Buffer.from(results[results.length - 1]!, 'utf8').toString('base64url') } : {}), timestamp: Math.floor(now / 1000) };
  }

  #announce(topic: string, document: JsonObject): void {
    const p = this.#o.publisher;
    if (p === undefined) return;
    p.publish(topic, JSON.stringify(document)).catch((e: unknown) =>
      this.#o.logger.error({ event: 'shadow-publish-failed', topic, err: (e as Error).message }, 'a shadow message could not be published'));
  }
}
