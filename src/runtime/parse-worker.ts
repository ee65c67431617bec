/**
 * Parses configuration text off the main thread. The YAML parser needs 0.7 to 1.4 s of
 * CPU for a 1 MB file (10,000 device groups); on the main thread that would stall every
 * MQTT connection for as long on each reload. The thread only parses (text → plain
 * value); validation and compilation stay on the main thread, whose snapshot must be
 * built there anyway, so a document is applied only after the whole of it has been
 * validated there.
 *
 * A ConfigParser keeps a thread ready for a process's reloads: a thread started on
 * demand spends 0.3 to 0.6 s of CPU starting and loading the configuration modules
 * before it parses a byte. After a parse the thread stays for a while (reloads come in
 * bursts, and a thread that has parsed is about twice as fast on the next document),
 * then is replaced by a fresh one: a thread that has parsed a large document keeps its
 * grown heap (80 to 140 MiB of RSS after a 10,000-group file), a fresh one costs about
 * 14 MiB. parseAndValidateOffThread without a parser uses a thread of its own per call.
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

/** How long a thread that has parsed stays for the next reload before a fresh one replaces it. */
export const KEEP_WARM_MS = 120_000;

/**
 * A parser thread kept ready for the large documents a process parses. Requests are
 * answered in order; a thread that fails or exits fails the requests it held (the
 * caller's reload is then refused and the configuration in force stays) and is replaced
 * on the next request. A thread idle for `keepWarmMs` after a parse is ended and a fresh
 * one started in its place. Idle threads do not keep the process alive.
 */
export class ConfigParser {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: (p: Parsed) => void; reject: (e: Error) => void }>();
  #next = 0;
  #closed = false;
  #idle: NodeJS.Timeout | undefined;
  readonly #keepWarmMs: number;
  /** Threads started so far (replacements included). */
  started = 0;

  constructor(options: { readonly keepWarmMs?: number } = {}) {
    this.#keepWarmMs = options.keepWarmMs ?? KEEP_WARM_MS;
  }

  /** Parses `text`: in place below WORKER_THRESHOLD_CHARS, on the kept thread above. */
  parse(text: string, format: ConfigFormat): Promise<Parsed> {
    if (text.length < WORKER_THRESHOLD_CHARS) return Promise.resolve(parseConfigDocument(text, format));
    if (this.#closed) return Promise.reject(new Error('the configuration parser is closed'));
    clearTimeout(this.#idle);
    const worker = this.#thread();
    const id = this.#next++;
    return new Promise<Parsed>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, text, format } satisfies Request);
    });
  }

  /**
   * Starts a thread now, for a `text` large enough to need one, so that the first
   * reload does not wait for its start (the configuration modules loaded, nothing parsed).
   */
  prepare(text: string): void {
    if (text.length >= WORKER_THRESHOLD_CHARS && !this.#closed) this.#thread();
  }

  /** Ends the thread; requests still pending fail. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idle);
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
      if (this.#pending.size === 0) {
        worker.unref();
        this.#idle = setTimeout(() => this.#refresh(worker), this.#keepWarmMs);
        this.#idle.unref();
      }
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

  /** Replaces an idle thread that has parsed by a fresh one (its grown heap goes with it). */
  #refresh(worker: Worker): void {
    if (this.#worker !== worker || this.#pending.size > 0 || this.#closed) return;
    this.#worker = undefined;
    void worker.terminate();
    this.#thread();
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
