import type { Decision } from '../model.js';
import { RESOURCE_PREFIX } from '../request.js';

/**
 * The message for people that goes with a decision of any dialect: one builder, so
 * that a reason reads the same whichever API, CLI or dialect produced it. The
 * statements that applied come with it (decide.ts, applyingStatements and decidingFirst).
 */

/** What a message names besides the decision. */
export interface DescribedRequest {
  readonly thingName: string;
  readonly operation: string;
  readonly resource: string;
  /** How many Greengrass device groups select the thing. */
  readonly groups: number;
  /** IoT policies in force that do not exist. */
  readonly missingPolicies: readonly string[];
}

export function describeDecision(d: Decision, r: DescribedRequest): string {
  return d.dialect === 'iot' ? describeArnDecision(d, r) : describeGreengrassDecision(d, r);
}

function describeGreengrassDecision(d: Decision, r: DescribedRequest): string {
  const who = `thing \`${r.thingName}\``;
  const op = r.operation;
  switch (d.reason) {
    case 'ALLOWED_BY_STATEMENT':
      return `allowed: statement \`${d.statement}\` of policy \`${d.policy}\` (group \`${d.group}\`) allows \`${op}\` on \`${d.resourcePattern}\`, and no statement denies it`;
    case 'DENIED_BY_STATEMENT':
      return `denied: statement \`${d.statement}\` of policy \`${d.policy}\` (group \`${d.group}\`) denies \`${op}\` on \`${d.resourcePattern}\`; a deny overrides every allow`;
    case 'NO_GROUP_SELECTS_THING':
      return r.thingName === '' ? 'denied: the request has no thing name' : `denied: no device group's selection rule selects ${who}`;
    case 'NO_MATCHING_STATEMENT':
      return `denied: ${r.groups} group${r.groups === 1 ? '' : 's'} select${r.groups === 1 ? 's' : ''} ${who}, but no statement allows \`${op}\` on \`${r.resource}\``;
    case 'UNKNOWN_OPERATION':
      return `denied: \`${op}\` is not an operation Gatehouse authorizes (mqtt:connect, mqtt:publish, mqtt:subscribe)`;
    case 'RESOURCE_TYPE_MISMATCH':
      return `denied: \`${op}\` is checked on \`${RESOURCE_PREFIX[op as keyof typeof RESOURCE_PREFIX]}…\` resources, not \`${r.resource}\``;
    case 'MALFORMED_RESOURCE':
      return `denied: \`${r.resource}\` is not a well-formed resource`;
    case 'IOT_POLICY_NOT_FOUND':
      return `denied: an AWS IoT policy named for ${who} does not exist, and it might have denied \`${op}\``;
  }
}

function describeArnDecision(d: Decision, r: DescribedRequest): string {
  const missing = r.missingPolicies;
  switch (d.reason) {
    case 'ALLOWED_BY_STATEMENT':
      return `Allowed by statement ${d.statement ?? '?'} of AWS IoT policy ${d.policy ?? '?'}${d.action !== undefined ? ` (${d.action})` : ''}.`;
    case 'DENIED_BY_STATEMENT':
      return `Denied by statement ${d.statement ?? '?'} of AWS IoT policy ${d.policy ?? '?'}${d.action !== undefined ? ` (${d.action})` : ''}: an explicit Deny wins over every Allow.`;
    case 'IOT_POLICY_NOT_FOUND':
      return `Denied: the connection names AWS IoT ${missing.length === 1 ? 'policy' : 'policies'} ${missing.join(', ')} that ${missing.length === 1 ? 'does' : 'do'} not exist, so nothing it might deny can be allowed.`;
    default:
      return 'Denied: no statement of the policies in force allows the request.';
  }
}
