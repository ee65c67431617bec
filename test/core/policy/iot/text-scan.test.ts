/**
 * The one-pass scan of a policy document's JSON text (duplicate keys and the size
 * without white space) decides exactly what the two separate scans it replaced decided:
 * checked against straightforward reference implementations on random JSON texts with
 * repeated keys, escapes, nested containers and unusual white space.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import '../../../helpers/seed.js';
import { nonWhitespaceLength, parseIotPolicyDocument } from '../../../../src/core/policy/iot/document.js';
import { keySegment, scanPolicyText } from '../../../../src/core/policy/iot/duplicate-keys.js';

/** Reference: the duplicate keys, found with a path string per container (the scan this replaced). */
function referenceDuplicates(text: string): { path: string; key: string }[] {
  const out: { path: string; key: string }[] = [];
  const stack: { kind: 'object' | 'array'; path: string; keys: string[]; index: number; key: string }[] = [];
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
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.includes(key)) out.push({ path: top.path, key });
        top.keys.push(key);
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      stack.push({ kind: c === '{' ? 'object' : 'array', path: childPath(), keys: [], index: 0, key: '' });
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

/** JSON white space between tokens. */
const ws = fc.array(fc.constantFrom(' ', '\n', '\t', '\r'), { maxLength: 3 }).map((a) => a.join(''));
/** Strings with escapes, white space (ASCII and Unicode) and JSON punctuation inside. */
const str = fc.array(fc.constantFrom('a', 'E', ' ', '"', '\\', '{', '}', '[', ']', ',', ':', '\u00a0', '\u2028', '\u3000', '\ufeff', '\u0085', 'é', '\u{1F600}', '\t', '\n'), { maxLength: 6 })
  .map((a) => a.join(''));
/** Keys from a small set, so that objects often repeat one; some spelled with escapes. */
const key = fc.constantFrom('"Effect"', '"Action"', '"a"', '"\\u0061"', '"a b"', '"\\"q"', '"é"');

const json: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    str.map((s) => JSON.stringify(s)),
    fc.constantFrom('true', 'false', 'null', '0', '-1.5e3'),
    fc.tuple(ws, fc.array(fc.tuple(ws, tie('value'), ws), { maxLength: 4 })).map(([w, items]) => `[${w}${items.map(([a, v, b]) => a + v + b).join(',')}]`),
    fc.tuple(ws, fc.array(fc.tuple(ws, key, ws, tie('value'), ws), { maxLength: 5 })).map(([w, entries]) => `{${w}${entries.map(([a, k, b, v, c]) => `${a}${k}${b}:${v}${c}`).join(',')}}`),
  ),
})).value;

describe('policy text scan', () => {
  it('counts and finds duplicates exactly as the reference scans do', () => {
    fc.assert(fc.property(json, ws, ws, (text, before, after) => {
      const t = before + text + after;
      JSON.parse(t); // the scan is only ever given text JSON.parse accepted
      const scan = scanPolicyText(t);
      assert.equal(scan.nonWhitespace, nonWhitespaceLength(t));
      assert.deepEqual(scan.duplicates, referenceDuplicates(t));
    }), { numRuns: 2000 });
  });

  it('names a repeated key nested in arrays and objects by its path, also when spelled with an escape', () => {
    const text = '{"Statement":[{"Effect":"Allow"},{"Condition":{"Bool":{"a":"1","\\u0061":"2"}},"Effect":"Deny","Effect":"Allow"}],"odd key":{"x":1,"x":2}}';
    assert.deepEqual(scanPolicyText(text).duplicates, [
      { path: '$.Statement[1].Condition.Bool', key: 'a' },
      { path: '$.Statement[1]', key: 'Effect' },
      { path: '$["odd key"]', key: 'x' },
    ]);
  });

  it('counts white space inside strings (spaces and Unicode spaces), not escapes', () => {
    assert.equal(scanPolicyText('{ "a b" : "\u00a0\\n" }').nonWhitespace, '{"ab":"\\n"}'.length);
  });

  it('a document one character over the limit only through a Unicode space is within it', () => {
    const resource = (filler: string): string => JSON.stringify({ Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:us-east-1:123456789012:topic/${filler}` } });
    const base = resource('').length;
    const full = 'x'.repeat(2048 - base);
    assert.deepEqual(parseIotPolicyDocument(resource(full)).problems, []);
    assert.deepEqual(parseIotPolicyDocument(resource(full + 'x')).problems.map((p) => p.code), ['IOT_POLICY_TOO_LARGE']);
    assert.deepEqual(parseIotPolicyDocument(resource(full + '\u3000')).problems, []);
  });
});
