/**
 * The validated configuration, with every default filled in.
 *
 * The component sections (`deviceGroups`, `certificates`, `performance`, `security`,
 * `metrics`, `certificateAuthority`, `startupTimeoutSeconds`) are the Greengrass client
 * device auth configuration object (v2.5.0). `gatehouse` holds Gatehouse's own settings.
 */

export type Effect = 'ALLOW' | 'DENY';

export interface StatementConfig {
  readonly statementDescription?: string;
  readonly effect: Effect;
  readonly operations: readonly string[];
  readonly resources: readonly string[];
}

export interface GroupDefinition {
  readonly selectionRule: string;
  readonly policyName: string;
  /** Gatehouse extension: AWS IoT Core policies (in the registry) that also apply to the group's things. */
  readonly iotPolicies?: readonly string[];
}

export interface DeviceGroupsConfig {
  readonly formatVersion: '2021-03-05';
  readonly definitions: Readonly<Record<string, GroupDefinition>>;
  readonly policies: Readonly<Record<string, Readonly<Record<string, StatementConfig>>>>;
}

export type CaType = 'RSA_2048' | 'ECDSA_P256';

export interface CertificatesConfig {
  readonly serverCertificateValiditySeconds: number;
  readonly clientCertificateValiditySeconds: number;
  readonly disableCertificateRotation: boolean;
}

export interface PerformanceConfig {
  readonly maxActiveAuthTokens: number;
  readonly cloudRequestQueueSize: number;
  readonly maxConcurrentCloudRequests: number;
}

export interface CertificateAuthorityConfig {
  readonly certificateUri?: string;
  readonly certificateChainUri?: string;
  readonly privateKeyUri?: string;
  /** Key type of the managed CA. Gatehouse's default is ECDSA_P256 (the reference's is RSA_2048). */
  readonly caType: CaType;
}

export interface SecurityConfig {
  /**
   * How long a certificate synced from AWS IoT Core stays trusted for new connections
   * after the cloud was last reached, past the sync interval (docs/migration.md). Objects
   * created locally, and a gateway without continuous sync, do not use it.
   */
  readonly clientDeviceTrustDurationMinutes: number;
}

