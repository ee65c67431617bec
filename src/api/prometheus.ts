/**
 * `GET /metrics`: the gateway's counters in the Prometheus text format, one prom-client
 * Registry per gateway (never the global one, so several gateways in one process —
 * tests — do not mix).
 *
 * The Greengrass component's counters (docs/greengrass-behaviour.md, section 10) are counted by the shared Metrics object (the
 * broker's hooks and the API's handlers both count there) and read at scrape time;
 * Metrics keeps totals since start that its periodic log summary does not reset.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { DROP_REASONS, QUEUE_DROP_QOS, type DeniedOperation, type Metrics, type ReferenceMetric } from '../observability/metrics.js';
import type { LimiterStats } from './limiter.js';

export interface PrometheusSources {
  readonly metrics: Metrics;
  readonly liveSessions: () => number;
  readonly connectedClients: () => number;
  readonly limiter: () => LimiterStats;
  readonly certificateStreams: () => number;
}

/** Reference counter -> Prometheus counter name and `result` label. */
const REFERENCE_COUNTERS: readonly { readonly name: string; readonly help: string; readonly success?: ReferenceMetric; readonly failure?: ReferenceMetric; readonly plain?: ReferenceMetric }[] = [
  { name: 'gatehouse_verify_client_device_identity_total', help: 'VerifyClientDeviceIdentity outcomes (API calls and broker connections)', success: 'VerifyClientDeviceIdentity.Success', failure: 'VerifyClientDeviceIdentity.Failure' },
  { name: 'gatehouse_get_client_device_auth_token_total', help: 'GetClientDeviceAuthToken outcomes (API calls and broker connections)', success: 'GetClientDeviceAuthToken.Success', failure: 'GetClientDeviceAuthToken.Failure' },
  { name: 'gatehouse_authorize_client_device_actions_total', help: 'AuthorizeClientDeviceActions outcomes; denials and unknown tokens are failures', success: 'AuthorizeClientDeviceActions.Success', failure: 'AuthorizeClientDeviceActions.Failure' },
  { name: 'gatehouse_subscribe_to_certificate_updates_total', help: 'SubscribeToCertificateUpdates outcomes (certificate-update streams opened)', success: 'SubscribeToCertificateUpdates.Success', failure: 'SubscribeToCertificateUpdates.Failure' },
  { name: 'gatehouse_service_errors_total', help: 'Unexpected failures and refused identity work (the reference ServiceError)', plain: 'ServiceError' },
];

const DENIED_OPERATIONS: readonly DeniedOperation[] = ['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe'];

/** Decision latency buckets, in seconds: decisions take microseconds. */
const DECISION_BUCKETS = [0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025];
type DecisionOperation = 'mqtt:connect' | 'mqtt:publish' | 'mqtt:subscribe' | 'other';

interface Series {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * The decision latency histogram, observed on every API decision. prom-client's
 * Histogram hashes the label set on each observation (~1 µs, as much as the decision
 * itself); this one keeps one series per operation in typed arrays and hands
 * prom-client's registry the same exposition (cumulative `_bucket{le}`, `_sum`,
 * `_count`) through the registry's metric interface (`get()`).
 */
class DecisionHistogram {
  readonly name = 'gatehouse_decision_duration_seconds';
  readonly help = 'Time for an API authorization decision (session or thing lookup and policy decision)';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<DecisionOperation, Series>();

