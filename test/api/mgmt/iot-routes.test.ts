/**
 * Every AWS IoT and Greengrass route, called with its example request by a signed
 * caller who has no permission, answers AccessDeniedException (403) and changes
 * nothing: each handler asks before it acts. And every route is the operation the
 * official SDK's service model defines (method and path), with an action of the
 * management action catalog.
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import * as iotModels from '@aws-sdk/client-iot';
import * as greengrassModels from '@aws-sdk/client-greengrassv2';
import { DEFAULT_IOT_DEPLOYMENT } from '../../../src/core/index.js';
import { IAM_ACTIONS } from '../../../src/core/policy/iam/actions.js';
import { GREENGRASS_OPERATIONS, IOT_OPERATIONS } from '../../../src/api/mgmt/iot/route-set.js';
import { tempDir } from '../../helpers/tmp-dir.js';
import { startHarness, type Harness } from './iot-harness.js';

/** The `{ http: [method, path] }` trait of an operation schema of the SDK (`CreateThing$`). */
function modelHttp(models: Record<string, unknown>, name: string): [string, string] | undefined {
  const schema = models[`${name}$`];
  if (!Array.isArray(schema)) return undefined;
  const traits = schema[3] as { http?: [string, string, number] } | undefined;
  return traits?.http === undefined ? undefined : [traits.http[0], traits.http[1]];
}

describe('AWS IoT and Greengrass routes', () => {
  test('each operation is the SDK service model\'s method and path, with a catalogued action', () => {
    for (const [ops, models] of [[IOT_OPERATIONS, iotModels], [GREENGRASS_OPERATIONS, greengrassModels]] as const) {
      for (const op of ops) {
        const http = modelHttp(models, op.name);
        assert.ok(http !== undefined, `${op.name} is an operation of the SDK`);
        assert.deepEqual([op.method, op.path], http, op.name);
        assert.ok(Object.hasOwn(IAM_ACTIONS, op.action), `${op.action} is in the action catalog`);
      }
    }
  });

  describe('a caller without permission', () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    let h: Harness;
    let signer: SignatureV4;
    let signerGg: SignatureV4;

    before(async () => {
      dir = await tempDir('gatehouse-iot-routes-');
      // The examples name resources of the default `gatehouse.iot` deployment.
      h = await startHarness(dir.path, undefined, DEFAULT_IOT_DEPLOYMENT);
      await h.control.createUser('nobody');
      const { key, secretAccessKey } = await h.control.createAccessKey('nobody');
      const credentials = { accessKeyId: key.accessKeyId, secretAccessKey };
      signer = new SignatureV4({ credentials, region: DEFAULT_IOT_DEPLOYMENT.region, service: 'iot', sha256: Hash.bind(null, 'sha256') });
      signerGg = new SignatureV4({ credentials, region: DEFAULT_IOT_DEPLOYMENT.region, service: 'greengrass', sha256: Hash.bind(null, 'sha256') });
    });
    after(async () => {
      await h.close();
      await dir.cleanup();
    });

    async function call(service: 'iot' | 'greengrass', method: string, example: { path: string; body?: unknown; headers?: Readonly<Record<string, string>> }): Promise<{ status: number; errorType: string | undefined }> {
      const url = new URL(example.path, h.url);
      const body = example.body === undefined ? undefined : JSON.stringify(example.body);
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      const req = new HttpRequest({
        method, protocol: 'https:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query,
        headers: { host: url.host, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...example.headers },
        ...(body !== undefined ? { body } : {}),
      });
      const signed = await (service === 'iot' ? signer : signerGg).sign(req);
      return new Promise((resolve, reject) => {
        const r = httpsRequest({ method, host: url.hostname, port: url.port, path: url.pathname + url.search, headers: signed.headers, ca: h.ca.certificatePem }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, errorType: res.headers['x-amzn-errortype'] as string | undefined }));
        });
        r.on('error', reject);
        if (body !== undefined) r.write(body);
        r.end();
      });
    }

    test('every example request is denied with AccessDeniedException before anything happens', async () => {
      const things = await h.registry.countThings();
      for (const [service, ops] of [['iot', IOT_OPERATIONS], ['greengrass', GREENGRASS_OPERATIONS]] as const) {
        for (const op of ops) {
          const r = await call(service, op.method, op.example);
          assert.deepEqual(r, { status: 403, errorType: 'AccessDeniedException' }, `${op.name} ${op.example.path}`);
        }
      }
      assert.equal(await h.registry.countThings(), things);
      assert.deepEqual(await h.registry.listCertificates(), []);
      assert.equal(h.connectivity.get('example-core'), undefined);
    });
  });
});
