/**
 * `gatehouse retained list|show|delete`: the retained MQTT messages the broker keeps in
 * the registry database. Locally they read and change the data directory's registry;
 * against a gateway (--endpoint/--profile) they call the management API's
 * `/gatehouse/retained` operations, and a delete also removes the message from the
 * running broker at once.
 */
import type { Command } from 'commander';
import { day } from './certs.js';
import { printTable } from './certs.js';
import { controlOptions, withControl, type ControlOptions } from './control-common.js';
import { CliError, EXIT, type Io } from './output.js';
import { RemoteClient } from './remote/client.js';
import type { TargetOption } from './remote/commands.js';
import { parsePositive } from './things.js';

type SetExit = (code: number) => void;
type Options = ControlOptions & TargetOption;

interface Summary { readonly topic: string; readonly payloadSize: number; readonly qos: number; readonly lastModifiedTime: number }
interface Message extends Summary { readonly payload: string }

/** The operations, locally (the registry) or through the management API. */
interface RetainedBackend {
  list(limit: number, nextToken?: string): Promise<{ readonly items: readonly Summary[]; readonly nextToken?: string }>;
  get(topic: string): Promise<Message | undefined>;
  delete(topic: string): Promise<boolean>;
}

const PAGE_MAX = 200;

async function withBackend(opts: Options, io: Io, setExit: SetExit, fn: (b: RetainedBackend) => Promise<void>): Promise<void> {
  const target = opts.target;
  if (target?.kind === 'remote') {
    const client = new RemoteClient(target);
    const notFound = (e: unknown): undefined => {
      if (e instanceof CliError && e.code === 'REMOTE_NOT_FOUND') return undefined;
      throw e;
    };
    await fn({
      async list(limit, nextToken) {
        const r = await client.call<{ retainedMessages?: Summary[]; nextToken?: string }>({
          service: 'gatehouse', operation: 'ListRetainedMessagesOperator', method: 'GET', path: '/gatehouse/retained', query: { maxResults: String(limit), nextToken },
        });
        return { items: r.retainedMessages ?? [], ...(r.nextToken !== undefined ? { nextToken: r.nextToken } : {}) };
      },
      async get(topic) {
        return client.call<Message>({ service: 'gatehouse', operation: 'GetRetainedMessageOperator', method: 'GET', path: `/gatehouse/retained/${encodeURIComponent(topic)}` }).catch(notFound);
      },
      async delete(topic) {
        const r = await client.call({ service: 'gatehouse', operation: 'DeleteRetainedMessageOperator', method: 'DELETE', path: `/gatehouse/retained/${encodeURIComponent(topic)}` }).catch(notFound);
        return r !== undefined;
      },
    });
    setExit(EXIT.OK);
    return;
  }
  await withControl(opts, io, setExit, async ({ registry }) => {
    const store = registry.retained();
    await fn({
      async list(limit, nextToken) {
        const after = nextToken !== undefined ? Buffer.from(nextToken, 'base64url').toString('utf8') : undefined;
        const rows = await store.list({ ...(after !== undefined && after !== '' ? { after } : {}), limit: limit + 1 });
        const page = rows.slice(0, limit).map((r) => ({ topic: r.topic, payloadSize: r.payloadSize, qos: r.qos, lastModifiedTime: r.modifiedAt }));
        return { items: page, ...(rows.length > limit ? { nextToken: Buffer.from(page[page.length - 1]!.topic, 'utf8').toString('base64url') } : {}) };
      },
      async get(topic) {
        const m = await store.get(topic);
        return m === undefined ? undefined : { topic: m.topic, payloadSize: m.payload.length, qos: m.qos, lastModifiedTime: m.modifiedAt, payload: m.payload.toString('base64') };
      },
      delete: (topic) => store.delete(topic),
    });
  });
}

function notFound(topic: string): CliError {
  return new CliError('RETAINED_NOT_FOUND', `no retained message on topic \`${topic}\``, EXIT.INVALID, 'list the retained messages with `gatehouse retained list`');
}

export function registerRetained(program: Command, io: Io, setExit: SetExit): void {
  const retained = program.command('retained').description('the retained MQTT messages the broker keeps (they survive restarts)');

  controlOptions(retained.command('list').description('list retained messages by topic (payloads not shown)'))
    .option('--max-results <n>', `at most this many (1 to ${PAGE_MAX}, default 50)`)
    .option('--next-token <token>', 'the next page (the token a previous list printed)')
    .action((opts: Options & { maxResults?: string; nextToken?: string }) => {
      const limit = opts.maxResults !== undefined ? parsePositive(opts.maxResults, '--max-results') : 50;
      if (limit > PAGE_MAX) throw new CliError('USAGE', `--max-results \`${opts.maxResults}\` is above ${PAGE_MAX}`);
      return withBackend(opts, io, setExit, async (b) => {
        const r = await b.list(limit, opts.nextToken);
        if (opts.json) io.out(JSON.stringify({ retainedMessages: r.items, ...(r.nextToken !== undefined ? { nextToken: r.nextToken } : {}) }));
        else if (r.items.length === 0) io.out('no retained messages');
        else {
          printTable(io, ['TOPIC', 'BYTES', 'QOS', 'STORED'], r.items.map((m) => [m.topic, String(m.payloadSize), String(m.qos), new Date(m.lastModifiedTime).toISOString()]));
          if (r.nextToken !== undefined) io.out(`more: --next-token ${r.nextToken}`);
        }
      });
    });

  controlOptions(retained.command('show').description('show one retained message with its payload').argument('<topic>', 'the topic'))
    .action((topic: string, opts: Options) => withBackend(opts, io, setExit, async (b) => {
      const m = await b.get(topic);
      if (m === undefined) throw notFound(topic);
      if (opts.json) io.out(JSON.stringify(m));
      else {
        io.out(`topic:    ${m.topic}`);
        io.out(`qos:      ${m.qos}`);
        io.out(`stored:   ${new Date(m.lastModifiedTime).toISOString()} (${day(new Date(m.lastModifiedTime))})`);
        io.out(`bytes:    ${m.payloadSize}`);
        const payload = Buffer.from(m.payload, 'base64');
        const text = payload.toString('utf8');
        io.out(Buffer.from(text, 'utf8').equals(payload) && !/[\u0000-\u0008\u000e-\u001f]/.test(text) ? `payload:  ${text}` : `payload (base64): ${m.payload}`);
      }
    }));

  controlOptions(retained.command('delete').description('delete a retained message (nothing is published; new subscribers no longer receive it)').argument('<topic>', 'the topic'))
    .addHelpText('after', `
Locally this edits the data directory's registry: a gateway running on it keeps the
message in memory until it restarts. Against a running gateway, use --endpoint/--profile
(the management API removes it from the broker at once).`)
    .action((topic: string, opts: Options) => withBackend(opts, io, setExit, async (b) => {
      if (!(await b.delete(topic))) throw notFound(topic);
      if (opts.json) io.out(JSON.stringify({ deleted: topic }));
      else io.out(`deleted the retained message on ${topic}`);
    }));
}
