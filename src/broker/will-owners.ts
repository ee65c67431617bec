import type { Client, PublishPacket } from 'aedes';
import type { X509Certificate } from 'node:crypto';
import type { IotContext } from '../core/index.js';
import type { DeviceIdentity } from './live-sessions.js';

/** The identity a connection with a will authenticated as, for deciding the will later (wills.ts). */
export interface WillOwner {
  /** The will as aedes holds it (the object aedes later hands to the publish hook). */
  readonly will: object;
  readonly identity: DeviceIdentity;
  readonly context: IotContext;
  /** The certificate chain the connection presented, screened again when the will is published. */
  readonly chain: { readonly pem: string; readonly certificates: readonly X509Certificate[] };
}

const owners = new WeakMap<Client, WillOwner>();

/** At CONNECT, once the connection and its will are authorized. */
export function rememberWill(client: Client, will: object, identity: DeviceIdentity, context: IotContext, chain: WillOwner['chain']): void {
  owners.set(client, { will, identity, context, chain });
}

/** The connection's will must not be published (its identity was revoked). */
export function withdrawWill(client: Client): void {
  owners.delete(client);
}

/** Whether `packet` is the will of a connection whose session is gone (decided by decideWill). */
export function isOrphanWill(client: Client | null, packet: PublishPacket): boolean {
  return client !== null && owners.get(client)?.will === packet;
}

/** The owner of a connection's will, forgotten as it is taken (a will is decided once). */
export function takeWillOwner(client: Client): WillOwner | undefined {
  const o = owners.get(client);
  owners.delete(client);
  return o;
}
