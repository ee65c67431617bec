/**
 * Composition root: builds and starts everything `gatehouse start` runs, and stops it.
 *
 * Start order: configuration -> data directory, CA and registry -> sessions -> server
 * certificate -> policy snapshot -> broker listeners -> local API -> management API
 * (and, on the first start, the administrator user). Every step that can
 * fail does so with a coded error before any listener opens (the API's token file and
 * address are checked after the broker's listeners, which are closed again on failure).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { ServerCertificateManager as ServerCertificateManagerType } from './ca/server-certificate.js';
import type { IssuedCertificate } from './ca/authority.js';
import { ConnectivityInfoStore } from './ca/connectivity.js';
import { ApiServer, type ApiListen } from './api/server.js';
import { compileWithIamDialect, IamPolicyCache } from './api/mgmt/iam-engine.js';
import { MANAGEMENT_ROUTE_SETS } from './api/mgmt/route-sets.js';
import { AuditWriter } from './api/mgmt/audit.js';
import { ManagementServer, type ManagementTls } from './api/mgmt/server.js';
import { ApiOperations, type ApiOperationsOptions } from './api/operations.js';
import { DATA_PLANE_ROUTE_SETS } from './api/data-plane/route-sets.js';
import { DataPlaneServer, type DataPlaneTls } from './api/data-plane/server.js';
import { bindJobTopics } from './api/data-plane/job-mqtt.js';
import { JobService } from './api/data-plane/job-service.js';
import { JobTimeoutSweeper } from './api/data-plane/job-sweeper.js';
import { DELETED_VERSION_KEPT_MS } from './core/shadow/document.js';
import type { ShadowStore } from './identity/shadow-store.js';
import type { JobStore } from './identity/job-store.js';
import { bindShadowTopics } from './api/data-plane/shadow-mqtt.js';
import { ShadowService } from './api/data-plane/shadow-service.js';
import { ensureApiToken, readApiToken } from './api/token.js';
import { consoleRouteSet } from './console/routes.js';
import { ConsoleSessions } from './console/sessions.js';
import { loadConfigFile } from './config-file.js';
import { compileDeviceGroups, GatehouseError, mergeSharedConfig, validateConfig, type ConfigError, type ConfigWarning, type GatehouseConfig, type LogLevel, type ValidatedDeviceGroups } from './core/index.js';
import { defaultDataDir } from './data-dir.js';
import { GatewayBroker, type BrokerTls, type ListenerAddress } from './broker/server.js';
import { RetainedKeeper } from './broker/retained.js';
import type { DeviceAuthenticator } from './broker/context.js';
import { ensureAdministrator, openControlStore } from './identity/admin-bootstrap.js';
import { openIdentity } from './identity/bootstrap.js';
import { VERIFY_REASONS } from './identity/errors.js';
import { SessionManager } from './identity/sessions.js';
import { sessionAuthenticator } from './identity/authenticator.js';
import type { PgRegistry } from './identity/pg-registry.js';
import type { ChangeKind, Registry, RegistryWatch } from './identity/registry.js';
import { openSharedRegistry, watchRegistryHealth } from './identity/shared-registry.js';
import { RedisCluster, RedisClusterError } from './broker/redis-cluster.js';
import { IotPolicyLoader } from './runtime/iot-policies.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { ConfigReloader } from './runtime/config-reloader.js';
import { checkSharedConfig, SharedConfigFollower } from './runtime/shared-config.js';
import { fingerprintOf, type PgClusterStore } from './identity/pg-cluster-store.js';
import { RegistryError } from './identity/errors.js';
import { PolicyStore } from './runtime/policy-store.js';
import type { SyncStore } from './sync/aws.js';
import type { ContinuousAwsSync, SyncStateStore } from './sync/continuous.js';

export type GatewayErrorCode = 'CONFIG_UNREADABLE' | 'CONFIG_INVALID' | 'STARTUP_TIMEOUT';

export class GatewayError extends GatehouseError<GatewayErrorCode> {
  constructor(code: GatewayErrorCode, message: string, readonly errors: readonly ConfigError[] = [], fix?: string) {
    super(code, message, fix);
    this.name = 'GatewayError';
  }
}

export interface GatewayOptions {
  /** Configuration file; undefined starts with an empty configuration (deny everything). */
  readonly configPath?: string;
  /** `--cluster-config`: a file of `gatehouse.registry` and `gatehouse.cluster` keys merged over the configuration (config-file.ts). */
  readonly clusterConfigPath?: string;
  /** Overrides `gatehouse.dataDir`. */
  readonly dataDir?: string;
  /** Overrides `gatehouse.mqtt.port` (0 = any free port). */
  readonly mqttPort?: number;
  /** Overrides `gatehouse.api.port` (0 = any free port); also chosen over `gatehouse.api.socketPath`. */
  readonly apiPort?: number;
  /** Overrides `gatehouse.management.port` (0 = any free port). */
  readonly managementPort?: number;
  /** Overrides `gatehouse.dataPlane.port` (0 = any free port). */
  readonly dataPlanePort?: number;
  /** Overrides `gatehouse.logging.level`. */
  readonly logLevel?: LogLevel;
  readonly logger?: Logger;
}

export class Gateway {
  readonly listeners: readonly ListenerAddress[];
  /** The local API's address (`http://HOST:PORT` or `unix:PATH`); undefined when `gatehouse.api.enabled` is false. */
  readonly apiUrl: string | undefined;
  /** The management API's address (`https://HOST:PORT`); undefined when `gatehouse.management.enabled` is false. */
  readonly managementUrl: string | undefined;
  /** The operator console's address (`https://HOST:PORT/console/`); undefined when it or the management API is disabled. */
  readonly consoleUrl: string | undefined;
  /** The data-plane listener's address (`https://HOST:PORT`); undefined when `gatehouse.dataPlane.enabled` is false. */
  readonly dataPlaneUrl: string | undefined;
  /**
   * Set on the start that created the first administrator: where its credentials file is
   * and how to use it (never the secret), for `gatehouse start` to print once.
   */
  readonly administrator: readonly string[] | undefined;
  readonly dataDir: string;
  readonly metrics: Metrics;
  readonly logger: Logger;
  private readonly closers: (() => Promise<void> | void)[];
  private readonly reloader: ConfigReloader | undefined;
  /** With gatehouse.cluster.config.source: registry, what applies the shared configuration's versions. */
  private readonly follower: SharedConfigFollower | undefined;
  private stopped = false;

