/**
 * What the IPC operations and the EMQX adapter run with (`ApiContext`): the identity
 * limiter, the certificate-update streams and the Prometheus registry, made once per
 * gateway. Both listeners serve these operations with the same handlers (handlers/,
 * `IPC_OPERATIONS`) over this one context: the local API, and the management API for
 * deployments that serve HTTPS only (mgmt/ipc-routes.ts), so a limit or a stream count
 * holds across both.
 */
import type { IotDeployment, PerformanceConfig } from '../core/index.js';
import type { Registry } from '../identity/registry.js';
import type { SessionManager } from '../identity/sessions.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyStore } from '../runtime/policy-store.js';
import { CertificateStreams, type CertificateSource } from './certificate-streams.js';
import type { ApiContext } from './context.js';
import { WorkLimiter } from './limiter.js';
import { Prometheus } from './prometheus.js';

export interface ApiOperationsOptions {
  readonly registry: Registry;
  readonly sessions: SessionManager;
  readonly policy: PolicyStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly certificates: CertificateSource;
  /** Devices connected to the embedded broker (for /metrics). */
  readonly connectedClients: () => number;
  readonly performance: Pick<PerformanceConfig, 'maxConcurrentCloudRequests' | 'cloudRequestQueueSize'>;
  /** Most certificate-update streams open at once (default 32). */
  readonly maxCertificateStreams?: number;
  readonly clock?: () => Date;
  /** The gateway's `gatehouse.iot`, for explain requests naming IoT actions (see handlers/explain.ts). */
  readonly iotDeployment?: IotDeployment;
}

export class ApiOperations {
  readonly ctx: ApiContext;
  readonly prometheus: Prometheus;
  readonly #limiter: WorkLimiter;
  readonly #streams: CertificateStreams;

  private constructor(ctx: ApiContext, limiter: WorkLimiter, streams: CertificateStreams) {
    this.ctx = ctx;
    this.prometheus = ctx.prometheus;
    this.#limiter = limiter;
    this.#streams = streams;
  }

  static create(opts: ApiOperationsOptions): ApiOperations {
    const limiter = new WorkLimiter(opts.performance.maxConcurrentCloudRequests, opts.performance.cloudRequestQueueSize);
    const streams = new CertificateStreams(opts.certificates, opts.metrics, opts.logger, opts.maxCertificateStreams ?? 32);
    const prometheus = new Prometheus({
      metrics: opts.metrics,
      liveSessions: () => opts.sessions.size,
      connectedClients: opts.connectedClients,
      limiter: () => limiter.stats,
      certificateStreams: () => streams.size,
    });
    const ctx: ApiContext = {
      registry: opts.registry,
      sessions: opts.sessions,
      // The sessions' verifier: one instance per process, one set of caches.
      verifier: opts.sessions.verifier,
      policy: opts.policy,
      metrics: opts.metrics,
      prometheus,
      logger: opts.logger,
      limiter,
      streams,
      clock: opts.clock ?? (() => new Date()),
      ...(opts.iotDeployment !== undefined ? { iotDeployment: opts.iotDeployment } : {}),
    };
    return new ApiOperations(ctx, limiter, streams);
  }

  /** Applies `performance.*` after a configuration reload. */
  configure(performance: Pick<PerformanceConfig, 'maxConcurrentCloudRequests' | 'cloudRequestQueueSize'>): void {
    this.#limiter.configure(performance.maxConcurrentCloudRequests, performance.cloudRequestQueueSize);
  }

  /** Ends the certificate-update streams. */
  close(): void {
    this.#streams.close();
  }
}
