/**
 * The operator console in a real browser (Debian's Chromium, headless, driven by
 * playwright-core) against a real `gatehouse start` and real MQTT.js devices: sign in
 * with the administrator's key, see a device connect live, follow a denial to its
 * explanation and simulate a variation, read a retained message, revoke a certificate and see the device
 * disconnected, a read-only user without the buttons its policies would refuse and with
 * a refused page explained, sign-out, and the idle timeout signing the page out.
 *
 * Without /usr/bin/chromium the tests are skipped with a message, unless CI is set.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumMissing, consoleConfig, launchChromium, readOnlyUser } from '../helpers/console.js';
import { GatewayProcess, connectDevice, waitForClose } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const skip = chromiumMissing();
const WAIT = { timeout: 15_000 };

/** Signs in on a fresh page: the profile's earlier session cookie, if any, is dropped first. */
async function signIn(page: Page, url: string, creds: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  await page.context().clearCookies();
  await page.goto(url);
  await page.getByLabel('Access key ID').fill(creds.accessKeyId);
  await page.getByLabel('Secret access key').fill(creds.secretAccessKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor(WAIT);
}

describe('the console in Chromium', { skip }, () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let browser: { context: BrowserContext; close: () => Promise<void> };
  let url: string;

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, consoleConfig());
    url = `${await gw.managementUrl(30_000)}/console/`;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await dir?.cleanup();
  });

  test('administrator: a device connects live, a denial is explained and simulated, a revoked certificate disconnects the device', async (t) => {
    const page = await browser.context.newPage();
    t.after(() => page.close());
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await signIn(page, url, await gw.adminCredentials());
    await page.locator('[data-testid="Connected devices"]', { hasText: /^0$/ }).waitFor(WAIT);

    const device = await gw.device('dev-1');
    const client = await connectDevice(gw.mqttUrl, device);
    t.after(() => client.end(true));
    // The overview follows without a reload.
    await page.locator('[data-testid="Connected devices"]', { hasText: /^1$/ }).waitFor(WAIT);

    await page.getByRole('link', { name: 'Devices' }).click();
    await page.locator('#sessions tr[data-client-id="dev-1"]').waitFor(WAIT);

    // A denied publish (MQTT 3.1.1: dropped), followed to its explanation.
    client.publish('forbidden/topic', 'x');
    await page.getByRole('link', { name: 'Why refused?' }).click();
    const row = page.locator('#denials tr', { hasText: 'mqtt:topic:forbidden/topic' });
    await row.waitFor(WAIT);
    assert.match(await row.innerText(), /NO_MATCHING_STATEMENT|IMPLICIT_DENY|DENIED/);
    await row.getByRole('button', { name: 'Why?' }).click();
    await page.getByTestId('explain-verdict').filter({ hasText: 'Denied' }).waitFor(WAIT);
    assert.match(await page.getByTestId('explain-message').first().innerText(), /forbidden\/topic/);
    // The simulate form holds the same request; a variation inside the device's own topics is allowed.
    assert.equal(await page.getByLabel(/^Resource/).inputValue(), 'mqtt:topic:forbidden/topic');
    assert.equal(await page.getByLabel('Thing name').inputValue(), 'dev-1');
    await page.getByLabel(/^Resource/).fill('mqtt:topic:t/dev-1/temperature');
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.locator('#simulate-result [data-testid="explain-verdict"]', { hasText: 'Allowed' }).waitFor(WAIT);

    // A retained message the device stores is listed with its payload (the data plane's view).
    await client.publishAsync('t/dev-1/state', 'lamp on', { qos: 1, retain: true });
    await page.getByRole('link', { name: 'Retained' }).click();
    await page.locator('#retained tr[data-topic="t/dev-1/state"]').getByRole('button', { name: 't/dev-1/state' }).click();
    await page.locator('#retained-message pre', { hasText: 'lamp on' }).waitFor(WAIT);

    // Revoke the certificate from the thing's page; the device is disconnected.
    await page.goto(`${url}#/devices/dev-1`);
    const cert = page.locator(`[data-certificate-id="${device.certificateId}"]`);
    await cert.getByRole('button', { name: 'Revoke' }).click();
    assert.match(await page.locator('#confirm-text').innerText(), /Revoke certificate/);
    const closed = waitForClose(client, 15_000);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await closed;
    await cert.getByTestId('certificate-status').filter({ hasText: 'REVOKED' }).waitFor(WAIT);
    await page.locator('#sessions', { hasText: 'No device is connected.' }).waitFor(WAIT);
    // And the action is in the audit log, by the administrator.
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Action').fill('iot:UpdateCertificate');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('#audit tr', { hasText: 'user/admin' }).filter({ hasText: 'allow' }).first().waitFor(WAIT);
    assert.deepEqual(pageErrors, []);
  });

  test('administrator: users with their keys and policies; deactivating a key from the page ends what it signed in', async (t) => {
    const auditor = await readOnlyUser(gw, 'auditor');
    const page = await browser.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, await gw.adminCredentials());
    await page.getByRole('link', { name: 'Users' }).click();
    const row = page.locator('#iam-users tr[data-user="auditor"]');
    await row.waitFor(WAIT);
    assert.match(await row.innerText(), /auditor-read-only/);
    const key = row.locator(`[data-access-key="${auditor.accessKeyId}"]`);
    assert.match(await key.innerText(), /Active/);
    // The administrator's own signed-in key offers no Deactivate (it would end this session).
    const admin = await gw.adminCredentials();
    assert.equal(await page.locator(`[data-access-key="${admin.accessKeyId}"]`).getByRole('button').count(), 0);
    await key.getByRole('button', { name: 'Deactivate' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.locator(`#iam-users [data-access-key="${auditor.accessKeyId}"]`, { hasText: 'Inactive' }).waitFor(WAIT);

    const other = await browser.context.newPage();
    t.after(() => other.close());
    await other.goto(url);
    await other.context().clearCookies();
    await other.reload();
    await other.getByLabel('Access key ID').fill(auditor.accessKeyId);
    await other.getByLabel('Secret access key').fill(auditor.secretAccessKey);
    await other.getByRole('button', { name: 'Sign in' }).click();
    await other.getByRole('alert').filter({ hasText: 'not right' }).waitFor(WAIT);
  });

  test('read-only user: no buttons its policies would refuse, and a refused page explained', async (t) => {
    const viewer = await readOnlyUser(gw);
    const device = await gw.device('dev-2');
    const client = await connectDevice(gw.mqttUrl, device);
    t.after(() => client.end(true));
    const page = await browser.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, viewer);

    await page.goto(`${url}#/devices/dev-2`);
    await page.locator('#sessions tr[data-client-id="dev-2"]').waitFor(WAIT);
    const cert = page.locator(`[data-certificate-id="${device.certificateId}"]`);
    await cert.getByText('Your policies allow no change to this certificate.').waitFor(WAIT);
    assert.equal(await cert.getByRole('button').count(), 0, 'no Revoke, Deactivate, Attach or Detach');
    assert.equal(await page.locator('#sessions').getByRole('button', { name: 'Disconnect' }).count(), 0);

    await page.getByRole('link', { name: 'Policies' }).click();
    await page.getByRole('button', { name: 'Validate' }).waitFor(WAIT);
    assert.equal(await page.getByRole('button', { name: 'Apply' }).count(), 0);

    await page.getByRole('link', { name: 'Audit log' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'Refused' });
    await refusal.waitFor(WAIT);
    assert.match(await refusal.innerText(), /user\/viewer is not authorized to perform: gatehouse:ListAuditRecords/);

    await page.getByRole('link', { name: 'Users' }).click();
    const iamRefusal = page.locator('#iam-users').getByRole('alert');
    await iamRefusal.waitFor(WAIT);
    assert.match(await iamRefusal.innerText(), /user\/viewer is not authorized to perform: iam:ListUsers/);
  });

  test('sign-out returns to the sign-in form, and a reload does not sign back in', async (t) => {
    const page = await browser.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, await gw.adminCredentials());
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('Signed out.').waitFor(WAIT);
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor(WAIT);
    assert.equal(await page.getByRole('heading', { name: 'Overview' }).count(), 0);
    assert.deepEqual((await browser.context.cookies()).filter((c) => c.name === '__Host-gatehouse-console'), []);
  });
});

describe('the console\'s idle timeout in Chromium', { skip }, () => {
  test('a page left alone is signed out by the idle timeout, live updates notwithstanding', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.cleanup());
    const gw = await GatewayProcess.start(dir.path, consoleConfig('idleTimeoutSeconds: 3'));
    t.after(() => gw.stop());
    const browser = await launchChromium();
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    await signIn(page, `${await gw.managementUrl(30_000)}/console/`, await gw.adminCredentials());
    const signedInAt = Date.now();
    await page.getByText('Your session has ended').waitFor(WAIT);
    assert.ok(Date.now() - signedInAt >= 2500, 'not before the idle timeout');
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).isVisible(), true);
  });
});