  private constructor(parts: { listeners: ListenerAddress[]; apiUrl: string | undefined; managementUrl: string | undefined; consoleUrl: string | undefined; dataPlaneUrl: string | undefined; administrator: readonly string[] | undefined; dataDir: string; metrics: Metrics; logger: Logger; closers: (() => Promise<void> | void)[]; reloader: ConfigReloader | undefined; follower: SharedConfigFollower | undefined }) {
    this.listeners = parts.listeners;
    this.apiUrl = parts.apiUrl;
    this.managementUrl = parts.managementUrl;
    this.consoleUrl = parts.consoleUrl;
    this.dataPlaneUrl = parts.dataPlaneUrl;
    this.administrator = parts.administrator;
    this.dataDir = parts.dataDir;
    this.metrics = parts.metrics;
    this.logger = parts.logger;
    this.closers = parts.closers;
    this.reloader = parts.reloader;
    this.follower = parts.follower;
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const initial = await loadInitialConfig(opts.configPath, opts.clusterConfigPath);
    // With gatehouse.cluster.config.source: registry, the shared sections are replaced
    // below by the newest version in the shared registry.
    let { config, deviceGroups } = initial;
    const { warnings } = initial;
    const logger = opts.logger ?? createLogger(opts.logLevel ?? config.gatehouse.logging.level);
    for (const w of warnings) logger.warn({ event: 'config-warning', ...w }, w.message);
    if (opts.configPath === undefined) {
      logger.warn({ event: 'no-config' }, 'no configuration file: every device is denied. Write device groups to gatehouse.yaml (see examples/gatehouse.yaml) and start with --config');
    }
    const configDir = opts.configPath !== undefined ? dirname(resolve(opts.configPath)) : process.cwd();
    const dataDir = opts.dataDir ?? (config.gatehouse.dataDir !== undefined ? resolve(configDir, config.gatehouse.dataDir) : defaultDataDir());

    const closers: (() => Promise<void> | void)[] = [];
    const closeAll = async (): Promise<void> => {
      for (const c of closers.splice(0).reverse()) {
        try {
          await c();
        } catch (e) {
          logger.error({ event: 'stop-error', err: (e as Error).message }, 'error while stopping');
        }
      }
    };
    try {
      const registryConfig = config.gatehouse.registry;
      const redisConfig = config.gatehouse.cluster.redis;
      // Sharing the broker's state without sharing the registry would let a device revoked
      // through one node keep connecting to another.
      if (redisConfig.url !== undefined && registryConfig.url === undefined) {
        throw new RedisClusterError('gatehouse.cluster.redis.url is set without gatehouse.registry.url: the nodes of a cluster must share the registry, or a certificate revoked through one node stays valid on the others',
          'set gatehouse.registry.url to the PostgreSQL registry every node shares (docs/cluster.md)');
      }
      const { registry, ca, gatewayCaTrusted: localCaTrusted } = await openIdentity(dataDir, config, { baseDir: configDir });
      closers.push(() => registry.close());
      // With gatehouse.registry.url the devices' registry (things, certificates, policies,
      // groups, trusted CAs, the change feed) is the PostgreSQL one every node shares; the
      // node's SQLite file keeps what is still per node (retained messages, the control
      // store that audits data-plane calls).
      let devices: Registry = registry;
      let sharedRegistry: PgRegistry | undefined;
      let shadowStore: ShadowStore | undefined;
      let jobStore: JobStore | undefined;
      let gatewayCaTrusted = localCaTrusted;
      let clusterStore: PgClusterStore | undefined;
      let sharedConfigVersion = 0;
      if (registryConfig.url !== undefined) {
        const shared = await openSharedRegistry(registryConfig, {
          onEvent: (e) => {
            if (e.kind === 'listener-lost') logger.warn({ event: 'registry-notifications-lost', err: e.message }, 'lost the registry notification connection; polling the change feed until it is back');
            else logger.info({ event: 'registry-notifications-restored' }, 'registry notification connection restored');
          },
        });
        closers.push(() => shared.close());
        logger.info({ event: 'registry', backend: 'postgres', url: shared.displayUrl, schema: shared.schema }, 'shared PostgreSQL registry open');
        clusterStore = shared.clusterStore();
        // Before this node's CA is trusted: a node with another CA must not add it.
        if (config.gatehouse.cluster.ca.requireShared) await assertClusterGatewayCa(clusterStore, ca.certificatePem, logger);
        if (config.gatehouse.cluster.config.source === 'registry') {
          const sharedConfig = await loadSharedConfig(clusterStore, logger);
          if (sharedConfig !== undefined) {
            config = mergeSharedConfig(config, sharedConfig.config);
            deviceGroups = sharedConfig.deviceGroups;
            sharedConfigVersion = sharedConfig.version;
          }
        }
        gatewayCaTrusted = (await shared.trustGatewayCa(ca.certificatePem)).added;
        devices = shared;
        sharedRegistry = shared;
        shadowStore = shared.shadows();
        jobStore = shared.jobs();
      }
      if (gatewayCaTrusted) logger.info({ event: 'ca-trusted', caId: ca.id }, 'gateway CA trusted as a device CA');
      logger.info({ event: 'ca', kind: ca.kind, caId: ca.id, dataDir }, 'certificate authority ready');

      const metrics = new Metrics();
      const sessions = new SessionManager({
        registry: devices,
        maxActiveAuthTokens: config.performance.maxActiveAuthTokens,
        onError: (e) => logger.error({ event: 'session-error', err: (e as Error).message }, 'session manager background error'),
      });
      closers.push(() => sessions.stop());

      // Following AWS IoT Core: the admission gate of synced certificates is in place
      // before the broker listens; the first run starts once the change feed is watched.
      let trustMinutes = config.security.clientDeviceTrustDurationMinutes;
      // On a shared registry the sync writes there, and the nodes share its state and take
      // turns through the registry's lock: one node runs it for the cluster.
      const awsSync = await startAwsSync(config, configDir, dataDir, sharedRegistry ?? registry, logger, metrics, () => trustMinutes * 60_000,
        sharedSyncState(sharedRegistry, redisConfig.nodeName));
      if (awsSync !== undefined) {
        sessions.verifier.setAdmissionGate(awsSync.admissionGate);
        closers.push(() => awsSync.stop());
      }

      // The server certificate's names: the configured host addresses and those of the
      // connectivity information (Greengrass UpdateConnectivityInfo), kept in the data directory.
      const connectivity = await ConnectivityInfoStore.open(dataDir);
      let configuredHosts = config.gatehouse.hostAddresses;
      const serverHosts = (): string[] => [...configuredHosts, ...connectivity.hostAddresses()];
      const { ServerCertificateManager } = await import('./ca/server-certificate.js');
      const serverCerts: ServerCertificateManagerType = await ServerCertificateManager.start({
        ca,
        dataDir,
        hostAddresses: serverHosts(),
        detectInterfaceAddresses: config.gatehouse.detectInterfaceAddresses,
        validitySeconds: config.certificates.serverCertificateValiditySeconds,
        disableRotation: config.certificates.disableCertificateRotation,
        onError: (e: unknown) => logger.error({ event: 'rotation-error', err: (e as Error).message }, 'server certificate rotation failed; the current certificate stays'),
      });
      closers.push(() => serverCerts.stop());

      let trustedCas = await trustedCaPems(devices);
      const tls = (cert: IssuedCertificate): BrokerTls => ({ key: cert.privateKeyPem, cert: [cert.certificatePem, ...cert.chainPem].join(''), ca: trustedCas });

      const policy = new PolicyStore(compileDeviceGroups(deviceGroups));
      // AWS IoT policies live in the registry: loaded before the first connection, and
      // again whenever a policy, an attachment, a thing group or a thing changes (in this
      // process or another, such as the CLI), within the watch's poll interval.
      const iotPolicies = new IotPolicyLoader(() => devices.iotAuthorizationData(), policy, logger, config.gatehouse.iot);
      await iotPolicies.reload('start');
      closers.push(() => iotPolicies.close());
      // Retained messages: kept in the registry database, loaded by the broker at start,
      // within gatehouse.retained's limits.
      // On a cluster (gatehouse.cluster.redis), routing and the broker's state are on Redis,
      // retained messages included (their limits count what Redis holds).
      let cluster: RedisCluster | undefined;
      let redisDown: NodeJS.Timeout | undefined;
      let closeAllSessions: (reason: string) => number = () => 0;
      if (redisConfig.url !== undefined) {
        const graceSeconds = redisConfig.unavailableGraceSeconds;
        const opened = await RedisCluster.open({
          url: redisConfig.url,
          keyPrefix: redisConfig.keyPrefix,
          ...(redisConfig.nodeName !== undefined ? { nodeName: redisConfig.nodeName } : {}),
          connectTimeoutMs: redisConfig.connectTimeoutMs,
          nodeTimeoutMs: redisConfig.nodeTimeoutSeconds * 1000,
          // Redis unreachable: new connections are refused at once (authenticate hook);
          // connected devices stay for the grace, their messages reaching this node's
          // subscribers only; then they are disconnected. Accepted again once it is back.
          onEvent: (e) => {
            if (e.kind === 'lost') {
              if (redisDown !== undefined) return;
              const since = Date.now();
              logger.error({ event: 'cluster-redis-unavailable', code: 'CLUSTER_REDIS_UNAVAILABLE', connection: e.connection, err: e.message, graceSeconds },
                'Redis cannot be reached: new connections are refused; connected devices are served on this node until the grace runs out');
              redisDown = setTimeout(() => {
                const closed = closeAllSessions('CLUSTER_REDIS_UNAVAILABLE');
                logger.error({ event: 'cluster-redis-grace-expired', code: 'CLUSTER_REDIS_UNAVAILABLE', downMs: Date.now() - since, disconnected: closed },
                  'Redis is still unreachable after gatehouse.cluster.redis.unavailableGraceSeconds: connected devices disconnected');
              }, graceSeconds * 1000);
              redisDown.unref();
            } else {
              clearTimeout(redisDown);
              redisDown = undefined;
              logger.info({ event: 'cluster-redis-restored' }, 'Redis answers again: connections are accepted');
            }
          },
        });
        cluster = opened;
        closers.push(() => {
          clearTimeout(redisDown);
          return opened.close();
        });
        logger.info({ event: 'cluster', backend: 'redis', url: opened.displayUrl, keyPrefix: opened.keyPrefix, brokerId: opened.brokerId }, 'cluster routing and broker state on Redis');
      }
      const retained = new RetainedKeeper(cluster !== undefined ? cluster.retainedBacking() : registry.retained(), config.gatehouse.retained);
      const broker = await GatewayBroker.start({
        policy,
        retained,
        ...(cluster !== undefined ? { cluster } : {}),
        authenticator: countingAuthenticator(sessionAuthenticator(sessions), metrics),
        offlineIdentities: {
          async identityOf(clientId) {
            const thing = await devices.getThing(clientId);
            return thing === undefined ? undefined : { thingName: thing.name, clientId, attributes: thing.attributes };
          },
        },
        logger,
        metrics,
        tls: tls(serverCerts.current()),
        mqtt: { host: config.gatehouse.mqtt.host, port: opts.mqttPort ?? config.gatehouse.mqtt.port },
        limits: {
          maxPacketSizeBytes: config.gatehouse.mqtt.maxPacketSizeBytes,
          maxConnectPacketSizeBytes: config.gatehouse.mqtt.maxConnectPacketSizeBytes,
          connectTimeoutSeconds: config.gatehouse.mqtt.connectTimeoutSeconds,
          maxPendingConnections: config.gatehouse.mqtt.maxPendingConnections,
          maxConnections: config.gatehouse.mqtt.maxConnections,
        },
        ...(config.gatehouse.mqtt.websocket.enabled ? { websocket: config.gatehouse.mqtt.websocket } : {}),
        queueLimits: { maxQueuedMessages: config.gatehouse.mqtt.maxQueuedMessages, maxInflightMessages: config.gatehouse.mqtt.maxInflightMessages },
        reasonStrings: config.gatehouse.mqtt.reasonStrings,
        topicAliasMaximum: config.gatehouse.mqtt.topicAliasMaximum,
        receiveMaximum: config.gatehouse.mqtt.receiveMaximum,
      });
      closers.push(() => broker.close());
      closeAllSessions = (reason) => {
        let closed = 0;
        for (const sess of sessions.list()) if (broker.closeSession(sess.id, reason)) closed++;
        return closed;
      };

      // The Device Shadow service: stored in the registry database, answering its MQTT
      // topics through the broker's service bus (and the data-plane listener's endpoints).
      const clock = (): Date => new Date();
      let shadows: ShadowService | undefined;
      if (config.gatehouse.shadows.enabled) {
        const bus = broker.serviceBus();
        const store = shadowStore ?? registry.shadows();
        shadows = new ShadowService({ store, clock, maxDocumentBytes: config.gatehouse.shadows.maxDocumentSizeBytes, logger, publisher: bus });
        closers.push(bindShadowTopics(bus, shadows, logger, clock));
        // A deleted shadow's row keeps its version for 48 hours (a shadow re-created within
        // them continues the count); after that it is pruned, at start and then hourly.
        const prune = (): void => void pruneDeletedShadows(store, clock, logger);
        prune();
        const pruneTimer = setInterval(prune, SHADOW_PRUNE_INTERVAL_MS);
        pruneTimer.unref();
        closers.push(() => clearInterval(pruneTimer));
      }
      // The jobs service: stored in the registry database, answering its MQTT topics through
      // the same bus (and the data-plane endpoints and the management job operations).
      let jobs: JobService | undefined;
      if (config.gatehouse.jobs.enabled) {
        const bus = broker.serviceBus();
        jobs = new JobService({ store: jobStore ?? registry.jobs(), clock, logger, deployment: () => config.gatehouse.iot, publisher: bus });
        closers.push(bindJobTopics(bus, jobs, logger, clock));
        // Executions whose timer expired move to TIMED_OUT when due (deadlines are stored:
        // what fell due while the gateway was down times out on the first tick).
        const sweeper = JobTimeoutSweeper.start({ service: jobs, logger });
        closers.push(() => sweeper.stop());
        await reconcileContinuousJobs(jobs, logger, 'start');
      }

      // Rotation: new handshakes get the new certificate; open connections stay.
      const unsubscribeRotation = serverCerts.subscribe((cert) => {
        broker.updateTls(tls(cert));
        logger.info({ event: 'server-certificate-rotated', certificateId: cert.id, notAfter: cert.notAfter.toISOString() }, 'server certificate rotated; TLS context swapped in place');
      });
      closers.push(unsubscribeRotation);

      // Registry changes made by any process: sessions end through the session manager;
      // a change to the trusted CAs also changes what the TLS listener accepts.
      // Only token sessions (local API) are ever evicted: a live connection holds its session.
      const unsubscribeInvalidation = sessions.onInvalidated((session, reason) => {
        if (reason === 'SESSION_EVICTED') {
          logger.warn({ event: 'session-evicted', code: 'SESSION_EVICTED', sessionId: session.id, clientId: session.clientId, thingName: session.thingName, maxActiveAuthTokens: sessions.maxActiveAuthTokens },
            'API session evicted: performance.maxActiveAuthTokens reached and it was the least recently used');
        }
        broker.closeSession(session.id, reason);
      });
      closers.push(unsubscribeInvalidation);
      // One watch of the registry's change feed for the gateway's own reactions: AWS IoT
      // policies, attachments, groups and things (re-applied to live connections), and
      // the trusted device CAs (the TLS context).
      const relayBus = broker.serviceBus();
      const registryWatch: RegistryWatch = devices.watch((changes, info) => {
        // Messages a service made on any node sharing the registry (jobs notify /
        // notify-next): each node publishes them, so the device hears them on the node
        // it is connected to. A node that fell behind the feed's retention loses them.
        for (const c of changes) {
          if (c.kind !== 'SERVICE_MESSAGE') continue;
          relayBus.publish(c.topic, c.payload).catch((e: unknown) =>
            logger.error({ event: 'jobs-publish-failed', topic: c.topic, err: (e as Error).message }, 'a relayed service message could not be published'));
        }
        if (changes.some((c) => c.kind === 'CA_TRUSTED' || c.kind === 'CA_UNTRUSTED')) {
          void trustedCaPems(devices).then((pems) => {
            trustedCas = pems;
            broker.updateTls(tls(serverCerts.current()));
            logger.info({ event: 'trusted-cas-changed', count: pems.length }, 'trusted device CAs changed; TLS context updated');
          });
        }
        // Continuous jobs follow their target groups' membership.
        if (jobs !== undefined && (!info.complete || changes.some((c) => c.kind === 'THING_GROUP_CHANGED'))) void reconcileContinuousJobs(jobs, logger, 'registry');
        if (info.complete && !changes.some((c) => IOT_CHANGE_KINDS.has(c.kind))) return;
        void (async () => {
          // New attribute values first, so the re-check that follows the reload sees them.
          for (const c of changes) {
            if (c.kind !== 'THING_UPDATED') continue;
            const thing = await devices.getThing(c.thingName);
            if (thing !== undefined) broker.updateThingAttributes(thing.name, thing.attributes);
          }
          await iotPolicies.reload('registry');
        })().catch((e: unknown) => logger.error({ event: 'error', err: (e as Error).message }, 'could not apply a registry change to live connections'));
      });
      closers.push(() => registryWatch.close());
      awsSync?.begin();

      // A shared registry can become unreachable. Connected devices keep being served from
      // the sessions and policies this node holds for gatehouse.registry.unavailableGraceSeconds
      // (no revocation can reach this node meanwhile, so that is the bound on a stale
      // decision); then they are disconnected. New connections are refused while it is
      // down (they cannot be verified), and accepted again as soon as it answers.
      if (registryConfig.url !== undefined) {
        const health = watchRegistryHealth({
          registry: devices,
          graceMs: registryConfig.unavailableGraceSeconds * 1000,
          onLost: (e) => logger.error({ event: 'registry-unavailable', err: (e as Error).message, graceSeconds: registryConfig.unavailableGraceSeconds },
            'the shared registry cannot be read: new connections are refused; connected devices are served until the grace runs out'),
          onExpired: (ms) => {
            let closed = 0;
            for (const s of sessions.list()) if (broker.closeSession(s.id, 'REGISTRY_UNAVAILABLE')) closed++;
            logger.error({ event: 'registry-unavailable-grace-expired', downMs: ms, disconnected: closed },
              'the shared registry is still unreachable after gatehouse.registry.unavailableGraceSeconds: connected devices disconnected');
          },
          onRestored: (ms) => logger.info({ event: 'registry-restored', downMs: ms }, 'the shared registry answers again: connections are accepted'),
        });
        closers.push(() => health.stop());
      }

      // The control store (IAM users, roles, policies, audit) and the IAM evaluator's cache,
      // shared by both APIs: every call to either is authorized and audited with them.
      const apiConfig = config.gatehouse.api;
      const mgmtConfig = config.gatehouse.management;
      const dataPlaneConfig = config.gatehouse.dataPlane;
      // On a shared registry the control store is in PostgreSQL too (every node authorizes
      // with the same users, keys and policies); its secrets need the same key file on
      // every node (gatehouse.registry.controlKeyFile).
      const controlKeyFile = registryConfig.controlKeyFile !== undefined ? resolve(configDir, registryConfig.controlKeyFile) : undefined;
      const control = !(apiConfig.enabled || mgmtConfig.enabled || dataPlaneConfig.enabled) ? undefined
        : sharedRegistry !== undefined ? openControlStore(sharedRegistry, dataDir, config.gatehouse.iot, controlKeyFile)
          : openControlStore(registry, dataDir, config.gatehouse.iot);
      const iamPolicies = new IamPolicyCache(compileWithIamDialect);
      // One audit writer for both APIs, pruned whenever the gateway runs (whichever
      // listeners are enabled: the local API audits its calls too). Closed after both
      // listeners (closers run in reverse), so the records of their last calls are written.
      let audit: AuditWriter | undefined;
      if (control !== undefined) {
        const writer = new AuditWriter(control, logger);
        audit = writer;
        closers.push(() => writer.close());
        writer.startPruning(mgmtConfig.auditRetentionDays, () => new Date());
      }

      // What the IPC operations and the EMQX adapter run with, shared by both listeners
      // (the management listener serves them too, for HTTPS-only deployments).
      const validitySeconds = config.certificates.serverCertificateValiditySeconds;
      const operationsOptions: ApiOperationsOptions = {
        registry: devices,
        sessions,
        policy,
        metrics,
        logger,
        // Each certificate-update subscriber gets its own key and certificate, with the
        // gateway's host names, re-issued whenever the gateway's own one is.
        certificates: {
          issue: () => ca.issueServerCertificate({ hosts: serverCerts.sans().map((s) => s.value), validitySeconds }),
          onRotation: (listener) => serverCerts.subscribe(() => listener()),
        },
        connectedClients: () => broker.connectedClients,
        performance: config.performance,
        iotDeployment: config.gatehouse.iot,
      };
      const ipc = control !== undefined ? ApiOperations.create(operationsOptions) : undefined;
      if (ipc !== undefined) closers.push(() => ipc.close());

      let api: ApiServer | undefined;
      if (apiConfig.enabled && control !== undefined && ipc !== undefined) {
        const listen: ApiListen = apiConfig.socketPath !== undefined && opts.apiPort === undefined
          ? { socketPath: resolve(configDir, apiConfig.socketPath) }
          : { host: apiConfig.host, port: opts.apiPort ?? apiConfig.port };
        api = await ApiServer.start({
          ...operationsOptions,
          operations: ipc,
          token: await ensureApiToken(dataDir),
          listen,
          bodyLimitBytes: apiConfig.bodyLimitBytes,
          authorization: { control, iamPolicies, deployment: config.gatehouse.iot, ...(audit !== undefined ? { audit } : {}) },
        });
        const a = api;
        closers.push(() => a.close());
      }

      const emitter = new MetricsEmitter(metrics, logger);
      emitter.configure(config);
      closers.push(() => emitter.stop());

      let reloader: ConfigReloader | undefined;
      let follower: SharedConfigFollower | undefined;
      if (clusterStore !== undefined && config.gatehouse.cluster.config.source === 'registry') {
        // The shared sections follow the registry's versions; the node's own file is read
        // at start only (its keys are listener and start-up settings).
        const store = clusterStore;
        follower = new SharedConfigFollower({
          latest: () => store.latestConfig(),
          watch: (onChange) => store.watchConfig(onChange, {
            onListener: (event, message) => {
              if (event === 'lost') logger.warn({ event: 'cluster-config-notifications-lost', err: message }, 'lost the shared-configuration notification connection; reading the newest version on a timer until it is back');
              else logger.info({ event: 'cluster-config-notifications-restored' }, 'shared-configuration notification connection restored');
            },
          }),
        }, policy, logger, {
          initialVersion: sharedConfigVersion,
          onApplied: (next) => {
            trustMinutes = next.security.clientDeviceTrustDurationMinutes;
            void iotPolicies.setDeployment(next.gatehouse.iot);
          },
        });
        follower.start();
        const f = follower;
        closers.push(() => f.close());
      } else if (opts.configPath !== undefined) {
        reloader = new ConfigReloader(resolve(opts.configPath), policy, logger, {
          settleMilliseconds: config.gatehouse.configSettleMilliseconds,
          onApplied: (next) => {
            sessions.setMaxActiveAuthTokens(next.performance.maxActiveAuthTokens);
            trustMinutes = next.security.clientDeviceTrustDurationMinutes;
            ipc?.configure(next.performance);
            emitter.configure(next);
            void iotPolicies.setDeployment(next.gatehouse.iot);
            configuredHosts = next.gatehouse.hostAddresses;
            void serverCerts.setHostAddresses(serverHosts()).catch((e: unknown) =>
              logger.error({ event: 'rotation-error', err: (e as Error).message }, 'could not re-issue the server certificate for the new host addresses'));
          },
        });
        await reloader.prime();
        if (config.gatehouse.watchConfig) reloader.watch();
        const r = reloader;
        closers.push(() => r.close());
      }

      // The management API: HTTPS with the gateway's server certificate (and its rotation);
      // client certificates are asked for but optional (the credentials provider's).
      let management: ManagementServer | undefined;
      let administrator: readonly string[] | undefined;
      if (mgmtConfig.enabled && control !== undefined) {
        const consoleConfig = mgmtConfig.console;
        const consoleSessions = consoleConfig.enabled ? new ConsoleSessions(consoleConfig) : undefined;
        const mgmtTls = (cert: IssuedCertificate): ManagementTls => ({ key: cert.privateKeyPem, cert: [cert.certificatePem, ...cert.chainPem].join(''), ca: trustedCas });
        management = await ManagementServer.start({
          ctx: {
            control,
            registry: devices,
            iot: config.gatehouse.iot,
            logger,
            clock: () => new Date(),
            verifier: sessions.verifier,
            policy,
            iamPolicies,
            // The IPC operations and the EMQX adapter, at the local API's paths.
            ...(ipc !== undefined ? { ipc: ipc.ctx } : {}),
            // AWS IoT's CreateKeysAndCertificate issues with the gateway CA; Greengrass
            // UpdateConnectivityInfo changes the server certificate's names.
            iotControlPlane: { ca, connectivity, onConnectivityChanged: () => serverCerts.setHostAddresses(serverHosts()), ...(jobs !== undefined ? { jobs } : {}), ...(shadows !== undefined ? { shadows } : {}) },
            // Gatehouse's own operations: the broker's connections, the configuration file
            // (through the reloader, the same path as an edit of the file), the metrics.
            operations: {
              connections: { list: () => broker.liveSessions(), disconnect: (clientId, reason) => broker.disconnectClient(clientId, reason) },
              identitySessions: () => sessions.list(),
              retained: { list: (o) => retained.list(o), get: (t) => retained.get(t), delete: (t) => broker.deleteRetained(t) },
              ...(reloader !== undefined ? { configuration: reloader } : {}),
              ...(api !== undefined ? { metrics: api.prometheus } : {}),
              // The continuous AWS IoT Core sync's status (absent: not enabled).
              ...(awsSync !== undefined ? { awsSync: { status: () => awsSync.status() } } : {}),
              denials: metrics.denialFeed,
              counters: () => ({
                messagesPublished: metrics.messagesPublished,
                connectionsAccepted: metrics.connectionsAccepted,
                denialsByOperation: { ...metrics.denials },
                connectionsClosed: Object.fromEntries(metrics.connectionsClosed),
              }),
              gatewayCertificates: () => {
                const server = new X509Certificate(serverCerts.current().certificatePem);
                const gatewayCa = new X509Certificate(ca.certificatePem);
                return [
                  { role: 'server certificate (renewed automatically)', subject: server.subject, notAfter: new Date(server.validTo) },
                  { role: 'gateway CA', subject: gatewayCa.subject, notAfter: new Date(gatewayCa.validTo) },
                ];
              },
            },
          },
          // The operator console (docs/console.md): its pages and sessions on this listener.
          routeSets: consoleSessions !== undefined ? [...MANAGEMENT_ROUTE_SETS, consoleRouteSet(consoleSessions)] : MANAGEMENT_ROUTE_SETS,
          ...(consoleSessions !== undefined ? { browserSessions: consoleSessions } : {}),
          tls: mgmtTls(serverCerts.current()),
          listen: { host: mgmtConfig.host, port: opts.managementPort ?? mgmtConfig.port },
          bodyLimitBytes: mgmtConfig.bodyLimitBytes,
          maxClockSkewSeconds: mgmtConfig.maxClockSkewSeconds,
          auditRetentionDays: mgmtConfig.auditRetentionDays,
          ...(audit !== undefined ? { audit } : {}),
          // The API token is the principal of the IPC operations on both listeners. Without
          // the local API none is created, but one made by an earlier start keeps working.
          ...await managementApiToken(dataDir, apiConfig.enabled),
        });
        const m = management;
        closers.push(() => m.close());
        closers.push(serverCerts.subscribe((cert) => m.updateTls(mgmtTls(cert))));
        const mgmtWatch: RegistryWatch = devices.watch((changes) => {
          if (!changes.some((c) => c.kind === 'CA_TRUSTED' || c.kind === 'CA_UNTRUSTED')) return;
          // Read again rather than rely on the order of the gateway's own watch.
          void trustedCaPems(devices).then((pems) => m.updateTls({ ...mgmtTls(serverCerts.current()), ca: pems }));
        });
        closers.push(() => mgmtWatch.close());
        const admin = await ensureAdministrator(dataDir, control, config.gatehouse.iot, { endpoint: management.url });
        if (admin.created) {
          administrator = admin.instructions;
          logger.info({ event: 'administrator-created', user: admin.userName, accessKeyId: admin.accessKeyId, file: admin.file }, 'first start: administrator created; its credentials are in the file named');
        }
      }

      // The HTTPS data-plane listener: devices by mutual TLS, IAM principals by SigV4.
      let dataPlane: DataPlaneServer | undefined;
      if (dataPlaneConfig.enabled && control !== undefined) {
        const dpTls = (cert: IssuedCertificate, cas: string[] = trustedCas): DataPlaneTls => ({ key: cert.privateKeyPem, cert: [cert.certificatePem, ...cert.chainPem].join(''), ca: cas });
        dataPlane = await DataPlaneServer.start({
          // On a shared registry: its devices, and the IAM principals of the shared control store.
          ctx: { registry: devices, control, iot: config.gatehouse.iot, logger, clock, verifier: sessions.verifier, policy, iamPolicies,
            ...(shadows !== undefined ? { shadows } : {}), ...(jobs !== undefined ? { jobs } : {}),
            retained: { messages: retained, publisher: broker.serviceBus() } },
          routeSets: DATA_PLANE_ROUTE_SETS,
          tls: dpTls(serverCerts.current()),
          listen: { host: dataPlaneConfig.host, port: opts.dataPlanePort ?? dataPlaneConfig.port },
          bodyLimitBytes: dataPlaneConfig.bodyLimitBytes,
          maxClockSkewSeconds: mgmtConfig.maxClockSkewSeconds,
          ...(audit !== undefined ? { audit } : {}),
        });
        const d = dataPlane;
        closers.push(() => d.close());
        closers.push(serverCerts.subscribe((cert) => d.updateTls(dpTls(cert))));
        const dpWatch: RegistryWatch = devices.watch((changes) => {
          if (!changes.some((c) => c.kind === 'CA_TRUSTED' || c.kind === 'CA_UNTRUSTED')) return;
          void trustedCaPems(devices).then((pems) => d.updateTls(dpTls(serverCerts.current(), pems)));
        });
        closers.push(() => dpWatch.close());
      }

      logger.info({ event: 'ready', listeners: broker.listeners.map((l) => l.url), api: api?.url, management: management?.url, dataPlane: dataPlane?.url, groups: policy.current.groups.length }, 'gateway ready');
      return new Gateway({ listeners: [...broker.listeners], apiUrl: api?.url, managementUrl: management?.url, consoleUrl: management !== undefined && config.gatehouse.management.console.enabled ? `${management.url}/console/` : undefined, dataPlaneUrl: dataPlane?.url, administrator, dataDir, metrics, logger, closers, reloader, follower });
    } catch (e) {
      await closeAll();
      throw e;
    }
  }

