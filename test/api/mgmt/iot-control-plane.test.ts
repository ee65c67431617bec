/**
 * The AWS IoT control-plane operations driven by the official `@aws-sdk/client-iot`
 * over real HTTP against a real registry and gateway CA: shapes, pagination, AWS IoT's
 * rules, errors surfacing as the SDK's exception classes, and every action authorized
 * on AWS's resource ARN before it acts.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import {
  AddThingToThingGroupCommand, AttachPolicyCommand, AttachThingPrincipalCommand, CertificateStateException, CreateKeysAndCertificateCommand,
  CreatePolicyCommand, CreatePolicyVersionCommand, CreateThingCommand, CreateThingGroupCommand, DeleteCertificateCommand, DeleteConflictException,
  DeletePolicyCommand, DeletePolicyVersionCommand, DeleteThingCommand, DeleteThingGroupCommand, DescribeCACertificateCommand, DescribeCertificateCommand,
  DescribeThingCommand, DescribeThingGroupCommand, DetachPolicyCommand, DetachThingPrincipalCommand, GetPolicyCommand, GetPolicyVersionCommand,
  InvalidRequestException, ListAttachedPoliciesCommand, ListCACertificatesCommand, ListCertificatesCommand, ListPoliciesCommand, ListPolicyVersionsCommand,
  ListPrincipalThingsCommand, ListTargetsForPolicyCommand, ListThingGroupsCommand, ListThingGroupsForThingCommand, ListThingPrincipalsCommand,
  ListThingsCommand, ListThingsInThingGroupCommand, MalformedPolicyException, RegisterCACertificateCommand, RegisterCertificateCommand,
  RegisterCertificateWithoutCACommand, RemoveThingFromThingGroupCommand, ResourceAlreadyExistsException, ResourceNotFoundException,
  SetDefaultPolicyVersionCommand, TestAuthorizationCommand, UpdateCACertificateCommand, UpdateCertificateCommand, UpdateThingCommand,
  VersionsLimitExceededException, CertificateValidationException, CreateThingTypeCommand, DescribeThingTypeCommand, ListThingTypesCommand,
  DeprecateThingTypeCommand, DeleteThingTypeCommand, VersionConflictException, paginateListThings, CreateRoleAliasCommand, DescribeRoleAliasCommand,
  ListRoleAliasesCommand, UpdateRoleAliasCommand, DeleteRoleAliasCommand, TagResourceCommand, UntagResourceCommand, ListTagsForResourceCommand, IoTClient,
} from '@aws-sdk/client-iot';
import { Agent } from 'node:https';
import { EKU, makeCa, makeLeaf, type LeafOptions, type TestCert } from '../../helpers/pki.js';
import { tempDir } from '../../helpers/tmp-dir.js';
import { ARN, startHarness, type Harness } from './iot-harness.js';

const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/data/*` },
    { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/data/secret` },
  ],
});

const DAY = 86_400_000;

/** A device certificate valid now (registration checks the validity period against the gateway's clock). */
const deviceCert = (o: LeafOptions): Promise<TestCert> => makeLeaf({ notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY), ...o });

async function rejects<T extends Error>(p: Promise<unknown>, cls: new (...args: never[]) => T, status: number, message?: RegExp): Promise<T> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error).name}: ${(e as Error).message}`);
    assert.equal((e as unknown as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, status);
    if (message !== undefined) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${cls.name}, the call succeeded`);
}

