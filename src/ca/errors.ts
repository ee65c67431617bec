/**
 * Error codes of the certificate authority, the server-certificate manager and the
 * on-disk store. Every code is documented in docs/ca.md with its fix; a test keeps the
 * two in step. Codes are stable: a retired code is never reused.
 *
 * Messages name files, URIs and hosts, never key material.
 */
import { GatehouseError } from '../core/errors.js';

export const CA_ERROR_CODES = [
  'CA_CONFIG_INCOMPLETE',
  'CA_PKCS11_UNSUPPORTED',
  'CA_URI_UNSUPPORTED',
  'CA_FILE_UNREADABLE',
  'CA_PEM_INVALID',
  'CA_KEY_ENCRYPTED',
  'CA_KEY_UNSUPPORTED',
  'CA_KEY_MISMATCH',
  'CA_NOT_A_CA',
  'CA_CHAIN_INVALID',
  'CA_EXPIRED',
  'CA_NOT_YET_VALID',
  'CA_TYPE_MISMATCH',
  'CA_STORE_CORRUPT',
  'CA_STORE_WRITE_FAILED',
  'CA_HOST_INVALID',
  'CA_HOST_HAS_PORT',
  // The thing-name rule's one code (core/names.ts), shared with the registry. It replaced
  // CA_THING_NAME_INVALID, which is retired and never reused.
  'THING_NAME_INVALID',
  'CA_PUBLIC_KEY_INVALID',
  'CA_VALIDITY_INVALID',
] as const;

export type CaErrorCode = (typeof CA_ERROR_CODES)[number];

export class CaError extends GatehouseError<CaErrorCode> {
  constructor(code: CaErrorCode, message: string, fix?: string, options?: { cause?: unknown }) {
    super(code, message, fix, options?.cause !== undefined ? { cause: safeCause(options.cause) } : undefined);
    this.name = 'CaError';
  }
}

/**
 * Keeps only the name, code and message of an underlying error. Node's crypto errors do
 * not echo key bytes, but a cause chain is logged verbatim by many loggers, so nothing
 * else (buffers, stacks with arguments) is carried along.
 */
function safeCause(cause: unknown): unknown {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const copy = new Error(cause.message);
    copy.name = cause.name;
    if (typeof code === 'string') (copy as { code?: string }).code = code;
    return copy;
  }
  return undefined;
}

/** The `code` of a Node system error (`ENOENT`, ...), if any. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
