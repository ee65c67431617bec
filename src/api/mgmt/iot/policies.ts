/**
 * AWS IoT policies, their versions and attachments: CreatePolicy, GetPolicy,
 * ListPolicies, DeletePolicy, CreatePolicyVersion, GetPolicyVersion, ListPolicyVersions,
 * SetDefaultPolicyVersion, DeletePolicyVersion, AttachPolicy, DetachPolicy,
 * ListAttachedPolicies, ListTargetsForPolicy
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CreatePolicy.html and the
 * neighbouring pages), on the registry's IoT policies. The registry keeps AWS IoT's rules
 * (at most five versions, the default one in force, no deletion while attached or while
 * other versions exist); a document the IoT policy grammar rejects is
 * MalformedPolicyException with every problem found.
 *
 * What differs: targets are certificates and static thing groups only (no Amazon
 * Cognito identities); no `generationId` is answered.
 */
import type { IotPolicy, PolicyTarget } from '../../../identity/registry.js';
import { parseIotArn } from '../aws/arns.js';
import { AwsServiceError } from '../aws/errors.js';
import { epochSeconds, out, page, type AwsCall, type AwsOperation, type Input } from '../aws/operation.js';
import { certificateIdOf } from './certificates.js';
import { DEFAULT_PAGE_SIZE, EXAMPLE_CERT_ID, exampleArn, arn, authorizeOn, createdKey, iotInput, sortBy } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

const policyRef = (ctx: Ctx, name: string): { policyName: string; policyArn: string } => ({ policyName: name, policyArn: arn(ctx, 'policy', name) });

function versionOf(input: Input): number {
  const v = input.label('policyVersionId');
  if (!/^[1-9]\d{0,8}$/.test(v)) throw input.fail('policyVersionId must be a version number');
  return Number(v);
}

async function getPolicy(ctx: Ctx, name: string): Promise<IotPolicy> {
  const p = await ctx.registry.getPolicy(name);
  if (p === undefined) throw new AwsServiceError('ResourceNotFoundException', `policy \`${name}\` does not exist`);
  return p;
}

/** A certificate or thing group ARN as a registry target, with its ARN and tag target. */
function targetOf(ctx: Ctx, input: Input, value: string | undefined): { target: PolicyTarget; arn: string } {
  if (value === undefined || value === '') throw input.fail('target is required');
  const parsed = parseIotArn(ctx.deployment(), value);
  if (parsed?.type === 'cert') {
    const id = certificateIdOf(input, parsed.name);
    return { target: { kind: 'certificate', certificateId: id }, arn: arn(ctx, 'cert', id) };
  }
  if (parsed?.type === 'thinggroup') return { target: { kind: 'thingGroup', groupName: parsed.name }, arn: arn(ctx, 'thinggroup', parsed.name) };
  throw input.fail('target must be a certificate or thing group ARN of this gateway');
}

const tagTargetOfPolicyTarget = (t: PolicyTarget): { kind: 'cert'; id: string } | { kind: 'thinggroup'; name: string } =>
  t.kind === 'certificate' ? { kind: 'cert', id: t.certificateId } : { kind: 'thinggroup', name: t.groupName };

async function createPolicy(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const document = input.requiredString('policyDocument');
  const tags = input.tags();
  const policyArn = arn(ctx, 'policy', name);
  await authorizeOn(ctx, call, 'iot:CreatePolicy', policyArn, undefined, tags);
  const p = await ctx.registry.createPolicy(name, document);
  if (tags !== undefined && Object.keys(tags).length > 0) await ctx.control.tagResource({ kind: 'policy', name }, tags);
  return { policyName: p.name, policyArn, policyDocument: p.document, policyVersionId: String(p.defaultVersion) };
}

async function getPolicyOp(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const policyArn = arn(ctx, 'policy', name);
  await authorizeOn(ctx, call, 'iot:GetPolicy', policyArn, { kind: 'policy', name });
  const p = await getPolicy(ctx, name);
  return {
    policyName: p.name, policyArn, policyDocument: p.document, defaultVersionId: String(p.defaultVersion),
    creationDate: epochSeconds(p.createdAt), lastModifiedDate: epochSeconds(p.updatedAt),
  };
}

