// Regenerates the screenshots of docs/console.md: starts a gateway in a temporary
// directory, connects a few MQTT.js devices (one of them publishing where it may not),
// signs in to the console in Debian's Chromium and captures each page into docs/console/.
//
//   npm run docs:screenshots        (builds first; needs /usr/bin/chromium)
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { GatewayProcess, connectDevice } from '../dist/test/helpers/gateway.js';
import { consoleConfig, launchChromium, readOnlyUser } from '../dist/test/helpers/console.js';
import { tempDir } from '../dist/test/helpers/tmp-dir.js';

const OUT = fileURLToPath(new URL('../docs/console/', import.meta.url));
const WAIT = { timeout: 20_000 };

const dir = await tempDir();
// The console's configuration, with the devices' own shadow topics allowed too (for the shadows page).
const config = consoleConfig().replace('"mqtt:topicfilter:t/${iot:Connection.Thing.ThingName}/#"',
  '"mqtt:topicfilter:t/${iot:Connection.Thing.ThingName}/#", "mqtt:topic:$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"');
const gw = await GatewayProcess.start(dir.path, config);
const clients = [];
let browser;
let traffic;
try {
  await mkdir(OUT, { recursive: true });
  const url = `${await gw.managementUrl(30_000)}/console/`;
  const policy = join(dir.path, 'doc-policy.json');
  await writeFile(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:Connect', 'iot:Publish', 'iot:Subscribe', 'iot:Receive'], Resource: '*' }] }));
  const cli = async (args) => {
    const r = await gw.cli(args);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  };
  await cli(['policies', 'create', 'SensorTelemetry', '--file', policy]);
  await readOnlyUser(gw, 'operator');
  for (const name of ['dev-kitchen', 'dev-hall', 'dev-garage']) {
    const d = await gw.device(name);
    if (name === 'dev-hall') await cli(['policies', 'attach', 'SensorTelemetry', '--cert', d.certificateId]);
    if (name !== 'dev-garage') clients.push({ name, client: await connectDevice(gw.mqttUrl, d) });
  }
  let n = 0;
  traffic = setInterval(() => {
    for (const { name, client } of clients) client.publish(`t/${name}/temperature`, String(20 + (n % 5)));
    if (n++ % 10 === 0) clients[0].client.publish('admin/reboot', 'now');
  }, 200);

  browser = await launchChromium();
  const page = await browser.context.newPage();
  await page.goto(url);
  await page.getByLabel('Access key ID').waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'sign-in.png') });
  const admin = await gw.adminCredentials();
  await page.getByLabel('Access key ID').fill(admin.accessKeyId);
  await page.getByLabel('Secret access key').fill(admin.secretAccessKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor(WAIT);
  // Let the charts gather a few points (each refresh is one).
  await page.waitForFunction(() => document.querySelectorAll('.card svg polyline').length === 4, undefined, WAIT);
  await page.waitForTimeout(12_000);
  await page.screenshot({ path: join(OUT, 'overview.png'), fullPage: true });

  await page.goto(`${url}#/devices/dev-hall`);
  await page.locator('[data-certificate-id]').first().waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'devices.png'), fullPage: true });

  await page.goto(`${url}#/denials`);
  const row = page.locator('#denials tr', { hasText: 'admin/reboot' }).first();
  await row.waitFor(WAIT);
  await row.getByRole('button', { name: 'Why?' }).click();
  await page.getByTestId('explain-verdict').first().waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'why-refused.png'), fullPage: true });

  // Edit the device groups under the explanation and decide the same request under the edit.
  const edit = page.getByLabel('Configuration file');
  await edit.waitFor(WAIT);
  await edit.fill((await edit.inputValue()).replace('"mqtt:topicfilter:t/${iot:Connection.Thing.ThingName}/#"', '"mqtt:topicfilter:t/${iot:Connection.Thing.ThingName}/#", "mqtt:topic:admin/*"'));
  await page.getByRole('button', { name: 'Decide under this edit' }).click();
  await page.locator('#edit-result [data-testid="explain-verdict"]').waitFor(WAIT);
  await page.locator('#edit-simulate').screenshot({ path: join(OUT, 'simulate-edit.png') });

  await page.goto(`${url}#/policies/SensorTelemetry`);
  await page.getByRole('button', { name: 'Validate' }).waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'policies.png'), fullPage: true });

  await clients[1].client.publishAsync('t/dev-hall/state', JSON.stringify({ lamp: 'on', brightness: 80 }), { qos: 1, retain: true });
  await page.goto(`${url}#/retained`);
  await page.locator('#retained tr[data-topic="t/dev-hall/state"]').getByRole('button').first().click();
  await page.locator('#retained-message pre').waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'retained.png') });

  const hall = clients[1].client;
  await hall.publishAsync('$aws/things/dev-hall/shadow/update', JSON.stringify({ state: { desired: { lamp: 'on', brightness: 80 }, reported: { lamp: 'off', brightness: 80 } } }), { qos: 1 });
  await hall.publishAsync('$aws/things/dev-hall/shadow/name/schedule/update', JSON.stringify({ state: { desired: { on: '07:00', off: '23:00' }, reported: { on: '07:00', off: '23:00' } } }), { qos: 1 });
  await page.goto(`${url}#/shadows`);
  await page.getByLabel('Thing name').fill('dev-hall');
  await page.getByRole('button', { name: 'Show shadows' }).click();
  await page.locator('[data-shadow="schedule"] pre').first().waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'shadows.png'), fullPage: true });

  await page.goto(`${url}#/jobs`);
  await page.getByLabel(/^Job ID/).fill('firmware-42');
  await page.getByLabel(/^Things/).fill('dev-hall, dev-kitchen, dev-garage');
  await page.getByLabel(/^Job document/).fill(JSON.stringify({ operation: 'install', firmware: '4.2.0' }, null, 2));
  await page.getByRole('button', { name: 'Create job' }).click();
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#job-detail tr[data-thing="dev-garage"]').waitFor(WAIT);
  await page.locator('#job-detail tr[data-thing="dev-garage"]').getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#job-detail tr[data-thing="dev-garage"] [data-testid="execution-status"]', { hasText: 'CANCELED' }).waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'jobs.png'), fullPage: true });
  // The action's notice is not part of the next pages.
  await page.evaluate(() => { document.getElementById('toast').textContent = ''; });

  await page.goto(`${url}#/audit`);
  await page.locator('#audit table').waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'audit.png') });

  await page.goto(`${url}#/iam`);
  await page.locator('#iam-users table').waitFor(WAIT);
  await page.locator('#iam-admin').waitFor(WAIT);
  await page.screenshot({ path: join(OUT, 'users.png'), fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${url}#/overview`);
  await page.locator('[data-testid="Connected devices"]').waitFor(WAIT);
  await page.waitForTimeout(2500);
  await page.screenshot({ path: join(OUT, 'phone-overview.png') });
  console.log(`screenshots written to ${OUT}`);
} finally {
  clearInterval(traffic);
  for (const { client } of clients) client.end(true);
  await browser?.close();
  await gw.stop();
  await dir.cleanup();
}
