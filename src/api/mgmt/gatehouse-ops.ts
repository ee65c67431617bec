/**
 * Gatehouse's own operations on the management API, where AWS defines none (JSON in the
 * `gatehouse` protocol, `gatehouse:` actions):
 *
 * - `GET /gatehouse/sessions` (`gatehouse:ListSessions`): the live MQTT connections;
 * - `DELETE /gatehouse/sessions/{clientId}` (`gatehouse:DisconnectSession` on
 *   `arn:…:gatehouse:REGION:ACCOUNT:session/CLIENTID`): ends a device's connection;
 * - `GET /gatehouse/configuration` (`gatehouse:GetConfiguration`): the configuration in force;
 * - `POST /gatehouse/configuration/validate` (`gatehouse:ValidateConfiguration`): the
 *   verdict `gatehouse config validate` gives, plus the reload guards; nothing applied;
 * - `PUT /gatehouse/configuration` (`gatehouse:ApplyConfiguration`): validated, written
 *   atomically over the gateway's configuration file and applied as a change of the file;
 * - `POST /gatehouse/explain` (`gatehouse:Explain`): the local API's explanation;
 * - `GET /gatehouse/metrics` (`gatehouse:GetMetrics`): the Prometheus text;
 * - `GET /gatehouse/sync/aws` (`gatehouse:GetSyncStatus`): the continuous AWS IoT Core
 *   sync's last run, last success, trust window and refusals;
 * - `GET /gatehouse/overview` (`gatehouse:GetMetrics`): the same counters as JSON with the
 *   connected devices, the certificates expiring soon and the registry's health;
 * - `GET /gatehouse/denials` (`gatehouse:ListDenials`): the broker's recent MQTT denials
 *   with the deciding policy and statement, and their counts by reason;
 * - `GET /gatehouse/retained` (`gatehouse:ListRetainedMessages`), `GET` and `DELETE
 *   /gatehouse/retained/{topic}` (`gatehouse:GetRetainedMessage`,
 *   `gatehouse:DeleteRetainedMessage` on `arn:…:iot:REGION:ACCOUNT:topic/TOPIC`): the
 *   broker's retained messages; a delete removes one without publishing anything.
 *
 * Each handler authorizes before it reads or changes anything.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { arnFor } from '../../core/policy/iam/arns.js';
import { HttpError } from '../context.js';
import { explain } from '../handlers/explain.js';
import { compileDeviceGroups, compileIotPolicies, type PolicySnapshot } from '../../core/index.js';
import type { ConfigIssue } from '../../core/errors.js';
import { compileIotPart } from '../../runtime/iot-policies.js';
import { parseAndValidateOffThread } from '../../runtime/parse-worker.js';
import { ExplainRequest, ExplainResponse } from '../schemas.js';
import { ManagementError } from './errors.js';
import type { GatehouseOperations } from './operations.js';
import type { ManagementContext, ManagementRoute, ManagementRouteSet } from './routes.js';

/** The explanation's request, and optionally an edit of the policies to decide it under (simulatedPolicies). */
const ManagementExplainRequest = ExplainRequest.extend({
  iotPolicyOverride: z.strictObject({
    policyName: z.string().min(1).max(128),
    policyDocument: z.string().min(1).max(20_480),
  }).optional().describe('Decide under this document in place of the named AWS IoT policy\'s default version (nothing is applied)'),
  configurationText: z.string().min(1).max(1_048_576).optional().describe('Decide under the device groups of this configuration text in place of those in force (nothing is applied)'),
});
type ManagementExplainBody = z.infer<typeof ManagementExplainRequest>;

const unavailable = (what: string): ManagementError => new ManagementError(503, 'MGMT_UNAVAILABLE', `${what} is not available on this gateway`);

const Issue = z.object({
  code: z.string(),
  path: z.string(),
  message: z.string(),
  fix: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
});

const SessionBody = z.object({
  clientId: z.string(),
  thingName: z.string(),
  certificateId: z.string(),
  sourceIp: z.string().optional().describe('The device\'s address as the MQTT listener saw it'),
  connectedAt: z.string().describe('ISO 8601'),
  subscriptions: z.array(z.string()).describe('Topic filters the connection holds'),
});

const IdentitySessionBody = z.object({
  id: z.string().describe('The session\'s id (not its token)'),
  clientId: z.string(),
  thingName: z.string(),
  certificateId: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string(),
});

const SessionsResponse = z.object({
  sessions: z.array(SessionBody).describe('The devices connected to the embedded broker'),
  identitySessions: z.array(IdentitySessionBody).optional().describe('Every session of the identity layer: connections\' and GetClientDeviceAuthToken tokens\', least recently used first'),
});
const ClientIdParams = z.strictObject({ clientId: z.string().min(1).max(256) });

