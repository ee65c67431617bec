import { CombinedView } from './combined.js';
import type { PrincipalView } from './evaluate.js';
import { canonicalAction, IOT_ACTIONS, type IotResourceType } from './iot/actions.js';
import { iotArn } from './iot/arn.js';
import type { IotContext, IotDeployment, IotRequest } from './iot/context.js';
import type { IotExplanation, IotStatementMatch } from './iot/engine.js';
import { REFUSED, NO_IOT_STATEMENT } from './engine/decide.js';
import { describeDecision } from './engine/explain.js';
import type { Decision, DecisionReason, Explanation, StatementMatch } from './model.js';
import type { Principal } from './resource.js';
import type { PolicySnapshot } from './snapshot.js';

/**
 * Explains one request of one connection under both policy dialects, for
 * `gatehouse authorize --data-dir` and the local API's explain endpoint. The decision is
 * the one the broker makes: it comes from `PolicySnapshot.connectionView`; the
 * explanation adds what each dialect found (the Greengrass statements that match, the
 * IoT statements that apply, from `IotPolicySet.explain`).
 *
 * IoT actions on the MQTT resources are asked of the connection view the way the broker
 * asks them: `iot:Connect` on `client/ID` as `mqtt:connect`, `iot:Publish` on
 * `topic/T` as `mqtt:publish` (a retained publish as the broker decides one),
 * `iot:Subscribe` on `topicfilter/F` as `mqtt:subscribe`. `iot:Receive` and every other
 * action (shadows, jobs, retained-message reads…) are answered by the IoT policies alone:
 * the Greengrass dialect has no such permission (a Greengrass subscription grant implies
 * receiving what the filter matches; the broker applies that rule per delivery).
 */

/** A request in one of the two forms. */
export type ConnectionRequest =
  | { readonly kind: 'greengrass'; readonly operation: string; readonly resource: string; readonly retain?: boolean }
  | { readonly kind: 'iot'; readonly request: IotRequest };

/** The connection: who it is (Greengrass principal), its certificate, its IoT context. */
export interface ConnectionSubject {
  readonly principal: Principal;
  readonly certificateId: string | undefined;
  readonly context: IotContext;
}

export interface ConnectionExplanation {
  readonly allowed: boolean;
  readonly reason: DecisionReason;
  /** The dialect whose statement (or absence of one) decided. */
  readonly dialect: 'greengrass' | 'iot';
  /** Set when a statement decided: the device group (Greengrass only), the policy and the statement (IoT: its Sid, or its index). */
  readonly group?: string;
  readonly policy?: string;
  readonly statement?: string;
  /** Greengrass: the deciding statement's resource with variables resolved. */
  readonly resourcePattern?: string;
  /** IoT: the action whose evaluation decided (`iot:RetainPublish` when a retained publish fails on it). */
  readonly decidingAction?: string;
  readonly thingName: string;
  readonly clientId: string;
  readonly certificateId?: string;
  /** The request as asked: `action` (IoT form) or `operation` (Greengrass form). */
  readonly action?: string;
  readonly operation?: string;
  readonly resource: string;
  readonly retain?: boolean;
  /** The Greengrass device groups selecting the thing, with their policies. */
  readonly groups: Explanation['groups'];
  /** The IoT policies in force for the connection (certificate, thing groups, device groups). */
  readonly iotPolicies: readonly string[];
  /** IoT policies the connection names that do not exist (every IoT decision is then a deny). */
  readonly missingIotPolicies: readonly string[];
  /** Greengrass statements matching the request (the deciding one first); empty for IoT-only actions. */
  readonly matches: readonly StatementMatch[];
  /** IoT statements applying to the request, Deny first. */
  readonly iotMatches: readonly IotStatementMatch[];
  readonly message: string;
}

/** A request that cannot be asked, with a stable code, the field at fault and a fix. */
export interface ConnectionRequestProblem {
  readonly code: 'IOT_REQUEST_ACTION_UNKNOWN' | 'IOT_REQUEST_RESOURCE_INVALID';
  readonly field: 'action' | 'resource';
  readonly message: string;
  readonly fix: string;
}

/**
 * Checks an IoT request: a documented action (any case; no wildcards: a request names
 * one action) and a resource of the type the action is checked against, as an ARN of
 * this deployment or as `TYPE/NAME`; `*` for the actions whose resource is `*`
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html).
 * The returned request carries the ARN and the documented spelling of the action.
 */
