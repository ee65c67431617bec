/**
 * On-disk layout of the CA and the server certificate inside the data directory.
 *
 * Every identity (a private key with its certificate) is ONE file, replaced atomically
 * (see atomic.ts), so a key and its certificate can never be observed mismatched: a
 * reader, or a restart after a crash at any instant, sees the whole old file or the
 * whole new file.
 *
 *   <dataDir>/                  0700
 *     ca/                       0700
 *       managed-ca.pem          0600  managed CA: CERTIFICATE + PRIVATE KEY (authoritative)
 *       ca.pem                  0644  copy of the active issuing CA certificate
 *       chain.pem               0644  copy of the active CA chain, issuing CA first
 *     server/                   0700
 *       server.pem              0600  broker identity: leaf CERTIFICATE, CA chain, PRIVATE KEY
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { readPemBlocks, type PemBlock } from '../core/pem.js';

export const PRIVATE_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;

export interface DataLayout {
  readonly dataDir: string;
  readonly caDir: string;
  readonly managedCaFile: string;
  readonly caCertFile: string;
  readonly caChainFile: string;
  readonly serverDir: string;
  readonly serverFile: string;
}

export function dataLayout(dataDir: string): DataLayout {
  const caDir = join(dataDir, 'ca');
  const serverDir = join(dataDir, 'server');
  return {
    dataDir,
    caDir,
    managedCaFile: join(caDir, 'managed-ca.pem'),
    caCertFile: join(caDir, 'ca.pem'),
    caChainFile: join(caDir, 'chain.pem'),
    serverDir,
    serverFile: join(serverDir, 'server.pem'),
  };
}

/** Certificates (leaf first) and one private key, as held in a bundle file. */
export interface KeyCertBundle {
  readonly certificates: readonly Buffer[];
  readonly privateKey: Buffer;
}

export class BundleFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleFormatError';
  }
}

/** Serialises a bundle: the certificates in order, then the PKCS#8 private key. */
export function formatBundle(certificatePems: readonly string[], privateKeyPem: string): string {
  return certificatePems.map(ensureNewline).join('') + ensureNewline(privateKeyPem);
}

/** Parses a bundle file's text. Throws {@link BundleFormatError} unless it holds ≥ 1 certificate and exactly one PKCS#8 key. */
export function parseBundle(text: string): KeyCertBundle {
  const read = readPemBlocks(text);
  if (!read.ok) throw new BundleFormatError(read.message);
  const blocks = read.blocks;
  const certificates = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
  const keys = blocks.filter((b) => b.label === 'PRIVATE KEY');
  if (certificates.length === 0) throw new BundleFormatError('no CERTIFICATE block');
  if (keys.length !== 1) throw new BundleFormatError(`expected one PRIVATE KEY block, found ${keys.length}`);
  const other = blocks.find((b) => b.label !== 'CERTIFICATE' && b.label !== 'PRIVATE KEY');
  if (other !== undefined) throw new BundleFormatError(`unexpected PEM block ${other.label}`);
  return { certificates, privateKey: (keys[0] as PemBlock).der };
}

/** The file's text, or undefined when it does not exist. Other errors propagate. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a public file atomically unless it already has exactly this content. */
export async function writePublicIfChanged(path: string, content: string): Promise<void> {
  const existing = await readIfExists(path).catch(() => undefined);
  if (existing === content) return;
  await writeFileAtomic(path, content, PUBLIC_FILE_MODE);
}

export function ensureNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
