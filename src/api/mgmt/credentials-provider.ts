/**
 * The AWS IoT credentials provider: a device trades its certificate for temporary
 * credentials of the role a role alias names.
 * https://docs.aws.amazon.com/iot/latest/developerguide/authorizing-direct-aws.html
 *
 * `GET /role-aliases/{alias}/credentials` over mutual TLS, with the thing name in
 * `x-amzn-iot-thingname`; the answer is AWS's:
 * `{"credentials":{"accessKeyId","secretAccessKey","sessionToken","expiration"}}`.
 *
 * Order of checks (the first failure answers, with the status and message AWS's
 * provider gives for the same case):
 *  1. A client certificate that verifies: chains to a trusted device CA, within its
 *     validity, registered and ACTIVE (403 "Access Denied").
 *  2. The thing named in `x-amzn-iot-thingname` exists and the certificate is attached
 *     to it (403 "Invalid thing name passed"). AWS makes the header optional; here it
 *     is required, because the device's IoT policies are decided for a thing's
 *     connection (the same view the broker uses).
 *  3. The device's IoT policies (certificate, thing groups, device groups naming IoT
 *     policies) allow `iot:AssumeRoleWithCertificate` on the role alias ARN
 *     (403 "Access Denied").
 *  4. The role alias exists (404 "Role alias does not exist").
 *  5. Its role exists (400 "Unable to assume the role, or the role to assume does not
 *     exist") and the alias's duration is within the role's maximum (400).
 * Every answer is an audit record (principal: the certificate's ARN).
 *
 * The role alias names its role itself: the role's trust policy is not consulted (in
 * AWS it must trust `credentials.iot.amazonaws.com`; there is no such service here).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { explainConnection } from '../../core/index.js';
import { iotArn } from '../../core/policy/iot/arn.js';
import { registeredConnection } from '../../identity/iot-connection.js';
import { peerChainPem } from '../device-certificate.js';
import { ManagementError } from './errors.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from './routes.js';
import { recordDecision } from './server.js';

const ROLE_ARN = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:[\x21-\x7e]+\/)?([\w+=,.@-]{1,64})$/;
const ACTION = 'iot:AssumeRoleWithCertificate';

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function credentials(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const { alias } = request.params as { alias: string };
  const aliasArn = iotArn(ctx.iot, 'rolealias', alias);
  const now = ctx.clock();
  let principal = 'anonymous';
  const refuse = (status: number, code: string, message: string, reason: string, extra: { policy?: string | null; statement?: string | null } = {}): ManagementError => {
    recordDecision(request, { principal, action: ACTION, resource: aliasArn, allowed: false, reason, ...extra });
    return new ManagementError(status, code, message);
  };

  // 1. The certificate.
  const pem = peerChainPem(request);
  if (pem === undefined) throw refuse(403, 'AccessDeniedException', 'Access Denied', 'NO_CLIENT_CERTIFICATE');
  const verified = await ctx.verifier.verify(pem, now);
  if (verified.certificateId !== undefined) principal = `arn:${ctx.iot.partition}:iot:${ctx.iot.region}:${ctx.iot.accountId}:cert/${verified.certificateId}`;
  if (!verified.ok) throw refuse(403, 'AccessDeniedException', 'Access Denied', verified.reason);

  // 2. The thing.
  const thingHeader = request.headers['x-amzn-iot-thingname'];
  const thingName = typeof thingHeader === 'string' ? thingHeader : undefined;
  if (thingName === undefined || thingName === '' || !verified.thingNames.includes(thingName)) {
    throw refuse(403, 'AccessDeniedException', 'Invalid thing name passed', 'THING_NOT_ATTACHED');
  }

  // 3. The device's IoT policies.
  const subject = await registeredConnection(ctx.registry, thingName, { certificateId: verified.certificateId, ...(request.socket.remoteAddress !== undefined ? { sourceIp: request.socket.remoteAddress.replace(/^::ffff:(?=\d+\.)/, '') } : {}) });
  const decision = explainConnection(ctx.policy.current, subject, { kind: 'iot', request: { action: ACTION, resource: aliasArn } }, () => now.getTime());
  if (!decision.allowed) {
    throw refuse(403, 'AccessDeniedException', 'Access Denied', decision.reason, { policy: decision.policy ?? null, statement: decision.statement ?? null });
  }

  // 4. and 5. The role alias and its role.
  const roleAlias = await ctx.control.getRoleAlias(alias);
  if (roleAlias === undefined) throw refuse(404, 'ResourceNotFoundException', 'Role alias does not exist', 'ROLE_ALIAS_NOT_FOUND');
  const m = ROLE_ARN.exec(roleAlias.roleArn);
  const role = m !== null && m[1] === ctx.iot.partition && m[2] === ctx.iot.accountId ? await ctx.control.getRole(m[3]!) : undefined;
  if (role === undefined || role.arn !== roleAlias.roleArn) {
    throw refuse(400, 'InvalidRequestException', 'Unable to assume the role, or the role to assume does not exist', 'ROLE_NOT_FOUND');
  }
  if (roleAlias.credentialDurationSeconds > role.maxSessionDurationSeconds) {
    throw refuse(400, 'InvalidRequestException', 'The requested CredentialDurationSeconds exceeds the MaxSessionDuration set for the role', 'DURATION_EXCEEDS_ROLE_MAXIMUM');
  }
  recordDecision(request, { principal, action: ACTION, resource: aliasArn, allowed: true, reason: decision.reason, policy: decision.policy ?? null, statement: decision.statement ?? null });
  const s = await ctx.control.createSessionCredentials({
    roleName: role.name,
    // AWS names the session after the certificate.
    sessionName: verified.certificateId,
    durationSeconds: roleAlias.credentialDurationSeconds,
    sourceArn: `${aliasArn}/${principal}`,
    now,
  });
  return { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, sessionToken: s.sessionToken, expiration: iso(s.expiration) } };
}

const CredentialsResponse = z.object({
  credentials: z.object({
    accessKeyId: z.string(),
    secretAccessKey: z.string(),
    sessionToken: z.string(),
    expiration: z.string().describe('ISO 8601, seconds precision, UTC'),
  }),
});

const err = (description: string): { description: string } => ({ description });

const CREDENTIALS_ROUTE: ManagementRoute = {
  method: 'GET',
  url: '/role-aliases/:alias/credentials',
  operationId: 'AssumeRoleWithCertificate',
  action: ACTION,
  protocol: 'rest-json',
  auth: { kind: 'device-certificate' },
  tag: 'Credentials provider',
  summary: 'Temporary credentials of a role alias\'s role, for a device certificate (mutual TLS)',
  description: 'Send the device certificate in the TLS handshake and the thing name in `x-amzn-iot-thingname`. Errors: `{"message"}` with `x-amzn-ErrorType`.',
  params: z.strictObject({ alias: z.string().min(1).max(128).regex(/^[\w=,@-]+$/) }),
  responses: {
    200: { description: 'The credentials', schema: CredentialsResponse },
    400: err('Unable to assume the role, or the role to assume does not exist; the alias\'s duration exceeds the role\'s maximum'),
    403: err('Access Denied (certificate refused, or the device\'s IoT policies do not allow iot:AssumeRoleWithCertificate); Invalid thing name passed'),
    404: err('Role alias does not exist'),
  },
  handler: credentials,
};

export const CREDENTIALS_PROVIDER_ROUTES: ManagementRouteSet = { name: 'credentials-provider', routes: [CREDENTIALS_ROUTE] };
