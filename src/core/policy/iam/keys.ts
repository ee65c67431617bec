/**
 * The values the global condition keys and policy variables of IAM identity policies
 * take for one management call (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html).
 *
 * - Key names compare case-insensitively (`AWS:SourceIP` is `aws:SourceIp`), and so do
 *   the tag keys inside `aws:PrincipalTag/…`, `aws:RequestTag/…` and `aws:ResourceTag/…`
 *   (a policy naming `aws:ResourceTag/Env` reads the tag `env`).
 * - A field absent from the context is a key not present in the request; `aws:TagKeys`
 *   is multi-valued (ForAnyValue/ForAllValues), so it never substitutes a variable.
 * - `aws:CurrentTime` and `aws:EpochTime` are always present: the context's values, else
 *   the evaluation time.
 * - A variable may carry a default, `${aws:PrincipalTag/team, 'company-wide'}`, used when
 *   the key is absent.
 *
 * The AWS IoT service authorization reference lists only the global `aws:ResourceTag/…`
 * for tags (no `iot:ResourceTag/…`), so no service-specific tag key is read.
 */
import type { IamContext } from './context.js';

function one(v: string | undefined): readonly string[] | undefined {
  return v === undefined ? undefined : [v];
}

/** A tag's value, its key compared without regard to case (an exact spelling first). */
function tag(tags: Readonly<Record<string, string>> | undefined, key: string): readonly string[] | undefined {
  if (!tags || key === '') return undefined;
  if (Object.prototype.hasOwnProperty.call(tags, key)) return one(tags[key]);
  const lower = key.toLowerCase();
  for (const k of Object.keys(tags)) if (k.toLowerCase() === lower) return one(tags[k]);
  return undefined;
}

const TAG_FAMILIES = ['aws:principaltag/', 'aws:requesttag/', 'aws:resourcetag/'] as const;

/** Keys with one value (or none), by lower-cased name. */
const SINGLE = [
  'aws:currenttime', 'aws:epochtime', 'aws:securetransport', 'aws:sourceip', 'aws:useragent', 'aws:username', 'aws:userid',
  'aws:principalarn', 'aws:principaltype', 'aws:principalaccount', 'aws:multifactorauthpresent', 'aws:multifactorauthage', 'aws:requestedregion',
];
const MULTI = ['aws:tagkeys'];

/** The evaluation time: `currentTime`, else `epochTime`, else the clock. */
export function iamEvaluationTime(ctx: IamContext, clock: number): number {
  if (ctx.currentTime !== undefined) {
    const t = Date.parse(ctx.currentTime);
    if (!Number.isNaN(t)) return t;
  }
  if (ctx.epochTime !== undefined && Number.isFinite(ctx.epochTime)) return ctx.epochTime * 1000;
  return clock;
}

/** The request's values for a condition key, undefined when it is not present. `now`: epoch ms. */
export function resolveIamKey(ctx: IamContext, key: string, now: number | undefined): readonly string[] | undefined {
  const lower = key.toLowerCase();
  const p = ctx.principal;
  switch (lower) {
    case 'aws:currenttime':
      if (ctx.currentTime !== undefined) return [ctx.currentTime];
      return now === undefined ? undefined : [new Date(now).toISOString()];
    case 'aws:epochtime':
      if (ctx.epochTime !== undefined) return [String(ctx.epochTime)];
      return now === undefined ? undefined : [String(Math.floor(now / 1000))];
    case 'aws:securetransport':
      return ctx.secureTransport === undefined ? undefined : [String(ctx.secureTransport)];
    case 'aws:sourceip':
      return one(ctx.sourceIp);
    case 'aws:useragent':
      return one(ctx.userAgent);
    case 'aws:username':
      return one(p?.username);
    case 'aws:userid':
      return one(p?.userid);
    case 'aws:principalarn':
      return one(p?.arn);
    case 'aws:principaltype':
      return one(p?.type);
    case 'aws:principalaccount':
      return one(p?.account);
    case 'aws:tagkeys':
      return ctx.tagKeys;
    case 'aws:multifactorauthpresent':
      return ctx.multiFactorAuthPresent === undefined ? undefined : [String(ctx.multiFactorAuthPresent)];
    case 'aws:multifactorauthage':
      return ctx.multiFactorAuthAge === undefined ? undefined : [String(ctx.multiFactorAuthAge)];
    case 'aws:requestedregion':
      return one(ctx.requestedRegion);
  }
  if (lower.startsWith('aws:principaltag/')) return tag(p?.tags, key.slice('aws:principaltag/'.length));
  if (lower.startsWith('aws:requesttag/')) return tag(ctx.requestTags, key.slice('aws:requesttag/'.length));
  if (lower.startsWith('aws:resourcetag/')) return tag(ctx.resourceTags, key.slice('aws:resourcetag/'.length));
  return undefined;
}

/** `name, 'default'` → [name, default]; a name without a default → [name, undefined]. */
const WITH_DEFAULT = /^(.*?), '([^']*)'$/;

/**
 * The text a `${name}` variable stands for: a single-valued key's value, or the
 * variable's default when the key is absent; undefined when unresolved.
 */
export function resolveIamVariable(ctx: IamContext, name: string, now: number | undefined): string | undefined {
  const m = WITH_DEFAULT.exec(name);
  const key = m ? m[1]! : name;
  if (MULTI.includes(key.toLowerCase())) return undefined;
  const values = resolveIamKey(ctx, key, now);
  if (values && values.length === 1) return values[0];
  return values === undefined && m ? m[2] : undefined;
}

/** Whether a condition key is one the management API can ever give a value. */
export function isKnownIamConditionKey(name: string): boolean {
  const lower = name.toLowerCase();
  if (SINGLE.includes(lower) || MULTI.includes(lower)) return true;
  return TAG_FAMILIES.some((f) => lower.startsWith(f) && lower.length > f.length);
}

/** Whether a variable name (its default, if any, aside) can ever resolve. */
export function isKnownIamVariable(name: string): boolean {
  const m = WITH_DEFAULT.exec(name);
  const key = (m ? m[1]! : name).toLowerCase();
  return !MULTI.includes(key) && isKnownIamConditionKey(key);
}
