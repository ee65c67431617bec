/**
 * The IAM identity-policy dialect: what IAM policies guarding the management API have
 * that AWS IoT Core policies do not. Everything else (grammar, operators, ARN matching,
 * variables, the evaluation order) is the shared engine of `../iot/`.
 *
 * - Size: a managed policy holds at most 6,144 characters, white space excluded
 *   (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html), and
 *   only tab, line feed, carriage return and U+0020 to U+00FF (same page).
 * - No `Principal`/`NotPrincipal`: "You cannot use the Principal element in an
 *   identity-based policy"
 *   (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
 * - No `Id`: it "is allowed in resource-based policies, but not in identity-based
 *   policies" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_id.html).
 * - `Sid`: ASCII letters and digits, unique within the policy
 *   (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html).
 * - Resources: `*` or the ARN of any service; region and account may be empty
 *   (`arn:aws:iam::123456789012:user/alice`).
 */
import type { PolicyDialect } from '../iot/dialect.js';
import { IAM_ACTION_CATALOG } from './actions.js';
import type { IamContext } from './context.js';
import { iamEvaluationTime, isKnownIamConditionKey, isKnownIamVariable, resolveIamKey, resolveIamVariable } from './keys.js';

/** IAM's quota for a managed policy, in characters besides white space. */
export const IAM_MAX_POLICY_CHARACTERS = 6144;

export const IAM_DIALECT: PolicyDialect<IamContext, undefined> = Object.freeze({
  codePrefix: 'IAM',
  actions: IAM_ACTION_CATALOG,
  maxCharacters: IAM_MAX_POLICY_CHARACTERS,
  grammar: Object.freeze({ idAllowed: false, strictSid: true, latin1Only: true }),
  texts: Object.freeze({
    limitOwner: 'IAM (managed policy)',
    exampleAction: 'iot:ListThings',
    examplePrefix: 'iot',
    actionFix: 'write `<service>:<Action>` (one colon), e.g. `iot:CreateThing`, `gatehouse:ListSessions`, or `*`',
    principalMessage: (k: string) => `\`${k}\` cannot appear in an identity-based policy: the policy applies to the users and roles it is attached to`,
    principalFix: (k: string) => `remove \`${k}\` and attach the policy to the user or role instead`,
    unknownAction: (a: string) => `action \`${a}\` names no action of the management API; it never matches a request`,
    unknownActionFix: 'check the spelling against the management actions in docs/policies.md (case does not matter)',
    variableFix: 'check the variable name (e.g. `${aws:username}`, `${aws:PrincipalTag/team}`)',
    unknownKey: (key: string) => `condition key \`${key}\` is never present in a management call: positive operators on it are false, negated ones true`,
    unknownKeyFix: 'check the key name (e.g. `aws:SourceIp`, `aws:ResourceTag/env`, `aws:PrincipalTag/team`); a Deny must not depend on a key that is never there',
  }),
  evaluationTime: iamEvaluationTime,
  resolveKey: (ctx: IamContext, key: string, _env: undefined, now: number | undefined) => resolveIamKey(ctx, key, now),
  resolveVariable: (ctx: IamContext, name: string, _env: undefined, now: number | undefined) => resolveIamVariable(ctx, name, now),
  isKnownVariable: isKnownIamVariable,
  isKnownConditionKey: isKnownIamConditionKey,
});
