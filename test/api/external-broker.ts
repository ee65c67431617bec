/**
 * A minimal external MQTT broker (aedes) that knows nothing about Gatehouse except its
 * local API, as Moquette or another broker would use the component's IPC operations:
 *
 * - TLS: its server certificate and key come from the certificate-update stream, and
 *   it swaps them in whenever the stream sends a new one;
 * - CONNECT: verify-client-device-identity, then get-client-device-auth-token, then
 *   authorize mqtt:connect; any refusal answers CONNACK 5;
 * - PUBLISH / SUBSCRIBE: authorize with the session token; a denied publish is
 *   dropped (the client stays connected), a denied filter gets SUBACK 0x80;
 * - disconnect: DELETE /v1/sessions/{token}.
 */
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { ApiClient, AuthorizeBody, TokenBody, VerifyBody } from './client.js';
import { SseStream } from './client.js';

export interface CertificateUpdate {
  readonly certificate: string;
  readonly privateKey: string;
  readonly publicKey: string;
  readonly caCertificates: string[];
}

const NOT_AUTHORIZED = 5;

export class ExternalBroker {
  /** Every certificate the stream delivered, in order. */
  readonly certificates: CertificateUpdate[] = [];
  /** API calls made, as `METHOD path`, to show the hooks use only the API. */
  readonly calls: string[] = [];
  private readonly tokens = new Map<Client, string>();
  private aedes!: Aedes;
  private server!: Server;
  private stream!: SseStream;
  url = '';

  private constructor(private readonly api: ApiClient) {}

  static async start(api: ApiClient): Promise<ExternalBroker> {
    const b = new ExternalBroker(api);
    b.stream = await SseStream.open(api, '/v1/certificate-updates?certificateType=SERVER');
    if (b.stream.status !== 200) throw new Error(`certificate-updates: ${b.stream.status} ${await b.stream.body()}`);
    const first = JSON.parse((await b.stream.next()).data) as CertificateUpdate;
    b.certificates.push(first);
    b.aedes = await Aedes.createBroker({
      authenticate: (client, _u, _p, done) => b.authenticate(client, done),
      authorizePublish: (client, packet, callback) => {
        if (client === null) return callback(null);
        b.allowed(client, 'mqtt:publish', `mqtt:topic:${packet.topic}`).then((ok) => {
          if (!ok) {
            packet.topic = '$external/dropped';
            packet.retain = false;
          }
          callback(null);
        }, (e: Error) => callback(e));
      },
      authorizeSubscribe: (client, sub, callback) => {
        b.allowed(client, 'mqtt:subscribe', `mqtt:topicfilter:${sub.topic}`).then((ok) => callback(null, ok ? sub : null), (e: Error) => callback(e));
      },
    });
    b.aedes.on('clientDisconnect', (client) => {
      const token = b.tokens.get(client);
      if (token === undefined) return;
      b.tokens.delete(client);
      void b.call('DELETE', `/v1/sessions/${token}`);
    });
    b.server = createServer({ ...tls(first), requestCert: true, rejectUnauthorized: true }, (socket) => b.aedes.handle(socket));
    await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
    b.url = `mqtts://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
    b.stream.onEvent((e) => {
      if (e.event !== 'certificateUpdate') return;
      const update = JSON.parse(e.data) as CertificateUpdate;
      b.certificates.push(update);
      b.server.setSecureContext(tls(update));
    });
    return b;
  }

  async close(): Promise<void> {
    this.stream.close();
    this.server.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    this.calls.push(`${method} ${path.replace(/\/v1\/sessions\/.+$/, '/v1/sessions/{token}')}`);
    const r = await this.api.call<T>(method, path, body);
    return { status: r.status, json: r.json };
  }

  private authenticate(client: Client, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    const refuse = (): void => {
      const err = new Error('not authorized') as AuthenticateError;
      err.returnCode = NOT_AUTHORIZED;
      done(err, false);
    };
    const chain = peerChain(client.conn as unknown as TLSSocket);
    if (chain === undefined) return refuse();
    (async () => {
      const v = await this.call<VerifyBody>('POST', '/v1/verify-client-device-identity', { credential: { clientDeviceCertificate: chain } });
      if (v.status !== 200 || v.json.isValidClientDevice !== true) return false;
      const t = await this.call<TokenBody>('POST', '/v1/get-client-device-auth-token', { credential: { mqttCredential: { clientId: client.id, certificatePem: chain } } });
      if (t.status !== 200) return false;
      const token = t.json.clientDeviceAuthToken;
      const a = await this.call<AuthorizeBody>('POST', '/v1/authorize-client-device-action', { clientDeviceAuthToken: token, operation: 'mqtt:connect', resource: `mqtt:clientId:${client.id}` });
      if (a.status !== 200 || a.json.isAuthorized !== true) {
        await this.call('DELETE', `/v1/sessions/${token}`);
        return false;
      }
      this.tokens.set(client, token);
      return true;
    })().then((ok) => (ok ? done(null, true) : refuse()), refuse);
  }

  private async allowed(client: Client, operation: string, resource: string): Promise<boolean> {
    const token = this.tokens.get(client);
    if (token === undefined) return false;
    const r = await this.call<AuthorizeBody>('POST', '/v1/authorize-client-device-action', { clientDeviceAuthToken: token, operation, resource });
    return r.status === 200 && r.json.isAuthorized === true;
  }
}

function tls(c: CertificateUpdate): { key: string; cert: string; ca: string[] } {
  return { key: c.privateKey, cert: c.certificate + c.caCertificates.join(''), ca: c.caCertificates };
}

/** The client's certificate chain as PEM, leaf first. */
function peerChain(socket: TLSSocket): string | undefined {
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  let cert = socket.getPeerCertificate(true);
  if (!cert?.raw) return undefined;
  const out: string[] = [];
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(new X509Certificate(cert.raw).toString());
    cert = cert.issuerCertificate;
  }
  return out.join('');
}
