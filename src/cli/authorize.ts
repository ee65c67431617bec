import type { Command } from 'commander';
import { loadConfigFile } from '../config-file.js';
import {
  compileDeviceGroups, explainConnection, parseIotRequest, type ConnectionExplanation, type ConnectionRequest, type ConnectionSubject, type Explanation,
  type IotDeployment, type PolicySnapshot, type Principal,
} from '../core/index.js';
import type { Registry } from '../identity/registry.js';
import { compileIotPart } from '../runtime/iot-policies.js';
import { resolveDataDir, withLocalRegistry } from './certs.js';
import { forEachJsonLine, readInput } from './json-lines.js';
import { CliError, EXIT, printIssues, type Io } from './output.js';
import { RemoteClient } from './remote/client.js';
import type { TargetOption } from './remote/commands.js';
import { RemoteControl } from './remote/control.js';
import type { RemoteTarget } from './remote/target.js';
import { refuseLocalOnlyOptions, remoteDecision } from './remote/test-authorization.js';

interface AuthorizeOptions extends TargetOption {
  config?: string;
  thing?: string;
  clientId?: string;
  attribute: string[];
  operation?: string;
  resource?: string;
  requests?: string;
  json?: boolean;
  dataDir?: string;
  cert?: string;
  sourceIp?: string;
  retain?: boolean;
}

/** An AWS IoT action (`iot:Publish`, `iotjobsdata:DescribeJobExecution`): decided for a registered thing. */
const IOT_ACTION = /^iot(jobsdata)?:/i;

