/**
 * Bare aedes 1.2.0 for the broker benchmark: the same TLS listener as Gatehouse
 * (src/broker/server.ts: key, certificate chain, trusted CAs, TLS >= 1.2, client
 * certificate required and verified at the handshake) and no hooks at all, so every
 * client may connect, publish and subscribe to anything.
 *
 * Usage: node aedes-server.js KEY_FILE CERT_FILE CA_FILE [fifo]
 * With `fifo`, aedes gets Gatehouse's router (src/broker/mq.ts: mqemitter with an O(1)
 * backlog queue) instead of its default mqemitter; nothing else changes.
 * Prints `listening mqtts://127.0.0.1:PORT` once ready; stops on SIGTERM/SIGINT or
 * when stdin closes (the benchmark that started it has gone).
 */
import { Aedes } from 'aedes';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { createFifoMq } from '../../src/broker/mq.js';

const [keyFile, certFile, caFile, variant] = process.argv.slice(2);
if (!keyFile || !certFile || !caFile || (variant !== undefined && variant !== 'fifo')) {
  process.stderr.write('usage: aedes-server.js KEY_FILE CERT_FILE CA_FILE [fifo]\n');
  process.exit(2);
}

const broker = await Aedes.createBroker(variant === 'fifo' ? { mq: createFifoMq() } : {});
const server = createServer({
  key: readFileSync(keyFile),
  cert: readFileSync(certFile),
  ca: [readFileSync(caFile)],
  minVersion: 'TLSv1.2',
  requestCert: true,
  rejectUnauthorized: true,
}, (socket) => broker.handle(socket));
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', () => resolve());
});
const { port } = server.address() as AddressInfo;
process.stdout.write(`listening mqtts://127.0.0.1:${port}\n`);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
