/**
 * The ARNs of the resources management calls name, in the form IAM policies match them
 * against (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html):
 *
 * - AWS IoT: `arn:PARTITION:iot:REGION:ACCOUNT:TYPE/NAME` (thing, thinggroup, thingtype,
 *   cert/ID, cacert/ID, policy, rolealias);
 * - IAM and STS are global: the region is empty (`arn:aws:iam::123456789012:user/alice`,
 *   `arn:aws:sts::123456789012:assumed-role/ROLE/SESSION`);
 * - AWS IoT resources as the service authorization reference lists them
 *   (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html#awsiot-resources-for-iam-policies);
 * - Greengrass connectivity information
 *   (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiotgreengrassv2.html):
 *   `arn:PARTITION:greengrass:REGION:ACCOUNT:/greengrass/things/THING/connectivityInfo`;
 * - Gatehouse's own sessions: `arn:PARTITION:gatehouse:REGION:ACCOUNT:session/ID`.
 *
 * Names are put in as given: an ARN is matched as text, so the caller passes names
 * already validated by the API.
 */
import type { IotDeployment } from '../iot/context.js';
import type { IamResourceType } from './actions.js';

/** Every kind of ARN `arnFor` builds: the resource types of requests, and the principals (an assumed-role session). */
export type IamArnKind = Exclude<IamResourceType, '*' | 'iot:taggable' | 'iot:policytarget'> | 'sts:assumed-role';

/**
 * The ARN of a resource of `kind` named `name` at `deployment`. For `sts:assumed-role`,
 * `name` is `ROLE/SESSION`; for `iam:user` and `iam:role` it may carry a path
 * (`division/alice`).
 */
export function arnFor(kind: IamArnKind, name: string, deployment: IotDeployment): string {
  const { partition, region, accountId } = deployment;
  switch (kind) {
    case 'iot:thing': return `arn:${partition}:iot:${region}:${accountId}:thing/${name}`;
    case 'iot:thingtype': return `arn:${partition}:iot:${region}:${accountId}:thingtype/${name}`;
    case 'iot:thinggroup': return `arn:${partition}:iot:${region}:${accountId}:thinggroup/${name}`;
    case 'iot:cert': return `arn:${partition}:iot:${region}:${accountId}:cert/${name}`;
    case 'iot:cacert': return `arn:${partition}:iot:${region}:${accountId}:cacert/${name}`;
    case 'iot:policy': return `arn:${partition}:iot:${region}:${accountId}:policy/${name}`;
    case 'iot:rolealias': return `arn:${partition}:iot:${region}:${accountId}:rolealias/${name}`;
    case 'iot:job': return `arn:${partition}:iot:${region}:${accountId}:job/${name}`;
    case 'iam:user': return `arn:${partition}:iam::${accountId}:user/${name}`;
    case 'iam:role': return `arn:${partition}:iam::${accountId}:role/${name}`;
    case 'iam:policy': return `arn:${partition}:iam::${accountId}:policy/${name}`;
    case 'sts:assumed-role': return `arn:${partition}:sts::${accountId}:assumed-role/${name}`;
    case 'greengrass:connectivityInfo': return `arn:${partition}:greengrass:${region}:${accountId}:/greengrass/things/${name}/connectivityInfo`;
    case 'gatehouse:session': return `arn:${partition}:gatehouse:${region}:${accountId}:session/${name}`;
    case 'iot:topic': return `arn:${partition}:iot:${region}:${accountId}:topic/${name}`;
  }
}
