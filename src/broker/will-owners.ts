import type { Client, PublishPacket } from 'aedes';
import type { IotContext } from '../core/index.js';
import type { DeviceIdentity } from './live-sessions.js';

/** The identity a connection with a will authenticated as, for deciding the will later (wills.ts). */
export interface WillOwner {
  /** The will as aedes holds it (the object aedes later hands to the publish hook). */
  readonly will: object;
  readonly identity: DeviceIdentity;
  readonly context: IotContext;
  /** The certificate chain the connection presented (PEM), screened again when the will is published. */
  readonly chain: { readonly pem: string };
}

const owners = new WeakMap<Client, WillOwner>();

/** At CONNECT, once the connection and its will are authorized. */
export function rememberWill(client: Client, will: object, identity: DeviceIdentity, context: IotContext, chain: WillOwner['chain']): void {
  owners.set(client, { will, identity, context, chain: { pem: chain.pem } });
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

/**
 * The owner of a connection's will as stored with the will in a persistence other nodes
 * share (cluster-wills.ts): plain data, the certificate's policy fields decoded now (they
 * are absent when the certificate cannot be read that way, which the decision then
 * refuses where a policy needs them, as at CONNECT).
 */
export interface StoredWillOwner {
  readonly v: 1;
  readonly thingName: string;
  readonly certificateId: string;
  readonly chainPem: string;
  readonly context: IotContext;
}

/** What a node records with a connection's will for another node to decide it; undefined when no owner is known. */
export function storedWillOwner(client: Client): StoredWillOwner | undefined {
  const o = owners.get(client);
  if (o === undefined) return undefined;
  let certificate: IotContext['certificate'];
  try {
    certificate = o.identity.certificateContext?.();
  } catch {
    certificate = undefined;
  }
  return { v: 1, thingName: o.identity.thingName, certificateId: o.identity.certificateId, chainPem: o.chain.pem, context: { ...o.context, ...(certificate !== undefined ? { certificate } : {}) } };
}
