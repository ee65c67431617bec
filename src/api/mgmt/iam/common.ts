/**
 * What the IAM operations share: the call each handler gets, IAM's error codes mapped
 * from the control store's, parameter checks, entity lookup with authorization, paging
 * (`Marker` / `MaxItems` / `IsTruncated`) and the XML of IAM's data types
 * (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Types.html).
 */
import type { FastifyRequest } from 'fastify';
import type { IamRole, IamUser, ManagedPolicy, ManagedPolicyVersion } from '../../../identity/control.js';
import { ControlError } from '../../../identity/errors.js';
import type { CallCheck } from '../call.js';
import { ManagementError } from '../errors.js';
import { constraintError, el, isoSeconds, type QueryParams } from '../query.js';
import type { ManagementContext } from '../routes.js';

export const IAM_NS = 'https://iam.amazonaws.com/doc/2010-05-08/';
export const IAM_VERSION = '2010-05-08';

/** One IAM request, as a handler sees it. */
export interface IamCall {
  readonly request: FastifyRequest;
  readonly params: QueryParams;
  readonly ctx: ManagementContext;
  authorize(check: CallCheck): Promise<void>;
}

export interface IamOperation {
  /** The query `Action` (`CreateUser`). */
  readonly name: string;
  /** The IAM action authorized (`iam:CreateUser`). */
  readonly action: string;
  /** Parameters of a request that passes the operation's checks (for the route walk test and the docs). */
  readonly example: Readonly<Record<string, string>>;
  /** The result members (XML), or undefined for operations without output. */
  readonly handler: (call: IamCall) => Promise<string | undefined>;
}

/** IAM's errors (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html and each operation's Errors). */
export function iamError(status: number, code: string, message: string): ManagementError {
  return new ManagementError(status, code, message);
}

export const noSuchEntity = (message: string): ManagementError => iamError(404, 'NoSuchEntity', message);
export const invalidInput = (message: string): ManagementError => iamError(400, 'InvalidInput', message);

/** A control-store failure as IAM's error, or undefined when it is not one a caller caused. */
export function toIamError(e: unknown): ManagementError | undefined {
  if (!(e instanceof ControlError)) return undefined;
  switch (e.code) {
    case 'CONTROL_USER_NOT_FOUND':
    case 'CONTROL_ROLE_NOT_FOUND':
    case 'CONTROL_POLICY_NOT_FOUND':
    case 'CONTROL_POLICY_VERSION_NOT_FOUND':
    case 'CONTROL_ACCESS_KEY_NOT_FOUND':
    case 'CONTROL_POLICY_NOT_ATTACHED':
    case 'CONTROL_RESOURCE_NOT_FOUND':
      return noSuchEntity(e.message);
    case 'CONTROL_USER_EXISTS':
    case 'CONTROL_ROLE_EXISTS':
    case 'CONTROL_POLICY_EXISTS':
      return iamError(409, 'EntityAlreadyExists', e.message);
    case 'CONTROL_USER_HAS_DEPENDENTS':
    case 'CONTROL_ROLE_IN_USE':
    case 'CONTROL_POLICY_ATTACHED':
    case 'CONTROL_POLICY_HAS_VERSIONS':
    case 'CONTROL_POLICY_VERSION_IS_DEFAULT':
      return iamError(409, 'DeleteConflict', e.message);
    case 'CONTROL_ACCESS_KEY_LIMIT':
    case 'CONTROL_POLICY_VERSION_LIMIT':
    case 'CONTROL_POLICY_ATTACHMENT_LIMIT':
    case 'CONTROL_TAG_LIMIT':
      return iamError(409, 'LimitExceeded', e.message);
    case 'CONTROL_POLICY_DOCUMENT_INVALID':
    case 'CONTROL_TRUST_POLICY_INVALID': {
      // The first problem says what to change; the document itself is not echoed.
      const first = e.problems[0];
      return iamError(400, 'MalformedPolicyDocument', first !== undefined ? `${first.message} (${first.path})` : e.message);
    }
    case 'CONTROL_NAME_INVALID':
    case 'CONTROL_DESCRIPTION_INVALID':
    case 'CONTROL_MAX_SESSION_DURATION_INVALID':
    case 'CONTROL_ACCESS_KEY_STATUS_INVALID':
    case 'CONTROL_TAG_INVALID':
      return invalidInput(e.message);
    default:
      return undefined;
  }
}

// ------------------------------------------------------------------ parameters

const NAME = /^[\w+=,.@-]+$/;

