/**
 * A remote gateway's error answers and transport failures as the CLI's coded errors.
 *
 * The management API writes AWS's shapes: for the AWS IoT and Greengrass operations the
 * `x-amzn-ErrorType` header names the exception
 * (https://smithy.io/2.0/aws/protocols/aws-restjson1-protocol.html#operation-error-serialization)
 * and the body is `{"message"}`; Gatehouse's own operations answer
 * `{"error": {"code", "message"}}`. Each wire code maps to one CLI code and exit status;
 * the server's message (which never carries a secret) and the request id are kept so
 * the operator can find the audit record.
 */
import { CliError, EXIT, type ExitCode } from '../output.js';
import type { RemoteTarget } from './target.js';

export type RemoteErrorCode =
  | 'REMOTE_AUTH_FAILED'
  | 'REMOTE_ACCESS_DENIED'
  | 'REMOTE_NOT_FOUND'
  | 'REMOTE_CONFLICT'
  | 'REMOTE_INVALID_REQUEST'
  | 'REMOTE_UNAVAILABLE'
  | 'REMOTE_TLS_FAILED'
  | 'REMOTE_PROTOCOL_ERROR';

const AUTH = new Set([
  'UnrecognizedClientException', 'InvalidSignatureException', 'IncompleteSignatureException', 'MissingAuthenticationTokenException',
  'ExpiredTokenException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'MissingAuthenticationToken', 'IncompleteSignature', 'ExpiredToken',
  'MGMT_MISSING_AUTHENTICATION', 'MGMT_INCOMPLETE_SIGNATURE', 'MGMT_INVALID_CLIENT_TOKEN', 'MGMT_EXPIRED_TOKEN', 'MGMT_SIGNATURE_DOES_NOT_MATCH', 'MGMT_SIGNATURE_EXPIRED',
]);
const DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'MGMT_ACCESS_DENIED', 'UnauthorizedException']);
const NOT_FOUND = new Set(['ResourceNotFoundException', 'NoSuchEntity', 'MGMT_NOT_FOUND', 'UnknownOperationException']);
const CONFLICT = new Set([
  'ResourceAlreadyExistsException', 'DeleteConflictException', 'VersionConflictException', 'VersionsLimitExceededException',
  'CertificateStateException', 'LimitExceededException', 'EntityAlreadyExists', 'DeleteConflict', 'ConflictException', 'LimitExceeded',
]);
const INVALID = new Set([
  'InvalidRequestException', 'MalformedPolicyException', 'CertificateValidationException', 'ValidationException', 'ValidationError',
  'InvalidParameterValue', 'InvalidInput', 'MalformedPolicyDocument', 'MGMT_INVALID_REQUEST', 'MGMT_BODY_TOO_LARGE', 'MGMT_UNSUPPORTED_MEDIA_TYPE', 'RequestEntityTooLargeException', 'UnsupportedMediaTypeException',
]);

/** The wire code of an answer: the header's value up to `:` (AWS may append a namespace), else the Gatehouse body's code. */
function wireCode(headers: Readonly<Record<string, string | string[] | undefined>>, body: unknown): string | undefined {
  const h = headers['x-amzn-errortype'];
  const header = Array.isArray(h) ? h[0] : h;
  if (header !== undefined && header !== '') return header.split(':')[0]!.trim();
  if (typeof body === 'object' && body !== null) {
    const e = (body as Record<string, unknown>)['error'];
    if (typeof e === 'object' && e !== null && typeof (e as Record<string, unknown>)['code'] === 'string') return (e as Record<string, string>)['code'];
    const t = (body as Record<string, unknown>)['__type'];
    if (typeof t === 'string') return t.split('#').pop();
  }
  return undefined;
}

function wireMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const m = b['message'] ?? b['Message'] ?? (typeof b['error'] === 'object' && b['error'] !== null ? (b['error'] as Record<string, unknown>)['message'] : undefined);
  return typeof m === 'string' ? m.slice(0, 1000) : undefined;
}

