/**
 * One sync run from AWS IoT Core into the registry, through `@aws-sdk/client-iot` (its
 * paginators, its credential sources, its retries with the adaptive rate limiter when
 * throttled). Only public material exists in the control plane, so only public material
 * is read: certificates (PEM), CA certificates, policy documents, names, attributes,
 * groups. A device's private key never leaves the device, in AWS IoT as here.
 *
 * Order of a run (every step reads, then writes one registry transaction per page):
 *   1. CA certificates (ACTIVE ones are trusted; a synced CA that is INACTIVE or gone is
 *      untrusted at the end), thing types, thing groups with their parents and direct
 *      members, policies with their default version's document and their targets, and the
 *      status of every certificate (ListCertificates) — all small lists, read in full;
 *   2. one write: CAs, types, the policies in scope, the groups in scope (parents first)
 *      with their policy attachments;
 *   3. things, one page at a time (ListThings, or the members of the chosen groups): the
 *      page's certificates (ListThingPrincipals; DescribeCertificate only for certificates
 *      not synced before, whose PEM never changes), checked against the trusted CAs with the
 *      registry's own chain check, then one write for the page;
 *   4. when every page was read: one write removing the synced objects the cloud no longer
 *      has (in scope). A run that stops early removes nothing.
 *
 * A dry run reads the same and applies every write in one transaction that is rolled
 * back: the report is exact and nothing is written.
 */
import { Agent } from 'node:https';
import {
  DescribeCACertificateCommand, DescribeCertificateCommand, DescribeThingCommand, DescribeThingGroupCommand, GetPolicyCommand, IoTClient,
  paginateListCACertificates, paginateListCertificates, paginateListPolicies, paginateListTargetsForPolicy, paginateListThingGroups,
  paginateListThingPrincipals, paginateListThings, paginateListThingsInThingGroup, paginateListThingTypes, type IoTClientConfig,
} from '@aws-sdk/client-iot';
import type { CertificateRecord, CertificateStatus, CertificateTrust, TrustedCa } from '../identity/registry.js';
import type {
  SyncBatch, SyncCa, SyncCertificate, SyncItem, SyncKind, SyncOutcome, SyncPolicy, SyncRefusal, SyncThing, SyncThingGroup, SyncThingType,
} from '../identity/sync-apply.js';
import { CertificateVerifier } from '../identity/verify.js';
import { SyncError } from './errors.js';

/** The registry as a sync uses it (SqliteRegistry). */
export interface SyncStore {
  applySync(batches: readonly SyncBatch[], options?: { readonly dryRun?: boolean }): Promise<SyncOutcome>;
  syncedNames(kind: SyncKind): Promise<string[]>;
  listTrustedCas(): Promise<TrustedCa[]>;
  getCertificate(id: string): Promise<CertificateRecord | undefined>;
  thingsForCertificate(id: string): Promise<string[]>;
}

export interface AwsSyncOptions {
  /** AWS region; default: the SDK's (AWS_REGION, the profile's region). */
  readonly region?: string;
  /** Named profile of ~/.aws/config and credentials; default: the SDK's credential chain. */
  readonly profile?: string;
  /** Endpoint override (tests, VPC endpoints). */
  readonly endpoint?: string;
  /** Extra CA certificates (PEM) to trust for the endpoint's TLS certificate. */
  readonly caBundle?: string;
  /** Explicit credentials (tests); default: the SDK's credential chain. */
  readonly credentials?: IoTClientConfig['credentials'];
  /** Only these thing groups' things (with their descendants' things); default: every thing. */
  readonly thingGroups?: readonly string[];
  readonly dryRun?: boolean;
  /**
   * Refuse (CERT_UNTRUSTED) a certificate whose chain reaches no CA trusted here, instead of
   * importing it as trusted by its registration in the cloud (default false: imported, as
   * AWS IoT trusts the certificates it created and those registered without a CA).
   */
  readonly requireTrustedCa?: boolean;
  /**
   * PEMs of certificates read before and not synced (refused), by id, kept by the caller
   * across runs (the continuous mode): a certificate's PEM never changes for its id, so a
   * refused one is not described again on every run, only checked again here. Filled by
   * the run; entries of certificates the cloud no longer has are dropped.
   */
  readonly pemCache?: Map<string, string>;
  /** Things per page, and so per transaction (1-250, default 100). */
  readonly pageSize?: number;
  /** Requests in flight at once within a page (default 8). */
  readonly concurrency?: number;
  /** Attempts per request, throttling and transient errors retried by the SDK (default 5). */
  readonly maxAttempts?: number;
  readonly now?: () => Date;
  /** Stops the run before its next page (SyncError SYNC_ABORTED); pages written stay. */
  readonly signal?: AbortSignal;
  /** Called after each page is written (progress). */
  readonly onPage?: (page: { readonly index: number; readonly things: number; readonly outcome: SyncOutcome }) => void;
}

