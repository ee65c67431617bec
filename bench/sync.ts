/**
 * Import rate of `gatehouse sync --from-aws`: `npm run bench:sync`.
 *
 * A second Gatehouse instance plays AWS IoT Core (its management API speaks the IoT
 * control plane). Its registry is seeded directly before it starts, as a fleet would be:
 * --things N things (default 2000), each with one ACTIVE certificate of a device CA the
 * cloud trusts, one policy attached to every certificate, every tenth thing in one of ten
 * thing groups. Then, in this process, through @aws-sdk/client-iot over HTTPS with SigV4:
 *
 *  - `import`: the first sync into an empty registry (every certificate described once);
 *  - `rerun`: a second sync with nothing changed in the cloud (writes nothing);
 *  - `revoke`: a sync after one certificate was revoked in the cloud.
 *
 * Reports things per second for each (things in scope / wall time of the run), the pages
 * and the requests the SDK sent, by operation. Options: --things N, --page-size N
 * (default 100), --concurrency N (default 8), --json, and:
 *
 *  - --unknown-issuer: the cloud does not list the fleet's CA (as with certificates AWS
 *    IoT created itself, signed by Amazon's CA): the sync takes them trusted by their
 *    registration, or with --require-trusted-ca refuses them at every run;
 *  - --no-pem-cache: the runs do not share what they learnt of refused certificates'
 *    PEMs (the continuous mode shares it; a one-off CLI run has none).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { UpdateCertificateCommand, type IoTClient } from '@aws-sdk/client-iot';
import { SqliteRegistry, registryPath } from '../src/identity/sqlite-registry.js';
import type { SyncCertificate, SyncThing, SyncThingGroup } from '../src/identity/sync-apply.js';
import { iotClient, syncFromAws, type AwsSyncOptions, type SyncReport } from '../src/sync/aws.js';
import { CLOUD_ARN, CLOUD_REGION, startCloud } from '../test/helpers/aws-cloud.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const THINGS = option('--things', 2000);
const PAGE = option('--page-size', 100);
const CONCURRENCY = option('--concurrency', 8);
const JSON_OUT = args.includes('--json');
const UNKNOWN_ISSUER = args.includes('--unknown-issuer');
const REQUIRE_TRUSTED_CA = args.includes('--require-trusted-ca');
const PEM_CACHE = !args.includes('--no-pem-cache');

/** The SDK client of a run, counting the requests it sends by operation. */
function countingClient(options: AwsSyncOptions, counts: Map<string, number>): IoTClient {
  const client = iotClient(options);
  client.middlewareStack.add((next, context) => (a) => {
    const name = String(context.commandName ?? 'unknown').replace(/Command$/, '');
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return next(a);
  }, { step: 'initialize', name: 'benchRequestCounter' });
  return client;
}

const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: `${CLOUD_ARN}:client/\${iot:Connection.Thing.ThingName}` }] });

