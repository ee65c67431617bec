import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { CA_ERROR_CODES } from '../../src/ca/errors.js';
import { DATA_DIR_ERROR_CODES } from '../../src/data-dir.js';

const DOC = new URL('../../../docs/ca.md', import.meta.url);

test('docs/ca.md has a table row with a fix for every CaError and DataDirError code, and no unknown codes', async () => {
  const text = await readFile(DOC, 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\| `((?:CA|DATA_DIR)_[A-Z0-9_]+|THING_NAME_INVALID)` \|(.*)$/.exec(line);
    if (m) rows.set(m[1] as string, (m[2] ?? '').split('|').map((c) => c.trim()).filter((c) => c !== ''));
  }
  const known = [...CA_ERROR_CODES, ...DATA_DIR_ERROR_CODES] as string[];
  for (const code of known) {
    const cells = rows.get(code);
    assert.ok(cells !== undefined, `${code} is documented`);
    assert.equal(cells.length, 2, `${code} row has "when" and "fix"`);
  }
  for (const code of rows.keys()) assert.ok(known.includes(code), `${code} in the docs exists in the code`);
});
