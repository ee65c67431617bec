/**
 * The Device Shadow document semantics, pure: request validation, the update (merge,
 * `null` deleting a key), metadata timestamps, `version` with optimistic locking, the
 * delta between `desired` and `reported`, and the response documents of every topic and
 * endpoint. No I/O and no clock: the caller passes the time in and stores the result.
 *
 * Sources (AWS IoT Developer Guide):
 * - https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-document.html
 *   (request and response state documents, delta, versioning, client tokens, empty
 *   properties, arrays);
 * - https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-error-messages.html
 *   (the error codes and their messages, used word for word);
 * - https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-data-flow.html
 *   (a shadow re-created within 48 hours of its deletion continues its version);
 * - https://docs.aws.amazon.com/general/latest/gr/iot-core.html (document size and
 *   nesting limits).
 *
 * Order of checks of an update (the first failure answers):
 *  1. The payload is UTF-8 (415) and JSON whose top level is an object (400 Invalid JSON).
 *  2. `clientToken`, when present, is a string of at most 64 bytes (400 Invalid clientToken).
 *  3. `state` is present (400 Missing required node: state) and an object or null
 *     (400 State node must be an object); `desired` and `reported` are objects or null
 *     (400 Desired/Reported node must be an object); no other key but `delta`, which is
 *     ignored (400 State contains an invalid node).
 *  4. `version`, when present, is a non-negative integer (400 Invalid version).
 *  5. `desired` and `reported` nest at most 6 levels, each counting as the first
 *     (400 JSON contains too many levels of nesting; maximum is 6).
 *  6. `version`, when present, is the shadow's current version (409 Version conflict).
 *  7. The merged `desired` and `reported` together are at most the size limit, in bytes of
 *     their JSON text (413 The payload exceeds the maximum size allowed).
 * Steps 1–5 need only the request (`parseUpdateRequest`); 6–7 the stored shadow
 * (`applyUpdate`).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject { [key: string]: JsonValue }

/** Levels of nesting `desired` and `reported` may have, each counting as the first. */
export const SHADOW_MAX_DEPTH = 6;
/** Bytes of a client token. */
export const CLIENT_TOKEN_MAX_BYTES = 64;
/** AWS IoT's default limit on `desired` plus `reported`, in bytes (adjustable there up to 30 KB). */
export const DEFAULT_SHADOW_DOCUMENT_BYTES = 8 * 1024;
export const MAX_SHADOW_DOCUMENT_BYTES = 30 * 1024;
/** How long a deleted shadow's version is remembered: a shadow re-created within it continues the count. */
export const DELETED_VERSION_KEPT_MS = 48 * 60 * 60 * 1000;
/** Named shadows: 1 to 64 of these characters (the classic shadow has no name). */
export const SHADOW_NAME_MAX = 64;
const SHADOW_NAME = /^[A-Za-z0-9:_-]{1,64}$/;

export function isValidShadowName(name: string): boolean {
  return SHADOW_NAME.test(name);
}

/** The documented error codes of the Device Shadow service (HTTP statuses; the `code` of an MQTT rejected document). */
export type ShadowErrorCode = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500;

/** A refused request: the code and the documented message. */
export interface ShadowFailure {
  readonly ok: false;
  readonly code: ShadowErrorCode;
  readonly message: string;
  /** The request's client token, when it could be read: echoed in the error document. */
  readonly clientToken?: string;
}

