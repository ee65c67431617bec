import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfigFile } from '../config-file.js';
import { compileDeviceGroups, type Explanation, type Principal } from '../core/index.js';
import { CliError, EXIT, printIssues, type Io } from './output.js';

interface AuthorizeOptions {
  config: string;
  thing?: string;
  clientId?: string;
  attribute: string[];
  operation?: string;
  resource?: string;
  requests?: string;
  json?: boolean;
}

export function registerAuthorize(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('authorize')
    .description('decide a request (or a batch of requests) against a configuration and explain the decision')
    .requiredOption('--config <file>', 'configuration file')
    .option('--thing <name>', 'thing name of the device')
    .option('--client-id <id>', 'MQTT client ID (default: the thing name)')
    .option('--attribute <key=value>', 'thing attribute for ${iot:Connection.Thing.Attributes[key]} (repeatable)', collect, [])
    .option('--operation <op>', 'mqtt:connect, mqtt:publish or mqtt:subscribe')
    .option('--resource <res>', 'mqtt:clientId:ID, mqtt:topic:TOPIC or mqtt:topicfilter:FILTER')
    .option('--requests <file>', 'batch mode: JSON lines {"thingName","operation","resource","clientId"?}; `-` reads stdin')
    .option('--json', 'print the decision as one JSON object')
    .addHelpText('after', `
Examples:
  gatehouse authorize --config gatehouse.yaml --thing sensor-1 --operation mqtt:publish --resource mqtt:topic:sensors/sensor-1/temp
  gatehouse authorize --config gatehouse.yaml --requests requests.jsonl

Batch output: one JSON line per request, in order, with "allowed", "reason" and, when a
statement decided, "group", "policy" and "statement".
Exit status: 0 every request answered (allowed or not), 1 invalid configuration,
2 usage error, unreadable file or unparseable request line.`)
    .action(async (opts: AuthorizeOptions) => {
      const single = opts.thing !== undefined || opts.operation !== undefined || opts.resource !== undefined;
      if (opts.requests !== undefined && single) throw new CliError('USAGE', '--requests cannot be combined with --thing, --operation or --resource');
      if (opts.requests === undefined) {
        const missing = (['thing', 'operation', 'resource'] as const).filter((k) => opts[k] === undefined);
        if (missing.length) throw new CliError('USAGE', `missing ${missing.map((m) => `--${m}`).join(', ')} (or use --requests FILE)`);
      }
      const attributes = parseAttributes(opts.attribute);
      // Read the request input before the configuration so usage problems win.
      const batch = opts.requests !== undefined ? parseRequests(await readInput(opts.requests)) : undefined;

      const result = await loadConfigFile(opts.config);
      if (!result.ok && 'unreadable' in result) throw new CliError(result.code, result.message, EXIT.USAGE);
      if (!result.ok) {
        printIssues(io, result.errors, result.warnings);
        setExit(EXIT.INVALID);
        return;
      }
      const snapshot = compileDeviceGroups(result.deviceGroups);

      if (batch) {
        for (const r of batch) io.out(JSON.stringify(batchLine(snapshot.explain(r.principal, r.operation, r.resource))));
        setExit(EXIT.OK);
        return;
      }
      const principal: Principal = { thingName: opts.thing!, clientId: opts.clientId ?? opts.thing!, attributes };
      const ex = snapshot.explain(principal, opts.operation!, opts.resource!);
      if (opts.json) io.out(JSON.stringify(ex));
      else printExplanation(io, ex);
      setExit(EXIT.OK);
    });
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

async function readInput(file: string): Promise<string> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError('FILE_UNREADABLE', `cannot read requests from \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

interface BatchRequest {
  principal: Principal;
  operation: string;
  resource: string;
}

const REQUEST_KEYS = ['thingName', 'operation', 'resource', 'clientId', 'attributes'];

/** Parses every line first, so a bad line stops the run before any output. */
export function parseRequests(text: string): BatchRequest[] {
  const out: BatchRequest[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const bad = (why: string): never => {
      throw new CliError('REQUEST_LINE_INVALID', `request line ${i + 1}: ${why}`, EXIT.USAGE,
        'each line is a JSON object {"thingName": "...", "operation": "...", "resource": "...", "clientId": "..."?}');
    };
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      bad(`not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not a JSON object');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!REQUEST_KEYS.includes(k)) bad(`unknown field \`${k}\``);
    for (const k of ['thingName', 'operation', 'resource'] as const) {
      if (typeof o[k] !== 'string') bad(`\`${k}\` must be a string`);
    }
    if (o['clientId'] !== undefined && typeof o['clientId'] !== 'string') bad('`clientId` must be a string');
    const attrs = o['attributes'];
    if (attrs !== undefined && (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs) || Object.values(attrs).some((x) => typeof x !== 'string'))) {
      bad('`attributes` must be an object of strings');
    }
    const thingName = o['thingName'] as string;
    const principal: Principal = {
      thingName,
      clientId: (o['clientId'] as string | undefined) ?? thingName,
      ...(attrs ? { attributes: attrs as Record<string, string> } : {}),
    };
    out.push({ principal, operation: o['operation'] as string, resource: o['resource'] as string });
  });
  return out;
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
