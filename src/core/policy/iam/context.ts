/**
 * The request context of the IAM identity-policy dialect: everything a condition key
 * or a policy variable of a management call can name. The same shape is what
 * `gatehouse policy simulate --dialect iam --context FILE` reads, so a decision the
 * management API made can be replayed from its inputs alone.
 *
 * A field that is absent is a key not present in the request: AWS's rules for missing
 * keys (a condition on a missing key does not match, except with `...IfExists` and
 * `Null`) apply to it. Keys and their meaning:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
 */

/** The caller, as the global `aws:` keys and `${aws:…}` variables see it. */
export interface IamPrincipalContext {
  /** `aws:username` (IAM users only; absent for role sessions). */
  readonly username?: string;
  /** `aws:userid`: the user's unique id, or `ROLEID:session-name` for a role session. */
  readonly userid?: string;
  /** `aws:PrincipalArn` / `aws:PrincipalType` (`User`, `AssumedRole`, …). */
  readonly arn?: string;
  readonly type?: string;
  /** `aws:PrincipalAccount`. */
  readonly account?: string;
  /** `aws:PrincipalTag/<key>` (keys compare case-insensitively). */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface IamContext {
  /** `aws:CurrentTime`, ISO 8601; the evaluator's clock when absent. */
  readonly currentTime?: string;
  /** `aws:EpochTime`, seconds; derived from the evaluation time when absent. */
  readonly epochTime?: number;
  /** `aws:SecureTransport`. */
  readonly secureTransport?: boolean;
  /** `aws:SourceIp`. */
  readonly sourceIp?: string;
  /** `aws:UserAgent`. */
  readonly userAgent?: string;
  readonly principal?: IamPrincipalContext;
  /** `aws:RequestTag/<key>`: tags the request sets. */
  readonly requestTags?: Readonly<Record<string, string>>;
  /** `aws:TagKeys`: the tag keys of the request. */
  readonly tagKeys?: readonly string[];
  /** `aws:ResourceTag/<key>`: tags of the resource acted on (AWS IoT documents no service-specific `iot:ResourceTag/...` key). */
  readonly resourceTags?: Readonly<Record<string, string>>;
  /** `aws:MultiFactorAuthPresent`, `aws:MultiFactorAuthAge` (seconds). Gatehouse never sets them itself. */
  readonly multiFactorAuthPresent?: boolean;
  readonly multiFactorAuthAge?: number;
  /** `aws:RequestedRegion`. */
  readonly requestedRegion?: string;
}

/** One request: an action (`iot:CreateThing`) on a resource ARN, or `*` for actions that take none (list operations). */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
}
