/**
 * The operator console's routes on the management listener (docs/console.md):
 *
 * - `GET /console/` and `GET /console/assets/{file}`: the page, its script and its style
 *   sheet, shipped in the package (`src/console/public/`), with a strict
 *   Content-Security-Policy; nothing is loaded from elsewhere.
 * - `POST /console/session`: sign-in with an IAM user's access key id and secret,
 *   exchanged for a session (an HttpOnly, Secure, SameSite=Strict cookie); rate-limited
 *   per source address; audited as `gatehouse:ConsoleSignIn`.
 * - `GET /console/session`: who is signed in, the session's CSRF token and timeouts.
 * - `DELETE /console/session`: sign-out.
 * - `POST /console/permissions`: which of the listed actions the signed-in user's own
 *   policies would allow (the console hides the buttons of the others).
 *
 * Everything else the console does is a call to the management API's operations, made
 * by the browser with the session cookie in place of a signature: the same front, the
 * same IAM authorization by the same handlers, the same audit log (server.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { serialize as serializeCookie } from 'cookie';
import { z } from 'zod';
import { callerArn, decideCall } from '../api/mgmt/authorize.js';
import { ManagementError } from '../api/mgmt/errors.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from '../api/mgmt/routes.js';
import { recordDecision } from '../api/mgmt/server.js';
import type { ConsoleSessions } from './sessions.js';

/** Security headers of every page and asset: nothing but this origin's own files runs or loads. */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

const ASSET_TYPES: Readonly<Record<string, string>> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The console's files, read once (they ship next to the compiled code: dist/src/console → src/console/public). */
function loadAssets(): ReadonlyMap<string, Asset> {
  const dir = new URL('../../../src/console/public/', import.meta.url);
  const out = new Map<string, Asset>();
  for (const [name, type] of [['index.html', 'text/html; charset=utf-8'], ...Object.entries(ASSET_TYPES)] as const) {
    const body = readFileSync(new URL(name, dir));
    out.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return out;
}

function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: Asset): Promise<unknown> {
  void reply.headers(CONSOLE_SECURITY_HEADERS).header('etag', asset.etag).header('cache-control', 'no-cache');
  if (request.headers['if-none-match'] === asset.etag) {
    void reply.code(304).send();
    return Promise.resolve(undefined);
  }
  void reply.type(asset.type).send(asset.body);
  return Promise.resolve(undefined);
}

const SignInBody = z.strictObject({
  accessKeyId: z.string().min(16).max(128).regex(/^[A-Z0-9]+$/),
  secretAccessKey: z.string().min(1).max(256),
});
const PermissionsBody = z.strictObject({
  checks: z.array(z.strictObject({ action: z.string().min(3).max(128), resource: z.string().min(1).max(2048) })).min(1).max(100),
});
const SessionResponse = z.object({
  user: z.object({ name: z.string(), arn: z.string() }),
  accessKeyId: z.string(),
  csrfToken: z.string(),
  expiresAt: z.string(),
  idleExpiresAt: z.string(),
  idleTimeoutSeconds: z.number().int(),
  deployment: z.object({ partition: z.string(), region: z.string(), accountId: z.string() }),
});

const SIGNED = { kind: 'signed', services: ['gatehouse'] } as const;
const NONE = { kind: 'none' } as const;

