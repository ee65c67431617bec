/**
 * CA certificates: RegisterCACertificate, DescribeCACertificate, ListCACertificates,
 * UpdateCACertificate (https://docs.aws.amazon.com/iot/latest/apireference/API_RegisterCACertificate.html
 * and the neighbouring pages), mapped onto the registry's trusted device CAs.
 *
 * What differs from AWS IoT: a trusted CA has no status — it is trusted (ACTIVE) or
 * absent. So RegisterCACertificate trusts the CA only when `setAsActive=true` is given
 * (AWS IoT registers it INACTIVE otherwise; here that is refused rather than trusting a
 * CA the caller did not ask to activate); UpdateCACertificate with `INACTIVE` removes the
 * CA from the trusted list (a later DescribeCACertificate answers
 * ResourceNotFoundException), `ACTIVE` is accepted for a CA that is trusted already.
 * Automatic registration and registration configs do not exist; a verification
 * certificate, when given, must be issued by the CA (proof of possession of its key),
 * without AWS's registration-code check.
 */
import { X509Certificate } from 'node:crypto';
import { parseCertificatePem } from '../../../identity/certificate.js';
import type { TrustedCa } from '../../../identity/registry.js';
import { AwsServiceError } from '../aws/errors.js';
import { epochSeconds, out, page, type AwsCall, type AwsOperation } from '../aws/operation.js';
import { certificateIdOf } from './certificates.js';
import { DEFAULT_PAGE_SIZE, EXAMPLE_CERT_ID, arn, authorizeOn, createdKey, iotInput, sortBy } from './common.js';
import type { IotControlPlaneContext } from './context.js';

type Ctx = IotControlPlaneContext;

async function getCa(ctx: Ctx, id: string): Promise<TrustedCa> {
  const ca = await ctx.registry.getTrustedCa(id);
  if (ca === undefined) throw new AwsServiceError('ResourceNotFoundException', `CA certificate ${id} is not registered`);
  return ca;
}

async function registerCACertificate(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const pem = input.requiredString('caCertificate');
  const verification = input.string('verificationCertificate');
  const setAsActive = input.queryBool('setAsActive') === true;
  const autoRegistration = input.queryBool('allowAutoRegistration') === true;
  const mode = input.string('certificateMode');
  const tags = input.tags();
  if (input.object('registrationConfig') !== undefined || autoRegistration) throw input.fail('automatic registration of device certificates is not supported by this gateway');
  if (mode !== undefined && mode !== 'DEFAULT' && mode !== 'SNI_ONLY') throw input.fail('certificateMode must be DEFAULT or SNI_ONLY');
  await authorizeOn(ctx, call, 'iot:RegisterCACertificate', '*', undefined, tags);
  if (!setAsActive) throw input.fail('this gateway keeps no INACTIVE CA certificates: register with setAsActive=true to trust the CA');
  const parsed = parseCertificatePem(pem);
  if (!parsed.ok) throw new AwsServiceError('CertificateValidationException', `caCertificate: ${parsed.message}`);
  if (verification !== undefined) {
    const v = parseCertificatePem(verification);
    if (!v.ok) throw new AwsServiceError('CertificateValidationException', `verificationCertificate: ${v.message}`);
    const ca = new X509Certificate(parsed.certificates[0].pem);
    let ok = false;
    try {
      ok = v.certificates[0].x509.checkIssued(ca) && v.certificates[0].x509.verify(ca.publicKey);
    } catch {
      ok = false;
    }
    if (!ok) throw new AwsServiceError('CertificateValidationException', 'the verification certificate was not issued by the CA certificate');
  }
  const ca = await ctx.registry.trustCa(pem);
  if (tags !== undefined && Object.keys(tags).length > 0) await ctx.control.tagResource({ kind: 'cacert', id: ca.id }, tags);
  return { certificateArn: arn(ctx, 'cacert', ca.id), certificateId: ca.id };
}

