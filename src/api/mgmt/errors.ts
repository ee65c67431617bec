/**
 * The management API's error answers, in each wire protocol's own shape:
 *
 * - `rest-json` (AWS IoT, Greengrass): the status, an `x-amzn-ErrorType: <Code>` header
 *   and `{"message": "..."}`; the AWS SDKs read the code from the header.
 * - `query-xml` (STS, IAM): `<ErrorResponse xmlns=…><Error><Type>Sender</Type><Code/><Message/></Error>
 *   <RequestId/></ErrorResponse>` as `text/xml`.
 * - `gatehouse`: `{"error": {"code", "message"}}`, like the local API.
 *
 * Authentication failures have one name per protocol, as AWS's services answer them:
 * the query protocol uses the common error codes (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html),
 * REST-JSON services their `…Exception` forms. Messages are fixed texts: they never
 * echo a secret, a signature or a session token.
 */
import type { WireProtocol } from './call.js';

/** Why a request could not be authenticated (also the audit record's reason). */
export const AUTH_FAILURES = [
  'MISSING_AUTHENTICATION',
  'INCOMPLETE_SIGNATURE',
  'UNKNOWN_ACCESS_KEY',
  'INVALID_SESSION_TOKEN',
  'EXPIRED_SESSION_TOKEN',
  'SIGNATURE_DOES_NOT_MATCH',
  'SIGNATURE_EXPIRED',
  'WRONG_CREDENTIAL_SCOPE',
  'PAYLOAD_HASH_MISMATCH',
  'CONSOLE_SESSION_INVALID',
  'CONSOLE_CSRF_MISMATCH',
] as const;

export type AuthFailure = (typeof AUTH_FAILURES)[number];

interface WireCode {
  readonly status: number;
  readonly restJson: string;
  readonly query: string;
  readonly gatehouse: string;
}

const AUTH_CODES: Readonly<Record<AuthFailure, WireCode>> = {
  MISSING_AUTHENTICATION: { status: 403, restJson: 'MissingAuthenticationTokenException', query: 'MissingAuthenticationToken', gatehouse: 'MGMT_MISSING_AUTHENTICATION' },
  INCOMPLETE_SIGNATURE: { status: 400, restJson: 'IncompleteSignatureException', query: 'IncompleteSignature', gatehouse: 'MGMT_INCOMPLETE_SIGNATURE' },
  UNKNOWN_ACCESS_KEY: { status: 403, restJson: 'UnrecognizedClientException', query: 'InvalidClientTokenId', gatehouse: 'MGMT_INVALID_CLIENT_TOKEN' },
  INVALID_SESSION_TOKEN: { status: 403, restJson: 'UnrecognizedClientException', query: 'InvalidClientTokenId', gatehouse: 'MGMT_INVALID_CLIENT_TOKEN' },
  EXPIRED_SESSION_TOKEN: { status: 403, restJson: 'ExpiredTokenException', query: 'ExpiredToken', gatehouse: 'MGMT_EXPIRED_TOKEN' },
  SIGNATURE_DOES_NOT_MATCH: { status: 403, restJson: 'InvalidSignatureException', query: 'SignatureDoesNotMatch', gatehouse: 'MGMT_SIGNATURE_DOES_NOT_MATCH' },
  SIGNATURE_EXPIRED: { status: 403, restJson: 'InvalidSignatureException', query: 'SignatureDoesNotMatch', gatehouse: 'MGMT_SIGNATURE_EXPIRED' },
  WRONG_CREDENTIAL_SCOPE: { status: 403, restJson: 'InvalidSignatureException', query: 'SignatureDoesNotMatch', gatehouse: 'MGMT_SIGNATURE_DOES_NOT_MATCH' },
  PAYLOAD_HASH_MISMATCH: { status: 403, restJson: 'InvalidSignatureException', query: 'SignatureDoesNotMatch', gatehouse: 'MGMT_SIGNATURE_DOES_NOT_MATCH' },
  CONSOLE_SESSION_INVALID: { status: 401, restJson: 'UnrecognizedClientException', query: 'InvalidClientTokenId', gatehouse: 'MGMT_CONSOLE_SESSION_INVALID' },
  CONSOLE_CSRF_MISMATCH: { status: 403, restJson: 'AccessDeniedException', query: 'AccessDenied', gatehouse: 'MGMT_CONSOLE_CSRF_MISMATCH' },
};

