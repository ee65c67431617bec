/**
 * Minimal, strict PEM (RFC 7468) block reader and writer. Text outside blocks is ignored,
 * as OpenSSL does; a block whose base64 body is malformed is an error.
 */

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

export class PemFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PemFormatError';
  }
}

/** All PEM blocks in `text`, in order. Throws {@link PemFormatError} on a malformed block. */
export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const label = m[1] ?? '';
    const end = m[3] ?? '';
    if (label !== end) throw new PemFormatError(`PEM block "BEGIN ${label}" ends with "END ${end}"`);
    const body = (m[2] ?? '').replace(/[ \t\r\n]/g, '');
    if (body === '' || body.length % 4 !== 0 || !BASE64_BODY.test(body)) {
      throw new PemFormatError(`PEM block "${label}" has a malformed base64 body`);
    }
    blocks.push({ label, der: Buffer.from(body, 'base64') });
  }
  if (blocks.length === 0 && /-----BEGIN /.test(text)) throw new PemFormatError('PEM header without a matching footer');
  return blocks;
}

/** Encodes DER as a PEM block with 64-character lines and a trailing newline. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
