/** The gateway certificate authority: public surface of src/ca. See docs/ca.md. */
export {
  GatewayCa, BACKDATE_SECONDS, DEFAULT_DEVICE_VALIDITY_DAYS, MANAGED_CA_VALIDITY_DAYS,
  type GatewayCaOpenOptions, type IssueDeviceCertificateOptions, type IssueServerCertificateOptions, type IssuedCertificate, type KeyType,
} from './authority.js';
export { CaError, CA_ERROR_CODES, type CaErrorCode } from './errors.js';
export { writeFileAtomic, removeStaleTempFiles, type WriteFileAtomicOptions } from './atomic.js';
export { classifyHost, buildSanList, detectInterfaceAddresses, type SanEntry } from './hosts.js';
export {
  ServerCertificateManager, loadServerCertificate, DEFAULT_CHECK_INTERVAL_MS, ROTATE_BEFORE_EXPIRY_MS,
  type RotationReason, type ServerCertificateListener, type ServerCertificateManagerOptions, type StoredServerCertificate,
} from './server-certificate.js';
export { dataLayout, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, type DataLayout } from './store.js';
