/**
 * `POST /v1/explain`: why a request is allowed or denied.
 *
 * Two ways to ask. A Greengrass request (`operation`) for a principal described by the
 * body is decided by the device groups alone, as it always was — unless AWS IoT policies
 * are in force on the gateway and the thing is registered, or the body names what only a
 * connection has (`action`, `certificateId`, `retain`, `sourceIp`). Then the request is
 * explained for the connection the registered thing would make: its certificate, its
 * thing groups, its attributes and type from the registry, under the device groups and
 * the IoT policies the gateway has in force (the PolicyStore's snapshot: nothing is
 * compiled per request) — the decision the broker makes.
 */
import { DEFAULT_IOT_DEPLOYMENT, explainConnection, type PolicySnapshot, parseIotRequest, type ConnectionExplanation, type ConnectionRequest, type ConnectionSubject } from '../../core/index.js';
import { ConnectionChoiceError, registeredConnection } from '../../identity/iot-connection.js';
import { RegistryError } from '../../identity/errors.js';
import { HttpError, type ApiContext } from '../context.js';
import { EXPLAIN_REASONS } from '../errors.js';
import type { ExplainRequestBody } from '../schemas.js';

const invalid = (path: string, message: string, reason?: string): HttpError =>
  new HttpError('API_INVALID_REQUEST', message, { path, ...(reason !== undefined ? { reason } : {}) });

/** What an explanation reads: the registry, the policies in force, the clock and the deployment. */
export type ExplainContext = Pick<ApiContext, 'registry' | 'clock' | 'iotDeployment'> & {
  /** The policies to decide under: the store in force, or a snapshot simulating an edit. */
  readonly policy: { readonly current: PolicySnapshot };
};

/**
 * Explains one request (the local API's `POST /v1/explain` and the management API's
 * `POST /gatehouse/explain`). Input it cannot accept is an HttpError API_INVALID_REQUEST
 * with the field's path.
 */
export async function explain(ctx: ExplainContext, b: ExplainRequestBody): Promise<Record<string, unknown>> {
  if ((b.operation === undefined) === (b.action === undefined)) throw invalid('', 'give exactly one of `operation` (a Greengrass request) and `action` (an AWS IoT action)');
  const snapshot = ctx.policy.current;
  const iotInForce = snapshot.iot !== undefined || snapshot.groups.some((g) => g.iotPolicies !== undefined && g.iotPolicies.length > 0);
  const asksConnection = b.action !== undefined || b.certificateId !== undefined || b.retain !== undefined || b.sourceIp !== undefined;
  if (asksConnection && b.attributes !== undefined) {
    throw invalid('attributes', '`attributes` cannot be given with `action`, `certificateId`, `retain` or `sourceIp`: the registered thing\'s connection uses the registry\'s attributes');
  }
  const thing = await ctx.registry.getThing(b.thingName);
  if (!asksConnection && (b.attributes !== undefined || !iotInForce || thing === undefined)) {
    // The device groups alone: the principal as the body describes it.
    let attributes: Readonly<Record<string, string>> = {};
    let attributesFrom: 'request' | 'registry' | 'none' = 'none';
    if (b.attributes !== undefined) {
      attributes = b.attributes;
      attributesFrom = 'request';
    } else if (thing !== undefined) {
      attributes = thing.attributes;
      attributesFrom = 'registry';
    }
    const e = snapshot.explain({ thingName: b.thingName, clientId: b.clientId ?? b.thingName, attributes }, b.operation!, b.resource);
    return { ...e, attributes: { ...attributes }, attributesFrom };
  }

  const deployment = snapshot.iot?.set.deployment ?? ctx.iotDeployment ?? DEFAULT_IOT_DEPLOYMENT;
  let request: ConnectionRequest;
  if (b.action !== undefined) {
    const parsed = parseIotRequest(deployment, b.action, b.resource, b.retain === true);
    if (!parsed.ok) throw invalid(parsed.problem.field, `${parsed.problem.message}; ${parsed.problem.fix}`, parsed.problem.code);
    request = { kind: 'iot', request: parsed.request };
  } else {
    request = { kind: 'greengrass', operation: b.operation!, resource: b.resource, ...(b.retain === true ? { retain: true } : {}) };
  }
  let subject: ConnectionSubject;
  try {
    subject = await registeredConnection(ctx.registry, b.thingName, {
      ...(b.clientId !== undefined ? { clientId: b.clientId } : {}),
      ...(b.certificateId !== undefined ? { certificateId: b.certificateId } : {}),
      ...(b.sourceIp !== undefined ? { sourceIp: b.sourceIp } : {}),
    });
  } catch (e) {
    if (e instanceof ConnectionChoiceError) {
      const fix = e.code === 'THING_CERTIFICATE_AMBIGUOUS' ? `; name one in \`certificateId\`: ${e.certificateIds.join(', ')}` : '';
      throw invalid('certificateId', e.message + fix, e.code);
    }
    if (e instanceof RegistryError && (EXPLAIN_REASONS as readonly string[]).includes(e.code)) {
      throw invalid(e.code === 'THING_NOT_FOUND' ? 'thingName' : 'certificateId', e.message, e.code);
    }
    throw e;
  }
  return body(explainConnection(snapshot, subject, request, () => ctx.clock().getTime()), subject);
}

function body(ex: ConnectionExplanation, subject: ConnectionSubject): Record<string, unknown> {
  const { operation, action, ...rest } = ex;
  return {
    ...rest,
    operation: operation ?? action,
    ...(action !== undefined ? { action } : {}),
    attributes: { ...subject.principal.attributes },
    attributesFrom: 'registry',
  };
}
