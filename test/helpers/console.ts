/**
 * Helpers of the operator console's tests: a gateway configured for them, plain HTTPS
 * requests with the console's cookie and CSRF token, a read-only IAM user made with the
 * CLI, and Debian's Chromium driven by playwright-core.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import type { GatewayProcess } from './gateway.js';

/** Devices `dev-*` may connect and publish under `t/<their name>/…`; anything else is denied. */
export const consoleConfig = (console = ''): string => `
deviceGroups:
  definitions:
    Devices: { selectionRule: "thingName: dev-*", policyName: Own }
  policies:
    Own:
      Connect: { operations: [mqtt:connect], resources: ["mqtt:clientId:\${iot:Connection.Thing.ThingName}"] }
      Publish: { operations: [mqtt:publish, mqtt:subscribe], resources: ["mqtt:topic:t/\${iot:Connection.Thing.ThingName}/*", "mqtt:topicfilter:t/\${iot:Connection.Thing.ThingName}/#"] }
gatehouse:
  detectInterfaceAddresses: false
  hostAddresses: [127.0.0.1, localhost]
  mqtt: { host: 127.0.0.1 }
  management:
    console: { ${console} }
`;

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly json: unknown;
}

export interface Signed {
  /** `name=value`, as a browser sends it back. */
  readonly cookie: string;
  readonly csrf: string;
  readonly setCookie: string;
  readonly answer: HttpAnswer;
}

/** Plain HTTPS requests to the management listener, trusting the gateway CA. */
export class ConsoleHttp {
  private constructor(readonly url: string, private readonly ca: string) {}

  static async open(gw: GatewayProcess): Promise<ConsoleHttp> {
    const url = await gw.managementUrl(30_000);
    const ca = await gw.cli(['ca', 'show']);
    if (ca.code !== 0) throw new Error(`ca show failed: ${ca.stderr}`);
    return new ConsoleHttp(url, ca.stdout);
  }

  request(method: string, path: string, opts: { cookie?: string; csrf?: string; body?: unknown; rawBody?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.cookie !== undefined) headers['cookie'] = opts.cookie;
    if (opts.csrf !== undefined) headers['x-csrf-token'] = opts.csrf;
    const body = opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
    if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${this.url}${path}`, { method, headers, ca: this.ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async signIn(accessKeyId: string, secretAccessKey: string): Promise<Signed> {
    const answer = await this.request('POST', '/console/session', { body: { accessKeyId, secretAccessKey } });
    if (answer.status !== 200) throw new Error(`sign-in answered ${answer.status}: ${answer.text}`);
    const setCookie = ([] as string[]).concat(answer.headers['set-cookie'] ?? [])[0] ?? '';
    return { cookie: setCookie.split(';')[0]!, csrf: (answer.json as { csrfToken: string }).csrfToken, setCookie, answer };
  }
}

/** What the read-only operator may do: read devices, policies and denials, change nothing. */
export const READ_ONLY_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{
    Sid: 'ReadOnly', Effect: 'Allow', Resource: '*',
    // Not the audit log: the browser test shows how a refused read is explained.
    Action: ['iot:List*', 'iot:Describe*', 'iot:Get*', 'gatehouse:ListSessions', 'gatehouse:ListDenials', 'gatehouse:GetMetrics', 'gatehouse:GetConfiguration', 'gatehouse:Explain'],
  }],
});

/** A user with READ_ONLY_POLICY and an access key (through the CLI on the gateway's data directory). */
export async function readOnlyUser(gw: GatewayProcess, name = 'viewer'): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const doc = join(gw.dir, `${name}-policy.json`);
  await writeFile(doc, READ_ONLY_POLICY);
  for (const args of [['iam', 'users', 'create', name], ['iam', 'policies', 'create', `${name}-read-only`, '--document', doc], ['iam', 'policies', 'attach', `${name}-read-only`, '--user', name]]) {
    const r = await gw.cli(args);
    if (r.code !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  }
  const k = await gw.cli(['iam', 'access-keys', 'create', '--user', name, '--json']);
  if (k.code !== 0) throw new Error(`access-keys create failed: ${k.stderr}`);
  return JSON.parse(k.stdout) as { accessKeyId: string; secretAccessKey: string };
}

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or undefined when they can. Without Chromium
 * they are skipped with this message, except under CI, where a missing browser fails.
 */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `${CHROMIUM} is not installed (apt-get install chromium): the console's browser tests are skipped`;
  if (process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false') {
    throw new Error(`${why}, which CI does not allow`);
  }
  return why;
}

/**
 * Headless Chromium with a fresh profile in a temporary directory and the flags that keep
 * it off the network. The gateway's certificate is issued by its own CA, which the
 * profile does not hold: certificate errors are ignored (the tests check the pages, not TLS).
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