const ConfigurationResponse = z.object({
  file: z.string().nullable().describe('The configuration file the gateway was started with; null when none'),
  format: z.enum(['yaml', 'json']).optional(),
  text: z.string().optional().describe('The text of the configuration in force'),
  sha256: z.string().optional(),
  groups: z.array(z.string()).describe('The device groups in force, by name'),
});

const ConfigurationText = z.strictObject({
  text: z.string().max(4 * 1024 * 1024).describe('The whole configuration file, in the format of the gateway\'s configuration file (YAML or JSON by its name)'),
});

const ValidationResponse = z.object({
  valid: z.boolean(),
  errors: z.array(Issue),
  warnings: z.array(Issue),
  groups: z.number().int().optional(),
  policies: z.number().int().optional(),
});

const ApplyResponse = z.object({
  applied: z.boolean(),
  unchanged: z.boolean().optional().describe('The text is the configuration in force already: nothing was written'),
  groups: z.number().int().optional(),
  warnings: z.array(Issue).optional(),
});

const ConfigInvalidResponse = z.object({
  error: z.object({ code: z.literal('MGMT_CONFIG_INVALID'), message: z.string(), errors: z.array(Issue), warnings: z.array(Issue) }),
});

const RetainedListQuery = z.strictObject({
  maxResults: z.string().regex(/^\d{1,3}$/).optional().describe('1 to 200, default 50'),
  nextToken: z.string().min(1).max(4096).optional().describe('The nextToken of the previous page'),
});
const RetainedSummaryBody = z.object({
  topic: z.string(),
  payloadSize: z.number().int(),
  qos: z.number().int(),
  lastModifiedTime: z.number().int().describe('Epoch milliseconds of the last store'),
});
const RetainedListResponse = z.object({
  retainedMessages: z.array(RetainedSummaryBody).describe('In topic order'),
  nextToken: z.string().optional(),
});
const RetainedMessageBody = RetainedSummaryBody.extend({ payload: z.string().describe('Base64') });
const TopicParams = z.strictObject({ topic: z.string().min(1).max(65_535).describe('The topic, URL-encoded (`/` as %2F)') });
const SyncRunBody = z.object({
  startedAt: z.string(),
  endedAt: z.string(),
  result: z.enum(['succeeded', 'failed']),
  added: z.number().int(),
  changed: z.number().int(),
  removed: z.number().int(),
  refused: z.number().int().describe('Objects the run refused (left out of the registry)'),
  newlyRefused: z.number().int().describe('Of those, refused for the first time or for another reason than before: the ones logged'),
  things: z.number().int().describe('Things in scope'),
  noChange: z.boolean(),
  durationMs: z.number().int(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
const SyncStatusResponse = z.object({
  source: z.literal('aws'),
  enabled: z.boolean().describe('gatehouse.sync.aws.enabled; false: every other field is absent'),
  running: z.boolean().optional().describe('A run is under way'),
  intervalSeconds: z.number().optional(),
  runs: z.number().int().optional().describe('Runs since the gateway started'),
  lastRun: SyncRunBody.nullable().optional().describe('The last run, kept across restarts; null: none yet'),
  lastSuccessAt: z.string().nullable().optional().describe('End of the last successful run: the last verification of synced certificates with the cloud'),
  trustedUntil: z.string().nullable().optional().describe('Until when synced certificates are admitted to new connections without another successful run; null: never verified (none admitted)'),
  lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable().optional().describe('The error of the failing runs since the last success; null once a run succeeds'),
  refusedObjects: z.number().int().optional().describe('Objects the last successful run refused'),
  leading: z.boolean().optional().describe('This gateway runs the sync: always on one gateway; on gateways sharing a PostgreSQL registry, the one node holding the lead (the others follow the state it writes)'),
});
const DenialsQuery = z.strictObject({
  after: z.string().regex(/^\d{1,15}$/).optional().describe('Only denials numbered after this one (the `seq` of the last one read)'),
  maxResults: z.string().regex(/^\d{1,3}$/).optional().describe('1 to 500, default 100: the newest ones when more are held'),
});
const DenialBody = z.object({
  seq: z.number().int().describe('1, 2, … in the order recorded'),
  at: z.string().describe('ISO 8601'),
  operation: z.string().describe('`mqtt:connect`, `mqtt:publish` or `mqtt:subscribe`'),
  reason: z.string().describe('The decision reason code (docs/policies.md) or the refusal\'s'),
  clientId: z.string().optional(),
  thingName: z.string().optional(),
  certificateId: z.string().optional(),
  resource: z.string().optional().describe('`mqtt:topic:…` or `mqtt:topicfilter:…`'),
  dialect: z.string().optional(),
  policy: z.string().optional().describe('The deciding policy, when a statement decided'),
  statement: z.string().optional(),
  action: z.string().optional(),
  suppressed: z.number().int().optional().describe('Denials of the same connection not recorded since the previous entry (log rate limit)'),
});
const DenialsResponse = z.object({
  denials: z.array(DenialBody).describe('Oldest first'),
  latest: z.number().int().describe('The number of the newest denial recorded (0: none)'),
  byReason: z.record(z.string(), z.number().int()).describe('Every MQTT denial since start, by reason'),
});
const OverviewResponse = z.object({
  at: z.string(),
  connectedDevices: z.number().int().optional(),
  identitySessions: z.number().int().optional(),
  counters: z.object({
    messagesPublished: z.number().int(),
    connectionsAccepted: z.number().int(),
    denialsByOperation: z.record(z.string(), z.number().int()),
    connectionsClosed: z.record(z.string(), z.number().int()),
  }).optional().describe('Since start; take differences over time for rates'),
  denialsByReason: z.record(z.string(), z.number().int()).optional(),
  certificates: z.object({
    horizonDays: z.number().int(),
    gateway: z.array(z.object({ role: z.string(), subject: z.string(), notAfter: z.string() })),
    trustedCas: z.array(z.object({ id: z.string(), subject: z.string(), notAfter: z.string() })),
    devices: z.object({
      active: z.number().int(),
      expired: z.number().int().describe('Active certificates past their notAfter'),
      expiringSoon: z.array(z.object({ certificateId: z.string(), subject: z.string(), notAfter: z.string() })).describe('Active certificates expiring within the horizon, soonest first (at most 20)'),
    }),
  }),
  health: z.object({
    registry: z.enum(['ok', 'failing']),
    broker: z.enum(['ok', 'absent']),
    things: z.number().int().optional(),
    deviceGroups: z.number().int(),
  }),
});
const DENIALS_PAGE_MAX = 500;
const DENIALS_PAGE_DEFAULT = 100;
/** Certificates expiring within this many days are listed by the overview. */
const EXPIRY_HORIZON_DAYS = 30;
const RETAINED_PAGE_MAX = 200;
const RETAINED_PAGE_DEFAULT = 50;

function ops(ctx: ManagementContext): GatehouseOperations {
  return ctx.operations ?? {};
}

async function listSessions(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  await request.authorizeCall({ action: 'gatehouse:ListSessions', resource: '*' });
  const connections = ops(ctx).connections;
  if (connections === undefined) throw unavailable('the MQTT broker');
  const sessions = connections.list().map((s) => ({ ...s, connectedAt: s.connectedAt.toISOString(), subscriptions: [...s.subscriptions] }));
  sessions.sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  const identity = ops(ctx).identitySessions?.().map((x) => ({ id: x.id, clientId: x.clientId, thingName: x.thingName, certificateId: x.certificateId, createdAt: x.createdAt.toISOString(), lastUsedAt: x.lastUsedAt.toISOString() }));
  return { sessions, ...(identity !== undefined ? { identitySessions: identity } : {}) };
}

async function disconnectSession(request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const { clientId } = request.params as z.infer<typeof ClientIdParams>;
  await request.authorizeCall({ action: 'gatehouse:DisconnectSession', resource: arnFor('gatehouse:session', clientId, ctx.iot) });
  const connections = ops(ctx).connections;
  if (connections === undefined) throw unavailable('the MQTT broker');
  if (connections.disconnect(clientId, 'DISCONNECTED_BY_OPERATOR') === 0) throw new ManagementError(404, 'MGMT_NOT_FOUND', `no device is connected with client id ${clientId}`);
  void reply.code(204);
  return '';
}

function retainedPort(ctx: ManagementContext): NonNullable<GatehouseOperations['retained']> {
  const r = ops(ctx).retained;
  if (r === undefined) throw unavailable('the retained-message store');
  return r;
}

function topicArn(ctx: ManagementContext, topic: string): string {
  return arnFor('iot:topic', topic, ctx.iot);
}

async function listRetained(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const q = request.query as z.infer<typeof RetainedListQuery>;
  const limit = q.maxResults === undefined ? RETAINED_PAGE_DEFAULT : Number(q.maxResults);
  if (!(limit >= 1 && limit <= RETAINED_PAGE_MAX)) throw new ManagementError(400, 'MGMT_INVALID_REQUEST', `maxResults must be 1 to ${RETAINED_PAGE_MAX}`);
  let after: string | undefined;
  if (q.nextToken !== undefined) {
    after = /^[A-Za-z0-9_-]+$/.test(q.nextToken) ? Buffer.from(q.nextToken, 'base64url').toString('utf8') : '';
    if (after === '' || Buffer.from(after, 'utf8').toString('base64url') !== q.nextToken) throw new ManagementError(400, 'MGMT_INVALID_REQUEST', 'nextToken is not one this API gave');
  }
  await request.authorizeCall({ action: 'gatehouse:ListRetainedMessages', resource: '*' });
  const rows = await retainedPort(ctx).list({ ...(after !== undefined ? { after } : {}), limit: limit + 1 });
  const page = rows.slice(0, limit);
  return {
    retainedMessages: page.map((r) => ({ topic: r.topic, payloadSize: r.payloadSize, qos: r.qos, lastModifiedTime: r.modifiedAt })),
    ...(rows.length > limit ? { nextToken: Buffer.from(page[page.length - 1]!.topic, 'utf8').toString('base64url') } : {}),
  };
}

async function getRetained(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const { topic } = request.params as z.infer<typeof TopicParams>;
  await request.authorizeCall({ action: 'gatehouse:GetRetainedMessage', resource: topicArn(ctx, topic) });
  const m = await retainedPort(ctx).get(topic);
  if (m === undefined) throw new ManagementError(404, 'MGMT_NOT_FOUND', `no retained message on topic ${topic}`);
  return { topic: m.topic, payloadSize: m.payload.length, qos: m.qos, lastModifiedTime: m.modifiedAt, payload: m.payload.toString('base64') };
}

async function deleteRetained(request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const { topic } = request.params as z.infer<typeof TopicParams>;
  await request.authorizeCall({ action: 'gatehouse:DeleteRetainedMessage', resource: topicArn(ctx, topic) });
  if (!(await retainedPort(ctx).delete(topic))) throw new ManagementError(404, 'MGMT_NOT_FOUND', `no retained message on topic ${topic}`);
  void reply.code(204);
  return '';
}

async function getConfiguration(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  await request.authorizeCall({ action: 'gatehouse:GetConfiguration', resource: '*' });
  const groups = ctx.policy.current.groups.map((g) => g.name);
  const config = ops(ctx).configuration;
  if (config === undefined) return { file: null, groups };
  const inForce = config.inForce();
  return { file: config.file, format: config.format, ...(inForce !== undefined ? { text: inForce.text, sha256: inForce.sha256 } : {}), groups };
}

async function validateConfiguration(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const { text } = request.body as z.infer<typeof ConfigurationText>;
  await request.authorizeCall({ action: 'gatehouse:ValidateConfiguration', resource: '*' });
  const config = ops(ctx).configuration;
  if (config === undefined) throw noConfigFile();
  const v = await config.check(text);
  return v.ok ? { valid: true, errors: [], warnings: v.warnings, groups: v.groups, policies: v.policies } : { valid: false, errors: v.errors, warnings: v.warnings };
}

function noConfigFile(): ManagementError {
  return new ManagementError(409, 'MGMT_NO_CONFIG_FILE', 'the gateway was started without a configuration file: there is none to validate against or to write');
}

async function applyConfiguration(request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const { text } = request.body as z.infer<typeof ConfigurationText>;
  await request.authorizeCall({ action: 'gatehouse:ApplyConfiguration', resource: '*' });
  const config = ops(ctx).configuration;
  if (config === undefined) throw noConfigFile();
  const r = await config.apply(text, 'management API');
  if (r.applied) return { applied: true, groups: r.groups, warnings: r.warnings };
  if (r.unchanged) return { applied: false, unchanged: true };
  void reply.code(400);
  return {
    error: {
      code: 'MGMT_CONFIG_INVALID',
      message: `the configuration was refused with ${r.errors.length} error(s); nothing was written and the configuration in force stays`,
      errors: r.errors,
      warnings: r.warnings,
    },
  };
}

/** A 400 listing every problem of an edited document with its path and fix (nothing was decided). */
function editRefused(reply: FastifyReply, message: string, problems: readonly { readonly code: string; readonly path: string; readonly message: string; readonly fix?: string }[]): unknown {
  void reply.code(400);
  return { error: { code: 'MGMT_INVALID_REQUEST', message, problems: problems.map((p) => ({ code: p.code, path: p.path, message: p.message, ...(p.fix !== undefined ? { fix: p.fix } : {}) })) } };
}

/**
 * The policies an explanation is decided under: those in force, or, to simulate an edit
 * before it is applied, the same with one AWS IoT policy's document replaced or with
 * other device groups (a whole configuration text). Nothing is stored or swapped in.
 */
async function simulatedPolicies(body: ManagementExplainBody, ctx: ManagementContext): Promise<{ readonly ok: true; readonly current: PolicySnapshot } | { readonly ok: false; readonly message: string; readonly problems: readonly ConfigIssue<string>[] }> {
  let snapshot = ctx.policy.current;
  if (body.configurationText !== undefined) {
    const { document, result } = await parseAndValidateOffThread(body.configurationText, ops(ctx).configuration?.format ?? 'yaml');
    if (!result.ok) return { ok: false, message: 'the edited configuration is not valid: nothing was decided', problems: result.errors };
    if (document === null || document === undefined) return { ok: false, message: 'the edited configuration is empty', problems: [{ code: 'CONFIG_EMPTY', path: '', message: 'the configuration is empty', fix: 'send the whole configuration text' }] };
    snapshot = compileDeviceGroups(result.deviceGroups).withIot(snapshot.iot);
  }
  const edit = body.iotPolicyOverride;
  if (edit !== undefined) {
    const data = await ctx.registry.iotAuthorizationData();
    if (!data.policies.some((p) => p.name === edit.policyName)) {
      return { ok: false, message: `no AWS IoT policy named ${edit.policyName}`, problems: [{ code: 'IOT_POLICY_NOT_FOUND', path: 'iotPolicyOverride.policyName', message: `no AWS IoT policy named ${edit.policyName}`, fix: 'name an existing policy (iot:ListPolicies)' }] };
    }
    const alone = compileIotPolicies([{ name: edit.policyName, document: edit.policyDocument }], ctx.iot);
    if (!alone.ok) return { ok: false, message: `the edited policy ${edit.policyName} is not valid: nothing was decided`, problems: alone.problems };
    const part = compileIotPart({ ...data, policies: data.policies.map((p) => (p.name === edit.policyName ? { name: p.name, document: edit.policyDocument } : p)) }, ctx.iot);
    if (!part.ok) return { ok: false, message: 'the AWS IoT policies with this edit do not compile', problems: part.problems };
    snapshot = snapshot.withIot(part.part);
  }
  return { ok: true, current: snapshot };
}

async function explainRoute(request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  await request.authorizeCall({ action: 'gatehouse:Explain', resource: '*' });
  const { iotPolicyOverride: _edit, configurationText: _text, ...asked } = request.body as ManagementExplainBody;
  const policies = await simulatedPolicies(request.body as ManagementExplainBody, ctx);
  if (!policies.ok) return editRefused(reply, policies.message, policies.problems);
  try {
    const answer = await explain({ registry: ctx.registry, policy: policies, clock: ctx.clock, iotDeployment: ctx.iot }, asked);
    return _edit !== undefined || _text !== undefined ? { ...answer, simulated: true } : answer;
  } catch (e) {
    if (e instanceof HttpError && e.status === 400) {
      // The local API's answer, with the field's path and the reason, under the management code.
      void reply.code(400);
      return { error: { ...e.body.error, code: 'MGMT_INVALID_REQUEST' } };
    }
    throw e;
  }
}

async function listDenials(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  const q = request.query as z.infer<typeof DenialsQuery>;
  const after = q.after === undefined ? 0 : Number(q.after);
  const limit = q.maxResults === undefined ? DENIALS_PAGE_DEFAULT : Number(q.maxResults);
  if (limit < 1 || limit > DENIALS_PAGE_MAX) throw new ManagementError(400, 'MGMT_INVALID_REQUEST', `maxResults must be 1 to ${DENIALS_PAGE_MAX}`);
  await request.authorizeCall({ action: 'gatehouse:ListDenials', resource: '*' });
  const feed = ops(ctx).denials;
  if (feed === undefined) throw unavailable('the MQTT broker');
  return {
    denials: feed.since(after, limit).map((d) => ({ ...d, at: new Date(d.at).toISOString() })),
    latest: feed.latest,
    byReason: feed.byReason(),
  };
}

/** The certificate part of the overview, read at most once a minute per gateway (a fleet's certificates are many). */
const certificateCache = new WeakMap<ManagementContext, { readonly at: number; readonly value: Promise<Record<string, unknown>> }>();

async function certificateHorizon(ctx: ManagementContext, now: Date): Promise<Record<string, unknown>> {
  const horizon = now.getTime() + EXPIRY_HORIZON_DAYS * 86_400_000;
  const certs = await ctx.registry.listCertificates();
  let active = 0;
  let expired = 0;
  const soon: { certificateId: string; subject: string; notAfter: Date }[] = [];
  for (const c of certs) {
    if (c.status !== 'ACTIVE') continue;
    active++;
    const t = c.notAfter.getTime();
    if (t < now.getTime()) expired++;
    else if (t <= horizon) soon.push({ certificateId: c.id, subject: c.subject, notAfter: c.notAfter });
  }
  soon.sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
  const cas = await ctx.registry.listTrustedCas();
  return {
    horizonDays: EXPIRY_HORIZON_DAYS,
    gateway: (ops(ctx).gatewayCertificates?.() ?? []).map((g) => ({ role: g.role, subject: g.subject, notAfter: g.notAfter.toISOString() })),
    trustedCas: cas.map((c) => ({ id: c.id, subject: c.subject, notAfter: c.notAfter.toISOString() })).sort((a, b) => (a.notAfter < b.notAfter ? -1 : 1)),
    devices: { active, expired, expiringSoon: soon.slice(0, 20).map((x) => ({ ...x, notAfter: x.notAfter.toISOString() })) },
  };
}

async function overview(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  await request.authorizeCall({ action: 'gatehouse:GetMetrics', resource: '*' });
  const now = ctx.clock();
  const o = ops(ctx);
  let cached = certificateCache.get(ctx);
  if (cached === undefined || now.getTime() - cached.at > 60_000 || now.getTime() < cached.at) {
    cached = { at: now.getTime(), value: certificateHorizon(ctx, now) };
    certificateCache.set(ctx, cached);
    // A failed read is not kept: the next call tries again.
    const mine = cached;
    mine.value.catch(() => { if (certificateCache.get(ctx) === mine) certificateCache.delete(ctx); });
  }
  let registry: 'ok' | 'failing' = 'ok';
  let things: number | undefined;
  let certificates: Record<string, unknown>;
  try {
    things = await ctx.registry.countThings();
    certificates = await cached.value;
  } catch (e) {
    registry = 'failing';
    ctx.logger.error({ event: 'overview-registry-error', err: (e as Error).message }, 'the overview could not read the registry');
    certificates = { horizonDays: EXPIRY_HORIZON_DAYS, gateway: [], trustedCas: [], devices: { active: 0, expired: 0, expiringSoon: [] } };
  }
  return {
    at: now.toISOString(),
    ...(o.connections !== undefined ? { connectedDevices: o.connections.list().length } : {}),
    ...(o.identitySessions !== undefined ? { identitySessions: o.identitySessions().length } : {}),
    ...(o.counters !== undefined ? { counters: o.counters() } : {}),
    ...(o.denials !== undefined ? { denialsByReason: o.denials.byReason() } : {}),
    certificates,
    health: { registry, broker: o.connections !== undefined ? 'ok' : 'absent', ...(things !== undefined ? { things } : {}), deviceGroups: ctx.policy.current.groups.length },
  };
}

async function metrics(request: FastifyRequest, reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  await request.authorizeCall({ action: 'gatehouse:GetMetrics', resource: '*' });
  const m = ops(ctx).metrics;
  if (m === undefined) throw unavailable('the metrics registry (it belongs to the local API, which is disabled)');
  const text = await m.text();
  void reply.type(m.contentType);
  return text;
}

async function syncStatus(request: FastifyRequest, _reply: FastifyReply, ctx: ManagementContext): Promise<unknown> {
  await request.authorizeCall({ action: 'gatehouse:GetSyncStatus', resource: '*' });
  const sync = ops(ctx).awsSync;
  if (sync === undefined) return { source: 'aws', enabled: false };
  const s = sync.status();
  const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
  return {
    source: 'aws', enabled: true, running: s.running, intervalSeconds: s.intervalSeconds, runs: s.runs,
    lastRun: s.lastRun === null ? null : { ...s.lastRun, startedAt: s.lastRun.startedAt.toISOString(), endedAt: s.lastRun.endedAt.toISOString() },
    lastSuccessAt: iso(s.verifiedAt), trustedUntil: iso(s.trustedUntil),
    lastError: s.lastError === null ? null : { code: s.lastError.code, message: s.lastError.message, at: s.lastError.at.toISOString() },
    refusedObjects: s.refusedObjects, leading: s.leading,
  };
}

const SIGNED = { kind: 'signed', services: ['gatehouse', 'execute-api'] } as const;
const DENIED = { description: 'MGMT_ACCESS_DENIED and the authentication failures' };

const ROUTES: readonly ManagementRoute[] = [
  {
    method: 'GET', url: '/gatehouse/retained', operationId: 'ListRetainedMessagesOperator', action: 'gatehouse:ListRetainedMessages', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'The retained MQTT messages the broker keeps, in topic order (payloads not included)',
    query: RetainedListQuery,
    responses: { 200: { description: 'One page of retained messages', schema: RetainedListResponse }, 400: { description: 'MGMT_INVALID_REQUEST' }, 403: DENIED, 503: { description: 'MGMT_UNAVAILABLE' } },
    example: { path: '/gatehouse/retained?maxResults=10' },
    handler: listRetained,
  },
  {
    method: 'GET', url: '/gatehouse/retained/:topic', operationId: 'GetRetainedMessageOperator', action: 'gatehouse:GetRetainedMessage', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'One retained message with its payload (base64)',
    description: 'Authorized on `arn:PARTITION:iot:REGION:ACCOUNT:topic/TOPIC`.',
    params: TopicParams,
    responses: { 200: { description: 'The retained message', schema: RetainedMessageBody }, 403: DENIED, 404: { description: 'MGMT_NOT_FOUND: no retained message on that topic' }, 503: { description: 'MGMT_UNAVAILABLE' } },
    example: { path: '/gatehouse/retained/status%2Flamp%2Fpower' },
    handler: getRetained,
  },
  {
    method: 'DELETE', url: '/gatehouse/retained/:topic', operationId: 'DeleteRetainedMessageOperator', action: 'gatehouse:DeleteRetainedMessage', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'Delete a retained message (nothing is published: subscribers are not told)',
    description: 'Authorized on `arn:PARTITION:iot:REGION:ACCOUNT:topic/TOPIC`. Removed from the registry database and from the broker at once.',
    params: TopicParams,
    responses: { 204: { description: 'Deleted' }, 403: DENIED, 404: { description: 'MGMT_NOT_FOUND: no retained message on that topic' }, 503: { description: 'MGMT_UNAVAILABLE' } },
    example: { path: '/gatehouse/retained/status%2Flamp%2Fpower' },
    handler: deleteRetained,
  },
  {
    method: 'GET', url: '/gatehouse/sessions', operationId: 'ListSessions', action: 'gatehouse:ListSessions', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'The devices connected to the embedded MQTT broker',
    responses: { 200: { description: 'Live connections, by client id', schema: SessionsResponse }, 403: DENIED, 503: { description: 'MGMT_UNAVAILABLE' } },
    example: { path: '/gatehouse/sessions' },
    handler: listSessions,
  },
  {
    method: 'DELETE', url: '/gatehouse/sessions/:clientId', operationId: 'DisconnectSession', action: 'gatehouse:DisconnectSession', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'Disconnect the device connected with this client id',
    description: 'Authorized on `arn:PARTITION:gatehouse:REGION:ACCOUNT:session/CLIENTID`. The device may connect again; revoke its certificate or change its policies to keep it out.',
    params: ClientIdParams,
    responses: { 204: { description: 'Disconnected' }, 403: DENIED, 404: { description: 'MGMT_NOT_FOUND: no device is connected with that client id' }, 503: { description: 'MGMT_UNAVAILABLE' } },
    example: { path: '/gatehouse/sessions/sensor-1' },
    handler: disconnectSession,
  },
  {
    method: 'GET', url: '/gatehouse/configuration', operationId: 'GetConfiguration', action: 'gatehouse:GetConfiguration', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'The configuration in force: the file\'s text and the device groups',
    responses: { 200: { description: 'The configuration in force', schema: ConfigurationResponse }, 403: DENIED },
    example: { path: '/gatehouse/configuration' },
    handler: getConfiguration,
  },
  {
    method: 'POST', url: '/gatehouse/configuration/validate', operationId: 'ValidateConfiguration', action: 'gatehouse:ValidateConfiguration', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'Check a proposed configuration as `gatehouse config validate` and a reload would; nothing is applied',
    body: ConfigurationText,
    responses: { 200: { description: 'The verdict: every error with its code, path and fix', schema: ValidationResponse }, 400: { description: 'MGMT_INVALID_REQUEST' }, 403: DENIED, 409: { description: 'MGMT_NO_CONFIG_FILE' } },
    example: { path: '/gatehouse/configuration/validate', body: { text: 'deviceGroups: { formatVersion: "2021-03-05", definitions: {}, policies: {} }\n' } },
    handler: validateConfiguration,
  },
  {
    method: 'PUT', url: '/gatehouse/configuration', operationId: 'ApplyConfiguration', action: 'gatehouse:ApplyConfiguration', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'Validate a configuration, write it over the gateway\'s configuration file and apply it',
    description: 'The file is replaced atomically (a new file renamed over it) and applied through the same path as an edit of the file: the device groups are swapped in and live connections re-checked. A configuration with errors is refused (400 MGMT_CONFIG_INVALID with every error) and nothing is written.',
    body: ConfigurationText,
    responses: {
      200: { description: 'Applied, or already in force', schema: ApplyResponse },
      400: { description: 'MGMT_CONFIG_INVALID (with `error.errors`) or MGMT_INVALID_REQUEST', schema: ConfigInvalidResponse },
      403: DENIED, 409: { description: 'MGMT_NO_CONFIG_FILE: the gateway was started without a configuration file' },
    },
    example: { path: '/gatehouse/configuration', body: { text: 'deviceGroups: { formatVersion: "2021-03-05", definitions: {}, policies: {} }\n' } },
    handler: applyConfiguration,
  },
  {
    method: 'POST', url: '/gatehouse/explain', operationId: 'Explain', action: 'gatehouse:Explain', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'Explain a decision: group, policy, statement and resolved pattern (as the local API\'s POST /v1/explain)',
    description: 'With `iotPolicyOverride` or `configurationText`, the request is decided under that edit of the policies in force, without applying it (the answer says `simulated: true`); an edit that does not validate is a 400 listing each problem with its path and fix.',
    body: ManagementExplainRequest,
    responses: { 200: { description: 'The decision and its explanation', schema: ExplainResponse.extend({ simulated: z.boolean().optional().describe('Decided under the edit given, not the policies in force') }) }, 400: { description: 'MGMT_INVALID_REQUEST, with the field\'s path in `error.path` and, for a registered thing\'s connection, `error.reason`' }, 403: DENIED },
    example: { path: '/gatehouse/explain', body: { thingName: 'sensor-1', operation: 'mqtt:publish', resource: 'mqtt:topic:t' } },
    handler: explainRoute,
  },
  {
    method: 'GET', url: '/gatehouse/sync/aws', operationId: 'GetSyncStatus', action: 'gatehouse:GetSyncStatus', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'The continuous AWS IoT Core sync: last run, last success, offline trust window, refusals',
    description: 'What `gatehouse sync status` prints. `enabled: false` when `gatehouse.sync.aws.enabled` is not set.',
    responses: { 200: { description: 'The status', schema: SyncStatusResponse }, 403: DENIED },
    example: { path: '/gatehouse/sync/aws' },
    handler: syncStatus,
  },
  {
    method: 'GET', url: '/gatehouse/overview', operationId: 'GetOverview', action: 'gatehouse:GetMetrics', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'The gateway at a glance: connected devices, counters since start, denials by reason, certificates expiring soon, registry health',
    description: 'Authorized as `gatehouse:GetMetrics`. Counters are totals since start: a reader polls and takes differences for rates. The certificate part is read from the registry at most once a minute.',
    responses: { 200: { description: 'The overview', schema: OverviewResponse }, 403: DENIED },
    example: { path: '/gatehouse/overview' },
    handler: overview,
  },
  {
    method: 'GET', url: '/gatehouse/denials', operationId: 'ListDenials', action: 'gatehouse:ListDenials', protocol: 'gatehouse', auth: SIGNED, tag: 'Gatehouse',
    summary: 'The broker\'s recent MQTT denials (connect, publish, subscribe) with the deciding policy and statement',
    description: 'The broker keeps the last 500 denials it logged (the per-connection log rate limit applies: `suppressed` counts the ones left out) and counts every denial by reason. Poll with `after` set to the `latest` of the previous answer. API denials are in the audit log (`GET /gatehouse/audit?decision=deny`).',
    query: DenialsQuery,
    responses: { 200: { description: 'Denials, oldest first', schema: DenialsResponse }, 400: { description: 'MGMT_INVALID_REQUEST' }, 403: DENIED, 503: { description: 'MGMT_UNAVAILABLE' } },
    example: { path: '/gatehouse/denials?after=0&maxResults=50' },
    handler: listDenials,
  },
  {
    method: 'GET', url: '/gatehouse/metrics', operationId: 'GetMetrics', action: 'gatehouse:GetMetrics', protocol: 'gatehouse', auth: { ...SIGNED, apiToken: true }, tag: 'Gatehouse',
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain; version=0.0.4' }, 403: DENIED, 503: { description: 'MGMT_UNAVAILABLE' } },
    example: { path: '/gatehouse/metrics' },
    handler: metrics,
  },
];

export const GATEHOUSE_OPERATION_ROUTES: ManagementRouteSet = { name: 'gatehouse-operations', routes: ROUTES };