export interface SyncReport {
  readonly dryRun: boolean;
  /** What was read, in scope. */
  readonly seen: { readonly things: number; readonly certificates: number; readonly thingGroups: number; readonly policies: number; readonly thingTypes: number; readonly cas: number };
  readonly pages: number;
  readonly added: readonly SyncItem[];
  readonly changed: readonly SyncItem[];
  readonly removed: readonly SyncItem[];
  readonly refused: readonly SyncRefusal[];
  /** Change-feed entries written (0 for a dry run, and for a run with no cloud change). */
  readonly changes: number;
  /** True when nothing was (or, in a dry run, would be) written. */
  readonly noChange: boolean;
  readonly startedAt: Date;
  readonly durationMs: number;
}

/** The client a run uses: the SDK's, with its credential chain, retries and rate limiter. */
export function iotClient(options: AwsSyncOptions): IoTClient {
  return new IoTClient({
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    ...(options.caBundle !== undefined ? { requestHandler: { httpsAgent: new Agent({ ca: options.caBundle, keepAlive: true, maxSockets: 50 }) } } : {}),
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: 'adaptive',
  });
}

const CERT_ARN = /:cert\/([0-9a-fA-F]{64})$/;
const GROUP_ARN = /:thinggroup\/([A-Za-z0-9:_-]+)$/;

/** Runs one sync. Throws SyncError when the cloud cannot be read; pages written before stay written. */
export async function syncFromAws(store: SyncStore, options: AwsSyncOptions = {}, client?: IoTClient): Promise<SyncReport> {
  const pageSize = options.pageSize ?? 100;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 250) throw new SyncError('SYNC_OPTIONS_INVALID', `page size ${pageSize} is not between 1 and 250`);
  const own = client === undefined;
  const iot = client ?? iotClient(options);
  try {
    return await new Run(store, iot, options, pageSize).run();
  } catch (e) {
    throw cloudError(e);
  } finally {
    if (own) iot.destroy();
  }
}

class Run {
  private readonly now: () => Date;
  private readonly dryRun: boolean;
  private readonly concurrency: number;
  private readonly staged: SyncBatch[] = [];
  private readonly outcomes: SyncOutcome[] = [];
  private readonly engineRefusals: SyncRefusal[] = [];
  private pages = 0;

  constructor(private readonly store: SyncStore, private readonly iot: IoTClient, private readonly options: AwsSyncOptions, private readonly pageSize: number) {
    this.now = options.now ?? (() => new Date());
    this.dryRun = options.dryRun === true;
    this.concurrency = Math.max(1, Math.min(64, options.concurrency ?? 8));
  }

