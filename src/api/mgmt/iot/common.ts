/**
 * What the AWS IoT handlers share: the authorization call with the resource's tags,
 * stable ids for records the registry keys by name, the creation-order sort of list
 * operations and the input reader that answers InvalidRequestException.
 */
import { createHash } from 'node:crypto';
import { GatehouseError } from '../../../core/errors.js';
import { DEFAULT_IOT_DEPLOYMENT } from '../../../core/index.js';
import type { TagTarget } from '../../../identity/control.js';
import { iotResourceArn, type IotArnType } from '../aws/arns.js';
import { Input, type AwsCall } from '../aws/operation.js';
import type { IotControlPlaneContext } from './context.js';

export const iotInput = (call: AwsCall): Input => new Input(call, 'InvalidRequestException');

export const arn = (ctx: IotControlPlaneContext, type: IotArnType, name: string): string => iotResourceArn(ctx.deployment(), type, name);

/** The resource's tags, or none when it does not exist (yet). */
export async function tagsOf(ctx: IotControlPlaneContext, target: TagTarget): Promise<Readonly<Record<string, string>>> {
  try {
    return await ctx.control.tagsOf(target);
  } catch (e) {
    if (e instanceof GatehouseError && e.code === 'CONTROL_RESOURCE_NOT_FOUND') return {};
    throw e;
  }
}

/**
 * Authorizes `action` on the resource, with its tags as `aws:ResourceTag/…` when it has
 * some and the tags the request sets as `aws:RequestTag/…`. Must come before the
 * handler acts (and before it reveals whether the resource exists).
 */
export async function authorizeOn(ctx: IotControlPlaneContext, call: AwsCall, action: string, resource: string, target?: TagTarget,
  requestTags?: Readonly<Record<string, string>>, tagKeys?: readonly string[]): Promise<void> {
  const resourceTags = target !== undefined ? await tagsOf(ctx, target) : {};
  await call.authorize({
    action,
    resource,
    ...(Object.keys(resourceTags).length > 0 ? { resourceTags } : {}),
    ...(requestTags !== undefined && Object.keys(requestTags).length > 0 ? { requestTags } : {}),
    ...(tagKeys !== undefined && tagKeys.length > 0 ? { tagKeys } : {}),
  });
}

/**
 * A stable id in UUID form for a record the registry keys by name: derived from the
 * kind, the name and the creation time, so a deleted and re-created thing gets a new id
 * (as AWS IoT's thingId does).
 */
export function derivedId(kind: string, name: string, createdAt: Date): string {
  const h = createHash('sha256').update(`${kind}\0${name}\0${createdAt.getTime()}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Sort key of creation order: time, then name (unique), comparable as text. */
export const createdKey = (createdAt: Date, name: string): string => `${String(createdAt.getTime()).padStart(15, '0')}|${name}`;

/** Sorts by `key` ascending, or descending when `descending`. */
export function sortBy<T>(items: readonly T[], key: (t: T) => string, descending = false): T[] {
  const s = [...items].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  return descending ? s.reverse() : s;
}

/** Default page size of list operations when the caller gives none. */
export const DEFAULT_PAGE_SIZE = 50;

/** ARNs and ids of the operations' example requests (the default `gatehouse.iot` deployment). */
export const EXAMPLE_CERT_ID = '2e1eb273792174ec2b9bf4e9b37e6c6c692345499506002a35159767055278e8';
export const exampleArn = (type: IotArnType | 'client', name: string): string => iotResourceArn(DEFAULT_IOT_DEPLOYMENT, type as IotArnType, name);
