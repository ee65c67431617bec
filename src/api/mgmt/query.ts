/**
 * The AWS query protocol, shared by the STS and IAM routes: a form body
 * (`Action=…&Version=…&Param=…`, lists as `Name.member.N`), answered in XML
 * (`<ActionResponse xmlns=…><ActionResult>…</ActionResult><ResponseMetadata>
 * <RequestId>…</RequestId></ResponseMetadata></ActionResponse>`), errors as the
 * server's `ErrorResponse` (errors.ts). The protocol is AWS's:
 * https://docs.aws.amazon.com/IAM/latest/APIReference/iam-api.pdf (Making query requests),
 * https://docs.aws.amazon.com/STS/latest/APIReference/CommonParameters.html
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ManagementError, xmlEscape } from './errors.js';

export const XML_TYPE = 'text/xml';

/** The request's parameters (the form body, decoded by the server). */
export type QueryParams = Readonly<Record<string, string>>;

export function queryParams(request: FastifyRequest): QueryParams {
  const b = request.body;
  if (b === undefined) return {};
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new ManagementError(400, 'MalformedQueryString', 'send the parameters as an application/x-www-form-urlencoded body');
  return b as QueryParams;
}

export function validationError(message: string): ManagementError {
  return new ManagementError(400, 'ValidationError', message);
}

/** A parameter that breaks its shape's constraint, in the words AWS's services use. */
export function constraintError(value: string | null, field: string, rule: string): ManagementError {
  const shown = value === null ? 'null' : `'${value.slice(0, 256)}'`;
  return validationError(`1 validation error detected: Value ${shown} at '${field}' failed to satisfy constraint: ${rule}`);
}

/** `Prefix.member.N` values in order (N from 1, without gaps), or undefined when none is given. */
export function memberList(params: QueryParams, prefix: string, max: number): string[] | undefined {
  const out: string[] = [];
  for (let i = 1; ; i++) {
    const v = params[`${prefix}.member.${i}`];
    if (v === undefined) break;
    if (out.length >= max) throw constraintError(String(i), prefix.charAt(0).toLowerCase() + prefix.slice(1), `Member must have length less than or equal to ${max}`);
    out.push(v);
  }
  return out.length === 0 ? undefined : out;
}

/**
 * `Tags.member.N.Key` / `Tags.member.N.Value` as a map (at most 50; keys 1–128 characters,
 * not starting with `aws:`, unique regardless of case; values at most 256), or undefined
 * when none is given.
 */
export function queryTags(params: QueryParams, field: string): Record<string, string> | undefined {
  const tags: Record<string, string> = {};
  let n = 0;
  for (let i = 1; ; i++) {
    const key = params[`Tags.member.${i}.Key`];
    const value = params[`Tags.member.${i}.Value`];
    if (key === undefined && value === undefined) break;
    if (key === undefined || key.length < 1 || key.length > 128 || key.toLowerCase().startsWith('aws:')) throw constraintError(key ?? null, `${field}.${i}.member.key`, 'Member must have length between 1 and 128 and must not start with aws:');
    if (value === undefined || value.length > 256) throw constraintError(value ?? null, `${field}.${i}.member.value`, 'Member must have length less than or equal to 256');
    if (Object.keys(tags).some((k) => k.toLowerCase() === key.toLowerCase())) throw validationError('Duplicate tag keys found. Please note that Tag keys are case insensitive.');
    tags[key] = value;
    if (++n > 50) throw constraintError(String(n), field, 'Member must have length less than or equal to 50');
  }
  return n === 0 ? undefined : tags;
}

/** `<name>value</name>`, escaped; nothing when the value is undefined. */
export function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

/** AWS's timestamps in query answers: ISO 8601 in UTC, whole seconds. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The answer to `Action`: its result members (XML), or none for operations without output. */
export function queryResponse(action: string, namespace: string, requestId: string, result: string | undefined): string {
  const body = result === undefined ? '' : `\n  <${action}Result>${result}</${action}Result>`;
  return `<${action}Response xmlns="${xmlEscape(namespace)}">${body}
  <ResponseMetadata>
    <RequestId>${xmlEscape(requestId)}</RequestId>
  </ResponseMetadata>
</${action}Response>
`;
}

/**
 * The `Action` of a request for a service's `Version`, or the query protocol's error
 * (MissingAction; InvalidAction for another version).
 */
export function queryAction(params: QueryParams, version: string): string {
  const action = params['Action'];
  if (action === undefined) throw new ManagementError(400, 'MissingAction', 'the request must contain the parameter Action');
  if (params['Version'] !== version) throw new ManagementError(400, 'InvalidAction', `Could not find operation ${action.slice(0, 64)} for version ${(params['Version'] ?? 'NO_VERSION_SPECIFIED').slice(0, 32)}`);
  return action;
}

export function unknownAction(action: string, version: string): ManagementError {
  return new ManagementError(400, 'InvalidAction', `Could not find operation ${action.slice(0, 64)} for version ${version}`);
}

/** Sends an XML answer (the handler's return value). */
export function xmlAnswer(reply: FastifyReply, body: string): string {
  void reply.type(XML_TYPE);
  return body;
}
