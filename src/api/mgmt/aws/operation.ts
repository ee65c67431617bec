/**
 * One AWS REST-JSON operation as the management API serves it: its name, the HTTP
 * method and path of the service model, and a handler that reads the request's labels,
 * query, headers and JSON body, authorizes, acts and returns the output members.
 *
 * Readers here check each input member the way the service model types it (string,
 * integer, boolean, list, map) and answer the service's validation exception for a
 * member of the wrong type, so that no handler acts on a value it did not expect.
 * Timestamps are written as epoch seconds, the restJson1 default.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CallCheck } from '../call.js';
import { AwsServiceError, type AwsExceptionName } from './errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler gets from the request. */
export interface AwsCall {
  readonly labels: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  readonly headers: IncomingHttpHeaders;
  /** The JSON body (an object), or `{}` when there is none. */
  readonly body: Readonly<Record<string, unknown>>;
  /** The request's `authorizeCall`: decides, audits, throws on deny. */
  authorize(check: CallCheck): Promise<void>;
}

export interface AwsOperation<C> {
  /** The operation's name in the service model (`CreateThing`). */
  readonly name: string;
  readonly method: HttpMethod;
  /** The service model's path with `{label}`s (`/things/{thingName}`). */
  readonly path: string;
  /** The main IAM action (the one the audit log names when authentication fails). */
  readonly action: string;
  readonly summary: string;
  /** A request that passes the operation's input checks (path with query, body, headers), for the test that walks every route. */
  readonly example: { readonly path: string; readonly body?: unknown; readonly headers?: Readonly<Record<string, string>> };
  readonly handler: (ctx: C, call: AwsCall) => Promise<Record<string, unknown> | undefined>;
}

/** Reads input members, answering `invalid` (the service's validation exception) for a wrong type. */
export class Input {
  readonly #call: AwsCall;
  readonly #invalid: AwsExceptionName;

  constructor(call: AwsCall, invalid: AwsExceptionName) {
    this.#call = call;
    this.#invalid = invalid;
  }

  fail(message: string): AwsServiceError {
    return new AwsServiceError(this.#invalid, message);
  }

  label(name: string): string {
    const v = this.#call.labels[name];
    if (v === undefined || v === '') throw this.fail(`${name} is required`);
    return v;
  }

  #query(name: string): string | undefined {
    const v = this.#call.query[name];
    if (Array.isArray(v)) throw this.fail(`query parameter ${name} is given more than once`);
    return v;
  }

  queryString(name: string): string | undefined {
    return this.#query(name);
  }

  queryBool(name: string): boolean | undefined {
    const v = this.#query(name);
    if (v === undefined) return undefined;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw this.fail(`query parameter ${name} must be true or false`);
  }

  queryInt(name: string, min: number, max: number): number | undefined {
    const v = this.#query(name);
    if (v === undefined) return undefined;
    if (!/^-?\d{1,10}$/.test(v)) throw this.fail(`query parameter ${name} must be an integer`);
    const n = Number(v);
    if (n < min || n > max) throw this.fail(`query parameter ${name} must be from ${min} to ${max}`);
    return n;
  }

  header(name: string): string | undefined {
    const v = this.#call.headers[name];
    if (Array.isArray(v)) throw this.fail(`header ${name} is given more than once`);
    return v;
  }

  string(name: string, from: Readonly<Record<string, unknown>> = this.#call.body): string | undefined {
    const v = from[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw this.fail(`${name} must be a string`);
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw this.fail(`${name} is required`);
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.#call.body[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw this.fail(`${name} must be a boolean`);
    return v;
  }

  int(name: string, min: number, max: number): number | undefined {
    const v = this.#call.body[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw this.fail(`${name} must be an integer from ${min} to ${max}`);
    return v;
  }

  object(name: string, from: Readonly<Record<string, unknown>> = this.#call.body): Readonly<Record<string, unknown>> | undefined {
    const v = from[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw this.fail(`${name} must be an object`);
    return v as Record<string, unknown>;
  }

  /** A map of strings (`attributes`). */
  stringMap(name: string, from: Readonly<Record<string, unknown>> = this.#call.body): Readonly<Record<string, string>> | undefined {
    const o = this.object(name, from);
    if (o === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(o)) {
      if (typeof v !== 'string') throw this.fail(`${name}.${k} must be a string`);
      out[k] = v;
    }
    return out;
  }

  list(name: string): readonly unknown[] | undefined {
    const v = this.#call.body[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw this.fail(`${name} must be a list`);
    return v as unknown[];
  }

  stringList(name: string): readonly string[] | undefined {
    const l = this.list(name);
    if (l === undefined) return undefined;
    return l.map((v, i) => {
      if (typeof v !== 'string') throw this.fail(`${name}[${i}] must be a string`);
      return v;
    });
  }

  /** AWS's tag list `[{ "Key", "Value" }]` as a map; a key given twice is refused. */
  tags(name = 'tags'): Readonly<Record<string, string>> | undefined {
    const l = this.list(name);
    if (l === undefined) return undefined;
    const out: Record<string, string> = {};
    l.forEach((t, i) => {
      if (typeof t !== 'object' || t === null || Array.isArray(t)) throw this.fail(`${name}[${i}] must be an object with Key and Value`);
      const { Key, Value } = t as Record<string, unknown>;
      if (typeof Key !== 'string' || Key === '') throw this.fail(`${name}[${i}].Key must be a non-empty string`);
      if (Value !== undefined && typeof Value !== 'string') throw this.fail(`${name}[${i}].Value must be a string`);
      if (Object.hasOwn(out, Key)) throw this.fail(`tag key \`${Key}\` is given twice`);
      out[Key] = Value ?? '';
    });
    return out;
  }
}

/** Epoch seconds (restJson1's default timestamp format). */
export const epochSeconds = (d: Date): number => d.getTime() / 1000;

/** AWS's tag list from a map. */
export const tagList = (tags: Readonly<Record<string, string>>): { Key: string; Value: string }[] =>
  Object.keys(tags).sort().map((k) => ({ Key: k, Value: tags[k]! }));

/**
 * One page of `items` after the position a token names. `items` are sorted by `key`
 * (ascending, or descending when `descending`), keys unique. Tokens are opaque to the
 * caller: base64url of the last key returned. An unreadable token is the caller's error.
 */
export function page<T>(items: readonly T[], key: (t: T) => string, token: string | undefined, size: number, input: Input, descending = false): { readonly items: T[]; readonly next: string | undefined } {
  let start = 0;
  if (token !== undefined && token !== '') {
    let after: string;
    try {
      const decoded: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (typeof decoded !== 'object' || decoded === null || typeof (decoded as { a?: unknown }).a !== 'string') throw new Error('shape');
      after = (decoded as { a: string }).a;
    } catch {
      throw input.fail('the pagination token is not one this gateway issued');
    }
    // The first item past the token's key (the item it names may have been deleted since).
    start = items.findIndex((t) => (descending ? key(t) < after : key(t) > after));
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + size);
  const more = start + size < items.length && slice.length > 0;
  return { items: slice, next: more ? Buffer.from(JSON.stringify({ a: key(slice[slice.length - 1]!) }), 'utf8').toString('base64url') : undefined };
}

/** Drops undefined members, so absent outputs are absent in the JSON. */
export function out(o: Record<string, unknown>): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) r[k] = v;
  return r;
}
