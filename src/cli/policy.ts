/**
 * `gatehouse policy simulate`: decides requests against a set of policy documents,
 * without a registry or a gateway: AWS IoT Core policies for a connection (`--dialect
 * iot`, like AWS IoT's TestAuthorization), or IAM identity policies for a management
 * call (`--dialect iam`, like IAM's policy simulator). The policies, the context and
 * the requests all come from files; nothing else is read.
 *
 * Order: usage checks, then the requests, the context and the policies are read and
 * validated (a malformed input stops the run before any decision, exit 2); then the
 * policies are compiled (any invalid document: every problem printed, exit 1); then
 * one JSON line per request (exit 0, whether allowed or denied).
 */
import type { Command } from 'commander';
import {
  compileIamPolicies, compileIotPolicies, iotArn, IOT_ACTIONS,
  type IotContext, type IotDeployment, type IotNamedProblem, type IotPolicyInput, type IotRequest, type IotResourceType, type PolicyDecision,
} from '../core/index.js';
import { parseIamContext, parseIamRequests } from './iam-simulate.js';
import { forEachJsonLine, readInput } from './json-lines.js';
import { CliError, EXIT, type Io } from './output.js';

interface SimulateOptions {
  dialect: string;
  policies: string;
  context: string;
  requests: string;
  partition: string;
  region: string;
  account: string;
}

/** The deployment simulate assumes unless told otherwise (the account AWS's examples use). */
export const SIMULATE_DEFAULTS = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' } as const;

export function registerPolicy(program: Command, io: Io, setExit: (code: number) => void): void {
  const policy = program.command('policy').description('work with policy documents');
  policy
    .command('simulate')
    .description('decide requests against AWS IoT Core or IAM identity policy documents, without a registry')
    .requiredOption('--dialect <dialect>', 'policy dialect: iot (AWS IoT Core policies) or iam (IAM identity policies)')
    .requiredOption('--policies <file>', 'JSON array of policy documents (or {"name", "document"} objects), all in force')
    .requiredOption('--context <file>', 'JSON object describing the connection (iot) or the management call (iam)')
    .requiredOption('--requests <file>', 'JSON lines {"action", "resource", "retain"? (iot only)}; `-` reads stdin')
    .option('--partition <partition>', 'ARN partition of local resources (iot)', SIMULATE_DEFAULTS.partition)
    .option('--region <region>', 'region of local resource ARNs (iot)', SIMULATE_DEFAULTS.region)
    .option('--account <id>', 'account ID of local resource ARNs (iot)', SIMULATE_DEFAULTS.accountId)
    .addHelpText('after', `
Examples:
  gatehouse policy simulate --dialect iot --policies policies.json --context device.json --requests requests.jsonl
  gatehouse policy simulate --dialect iam --policies operator.json --context call.json --requests -

iot: a request's resource is an ARN, \`*\`, or TYPE/NAME (client/, topic/, topicfilter/,
thing/, rolealias/) completed with --partition, --region and --account.
iam: a request's resource is an ARN, or \`*\` for an action that names none (list operations).
Output: one JSON line per request, in order, with "allowed", "reason" and, when a
statement decided, "policy" (its name, or its index in the array) and "statement" (its
Sid, or its index).
Exit status: 0 every request answered (allowed or not), 1 an invalid policy document,
2 usage error, unreadable file, or malformed context or request line.`)
    .action(async (opts: SimulateOptions) => {
      if (opts.dialect !== 'iot' && opts.dialect !== 'iam') throw new CliError('USAGE', `--dialect \`${opts.dialect}\` is not supported (supported: iot, iam)`);
      if (opts.requests === '-' && (opts.policies === '-' || opts.context === '-')) throw new CliError('USAGE', 'only --requests may read standard input');
      if (opts.dialect === 'iam') {
        const requests = parseIamRequests(await readInput(opts.requests, 'requests'));
        const context = parseIamContext(await readInput(opts.context, 'context'));
        const inputs = parsePolicies(await readInput(opts.policies, 'policies'));
        const compiled = compileIamPolicies(inputs);
        report(io, compiled);
        if (!compiled.ok) {
          setExit(EXIT.INVALID);
          return;
        }
        const now = Date.now();
        for (const r of requests) io.out(JSON.stringify(decisionLine(r, compiled.set.decide('all', context, r, now))));
        setExit(EXIT.OK);
        return;
      }
      const deployment: IotDeployment = { partition: opts.partition, region: opts.region, accountId: opts.account };
      for (const [flag, v] of [['--partition', opts.partition], ['--region', opts.region], ['--account', opts.account]] as const) {
        if (v === '' || v.includes(':')) throw new CliError('USAGE', `${flag} \`${v}\` must be non-empty and without \`:\``);
      }
      const requests = parseSimulateRequests(await readInput(opts.requests, 'requests'), deployment);
      const context = parseContext(await readInput(opts.context, 'context'));
      const inputs = parsePolicies(await readInput(opts.policies, 'policies'));

      const compiled = compileIotPolicies(inputs, deployment);
      report(io, compiled);
      if (!compiled.ok) {
        setExit(EXIT.INVALID);
        return;
      }
      const now = Date.now();
      for (const r of requests) io.out(JSON.stringify(decisionLine(r, compiled.set.decide('all', context, r, now))));
      setExit(EXIT.OK);
    });
}

