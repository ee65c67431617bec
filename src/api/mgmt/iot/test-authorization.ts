/**
 * TestAuthorization (https://docs.aws.amazon.com/iot/latest/apireference/API_TestAuthorization.html):
 * would this certificate's connection be allowed these MQTT actions? Decided by the
 * same machinery as the broker and the local API's explain endpoint: the connection the
 * registered thing would make with that certificate (its attributes, groups and
 * certificate from the registry) under the device groups and the IoT policies in force.
 *
 * The connection is the thing named by `clientId` (the broker requires the client ID to
 * be the thing name), or the one thing the certificate is attached to.
 *
 * What differs from AWS IoT: `policyNamesToAdd` and `policyNamesToSkip` are refused
 * (the decision uses the compiled policies in force, nothing else); the certificate's
 * status is not considered (as in AWS, the test is about policies); a decision made by a
 * Gatehouse device-group policy names that policy with no ARN; `missingContextValues`
 * is always empty.
 */
import { explainConnection, parseIotRequest, type ConnectionExplanation } from '../../../core/index.js';
import { ConnectionChoiceError, registeredConnection } from '../../../identity/iot-connection.js';
import { AwsServiceError } from '../aws/errors.js';
import type { AwsCall, AwsOperation, Input } from '../aws/operation.js';
import { principalCertificate } from './certificates.js';
import { EXAMPLE_CERT_ID, arn, authorizeOn, exampleArn, iotInput } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

const ACTION_TYPES: Readonly<Record<string, string>> = { PUBLISH: 'iot:Publish', SUBSCRIBE: 'iot:Subscribe', RECEIVE: 'iot:Receive', CONNECT: 'iot:Connect' };

interface AuthInfo {
  readonly actionType: string;
  readonly resources: readonly string[];
}

function authInfos(input: Input): AuthInfo[] {
  const list = input.list('authInfos');
  if (list === undefined || list.length === 0) throw input.fail('authInfos is required');
  if (list.length > 10) throw input.fail('authInfos holds at most 10 entries');
  return list.map((v, i) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw input.fail(`authInfos[${i}] must be an object`);
    const { actionType, resources } = v as Record<string, unknown>;
    if (typeof actionType !== 'string' || ACTION_TYPES[actionType] === undefined) throw input.fail(`authInfos[${i}].actionType must be PUBLISH, SUBSCRIBE, RECEIVE or CONNECT`);
    if (!Array.isArray(resources) || resources.length === 0 || !resources.every((r): r is string => typeof r === 'string')) {
      throw input.fail(`authInfos[${i}].resources must be a non-empty list of resource ARNs`);
    }
    return { actionType, resources };
  });
}

async function testAuthorization(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const infos = authInfos(input);
  const id = principalCertificate(ctx, input, input.string('principal'));
  const clientId = input.queryString('clientId');
  if (input.string('cognitoIdentityPoolId') !== undefined) throw input.fail('Amazon Cognito identities are not supported by this gateway');
  if ((input.stringList('policyNamesToAdd') ?? []).length > 0 || (input.stringList('policyNamesToSkip') ?? []).length > 0) {
    throw input.fail('policyNamesToAdd and policyNamesToSkip are not supported: the test uses the policies in force');
  }
  await authorizeOn(ctx, call, 'iot:TestAuthorization', arn(ctx, 'cert', id), { kind: 'cert', id });

  if ((await ctx.registry.getCertificate(id)) === undefined) throw new AwsServiceError('ResourceNotFoundException', `certificate ${id} does not exist`);
  let thingName = clientId;
  if (thingName === undefined) {
    const things = await ctx.registry.thingsForCertificate(id);
    if (things.length !== 1) {
      throw input.fail(things.length === 0
        ? `certificate ${id} is attached to no thing, so it cannot connect; attach it (AttachThingPrincipal)`
        : `certificate ${id} is attached to several things (${things.join(', ')}); name the one that connects in clientId`);
    }
    thingName = things[0]!;
  }
  let subject;
  try {
    subject = await registeredConnection(ctx.registry, thingName, { certificateId: id });
  } catch (e) {
    if (e instanceof ConnectionChoiceError) throw input.fail(e.message);
    throw e;
  }
  const snapshot = ctx.policy.current;
  const deployment = ctx.deployment();
  const now = (): number => ctx.clock().getTime();
  const authResults = infos.map((info) => {
    const action = ACTION_TYPES[info.actionType]!;
    const results: ConnectionExplanation[] = info.resources.map((resource) => {
      const parsed = parseIotRequest(deployment, action, resource);
      if (!parsed.ok) throw input.fail(`${parsed.problem.message}; ${parsed.problem.fix}`);
      return explainConnection(snapshot, subject, { kind: 'iot', request: parsed.request }, now);
    });
    return authResult(ctx, info, results);
  });
  return { authResults };
}

/** Every resource allowed → ALLOWED; any explicit deny → EXPLICIT_DENY; else IMPLICIT_DENY. */
function authResult(ctx: Ctx, info: AuthInfo, results: readonly ConnectionExplanation[]): Record<string, unknown> {
  const ref = (r: ConnectionExplanation): { policyName: string; policyArn?: string } | undefined => {
    if (r.policy === undefined) return undefined;
    return r.dialect === 'iot' ? { policyName: r.policy, policyArn: arn(ctx, 'policy', r.policy) } : { policyName: r.policy };
  };
  const refs = (rs: readonly ConnectionExplanation[]): { policyName: string; policyArn?: string }[] => {
    const seen = new Map<string, { policyName: string; policyArn?: string }>();
    for (const r of rs) {
      const p = ref(r);
      if (p !== undefined) seen.set(p.policyName, p);
    }
    return [...seen.values()];
  };
  const explicit = results.filter((r) => !r.allowed && r.reason === 'DENIED_BY_STATEMENT');
  const implicit = results.filter((r) => !r.allowed && r.reason !== 'DENIED_BY_STATEMENT');
  const allowed = results.filter((r) => r.allowed);
  const authDecision = explicit.length > 0 ? 'EXPLICIT_DENY' : implicit.length > 0 ? 'IMPLICIT_DENY' : 'ALLOWED';
  return {
    authInfo: { actionType: info.actionType, resources: [...info.resources] },
    allowed: { policies: refs(allowed) },
    denied: { implicitDeny: { policies: refs(implicit) }, explicitDeny: { policies: refs(explicit) } },
    authDecision,
    missingContextValues: [],
  };
}

export const TEST_AUTHORIZATION_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  {
    name: 'TestAuthorization', method: 'POST', path: '/test-authorization', action: 'iot:TestAuthorization',
    summary: 'Decides MQTT actions for a registered certificate\'s connection',
    example: { path: '/test-authorization', body: { principal: exampleArn('cert', EXAMPLE_CERT_ID), authInfos: [{ actionType: 'CONNECT', resources: [exampleArn('client', 'example-thing')] }] } },
    handler: testAuthorization,
  },
];
