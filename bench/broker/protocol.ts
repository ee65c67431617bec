/**
 * What the orchestrator (run.ts) and the load generator (loadgen.ts) say to each other.
 *
 * The orchestrator starts one load-generator process per workload with a Task as its
 * only argument (JSON). The load generator writes one JSON object per line on stdout
 * (LoadgenEvent) and, for the `hold` task, reads one-word commands on stdin. Every
 * event carries `at`, the sender's wall clock in milliseconds with sub-millisecond
 * precision (performance.timeOrigin + performance.now()), so that both sides can
 * compare times across processes.
 */

/** One device's credentials as issued by the Gatehouse CA. */
export interface DeviceFiles {
  readonly name: string;
  readonly keyPem: string;
  readonly certPem: string;
}

/** Common to every task: where the broker is and where the devices' credentials are. */
export interface Target {
  /** mqtts://127.0.0.1:PORT */
  readonly url: string;
  /** JSON file: { caPem, devices: DeviceFiles[] } */
  readonly pkiFile: string;
  /** MQTT protocol level of every connection the task opens: 4 (3.1.1, the default) or 5. */
  readonly protocolVersion?: 4 | 5;
}

/** Allowed delivery arrives, a publish outside the device's own topics does not. */
export interface SmokeTask extends Target {
  readonly kind: 'smoke';
  readonly collector: string;
  readonly device: string;
  readonly other: string;
}

/** One subscriber counting messages over a window (throughput). */
export interface SubTask extends Target {
  readonly kind: 'sub';
  readonly device: string;
  readonly filter: string;
  readonly qos: 0 | 1;
  /** Seconds after the first message before the window opens. */
  readonly warmupSeconds: number;
  readonly windowSeconds: number;
  /** Give up when no message arrives within this many seconds. */
  readonly firstMessageTimeoutSeconds: number;
}

/** Publishers sending as fast as the broker takes them, with a bounded window each. */
export interface PubTask extends Target {
  readonly kind: 'pub';
  readonly devices: readonly string[];
  readonly qos: 0 | 1;
  readonly seconds: number;
  /** Publishes in flight per connection (QoS 0: written but not flushed; QoS 1: not acknowledged). */
  readonly window: number;
  readonly payloadBytes: number;
}

/**
 * Connects devices in two halves (so the orchestrator can read the broker's memory at
 * N/2 and N), each subscribing to its own command topic; then optionally runs the
 * policy-change probe: a commander publishes to a few devices' command topics and to
 * its own every millisecond, and the load generator reports the last message each
 * probe received.
 * Commands on stdin: `continue` (after `half`), `probe` or `close` (after `full`),
 * `changed` (after `probe-ready`: the orchestrator has rewritten the policy).
 */
export interface HoldTask extends Target {
  readonly kind: 'hold';
  readonly devices: readonly string[];
  readonly concurrency: number;
  /** Command topic of device NAME: `devices/NAME/cmd`. */
  readonly commander: string;
  /** Indexes into `devices` of the probe devices. */
  readonly probes: readonly number[];
  /** Milliseconds without a probe message (while the commander publishes) that count as "stopped". */
  readonly quietMs: number;
  /** Give up waiting for enforcement after this many seconds. */
  readonly enforcementTimeoutSeconds: number;
}

/** Connects devices as fast as the broker accepts them (bounded concurrency), then disconnects them. */
export interface BurstTask extends Target {
  readonly kind: 'burst';
  readonly devices: readonly string[];
  readonly concurrency: number;
}

export type Task = SmokeTask | SubTask | PubTask | HoldTask | BurstTask;

export interface SmokeResult {
  readonly allowedDelivered: boolean;
  readonly deniedDelivered: boolean;
  /** Negotiated TLS protocol and cipher, to show the three brokers use the same. */
  readonly tls: string;
}

export interface SubResult {
  readonly received: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Messages the publishers' sequence numbers say were sent within the window but not received. */
  readonly missing: number;
  readonly totalReceived: number;
}

export interface PubResult {
  readonly sent: number;
  readonly seconds: number;
}

export interface LatencyResult {
  readonly samples: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly maxMs: number;
  readonly lost: number;
}

export interface HoldPhase {
  readonly connected: number;
  readonly failed: number;
  /** First connection attempt to last CONNACK. */
  readonly seconds: number;
}

export interface ProbeResult {
  readonly device: string;
  readonly received: number;
  /** Sender clock (ms) of the last message this probe received. */
  readonly lastSentAt: number | null;
  readonly lastReceivedAt: number | null;
}

export interface HoldResult {
  readonly phases: readonly HoldPhase[];
  readonly subscribed: number;
  readonly probes?: readonly ProbeResult[];
  readonly commanderSent?: number;
  /** Sender clock when the orchestrator's `changed` arrived. */
  readonly changedAt?: number;
  /** Whether every probe stopped receiving (while the broker kept routing) before the timeout. */
  readonly enforced?: boolean;
  /** Longest gap between the commander's own messages after the change: how long the broker stalled. */
  readonly maxStallMs?: number;
}

export type LoadgenEvent =
  | { readonly t: 'ready'; readonly at: number }
  | { readonly t: 'mark'; readonly name: string; readonly at: number }
  | { readonly t: 'result'; readonly at: number; readonly result: SmokeResult | SubResult | PubResult | LatencyResult | HoldResult | HoldPhase }
  | { readonly t: 'error'; readonly at: number; readonly message: string };

/** Wall clock in milliseconds with sub-millisecond precision, comparable across processes. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}
