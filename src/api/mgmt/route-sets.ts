/**
 * Every group of management routes the gateway serves. A new area of the API adds its
 * `ManagementRouteSet` here (one import, one entry); the server registers them all
 * behind the same authentication, authorization and audit front (server.ts).
 */
import type { ManagementRouteSet } from './routes.js';

export const MANAGEMENT_ROUTE_SETS: readonly ManagementRouteSet[] = [];