/** The Gatehouse-protocol codes of the management API (docs/errors.md documents each). */
export const MGMT_RESPONSE_CODES = {
  MGMT_MISSING_AUTHENTICATION: 403,
  MGMT_INCOMPLETE_SIGNATURE: 400,
  MGMT_INVALID_CLIENT_TOKEN: 403,
  MGMT_EXPIRED_TOKEN: 403,
  MGMT_SIGNATURE_DOES_NOT_MATCH: 403,
  MGMT_SIGNATURE_EXPIRED: 403,
  MGMT_ACCESS_DENIED: 403,
  MGMT_INVALID_REQUEST: 400,
  MGMT_NOT_FOUND: 404,
  MGMT_NO_CONFIG_FILE: 409,
  MGMT_CONFIG_INVALID: 400,
  MGMT_BODY_TOO_LARGE: 413,
  MGMT_UNSUPPORTED_MEDIA_TYPE: 415,
  MGMT_INTERNAL_ERROR: 500,
  MGMT_UNAVAILABLE: 503,
  MGMT_AUDIT_BACKLOG: 503,
  MGMT_CONSOLE_SESSION_INVALID: 401,
  MGMT_CONSOLE_CSRF_MISMATCH: 403,
  MGMT_CONSOLE_SIGN_IN_FAILED: 401,
  MGMT_CONSOLE_RATE_LIMITED: 429,
} as const;

export type MgmtResponseCode = keyof typeof MGMT_RESPONSE_CODES;

/**
 * An error answer of a management route. `code` is the wire code of the route's
 * protocol (`ResourceNotFoundException` for IoT, `NoSuchEntity` for STS/IAM,
 * `MGMT_NOT_FOUND` for Gatehouse's routes); `message` is shown to the caller.
 */
export class ManagementError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: string, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'ManagementError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** The answer to an authentication failure in a protocol. */
export function authFailureError(protocol: WireProtocol, failure: AuthFailure, message: string): ManagementError {
  const c = AUTH_CODES[failure];
  const code = protocol === 'rest-json' ? c.restJson : protocol === 'query-xml' ? c.query : c.gatehouse;
  return new ManagementError(c.status, code, message);
}

/** The denial of an authorized call, in a protocol. */
export function accessDeniedError(protocol: WireProtocol, message: string): ManagementError {
  const code = protocol === 'rest-json' ? 'AccessDeniedException' : protocol === 'query-xml' ? 'AccessDenied' : 'MGMT_ACCESS_DENIED';
  return new ManagementError(403, code, message);
}

/** Input the route cannot accept (schema, JSON, form). */
export function invalidRequestError(protocol: WireProtocol, message: string): ManagementError {
  const code = protocol === 'rest-json' ? 'InvalidRequestException' : protocol === 'query-xml' ? 'ValidationError' : 'MGMT_INVALID_REQUEST';
  return new ManagementError(400, code, message);
}

/** A call refused before anything was done for it: the audit queue is full (audit.ts). */
export function auditBacklogError(protocol: WireProtocol): ManagementError {
  const code = protocol === 'rest-json' ? 'ServiceUnavailableException' : protocol === 'query-xml' ? 'ServiceUnavailable' : 'MGMT_AUDIT_BACKLOG';
  return new ManagementError(503, code, 'the audit log cannot record more calls now; nothing was done; retry later', { 'retry-after': '1' });
}

export function internalError(protocol: WireProtocol): ManagementError {
  const code = protocol === 'rest-json' ? 'InternalFailureException' : protocol === 'query-xml' ? 'InternalFailure' : 'MGMT_INTERNAL_ERROR';
  return new ManagementError(500, code, 'the request failed; see the gateway log');
}

export interface WireAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType: string;
  readonly body: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * Renders an error in a protocol; `requestId` goes into the XML body (and the header, set
 * by the server); `xmlNamespace` is the query-protocol service's (STS's by default).
 */
export function renderError(protocol: WireProtocol, e: ManagementError, requestId: string, xmlNamespace: string = STS_NS): WireAnswer {
  switch (protocol) {
    case 'rest-json':
      return { status: e.status, headers: { ...e.headers, 'x-amzn-errortype': e.code }, contentType: JSON_TYPE, body: JSON.stringify({ message: e.message }) };
    case 'query-xml': {
      const type = e.status >= 500 ? 'Receiver' : 'Sender';
      const body = `<ErrorResponse xmlns="${xmlEscape(xmlNamespace)}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${xmlEscape(e.code)}</Code>\n    <Message>${xmlEscape(e.message)}</Message>\n  </Error>\n  <RequestId>${xmlEscape(requestId)}</RequestId>\n</ErrorResponse>\n`;
      return { status: e.status, headers: e.headers, contentType: 'text/xml', body };
    }
    case 'gatehouse':
      return { status: e.status, headers: e.headers, contentType: JSON_TYPE, body: JSON.stringify({ error: { code: e.code, message: e.message } }) };
  }
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}