export interface MetricsConfig {
  readonly disableMetrics: boolean;
  readonly aggregatePeriodSeconds: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface GatehouseSection {
  /** Data directory; undefined means the documented default (chosen outside the core). */
  readonly dataDir?: string;
  /** Extra host names and addresses for the broker's server certificate. */
  readonly hostAddresses: readonly string[];
  readonly detectInterfaceAddresses: boolean;
  readonly watchConfig: boolean;
  /** A changed configuration file is applied once its size and mtime have been stable this long. */
  readonly configSettleMilliseconds: number;
  /** Where AWS IoT Core policy ARNs place local resources: `arn:<partition>:iot:<region>:<accountId>:…`. */
  readonly iot: {
    readonly partition: string;
    readonly region: string;
    readonly accountId: string;
  };
  readonly mqtt: {
    readonly host: string;
    readonly port: number;
    /** Largest MQTT packet (fixed header included) accepted after CONNECT. */
    readonly maxPacketSizeBytes: number;
    /** Largest first packet (the CONNECT, will included) accepted before authentication. */
    readonly maxConnectPacketSizeBytes: number;
    /** Time a connection has from TCP accept to a completed CONNECT. */
    readonly connectTimeoutSeconds: number;
    /** Connections that have not completed CONNECT, held at once; more are closed at accept. */
    readonly maxPendingConnections: number;
    /** Hard cap on authenticated connections; 0 means no cap. */
    readonly maxConnections: number;
    /** QoS 0 messages queued per session behind a slow reader before more are dropped. */
    readonly maxQueuedMessages: number;
    /** QoS 1/2 messages in flight (unacknowledged) per session. */
    readonly maxInflightMessages: number;
    /** Refusals to MQTT 5 clients carry a Reason String naming the refusal (its reason code); off by default. */
    readonly reasonStrings: boolean;
    /** Topic aliases an MQTT 5 client may set per connection (announced in CONNACK); 0 = none. */
    readonly topicAliasMaximum: number;
    /**
     * QoS 1/2 messages an MQTT 5 client may have sent and not had acknowledged (announced in
     * CONNACK as Receive Maximum; one more ends the connection with DISCONNECT 0x93).
     */
    readonly receiveMaximum: number;
    readonly websocket: {
      readonly enabled: boolean;
      readonly host: string;
      readonly port: number;
      readonly path: string;
    };
  };
  readonly api: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly socketPath?: string;
    readonly bodyLimitBytes: number;
  };
  /** The management API: HTTPS with the gateway's server certificate, SigV4-signed calls. */
  readonly management: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly bodyLimitBytes: number;
    /** How far `x-amz-date` may be from the gateway's clock, either way. */
    readonly maxClockSkewSeconds: number;
    /** Audit records older than this are deleted. */
    readonly auditRetentionDays: number;
    /** The operator console served on this listener (`/console/`, docs/console.md). */
    readonly console: {
      readonly enabled: boolean;
      /** A session not used by its operator for this long ends (live updates do not count as use). */
      readonly idleTimeoutSeconds: number;
      /** A session ends this long after sign-in, used or not. */
      readonly absoluteTimeoutSeconds: number;
      /** Sessions held at most; signing in beyond it ends the least recently used one. */
      readonly maxSessions: number;
      /** Sign-in attempts per source address per minute (successful or not). */
      readonly signInAttemptsPerMinute: number;
    };
  };
  /**
   * The HTTPS data-plane listener (AWS IoT's device data endpoint): devices by mutual TLS,
   * IAM principals by SigV4 (`iotdata`). Off unless enabled.
   */
  readonly dataPlane: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly bodyLimitBytes: number;
  };
  /** The Device Shadow service (MQTT topics, and the data-plane listener's endpoints). */
  readonly shadows: {
    readonly enabled: boolean;
    /** Bytes `desired` and `reported` of one shadow may take together. */
    readonly maxDocumentSizeBytes: number;
  };
  /**
   * Where the registry lives (docs/cluster.md). Without `url`, the embedded SQLite file in
   * the data directory; with a `postgres://` URL, a PostgreSQL database that several
   * gateways share. Read at start.
   */
  readonly registry: RegistryConfig;
  /**
   * A cluster of gateways: the shared configuration and CA on the shared registry, MQTT
   * routing and broker state on Redis (docs/cluster.md). Without `redis.url`, the broker
   * routes and keeps its state in this process. Read at start.
   */
  readonly cluster: ClusterSettings;
  /** Limits of the retained messages the broker keeps (stored in the registry database). */
  readonly retained: {
    /** Bytes one retained message's payload may take. */
    readonly maxPayloadBytes: number;
    /** Retained messages kept at most (0: retaining is refused). */
    readonly maxMessages: number;
    /** Bytes the payloads of all retained messages may take together. */
    readonly maxTotalBytes: number;
  };
  /** The jobs service (MQTT topics, the data-plane listener's endpoints, the management operations). */
  readonly jobs: {
    readonly enabled: boolean;
  };
  readonly logging: {
    readonly level: LogLevel;
  };
  /** Following AWS IoT Core continuously (docs/migration.md). Read at start. */
  readonly sync: {
    readonly aws: AwsSyncConfig;
  };
}

export interface ClusterSettings {
  readonly config: {
    /**
     * `file`: the node's own file holds every section. `registry`: the shared sections
     * (deviceGroups, security, gatehouse.iot) are the latest version pushed to the
     * shared registry (`gatehouse config push`), followed as it changes.
     */
    readonly source: 'file' | 'registry';
  };
  readonly ca: {
    /**
     * On the shared registry, refuse to start unless this node's gateway CA is the one
     * the cluster recorded (the first node's), so that every node's server certificate
     * chains to one CA.
     */
    readonly requireShared: boolean;
  };
  /** MQTT routing and broker state shared through Redis (absent `url`: this process only). */
  readonly redis: RedisClusterConfig;
}