  async run(): Promise<SyncReport> {
    const startedAt = this.now();
    const t0 = performance.now();

    // 1. The small lists.
    const cas = await this.readCas();
    const types = await this.readThingTypes();
    const groups = await this.readGroups();
    const policies = await this.readPolicies();
    const statuses = await this.readCertificateStatuses();
    const cache = this.options.pemCache;
    if (cache !== undefined) for (const id of [...cache.keys()]) if (!statuses.has(id)) cache.delete(id);

    // Scope: which things and groups.
    const scope = this.options.thingGroups;
    let scopeThings: string[] | undefined;
    let groupsInScope: Set<string>;
    if (scope === undefined || scope.length === 0) {
      groupsInScope = new Set(groups.all.keys());
    } else {
      for (const g of scope) if (!groups.all.has(g)) throw new SyncError('SYNC_OPTIONS_INVALID', `thing group \`${g}\` does not exist in AWS IoT`, 'list the groups with `aws iot list-thing-groups`; names are case-sensitive');
      const chosen = new Set<string>();
      for (const g of scope) for (const d of descendants(groups.all, g)) chosen.add(d);
      const things = new Set<string>();
      for (const g of chosen) for (const t of groups.members.get(g) ?? []) things.add(t);
      scopeThings = [...things].sort();
      groupsInScope = new Set<string>();
      for (const g of chosen) groupsInScope.add(g);
      // The other groups of the things in scope count too: their policies apply to them.
      for (const t of things) for (const g of groups.ofThing.get(t) ?? []) groupsInScope.add(g);
      for (const g of [...groupsInScope]) for (const a of ancestors(groups.all, g)) groupsInScope.add(a);
    }
    const orderedGroups = [...groupsInScope].sort((a, b) => depth(groups.all, a) - depth(groups.all, b) || (a < b ? -1 : a > b ? 1 : 0));

    // Policies in scope: every policy for a full sync; for a scoped one, those of the
    // groups in scope, and those of the certificates in scope as their pages come.
    const policiesWritten = new Set<string>();
    const firstPolicies: SyncPolicy[] = [];
    for (const [name, document] of policies.documents) {
      const wanted = scopeThings === undefined || (policies.groupTargets.get(name) ?? []).some((g) => groupsInScope.has(g));
      if (wanted) {
        firstPolicies.push({ name, document });
        policiesWritten.add(name);
      }
    }
    const groupBatch: SyncThingGroup[] = orderedGroups.map((name) => {
      const g = groups.all.get(name)!;
      return { name, parent: g.parent, description: g.description, policies: policies.byGroup.get(name) ?? [] };
    });

    // 2. The first write.
    await this.write({ cas: cas.active, thingTypes: types, policies: firstPolicies, thingGroups: groupBatch });

    // 3. Things, page by page.
    const trusted = await this.trustedAfter(cas.active);
    const verifier = new CertificateVerifier({
      listTrustedCas: () => Promise.resolve(trusted),
      getCertificate: (id) => this.store.getCertificate(id),
      thingsForCertificate: (id) => this.store.thingsForCertificate(id),
    });
    const syncedCerts = new Set(await this.store.syncedNames('certificate'));
    const seenThings = new Set<string>();
    const seenCerts = new Set<string>();
    const handledCerts = new Map<string, SyncCertificate | null>();
    const onePage = async (things: readonly { name: string; thingTypeName: string | null; attributes: Record<string, string> }[]): Promise<void> => {
      const principals = await mapLimit(things, this.concurrency, (t) => this.principalsOf(t.name));
      const newIds = new Set<string>();
      principals.forEach((ids) => ids?.forEach((id) => {
        if (!handledCerts.has(id)) newIds.add(id);
      }));
      const certs = await mapLimit([...newIds], this.concurrency, (id) => this.certificate(id, statuses, syncedCerts, verifier, policies.byCertificate));
      [...newIds].forEach((id, i) => handledCerts.set(id, certs[i] ?? null));
      const pagePolicies: SyncPolicy[] = [];
      for (const c of certs) {
        for (const p of c?.policies ?? []) {
          if (policiesWritten.has(p)) continue;
          const document = policies.documents.get(p);
          if (document === undefined) continue;
          pagePolicies.push({ name: p, document });
          policiesWritten.add(p);
        }
      }
      const batchThings: SyncThing[] = [];
      things.forEach((t, i) => {
        seenThings.add(t.name);
        const ids = principals[i];
        // The thing vanished while the page was read: left as it is until the next run.
        if (ids === undefined) return;
        for (const id of ids) seenCerts.add(id);
        batchThings.push({
          name: t.name, thingTypeName: t.thingTypeName, attributes: t.attributes,
          groups: (groups.ofThing.get(t.name) ?? []).filter((g) => groupsInScope.has(g)),
          certificates: ids.filter((id) => handledCerts.get(id) !== null || syncedCerts.has(id)),
        });
      });
      await this.write({ policies: pagePolicies, certificates: certs.filter((c): c is SyncCertificate => c !== undefined), things: batchThings });
      const last = this.outcomes[this.outcomes.length - 1];
      if (last !== undefined && !this.dryRun) this.options.onPage?.({ index: this.pages, things: things.length, outcome: last });
    };

    if (scopeThings === undefined) {
      for await (const page of paginateListThings({ client: this.iot, pageSize: this.pageSize }, { maxResults: this.pageSize })) {
        const things = (page.things ?? []).filter((t) => t.thingName !== undefined).map((t) => ({
          name: t.thingName!, thingTypeName: t.thingTypeName ?? null, attributes: { ...(t.attributes ?? {}) },
        }));
        if (things.length > 0) await onePage(things);
      }
    } else {
      for (let i = 0; i < scopeThings.length; i += this.pageSize) {
        const names = scopeThings.slice(i, i + this.pageSize);
        const described = await mapLimit(names, this.concurrency, (name) => this.describeThing(name));
        const things = described.filter((t): t is NonNullable<typeof t> => t !== undefined);
        if (things.length > 0) await onePage(things);
      }
    }

    // 4. Removal, now that everything in scope was read.
    await this.write({
      keep: {
        thing: seenThings,
        certificate: seenCerts,
        thing_group: groupsInScope,
        policy: policiesWritten,
        thing_type: new Set(types.map((t) => t.name)),
        ca: new Set(cas.active.map((c) => c.id)),
      },
    });

    if (this.dryRun) this.outcomes.push(await this.store.applySync(this.staged, { dryRun: true }));
    const merged = merge(this.outcomes);
    const refused = [...this.engineRefusals, ...merged.refused];
    return {
      dryRun: this.dryRun,
      seen: { things: seenThings.size, certificates: seenCerts.size, thingGroups: groupsInScope.size, policies: policiesWritten.size, thingTypes: types.length, cas: cas.active.length },
      pages: this.pages,
      added: merged.added,
      changed: merged.changed,
      removed: merged.removed,
      refused,
      changes: this.dryRun ? 0 : merged.changes,
      noChange: merged.changes === 0,
      startedAt,
      durationMs: Math.round(performance.now() - t0),
    };
  }

