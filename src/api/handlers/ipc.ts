/**
 * The operations both listeners serve with the same handler: the four IPC operations of
 * the Greengrass client device auth component (with the batch form of the authorize
 * call and the session close an external broker uses) and the EMQX adapter. The local
 * API registers them from its route table; the management API serves them at the same
 * paths for deployments that speak HTTPS only (mgmt/ipc-routes.ts).
 */
import type { OperationHandler } from '../context.js';
import { ROUTES, type RouteSpec } from '../routes.js';
import { authorizeClientDeviceAction, authorizeClientDeviceActions } from './authorize.js';
import { subscribeToCertificateUpdates } from './certificate-updates.js';
import { EMQX_DENY_AUTHN, EMQX_DENY_AUTHZ, emqxAuthenticate, emqxAuthorize } from './emqx.js';
import { getClientDeviceAuthToken, verifyClientDeviceIdentity } from './identity.js';
import { closeSession } from './sessions.js';

export interface IpcOperation {
  /** The operation's name (the management API's operation id). */
  readonly name: string;
  /** The local API's route: method, path, action, schemas, documented answers. */
  readonly route: RouteSpec & { readonly action: string };
  readonly handler: OperationHandler;
  /**
   * EMQX's adapter: the answer (status 200) to input it cannot accept or a call it
   * cannot serve, since EMQX reads any other status as "ignore".
   */
  readonly refusal?: string;
}

export const IPC_OPERATIONS: readonly IpcOperation[] = [
  { name: 'VerifyClientDeviceIdentity', route: ROUTES.verify, handler: verifyClientDeviceIdentity },
  { name: 'GetClientDeviceAuthToken', route: ROUTES.token, handler: getClientDeviceAuthToken },
  { name: 'AuthorizeClientDeviceAction', route: ROUTES.authorize, handler: authorizeClientDeviceAction },
  { name: 'AuthorizeClientDeviceActions', route: ROUTES.authorizeBatch, handler: authorizeClientDeviceActions },
  { name: 'SubscribeToCertificateUpdates', route: ROUTES.certificateUpdates, handler: subscribeToCertificateUpdates },
  { name: 'CloseSession', route: ROUTES.closeSession, handler: closeSession },
  { name: 'EmqxAuthenticate', route: ROUTES.emqxAuthn, handler: emqxAuthenticate, refusal: EMQX_DENY_AUTHN },
  { name: 'EmqxAuthorize', route: ROUTES.emqxAuthz, handler: emqxAuthorize, refusal: EMQX_DENY_AUTHZ },
];
