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

/**
 * The actions one dialect knows, with the per-action bit a statement's action mask
 * holds for each: IoT's policy actions here, the management actions of the IAM
 * dialect in `../iam/actions.ts`. Action names compare case-insensitively, with `*` and
 * `?` wildcards. A mask is one 32-bit word per 32 known actions (IoT's fit in one).
 */
export class ActionCatalog {
  /** Every known action, lower-cased; index i is bit (i & 31) of mask word (i >>> 5). */
  readonly known: readonly string[];
  /** Mask words per statement. */
  readonly words: number;
  /** Every known action's bit set, per word (the mask of `NotAction` naming nothing known). */
  readonly all: readonly number[];
  readonly #canonical: ReadonlyMap<string, string>;
  readonly #index: ReadonlyMap<string, number>;
  /**
   * Compiled patterns by text. Fleets write the same few action values thousands of
   * times; a pattern is immutable, so one object serves them all. Bounded: it starts
   * over when full.
   */
  readonly #patterns = new Map<string, ActionPattern>();

  constructor(actions: readonly string[]) {
    this.known = Object.freeze(actions.map((a) => a.toLowerCase()));
    this.words = Math.max(1, Math.ceil(this.known.length / 32));
    const all = new Array<number>(this.words).fill(0);
    for (let i = 0; i < this.known.length; i++) all[i >>> 5]! |= 1 << (i & 31);
    this.all = Object.freeze(all);
    this.#canonical = new Map(actions.map((a) => [a.toLowerCase(), a]));
    this.#index = new Map(this.known.map((a, i) => [a, i]));
  }

  /** The documented spelling of a known action (`IOT:PUBLISH` → `iot:Publish`), or undefined. */
  canonical(action: string): string | undefined {
    return this.#canonical.get(action.toLowerCase());
  }

  /** The index of a known action (lower-cased), or undefined. */
  indexOf(lowerAction: string): number | undefined {
    return this.#index.get(lowerAction);
  }

  compile(text: string): ActionPattern {
    let p = this.#patterns.get(text);
    if (p !== undefined) return p;
    const fast = fastActionPattern(text.toLowerCase());
    const mask = new Array<number>(this.words).fill(0);
    for (let i = 0; i < this.known.length; i++) if (fastMatch(fast, this.known[i]!)) mask[i >>> 5]! |= 1 << (i & 31);
    p = Object.freeze({ text, fast, mask: mask[0]!, words: Object.freeze(mask) });
    if (this.#patterns.size >= PATTERN_CACHE_LIMIT) this.#patterns.clear();
    this.#patterns.set(text, p);
    return p;
  }

  /** True when an action value (wildcards allowed) matches no known action (a warning, not an error). */
  isUnknown(text: string): boolean {
    return this.compile(text).words.every((w) => w === 0);
  }
}

export const IOT_ACTION_CATALOG = new ActionCatalog(Object.keys(IOT_ACTIONS));

/** Every known action, lower-cased (the key of the per-action statement index). */
export const KNOWN_ACTIONS: readonly string[] = IOT_ACTION_CATALOG.known;

/** The documented spelling of a known action (`IOT:PUBLISH` → `iot:Publish`), or undefined. */
export function canonicalAction(action: string): string | undefined {
  return IOT_ACTION_CATALOG.canonical(action);
}

/** A compiled action pattern; matching is case-insensitive. */
export interface ActionPattern {
  readonly text: string;
  readonly fast: FastPattern;
  /** The first mask word: bit i for known action i (all of IoT's actions). */
  readonly mask: number;
  /** One bit per known action it matches: bit (i & 31) of word (i >>> 5) for known action i. */
  readonly words: readonly number[];
}

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

/** An IoT action pattern (its mask over IoT's actions). */
export function compileActionPattern(text: string): ActionPattern {
  return IOT_ACTION_CATALOG.compile(text);
}

/** `action` must already be lower-cased. */
export function actionMatches(p: ActionPattern, lowerAction: string): boolean {
  return fastMatch(p.fast, lowerAction);
}

/**
 * Grammar of one action value: `*`, or `prefix:name` with exactly one colon and both
 * parts non-empty. Returns a reason when malformed.
 */
export function actionSyntaxProblem(text: string, examplePrefix = 'iot'): string | undefined {
  if (text === '*') return undefined;
  const colon = text.indexOf(':');
  if (colon < 0) return `has no service prefix (\`${examplePrefix}:\`)`;
  if (text.indexOf(':', colon + 1) >= 0) return 'has more than one colon';
  if (colon === 0) return 'has an empty service prefix';
  if (colon === text.length - 1) return 'has an empty action name';
  return undefined;
}

/** True when an action value (wildcards allowed) matches no documented IoT action (a warning, not an error). */
export function isUnknownAction(text: string): boolean {
  return IOT_ACTION_CATALOG.isUnknown(text);
}
