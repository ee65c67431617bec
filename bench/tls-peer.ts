/**
 * TLS peer-certificate benchmark: `npm run bench:tls-peer [-- --connections N]`.
 *
 * Does reading a client's certificate on a Node.js mutual-TLS server keep native memory
 * per connection? A plain `tls` server (no Gatehouse code) in a child process accepts N
 * connections (default 10,000, 20 at a time, 50 client certificates in turn) and reads
 * each peer certificate one way:
 *
 *   none         does not read it
 *   x509         socket.getPeerX509Certificate()
 *   legacy       socket.getPeerCertificate()
 *   detailed     socket.getPeerCertificate(true)
 *   chain        socket.getPeerCertificate(true), then new X509Certificate(raw) per
 *                certificate of the chain (what the broker did for a while; it now reads the chain as `detailed` does and decodes nothing)
 *
 * After every 2,000 connections the server runs two full garbage collections and
 * reports its RSS and the resident size of the brk heap (`[heap]` in /proc/self/smaps:
 * glibc's main arena, where OpenSSL's allocations land). Printed: those figures, and the
 * growth of the brk heap per 1,000 connections from the first report to the last.
 */
import { fork } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls, { type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { makeCert } from '../test/helpers/pki.js';

type Mode = 'none' | 'x509' | 'legacy' | 'detailed' | 'chain';
const MODES: readonly Mode[] = ['none', 'x509', 'legacy', 'detailed', 'chain'];

interface Report { readonly rssKiB: number; readonly brkKiB: number }

function brkKiB(): number {
  let inHeap = false;
  let kib = 0;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      inHeap = m[1]!.trim() === '[heap]';
      continue;
    }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (r && inHeap) kib += Number(r[1]);
  }
  return kib;
}

function read(s: TLSSocket, mode: Mode): void {
  if (mode === 'x509') s.getPeerX509Certificate();
  else if (mode === 'legacy') s.getPeerCertificate();
  else if (mode === 'detailed') s.getPeerCertificate(true);
  else if (mode === 'chain') {
    let c: tls.DetailedPeerCertificate | undefined = s.getPeerCertificate(true);
    const seen = new Set<string>();
    while (c?.raw !== undefined && !seen.has(c.fingerprint256)) {
      seen.add(c.fingerprint256);
      new X509Certificate(c.raw);
      c = c.issuerCertificate;
    }
  }
}

function server(o: { key: string; cert: string; ca: string; mode: Mode }): void {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const srv = tls.createServer({ key: o.key, cert: o.cert, ca: [o.ca], requestCert: true, rejectUnauthorized: false }, (s) => {
    read(s, o.mode);
    s.on('error', () => undefined);
    s.end();
  });
  srv.listen(0, '127.0.0.1', () => process.send!({ port: (srv.address() as { port: number }).port }));
  process.on('message', () => {
    gc();
    gc();
    process.send!({ rssKiB: Math.round(process.memoryUsage().rss / 1024), brkKiB: brkKiB() } satisfies Report);
  });
}

async function measure(mode: Mode, total: number, pems: { key: string; cert: string; ca: string; devices: { key: string; cert: string }[] }): Promise<Report[]> {
  const child = fork(fileURLToPath(import.meta.url), ['--server', JSON.stringify({ key: pems.key, cert: pems.cert, ca: pems.ca, mode })], { execArgv: ['--expose-gc'] });
  try {
    const next = <T>(): Promise<T> => new Promise((resolve) => child.once('message', (m) => resolve(m as T)));
    const { port } = await next<{ port: number }>();
    const report = async (): Promise<Report> => {
      const r = next<Report>();
      child.send('report');
      return r;
    };
    const one = (i: number): Promise<void> => new Promise((resolve) => {
      const d = pems.devices[i % pems.devices.length]!;
      const s = tls.connect({ host: '127.0.0.1', port, key: d.key, cert: d.cert, ca: [pems.ca], rejectUnauthorized: false });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    const reports = [await report()];
    for (let done = 0; done < total;) {
      const batch = Math.min(20, total - done);
      await Promise.all(Array.from({ length: batch }, (_, k) => one(done + k)));
      done += batch;
      if (done % 2000 === 0 || done === total) reports.push(await report());
    }
    return reports;
  } finally {
    child.kill();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--server') return server(JSON.parse(args[1]!) as { key: string; cert: string; ca: string; mode: Mode });
  const i = args.indexOf('--connections');
  const total = i >= 0 ? Number(args[i + 1]) : 10_000;
  if (!Number.isInteger(total) || total < 2000) throw new Error('--connections takes a whole number of at least 2000');
  const now = Date.now();
  const valid = { notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 30 * 86_400_000) };
  const ca = await makeCert({ name: 'CN=bench CA', ca: true, ...valid });
  const srv = await makeCert({ name: 'CN=127.0.0.1', issuer: ca, ca: null, sans: [{ type: 'ip', value: '127.0.0.1' }], ...valid });
  const devices = [];
  for (let d = 0; d < 50; d++) {
    const c = await makeCert({ name: `CN=device-${d}`, issuer: ca, ca: null, extendedKeyUsage: ['1.3.6.1.5.5.7.3.2'], ...valid });
    devices.push({ key: c.keyPem, cert: c.pem });
  }
  const pems = { key: srv.keyPem, cert: srv.pem, ca: ca.pem, devices };
  process.stdout.write(`Node.js ${process.version}, OpenSSL ${process.versions.openssl}; ${total.toLocaleString('en-US')} mutual-TLS connections per mode (EC P-256 client certificates)\n\n`);
  process.stdout.write('| how the server reads the client certificate | RSS after, MiB | brk heap first → last, MiB | brk heap growth per 1,000 connections, KiB |\n|---|---:|---:|---:|\n');
  for (const mode of MODES) {
    const r = await measure(mode, total, pems);
    // From the first report after connections (the first 2,000 warm the allocator up) to the last.
    const a = r[1]!;
    const b = r.at(-1)!;
    const per = ((b.brkKiB - a.brkKiB) / (total - 2000)) * 1000;
    process.stdout.write(`| ${mode} | ${(b.rssKiB / 1024).toFixed(1)} | ${(a.brkKiB / 1024).toFixed(1)} → ${(b.brkKiB / 1024).toFixed(1)} | ${per.toFixed(0)} |\n`);
  }
}

await main();