export function registerAuthorize(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('authorize')
    .description('decide a request (or a batch of requests) against a configuration and explain the decision')
    .option('--config <file>', 'configuration file (required on this machine; against a remote gateway its configuration in force is used)')
    .option('--thing <name>', 'thing name of the device')
    .option('--client-id <id>', 'MQTT client ID (default: the thing name)')
    .option('--attribute <key=value>', 'thing attribute for ${iot:Connection.Thing.Attributes[key]} (repeatable)', collect, [])
    .option('--operation <op>', 'mqtt:connect, mqtt:publish or mqtt:subscribe; with --data-dir also an AWS IoT action (iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, iot:RetainPublish, iot:GetThingShadow, ...)')
    .option('--resource <res>', 'mqtt:clientId:ID, mqtt:topic:TOPIC or mqtt:topicfilter:FILTER; for an IoT action an ARN (or TYPE/NAME: client/ID, topic/T, topicfilter/F, thing/NAME)')
    .option('--retain', 'a retained publish (mqtt:publish or iot:Publish; needs iot:RetainPublish where IoT policies decide)')
    .option('--data-dir <dir>', 'decide for the registered thing of this data directory: its certificate, thing groups and attributes, with the AWS IoT policies in force')
    .option('--cert <id>', 'with --data-dir: the certificate (id or unique prefix) that connects, when several are attached to the thing')
    .option('--source-ip <ip>', 'with --data-dir: the device\'s address, for aws:SourceIp conditions')
    .option('--requests <file>', 'batch mode: JSON lines {"thingName","operation","resource","clientId"?,"retain"?,"certificateId"?,"sourceIp"?}; `-` reads stdin')
    .option('--json', 'print the decision as one JSON object')
    .addHelpText('after', `
Examples:
  gatehouse authorize --config gatehouse.yaml --thing sensor-1 --operation mqtt:publish --resource mqtt:topic:sensors/sensor-1/temp
  gatehouse authorize --config gatehouse.yaml --requests requests.jsonl
  gatehouse authorize --config gatehouse.yaml --data-dir /var/lib/gatehouse --thing sensor-1 --operation iot:Publish --resource topic/sensors/sensor-1/temp --retain

Batch output: one JSON line per request, in order, with "allowed", "reason" and, when a
statement decided, "group", "policy" and "statement" (and "dialect" with --data-dir).
Exit status: 0 every request answered (allowed or not), 1 invalid configuration, stored
AWS IoT policies that do not compile, or a thing or certificate not in the registry,
2 usage error, unreadable file, unparseable request line, unknown IoT action, bad ARN,
or a thing whose certificate must be named with --cert.

With --endpoint (or a profile): one request with iot:Connect, iot:Publish, iot:Subscribe
or iot:Receive for a registered thing, decided by the gateway with the policies in force
(TestAuthorization); no --config or --data-dir.`)
    .action(async (opts: AuthorizeOptions) => {
      if (opts.target?.kind === 'remote') {
        await authorizeRemotely(io, opts, opts.target);
        setExit(EXIT.OK);
        return;
      }
      if (opts.config === undefined) throw new CliError('USAGE', 'required option \'--config <file>\' not specified');
      const config = opts.config;
      const single = opts.thing !== undefined || opts.operation !== undefined || opts.resource !== undefined;
      if (opts.requests !== undefined && (single || opts.retain === true || opts.cert !== undefined || opts.sourceIp !== undefined || opts.clientId !== undefined)) {
        throw new CliError('USAGE', '--requests cannot be combined with --thing, --client-id, --operation, --resource, --retain, --cert or --source-ip (give them per line)');
      }
      if (opts.requests === undefined) {
        const missing = (['thing', 'operation', 'resource'] as const).filter((k) => opts[k] === undefined);
        if (missing.length) throw new CliError('USAGE', `missing ${missing.map((m) => `--${m}`).join(', ')} (or use --requests FILE)`);
      }
      const registered = opts.dataDir !== undefined;
      if (!registered && (opts.cert !== undefined || opts.sourceIp !== undefined)) throw new CliError('USAGE', '--cert and --source-ip need --data-dir (the registry of the thing)');
      if (registered && opts.attribute.length > 0) throw new CliError('USAGE', '--attribute cannot be combined with --data-dir: the thing\'s attributes are the registry\'s');
      const attributes = parseAttributes(opts.attribute);
      // Read the request input before the configuration so usage problems win.
      const batch = opts.requests !== undefined ? parseRequests(await readInput(opts.requests, 'requests'), registered) : undefined;
      if (!registered && opts.operation !== undefined && IOT_ACTION.test(opts.operation)) {
        throw new CliError('USAGE', `${opts.operation} is an AWS IoT action: it is decided for a registered thing, pass --data-dir`);
      }

      const result = await loadConfigFile(config);
      if (!result.ok && 'unreadable' in result) throw new CliError(result.code, result.message, EXIT.USAGE);
      if (!result.ok) {
        printIssues(io, result.errors, result.warnings);
        setExit(EXIT.INVALID);
        return;
      }
      const snapshot = compileDeviceGroups(result.deviceGroups);

      if (registered) {
        const deployment = result.config.gatehouse.iot;
        const requests: RegisteredRequest[] = batch
          ? batch.map((r) => registeredRequest(r, deployment))
          : [registeredRequest({
            principal: { thingName: opts.thing!, clientId: opts.clientId ?? opts.thing! },
            operation: opts.operation!, resource: opts.resource!, retain: opts.retain === true,
            ...(opts.cert !== undefined ? { certificateId: opts.cert } : {}), ...(opts.sourceIp !== undefined ? { sourceIp: opts.sourceIp } : {}),
          }, deployment)];
        const answers = await withLocalRegistry(resolveDataDir(opts.dataDir), (registry) => decideRegistered(io, registry, snapshot, deployment, requests), config);
        if (answers === undefined) {
          setExit(EXIT.INVALID);
          return;
        }
        for (const ex of answers) {
          if (batch) io.out(JSON.stringify(registeredBatchLine(ex)));
          else if (opts.json) io.out(JSON.stringify(ex));
          else printConnectionExplanation(io, ex);
        }
        setExit(EXIT.OK);
        return;
      }

      if (batch) {
        for (const r of batch) io.out(JSON.stringify(batchLine(snapshot.explain(r.principal, r.operation, r.resource))));
        setExit(EXIT.OK);
        return;
      }
      const principal: Principal = { thingName: opts.thing!, clientId: opts.clientId ?? opts.thing!, attributes };
      // Without IoT policies a retained publish is decided as a publish.
      const ex = snapshot.explain(principal, opts.operation!, opts.resource!);
      if (opts.json) io.out(JSON.stringify(ex));
      else printExplanation(io, ex);
      setExit(EXIT.OK);
    });
}

/**
 * One request decided by the gateway (TestAuthorization, remote/test-authorization.ts):
 * the thing, its certificate and the AWS IoT policies in force are the gateway's.
 */
