import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from '../core/index.js';

export type { Logger };

/**
 * Paths that must never reach a log line. Session tokens and private keys are not
 * logged by design; redaction is the second line of defence.
 */
const REDACT = ['token', 'clientDeviceAuthToken', 'privateKey', 'privateKeyPem', 'password', '*.token', '*.privateKey', '*.privateKeyPem', '*.password', 'req.headers.authorization'];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'gatehouse' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination ?? pino.destination({ fd: 2, sync: false }));
}
