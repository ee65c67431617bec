/**
 * The operator console's data-plane and administration pages, in Debian's Chromium
 * (headless, playwright-core; one browser for the file) against a real `gatehouse start`
 * with real MQTT.js devices, and the management operations behind them over plain HTTPS
 * and the official AWS SDK:
 *
 * - Device Shadows: a thing's classic and named shadows (desired, reported, delta,
 *   version), deleted with confirmation; the management listener's GetThingShadow for
 *   `@aws-sdk/client-iot-data-plane`;
 * - jobs: created for a thing from the page, its execution listed, canceled and deleted,
 *   the job canceled;
 * - users, access keys (the secret shown once, never again, never logged or audited),
 *   policies (a refused document shown with its path and fix before anything is created);
 * - simulate under an edited policy: an API denial (IAM, SimulateCustomPolicy) and an
 *   MQTT denial (device groups), then applied with confirmation; an edited AWS IoT policy
 *   decided without being applied;
 * - a read-only user sees none of the buttons and is refused by the server;
 * - the console's background refreshes are audited once per window, refusals each time.
 *
 * Without /usr/bin/chromium the browser tests are skipped with a message, unless CI is set.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetThingShadowCommand, IoTDataPlaneClient, ResourceNotFoundException } from '@aws-sdk/client-iot-data-plane';
import { AttachPolicyCommand, CreatePolicyCommand, IoTClient } from '@aws-sdk/client-iot';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumMissing, ConsoleHttp, launchChromium, READ_ONLY_POLICY, readOnlyUser, type Signed } from '../helpers/console.js';
import { GatewayProcess, connectDevice } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp-dir.js';

const skip = chromiumMissing();
const WAIT = { timeout: 15_000 };

/** Devices `dev-*` may connect, publish under `t/<name>/…` and use their shadows; anything else is denied. */
const CONFIG = `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: Own }
  policies:
    Own:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish, mqtt:subscribe], resources: ["mqtt:topic:t/\${iot:Connection.Thing.ThingName}/*", "mqtt:topicfilter:t/\${iot:Connection.Thing.ThingName}/#", "mqtt:topic:$aws/things/\${iot:Connection.Thing.ThingName}/shadow/*"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  management:
    console: { signInAttemptsPerMinute: 1000 }
`;

