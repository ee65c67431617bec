/**
 * Parses configuration text off the main thread. The YAML parser needs about 0.7 s for
 * a 1 MB file (10,000 device groups); on the main thread that would stall every MQTT
 * connection for as long on each reload. The worker only parses (text → plain value);
 * validation and compilation, which take a tenth of that, stay on the main thread,
 * whose snapshot must be built there anyway.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseConfigDocument, validateConfig, type ConfigFormat, type ValidationResult } from '../core/index.js';

/** Below this size the worker's start-up costs more than parsing in place. */
const WORKER_THRESHOLD_CHARS = 64 * 1024;

type Parsed = ReturnType<typeof parseConfigDocument>;

/** Parses (off the main thread for large texts) and validates configuration text. */
export async function parseConfigOffThread(text: string, format: ConfigFormat): Promise<ValidationResult> {
  return (await parseAndValidateOffThread(text, format)).result;
}

/** As parseConfigOffThread, with the parsed document too (undefined when it did not parse). */
export async function parseAndValidateOffThread(text: string, format: ConfigFormat): Promise<{ readonly document: unknown; readonly result: ValidationResult }> {
  const parsed = text.length < WORKER_THRESHOLD_CHARS ? parseConfigDocument(text, format) : await inWorker(text, format);
  if (!parsed.ok) return { document: undefined, result: { ok: false, errors: parsed.errors, warnings: [] } };
  return { document: parsed.value, result: validateConfig(parsed.value) };
}

function inWorker(text: string, format: ConfigFormat): Promise<Parsed> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { text, format } });
    let answered = false;
    worker.once('message', (m: Parsed) => {
      answered = true;
      resolve(m);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`configuration parser thread exited with code ${code}`));
    });
  });
}

if (!isMainThread && parentPort !== null && (workerData as { text?: unknown } | null)?.text !== undefined) {
  const { text, format } = workerData as { text: string; format: ConfigFormat };
  parentPort.postMessage(parseConfigDocument(text, format));
}