/** The documented messages. */
export const SHADOW_MESSAGES = {
  INVALID_JSON: 'Invalid JSON',
  MISSING_STATE: 'Missing required node: state',
  STATE_NOT_OBJECT: 'State node must be an object',
  DESIRED_NOT_OBJECT: 'Desired node must be an object',
  REPORTED_NOT_OBJECT: 'Reported node must be an object',
  INVALID_VERSION: 'Invalid version',
  INVALID_CLIENT_TOKEN: 'Invalid clientToken',
  TOO_DEEP: `JSON contains too many levels of nesting; maximum is ${SHADOW_MAX_DEPTH}`,
  INVALID_STATE_NODE: 'State contains an invalid node',
  UNAUTHORIZED: 'Unauthorized',
  FORBIDDEN: 'Forbidden',
  THING_NOT_FOUND: 'Thing not found',
  VERSION_CONFLICT: 'Version conflict',
  TOO_LARGE: 'The payload exceeds the maximum size allowed',
  NOT_UTF8: 'Unsupported documented encoding; supported encoding is UTF-8',
  INTERNAL: 'Internal service failure',
} as const;

/** `No shadow exists with name: 'NAME'` (the shadow's name, or the thing's for the classic shadow). */
export function noShadowMessage(thingName: string, shadowName: string): string {
  return `No shadow exists with name: '${shadowName === '' ? thingName : shadowName}'`;
}

export function failure(code: ShadowErrorCode, message: string, clientToken?: string): ShadowFailure {
  return clientToken === undefined ? { ok: false, code, message } : { ok: false, code, message, clientToken };
}

/** The state a shadow holds: `desired` and `reported` are absent when empty. */
export interface ShadowState {
  readonly desired?: JsonObject;
  readonly reported?: JsonObject;
}

/** A stored shadow: state, its metadata (same shape, a `{"timestamp"}` per value) and version. */
export interface ShadowDocument {
  readonly state: ShadowState;
  readonly metadata: ShadowState;
  readonly version: number;
}

/** What the store has for a shadow name: the live document, or the version of a recent deletion. */
export interface ShadowSlot {
  readonly document?: ShadowDocument;
  /** The version of the shadow deleted last, and when (epoch ms); ignored once DELETED_VERSION_KEPT_MS have passed. */
  readonly deleted?: { readonly version: number; readonly at: number };
}

/** A validated update request. */
export interface UpdateRequest {
  /** `null`: clear `desired` and `reported`. */
  readonly state: { readonly desired?: JsonObject | null; readonly reported?: JsonObject | null } | null;
  readonly clientToken?: string;
  readonly version?: number;
}

