/**
 * Device certificates and their attachment to things: RegisterCertificate,
 * RegisterCertificateWithoutCA, CreateKeysAndCertificate, DescribeCertificate,
 * ListCertificates, UpdateCertificate, DeleteCertificate, AttachThingPrincipal,
 * DetachThingPrincipal, ListThingPrincipals, ListPrincipalThings
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_RegisterCertificate.html and
 * the neighbouring pages), on the registry's certificates.
 *
 * Rules kept from AWS IoT: a registered certificate is INACTIVE unless the request asks
 * for ACTIVE; REVOKED is final (CertificateStateException); a certificate is deleted only
 * when it is not ACTIVE (CertificateStateException) and attached to no thing
 * (DeleteConflictException), and to no policy unless `forceDelete` is set (the policies
 * are then detached). CreateKeysAndCertificate's key pair is generated in the gateway and
 * its certificate issued by the gateway CA; the private key is in the answer only and is
 * never stored or logged.
 *
 * Registration applies the registry's own checks (identity/verify.ts, the same code as
 * the CLI's `things register`): a certificate that does not parse, is outside its
 * validity period, is not for TLS client authentication, is a CA, or (RegisterCertificate)
 * does not chain to a trusted device CA is refused with CertificateValidationException;
 * one already registered with ResourceAlreadyExistsException.
 *
 * What differs: principals are X.509 certificates only (no Amazon Cognito identities);
 * the transfer and registration states (PENDING_TRANSFER, REGISTER_INACTIVE,
 * PENDING_ACTIVATION) do not exist; a status change ends the certificate's live MQTT
 * connections at once (AWS IoT: "within a few minutes").
 */
import { parseCertificatePem } from '../../../identity/certificate.js';
import { RegistryError } from '../../../identity/errors.js';
import type { CertificateRecord, CertificateStatus, CertificateTrust } from '../../../identity/registry.js';
import { CertificateVerifier } from '../../../identity/verify.js';
import { parseIotArn } from '../aws/arns.js';
import { AwsServiceError } from '../aws/errors.js';
import { epochSeconds, out, page, type AwsCall, type AwsOperation, type Input } from '../aws/operation.js';
import { DEFAULT_PAGE_SIZE, EXAMPLE_CERT_ID, exampleArn, arn, authorizeOn, createdKey, iotInput, sortBy } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

/** The common name of CreateKeysAndCertificate's certificates (AWS IoT's are `AWS IoT Certificate`). */
export const CREATED_CERTIFICATE_CN = 'Gatehouse-IoT-Certificate';

const STATUSES: readonly CertificateStatus[] = ['ACTIVE', 'INACTIVE', 'REVOKED'];
const AWS_ONLY_STATUSES = ['PENDING_TRANSFER', 'REGISTER_INACTIVE', 'PENDING_ACTIVATION'];

function status(input: Input, field: string, value: string | undefined): CertificateStatus | undefined {
  if (value === undefined) return undefined;
  if ((STATUSES as readonly string[]).includes(value)) return value as CertificateStatus;
  if (AWS_ONLY_STATUSES.includes(value)) throw input.fail(`${field} ${value} is not supported by this gateway (ACTIVE, INACTIVE or REVOKED)`);
  throw input.fail(`${field} must be ACTIVE, INACTIVE or REVOKED`);
}

/** A certificate id as AWS IoT writes it (64 hex digits), in the registry's lower case. */
export function certificateIdOf(input: Input, value: string): string {
  const v = value.startsWith('0x') ? value.slice(2) : value;
  if (!/^[0-9a-fA-F]{64}$/.test(v)) throw input.fail('certificateId must be 64 hexadecimal digits');
  return v.toLowerCase();
}

/** The certificate id of a principal ARN (`arn:…:cert/ID`); other principals are refused. */
export function principalCertificate(ctx: Ctx, input: Input, principal: string | undefined): string {
  if (principal === undefined || principal === '') throw input.fail('principal is required');
  const parsed = parseIotArn(ctx.deployment(), principal);
  if (parsed === undefined || parsed.type !== 'cert') throw input.fail('principal must be a certificate ARN of this gateway (arn:…:cert/ID); other principals are not supported');
  return certificateIdOf(input, parsed.name);
}

async function getCertificate(ctx: Ctx, id: string): Promise<CertificateRecord> {
  const c = await ctx.registry.getCertificate(id);
  if (c === undefined) throw new AwsServiceError('ResourceNotFoundException', `certificate ${id} does not exist`);
  return c;
}

