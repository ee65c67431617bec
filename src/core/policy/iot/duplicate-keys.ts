/**
 * Finds object keys that occur twice in the same JSON object. `JSON.parse` keeps the
 * last one silently, which would let a second `"Effect"` override the first unseen.
 * The text has already been parsed by `JSON.parse`, so it is valid JSON: the scan only
 * tracks strings, nesting and which strings are keys; it decides nothing itself.
 */

export interface DuplicateKey {
  /** JSON path of the object holding the key twice, e.g. `$.Statement[0]`. */
  readonly path: string;
  readonly key: string;
}

interface Frame {
  readonly kind: 'object' | 'array';
  readonly path: string;
  /** Objects hold a handful of keys: a list is cheaper than a Set. */
  readonly keys: string[];
  index: number;
  /** The last key read in this object (the path of its value). */
  key: string;
}

/** Path segment for a key: `.Name` for identifiers, `["odd key"]` otherwise. */
export function keySegment(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

export function findDuplicateKeys(text: string): DuplicateKey[] {
  const out: DuplicateKey[] = [];
  const stack: Frame[] = [];
  const childPath = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return '$';
    return top.kind === 'array' ? `${top.path}[${top.index}]` : `${top.path}${keySegment(top.key)}`;
  };
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top?.kind === 'object') {
        const raw = text.slice(i + 1, j);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.keys.includes(key)) out.push({ path: top.path, key });
        top.keys.push(key);
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const path = childPath();
      stack.push({ kind: c === '{' ? 'object' : 'array', path, keys: [], index: 0, key: '' });
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'array') top.index++;
      else expectKey = true;
    }
  }
  return out;
}
