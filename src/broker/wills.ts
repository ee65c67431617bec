import type { Client, PublishPacket } from 'aedes';
import { CombinedView } from '../core/index.js';
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
 */
/**
 * Decides a will published after its connection's session ended (see above) and answers
 * the publish hook's callback: null to publish, an error to drop it.
 */
export function decideWill(ctx: BrokerContext, client: Client, packet: PublishPacket, callback: (error?: Error | null) => void): void {
  const { identity, context, chain } = takeWillOwner(client)!;
  const refuse = (reason: string, extra: Record<string, unknown> = {}, counted = false): void => {
    if (!counted) ctx.metrics.denials['mqtt:publish']++;
    logDenial(ctx, undefined, { thingName: identity.thingName, clientId: client.id, operation: 'mqtt:publish', resource: 'mqtt:topic:' + packet.topic, will: true, reason, ...extra }, 'will not published: no longer allowed');
    callback(new Error(reason));
  };
  // The certificate must still be registered, active and valid (not revoked meanwhile),
  // and the thing must still exist.
  ctx.authenticator.screen(chain.pem, chain.certificates).then(async (screened) => {
    if (!screened.ok) return refuse(screened.reason);
    const principal = await ctx.offlineIdentities.identityOf(client.id);
    if (principal === undefined) return refuse('THING_NOT_FOUND');
    const view = ctx.policy.current.connectionView(principal, identity.certificateId, context, ctx.now);
    if (!certificateReadable(view, context)) return refuse('CERT_MALFORMED');
    const cd = view.decide('mqtt:connect', `mqtt:clientId:${client.id}`);
    if (!cd.allowed) return refuse(cd.reason, { decidedOn: 'mqtt:connect', ...deciding(cd) });
    if (isReserved(packet.topic) || isShareTopic(packet.topic)) return refuse('RESERVED_TOPIC');
    const wd = packet.retain && view instanceof CombinedView ? view.decideRetained(packet.topic) : view.decide('mqtt:publish', 'mqtt:topic:' + packet.topic);
    ctx.metrics.authorization('mqtt:publish', wd.allowed);
    if (!wd.allowed) return refuse(wd.reason, deciding(wd), true);
    if (packet.retain && ctx.retained !== undefined) {
      const a = ctx.retained.admit(packet.topic, packet.payload.length);
      if (!a.ok) return refuse(a.reason);
    }
    ctx.logger.debug({ event: 'allowed', thingName: identity.thingName, clientId: client.id, operation: 'mqtt:publish', topic: packet.topic, will: true }, 'will published');
    callback(null);
  }, (e: unknown) => {
    ctx.logger.error({ event: 'error', clientId: client.id, err: (e as Error).message }, 'could not look up the thing of a will; not published');
    refuse('SERVICE_ERROR');
  });
}
