/**
 * Subscribers of `GET /v1/certificate-updates` (the IPC SubscribeToCertificateUpdates,
 * docs/greengrass-behaviour.md, section 7.5): each gets its own key and server certificate from the gateway CA, at
 * once and again every time the gateway's own server certificate is re-issued (near
 * expiry, new host addresses, new CA), so an external broker serving TLS with it
 * rotates when Gatehouse's broker does.
 *
 * Updates to one subscriber are sent in order: a re-issue that starts while the
 * previous one is still being generated is sent after it. A subscriber whose re-issue
 * fails is closed (SSE clients reconnect and get a fresh certificate).
 */
import type { IssuedCertificate } from '../ca/authority.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { CertificateUpdate } from './schemas.js';

export interface CertificateSource {
  /** Issues a new server certificate (new key) for one subscriber. */
  issue(): Promise<IssuedCertificate>;
  /** Calls `listener` whenever the gateway's server certificate was re-issued; returns unsubscribe. */
  onRotation(listener: () => void): () => void;
}

export interface StreamSink {
  send(update: CertificateUpdate, id: string): void;
  /** Ends the stream (failure or shutdown). */
  end(): void;
}

export class TooManyStreamsError extends Error {
  readonly code = 'TOO_MANY_STREAMS' as const;
}

interface Subscriber {
  readonly sink: StreamSink;
  chain: Promise<void>;
  closed: boolean;
}

export function toUpdate(c: IssuedCertificate): CertificateUpdate {
  return { certificate: c.certificatePem, privateKey: c.privateKeyPem, publicKey: c.publicKeyPem, caCertificates: [...c.chainPem] };
}

export class CertificateStreams {
  readonly #subscribers = new Set<Subscriber>();
  readonly #unsubscribe: () => void;
  #pending = 0;

  constructor(
    private readonly source: CertificateSource,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly maxStreams: number,
  ) {
    this.#unsubscribe = source.onRotation(() => this.#reissueAll());
  }

  get size(): number {
    return this.#subscribers.size;
  }

  /**
   * Issues the first certificate for a new subscriber. Throws TooManyStreamsError when
   * `maxStreams` are open or being opened, and the issuing error if issuing fails (the
   * caller answers 500 and no stream is opened).
   */
  async firstCertificate(): Promise<IssuedCertificate> {
    if (this.#subscribers.size + this.#pending >= this.maxStreams) throw new TooManyStreamsError(`at most ${this.maxStreams} certificate-update streams may be open`);
    this.#pending++;
    try {
      const cert = await this.source.issue();
      this.metrics.inc('SubscribeToCertificateUpdates.Success');
      return cert;
    } catch (e) {
      this.metrics.inc('SubscribeToCertificateUpdates.Failure');
      this.metrics.inc('ServiceError');
      throw e;
    } finally {
      this.#pending--;
    }
  }

  /** Registers an open stream (after its first event was sent). Returns the function that removes it. */
  add(sink: StreamSink): () => void {
    const sub: Subscriber = { sink, chain: Promise.resolve(), closed: false };
    this.#subscribers.add(sub);
    return () => {
      sub.closed = true;
      this.#subscribers.delete(sub);
    };
  }

  /** Ends every stream (gateway stop). */
  close(): void {
    this.#unsubscribe();
    for (const s of [...this.#subscribers]) {
      s.closed = true;
      this.#subscribers.delete(s);
      s.sink.end();
    }
  }

  #reissueAll(): void {
    for (const sub of this.#subscribers) {
      sub.chain = sub.chain.then(async () => {
        if (sub.closed) return;
        let cert: IssuedCertificate;
        try {
          cert = await this.source.issue();
        } catch (e) {
          this.metrics.inc('SubscribeToCertificateUpdates.Failure');
          this.metrics.inc('ServiceError');
          this.logger.error({ event: 'certificate-update-failed', err: (e as Error).message }, 'could not re-issue a certificate for a certificate-update stream; closing it so the subscriber reconnects');
          sub.closed = true;
          this.#subscribers.delete(sub);
          sub.sink.end();
          return;
        }
        if (sub.closed) return;
        sub.sink.send(toUpdate(cert), cert.id);
        this.logger.info({ event: 'certificate-update-sent', certificateId: cert.id, notAfter: cert.notAfter.toISOString() }, 'sent a re-issued certificate to a certificate-update stream');
      });
    }
  }
}
