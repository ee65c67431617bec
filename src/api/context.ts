import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IotDeployment } from '../core/index.js';
import { pemFromBase64 } from '../core/pem.js';
import type { CertificateVerifier } from '../identity/verify.js';
import type { Registry } from '../identity/registry.js';
import type { SessionManager } from '../identity/sessions.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyStore } from '../runtime/policy-store.js';
import type { CertificateStreams } from './certificate-streams.js';
import { errorBody, type ApiErrorBody, API_RESPONSE_CODES, type ApiResponseCode } from './errors.js';
import { LimiterAbortedError, LimiterFullError, type WorkLimiter } from './limiter.js';
import type { Prometheus } from './prometheus.js';

/** Everything the handlers share. Built once per server; handlers hold no other state. */
export interface ApiContext {
  readonly registry: Registry;
  readonly sessions: SessionManager;
  readonly verifier: CertificateVerifier;
  readonly policy: PolicyStore;
  readonly metrics: Metrics;
  readonly prometheus: Prometheus;
  readonly logger: Logger;
  readonly limiter: WorkLimiter;
  readonly streams: CertificateStreams;
  readonly clock: () => Date;
  /** The gateway's `gatehouse.iot` (ARNs of IoT requests to explain when no IoT policy is in force); default: its defaults. */
  readonly iotDeployment?: IotDeployment;
}

/**
 * The handler of one operation, served by both listeners (the local API, and the
 * management API's IPC routes): the answer (an object, sent as JSON), or undefined
 * once it has sent the reply itself. Errors are thrown as HttpError.
 */
export type OperationHandler = (ctx: ApiContext, request: FastifyRequest, reply: FastifyReply) => unknown;

/** An answer other than 200, thrown by a handler and written by the error handler. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: ApiErrorBody;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ApiResponseCode, message: string, extra: { path?: string; reason?: string; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = API_RESPONSE_CODES[code];
    const { headers, ...fields } = extra;
    this.body = errorBody(code, message, fields);
    this.headers = headers ?? {};
  }
}

/**
 * Runs identity work through the limiter. When the queue is full: HttpError 429
 * API_QUEUE_FULL (counted as a ServiceError, as the reference counts "Unable to queue
 * request"). A request whose client went away while it waited is dropped from the
 * queue.
 */
export async function limited<T>(ctx: ApiContext, reply: FastifyReply, work: () => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.once('close', onClose);
  try {
    return await ctx.limiter.run(work, abort.signal);
  } catch (e) {
    if (e instanceof LimiterFullError) {
      ctx.metrics.inc('ServiceError');
      throw new HttpError('API_QUEUE_FULL', `too many identity requests are waiting (performance.cloudRequestQueueSize = ${ctx.limiter.stats.maxWaiting}); retry later`, { headers: { 'retry-after': '1' } });
    }
    if (e instanceof LimiterAbortedError) throw new HttpError('API_UNAVAILABLE', 'the request was abandoned by its client while waiting');
    throw e;
  } finally {
    reply.raw.off('close', onClose);
  }
}

/**
 * Certificate text as the IPC operations accept it: PEM, or bare base64 DER (wrapped
 * here). Unlike the Greengrass component (docs/greengrass-behaviour.md, section 12.12),
 * leading whitespace or text before the PEM block does not turn PEM into garbage.
 */
export function certificateText(text: string): string {
  if (text.includes('-----BEGIN ')) return text;
  const b64 = text.replace(/\s+/g, '');
  if (b64.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return text;
  return pemFromBase64('CERTIFICATE', b64);
}