/** Prints the warnings, then the problems when there are any. */
function report(io: Io, compiled: { readonly warnings: readonly IotNamedProblem[]; readonly problems?: readonly IotNamedProblem[] }): void {
  for (const w of compiled.warnings) io.err(`warning ${w.code}: policy ${w.policy} ${w.path}: ${w.message}\n    fix: ${w.fix}`);
  for (const p of compiled.problems ?? []) io.err(`error ${p.code}: policy ${p.policy} ${p.path}: ${p.message}\n    fix: ${p.fix}`);
}

/** One output line: the request as read, the decision, and what decided it. */
function decisionLine(r: { readonly action: string; readonly resource: string; readonly retain?: boolean }, d: PolicyDecision): Record<string, unknown> {
  const line: Record<string, unknown> = { action: r.action, resource: r.resource };
  if (r.retain !== undefined) line['retain'] = r.retain;
  line['allowed'] = d.allowed;
  line['reason'] = d.reason;
  if (d.policy !== undefined) {
    line['policy'] = d.policy;
    line['statement'] = d.statement;
  }
  // A retained publish can be refused by its iot:RetainPublish evaluation.
  if (d.action.toLowerCase() !== r.action.toLowerCase()) line['decidingAction'] = d.action;
  return line;
}


function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `--policies`: a JSON array. An element that is an object with exactly the keys `name`
 * (a string) and `document` (a policy object or its JSON text) is a named policy; any
 * other element is a policy document named by its index (`0`, `1`, ...).
 */
export function parsePolicies(text: string): IotPolicyInput[] {
  const bad = (why: string): never => {
    throw new CliError('POLICIES_FILE_INVALID', `--policies: ${why}`, EXIT.USAGE,
      'write a JSON array of policy documents, e.g. [{"Version": "2012-10-17", "Statement": [...]}], or of {"name": "...", "document": {...}} objects');
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return bad(`not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v)) return bad('not a JSON array');
  return v.map((el: unknown, i): IotPolicyInput => {
    if (isObject(el) && Object.keys(el).length === 2 && 'name' in el && 'document' in el) {
      if (typeof el['name'] !== 'string' || el['name'] === '') bad(`element ${i}: \`name\` must be a non-empty string`);
      return { name: el['name'] as string, document: el['document'] };
    }
    return { name: String(i), document: el };
  });
}

const CONTEXT_KEYS = ['clientId', 'thingName', 'thingTypeName', 'attributes', 'isAttached', 'certificate', 'sourceIp', 'connectAttributes', 'lastWillTopic', 'currentTime', 'secureTransport'];
const CERT_KEYS = ['subject', 'issuer', 'subjectAlternativeName', 'issuerAlternativeName', 'serialNumber', 'notBefore', 'notAfter'];