  /** One page's transaction, or staged for the dry run's single rolled-back one. */
  private async write(batch: SyncBatch): Promise<void> {
    if (this.options.signal?.aborted === true) throw new SyncError('SYNC_ABORTED', 'the sync was stopped before it ended (the gateway is stopping); the pages written so far stay', 'nothing to do: the next run continues');
    this.pages++;
    if (this.dryRun) {
      this.staged.push(batch);
      return;
    }
    this.outcomes.push(await this.store.applySync([batch]));
  }

  /** The trusted CAs once this run's are in: the local ones, without synced CAs the cloud no longer trusts, plus the cloud's. */
  private async trustedAfter(cloud: readonly SyncCa[]): Promise<TrustedCa[]> {
    const synced = new Set(await this.store.syncedNames('ca'));
    const cloudIds = new Set(cloud.map((c) => c.id));
    const local = (await this.store.listTrustedCas()).filter((ca) => !synced.has(ca.id) || cloudIds.has(ca.id));
    const have = new Set(local.map((c) => c.id));
    const added = cloud.filter((c) => !have.has(c.id)).map((c): TrustedCa => ({
      id: c.id, pem: c.pem, subject: '', notBefore: new Date(0), notAfter: new Date(8.64e15), addedAt: new Date(0), source: 'operator',
    }));
    return [...local, ...added];
  }

  // ------------------------------------------------------------ reads

