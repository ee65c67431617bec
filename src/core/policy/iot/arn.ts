/**
 * Resource ARNs: the ARN of a local request, and the matching of policy `Resource`
 * patterns against it
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
 *
 * Matching is case-sensitive. `*` matches any run of characters (none included, `/`
 * included) and `?` one character. The five colon-separated segments before the
 * resource part are matched one by one: a wildcard stays in its segment, except a `*`
 * ending a segment, which may run past colons. Everything after the fifth colon is one
 * resource part: client IDs and topics may contain `:`. MQTT `+`, `#` and `$` are plain
 * characters (https://docs.aws.amazon.com/iot/latest/developerguide/pub-sub-policy.html).
 */
import type { IotDeployment } from './context.js';
import type { IotResourceType } from './actions.js';
import { ANY, arnTokens, fastMatch, fastPattern, globMatch, isLiteral, literalTokens, type FastPattern } from './glob.js';
import { parseTemplate, type TemplatePart } from './variables.js';

/** `arn:<partition>:iot:<region>:<account>:<type>/<name>` for a local resource. */
export function iotArn(deployment: IotDeployment, type: Exclude<IotResourceType, '*'>, name: string): string {
  return `arn:${deployment.partition}:iot:${deployment.region}:${deployment.accountId}:${type}/${name}`;
}

/** A compiled `Resource`/`NotResource` entry. */
export type ResourcePattern =
  | { readonly text: string; readonly kind: 'static'; readonly fast: FastPattern }
  | {
      readonly text: string;
      readonly kind: 'template';
      readonly parts: readonly CompiledPart[];
      /**
       * Set when the template has no wildcard but perhaps a final `*`: the text between
       * variables as plain strings, matched without building a pattern.
       */
      readonly simple: { readonly pieces: readonly (string | { readonly variable: string })[]; readonly trailingAny: boolean } | undefined;
    };

type CompiledPart = { readonly tokens: readonly number[] } | { readonly variable: string };

export interface ResourceProblem {
  readonly code: 'IOT_POLICY_RESOURCE_INVALID' | 'IOT_POLICY_RESOURCE_SERVICE_WILDCARD' | 'IOT_POLICY_VARIABLE_POSITION' | 'IOT_POLICY_VARIABLE_MALFORMED';
  readonly message: string;
  readonly fix: string;
}

/** Index of the `n`-th colon (1-based) of `s`, or -1. */
function nthColon(s: string, n: number): number {
  let i = -1;
  for (let k = 0; k < n; k++) {
    i = s.indexOf(':', i + 1);
    if (i < 0) return -1;
  }
  return i;
}

/** Compiles one resource value, or says why it is invalid. */
export function compileResourcePattern(text: string, variablesAllowed: boolean): ResourcePattern | ResourceProblem {
  if (text !== '*' && !text.startsWith('arn:')) {
    return { code: 'IOT_POLICY_RESOURCE_INVALID', message: `resource \`${text}\` is neither \`*\` nor an ARN`, fix: 'write an ARN such as `arn:aws:iot:us-east-1:123456789012:topic/sensors/*`, or `*`' };
  }
  if (text !== '*') {
    const c2 = nthColon(text, 2);
    const c3 = nthColon(text, 3);
    const service = c2 < 0 ? '' : text.slice(c2 + 1, c3 < 0 ? undefined : c3);
    if (c2 < 0 || service === '') {
      return { code: 'IOT_POLICY_RESOURCE_INVALID', message: `resource \`${text}\` has no service segment`, fix: 'write `arn:<partition>:iot:<region>:<account>:<type>/<name>`' };
    }
    if (/[*?]/.test(service)) {
      return { code: 'IOT_POLICY_RESOURCE_SERVICE_WILDCARD', message: `resource \`${text}\` has a wildcard in its service segment \`${service}\``, fix: 'name the service (`iot`); wildcards are allowed in the other segments' };
    }
  }
  // Most resources have no wildcard but perhaps one final `*`: no tokens needed.
  const star = text.indexOf('*');
  if (!text.includes('?') && (!variablesAllowed || !text.includes('${')) && (star < 0 || star === text.length - 1)) {
    if (text === '*') return { text, kind: 'static', fast: { kind: 'all' } };
    return { text, kind: 'static', fast: star < 0 ? { kind: 'exact', text } : { kind: 'prefix', text: text.slice(0, -1) } };
  }
  const parsed = parseTemplate(text, variablesAllowed);
  if (!parsed.ok) {
    return { code: 'IOT_POLICY_VARIABLE_MALFORMED', message: `resource \`${text}\`: ${parsed.reason}`, fix: 'write variables as `${iot:ClientId}`, and `${$}` for a literal `$` before `{`' };
  }
  const fifth = nthColon(text, 5);
  const firstVar = parsed.parts.find((p): p is Extract<TemplatePart, { kind: 'variable' }> => p.kind === 'variable');
  if (firstVar && (fifth < 0 || firstVar.offset < fifth)) {
    return { code: 'IOT_POLICY_VARIABLE_POSITION', message: `resource \`${text}\` uses \`\${${firstVar.name}}\` before the resource part (after the fifth colon)`, fix: 'use variables only in the resource part, e.g. `arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}`' };
  }
  // Tokenize, counting the pattern's own colons so that segment wildcards are confined.
  let colons = 0;
  const compiled: CompiledPart[] = [];
  let pending: number[] = [];
  for (const p of parsed.parts) {
    if (p.kind === 'text') {
      colons = arnTokens(p.text, colons, pending).colons;
    } else if (p.kind === 'literal') {
      literalTokens(p.text, pending);
    } else {
      compiled.push({ tokens: pending });
      pending = [];
      compiled.push({ variable: p.name });
    }
  }
  compiled.push({ tokens: pending });
  if (!firstVar) return { text, kind: 'static', fast: fastPattern(pending) };
  const parts = compiled.filter((c) => !('tokens' in c) || c.tokens.length > 0);
  const simple = simpleForm(parts);
  // The simple form decides alone; the tokens are kept only for the general matcher.
  // One object shape for both forms (a spread would give each pattern its own hidden class).
  return simple !== undefined ? { text, kind: 'template', parts: NO_PARTS, simple } : { text, kind: 'template', parts, simple: undefined };
}

