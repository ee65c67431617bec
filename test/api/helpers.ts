/** Shared pieces of the API end-to-end tests. */
import { X509Certificate } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { DEFAULT_IOT_DEPLOYMENT } from '../../src/core/policy/iot/context.js';
import type { GatewayProcess } from '../helpers/gateway.js';
import { ApiClient, type ApiError, type ApiResponse, type AuthorizeBody, type TokenBody } from './client.js';
import { call as signedCall, type Credentials as MgmtCredentials, type Fixture } from './mgmt/helpers.js';

/** Device groups used by the API tests (a superset of the broker e2e configuration). */
export const POLICIES = `
deviceGroups:
  definitions:
    Sensors: { selectionRule: "thingName: sensor-*", policyName: SensorPolicy }
    Readers: { selectionRule: "thingName: reader-*", policyName: ReaderPolicy }
    Mute: { selectionRule: "thingName: mute-*", policyName: MutePolicy }
    Rooms: { selectionRule: "thingName: room-*", policyName: RoomPolicy }
  policies:
    SensorPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:sensors/\${iot:Connection.Thing.ThingName}/*"] }
      Subscribe: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:commands/\${iot:Connection.Thing.ThingName}"] }
      NoSecrets: { effect: DENY, operations: [mqtt:publish], resources: ["mqtt:topic:sensors/*/secret"] }
    ReaderPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Read: { operations: [mqtt:subscribe], resources: ["mqtt:topicfilter:sensors/#"] }
    MutePolicy:
      Publish: { operations: [mqtt:publish], resources: ["*"] }
    RoomPolicy:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish], resources: ["mqtt:topic:rooms/\${iot:Connection.Thing.Attributes[room]}/*"] }
`;

export function gatehouseSection(extra = ''): string {
  return `
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
${extra}`;
}

export async function apiClient(gw: GatewayProcess): Promise<ApiClient> {
  if (gw.apiUrl === undefined) throw new Error('the gateway has no API');
  return new ApiClient(gw.apiUrl, await gw.apiToken());
}

/** Body of verify-client-device-identity. */
export function verifyBody(pem: string | Buffer): unknown {
  return { credential: { clientDeviceCertificate: pem.toString() } };
}

/** Body of get-client-device-auth-token. */
export function tokenBody(clientId: string, pem: string | Buffer, extra: Record<string, string> = {}): unknown {
  return { credential: { mqttCredential: { clientId, certificatePem: pem.toString(), ...extra } } };
}

export async function newToken(api: ApiClient, clientId: string, pem: string | Buffer): Promise<string> {
  const r = await api.post<TokenBody>('/v1/get-client-device-auth-token', tokenBody(clientId, pem));
  if (r.status !== 200) throw new Error(`token for ${clientId}: ${r.status} ${r.text}`);
  return r.json.clientDeviceAuthToken;
}

export async function authorize(api: ApiClient, token: string, operation: string, resource: string): Promise<{ status: number; isAuthorized?: boolean; reason?: string; code?: string }> {
  const r = await api.post<Partial<AuthorizeBody> & { error?: ApiError } | undefined>('/v1/authorize-client-device-action', { clientDeviceAuthToken: token, operation, resource });
  return { status: r.status, isAuthorized: r.json?.isAuthorized, reason: r.json?.reason ?? r.json?.error?.reason, code: r.json?.error?.code };
}

/** Creates a thing with attributes through the CLI (createThing has none). */
export async function createThingWithAttributes(gw: GatewayProcess, name: string, attributes: Record<string, string>): Promise<{ cert: Buffer; key: Buffer; ca: Buffer }> {
  const out = join(gw.dir, 'devices');
  const r = await gw.cli(['things', 'create', name, '--out', out, ...Object.entries(attributes).flatMap(([k, v]) => ['--attribute', `${k}=${v}`])]);
  if (r.code !== 0) throw new Error(`things create ${name}: ${r.stderr}`);
  return { cert: await readFile(join(out, `${name}.cert.pem`)), key: await readFile(join(out, `${name}.key.pem`)), ca: await readFile(join(out, 'ca.pem')) };
}

/** Parses Prometheus text into `name{labels}` -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

export async function scrape(api: ApiClient): Promise<Map<string, number>> {
  const r = await api.get('/metrics');
  if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
  return parseMetrics(r.text);
}

export function der(pem: string | Buffer): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

/** A client of the management listener of a running gateway, signing as its first-start administrator. */
export interface ManagementCaller {
  readonly url: string;
  call<T = unknown>(method: string, path: string, body?: unknown, credentials?: MgmtCredentials): Promise<ApiResponse<T>>;
  /** The administrator's access key. */
  readonly admin: MgmtCredentials;
}

export async function managementCaller(gw: GatewayProcess, region = DEFAULT_IOT_DEPLOYMENT.region): Promise<ManagementCaller> {
  const url = await gw.managementUrl();
  const admin = await gw.adminCredentials();
  const ca = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
  const agent = new HttpsAgent({ ca, keepAlive: false });
  const target = { port: Number(new URL(url).port), agent, clockOffsetMs: 0 } as unknown as Fixture;
  return {
    url,
    admin,
    async call<T>(method: string, path: string, body?: unknown, credentials: MgmtCredentials = admin): Promise<ApiResponse<T>> {
      const r = await signedCall(target, { method, path, credentials, region, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      let json: unknown;
      try {
        json = JSON.parse(r.body);
      } catch {
        json = undefined;
      }
      return { status: r.status, headers: r.headers, text: r.body, json: json as T };
    },
  };
}