  private async readCas(): Promise<{ active: SyncCa[] }> {
    const ids: string[] = [];
    for await (const page of paginateListCACertificates({ client: this.iot, pageSize: 250 }, { pageSize: 250 })) {
      for (const c of page.certificates ?? []) if (c.certificateId !== undefined && c.status === 'ACTIVE') ids.push(c.certificateId.toLowerCase());
    }
    const described = await mapLimit(ids, this.concurrency, async (id) => {
      const r = await this.iot.send(new DescribeCACertificateCommand({ certificateId: id }));
      const d = r.certificateDescription;
      return d?.status === 'ACTIVE' && d.certificatePem !== undefined ? { id, pem: d.certificatePem } : undefined;
    });
    return { active: described.filter((c): c is SyncCa => c !== undefined) };
  }

  private async readThingTypes(): Promise<SyncThingType[]> {
    const out: SyncThingType[] = [];
    for await (const page of paginateListThingTypes({ client: this.iot, pageSize: 250 }, { maxResults: 250 })) {
      for (const t of page.thingTypes ?? []) {
        if (t.thingTypeName === undefined) continue;
        out.push({
          name: t.thingTypeName,
          description: t.thingTypeProperties?.thingTypeDescription ?? null,
          searchableAttributes: t.thingTypeProperties?.searchableAttributes ?? [],
          deprecated: t.thingTypeMetadata?.deprecated === true,
        });
      }
    }
    return out;
  }

  private async readGroups(): Promise<{
    all: Map<string, { parent: string | null; description: string | null }>; members: Map<string, string[]>; ofThing: Map<string, string[]>;
  }> {
    const names: string[] = [];
    for await (const page of paginateListThingGroups({ client: this.iot, pageSize: 250 }, { maxResults: 250 })) {
      for (const g of page.thingGroups ?? []) if (g.groupName !== undefined) names.push(g.groupName);
    }
    const all = new Map<string, { parent: string | null; description: string | null }>();
    const members = new Map<string, string[]>();
    const ofThing = new Map<string, string[]>();
    await mapLimit(names, this.concurrency, async (name) => {
      const d = await this.iot.send(new DescribeThingGroupCommand({ thingGroupName: name }));
      all.set(name, { parent: d.thingGroupMetadata?.parentGroupName ?? null, description: d.thingGroupProperties?.thingGroupDescription ?? null });
      const list: string[] = [];
      for await (const page of paginateListThingsInThingGroup({ client: this.iot, pageSize: 250 }, { thingGroupName: name, recursive: false, maxResults: 250 })) {
        for (const t of page.things ?? []) list.push(t);
      }
      members.set(name, list);
    });
    for (const name of [...names].sort()) {
      for (const t of members.get(name) ?? []) {
        let l = ofThing.get(t);
        if (l === undefined) ofThing.set(t, (l = []));
        l.push(name);
      }
    }
    return { all, members, ofThing };
  }

  private async readPolicies(): Promise<{
    documents: Map<string, string>; byCertificate: Map<string, string[]>; byGroup: Map<string, string[]>; groupTargets: Map<string, string[]>;
  }> {
    const names: string[] = [];
    for await (const page of paginateListPolicies({ client: this.iot, pageSize: 250 }, { pageSize: 250 })) {
      for (const p of page.policies ?? []) if (p.policyName !== undefined) names.push(p.policyName);
    }
    const documents = new Map<string, string>();
    const byCertificate = new Map<string, string[]>();
    const byGroup = new Map<string, string[]>();
    const groupTargets = new Map<string, string[]>();
    const targets = new Map<string, string[]>();
    await mapLimit(names, this.concurrency, async (name) => {
      const p = await this.iot.send(new GetPolicyCommand({ policyName: name }));
      if (p.policyDocument !== undefined) documents.set(name, p.policyDocument);
      const list: string[] = [];
      for await (const page of paginateListTargetsForPolicy({ client: this.iot, pageSize: 250 }, { policyName: name, pageSize: 250 })) {
        for (const t of page.targets ?? []) list.push(t);
      }
      targets.set(name, list);
    });
    const push = (map: Map<string, string[]>, key: string, value: string): void => {
      let l = map.get(key);
      if (l === undefined) map.set(key, (l = []));
      l.push(value);
    };
    for (const name of [...names].sort()) {
      for (const arn of targets.get(name) ?? []) {
        const cert = CERT_ARN.exec(arn);
        if (cert !== null) push(byCertificate, cert[1]!.toLowerCase(), name);
        const group = GROUP_ARN.exec(arn);
        if (group !== null) {
          push(byGroup, group[1]!, name);
          push(groupTargets, name, group[1]!);
        }
      }
    }
    return { documents, byCertificate, byGroup, groupTargets };
  }

