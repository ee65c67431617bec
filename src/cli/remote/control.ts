/**
 * The control-store operations of `role-aliases`, `tags` and `audit list`, answered by a
 * remote gateway: AWS IoT's role-alias and tag operations
 * (https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html and
 * neighbours) and Gatehouse's `GET /gatehouse/audit`. Same interface as the local store
 * (`CommandControl`), so those commands parse and print once.
 *
 * The ARNs of a remote gateway (partition and account) are learnt from STS
 * GetCallerIdentity (the caller's ARN and account), the region is the signing region.
 */
import type { IotDeployment } from '../../core/policy/iot/context.js';
import { arnOfTagTarget } from '../../identity/control-arns.js';
import type { AuditQuery, AuditRecord, ControlStore, RoleAlias, TagTarget } from '../../identity/control.js';
import { CliError, EXIT } from '../output.js';
import { path, type RemoteClient } from './client.js';

/** What the control-plane commands that run on either side call. */
export type CommandControl = Pick<ControlStore,
  'createRoleAlias' | 'getRoleAlias' | 'listRoleAliases' | 'updateRoleAlias' | 'deleteRoleAlias' | 'tagResource' | 'untagResource' | 'tagsOf' | 'queryAudit'>;

type Json = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const fromEpoch = (v: unknown): Date => (typeof v === 'number' ? new Date(v * 1000) : new Date(Number.NaN));
const tagList = (tags: Readonly<Record<string, string>>): { Key: string; Value: string }[] => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

export class RemoteControl implements CommandControl {
  readonly #c: RemoteClient;
  #deployment: IotDeployment | undefined;

  constructor(client: RemoteClient) {
    this.#c = client;
  }

