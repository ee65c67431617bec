/**
 * Every action the management API authorizes, with the type of resource its request
 * names: the AWS IoT control-plane actions as IAM knows them
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html),
 * `sts:` (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html),
 * Greengrass connectivity information
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiotgreengrassv2.html),
 * `iam:` users, roles, managed policies and access keys
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html),
 * and Gatehouse's own operations under the `gatehouse:` prefix.
 *
 * A request names one resource: the ARN of the resource type below (see `arns.ts`), or
 * `*` for an action for which AWS lists no resource type ("you must specify all
 * resources (`*`)": the list operations, and a few more such as
 * iot:ListAttachedPolicies and iot:RegisterCertificate). The types are AWS's, including
 * where they surprise: iot:AttachThingPrincipal, iot:DetachThingPrincipal and
 * iot:ListPrincipalThings are authorized on the certificate, not the thing, and
 * iot:TestAuthorization on the certificate. An action with several required resource
 * types (iot:AddThingToThingGroup: the group and the thing) is authorized on each: the
 * first in IAM_ACTIONS, the others in IAM_ACTIONS_ALSO_ON.
 *
 * Action names compare case-insensitively; an action value in a policy that matches
 * none of these is a warning (`IAM_POLICY_ACTION_UNKNOWN`), since it can never match a
 * request.
 */
import { ActionCatalog } from '../iot/actions.js';

/** The type of a request's resource ARN (`arns.ts` builds each), or `*` when the action names none. */
export type IamResourceType =
  | 'iot:thing' | 'iot:thingtype' | 'iot:thinggroup' | 'iot:cert' | 'iot:cacert' | 'iot:policy' | 'iot:rolealias' | 'iot:job'
  /** The ARN of whichever resource the tag call names (a thing group, thing type, policy, CA certificate, role alias, …). */
  | 'iot:taggable'
  /** The certificate or thing group a policy is attached to or detached from (`cert/ID` or `thinggroup/NAME`). */
  | 'iot:policytarget'
  | 'iam:user' | 'iam:role' | 'iam:policy'
  | 'greengrass:connectivityInfo'
  | 'gatehouse:session'
  /** An MQTT topic (`topic/TOPIC`): Publish, RetainPublish and the retained messages. */
  | 'iot:topic'
  | '*';

