/**
 * The route sets of the HTTPS data-plane listener, in registration order. A service
 * joins the listener by adding its set here (see routes.ts for the contract).
 */
import type { DataPlaneRouteSet } from './routes.js';
import { JOB_ROUTES } from './job-routes.js';
import { RETAINED_ROUTES } from './retained-routes.js';
import { SHADOW_ROUTES } from './shadow-routes.js';

export const DATA_PLANE_ROUTE_SETS: readonly DataPlaneRouteSet[] = [SHADOW_ROUTES, RETAINED_ROUTES, JOB_ROUTES];
