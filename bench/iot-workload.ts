/**
 * Benchmark workloads of the AWS IoT Core policy dialect: policy documents, connection
 * contexts and request lists for the IoT cases of bench:decide, and the large policy set
 * with its attachments for the IoT compile case.
 *
 * Everything is generated from a fixed seed. The expected decision of every request is
 * known by construction (which statement the topic was built to hit), never computed
 * with Gatehouse code.
 */
import type { IotCertificateContext, IotContext, IotDeployment } from '../src/core/policy/iot/context.js';
import { rng, shuffle } from './workload.js';

export const IOT_DEPLOYMENT: IotDeployment = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
export const IOT_ARN = `arn:${IOT_DEPLOYMENT.partition}:iot:${IOT_DEPLOYMENT.region}:${IOT_DEPLOYMENT.accountId}`;

export type IotAction = 'iot:Connect' | 'iot:Publish' | 'iot:Subscribe' | 'iot:Receive';

const TYPE: Record<IotAction, string> = {
  'iot:Connect': 'client',
  'iot:Publish': 'topic',
  'iot:Subscribe': 'topicfilter',
  'iot:Receive': 'topic',
};

export interface IotPolicyDoc {
  readonly name: string;
  readonly document: { Version: string; Statement: Record<string, unknown>[] };
}

export interface IotBenchRequest {
  /** Index into the workload's connections. */
  readonly connection: number;
  readonly action: IotAction;
  /** `arn:…:topic/` (the part a broker adapter prepends). */
  readonly prefix: string;
  /** The client ID, topic or topic filter. */
  readonly name: string;
}

export interface IotConnection {
  readonly ctx: IotContext;
  /** The policies in force for this connection. */
  readonly policies: readonly string[];
}

export interface IotWorkload {
  readonly id: string;
  readonly title: string;
  readonly policies: readonly IotPolicyDoc[];
  readonly connections: readonly IotConnection[];
  readonly requests: readonly IotBenchRequest[];
  readonly expectedAllowed: readonly boolean[];
}

function prefixOf(action: IotAction): string {
  return `${IOT_ARN}:${TYPE[action]}/`;
}

function ctxOf(thing: string, extra: Partial<IotContext> = {}): IotContext {
  return { clientId: thing, thingName: thing, isAttached: true, secureTransport: true, connectAttributes: [], ...extra };
}

/** Repeats allowed and denied (connection, name) pairs to `size` requests, 3 allowed : 1 denied, shuffled. */
function mix(action: IotAction, allowed: [number, string][], denied: [number, string][], size: number, seed: number): { requests: IotBenchRequest[]; expected: boolean[] } {
  const rows: [IotBenchRequest, boolean][] = [];
  for (let i = 0; i < size; i++) {
    const ok = i % 4 !== 3;
    const list = ok ? allowed : denied;
    const [connection, name] = list[Math.floor(i / 4) % list.length]!;
    rows.push([{ connection, action, prefix: prefixOf(action), name }, ok]);
  }
  shuffle(rows, rng(seed));
  return { requests: rows.map((r) => r[0]), expected: rows.map((r) => r[1]) };
}

const SMALL = 4096;
const THING = '${iot:Connection.Thing.ThingName}';

