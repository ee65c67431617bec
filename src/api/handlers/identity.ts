/**
 * VerifyClientDeviceIdentity and GetClientDeviceAuthToken (docs/greengrass-behaviour.md,
 * sections 5.1 and 6): both are identity work, bounded by the limiter.
 *
 * Unlike the Greengrass component (sections 12.6, 5.1 step 4, 12.10 and 12.7 of that
 * page): no certificate bypasses the checks because of its CA; token creation verifies
 * the certificate itself instead of trusting an earlier verification; an invalid client
 * ID is an InvalidCredentialError, not a ServiceError; a new session for a client ID
 * replaces the previous one.
 */
import type { FastifyInstance } from 'fastify';
import { certificateText, HttpError, limited, type ApiContext, type OperationHandler } from '../context.js';
import { ROUTES, routeOptions } from '../routes.js';
import type { TokenRequestBody, VerifyRequestBody } from '../schemas.js';

export const verifyClientDeviceIdentity: OperationHandler = async (ctx, request, reply) => {
  const body = request.body as VerifyRequestBody;
  const pem = certificateText(body.credential.clientDeviceCertificate);
  const r = await limited(ctx, reply, () => ctx.verifier.verify(pem, ctx.clock()));
  if (r.ok) {
    ctx.metrics.inc('VerifyClientDeviceIdentity.Success');
    ctx.logger.debug({ event: 'api-verify', valid: true, certificateId: r.certificateId }, 'client certificate verified');
    return { isValidClientDevice: true };
  }
  ctx.metrics.inc('VerifyClientDeviceIdentity.Failure');
  ctx.logger.info({ event: 'api-verify', valid: false, reason: r.reason, certificateId: r.certificateId }, `client certificate not valid: ${r.message}`);
  return { isValidClientDevice: false, reason: r.reason };
};

export const getClientDeviceAuthToken: OperationHandler = async (ctx, request, reply) => {
  // username and password are accepted and ignored, as by the reference; never logged.
  const { clientId, certificatePem } = (request.body as TokenRequestBody).credential.mqttCredential;
  const pem = certificateText(certificatePem);
  const r = await limited(ctx, reply, () => ctx.sessions.createSession({ clientId, certificatePem: pem, now: ctx.clock() }));
  if (r.ok) {
    ctx.metrics.inc('GetClientDeviceAuthToken.Success');
    ctx.logger.debug({ event: 'api-session-created', sessionId: r.session.id, thingName: r.session.thingName, certificateId: r.session.certificateId }, 'session created for an API client');
    return { clientDeviceAuthToken: r.token };
  }
  ctx.metrics.inc('GetClientDeviceAuthToken.Failure');
  ctx.logger.info({ event: 'api-session-refused', clientId, reason: r.reason, certificateId: r.certificateId }, `no session: ${r.message}`);
  if (r.reason === 'REGISTRY_BUSY') throw new HttpError('API_UNAVAILABLE', 'the registry kept changing while the device was authenticated; retry', { headers: { 'retry-after': '1' } });
  throw new HttpError('InvalidCredentialError', 'the client device could not be authenticated with the given credentials', { reason: r.reason });
};

export function registerIdentity(app: FastifyInstance, ctx: ApiContext): void {
  app.route({ ...routeOptions(ROUTES.verify), handler: (request, reply) => verifyClientDeviceIdentity(ctx, request, reply) });
  app.route({ ...routeOptions(ROUTES.token), handler: (request, reply) => getClientDeviceAuthToken(ctx, request, reply) });
}