/** A validated get or delete request (its payload may be empty). */
export interface PlainRequest {
  readonly clientToken?: string;
  readonly version?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function byteLength(s: string): number {
  return encoder.encode(s).length;
}

/** A fresh object without a prototype: keys such as `__proto__` are plain keys in it. */
function obj(): JsonObject {
  return Object.create(null) as JsonObject;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON text to values whose objects have no prototype. */
function parseJson(text: string): JsonValue {
  return JSON.parse(text, (_key, value: unknown) => {
    if (isObject(value) && Object.getPrototypeOf(value) !== null) {
      const o = obj();
      for (const k of Object.keys(value)) o[k] = value[k]!;
      return o;
    }
    return value;
  }) as JsonValue;
}

function decode(payload: Uint8Array | string): { ok: true; text: string } | ShadowFailure {
  if (typeof payload === 'string') return { ok: true, text: payload };
  try {
    return { ok: true, text: utf8.decode(payload) };
  } catch {
    return failure(415, SHADOW_MESSAGES.NOT_UTF8);
  }
}

function readClientToken(o: JsonObject): { ok: true; token: string | undefined } | ShadowFailure {
  if (!('clientToken' in o)) return { ok: true, token: undefined };
  const t = o['clientToken'];
  if (typeof t !== 'string' || byteLength(t) > CLIENT_TOKEN_MAX_BYTES) return failure(400, SHADOW_MESSAGES.INVALID_CLIENT_TOKEN);
  return { ok: true, token: t };
}

function readVersion(o: JsonObject, token: string | undefined): { ok: true; version: number | undefined } | ShadowFailure {
  if (!('version' in o)) return { ok: true, version: undefined };
  const v = o['version'];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return failure(400, SHADOW_MESSAGES.INVALID_VERSION, token);
  return { ok: true, version: v };
}

/**
 * Levels of non-empty objects and arrays below and including `node`, which is at
 * `level`; values and empty containers add none (the rule the AWS implementations
 * apply: `desired` is level 1, so an object five keys down from it is level 6).
 */
function tooDeep(node: JsonValue, level: number): boolean {
  if (node === null || typeof node !== 'object') return false;
  const children = Array.isArray(node) ? node : Object.values(node);
  if (children.length === 0) return false;
  if (level > SHADOW_MAX_DEPTH) return true;
  for (const c of children) if (tooDeep(c, level + 1)) return true;
  return false;
}

/** Checks 1–5 of an update (see the order at the top). */
export function parseUpdateRequest(payload: Uint8Array | string): { ok: true; request: UpdateRequest } | ShadowFailure {
  const d = decode(payload);
  if (!d.ok) return d;
  let doc: JsonValue;
  try {
    doc = parseJson(d.text);
  } catch {
    return failure(400, SHADOW_MESSAGES.INVALID_JSON);
  }
  if (!isObject(doc)) return failure(400, SHADOW_MESSAGES.INVALID_JSON);
  const t = readClientToken(doc);
  if (!t.ok) return t;
  const token = t.token;
  if (!('state' in doc)) return failure(400, SHADOW_MESSAGES.MISSING_STATE, token);
  const s = doc['state']!;
  let state: UpdateRequest['state'];
  if (s === null) {
    state = null;
  } else {
    if (!isObject(s)) return failure(400, SHADOW_MESSAGES.STATE_NOT_OBJECT, token);
    const out: { desired?: JsonObject | null; reported?: JsonObject | null } = {};
    for (const key of Object.keys(s)) {
      const v = s[key]!;
      if (key === 'desired' || key === 'reported') {
        if (v !== null && !isObject(v)) return failure(400, key === 'desired' ? SHADOW_MESSAGES.DESIRED_NOT_OBJECT : SHADOW_MESSAGES.REPORTED_NOT_OBJECT, token);
        out[key] = v;
      } else if (key !== 'delta') {
        // `delta` is computed by the service; a client's copy of it is ignored.
        return failure(400, SHADOW_MESSAGES.INVALID_STATE_NODE, token);
      }
    }
    state = out;
  }
  const v = readVersion(doc, token);
  if (!v.ok) return v;
  if (state !== null && ((state.desired != null && tooDeep(state.desired, 1)) || (state.reported != null && tooDeep(state.reported, 1)))) {
    return failure(400, SHADOW_MESSAGES.TOO_DEEP, token);
  }
  return { ok: true, request: { state, ...(token !== undefined ? { clientToken: token } : {}), ...(v.version !== undefined ? { version: v.version } : {}) } };
}

/** A get or delete request: an empty payload, or a JSON object with an optional `clientToken` (and `version`). */
export function parsePlainRequest(payload: Uint8Array | string): { ok: true; request: PlainRequest } | ShadowFailure {
  const d = decode(payload);
  if (!d.ok) return d;
  if (d.text.trim() === '') return { ok: true, request: {} };
  let doc: JsonValue;
  try {
    doc = parseJson(d.text);
  } catch {
    return failure(400, SHADOW_MESSAGES.INVALID_JSON);
  }
  if (!isObject(doc)) return failure(400, SHADOW_MESSAGES.INVALID_JSON);
  const t = readClientToken(doc);
  if (!t.ok) return t;
  const v = readVersion(doc, t.token);
  if (!v.ok) return v;
  return { ok: true, request: { ...(t.token !== undefined ? { clientToken: t.token } : {}), ...(v.version !== undefined ? { version: v.version } : {}) } };
}

/** The version a shadow has now: the live one, or a recent deletion's, or 0. */
export function currentVersion(slot: ShadowSlot, nowMs: number): number {
  if (slot.document !== undefined) return slot.document.version;
  if (slot.deleted !== undefined && nowMs - slot.deleted.at < DELETED_VERSION_KEPT_MS) return slot.deleted.version;
  return 0;
}

function clone(v: JsonValue): JsonValue {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(clone);
  const o = obj();
  for (const k of Object.keys(v)) o[k] = clone(v[k]!);
  return o;
}

/** An object with its `null` members removed, and objects left empty by that removed too (for a key that did not exist). */
function withoutNulls(v: JsonObject): JsonObject | undefined {
  const o = obj();
  let sawNull = false;
  for (const k of Object.keys(v)) {
    const x = v[k]!;
    if (x === null) {
      sawNull = true;
    } else if (isObject(x)) {
      const c = withoutNulls(x);
      if (c === undefined) sawNull = true;
      else o[k] = c;
    } else {
      o[k] = clone(x);
    }
  }
  return sawNull && Object.keys(o).length === 0 ? undefined : o;
}

/** Merges `patch` into `target` (mutated): objects recursively, `null` deletes, arrays and values replace. */
function mergeInto(target: JsonObject, patch: JsonObject): void {
  for (const k of Object.keys(patch)) {
    const p = patch[k]!;
    const t = target[k];
    if (p === null) {
      delete target[k];
    } else if (isObject(p) && isObject(t)) {
      mergeInto(t, p);
    } else if (isObject(p)) {
      const c = withoutNulls(p);
      if (c !== undefined) target[k] = c;
      else delete target[k];
    } else {
      target[k] = clone(p);
    }
  }
}

/** The metadata of a value: `{"timestamp"}` for a value (and for `null`, in a patch), per element for an array, per key for an object. */
function stamp(v: JsonValue, ts: number): JsonValue {
  if (Array.isArray(v)) return v.map((x) => stamp(x, ts));
  if (isObject(v)) {
    const o = obj();
    for (const k of Object.keys(v)) o[k] = stamp(v[k]!, ts);
    return o;
  }
  const m = obj();
  m['timestamp'] = ts;
  return m;
}

/**
 * Brings `meta` (the metadata of `before`, mutated) in line with `after` for the keys of
 * `patch`: a removed key loses its metadata, a changed value gets the new timestamp, an
 * object merged into an object is followed key by key.
 */
function mergeMetadata(meta: JsonObject, before: JsonObject | undefined, after: JsonObject, patch: JsonObject, ts: number): void {
  for (const k of Object.keys(patch)) {
    const p = patch[k]!;
    const a = after[k];
    if (a === undefined) {
      delete meta[k];
      continue;
    }
    const b = before?.[k];
    if (isObject(p) && isObject(a) && isObject(b)) {
      const m = meta[k];
      const child = isObject(m) ? m : obj();
      meta[k] = child;
      mergeMetadata(child, b, a, p, ts);
    } else {
      meta[k] = stamp(a, ts);
    }
  }
}

function nonEmpty(o: JsonObject | undefined): JsonObject | undefined {
  return o === undefined || Object.keys(o).length === 0 ? undefined : o;
}

/** Bytes of `desired` and `reported` as JSON text (what the size limit counts). */
export function stateBytes(state: ShadowState): number {
  return (state.desired !== undefined ? byteLength(JSON.stringify(state.desired)) : 0)
    + (state.reported !== undefined ? byteLength(JSON.stringify(state.reported)) : 0);
}

export interface UpdateOutcome {
  readonly ok: true;
  /** The shadow before (undefined for a new one) and after. */
  readonly previous: ShadowDocument | undefined;
  readonly current: ShadowDocument;
  /** `…/update/accepted` and the HTTP answer. */
  readonly accepted: JsonObject;
  /** `…/update/delta`, when `desired` and `reported` differ after the update. */
  readonly delta: JsonObject | undefined;
  /** `…/update/documents`. */
  readonly documents: JsonObject;
}

/** Checks 6–7 and the update itself; `nowMs` is the time, `maxBytes` the size limit. */
export function applyUpdate(slot: ShadowSlot, request: UpdateRequest, nowMs: number, maxBytes: number): UpdateOutcome | ShadowFailure {
  const token = request.clientToken;
  const base = currentVersion(slot, nowMs);
  if (request.version !== undefined && request.version !== base) return failure(409, SHADOW_MESSAGES.VERSION_CONFLICT, token);
  const ts = Math.floor(nowMs / 1000);
  const prev = slot.document;
  let desired = prev?.state.desired !== undefined ? clone(prev.state.desired) as JsonObject : undefined;
  let reported = prev?.state.reported !== undefined ? clone(prev.state.reported) as JsonObject : undefined;
  let mDesired = prev?.metadata.desired !== undefined ? clone(prev.metadata.desired) as JsonObject : undefined;
  let mReported = prev?.metadata.reported !== undefined ? clone(prev.metadata.reported) as JsonObject : undefined;
  const s = request.state;
  if (s === null) {
    desired = reported = mDesired = mReported = undefined;
  } else {
    for (const part of ['desired', 'reported'] as const) {
      if (!(part in s)) continue;
      const patch = s[part];
      if (patch === null || patch === undefined) {
        if (part === 'desired') desired = mDesired = undefined;
        else reported = mReported = undefined;
        continue;
      }
      const before = part === 'desired' ? desired : reported;
      const after = before !== undefined ? clone(before) as JsonObject : obj();
      mergeInto(after, patch);
      const meta = (part === 'desired' ? mDesired : mReported) ?? obj();
      mergeMetadata(meta, before, after, patch, ts);
      if (part === 'desired') {
        desired = nonEmpty(after);
        mDesired = desired === undefined ? undefined : nonEmpty(meta);
      } else {
        reported = nonEmpty(after);
        mReported = reported === undefined ? undefined : nonEmpty(meta);
      }
    }
  }
  const state: ShadowState = { ...(desired !== undefined ? { desired } : {}), ...(reported !== undefined ? { reported } : {}) };
  if (stateBytes(state) > maxBytes) return failure(413, SHADOW_MESSAGES.TOO_LARGE, token);
  const current: ShadowDocument = {
    state,
    metadata: { ...(mDesired !== undefined ? { desired: mDesired } : {}), ...(mReported !== undefined ? { reported: mReported } : {}) },
    version: base + 1,
  };

  // The accepted document echoes the request's state (nulls included) with its metadata.
  const acceptedState = s === null ? null : requestState(s);
  const accepted = withToken({
    state: acceptedState,
    metadata: acceptedState === null ? obj() : stamp(acceptedState, ts),
    version: current.version,
    timestamp: ts,
  }, token);
  const documents = withToken({
    ...(prev !== undefined ? { previous: versioned(prev) } : {}),
    current: versioned(current),
    timestamp: ts,
  }, token);
  return { ok: true, previous: prev, current, accepted, delta: deltaDocument(current, ts, token), documents };
}

function requestState(s: NonNullable<UpdateRequest['state']>): JsonObject {
  const o = obj();
  if (s.desired !== undefined) o['desired'] = clone(s.desired);
  if (s.reported !== undefined) o['reported'] = clone(s.reported);
  return o;
}

function withToken(o: Record<string, JsonValue>, token: string | undefined): JsonObject {
  const out = obj();
  for (const k of Object.keys(o)) out[k] = o[k]!;
  if (token !== undefined) out['clientToken'] = token;
  return out;
}

function stateObject(state: ShadowState): JsonObject {
  const o = obj();
  if (state.desired !== undefined) o['desired'] = state.desired;
  if (state.reported !== undefined) o['reported'] = state.reported;
  return o;
}

/** `{state, metadata, version}` of a shadow (the halves of `…/update/documents`). */
function versioned(d: ShadowDocument): JsonObject {
  return withToken({ state: stateObject(d.state), metadata: stateObject(d.metadata), version: d.version }, undefined);
}

function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]!));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => k in b && deepEqual(a[k]!, b[k]!));
}