/** `certificatePem` holds one certificate that parses. */
function parseOne(input: Input, field: string, pem: string): void {
  const parsed = parseCertificatePem(pem);
  if (!parsed.ok) throw new AwsServiceError('CertificateValidationException', `${field}: ${parsed.message}`);
  if (parsed.certificates.length > 1) throw input.fail(`${field} must hold one certificate`);
}

/**
 * The registry's answer to a registration, as AWS IoT answers it: an already registered
 * certificate is ResourceAlreadyExistsException naming it (resourceId, resourceArn).
 */
async function register(ctx: Ctx, pem: string, status: CertificateStatus, issuerId: string | null, id: string, trust: CertificateTrust = 'ca'): Promise<Record<string, unknown>> {
  const certArn = arn(ctx, 'cert', id);
  try {
    await ctx.registry.registerCertificate(pem, { status, issuerId, trust });
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'CERT_EXISTS') throw new AwsServiceError('ResourceAlreadyExistsException', e.message, { resourceId: id, resourceArn: certArn });
    throw e;
  }
  return { certificateArn: certArn, certificateId: id };
}

/** A refusal of the registry's certificate checks (identity/verify.ts) as AWS IoT's exception for an invalid certificate. */
const invalidCertificate = (message: string): AwsServiceError => new AwsServiceError('CertificateValidationException', message);

/**
 * The same checks as the CLI's local `things register`, by the same code
 * (CertificateVerifier.verifyChain): the certificate parses, is valid now, may be used
 * for TLS client authentication and is not a CA, and chains to a trusted device CA
 * (signatures, CA constraints, key usage, validity and path length of every CA on the
 * way). `caCertificatePem`, when given, is the CA that issued the certificate (possibly
 * followed by the CAs above it, when it is an intermediate below a trusted CA): it must
 * be the certificate's issuer on the chain that was found.
 */
async function registerCertificate(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const pem = input.requiredString('certificatePem');
  const caPem = input.string('caCertificatePem');
  const setAsActive = input.queryBool('setAsActive');
  const wanted = status(input, 'status', input.string('status'));
  await call.authorize({ action: 'iot:RegisterCertificate', resource: '*' });
  parseOne(input, 'certificatePem', pem);
  let caIds: readonly string[] | undefined;
  if (caPem !== undefined) {
    const parsed = parseCertificatePem(caPem);
    if (!parsed.ok) throw invalidCertificate(`caCertificatePem: ${parsed.message}`);
    caIds = parsed.certificates.map((c) => c.id);
  }
  const chain = await new CertificateVerifier(ctx.registry).verifyChain(caPem === undefined ? pem : `${pem.trimEnd()}\n${caPem}`, ctx.clock());
  if (!chain.ok) throw invalidCertificate(chain.message);
  if (caIds !== undefined && !caIds.includes(chain.issuerId)) throw invalidCertificate(`certificate ${chain.leaf.id} was not issued by the given CA certificate`);
  return register(ctx, chain.leaf.pem, wanted ?? (setAsActive === true ? 'ACTIVE' : 'INACTIVE'), chain.issuerId, chain.leaf.id);
}

/**
 * Registration without a CA: the same leaf checks as RegisterCertificate (parses, valid
 * now, client authentication, not a CA), without the chain. The certificate is trusted by
 * its registration (`trust: 'registration'`): a device presenting exactly this certificate
 * is admitted when its chain reaches no trusted CA, as AWS IoT admits a certificate
 * registered without a CA (identity/verify.ts).
 */
async function registerCertificateWithoutCA(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const pem = input.requiredString('certificatePem');
  const wanted = status(input, 'status', input.string('status'));
  await call.authorize({ action: 'iot:RegisterCertificateWithoutCA', resource: '*' });
  parseOne(input, 'certificatePem', pem);
  const leaf = new CertificateVerifier(ctx.registry).verifyLeaf(pem, ctx.clock());
  if (!leaf.ok) throw invalidCertificate(leaf.message);
  return register(ctx, leaf.leaf.pem, wanted ?? 'INACTIVE', null, leaf.leaf.id, 'registration');
}

async function createKeysAndCertificate(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const setAsActive = input.queryBool('setAsActive') === true;
  await call.authorize({ action: 'iot:CreateKeysAndCertificate', resource: '*' });
  const issued = await ctx.ca.issueDeviceCertificate({ thingName: CREATED_CERTIFICATE_CN });
  const record = await ctx.registry.registerCertificate(issued.certificatePem, { status: setAsActive ? 'ACTIVE' : 'INACTIVE', issuerId: ctx.ca.id });
  return {
    certificateArn: arn(ctx, 'cert', record.id),
    certificateId: record.id,
    certificatePem: record.pem,
    keyPair: { PublicKey: issued.publicKeyPem, PrivateKey: issued.privateKeyPem },
  };
}