  /**
   * Re-reads the configuration file (SIGHUP), or on a node following the shared
   * configuration, its newest version. Resolves true when a new one was applied.
   */
  reload(trigger = 'SIGHUP'): Promise<boolean> {
    if (this.follower) return this.follower.refresh(trigger);
    return this.reloader ? this.reloader.reload(trigger) : Promise.resolve(false);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.closers.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        this.logger.error({ event: 'stop-error', err: (e as Error).message }, 'error while stopping');
      }
    }
    this.logger.info({ event: 'stopped' }, 'gateway stopped');
  }
}

/**
 * Refuses to start a node whose gateway CA is not the cluster's (the first node to start
 * recorded its CA certificate): every node's server certificate must chain to one CA,
 * which the operator gives each node as the same certificateAuthority files.
 */
async function assertClusterGatewayCa(store: PgClusterStore, caPem: string, logger: Logger): Promise<void> {
  const { record, matches, recorded } = await store.recordGatewayCa(caPem);
  if (recorded) logger.info({ event: 'cluster-ca-recorded', fingerprint: record.fingerprint }, "this node's gateway CA is now the cluster's");
  if (matches) return;
  throw new RegistryError('CLUSTER_CA_MISMATCH',
    `this node's gateway CA (SHA-256 ${fingerprintOf(caPem)}) is not the cluster's (SHA-256 ${record.fingerprint}, recorded ${record.recordedAt.toISOString()})`,
    "give this node the cluster's CA certificate and key files (certificateAuthority.certificateUri and privateKeyUri), as every other node has them");
}

