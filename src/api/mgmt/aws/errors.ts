/**
 * Errors of the AWS REST-JSON operations (AWS IoT, Greengrass v2), in AWS's shape: the
 * HTTP status the service model gives the exception, the `x-amzn-ErrorType` header
 * naming it and a `{ "message" }` body. The AWS SDKs pick the exception class from the
 * header, so `@aws-sdk/client-iot` raises `ResourceNotFoundException` and so on
 * (https://smithy.io/2.0/aws/protocols/aws-restjson1-protocol.html#operation-error-serialization).
 *
 * Registry failures are mapped here, once, from their stable codes to the exception AWS
 * IoT answers for the same situation. Messages may name things, certificates and
 * policies; they never carry private keys, secrets or tokens.
 */
import { ControlError, RegistryError, type ControlErrorCode, type RegistryErrorCode } from '../../../identity/errors.js';

/** The exceptions of the AWS IoT service model (com.amazonaws.iot) these operations answer, with their status. */
export const IOT_EXCEPTIONS = {
  InvalidRequestException: 400,
  MalformedPolicyException: 400,
  CertificateValidationException: 400,
  ThrottlingException: 400,
  UnauthorizedException: 401,
  ResourceNotFoundException: 404,
  CertificateStateException: 406,
  ResourceAlreadyExistsException: 409,
  DeleteConflictException: 409,
  VersionConflictException: 409,
  InvalidStateTransitionException: 409,
  VersionsLimitExceededException: 409,
  LimitExceededException: 410,
  InternalFailureException: 500,
  ServiceUnavailableException: 503,
} as const;

/** The exceptions of the Greengrass v2 service model these operations answer. */
export const GREENGRASS_EXCEPTIONS = {
  ValidationException: 400,
  ResourceNotFoundException: 404,
  InternalServerException: 500,
} as const;

export type IotExceptionName = keyof typeof IOT_EXCEPTIONS;
export type GreengrassExceptionName = keyof typeof GREENGRASS_EXCEPTIONS;
export type AwsExceptionName = IotExceptionName | GreengrassExceptionName;

const STATUS: Readonly<Record<AwsExceptionName, number>> = { ...IOT_EXCEPTIONS, ...GREENGRASS_EXCEPTIONS };

/** An AWS service exception, thrown by a handler and written by the plugin's error handler. */
export class AwsServiceError extends Error {
  readonly errorType: AwsExceptionName;
  readonly status: number;
  /** Extra members of the exception's shape (`resourceId`, `resourceArn` of ResourceAlreadyExistsException). */
  readonly fields: Readonly<Record<string, string>>;

  constructor(errorType: AwsExceptionName, message: string, fields: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'AwsServiceError';
    this.errorType = errorType;
    this.status = STATUS[errorType];
    this.fields = fields;
  }

  /** The body AWS sends: `{ "message": …, …fields }`. */
  body(): Record<string, string> {
    return { message: this.message, ...this.fields };
  }
}

export const invalidRequest = (message: string): AwsServiceError => new AwsServiceError('InvalidRequestException', message);
export const notFound = (message: string): AwsServiceError => new AwsServiceError('ResourceNotFoundException', message);

/**
 * The AWS IoT exception for a registry failure. Codes a caller can cause map to the
 * client exception AWS IoT answers in the same situation; the registry being busy or
 * closed is ServiceUnavailableException; anything else is not the caller's fault.
 */
