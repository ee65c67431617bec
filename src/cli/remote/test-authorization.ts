/**
 * `gatehouse authorize` against a remote gateway: TestAuthorization
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_TestAuthorization.html) for the
 * registered thing's certificate, decided by the gateway with the device groups and AWS
 * IoT policies in force.
 *
 * What carries over from the local `authorize --data-dir`: one MQTT action of AWS IoT
 * (iot:Connect, iot:Publish, iot:Subscribe, iot:Receive: TestAuthorization's action types)
 * on one resource, for a registered thing and the certificate it connects with (the one
 * attached, or `--cert` when several are). The answer is the decision and the policies
 * that allowed or denied, not the local explanation (reason code, deciding statement,
 * groups): TestAuthorization does not carry those.
 */
import { parseIotRequest, type IotDeployment } from '../../core/index.js';
import { CliError, EXIT } from '../output.js';
import type { RemoteClient } from './client.js';
import { RemoteRegistry } from './registry.js';

/** TestAuthorization's action types, by the IoT action each stands for. */
const ACTION_TYPES: Readonly<Record<string, string>> = { 'iot:Connect': 'CONNECT', 'iot:Publish': 'PUBLISH', 'iot:Subscribe': 'SUBSCRIBE', 'iot:Receive': 'RECEIVE' };

export interface RemoteDecisionRequest {
  readonly thingName: string;
  /** A certificate id or unique prefix; required when several certificates are attached. */
  readonly certificate?: string;
  readonly action: string;
  readonly resource: string;
}

export interface PolicyRef {
  readonly policyName: string;
  readonly policyArn?: string;
}

export interface RemoteDecision {
  readonly thingName: string;
  readonly certificateId: string;
  readonly action: string;
  /** The resource's ARN. */
  readonly resource: string;
  readonly allowed: boolean;
  /** TestAuthorization's `authDecision`: ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY. */
  readonly authDecision: string;
  readonly allowedBy: readonly PolicyRef[];
  readonly explicitDenyBy: readonly PolicyRef[];
  readonly implicitDenyBy: readonly PolicyRef[];
}

const unsupported = (what: string, why: string): CliError =>
  new CliError('REMOTE_UNSUPPORTED', `${what} cannot be used with \`gatehouse authorize\` against a remote gateway: ${why}`, EXIT.USAGE,
    'run `gatehouse authorize --config FILE --data-dir DIR` on the gateway\'s machine for it');

/** The options of the local command that TestAuthorization cannot express, refused by name. */
export function refuseLocalOnlyOptions(opts: { readonly attribute: readonly string[]; readonly requests?: string; readonly sourceIp?: string; readonly retain?: boolean; readonly clientId?: string; readonly thing?: string }): void {
  if (opts.requests !== undefined) throw unsupported('--requests', 'TestAuthorization decides for one certificate per call; give one request with --thing, --operation and --resource');
  if (opts.attribute.length > 0) throw unsupported('--attribute', 'the gateway decides with the registered thing\'s attributes');
  if (opts.sourceIp !== undefined) throw unsupported('--source-ip', 'TestAuthorization has no source address');
  if (opts.retain === true) throw unsupported('--retain', 'TestAuthorization has no retained publish (iot:RetainPublish is not one of its action types)');
  if (opts.clientId !== undefined && opts.clientId !== opts.thing) throw unsupported('--client-id', 'the gateway decides for the connection of the thing, whose MQTT client ID is the thing name');
}

/** Asks the gateway: ListThingPrincipals to choose the certificate, then TestAuthorization. */
export async function remoteDecision(client: RemoteClient, deployment: () => Promise<IotDeployment>, request: RemoteDecisionRequest): Promise<RemoteDecision> {
  const parsed = parseIotRequest(await deployment(), request.action, request.resource);
  if (!parsed.ok) {
    if (parsed.problem.code === 'IOT_REQUEST_ACTION_UNKNOWN' && !/^iot(jobsdata)?:/i.test(request.action)) {
      throw unsupported(`--operation ${request.action}`, 'a Greengrass operation (mqtt:…) is decided against a configuration file; TestAuthorization decides AWS IoT actions (iot:Connect, iot:Publish, iot:Subscribe, iot:Receive)');
    }
    throw new CliError(parsed.problem.code, `${request.thingName}: ${parsed.problem.message}`, EXIT.USAGE, parsed.problem.fix);
  }
  const { action, resource } = parsed.request;
  const actionType = ACTION_TYPES[action];
  if (actionType === undefined) throw unsupported(`--operation ${action}`, 'TestAuthorization decides iot:Connect, iot:Publish, iot:Subscribe and iot:Receive only');

  const registry = new RemoteRegistry(client);
  if ((await registry.getThing(request.thingName)) === undefined) {
    throw new CliError('THING_NOT_FOUND', `thing \`${request.thingName}\` is not registered`, EXIT.INVALID, 'create it with `gatehouse things create`, or check the name');
  }
  const attached = await registry.certificatesForThing(request.thingName);
  let certificateId: string;
  if (request.certificate !== undefined) {
    certificateId = await registry.resolveCertificateId(request.certificate);
    if (!attached.includes(certificateId)) {
      throw new CliError('CERT_NOT_ATTACHED', `certificate ${certificateId} is not attached to thing \`${request.thingName}\``, EXIT.INVALID,
        attached.length > 0 ? `choose one of its certificates: ${attached.join(', ')}` : 'attach it with `gatehouse things attach`');
    }
  } else if (attached.length === 1) {
    certificateId = attached[0]!;
  } else if (attached.length === 0) {
    throw new CliError('THING_HAS_NO_CERTIFICATE', `thing \`${request.thingName}\` has no certificate attached, so it cannot connect`, EXIT.INVALID,
      'attach a certificate to the thing (`gatehouse things attach`) and explain again');
  } else {
    throw new CliError('THING_CERTIFICATE_AMBIGUOUS', `thing \`${request.thingName}\` has ${attached.length} certificates attached: say which one connects`, EXIT.USAGE,
      `pass --cert with one of: ${attached.join(', ')}`);
  }

  const answer = await client.call<{ authResults?: unknown }>({
    service: 'iot', operation: 'TestAuthorization', method: 'POST', path: '/test-authorization', query: { clientId: request.thingName },
    body: { principal: await registry.certificateArn(certificateId), authInfos: [{ actionType, resources: [resource] }] },
  });
  const result = Array.isArray(answer.authResults) ? (answer.authResults[0] as Record<string, unknown> | undefined) : undefined;
  const authDecision = typeof result?.['authDecision'] === 'string' ? result['authDecision'] : undefined;
  if (result === undefined || authDecision === undefined) throw new CliError('REMOTE_PROTOCOL_ERROR', 'TestAuthorization answered without an authDecision', EXIT.INVALID, 'check that the endpoint is a Gatehouse management API');
  const denied = (result['denied'] ?? {}) as Record<string, unknown>;
  return {
    thingName: request.thingName, certificateId, action, resource,
    allowed: authDecision === 'ALLOWED', authDecision,
    allowedBy: policies(result['allowed']),
    explicitDenyBy: policies(denied['explicitDeny']),
    implicitDenyBy: policies(denied['implicitDeny']),
  };
}

function policies(v: unknown): PolicyRef[] {
  const list = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['policies'] : undefined;
  if (!Array.isArray(list)) return [];
  return list.flatMap((p): PolicyRef[] => {
    const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    const name = o['policyName'];
    if (typeof name !== 'string') return [];
    return [typeof o['policyArn'] === 'string' ? { policyName: name, policyArn: o['policyArn'] } : { policyName: name }];
  });
}