export const IAM_ACTIONS: Readonly<Record<string, IamResourceType>> = Object.freeze({
  // AWS IoT: things
  'iot:CreateThing': 'iot:thing',
  'iot:DescribeThing': 'iot:thing',
  'iot:ListThings': '*',
  'iot:UpdateThing': 'iot:thing',
  'iot:DeleteThing': 'iot:thing',
  // thing types
  'iot:CreateThingType': 'iot:thingtype',
  'iot:DescribeThingType': 'iot:thingtype',
  'iot:ListThingTypes': '*',
  'iot:DeleteThingType': 'iot:thingtype',
  'iot:DeprecateThingType': 'iot:thingtype',
  // thing groups and membership
  'iot:CreateThingGroup': 'iot:thinggroup',
  'iot:DescribeThingGroup': 'iot:thinggroup',
  'iot:ListThingGroups': '*',
  'iot:UpdateThingGroup': 'iot:thinggroup',
  'iot:DeleteThingGroup': 'iot:thinggroup',
  'iot:AddThingToThingGroup': 'iot:thinggroup',
  'iot:RemoveThingFromThingGroup': 'iot:thinggroup',
  'iot:ListThingsInThingGroup': 'iot:thinggroup',
  'iot:ListThingGroupsForThing': 'iot:thing',
  // certificates
  'iot:RegisterCertificate': '*',
  'iot:RegisterCertificateWithoutCA': '*',
  'iot:CreateKeysAndCertificate': '*',
  'iot:DescribeCertificate': 'iot:cert',
  'iot:ListCertificates': '*',
  'iot:UpdateCertificate': 'iot:cert',
  'iot:DeleteCertificate': 'iot:cert',
  // principals of things
  'iot:AttachThingPrincipal': 'iot:cert',
  'iot:DetachThingPrincipal': 'iot:cert',
  'iot:ListThingPrincipals': 'iot:thing',
  'iot:ListPrincipalThings': 'iot:cert',
  // IoT policies
  'iot:CreatePolicy': 'iot:policy',
  'iot:GetPolicy': 'iot:policy',
  'iot:ListPolicies': '*',
  'iot:DeletePolicy': 'iot:policy',
  'iot:CreatePolicyVersion': 'iot:policy',
  'iot:GetPolicyVersion': 'iot:policy',
  'iot:ListPolicyVersions': 'iot:policy',
  'iot:SetDefaultPolicyVersion': 'iot:policy',
  'iot:DeletePolicyVersion': 'iot:policy',
  'iot:AttachPolicy': 'iot:policytarget',
  'iot:DetachPolicy': 'iot:policytarget',
  'iot:ListAttachedPolicies': '*',
  'iot:ListTargetsForPolicy': 'iot:policy',
  'iot:TestAuthorization': 'iot:cert',
  // CA certificates
  'iot:RegisterCACertificate': '*',
  'iot:DescribeCACertificate': 'iot:cacert',
  'iot:ListCACertificates': '*',
  'iot:UpdateCACertificate': 'iot:cacert',
  'iot:DeleteCACertificate': 'iot:cacert',
  // role aliases
  'iot:CreateRoleAlias': 'iot:rolealias',
  'iot:DescribeRoleAlias': 'iot:rolealias',
  'iot:ListRoleAliases': '*',
  'iot:UpdateRoleAlias': 'iot:rolealias',
  'iot:DeleteRoleAlias': 'iot:rolealias',
  // tags
  'iot:TagResource': 'iot:taggable',
  'iot:UntagResource': 'iot:taggable',
  'iot:ListTagsForResource': 'iot:taggable',
  // STS
  'sts:AssumeRole': 'iam:role',
  'sts:GetCallerIdentity': '*',
  // Greengrass connectivity information
  'greengrass:GetConnectivityInfo': 'greengrass:connectivityInfo',
  'greengrass:UpdateConnectivityInfo': 'greengrass:connectivityInfo',
  // IAM users and access keys
  'iam:CreateUser': 'iam:user',
  'iam:GetUser': 'iam:user',
  'iam:ListUsers': '*',
  'iam:DeleteUser': 'iam:user',
  'iam:CreateAccessKey': 'iam:user',
  'iam:ListAccessKeys': 'iam:user',
  'iam:UpdateAccessKey': 'iam:user',
  'iam:DeleteAccessKey': 'iam:user',
  // roles
  'iam:CreateRole': 'iam:role',
  'iam:GetRole': 'iam:role',
  'iam:ListRoles': '*',
  'iam:DeleteRole': 'iam:role',
  'iam:UpdateAssumeRolePolicy': 'iam:role',
  // managed policies and attachments
  'iam:CreatePolicy': 'iam:policy',
  'iam:GetPolicy': 'iam:policy',
  'iam:ListPolicies': '*',
  'iam:DeletePolicy': 'iam:policy',
  'iam:CreatePolicyVersion': 'iam:policy',
  'iam:GetPolicyVersion': 'iam:policy',
  'iam:ListPolicyVersions': 'iam:policy',
  'iam:SetDefaultPolicyVersion': 'iam:policy',
  'iam:DeletePolicyVersion': 'iam:policy',
  'iam:AttachUserPolicy': 'iam:user',
  'iam:DetachUserPolicy': 'iam:user',
  'iam:AttachRolePolicy': 'iam:role',
  'iam:DetachRolePolicy': 'iam:role',
  'iam:ListAttachedUserPolicies': 'iam:user',
  'iam:ListAttachedRolePolicies': 'iam:role',
  // policy simulation (no resource: the documents are in the request)
  'iam:SimulateCustomPolicy': '*',
  // tags of IAM resources
  'iam:TagUser': 'iam:user',
  'iam:UntagUser': 'iam:user',
  'iam:ListUserTags': 'iam:user',
  'iam:TagRole': 'iam:role',
  'iam:UntagRole': 'iam:role',
  'iam:ListRoleTags': 'iam:role',
  'iam:TagPolicy': 'iam:policy',
  'iam:UntagPolicy': 'iam:policy',
  'iam:ListPolicyTags': 'iam:policy',
  // Gatehouse: the four IPC operations and the EMQX adapter
  // AWS IoT data plane: Device Shadows (the resources of the IoT action-resources page:
  // thing/THING, thing/THING/SHADOW for a named shadow; `*` for the list).
  'iot:GetThingShadow': 'iot:thing',
  'iot:UpdateThingShadow': 'iot:thing',
  'iot:DeleteThingShadow': 'iot:thing',
  'iot:ListNamedShadowsForThing': '*',
  // AWS IoT data plane: Publish and retained messages (topic/TOPIC; `*` for the list).
  'iot:Publish': 'iot:topic',
  'iot:RetainPublish': 'iot:topic',
  'iot:GetRetainedMessage': 'iot:topic',
  'iot:ListRetainedMessages': '*',
  // AWS IoT jobs: the operators' operations on job/JOBID (iot:CreateJob also on each
  // target's thing or thing-group ARN, authorized by the handler), the execution
  // operations of a thing on thing/THING; the devices' jobs data plane on thing/THING.
  'iot:CreateJob': 'iot:job',
  'iot:DescribeJob': 'iot:job',
  'iot:GetJobDocument': 'iot:job',
  'iot:ListJobs': '*',
  'iot:CancelJob': 'iot:job',
  'iot:DeleteJob': 'iot:job',
  'iot:UpdateJob': 'iot:job',
  'iot:CancelJobExecution': 'iot:job',
  'iot:DeleteJobExecution': 'iot:job',
  'iot:ListJobExecutionsForJob': 'iot:job',
  'iot:ListJobExecutionsForThing': 'iot:thing',
  'iot:DescribeJobExecution': 'iot:thing',
  'iot:GetPendingJobExecutions': 'iot:thing',
  'iot:StartNextPendingJobExecution': 'iot:thing',
  'iot:UpdateJobExecution': 'iot:thing',
  'gatehouse:VerifyClientDeviceIdentity': '*',
  'gatehouse:GetClientDeviceAuthToken': '*',
  'gatehouse:AuthorizeClientDeviceAction': '*',
  'gatehouse:SubscribeToCertificateUpdates': '*',
  'gatehouse:EmqxAuthenticate': '*',
  'gatehouse:EmqxAuthorize': '*',
  // sessions
  'gatehouse:ListSessions': '*',
  'gatehouse:CloseSession': 'gatehouse:session',
  'gatehouse:DisconnectSession': 'gatehouse:session',
  // operations
  'gatehouse:Explain': '*',
  'gatehouse:GetMetrics': '*',
  'gatehouse:GetOpenApi': '*',
  'gatehouse:GetConfiguration': '*',
  'gatehouse:ValidateConfiguration': '*',
  'gatehouse:ApplyConfiguration': '*',
  'gatehouse:ListAuditRecords': '*',
  'gatehouse:GetSyncStatus': '*',
  'gatehouse:ListDenials': '*',
  // retained messages (operator view)
  'gatehouse:ListRetainedMessages': '*',
  'gatehouse:GetRetainedMessage': 'iot:topic',
  'gatehouse:DeleteRetainedMessage': 'iot:topic',
});

/**
 * Further resource types an action requires: the caller must be allowed the action on
 * each of these resources as well as on the one of IAM_ACTIONS
 * (iot:AddThingToThingGroup: on the group and on the thing).
 */
export const IAM_ACTIONS_ALSO_ON: Readonly<Record<string, readonly Exclude<IamResourceType, '*'>[]>> = Object.freeze({
  'iot:AddThingToThingGroup': Object.freeze(['iot:thing'] as const),
  'iot:RemoveThingFromThingGroup': Object.freeze(['iot:thing'] as const),
  // The job and the thing whose execution it is (AWS lists both as required).
  'iot:CancelJobExecution': Object.freeze(['iot:thing'] as const),
  'iot:DeleteJobExecution': Object.freeze(['iot:thing'] as const),
});

export const IAM_ACTION_CATALOG = new ActionCatalog(Object.keys(IAM_ACTIONS));

/** The documented spelling of a management action (`IOT:CREATETHING` → `iot:CreateThing`), or undefined when there is none. */
export function canonicalIamAction(action: string): string | undefined {
  return IAM_ACTION_CATALOG.canonical(action);
}
