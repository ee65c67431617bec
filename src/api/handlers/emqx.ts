/**
 * EMQX 5 HTTP authentication and authorization backends (docs/emqx.md; EMQX's own
 * contract: https://docs.emqx.com/en/emqx/latest/access-control/authn/http.html and
 * https://docs.emqx.com/en/emqx/latest/access-control/authz/http.html).
 *
 * EMQX treats any status other than 200/204, and a 200 with a body it cannot read, as
 * "ignore" — which fails open when `no_match = allow` or another authenticator
 * follows. So these endpoints ALWAYS answer 200 with an explicit `allow` or `deny`:
 * a malformed, mistyped, oversized or refused request, an overloaded gateway and an
 * internal error are all `deny`. (A missing or wrong API token is still 401: that is
 * the operator's configuration error, and docs/emqx.md makes `no_match = deny`.)
 *
 * Trust model. EMQX terminates TLS and verifies the device certificate against
 * Gatehouse's CA; it cannot send the certificate itself as a placeholder. So:
 * - with `peer_cert_as_username = pem`, `${username}` IS the certificate PEM and
 *   authentication is the full check: chain to a trusted device CA, registered,
 *   ACTIVE, attached to the thing named by the client ID;
 * - otherwise identity comes from the common name EMQX verified: the client ID must
 *   equal `${cert_common_name}`, and the thing must have an ACTIVE, unexpired,
 *   trusted certificate attached whose CN is the client ID. Revoking one of several
 *   such certificates of a thing cannot be told apart in this mode.
 * Then `mqtt:connect` on `mqtt:clientId:<client ID>` must be allowed.
 *
 * Authorization re-reads the registry on every call: the thing must still exist and
 * still have a usable certificate, so a revocation or deletion denies every action
 * from the next call on (subject to EMQX's authorization cache TTL).
 */
import { X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../core/index.js';
import { isValidThingName } from '../../identity/names.js';
import type { Thing } from '../../identity/registry.js';
import { certificateText, limited, type ApiContext, type OperationHandler } from '../context.js';
import { ROUTES, routeOptions } from '../routes.js';
import { EmqxAuthnRequest, EmqxAuthzRequest } from '../schemas.js';

export const EMQX_ALLOW_AUTHN = '{"result":"allow","is_superuser":false}';
export const EMQX_DENY_AUTHN = '{"result":"deny","is_superuser":false}';
export const EMQX_ALLOW_AUTHZ = '{"result":"allow"}';
export const EMQX_DENY_AUTHZ = '{"result":"deny"}';

type Verdict = { readonly allowed: true; readonly principal: Principal } | { readonly allowed: false; readonly reason: string; readonly detail?: string };

const deny = (reason: string, detail?: string): Verdict => (detail === undefined ? { allowed: false, reason } : { allowed: false, reason, detail });

const JSON_TYPE = 'application/json; charset=utf-8';

export const emqxAuthenticate: OperationHandler = async (ctx, request, reply) => {
  let verdict: Verdict;
  try {
    verdict = await limited(ctx, reply, () => authenticate(ctx, request.body));
  } catch (e) {
    verdict = deny('ERROR', (e as Error).message);
    if ((e as { status?: number }).status === undefined) ctx.metrics.inc('ServiceError');
  }
  const clientid = clientIdOf(request.body);
  if (verdict.allowed) {
    ctx.metrics.inc('VerifyClientDeviceIdentity.Success');
    ctx.metrics.inc('GetClientDeviceAuthToken.Success');
    ctx.logger.debug({ event: 'emqx-authn', result: 'allow', clientId: clientid }, 'EMQX authentication allowed');
  } else {
    ctx.metrics.inc(verdict.reason.startsWith('CERT_') ? 'VerifyClientDeviceIdentity.Failure' : 'GetClientDeviceAuthToken.Failure');
    if (verdict.reason === 'NO_GROUP_SELECTS_THING' || verdict.reason === 'NO_MATCHING_STATEMENT' || verdict.reason === 'DENIED_BY_STATEMENT') ctx.metrics.denials['mqtt:connect']++;
    ctx.logger.info({ event: 'emqx-authn', result: 'deny', clientId: clientid, reason: verdict.reason, peerhost: peerhostOf(request.body) }, `EMQX authentication denied${verdict.detail ? `: ${verdict.detail}` : ''}`);
  }
  reply.type(JSON_TYPE).send(verdict.allowed ? EMQX_ALLOW_AUTHN : EMQX_DENY_AUTHN);
};

export const emqxAuthorize: OperationHandler = async (ctx, request, reply) => {
  let allowed = false;
  try {
    allowed = await authorize(ctx, request.body);
  } catch (e) {
    ctx.metrics.inc('ServiceError');
    ctx.logger.error({ event: 'emqx-authz', err: (e as Error).message }, 'EMQX authorization failed unexpectedly; denied');
  }
  reply.type(JSON_TYPE).send(allowed ? EMQX_ALLOW_AUTHZ : EMQX_DENY_AUTHZ);
};

export function registerEmqx(app: FastifyInstance, ctx: ApiContext): void {
  app.route({ ...routeOptions(ROUTES.emqxAuthn), handler: (request, reply) => emqxAuthenticate(ctx, request, reply) });
  app.route({ ...routeOptions(ROUTES.emqxAuthz), handler: (request, reply) => emqxAuthorize(ctx, request, reply) });
}

function clientIdOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null ? (body as { clientid?: unknown }).clientid : undefined;
}

function peerhostOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null ? (body as { peerhost?: unknown }).peerhost : undefined;
}

