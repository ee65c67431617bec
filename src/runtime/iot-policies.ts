import { compileIotPolicies, IotPart, type IotAttachments, type IotDeployment, type IotNamedProblem, type IotPolicySet } from '../core/index.js';
import type { Logger } from '../observability/logger.js';
import type { PolicyStore } from './policy-store.js';

/** What the registry holds of AWS IoT policies: the default version of each, and who they apply to. */
export interface IotPolicyData extends IotAttachments {
  /** The registry's change sequence number this data reflects. */
  readonly seq: number;
  readonly policies: readonly { readonly name: string; readonly document: string }[];
}

/** Where the data comes from (the registry; a port, so runtime does not depend on it). */
export type IotPolicySource = () => Promise<IotPolicyData>;

/** Delay before the registry is read again after a failed read. */
export const RETRY_MILLISECONDS = 1000;

/** Condition keys that make a decision depend on the clock: such decisions are not cached. */
const CLOCK_KEYS = /aws:(currenttime|epochtime)/i;

/**
 * Compiles the registry's policies into the IoT part of a snapshot, as the gateway does
 * (the loader below, `gatehouse authorize --data-dir`): `part` is undefined when the
 * registry holds no policy and no attachment (the Greengrass dialect alone).
 *
 * A stored document that does not compile (one a newer rule rejects) is left out and
 * listed in `broken` with its problems; a connection it applies to then finds it missing
 * and is denied everything the IoT dialect would decide (IOT_POLICY_NOT_FOUND), because
 * the document might hold a Deny. The other policies keep working.
 */
export function compileIotPart(data: IotPolicyData, deployment: IotDeployment, previous?: IotPolicySet):
  | { readonly ok: true; readonly part: IotPart | undefined; readonly set: IotPolicySet; readonly reused: number; readonly broken: readonly IotNamedProblem[] }
  | { readonly ok: false; readonly problems: readonly IotNamedProblem[] } {
  // `previous`: the set in force; its policies whose name and text are unchanged are reused.
  let result = compileIotPolicies(data.policies, deployment, previous);
  let broken: readonly IotNamedProblem[] = [];
  if (!result.ok) {
    broken = result.problems;
    const bad = new Set(broken.map((p) => p.policy));
    result = compileIotPolicies(data.policies.filter((p) => !bad.has(p.name)), deployment, previous);
    if (!result.ok) return { ok: false, problems: [...broken, ...result.problems] };
  }
  const timed = new Set<string>();
  for (const p of data.policies) if (readsClock(p.document)) timed.add(p.name);
  const part = data.policies.length === 0 && !hasAttachments(data) ? undefined : new IotPart(result.set, data, timed);
  return { ok: true, part, set: result.set, reused: result.reused, broken };
}

/**
 * Keeps the AWS IoT policies of the snapshot in force in step with the registry: each
 * reload reads the policies and attachments in one go, compiles them and swaps them in
 * (the broker re-checks live sessions on every swap, as after a configuration reload).
 *
 * Reloads never overlap: one asked for while another runs is done once after it. A set
 * that does not compile (a stored document a newer rule rejects) is logged with every
 * problem and the policies in force stay. A registry that cannot be read is logged and
 * read again after RETRY_MILLISECONDS (until it can, or close()): the change that asked
 * for the reload has already been consumed, and nothing else would bring it in.
 */
export class IotPolicyLoader {
  private readonly source: IotPolicySource;
  private readonly store: PolicyStore;
  private readonly logger: Logger;
  private deployment: IotDeployment;
  private running: Promise<void> | undefined;
  private again = false;
  /** The set last swapped in: the next compile reuses its unchanged policies. */
  private current: IotPolicySet | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(source: IotPolicySource, store: PolicyStore, logger: Logger, deployment: IotDeployment) {
    this.source = source;
    this.store = store;
    this.logger = logger;
    this.deployment = deployment;
  }

  /** A new `gatehouse.iot` section: ARNs change, so the policies are compiled again. */
  setDeployment(d: IotDeployment): Promise<void> {
    const cur = this.deployment;
    if (cur.partition === d.partition && cur.region === d.region && cur.accountId === d.accountId) return Promise.resolve();
    this.deployment = d;
    return this.reload('deployment');
  }

  /** Stops the retries of a failed read (the gateway is closing). */
  close(): void {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.reload('retry');
    }, RETRY_MILLISECONDS);
    this.retry.unref();
  }

  /** Reads, compiles and swaps in the registry's policies; resolves once they are in force. */
  reload(trigger: string): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.loadOnce(trigger);
      } while (this.again);
    };
    this.running = run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async loadOnce(trigger: string): Promise<void> {
    let data: IotPolicyData;
    try {
      data = await this.source();
    } catch (e) {
      this.logger.error({ event: 'iot-policies-error', trigger, err: (e as Error).message, retryMilliseconds: RETRY_MILLISECONDS }, 'could not read the AWS IoT policies from the registry; the policies in force stay until it can be read');
      this.scheduleRetry();
      return;
    }
    const started = performance.now();
    const result = compileIotPart(data, this.deployment, this.current);
    if (!result.ok) {
      for (const p of result.problems) this.logger.error({ event: 'iot-policy-error', policy: p.policy, code: p.code, path: p.path, fix: p.fix }, p.message);
      this.logger.error({ event: 'iot-policies-rejected', trigger, problems: result.problems.length }, 'stored AWS IoT policies do not compile; the policies in force stay');
      return;
    }
    if (result.broken.length > 0) {
      for (const p of result.broken) this.logger.error({ event: 'iot-policy-error', policy: p.policy, code: p.code, path: p.path, fix: p.fix }, p.message);
      const names = [...new Set(result.broken.map((p) => p.policy))];
      this.logger.error({ event: 'iot-policies-rejected', trigger, problems: result.broken.length, policies: names },
        'stored AWS IoT policies do not compile: left out, and connections they apply to are denied what IoT policies decide (IOT_POLICY_NOT_FOUND)');
    }
    this.store.setIot(result.part);
    this.current = result.set;
    this.logger.info({ event: 'iot-policies-applied', trigger, policies: data.policies.length, reused: result.reused, seq: data.seq, compileMilliseconds: Math.round(performance.now() - started) },
      'AWS IoT policies in force');
  }
}

/**
 * Whether a document names a clock key, with its string escapes resolved
 * (`aws:Current\u0054ime` is `aws:CurrentTime`). A document that does not parse (it
 * could not have compiled) counts as reading the clock: not caching is the safe side.
 */
function readsClock(document: string): boolean {
  // A reload re-reads every document; most are unchanged since the last one.
  let known = CLOCK_READERS.get(document);
  if (known === undefined) {
    try {
      known = CLOCK_KEYS.test(JSON.stringify(JSON.parse(document)));
    } catch {
      known = true;
    }
    if (CLOCK_READERS.size >= CLOCK_READERS_LIMIT) CLOCK_READERS.clear();
    CLOCK_READERS.set(document, known);
  }
  return known;
}

/** readsClock's answers by document text (the strings the registry read holds anyway). */
const CLOCK_READERS = new Map<string, boolean>();
const CLOCK_READERS_LIMIT = 16_384;

function hasAttachments(d: IotAttachments): boolean {
  return d.certificatePolicies.size > 0 || d.thingGroupPolicies.size > 0;
}
