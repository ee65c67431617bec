import fc from 'fast-check';
import { rng } from '../../bench/workload.js';

/**
 * The seed of every random choice the tests make. scripts/run-tests.mjs picks one per run
 * (or takes GATEHOUSE_TEST_SEED from the environment), prints it, and hands it to every
 * test file through the environment, so a failing run can be replayed exactly:
 * `GATEHOUSE_TEST_SEED=<seed> npm test`.
 */
export const SEED = parseSeed(process.env['GATEHOUSE_TEST_SEED']);

function parseSeed(v: string | undefined): number {
  if (v !== undefined && /^\d+$/.test(v)) return Number(v) >>> 0;
  return (Date.now() ^ process.pid) >>> 0;
}

// fast-check reports the seed and path of a failing property itself; with a global seed
// the whole run is reproducible from the one printed at the start.
fc.configureGlobal({ seed: SEED | 0 });

/** A deterministic pseudo-random generator (mulberry32), seeded from SEED and a label. */
export function seededRandom(label: string): () => number {
  let a = SEED;
  for (let i = 0; i < label.length; i++) a = Math.imul(a ^ label.charCodeAt(i), 0x9e3779b1) >>> 0;
  return rng(a);
}