/** The newest shared configuration, checked; undefined when none was pushed yet. A stored version this node refuses stops the start. */
async function loadSharedConfig(store: PgClusterStore, logger: Logger): Promise<{ version: number; config: GatehouseConfig; deviceGroups: ValidatedDeviceGroups } | undefined> {
  const latest = await store.latestConfig();
  if (latest === undefined) {
    logger.warn({ event: 'cluster-config-none' }, 'no shared configuration pushed yet: every device is denied until `gatehouse config push FILE`');
    return undefined;
  }
  const verdict = await checkSharedConfig(latest.text, latest.format, 0);
  if (!verdict.ok) {
    throw new GatewayError('CONFIG_INVALID', `the shared configuration version ${latest.version} in the registry is invalid for this node (${verdict.errors.length} error${verdict.errors.length === 1 ? '' : 's'})`,
      verdict.errors as ConfigError[], 'push a corrected configuration with `gatehouse config push FILE` (it is checked before it is stored), or upgrade this node to the release of the others');
  }
  for (const w of verdict.warnings) logger.warn({ event: 'config-warning', version: latest.version, ...w }, w.message);
  logger.info({ event: 'cluster-config-applied', version: latest.version, trigger: 'start', groups: verdict.groups }, `shared configuration version ${latest.version} in force`);
  return { version: latest.version, config: verdict.config, deviceGroups: verdict.deviceGroups };
}