async function authenticate(ctx: ApiContext, body: unknown): Promise<Verdict> {
  const parsed = EmqxAuthnRequest.safeParse(body);
  if (!parsed.success) return deny('EMQX_REQUEST_INVALID', describeIssue(parsed.error));
  const { clientid, username, cert_common_name: cn } = parsed.data;
  if (!isValidThingName(clientid)) return deny('THING_NAME_INVALID', 'the client ID is not a valid thing name');
  const now = ctx.clock();
  const thing = await ctx.registry.getThing(clientid);

  if (username !== undefined && username.includes('-----BEGIN CERTIFICATE-----')) {
    // peer_cert_as_username = pem: the full check.
    const v = await ctx.verifier.verify(certificateText(username), now);
    if (!v.ok) return deny(v.reason, v.message);
    if (thing === undefined) return deny('THING_NOT_FOUND', `no thing named \`${clientid}\``);
    if (!v.thingNames.includes(clientid)) return deny('CERT_NOT_ATTACHED', `certificate ${v.certificateId} is not attached to thing \`${clientid}\``);
  } else {
    if (cn === undefined || cn === '') return deny('EMQX_NO_CERTIFICATE', 'no cert_common_name: the EMQX listener must require client certificates (verify_peer, fail_if_no_peer_cert)');
    if (cn !== clientid) return deny('EMQX_CN_MISMATCH', 'the client ID is not the certificate\'s common name');
    if (thing === undefined) return deny('THING_NOT_FOUND', `no thing named \`${clientid}\``);
    if (!(await hasUsableCertificate(ctx, thing, now, true))) return deny('EMQX_NO_ACTIVE_CERTIFICATE', `thing \`${clientid}\` has no ACTIVE, valid, trusted certificate with CN=${clientid} attached`);
  }
  const principal: Principal = { thingName: clientid, clientId: clientid, attributes: thing.attributes };
  const started = performance.now();
  const d = ctx.policy.current.decide(principal, 'mqtt:connect', `mqtt:clientId:${clientid}`);
  ctx.prometheus.observeDecision('mqtt:connect', (performance.now() - started) / 1000);
  ctx.metrics.inc(d.allowed ? 'AuthorizeClientDeviceActions.Success' : 'AuthorizeClientDeviceActions.Failure');
  return d.allowed ? { allowed: true, principal } : deny(d.reason, 'mqtt:connect not allowed');
}

async function authorize(ctx: ApiContext, body: unknown): Promise<boolean> {
  const parsed = EmqxAuthzRequest.safeParse(body);
  const log = (reason: string, fields: Record<string, unknown> = {}): false => {
    ctx.logger.info({ event: 'emqx-authz', result: 'deny', clientId: clientIdOf(body), reason, ...fields }, 'EMQX authorization denied');
    return false;
  };
  if (!parsed.success) {
    ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
    return log('EMQX_REQUEST_INVALID', { detail: describeIssue(parsed.error) });
  }
  const { clientid, action, topic, cert_common_name: cn } = parsed.data;
  let operation: 'mqtt:publish' | 'mqtt:subscribe';
  let resource: string;
  if (action === 'publish') {
    operation = 'mqtt:publish';
    resource = `mqtt:topic:${topic}`;
  } else if (action === 'subscribe') {
    operation = 'mqtt:subscribe';
    resource = `mqtt:topicfilter:${topic}`;
  } else {
    ctx.metrics.inc('AuthorizeClientDeviceActions.Failure');
    return log('EMQX_UNKNOWN_ACTION', { action });
  }
  const refuse = (reason: string): false => {
    ctx.metrics.authorization(operation, false);
    return log(reason, { operation, resource });
  };
  if (cn !== undefined && cn !== '' && cn !== clientid) return refuse('EMQX_CN_MISMATCH');
  if (!isValidThingName(clientid)) return refuse('THING_NAME_INVALID');
  const thing = await ctx.registry.getThing(clientid);
  if (thing === undefined) return refuse('THING_NOT_FOUND');
  if (!(await hasUsableCertificate(ctx, thing, ctx.clock(), false))) return refuse('EMQX_NO_ACTIVE_CERTIFICATE');
  const started = performance.now();
  const d = ctx.policy.current.decide({ thingName: clientid, clientId: clientid, attributes: thing.attributes }, operation, resource);
  ctx.prometheus.observeDecision(operation, (performance.now() - started) / 1000);
  ctx.metrics.authorization(operation, d.allowed);
  if (!d.allowed) return log(d.reason, { operation, resource });
  return true;
}

/**
 * Whether the thing has an attached certificate that verifies now (chain to a trusted
 * device CA, validity period, ACTIVE); with `cnMustMatch`, one whose subject has the
 * RDN `CN=<thing name>`.
 */
async function hasUsableCertificate(ctx: ApiContext, thing: Thing, now: Date, cnMustMatch: boolean): Promise<boolean> {
  for (const id of await ctx.registry.certificatesForThing(thing.name)) {
    const record = await ctx.registry.getCertificate(id);
    if (record === undefined || record.status !== 'ACTIVE') continue;
    const v = await ctx.verifier.verify(record.pem, now);
    if (!v.ok || !v.thingNames.includes(thing.name)) continue;
    if (!cnMustMatch || hasCommonName(record.pem, thing.name)) return true;
  }
  return false;
}

/** True when one RDN of the subject is exactly `CN=<name>` (Node prints one RDN per line, RFC 2253-escaped). */
function hasCommonName(pem: string, name: string): boolean {
  try {
    return new X509Certificate(pem).subject.split('\n').includes(`CN=${name}`);
  } catch {
    return false;
  }
}

function describeIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const i = error.issues[0];
  if (i === undefined) return 'invalid request';
  return `${i.path.length > 0 ? i.path.map(String).join('.') : '(body)'}: ${i.message}`;
}
