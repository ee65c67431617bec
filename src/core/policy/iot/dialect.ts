/**
 * What differs between the policy dialects that share this engine: AWS IoT Core policies
 * (the descriptor below) and IAM identity-based policies (`../iam/dialect.ts`). The
 * grammar, the condition operators, ARN matching, policy variables and the evaluation
 * order are one implementation; a dialect supplies only its known actions, its size
 * limit, the few grammar rules that differ, the values its condition keys and variables
 * take in a request context, and the wording of its messages.
 */
import { IOT_ACTION_CATALOG, type ActionCatalog } from './actions.js';
import type { IotContext, IotDeployment } from './context.js';
import { isKnownConditionKey, isKnownVariable, resolveKey, resolveVariable } from './keys.js';

/** Grammar rules that hold in one dialect and not the other. */
export interface DialectGrammar {
  /** The top-level `Id` element may appear (IAM: "not in identity-based policies"). */
  readonly idAllowed: boolean;
  /** `Sid` holds only ASCII letters and digits and is unique within the document. */
  readonly strictSid: boolean;
  /** The document holds only tab, line feed, carriage return and U+0020 to U+00FF. */
  readonly latin1Only: boolean;
}

/** Dialect-specific wording of messages and fixes. */
export interface DialectTexts {
  /** Who imposes the size limit, in "… accepts at most N". */
  readonly limitOwner: string;
  /** An example action for fixes (`iot:Connect`). */
  readonly exampleAction: string;
  /** The service prefix named when an action has none (`iot`). */
  readonly examplePrefix: string;
  readonly actionFix: string;
  readonly principalMessage: (element: string) => string;
  readonly principalFix: (element: string) => string;
  readonly unknownAction: (action: string) => string;
  readonly unknownActionFix: string;
  readonly variableFix: string;
  readonly unknownKey: (key: string) => string;
  readonly unknownKeyFix: string;
}

/**
 * One dialect. `C` is its request context, `E` what else its keys need (IoT: the
 * deployment, to build the ARN of `iot:LastWillTopic`).
 */
export interface PolicyDialect<C, E> {
  /** First word of every problem code the dialect reports: `IOT_POLICY_SYNTAX`, `IAM_POLICY_SYNTAX`. */
  readonly codePrefix: 'IOT' | 'IAM';
  readonly actions: ActionCatalog;
  /** Most characters a document may have, white space excluded. */
  readonly maxCharacters: number;
  readonly grammar: DialectGrammar;
  readonly texts: DialectTexts;
  /** The evaluation time (epoch ms): the context's own time when it fixes one, else `clock`. */
  evaluationTime(ctx: C, clock: number): number;
  /** The request's values for a condition key; undefined when absent. `now`: epoch ms. */
  resolveKey(ctx: C, key: string, env: E, now: number | undefined): readonly string[] | undefined;
  /** The text a `${name}` variable stands for; undefined when unresolved. */
  resolveVariable(ctx: C, name: string, env: E, now: number | undefined): string | undefined;
  /** Whether a variable can ever resolve (an unknown one is a warning at load). */
  isKnownVariable(name: string): boolean;
  /** Whether a condition key can ever be present (an unknown one is a warning at load). */
  isKnownConditionKey(name: string): boolean;
}

/**
 * AWS IoT Core's CreatePolicy accepts at most 2048 characters of policy document, white
 * space excluded (https://docs.aws.amazon.com/iot/latest/apireference/API_CreatePolicy.html).
 */
export const IOT_MAX_POLICY_CHARACTERS = 2048;

export const IOT_DIALECT: PolicyDialect<IotContext, IotDeployment> = Object.freeze({
  codePrefix: 'IOT',
  actions: IOT_ACTION_CATALOG,
  maxCharacters: IOT_MAX_POLICY_CHARACTERS,
  grammar: Object.freeze({ idAllowed: true, strictSid: false, latin1Only: false }),
  texts: Object.freeze({
    limitOwner: 'AWS IoT',
    exampleAction: 'iot:Connect',
    examplePrefix: 'iot',
    actionFix: 'write `iot:<Action>` (one colon), e.g. `iot:Publish`, or `*`',
    principalMessage: (k: string) => `\`${k}\` cannot appear in an AWS IoT policy: the policy applies to the certificates and thing groups it is attached to`,
    principalFix: (k: string) => `remove \`${k}\` and attach the policy to the principal instead`,
    unknownAction: (a: string) => `action \`${a}\` names no AWS IoT action Gatehouse knows; it never matches a Gatehouse request`,
    unknownActionFix: 'check the spelling against the list of AWS IoT policy actions (case does not matter)',
    variableFix: 'check the variable name (e.g. `${iot:ClientId}`, `${iot:Connection.Thing.ThingName}`)',
    unknownKey: (key: string) => `condition key \`${key}\` is never present at the edge: positive operators on it are false, negated ones true`,
    unknownKeyFix: 'check the key name (e.g. `iot:ClientId`, `iot:Connection.Thing.Attributes[name]`, `aws:SourceIp`); a Deny must not depend on a key that is never there',
  }),
  evaluationTime: (ctx: IotContext, clock: number) => {
    const fixed = ctx.currentTime !== undefined ? Date.parse(ctx.currentTime) : NaN;
    return Number.isNaN(fixed) ? clock : fixed;
  },
  resolveKey: (ctx: IotContext, key: string, env: IotDeployment, now: number | undefined) => resolveKey(ctx, key, env, now),
  resolveVariable: (ctx: IotContext, name: string, env: IotDeployment, now: number | undefined) => resolveVariable(ctx, name, env, now),
  isKnownVariable,
  isKnownConditionKey,
});
