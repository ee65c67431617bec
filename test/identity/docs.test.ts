/** The codes in docs/identity.md and the codes the code can produce cannot drift apart. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { IDENTITY_CODES, INVALIDATION_REASONS, REGISTRY_CODES, SESSION_REASONS, VERIFY_REASONS } from '../../src/identity/errors.js';

const root = new URL('../../../', import.meta.url);
const doc = readFileSync(new URL('docs/identity.md', root), 'utf8');
/** Codes in the first column of a table row: | `CODE` | ... */
const documented = new Set([...doc.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));

/** Codes the identity commands raise themselves (new CliError('CODE', ...)). */
function cliCodes(): string[] {
  const out = new Set<string>();
  for (const f of ['things.ts', 'certs.ts', 'ca.ts', 'policies.ts', 'thing-groups.ts']) {
    const src = readFileSync(new URL(`src/cli/${f}`, root), 'utf8');
    for (const m of src.matchAll(/new CliError\('([A-Z0-9_]+)'/g)) out.add(m[1]!);
  }
  return [...out];
}

describe('docs/identity.md', () => {
  it('documents every identity code in a table with a fix', () => {
    for (const code of IDENTITY_CODES) assert.ok(documented.has(code), `${code} is not in a table in docs/identity.md`);
    for (const m of doc.matchAll(/^\| `([A-Z0-9_]+)` \|(.*)\|(.*)\|\s*$/gm)) {
      assert.ok(m[3]!.trim().length > 0, `${m[1]} has no fix`);
    }
  });

  it('documents every code the identity commands raise', () => {
    const codes = cliCodes();
    assert.ok(codes.includes('FILE_EXISTS'));
    for (const code of codes) assert.ok(documented.has(code), `${code} (raised in src/cli) is not in docs/identity.md`);
  });

  it('documents no code that does not exist', () => {
    const known = new Set<string>([...IDENTITY_CODES, ...cliCodes()]);
    for (const code of documented) assert.ok(known.has(code), `docs/identity.md lists unknown code ${code}`);
  });

  it('keeps the code lists closed and consistent', () => {
    for (const r of VERIFY_REASONS) assert.ok((SESSION_REASONS as readonly string[]).includes(r));
    assert.equal(new Set(REGISTRY_CODES).size, REGISTRY_CODES.length);
    assert.equal(new Set(INVALIDATION_REASONS).size, INVALIDATION_REASONS.length);
  });
});
