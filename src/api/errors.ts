/**
 * Codes of the local HTTP API. Every code is documented in docs/errors.md (with its
 * fix) and docs/api.md; a test keeps the three in step. Codes are stable: a retired
 * code is never reused.
 *
 * Two families:
 * - codes named after the component's IPC errors (`InvalidCredentialError`,
 *   `InvalidClientDeviceAuthTokenError`, `ServiceError`), so that a program written
 *   against the IPC operations recognises them;
 * - `API_*` codes for what HTTP adds (authentication, bodies, limits) and for the
 *   gateway's API start-up and the `gatehouse api token` command.
 *
 * Messages never contain API tokens, session tokens, passwords or private keys.
 */
import { GatehouseError } from '../core/errors.js';

/** Errors answered to an HTTP caller, with their status. */
export const API_RESPONSE_CODES = {
  API_UNAUTHORIZED: 401,
  API_ACCESS_DENIED: 403,
  API_NOT_FOUND: 404,
  API_INVALID_JSON: 400,
  API_INVALID_REQUEST: 400,
  API_UNSUPPORTED_MEDIA_TYPE: 415,
  API_BODY_TOO_LARGE: 413,
  API_QUEUE_FULL: 429,
  API_TOO_MANY_STREAMS: 429,
  API_UNAVAILABLE: 503,
  API_AUDIT_BACKLOG: 503,
  InvalidCredentialError: 403,
  InvalidClientDeviceAuthTokenError: 404,
  ServiceError: 500,
} as const;

export type ApiResponseCode = keyof typeof API_RESPONSE_CODES;

/**
 * Why `POST /v1/explain` cannot answer a request for a registered thing's connection
 * (API_INVALID_REQUEST, in `error.reason`): the IoT request, the thing or its certificate.
 */
export const EXPLAIN_REASONS = [
  'IOT_REQUEST_ACTION_UNKNOWN',
  'IOT_REQUEST_RESOURCE_INVALID',
  'THING_NOT_FOUND',
  'THING_CERTIFICATE_AMBIGUOUS',
  'THING_HAS_NO_CERTIFICATE',
  'CERT_NOT_FOUND',
  'CERT_ID_INVALID',
  'CERT_ID_AMBIGUOUS',
  'CERT_NOT_ATTACHED',
  'CERT_MALFORMED',
] as const;

/** Errors of the gateway's API start-up and of `gatehouse api token`. */
export const API_STARTUP_CODES = ['API_TOKEN_MISSING', 'API_TOKEN_INVALID', 'API_LISTEN_FAILED'] as const;

export type ApiStartupCode = (typeof API_STARTUP_CODES)[number];

/** Every code of the API, for the docs test. */
export const API_ERROR_CODES: readonly string[] = [...Object.keys(API_RESPONSE_CODES), ...API_STARTUP_CODES];

/** The body of every error answer: `{"error": {"code", "message", ...}}`. */
export interface ApiErrorBody {
  readonly error: {
    readonly code: ApiResponseCode;
    readonly message: string;
    /** JSON path of the offending field (API_INVALID_REQUEST; `""` for the whole body). */
    readonly path?: string;
    /** Identity reason code (InvalidCredentialError), see docs/identity.md. */
    readonly reason?: string;
  };
}

export function errorBody(code: ApiResponseCode, message: string, extra: { path?: string; reason?: string } = {}): ApiErrorBody {
  return { error: { code, message, ...extra } };
}

/** Thrown by API start-up and the token file functions; `fix` says what to do. */
export class ApiError extends GatehouseError<ApiStartupCode> {
  constructor(code: ApiStartupCode, message: string, fix?: string) {
    super(code, message, fix);
    this.name = 'ApiError';
  }
}
