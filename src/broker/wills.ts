import type { Client, PublishPacket } from 'aedes';
import { CombinedView, type IotContext } from '../core/index.js';
import { deciding, logDenial, type BrokerContext } from './context.js';
import { certificateReadable } from './hooks/authenticate.js';
import { isReserved, isShareTopic } from './topics.js';
import { takeWillOwner } from './will-owners.js';

/**
 * Wills published after their connection's session is gone: an MQTT 5 will with a Will
 * Delay Interval (MQTT 5.0 §3.1.3.2.2) is published seconds to days after the connection
 * closed, when the connection's live session no longer exists, and even an immediate will
 * may be published after it was removed. The will was authorized at CONNECT; it is
 * decided again when it is published, with the policy in force then, for the identity
 * the connection authenticated as (the thing as the registry has it now): its certificate
 * must still pass the registry's screening (registered, active, valid, attached to a
 * thing), the thing must exist, and the device must still be allowed `mqtt:connect` and
 * `mqtt:publish` on the will topic (`iot:RetainPublish` too for a retained will under AWS
 * IoT policies). A will whose permission was revoked during the delay is not published.
 *
 * A will the registry withdrew (the connection was ended because its certificate was
 * revoked, deactivated or detached, or its thing deleted: `withdrawWill`) is never
 * published. Who owns a will is kept in will-owners.ts.
 *
 * On a cluster, the wills of a node that died are published by another node
 * (cluster-wills.ts), decided here the same way from the owner recorded with the will.
 */

/** Who a will belongs to: what its connection authenticated as at CONNECT. */
export interface WillOwnerRecord {
  readonly clientId: string;
  readonly thingName: string;
  readonly certificateId: string;
  /** The connection's context at CONNECT (AWS IoT policy variables and condition keys). */
  readonly context: IotContext;
  /** The certificate chain the connection presented, PEM, screened again. */
  readonly chainPem: string;
}

/** A will as the decision reads it. */
export interface WillPacket {
  readonly topic: string;
  readonly retain: boolean;
  readonly payload: Buffer | string;
}

/**
 * Decides a will about to be published without its connection's session (see above),
 * logging a refusal. Resolves to null when it may be published, otherwise to the
 * refusal's reason; never rejects (a failed lookup refuses, SERVICE_ERROR).
 */
export function judgeWill(ctx: BrokerContext, owner: WillOwnerRecord, packet: WillPacket, logFields: Record<string, unknown> = {}): Promise<string | null> {
  const clientId = owner.clientId;
  const refuse = (reason: string, extra: Record<string, unknown> = {}, counted = false): string => {
    if (!counted) ctx.metrics.denials['mqtt:publish']++;
    logDenial(ctx, undefined, { thingName: owner.thingName, clientId, operation: 'mqtt:publish', resource: 'mqtt:topic:' + packet.topic, will: true, reason, ...logFields, ...extra }, 'will not published: no longer allowed');
    return reason;
  };
  // The certificate must still be registered, active and valid (not revoked meanwhile),
  // and the thing must still exist.
  return ctx.authenticator.screen(owner.chainPem).then(async (screened) => {
    if (!screened.ok) return refuse(screened.reason);
    const principal = await ctx.offlineIdentities.identityOf(clientId);
    if (principal === undefined) return refuse('THING_NOT_FOUND');
    const view = ctx.policy.current.connectionView(principal, owner.certificateId, owner.context, ctx.now);
    if (!certificateReadable(view, owner.context)) return refuse('CERT_MALFORMED');
    const cd = view.decide('mqtt:connect', `mqtt:clientId:${clientId}`);
    if (!cd.allowed) return refuse(cd.reason, { decidedOn: 'mqtt:connect', ...deciding(cd) });
    if (isReserved(packet.topic) || isShareTopic(packet.topic)) return refuse('RESERVED_TOPIC');
    const wd = packet.retain && view instanceof CombinedView ? view.decideRetained(packet.topic) : view.decide('mqtt:publish', 'mqtt:topic:' + packet.topic);
    ctx.metrics.authorization('mqtt:publish', wd.allowed);
    if (!wd.allowed) return refuse(wd.reason, deciding(wd), true);
    if (packet.retain && ctx.retained !== undefined) {
      const a = ctx.retained.admit(packet.topic, packet.payload.length);
      if (!a.ok) return refuse(a.reason);
    }
    ctx.logger.debug({ event: 'allowed', thingName: owner.thingName, clientId, operation: 'mqtt:publish', topic: packet.topic, will: true, ...logFields }, 'will published');
    return null;
  }).catch((e: unknown) => {
    ctx.logger.error({ event: 'error', clientId, err: (e as Error).message }, 'could not look up the thing of a will; not published');
    return refuse('SERVICE_ERROR');
  });
}

/**
 * Decides a will published after its connection's session ended (see above) and answers
 * the publish hook's callback: null to publish, an error to drop it.
 */
export function decideWill(ctx: BrokerContext, client: Client, packet: PublishPacket, callback: (error?: Error | null) => void): void {
  const { identity, context, chain } = takeWillOwner(client)!;
  const owner: WillOwnerRecord = { clientId: client.id, thingName: identity.thingName, certificateId: identity.certificateId, context, chainPem: chain.pem };
  void judgeWill(ctx, owner, packet).then((reason) => callback(reason === null ? null : new Error(reason)));
}
