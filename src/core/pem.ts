/**
 * PEM (RFC 7468): the one reader and the one writer of the code base. Pure functions
 * of their arguments (base64 through the global `Buffer`, no I/O), so that every layer
 * — the CA, the identity layer, the broker, the API — can use them.
 *
 * The reader is strict, because lenient readers are how truncated or doctored input
 * gets half-accepted: every BEGIN needs its END with the same label, a body is plain
 * base64 (whitespace between lines allowed) of a whole number of quads, and text
 * outside blocks is ignored (OpenSSL writes explanatory text there). It never throws:
 * a malformed input gets a message.
 */

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

export type PemReadResult =
  | { readonly ok: true; readonly blocks: readonly PemBlock[] }
  | { readonly ok: false; readonly message: string };

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n?([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * All PEM blocks of `text`, in order. More than `maxBlocks` blocks is an error (a
 * bound on untrusted input, checked before any further block is decoded).
 */
export function readPemBlocks(text: string, maxBlocks = Number.POSITIVE_INFINITY): PemReadResult {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, label = '', body = '', end = ''] = m;
    if (label !== end) return { ok: false, message: `PEM block "BEGIN ${label}" ends with "END ${end}"` };
    if (blocks.length === maxBlocks) return { ok: false, message: `more than ${maxBlocks} PEM blocks` };
    const b64 = body.replace(/\s+/g, '');
    if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) {
      return { ok: false, message: `PEM block ${blocks.length + 1} ("${label}") is not valid base64` };
    }
    blocks.push({ label, der: Buffer.from(b64, 'base64') });
  }
  const begins = text.split('-----BEGIN ').length - 1;
  if (begins !== blocks.length) return { ok: false, message: 'PEM text is truncated or has a block without its END line' };
  return { ok: true, blocks };
}

/** Wraps base64 text (no whitespace) as a PEM block: 64-character lines, a trailing newline. */
export function pemFromBase64(label: string, b64: string): string {
  let pem = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) pem += `${b64.slice(i, i + 64)}\n`;
  return `${pem}-----END ${label}-----\n`;
}

/** Encodes DER as a PEM block with 64-character lines and a trailing newline. */
export function toPem(label: string, der: Uint8Array): string {
  return pemFromBase64(label, Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64'));
}

/**
 * PEM text of a DER certificate, byte for byte what `new X509Certificate(der).toString()`
 * returns. Encoding directly skips a parse (about 0.25 ms per certificate under
 * OpenSSL 3, for the public key), which matters on the connection path.
 */
export function certificatePem(der: Uint8Array): string {
  return toPem('CERTIFICATE', der);
}