const REGISTRY_TO_IOT: Readonly<Record<RegistryErrorCode, IotExceptionName>> = {
  THING_NAME_INVALID: 'InvalidRequestException',
  THING_ATTRIBUTE_INVALID: 'InvalidRequestException',
  THING_EXISTS: 'ResourceAlreadyExistsException',
  THING_NOT_FOUND: 'ResourceNotFoundException',
  CERT_MALFORMED: 'CertificateValidationException',
  CERT_ID_INVALID: 'InvalidRequestException',
  CERT_ID_AMBIGUOUS: 'InvalidRequestException',
  CERT_NOT_FOUND: 'ResourceNotFoundException',
  CERT_EXISTS: 'ResourceAlreadyExistsException',
  CERT_NOT_ATTACHED: 'ResourceNotFoundException',
  CERT_REVOKED: 'CertificateStateException',
  CA_NOT_FOUND: 'ResourceNotFoundException',
  CA_EXISTS: 'ResourceAlreadyExistsException',
  CA_NOT_A_CA: 'CertificateValidationException',
  THING_TYPE_NAME_INVALID: 'InvalidRequestException',
  THING_TYPE_PROPERTIES_INVALID: 'InvalidRequestException',
  THING_TYPE_EXISTS: 'ResourceAlreadyExistsException',
  THING_TYPE_NOT_FOUND: 'ResourceNotFoundException',
  THING_TYPE_DEPRECATED: 'InvalidRequestException',
  THING_TYPE_NOT_DEPRECATED: 'InvalidRequestException',
  THING_TYPE_IN_USE: 'InvalidRequestException',
  THING_VERSION_CONFLICT: 'VersionConflictException',
  POLICY_NAME_INVALID: 'InvalidRequestException',
  POLICY_DOCUMENT_INVALID: 'MalformedPolicyException',
  POLICY_EXISTS: 'ResourceAlreadyExistsException',
  POLICY_NOT_FOUND: 'ResourceNotFoundException',
  POLICY_VERSION_NOT_FOUND: 'ResourceNotFoundException',
  POLICY_VERSION_LIMIT: 'VersionsLimitExceededException',
  POLICY_VERSION_IS_DEFAULT: 'DeleteConflictException',
  POLICY_ATTACHED: 'DeleteConflictException',
  POLICY_HAS_VERSIONS: 'DeleteConflictException',
  POLICY_NOT_ATTACHED: 'ResourceNotFoundException',
  THING_GROUP_NAME_INVALID: 'InvalidRequestException',
  THING_GROUP_DESCRIPTION_INVALID: 'InvalidRequestException',
  THING_GROUP_EXISTS: 'ResourceAlreadyExistsException',
  THING_GROUP_NOT_FOUND: 'ResourceNotFoundException',
  THING_GROUP_HAS_CHILDREN: 'InvalidRequestException',
  THING_GROUP_HAS_POLICIES: 'InvalidRequestException',
  THING_GROUP_LIMIT: 'InvalidRequestException',
  THING_GROUP_HIERARCHY_CONFLICT: 'InvalidRequestException',
  THING_NOT_IN_GROUP: 'ResourceNotFoundException',
  REGISTRY_SCHEMA_TOO_NEW: 'InternalFailureException',
  REGISTRY_OPEN_FAILED: 'InternalFailureException',
  REGISTRY_BUSY: 'ServiceUnavailableException',
  REGISTRY_CLOSED: 'ServiceUnavailableException',
  REGISTRY_UNAVAILABLE: 'ServiceUnavailableException',
  REGISTRY_URL_INVALID: 'InternalFailureException',
  CLUSTER_CA_MISMATCH: 'InternalFailureException',
  CLUSTER_CONFIG_CONFLICT: 'VersionConflictException',
  CLUSTER_CONFIG_NOT_FOUND: 'ResourceNotFoundException',
};

/** Which IoT exception a registry code becomes (for the docs and tests). */
export function iotExceptionFor(code: RegistryErrorCode): IotExceptionName {
  return REGISTRY_TO_IOT[code];
}

/**
 * Control-store failures (role aliases, tags) as AWS IoT answers the same situations;
 * codes of parts these operations never reach (users, keys, IAM policies, audit, the
 * key file) are internal failures here.
 */
const CONTROL_TO_IOT: Readonly<Partial<Record<ControlErrorCode, IotExceptionName>>> = {
  CONTROL_NAME_INVALID: 'InvalidRequestException',
  CONTROL_ROLE_NOT_FOUND: 'InvalidRequestException',
  CONTROL_ROLE_ALIAS_EXISTS: 'ResourceAlreadyExistsException',
  CONTROL_ROLE_ALIAS_NOT_FOUND: 'ResourceNotFoundException',
  CONTROL_ROLE_ARN_INVALID: 'InvalidRequestException',
  CONTROL_CREDENTIAL_DURATION_INVALID: 'InvalidRequestException',
  CONTROL_TAG_INVALID: 'InvalidRequestException',
  CONTROL_TAG_LIMIT: 'LimitExceededException',
  CONTROL_RESOURCE_NOT_FOUND: 'ResourceNotFoundException',
};

/** Which IoT exception a control-store code becomes (InternalFailureException when none applies). */
export function iotExceptionForControl(code: ControlErrorCode): IotExceptionName {
  return CONTROL_TO_IOT[code] ?? 'InternalFailureException';
}

/**
 * Any error of an IoT handler as an AWS IoT exception, or undefined when it is not one
 * of ours to translate (authorization denials and framework errors are rendered by the
 * management listener). Internal failures keep their detail out of the answer.
 */
export function toIotError(e: unknown): AwsServiceError | undefined {
  if (e instanceof AwsServiceError) return e;
  if (e instanceof RegistryError) {
    const type = REGISTRY_TO_IOT[e.code];
    if (type === 'InternalFailureException') return new AwsServiceError(type, 'the registry failed; see the gateway log');
    const problems = e.problems.length > 0 ? `: ${e.problems.map((p) => `${p.path} ${p.message}`).join('; ')}` : '';
    return new AwsServiceError(type, e.message + problems);
  }
  if (e instanceof ControlError) {
    const type = iotExceptionForControl(e.code);
    return type === 'InternalFailureException' ? new AwsServiceError(type, 'the control store failed; see the gateway log') : new AwsServiceError(type, e.message);
  }
  return undefined;
}
