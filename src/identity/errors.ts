/**
 * Codes of the identity layer: registry, certificate verification, sessions, and the
 * control plane's store (users, keys, roles, IAM policies, role aliases, tags, audit).
 *
 * Every code here is documented in docs/identity.md with its fix; a test keeps the
 * two in step. Codes are stable: a retired code is never reused for something else.
 *
 * Messages may name thing names, certificate ids, subjects, user and role names and
 * access key ids (the operator needs them). They never contain session tokens, secret
 * access keys or private keys.
 */
import { GatehouseError } from '../core/errors.js';

/** Failures of registry operations (thrown as {@link RegistryError}). */
export const REGISTRY_CODES = [
  'THING_NAME_INVALID',
  'THING_ATTRIBUTE_INVALID',
  'THING_EXISTS',
  'THING_NOT_FOUND',
  'CERT_MALFORMED',
  'CERT_ID_INVALID',
  'CERT_ID_AMBIGUOUS',
  'CERT_NOT_FOUND',
  'CERT_EXISTS',
  'CERT_NOT_ATTACHED',
  'CERT_REVOKED',
  'CA_NOT_FOUND',
  'CA_EXISTS',
  'CA_NOT_A_CA',
  'THING_TYPE_NAME_INVALID',
  'THING_TYPE_PROPERTIES_INVALID',
  'THING_TYPE_EXISTS',
  'THING_TYPE_NOT_FOUND',
  'THING_TYPE_DEPRECATED',
  'THING_TYPE_NOT_DEPRECATED',
  'THING_TYPE_IN_USE',
  'THING_VERSION_CONFLICT',
  'POLICY_NAME_INVALID',
  'POLICY_DOCUMENT_INVALID',
  'POLICY_EXISTS',
  'POLICY_NOT_FOUND',
  'POLICY_VERSION_NOT_FOUND',
  'POLICY_VERSION_LIMIT',
  'POLICY_VERSION_IS_DEFAULT',
  'POLICY_ATTACHED',
  'POLICY_HAS_VERSIONS',
  'POLICY_NOT_ATTACHED',
  'THING_GROUP_NAME_INVALID',
  'THING_GROUP_DESCRIPTION_INVALID',
  'THING_GROUP_EXISTS',
  'THING_GROUP_NOT_FOUND',
  'THING_GROUP_HAS_CHILDREN',
  'THING_GROUP_HAS_POLICIES',
  'THING_GROUP_LIMIT',
  'THING_GROUP_HIERARCHY_CONFLICT',
  'THING_NOT_IN_GROUP',
  'REGISTRY_SCHEMA_TOO_NEW',
  'REGISTRY_OPEN_FAILED',
  'REGISTRY_BUSY',
  'REGISTRY_CLOSED',
  'REGISTRY_UNAVAILABLE',
  'REGISTRY_URL_INVALID',
  'CLUSTER_CA_MISMATCH',
  'CLUSTER_CONFIG_CONFLICT',
  'CLUSTER_CONFIG_NOT_FOUND',
] as const;

/** Why a client certificate was not accepted (the `reason` of a failed verification). */
export const VERIFY_REASONS = [
  'CERT_MALFORMED',
  'CERT_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_WRONG_USAGE',
  'CERT_SELF_SIGNED',
  'CERT_UNTRUSTED',
  'CERT_NOT_REGISTERED',
  'CERT_REVOKED',
  'CERT_INACTIVE',
  'CERT_CLOUD_TRUST_EXPIRED',
] as const;

/** Why a session could not be created: any verification reason, or one of these. */
export const SESSION_REASONS = [
  ...VERIFY_REASONS,
  'THING_NAME_INVALID',
  'THING_NOT_FOUND',
  'CERT_NOT_ATTACHED',
  'REGISTRY_BUSY',
] as const;

/** Why a live session was ended by the gateway (told to `onInvalidated` listeners). */
export const INVALIDATION_REASONS = [
  'CERT_REVOKED',
  'CERT_INACTIVE',
  'CERT_DELETED',
  'CERT_DETACHED',
  'CERT_EXPIRED',
  'THING_DELETED',
  'CA_UNTRUSTED',
  'SESSION_EVICTED',
  'SESSION_REPLACED',
] as const;

export type RegistryErrorCode = (typeof REGISTRY_CODES)[number];
export type VerifyFailureReason = (typeof VERIFY_REASONS)[number];
export type SessionFailureReason = (typeof SESSION_REASONS)[number];
export type InvalidationReason = (typeof INVALIDATION_REASONS)[number];

