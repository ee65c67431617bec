/**
 * Codes of the AWS IoT Core sync (`gatehouse sync --from-aws`, `gatehouse.sync.aws`).
 *
 * SYNC_CODES are thrown as {@link SyncError}: the run stopped. SYNC_REFUSAL_CODES are the
 * sync's own reasons in a report's `refused` list (an object left out while the run went
 * on); a refusal may also carry a registry or verification code (POLICY_DOCUMENT_INVALID,
 * CERT_UNTRUSTED, …). Every code is documented in docs/errors.md; a test keeps them in step.
 */
import { GatehouseError } from '../core/errors.js';

export const SYNC_CODES = [
  'SYNC_REGION_MISSING',
  'SYNC_CLOUD_UNREACHABLE',
  'SYNC_ACCESS_DENIED',
  'SYNC_CLOUD_FAILED',
  'SYNC_OPTIONS_INVALID',
  'SYNC_ABORTED',
] as const;

export const SYNC_REFUSAL_CODES = [
  'SYNC_LOCAL_OBJECT',
  'SYNC_DEPENDENCY_REFUSED',
  'SYNC_GROUP_MOVED',
] as const;

export type SyncErrorCode = (typeof SYNC_CODES)[number];

/** A sync run stopped. Pages written before it stay written; nothing is half-written. */
export class SyncError extends GatehouseError<SyncErrorCode> {
  constructor(code: SyncErrorCode, message: string, fix?: string) {
    super(code, message, fix);
    this.name = 'SyncError';
  }
}