/** `--context`: validated field by field; every defect is named with its JSON path. */
export function parseContext(text: string): IotContext {
  const problems: string[] = [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    problems.push(`$: not valid JSON (${(e as Error).message})`);
  }
  if (problems.length === 0 && !isObject(v)) problems.push('$: must be a JSON object');
  if (problems.length === 0 && isObject(v)) {
    const o = v;
    const str = (path: string, x: unknown, nullable = false): void => {
      if (!(typeof x === 'string' || (nullable && x === null))) problems.push(`${path}: must be a string${nullable ? ' or null' : ''}`);
    };
    const opt = (k: string, check: (path: string, x: unknown) => void): void => {
      if (o[k] !== undefined) check(`$.${k}`, o[k]);
    };
    const stringArrays = (path: string, x: unknown): void => {
      if (!isObject(x)) {
        problems.push(`${path}: must be an object mapping names to arrays of strings`);
        return;
      }
      for (const [k, arr] of Object.entries(x)) {
        if (!Array.isArray(arr) || !arr.every((s) => typeof s === 'string')) problems.push(`${path}.${k}: must be an array of strings (values in certificate order)`);
      }
    };
    const bool = (path: string, x: unknown): void => {
      if (typeof x !== 'boolean') problems.push(`${path}: must be true or false`);
    };
    for (const k of Object.keys(o)) if (!CONTEXT_KEYS.includes(k)) problems.push(`$.${k}: unknown field (known: ${CONTEXT_KEYS.join(', ')})`);
    if (o['clientId'] === undefined) problems.push('$.clientId: missing (the MQTT client ID)');
    else str('$.clientId', o['clientId']);
    opt('thingName', (p, x) => str(p, x, true));
    opt('thingTypeName', (p, x) => str(p, x, true));
    opt('attributes', (p, x) => {
      if (!isObject(x) || !Object.values(x).every((s) => typeof s === 'string')) problems.push(`${p}: must be an object of strings`);
    });
    opt('isAttached', bool);
    opt('secureTransport', bool);
    opt('sourceIp', str);
    opt('lastWillTopic', str);
    opt('currentTime', (p, x) => {
      if (typeof x !== 'string' || Number.isNaN(Date.parse(x))) problems.push(`${p}: must be an ISO 8601 date-time string`);
    });
    opt('connectAttributes', (p, x) => {
      if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) problems.push(`${p}: must be an array of strings (PersistentConnect, LastWill)`);
    });
    opt('certificate', (p, x) => {
      if (!isObject(x)) {
        problems.push(`${p}: must be an object`);
        return;
      }
      for (const k of Object.keys(x)) if (!CERT_KEYS.includes(k)) problems.push(`${p}.${k}: unknown field (known: ${CERT_KEYS.join(', ')})`);
      for (const k of ['subject', 'issuer'] as const) {
        if (x[k] === undefined) problems.push(`${p}.${k}: missing (use {} when empty)`);
        else stringArrays(`${p}.${k}`, x[k]);
      }
      for (const k of ['subjectAlternativeName', 'issuerAlternativeName'] as const) if (x[k] !== undefined) stringArrays(`${p}.${k}`, x[k]);
      if (typeof x['serialNumber'] !== 'string' || !/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2})*$/.test(x['serialNumber'])) {
        problems.push(`${p}.serialNumber: must be hex bytes separated by colons, as openssl prints them (e.g. 92:12:85:cb)`);
      }
      for (const k of ['notBefore', 'notAfter'] as const) {
        if (x[k] !== undefined && (typeof x[k] !== 'string' || Number.isNaN(Date.parse(x[k])))) problems.push(`${p}.${k}: must be an ISO 8601 date-time string`);
      }
    });
  }
  if (problems.length > 0) {
    throw new CliError('CONTEXT_INVALID', `--context: ${problems.join('; ')}`, EXIT.USAGE,
      'write a JSON object such as {"clientId": "sensor-1", "thingName": "sensor-1", "isAttached": true} (docs/cli.md lists every field)');
  }
  const o = v as Record<string, unknown>;
  return { ...(o as unknown as IotContext), thingName: (o['thingName'] as string | null | undefined) ?? null };
}

const REQUEST_KEYS = ['action', 'resource', 'retain'];
const SHORT_TYPES = Object.values(IOT_ACTIONS).filter((t): t is Exclude<IotResourceType, '*'> => t !== '*');

/** `--requests`: every line is checked before any decision is printed. */
export function parseSimulateRequests(text: string, deployment: IotDeployment): IotRequest[] {
  const out: IotRequest[] = [];
  forEachJsonLine(text, 'each line is a JSON object {"action": "iot:Publish", "resource": "arn:aws:iot:us-east-1:123456789012:topic/a", "retain": false?}', (v, bad) => {
    for (const k of Object.keys(v)) if (!REQUEST_KEYS.includes(k)) bad(`unknown field \`${k}\``);
    if (typeof v['action'] !== 'string' || !/^[^:*?]+:[^:*?]+$/.test(v['action'])) bad('`action` must be one action such as `iot:Publish` (a prefix, one colon, a name; no wildcards)');
    if (typeof v['resource'] !== 'string' || v['resource'] === '') bad('`resource` must be a non-empty string');
    if (v['retain'] !== undefined && typeof v['retain'] !== 'boolean') bad('`retain` must be true or false');
    let resource = v['resource'] as string;
    if (resource !== '*' && !resource.startsWith('arn:')) {
      const slash = resource.indexOf('/');
      const type = resource.slice(0, slash);
      const short = SHORT_TYPES.find((t) => t === type);
      if (slash < 0 || !short) bad(`\`resource\` \`${resource}\` is neither an ARN, \`*\`, nor TYPE/NAME with TYPE one of ${[...new Set(SHORT_TYPES)].join(', ')}`);
      resource = iotArn(deployment, short!, resource.slice(slash + 1));
    }
    out.push({ action: v['action'] as string, resource, ...(v['retain'] !== undefined ? { retain: v['retain'] as boolean } : {}) });
  });
  return out;
}
