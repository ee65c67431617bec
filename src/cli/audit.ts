import type { Command } from 'commander';
import { day, printTable } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';
import { RemoteClient } from './remote/client.js';
import type { TargetOption } from './remote/commands.js';

// ----------------------------------------------------------------------------------
// gatehouse audit list: the management API's audit log (GET /gatehouse/audit)

interface AuditListOptions extends TargetOption {
  since?: string;
  until?: string;
  principal?: string;
  action?: string;
  decision?: string;
  limit?: string;
  beforeId?: string;
  json?: boolean;
}

interface AuditRecordWire {
  id: number;
  at: string;
  principal: string;
  action: string;
  resource: string;
  decision: 'allow' | 'deny';
  reason: string;
  policy: string | null;
  statement: string | null;
  sourceIp: string;
  userAgent: string | null;
  status: number;
  requestId: string;
}

export function registerAudit(program: Command, io: Io, setExit: (code: number) => void): void {
  const audit = program.command('audit').description('the audit log of management calls (allowed and denied)');

  audit.command('list').description('list audit records, newest first (through a gateway\'s management API)')
    .option('--since <time>', 'records at or after this ISO 8601 time')
    .option('--until <time>', 'records before this ISO 8601 time')
    .option('--principal <arn>', 'only this caller (an ARN, `gatehouse:api-token` or `anonymous`)')
    .option('--action <action>', 'only this action (`iot:CreateThing`)')
    .option('--decision <allow|deny>', 'only allowed or only denied calls')
    .option('--limit <n>', 'at most this many records (1-1000, default 100)')
    .option('--before-id <id>', 'only records older than this id (the `nextBeforeId` of the previous page)')
    .option('--json', 'print the answer as JSON on stdout')
    .addHelpText('after', `
Needs a remote target (--endpoint, --profile, GATEHOUSE_ENDPOINT) and credentials allowed
gatehouse:ListAuditRecords.

Exit status: 0 listed, 1 refused by the gateway, 2 usage error, 69 gateway unreachable.`)
    .action(async (opts: AuditListOptions) => {
      const target = opts.target;
      if (target?.kind !== 'remote') throw new CliError('REMOTE_ENDPOINT_MISSING', '`gatehouse audit list` needs a remote endpoint', EXIT.USAGE);
      for (const [flag, v] of [['--since', opts.since], ['--until', opts.until]] as const) {
        if (v !== undefined && Number.isNaN(new Date(v).getTime())) throw new CliError('USAGE', `${flag} \`${v}\` is not an ISO 8601 time`);
      }
      if (opts.decision !== undefined && opts.decision !== 'allow' && opts.decision !== 'deny') throw new CliError('USAGE', `--decision \`${opts.decision}\` is not allow or deny`);
      if (opts.limit !== undefined && !(/^\d{1,4}$/.test(opts.limit) && Number(opts.limit) >= 1 && Number(opts.limit) <= 1000)) throw new CliError('USAGE', `--limit \`${opts.limit}\` is not a whole number from 1 to 1000`);
      if (opts.beforeId !== undefined && !/^\d{1,15}$/.test(opts.beforeId)) throw new CliError('USAGE', `--before-id \`${opts.beforeId}\` is not a record id`);
      const client = new RemoteClient(target);
      const answer = await client.call<{ records: AuditRecordWire[]; nextBeforeId?: number }>({
        service: 'gatehouse', operation: 'ListAuditRecords', method: 'GET', path: '/gatehouse/audit',
        query: {
          since: opts.since !== undefined ? new Date(opts.since).toISOString() : undefined,
          until: opts.until !== undefined ? new Date(opts.until).toISOString() : undefined,
          principal: opts.principal, action: opts.action, decision: opts.decision, limit: opts.limit, beforeId: opts.beforeId,
        },
      });
      const records = Array.isArray(answer.records) ? answer.records : [];
      if (opts.json) io.out(JSON.stringify({ records, ...(answer.nextBeforeId !== undefined ? { nextBeforeId: answer.nextBeforeId } : {}) }));
      else if (records.length === 0) io.out('no audit records');
      else {
        printTable(io, ['ID', 'AT', 'DECISION', 'STATUS', 'PRINCIPAL', 'ACTION', 'RESOURCE'],
          records.map((r) => [String(r.id), day(new Date(r.at)), r.decision.toUpperCase(), String(r.status), r.principal, r.action, r.resource]));
        if (answer.nextBeforeId !== undefined) io.out(`(more: --before-id ${answer.nextBeforeId})`);
      }
      setExit(EXIT.OK);
    });
}
