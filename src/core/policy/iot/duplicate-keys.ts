/**
 * One pass over a policy document's JSON text that finds what `JSON.parse` cannot
 * report: object keys that occur twice in the same object (`JSON.parse` keeps the last
 * one silently, which would let a second `"Effect"` override the first unseen), and the
 * number of characters that are not white space (the document size limit).
 *
 * The text has already been accepted by `JSON.parse`, so it is valid JSON: the scan only
 * tracks strings, nesting and which strings are keys; it decides nothing itself. In
 * valid JSON, white space outside strings is only space, tab, line feed and carriage
 * return, and a string holds no raw control character, so the count equals counting
 * every character of the text that is not white space (`\s`).
 */

export interface DuplicateKey {
  /** JSON path of the object holding the key twice, e.g. `$.Statement[0]`. */
  readonly path: string;
  readonly key: string;
}

export interface TextScan {
  /** Characters of the text that are not white space, inside strings as well. */
  readonly nonWhitespace: number;
  /** Keys repeated in the same object, in text order. */
  readonly duplicates: readonly DuplicateKey[];
}

const NONE: readonly DuplicateKey[] = Object.freeze([]);
const UNICODE_SPACE = /\s/;

/** Path segment for a key: `.Name` for identifiers, `["odd key"]` otherwise. */
export function keySegment(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/**
 * Scans JSON text that `JSON.parse` accepted. Allocates only for the keys of objects
 * (short strings) and, when there is one, for a duplicate's path.
 */
export function scanPolicyText(text: string): TextScan {
  const n = text.length;
  let white = 0;
  let duplicates: DuplicateKey[] | undefined;
  // One entry per open container, by depth (reused between containers at the same depth).
  const isObject: boolean[] = [];
  const keys: string[][] = [];
  const index: number[] = [];
  const key: string[] = [];
  let depth = 0;
  let expectKey = false;
  const pathOf = (level: number): string => {
    let p = '$';
    for (let d = 0; d < level; d++) p += isObject[d] ? keySegment(key[d]!) : `[${index[d]!}]`;
    return p;
  };
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // A string: find its end, count the white space inside it.
      const start = i + 1;
      let escaped = false;
      let j = start;
      for (;; j++) {
        const d = text.charCodeAt(j);
        if (d === 34) break;
        if (d === 92) {
          // An escape: the next character is never white space (`"\/bfnrtu`).
          escaped = true;
          j++;
        } else if (d === 32 || (d >= 128 && UNICODE_SPACE.test(text[j]!))) {
          white++;
        }
      }
      if (expectKey) {
        const raw = text.slice(start, j);
        const k = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
        const top = depth - 1;
        const list = keys[top]!;
        if (list.includes(k)) (duplicates ??= []).push({ path: pathOf(top), key: k });
        list.push(k);
        key[top] = k;
        expectKey = false;
      }
      i = j;
    } else if (c === 32 || c === 10 || c === 13 || c === 9) {
      white++;
    } else if (c === 123 || c === 91) {
      const object = c === 123;
      isObject[depth] = object;
      index[depth] = 0;
      key[depth] = '';
      const list = keys[depth];
      if (list === undefined) keys[depth] = [];
      else list.length = 0;
      depth++;
      expectKey = object;
    } else if (c === 125 || c === 93) {
      depth--;
    } else if (c === 44) {
      const top = depth - 1;
      if (isObject[top]) expectKey = true;
      else index[top]!++;
    }
  }
  return { nonWhitespace: n - white, duplicates: duplicates ?? NONE };
}

/** The duplicate keys of JSON text that `JSON.parse` accepted. */
export function findDuplicateKeys(text: string): readonly DuplicateKey[] {
  return scanPolicyText(text).duplicates;
}
