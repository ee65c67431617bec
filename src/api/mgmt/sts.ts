/**
 * STS over the AWS query protocol (`POST /`, a form body with `Action` and `Version`,
 * XML answers), so that `@aws-sdk/client-sts` with `endpoint` set to the gateway works:
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
 *
 * AssumeRole, in order:
 *  1. Parameters (ValidationError 400): RoleArn, RoleSessionName, DurationSeconds
 *     (900–43200), Tags (session tags). Session policies (`Policy`, `PolicyArns`) are
 *     refused: the gateway cannot narrow a session with them, and ignoring them would
 *     give the session more than its caller asked for.
 *  2. The caller's identity policies must allow `sts:AssumeRole` on the role ARN (and
 *     `sts:TagSession` when tags are passed), with the tags as `aws:RequestTag/…`.
 *  3. The role must exist, and its trust policy must name the caller (trust.ts). A
 *     missing role is denied like a refused one, as STS does, so that a caller cannot
 *     probe role names.
 *  4. DurationSeconds (default 3600) at most the role's MaxSessionDuration, and at most
 *     one hour when the caller is itself a role session (role chaining).
 *  5. Temporary credentials from the control store (the session token is kept only as
 *     its SHA-256).
 *
 * Unlike IAM within one account, a trust policy naming a user does not by itself let
 * the user assume the role: the user's identity policies must allow it too.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IamRole } from '../../identity/control.js';
import { accessDeniedError, ManagementError, xmlEscape } from './errors.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from './routes.js';
import { denialMessage, recordDecision } from './server.js';
import { decideTrust } from './trust.js';

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const VERSION = '2011-06-15';
const XML_TYPE = 'text/xml';
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const ROLE_ARN = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:[\x21-\x7e]+\/)?([\w+=,.@-]{1,64})$/;
const MAX_CHAINED_SECONDS = 3600;

function validation(message: string): ManagementError {
  return new ManagementError(400, 'ValidationError', message);
}

function constraint(value: string | null, field: string, rule: string): ManagementError {
  const shown = value === null ? 'null' : `'${value.slice(0, 256)}'`;
  return validation(`1 validation error detected: Value ${shown} at '${field}' failed to satisfy constraint: ${rule}`);
}

type Form = Readonly<Record<string, string>>;

function form(request: FastifyRequest): Form {
  const b = request.body;
  if (b === undefined) return {};
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new ManagementError(400, 'MalformedQueryString', 'send the parameters as an application/x-www-form-urlencoded body');
  return b as Form;
}

/** `Tags.member.N.Key` / `Tags.member.N.Value` as a map (at most 50, as STS allows). */
function sessionTags(params: Form): Record<string, string> | undefined {
  const tags: Record<string, string> = {};
  let n = 0;
  for (let i = 1; ; i++) {
    const key = params[`Tags.member.${i}.Key`];
    const value = params[`Tags.member.${i}.Value`];
    if (key === undefined && value === undefined) break;
    if (key === undefined || key.length < 1 || key.length > 128 || key.toLowerCase().startsWith('aws:')) throw constraint(key ?? null, `tags.${i}.member.key`, 'Member must have length between 1 and 128 and must not start with aws:');
    if (value === undefined || value.length > 256) throw constraint(value ?? null, `tags.${i}.member.value`, 'Member must have length less than or equal to 256');
    if (Object.keys(tags).some((k) => k.toLowerCase() === key.toLowerCase())) throw validation(`Duplicate tag keys found. Please note that Tag keys are case insensitive.`);
    tags[key] = value;
    if (++n > 50) throw constraint(String(n), 'tags', 'Member must have length less than or equal to 50');
  }
  return n === 0 ? undefined : tags;
}

