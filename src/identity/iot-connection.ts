/**
 * The connection a registered thing would make, read from the registry: for explaining
 * decisions (`gatehouse authorize --data-dir`, the API's explain endpoint) with the
 * same inputs the broker uses for a real connection — the thing's attributes, the
 * certificate attached to it (whose IoT policies apply and whose fields the
 * `iot:Certificate.*` keys name), and a clean-session CONNECT without a Will over TLS.
 * The thing's type is added by `PolicySnapshot.connectionView` from the policies in
 * force, as for a live connection.
 *
 * Importing this module loads the certificate decoder (see iot-context.ts): import it on
 * demand where start-up time matters.
 */
import { GatehouseError } from '../core/errors.js';
import type { ConnectionSubject, IotContext } from '../core/index.js';
import type { IotCertificateContext } from '../core/policy/iot/context.js';
import { parseCertificatePem } from './certificate.js';
import { RegistryError } from './errors.js';
import { iotCertificateContext } from './iot-context.js';
import type { Registry } from './registry.js';

/** Codes of the certificate choice (docs/errors.md). */
export const CONNECTION_CODES = ['THING_CERTIFICATE_AMBIGUOUS', 'THING_HAS_NO_CERTIFICATE'] as const;
export type ConnectionCode = (typeof CONNECTION_CODES)[number];

/** The thing's certificate cannot be chosen: none is attached, or several are and none was named. */
export class ConnectionChoiceError extends GatehouseError<ConnectionCode> {
  /** The ids of the certificates attached to the thing (THING_CERTIFICATE_AMBIGUOUS). */
  readonly certificateIds: readonly string[];

  constructor(code: ConnectionCode, message: string, fix: string, certificateIds: readonly string[] = []) {
    super(code, message, fix);
    this.name = 'ConnectionChoiceError';
    this.certificateIds = certificateIds;
  }
}

export interface RegisteredConnectionOptions {
  /** The certificate (id or unique id prefix); needed when several are attached to the thing. */
  readonly certificateId?: string;
  /** Default: the thing name (the broker requires the client ID to be the thing name). */
  readonly clientId?: string;
  readonly sourceIp?: string;
  /**
   * The certificate's fields, already decoded from the certificate the device presented
   * (the same bytes as the stored one, whose id is `certificateId`): saves decoding the
   * stored copy again. Used only when `certificateId` is given.
   */
  readonly certificateContext?: IotCertificateContext;
}

/**
 * The connection of the registered thing `thingName`. Throws RegistryError
 * THING_NOT_FOUND, CERT_NOT_FOUND, CERT_ID_AMBIGUOUS, CERT_ID_INVALID, CERT_NOT_ATTACHED
 * (the named certificate is not the thing's) or CERT_MALFORMED, and
 * ConnectionChoiceError when the certificate cannot be chosen.
 */
export async function registeredConnection(registry: Registry, thingName: string, options: RegisteredConnectionOptions = {}): Promise<ConnectionSubject> {
  const thing = await registry.getThing(thingName);
  if (thing === undefined) throw new RegistryError('THING_NOT_FOUND', `thing \`${thingName}\` is not registered`, 'create it with `gatehouse things create`, or check the name');
  const attached = await registry.certificatesForThing(thing.name);
  let certificateId: string;
  if (options.certificateId !== undefined) {
    certificateId = await registry.resolveCertificateId(options.certificateId);
    if (!attached.includes(certificateId)) {
      throw new RegistryError('CERT_NOT_ATTACHED', `certificate ${certificateId} is not attached to thing \`${thing.name}\``,
        attached.length > 0 ? `choose one of its certificates: ${attached.join(', ')}` : 'attach it with `gatehouse things attach`');
    }
  } else if (attached.length === 1) {
    certificateId = attached[0]!;
  } else if (attached.length === 0) {
    throw new ConnectionChoiceError('THING_HAS_NO_CERTIFICATE', `thing \`${thing.name}\` has no certificate attached, so it cannot connect`,
      'attach a certificate to the thing (`gatehouse things attach`) and explain again');
  } else {
    throw new ConnectionChoiceError('THING_CERTIFICATE_AMBIGUOUS', `thing \`${thing.name}\` has ${attached.length} certificates attached: say which one connects`,
      `name one (an id or a unique prefix): ${attached.join(', ')}`, attached);
  }
  let certificate: IotCertificateContext;
  if (options.certificateId !== undefined && options.certificateContext !== undefined) {
    certificate = options.certificateContext;
  } else {
    const record = await registry.getCertificate(certificateId);
    if (record === undefined) throw new RegistryError('CERT_NOT_FOUND', `certificate ${certificateId} is not registered`, 'check the id with `gatehouse certs list`');
    const parsed = parseCertificatePem(record.pem);
    if (!parsed.ok) throw new RegistryError('CERT_MALFORMED', `the stored certificate ${certificateId} cannot be read: ${parsed.message}`, 'register the certificate again');
    certificate = iotCertificateContext(parsed.certificates[0]);
  }
  const clientId = options.clientId ?? thing.name;
  const context: IotContext = Object.freeze({
    clientId,
    thingName: thing.name,
    attributes: thing.attributes,
    isAttached: true,
    certificate,
    ...(options.sourceIp !== undefined ? { sourceIp: options.sourceIp } : {}),
    connectAttributes: Object.freeze([]),
    secureTransport: true,
  });
  return { principal: { thingName: thing.name, clientId, attributes: thing.attributes }, certificateId, context };
}
