/**
 * Device identity: the thing/certificate registry, client certificate verification,
 * sessions, and the bootstrap that ties the registry to the gateway CA.
 */
export * from './errors.js';
export { assertThingName, isValidThingName, thingNameProblem, THING_NAME_MAX } from './names.js';
export { parseCertificatePem, certificateId, allowsClientAuth, type ParsedCertificate, type ParseResult } from './certificate.js';
export type * from './registry.js';
export { CERTIFICATE_STATUSES } from './registry.js';
export { SqliteRegistry, registryPath, type SqliteRegistryOptions } from './sqlite-registry.js';
export { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
export { CertificateVerifier, verifyClientCertificate, type VerifyResult, type VerifySuccess, type VerifyFailure, type ChainResult } from './verify.js';
export { SessionManager, type Session, type SessionManagerOptions, type CreateSessionRequest, type CreateSessionResult, type InvalidationListener } from './sessions.js';
export { sessionAuthenticator, type SessionAuthenticator, type AuthenticationOutcome, type AuthenticatedIdentity } from './authenticator.js';
export type * from './control.js';
export { MAX_TAGS_PER_RESOURCE } from './control.js';
export { SqliteControlStore, type SqliteControlStoreOptions, type ControlConnection } from './sqlite-control.js';
export { controlKeyPath, CONTROL_KEY_FILE } from './control-key.js';
export { validateIamDocument, validateTrustPolicy, trustPolicyAllows, iamConditionMatcher, type TrustEvaluation, type TrustCheckOptions } from './control-rules.js';
export { ensureAdministrator, openControlStore, adminCredentialsPath, ADMIN_PROFILE, type AdministratorBootstrap } from './admin-bootstrap.js';
export { tagTargetOfArn, arnOfTagTarget } from './control-arns.js';