function sourceIp(request: FastifyRequest): string {
  const a = request.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function cookie(sessions: ConsoleSessions, token: string, maxAgeSeconds: number): string {
  return serializeCookie(sessions.cookieName, token, { path: '/', httpOnly: true, secure: true, sameSite: 'strict', maxAge: maxAgeSeconds });
}

function sessionAnswer(sessions: ConsoleSessions, id: string | undefined, ctx: ManagementContext): Record<string, unknown> {
  const s = id === undefined ? undefined : sessions.info(id);
  if (s === undefined) throw new ManagementError(401, 'MGMT_CONSOLE_SESSION_INVALID', 'the console session has ended: sign in again');
  return {
    user: { name: s.userName, arn: s.userArn },
    accessKeyId: s.accessKeyId,
    csrfToken: s.csrfToken,
    expiresAt: new Date(s.expiresAt).toISOString(),
    idleExpiresAt: new Date(s.idleExpiresAt).toISOString(),
    idleTimeoutSeconds: sessions.limits.idleTimeoutSeconds,
    // For the ARNs the page asks permissions on.
    deployment: { partition: ctx.iot.partition, region: ctx.iot.region, accountId: ctx.iot.accountId },
  };
}

/** The console's routes, bound to its session store. */
export function consoleRouteSet(sessions: ConsoleSessions): ManagementRouteSet {
  const assets = loadAssets();
  const page = assets.get('index.html')!;

  const signIn = async (request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> => {
    void reply.header('cache-control', 'no-store');
    // A sign-in is JSON sent by the console's own script: a form posted by another site
    // (which could sign a victim's browser in as someone else) is neither.
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const site = request.headers['sec-fetch-site'];
    if (type !== 'application/json' || (typeof site === 'string' && site !== 'same-origin')) {
      throw new ManagementError(400, 'MGMT_INVALID_REQUEST', 'sign in from the console page (a JSON body sent by its script)');
    }
    const body = request.body as z.infer<typeof SignInBody>;
    const now = ctx.clock();
    const wait = sessions.admitSignIn(sourceIp(request), now.getTime());
    if (wait !== undefined) {
      recordDecision(request, { principal: 'anonymous', action: 'gatehouse:ConsoleSignIn', resource: '*', allowed: false, reason: 'RATE_LIMITED' });
      throw new ManagementError(429, 'MGMT_CONSOLE_RATE_LIMITED', `too many sign-in attempts from this address: try again in ${wait} s`, { 'retry-after': String(wait) });
    }
    const key = await ctx.control.resolveAccessKey(body.accessKeyId, now);
    // One answer for every cause; the secret is compared in constant time (as digests, equal lengths).
    const ok = key !== undefined && key.principal.kind === 'user' && key.sessionTokenSha256 === undefined
      && timingSafeEqual(sha256(key.secretAccessKey), sha256(body.secretAccessKey));
    if (!ok || key.principal.kind !== 'user') {
      recordDecision(request, { principal: key?.principal.kind === 'user' ? key.principal.user.arn : 'anonymous', action: 'gatehouse:ConsoleSignIn', resource: '*', allowed: false, reason: 'SIGN_IN_FAILED' });
      throw new ManagementError(401, 'MGMT_CONSOLE_SIGN_IN_FAILED', 'the access key id or the secret is not right, or the key is not an active key of a user');
    }
    const user = key.principal.user;
    const { token, session } = sessions.create({ accessKeyId: body.accessKeyId, arn: user.arn, name: user.name }, now.getTime());
    recordDecision(request, { principal: user.arn, action: 'gatehouse:ConsoleSignIn', resource: '*', allowed: true, reason: 'SIGNED_IN' });
    ctx.logger.info({ event: 'console-sign-in', user: user.name, accessKeyId: body.accessKeyId }, 'console sign-in');
    void reply.header('set-cookie', cookie(sessions, token, sessions.limits.absoluteTimeoutSeconds));
    return sessionAnswer(sessions, session.sessionId, ctx);
  };

  const getSession = (request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> => {
    void reply.header('cache-control', 'no-store');
    recordDecision(request, { principal: callerArn(request.caller!), action: 'gatehouse:GetConsoleSession', resource: '*', allowed: true, reason: 'ALWAYS_ALLOWED' });
    return Promise.resolve(sessionAnswer(sessions, request.browserSessionId, ctx));
  };

  const signOut = (request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> => {
    recordDecision(request, { principal: callerArn(request.caller!), action: 'gatehouse:ConsoleSignOut', resource: '*', allowed: true, reason: 'ALWAYS_ALLOWED' });
    if (request.browserSessionId === undefined) throw new ManagementError(400, 'MGMT_INVALID_REQUEST', 'this request was not made with a console session');
    sessions.end(request.browserSessionId);
    ctx.logger.info({ event: 'console-sign-out', user: callerArn(request.caller!) }, 'console sign-out');
    void reply.code(204).header('cache-control', 'no-store').header('set-cookie', cookie(sessions, '', 0));
    return Promise.resolve('');
  };

  const permissions = async (request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> => {
    const { checks } = request.body as z.infer<typeof PermissionsBody>;
    const caller = request.caller!;
    recordDecision(request, { principal: callerArn(caller), action: 'gatehouse:GetConsolePermissions', resource: '*', allowed: true, reason: 'ALWAYS_ALLOWED' });
    // The caller's own identity policies, decided exactly as authorizeCall decides (nothing recorded: no action is performed).
    const authority = { control: ctx.control, iamPolicies: ctx.iamPolicies, clock: ctx.clock, accountId: ctx.iot.accountId };
    const origin = { sourceIp: sourceIp(request), userAgent: undefined, requestId: request.id, secureTransport: true };
    const results = [];
    for (const c of checks) {
      const d = await decideCall(authority, caller, request.iamContext!, c, origin);
      results.push({ action: c.action, resource: c.resource, allowed: d.allowed });
    }
    return { results };
  };

  const routes: ManagementRoute[] = [
    {
      method: 'GET', url: '/console', operationId: 'ConsoleRedirect', action: 'gatehouse:Console', protocol: 'gatehouse', auth: NONE, tag: 'Console',
      summary: 'Redirects to /console/', responses: { 302: { description: 'To /console/' } },
      handler: (_request, reply) => {
        void reply.headers(CONSOLE_SECURITY_HEADERS).redirect('/console/', 302);
        return Promise.resolve(undefined);
      },
    },
    {
      method: 'GET', url: '/console/', operationId: 'ConsolePage', action: 'gatehouse:Console', protocol: 'gatehouse', auth: NONE, tag: 'Console',
      summary: 'The operator console', responses: { 200: { description: 'The page', contentType: 'text/html' } },
      handler: (request, reply) => sendAsset(request, reply, page),
    },
    {
      method: 'GET', url: '/console/assets/:file', operationId: 'ConsoleAsset', action: 'gatehouse:Console', protocol: 'gatehouse', auth: NONE, tag: 'Console',
      summary: 'The console\'s script, style sheet and icon', params: z.strictObject({ file: z.string().min(1).max(64) }),
      responses: { 200: { description: 'The file' }, 404: { description: 'MGMT_NOT_FOUND' } },
      handler: (request, reply) => {
        const { file } = request.params as { file: string };
        const asset = Object.hasOwn(ASSET_TYPES, file) ? assets.get(file) : undefined;
        if (asset === undefined) throw new ManagementError(404, 'MGMT_NOT_FOUND', 'no such console file');
        return sendAsset(request, reply, asset);
      },
    },
    {
      method: 'POST', url: '/console/session', operationId: 'ConsoleSignIn', action: 'gatehouse:ConsoleSignIn', protocol: 'gatehouse', auth: { kind: 'none', audited: true }, tag: 'Console',
      summary: 'Sign in with an IAM user\'s access key id and secret; answers the session and sets its cookie',
      body: SignInBody,
      responses: { 200: { description: 'Signed in', schema: SessionResponse }, 400: { description: 'MGMT_INVALID_REQUEST' }, 401: { description: 'MGMT_CONSOLE_SIGN_IN_FAILED' }, 429: { description: 'MGMT_CONSOLE_RATE_LIMITED' } },
      handler: signIn,
    },
    {
      method: 'GET', url: '/console/session', operationId: 'GetConsoleSession', action: 'gatehouse:GetConsoleSession', protocol: 'gatehouse', auth: { ...SIGNED, quietWhenAnonymous: true }, tag: 'Console',
      summary: 'The signed-in user, the session\'s CSRF token and its timeouts',
      responses: { 200: { description: 'The session', schema: SessionResponse }, 401: { description: 'MGMT_CONSOLE_SESSION_INVALID' } },
      example: { path: '/console/session' },
      handler: getSession,
    },
    {
      method: 'DELETE', url: '/console/session', operationId: 'ConsoleSignOut', action: 'gatehouse:ConsoleSignOut', protocol: 'gatehouse', auth: SIGNED, tag: 'Console',
      summary: 'Sign out: the session ends and its cookie is cleared',
      responses: { 204: { description: 'Signed out' }, 401: { description: 'MGMT_CONSOLE_SESSION_INVALID' }, 403: { description: 'MGMT_CONSOLE_CSRF_MISMATCH' } },
      example: { path: '/console/session' },
      handler: signOut,
    },
    {
      method: 'POST', url: '/console/permissions', operationId: 'GetConsolePermissions', action: 'gatehouse:GetConsolePermissions', protocol: 'gatehouse', auth: SIGNED, tag: 'Console',
      summary: 'Which of these actions the caller\'s own identity policies allow (nothing is performed)',
      body: PermissionsBody,
      responses: { 200: { description: 'One result per check, in order' }, 401: { description: 'MGMT_CONSOLE_SESSION_INVALID' }, 403: { description: 'MGMT_CONSOLE_CSRF_MISMATCH' } },
      example: { path: '/console/permissions', body: { checks: [{ action: 'iot:UpdateCertificate', resource: '*' }] } },
      handler: permissions,
    },
  ];
  return { name: 'console', routes };
}