async function authorizeRemotely(io: Io, opts: AuthorizeOptions, target: RemoteTarget): Promise<void> {
  refuseLocalOnlyOptions(opts);
  const missing = (['thing', 'operation', 'resource'] as const).filter((k) => opts[k] === undefined);
  if (missing.length) throw new CliError('USAGE', `missing ${missing.map((m) => `--${m}`).join(', ')}`);
  const client = new RemoteClient(target);
  const control = new RemoteControl(client);
  const d = await remoteDecision(client, () => control.deployment(), {
    thingName: opts.thing!, action: opts.operation!, resource: opts.resource!, ...(opts.cert !== undefined ? { certificate: opts.cert } : {}),
  });
  if (opts.json) {
    io.out(JSON.stringify(d));
    return;
  }
  const names = (list: readonly { policyName: string }[]): string => list.map((p) => p.policyName).join(', ');
  io.out(`${d.allowed ? 'ALLOW' : 'DENY'} ${d.action} ${d.resource}`);
  io.out(`  thing:     ${d.thingName}`);
  io.out(`  certificate: ${d.certificateId}`);
  io.out(`  decision:  ${d.authDecision} (TestAuthorization at ${target.endpoint.host})`);
  if (d.explicitDenyBy.length) io.out(`  denied by: ${names(d.explicitDenyBy)}`);
  if (d.allowedBy.length) io.out(`  allowed by: ${names(d.allowedBy)}`);
  if (!d.allowed && d.explicitDenyBy.length === 0) io.out(`  no policy in force allows it${d.implicitDenyBy.length ? ` (${names(d.implicitDenyBy)} apply)` : ''}`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseAttributes(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliError('USAGE', `--attribute \`${item}\` is not KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}


interface BatchRequest {
  principal: Principal;
  operation: string;
  resource: string;
  retain?: boolean;
  certificateId?: string;
  sourceIp?: string;
}

const REQUEST_KEYS = ['thingName', 'operation', 'action', 'resource', 'clientId', 'attributes', 'retain', 'certificateId', 'sourceIp'];

/**
 * Parses every line first, so a bad line stops the run before any output. `registered`
 * (--data-dir): lines may name `certificateId` and `sourceIp`, not `attributes` (the
 * registry's are used).
 */
export function parseRequests(text: string, registered = false): BatchRequest[] {
  const out: BatchRequest[] = [];
  forEachJsonLine(text, 'each line is a JSON object {"thingName": "...", "operation": "...", "resource": "...", "clientId": "..."?} ("action" may stand for "operation"; with --data-dir also "retain", "certificateId", "sourceIp")', (o, bad) => {
    for (const k of Object.keys(o)) if (!REQUEST_KEYS.includes(k)) bad(`unknown field \`${k}\``);
    if (o['action'] !== undefined && o['operation'] !== undefined) bad('give `operation` or `action`, not both');
    const opKey = o['action'] !== undefined ? 'action' : 'operation';
    for (const k of ['thingName', opKey, 'resource'] as const) {
      if (typeof o[k] !== 'string') bad(`\`${k}\` must be a string`);
    }
    if (o['clientId'] !== undefined && typeof o['clientId'] !== 'string') bad('`clientId` must be a string');
    if (o['retain'] !== undefined && typeof o['retain'] !== 'boolean') bad('`retain` must be true or false');
    for (const k of ['certificateId', 'sourceIp'] as const) {
      if (o[k] === undefined) continue;
      if (!registered) bad(`\`${k}\` needs --data-dir`);
      if (typeof o[k] !== 'string' || o[k] === '') bad(`\`${k}\` must be a non-empty string`);
    }
    const attrs = o['attributes'];
    if (attrs !== undefined && registered) bad('`attributes` cannot be given with --data-dir: the registry\'s attributes are used');
    if (attrs !== undefined && (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs) || Object.values(attrs).some((x) => typeof x !== 'string'))) {
      bad('`attributes` must be an object of strings');
    }
    const operation = o[opKey] as string;
    if (!registered && IOT_ACTION.test(operation)) bad(`${operation} is an AWS IoT action: it is decided for a registered thing, pass --data-dir`);
    const thingName = o['thingName'] as string;
    const principal: Principal = {
      thingName,
      clientId: (o['clientId'] as string | undefined) ?? thingName,
      ...(attrs ? { attributes: attrs as Record<string, string> } : {}),
    };
    out.push({
      principal, operation, resource: o['resource'] as string,
      ...(o['retain'] === true ? { retain: true } : {}),
      ...(typeof o['certificateId'] === 'string' ? { certificateId: o['certificateId'] } : {}),
      ...(typeof o['sourceIp'] === 'string' ? { sourceIp: o['sourceIp'] } : {}),
    });
  });
  return out;
}

