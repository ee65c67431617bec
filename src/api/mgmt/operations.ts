/**
 * The gateway's parts Gatehouse's own management operations use (gatehouse-ops.ts): the
 * broker's connections, the identity layer's sessions, the configuration file and the
 * metrics. Ports the gateway fills in; the API imports neither the broker nor the runtime's reloader.
 */
import type { ConfigIssue } from '../../core/errors.js';
import type { DenialEntry } from '../../observability/denials.js';

/** A live MQTT connection as the management API shows it (the broker's LiveSessionInfo). */
export interface LiveConnectionInfo {
  readonly clientId: string;
  readonly thingName: string;
  readonly certificateId: string;
  readonly sourceIp?: string;
  readonly connectedAt: Date;
  readonly subscriptions: readonly string[];
}

/** A session of the identity layer (the local API's former `GET /v1/sessions` entries). */
export interface IdentitySessionInfo {
  readonly id: string;
  readonly clientId: string;
  readonly thingName: string;
  readonly certificateId: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date;
}

/** One run of the continuous sync (the sync's SyncRunSummary). */
export interface AwsSyncRunInfo {
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly result: 'succeeded' | 'failed';
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
  readonly refused: number;
  readonly newlyRefused: number;
  readonly things: number;
  readonly noChange: boolean;
  readonly durationMs: number;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** The continuous sync's status (the sync's ContinuousSyncStatus). */
export interface AwsSyncStatusInfo {
  readonly verifiedAt: Date | null;
  readonly trustedUntil: Date | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: Date } | null;
  readonly runs: number;
  readonly running: boolean;
  readonly intervalSeconds: number;
  readonly lastRun: AwsSyncRunInfo | null;
  readonly refusedObjects: number;
  /** This gateway runs the sync (on a cluster, the node holding the lead). */
  readonly leading: boolean;
}

export type Verdict =
  | { readonly ok: true; readonly groups: number; readonly policies: number; readonly warnings: readonly ConfigIssue<string>[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue<string>[]; readonly warnings: readonly ConfigIssue<string>[] };

export type Applied =
  | { readonly applied: true; readonly groups: number; readonly warnings: readonly ConfigIssue<string>[] }
  | { readonly applied: false; readonly unchanged: true }
  | { readonly applied: false; readonly unchanged: false; readonly errors: readonly ConfigIssue<string>[]; readonly warnings: readonly ConfigIssue<string>[] };

/** The gateway's parts these operations use (the gateway fills in what it runs). */
export interface GatehouseOperations {
  /** The embedded broker's connections (absent: the operations answer 503). */
  readonly connections?: {
    list(): readonly LiveConnectionInfo[];
    /** Ends the connections of a client id; how many there were. */
    disconnect(clientId: string, reason: string): number;
  };
  /**
   * Every session of the identity layer (an MQTT connection's, and each token of
   * GetClientDeviceAuthToken), least recently used first, by id: never a token.
   */
  readonly identitySessions?: () => readonly IdentitySessionInfo[];
  /** The configuration file the gateway was started with (absent: started without one). */
  readonly configuration?: {
    readonly file: string;
    readonly format: 'yaml' | 'json';
    inForce(): { readonly text: string; readonly sha256: string } | undefined;
    check(text: string): Promise<Verdict>;
    apply(text: string, trigger: string): Promise<Applied>;
  };
  /**
   * The broker's retained messages (the registry database and the broker's memory):
   * list and read, and delete without publishing anything (absent: 503).
   */
  readonly retained?: {
    list(options: { readonly after?: string; readonly limit: number }): Promise<readonly { readonly topic: string; readonly payloadSize: number; readonly qos: number; readonly modifiedAt: number }[]>;
    get(topic: string): Promise<{ readonly topic: string; readonly payload: Buffer; readonly qos: number; readonly modifiedAt: number } | undefined>;
    /** Whether there was one. */
    delete(topic: string): Promise<boolean>;
  };
  /** The continuous AWS IoT Core sync (`gatehouse.sync.aws`; absent: not enabled). */
  readonly awsSync?: { status(): AwsSyncStatusInfo };
  /** The broker's recent MQTT denials and their counts by reason (absent: 503). */
  readonly denials?: {
    since(after: number, limit: number): readonly DenialEntry[];
    readonly latest: number;
    byReason(): Readonly<Record<string, number>>;
  };
  /** The broker's counters since start, for the overview (absent: the overview leaves them out). */
  readonly counters?: () => OverviewCounters;
  /** The gateway's own certificates (the server certificate, the gateway CA), for the overview's expiry horizon. */
  readonly gatewayCertificates?: () => readonly { readonly role: string; readonly subject: string; readonly notAfter: Date }[];
  /** The Prometheus registry of the gateway (absent: the local API, which owns it, is disabled). */
  readonly metrics?: { readonly contentType: string; text(): Promise<string> };
}


/** Counters since start (never reset) the overview reports; a reader takes differences over time for rates. */
export interface OverviewCounters {
  readonly messagesPublished: number;
  readonly connectionsAccepted: number;
  readonly denialsByOperation: Readonly<Record<string, number>>;
  readonly connectionsClosed: Readonly<Record<string, number>>;
}
