import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
const text = readFileSync('/tmp/jy/10k.yaml', 'utf8');
const code = `
const { parentPort, workerData } = require('node:worker_threads');
const t0 = performance.now();
import('/work/main/dist/src/core/config/parse.js').then((m) => {
  const t1 = performance.now();
  const r = m.parseConfigDocument(workerData.text, 'yaml');
  const t2 = performance.now();
  const r2 = m.parseConfigDocument(workerData.text, 'yaml');
  const t3 = performance.now();
  parentPort.postMessage({ import: t1 - t0, parse: t2 - t1, parse2: t3 - t2 });
});`;
const t = performance.now();
const w = new Worker(code, { eval: true, workerData: { text } });
w.on('online', () => console.log('online after', (performance.now() - t).toFixed(0)));
w.on('message', (m) => { console.log(m, 'total', (performance.now() - t).toFixed(0)); w.terminate(); });
