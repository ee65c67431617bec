/**
 * The jobs service on its reserved MQTT topics
 * (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html): a request
 * on `$aws/things/THING/jobs/get`, `…/jobs/start-next`, `…/jobs/JOBID/get` (JOBID may be
 * `$next`) or `…/jobs/JOBID/update` is answered on the request topic followed by
 * `/accepted` or `/rejected`, with the request's `clientToken` echoed and a `timestamp`
 * (epoch seconds). Rejections carry the documented `code` (InvalidJson, InvalidRequest,
 * ResourceNotFound, InvalidStateTransition, VersionMismatch, InternalError) and, for a
 * state or version conflict, the execution's `executionState`.
 *
 * Authorization is the broker's, as for shadows: the request reached this binding only
 * because the device's publish on the request topic was allowed, and an answer reaches a
 * subscriber only through the delivery checks. A device can act only for the thing its
 * policies let it publish for; a thing that is not a job's target has no execution of it
 * (ResourceNotFound).
 */
import { executionState, type JobFailure } from '../../core/jobs/index.js';
import { clientTokenOf, JOBS_REQUEST_FILTERS, parseDescribe, parseJobsTopic, parsePayload, parseStartNext, parseUpdate, type JobsTopic } from '../../core/jobs/requests.js';
import type { Logger } from '../../observability/logger.js';
import type { JobService } from './job-service.js';
import type { MessageBus } from './shadow-mqtt.js';

type Answer = { ok: true; body: Record<string, unknown> } | JobFailure;

function requestTopic(t: JobsTopic): string {
  const base = `$aws/things/${t.thingName}/jobs`;
  switch (t.operation) {
    case 'get-pending': return `${base}/get`;
    case 'start-next': return `${base}/start-next`;
    case 'describe': return `${base}/${t.jobId}/get`;
    case 'update': return `${base}/${t.jobId}/update`;
  }
}

async function answer(service: JobService, t: JobsTopic, payload: Buffer): Promise<Answer> {
  const p = parsePayload(payload);
  if (!p.ok) return p;
  const body = p.body;
  switch (t.operation) {
    case 'get-pending': {
      const r = await service.getPending(t.thingName);
      return r.ok ? { ok: true, body: { inProgressJobs: r.inProgressJobs, queuedJobs: r.queuedJobs } } : r;
    }
    case 'start-next': {
      const q = parseStartNext(body);
      if (!q.ok) return q;
      const r = await service.startNext(t.thingName, q.request, 'object');
      return r.ok ? { ok: true, body: r.execution !== undefined ? { execution: r.execution } : {} } : r;
    }
    case 'describe': {
      const q = parseDescribe(body);
      if (!q.ok) return q;
      const r = await service.describe(t.thingName, t.jobId, q.request, 'object');
      return r.ok ? { ok: true, body: r.execution !== undefined ? { execution: r.execution } : {} } : r;
    }
    case 'update': {
      const q = parseUpdate(body);
      if (!q.ok) return q;
      const r = await service.update(t.thingName, t.jobId, q.request.update);
      if (!r.ok) return r;
      return {
        ok: true,
        body: {
          ...(q.request.includeJobExecutionState ? { executionState: executionState(r.execution) } : {}),
          ...(q.request.includeJobDocument ? { jobDocument: JSON.parse(r.jobDocument) as unknown } : {}),
        },
      };
    }
  }
}

/** Answers jobs requests published on the bus; returns the function that stops it. */
export function bindJobTopics(bus: MessageBus, service: JobService, logger: Logger, clock: () => Date): () => void {
  const onMessage = (message: { readonly topic: string; readonly payload: Buffer }): void => {
    const t = parseJobsTopic(message.topic);
    if (t === undefined) return;
    const topic = requestTopic(t);
    const token = parsePayload(message.payload);
    const clientToken = token.ok ? clientTokenOf(token.body) : undefined;
    const echo = clientToken?.ok === true && clientToken.clientToken !== undefined ? { clientToken: clientToken.clientToken } : {};
    const run = async (): Promise<Answer> => (clientToken !== undefined && !clientToken.ok ? clientToken : answer(service, t, message.payload));
    void run().catch((e: unknown): JobFailure => {
      logger.error({ event: 'jobs-error', thingName: t.thingName, operation: t.operation, err: (e as Error).message }, 'a jobs request failed');
      return { ok: false, code: 'InternalError', message: 'Internal error' };
    }).then((a) => {
      const timestamp = Math.floor(clock().getTime() / 1000);
      if (a.ok) return bus.publish(`${topic}/accepted`, JSON.stringify({ ...a.body, timestamp, ...echo }));
      if (logger.isLevelEnabled('debug')) logger.debug({ event: 'jobs-rejected', thingName: t.thingName, operation: t.operation, code: a.code }, 'jobs request rejected');
      return bus.publish(`${topic}/rejected`, JSON.stringify({
        code: a.code, message: a.message, ...echo, timestamp, ...(a.execution !== undefined ? { executionState: executionState(a.execution) } : {}),
      }));
    }).catch((e: unknown) => logger.error({ event: 'jobs-publish-failed', topic, err: (e as Error).message }, 'a jobs answer could not be published'));
  };
  const stops = JOBS_REQUEST_FILTERS.map((f) => bus.handle(f, onMessage));
  return () => {
    for (const s of stops) s();
  };
}
