import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { certificatePem, pemFromBase64, readPemBlocks, toPem } from '../../src/core/pem.js';
import { makeCa } from '../helpers/pki.js';

describe('PEM', () => {
  it('certificatePem is byte for byte what X509Certificate.toString() writes, and reads back', async () => {
    const ca = await makeCa({ name: 'CN=Pem' });
    const x = new X509Certificate(ca.pem);
    assert.equal(certificatePem(x.raw), x.toString());
    // A view into a larger buffer encodes only its own bytes.
    const padded = Buffer.concat([Buffer.from([1, 2, 3]), x.raw]);
    assert.equal(certificatePem(padded.subarray(3)), x.toString());
    const read = readPemBlocks(`explanatory text\n${x.toString()}more text\n${toPem('PUBLIC KEY', Buffer.from('abc'))}`);
    assert.ok(read.ok);
    assert.deepEqual(read.blocks.map((b) => b.label), ['CERTIFICATE', 'PUBLIC KEY']);
    assert.deepEqual(read.blocks[0]!.der, x.raw);
    assert.equal(read.blocks[1]!.der.toString(), 'abc');
  });

  it('writes 64-character lines and a trailing newline', () => {
    const b64 = Buffer.alloc(100, 7).toString('base64');
    const lines = pemFromBase64('X', b64).split('\n');
    assert.equal(lines[0], '-----BEGIN X-----');
    assert.equal(lines.slice(1, -2).join(''), b64);
    assert.ok(lines.slice(1, -3).every((l) => l.length === 64));
    assert.equal(lines.at(-2), '-----END X-----');
    assert.equal(lines.at(-1), '');
  });

  it('refuses malformed input with a message and never throws', () => {
    const body = Buffer.alloc(48, 1).toString('base64');
    const cases: [string, RegExp][] = [
      [`-----BEGIN CERTIFICATE-----\n${body}\n`, /truncated/],
      [`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n${body}`, /truncated/],
      [`-----BEGIN CERTIFICATE-----\n${body}\n-----END PRIVATE KEY-----\n`, /ends with/],
      [`-----BEGIN CERTIFICATE-----\n${body}!\n-----END CERTIFICATE-----\n`, /not valid base64/],
      [`-----BEGIN CERTIFICATE-----\n${body}A\n-----END CERTIFICATE-----\n`, /not valid base64/],
      ['-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n', /not valid base64/],
    ];
    for (const [text, message] of cases) {
      const r = readPemBlocks(text);
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.message, message);
    }
    assert.deepEqual(readPemBlocks('no PEM here'), { ok: true, blocks: [] });
  });

  it('stops at maxBlocks', () => {
    const one = toPem('CERTIFICATE', Buffer.alloc(10));
    assert.ok(readPemBlocks(one.repeat(3), 3).ok);
    const r = readPemBlocks(one.repeat(4), 3);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.message, /more than 3/);
  });
});
