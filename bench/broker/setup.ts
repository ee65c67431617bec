/**
 * Everything the three brokers share, made once per run in a temporary directory:
 *
 * - one Gatehouse data directory: the gateway CA (EC P-256), the devices (issued and
 *   registered exactly as `gatehouse things create` does: GatewayCa.issueDeviceCertificate
 *   then Registry.enroll), and the broker's server certificate (issued by the
 *   ServerCertificateManager with the hosts the gateway will be configured with, so the
 *   gateway keeps it instead of issuing another one);
 * - copies of it for the second Gatehouse (10,000 groups) and for the one authorized by
 *   AWS IoT policies (its policies and thing groups are added to its copy by
 *   setupIotPolicies), since two gateways must not share one data directory;
 * - PEM files of that same server certificate and CA for bare aedes and Mosquitto, so
 *   all brokers do identical TLS work;
 * - configuration files: Gatehouse YAML (1 and 10,000 device groups, before and after
 *   the policy change), Mosquitto configuration and ACL files (before and after).
 */
import { chmod, cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ServerCertificateManager } from '../../src/ca/server-certificate.js';
import { openIdentity } from '../../src/identity/bootstrap.js';
import type { DeviceFiles } from './protocol.js';

export const COLLECTOR = 'bench-collector';

/** Device names: dev-00000, dev-00001, ... (the policies select `dev-*`). */
export function deviceName(i: number): string {
  return `dev-${String(i).padStart(5, '0')}`;
}

export interface Pki {
  readonly dir: string;
  /** Data directory of the 1-group gateway. */
  readonly dataDir: string;
  /** Data directory of the 10,000-group gateway (a copy). */
  readonly dataDir10k: string;
  /** Data directory of the gateway authorized by AWS IoT policies (a copy). */
  readonly dataDirIot: string;
  /** JSON with the CA chain and every device's key and certificate (read by the load generator). */
  readonly pkiFile: string;
  readonly serverKeyFile: string;
  readonly serverCertFile: string;
  readonly caFile: string;
  readonly devices: readonly string[];
  readonly seconds: number;
}

export const SERVER_HOSTS = ['127.0.0.1'];
export const SERVER_CERT_VALIDITY_SECONDS = 604_800;