/** The keys of `desired` whose value differs from `reported`'s (objects compared key by key; arrays and values whole). */
function deltaOf(desired: JsonObject, reported: JsonObject | undefined): JsonObject | undefined {
  const out = obj();
  for (const k of Object.keys(desired)) {
    const d = desired[k]!;
    const r = reported?.[k];
    if (r === undefined) {
      out[k] = clone(d);
    } else if (isObject(d) && isObject(r)) {
      const sub = deltaOf(d, r);
      if (sub !== undefined) out[k] = sub;
    } else if (!deepEqual(d, r)) {
      out[k] = clone(d);
    }
  }
  return nonEmpty(out);
}

/** The metadata of `desired` for the keys of a delta. */
function deltaMetadata(delta: JsonValue, meta: JsonValue | undefined): JsonValue {
  if (isObject(delta) && isObject(meta)) {
    const o = obj();
    for (const k of Object.keys(delta)) o[k] = deltaMetadata(delta[k]!, meta[k]);
    return o;
  }
  return meta === undefined ? null : clone(meta);
}

/** The delta of a shadow: `desired` keys that differ from `reported`; undefined when there are none. */
export function shadowDelta(d: ShadowDocument): JsonObject | undefined {
  return d.state.desired === undefined ? undefined : deltaOf(d.state.desired, d.state.reported);
}