async function loadInitialConfig(path: string | undefined, clusterPath?: string): Promise<{ config: GatehouseConfig; deviceGroups: ValidatedDeviceGroups; warnings: readonly ConfigWarning[] }> {
  if (clusterPath !== undefined) {
    if (!existsSync(clusterPath)) throw new GatewayError('CONFIG_UNREADABLE', `cluster configuration file \`${clusterPath}\` does not exist`, [], 'pass an existing file with --cluster-config');
    if (path !== undefined && !existsSync(path)) throw new GatewayError('CONFIG_UNREADABLE', `configuration file \`${path}\` does not exist`, [], 'pass an existing file with --config');
    const r = await loadConfigFile(path, clusterPath);
    if (!r.ok && 'unreadable' in r) throw new GatewayError('CONFIG_UNREADABLE', r.message, [], 'check the path and permissions');
    if (!r.ok) throw new GatewayError('CONFIG_INVALID', `configuration \`${path ?? '(none)'}\` with cluster configuration \`${clusterPath}\` is invalid (${r.errors.length} error${r.errors.length === 1 ? '' : 's'})`, r.errors, 'fix every error (the cluster file holds only gatehouse.registry and gatehouse.cluster)');
    return { config: r.config, deviceGroups: r.deviceGroups, warnings: r.warnings };
  }
  if (path === undefined) {
    const r = validateConfig({});
    if (!r.ok) throw new Error('the empty configuration must be valid');
    return { config: r.config, deviceGroups: r.deviceGroups, warnings: [] };
  }
  if (!existsSync(path)) throw new GatewayError('CONFIG_UNREADABLE', `configuration file \`${path}\` does not exist`, [], 'pass an existing file with --config');
  const r = await loadConfigFile(path);
  if (!r.ok && 'unreadable' in r) throw new GatewayError('CONFIG_UNREADABLE', r.message, [], 'check the path and permissions');
  if (!r.ok) throw new GatewayError('CONFIG_INVALID', `configuration \`${path}\` is invalid (${r.errors.length} error${r.errors.length === 1 ? '' : 's'})`, r.errors, 'run `gatehouse config validate FILE` and fix every error');
  return { config: r.config, deviceGroups: r.deviceGroups, warnings: r.warnings };
}

