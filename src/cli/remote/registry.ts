/**
 * The registry operations the CLI's commands use, answered by a remote gateway's AWS IoT
 * control-plane API (https://docs.aws.amazon.com/iot/latest/apireference/): the same
 * interface as the local registry (`CommandRegistry`), so each command parses its
 * arguments and prints its output once, whichever side runs it.
 *
 * Where the CLI's local semantics and AWS IoT's differ, the CLI's are kept by composing
 * calls: `things delete` detaches the thing's certificates before DeleteThing (AWS IoT
 * refuses to delete a thing with principals); "not found" is answered as the local
 * registry answers it. A value the API does not carry (a thing's creation time) is an
 * invalid Date, which the commands print as `-` (JSON: null).
 */
import { parseCertificatePem } from '../../identity/certificate.js';
import type {
  CertificateRecord, CertificateStatus, CreateThingTypeOptions, EnrollResult, IotPolicy, ListCertificatesOptions, ListThingsOptions, PolicyTarget, PolicyVersion, Registry, Thing, ThingGroup, ThingType, TrustedCa, UpdateThingOptions,
} from '../../identity/registry.js';
import { CliError, EXIT } from '../output.js';
import { path, type RemoteClient } from './client.js';

/** What the commands that run on either side call. */
export type CommandRegistry = Pick<Registry,
  | 'getThing' | 'listThings' | 'deleteThing' | 'updateThing' | 'createThing'
  | 'getCertificate' | 'resolveCertificateId' | 'listCertificates' | 'setCertificateStatus'
  | 'attach' | 'detach' | 'thingsForCertificate' | 'certificatesForThing'
  | 'createPolicy' | 'getPolicy' | 'listPolicies' | 'deletePolicy' | 'createPolicyVersion' | 'getPolicyVersion'
  | 'setDefaultPolicyVersion' | 'deletePolicyVersion' | 'attachPolicy' | 'detachPolicy' | 'policyTargets' | 'policiesForTarget'
  | 'createThingGroup' | 'getThingGroup' | 'listThingGroups' | 'deleteThingGroup' | 'addThingToGroup' | 'removeThingFromGroup'
  | 'thingsInGroup' | 'groupsForThing'
  | 'createThingType' | 'getThingType' | 'listThingTypes' | 'deprecateThingType' | 'deleteThingType' | 'thingsOfType'
  | 'close'>;

type Json = Record<string, unknown>;

const UNKNOWN_DATE = (): Date => new Date(Number.NaN);
const fromEpoch = (v: unknown): Date => (typeof v === 'number' ? new Date(v * 1000) : typeof v === 'string' ? new Date(v) : UNKNOWN_DATE());
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const idOfArn = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);
const CERT_ID = /^[0-9a-f]{64}$/;
const CERT_PREFIX = /^[0-9a-f]{8,64}$/;
const PAGE = '250';

