/**
 * The client certificate a device presented in the TLS handshake of an HTTPS request,
 * as PEM (leaf first, then the intermediates it sent): the credentials provider and the
 * data-plane listener read it the same way, then verify it with the identity layer's
 * `CertificateVerifier` (chain, validity, registered and ACTIVE).
 */
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { certificatePem } from '../core/pem.js';

/** What one TLS connection presented: the handshake's certificates do not change during it. */
const presented = new WeakMap<object, { readonly pem: string | undefined; readonly leaf: Uint8Array | undefined }>();

/** The client certificate and the intermediates it sent, as PEM; undefined without one (read once per connection). */
export function peerChainPem(request: FastifyRequest): string | undefined {
  return peerCertificate(request).pem;
}

/** The DER of the client certificate (the leaf); undefined without one. */
export function peerLeafDer(request: FastifyRequest): Uint8Array | undefined {
  return peerCertificate(request).leaf;
}

function peerCertificate(request: FastifyRequest): { readonly pem: string | undefined; readonly leaf: Uint8Array | undefined } {
  const known = presented.get(request.socket);
  if (known !== undefined) return known;
  const read = readPeer(request.socket as Partial<TLSSocket>);
  presented.set(request.socket, read);
  return read;
}

function readPeer(socket: Partial<TLSSocket>): { readonly pem: string | undefined; readonly leaf: Uint8Array | undefined } {
  if (typeof socket.getPeerCertificate !== 'function') return { pem: undefined, leaf: undefined };
  let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const pems: string[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  while (c !== undefined && c.raw !== undefined && !seen.has(c) && pems.length < 6) {
    seen.add(c);
    pems.push(certificatePem(c.raw));
    c = c.issuerCertificate;
  }
  const first = socket.getPeerCertificate(false);
  return pems.length === 0 ? { pem: undefined, leaf: undefined } : { pem: pems.join(''), leaf: first.raw };
}

/** The source address of a request, without the IPv4-mapped prefix. */
export function requestSourceIp(request: FastifyRequest): string {
  const a = request.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