const NO_PARTS: readonly CompiledPart[] = Object.freeze([]);

type SimpleForm = NonNullable<Extract<ResourcePattern, { kind: 'template' }>['simple']>;

function simpleForm(parts: readonly CompiledPart[]): SimpleForm | undefined {
  const pieces: (string | { variable: string })[] = [];
  let trailingAny = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if ('variable' in part) {
      pieces.push(part);
      continue;
    }
    let tokens = part.tokens;
    if (i === parts.length - 1 && tokens[tokens.length - 1] === ANY) {
      trailingAny = true;
      tokens = tokens.slice(0, -1);
    }
    if (!isLiteral(tokens)) return undefined;
    if (tokens.length > 0) pieces.push(String.fromCharCode(...tokens));
  }
  return { pieces: pieces.slice(), trailingAny };
}

export function isResourceProblem(x: ResourcePattern | ResourceProblem): x is ResourceProblem {
  return 'code' in x;
}

/**
 * Whether `arn` matches the pattern. `resolve` gives a variable's text; an unresolved
 * variable makes the entry match nothing. Substituted text is literal.
 */
export function resourceMatches(p: ResourcePattern, arn: string, resolve: (name: string) => string | undefined): boolean {
  if (p.kind === 'static') return fastMatch(p.fast, arn);
  if (p.simple) {
    let pos = 0;
    for (const piece of p.simple.pieces) {
      const text = typeof piece === 'string' ? piece : resolve(piece.variable);
      if (text === undefined || !arn.startsWith(text, pos)) return false;
      pos += text.length;
    }
    return p.simple.trailingAny || pos === arn.length;
  }
  const tokens: number[] = [];
  for (const part of p.parts) {
    if ('variable' in part) {
      const v = resolve(part.variable);
      if (v === undefined) return false;
      literalTokens(v, tokens);
    } else {
      for (const t of part.tokens) tokens.push(t);
    }
  }
  return isLiteral(tokens) ? tokens.length === arn.length && globMatch(tokens, arn) : globMatch(tokens, arn);
}

/** The pattern with its variables substituted, for explanations (undefined when unresolved). */
export function resolvedText(p: ResourcePattern, resolve: (name: string) => string | undefined): string | undefined {
  if (p.kind === 'static') return p.text;
  if (p.simple) {
    let out = '';
    for (const piece of p.simple.pieces) {
      const text = typeof piece === 'string' ? piece : resolve(piece.variable);
      if (text === undefined) return undefined;
      out += text;
    }
    return p.simple.trailingAny ? `${out}*` : out;
  }
  let out = '';
  for (const part of p.parts) {
    if ('variable' in part) {
      const v = resolve(part.variable);
      if (v === undefined) return undefined;
      out += v;
    } else {
      out += String.fromCharCode(...part.tokens.map((t) => (t === -1 || t === -2 ? 42 : t === -3 || t === -4 ? 63 : t)));
    }
  }
  return out;
}
