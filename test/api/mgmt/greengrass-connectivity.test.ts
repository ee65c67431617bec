/**
 * Greengrass v2 Get/UpdateConnectivityInfo with the official `@aws-sdk/client-greengrassv2`:
 * the host addresses are stored in the data directory (they survive a restart) and drive
 * the server certificate's subject alternative names, re-issued before the update answers.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { GetConnectivityInfoCommand, UpdateConnectivityInfoCommand, ValidationException } from '@aws-sdk/client-greengrassv2';
import { ConnectivityInfoStore } from '../../../src/ca/connectivity.js';
import { ServerCertificateManager } from '../../../src/ca/server-certificate.js';
import { tempDir } from '../../helpers/tmp-dir.js';
import { DEPLOYMENT, startHarness, type Harness } from './iot-harness.js';

const sanText = (pem: string): string => new X509Certificate(pem).subjectAltName ?? '';

describe('Greengrass connectivity information with @aws-sdk/client-greengrassv2', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let h: Harness;
  let server: ServerCertificateManager;
  const CONFIGURED = ['gw.example.com'];

  before(async () => {
    dir = await tempDir('gatehouse-gg-conn-');
    let connectivity: ConnectivityInfoStore | undefined;
    h = await startHarness(dir.path, async () => {
      await server.setHostAddresses([...CONFIGURED, ...connectivity!.hostAddresses()]);
    });
    connectivity = h.connectivity;
    server = await ServerCertificateManager.start({
      ca: h.ca, dataDir: dir.path, hostAddresses: CONFIGURED, detectInterfaceAddresses: false,
      validitySeconds: 86_400 * 7, disableRotation: false, checkIntervalMs: 0,
    });
  });
  after(async () => {
    server.stop();
    await h.close();
    await dir.cleanup();
  });

  test('UpdateConnectivityInfo stores the addresses, re-issues the server certificate with them, and GetConnectivityInfo answers them', async () => {
    const before = server.current();
    assert.doesNotMatch(sanText(before.certificatePem), /10\.0\.0\.7/);
    const r = await h.greengrass.send(new UpdateConnectivityInfoCommand({
      thingName: 'core-1',
      connectivityInfo: [
        { id: 'lan', hostAddress: '10.0.0.7', portNumber: 8883, metadata: 'LAN' },
        { id: 'dns', hostAddress: 'broker.site.example', portNumber: 8883 },
      ],
    }));
    assert.equal(r.version, '1');
    const check = (await h.lastDecisions()).at(-1)!;
    assert.deepEqual({ action: check.action, resource: check.resource }, {
      action: 'greengrass:UpdateConnectivityInfo',
      resource: `arn:aws:greengrass:${DEPLOYMENT.region}:${DEPLOYMENT.accountId}:/greengrass/things/core-1/connectivityInfo`,
    });
    // Re-issued before the answer: configured names, the new ones and localhost.
    const now = server.current();
    assert.notEqual(now.id, before.id);
    const san = sanText(now.certificatePem);
    for (const name of ['DNS:gw.example.com', 'IP Address:10.0.0.7', 'DNS:broker.site.example', 'DNS:localhost']) assert.ok(san.includes(name), `${name} in ${san}`);
    assert.equal(server.lastRotationReason, 'hosts-changed');

    const g = await h.greengrass.send(new GetConnectivityInfoCommand({ thingName: 'core-1' }));
    assert.deepEqual(g.connectivityInfo, [
      { id: 'lan', hostAddress: '10.0.0.7', portNumber: 8883, metadata: 'LAN' },
      { id: 'dns', hostAddress: 'broker.site.example', portNumber: 8883, metadata: '' },
    ]);
    assert.equal((await h.lastDecisions()).at(-1)!.action, 'greengrass:GetConnectivityInfo');
    assert.deepEqual((await h.greengrass.send(new GetConnectivityInfoCommand({ thingName: 'other-core' }))).connectivityInfo, []);

    // A second update replaces the first: the old name leaves the certificate.
    const r2 = await h.greengrass.send(new UpdateConnectivityInfoCommand({ thingName: 'core-1', connectivityInfo: [{ id: 'lan', hostAddress: '10.0.0.8', portNumber: 1883 }] }));
    assert.equal(r2.version, '2');
    const san2 = sanText(server.current().certificatePem);
    assert.ok(san2.includes('IP Address:10.0.0.8'));
    assert.ok(!san2.includes('10.0.0.7') && !san2.includes('broker.site.example'), san2);
  });

  test('the connectivity information survives a restart', async () => {
    const reopened = await ConnectivityInfoStore.open(dir.path);
    assert.deepEqual(reopened.get('core-1')?.entries.map((e) => e.hostAddress), ['10.0.0.8']);
    assert.equal(reopened.get('core-1')?.version, 2);
    assert.deepEqual(reopened.hostAddresses(), ['10.0.0.8']);
  });

  test('an address that cannot be a certificate name is ValidationException (400) and changes nothing', async () => {
    const changes = h.connectivityChanges;
    for (const hostAddress of ['10.0.0.9:8883', 'not a host', '256.1.1.1']) {
      await assert.rejects(h.greengrass.send(new UpdateConnectivityInfoCommand({ thingName: 'core-1', connectivityInfo: [{ id: 'x', hostAddress }] })), (e: unknown) => {
        assert.ok(e instanceof ValidationException, String(e));
        assert.equal(e.$metadata.httpStatusCode, 400);
        return true;
      });
    }
    await assert.rejects(h.greengrass.send(new UpdateConnectivityInfoCommand({ thingName: 'bad name', connectivityInfo: [] })), ValidationException);
    assert.equal(h.connectivityChanges, changes);
    assert.deepEqual(h.connectivity.get('core-1')?.entries.map((e) => e.hostAddress), ['10.0.0.8']);
  });

  test('a denied update changes nothing', async () => {
    await assert.rejects(h.limitedGreengrass.send(new UpdateConnectivityInfoCommand({ thingName: 'core-1', connectivityInfo: [{ id: 'x', hostAddress: '10.9.9.9' }] })), { name: 'AccessDeniedException' });
    assert.deepEqual(h.connectivity.get('core-1')?.entries.map((e) => e.hostAddress), ['10.0.0.8']);
  });
});