/** Registry changes that can change which AWS IoT policies apply to a connection, or what they say. */
const SHADOW_PRUNE_INTERVAL_MS = 60 * 60 * 1000;
const SHADOW_PRUNE_BATCH = 500;

/** Deletes the rows of shadows deleted more than 48 hours ago, a batch per transaction; logs, never throws. */
async function pruneDeletedShadows(store: ShadowStore, clock: () => Date, logger: Logger): Promise<void> {
  try {
    const before = clock().getTime() - DELETED_VERSION_KEPT_MS;
    let total = 0;
    for (;;) {
      const n = await store.pruneDeleted(before, SHADOW_PRUNE_BATCH);
      total += n;
      if (n < SHADOW_PRUNE_BATCH) break;
    }
    if (total > 0) logger.info({ event: 'deleted-shadows-pruned', count: total }, 'rows of shadows deleted more than 48 hours ago were pruned');
  } catch (e) {
    logger.error({ event: 'error', err: (e as Error).message }, 'could not prune deleted shadows');
  }
}

/** Queues and removes the executions of continuous jobs after a membership change; logs what changed, never throws. */
async function reconcileContinuousJobs(jobs: JobService, logger: Logger, why: 'start' | 'registry'): Promise<void> {
  try {
    const r = await jobs.reconcileContinuous();
    if (r.queued + r.removed > 0) logger.info({ event: 'continuous-jobs-reconciled', why, queued: r.queued, removed: r.removed }, 'continuous jobs followed their target groups');
  } catch (e) {
    logger.error({ event: 'error', err: (e as Error).message }, 'could not apply a thing-group change to continuous jobs');
  }
}