/** The typical device policy: its own client ID, its own topics, one Deny. */
export function devicePolicy(name = 'device'): IotPolicyDoc {
  return {
    name,
    document: {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'connect', Effect: 'Allow', Action: 'iot:Connect', Resource: `${IOT_ARN}:client/${THING}` },
        { Sid: 'ownTopics', Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${IOT_ARN}:topic/${THING}/*` },
        { Sid: 'ownFilters', Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${IOT_ARN}:topicfilter/${THING}/#` },
        { Sid: 'noAdmin', Effect: 'Deny', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/${THING}/admin/*` },
      ],
    },
  };
}

/** (i1) The device policy deciding iot:Publish. */
export function caseI1(): IotWorkload {
  const { requests, expected } = mix('iot:Publish',
    [[0, 'myThing/telemetry'], [0, 'myThing/humidity'], [0, 'myThing/sensors/3/temperature']],
    [[0, 'myThing/admin/reset'], [0, 'otherThing/telemetry'], [0, 'myThing'], [0, 'MyThing/telemetry'], [0, 'myThin/telemetry']],
    SMALL, 11);
  return {
    id: 'i1', title: '(i1) device policy, iot:Publish', policies: [devicePolicy()],
    connections: [{ ctx: ctxOf('myThing'), policies: ['device'] }], requests, expectedAllowed: expected,
  };
}

/** (i2) iot:Receive on fleet topics, granted under a StringEquals condition on a thing attribute. */
export function caseI2(): IotWorkload {
  const fleet: IotPolicyDoc = {
    name: 'fleet',
    document: {
      Version: '2012-10-17',
      Statement: [{
        Sid: 'siteBroadcasts', Effect: 'Allow', Action: 'iot:Receive', Resource: `${IOT_ARN}:topic/sites/*`,
        Condition: { StringEquals: { 'iot:Connection.Thing.Attributes[site]': 'plant-7' } },
      }],
    },
  };
  const connections: IotConnection[] = [
    { ctx: ctxOf('myThing', { attributes: { site: 'plant-7', model: 'x1' } }), policies: ['device', 'fleet'] },
    { ctx: ctxOf('otherThing', { attributes: { site: 'plant-8', model: 'x1' } }), policies: ['device', 'fleet'] },
  ];
  const { requests, expected } = mix('iot:Receive',
    [[0, 'sites/plant-7/alerts'], [0, 'sites/all/shutdown'], [0, 'sites/plant-7/firmware/v2'], [1, 'otherThing/commands']],
    [[1, 'sites/plant-7/alerts'], [1, 'sites/all/shutdown'], [0, 'site/plant-7/alerts'], [0, 'otherThing/commands']],
    SMALL, 12);
  return { id: 'i2', title: '(i2) iot:Receive, StringEquals condition', policies: [devicePolicy(), fleet], connections, requests, expectedAllowed: expected };
}

function certificate(cn: string, org: string, serial: string): IotCertificateContext {
  return {
    subject: { CommonName: [cn], Organization: [org], Country: ['DE'] },
    issuer: { CommonName: ['Gatehouse Device CA'], Organization: [org] },
    serialNumber: serial,
  };
}

/** (i3) Topics named by certificate variables: Organization and CommonName of the subject. */
export function caseI3(): IotWorkload {
  const policy: IotPolicyDoc = {
    name: 'byCertificate',
    document: {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${IOT_ARN}:client/\${iot:Certificate.Subject.CommonName}` },
        {
          Effect: 'Allow', Action: 'iot:Publish',
          Resource: `${IOT_ARN}:topic/\${iot:Certificate.Subject.Organization}/\${iot:Certificate.Subject.CommonName}/*`,
        },
        { Effect: 'Deny', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/\${iot:Certificate.Subject.Organization}/\${iot:Certificate.Subject.CommonName}/ota/*` },
      ],
    },
  };
  const connections: IotConnection[] = [
    { ctx: ctxOf('myThing', { certificate: certificate('myThing', 'acme', '5a:01:9c:33:7e:10:02') }), policies: ['byCertificate'] },
  ];
  const { requests, expected } = mix('iot:Publish',
    [[0, 'acme/myThing/telemetry'], [0, 'acme/myThing/state'], [0, 'acme/myThing/a/b/c']],
    [[0, 'acme/myThing/ota/accept'], [0, 'acme/otherThing/telemetry'], [0, 'other/myThing/telemetry'], [0, 'acme/myThing']],
    SMALL, 13);
  return { id: 'i3', title: '(i3) certificate variables, Publish', policies: [policy], connections, requests, expectedAllowed: expected };
}

// ---------------------------------------------------------------------------
// (i4) A large set: 10,000 policies, about three in force per connection.

export const I4_POLICIES = 10_000;

/**
 * The policies of the large set: `total` policies in three families (a third each):
 * device policies (`dev-N`: the device policy, its Deny varying), group policies
 * (`grp-N`: the group's topics, a locked subtree denied) and fleet policies (`flt-N`:
 * per-thing topics under the fleet, a condition on an attribute).
 */
export function largeSetPolicies(total: number): IotPolicyDoc[] {
  const out: IotPolicyDoc[] = [];
  const third = Math.floor(total / 3);
  for (let k = 0; k < total - 2 * third; k++) {
    const d = devicePolicy(`dev-${k}`);
    const st = d.document.Statement;
    st[3] = { ...st[3], Resource: `${IOT_ARN}:topic/${THING}/admin-${k}/*` };
    out.push(d);
  }
  for (let g = 0; g < third; g++) {
    out.push({
      name: `grp-${g}`,
      document: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${IOT_ARN}:topic/grp-${g}/*`, `${IOT_ARN}:topic/grp-${g}-shared`] },
          { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${IOT_ARN}:topicfilter/grp-${g}/*` },
          { Effect: 'Deny', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/grp-${g}/locked/*` },
        ],
      },
    });
  }
  for (let f = 0; f < third; f++) {
    out.push({
      name: `flt-${f}`,
      document: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/flt-${f}/${THING}/*`,
            Condition: { StringEquals: { 'iot:Connection.Thing.Attributes[fleet]': `flt-${f}` } },
          },
          { Effect: 'Allow', Action: 'iot:Receive', Resource: `${IOT_ARN}:topic/flt-${f}/broadcast/*` },
        ],
      },
    });
  }
  return out;
}

/** (i4) 1,000 connections over a set of `total` policies, each with one device, one group and one fleet policy in force. */
export function caseI4(total = I4_POLICIES, connectionCount = 1000): IotWorkload {
  const policies = largeSetPolicies(total);
  const third = Math.floor(total / 3);
  const devices = total - 2 * third;
  const rand = rng(14);
  const connections: IotConnection[] = [];
  const groupOf: number[] = [];
  const fleetOf: number[] = [];
  for (let c = 0; c < connectionCount; c++) {
    const g = Math.floor(rand() * third);
    const f = Math.floor(rand() * third);
    groupOf.push(g);
    fleetOf.push(f);
    const thing = `thing-${c}`;
    connections.push({ ctx: ctxOf(thing, { attributes: { fleet: `flt-${f}` } }), policies: [`dev-${c % devices}`, `grp-${g}`, `flt-${f}`] });
  }
  const rows: [IotBenchRequest, boolean][] = [];
  const publish = (connection: number, name: string, ok: boolean): void => {
    rows.push([{ connection, action: 'iot:Publish', prefix: prefixOf('iot:Publish'), name }, ok]);
  };
  for (let c = 0; c < connectionCount; c++) {
    const t = `thing-${c}`;
    const g = groupOf[c]!;
    const f = fleetOf[c]!;
    publish(c, `${t}/telemetry`, true);
    publish(c, `grp-${g}/status`, true);
    publish(c, `flt-${f}/${t}/data`, true);
    publish(c, `${t}/admin-${c % devices}/reboot`, false);
    publish(c, `grp-${g}/locked/door`, false);
    publish(c, `grp-${(g + 1) % third}/status`, false);
    publish(c, `flt-${f}/thing-${(c + 1) % connectionCount}/data`, false);
    publish(c, `grp-${g}-shared`, true);
  }
  shuffle(rows, rand);
  return {
    id: 'i4', title: `(i4) ${total.toLocaleString('en-US')} policies, 3 in force`, policies, connections,
    requests: rows.map((r) => r[0]), expectedAllowed: rows.map((r) => r[1]),
  };
}

// ---------------------------------------------------------------------------
// The IoT compile case: 10,000 varied policies, attachments for 100,000 things.

export const COMPILE_POLICIES = 10_000;
export const COMPILE_THINGS = 100_000;
export const COMPILE_GROUPS = 2_000;

/**
 * 10,000 varied policy documents as JSON text (as stored): 2–6 statements each, drawn
 * from a dozen statement shapes — thing-name, client-ID and certificate variables,
 * wildcards in the resource part and in segments, NotResource, Deny, conditions.
 */
export function compilePolicies(seed = 21): { name: string; document: string }[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const shapes: ((k: number) => Record<string, unknown>)[] = [
    () => ({ Effect: 'Allow', Action: 'iot:Connect', Resource: `${IOT_ARN}:client/${THING}` }),
    () => ({ Effect: 'Allow', Action: 'iot:Connect', Resource: `${IOT_ARN}:client/\${iot:ClientId}`, Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } } }),
    (k) => ({ Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${IOT_ARN}:topic/${THING}/*`, `${IOT_ARN}:topic/site-${k}/${THING}/*`] }),
    (k) => ({ Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${IOT_ARN}:topicfilter/${THING}/#`, `${IOT_ARN}:topicfilter/site-${k}/+/status`] }),
    (k) => ({ Effect: 'Deny', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/${THING}/admin-${k}/*` }),
    (k) => ({
      Effect: 'Allow', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/fleet-${k}/*`,
      Condition: { StringEquals: { 'iot:Connection.Thing.Attributes[fleet]': `fleet-${k}` }, Bool: { 'aws:SecureTransport': 'true' } },
    }),
    () => ({ Effect: 'Allow', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/\${iot:Certificate.Subject.Organization}/\${iot:Certificate.Subject.CommonName}/*` }),
    (k) => ({ Effect: 'Allow', Action: 'iot:Receive', Resource: `arn:aws:iot:*:${IOT_DEPLOYMENT.accountId}:topic/broadcast-${k}/*` }),
    (k) => ({ Effect: 'Deny', Action: 'iot:*', NotResource: [`${IOT_ARN}:topic/zone-${k}/*`, `${IOT_ARN}:client/*`, `${IOT_ARN}:topicfilter/zone-${k}/*`] }),
    (k) => ({
      Effect: 'Allow', Action: ['iot:GetThingShadow', 'iot:UpdateThingShadow'], Resource: `${IOT_ARN}:thing/${THING}`,
      Condition: { StringLike: { 'iot:Connection.Thing.ThingTypeName': `type-${k % 50}*` } },
    }),
    (k) => ({
      Effect: 'Allow', Action: 'iot:Publish', Resource: `${IOT_ARN}:topic/$aws/things/${THING}/shadow/*`,
      Condition: { DateLessThan: { 'aws:CurrentTime': `2030-0${1 + (k % 9)}-01T00:00:00Z` } },
    }),
    (k) => ({ Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${IOT_ARN}:topicfilter/group-${k}/?/events/*`, Condition: { IpAddress: { 'aws:SourceIp': `10.${k % 256}.0.0/16` } } }),
  ];
  const out: { name: string; document: string }[] = [];
  for (let p = 0; p < COMPILE_POLICIES; p++) {
    const n = 2 + Math.floor(rand() * 5);
    const statements: Record<string, unknown>[] = [];
    for (let s = 0; s < n; s++) statements.push({ Sid: `s${s}`, ...pick(shapes)(p * 7 + s) });
    out.push({ name: `policy-${p}`, document: JSON.stringify({ Version: '2012-10-17', Statement: statements }, null, 2) });
  }
  return out;
}

/** Attachment rows as a registry would return them. */
export interface AttachmentRows {
  /** [thing, certificate id]: each thing has one certificate. */
  readonly thingCertificate: readonly (readonly [string, string])[];
  /** [certificate id, policy]: 1–2 policies per certificate. */
  readonly certificatePolicy: readonly (readonly [string, string])[];
  /** [thing, group]: 1–3 groups per thing. */
  readonly thingGroup: readonly (readonly [string, string])[];
  /** [group, policy]: 1–3 policies per group. */
  readonly groupPolicy: readonly (readonly [string, string])[];
}

export function attachmentRows(policyNames: readonly string[], seed = 22): AttachmentRows {
  const rand = rng(seed);
  const pickPolicy = (): string => policyNames[Math.floor(rand() * policyNames.length)]!;
  const thingCertificate: [string, string][] = [];
  const certificatePolicy: [string, string][] = [];
  const thingGroup: [string, string][] = [];
  const groupPolicy: [string, string][] = [];
  for (let g = 0; g < COMPILE_GROUPS; g++) {
    const n = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) groupPolicy.push([`group-${g}`, pickPolicy()]);
  }
  for (let t = 0; t < COMPILE_THINGS; t++) {
    const thing = `thing-${t}`;
    // A 64-hex-digit certificate id, as AWS IoT names certificates.
    const cert = (t * 2654435761 >>> 0).toString(16).padStart(8, '0').repeat(8);
    thingCertificate.push([thing, cert]);
    const np = 1 + Math.floor(rand() * 2);
    for (let i = 0; i < np; i++) certificatePolicy.push([cert, pickPolicy()]);
    const ng = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < ng; i++) thingGroup.push([thing, `group-${Math.floor(rand() * COMPILE_GROUPS)}`]);
  }
  return { thingCertificate, certificatePolicy, thingGroup, groupPolicy };
}
