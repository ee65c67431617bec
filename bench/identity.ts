/**
 * Identity benchmark: `npm run bench:identity`.
 *
 *   verify      client certificate verifications per second, warm registry; "warm" with
 *               the verifier's caches (a device reconnecting with the same certificate),
 *               "cold" with a new verifier per call (parse + signature check every time)
 *   session     sessions created per second (verification + thing + attachment checks),
 *               at maxActiveAuthTokens 2500 so evictions are part of the cost
 *   get         session lookups per second (what every authorization does)
 *   server-cert server certificate issuance time through GatewayCa (new EC key + sign)
 *   lookup      registry getThing per second with 100,000 things (random names)
 *
 * Runs against a real registry file in a temporary data directory (WAL, synchronous=
 * NORMAL), so disk and machine load matter; compare runs on the same machine only.
 * Options: --things N (default 100000), --json (one JSON object on stdout).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GatewayCa } from '../src/ca/authority.js';
import { openIdentity } from '../src/identity/bootstrap.js';
import type { SqliteRegistry } from '../src/identity/sqlite-registry.js';
import { SessionManager } from '../src/identity/sessions.js';
import { CertificateVerifier } from '../src/identity/verify.js';

interface Figure {
  readonly name: string;
  readonly ops: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50us: number;
  readonly p99us: number;
}

const args = process.argv.slice(2);
const THINGS = Number(args[args.indexOf('--things') + 1] ?? NaN) || 100_000;
const JSON_OUT = args.includes('--json');
const DEVICES = 200;

async function measure(name: string, ops: number, fn: (i: number) => unknown): Promise<Figure> {
  const samples = new Float64Array(ops);
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) {
    const s = performance.now();
    const r = fn(i);
    if (r instanceof Promise) await r;
    samples[i] = performance.now() - s;
  }
  const seconds = (performance.now() - t0) / 1000;
  samples.sort();
  const pct = (p: number): number => Math.round((samples[Math.min(ops - 1, Math.floor(ops * p))] ?? 0) * 1000);
  return { name, ops, seconds, perSecond: Math.round(ops / seconds), p50us: pct(0.5), p99us: pct(0.99) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-identity-'));
  const figures: Figure[] = [];
  let registry: SqliteRegistry | undefined;
  try {
    const now = new Date();
    const opened = await openIdentity(join(dir, 'data'), { certificateAuthority: { caType: 'ECDSA_P256' } });
    registry = opened.registry;
    const ca: GatewayCa = opened.ca;

    // Devices: issued by the gateway CA, registered ACTIVE and attached, like `things create`.
    const devices: { name: string; pem: string; id: string }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const name = `device-${i}`;
      const issued = await ca.issueDeviceCertificate({ thingName: name });
      await registry.enroll({ thingName: name, attributes: { n: String(i) }, certificatePem: issued.certificatePem, thing: 'new', issuerId: ca.id });
      devices.push({ name, pem: issued.certificatePem, id: issued.id });
    }

    // Fill the registry to THINGS things.
    const fillStart = performance.now();
    for (let i = DEVICES; i < THINGS; i++) await registry.createThing(`thing-${String(i).padStart(6, '0')}`, { n: String(i) });
    const fillSeconds = (performance.now() - fillStart) / 1000;
    figures.push({ name: `createThing (filling to ${THINGS})`, ops: THINGS - DEVICES, seconds: fillSeconds, perSecond: Math.round((THINGS - DEVICES) / fillSeconds), p50us: 0, p99us: 0 });

    const verifier = new CertificateVerifier(registry);
    for (const d of devices) await verifier.verify(d.pem, now); // warm the CA cache
    figures.push(await measure('verify (warm: device seen before)', 20_000, (i) => verifier.verify(devices[i % DEVICES]!.pem, now)));
    // First sight: nothing cached, the leaf and the CA are parsed and the signature checked.
    figures.push(await measure('verify (cold: new verifier per call)', 2_000, (i) => new CertificateVerifier(registry!).verify(devices[i % DEVICES]!.pem, now)));

    const manager = new SessionManager({ registry, maxActiveAuthTokens: 2500, verifier, expirySweepMs: 0 });
    const tokens: string[] = [];
    figures.push(await measure('createSession', 10_000, async (i) => {
      const d = devices[i % DEVICES]!;
      const r = await manager.createSession({ clientId: d.name, certificatePem: d.pem, now });
      if (!r.ok) throw new Error(`${r.reason}: ${r.message}`);
      if (tokens.length < DEVICES) tokens.push(r.token);
    }));
    // Reconnects replace sessions, so at most DEVICES are live; look up the live ones.
    const live = manager.list().length;
    const liveTokens: string[] = [];
    for (const d of devices) {
      const r = await manager.createSession({ clientId: d.name, certificatePem: d.pem, now });
      if (r.ok) liveTokens.push(r.token);
    }
    figures.push(await measure(`session get (${live} live)`, 200_000, (i) => manager.get(liveTokens[i % liveTokens.length]!)));
    manager.stop();

    const names = Array.from({ length: 100_000 }, () => `thing-${String(DEVICES + Math.floor(Math.random() * (THINGS - DEVICES))).padStart(6, '0')}`);
    figures.push(await measure(`registry getThing (${THINGS} things)`, 100_000, (i) => registry!.getThing(names[i]!)));
    figures.push(await measure(`registry getCertificate + thingsForCertificate`, 100_000, async (i) => {
      const d = devices[i % DEVICES]!;
      await registry!.getCertificate(d.id);
      return registry!.thingsForCertificate(d.id);
    }));

    figures.push(await measure('server certificate issuance (EC P-256, 3 SANs)', 50, () => ca.issueServerCertificate({ hosts: ['gateway.local', '192.168.1.10', '::1'], validitySeconds: 604_800 })));
  } finally {
    await registry?.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const meta = { node: process.version, load: loadavg().map((l) => Math.round(l * 100) / 100), things: THINGS };
  if (JSON_OUT) {
    process.stdout.write(JSON.stringify({ ...meta, figures }) + '\n');
    return;
  }
  process.stdout.write(`gatehouse identity benchmark (node ${meta.node}, load ${meta.load.join(' ')})\n`);
  const w = Math.max(...figures.map((f) => f.name.length));
  for (const f of figures) {
    const lat = f.p50us || f.p99us ? `   p50 ${fmtUs(f.p50us)}   p99 ${fmtUs(f.p99us)}` : '';
    process.stdout.write(`  ${f.name.padEnd(w)}  ${String(f.perSecond).padStart(9)} /s  (${f.ops} in ${f.seconds.toFixed(2)} s)${lat}\n`);
  }
}

function fmtUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us} µs`;
}

await main();