async function listPolicies(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('pageSize', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const marker = input.queryString('marker');
  const descending = input.queryBool('isAscendingOrder') !== true;
  await call.authorize({ action: 'iot:ListPolicies', resource: '*' });
  const key = (p: IotPolicy): string => createdKey(p.createdAt, p.name);
  const all = sortBy(await ctx.registry.listPolicies(), key, descending);
  const p = page(all, key, marker, size, input, descending);
  return out({ policies: p.items.map((x) => policyRef(ctx, x.name)), nextMarker: p.next });
}

async function deletePolicy(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const name = input.label('policyName');
  await authorizeOn(ctx, call, 'iot:DeletePolicy', arn(ctx, 'policy', name), { kind: 'policy', name });
  await ctx.registry.deletePolicy(name);
  return undefined;
}

async function createPolicyVersion(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const document = input.requiredString('policyDocument');
  const setAsDefault = input.queryBool('setAsDefault') === true;
  const policyArn = arn(ctx, 'policy', name);
  await authorizeOn(ctx, call, 'iot:CreatePolicyVersion', policyArn, { kind: 'policy', name });
  const v = await ctx.registry.createPolicyVersion(name, document, { setAsDefault });
  return { policyArn, policyDocument: v.document, policyVersionId: String(v.version), isDefaultVersion: v.isDefault };
}

async function getPolicyVersion(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const version = versionOf(input);
  const policyArn = arn(ctx, 'policy', name);
  await authorizeOn(ctx, call, 'iot:GetPolicyVersion', policyArn, { kind: 'policy', name });
  const p = await getPolicy(ctx, name);
  const v = await ctx.registry.getPolicyVersion(name, version);
  if (v === undefined) throw new AwsServiceError('ResourceNotFoundException', `policy \`${name}\` has no version ${version}`);
  return {
    policyArn, policyName: name, policyDocument: v.document, policyVersionId: String(v.version), isDefaultVersion: v.isDefault,
    creationDate: epochSeconds(v.createdAt), lastModifiedDate: epochSeconds(v.isDefault ? p.updatedAt : v.createdAt),
  };
}

async function listPolicyVersions(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('policyName');
  await authorizeOn(ctx, call, 'iot:ListPolicyVersions', arn(ctx, 'policy', name), { kind: 'policy', name });
  await getPolicy(ctx, name);
  const versions = await ctx.registry.listPolicyVersions(name);
  return { policyVersions: [...versions].reverse().map((v) => ({ versionId: String(v.version), isDefaultVersion: v.isDefault, createDate: epochSeconds(v.createdAt) })) };
}

async function setDefaultPolicyVersion(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const version = versionOf(input);
  await authorizeOn(ctx, call, 'iot:SetDefaultPolicyVersion', arn(ctx, 'policy', name), { kind: 'policy', name });
  await ctx.registry.setDefaultPolicyVersion(name, version);
  return undefined;
}

async function deletePolicyVersion(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const version = versionOf(input);
  await authorizeOn(ctx, call, 'iot:DeletePolicyVersion', arn(ctx, 'policy', name), { kind: 'policy', name });
  await ctx.registry.deletePolicyVersion(name, version);
  return undefined;
}

async function attachPolicy(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const t = targetOf(ctx, input, input.string('target'));
  // The service authorization reference puts AttachPolicy on the target (cert or thinggroup).
  await authorizeOn(ctx, call, 'iot:AttachPolicy', t.arn, tagTargetOfPolicyTarget(t.target));
  await ctx.registry.attachPolicy(name, t.target);
  return undefined;
}

async function detachPolicy(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const t = targetOf(ctx, input, input.string('target'));
  await authorizeOn(ctx, call, 'iot:DetachPolicy', t.arn, tagTargetOfPolicyTarget(t.target));
  await ctx.registry.detachPolicy(name, t.target);
  return undefined;
}

async function listAttachedPolicies(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const t = targetOf(ctx, input, input.label('target'));
  const recursive = input.queryBool('recursive') === true;
  const size = input.queryInt('pageSize', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const marker = input.queryString('marker');
  // The service authorization reference lists no resource type for ListAttachedPolicies: `*`.
  await call.authorize({ action: 'iot:ListAttachedPolicies', resource: '*' });
  const names = new Set<string>();
  if (t.target.kind === 'certificate') {
    if ((await ctx.registry.getCertificate(t.target.certificateId)) === undefined) throw new AwsServiceError('ResourceNotFoundException', `certificate ${t.target.certificateId} does not exist`);
    for (const n of await ctx.registry.policiesForTarget(t.target)) names.add(n);
  } else {
    // A thing group's own policies, and with `recursive` those of its ancestors (which its things inherit).
    let group = await ctx.registry.getThingGroup(t.target.groupName);
    if (group === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing group \`${t.target.groupName}\` does not exist`);
    while (group !== undefined) {
      for (const n of await ctx.registry.policiesForTarget({ kind: 'thingGroup', groupName: group.name })) names.add(n);
      group = recursive && group.parent !== null ? await ctx.registry.getThingGroup(group.parent) : undefined;
    }
  }
  const p = page([...names].sort(), (n) => n, marker, size, input);
  return out({ policies: p.items.map((n) => policyRef(ctx, n)), nextMarker: p.next });
}

async function listTargetsForPolicy(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const name = input.label('policyName');
  const size = input.queryInt('pageSize', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const marker = input.queryString('marker');
  await authorizeOn(ctx, call, 'iot:ListTargetsForPolicy', arn(ctx, 'policy', name), { kind: 'policy', name });
  await getPolicy(ctx, name);
  const targets = (await ctx.registry.policyTargets(name)).map((t) => (t.kind === 'certificate' ? arn(ctx, 'cert', t.certificateId) : arn(ctx, 'thinggroup', t.groupName))).sort();
  const p = page(targets, (a) => a, marker, size, input);
  return out({ targets: p.items, nextMarker: p.next });
}

const POLICY_PATH = '/policies/example-policy';
const DOC = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}';

export const POLICY_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'CreatePolicy', method: 'POST', path: '/policies/{policyName}', action: 'iot:CreatePolicy', summary: 'Creates an AWS IoT policy', example: { path: POLICY_PATH, body: { policyDocument: DOC } }, handler: createPolicy },
  { name: 'GetPolicy', method: 'GET', path: '/policies/{policyName}', action: 'iot:GetPolicy', summary: 'Gets a policy and its default version', example: { path: POLICY_PATH }, handler: getPolicyOp },
  { name: 'ListPolicies', method: 'GET', path: '/policies', action: 'iot:ListPolicies', summary: 'Lists policies', example: { path: '/policies' }, handler: listPolicies },
  { name: 'DeletePolicy', method: 'DELETE', path: '/policies/{policyName}', action: 'iot:DeletePolicy', summary: 'Deletes a policy', example: { path: POLICY_PATH }, handler: deletePolicy },
  { name: 'CreatePolicyVersion', method: 'POST', path: '/policies/{policyName}/version', action: 'iot:CreatePolicyVersion', summary: 'Creates a policy version', example: { path: `${POLICY_PATH}/version?setAsDefault=true`, body: { policyDocument: DOC } }, handler: createPolicyVersion },
  { name: 'GetPolicyVersion', method: 'GET', path: '/policies/{policyName}/version/{policyVersionId}', action: 'iot:GetPolicyVersion', summary: 'Gets a policy version', example: { path: `${POLICY_PATH}/version/1` }, handler: getPolicyVersion },
  { name: 'ListPolicyVersions', method: 'GET', path: '/policies/{policyName}/version', action: 'iot:ListPolicyVersions', summary: 'Lists the versions of a policy', example: { path: `${POLICY_PATH}/version` }, handler: listPolicyVersions },
  { name: 'SetDefaultPolicyVersion', method: 'PATCH', path: '/policies/{policyName}/version/{policyVersionId}', action: 'iot:SetDefaultPolicyVersion', summary: 'Makes a version the one in force', example: { path: `${POLICY_PATH}/version/1` }, handler: setDefaultPolicyVersion },
  { name: 'DeletePolicyVersion', method: 'DELETE', path: '/policies/{policyName}/version/{policyVersionId}', action: 'iot:DeletePolicyVersion', summary: 'Deletes a policy version', example: { path: `${POLICY_PATH}/version/1` }, handler: deletePolicyVersion },
  { name: 'AttachPolicy', method: 'PUT', path: '/target-policies/{policyName}', action: 'iot:AttachPolicy', summary: 'Attaches a policy to a certificate or thing group', example: { path: '/target-policies/example-policy', body: { target: exampleArn('cert', EXAMPLE_CERT_ID) } }, handler: attachPolicy },
  { name: 'DetachPolicy', method: 'POST', path: '/target-policies/{policyName}', action: 'iot:DetachPolicy', summary: 'Detaches a policy', example: { path: '/target-policies/example-policy', body: { target: exampleArn('thinggroup', 'example-group') } }, handler: detachPolicy },
  { name: 'ListAttachedPolicies', method: 'POST', path: '/attached-policies/{target}', action: 'iot:ListAttachedPolicies', summary: 'Lists the policies attached to a certificate or thing group', example: { path: `/attached-policies/${encodeURIComponent(exampleArn('cert', EXAMPLE_CERT_ID))}` }, handler: listAttachedPolicies },
  { name: 'ListTargetsForPolicy', method: 'POST', path: '/policy-targets/{policyName}', action: 'iot:ListTargetsForPolicy', summary: 'Lists what a policy is attached to', example: { path: '/policy-targets/example-policy' }, handler: listTargetsForPolicy },
];