  private async readCertificateStatuses(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const page of paginateListCertificates({ client: this.iot, pageSize: 250 }, { pageSize: 250 })) {
      for (const c of page.certificates ?? []) if (c.certificateId !== undefined && c.status !== undefined) out.set(c.certificateId.toLowerCase(), c.status);
    }
    return out;
  }

  private async describeThing(name: string): Promise<{ name: string; thingTypeName: string | null; attributes: Record<string, string> } | undefined> {
    try {
      const t = await this.iot.send(new DescribeThingCommand({ thingName: name }));
      return { name, thingTypeName: t.thingTypeName ?? null, attributes: { ...(t.attributes ?? {}) } };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Certificate ids attached to the thing; undefined when the thing is gone meanwhile. */
  private async principalsOf(name: string): Promise<string[] | undefined> {
    const ids: string[] = [];
    try {
      for await (const page of paginateListThingPrincipals({ client: this.iot, pageSize: 250 }, { thingName: name, maxResults: 250 })) {
        for (const arn of page.principals ?? []) {
          const m = CERT_ARN.exec(arn);
          // Other principals (Amazon Cognito identities) authenticate no MQTT client here.
          if (m !== null) ids.push(m[1]!.toLowerCase());
        }
      }
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    return ids.sort();
  }

  /**
   * The certificate as the batch wants it, or undefined when it is refused (reported) or
   * gone. A certificate synced before is not described again: its PEM cannot change, its
   * status comes from ListCertificates.
   */
  private async certificate(id: string, statuses: ReadonlyMap<string, string>, synced: ReadonlySet<string>, verifier: CertificateVerifier,
    policies: ReadonlyMap<string, string[]>): Promise<SyncCertificate | undefined> {
    const cloudStatus = statuses.get(id);
    let pem: string | undefined;
    let status: string | undefined = cloudStatus;
    const local = synced.has(id) ? await this.store.getCertificate(id) : undefined;
    const cached = this.options.pemCache?.get(id);
    if (local !== undefined && cloudStatus !== undefined) {
      pem = local.pem;
    } else if (local === undefined && cached !== undefined && cloudStatus !== undefined) {
      pem = cached;
    } else {
      try {
        const d = (await this.iot.send(new DescribeCertificateCommand({ certificateId: id }))).certificateDescription;
        pem = d?.certificatePem;
        status = d?.status ?? status;
        if (pem !== undefined && local === undefined) this.options.pemCache?.set(id, pem);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    }
    if (pem === undefined || status === undefined) return undefined;
    const mapped = localStatus(status);
    // New certificates are checked as a connection would be: parse, validity, usage, and
    // the chain to a CA trusted here once this run's CAs are in. One whose issuer is not
    // known here — AWS IoT's own CA (CreateKeysAndCertificate, CreateCertificateFromCsr),
    // or none at all (RegisterCertificateWithoutCA) — is trusted in the cloud because it is
    // registered in the account: it is imported the same way, trusted by its exact
    // registration (identity/verify.ts), unless requireTrustedCa. A synced one keeps
    // following the cloud's status (a revocation above all) whatever its chain.
    let issuerId: string | null = local?.issuerId ?? null;
    let trust: CertificateTrust = local?.trust ?? 'ca';
    if (local === undefined) {
      const chain = await verifier.verifyChain(pem, this.now());
      if (chain.ok) {
        issuerId = chain.issuerId;
      } else if ((chain.reason === 'CERT_UNTRUSTED' || chain.reason === 'CERT_SELF_SIGNED') && this.options.requireTrustedCa !== true) {
        trust = 'registration';
      } else {
        this.engineRefusals.push({ kind: 'certificate', name: id, code: chain.reason, reason: chain.message });
        return undefined;
      }
    }
    // Taken: its PEM is in the registry from now on.
    if (!this.dryRun) this.options.pemCache?.delete(id);
    return { id, pem, status: mapped, issuerId, trust, policies: policies.get(id) ?? [] };
  }
}

/**
 * AWS IoT's statuses that have no local equivalent (a transfer or registration under
 * way) cannot connect in AWS IoT either: they are INACTIVE here.
 */
function localStatus(status: string): CertificateStatus {
  return status === 'ACTIVE' || status === 'REVOKED' ? status : 'INACTIVE';
}

function descendants(all: ReadonlyMap<string, { parent: string | null }>, root: string): string[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [name, g] of all) if (g.parent === out[i]) out.push(name);
  return out;
}

function ancestors(all: ReadonlyMap<string, { parent: string | null }>, name: string): string[] {
  const out: string[] = [];
  for (let p = all.get(name)?.parent ?? null; p !== null && !out.includes(p); p = all.get(p)?.parent ?? null) out.push(p);
  return out;
}

function depth(all: ReadonlyMap<string, { parent: string | null }>, name: string): number {
  return ancestors(all, name).length;
}

function merge(outcomes: readonly SyncOutcome[]): SyncOutcome {
  return {
    added: outcomes.flatMap((o) => o.added),
    changed: outcomes.flatMap((o) => o.changed),
    removed: outcomes.flatMap((o) => o.removed),
    refused: outcomes.flatMap((o) => o.refused),
    changes: outcomes.reduce((n, o) => n + o.changes, 0),
  };
}

/** `fn` over `items` with at most `limit` calls pending; results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'ResourceNotFoundException';
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);
const ACCESS_ERRORS = new Set([
  'AccessDeniedException', 'UnauthorizedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException',
  'InvalidClientTokenId', 'SignatureDoesNotMatch', 'CredentialsProviderError', 'ExpiredToken',
]);

/** An SDK failure as a coded SyncError; a SyncError or a registry failure passes through. */
export function cloudError(e: unknown): unknown {
  if (e instanceof SyncError) return e;
  if (typeof e !== 'object' || e === null) return e;
  const err = e as { name?: string; code?: string; message?: string; $metadata?: unknown; cause?: { code?: string } };
  if (typeof err.code === 'string' && !('$metadata' in err) && !NETWORK_CODES.has(err.code) && err.name !== 'TimeoutError') return e;
  const message = err.message ?? err.name ?? 'unknown error';
  if (/region is missing/i.test(message)) {
    return new SyncError('SYNC_REGION_MISSING', 'no AWS region is set', 'pass --region (or gatehouse.sync.aws.region), or set AWS_REGION or a region in the profile');
  }
  if (err.name !== undefined && ACCESS_ERRORS.has(err.name)) {
    return new SyncError('SYNC_ACCESS_DENIED', `AWS IoT refused the credentials or the request: ${err.name}: ${message}`,
      'check the credentials (profile, environment, role) and that their policy allows the read-only iot:List*, iot:Describe* and iot:GetPolicy actions docs/migration.md lists');
  }
  if ((err.code !== undefined && NETWORK_CODES.has(err.code)) || (err.cause?.code !== undefined && NETWORK_CODES.has(err.cause.code))
    || err.name === 'TimeoutError' || /socket hang up|getaddrinfo|connect E|network/i.test(message)) {
    return new SyncError('SYNC_CLOUD_UNREACHABLE', `AWS IoT cannot be reached: ${message}`, 'check the network path to the AWS IoT endpoint (proxy, DNS, firewall) and --endpoint if you set one; the registry keeps serving what it has');
  }
  if (err.$metadata !== undefined) {
    return new SyncError('SYNC_CLOUD_FAILED', `AWS IoT answered ${err.name ?? 'an error'}: ${message}`, 'run again; if it persists, the message names what AWS IoT refused');
  }
  return e;
}