async function describeCACertificate(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const id = certificateIdOf(input, input.label('certificateId'));
  const caArn = arn(ctx, 'cacert', id);
  await authorizeOn(ctx, call, 'iot:DescribeCACertificate', caArn, { kind: 'cacert', id });
  const ca = await getCa(ctx, id);
  return {
    certificateDescription: out({
      certificateArn: caArn,
      certificateId: ca.id,
      status: 'ACTIVE',
      certificatePem: ca.pem,
      ownedBy: ctx.deployment().accountId,
      creationDate: epochSeconds(ca.addedAt),
      autoRegistrationStatus: 'DISABLE',
      lastModifiedDate: epochSeconds(ca.addedAt),
      validity: { notBefore: epochSeconds(ca.notBefore), notAfter: epochSeconds(ca.notAfter) },
      certificateMode: 'DEFAULT',
    }),
  };
}

async function listCACertificates(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = iotInput(call);
  const size = input.queryInt('pageSize', 1, 250) ?? DEFAULT_PAGE_SIZE;
  const marker = input.queryString('marker');
  const descending = input.queryBool('isAscendingOrder') !== true;
  if (input.queryString('templateName') !== undefined) throw input.fail('provisioning templates are not supported by this gateway');
  await call.authorize({ action: 'iot:ListCACertificates', resource: '*' });
  const key = (c: TrustedCa): string => createdKey(c.addedAt, c.id);
  const all = sortBy(await ctx.registry.listTrustedCas(), key, descending);
  const p = page(all, key, marker, size, input, descending);
  return out({
    certificates: p.items.map((c) => ({ certificateArn: arn(ctx, 'cacert', c.id), certificateId: c.id, status: 'ACTIVE', creationDate: epochSeconds(c.addedAt) })),
    nextMarker: p.next,
  });
}

async function updateCACertificate(ctx: Ctx, call: AwsCall): Promise<undefined> {
  const input = iotInput(call);
  const id = certificateIdOf(input, input.label('certificateId'));
  const newStatus = input.queryString('newStatus');
  const newAuto = input.queryString('newAutoRegistrationStatus');
  if (newStatus !== undefined && newStatus !== 'ACTIVE' && newStatus !== 'INACTIVE') throw input.fail('newStatus must be ACTIVE or INACTIVE');
  if ((newAuto !== undefined && newAuto !== 'DISABLE') || input.object('registrationConfig') !== undefined || input.bool('removeAutoRegistration') === true) {
    throw input.fail('automatic registration of device certificates is not supported by this gateway');
  }
  await authorizeOn(ctx, call, 'iot:UpdateCACertificate', arn(ctx, 'cacert', id), { kind: 'cacert', id });
  await getCa(ctx, id);
  // INACTIVE: the CA is no longer trusted (the trusted list has no inactive entries).
  if (newStatus === 'INACTIVE') await ctx.registry.untrustCa(id);
  return undefined;
}

export const CA_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'RegisterCACertificate', method: 'POST', path: '/cacertificate', action: 'iot:RegisterCACertificate', summary: 'Trusts a device CA', example: { path: '/cacertificate?setAsActive=true', body: { caCertificate: '-----BEGIN CERTIFICATE-----' } }, handler: registerCACertificate },
  { name: 'DescribeCACertificate', method: 'GET', path: '/cacertificate/{certificateId}', action: 'iot:DescribeCACertificate', summary: 'Describes a trusted device CA', example: { path: `/cacertificate/${EXAMPLE_CERT_ID}` }, handler: describeCACertificate },
  { name: 'ListCACertificates', method: 'GET', path: '/cacertificates', action: 'iot:ListCACertificates', summary: 'Lists the trusted device CAs', example: { path: '/cacertificates' }, handler: listCACertificates },
  { name: 'UpdateCACertificate', method: 'PUT', path: '/cacertificate/{certificateId}', action: 'iot:UpdateCACertificate', summary: 'Keeps (ACTIVE) or stops trusting (INACTIVE) a device CA', example: { path: `/cacertificate/${EXAMPLE_CERT_ID}?newStatus=ACTIVE` }, handler: updateCACertificate },
];
