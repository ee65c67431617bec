/**
 * The inputs of `gatehouse policy simulate --dialect iam`: the request context of a
 * management call (the IamContext shape, field by field) and request lines
 * `{"action", "resource"}`, where the resource is an ARN, or `*` for an action that
 * names no resource (the list operations).
 */
import type { IamContext, IamRequest } from '../core/index.js';
import { forEachJsonLine } from './json-lines.js';
import { CliError, EXIT } from './output.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const CONTEXT_KEYS = [
  'currentTime', 'epochTime', 'secureTransport', 'sourceIp', 'userAgent', 'principal', 'requestTags', 'tagKeys', 'resourceTags',
  'multiFactorAuthPresent', 'multiFactorAuthAge', 'requestedRegion',
];
const PRINCIPAL_KEYS = ['username', 'userid', 'arn', 'type', 'account', 'tags'];

/** `--context` for the IAM dialect: validated field by field; every defect is named with its JSON path. */
export function parseIamContext(text: string): IamContext {
  const problems: string[] = [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    problems.push(`$: not valid JSON (${(e as Error).message})`);
  }
  if (problems.length === 0 && !isObject(v)) problems.push('$: must be a JSON object');
  if (problems.length === 0 && isObject(v)) {
    const str = (path: string, x: unknown): void => {
      if (typeof x !== 'string') problems.push(`${path}: must be a string`);
    };
    const bool = (path: string, x: unknown): void => {
      if (typeof x !== 'boolean') problems.push(`${path}: must be true or false`);
    };
    const seconds = (path: string, x: unknown): void => {
      if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) problems.push(`${path}: must be a number of seconds, 0 or more`);
    };
    const tags = (path: string, x: unknown): void => {
      if (!isObject(x) || !Object.values(x).every((s) => typeof s === 'string')) problems.push(`${path}: must be an object mapping tag keys to string values`);
    };
    const check = (o: Record<string, unknown>, at: string, known: readonly string[], rules: Record<string, (path: string, x: unknown) => void>): void => {
      for (const k of Object.keys(o)) if (!known.includes(k)) problems.push(`${at}.${k}: unknown field (known: ${known.join(', ')})`);
      for (const [k, rule] of Object.entries(rules)) if (o[k] !== undefined) rule(`${at}.${k}`, o[k]);
    };
    check(v, '$', CONTEXT_KEYS, {
      currentTime: (p, x) => {
        if (typeof x !== 'string' || Number.isNaN(Date.parse(x))) problems.push(`${p}: must be an ISO 8601 date-time string`);
      },
      epochTime: seconds,
      secureTransport: bool,
      sourceIp: str,
      userAgent: str,
      requestedRegion: str,
      requestTags: tags,
      resourceTags: tags,
      tagKeys: (p, x) => {
        if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) problems.push(`${p}: must be an array of strings`);
      },
      multiFactorAuthPresent: bool,
      multiFactorAuthAge: seconds,
      principal: (p, x) => {
        if (!isObject(x)) {
          problems.push(`${p}: must be an object`);
          return;
        }
        check(x, p, PRINCIPAL_KEYS, { username: str, userid: str, arn: str, type: str, account: str, tags });
      },
    });
  }
  if (problems.length > 0) {
    throw new CliError('CONTEXT_INVALID', `--context: ${problems.join('; ')}`, EXIT.USAGE,
      'write a JSON object such as {"secureTransport": true, "sourceIp": "192.0.2.10", "principal": {"username": "alice", "tags": {"team": "ops"}}} (docs/cli.md lists every field)');
  }
  return v as IamContext;
}

/** `--requests` for the IAM dialect: every line is checked before any decision is printed. */
export function parseIamRequests(text: string): IamRequest[] {
  const out: IamRequest[] = [];
  forEachJsonLine(text, 'each line is a JSON object {"action": "iot:DescribeThing", "resource": "arn:aws:iot:us-east-1:123456789012:thing/sensor-1"}, or "resource": "*" for a list operation', (v, bad) => {
    for (const k of Object.keys(v)) if (k !== 'action' && k !== 'resource') bad(`unknown field \`${k}\``);
    if (typeof v['action'] !== 'string' || !/^[^:*?]+:[^:*?]+$/.test(v['action'])) bad('`action` must be one action such as `iot:CreateThing` (a prefix, one colon, a name; no wildcards)');
    const resource = v['resource'];
    if (typeof resource !== 'string' || (resource !== '*' && !/^arn:[^:]+:[^:]+:[^:]*:[^:]*:./.test(resource))) {
      bad('`resource` must be an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`; region and account may be empty) or `*`');
    }
    out.push({ action: v['action'] as string, resource: resource as string });
  });
  return out;
}
