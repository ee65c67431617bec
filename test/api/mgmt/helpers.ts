/**
 * A management API served in-process over real HTTPS (a test server certificate), on a
 * real SQLite registry and control store, with a clock the test can move; and clients:
 * the AWS SDK (trusting the test CA) and raw requests signed by the SDK's signer.
 */
import { request as httpsRequest, Agent } from 'node:https';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { AuditWriter, type AuditWriterOptions } from '../../../src/api/mgmt/audit.js';
import { compileWithIamDialect, IamPolicyCache } from '../../../src/api/mgmt/iam-engine.js';
import { MANAGEMENT_ROUTE_SETS } from '../../../src/api/mgmt/route-sets.js';
import type { ManagementRouteSet } from '../../../src/api/mgmt/routes.js';
import { ManagementServer } from '../../../src/api/mgmt/server.js';
import { validateDeviceGroups } from '../../../src/core/config/validate.js';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import { DEFAULT_IOT_DEPLOYMENT, type IotDeployment } from '../../../src/core/policy/iot/context.js';
import type { AuditRecord, LocalControlStore, PolicyHolder } from '../../../src/identity/control.js';
import type { PgRegistry } from '../../../src/identity/pg-registry.js';
import { SqliteRegistry } from '../../../src/identity/sqlite-registry.js';
import { CertificateVerifier } from '../../../src/identity/verify.js';
import { createLogger } from '../../../src/observability/logger.js';
import { IotPolicyLoader } from '../../../src/runtime/iot-policies.js';
import { PolicyStore } from '../../../src/runtime/policy-store.js';
import { EKU, makeCa, makeCert, type TestCert, x509 } from '../../helpers/pki.js';
import type { RegistryBackend } from '../../helpers/registry-backends.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

export const DEPLOYMENT = DEFAULT_IOT_DEPLOYMENT;
export const REGION = DEPLOYMENT.region;
export const ACCOUNT = DEPLOYMENT.accountId;
export const API_TOKEN = 'test-api-token-'.padEnd(43, 'x');

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface Fixture {
  readonly url: string;
  readonly port: number;
  readonly server: ManagementServer;
  readonly registry: SqliteRegistry | PgRegistry;
  readonly control: LocalControlStore;
  readonly policy: PolicyStore;
  /** The CA devices' certificates chain to (trusted by the registry). */
  readonly deviceCa: TestCert;
  /** HTTPS agent trusting the server certificate. */
  readonly agent: Agent;
  /** Milliseconds added to the real time: the server's clock. */
  clockOffsetMs: number;
  /** Writes the queued audit records, then returns them newest first. */
  audit(): Promise<AuditRecord[]>;
  /** Reloads the IoT policies of the registry into the policy store (after attaching one). */
  reloadIot(): Promise<void>;
  /** A user with these policy documents attached and an access key. */
  user(name: string, documents: readonly unknown[], tags?: Record<string, string>): Promise<Credentials>;
}

let policyCounter = 0;

export async function attachDocuments(control: LocalControlStore, holder: PolicyHolder, documents: readonly unknown[]): Promise<void> {
  for (const d of documents) {
    const name = `p${++policyCounter}-${holder.name}`;
    await control.createIamPolicy(name, typeof d === 'string' ? d : JSON.stringify(d));
    await control.attachIamPolicy(name, holder);
  }
}