export function remoteAnswerError(answer: { status: number; headers: Readonly<Record<string, string | string[] | undefined>>; text: string }, target: RemoteTarget, operation: string): CliError {
  let body: unknown;
  try {
    body = answer.text === '' ? undefined : JSON.parse(answer.text);
  } catch {
    body = undefined;
  }
  // The query protocol (STS) answers <ErrorResponse><Error><Code/><Message/></Error></ErrorResponse>.
  const xmlCode = body === undefined ? /<Code>([A-Za-z0-9_.]{1,100})<\/Code>/.exec(answer.text)?.[1] : undefined;
  const xmlRaw = body === undefined ? /<Message>([^<]{0,1000})<\/Message>/.exec(answer.text)?.[1] : undefined;
  const xmlMessage = xmlRaw?.replace(/&(lt|gt|quot|apos|amp);/g, (_m, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e] ?? '');
  const code = wireCode(answer.headers, body) ?? xmlCode;
  const message = wireMessage(body) ?? xmlMessage ?? `HTTP ${answer.status}`;
  const rid = answer.headers['x-amzn-requestid'];
  const requestId = Array.isArray(rid) ? rid[0] : rid;
  const tail = ` (${operation} at ${target.endpoint.host}: ${code ?? `HTTP ${answer.status}`}${requestId !== undefined ? `, request ${requestId}` : ''})`;
  const make = (c: RemoteErrorCode, exit: ExitCode, fix: string): CliError => new CliError(c, `${message}${tail}`, exit, fix);

  if (code !== undefined && AUTH.has(code)) {
    const fix = code.includes('Expired') || code === 'MGMT_EXPIRED_TOKEN'
      ? 'the temporary credentials have expired: get new ones'
      : code === 'UnrecognizedClientException' || code === 'InvalidClientTokenId' || code === 'MGMT_INVALID_CLIENT_TOKEN'
        ? `the gateway does not know access key ${target.credentials.accessKeyId} (from ${target.sources.credentials}), or it is inactive`
        : `check the secret access key (from ${target.sources.credentials}), this machine's clock, and that the region (${target.region}, from ${target.sources.region}) is the gateway's gatehouse.iot.region`;
    return make('REMOTE_AUTH_FAILED', EXIT.INVALID, fix);
  }
  if (code !== undefined && DENIED.has(code)) return make('REMOTE_ACCESS_DENIED', EXIT.INVALID, 'ask an administrator to allow the action on the resource in one of your identity policies');
  if (code !== undefined && NOT_FOUND.has(code)) {
    return code === 'UnknownOperationException' || code === 'MGMT_NOT_FOUND' && answer.status === 404 && message === 'no such operation'
      ? make('REMOTE_PROTOCOL_ERROR', EXIT.INVALID, 'the gateway does not serve this operation: it may run an older version of Gatehouse')
      : make('REMOTE_NOT_FOUND', EXIT.INVALID, 'names are case-sensitive; list what exists with the matching `list` command');
  }
  if (code !== undefined && CONFLICT.has(code)) return make('REMOTE_CONFLICT', EXIT.INVALID, 'the resource\'s current state does not allow the change: see the message');
  if (code !== undefined && INVALID.has(code)) return make('REMOTE_INVALID_REQUEST', EXIT.INVALID, 'the gateway refused the input: see the message');
  if (answer.status >= 500 || code === 'ThrottlingException') return make('REMOTE_UNAVAILABLE', EXIT.UNAVAILABLE, 'try again later; the gateway\'s log says more');
  return make('REMOTE_PROTOCOL_ERROR', EXIT.INVALID, 'the gateway answered in a way the CLI does not understand: check that the endpoint is a Gatehouse management API');
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

export function remoteTransportError(e: Error, target: RemoteTarget, operation: string): CliError {
  const code = (e as NodeJS.ErrnoException).code ?? 'ERROR';
  if (TLS_CODES.has(code)) {
    return new CliError('REMOTE_TLS_FAILED', `the gateway at ${target.endpoint.host} presented a certificate this CLI does not trust (${code}) during ${operation}`, EXIT.UNAVAILABLE,
      'set GATEHOUSE_CA_BUNDLE (or ca_bundle in the profile) to the gateway CA\'s PEM, and use a host name the gateway\'s certificate lists (gatehouse.hosts)');
  }
  const what = code === 'ETIMEDOUT' ? 'did not answer in time' : code === 'ECONNREFUSED' ? 'refused the connection' : `could not be reached (${code})`;
  return new CliError('REMOTE_UNAVAILABLE', `the gateway at ${target.endpoint.host} ${what} during ${operation}`, EXIT.UNAVAILABLE,
    `check the endpoint (from ${target.sources.endpoint}) and that the gateway runs with gatehouse.management enabled`);
}