function roleNameOf(ctx: ManagementContext, arn: string): string | undefined {
  const m = ROLE_ARN.exec(arn);
  if (m === null) return undefined;
  const [, partition, account, name] = m as unknown as [string, string, string, string];
  return partition === ctx.iot.partition && account === ctx.iot.accountId ? name : undefined;
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function assumeRole(request: FastifyRequest, ctx: ManagementContext, params: Form): Promise<string> {
  // 1. Parameters.
  const roleArn = params['RoleArn'];
  if (roleArn === undefined) throw constraint(null, 'roleArn', 'Member must not be null');
  if (roleArn.length < 20 || roleArn.length > 2048) throw constraint(roleArn, 'roleArn', 'Member must have length between 20 and 2048');
  const sessionName = params['RoleSessionName'];
  if (sessionName === undefined) throw constraint(null, 'roleSessionName', 'Member must not be null');
  if (!SESSION_NAME.test(sessionName)) throw constraint(sessionName, 'roleSessionName', 'Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*');
  let durationSeconds = 3600;
  const d = params['DurationSeconds'];
  if (d !== undefined) {
    if (!/^\d{1,6}$/.test(d)) throw constraint(d, 'durationSeconds', 'Member must be a whole number');
    durationSeconds = Number(d);
    if (durationSeconds < 900) throw constraint(d, 'durationSeconds', 'Member must have value greater than or equal to 900');
    if (durationSeconds > 43200) throw constraint(d, 'durationSeconds', 'Member must have value less than or equal to 43200');
  }
  if (Object.keys(params).some((k) => k === 'Policy' || k.startsWith('PolicyArns.'))) {
    throw validation('session policies (Policy, PolicyArns) are not supported by this gateway: attach a narrower policy to a role instead');
  }
  const tags = sessionTags(params);

  // 2. The caller's identity policies.
  await request.authorizeCall({ action: 'sts:AssumeRole', resource: roleArn, ...(tags !== undefined ? { requestTags: tags } : {}) });
  if (tags !== undefined) await request.authorizeCall({ action: 'sts:TagSession', resource: roleArn, requestTags: tags });

  const caller = request.caller!;
  const callerArn = caller.arn;
  // 3. The role and its trust policy.
  const roleName = roleNameOf(ctx, roleArn);
  const role: IamRole | undefined = roleName === undefined ? undefined : await ctx.control.getRole(roleName);
  if (role === undefined || role.arn !== roleArn) {
    recordDecision(request, { principal: callerArn, action: 'sts:AssumeRole', resource: roleArn, allowed: false, reason: 'ROLE_NOT_FOUND' });
    throw accessDeniedError('query-xml', denialMessage(callerArn, 'sts:AssumeRole', roleArn, false));
  }
  if (caller.kind !== 'iam') throw accessDeniedError('query-xml', denialMessage(callerArn, 'sts:AssumeRole', roleArn, false));
  const p = caller.principal;
  const trust = decideTrust(ctx.iamPolicies, role, p.kind === 'user' ? p.user.arn : p.assumedRoleArn, ctx.iot.accountId,
    { ...request.iamContext, ...(tags !== undefined ? { requestTags: tags, tagKeys: Object.keys(tags) } : {}) }, ctx.clock().getTime());
  recordDecision(request, {
    principal: callerArn, action: 'sts:AssumeRole', resource: roleArn, allowed: trust.allowed,
    reason: trust.allowed ? 'ALLOWED_BY_TRUST_POLICY' : trust.reason === 'DENIED_BY_STATEMENT' ? 'DENIED_BY_TRUST_POLICY' : 'NOT_TRUSTED',
    policy: trust.policy, statement: trust.statement,
  });
  if (!trust.allowed) {
    throw accessDeniedError('query-xml', `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn} because the role's trust policy does not allow it`);
  }

  // 4. Duration.
  if (durationSeconds > role.maxSessionDurationSeconds) throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  if (p.kind === 'role-session' && durationSeconds > MAX_CHAINED_SECONDS) throw validation('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');

  // 5. Credentials.
  const now = ctx.clock();
  const s = await ctx.control.createSessionCredentials({ roleName: role.name, sessionName, durationSeconds, sourceArn: callerArn, ...(tags !== undefined ? { tags } : {}), now });
  return `<AssumeRoleResponse xmlns="${STS_NS}">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>${xmlEscape(s.assumedRoleArn)}</Arn>
      <AssumedRoleId>${xmlEscape(s.assumedRoleId)}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${xmlEscape(s.accessKeyId)}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(s.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(s.sessionToken)}</SessionToken>
      <Expiration>${iso(s.expiration)}</Expiration>
    </Credentials>${tags !== undefined ? `\n    <PackedPolicySize>0</PackedPolicySize>` : ''}
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>${xmlEscape(request.id)}</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
`;
}

function getCallerIdentity(request: FastifyRequest, ctx: ManagementContext): string {
  const caller = request.caller!;
  // STS answers GetCallerIdentity whatever the caller's policies say.
  recordDecision(request, { principal: caller.arn, action: 'sts:GetCallerIdentity', resource: '*', allowed: true, reason: 'ALWAYS_ALLOWED' });
  let arn: string;
  let userId: string;
  if (caller.kind === 'api-token') {
    arn = caller.arn;
    userId = 'gatehouse-api-token';
  } else if (caller.principal.kind === 'user') {
    arn = caller.principal.user.arn;
    userId = caller.principal.user.id;
  } else {
    arn = caller.principal.assumedRoleArn;
    userId = caller.principal.assumedRoleId;
  }
  return `<GetCallerIdentityResponse xmlns="${STS_NS}">
  <GetCallerIdentityResult>
    <Arn>${xmlEscape(arn)}</Arn>
    <UserId>${xmlEscape(userId)}</UserId>
    <Account>${xmlEscape(ctx.iot.accountId)}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>${xmlEscape(request.id)}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`;
}

async function handle(request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<string> {
  const params = form(request);
  const action = params['Action'];
  if (action === undefined) throw new ManagementError(400, 'MissingAction', 'the request must contain the parameter Action');
  if (params['Version'] !== VERSION) throw new ManagementError(400, 'InvalidAction', `Could not find operation ${action.slice(0, 64)} for version ${(params['Version'] ?? 'NO_VERSION_SPECIFIED').slice(0, 32)}`);
  let body: string;
  switch (action) {
    case 'AssumeRole':
      body = await assumeRole(request, ctx, params);
      break;
    case 'GetCallerIdentity':
      body = getCallerIdentity(request, ctx);
      break;
    default:
      throw new ManagementError(400, 'InvalidAction', `Could not find operation ${action.slice(0, 64)} for version ${VERSION}`);
  }
  void reply.type(XML_TYPE);
  return body;
}

const STS_ROUTE: ManagementRoute = {
  method: 'POST',
  url: '/',
  operationId: 'STS',
  action: 'sts:AssumeRole',
  protocol: 'query-xml',
  auth: { kind: 'signed', services: ['sts'] },
  tag: 'AWS STS',
  summary: 'STS query protocol: AssumeRole, GetCallerIdentity',
  description: 'A form body with `Action` and `Version=2011-06-15`; XML answers and errors as STS writes them.',
  responses: {
    200: { description: 'AssumeRoleResponse or GetCallerIdentityResponse', contentType: 'text/xml' },
    400: { description: 'ValidationError, MissingAction, InvalidAction, IncompleteSignature', contentType: 'text/xml' },
    403: { description: 'AccessDenied, SignatureDoesNotMatch, InvalidClientTokenId, ExpiredToken, MissingAuthenticationToken', contentType: 'text/xml' },
  },
  example: {
    path: '/',
    body: 'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fexample&RoleSessionName=example',
    contentType: 'application/x-www-form-urlencoded',
  },
  handler: handle,
};

export const STS_ROUTES: ManagementRouteSet = { name: 'sts', routes: [STS_ROUTE] };