export async function startManagement(t: TestContext, options: {
  readonly routeSets?: readonly ManagementRouteSet[]; readonly deployment?: IotDeployment; readonly audit?: AuditWriterOptions; readonly busyTimeoutMs?: number;
  /** The registry and control store's backend (default: SQLite in the temporary directory). */
  readonly backend?: RegistryBackend;
} = {}): Promise<Fixture> {
  const deployment = options.deployment ?? DEPLOYMENT;
  const dir = await makeTempDir(t);
  const registry = options.backend !== undefined
    ? await options.backend.open() as SqliteRegistry | PgRegistry
    : SqliteRegistry.open({ file: join(dir, 'registry.db'), ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}) });
  const control = registry.control({ deployment, keyFile: join(dir, 'control.key') });
  const groups = validateDeviceGroups({ formatVersion: '2021-03-05', definitions: {}, policies: {} });
  if (!groups.ok) throw new Error('empty device groups must validate');
  const policy = new PolicyStore(compileDeviceGroups(groups.deviceGroups));
  const logger = createLogger('silent');
  const serverCa = await makeCa({ name: 'CN=Test server CA' });
  const serverCert = await makeCert({
    name: 'CN=127.0.0.1', issuer: serverCa, ca: null, keyUsage: x509.KeyUsageFlags.digitalSignature,
    extendedKeyUsage: [EKU.serverAuth], sans: [{ type: 'ip', value: '127.0.0.1' }],
  });
  const deviceCa = await makeCa({ name: 'CN=Test device CA' });
  await registry.trustCa(deviceCa.pem);
  const fixture = { clockOffsetMs: 0 };
  const clock = (): Date => new Date(Date.now() + fixture.clockOffsetMs);
  const server = await ManagementServer.start({
    ctx: {
      control,
      registry,
      iot: deployment,
      logger,
      clock,
      verifier: new CertificateVerifier(registry),
      policy,
      iamPolicies: new IamPolicyCache(compileWithIamDialect),
    },
    routeSets: options.routeSets ?? MANAGEMENT_ROUTE_SETS,
    tls: { key: serverCert.keyPem, cert: serverCert.pem, ca: [deviceCa.pem] },
    listen: { host: '127.0.0.1', port: 0 },
    bodyLimitBytes: 65536,
    maxClockSkewSeconds: 900,
    auditRetentionDays: 90,
    apiToken: API_TOKEN,
    ...(options.audit !== undefined ? { audit: new AuditWriter(control, logger, options.audit) } : {}),
  });
  const agent = new Agent({ ca: serverCa.pem, keepAlive: false });
  t.after(async () => {
    agent.destroy();
    await server.close();
    await server.audit.close();
    await registry.close();
  });
  const loader = new IotPolicyLoader(() => registry.iotAuthorizationData(), policy, logger, deployment);
  t.after(() => loader.close());
  return Object.assign(fixture, {
    url: server.url,
    port: server.port,
    server,
    registry,
    control,
    policy,
    deviceCa,
    agent,
    async audit() {
      await server.audit.flush();
      return control.queryAudit({ limit: 1000 });
    },
    async reloadIot() {
      await loader.reload('test');
    },
    async user(name: string, documents: readonly unknown[], tags: Record<string, string> = {}) {
      await control.createUser(name, { tags });
      await attachDocuments(control, { kind: 'user', name }, documents);
      const k = await control.createAccessKey(name);
      return { accessKeyId: k.key.accessKeyId, secretAccessKey: k.secretAccessKey };
    },
  });
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export interface SignedCall {
  readonly method?: string;
  /** Path and query as sent (`/a?b=c`). */
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
  readonly credentials?: Credentials;
  readonly service?: string;
  readonly region?: string;
  readonly date?: Date;
  /** Changes the request after it was signed (tampering). */
  readonly tamper?: (r: { method: string; path: string; headers: Record<string, string>; body: string }) => void;
}

/** Sends a request signed by the SDK's signer (or unsigned without credentials). */
export async function call(f: Fixture, c: SignedCall): Promise<RawAnswer> {
  const method = c.method ?? (c.body !== undefined ? 'POST' : 'GET');
  const q = c.path.indexOf('?');
  const path = q < 0 ? c.path : c.path.slice(0, q);
  const query: Record<string, string> = {};
  if (q >= 0) for (const [k, v] of new URLSearchParams(c.path.slice(q + 1))) query[k] = v;
  let headers: Record<string, string> = { host: `127.0.0.1:${f.port}`, ...(c.contentType !== undefined ? { 'content-type': c.contentType } : c.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(c.headers ?? {}) };
  if (c.credentials !== undefined) {
    const signer = new SignatureV4({
      credentials: c.credentials,
      region: c.region ?? REGION,
      service: c.service ?? 'gatehouse',
      sha256: Hash.bind(null, 'sha256'),
    });
    const signed = await signer.sign(new HttpRequest({ method, protocol: 'https:', hostname: '127.0.0.1', port: f.port, path, query, headers, ...(c.body !== undefined ? { body: c.body } : {}) }),
      { signingDate: c.date ?? new Date(Date.now() + f.clockOffsetMs) });
    headers = { ...(signed.headers as Record<string, string>) };
  }
  const r = { method, path: c.path, headers, body: c.body ?? '' };
  c.tamper?.(r);
  // Explicit: Node sends a GET or DELETE body without a length otherwise.
  if (r.body !== '' && r.headers['content-length'] === undefined) r.headers['content-length'] = String(Buffer.byteLength(r.body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: f.port, method: r.method, path: r.path, headers: r.headers, agent: f.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** The `<Code>` of an STS XML error. */
export function xmlCode(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}

/** A device certificate signed by the fixture's device CA, valid now. */
export function deviceCert(f: Fixture, cn: string): Promise<TestCert> {
  return makeCert({ name: `CN=${cn}`, issuer: f.deviceCa, ca: null, keyUsage: x509.KeyUsageFlags.digitalSignature, extendedKeyUsage: [EKU.clientAuth] });
}
