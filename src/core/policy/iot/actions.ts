/**
 * The actions of AWS IoT Core policies and the resource each is checked against
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html,
 * https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html).
 *
 * Action names compare case-insensitively, with `*` and `?` wildcards
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
 * The job execution actions exist under both the `iot:` prefix (the policy actions page)
 * and the `iotjobsdata:` prefix (the jobs data-plane page); they are distinct strings,
 * so `iot:*` does not grant `iotjobsdata:DescribeJobExecution`.
 */
import { fastMatch, fastPattern, freeTokens, type FastPattern } from './glob.js';

/** Resource type of an action's request ARN (`arn:…:iot:<region>:<account>:<type>/<name>`), or `*`. */
export type IotResourceType = 'client' | 'topic' | 'topicfilter' | 'thing' | 'rolealias' | '*';

export const IOT_ACTIONS: Readonly<Record<string, IotResourceType>> = {
  'iot:Connect': 'client',
  'iot:Publish': 'topic',
  'iot:Subscribe': 'topicfilter',
  'iot:Receive': 'topic',
  'iot:RetainPublish': 'topic',
  'iot:GetRetainedMessage': 'topic',
  'iot:ListRetainedMessages': '*',
  'iot:DeleteConnection': 'client',
  'iot:GetThingShadow': 'thing',
  'iot:UpdateThingShadow': 'thing',
  'iot:DeleteThingShadow': 'thing',
  'iot:ListNamedShadowsForThing': '*',
  'iot:DescribeJobExecution': 'thing',
  'iot:GetPendingJobExecutions': 'thing',
  'iot:StartNextPendingJobExecution': 'thing',
  'iot:UpdateJobExecution': 'thing',
  'iotjobsdata:DescribeJobExecution': 'thing',
  'iotjobsdata:GetPendingJobExecutions': 'thing',
  'iotjobsdata:StartNextPendingJobExecution': 'thing',
  'iotjobsdata:UpdateJobExecution': 'thing',
  'iot:AssumeRoleWithCertificate': 'rolealias',
};

/** Every known action, lower-cased (the key of the per-action statement index). */
export const KNOWN_ACTIONS: readonly string[] = Object.keys(IOT_ACTIONS).map((a) => a.toLowerCase());

const CANONICAL = new Map(Object.keys(IOT_ACTIONS).map((a) => [a.toLowerCase(), a]));

/** The documented spelling of a known action (`IOT:PUBLISH` → `iot:Publish`), or undefined. */
export function canonicalAction(action: string): string | undefined {
  return CANONICAL.get(action.toLowerCase());
}

/** A compiled action pattern; matching is case-insensitive. */
export interface ActionPattern {
  readonly text: string;
  readonly fast: FastPattern;
  /** One bit per known action it matches: bit i for KNOWN_ACTIONS[i]. */
  readonly mask: number;
}

/**
 * Compiled patterns by text. Fleets write the same few action values thousands of
 * times; a pattern is immutable, so one object serves them all. Bounded: it starts
 * over when full.
 */
const PATTERNS = new Map<string, ActionPattern>();
const PATTERN_CACHE_LIMIT = 4096;

function fastActionPattern(lower: string): FastPattern {
  if (!lower.includes('?')) {
    const star = lower.indexOf('*');
    if (star < 0) return { kind: 'exact', text: lower };
    if (lower === '*') return { kind: 'all' };
    if (star === lower.length - 1) return { kind: 'prefix', text: lower.slice(0, -1) };
  }
  return fastPattern(freeTokens(lower));
}

export function compileActionPattern(text: string): ActionPattern {
  let p = PATTERNS.get(text);
  if (p !== undefined) return p;
  const fast = fastActionPattern(text.toLowerCase());
  let mask = 0;
  for (let i = 0; i < KNOWN_ACTIONS.length; i++) if (fastMatch(fast, KNOWN_ACTIONS[i]!)) mask |= 1 << i;
  p = Object.freeze({ text, fast, mask });
  if (PATTERNS.size >= PATTERN_CACHE_LIMIT) PATTERNS.clear();
  PATTERNS.set(text, p);
  return p;
}

/** `action` must already be lower-cased. */
export function actionMatches(p: ActionPattern, lowerAction: string): boolean {
  return fastMatch(p.fast, lowerAction);
}

/**
 * Grammar of one action value: `*`, or `prefix:name` with exactly one colon and both
 * parts non-empty. Returns a reason when malformed.
 */
export function actionSyntaxProblem(text: string): string | undefined {
  if (text === '*') return undefined;
  const colon = text.indexOf(':');
  if (colon < 0) return 'has no service prefix (`iot:`)';
  if (text.indexOf(':', colon + 1) >= 0) return 'has more than one colon';
  if (colon === 0) return 'has an empty service prefix';
  if (colon === text.length - 1) return 'has an empty action name';
  return undefined;
}

/** True when an action value (wildcards allowed) matches no documented action (a warning, not an error). */
export function isUnknownAction(text: string): boolean {
  return compileActionPattern(text).mask === 0;
}