export async function createPki(dir: string, deviceCount: number, log: (msg: string) => void): Promise<Pki> {
  const started = performance.now();
  const dataDir = join(dir, 'gatehouse-1', 'data');
  const dataDir10k = join(dir, 'gatehouse-10k', 'data');
  const dataDirIot = join(dir, 'gatehouse-iot', 'data');
  const { registry, ca } = await openIdentity(dataDir, { certificateAuthority: { caType: 'ECDSA_P256' } });
  const devices: DeviceFiles[] = [];
  try {
    const names = [COLLECTOR, ...Array.from({ length: deviceCount }, (_, i) => deviceName(i))];
    const BATCH = 32;
    for (let from = 0; from < names.length; from += BATCH) {
      const batch = names.slice(from, from + BATCH);
      const issued = await Promise.all(batch.map((thingName) => ca.issueDeviceCertificate({ thingName })));
      for (let i = 0; i < batch.length; i++) {
        const name = batch[i]!;
        const cert = issued[i]!;
        await registry.enroll({ thingName: name, attributes: {}, certificatePem: cert.certificatePem, thing: 'new', issuerId: ca.id });
        devices.push({ name, keyPem: cert.privateKeyPem, certPem: cert.certificatePem });
      }
      if ((from / BATCH) % 40 === 39) log(`  ${devices.length}/${names.length} devices issued and registered`);
    }
    const server = await ServerCertificateManager.start({
      ca,
      dataDir,
      hostAddresses: SERVER_HOSTS,
      detectInterfaceAddresses: false,
      validitySeconds: SERVER_CERT_VALIDITY_SECONDS,
      disableRotation: false,
      checkIntervalMs: 0,
    });
    const serverCert = server.current();
    server.stop();

    const pkiFile = join(dir, 'devices.json');
    await writeFile(pkiFile, JSON.stringify({ caPem: ca.chainPem.join(''), devices }));
    const tlsDir = join(dir, 'tls');
    await mkdir(tlsDir, { recursive: true });
    const serverKeyFile = join(tlsDir, 'server.key');
    const serverCertFile = join(tlsDir, 'server.crt');
    const caFile = join(tlsDir, 'ca.pem');
    await writeFile(serverKeyFile, serverCert.privateKeyPem, { mode: 0o600 });
    await writeFile(serverCertFile, [serverCert.certificatePem, ...serverCert.chainPem].join(''));
    await writeFile(caFile, ca.certificatePem);
    // Mosquitto drops to user `mosquitto` unless configured with `user root` (we do);
    // the directory stays private to this user either way.
    await chmod(tlsDir, 0o700);

    await registry.close();
    await cp(join(dir, 'gatehouse-1'), join(dir, 'gatehouse-10k'), { recursive: true });
    await cp(join(dir, 'gatehouse-1'), join(dir, 'gatehouse-iot'), { recursive: true });
    return {
      dir, dataDir, dataDir10k, dataDirIot, pkiFile, serverKeyFile, serverCertFile, caFile,
      devices: names.slice(1), seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    await registry.close().catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------------------------
// Gatehouse configuration

const THING = '${iot:Connection.Thing.ThingName}';

/**
 * The benchmark's policy. Devices (`dev-*`): connect as themselves, publish and
 * subscribe under `devices/<own name>/`; the collector reads everyone's telemetry and
 * sends commands. `revoked: true` is the policy change: devices lose subscribe.
 * `extraGroups` adds that many unrelated groups (before the benchmark's own, so that
 * group selection has to get past them) sharing 100 policies.
 */
export function gatehouseConfig(opts: { extraGroups: number; revoked: boolean; maxSessions: number; format?: 'yaml' | 'json'; iot?: boolean }): string {
  const definitions: Record<string, { selectionRule: string; policyName: string }> = {};
  const policies: Record<string, Record<string, { operations: string[]; resources: string[]; effect?: string }>> = {};
  const fleetPolicies = Math.min(100, opts.extraGroups);
  for (let i = 0; i < opts.extraGroups; i++) {
    const n = String(i).padStart(5, '0');
    // Half prefix rules, half two exact names: both kinds of selection rule in the index.
    const selectionRule = i % 2 === 0 ? `thingName: fleet-${n}-*` : `thingName: site-${n}-gw OR thingName: site-${n}-bridge`;
    definitions[`Fleet${n}`] = { selectionRule, policyName: `FleetPolicy${String(i % fleetPolicies).padStart(3, '0')}` };
  }
  for (let p = 0; p < fleetPolicies; p++) {
    policies[`FleetPolicy${String(p).padStart(3, '0')}`] = {
      Connect: { operations: ['mqtt:connect'], resources: [`mqtt:clientId:${THING}`] },
      Publish: { operations: ['mqtt:publish'], resources: [`mqtt:topic:fleet/${p}/${THING}/*`] },
      Subscribe: { operations: ['mqtt:subscribe'], resources: [`mqtt:topicfilter:fleet/${p}/${THING}/#`] },
    };
  }
  if (opts.iot === true) return gatehouseIotConfig(opts.maxSessions, opts.format);
  definitions['Devices'] = { selectionRule: 'thingName: dev-*', policyName: 'DevicePolicy' };
  definitions['Collector'] = { selectionRule: `thingName: ${COLLECTOR}`, policyName: 'CollectorPolicy' };
  policies['DevicePolicy'] = {
    Connect: { operations: ['mqtt:connect'], resources: [`mqtt:clientId:${THING}`] },
    PublishOwn: { operations: ['mqtt:publish'], resources: [`mqtt:topic:devices/${THING}/*`] },
    ...(opts.revoked ? {} : { SubscribeOwn: { operations: ['mqtt:subscribe'], resources: [`mqtt:topicfilter:devices/${THING}/*`] } }),
  };
  policies['CollectorPolicy'] = {
    Connect: { operations: ['mqtt:connect'], resources: [`mqtt:clientId:${THING}`] },
    ReadTelemetry: { operations: ['mqtt:subscribe'], resources: ['mqtt:topicfilter:devices/+/telemetry'] },
    SendCommands: { operations: ['mqtt:publish'], resources: ['mqtt:topic:devices/*/cmd'] },
    // Its own command topic, untouched by the policy change: the liveness check of the probe.
    WatchOwnCommands: { operations: ['mqtt:subscribe'], resources: [`mqtt:topicfilter:devices/${THING}/cmd`] },
  };
  const config = {
    deviceGroups: { formatVersion: '2021-03-05', definitions, policies },
    performance: { maxActiveAuthTokens: opts.maxSessions },
    gatehouse: {
      hostAddresses: SERVER_HOSTS,
      detectInterfaceAddresses: false,
      watchConfig: true,
      mqtt: { host: '127.0.0.1', port: 0 },
      api: { enabled: false },
      // Off: its fixed port would keep a second gateway of the same run from starting.
      management: { enabled: false },
      logging: { level: 'info' },
    },
  };
  if (opts.format === 'json') return `${JSON.stringify(config, null, 2)}\n`;
  return `# Generated by bench/broker (gatehouse broker benchmark).\n${stringify(config, { lineWidth: 0 })}`;
}

// ---------------------------------------------------------------------------------
// The same policy as AWS IoT Core policy documents

/** Region and account of the IoT variant's resource ARNs (`gatehouse.iot` in its configuration). */
export const IOT_REGION = 'eu-west-1';
export const IOT_ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:${IOT_REGION}:${IOT_ACCOUNT}`;
/** Thing groups of the IoT variant: every `dev-*` device, and the collector. */
export const IOT_DEVICE_GROUP = 'BenchDevices';
export const IOT_COLLECTOR_GROUP = 'BenchCollectors';

/**
 * DevicePolicy and CollectorPolicy of gatehouseConfig as AWS IoT Core policy documents:
 * Connect on the thing's own client id, Publish and Receive on topics, Subscribe on
 * topic filters (in an IoT policy `+` and `#` in a topicfilter resource are literal
 * characters, so `devices/+/telemetry` grants exactly that filter). The Greengrass
 * dialect lets a granted subscription receive; IoT needs `iot:Receive`, so both
 * policies grant it on what they may subscribe to. `revoked: true`: devices lose
 * Subscribe (and Receive) on their own topics, as in the Greengrass policy change.
 */
export function iotPolicyDocuments(revoked: boolean): { readonly DevicePolicy: string; readonly CollectorPolicy: string } {
  const device = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${THING}` },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/devices/${THING}/*` },
      ...(revoked ? [] : [
        { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/devices/${THING}/*` },
        { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/devices/${THING}/*` },
      ]),
    ],
  };
  const collector = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${THING}` },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${ARN}:topicfilter/devices/+/telemetry`, `${ARN}:topicfilter/devices/${THING}/cmd`] },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: [`${ARN}:topic/devices/*/telemetry`, `${ARN}:topic/devices/${THING}/cmd`] },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/devices/*/cmd` },
    ],
  };
  return { DevicePolicy: JSON.stringify(device, null, 2), CollectorPolicy: JSON.stringify(collector, null, 2) };
}

/**
 * The IoT variant's configuration: no device group at all (every decision goes through
 * the IoT dialect), `gatehouse.iot` matching the ARNs of the documents.
 */
function gatehouseIotConfig(maxSessions: number, format: 'yaml' | 'json' | undefined): string {
  const config = {
    deviceGroups: { formatVersion: '2021-03-05', definitions: {}, policies: {} },
    performance: { maxActiveAuthTokens: maxSessions },
    gatehouse: {
      hostAddresses: SERVER_HOSTS,
      detectInterfaceAddresses: false,
      watchConfig: true,
      mqtt: { host: '127.0.0.1', port: 0 },
      api: { enabled: false },
      // Off: its fixed port would keep a second gateway of the same run from starting.
      management: { enabled: false },
      logging: { level: 'info' },
      iot: { region: IOT_REGION, accountId: IOT_ACCOUNT },
    },
  };
  if (format === 'json') return `${JSON.stringify(config, null, 2)}\n`;
  return `# Generated by bench/broker (gatehouse broker benchmark, AWS IoT policies).\n${stringify(config, { lineWidth: 0 })}`;
}

// ---------------------------------------------------------------------------------
// Mosquitto configuration

export function mosquittoConfig(opts: { port: number; pki: Pki; aclFile: string }): string {
  return [
    '# Generated by bench/broker (gatehouse broker benchmark). Test-only settings.',
    // Run as the invoking user: as root Mosquitto would drop to `mosquitto` and could
    // not read the 0600 root-owned key (Mosquitto 2 drops privileges when started as root).
    'user root',
    'per_listener_settings false',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'connection_messages false',
    `listener ${opts.port} 127.0.0.1`,
    `cafile ${opts.pki.caFile}`,
    `certfile ${opts.pki.serverCertFile}`,
    `keyfile ${opts.pki.serverKeyFile}`,
    'require_certificate true',
    'use_identity_as_username true',
    `acl_file ${opts.aclFile}`,
    '',
  ].join('\n');
}

/** Each device reads and writes its own tree (`%u` = certificate CN = thing name); after the change, writes only. */
export function mosquittoAcl(revoked: boolean): string {
  return [
    '# Generated by bench/broker (gatehouse broker benchmark).',
    revoked ? 'pattern write devices/%u/#' : 'pattern readwrite devices/%u/#',
    '',
    `user ${COLLECTOR}`,
    'topic read devices/+/telemetry',
    'topic write devices/+/cmd',
    `topic read devices/${COLLECTOR}/cmd`,
    '',
  ].join('\n');
}
