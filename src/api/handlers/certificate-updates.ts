/**
 * `GET /v1/certificate-updates?certificateType=SERVER`: the IPC
 * SubscribeToCertificateUpdates as a Server-Sent Events stream.
 *
 * The first certificate is issued before the stream opens, so a failure is an ordinary
 * 500 answer rather than a stream that ends at once. Then: `event: certificateUpdate`,
 * `id: <certificate id>`, `data: <JSON on one line>`, and a comment line every 15 s.
 * The handler takes the reply over (hijack): the listener queues the call's audit
 * record as the stream opens, since a stream may never finish.
 */
import { TooManyStreamsError, toUpdate } from '../certificate-streams.js';
import { HttpError, type OperationHandler } from '../context.js';
import { ROUTES } from '../routes.js';
import type { CertificateUpdate } from '../schemas.js';

const HEARTBEAT_MS = 15_000;

function event(update: CertificateUpdate, id: string): string {
  return `event: certificateUpdate\nid: ${id}\ndata: ${JSON.stringify(update)}\n\n`;
}

export const subscribeToCertificateUpdates: OperationHandler = async (ctx, request, reply) => {
  let first;
  try {
    first = await ctx.streams.firstCertificate();
  } catch (e) {
    if (e instanceof TooManyStreamsError) throw new HttpError('API_TOO_MANY_STREAMS', e.message, { headers: { 'retry-after': '5' } });
    ctx.logger.error({ event: 'certificate-update-failed', err: (e as Error).message }, 'could not issue a certificate for a certificate-update stream');
    throw new HttpError('ServiceError', 'the certificate could not be issued; see the gateway log');
  }
  const res = reply.raw;
  if (res.destroyed) return reply.hijack();
  reply.hijack();
  ctx.prometheus.countResponse(ROUTES.certificateUpdates.url, 200);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(event(toUpdate(first), first.id));
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  const remove = ctx.streams.add({
    send: (update, id) => {
      if (!res.destroyed) res.write(event(update, id));
    },
    end: () => {
      clearInterval(heartbeat);
      res.end();
    },
  });
  ctx.logger.info({ event: 'certificate-stream-opened', certificateId: first.id, remoteAddress: request.ip }, 'certificate-update stream opened');
  res.once('close', () => {
    clearInterval(heartbeat);
    remove();
    ctx.logger.info({ event: 'certificate-stream-closed' }, 'certificate-update stream closed');
  });
};

