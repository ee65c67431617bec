/**
 * Parses configuration text off the main thread. The YAML parser needs about 0.7 s for
 * a 1 MB file (10,000 device groups) once its code is compiled, and twice that on a
 * fresh thread; on the main thread that would stall every MQTT connection for as long
 * on each reload. The thread only parses (text → plain value); validation and
 * compilation stay on the main thread, whose snapshot must be built there anyway, so a
 * document is applied only after the whole of it has been validated there.
 *
 * A ConfigParser keeps one thread for a process's reloads: the parser's code stays
 * compiled between reloads (a cold thread also spends CPU loading the configuration
 * modules before it parses a byte). parseAndValidateOffThread without a parser uses a
 * thread of its own per call.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseConfigDocument, validateConfig, type ConfigFormat, type ValidationResult } from '../core/index.js';

/** Below this size a thread costs more than parsing in place. */
export const WORKER_THRESHOLD_CHARS = 64 * 1024;

type Parsed = ReturnType<typeof parseConfigDocument>;

interface Request {
  readonly id: number;
  readonly text: string;
  readonly format: ConfigFormat;
}

interface Reply {
  readonly id: number;
  readonly parsed: Parsed;
}

/**
 * One parser thread kept for every large document a process parses. Requests are
 * answered in order; a thread that fails or exits fails the requests it held (the
 * caller's reload is then refused and the configuration in force stays) and is replaced
 * on the next request. While idle the thread does not keep the process alive.
 */
export class ConfigParser {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: (p: Parsed) => void; reject: (e: Error) => void }>();
  #next = 0;
  #closed = false;
  /** Threads started so far (a replacement after a failure counts again). */
  started = 0;

  /** Parses `text`: in place below WORKER_THRESHOLD_CHARS, on the kept thread above. */
  parse(text: string, format: ConfigFormat): Promise<Parsed> {
    if (text.length < WORKER_THRESHOLD_CHARS) return Promise.resolve(parseConfigDocument(text, format));
    if (this.#closed) return Promise.reject(new Error('the configuration parser is closed'));
    const worker = this.#thread();
    const id = this.#next++;
    return new Promise<Parsed>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, text, format } satisfies Request);
    });
  }

  /**
   * Parses a large `text` once and forgets the answer, so that the parser's code is
   * compiled before the first reload (which usually brings a document of the same
   * shape). Does nothing for small texts.
   */
  warm(text: string, format: ConfigFormat): void {
    if (text.length < WORKER_THRESHOLD_CHARS || this.#closed) return;
    this.parse(text, format).catch(() => undefined);
  }

  /** Ends the thread; requests still pending fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    this.#failAll(new Error('the configuration parser was closed'));
    if (w !== undefined) await w.terminate();
  }

  #thread(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(new URL(import.meta.url), { workerData: { kept: true } });
    this.started++;
    worker.unref();
    worker.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (this.#pending.size === 0) worker.unref();
      p?.resolve(m.parsed);
    });
    const gone = (e: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failAll(e);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`configuration parser thread exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #failAll(e: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(e);
  }
}

/** Parses (off the main thread for large texts) and validates configuration text. */
export async function parseConfigOffThread(text: string, format: ConfigFormat, parser?: ConfigParser): Promise<ValidationResult> {
  return (await parseAndValidateOffThread(text, format, parser)).result;
}

/**
 * As parseConfigOffThread, with the parsed document too (undefined when it did not
 * parse). With `parser`, a large text goes to its kept thread; without, to a thread
 * started for this call.
 */
export async function parseAndValidateOffThread(text: string, format: ConfigFormat, parser?: ConfigParser): Promise<{ readonly document: unknown; readonly result: ValidationResult }> {
  const parsed = parser !== undefined
    ? await parser.parse(text, format)
    : text.length < WORKER_THRESHOLD_CHARS ? parseConfigDocument(text, format) : await inWorker(text, format);
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

if (!isMainThread && parentPort !== null) {
  const data = workerData as { text?: unknown; kept?: unknown } | null;
  const port = parentPort;
  if (data?.kept === true) {
    port.on('message', (r: Request) => port.postMessage({ id: r.id, parsed: parseConfigDocument(r.text, r.format) } satisfies Reply));
  } else if (data?.text !== undefined) {
    const { text, format } = data as { text: string; format: ConfigFormat };
    port.postMessage(parseConfigDocument(text, format));
  }
}
