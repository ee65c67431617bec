/**
 * The client certificate a device presented in the TLS handshake of an HTTPS request,
 * as PEM (leaf first, then the intermediates it sent): the credentials provider and the
 * data-plane listener read it the same way, then verify it with the identity layer's
 * `CertificateVerifier` (chain, validity, registered and ACTIVE).
 */
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { certificatePem } from '../core/pem.js';

/** The client certificate and the intermediates it sent, as PEM; undefined without one. */
export function peerChainPem(request: FastifyRequest): string | undefined {
  const socket = request.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const pems: string[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  while (c !== undefined && c.raw !== undefined && !seen.has(c) && pems.length < 6) {
    seen.add(c);
    pems.push(certificatePem(c.raw));
    c = c.issuerCertificate;
  }
  return pems.length === 0 ? undefined : pems.join('');
}

/** The source address of a request, without the IPv4-mapped prefix. */
export function requestSourceIp(request: FastifyRequest): string {
  const a = request.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