interface RegisteredRequest {
  readonly thingName: string;
  readonly clientId: string;
  readonly certificateId?: string;
  readonly sourceIp?: string;
  readonly request: ConnectionRequest;
}

/** Checks the IoT action and ARN of a request (exit 2 with the problem's code). */
function registeredRequest(r: BatchRequest, deployment: IotDeployment): RegisteredRequest {
  const common = {
    thingName: r.principal.thingName,
    clientId: r.principal.clientId ?? r.principal.thingName,
    ...(r.certificateId !== undefined ? { certificateId: r.certificateId } : {}),
    ...(r.sourceIp !== undefined ? { sourceIp: r.sourceIp } : {}),
  };
  if (!IOT_ACTION.test(r.operation)) {
    return { ...common, request: { kind: 'greengrass', operation: r.operation, resource: r.resource, ...(r.retain === true ? { retain: true } : {}) } };
  }
  const parsed = parseIotRequest(deployment, r.operation, r.resource, r.retain === true);
  if (!parsed.ok) throw new CliError(parsed.problem.code, `${r.principal.thingName}: ${parsed.problem.message}`, EXIT.USAGE, parsed.problem.fix);
  return { ...common, request: { kind: 'iot', request: parsed.request } };
}

/**
 * Compiles the registry's IoT policies as the gateway does and explains every request;
 * undefined (problems printed) when the stored policies do not compile. Every thing and
 * certificate is resolved before anything is printed.
 */
async function decideRegistered(io: Io, registry: Registry, snapshot: PolicySnapshot, deployment: IotDeployment, requests: readonly RegisteredRequest[]): Promise<ConnectionExplanation[] | undefined> {
  const compiled = compileIotPart(await registry.iotAuthorizationData(), deployment);
  if (!compiled.ok) {
    for (const p of compiled.problems) io.err(`error ${p.code}: stored AWS IoT policy ${p.policy} ${p.path}: ${p.message}\n    fix: ${p.fix}`);
    return undefined;
  }
  // As in the gateway: a stored policy that does not compile is left out and denies (IOT_POLICY_NOT_FOUND) where it applies.
  for (const p of compiled.broken) io.err(`error ${p.code}: stored AWS IoT policy ${p.policy} ${p.path}: ${p.message} (left out: connections under it are denied)\n    fix: ${p.fix}`);
  const withIot = snapshot.withIot(compiled.part);
  // Loaded on demand: the certificate decoder takes a while to load.
  const { registeredConnection, ConnectionChoiceError } = await import('../identity/iot-connection.js');
  const subjects: ConnectionSubject[] = [];
  for (const r of requests) {
    try {
      subjects.push(await registeredConnection(registry, r.thingName, {
        clientId: r.clientId,
        ...(r.certificateId !== undefined ? { certificateId: r.certificateId } : {}),
        ...(r.sourceIp !== undefined ? { sourceIp: r.sourceIp } : {}),
      }));
    } catch (e) {
      // Which certificate connects is the caller's to say: a usage error.
      if (e instanceof ConnectionChoiceError) {
        if (e.code === 'THING_CERTIFICATE_AMBIGUOUS') {
          throw new CliError(e.code, e.message, EXIT.USAGE, `pass --cert (or "certificateId" in a request line) with one of: ${e.certificateIds.join(', ')}`);
        }
        throw new CliError(e.code, e.message, EXIT.INVALID, e.fix);
      }
      throw e;
    }
  }
  const now = (): number => Date.now();
  return requests.map((r, i) => explainConnection(withIot, subjects[i]!, r.request, now));
}