const IOT_CHANGE_KINDS: ReadonlySet<ChangeKind> = new Set<ChangeKind>(['POLICY_CHANGED', 'POLICY_ATTACHMENT_CHANGED', 'THING_GROUP_CHANGED', 'THING_UPDATED', 'THING_DELETED', 'CERT_DELETED']);

/** The API token the management listener accepts: the local API's (created with it), or one left by an earlier start. */
async function managementApiToken(dataDir: string, apiEnabled: boolean): Promise<{ apiToken?: string }> {
  if (apiEnabled) return { apiToken: await ensureApiToken(dataDir) };
  try {
    return { apiToken: await readApiToken(dataDir) };
  } catch (e) {
    if (e instanceof GatehouseError && e.code === 'API_TOKEN_MISSING') return {};
    throw e;
  }
}

async function trustedCaPems(registry: Registry): Promise<string[]> {
  return (await registry.listTrustedCas()).map((c) => c.pem);
}

/** The shared state and lead of the continuous sync on a shared registry (none on SQLite: the data directory's file). */
function sharedSyncState(shared: PgRegistry | undefined, nodeName: string | undefined): (() => SyncStateStore) | undefined {
  return shared === undefined ? undefined : () => shared.syncState(nodeName ?? `${hostname()}:${process.pid}`);
}

