import { canonicalAction, KNOWN_ACTIONS } from '../iot/actions.js';
import type { IotContext, IotDeployment } from '../iot/context.js';
import { resolveKey, resolveVariable } from '../iot/keys.js';
import type { ArnRequest } from './arn-index.js';

/**
 * The AWS IoT Core dialect's side of the engine: its known actions as mask bits, and a
 * request as the ARN index reads it, from a connection's context.
 */

/** Known action (lower-cased) → its bit in a statement's action mask. */
export const IOT_ACTION_BIT: ReadonlyMap<string, number> = new Map(KNOWN_ACTIONS.map((a, i) => [a, 1 << i]));
// INVARIANT: at most 31 known actions, so that every bit fits a 32-bit mask (tested).
export const IOT_ALL_ACTIONS = 2 ** KNOWN_ACTIONS.length - 1;

/**
 * `action` on `arn` for a connection described by `ctx`, at `clock` (epoch
 * milliseconds; `ctx.currentTime`, when it fixes one, is the evaluation time instead).
 */
export function iotRequest(deployment: IotDeployment, ctx: IotContext, action: string, arn: string, clock: number): ArnRequest {
  const fixed = ctx.currentTime !== undefined ? Date.parse(ctx.currentTime) : NaN;
  const now = Number.isNaN(fixed) ? clock : fixed;
  const lowerAction = action.toLowerCase();
  return {
    lowerAction,
    bit: IOT_ACTION_BIT.get(lowerAction) ?? 0,
    action: canonicalAction(action) ?? action,
    arn,
    resolve: (name) => resolveVariable(ctx, name, deployment, now),
    lookup: (key) => resolveKey(ctx, key, deployment, now),
    now,
  };
}
