import { readFile } from 'node:fs/promises';
import { CliError, EXIT } from './output.js';

/** A request or document file, or standard input for `-`; FILE_UNREADABLE names `what` and the file. */
export async function readInput(file: string, what: string): Promise<string> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError('FILE_UNREADABLE', `cannot read ${what} from \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Reads a JSON-lines request file (blank lines skipped): calls `visit` with each line's
 * object and a `bad` that stops with REQUEST_LINE_INVALID naming the line, with `fix` as
 * the hint. Every line is read before the caller decides anything.
 */
export function forEachJsonLine(text: string, fix: string, visit: (o: Record<string, unknown>, bad: (why: string) => never) => void): void {
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const bad = (why: string): never => {
      throw new CliError('REQUEST_LINE_INVALID', `request line ${i + 1}: ${why}`, EXIT.USAGE, fix);
    };
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      bad(`not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('not a JSON object');
    visit(v as Record<string, unknown>, bad);
  });
}
