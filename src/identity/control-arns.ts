/**
 * ARNs of taggable resources, both ways: the resource a `TagResource`-style call names
 * by ARN, and the ARN of a resource. Only ARNs of this gateway's partition, account (and
 * region, for AWS IoT resources) name something here.
 *
 * Forms (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html#awsiot-resources-for-iam-policies,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns):
 * `arn:P:iot:R:A:thing/NAME`, `…:thinggroup/NAME`, `…:policy/NAME`, `…:cert/ID`,
 * `…:cacert/ID`, `…:rolealias/NAME`, `arn:P:iam::A:user/NAME`, `…:role/NAME`,
 * `…:policy/NAME`.
 */
import type { IotDeployment } from '../core/policy/iot/context.js';
import type { TagTarget } from './control.js';

const IOT_KINDS: Readonly<Record<string, 'thing' | 'thinggroup' | 'policy' | 'cert' | 'cacert' | 'rolealias'>> = {
  thing: 'thing', thinggroup: 'thinggroup', policy: 'policy', cert: 'cert', cacert: 'cacert', rolealias: 'rolealias',
};
const IAM_KINDS: Readonly<Record<string, 'user' | 'role' | 'iampolicy'>> = { user: 'user', role: 'role', policy: 'iampolicy' };

/** The resource an ARN of this deployment names, or undefined (another account, region or type, or no ARN). */
export function tagTargetOfArn(arn: string, deployment: IotDeployment): TagTarget | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn' || parts[1] !== deployment.partition || parts[4] !== deployment.accountId) return undefined;
  const resource = parts.slice(5).join(':');
  const slash = resource.indexOf('/');
  if (slash <= 0 || slash === resource.length - 1) return undefined;
  const type = resource.slice(0, slash);
  const name = resource.slice(slash + 1);
  if (parts[2] === 'iot' && parts[3] === deployment.region) {
    const kind = IOT_KINDS[type];
    if (kind === undefined) return undefined;
    return kind === 'cert' || kind === 'cacert' ? { kind, id: name } : { kind, name };
  }
  if (parts[2] === 'iam' && parts[3] === '') {
    const kind = IAM_KINDS[type];
    // IAM paths (`user/division/name`) are not supported: names have no `/`.
    if (kind === undefined || name.includes('/')) return undefined;
    return { kind, name };
  }
  return undefined;
}

/** The ARN of a taggable resource of this deployment. */
export function arnOfTagTarget(target: TagTarget, deployment: IotDeployment): string {
  const { partition, region, accountId } = deployment;
  switch (target.kind) {
    case 'user': return `arn:${partition}:iam::${accountId}:user/${target.name}`;
    case 'role': return `arn:${partition}:iam::${accountId}:role/${target.name}`;
    case 'iampolicy': return `arn:${partition}:iam::${accountId}:policy/${target.name}`;
    case 'cert':
    case 'cacert': return `arn:${partition}:iot:${region}:${accountId}:${target.kind}/${target.id}`;
    default: return `arn:${partition}:iot:${region}:${accountId}:${target.kind}/${target.name}`;
  }
}