export function parseIotRequest(deployment: IotDeployment, action: string, resource: string, retain = false): { readonly ok: true; readonly request: IotRequest } | { readonly ok: false; readonly problem: ConnectionRequestProblem } {
  const canonical = canonicalAction(action);
  if (canonical === undefined) {
    return {
      ok: false,
      problem: {
        code: 'IOT_REQUEST_ACTION_UNKNOWN', field: 'action',
        message: `\`${action}\` is not an AWS IoT Core policy action`,
        fix: `name one action, e.g. iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, iot:RetainPublish, iot:GetThingShadow (docs/policies.md lists them)`,
      },
    };
  }
  const type: IotResourceType = IOT_ACTIONS[canonical]!;
  const prefix = `arn:${deployment.partition}:iot:${deployment.region}:${deployment.accountId}:`;
  const bad = (why: string): { ok: false; problem: ConnectionRequestProblem } => ({
    ok: false,
    problem: {
      code: 'IOT_REQUEST_RESOURCE_INVALID', field: 'resource',
      message: `resource \`${resource}\` of ${canonical}: ${why}`,
      fix: type === '*' ? `${canonical} is checked against \`*\`` : `write \`${prefix}${type}/NAME\` or \`${type}/NAME\` (the region and account are gatehouse.iot's)`,
    },
  });
  if (retain && canonical !== 'iot:Publish') return bad('`retain` applies to iot:Publish only');
  if (type === '*') return resource === '*' ? { ok: true, request: { action: canonical, resource } } : bad('the action\'s resource is `*`');
  let rest: string;
  if (resource.startsWith('arn:')) {
    if (!resource.startsWith(prefix)) return bad(`not an ARN of this gateway (\`${prefix}…\`)`);
    rest = resource.slice(prefix.length);
  } else {
    rest = resource;
  }
  if (!rest.startsWith(type + '/')) return bad(`${canonical} is checked against \`${type}/\` resources`);
  const name = rest.slice(type.length + 1);
  if (name === '') return bad(`the ${type} name is empty`);
  return { ok: true, request: { action: canonical, resource: iotArn(deployment, type, name), ...(retain ? { retain } : {}) } };
}

/**
 * The Greengrass form of an IoT MQTT request the broker decides through the connection
 * view. The ARN was checked by parseIotRequest: its resource part follows the fifth colon.
 */
function greengrassForm(request: IotRequest): { operation: string; resource: string } | undefined {
  let at = -1;
  for (let k = 0; k < 5; k++) {
    at = request.resource.indexOf(':', at + 1);
    if (at < 0) return undefined;
  }
  const part = request.resource.slice(at + 1);
  const name = (type: 'client' | 'topic' | 'topicfilter'): string | undefined => (part.startsWith(type + '/') ? part.slice(type.length + 1) : undefined);
  let n: string | undefined;
  switch (request.action) {
    case 'iot:Connect':
      return (n = name('client')) !== undefined ? { operation: 'mqtt:connect', resource: 'mqtt:clientId:' + n } : undefined;
    case 'iot:Publish':
      return (n = name('topic')) !== undefined ? { operation: 'mqtt:publish', resource: 'mqtt:topic:' + n } : undefined;
    case 'iot:Subscribe':
      return (n = name('topicfilter')) !== undefined ? { operation: 'mqtt:subscribe', resource: 'mqtt:topicfilter:' + n } : undefined;
    default:
      return undefined;
  }
}

/** The IoT form of a Greengrass request (for the IoT statements that apply to it). */
function iotForm(operation: string, resource: string, retain: boolean, deployment: IotDeployment): IotRequest | undefined {
  const at = (p: string): string | undefined => (resource.startsWith(p) ? resource.slice(p.length) : undefined);
  let n: string | undefined;
  if (operation === 'mqtt:connect' && (n = at('mqtt:clientId:')) !== undefined) return { action: 'iot:Connect', resource: iotArn(deployment, 'client', n) };
  if (operation === 'mqtt:publish' && (n = at('mqtt:topic:')) !== undefined) return { action: 'iot:Publish', resource: iotArn(deployment, 'topic', n), ...(retain ? { retain } : {}) };
  if (operation === 'mqtt:subscribe' && (n = at('mqtt:topicfilter:')) !== undefined) return { action: 'iot:Subscribe', resource: iotArn(deployment, 'topicfilter', n) };
  return undefined;
}

/**
 * Decides and explains `request` for the connection `subject` under `snapshot` (its
 * device groups and its IoT policies), at `now` (epoch milliseconds).
 */
