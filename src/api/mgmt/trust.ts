/**
 * A role's trust policy: may this caller assume the role?
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
 *
 * A trust policy is an identity-policy document whose statements also name a
 * `Principal` (or `NotPrincipal`). The principal test is done here; everything else
 * (Effect, Action, Condition, Deny first) by the IAM dialect, on the statements that
 * name the caller, each with `Resource: "*"` (a trust policy has no resource: the role
 * is the resource).
 *
 * Which `Principal` names an IAM caller, as AWS reads them:
 * - `"*"` or `{"AWS": "*"}`: everyone;
 * - `{"AWS": "<account id>"}` or `{"AWS": "arn:<partition>:iam::<account>:root"}`: every
 *   principal of the gateway's account;
 * - `{"AWS": "<user ARN>"}`: that user;
 * - `{"AWS": "<role ARN>"}`: sessions of that role (role chaining);
 * - `{"AWS": "<assumed-role session ARN>"}`: that session.
 * `Service` and `Federated` principals never name an IAM caller. A statement without
 * `Principal`/`NotPrincipal` is malformed: a Deny applies to everyone (fail closed), an
 * Allow to no one.
 */
import type { IamContext } from '../../core/policy/iam/context.js';
import type { IamCallDecision, IamPolicyCache } from './iam-engine.js';

export interface TrustCaller {
  /** The user's ARN, or the session's assumed-role ARN. */
  readonly arn: string;
  /** For a role session: the role's ARN. */
  readonly roleArn?: string;
  readonly partition: string;
  readonly account: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function names(caller: TrustCaller, principal: Json | undefined): boolean {
  if (principal === '*') return true;
  if (!isObject(principal)) return false;
  const aws = principal['AWS'];
  const list = Array.isArray(aws) ? aws : aws === undefined ? [] : [aws];
  for (const p of list) {
    if (typeof p !== 'string') continue;
    if (p === '*' || p === caller.account || p === `arn:${caller.partition}:iam::${caller.account}:root`) return true;
    if (p === caller.arn) return true;
    if (caller.roleArn !== undefined && p === caller.roleArn) return true;
  }
  return false;
}

const NO_STATEMENT: IamCallDecision = Object.freeze({ allowed: false, reason: 'NO_MATCHING_STATEMENT', policy: null, statement: null });

/**
 * The trust policy's decision on `sts:AssumeRole` (or `action`) by `caller`; a document
 * that is not JSON or has no statement list denies.
 */
export function decideTrust(
  cache: IamPolicyCache,
  roleName: string,
  roleArn: string,
  document: string,
  caller: TrustCaller,
  context: IamContext,
  now: number,
  action = 'sts:AssumeRole',
): IamCallDecision {
  let parsed: Json;
  try {
    parsed = JSON.parse(document) as Json;
  } catch {
    return NO_STATEMENT;
  }
  if (!isObject(parsed)) return NO_STATEMENT;
  const raw = parsed['Statement'];
  const statements = Array.isArray(raw) ? raw : isObject(raw) ? [raw] : [];
  const applying: { [k: string]: Json }[] = [];
  statements.forEach((s, i) => {
    if (!isObject(s)) return;
    const hasPrincipal = s['Principal'] !== undefined;
    const hasNot = s['NotPrincipal'] !== undefined;
    let applies: boolean;
    if (hasPrincipal && !hasNot) applies = names(caller, s['Principal']);
    else if (hasNot && !hasPrincipal) applies = !names(caller, s['NotPrincipal']);
    else applies = s['Effect'] === 'Deny';
    if (!applies) return;
    const { Principal: _p, NotPrincipal: _n, Resource: _r, NotResource: _nr, ...rest } = s;
    applying.push({ ...rest, Sid: typeof s['Sid'] === 'string' && s['Sid'] !== '' ? s['Sid'] : `Statement${i}`, Resource: '*' });
  });
  if (applying.length === 0) return NO_STATEMENT;
  const version = typeof parsed['Version'] === 'string' ? parsed['Version'] : '2012-10-17';
  const synthetic = JSON.stringify({ Version: version, Statement: applying });
  const name = `trust-policy:${roleName}`;
  try {
    return cache.get([{ name, versionId: 'trust', document: synthetic }]).decide(context, { action, resource: roleArn }, now);
  } catch {
    // A trust policy the dialect refuses grants nothing.
    return NO_STATEMENT;
  }
}