  /** The gateway's partition and account (from GetCallerIdentity) and the signing region. */
  async deployment(): Promise<IotDeployment> {
    if (this.#deployment !== undefined) return this.#deployment;
    const xml = await this.#c.callText({ service: 'sts', operation: 'GetCallerIdentity', method: 'POST', path: '/', form: { Action: 'GetCallerIdentity', Version: '2011-06-15' } });
    const arn = /<Arn>([^<]+)<\/Arn>/.exec(xml)?.[1];
    const account = /<Account>(\d{12})<\/Account>/.exec(xml)?.[1];
    const partition = arn?.split(':')[1];
    if (account === undefined || partition === undefined || partition === '') throw new CliError('REMOTE_PROTOCOL_ERROR', 'GetCallerIdentity answered without an ARN and account', EXIT.INVALID);
    this.#deployment = { partition, region: this.#c.target.region, accountId: account };
    return this.#deployment;
  }

  async createRoleAlias(alias: string, roleArn: string, options: { readonly credentialDurationSeconds?: number; readonly tags?: Readonly<Record<string, string>> } = {}): Promise<RoleAlias> {
    await this.#c.call({
      service: 'iot', operation: 'CreateRoleAlias', method: 'POST', path: path`/role-aliases/${alias}`,
      body: { roleArn, ...(options.credentialDurationSeconds !== undefined ? { credentialDurationSeconds: options.credentialDurationSeconds } : {}), ...(options.tags !== undefined && Object.keys(options.tags).length > 0 ? { tags: tagList(options.tags) } : {}) },
    });
    return (await this.getRoleAlias(alias))!;
  }

  async getRoleAlias(alias: string): Promise<RoleAlias | undefined> {
    let r: Json;
    try {
      r = await this.#c.call<Json>({ service: 'iot', operation: 'DescribeRoleAlias', method: 'GET', path: path`/role-aliases/${alias}` });
    } catch (e) {
      if (e instanceof CliError && e.code === 'REMOTE_NOT_FOUND') return undefined;
      throw e;
    }
    const d = (r['roleAliasDescription'] ?? {}) as Json;
    const arn = str(d['roleAliasArn']) ?? '';
    return {
      alias: str(d['roleAlias']) ?? alias,
      arn,
      roleArn: str(d['roleArn']) ?? '',
      credentialDurationSeconds: typeof d['credentialDurationSeconds'] === 'number' ? d['credentialDurationSeconds'] : 0,
      createdAt: fromEpoch(d['creationDate']),
      updatedAt: fromEpoch(d['lastModifiedDate']),
      tags: arn !== '' ? await this.#tagsOfArn(arn) : {},
    };
  }

  async listRoleAliases(): Promise<RoleAlias[]> {
    const names: string[] = [];
    let marker: string | undefined;
    for (let i = 0; i < 10_000; i++) {
      const r = await this.#c.call<Json>({ service: 'iot', operation: 'ListRoleAliases', method: 'GET', path: '/role-aliases', query: { pageSize: '250', isAscendingOrder: 'true', ...(marker !== undefined ? { marker } : {}) } });
      for (const n of Array.isArray(r['roleAliases']) ? r['roleAliases'] : []) if (typeof n === 'string') names.push(n);
      marker = str(r['nextMarker']);
      if (marker === undefined || marker === '') break;
    }
    const out: RoleAlias[] = [];
    for (const n of names.sort()) {
      const a = await this.getRoleAlias(n);
      if (a !== undefined) out.push(a);
    }
    return out;
  }

  async updateRoleAlias(alias: string, update: { readonly roleArn?: string; readonly credentialDurationSeconds?: number }): Promise<RoleAlias> {
    await this.#c.call({ service: 'iot', operation: 'UpdateRoleAlias', method: 'PUT', path: path`/role-aliases/${alias}`, body: { ...update } });
    return (await this.getRoleAlias(alias))!;
  }

  async deleteRoleAlias(alias: string): Promise<void> {
    await this.#c.call({ service: 'iot', operation: 'DeleteRoleAlias', method: 'DELETE', path: path`/role-aliases/${alias}` });
  }

  async tagResource(target: TagTarget, tags: Readonly<Record<string, string>>): Promise<void> {
    const resourceArn = arnOfTagTarget(target, await this.deployment());
    await this.#c.call({ service: 'iot', operation: 'TagResource', method: 'POST', path: '/tags', body: { resourceArn, tags: tagList(tags) } });
  }

  async untagResource(target: TagTarget, keys: readonly string[]): Promise<void> {
    const resourceArn = arnOfTagTarget(target, await this.deployment());
    await this.#c.call({ service: 'iot', operation: 'UntagResource', method: 'POST', path: '/untag', body: { resourceArn, tagKeys: [...keys] } });
  }

  async tagsOf(target: TagTarget): Promise<Readonly<Record<string, string>>> {
    return this.#tagsOfArn(arnOfTagTarget(target, await this.deployment()));
  }

  async #tagsOfArn(resourceArn: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    let token: string | undefined;
    for (let i = 0; i < 10_000; i++) {
      const r = await this.#c.call<Json>({ service: 'iot', operation: 'ListTagsForResource', method: 'GET', path: '/tags', query: { resourceArn, ...(token !== undefined ? { nextToken: token } : {}) } });
      for (const t of Array.isArray(r['tags']) ? r['tags'] : []) {
        const k = str((t as Json)['Key']);
        if (k !== undefined) out[k] = str((t as Json)['Value']) ?? '';
      }
      token = str(r['nextToken']);
      if (token === undefined || token === '') break;
    }
    return out;
  }

  async queryAudit(query: AuditQuery): Promise<AuditRecord[]> {
    const r = await this.#c.call<{ records?: unknown }>({
      service: 'gatehouse', operation: 'ListAuditRecords', method: 'GET', path: '/gatehouse/audit',
      query: {
        since: query.since?.toISOString(), until: query.until?.toISOString(), principal: query.principal, action: query.action, decision: query.decision,
        limit: query.limit !== undefined ? String(query.limit) : undefined, beforeId: query.beforeId !== undefined ? String(query.beforeId) : undefined,
      },
    });
    const records = Array.isArray(r.records) ? (r.records as (Omit<AuditRecord, 'at'> & { at: string })[]) : [];
    return records.map((x) => ({ ...x, at: new Date(x.at) }));
  }
}
