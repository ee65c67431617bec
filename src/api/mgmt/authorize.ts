/**
 * The one authorization decision of every call to the gateway's APIs (the management
 * listener and the local API alike): the caller's identity policies (the API token's
 * built-in one, or a user's or role's attached IAM policies) evaluated by the IAM
 * dialect on the request's context, giving the decision and its audit record.
 */
import type { IamContext, IamPrincipalContext } from '../../core/policy/iam/context.js';
import type { ControlStore, NewAuditRecord, PolicyHolder, ResolvedPrincipal } from '../../identity/control.js';
import type { Caller, CallCheck } from './call.js';
import type { IamPolicyCache, PolicyInForce } from './iam-engine.js';

/** The built-in identity policy of the API token: the IPC operations, the EMQX and external-broker calls, metrics. */
export const API_TOKEN_ACTIONS = [
  'gatehouse:VerifyClientDeviceIdentity',
  'gatehouse:GetClientDeviceAuthToken',
  'gatehouse:AuthorizeClientDeviceAction',
  'gatehouse:SubscribeToCertificateUpdates',
  'gatehouse:EmqxAuthenticate',
  'gatehouse:EmqxAuthorize',
  'gatehouse:CloseSession',
  'gatehouse:GetMetrics',
] as const;

export const API_TOKEN_ARN = 'gatehouse:api-token';

export const API_TOKEN_POLICY: readonly PolicyInForce[] = [{
  name: 'gatehouse-api-token',
  versionId: 'v1',
  document: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'ApiTokenOperations', Effect: 'Allow', Action: [...API_TOKEN_ACTIONS], Resource: '*' }] }),
}];

/** What a decision needs from the gateway. */
export interface CallAuthority {
  readonly control: ControlStore;
  readonly iamPolicies: IamPolicyCache;
  readonly clock: () => Date;
  /** The account of `aws:PrincipalAccount`. */
  readonly accountId: string;
}

/** Where a call came from (recorded with its decision). */
export interface CallOrigin {
  readonly sourceIp: string;
  readonly userAgent: string | undefined;
  readonly requestId: string;
  readonly secureTransport: boolean;
}

export interface CallDecision {
  readonly allowed: boolean;
  /** Whether an explicit Deny decided. */
  readonly explicit: boolean;
  /** The audit record, without the status answered. */
  readonly record: Omit<NewAuditRecord, 'status'>;
}

export function callerArn(caller: Caller): string {
  return caller.kind === 'api-token' ? API_TOKEN_ARN : caller.arn;
}

function holderOf(p: ResolvedPrincipal): PolicyHolder {
  return p.kind === 'user' ? { kind: 'user', name: p.user.name } : { kind: 'role', name: p.role.name };
}

/** `aws:` principal keys of a caller (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html). */
export function principalContext(caller: Caller, account: string): IamPrincipalContext {
  if (caller.kind === 'api-token') return { arn: API_TOKEN_ARN, type: 'GatehouseApiToken', userid: 'gatehouse-api-token', account, tags: {} };
  const p = caller.principal;
  if (p.kind === 'user') return { username: p.user.name, userid: p.user.id, arn: p.user.arn, type: 'User', account, tags: p.user.tags };
  // A role session: aws:PrincipalArn is the role's ARN; session tags override the role's own.
  return { userid: p.assumedRoleId, arn: p.role.arn, type: 'AssumedRole', account, tags: { ...p.role.tags, ...p.tags } };
}

/** The IAM context of a request before per-call keys are added. */
export function requestContext(caller: Caller, origin: CallOrigin, now: Date, account: string, region: string): IamContext {
  return {
    currentTime: now.toISOString(),
    epochTime: Math.floor(now.getTime() / 1000),
    secureTransport: origin.secureTransport,
    sourceIp: origin.sourceIp,
    ...(origin.userAgent !== undefined ? { userAgent: origin.userAgent } : {}),
    principal: principalContext(caller, account),
    requestedRegion: region,
  };
}

/** Decides one action of a call with the caller's identity policies, and writes its audit record. */
export async function decideCall(authority: CallAuthority, caller: Caller, base: IamContext, check: CallCheck, origin: CallOrigin): Promise<CallDecision> {
  const policies = caller.kind === 'api-token' ? API_TOKEN_POLICY : await authority.control.iamPoliciesInForce(holderOf(caller.principal));
  const now = authority.clock();
  const context: IamContext = {
    ...base,
    ...(check.resourceTags !== undefined ? { resourceTags: check.resourceTags } : {}),
    ...(check.requestTags !== undefined ? { requestTags: check.requestTags, tagKeys: Object.keys(check.requestTags) }
      : check.tagKeys !== undefined ? { tagKeys: check.tagKeys } : {}),
  };
  const decision = authority.iamPolicies.get(policies).decide(context, { action: check.action, resource: check.resource }, now.getTime());
  return {
    allowed: decision.allowed,
    explicit: decision.reason === 'DENIED_BY_STATEMENT',
    record: {
      at: now,
      principal: callerArn(caller),
      action: check.action,
      resource: check.resource,
      decision: decision.allowed ? 'allow' : 'deny',
      reason: decision.reason,
      policy: decision.policy,
      statement: decision.statement,
      sourceIp: origin.sourceIp,
      userAgent: origin.userAgent ?? null,
      requestId: origin.requestId,
    },
  };
}

/** The message of a denial, in AWS's words: who, what, on which resource, and why. */
export function denialMessage(arn: string, action: string, resource: string, explicit: boolean): string {
  const why = explicit ? `with an explicit deny in an identity-based policy` : `because no identity-based policy allows the ${action} action`;
  return `User: ${arn} is not authorized to perform: ${action} on resource: ${resource} ${why}`;
}