export function explainConnection(snapshot: PolicySnapshot, subject: ConnectionSubject, request: ConnectionRequest, now: () => number): ConnectionExplanation {
  const view: PrincipalView | CombinedView = snapshot.connectionView(subject.principal, subject.certificateId, subject.context, now);
  const gg: PrincipalView = view instanceof CombinedView ? view.greengrass : view;
  const named: string[] = [];
  for (const g of gg.groups) if (g.iotPolicies !== undefined) named.push(...g.iotPolicies);
  const inForce = view instanceof CombinedView
    ? view.iot.policiesFor(subject.certificateId, view.context.thingName, named)
    : { names: [] as readonly string[], missing: [] as readonly string[] };
  const deployment = view instanceof CombinedView ? view.iot.set.deployment : snapshot.iot?.set.deployment;
  // The statements of the policies that exist (a missing one denies, but the others still show what they say).
  const iotExplain = (r: IotRequest): IotExplanation | undefined =>
    view instanceof CombinedView ? view.iot.set.explain(view.policies, view.context, r, now()) : undefined;

  const base = {
    thingName: subject.principal.thingName,
    clientId: subject.principal.clientId ?? subject.principal.thingName,
    ...(subject.certificateId !== undefined ? { certificateId: subject.certificateId } : {}),
    groups: gg.groups.map((g) => ({ name: g.name, policy: g.policy })),
    iotPolicies: inForce.names,
    missingIotPolicies: inForce.missing,
  };

  // Through the connection view, as the broker asks.
  const viaView = (operation: string, resource: string, retain: boolean, iotRequest: IotRequest | undefined, asked: { action?: string; operation?: string; resource: string; retain?: boolean }): ConnectionExplanation => {
    const d: Decision = retain && view instanceof CombinedView && operation === 'mqtt:publish' && resource.startsWith('mqtt:topic:')
      ? view.decideRetained(resource.slice('mqtt:topic:'.length))
      : view.decide(operation, resource);
    const ggEx = snapshot.explain(subject.principal, operation, resource);
    const iotEx = iotRequest !== undefined ? iotExplain(iotRequest) : undefined;
    const fromIot = d.dialect === 'iot';
    return {
      ...decisionFields(d),
      ...base,
      ...asked,
      matches: ggEx.matches,
      iotMatches: iotEx?.matches ?? [],
      message: fromIot ? iotMessage(d, inForce.missing) : greengrassMessage(ggEx.message, d, iotEx),
    };
  };

  if (request.kind === 'greengrass') {
    const retain = request.retain === true;
    const iotRequest = deployment !== undefined ? iotForm(request.operation, request.resource, retain, deployment) : undefined;
    return viaView(request.operation, request.resource, retain, iotRequest, { operation: request.operation, resource: request.resource, ...(retain ? { retain } : {}) });
  }

  const r = request.request;
  const asked = { action: r.action, resource: r.resource, ...(r.retain === true ? { retain: true } : {}) };
  const mapped = greengrassForm(r);
  if (mapped !== undefined) return viaView(mapped.operation, mapped.resource, r.retain === true, r, asked);

  // The IoT policies alone.
  let d: Decision;
  const ex = iotExplain(r);
  if (inForce.missing.length > 0) d = REFUSED.IOT_POLICY_NOT_FOUND;
  else if (ex === undefined) d = NO_IOT_STATEMENT;
  else d = { allowed: ex.allowed, reason: ex.reason, dialect: 'iot', ...(ex.policy !== undefined ? { policy: ex.policy, statement: ex.statement } : {}), action: ex.action };
  let message = iotMessage(d, inForce.missing);
  if (r.action === 'iot:Receive') {
    message += ' iot:Receive is answered by the IoT policies alone: under the Greengrass dialect, receiving is implied by a granted subscription, which the broker checks on every delivery.';
  }
  return { ...decisionFields(d), ...base, ...asked, matches: [], iotMatches: ex?.matches ?? [], message };
}

function decisionFields(d: Decision): Pick<ConnectionExplanation, 'allowed' | 'reason' | 'dialect' | 'group' | 'policy' | 'statement' | 'resourcePattern' | 'decidingAction'> {
  return {
    allowed: d.allowed,
    reason: d.reason,
    dialect: d.dialect ?? 'greengrass',
    ...(d.group !== undefined ? { group: d.group } : {}),
    ...(d.policy !== undefined ? { policy: d.policy } : {}),
    ...(d.statement !== undefined ? { statement: d.statement } : {}),
    ...(d.resourcePattern !== undefined ? { resourcePattern: d.resourcePattern } : {}),
    ...(d.action !== undefined ? { decidingAction: d.action } : {}),
  };
}

/** The Greengrass explanation, completed with what the IoT policies said when they were asked too. */
function greengrassMessage(message: string, d: Decision, iot: IotExplanation | undefined): string {
  if (iot === undefined || d.allowed || (d.reason !== 'NO_MATCHING_STATEMENT' && d.reason !== 'NO_GROUP_SELECTS_THING')) return message;
  const retained = iot.request.retain === true && iot.action === 'iot:RetainPublish';
  return `${message}; no statement of the AWS IoT policies in force allows it either${retained ? ' (a retained publish needs iot:RetainPublish as well as iot:Publish)' : ''}`;
}

/** The message of a decision an IoT policy (or its absence) made: the engine's one message builder. */
function iotMessage(d: Decision, missing: readonly string[]): string {
  return describeDecision(d, { thingName: '', operation: '', resource: '', groups: 0, missingPolicies: missing });
}
