/**
 * Every group of management routes the gateway serves. A new area of the API adds its
 * `ManagementRouteSet` here (one import, one entry); the server registers them all
 * behind the same authentication, authorization and audit front (server.ts).
 */
import { AUDIT_ROUTES } from './audit-route.js';
import { CREDENTIALS_PROVIDER_ROUTES } from './credentials-provider.js';
import { GATEHOUSE_OPERATION_ROUTES } from './gatehouse-ops.js';
import { IAM_ROUTES } from './iam/route-set.js';
import { IPC_ROUTES } from './ipc-routes.js';
import { GREENGRASS_ROUTES, IOT_DATA_ROUTES, IOT_ROUTES } from './iot/route-set.js';
import type { ManagementRouteSet } from './routes.js';
import { STS_ROUTES } from './sts.js';

export const MANAGEMENT_ROUTE_SETS: readonly ManagementRouteSet[] = [
  STS_ROUTES,
  // At STS's URL (POST /), for requests signed for `iam`.
  IAM_ROUTES,
  CREDENTIALS_PROVIDER_ROUTES,
  AUDIT_ROUTES,
  GATEHOUSE_OPERATION_ROUTES,
  IOT_ROUTES,
  // Device Shadow reads and deletes, signed for `iotdata` (the operator console's shadows page).
  IOT_DATA_ROUTES,
  GREENGRASS_ROUTES,
  // The local API's IPC operations and EMQX adapter, at the same paths.
  IPC_ROUTES,
];