/** N device certificates of one test CA (one key pair for all: signing is the cost that matters here). */
async function fleetCertificates(n: number): Promise<{ caPem: string; certs: { id: string; pem: string }[] }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const caKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const devKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Bench Fleet CA', notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 365 * 86_400_000), keys: caKeys, signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const certs: { id: string; pem: string }[] = [];
  for (let i = 0; i < n; i++) {
    const c = await x509.X509CertificateGenerator.create({
      serialNumber: '01' + randomBytes(15).toString('hex'), subject: `CN=bench-${i}`, issuer: ca.subject, notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 365 * 86_400_000),
      publicKey: devKeys.publicKey, signingKey: caKeys.privateKey, signingAlgorithm: alg,
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    });
    certs.push({ id: createHash('sha256').update(Buffer.from(c.rawData)).digest('hex'), pem: c.toString('pem') + '\n' });
  }
  return { caPem: ca.toString('pem') + '\n', certs };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-sync-'));
  try {
    const cloudDir = join(dir, 'cloud');
    const first = await startCloud(cloudDir);
    first.iot.destroy();
    await first.gw.stop();
    const t0 = performance.now();
    const fleet = await fleetCertificates(THINGS);
    const seed = SqliteRegistry.open({ file: registryPath(first.gw.dataDir) });
    if (!UNKNOWN_ISSUER) await seed.trustCa(fleet.caPem);
    const groups: SyncThingGroup[] = Array.from({ length: 10 }, (_, i) => ({ name: `group-${i}`, parent: null, description: null, policies: [] }));
    const certificates: SyncCertificate[] = fleet.certs.map((c) => ({ id: c.id, pem: c.pem, status: 'ACTIVE', issuerId: null, policies: ['FleetPolicy'] }));
    const things: SyncThing[] = fleet.certs.map((c, i) => ({
      name: `bench-${String(i).padStart(6, '0')}`, thingTypeName: null, attributes: { serial: String(i) },
      groups: i % 10 === 0 ? [`group-${(i / 10) % 10}`] : [], certificates: [c.id],
    }));
    await seed.applySync([{ policies: [{ name: 'FleetPolicy', document: POLICY }], thingGroups: groups, certificates, things }]);
    await seed.close();
    const seedMs = performance.now() - t0;

    const cloud = await startCloud(cloudDir, first.port);
    const local = SqliteRegistry.open({ file: join(dir, 'local.db') });
    const options: AwsSyncOptions = {
      endpoint: cloud.endpoint, caBundle: cloud.caPem, region: CLOUD_REGION, credentials: cloud.credentials, pageSize: PAGE, concurrency: CONCURRENCY,
      requireTrustedCa: REQUIRE_TRUSTED_CA, ...(PEM_CACHE ? { pemCache: new Map<string, string>() } : {}),
    };
    const phases: { phase: string; report: SyncReport; requests: Map<string, number> }[] = [];
    const run = async (phase: string): Promise<void> => {
      const requests = new Map<string, number>();
      const client = countingClient(options, requests);
      try {
        phases.push({ phase, report: await syncFromAws(local, options, client), requests });
      } finally {
        client.destroy();
      }
    };
    try {
      await run('import');
      await run('rerun');
      await cloud.iot.send(new UpdateCertificateCommand({ certificateId: fleet.certs[0]!.id, newStatus: 'REVOKED' }));
      await run('revoke');
    } finally {
      await local.close();
      cloud.iot.destroy();
      await cloud.gw.stop();
    }
    const rows = phases.map(({ phase, report, requests }) => ({
      phase, things: report.seen.things, seconds: report.durationMs / 1000, thingsPerSecond: Math.round(report.seen.things / (report.durationMs / 1000)),
      pages: report.pages, changes: report.changes, added: report.added.length, changed: report.changed.length, refused: report.refused.length,
      requests: [...requests.values()].reduce((a, b) => a + b, 0), byOperation: Object.fromEntries([...requests].sort()),
    }));
    const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? '', loadavg: loadavg().map((l) => l.toFixed(2)).join(' '), node: process.version };
    if (JSON_OUT) {
      process.stdout.write(`${JSON.stringify({ things: THINGS, pageSize: PAGE, concurrency: CONCURRENCY, unknownIssuer: UNKNOWN_ISSUER, requireTrustedCa: REQUIRE_TRUSTED_CA, pemCache: PEM_CACHE, seedMs: Math.round(seedMs), machine, phases: rows })}\n`);
    } else {
      console.log(`sync --from-aws against a second instance: ${THINGS} things with one certificate each, page size ${PAGE}, concurrency ${CONCURRENCY}`);
      console.log(`(seeding the cloud took ${(seedMs / 1000).toFixed(1)} s; ${machine.cpus} CPUs, load ${machine.loadavg}, node ${machine.node})`);
      console.log(`(fleet CA ${UNKNOWN_ISSUER ? 'not listed by the cloud' : 'listed by the cloud'}${REQUIRE_TRUSTED_CA ? ', --require-trusted-ca' : ''}${PEM_CACHE ? '' : ', no PEM cache across runs'})`);
      console.log('phase    things  seconds  things/s  pages  changes  refused  requests');
      for (const r of rows) {
        console.log(`${r.phase.padEnd(8)} ${String(r.things).padStart(6)}  ${r.seconds.toFixed(2).padStart(7)}  ${String(r.thingsPerSecond).padStart(8)}  ${String(r.pages).padStart(5)}  ${String(r.changes).padStart(7)}  ${String(r.refused).padStart(7)}  ${String(r.requests).padStart(8)}`);
        console.log(`         ${Object.entries(r.byOperation).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