function deltaDocument(d: ShadowDocument, ts: number, token: string | undefined): JsonObject | undefined {
  const delta = shadowDelta(d);
  if (delta === undefined) return undefined;
  return withToken({ version: d.version, timestamp: ts, state: delta, metadata: deltaMetadata(delta, d.metadata.desired) }, token);
}

/** `…/get/accepted` and the HTTP answer of GetThingShadow: state with its delta, metadata, version, timestamp. */
export function getDocument(d: ShadowDocument, nowMs: number, clientToken?: string): JsonObject {
  const state = stateObject(d.state);
  const delta = shadowDelta(d);
  if (delta !== undefined) state['delta'] = delta;
  return withToken({ state, metadata: stateObject(d.metadata), version: d.version, timestamp: Math.floor(nowMs / 1000) }, clientToken);
}

/** `…/delete/accepted` and the HTTP answer of DeleteThingShadow. */
export function deleteDocument(deletedVersion: number, nowMs: number, clientToken?: string): JsonObject {
  return withToken({ version: deletedVersion, timestamp: Math.floor(nowMs / 1000) }, clientToken);
}

/** `…/rejected`: the error response document. */
export function errorDocument(f: ShadowFailure, nowMs: number, clientToken?: string): JsonObject {
  const token = f.clientToken ?? clientToken;
  return withToken({ code: f.code, message: f.message, timestamp: Math.floor(nowMs / 1000) }, token);
}

/** The slot after a delete: the document gone, its version remembered. */
export function deletedSlot(d: ShadowDocument, nowMs: number): ShadowSlot {
  return { deleted: { version: d.version, at: nowMs } };
}

/** Reads a stored document back (the store keeps `{state, metadata}` as JSON text and the version apart). */
export function storedDocument(text: string, version: number): ShadowDocument {
  const v = parseJson(text);
  if (!isObject(v)) throw new Error('a stored shadow document is not an object');
  const part = (o: JsonValue | undefined): ShadowState => {
    if (!isObject(o)) return {};
    return { ...(isObject(o['desired']) ? { desired: o['desired'] } : {}), ...(isObject(o['reported']) ? { reported: o['reported'] } : {}) };
  };
  return { state: part(v['state']), metadata: part(v['metadata']), version };
}

/** The text the store keeps for a document. */
export function storedText(d: ShadowDocument): string {
  return JSON.stringify({ state: stateObject(d.state), metadata: stateObject(d.metadata) });
}