function isNotFound(e: unknown): boolean {
  return e instanceof CliError && e.code === 'REMOTE_NOT_FOUND';
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export class RemoteRegistry implements CommandRegistry {
  readonly #c: RemoteClient;

  constructor(client: RemoteClient) {
    this.#c = client;
  }

  async close(): Promise<void> {
    // Each request uses its own connection: nothing stays open.
  }

  // ---------------------------------------------------------------- paging

  /** Every item of a list operation, following `nextToken` / `nextMarker`. */
  async #all(operation: string, method: 'GET' | 'POST', p: string, items: string, query: Record<string, string>, tokenIn: 'nextToken' | 'marker', pageParam: 'maxResults' | 'pageSize', extra: Partial<{ headers: Record<string, string> }> = {}): Promise<unknown[]> {
    const out: unknown[] = [];
    let token: string | undefined;
    for (let i = 0; i < 10_000; i++) {
      const r = await this.#c.call<Json>({ service: 'iot', operation, method, path: p, query: { ...query, [pageParam]: PAGE, ...(token !== undefined ? { [tokenIn]: token } : {}) }, ...extra });
      out.push(...arr(r[items]));
      token = str(r['nextToken']) ?? str(r['nextMarker']);
      if (token === undefined || token === '') return out;
    }
    throw new CliError('REMOTE_PROTOCOL_ERROR', `${operation} did not end its pages`, EXIT.INVALID);
  }

  // ---------------------------------------------------------------- things

  async createThing(name: string, attributes: Readonly<Record<string, string>> = {}): Promise<Thing> {
    await this.#c.call({ service: 'iot', operation: 'CreateThing', method: 'POST', path: path`/things/${name}`, body: Object.keys(attributes).length ? { attributePayload: { attributes } } : {} });
    return (await this.getThing(name))!;
  }

  async getThing(name: string): Promise<Thing | undefined> {
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'DescribeThing', method: 'GET', path: path`/things/${name}` }));
    return r === undefined ? undefined : thingOf(r);
  }

  async listThings(options: ListThingsOptions = {}): Promise<Thing[]> {
    const all = (await this.#all('ListThings', 'GET', '/things', 'things', {}, 'nextToken', 'maxResults')).map((t) => thingOf(t as Json));
    const sorted = all.filter((t) => (options.prefix === undefined || t.name.startsWith(options.prefix)) && (options.after === undefined || t.name > options.after))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return options.limit !== undefined ? sorted.slice(0, options.limit) : sorted;
  }

  async deleteThing(name: string): Promise<void> {
    if ((await this.getThing(name)) === undefined) throw thingNotFound(name);
    for (const id of await this.certificatesForThing(name)) await this.detach(name, id);
    await this.#c.call({ service: 'iot', operation: 'DeleteThing', method: 'DELETE', path: path`/things/${name}` });
  }

  async updateThing(name: string, update: UpdateThingOptions): Promise<{ readonly thing: Thing; readonly changed: boolean }> {
    const before = await this.getThing(name);
    if (before === undefined) throw thingNotFound(name);
    const attributes: Record<string, string> = { ...update.setAttributes };
    for (const k of update.removeAttributes ?? []) if (!(k in attributes)) attributes[k] = '';
    await this.#c.call({
      service: 'iot', operation: 'UpdateThing', method: 'PATCH', path: path`/things/${name}`,
      body: {
        ...(update.thingTypeName === null ? { removeThingType: true } : update.thingTypeName !== undefined ? { thingTypeName: update.thingTypeName } : {}),
        ...(Object.keys(attributes).length ? { attributePayload: { attributes, merge: true } } : {}),
      },
    });
    const thing = (await this.getThing(name)) ?? before;
    const changed = thing.thingTypeName !== before.thingTypeName || JSON.stringify(sortedEntries(thing.attributes)) !== JSON.stringify(sortedEntries(before.attributes));
    return { thing, changed };
  }

  async groupsForThing(thingName: string): Promise<string[]> {
    const groups = await this.#all('ListThingGroupsForThing', 'GET', path`/things/${thingName}/thing-groups`, 'thingGroups', {}, 'nextToken', 'maxResults');
    return groups.map((g) => str((g as Json)['groupName']) ?? '').filter((n) => n !== '');
  }

  // ---------------------------------------------------------------- thing types

  async createThingType(name: string, options: CreateThingTypeOptions = {}): Promise<ThingType> {
    // AWS IoT answers a repeated CreateThingType with the same properties as a success;
    // the local registry refuses it, and so does the CLI on either side.
    if ((await this.getThingType(name)) !== undefined) {
      throw new CliError('THING_TYPE_EXISTS', `a thing type named \`${name}\` already exists`, EXIT.INVALID, 'a thing type cannot be changed; choose another name, or deprecate and delete the old type first');
    }
    await this.#c.call({
      service: 'iot', operation: 'CreateThingType', method: 'POST', path: path`/thing-types/${name}`,
      body: { thingTypeProperties: { ...(options.description !== undefined ? { thingTypeDescription: options.description } : {}), searchableAttributes: [...(options.searchableAttributes ?? [])] } },
    });
    const t = await this.getThingType(name);
    if (t === undefined) throw thingTypeNotFound(name);
    return t;
  }

  async getThingType(name: string): Promise<ThingType | undefined> {
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'DescribeThingType', method: 'GET', path: path`/thing-types/${name}` }));
    return r === undefined ? undefined : thingTypeOf(r);
  }

  async listThingTypes(): Promise<ThingType[]> {
    const all = (await this.#all('ListThingTypes', 'GET', '/thing-types', 'thingTypes', {}, 'nextToken', 'maxResults')).map((t) => thingTypeOf(t as Json));
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async deprecateThingType(name: string, undo = false): Promise<{ readonly changed: boolean }> {
    const before = await this.getThingType(name);
    if (before === undefined) throw thingTypeNotFound(name);
    await this.#c.call({ service: 'iot', operation: 'DeprecateThingType', method: 'POST', path: path`/thing-types/${name}/deprecate`, body: { undoDeprecate: undo } });
    return { changed: (before.deprecatedAt !== null) === undo };
  }

  async deleteThingType(name: string): Promise<void> {
    if ((await this.getThingType(name)) === undefined) throw thingTypeNotFound(name);
    await this.#c.call({ service: 'iot', operation: 'DeleteThingType', method: 'DELETE', path: path`/thing-types/${name}` });
  }

  async thingsOfType(name: string): Promise<string[]> {
    return (await this.listThings()).filter((t) => t.thingTypeName === name).map((t) => t.name);
  }

  // ---------------------------------------------------------------- certificates

  async #describeCertificate(id: string): Promise<Json | undefined> {
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'DescribeCertificate', method: 'GET', path: path`/certificates/${id}` }));
    const d = r?.['certificateDescription'];
    return typeof d === 'object' && d !== null ? (d as Json) : undefined;
  }

  /** The certificate's ARN as the gateway names it (AttachPolicy, the principal operations). */
  async certificateArn(id: string): Promise<string> {
    const d = await this.#describeCertificate(id);
    const arn = str(d?.['certificateArn']);
    if (arn === undefined) throw certNotFound(id);
    return arn;
  }

  async getCertificate(id: string): Promise<CertificateRecord | undefined> {
    const d = await this.#describeCertificate(id);
    return d === undefined ? undefined : certificateOf(d);
  }

  async resolveCertificateId(idOrPrefix: string): Promise<string> {
    const wanted = idOrPrefix.toLowerCase();
    if (!CERT_PREFIX.test(wanted)) {
      throw new CliError('CERT_ID_INVALID', `\`${idOrPrefix.slice(0, 80)}\` is not a certificate id or a prefix of at least 8 hex digits`, EXIT.USAGE, 'copy the id from `gatehouse certs list`');
    }
    if (CERT_ID.test(wanted)) {
      if ((await this.#describeCertificate(wanted)) === undefined) throw certNotFound(wanted);
      return wanted;
    }
    const ids = (await this.#all('ListCertificates', 'GET', '/certificates', 'certificates', {}, 'marker', 'pageSize'))
      .map((c) => str((c as Json)['certificateId']) ?? '').filter((id) => id.startsWith(wanted));
    if (ids.length === 1) return ids[0]!;
    if (ids.length === 0) throw certNotFound(wanted);
    throw new CliError('CERT_ID_AMBIGUOUS', `prefix \`${wanted}\` matches ${ids.length} certificates`, EXIT.USAGE, 'give more digits of the id');
  }

  async listCertificates(options: ListCertificatesOptions = {}): Promise<CertificateRecord[]> {
    const ids = options.thingName !== undefined
      ? await this.certificatesForThing(options.thingName)
      : (await this.#all('ListCertificates', 'GET', '/certificates', 'certificates', {}, 'marker', 'pageSize')).map((c) => str((c as Json)['certificateId']) ?? '');
    const out: CertificateRecord[] = [];
    for (const id of ids) {
      const c = await this.getCertificate(id);
      if (c !== undefined && (options.status === undefined || c.status === options.status)) out.push(c);
      if (options.limit !== undefined && out.length >= options.limit) break;
    }
    return out;
  }

  async setCertificateStatus(id: string, status: CertificateStatus): Promise<{ readonly changed: boolean; readonly previous: CertificateStatus }> {
    const before = await this.getCertificate(id);
    if (before === undefined) throw certNotFound(id);
    if (before.status === status) return { changed: false, previous: status };
    await this.#c.call({ service: 'iot', operation: 'UpdateCertificate', method: 'PUT', path: path`/certificates/${id}`, query: { newStatus: status } });
    return { changed: true, previous: before.status };
  }

  async attach(thingName: string, certificateId: string): Promise<{ readonly changed: boolean }> {
    const arn = await this.certificateArn(certificateId);
    const already = (await this.certificatesForThing(thingName)).includes(certificateId);
    await this.#c.call({ service: 'iot', operation: 'AttachThingPrincipal', method: 'PUT', path: path`/things/${thingName}/principals`, headers: { 'x-amzn-principal': arn } });
    return { changed: !already };
  }

  async detach(thingName: string, certificateId: string): Promise<void> {
    const arn = await this.certificateArn(certificateId);
    await this.#c.call({ service: 'iot', operation: 'DetachThingPrincipal', method: 'DELETE', path: path`/things/${thingName}/principals`, headers: { 'x-amzn-principal': arn } });
  }

  async thingsForCertificate(certificateId: string): Promise<string[]> {
    const arn = await this.certificateArn(certificateId);
    const things = await this.#all('ListPrincipalThings', 'GET', '/principals/things', 'things', {}, 'nextToken', 'maxResults', { headers: { 'x-amzn-principal': arn } });
    return things.filter((t): t is string => typeof t === 'string');
  }

  async certificatesForThing(thingName: string): Promise<string[]> {
    const principals = await this.#all('ListThingPrincipals', 'GET', path`/things/${thingName}/principals`, 'principals', {}, 'nextToken', 'maxResults');
    return principals.filter((p): p is string => typeof p === 'string' && p.includes(':cert/')).map(idOfArn);
  }

  /** Creates a key pair and an ACTIVE certificate signed by the gateway CA (CreateKeysAndCertificate). */
  async createKeysAndCertificate(): Promise<{ certificateId: string; certificatePem: string; privateKeyPem: string }> {
    const r = await this.#c.call<Json>({ service: 'iot', operation: 'CreateKeysAndCertificate', method: 'POST', path: '/keys-and-certificate', query: { setAsActive: 'true' }, body: {} });
    const keyPair = (r['keyPair'] ?? {}) as Json;
    const certificateId = str(r['certificateId']);
    const certificatePem = str(r['certificatePem']);
    const privateKeyPem = str(keyPair['PrivateKey']);
    if (certificateId === undefined || certificatePem === undefined || privateKeyPem === undefined) throw new CliError('REMOTE_PROTOCOL_ERROR', 'CreateKeysAndCertificate answered without a certificate or key', EXIT.INVALID);
    return { certificateId, certificatePem, privateKeyPem };
  }

  /**
   * `things register` through the API, with the local command's effects and answer
   * (Registry.enroll): RegisterCertificate ACTIVE, the issuing CA's intermediates as
   * `caCertificatePem` (the gateway applies the registry's own checks: validity, usage,
   * chain to a trusted device CA); a certificate registered already
   * (ResourceAlreadyExistsException) is kept as it is, unless it is revoked; then
   * CreateThing when the thing does not exist and AttachThingPrincipal when the
   * certificate is not attached yet. Not one transaction as on the gateway's machine: a
   * refusal after RegisterCertificate (CreateThing or AttachThingPrincipal denied)
   * leaves the certificate registered, and running the command again finishes the job.
   */
  async registerDevice(thingName: string, attributes: Readonly<Record<string, string>>, leaf: { readonly id: string; readonly pem: string }, intermediates: readonly string[]): Promise<EnrollResult> {
    let certificateCreated = true;
    try {
      await this.#c.call({
        service: 'iot', operation: 'RegisterCertificate', method: 'POST', path: '/certificate/register',
        body: { certificatePem: leaf.pem, ...(intermediates.length > 0 ? { caCertificatePem: intermediates.join('') } : {}), status: 'ACTIVE' },
      });
    } catch (e) {
      // ResourceAlreadyExistsException: registered before (checked by DescribeCertificate below).
      if (!(e instanceof CliError && e.code === 'REMOTE_CONFLICT') || (await this.#describeCertificate(leaf.id)) === undefined) throw e;
      certificateCreated = false;
    }
    const certificate = await this.getCertificate(leaf.id);
    if (certificate === undefined) throw certNotFound(leaf.id);
    if (!certificateCreated && certificate.status === 'REVOKED') {
      throw new CliError('CERT_REVOKED', `certificate ${leaf.id} is registered and revoked; revocation is permanent`, EXIT.INVALID, 'issue a new certificate for the device');
    }
    let thing = await this.getThing(thingName);
    const thingCreated = thing === undefined;
    if (thing === undefined) thing = await this.createThing(thingName, attributes);
    const attached = !(await this.certificatesForThing(thingName)).includes(leaf.id);
    if (attached) await this.#c.call({ service: 'iot', operation: 'AttachThingPrincipal', method: 'PUT', path: path`/things/${thingName}/principals`, headers: { 'x-amzn-principal': await this.certificateArn(leaf.id) } });
    return { thing, certificate, thingCreated, certificateCreated, attached };
  }

  /** The PEM of the CA that issued a certificate (DescribeCACertificate), when the gateway knows it. */
  async issuerPem(certificateId: string): Promise<string | undefined> {
    const d = await this.#describeCertificate(certificateId);
    const caId = str(d?.['caCertificateId']);
    if (caId === undefined) return undefined;
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'DescribeCACertificate', method: 'GET', path: path`/cacertificate/${caId}` }));
    const desc = r?.['certificateDescription'];
    return typeof desc === 'object' && desc !== null ? str((desc as Json)['certificatePem']) : undefined;
  }

  // ---------------------------------------------------------------- trusted device CAs

  /** A trusted CA (DescribeCACertificate), its dates and subject read from its PEM. */
  async getTrustedCa(id: string): Promise<TrustedCaView | undefined> {
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'DescribeCACertificate', method: 'GET', path: path`/cacertificate/${id}` }));
    const d = r?.['certificateDescription'];
    return typeof d === 'object' && d !== null ? trustedCaOf(d as Json) : undefined;
  }

  /** ListCACertificates in creation order (the local list's order), each described. */
  async listTrustedCas(): Promise<TrustedCaView[]> {
    const ids = (await this.#all('ListCACertificates', 'GET', '/cacertificates', 'certificates', { isAscendingOrder: 'true' }, 'marker', 'pageSize'))
      .map((c) => str((c as Json)['certificateId']) ?? '');
    const out: TrustedCaView[] = [];
    for (const id of ids) {
      const ca = await this.getTrustedCa(id);
      if (ca !== undefined) out.push(ca);
    }
    return out;
  }

  /**
   * `ca show`: the gateway CA is the CA that issued the certificate the management
   * listener presents (the gateway's server certificate, followed by the CA chain), as
   * this client verified it in the TLS handshake of a signed call (STS
   * GetCallerIdentity, which needs no permission); whether devices' certificates from it
   * are trusted is DescribeCACertificate of its id.
   */
  async gatewayCa(): Promise<{ readonly chainPem: readonly string[]; readonly id: string; readonly subject: string; readonly notBefore: Date; readonly notAfter: Date; readonly trusted: boolean }> {
    await this.#c.callText({ service: 'sts', operation: 'GetCallerIdentity', method: 'POST', path: '/', form: { Action: 'GetCallerIdentity', Version: '2011-06-15' } });
    const chainPem = this.#c.presentedCaChain ?? [];
    const parsed = chainPem.length > 0 ? parseCertificatePem(chainPem[0]!) : undefined;
    if (parsed === undefined || !parsed.ok) {
      throw new CliError('REMOTE_PROTOCOL_ERROR', `the gateway at ${this.#c.target.endpoint.host} presented no CA certificate above its server certificate`, EXIT.INVALID, 'check that the endpoint is a Gatehouse management API');
    }
    const ca = parsed.certificates[0];
    return { chainPem, id: ca.id, subject: ca.subject, notBefore: ca.notBefore, notAfter: ca.notAfter, trusted: (await this.getTrustedCa(ca.id)) !== undefined };
  }

  /** Full id from a full id or a unique prefix of at least 8 hex digits, as the local registry resolves it. */
  async resolveCaId(idOrPrefix: string): Promise<string> {
    const wanted = idOrPrefix.trim().toLowerCase().replace(/:/g, '');
    if (!CERT_PREFIX.test(wanted)) {
      throw new CliError('CERT_ID_INVALID', `\`${idOrPrefix.slice(0, 80)}\` is not a trusted CA id: give the 64 hex digits of its SHA-256, or a unique prefix of at least 8`, EXIT.USAGE, 'list ids with `gatehouse ca list`');
    }
    const ids = CERT_ID.test(wanted)
      ? ((await this.getTrustedCa(wanted)) !== undefined ? [wanted] : [])
      : (await this.#all('ListCACertificates', 'GET', '/cacertificates', 'certificates', {}, 'marker', 'pageSize')).map((c) => str((c as Json)['certificateId']) ?? '').filter((id) => id.startsWith(wanted));
    if (ids.length === 1) return ids[0]!;
    if (ids.length === 0) throw new CliError('CA_NOT_FOUND', `no trusted CA with id ${wanted.length === 64 ? wanted : `starting with ${wanted}`}`, EXIT.INVALID, 'list ids with `gatehouse ca list`');
    throw new CliError('CERT_ID_AMBIGUOUS', `more than one trusted CA id starts with ${wanted}`, EXIT.INVALID, 'give more hex digits of the id');
  }

  /**
   * `ca trust`: RegisterCACertificate with setAsActive (the gateway trusts a CA only
   * when asked to activate it). What the local registry refuses is refused with its
   * codes before the call: a PEM that is no certificate (CERT_MALFORMED), a certificate
   * that is no CA (CA_NOT_A_CA), a CA trusted already (CA_EXISTS).
   */
  async trustCa(pem: string): Promise<TrustedCaView> {
    const parsed = parseCertificatePem(pem);
    if (!parsed.ok) throw new CliError('CERT_MALFORMED', `not a usable certificate: ${parsed.message}`, EXIT.USAGE, 'pass a PEM file that starts with -----BEGIN CERTIFICATE-----');
    const ca = parsed.certificates[0];
    if (!ca.isCa) throw new CliError('CA_NOT_A_CA', `certificate ${ca.id} (${ca.subject}) is not a CA certificate (basicConstraints cA is not set)`, EXIT.INVALID, 'pass the certificate of the CA that issues device certificates');
    if ((await this.getTrustedCa(ca.id)) !== undefined) throw new CliError('CA_EXISTS', `CA ${ca.id} (${ca.subject}) is already trusted`, EXIT.INVALID);
    await this.#c.call({ service: 'iot', operation: 'RegisterCACertificate', method: 'POST', path: '/cacertificate', query: { setAsActive: 'true' }, body: { caCertificate: ca.pem } });
    const trusted = await this.getTrustedCa(ca.id);
    if (trusted === undefined) throw new CliError('CA_NOT_FOUND', `CA ${ca.id} is not trusted after RegisterCACertificate`, EXIT.INVALID);
    return trusted;
  }

  /** `ca untrust`: UpdateCACertificate INACTIVE, which removes the CA from the gateway's trusted list. */
  async untrustCa(id: string): Promise<void> {
    if ((await this.getTrustedCa(id)) === undefined) throw new CliError('CA_NOT_FOUND', `no trusted CA with id ${id}`, EXIT.INVALID, 'list ids with `gatehouse ca list`');
    await this.#c.call({ service: 'iot', operation: 'UpdateCACertificate', method: 'PUT', path: path`/cacertificate/${id}`, query: { newStatus: 'INACTIVE' } });
  }

  // ---------------------------------------------------------------- policies

  async createPolicy(name: string, document: string): Promise<IotPolicy> {
    await this.#c.call({ service: 'iot', operation: 'CreatePolicy', method: 'POST', path: path`/policies/${name}`, body: { policyDocument: document } });
    return (await this.getPolicy(name))!;
  }

  async getPolicy(name: string): Promise<IotPolicy | undefined> {
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'GetPolicy', method: 'GET', path: path`/policies/${name}` }));
    if (r === undefined) return undefined;
    const versions = await this.#c.call<Json>({ service: 'iot', operation: 'ListPolicyVersions', method: 'GET', path: path`/policies/${name}/version` });
    const ids = arr(versions['policyVersions']).map((v) => Number(str((v as Json)['versionId']))).filter(Number.isSafeInteger).sort((a, b) => a - b);
    return {
      name: str(r['policyName']) ?? name,
      defaultVersion: Number(str(r['defaultVersionId'])),
      document: str(r['policyDocument']) ?? '',
      versions: ids,
      createdAt: fromEpoch(r['creationDate']),
      updatedAt: fromEpoch(r['lastModifiedDate']),
    };
  }

  async listPolicies(): Promise<IotPolicy[]> {
    const names = (await this.#all('ListPolicies', 'GET', '/policies', 'policies', { isAscendingOrder: 'true' }, 'marker', 'pageSize')).map((p) => str((p as Json)['policyName']) ?? '');
    const out: IotPolicy[] = [];
    for (const n of names.sort()) {
      const p = await this.getPolicy(n);
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  async deletePolicy(name: string): Promise<void> {
    await this.#c.call({ service: 'iot', operation: 'DeletePolicy', method: 'DELETE', path: path`/policies/${name}` });
  }

  async createPolicyVersion(name: string, document: string, options: { readonly setAsDefault?: boolean } = {}): Promise<PolicyVersion> {
    const r = await this.#c.call<Json>({ service: 'iot', operation: 'CreatePolicyVersion', method: 'POST', path: path`/policies/${name}/version`, query: options.setAsDefault === true ? { setAsDefault: 'true' } : {}, body: { policyDocument: document } });
    const version = Number(str(r['policyVersionId']));
    return (await this.getPolicyVersion(name, version)) ?? { policyName: name, version, document, isDefault: r['isDefaultVersion'] === true, createdAt: UNKNOWN_DATE() };
  }

  async getPolicyVersion(name: string, version: number): Promise<PolicyVersion | undefined> {
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'GetPolicyVersion', method: 'GET', path: path`/policies/${name}/version/${String(version)}` }));
    if (r === undefined) return undefined;
    return { policyName: name, version, document: str(r['policyDocument']) ?? '', isDefault: r['isDefaultVersion'] === true, createdAt: fromEpoch(r['creationDate']) };
  }

  async setDefaultPolicyVersion(name: string, version: number): Promise<{ readonly changed: boolean }> {
    const before = await this.getPolicy(name);
    if (before?.defaultVersion === version) return { changed: false };
    await this.#c.call({ service: 'iot', operation: 'SetDefaultPolicyVersion', method: 'PATCH', path: path`/policies/${name}/version/${String(version)}` });
    return { changed: true };
  }

  async deletePolicyVersion(name: string, version: number): Promise<void> {
    await this.#c.call({ service: 'iot', operation: 'DeletePolicyVersion', method: 'DELETE', path: path`/policies/${name}/version/${String(version)}` });
  }

  async #targetArn(target: PolicyTarget): Promise<string> {
    if (target.kind === 'certificate') return this.certificateArn(target.certificateId);
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'DescribeThingGroup', method: 'GET', path: path`/thing-groups/${target.groupName}` }));
    const arn = str(r?.['thingGroupArn']);
    if (arn === undefined) throw groupNotFound(target.groupName);
    return arn;
  }

  async attachPolicy(name: string, target: PolicyTarget): Promise<{ readonly changed: boolean }> {
    const arn = await this.#targetArn(target);
    const already = (await orUndefined(this.policiesForTarget(target)))?.includes(name) ?? false;
    await this.#c.call({ service: 'iot', operation: 'AttachPolicy', method: 'PUT', path: path`/target-policies/${name}`, body: { target: arn } });
    return { changed: !already };
  }

  async detachPolicy(name: string, target: PolicyTarget): Promise<void> {
    const arn = await this.#targetArn(target);
    await this.#c.call({ service: 'iot', operation: 'DetachPolicy', method: 'POST', path: path`/target-policies/${name}`, body: { target: arn } });
  }

  async policyTargets(name: string): Promise<PolicyTarget[]> {
    const arns = await this.#all('ListTargetsForPolicy', 'POST', path`/policy-targets/${name}`, 'targets', {}, 'marker', 'pageSize');
    const out: PolicyTarget[] = [];
    for (const a of arns) {
      if (typeof a !== 'string') continue;
      if (a.includes(':cert/')) out.push({ kind: 'certificate', certificateId: idOfArn(a) });
      else if (a.includes(':thinggroup/')) out.push({ kind: 'thingGroup', groupName: idOfArn(a) });
    }
    return out;
  }

  async policiesForTarget(target: PolicyTarget): Promise<string[]> {
    const arn = await this.#targetArn(target);
    const policies = await this.#all('ListAttachedPolicies', 'POST', path`/attached-policies/${arn}`, 'policies', {}, 'marker', 'pageSize');
    return policies.map((p) => str((p as Json)['policyName']) ?? '').filter((n) => n !== '');
  }

  // ---------------------------------------------------------------- thing groups

  async createThingGroup(name: string, options: { readonly parent?: string; readonly description?: string } = {}): Promise<ThingGroup> {
    await this.#c.call({
      service: 'iot', operation: 'CreateThingGroup', method: 'POST', path: path`/thing-groups/${name}`,
      body: { ...(options.parent !== undefined ? { parentGroupName: options.parent } : {}), ...(options.description !== undefined ? { thingGroupProperties: { thingGroupDescription: options.description } } : {}) },
    });
    return (await this.getThingGroup(name))!;
  }

  async getThingGroup(name: string): Promise<ThingGroup | undefined> {
    const r = await orUndefined(this.#c.call<Json>({ service: 'iot', operation: 'DescribeThingGroup', method: 'GET', path: path`/thing-groups/${name}` }));
    if (r === undefined) return undefined;
    const props = (r['thingGroupProperties'] ?? {}) as Json;
    const meta = (r['thingGroupMetadata'] ?? {}) as Json;
    return { name: str(r['thingGroupName']) ?? name, parent: str(meta['parentGroupName']) ?? null, description: str(props['thingGroupDescription']) ?? null, createdAt: fromEpoch(meta['creationDate']) };
  }

  async listThingGroups(): Promise<ThingGroup[]> {
    const names = (await this.#all('ListThingGroups', 'GET', '/thing-groups', 'thingGroups', {}, 'nextToken', 'maxResults')).map((g) => str((g as Json)['groupName']) ?? '');
    const out: ThingGroup[] = [];
    for (const n of names.sort()) {
      const g = await this.getThingGroup(n);
      if (g !== undefined) out.push(g);
    }
    return out;
  }

  async deleteThingGroup(name: string): Promise<void> {
    if ((await this.getThingGroup(name)) === undefined) throw groupNotFound(name);
    await this.#c.call({ service: 'iot', operation: 'DeleteThingGroup', method: 'DELETE', path: path`/thing-groups/${name}` });
  }

  async addThingToGroup(groupName: string, thingName: string): Promise<{ readonly changed: boolean }> {
    const already = (await orUndefined(this.groupsForThing(thingName)))?.includes(groupName) ?? false;
    await this.#c.call({ service: 'iot', operation: 'AddThingToThingGroup', method: 'PUT', path: '/thing-groups/addThingToThingGroup', body: { thingGroupName: groupName, thingName } });
    return { changed: !already };
  }

  async removeThingFromGroup(groupName: string, thingName: string): Promise<void> {
    await this.#c.call({ service: 'iot', operation: 'RemoveThingFromThingGroup', method: 'PUT', path: '/thing-groups/removeThingFromThingGroup', body: { thingGroupName: groupName, thingName } });
  }

  async thingsInGroup(groupName: string): Promise<string[]> {
    const things = await this.#all('ListThingsInThingGroup', 'GET', path`/thing-groups/${groupName}/things`, 'things', {}, 'nextToken', 'maxResults');
    return things.filter((t): t is string => typeof t === 'string');
  }
}

function thingOf(r: Json): Thing {
  const attributes: Record<string, string> = {};
  const a = r['attributes'];
  if (typeof a === 'object' && a !== null) for (const [k, v] of Object.entries(a)) if (typeof v === 'string') attributes[k] = v;
  const version = r['version'];
  return { name: str(r['thingName']) ?? '', attributes, thingTypeName: str(r['thingTypeName']) ?? null, version: typeof version === 'number' ? version : 0, createdAt: UNKNOWN_DATE() };
}

function thingTypeOf(r: Json): ThingType {
  const props = (typeof r['thingTypeProperties'] === 'object' && r['thingTypeProperties'] !== null ? r['thingTypeProperties'] : {}) as Json;
  const meta = (typeof r['thingTypeMetadata'] === 'object' && r['thingTypeMetadata'] !== null ? r['thingTypeMetadata'] : {}) as Json;
  const deprecated = meta['deprecated'] === true;
  return {
    name: str(r['thingTypeName']) ?? '',
    description: str(props['thingTypeDescription']) ?? null,
    searchableAttributes: arr(props['searchableAttributes']).filter((a): a is string => typeof a === 'string'),
    deprecatedAt: deprecated ? fromEpoch(meta['deprecationDate']) : null,
    createdAt: fromEpoch(meta['creationDate']),
  };
}

function certificateOf(d: Json): CertificateRecord {
  const pem = str(d['certificatePem']) ?? '';
  const parsed = parseCertificatePem(pem);
  const leaf = parsed.ok ? parsed.certificates[0] : undefined;
  const validity = (d['validity'] ?? {}) as Json;
  return {
    id: str(d['certificateId']) ?? '',
    pem,
    status: (str(d['status']) ?? 'INACTIVE') as CertificateStatus,
    subject: leaf?.subject ?? '',
    issuerSubject: leaf?.issuer ?? '',
    issuerId: str(d['caCertificateId']) ?? null,
    // The gateway answers SNI_ONLY, AWS IoT's mode of a certificate without an issuer CA, for one trusted by registration.
    trust: str(d['certificateMode']) === 'SNI_ONLY' ? 'registration' : 'ca',
    serialNumber: leaf?.serialNumber ?? '',
    notBefore: leaf?.notBefore ?? fromEpoch(validity['notBefore']),
    notAfter: leaf?.notAfter ?? fromEpoch(validity['notAfter']),
    createdAt: fromEpoch(d['creationDate']),
    statusUpdatedAt: fromEpoch(d['lastModifiedDate']),
  };
}

/**
 * A trusted device CA as the CLI prints it. `source` (added as the gateway's own CA or by
 * an operator) is not part of AWS IoT's CA certificate description: null remotely.
 */
export type TrustedCaView = Omit<TrustedCa, 'source'> & { readonly source: TrustedCa['source'] | null };

function trustedCaOf(d: Json): TrustedCaView {
  const pem = str(d['certificatePem']) ?? '';
  const parsed = parseCertificatePem(pem);
  const ca = parsed.ok ? parsed.certificates[0] : undefined;
  const validity = (d['validity'] ?? {}) as Json;
  return {
    id: str(d['certificateId']) ?? '',
    pem,
    subject: ca?.subject ?? '',
    notBefore: ca?.notBefore ?? fromEpoch(validity['notBefore']),
    notAfter: ca?.notAfter ?? fromEpoch(validity['notAfter']),
    addedAt: fromEpoch(d['creationDate']),
    source: null,
  };
}

function sortedEntries(a: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(a).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
}

const thingNotFound = (name: string): CliError => new CliError('THING_NOT_FOUND', `no thing named \`${name}\``, EXIT.INVALID, 'names are case-sensitive; list things with `gatehouse things list`');
const certNotFound = (id: string): CliError => new CliError('CERT_NOT_FOUND', `no certificate ${id}`, EXIT.INVALID, 'list certificates with `gatehouse certs list`');
const thingTypeNotFound = (name: string): CliError => new CliError('THING_TYPE_NOT_FOUND', `no thing type named \`${name}\``, EXIT.INVALID, 'names are case-sensitive; list types with `gatehouse thing-types list`');
const groupNotFound = (name: string): CliError => new CliError('THING_GROUP_NOT_FOUND', `no thing group named \`${name}\``, EXIT.INVALID, 'names are case-sensitive; list groups with `gatehouse thing-groups list`');