function registeredBatchLine(ex: ConnectionExplanation): Record<string, unknown> {
  const line: Record<string, unknown> = { thingName: ex.thingName };
  if (ex.action !== undefined) line['action'] = ex.action;
  else line['operation'] = ex.operation;
  line['resource'] = ex.resource;
  if (ex.retain === true) line['retain'] = true;
  line['certificateId'] = ex.certificateId;
  line['allowed'] = ex.allowed;
  line['reason'] = ex.reason;
  line['dialect'] = ex.dialect;
  for (const k of ['group', 'policy', 'statement', 'resourcePattern', 'decidingAction'] as const) if (ex[k] !== undefined) line[k] = ex[k];
  line['message'] = ex.message;
  return line;
}

export function printConnectionExplanation(io: Io, ex: ConnectionExplanation): void {
  io.out(`${ex.allowed ? 'ALLOW' : 'DENY'} ${ex.action ?? ex.operation ?? ''}${ex.retain === true ? ' (retained)' : ''} ${ex.resource}`);
  io.out(`  thing:     ${ex.thingName}${ex.clientId !== ex.thingName ? ` (client ID ${ex.clientId})` : ''}`);
  if (ex.certificateId !== undefined) io.out(`  certificate: ${ex.certificateId}`);
  io.out(`  reason:    ${ex.reason}`);
  if (ex.policy !== undefined) {
    const by = ex.dialect === 'iot'
      ? `AWS IoT policy ${ex.policy}, statement ${ex.statement ?? '?'}${ex.decidingAction !== undefined ? ` (${ex.decidingAction})` : ''}`
      : `Greengrass group ${ex.group ?? '?'}, policy ${ex.policy}, statement ${ex.statement ?? '?'}`;
    io.out(`  decided by: ${by}`);
  }
  io.out(`  ${ex.message}`);
  io.out(`  groups:    ${ex.groups.length ? ex.groups.map((g) => `${g.name} (policy ${g.policy})`).join(', ') : '(none select this thing)'}`);
  const missing = ex.missingIotPolicies.length ? ` (missing: ${ex.missingIotPolicies.join(', ')})` : '';
  io.out(`  IoT policies: ${ex.iotPolicies.length ? ex.iotPolicies.join(', ') : '(none)'}${missing}`);
  if (ex.matches.length || ex.iotMatches.length) {
    io.out('  matching statements:');
    for (const m of ex.matches) {
      const resolved = m.resolved !== m.pattern ? ` -> ${m.resolved}` : '';
      io.out(`    ${m.effect.padEnd(5)} group ${m.group}, policy ${m.policy}, statement ${m.statement}: ${m.pattern}${resolved}`);
    }
    for (const m of ex.iotMatches) {
      io.out(`    ${m.effect.toUpperCase().padEnd(5)} AWS IoT policy ${m.policy}, statement ${m.statement} (${m.action})${m.resources.length ? `: ${m.resources.join(', ')}` : ''}`);
    }
  }
}

function batchLine(ex: Explanation): Record<string, unknown> {
  const line: Record<string, unknown> = {
    thingName: ex.thingName,
    operation: ex.operation,
    resource: ex.resource,
    allowed: ex.allowed,
    reason: ex.reason,
  };
  if (ex.statement !== undefined) {
    line['group'] = ex.group;
    line['policy'] = ex.policy;
    line['statement'] = ex.statement;
    line['resourcePattern'] = ex.resourcePattern;
  }
  line['message'] = ex.message;
  return line;
}

export function printExplanation(io: Io, ex: Explanation): void {
  io.out(`${ex.allowed ? 'ALLOW' : 'DENY'} ${ex.operation} ${ex.resource}`);
  io.out(`  thing:     ${ex.thingName}${ex.clientId !== ex.thingName ? ` (client ID ${ex.clientId})` : ''}`);
  io.out(`  reason:    ${ex.reason}`);
  io.out(`  ${ex.message}`);
  io.out(`  groups:    ${ex.groups.length ? ex.groups.map((g) => `${g.name} (policy ${g.policy})`).join(', ') : '(none select this thing)'}`);
  if (ex.matches.length) {
    io.out('  matching statements:');
    for (const m of ex.matches) {
      const resolved = m.resolved !== m.pattern ? ` -> ${m.resolved}` : '';
      io.out(`    ${m.effect.padEnd(5)} group ${m.group}, policy ${m.policy}, statement ${m.statement}: ${m.pattern}${resolved}`);
    }
  }
}
