/**
 * The ARNs of the AWS IoT and Greengrass resources the management API acts on, as IAM
 * policies name them (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html,
 * "Resource types defined by AWS IoT"), built from the gateway's `gatehouse.iot`
 * partition, region and account, and read back from requests that name a resource by
 * ARN (AttachPolicy's target, TagResource, AddThingToThingGroup's `thingArn`).
 */
import type { IotDeployment } from '../../../core/index.js';
import type { TagTarget } from '../../../identity/control.js';

export type IotArnType = 'thing' | 'thinggroup' | 'cert' | 'cacert' | 'policy' | 'rolealias' | 'thingtype' | 'job';

export function iotResourceArn(d: IotDeployment, type: IotArnType, name: string): string {
  return `arn:${d.partition}:iot:${d.region}:${d.accountId}:${type}/${name}`;
}

/** `arn:aws:greengrass:REGION:ACCOUNT:/greengrass/things/THING/connectivityInfo` (the Greengrass IAM page's ConnectivityInfo resource). */
export function connectivityInfoArn(d: IotDeployment, thingName: string): string {
  return `arn:${d.partition}:greengrass:${d.region}:${d.accountId}:/greengrass/things/${thingName}/connectivityInfo`;
}

/** The IoT resource an ARN of this deployment names, or undefined for anything else. */
export function parseIotArn(d: IotDeployment, arn: string): { readonly type: IotArnType; readonly name: string } | undefined {
  const prefix = `arn:${d.partition}:iot:${d.region}:${d.accountId}:`;
  if (!arn.startsWith(prefix)) return undefined;
  const rest = arn.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const type = rest.slice(0, slash);
  const name = rest.slice(slash + 1);
  if (name === '' || name.includes('/')) return undefined;
  switch (type) {
    case 'thing':
    case 'thinggroup':
    case 'cert':
    case 'cacert':
    case 'policy':
    case 'rolealias':
    case 'thingtype':
      return { type, name };
    default:
      return undefined;
  }
}

/** The control store's tag target for an IoT resource type that carries tags. */
export function tagTargetOf(type: IotArnType, name: string): TagTarget | undefined {
  switch (type) {
    case 'thing':
      return { kind: 'thing', name };
    case 'thinggroup':
      return { kind: 'thinggroup', name };
    case 'policy':
      return { kind: 'policy', name };
    case 'cert':
      return { kind: 'cert', id: name };
    case 'cacert':
      return { kind: 'cacert', id: name };
    case 'rolealias':
      return { kind: 'rolealias', name };
    default:
      return undefined;
  }
}