async function signIn(page: Page, url: string, creds: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  await page.context().clearCookies();
  await page.goto(url);
  await page.getByLabel('Access key ID').fill(creds.accessKeyId);
  await page.getByLabel('Secret access key').fill(creds.secretAccessKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor(WAIT);
}

/** Confirms the dialog once it asks about `text` (it opens after the page's own checks). */
async function confirm(page: Page, text: RegExp): Promise<void> {
  await page.locator('#confirm-text', { hasText: text }).waitFor(WAIT);
  await page.getByRole('button', { name: 'Confirm' }).click();
}

/**
 * Asks `read` again until it gives at least `want` (the audit log lists what is queued
 * when it is read), for at most 10 s; the last value it gave.
 */
async function reaches(read: () => Promise<number>, want: number): Promise<number> {
  const until = Date.now() + 10_000;
  let v = await read();
  while (v < want && Date.now() < until) v = await read();
  return v;
}

interface AuditRecord { readonly id: number; readonly principal: string; readonly action: string; readonly decision: string; readonly reason: string }

describe('the console\'s data-plane and administration pages', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gw: GatewayProcess;
  let http: ConsoleHttp;
  let admin: { accessKeyId: string; secretAccessKey: string };
  let adminSession: Signed;
  let viewer: { accessKeyId: string; secretAccessKey: string };
  let browser: { context: BrowserContext; close: () => Promise<void> } | undefined;
  let url: string;

  /** The audit records matching `query`, newest first (as the administrator). */
  const audit = async (query: string): Promise<AuditRecord[]> => {
    const r = await http.request('GET', `/gatehouse/audit?limit=500&${query}`, { cookie: adminSession.cookie });
    assert.equal(r.status, 200, r.text);
    return (r.json as { records: AuditRecord[] }).records;
  };

  before(async () => {
    dir = await tempDir();
    gw = await GatewayProcess.start(dir.path, CONFIG);
    http = await ConsoleHttp.open(gw);
    url = `${http.url}/console/`;
    admin = await gw.adminCredentials();
    adminSession = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    viewer = await readOnlyUser(gw);
    if (skip === undefined) browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await dir?.cleanup();
  });

  test('shadows: a thing\'s classic and named shadows with desired, reported and delta; one deleted with confirmation', { skip }, async (t) => {
    const device = await gw.device('dev-1');
    const client = await connectDevice(gw.mqttUrl, device);
    t.after(() => client.end(true));
    await client.publishAsync('$aws/things/dev-1/shadow/update', JSON.stringify({ state: { desired: { lamp: 'on' }, reported: { lamp: 'off' } } }), { qos: 1 });
    await client.publishAsync('$aws/things/dev-1/shadow/name/config/update', JSON.stringify({ state: { reported: { interval: 30 } } }), { qos: 1 });
    // The shadow service handles the updates as they arrive: wait until both are stored.
    for (const path of ['/things/dev-1/shadow', '/things/dev-1/shadow?name=config']) {
      assert.equal(await reaches(async () => (await http.request('GET', path, { cookie: adminSession.cookie })).status === 200 ? 1 : 0, 1), 1, `${path} stored`);
    }

    const page = await browser!.context.newPage();
    t.after(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signIn(page, url, admin);
    await page.getByRole('link', { name: 'Shadows' }).click();
    await page.getByLabel('Thing name').fill('dev-1');
    await page.getByRole('button', { name: 'Show shadows' }).click();
    const classic = page.locator('[data-shadow="(classic)"]');
    await classic.locator('pre[data-part="delta"]', { hasText: '"lamp": "on"' }).waitFor(WAIT);
    assert.match(await classic.locator('pre[data-part="desired"]').innerText(), /"lamp": "on"/);
    assert.match(await classic.locator('pre[data-part="reported"]').innerText(), /"lamp": "off"/);
    assert.match(await classic.getByTestId('shadow-version').innerText(), /Version 1/);
    const named = page.locator('[data-shadow="config"]');
    assert.match(await named.locator('pre[data-part="reported"]').innerText(), /"interval": 30/);

    await named.getByRole('button', { name: 'Delete shadow' }).click();
    await confirm(page, /named shadow config of dev-1/);
    await page.locator('[data-shadow="config"]').waitFor({ state: 'detached', ...WAIT });
    await classic.waitFor(WAIT);
    // Gone for the API too (the AWS SDK's IoT data-plane client, against the management listener).
    const ca = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    const sdk = new IoTDataPlaneClient({ endpoint: http.url, region: 'us-east-1', credentials: admin, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca }) } });
    t.after(() => sdk.destroy());
    await assert.rejects(sdk.send(new GetThingShadowCommand({ thingName: 'dev-1', shadowName: 'config' })), ResourceNotFoundException);
    const got = await sdk.send(new GetThingShadowCommand({ thingName: 'dev-1' }));
    assert.equal((JSON.parse(Buffer.from(got.payload!).toString('utf8')) as { version: number }).version, 1);
    assert.deepEqual(errors, []);
  });

  test('jobs: created for a thing from the page, its execution canceled and deleted, the job canceled', { skip }, async (t) => {
    await gw.device('dev-2');
    const page = await browser!.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, admin);
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel(/^Job ID/).fill('reboot-1');
    await page.getByLabel(/^Things/).fill('dev-2');
    await page.getByLabel(/^Job document/).fill('{"operation":"reboot"}');
    await page.getByRole('button', { name: 'Create job' }).click();
    await confirm(page, /Create job reboot-1 for 1 target/);
    const exec = page.locator('#job-detail tr[data-thing="dev-2"]');
    await exec.getByTestId('execution-status').filter({ hasText: 'QUEUED' }).waitFor(WAIT);
    assert.match(await page.getByTestId('job-status').innerText(), /IN_PROGRESS/);

    await exec.getByRole('button', { name: 'Cancel' }).click();
    await confirm(page, /Cancel the execution of reboot-1 on dev-2/);
    await exec.getByTestId('execution-status').filter({ hasText: 'CANCELED' }).waitFor(WAIT);
    await exec.getByRole('button', { name: 'Delete' }).click();
    await confirm(page, /Delete execution 1 of reboot-1 on dev-2/);
    await page.locator('#job-detail', { hasText: 'No execution.' }).waitFor(WAIT);

    await page.goto(`${url}#/jobs`);
    await page.getByLabel(/^Job ID/).fill('reboot-2');
    await page.getByLabel(/^Things/).fill('dev-2');
    await page.getByRole('button', { name: 'Create job' }).click();
    await confirm(page, /Create job reboot-2/);
    await page.locator('#job-detail tr[data-thing="dev-2"]').waitFor(WAIT);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await confirm(page, /Cancel job reboot-2/);
    await page.getByTestId('job-status').filter({ hasText: 'CANCELED' }).waitFor(WAIT);
  });

  test('read-only user: shadows and jobs without a button, and the server refuses what a button would do', async (t) => {
    // A shadow and a job of its own: the administrator sees their buttons, the viewer none.
    const device = await gw.device('dev-4');
    const client = await connectDevice(gw.mqttUrl, device);
    t.after(() => client.end(true));
    await client.publishAsync('$aws/things/dev-4/shadow/update', JSON.stringify({ state: { desired: { fan: 2 } } }), { qos: 1 });
    assert.equal(await reaches(async () => (await http.request('GET', '/things/dev-4/shadow', { cookie: adminSession.cookie })).status === 200 ? 1 : 0, 1), 1, 'shadow stored');
    const d = (adminSession.answer.json as { deployment: { partition: string; region: string; accountId: string } }).deployment;
    const thing = `arn:${d.partition}:iot:${d.region}:${d.accountId}:thing/dev-4`;
    const job = await http.request('PUT', '/jobs/ro-job', { cookie: adminSession.cookie, csrf: adminSession.csrf, body: { targets: [thing], document: '{"operation":"noop"}' } });
    assert.equal(job.status, 200, job.text);

    // The server decides again: a hidden button is no defence.
    const session = await http.signIn(viewer.accessKeyId, viewer.secretAccessKey);
    for (const [method, path] of [['DELETE', '/things/dev-4/shadow'], ['PUT', '/jobs/x-1'], ['PUT', '/jobs/ro-job/cancel'], ['PUT', '/things/dev-4/jobs/ro-job/cancel'], ['DELETE', '/things/dev-4/jobs/ro-job/executionNumber/1?force=true']] as const) {
      const r = await http.request(method, path, { cookie: session.cookie, csrf: session.csrf, body: method === 'PUT' ? { targets: [thing], document: '{}' } : undefined });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      assert.match(r.text, /user\/viewer is not authorized/);
    }
    const created = await http.request('POST', '/', {
      cookie: session.cookie, csrf: session.csrf, rawBody: 'Action=CreateUser&Version=2010-05-08&UserName=mallory', contentType: 'application/x-www-form-urlencoded', headers: { 'x-gatehouse-service': 'iam' },
    });
    assert.equal(created.status, 403, created.text);
    if (skip !== undefined) return;

    const page = await browser!.context.newPage();
    t.after(() => page.close());
    const buttons = async (): Promise<{ shadow: number; jobForm: number; job: number; iamForms: number }> => {
      await page.goto(`${url}#/shadows/dev-4`);
      await page.locator('[data-shadow="(classic)"] pre[data-part="desired"]').waitFor(WAIT);
      const shadow = await page.getByRole('button', { name: 'Delete shadow' }).count();
      await page.goto(`${url}#/jobs/ro-job`);
      await page.locator('#job-detail tr[data-thing="dev-4"]').waitFor(WAIT);
      const jobForm = await page.locator('#create-job').count();
      const jobButtons = await page.locator('#job-detail').getByRole('button').count();
      await page.getByRole('link', { name: 'Users' }).click();
      await page.locator('#iam-users table, #iam-users [role="alert"]').first().waitFor(WAIT);
      await page.locator('#iam-admin, #iam-users [role="alert"]').first().waitFor(WAIT);
      return { shadow, jobForm, job: jobButtons, iamForms: await page.locator('#iam-admin form').count() };
    };
    await signIn(page, url, admin);
    const mine = await buttons();
    assert.deepEqual({ ...mine, iamForms: mine.iamForms > 0 }, { shadow: 1, jobForm: 1, job: 3, iamForms: true }, 'the administrator has them: Delete shadow, the job form, Cancel job, Cancel, Delete, the create forms');
    await signIn(page, url, viewer);
    assert.deepEqual(await buttons(), { shadow: 0, jobForm: 0, job: 0, iamForms: 0 });
  });

  test('administrator: a policy refused with its path and fix, then created; a user and its access key, whose secret is shown once', { skip }, async (t) => {
    const page = await browser!.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, admin);
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByLabel('User name').fill('operator');
    await page.getByRole('button', { name: 'Create user' }).click();
    await confirm(page, /Create IAM user operator/);
    await page.locator('#iam-users tr[data-user="operator"]').waitFor(WAIT);

    await page.getByLabel('Policy name').fill('operator-things');
    const doc = page.getByLabel('Policy document (JSON)');
    await doc.fill('{"Version":"2012-10-17","Statement":[{"Effect":"Permit","Action":"iot:ListThings","Resource":"*"}]}');
    await page.locator('#create-policy').getByRole('button', { name: 'Validate' }).click();
    const problems = page.locator('#new-policy-validation [data-testid="problems"]');
    await problems.waitFor(WAIT);
    assert.match(await problems.innerText(), /Effect/);
    assert.match(await problems.innerText(), /Allow/, 'the fix names what to write');
    await doc.fill('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:ListThings","gatehouse:GetMetrics"],"Resource":"*"}]}');
    await page.locator('#create-policy').getByRole('button', { name: 'Validate' }).click();
    await page.locator('#new-policy-validation', { hasText: 'Valid' }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Create policy' }).click();
    await confirm(page, /Create IAM policy operator-things/);
    await page.getByLabel('Policy', { exact: true }).locator('option', { hasText: 'operator-things' }).waitFor({ state: 'attached', ...WAIT });
    await page.getByLabel('User', { exact: true }).selectOption('operator');
    await page.getByLabel('Policy', { exact: true }).selectOption({ label: 'operator-things' });
    await page.getByRole('button', { name: 'Attach policy' }).click();
    await confirm(page, /Attach operator-things to operator/);
    await page.locator('#iam-users tr[data-user="operator"]', { hasText: 'operator-things' }).waitFor(WAIT);

    await page.getByLabel('For user').selectOption('operator');
    await page.getByRole('button', { name: 'Create access key' }).click();
    await confirm(page, /shown once/);
    const secretBox = page.getByLabel(/^Secret access key — shown this once/);
    await secretBox.waitFor(WAIT);
    const secret = await secretBox.inputValue();
    const keyId = await page.getByTestId('new-key-id').innerText();
    assert.match(secret, /^[A-Za-z0-9/+]{30,}$/);
    await page.getByRole('button', { name: 'I have saved it' }).click();
    await page.locator(`#iam-users [data-access-key="${keyId}"]`).waitFor(WAIT);
    assert.equal(await page.getByText(secret).count(), 0, 'the secret is shown no more');
    assert.equal((await page.content()).includes(secret), false);
    // Neither logged nor audited.
    assert.equal(gw.lines.some((l) => l.includes(secret)), false, 'not in the gateway\'s log');
    const records = await http.request('GET', '/gatehouse/audit?limit=500', { cookie: adminSession.cookie });
    assert.equal(records.text.includes(secret), false, 'not in the audit log');
    // And it is a working key: the new user signs in with it.
    const operator = await browser!.context.newPage();
    t.after(() => operator.close());
    await signIn(operator, url, { accessKeyId: keyId, secretAccessKey: secret });
    await operator.locator('[data-testid="Connected devices"]').waitFor(WAIT);
  });

  test('an API denial: the caller\'s policy edited and simulated without effect, then applied with confirmation', { skip }, async (t) => {
    const viewerSession = await http.signIn(viewer.accessKeyId, viewer.secretAccessKey);
    assert.equal((await http.request('GET', '/gatehouse/audit', { cookie: viewerSession.cookie })).status, 403);

    const page = await browser!.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, admin);
    await page.getByRole('link', { name: 'Why refused?' }).click();
    const row = page.locator('#denials tr', { hasText: 'gatehouse:ListAuditRecords' }).filter({ hasText: 'user/viewer' }).first();
    await row.waitFor(WAIT);
    await row.getByRole('button', { name: 'Why?' }).click();
    const doc = page.getByLabel('Policy document');
    await doc.waitFor(WAIT);
    assert.equal(await page.getByLabel('Policy', { exact: true }).inputValue(), '0');
    await page.getByRole('button', { name: 'Decide under this edit' }).click();
    await page.getByTestId('simulate-verdict').filter({ hasText: 'Denied' }).waitFor(WAIT);

    // A broken edit: its problem with path and fix; nothing decided.
    await doc.fill('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"gatehouse:ListAuditRecords"}]}');
    await page.getByRole('button', { name: 'Decide under this edit' }).click();
    await page.locator('#edit-result [data-testid="problems"]').waitFor(WAIT);
    assert.match(await page.locator('#edit-result').innerText(), /Resource/);

    const edited = JSON.parse(READ_ONLY_POLICY) as { Statement: { Action: string[] }[] };
    edited.Statement[0]!.Action.push('gatehouse:ListAuditRecords');
    await doc.fill(JSON.stringify(edited, null, 2));
    await page.getByRole('button', { name: 'Decide under this edit' }).click();
    await page.getByTestId('simulate-verdict').filter({ hasText: 'Allowed' }).waitFor(WAIT);
    // Simulated only: the viewer is still refused.
    assert.equal((await http.request('GET', '/gatehouse/audit', { cookie: viewerSession.cookie })).status, 403);

    await page.getByRole('button', { name: 'Apply…' }).click();
    await confirm(page, /default version of viewer-read-only/);
    await page.getByRole('status').filter({ hasText: 'done' }).waitFor(WAIT);
    assert.equal((await http.request('GET', '/gatehouse/audit', { cookie: viewerSession.cookie })).status, 200, 'applied');
  });

  test('an MQTT denial: the device groups edited and simulated without effect, then applied with confirmation', { skip }, async (t) => {
    const device = await gw.device('dev-3');
    const client = await connectDevice(gw.mqttUrl, device);
    t.after(() => client.end(true));
    client.publish('shared/announcements', 'x');
    const page = await browser!.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, admin);
    await page.getByRole('link', { name: 'Why refused?' }).click();
    const row = page.locator('#denials tr', { hasText: 'mqtt:topic:shared/announcements' });
    await row.waitFor(WAIT);
    await row.getByRole('button', { name: 'Why?' }).click();
    const text = page.getByLabel('Configuration file');
    await text.waitFor(WAIT);
    const original = await text.inputValue();
    const widened = original.replace('"mqtt:topicfilter:t/${iot:Connection.Thing.ThingName}/#"', '"mqtt:topicfilter:t/${iot:Connection.Thing.ThingName}/#", "mqtt:topic:shared/*"');
    assert.notEqual(widened, original);
    await text.fill(widened);
    await page.getByRole('button', { name: 'Decide under this edit' }).click();
    const verdict = page.locator('#edit-result [data-testid="explain-verdict"]');
    await verdict.filter({ hasText: 'Allowed' }).waitFor(WAIT);
    assert.match(await page.locator('#edit-result').innerText(), /nothing was applied/);
    // Not applied: the policies in force still deny it.
    const inForce = await http.request('POST', '/gatehouse/explain', { cookie: adminSession.cookie, csrf: adminSession.csrf, body: { thingName: 'dev-3', operation: 'mqtt:publish', resource: 'mqtt:topic:shared/announcements' } });
    assert.equal((inForce.json as { allowed: boolean }).allowed, false);

    await page.getByRole('button', { name: 'Apply…' }).click();
    await confirm(page, /Write this configuration/);
    await page.getByRole('status').filter({ hasText: 'done' }).waitFor(WAIT);
    const applied = await http.request('POST', '/gatehouse/explain', { cookie: adminSession.cookie, csrf: adminSession.csrf, body: { thingName: 'dev-3', operation: 'mqtt:publish', resource: 'mqtt:topic:shared/announcements' } });
    assert.equal((applied.json as { allowed: boolean }).allowed, true);
  });

  test('explain under an edited AWS IoT policy: decided with the edit, nothing applied; a broken edit answers its path and fix', async () => {
    const ca = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    const iot = new IoTClient({ endpoint: http.url, region: 'us-east-1', credentials: admin, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca }) } });
    try {
      const device = await gw.device('iot-1');
      const policyDocument = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] });
      await iot.send(new CreatePolicyCommand({ policyName: 'iot-1-policy', policyDocument }));
      const d = (adminSession.answer.json as { deployment: { partition: string; region: string; accountId: string } }).deployment;
      await iot.send(new AttachPolicyCommand({ policyName: 'iot-1-policy', target: `arn:${d.partition}:iot:${d.region}:${d.accountId}:cert/${device.certificateId}` }));
      const ask = { thingName: 'iot-1', action: 'iot:Publish', resource: 'topic/telemetry/iot-1' };
      const explain = (body: unknown) => http.request('POST', '/gatehouse/explain', { cookie: adminSession.cookie, csrf: adminSession.csrf, body });
      const before = await explain(ask);
      assert.equal(before.status, 200, before.text);
      assert.equal((before.json as { allowed: boolean }).allowed, false);

      const wider = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:Connect', 'iot:Publish'], Resource: '*' }] });
      const simulated = await explain({ ...ask, iotPolicyOverride: { policyName: 'iot-1-policy', policyDocument: wider } });
      assert.equal(simulated.status, 200, simulated.text);
      assert.equal((simulated.json as { allowed: boolean; simulated: boolean }).allowed, true);
      assert.equal((simulated.json as { simulated: boolean }).simulated, true);
      assert.equal(((await explain(ask)).json as { allowed: boolean }).allowed, false, 'nothing applied');

      const broken = await explain({ ...ask, iotPolicyOverride: { policyName: 'iot-1-policy', policyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish"}]}' } });
      assert.equal(broken.status, 400, broken.text);
      const problems = (broken.json as { error: { code: string; problems: { path: string; fix: string }[] } }).error;
      assert.equal(problems.code, 'MGMT_INVALID_REQUEST');
      assert.ok(problems.problems.length > 0 && problems.problems.every((p) => p.path !== undefined && p.fix !== undefined && p.fix !== ''), broken.text);
      const unknown = await explain({ ...ask, iotPolicyOverride: { policyName: 'no-such-policy', policyDocument: wider } });
      assert.equal(unknown.status, 400);
    } finally {
      iot.destroy();
    }
  });

  test('an MQTT denial decided by an AWS IoT policy: its document edited and decided under the edit, then applied with confirmation', { skip }, async (t) => {
    const ca = await readFile(join(gw.dataDir, 'ca', 'ca.pem'), 'utf8');
    const iot = new IoTClient({ endpoint: http.url, region: 'us-east-1', credentials: admin, maxAttempts: 1, requestHandler: { httpsAgent: new Agent({ ca }) } });
    t.after(() => iot.destroy());
    const device = await gw.device('iot-2');
    await iot.send(new CreatePolicyCommand({ policyName: 'iot-2-policy', policyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }) }));
    const d = (adminSession.answer.json as { deployment: { partition: string; region: string; accountId: string } }).deployment;
    await iot.send(new AttachPolicyCommand({ policyName: 'iot-2-policy', target: `arn:${d.partition}:iot:${d.region}:${d.accountId}:cert/${device.certificateId}` }));
    const client = await connectDevice(gw.mqttUrl, device);
    t.after(() => client.end(true));
    client.publish('telemetry/iot-2', '21.5');

    const page = await browser!.context.newPage();
    t.after(() => page.close());
    await signIn(page, url, admin);
    await page.getByRole('link', { name: 'Why refused?' }).click();
    const row = page.locator('#denials tr', { hasText: 'mqtt:topic:telemetry/iot-2' }).first();
    await row.waitFor(WAIT);
    await row.getByRole('button', { name: 'Why?' }).click();
    const doc = page.getByLabel('Policy document of iot-2-policy');
    await doc.waitFor(WAIT);
    // No device group selects the thing: its AWS IoT policy is offered first, the device groups next.
    assert.deepEqual(await page.getByLabel('What to edit').locator('option').allInnerTexts(), ['AWS IoT policy iot-2-policy', 'Device groups (the configuration file)']);
    const allowPublish = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:Connect', 'iot:Publish'], Resource: '*' }] }, null, 2);
    await doc.fill(allowPublish);
    await page.getByRole('button', { name: 'Decide under this edit' }).click();
    await page.locator('#edit-result [data-testid="explain-verdict"]', { hasText: 'Allowed' }).waitFor(WAIT);
    const ask = { thingName: 'iot-2', operation: 'mqtt:publish', resource: 'mqtt:topic:telemetry/iot-2', certificateId: device.certificateId };
    const inForce = await http.request('POST', '/gatehouse/explain', { cookie: adminSession.cookie, csrf: adminSession.csrf, body: ask });
    assert.equal((inForce.json as { allowed: boolean }).allowed, false, 'not applied by the simulation');

    await page.getByRole('button', { name: 'Apply…' }).click();
    await confirm(page, /default version of iot-2-policy/);
    await page.getByRole('status').filter({ hasText: 'done' }).waitFor(WAIT);
    // The registry's change reaches the policies in force shortly after.
    const allowedNow = async (): Promise<number> => (((await http.request('POST', '/gatehouse/explain', { cookie: adminSession.cookie, csrf: adminSession.csrf, body: ask })).json as { allowed: boolean }).allowed ? 1 : 0);
    assert.equal(await reaches(allowedNow, 1), 1, 'applied');
  });

  test('background refreshes: an allowed one is recorded once per window; refused ones and the operator\'s requests every time', async () => {
    const s = await http.signIn(admin.accessKeyId, admin.secretAccessKey);
    const background = { cookie: s.cookie, headers: { 'x-gatehouse-background': '1' } };
    const action = 'action=gatehouse:ListSessions';
    const count = async (): Promise<number> => (await audit(action)).length;
    const start = await count();
    for (let i = 0; i < 4; i++) assert.equal((await http.request('GET', '/gatehouse/sessions', background)).status, 200);
    // The operator's own read is recorded: once it is in the log, the refreshes before it are too.
    assert.equal((await http.request('GET', '/gatehouse/sessions', { cookie: s.cookie })).status, 200);
    assert.equal(await reaches(count, start + 2), start + 2, 'one refresh recorded, and the operator\'s read');

    // A refused background read is recorded every time.
    const v = await http.signIn(viewer.accessKeyId, viewer.secretAccessKey);
    const denyQuery = 'action=gatehouse:ListRetainedMessages&decision=deny';
    const refusedBefore = (await audit(denyQuery)).length;
    for (let i = 0; i < 3; i++) {
      const r = await http.request('GET', '/gatehouse/retained', { cookie: v.cookie, headers: { 'x-gatehouse-background': '1' } });
      assert.equal(r.status, 403);
    }
    assert.equal(await reaches(async () => (await audit(denyQuery)).length, refusedBefore + 3), refusedBefore + 3, 'each refused refresh recorded');
  });
});