export interface RegistryConfig {
  /** `postgres://USER@HOST:PORT/DATABASE`; undefined: SQLite. Better without the password (PGPASSWORD or ~/.pgpass). */
  readonly url?: string;
  /** PostgreSQL schema of the registry's tables (created if missing). */
  readonly schema: string;
  /** Connections this gateway opens for queries at most (one more listens for changes). */
  readonly poolSize: number;
  /** A statement running longer is cancelled (REGISTRY_UNAVAILABLE). */
  readonly statementTimeoutMs: number;
  /** How long to wait for a connection to PostgreSQL. */
  readonly connectTimeoutMs: number;
  /** How long a write waits for another node's write (REGISTRY_BUSY past it). */
  readonly busyTimeoutMs: number;
  /**
   * How long connected devices keep being served from the decisions this gateway holds
   * while it cannot read the registry's change feed; past it, they are disconnected
   * (0: at once).
   */
  readonly unavailableGraceSeconds: number;
  /**
   * With `url`: the key file that encrypts the secret access keys in the shared registry
   * (absolute, or relative to the configuration file). Every node needs a copy of the
   * same file. Default: `control.key` in the data directory.
   */
  readonly controlKeyFile?: string;
}

export interface RedisClusterConfig {
  /** `redis://[USER:PASSWORD@]HOST:PORT[/DB]` or `rediss://…` (TLS); undefined: no cluster. Never logged with its password. */
  readonly url?: string;
  /** Prefix of every key and pub/sub channel the gateway uses, so several clusters can share one Redis server. */
  readonly keyPrefix: string;
  /** This node's name in logs and in the broker id other nodes see; undefined: the host name. */
  readonly nodeName?: string;
  /** How long to wait for Redis at start (and for each reconnection attempt). */
  readonly connectTimeoutMs: number;
  /**
   * How long connected devices stay connected while Redis cannot be reached (their
   * messages reach only subscribers on the same node meanwhile); past it, they are
   * disconnected (0: at once). New connections are refused while it is down.
   */
  readonly unavailableGraceSeconds: number;
  /**
   * How long after its last heartbeat in Redis a node is taken for dead; another node then
   * publishes the wills of its devices (docs/cluster.md).
   */
  readonly nodeTimeoutSeconds: number;
}

export interface AwsSyncConfig {
  readonly enabled: boolean;
  /** AWS region; undefined: the AWS SDK's (AWS_REGION, the profile's). */
  readonly region?: string;
  /** Named AWS profile; undefined: the AWS SDK's credential chain. */
  readonly profile?: string;
  /** Endpoint override (a VPC endpoint, or a test double). */
  readonly endpoint?: string;
  /** PEM file of extra CA certificates for the endpoint's TLS certificate (relative to the configuration file). */
  readonly caBundle?: string;
  /** Time from the end of one run to the start of the next. */
  readonly intervalSeconds: number;
  /** Only the things of these groups (and their child groups); empty: every thing. */
  readonly thingGroups: readonly string[];
  /** Things per page and per registry transaction. */
  readonly pageSize: number;
  /** Refuse certificates whose chain reaches no CA trusted here instead of trusting them by their registration in the cloud. */
  readonly requireTrustedCa: boolean;
}

export interface GatehouseConfig {
  readonly deviceGroups: DeviceGroupsConfig;
  readonly certificates: CertificatesConfig;
  readonly performance: PerformanceConfig;
  readonly certificateAuthority: CertificateAuthorityConfig;
  readonly security: SecurityConfig;
  readonly metrics: MetricsConfig;
  readonly startupTimeoutSeconds: number;
  readonly gatehouse: GatehouseSection;
}