async function describeCertificate(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const id = certificateIdOf(input, input.label('certificateId'));
  const certArn = arn(ctx, 'cert', id);
  await authorizeOn(ctx, call, 'iot:DescribeCertificate', certArn, { kind: 'cert', id });
  const c = await getCertificate(ctx, id);
  return {
    certificateDescription: out({
      certificateArn: certArn,
      certificateId: c.id,
      caCertificateId: c.issuerId ?? undefined,
      status: c.status,
      certificatePem: c.pem,
      ownedBy: ctx.deployment().accountId,
      creationDate: epochSeconds(c.createdAt),
      lastModifiedDate: epochSeconds(c.statusUpdatedAt),
      validity: { notBefore: epochSeconds(c.notBefore), notAfter: epochSeconds(c.notAfter) },
      // AWS IoT's mode of a certificate registered without an issuer CA; here: trusted by its registration (no SNI is required).
      certificateMode: c.trust === 'registration' ? 'SNI_ONLY' : 'DEFAULT',
    }),
  };
}

async function listCertificates(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('pageSize', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const marker = input.queryString('marker');
  // isAscendingOrder: creation order, newest first unless true.
  const descending = input.queryBool('isAscendingOrder') !== true;
  await call.authorize({ action: 'iot:ListCertificates', resource: '*' });
  const key = (c: CertificateRecord): string => createdKey(c.createdAt, c.id);
  const all = sortBy(await ctx.registry.listCertificates(), key, descending);
  const p = page(all, key, marker, size, input, descending);
  return out({
    certificates: p.items.map((c) => ({ certificateArn: arn(ctx, 'cert', c.id), certificateId: c.id, status: c.status, certificateMode: c.trust === 'registration' ? 'SNI_ONLY' : 'DEFAULT', creationDate: epochSeconds(c.createdAt) })),
    nextMarker: p.next,
  });
}

async function updateCertificate(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const id = certificateIdOf(input, input.label('certificateId'));
  const newStatus = status(input, 'newStatus', input.queryString('newStatus'));
  if (newStatus === undefined) throw input.fail('newStatus is required');
  await authorizeOn(ctx, call, 'iot:UpdateCertificate', arn(ctx, 'cert', id), { kind: 'cert', id });
  await ctx.registry.setCertificateStatus(id, newStatus);
  return undefined;
}

async function deleteCertificate(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const id = certificateIdOf(input, input.label('certificateId'));
  const force = input.queryBool('forceDelete') === true;
  await authorizeOn(ctx, call, 'iot:DeleteCertificate', arn(ctx, 'cert', id), { kind: 'cert', id });
  const c = await getCertificate(ctx, id);
  if (c.status === 'ACTIVE') throw new AwsServiceError('CertificateStateException', `certificate ${id} is ACTIVE; set it INACTIVE first (UpdateCertificate)`);
  const things = await ctx.registry.thingsForCertificate(id);
  if (things.length > 0) throw new AwsServiceError('DeleteConflictException', `certificate ${id} is attached to ${things.length} thing(s); detach it first (DetachThingPrincipal)`);
  const policies = await ctx.registry.policiesForTarget({ kind: 'certificate', certificateId: id });
  if (policies.length > 0 && !force) throw new AwsServiceError('DeleteConflictException', `certificate ${id} has ${policies.length} policy(ies) attached; detach them first (DetachPolicy) or set forceDelete`);
  // The registry detaches the certificate's policies with it.
  await ctx.registry.deleteCertificate(id);
  return undefined;
}

async function attachThingPrincipal(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const thing = input.label('thingName');
  const type = input.queryString('thingPrincipalType');
  if (type !== undefined && type !== 'NON_EXCLUSIVE_THING' && type !== 'EXCLUSIVE_THING') throw input.fail('thingPrincipalType must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING');
  const id = principalCertificate(ctx, input, input.header('x-amzn-principal'));
  // The service authorization reference puts the thing-principal actions on the certificate.
  await authorizeOn(ctx, call, 'iot:AttachThingPrincipal', arn(ctx, 'cert', id), { kind: 'cert', id });
  if (type === 'EXCLUSIVE_THING') {
    const others = (await ctx.registry.thingsForCertificate(id)).filter((t) => t !== thing);
    if (others.length > 0) throw input.fail(`certificate ${id} is attached to other things (${others.join(', ')}); an exclusive attachment needs it attached to none`);
  }
  await ctx.registry.attach(thing, id);
  return {};
}

async function detachThingPrincipal(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const thing = input.label('thingName');
  const id = principalCertificate(ctx, input, input.header('x-amzn-principal'));
  await authorizeOn(ctx, call, 'iot:DetachThingPrincipal', arn(ctx, 'cert', id), { kind: 'cert', id });
  await ctx.registry.detach(thing, id);
  return {};
}

async function listThingPrincipals(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const thing = input.label('thingName');
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  await authorizeOn(ctx, call, 'iot:ListThingPrincipals', arn(ctx, 'thing', thing), { kind: 'thing', name: thing });
  if ((await ctx.registry.getThing(thing)) === undefined) throw new AwsServiceError('ResourceNotFoundException', `thing \`${thing}\` does not exist`);
  const ids = (await ctx.registry.certificatesForThing(thing)).sort();
  const p = page(ids, (i) => i, token, size, input);
  return out({ principals: p.items.map((i) => arn(ctx, 'cert', i)), nextToken: p.next });
}

async function listPrincipalThings(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const id = principalCertificate(ctx, input, input.header('x-amzn-principal'));
  const size = input.queryInt('maxResults', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const token = input.queryString('nextToken');
  await authorizeOn(ctx, call, 'iot:ListPrincipalThings', arn(ctx, 'cert', id), { kind: 'cert', id });
  await getCertificate(ctx, id);
  const things = (await ctx.registry.thingsForCertificate(id)).sort();
  const p = page(things, (t) => t, token, size, input);
  return out({ things: p.items, nextToken: p.next });
}

const CERT_ARN = exampleArn('cert', EXAMPLE_CERT_ID);

export const CERTIFICATE_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'RegisterCertificate', method: 'POST', path: '/certificate/register', action: 'iot:RegisterCertificate', summary: 'Registers a device certificate issued by a registered CA', example: { path: '/certificate/register', body: { certificatePem: '-----BEGIN CERTIFICATE-----' } }, handler: registerCertificate },
  { name: 'RegisterCertificateWithoutCA', method: 'POST', path: '/certificate/register-no-ca', action: 'iot:RegisterCertificateWithoutCA', summary: 'Registers a device certificate without its CA', example: { path: '/certificate/register-no-ca', body: { certificatePem: '-----BEGIN CERTIFICATE-----' } }, handler: registerCertificateWithoutCA },
  { name: 'CreateKeysAndCertificate', method: 'POST', path: '/keys-and-certificate', action: 'iot:CreateKeysAndCertificate', summary: 'Creates a key pair and a certificate of the gateway CA', example: { path: '/keys-and-certificate?setAsActive=false' }, handler: createKeysAndCertificate },
  { name: 'DescribeCertificate', method: 'GET', path: '/certificates/{certificateId}', action: 'iot:DescribeCertificate', summary: 'Describes a device certificate', example: { path: `/certificates/${EXAMPLE_CERT_ID}` }, handler: describeCertificate },
  { name: 'ListCertificates', method: 'GET', path: '/certificates', action: 'iot:ListCertificates', summary: 'Lists device certificates', example: { path: '/certificates?pageSize=10' }, handler: listCertificates },
  { name: 'UpdateCertificate', method: 'PUT', path: '/certificates/{certificateId}', action: 'iot:UpdateCertificate', summary: 'Changes a certificate\'s status', example: { path: `/certificates/${EXAMPLE_CERT_ID}?newStatus=INACTIVE` }, handler: updateCertificate },
  { name: 'DeleteCertificate', method: 'DELETE', path: '/certificates/{certificateId}', action: 'iot:DeleteCertificate', summary: 'Deletes a certificate', example: { path: `/certificates/${EXAMPLE_CERT_ID}` }, handler: deleteCertificate },
  { name: 'AttachThingPrincipal', method: 'PUT', path: '/things/{thingName}/principals', action: 'iot:AttachThingPrincipal', summary: 'Attaches a certificate to a thing', example: { path: '/things/example-thing/principals', headers: { 'x-amzn-principal': CERT_ARN } }, handler: attachThingPrincipal },
  { name: 'DetachThingPrincipal', method: 'DELETE', path: '/things/{thingName}/principals', action: 'iot:DetachThingPrincipal', summary: 'Detaches a certificate from a thing', example: { path: '/things/example-thing/principals', headers: { 'x-amzn-principal': CERT_ARN } }, handler: detachThingPrincipal },
  { name: 'ListThingPrincipals', method: 'GET', path: '/things/{thingName}/principals', action: 'iot:ListThingPrincipals', summary: 'Lists the certificates of a thing', example: { path: '/things/example-thing/principals' }, handler: listThingPrincipals },
  { name: 'ListPrincipalThings', method: 'GET', path: '/principals/things', action: 'iot:ListPrincipalThings', summary: 'Lists the things of a certificate', example: { path: '/principals/things', headers: { 'x-amzn-principal': CERT_ARN } }, handler: listPrincipalThings },
];