/** The continuous sync of `gatehouse.sync.aws`, when enabled (read at start: a change needs a restart). */
async function startAwsSync(config: GatehouseConfig, configDir: string, dataDir: string, registry: SyncStore, logger: Logger, metrics: Metrics, trustDurationMs: () => number,
  sharedState?: () => SyncStateStore): Promise<ContinuousAwsSync | undefined> {
  const aws = config.gatehouse.sync.aws;
  if (!aws.enabled) return undefined;
  let caBundle: string | undefined;
  if (aws.caBundle !== undefined) {
    const file = resolve(configDir, aws.caBundle);
    try {
      caBundle = await readFile(file, 'utf8');
    } catch (e) {
      throw new GatewayError('CONFIG_UNREADABLE', `cannot read gatehouse.sync.aws.caBundle \`${file}\`: ${(e as Error).message}`, [], 'give a readable PEM file, relative to the configuration file');
    }
  }
  // Loaded only when enabled: the AWS SDK is not needed otherwise.
  const { ContinuousAwsSync } = await import('./sync/continuous.js');
  const sync = await ContinuousAwsSync.open({
    store: registry,
    ...(sharedState !== undefined ? { state: sharedState() } : {}),
    sync: {
      ...(aws.region !== undefined ? { region: aws.region } : {}),
      ...(aws.profile !== undefined ? { profile: aws.profile } : {}),
      ...(aws.endpoint !== undefined ? { endpoint: aws.endpoint } : {}),
      ...(caBundle !== undefined ? { caBundle } : {}),
      ...(aws.thingGroups.length > 0 ? { thingGroups: aws.thingGroups } : {}),
      pageSize: aws.pageSize,
      requireTrustedCa: aws.requireTrustedCa,
    },
    intervalMs: aws.intervalSeconds * 1000,
    trustDurationMs,
    dataDir,
    logger,
    metrics,
  });
  logger.info({ event: 'sync-enabled', source: 'aws', intervalSeconds: aws.intervalSeconds, region: aws.region ?? null, endpoint: aws.endpoint ?? null, thingGroups: aws.thingGroups },
    'following AWS IoT Core');
  return sync;
}

const VERIFY_FAILURES: ReadonlySet<string> = new Set(VERIFY_REASONS);

/**
 * Counts the reference's identity metrics around the broker's authenticator: a
 * certificate problem is a VerifyClientDeviceIdentity failure; anything else that
 * stops a session (thing, attachment) is a GetClientDeviceAuthToken failure.
 */
function countingAuthenticator(inner: DeviceAuthenticator, metrics: Metrics): DeviceAuthenticator {
  return {
    async screen(chain) {
      const r = await inner.screen(chain);
      // Counted once here for refusals; an accepted certificate is counted at CONNECT.
      if (!r.ok) metrics.inc(VERIFY_FAILURES.has(r.reason) ? 'VerifyClientDeviceIdentity.Failure' : 'GetClientDeviceAuthToken.Failure');
      return r;
    },
    async authenticate(clientId, chain) {
      const r = await inner.authenticate(clientId, chain);
      if (r.ok) {
        metrics.inc('VerifyClientDeviceIdentity.Success');
        metrics.inc('GetClientDeviceAuthToken.Success');
      } else if (VERIFY_FAILURES.has(r.reason)) {
        metrics.inc('VerifyClientDeviceIdentity.Failure');
      } else {
        metrics.inc('VerifyClientDeviceIdentity.Success');
        metrics.inc('GetClientDeviceAuthToken.Failure');
      }
      return r;
    },
    release: (id) => inner.release(id),
  };
}

/**
 * Writes the period's non-zero counters to the log every `metrics.aggregatePeriodSeconds`,
 * and once at (re)configuration, as the reference's emitter does; nothing when
 * `metrics.disableMetrics` is true (counting continues).
 */
class MetricsEmitter {
  private timer: NodeJS.Timeout | undefined;
  private current: string | undefined;

  constructor(private readonly metrics: Metrics, private readonly logger: Logger) {}

  configure(config: GatehouseConfig): void {
    const key = `${config.metrics.disableMetrics}/${config.metrics.aggregatePeriodSeconds}`;
    if (key === this.current) return;
    this.current = key;
    this.stop();
    if (config.metrics.disableMetrics) return;
    this.emit();
    this.timer = setInterval(() => this.emit(), config.metrics.aggregatePeriodSeconds * 1000);
    this.timer.unref();
  }

  private emit(): void {
    const counters = this.metrics.drain();
    if (Object.keys(counters).length > 0) this.logger.info({ event: 'metrics', namespace: 'aws.greengrass.clientdevices.Auth', counters }, 'metrics');
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