export function required(params: QueryParams, name: string): string {
  const v = params[name];
  if (v === undefined) throw constraintError(null, lowerFirst(name), 'Member must not be null');
  return v;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** A user, role or policy name parameter (IAM's `[\w+=,.@-]+`, at most `max` characters). */
export function entityName(params: QueryParams, field: string, max: number): string;
export function entityName(params: QueryParams, field: string, max: number, optional: true): string | undefined;
export function entityName(params: QueryParams, field: string, max: number, optional?: true): string | undefined {
  const v = params[field];
  if (v === undefined) {
    if (optional === true) return undefined;
    throw constraintError(null, lowerFirst(field), 'Member must not be null');
  }
  if (v.length < 1 || v.length > max) throw constraintError(v, lowerFirst(field), `Member must have length between 1 and ${max}`);
  if (!NAME.test(v)) throw constraintError(v, lowerFirst(field), 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
  return v;
}

/** `Path`: only `/` (this gateway has no paths). */
export function rootPathOnly(params: QueryParams): void {
  const p = params['Path'];
  if (p !== undefined && p !== '/') throw invalidInput('paths are not supported by this gateway: omit Path or give "/"');
}

export function noPermissionsBoundary(params: QueryParams): void {
  if (params['PermissionsBoundary'] !== undefined) throw invalidInput('permissions boundaries are not supported by this gateway');
}

/** A `PathPrefix` filter: every entity here has the path `/`. */
export function pathPrefixMatches(params: QueryParams): boolean {
  const p = params['PathPrefix'];
  return p === undefined || p === '/';
}

export function booleanParam(params: QueryParams, name: string): boolean | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw constraintError(v, lowerFirst(name), 'Member must be true or false');
}

// ------------------------------------------------------------------ ARNs and lookups

export function iamArn(ctx: ManagementContext, kind: 'user' | 'role' | 'policy', name: string): string {
  return `arn:${ctx.iot.partition}:iam::${ctx.iot.accountId}:${kind}/${name}`;
}

const ARN = /^arn:[\w-]+:[\w-]+:[\w-]*:[\w-]*:\S+$/;

/** The policy name a `PolicyArn` names when it is one of this gateway's (`…:policy/NAME`, no path). */
export function policyArnParam(call: IamCall): { readonly arn: string; readonly name: string | undefined } {
  const arn = required(call.params, 'PolicyArn');
  if (arn.length < 20 || arn.length > 2048) throw constraintError(arn, 'policyArn', 'Member must have length between 20 and 2048');
  if (!ARN.test(arn)) throw invalidInput(`ARN ${arn.slice(0, 256)} is not valid.`);
  const prefix = `arn:${call.ctx.iot.partition}:iam::${call.ctx.iot.accountId}:policy/`;
  const rest = arn.startsWith(prefix) ? arn.slice(prefix.length) : undefined;
  return { arn, name: rest !== undefined && rest.length <= 128 && NAME.test(rest) ? rest : undefined };
}

interface Entity {
  readonly arn: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Authorizes `action` on the entity a request names, before anything is answered: on the
 * ARN as the request spells it and, when the stored entity spells its name differently
 * (names are unique regardless of case), on the stored ARN too, so that a policy written
 * for the stored ARN applies whatever the spelling. `aws:ResourceTag/…` are the stored
 * entity's tags. Returns the entity, or undefined when there is none.
 */
export async function authorizeOn<T extends Entity>(
  call: IamCall, action: string, arn: string, entity: T | undefined,
  extra: Pick<CallCheck, 'requestTags' | 'tagKeys'> = {},
): Promise<T | undefined> {
  const tags = entity !== undefined ? { resourceTags: entity.tags } : {};
  await call.authorize({ action, resource: arn, ...tags, ...extra });
  if (entity !== undefined && entity.arn !== arn) await call.authorize({ action, resource: entity.arn, ...tags, ...extra });
  return entity;
}

/** The user a request names (`UserName`), or, without one, the calling user (IAM's rule for its own keys). */
export function userNameOrCaller(call: IamCall): string {
  const given = entityName(call.params, 'UserName', 128, true);
  if (given !== undefined) return given;
  const caller = call.request.caller;
  if (caller?.kind === 'iam' && caller.principal.kind === 'user') return caller.principal.user.name;
  throw constraintError(null, 'userName', 'Member must not be null (it can be left out only when the caller is an IAM user)');
}

export async function authorizeUser(call: IamCall, action: string, name: string, extra?: Pick<CallCheck, 'requestTags' | 'tagKeys'>): Promise<IamUser> {
  const user = await authorizeOn(call, action, iamArn(call.ctx, 'user', name), await call.ctx.control.getUser(name), extra);
  if (user === undefined) throw noSuchEntity(`The user with name ${name} cannot be found.`);
  return user;
}

export async function authorizeRole(call: IamCall, action: string, name: string, extra?: Pick<CallCheck, 'requestTags' | 'tagKeys'>): Promise<IamRole> {
  const role = await authorizeOn(call, action, iamArn(call.ctx, 'role', name), await call.ctx.control.getRole(name), extra);
  if (role === undefined) throw noSuchEntity(`The role with name ${name} cannot be found.`);
  return role;
}

export async function authorizePolicy(call: IamCall, action: string, extra?: Pick<CallCheck, 'requestTags' | 'tagKeys'>): Promise<ManagedPolicy> {
  const { arn, name } = policyArnParam(call);
  const found = name === undefined ? undefined : await call.ctx.control.getIamPolicy(name);
  const policy = await authorizeOn(call, action, arn, found, extra);
  if (policy === undefined) throw noSuchEntity(`Policy ${arn} does not exist or is not attachable.`);
  return policy;
}

// ------------------------------------------------------------------ paging

export interface Page<T> {
  readonly items: readonly T[];
  /** The XML of `IsTruncated` and `Marker`. */
  readonly xml: string;
}

/**
 * A page of `items` sorted by `key` (unique): `MaxItems` (1–1000, default 100) after the
 * `Marker` of the previous page (the key of its last item, opaque to callers).
 */
export function page<T>(params: QueryParams, items: readonly T[], key: (item: T) => string): Page<T> {
  let max = 100;
  const m = params['MaxItems'];
  if (m !== undefined) {
    if (!/^\d{1,4}$/.test(m) || Number(m) < 1 || Number(m) > 1000) throw constraintError(m, 'maxItems', 'Member must have value between 1 and 1000');
    max = Number(m);
  }
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  let start = 0;
  const marker = params['Marker'];
  if (marker !== undefined) {
    if (marker.length < 1 || marker.length > 320 || !/^[A-Za-z0-9_-]+$/.test(marker)) throw invalidInput('Invalid Marker.');
    const after = Buffer.from(marker, 'base64url').toString('utf8');
    start = sorted.findIndex((i) => key(i) > after);
    if (start < 0) start = sorted.length;
  }
  const slice = sorted.slice(start, start + max);
  const truncated = start + max < sorted.length;
  const next = truncated ? Buffer.from(key(slice[slice.length - 1]!), 'utf8').toString('base64url') : undefined;
  return { items: slice, xml: `${el('IsTruncated', truncated)}${el('Marker', next)}` };
}

// ------------------------------------------------------------------ XML of IAM's types

/**
 * Policy documents in answers are URL-encoded as RFC 3986 says (every character but
 * `A-Z a-z 0-9 - . _ ~`), as IAM returns them
 * (https://docs.aws.amazon.com/IAM/latest/APIReference/API_PolicyVersion.html); the SDKs
 * do not decode them.
 */
export function encodeDocument(document: string): string {
  return encodeURIComponent(document).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function members(items: readonly string[]): string {
  return items.map((i) => `<member>${i}</member>`).join('');
}

export function tagsXml(tags: Readonly<Record<string, string>>, name = 'Tags'): string {
  const keys = Object.keys(tags).sort();
  if (keys.length === 0) return '';
  return `<${name}>${members(keys.map((k) => `${el('Key', k)}${el('Value', tags[k])}`))}</${name}>`;
}

export function userXml(u: IamUser, withTags: boolean): string {
  return `${el('Path', '/')}${el('UserName', u.name)}${el('UserId', u.id)}${el('Arn', u.arn)}${el('CreateDate', isoSeconds(u.createdAt))}${withTags ? tagsXml(u.tags) : ''}`;
}

export function roleXml(r: IamRole, detail: boolean): string {
  return `${el('Path', '/')}${el('RoleName', r.name)}${el('RoleId', r.id)}${el('Arn', r.arn)}${el('CreateDate', isoSeconds(r.createdAt))}`
    + `${el('AssumeRolePolicyDocument', encodeDocument(r.assumeRolePolicyDocument))}${r.description !== '' ? el('Description', r.description) : ''}`
    + `${el('MaxSessionDuration', r.maxSessionDurationSeconds)}${detail ? `${tagsXml(r.tags)}<RoleLastUsed/>` : ''}`;
}

export function policyXml(p: ManagedPolicy, detail: boolean): string {
  return `${el('PolicyName', p.name)}${el('PolicyId', p.id)}${el('Arn', p.arn)}${el('Path', '/')}${el('DefaultVersionId', p.defaultVersionId)}`
    + `${el('AttachmentCount', p.attachmentCount)}${el('PermissionsBoundaryUsageCount', 0)}${el('IsAttachable', true)}`
    + `${detail && p.description !== '' ? el('Description', p.description) : ''}${el('CreateDate', isoSeconds(p.createdAt))}${el('UpdateDate', isoSeconds(p.updatedAt))}`
    + `${detail ? tagsXml(p.tags) : ''}`;
}

export function versionXml(v: ManagedPolicyVersion, withDocument: boolean): string {
  return `${withDocument ? el('Document', encodeDocument(v.document)) : ''}${el('VersionId', v.versionId)}${el('IsDefaultVersion', v.isDefaultVersion)}${el('CreateDate', isoSeconds(v.createdAt))}`;
}
