import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startBroker, type BrokerName } from './brokers.js';
import { createPki } from './setup.js';
import { killAll } from './proc.js';
const dir = mkdtempSync(join(tmpdir(), 'bb-'));
try {
  const pki = await createPki(dir, 400, console.log);
  const raw = JSON.parse(readFileSync(pki.pkiFile, 'utf8')) as { caPem: string; devices: { name: string; keyPem: string; certPem: string }[] };
  for (const name of (process.argv[2] ?? 'gatehouse,aedes').split(',') as BrokerName[]) {
    const b = await startBroker(name, { pki, maxSessions: 10000, nodeArgs: [] });
    let k = 1;
    const conn = async () => {
      const d = raw.devices[k++]!;
      const t = performance.now();
      const c = await mqtt.connectAsync(b.url, { clientId: d.name, key: d.keyPem, cert: d.certPem, ca: raw.caPem, protocolVersion: 4, reconnectPeriod: 0, ...(process.env['NODELAY'] ? { noDelay: true } : {}) } as never, false);
      const ms = performance.now() - t;
      return { c, ms };
    };
    const seq: number[] = [];
    const cs = [];
    for (let i = 0; i < 50; i++) { const r = await conn(); seq.push(r.ms); cs.push(r.c); }
    seq.sort((a, b) => a - b);
    console.log(name, 'sequential connect ms p50', seq[25]!.toFixed(1), 'p90', seq[45]!.toFixed(1));
    const t = performance.now();
    const par = await Promise.all(Array.from({ length: 150 }, () => conn()));
    console.log(name, '150 parallel: per s', (150 / ((performance.now() - t) / 1000)).toFixed(0), 'max ms', Math.max(...par.map((p) => p.ms)).toFixed(0));
    for (const c of [...cs, ...par.map((p) => p.c)]) c.end(true);
    await b.stop();
  }
} finally { killAll(); rmSync(dir, { recursive: true, force: true }); }