/** Failures of the control-plane store (thrown as {@link ControlError}). */
export const CONTROL_CODES = [
  'CONTROL_NAME_INVALID',
  'CONTROL_DESCRIPTION_INVALID',
  'CONTROL_USER_EXISTS',
  'CONTROL_USER_NOT_FOUND',
  'CONTROL_USER_HAS_DEPENDENTS',
  'CONTROL_ACCESS_KEY_LIMIT',
  'CONTROL_ACCESS_KEY_NOT_FOUND',
  'CONTROL_ACCESS_KEY_STATUS_INVALID',
  'CONTROL_ROLE_EXISTS',
  'CONTROL_ROLE_NOT_FOUND',
  'CONTROL_ROLE_IN_USE',
  'CONTROL_MAX_SESSION_DURATION_INVALID',
  'CONTROL_TRUST_POLICY_INVALID',
  'CONTROL_SESSION_NAME_INVALID',
  'CONTROL_SESSION_DURATION_INVALID',
  'CONTROL_POLICY_EXISTS',
  'CONTROL_POLICY_NOT_FOUND',
  'CONTROL_POLICY_DOCUMENT_INVALID',
  'CONTROL_POLICY_VERSION_NOT_FOUND',
  'CONTROL_POLICY_VERSION_LIMIT',
  'CONTROL_POLICY_VERSION_IS_DEFAULT',
  'CONTROL_POLICY_ATTACHED',
  'CONTROL_POLICY_HAS_VERSIONS',
  'CONTROL_POLICY_ATTACHMENT_LIMIT',
  'CONTROL_POLICY_NOT_ATTACHED',
  'CONTROL_ROLE_ALIAS_EXISTS',
  'CONTROL_ROLE_ALIAS_NOT_FOUND',
  'CONTROL_ROLE_ARN_INVALID',
  'CONTROL_CREDENTIAL_DURATION_INVALID',
  'CONTROL_TAG_INVALID',
  'CONTROL_TAG_LIMIT',
  'CONTROL_RESOURCE_NOT_FOUND',
  'CONTROL_AUDIT_QUERY_INVALID',
  'CONTROL_KEY_FILE_INSECURE',
  'CONTROL_KEY_FILE_MISSING',
  'CONTROL_KEY_FILE_INVALID',
  'CONTROL_KEY_MISMATCH',
  'CONTROL_SECRET_UNREADABLE',
  'CONTROL_CREDENTIALS_FILE_FAILED',
] as const;

export type ControlErrorCode = (typeof CONTROL_CODES)[number];

/** Every code the identity layer can produce, for the docs test. */
export const IDENTITY_CODES: readonly string[] = [
  ...new Set<string>([...REGISTRY_CODES, ...VERIFY_REASONS, ...SESSION_REASONS, ...INVALIDATION_REASONS, ...CONTROL_CODES]),
];

/**
 * One defect of a policy document (the same shape as the engine's IotPolicyProblem):
 * a stable code, a JSON path, what is wrong and how to fix it.
 */
export interface PolicyDocumentProblem {
  readonly code: string;
  readonly path: string;
  readonly message: string;
  readonly fix: string;
}

/** A registry operation failed. `code` is stable; `fix` says what to do about it. */
export class RegistryError extends GatehouseError<RegistryErrorCode> {
  /** For POLICY_DOCUMENT_INVALID: every problem found in the document (otherwise empty). */
  readonly problems: readonly PolicyDocumentProblem[];

  constructor(code: RegistryErrorCode, message: string, fix?: string, problems: readonly PolicyDocumentProblem[] = []) {
    super(code, message, fix);
    this.name = 'RegistryError';
    this.problems = problems;
  }
}

export function isRegistryError(e: unknown): e is RegistryError {
  return e instanceof RegistryError;
}

/** A control-plane store operation failed. `code` is stable; `fix` says what to do about it. */
export class ControlError extends GatehouseError<ControlErrorCode> {
  /** For CONTROL_POLICY_DOCUMENT_INVALID and CONTROL_TRUST_POLICY_INVALID: every problem found (otherwise empty). */
  readonly problems: readonly PolicyDocumentProblem[];

  constructor(code: ControlErrorCode, message: string, fix?: string, problems: readonly PolicyDocumentProblem[] = []) {
    super(code, message, fix);
    this.name = 'ControlError';
    this.problems = problems;
  }
}

export function isControlError(e: unknown): e is ControlError {
  return e instanceof ControlError;
}
