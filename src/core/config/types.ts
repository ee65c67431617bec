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
   * Validated for compatibility and not used: in Greengrass it bounds how long a cloud
   * verification may be reused offline; Gatehouse's registry is local and read on every
   * verification, so there is nothing to reuse (docs/configuration.md, security).
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
  /** The jobs service (MQTT topics, the data-plane listener's endpoints, the management operations). */
  readonly jobs: {
    readonly enabled: boolean;
  };
  readonly logging: {
    readonly level: LogLevel;
  };
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