  observe(operation: DecisionOperation, seconds: number): void {
    let s = this.#series.get(operation);
    if (s === undefined) {
      s = { counts: new Float64Array(DECISION_BUCKETS.length + 1), sum: 0, count: 0 };
      this.#series.set(operation, s);
    }
    let i = 0;
    while (i < DECISION_BUCKETS.length && seconds > DECISION_BUCKETS[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    // In order of first observation, as prom-client prints its series.
    for (const [operation, s] of this.#series) {
      let cumulative = 0;
      for (let i = 0; i <= DECISION_BUCKETS.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ labels: { le: i < DECISION_BUCKETS.length ? DECISION_BUCKETS[i]! : '+Inf', operation }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { operation }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { operation }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}

export class Prometheus {
  readonly registry = new Registry();
  /** Time to look up the session or thing and decide, per operation (API decisions). */
  private readonly decision = new DecisionHistogram();
  private readonly responses = new Map<string, { n: number }>();

  constructor(sources: PrometheusSources) {
    const registers = [this.registry];
    const m = sources.metrics;
    for (const c of REFERENCE_COUNTERS) {
      new Counter({
        name: c.name, help: c.help, registers, labelNames: c.plain ? [] : ['result'],
        collect() {
          this.reset();
          if (c.plain) this.inc(m.total(c.plain));
          else {
            this.inc({ result: 'success' }, m.total(c.success!));
            this.inc({ result: 'failure' }, m.total(c.failure!));
          }
        },
      });
    }
    new Counter({
      name: 'gatehouse_denials_total', help: 'Denied MQTT actions by operation (broker and API)', registers, labelNames: ['operation'],
      collect() {
        this.reset();
        for (const op of DENIED_OPERATIONS) this.inc({ operation: op }, m.denials[op]);
      },
    });
    new Counter({
      name: 'gatehouse_deliveries_dropped_total', help: 'Messages not delivered to a session that may no longer receive them (live, queued, retained or resent), by reason', registers, labelNames: ['reason'],
      collect() {
        this.reset();
        for (const r of DROP_REASONS) this.inc({ reason: r }, m.deliveriesDropped[r]);
      },
    });
    new Counter({
      name: 'gatehouse_mqtt_queue_dropped_messages_total', help: 'Messages not delivered because the session\'s queue was full (gatehouse.mqtt.maxQueuedMessages), by QoS', registers, labelNames: ['qos'],
      collect() {
        this.reset();
        for (const qos of QUEUE_DROP_QOS) this.inc({ qos: String(qos) }, m.queueDrops[qos]);
      },
    });
    new Counter({
      name: 'gatehouse_connections_closed_total', help: 'MQTT connections the broker closed before or outside its hooks (TLS, certificate lookup, packet limits, connection limits, timeouts), by reason code', registers, labelNames: ['reason'],
      collect() {
        this.reset();
        for (const [reason, n] of m.connectionsClosed) this.inc({ reason }, n);
      },
    });
    new Gauge({ name: 'gatehouse_pending_connections', help: 'MQTT connections accepted that have not completed CONNECT (TLS handshake included)', registers, collect() { this.set(m.pendingConnections); } });
    new Gauge({ name: 'gatehouse_live_sessions', help: 'Live identity sessions (broker connections and API tokens)', registers, collect() { this.set(sources.liveSessions()); } });
    new Gauge({ name: 'gatehouse_connected_clients', help: 'Devices connected to the embedded broker', registers, collect() { this.set(sources.connectedClients()); } });
    new Gauge({ name: 'gatehouse_identity_work_running', help: 'Identity tasks running (bounded by performance.maxConcurrentCloudRequests)', registers, collect() { this.set(sources.limiter().running); } });
    new Gauge({ name: 'gatehouse_identity_work_waiting', help: 'Identity tasks waiting (bounded by performance.cloudRequestQueueSize)', registers, collect() { this.set(sources.limiter().waiting); } });
    new Counter({
      name: 'gatehouse_identity_work_rejected_total', help: 'Identity requests refused because the queue was full (HTTP 429)', registers,
      collect() {
        this.reset();
        this.inc(sources.limiter().rejected);
      },
    });
    // The continuous AWS IoT Core sync (gatehouse.sync.aws); all 0 when it is not enabled.
    new Counter({
      name: 'gatehouse_sync_runs_total', help: 'Runs of the continuous AWS IoT Core sync since start, by result (succeeded, failed)', registers, labelNames: ['result'],
      collect() {
        this.reset();
        this.inc({ result: 'succeeded' }, m.sync.runs.succeeded);
        this.inc({ result: 'failed' }, m.sync.runs.failed);
      },
    });
    new Gauge({ name: 'gatehouse_sync_last_run_timestamp_seconds', help: 'End of the last run of the continuous AWS IoT Core sync, succeeded or failed (epoch seconds; 0: none)', registers, collect() { this.set(m.sync.lastRunSeconds); } });
    new Gauge({ name: 'gatehouse_sync_last_success_timestamp_seconds', help: 'End of the last successful run of the continuous AWS IoT Core sync: the last verification of synced certificates with the cloud (epoch seconds; 0: never)', registers, collect() { this.set(m.sync.lastSuccessSeconds); } });
    new Gauge({ name: 'gatehouse_sync_trusted_until_timestamp_seconds', help: 'Until when certificates synced from AWS IoT Core are admitted to new connections without a new successful run (epoch seconds; 0: not before a first success)', registers, collect() { this.set(m.sync.trustedUntilSeconds()); } });
    new Gauge({ name: 'gatehouse_sync_refused_objects', help: 'Objects of AWS IoT Core the last successful sync run refused (left out of the registry)', registers, collect() { this.set(m.sync.refusedObjects); } });
    new Gauge({ name: 'gatehouse_certificate_update_streams', help: 'Open certificate-update streams', registers, collect() { this.set(sources.certificateStreams()); } });
    const responses = this.responses;
    new Counter({
      name: 'gatehouse_api_responses_total', help: 'Local API responses by route and status code', registers, labelNames: ['route', 'status'],
      collect() {
        this.reset();
        for (const [key, { n }] of responses) {
          const sep = key.lastIndexOf(' ');
          this.inc({ route: key.slice(0, sep), status: key.slice(sep + 1) }, n);
        }
      },
    });
    this.registry.registerMetric(this.decision as unknown as Parameters<Registry['registerMetric']>[0]);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Records one API decision's duration; unknown operations are recorded as `other`. */
  observeDecision(operation: string, seconds: number): void {
    this.decision.observe(operation === 'mqtt:connect' || operation === 'mqtt:publish' || operation === 'mqtt:subscribe' ? operation : 'other', seconds);
  }

  /** Counts one response (route pattern, not the URL: no tokens in labels). */
  countResponse(route: string, status: number): void {
    const key = `${route} ${status}`;
    const cell = this.responses.get(key);
    if (cell === undefined) this.responses.set(key, { n: 1 });
    else cell.n++;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
