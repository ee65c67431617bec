import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * The JSON vector files of a conformance directory, each checked for its shape by a
 * test of its own (`label` prefixes the test names): yields the well-formed ones, so the
 * caller registers one test per case.
 */
export function wellFormedVectorFiles<T>(dir: URL, label: string, shapeProblems: (data: unknown) => string[]): { file: string; data: T }[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  test(`conformance/${label} holds vector files`, () => {
    assert.ok(files.length > 0, `no conformance/${label}*.json files found`);
  });
  const out: { file: string; data: T }[] = [];
  for (const file of files) {
    let data: unknown;
    let parseError: string | undefined;
    try {
      data = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
    } catch (e) {
      parseError = (e as Error).message;
    }
    const problems = parseError !== undefined ? [`not valid JSON: ${parseError}`] : shapeProblems(data);
    test(`${label}${file}: well-formed`, () => {
      assert.deepEqual(problems, [], `${label}${file} is malformed:\n  ${problems.join('\n  ')}`);
    });
    if (problems.length === 0) out.push({ file, data: data as T });
  }
  return out;
}
