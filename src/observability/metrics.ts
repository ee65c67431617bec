/**
 * In-process counters with the Greengrass component's metric names (docs/greengrass-behaviour.md, section 10), plus
 * Gatehouse's own. Counting is cheap (plain integers); exporting is the API's job.
 */
import { DenialFeed } from './denials.js';

export const REFERENCE_METRICS = [
  'VerifyClientDeviceIdentity.Success',
  'VerifyClientDeviceIdentity.Failure',
  'GetClientDeviceAuthToken.Success',
  'GetClientDeviceAuthToken.Failure',
  'AuthorizeClientDeviceActions.Success',
  'AuthorizeClientDeviceActions.Failure',
  'SubscribeToCertificateUpdates.Success',
  'SubscribeToCertificateUpdates.Failure',
  'ServiceError',
] as const;
export type ReferenceMetric = (typeof REFERENCE_METRICS)[number];

export type DeniedOperation = 'mqtt:connect' | 'mqtt:publish' | 'mqtt:subscribe';

/**
 * Why a message was not delivered to a session: it may no longer receive the topic
 * (`not_allowed`), or the connection has no live session (`no_session`).
 */
export const DROP_REASONS = ['not_allowed', 'no_session'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export type QueueDropQoS = 0 | 1 | 2;
export const QUEUE_DROP_QOS: readonly QueueDropQoS[] = [0, 1, 2];

export class Metrics {
  /** The recent MQTT denials and their counts by reason (the console's stream, ListDenials). */
  readonly denialFeed = new DenialFeed();
  /** Publishes the broker allowed, since start (never reset). */
  messagesPublished = 0;
  /** MQTT connections accepted (CONNECT allowed), since start. */
  connectionsAccepted = 0;
  private readonly counts = new Map<ReferenceMetric, number>(REFERENCE_METRICS.map((m) => [m, 0]));
  /** Denials by operation since start (never reset). */
  readonly denials: Record<DeniedOperation, number> = { 'mqtt:connect': 0, 'mqtt:publish': 0, 'mqtt:subscribe': 0 };
  /** Messages not delivered (and removed from persistent queues) by reason, since start. */
  readonly deliveriesDropped: Record<DropReason, number> = { not_allowed: 0, no_session: 0 };

  /**
   * Messages the broker did not deliver because the session's queue was full
   * (`gatehouse.mqtt.maxQueuedMessages`), by the QoS they would have been delivered at;
   * since start, never reset.
   */
  readonly queueDrops: Record<QueueDropQoS, number> = { 0: 0, 1: 0, 2: 0 };
  /** Connections the broker's front door closed or refused, by reason code, since start. */
  readonly connectionsClosed = new Map<string, number>();
  /** Connections accepted that have not completed CONNECT (a gauge, set by the broker). */
  pendingConnections = 0;
  /**
   * The continuous AWS IoT Core sync (`gatehouse.sync.aws`), set by it after each run:
   * runs by result since start, times in epoch seconds (0: never), objects refused by the
   * last successful run, the end of the offline trust window (read when exported).
   */
  readonly sync: {
    enabled: boolean;
    readonly runs: { succeeded: number; failed: number };
    lastRunSeconds: number;
    lastSuccessSeconds: number;
    refusedObjects: number;
    trustedUntilSeconds: () => number;
  } = { enabled: false, runs: { succeeded: 0, failed: 0 }, lastRunSeconds: 0, lastSuccessSeconds: 0, refusedObjects: 0, trustedUntilSeconds: () => 0 };
  /** Totals since start (never reset), for Prometheus counters. */
  private readonly totals = new Map<ReferenceMetric, number>(REFERENCE_METRICS.map((m) => [m, 0]));

  inc(metric: ReferenceMetric, by = 1): void {
    this.counts.set(metric, (this.counts.get(metric) ?? 0) + by);
    this.totals.set(metric, (this.totals.get(metric) ?? 0) + by);
  }

  /** An authorization outcome: the reference counts denials as AuthorizeClientDeviceActions.Failure. */
  authorization(operation: DeniedOperation, allowed: boolean): void {
    this.inc(allowed ? 'AuthorizeClientDeviceActions.Success' : 'AuthorizeClientDeviceActions.Failure');
    if (!allowed) this.denials[operation]++;
  }

  /** One connection closed by the broker before or outside the MQTT hooks' decisions. */
  connectionClosed(reason: string): void {
    this.connectionsClosed.set(reason, (this.connectionsClosed.get(reason) ?? 0) + 1);
  }

  total(metric: ReferenceMetric): number {
    return this.totals.get(metric) ?? 0;
  }

  /**
   * Read-and-reset, as the reference's emitter does each aggregation period. Zero
   * values are left out, as the reference does not emit them.
   */
  drain(): Partial<Record<ReferenceMetric, number>> {
    const out: Partial<Record<ReferenceMetric, number>> = {};
    for (const [k, v] of this.counts) {
      if (v > 0) out[k] = v;
      this.counts.set(k, 0);
    }
    return out;
  }
}
