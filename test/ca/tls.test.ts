import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { GatewayCa } from '../../src/ca/authority.js';
import { ServerCertificateManager } from '../../src/ca/server-certificate.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

interface Handshake {
  readonly authorized: boolean;
  readonly serverCert: X509Certificate | undefined;
}

async function listen(t: TestContext, options: tls.TlsOptions, host: string): Promise<{ server: tls.Server; port: number; clients: string[] }> {
  const clients: string[] = [];
  const server = tls.createServer(options, (socket) => {
    const peer = socket.getPeerX509Certificate();
    clients.push(socket.authorized ? `authorized:${peer?.subject ?? ''}` : `unauthorized:${String(socket.authorizationError)}`);
    socket.end('hello');
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { server, port: (server.address() as AddressInfo).port, clients };
}

function connect(options: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options, () => {
      // On a Node 20 client socket the first getPeerX509Certificate() call uses the peer
      // certificate up (later calls return undefined): read it once.
      const serverCert = socket.getPeerX509Certificate();
      const result = { authorized: socket.authorized, serverCert };
      socket.on('data', () => undefined);
      socket.on('end', () => resolve(result));
      socket.on('error', reject);
    });
    socket.once('error', reject);
  });
}

for (const caType of ['ECDSA_P256', 'RSA_2048'] as const) {
  test(`${caType}: a Node TLS client trusting only the CA certificate completes a handshake by IP (127.0.0.1) and by name (localhost)`, async (t) => {
    const dataDir = await makeTempDir(t);
    const ca = await GatewayCa.open({ dataDir, config: { caType } });
    const mgr = await ServerCertificateManager.start({
      ca, dataDir, hostAddresses: ['127.0.0.1', 'gw.local'], detectInterfaceAddresses: false, validitySeconds: 604800, disableRotation: false, checkIntervalMs: 0,
    });
    t.after(() => mgr.stop());
    // The single bundle file serves as both key and certificate chain.
    const bundle = await readFile(join(dataDir, 'server', 'server.pem'), 'utf8');
    const { port } = await listen(t, { key: bundle, cert: bundle }, '127.0.0.1');

    const byIp = await connect({
      host: '127.0.0.1', port, ca: ca.certificatePem,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity('127.0.0.1', cert),
    });
    assert.equal(byIp.authorized, true);
    assert.equal(byIp.serverCert?.fingerprint256, new X509Certificate(mgr.current().certificatePem).fingerprint256);

    const byName = await connect({ host: '127.0.0.1', port, ca: ca.certificatePem, servername: 'localhost' });
    assert.equal(byName.authorized, true);
    const byOtherName = await connect({ host: '127.0.0.1', port, ca: ca.certificatePem, servername: 'gw.local' });
    assert.equal(byOtherName.authorized, true);

    await assert.rejects(connect({ host: '127.0.0.1', port, ca: ca.certificatePem, servername: 'evil.example' }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_TLS_CERT_ALTNAME_INVALID');
    const stranger = await GatewayCa.open({ dataDir: await makeTempDir(t), config: { caType: 'ECDSA_P256' } });
    await assert.rejects(connect({ host: '127.0.0.1', port, ca: stranger.certificatePem }),
      (e: unknown) => /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify|self.signed/i.test(`${(e as { code?: string }).code ?? ''} ${(e as Error).message}`));
  });
}

test('handshake over IPv6 loopback (::1) verifies the IPv6 SAN', async (t) => {
  const dataDir = await makeTempDir(t);
  const ca = await GatewayCa.open({ dataDir, config: { caType: 'ECDSA_P256' } });
  const server = await ca.issueServerCertificate({ hosts: ['0:0:0:0:0:0:0:1'], validitySeconds: 3600 });
  let port: number;
  try {
    ({ port } = await listen(t, { key: server.privateKeyPem, cert: server.certificatePem }, '::1'));
  } catch (err) {
    t.skip(`no IPv6 loopback here (${(err as { code?: string }).code ?? String(err)})`);
    return;
  }
  const r = await connect({ host: '::1', port, ca: ca.certificatePem, checkServerIdentity: (_h, cert) => tls.checkServerIdentity('::1', cert) });
  assert.equal(r.authorized, true);
});

test('mutual TLS: a device certificate from the CA is accepted by a server that trusts the CA', async (t) => {
  const dataDir = await makeTempDir(t);
  const ca = await GatewayCa.open({ dataDir, config: { caType: 'ECDSA_P256' } });
  const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1'], validitySeconds: 3600 });
  const device = await ca.issueDeviceCertificate({ thingName: 'sensor-7' });
  const { port, clients } = await listen(t, {
    key: server.privateKeyPem, cert: server.certificatePem, ca: ca.certificatePem, requestCert: true, rejectUnauthorized: false,
  }, '127.0.0.1');
  const r = await connect({ host: '127.0.0.1', port, ca: ca.certificatePem, key: device.privateKeyPem, cert: device.certificatePem });
  assert.equal(r.authorized, true);
  assert.deepEqual(clients, ['authorized:CN=sensor-7']);
  // A server certificate (serverAuth only) is not accepted as a client certificate.
  await connect({ host: '127.0.0.1', port, ca: ca.certificatePem, key: server.privateKeyPem, cert: server.certificatePem }).catch(() => undefined);
  assert.match(clients[1] ?? '', /^unauthorized:/);
});

test('after a rotation, setSecureContext from a subscriber serves the new certificate to new connections', async (t) => {
  const dataDir = await makeTempDir(t);
  const ca = await GatewayCa.open({ dataDir, config: { caType: 'ECDSA_P256' } });
  const mgr = await ServerCertificateManager.start({
    ca, dataDir, hostAddresses: ['127.0.0.1'], detectInterfaceAddresses: false, validitySeconds: 604800, disableRotation: false, checkIntervalMs: 0,
  });
  t.after(() => mgr.stop());
  const cur = mgr.current();
  const { server, port } = await listen(t, { key: cur.privateKeyPem, cert: cur.certificatePem + cur.chainPem.join('') }, '127.0.0.1');
  mgr.subscribe((c) => server.setSecureContext({ key: c.privateKeyPem, cert: c.certificatePem + c.chainPem.join('') }));
  const before = await connect({ host: '127.0.0.1', port, ca: ca.certificatePem });
  await mgr.setHostAddresses(['127.0.0.1', 'rotated.local']);
  const after = await connect({ host: '127.0.0.1', port, ca: ca.certificatePem, servername: 'rotated.local' });
  assert.equal(after.authorized, true);
  assert.notEqual(after.serverCert?.fingerprint256, before.serverCert?.fingerprint256);
  assert.equal(after.serverCert?.fingerprint256, new X509Certificate(mgr.current().certificatePem).fingerprint256);
});