describe('AWS IoT control plane with @aws-sdk/client-iot', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let h: Harness;
  let deviceCa: TestCert;

  before(async () => {
    dir = await tempDir('gatehouse-iot-cp-');
    h = await startHarness(dir.path);
    deviceCa = await makeCa({ name: 'CN=Device CA' });
  });
  after(async () => {
    await h.close();
    await dir.cleanup();
  });

  /** The last authorization decision of the last request (from the audit log). */
  const lastCheck = async (): Promise<{ action: string; resource: string }> => {
    const d = await h.lastDecisions();
    const c = d[d.length - 1]!;
    return { action: c.action, resource: c.resource };
  };

  describe('things', () => {
    test('CreateThing and DescribeThing: the thing, its ARN and a stable id; authorized on the thing ARN', async () => {
      await h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'lamp' }));
      const created = await h.iot.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { room: 'r1', floor: '2' } }, thingTypeName: 'lamp' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:CreateThing', resource: `${ARN}:thing/lamp-1` });
      assert.equal(created.thingArn, `${ARN}:thing/lamp-1`);
      assert.match(created.thingId!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const d = await h.iot.send(new DescribeThingCommand({ thingName: 'lamp-1' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:DescribeThing', resource: `${ARN}:thing/lamp-1` });
      assert.equal(d.thingId, created.thingId);
      assert.equal(d.thingTypeName, 'lamp');
      assert.equal(d.defaultClientId, 'lamp-1');
      assert.equal(d.version, 1);
      assert.deepEqual(d.attributes, { room: 'r1', floor: '2' });
      // Same name and configuration again: success, same id; a different one: ResourceAlreadyExistsException.
      const again = await h.iot.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { floor: '2', room: 'r1' } }, thingTypeName: 'lamp' }));
      assert.equal(again.thingId, created.thingId);
      const e = await rejects(h.iot.send(new CreateThingCommand({ thingName: 'lamp-1' })), ResourceAlreadyExistsException, 409);
      assert.equal(e.resourceArn, `${ARN}:thing/lamp-1`);
    });

    test('DescribeThing of a missing thing is ResourceNotFoundException (404); a bad name InvalidRequestException (400)', async () => {
      await rejects(h.iot.send(new DescribeThingCommand({ thingName: 'nope' })), ResourceNotFoundException, 404);
      await rejects(h.iot.send(new CreateThingCommand({ thingName: 'bad name!' })), InvalidRequestException, 400);
      await rejects(h.iot.send(new CreateThingCommand({ thingName: 'typed', thingTypeName: 'bad type' })), InvalidRequestException, 400);
      assert.equal(await h.registry.getThing('typed'), undefined);
    });

    test('ListThings pages with nextToken and maxResults, and filters by attribute and type', async () => {
      await h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'even' }));
      for (let i = 0; i < 7; i++) await h.iot.send(new CreateThingCommand({ thingName: `pg-${i}`, attributePayload: { attributes: { batch: i < 4 ? 'a' : 'b' } }, ...(i % 2 === 0 ? { thingTypeName: 'even' } : {}) }));
      const names: string[] = [];
      const sizes: number[] = [];
      let token: string | undefined;
      do {
        const r = await h.iot.send(new ListThingsCommand({ maxResults: 3, attributeName: 'batch', attributeValue: 'a', ...(token !== undefined ? { nextToken: token } : {}) }));
        sizes.push(r.things!.length);
        names.push(...r.things!.map((t) => t.thingName!));
        token = r.nextToken;
      } while (token !== undefined);
      assert.deepEqual(names, ['pg-0', 'pg-1', 'pg-2', 'pg-3']);
      assert.deepEqual(sizes, [3, 1]);
      assert.deepEqual(await lastCheck(), { action: 'iot:ListThings', resource: '*' });
      const all: string[] = [];
      for await (const p of paginateListThings({ client: h.iot, pageSize: 2 }, { thingTypeName: 'even' })) all.push(...p.things!.map((t) => t.thingName!));
      assert.deepEqual(all, ['pg-0', 'pg-2', 'pg-4', 'pg-6']);
      const r = await h.iot.send(new ListThingsCommand({ attributeName: 'batch', attributeValue: 'b' }));
      assert.equal(r.things![0]!.thingArn, `${ARN}:thing/pg-4`);
      assert.deepEqual(r.things![0]!.attributes, { batch: 'b' });
      assert.equal(r.things![0]!.version, 1);
      await rejects(h.iot.send(new ListThingsCommand({ nextToken: 'garbage' })), InvalidRequestException, 400);
    });

    test('UpdateThing: attributes replaced by default, merged with merge=true (an empty value removes); thing type set and removed', async () => {
      await h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'kind' }));
      await h.iot.send(new CreateThingCommand({ thingName: 'upd', attributePayload: { attributes: { a: '1', b: '2' } } }));
      await h.iot.send(new UpdateThingCommand({ thingName: 'upd', attributePayload: { attributes: { c: '3' }, merge: true } }));
      assert.deepEqual((await h.iot.send(new DescribeThingCommand({ thingName: 'upd' }))).attributes, { a: '1', b: '2', c: '3' });
      await h.iot.send(new UpdateThingCommand({ thingName: 'upd', attributePayload: { attributes: { a: '', c: '4' }, merge: true } }));
      assert.deepEqual((await h.iot.send(new DescribeThingCommand({ thingName: 'upd' }))).attributes, { b: '2', c: '4' });
      await h.iot.send(new UpdateThingCommand({ thingName: 'upd', attributePayload: { attributes: { z: '9' } }, thingTypeName: 'kind' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:UpdateThing', resource: `${ARN}:thing/upd` });
      let d = await h.iot.send(new DescribeThingCommand({ thingName: 'upd' }));
      assert.deepEqual(d.attributes, { z: '9' });
      assert.equal(d.thingTypeName, 'kind');
      await h.iot.send(new UpdateThingCommand({ thingName: 'upd', removeThingType: true }));
      d = await h.iot.send(new DescribeThingCommand({ thingName: 'upd' }));
      assert.equal(d.thingTypeName, undefined);
      assert.deepEqual(d.attributes, { z: '9' });
      await rejects(h.iot.send(new UpdateThingCommand({ thingName: 'ghost', attributePayload: { attributes: { a: '1' } } })), ResourceNotFoundException, 404);
    });

    test('thing versions: 1 at creation, one more per change; expectedVersion on UpdateThing and DeleteThing', async () => {
      await h.iot.send(new CreateThingCommand({ thingName: 'ver', attributePayload: { attributes: { a: '1' } } }));
      const version = async (): Promise<number | undefined> => (await h.iot.send(new DescribeThingCommand({ thingName: 'ver' }))).version;
      assert.equal(await version(), 1);
      await h.iot.send(new UpdateThingCommand({ thingName: 'ver', attributePayload: { attributes: { a: '2' } }, expectedVersion: 1 }));
      assert.equal(await version(), 2);
      // An update that changes nothing leaves the version.
      await h.iot.send(new UpdateThingCommand({ thingName: 'ver', attributePayload: { attributes: { a: '2' } } }));
      assert.equal(await version(), 2);
      // A stale version: VersionConflictException (409), and nothing changes.
      await rejects(h.iot.send(new UpdateThingCommand({ thingName: 'ver', attributePayload: { attributes: { a: '3' } }, expectedVersion: 1 })), VersionConflictException, 409, /version 2/);
      assert.deepEqual((await h.registry.getThing('ver'))?.attributes, { a: '2' });
      await rejects(h.iot.send(new DeleteThingCommand({ thingName: 'ver', expectedVersion: 1 })), VersionConflictException, 409);
      assert.ok(await h.registry.getThing('ver'));
      await h.iot.send(new DeleteThingCommand({ thingName: 'ver', expectedVersion: 2 }));
      assert.equal(await h.registry.getThing('ver'), undefined);
    });

    test('DeleteThing: a missing thing succeeds; a thing with a certificate attached is refused', async () => {
      await h.iot.send(new DeleteThingCommand({ thingName: 'never-was' }));
      const leaf = await deviceCert({ issuer: deviceCa });
      const reg = await h.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: leaf.pem }));
      await h.iot.send(new CreateThingCommand({ thingName: 'held' }));
      await h.iot.send(new AttachThingPrincipalCommand({ thingName: 'held', principal: reg.certificateArn! }));
      await rejects(h.iot.send(new DeleteThingCommand({ thingName: 'held' })), InvalidRequestException, 400, /attached/);
      await h.iot.send(new DetachThingPrincipalCommand({ thingName: 'held', principal: reg.certificateArn! }));
      await h.iot.send(new DeleteThingCommand({ thingName: 'held' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:DeleteThing', resource: `${ARN}:thing/held` });
      assert.equal(await h.registry.getThing('held'), undefined);
    });
  });

  describe('thing types', () => {
    const TYPE_ARN = `${ARN}:thingtype/meter`;

    test('CreateThingType, DescribeThingType, ListThingTypes: AWS shapes, authorized on the type ARN', async () => {
      const created = await h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'meter', thingTypeProperties: { thingTypeDescription: 'Power meters', searchableAttributes: ['site', 'floor'] } }));
      assert.deepEqual(await lastCheck(), { action: 'iot:CreateThingType', resource: TYPE_ARN });
      assert.equal(created.thingTypeArn, TYPE_ARN);
      assert.match(created.thingTypeId!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const d = await h.iot.send(new DescribeThingTypeCommand({ thingTypeName: 'meter' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:DescribeThingType', resource: TYPE_ARN });
      assert.equal(d.thingTypeId, created.thingTypeId);
      assert.deepEqual(d.thingTypeProperties, { thingTypeDescription: 'Power meters', searchableAttributes: ['site', 'floor'] });
      assert.equal(d.thingTypeMetadata?.deprecated, false);
      assert.equal(d.thingTypeMetadata?.deprecationDate, undefined);
      assert.ok(d.thingTypeMetadata?.creationDate instanceof Date);
      // Same name and configuration again: success, same id; a different one: ResourceAlreadyExistsException.
      const again = await h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'meter', thingTypeProperties: { thingTypeDescription: 'Power meters', searchableAttributes: ['site', 'floor'] } }));
      assert.equal(again.thingTypeId, created.thingTypeId);
      const e = await rejects(h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'meter' })), ResourceAlreadyExistsException, 409);
      assert.equal(e.resourceArn, TYPE_ARN);
      await rejects(h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'four', thingTypeProperties: { searchableAttributes: ['a', 'b', 'c', 'd'] } })), InvalidRequestException, 400, /at most 3/);
      await rejects(h.iot.send(new CreateThingTypeCommand({ thingTypeName: 'tagged', tags: [{ Key: 'k', Value: 'v' }] })), InvalidRequestException, 400, /tagged/);
      assert.equal(await h.registry.getThingType('tagged'), undefined);
      await rejects(h.iot.send(new DescribeThingTypeCommand({ thingTypeName: 'nope' })), ResourceNotFoundException, 404);
      const listed = await h.iot.send(new ListThingTypesCommand({ thingTypeName: 'meter' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:ListThingTypes', resource: '*' });
      assert.deepEqual(listed.thingTypes!.map((t) => [t.thingTypeName, t.thingTypeArn, t.thingTypeProperties?.thingTypeDescription]), [['meter', TYPE_ARN, 'Power meters']]);
      const all = await h.iot.send(new ListThingTypesCommand({ maxResults: 1 }));
      assert.equal(all.thingTypes!.length, 1);
      assert.ok(all.nextToken !== undefined);
    });

    test('a thing takes only a declared type that is not deprecated', async () => {
      await rejects(h.iot.send(new CreateThingCommand({ thingName: 'm-0', thingTypeName: 'undeclared' })), ResourceNotFoundException, 404, /undeclared/);
      assert.equal(await h.registry.getThing('m-0'), undefined);
      await h.iot.send(new CreateThingCommand({ thingName: 'm-1', thingTypeName: 'meter' }));
      await h.iot.send(new CreateThingCommand({ thingName: 'm-2' }));
      await rejects(h.iot.send(new UpdateThingCommand({ thingName: 'm-2', thingTypeName: 'undeclared' })), ResourceNotFoundException, 404);
    });

    test('DeprecateThingType (and undo), then DeleteThingType five minutes later once no thing has the type', async () => {
      await rejects(h.iot.send(new DeleteThingTypeCommand({ thingTypeName: 'meter' })), InvalidRequestException, 400, /not deprecated/);
      await h.iot.send(new DeprecateThingTypeCommand({ thingTypeName: 'meter' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:DeprecateThingType', resource: TYPE_ARN });
      const d = await h.iot.send(new DescribeThingTypeCommand({ thingTypeName: 'meter' }));
      assert.equal(d.thingTypeMetadata?.deprecated, true);
      assert.ok(d.thingTypeMetadata?.deprecationDate instanceof Date);
      // Deprecated: no new thing takes it; the things that have it keep it.
      await rejects(h.iot.send(new CreateThingCommand({ thingName: 'm-3', thingTypeName: 'meter' })), InvalidRequestException, 400, /deprecated/);
      await rejects(h.iot.send(new UpdateThingCommand({ thingName: 'm-2', thingTypeName: 'meter' })), InvalidRequestException, 400, /deprecated/);
      assert.equal((await h.iot.send(new DescribeThingCommand({ thingName: 'm-1' }))).thingTypeName, 'meter');
      await h.iot.send(new DeprecateThingTypeCommand({ thingTypeName: 'meter', undoDeprecate: true }));
      await h.iot.send(new UpdateThingCommand({ thingName: 'm-2', thingTypeName: 'meter' }));
      await h.iot.send(new DeprecateThingTypeCommand({ thingTypeName: 'meter' }));
      // Too soon after the deprecation.
      await rejects(h.iot.send(new DeleteThingTypeCommand({ thingTypeName: 'meter' })), InvalidRequestException, 400, /less than 5 minutes/);
      h.advance(5 * 60_000);
      await rejects(h.iot.send(new DeleteThingTypeCommand({ thingTypeName: 'meter' })), InvalidRequestException, 400, /m-1/);
      await h.iot.send(new UpdateThingCommand({ thingName: 'm-1', removeThingType: true }));
      await h.iot.send(new UpdateThingCommand({ thingName: 'm-2', removeThingType: true }));
      await h.iot.send(new DeleteThingTypeCommand({ thingTypeName: 'meter' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:DeleteThingType', resource: TYPE_ARN });
      assert.equal(await h.registry.getThingType('meter'), undefined);
      await rejects(h.iot.send(new DeleteThingTypeCommand({ thingTypeName: 'meter' })), ResourceNotFoundException, 404);
    });
  });

  describe('authorization comes first', () => {
    test('a caller allowed only iot:List* and DescribeThing on thing/sensor-* gets AccessDeniedException elsewhere, and nothing changes', async () => {
      const denied = async (p: Promise<unknown>, action: string, resource: string): Promise<void> => {
        const e = await p.then(() => undefined, (x: unknown) => x as { name: string; message: string; $metadata: { httpStatusCode: number } });
        assert.equal(e?.name, 'AccessDeniedException');
        assert.equal(e?.$metadata.httpStatusCode, 403);
        assert.match(e.message, new RegExp(`${action}.*${resource.replace(/[/.*]/g, '.')}`));
        const d = await h.lastDecisions();
        assert.deepEqual(d.map((r) => [r.action, r.resource, r.decision]), [[action, resource, 'deny']]);
      };
      await denied(h.limitedIot.send(new CreateThingCommand({ thingName: 'forbidden' })), 'iot:CreateThing', `${ARN}:thing/forbidden`);
      assert.equal(await h.registry.getThing('forbidden'), undefined);
      await denied(h.limitedIot.send(new DeleteThingCommand({ thingName: 'lamp-1' })), 'iot:DeleteThing', `${ARN}:thing/lamp-1`);
      assert.notEqual(await h.registry.getThing('lamp-1'), undefined);
      // Existence is not revealed before the decision: a denied describe of a missing thing is 403, not 404.
      await denied(h.limitedIot.send(new DescribeThingCommand({ thingName: 'does-not-exist' })), 'iot:DescribeThing', `${ARN}:thing/does-not-exist`);
      await rejects(h.limitedIot.send(new DescribeThingCommand({ thingName: 'sensor-404' })), ResourceNotFoundException, 404);
      assert.ok((await h.limitedIot.send(new ListThingsCommand({}))).things!.length > 0);
      await denied(h.limitedIot.send(new CreateKeysAndCertificateCommand({ setAsActive: true })), 'iot:CreateKeysAndCertificate', '*');
    });
  });

  describe('certificates', () => {
    let caId: string;

    test('RegisterCACertificate trusts a CA only with setAsActive; Describe/List/UpdateCACertificate', async () => {
      await rejects(h.iot.send(new RegisterCACertificateCommand({ caCertificate: deviceCa.pem })), InvalidRequestException, 400, /setAsActive/);
      const r = await h.iot.send(new RegisterCACertificateCommand({ caCertificate: deviceCa.pem, setAsActive: true }));
      assert.deepEqual(await lastCheck(), { action: 'iot:RegisterCACertificate', resource: '*' });
      caId = r.certificateId!;
      assert.equal(caId, deviceCa.id);
      assert.equal(r.certificateArn, `${ARN}:cacert/${caId}`);
      const d = await h.iot.send(new DescribeCACertificateCommand({ certificateId: caId }));
      assert.equal(d.certificateDescription?.status, 'ACTIVE');
      assert.equal(d.certificateDescription?.certificatePem?.trim(), deviceCa.pem.trim());
      assert.ok(d.certificateDescription?.creationDate instanceof Date);
      const list = await h.iot.send(new ListCACertificatesCommand({}));
      assert.ok(list.certificates!.some((c) => c.certificateId === caId));
      await rejects(h.iot.send(new RegisterCACertificateCommand({ caCertificate: deviceCa.pem, setAsActive: true })), ResourceAlreadyExistsException, 409);
    });

    test('RegisterCertificate with its CA: INACTIVE unless asked; UpdateCertificate; REVOKED is final', async () => {
      const leaf = await deviceCert({ issuer: deviceCa });
      const r = await h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem, caCertificatePem: deviceCa.pem }));
      assert.equal(r.certificateId, leaf.id);
      assert.equal(r.certificateArn, `${ARN}:cert/${leaf.id}`);
      let d = await h.iot.send(new DescribeCertificateCommand({ certificateId: leaf.id }));
      assert.equal(d.certificateDescription?.status, 'INACTIVE');
      assert.equal(d.certificateDescription?.caCertificateId, deviceCa.id);
      assert.ok(d.certificateDescription?.validity?.notAfter instanceof Date);
      await h.iot.send(new UpdateCertificateCommand({ certificateId: leaf.id, newStatus: 'ACTIVE' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:UpdateCertificate', resource: `${ARN}:cert/${leaf.id}` });
      d = await h.iot.send(new DescribeCertificateCommand({ certificateId: leaf.id }));
      assert.equal(d.certificateDescription?.status, 'ACTIVE');
      await h.iot.send(new UpdateCertificateCommand({ certificateId: leaf.id, newStatus: 'REVOKED' }));
      await rejects(h.iot.send(new UpdateCertificateCommand({ certificateId: leaf.id, newStatus: 'ACTIVE' })), CertificateStateException, 406);
      await rejects(h.iot.send(new UpdateCertificateCommand({ certificateId: leaf.id, newStatus: 'PENDING_TRANSFER' })), InvalidRequestException, 400);
      // setAsActive and an explicit status.
      const l2 = await deviceCert({ issuer: deviceCa });
      await h.iot.send(new RegisterCertificateCommand({ certificatePem: l2.pem, setAsActive: true }));
      assert.equal((await h.registry.getCertificate(l2.id))?.status, 'ACTIVE');
    });

    test('RegisterCertificate refuses a certificate of an unregistered CA, or one the named CA did not issue', async () => {
      const otherCa = await makeCa();
      const leaf = await deviceCert({ issuer: otherCa });
      const e = await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem })), CertificateValidationException, 400, /does not chain to a trusted device CA/);
      assert.match(e.message, new RegExp(leaf.id));
      // Naming the untrusted CA does not make it trusted.
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem, caCertificatePem: otherCa.pem })), CertificateValidationException, 400, /does not chain/);
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem, caCertificatePem: deviceCa.pem })), CertificateValidationException, 400);
      await rejects(h.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: 'not a pem' })), CertificateValidationException, 400);
      assert.equal(await h.registry.getCertificate(leaf.id), undefined);
    });

    test('RegisterCertificate applies the registry\'s checks: validity, client-auth usage, not a CA, CA constraints; an intermediate named as the CA', async () => {
      // deviceCa is trusted by the CA certificate test above.
      const expired = await makeLeaf({ issuer: deviceCa, notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: expired.pem, status: 'ACTIVE' })), CertificateValidationException, 400, /expired/);
      const future = await makeLeaf({ issuer: deviceCa, notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) });
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: future.pem })), CertificateValidationException, 400, /not valid before/);
      const server = await deviceCert({ issuer: deviceCa, eku: [EKU.serverAuth] });
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: server.pem })), CertificateValidationException, 400, /clientAuth/);
      const sub = await makeCa({ issuer: deviceCa, name: 'CN=Sub CA' });
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: sub.pem })), CertificateValidationException, 400, /CA certificate/);
      // An intermediate below a trusted CA: presented as caCertificatePem, the chain is found; without it, not.
      const below = await deviceCert({ issuer: sub });
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: below.pem })), CertificateValidationException, 400, /does not chain/);
      const r = await h.iot.send(new RegisterCertificateCommand({ certificatePem: below.pem, caCertificatePem: sub.pem, status: 'ACTIVE' }));
      assert.equal(r.certificateId, below.id);
      assert.equal((await h.registry.getCertificate(below.id))?.issuerId, sub.id);
      // A CA constraint on the way breaks the chain: path length 0 with an intermediate below.
      const level1 = await makeCa({ issuer: deviceCa, name: 'CN=Level 1', pathLength: 0 });
      const level2 = await makeCa({ issuer: level1, name: 'CN=Level 2' });
      const underWeak = await deviceCert({ issuer: level2 });
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: underWeak.pem, caCertificatePem: level2.pem + level1.pem })), CertificateValidationException, 400, /allows at most 0 intermediate/);
      // The named CA must be the issuer on the chain.
      const direct = await deviceCert({ issuer: deviceCa });
      await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: direct.pem, caCertificatePem: sub.pem })), CertificateValidationException, 400, /not issued by the given CA/);
      // Registered already: ResourceAlreadyExistsException naming it.
      const dup = await rejects(h.iot.send(new RegisterCertificateCommand({ certificatePem: below.pem, caCertificatePem: sub.pem })), ResourceAlreadyExistsException, 409);
      assert.equal(dup.resourceId, below.id);
      assert.equal(dup.resourceArn, `${ARN}:cert/${below.id}`);
      for (const c of [expired, future, server, sub, underWeak, direct]) assert.equal(await h.registry.getCertificate(c.id), undefined);
    });

    test('RegisterCertificateWithoutCA applies the leaf checks (validity, usage, not a CA), not the chain', async () => {
      const expired = await makeLeaf({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
      await rejects(h.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: expired.pem })), CertificateValidationException, 400, /expired/);
      const ca = await makeCa({ notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
      await rejects(h.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: ca.pem })), CertificateValidationException, 400, /CA certificate/);
      const own = await deviceCert({});
      const r = await h.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: own.pem }));
      assert.equal(r.certificateId, own.id);
      assert.equal((await h.registry.getCertificate(own.id))?.issuerId, null);
      // Trusted by its registration (identity/verify.ts), which AWS IoT calls SNI_ONLY mode.
      assert.equal((await h.registry.getCertificate(own.id))?.trust, 'registration');
      assert.equal((await h.iot.send(new DescribeCertificateCommand({ certificateId: own.id }))).certificateDescription?.certificateMode, 'SNI_ONLY');
      await rejects(h.iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: own.pem })), ResourceAlreadyExistsException, 409);
      assert.equal(await h.registry.getCertificate(expired.id), undefined);
    });

    test('CreateKeysAndCertificate: a key pair made in the gateway, a certificate of the gateway CA; the private key is not stored', async () => {
      const r = await h.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
      assert.deepEqual(await lastCheck(), { action: 'iot:CreateKeysAndCertificate', resource: '*' });
      const cert = new X509Certificate(r.certificatePem!);
      assert.ok(cert.checkIssued(h.ca.certificate) && cert.verify(h.ca.certificate.publicKey));
      const key = createPrivateKey(r.keyPair!.PrivateKey!);
      assert.ok(createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(cert.publicKey.export({ type: 'spki', format: 'der' })));
      assert.ok(createPublicKey(r.keyPair!.PublicKey!).export({ type: 'spki', format: 'der' }).equals(cert.publicKey.export({ type: 'spki', format: 'der' })));
      const stored = await h.registry.getCertificate(r.certificateId!);
      assert.equal(stored?.status, 'ACTIVE');
      assert.equal(stored?.issuerId, h.ca.id);
      const keyBody = r.keyPair!.PrivateKey!.split('\n').slice(1, 3).join('');
      const db = await readFile(`${dir.path}/registry.db`);
      assert.equal(db.includes(Buffer.from(keyBody)), false, 'the private key must not be in the registry');
      const r2 = await h.iot.send(new CreateKeysAndCertificateCommand({}));
      assert.equal((await h.registry.getCertificate(r2.certificateId!))?.status, 'INACTIVE');
    });

    test('DeleteCertificate: refused while ACTIVE, while attached to a thing, and with policies unless forceDelete', async () => {
      const leaf = await deviceCert({ issuer: deviceCa });
      const { certificateArn } = await h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem, status: 'ACTIVE' }));
      await rejects(h.iot.send(new DeleteCertificateCommand({ certificateId: leaf.id })), CertificateStateException, 406);
      await h.iot.send(new UpdateCertificateCommand({ certificateId: leaf.id, newStatus: 'INACTIVE' }));
      await h.iot.send(new CreateThingCommand({ thingName: 'del-thing' }));
      await h.iot.send(new AttachThingPrincipalCommand({ thingName: 'del-thing', principal: certificateArn! }));
      await rejects(h.iot.send(new DeleteCertificateCommand({ certificateId: leaf.id })), DeleteConflictException, 409);
      await h.iot.send(new DetachThingPrincipalCommand({ thingName: 'del-thing', principal: certificateArn! }));
      await h.iot.send(new CreatePolicyCommand({ policyName: 'del-policy', policyDocument: DEVICE_POLICY }));
      await h.iot.send(new AttachPolicyCommand({ policyName: 'del-policy', target: certificateArn! }));
      await rejects(h.iot.send(new DeleteCertificateCommand({ certificateId: leaf.id })), DeleteConflictException, 409);
      await h.iot.send(new DeleteCertificateCommand({ certificateId: leaf.id, forceDelete: true }));
      assert.deepEqual(await lastCheck(), { action: 'iot:DeleteCertificate', resource: `${ARN}:cert/${leaf.id}` });
      assert.equal(await h.registry.getCertificate(leaf.id), undefined);
      assert.deepEqual(await h.registry.policyTargets('del-policy'), []);
      await rejects(h.iot.send(new DescribeCertificateCommand({ certificateId: leaf.id })), ResourceNotFoundException, 404);
      await rejects(h.iot.send(new DescribeCertificateCommand({ certificateId: 'abc' })), InvalidRequestException, 400);
    });

    test('ListCertificates pages with marker and pageSize, newest first unless ascending', async () => {
      const all: string[] = [];
      let marker: string | undefined;
      do {
        const r = await h.iot.send(new ListCertificatesCommand({ pageSize: 2, ...(marker !== undefined ? { marker } : {}) }));
        assert.ok(r.certificates!.length <= 2);
        all.push(...r.certificates!.map((c) => c.certificateId!));
        marker = r.nextMarker;
      } while (marker !== undefined);
      const stored = await h.registry.listCertificates();
      assert.equal(all.length, stored.length);
      assert.equal(new Set(all).size, all.length);
      const asc = await h.iot.send(new ListCertificatesCommand({ ascendingOrder: true, pageSize: 250 }));
      assert.deepEqual(asc.certificates!.map((c) => c.certificateId), [...all].reverse());
      assert.deepEqual(await lastCheck(), { action: 'iot:ListCertificates', resource: '*' });
    });

    test('AttachThingPrincipal, ListThingPrincipals, ListPrincipalThings, DetachThingPrincipal', async () => {
      const leaf = await deviceCert({ issuer: deviceCa });
      const { certificateArn } = await h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem }));
      await h.iot.send(new CreateThingCommand({ thingName: 'p-1' }));
      await h.iot.send(new CreateThingCommand({ thingName: 'p-2' }));
      await h.iot.send(new AttachThingPrincipalCommand({ thingName: 'p-1', principal: certificateArn! }));
      assert.deepEqual(await lastCheck(), { action: 'iot:AttachThingPrincipal', resource: certificateArn });
      await rejects(h.iot.send(new AttachThingPrincipalCommand({ thingName: 'p-2', principal: certificateArn!, thingPrincipalType: 'EXCLUSIVE_THING' })), InvalidRequestException, 400);
      await h.iot.send(new AttachThingPrincipalCommand({ thingName: 'p-2', principal: certificateArn! }));
      assert.deepEqual((await h.iot.send(new ListThingPrincipalsCommand({ thingName: 'p-1' }))).principals, [certificateArn]);
      assert.deepEqual((await h.iot.send(new ListPrincipalThingsCommand({ principal: certificateArn! }))).things, ['p-1', 'p-2']);
      assert.deepEqual(await lastCheck(), { action: 'iot:ListPrincipalThings', resource: certificateArn });
      await h.iot.send(new DetachThingPrincipalCommand({ thingName: 'p-1', principal: certificateArn! }));
      assert.deepEqual((await h.iot.send(new ListPrincipalThingsCommand({ principal: certificateArn! }))).things, ['p-2']);
      await rejects(h.iot.send(new DetachThingPrincipalCommand({ thingName: 'p-1', principal: certificateArn! })), ResourceNotFoundException, 404);
      await rejects(h.iot.send(new AttachThingPrincipalCommand({ thingName: 'p-1', principal: 'us-east-1:cognito-id' })), InvalidRequestException, 400);
      await rejects(h.iot.send(new AttachThingPrincipalCommand({ thingName: 'p-1', principal: `${ARN}:cert/${'0'.repeat(64)}` })), ResourceNotFoundException, 404);
    });
  });

  describe('policies', () => {
    test('CreatePolicy, GetPolicy, versions, default, limits and conflicts as AWS IoT', async () => {
      const c = await h.iot.send(new CreatePolicyCommand({ policyName: 'dev', policyDocument: DEVICE_POLICY }));
      assert.deepEqual(await lastCheck(), { action: 'iot:CreatePolicy', resource: `${ARN}:policy/dev` });
      assert.equal(c.policyVersionId, '1');
      assert.equal(c.policyArn, `${ARN}:policy/dev`);
      await rejects(h.iot.send(new CreatePolicyCommand({ policyName: 'dev', policyDocument: DEVICE_POLICY })), ResourceAlreadyExistsException, 409);
      await rejects(h.iot.send(new CreatePolicyCommand({ policyName: 'broken', policyDocument: '{"Statement": 3}' })), MalformedPolicyException, 400);
      const g = await h.iot.send(new GetPolicyCommand({ policyName: 'dev' }));
      assert.equal(g.defaultVersionId, '1');
      assert.equal(g.policyDocument, DEVICE_POLICY);
      assert.ok(g.creationDate instanceof Date);
      const v2 = await h.iot.send(new CreatePolicyVersionCommand({ policyName: 'dev', policyDocument: DEVICE_POLICY, setAsDefault: true }));
      assert.equal(v2.policyVersionId, '2');
      assert.equal(v2.isDefaultVersion, true);
      for (let i = 3; i <= 5; i++) await h.iot.send(new CreatePolicyVersionCommand({ policyName: 'dev', policyDocument: DEVICE_POLICY }));
      await rejects(h.iot.send(new CreatePolicyVersionCommand({ policyName: 'dev', policyDocument: DEVICE_POLICY })), VersionsLimitExceededException, 409);
      const versions = await h.iot.send(new ListPolicyVersionsCommand({ policyName: 'dev' }));
      assert.deepEqual(versions.policyVersions!.map((v) => [v.versionId, v.isDefaultVersion]), [['5', false], ['4', false], ['3', false], ['2', true], ['1', false]]);
      await h.iot.send(new SetDefaultPolicyVersionCommand({ policyName: 'dev', policyVersionId: '3' }));
      assert.deepEqual(await lastCheck(), { action: 'iot:SetDefaultPolicyVersion', resource: `${ARN}:policy/dev` });
      const v3 = await h.iot.send(new GetPolicyVersionCommand({ policyName: 'dev', policyVersionId: '3' }));
      assert.equal(v3.isDefaultVersion, true);
      await rejects(h.iot.send(new DeletePolicyVersionCommand({ policyName: 'dev', policyVersionId: '3' })), DeleteConflictException, 409);
      await rejects(h.iot.send(new DeletePolicyCommand({ policyName: 'dev' })), DeleteConflictException, 409);
      for (const v of ['1', '2', '4', '5']) await h.iot.send(new DeletePolicyVersionCommand({ policyName: 'dev', policyVersionId: v }));
      await rejects(h.iot.send(new GetPolicyVersionCommand({ policyName: 'dev', policyVersionId: '1' })), ResourceNotFoundException, 404);
      const list = await h.iot.send(new ListPoliciesCommand({ ascendingOrder: true }));
      assert.ok(list.policies!.some((p) => p.policyName === 'dev' && p.policyArn === `${ARN}:policy/dev`));
    });

    test('AttachPolicy to a certificate and a thing group, ListAttachedPolicies (recursive), ListTargetsForPolicy, DetachPolicy', async () => {
      await h.iot.send(new CreatePolicyCommand({ policyName: 'grp-pol', policyDocument: DEVICE_POLICY }));
      await h.iot.send(new CreatePolicyCommand({ policyName: 'cert-pol', policyDocument: DEVICE_POLICY }));
      await h.iot.send(new CreateThingGroupCommand({ thingGroupName: 'site' }));
      await h.iot.send(new CreateThingGroupCommand({ thingGroupName: 'floor', parentGroupName: 'site' }));
      const leaf = await deviceCert({ issuer: deviceCa });
      const { certificateArn } = await h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem }));
      await h.iot.send(new AttachPolicyCommand({ policyName: 'cert-pol', target: certificateArn! }));
      assert.deepEqual(await lastCheck(), { action: 'iot:AttachPolicy', resource: certificateArn });
      await h.iot.send(new AttachPolicyCommand({ policyName: 'grp-pol', target: `${ARN}:thinggroup/site` }));
      assert.deepEqual((await h.iot.send(new ListAttachedPoliciesCommand({ target: certificateArn! }))).policies, [{ policyName: 'cert-pol', policyArn: `${ARN}:policy/cert-pol` }]);
      assert.deepEqual(await lastCheck(), { action: 'iot:ListAttachedPolicies', resource: '*' });
      assert.deepEqual((await h.iot.send(new ListAttachedPoliciesCommand({ target: `${ARN}:thinggroup/floor` }))).policies, []);
      assert.deepEqual((await h.iot.send(new ListAttachedPoliciesCommand({ target: `${ARN}:thinggroup/floor`, recursive: true }))).policies!.map((p) => p.policyName), ['grp-pol']);
      await h.iot.send(new AttachPolicyCommand({ policyName: 'grp-pol', target: certificateArn! }));
      assert.deepEqual((await h.iot.send(new ListTargetsForPolicyCommand({ policyName: 'grp-pol' }))).targets, [certificateArn, `${ARN}:thinggroup/site`].sort());
      await h.iot.send(new DetachPolicyCommand({ policyName: 'grp-pol', target: certificateArn! }));
      assert.deepEqual((await h.iot.send(new ListTargetsForPolicyCommand({ policyName: 'grp-pol' }))).targets, [`${ARN}:thinggroup/site`]);
      await rejects(h.iot.send(new AttachPolicyCommand({ policyName: 'grp-pol', target: 'arn:aws:iam::123456789012:user/x' })), InvalidRequestException, 400);
      await rejects(h.iot.send(new AttachPolicyCommand({ policyName: 'missing', target: certificateArn! })), ResourceNotFoundException, 404);
    });
  });

  describe('thing groups', () => {
    test('create, describe with its ancestry, membership, listings and deletion rules', async () => {
      await h.iot.send(new CreateThingGroupCommand({ thingGroupName: 'b-root', thingGroupProperties: { thingGroupDescription: 'building' } }));
      assert.deepEqual(await lastCheck(), { action: 'iot:CreateThingGroup', resource: `${ARN}:thinggroup/b-root` });
      await h.iot.send(new CreateThingGroupCommand({ thingGroupName: 'b-mid', parentGroupName: 'b-root' }));
      const leafGroup = await h.iot.send(new CreateThingGroupCommand({ thingGroupName: 'b-leaf', parentGroupName: 'b-mid' }));
      assert.equal(leafGroup.thingGroupArn, `${ARN}:thinggroup/b-leaf`);
      await rejects(h.iot.send(new CreateThingGroupCommand({ thingGroupName: 'b-leaf', parentGroupName: 'b-root' })), ResourceAlreadyExistsException, 409);
      const d = await h.iot.send(new DescribeThingGroupCommand({ thingGroupName: 'b-leaf' }));
      assert.equal(d.thingGroupId, leafGroup.thingGroupId);
      assert.equal(d.thingGroupMetadata?.parentGroupName, 'b-mid');
      assert.deepEqual(d.thingGroupMetadata?.rootToParentThingGroups?.map((g) => g.groupName), ['b-root', 'b-mid']);
      assert.equal((await h.iot.send(new DescribeThingGroupCommand({ thingGroupName: 'b-root' }))).thingGroupProperties?.thingGroupDescription, 'building');
      await h.iot.send(new CreateThingCommand({ thingName: 'g-1' }));
      await h.iot.send(new CreateThingCommand({ thingName: 'g-2' }));
      await h.iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'b-leaf', thingName: 'g-1' }));
      // Both resources are authorized.
      assert.deepEqual((await h.lastDecisions()).map((c) => [c.action, c.resource]), [['iot:AddThingToThingGroup', `${ARN}:thinggroup/b-leaf`], ['iot:AddThingToThingGroup', `${ARN}:thing/g-1`]]);
      await h.iot.send(new AddThingToThingGroupCommand({ thingGroupArn: `${ARN}:thinggroup/b-root`, thingArn: `${ARN}:thing/g-2` }));
      assert.deepEqual((await h.iot.send(new ListThingsInThingGroupCommand({ thingGroupName: 'b-root' }))).things, ['g-2']);
      assert.deepEqual((await h.iot.send(new ListThingsInThingGroupCommand({ thingGroupName: 'b-root', recursive: true }))).things, ['g-1', 'g-2']);
      assert.deepEqual((await h.iot.send(new ListThingGroupsForThingCommand({ thingName: 'g-1' }))).thingGroups, [{ groupName: 'b-leaf', groupArn: `${ARN}:thinggroup/b-leaf` }]);
      assert.deepEqual((await h.iot.send(new ListThingGroupsCommand({ parentGroup: 'b-root' }))).thingGroups!.map((g) => g.groupName), ['b-mid']);
      assert.deepEqual((await h.iot.send(new ListThingGroupsCommand({ parentGroup: 'b-root', recursive: true }))).thingGroups!.map((g) => g.groupName), ['b-leaf', 'b-mid']);
      assert.deepEqual((await h.iot.send(new ListThingGroupsCommand({ namePrefixFilter: 'b-' }))).thingGroups!.map((g) => g.groupName), ['b-leaf', 'b-mid', 'b-root']);
      await h.iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName: 'b-leaf', thingName: 'g-1' }));
      assert.deepEqual((await h.iot.send(new ListThingGroupsForThingCommand({ thingName: 'g-1' }))).thingGroups, []);
      await rejects(h.iot.send(new DeleteThingGroupCommand({ thingGroupName: 'b-mid' })), InvalidRequestException, 400);
      await h.iot.send(new DeleteThingGroupCommand({ thingGroupName: 'b-leaf' }));
      await h.iot.send(new DeleteThingGroupCommand({ thingGroupName: 'b-leaf' }));
      await rejects(h.iot.send(new DescribeThingGroupCommand({ thingGroupName: 'b-leaf' })), ResourceNotFoundException, 404);
      await rejects(h.iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'b-root', thingName: 'g-1', thingArn: `${ARN}:thing/g-1` })), InvalidRequestException, 400);
    });
  });

  describe('TestAuthorization', () => {
    test('decides a registered certificate\'s connection with the policies in force, per action', async () => {
      const leaf = await deviceCert({ issuer: deviceCa });
      const { certificateArn } = await h.iot.send(new RegisterCertificateCommand({ certificatePem: leaf.pem, status: 'ACTIVE' }));
      await h.iot.send(new CreateThingCommand({ thingName: 'tester' }));
      await h.iot.send(new AttachThingPrincipalCommand({ thingName: 'tester', principal: certificateArn! }));
      await h.iot.send(new CreatePolicyCommand({ policyName: 'tester-pol', policyDocument: DEVICE_POLICY }));
      await h.iot.send(new AttachPolicyCommand({ policyName: 'tester-pol', target: certificateArn! }));
      await h.policyLoader.reload('test');
      const r = await h.iot.send(new TestAuthorizationCommand({
        principal: certificateArn!,
        authInfos: [
          { actionType: 'CONNECT', resources: [`${ARN}:client/tester`] },
          { actionType: 'PUBLISH', resources: [`${ARN}:topic/data/x`] },
          { actionType: 'PUBLISH', resources: [`${ARN}:topic/data/secret`] },
          { actionType: 'SUBSCRIBE', resources: [`${ARN}:topicfilter/data/#`] },
        ],
      }));
      assert.deepEqual(await lastCheck(), { action: 'iot:TestAuthorization', resource: certificateArn });
      assert.deepEqual(r.authResults!.map((a) => a.authDecision), ['ALLOWED', 'ALLOWED', 'EXPLICIT_DENY', 'IMPLICIT_DENY']);
      assert.deepEqual(r.authResults![1]!.allowed?.policies, [{ policyName: 'tester-pol', policyArn: `${ARN}:policy/tester-pol` }]);
      assert.deepEqual(r.authResults![2]!.denied?.explicitDeny?.policies?.map((p) => p.policyName), ['tester-pol']);
      await rejects(h.iot.send(new TestAuthorizationCommand({ principal: certificateArn!, authInfos: [{ actionType: 'PUBLISH', resources: [`${ARN}:topicfilter/x`] }] })), InvalidRequestException, 400);
      await rejects(h.iot.send(new TestAuthorizationCommand({ principal: certificateArn!, policyNamesToAdd: ['x'], authInfos: [{ actionType: 'CONNECT', resources: [`${ARN}:client/tester`] }] })), InvalidRequestException, 400);
    });
  });

  describe('role aliases and tags', () => {
    test('CreateRoleAlias needs iam:PassRole on the role; Describe, List, Update, Delete', async () => {
      await h.control.createRole('device-role', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:user/ops' }, Action: 'sts:AssumeRole' }] }));
      const roleArn = `arn:aws:iam::${'123456789012'}:role/device-role`;
      const c = await h.iot.send(new CreateRoleAliasCommand({ roleAlias: 'devices', roleArn, credentialDurationSeconds: 1800, tags: [{ Key: 'env', Value: 'lab' }] }));
      assert.equal(c.roleAliasArn, `${ARN}:rolealias/devices`);
      assert.deepEqual((await h.lastDecisions()).map((d) => [d.action, d.resource]), [['iot:CreateRoleAlias', `${ARN}:rolealias/devices`], ['iam:PassRole', roleArn]]);
      const d = await h.iot.send(new DescribeRoleAliasCommand({ roleAlias: 'devices' }));
      assert.equal(d.roleAliasDescription?.roleArn, roleArn);
      assert.equal(d.roleAliasDescription?.credentialDurationSeconds, 1800);
      assert.equal(d.roleAliasDescription?.owner, '123456789012');
      assert.ok(d.roleAliasDescription?.creationDate instanceof Date);
      assert.deepEqual((await h.iot.send(new ListRoleAliasesCommand({}))).roleAliases, ['devices']);
      assert.deepEqual((await h.iot.send(new ListTagsForResourceCommand({ resourceArn: c.roleAliasArn }))).tags, [{ Key: 'env', Value: 'lab' }]);
      await h.iot.send(new UpdateRoleAliasCommand({ roleAlias: 'devices', credentialDurationSeconds: 900 }));
      assert.equal((await h.iot.send(new DescribeRoleAliasCommand({ roleAlias: 'devices' }))).roleAliasDescription?.credentialDurationSeconds, 900);
      await rejects(h.iot.send(new CreateRoleAliasCommand({ roleAlias: 'devices', roleArn })), ResourceAlreadyExistsException, 409);
      await rejects(h.iot.send(new UpdateRoleAliasCommand({ roleAlias: 'devices', credentialDurationSeconds: 60 })), InvalidRequestException, 400);
      await h.iot.send(new DeleteRoleAliasCommand({ roleAlias: 'devices' }));
      await rejects(h.iot.send(new DescribeRoleAliasCommand({ roleAlias: 'devices' })), ResourceNotFoundException, 404);
    });

    test('TagResource, ListTagsForResource, UntagResource on a thing group; the tags become aws:ResourceTag of later calls', async () => {
      const g = await h.iot.send(new CreateThingGroupCommand({ thingGroupName: 'tagged', tags: [{ Key: 'team', Value: 'red' }] }));
      assert.deepEqual((await h.lastDecisions()).at(-1)?.action, 'iot:CreateThingGroup');
      await h.iot.send(new TagResourceCommand({ resourceArn: g.thingGroupArn!, tags: [{ Key: 'env', Value: 'prod' }] }));
      assert.deepEqual(await lastCheck(), { action: 'iot:TagResource', resource: g.thingGroupArn });
      assert.deepEqual((await h.iot.send(new ListTagsForResourceCommand({ resourceArn: g.thingGroupArn! }))).tags, [{ Key: 'env', Value: 'prod' }, { Key: 'team', Value: 'red' }]);
      await h.iot.send(new UntagResourceCommand({ resourceArn: g.thingGroupArn!, tagKeys: ['team'] }));
      assert.deepEqual((await h.iot.send(new ListTagsForResourceCommand({ resourceArn: g.thingGroupArn! }))).tags, [{ Key: 'env', Value: 'prod' }]);
      await rejects(h.iot.send(new TagResourceCommand({ resourceArn: `${ARN}:thinggroup/none`, tags: [{ Key: 'a', Value: 'b' }] })), ResourceNotFoundException, 404);
      await rejects(h.iot.send(new TagResourceCommand({ resourceArn: 'arn:aws:s3:::bucket', tags: [{ Key: 'a', Value: 'b' }] })), InvalidRequestException, 400);
      // A user allowed to describe only groups tagged env=prod.
      await h.control.createUser('tagged-reader');
      const { key, secretAccessKey } = await h.control.createAccessKey('tagged-reader');
      await h.control.createIamPolicy('prod-groups', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:DescribeThingGroup', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } } }] }));
      await h.control.attachIamPolicy('prod-groups', { kind: 'user', name: 'tagged-reader' });
      const reader = new IoTClient({ endpoint: h.url, region: 'eu-west-1', maxAttempts: 1, credentials: { accessKeyId: key.accessKeyId, secretAccessKey }, requestHandler: { httpsAgent: new Agent({ ca: h.ca.certificatePem }) } });
      await h.control.createIamPolicy('keep-owner', JSON.stringify({ Version: '2012-10-17', Statement: [
        { Effect: 'Allow', Action: 'iot:UntagResource', Resource: '*' },
        { Effect: 'Deny', Action: 'iot:UntagResource', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['owner'] } } },
      ] }));
      await h.control.attachIamPolicy('keep-owner', { kind: 'user', name: 'tagged-reader' });
      await h.iot.send(new TagResourceCommand({ resourceArn: g.thingGroupArn!, tags: [{ Key: 'owner', Value: 'ann' }, { Key: 'tmp', Value: 'x' }] }));
      try {
        // aws:TagKeys of an untag are the keys it removes: removing `owner` is denied, `tmp` is not.
        await assert.rejects(reader.send(new UntagResourceCommand({ resourceArn: g.thingGroupArn!, tagKeys: ['tmp', 'owner'] })), { name: 'AccessDeniedException' });
        await reader.send(new UntagResourceCommand({ resourceArn: g.thingGroupArn!, tagKeys: ['tmp'] }));
        assert.deepEqual((await h.iot.send(new ListTagsForResourceCommand({ resourceArn: g.thingGroupArn! }))).tags?.map((t) => t.Key), ['env', 'owner']);
        assert.equal((await reader.send(new DescribeThingGroupCommand({ thingGroupName: 'tagged' }))).thingGroupName, 'tagged');
        await assert.rejects(reader.send(new DescribeThingGroupCommand({ thingGroupName: 'b-root' })), { name: 'AccessDeniedException' });
      } finally {
        reader.destroy();
      }
    });
  });

  test('CA certificate made INACTIVE is no longer trusted', async () => {
    const ca = await makeCa({ name: 'CN=Short-lived CA' });
    const { certificateId } = await h.iot.send(new RegisterCACertificateCommand({ caCertificate: ca.pem, setAsActive: true }));
    await h.iot.send(new UpdateCACertificateCommand({ certificateId: certificateId!, newStatus: 'INACTIVE' }));
    assert.deepEqual(await lastCheck(), { action: 'iot:UpdateCACertificate', resource: `${ARN}:cacert/${certificateId}` });
    assert.equal(await h.registry.getTrustedCa(certificateId!), undefined);
    await rejects(h.iot.send(new DescribeCACertificateCommand({ certificateId: certificateId! })), ResourceNotFoundException, 404);
  });
});
