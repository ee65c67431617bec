import { DEFAULT_SHADOW_DOCUMENT_BYTES, MAX_SHADOW_DOCUMENT_BYTES } from '../shadow/document.js';
import type { ConfigError, ConfigWarning } from '../errors.js';
import { parsePattern, type PolicyVariables, type ResourcePattern, KNOWN_VARIABLES } from '../policy/resource.js';
import { OPERATIONS, OPERATION_WILDCARDS, RESOURCE_PREFIX, RESOURCE_PREFIXES, operationIndex, splitResource, validNameChars, type Operation } from '../policy/request.js';
import { parseRule, RuleSyntaxError } from '../rules/parse.js';
import type { Rule } from '../rules/ast.js';
import { Checker, isPlainObject, typeName } from './check.js';
import { DEFAULT_IOT_DEPLOYMENT } from '../policy/iot/context.js';
import { checkHost } from './hosts.js';
import { formatPath, type PathSegment } from './path.js';
import { CLUSTER_CONFIG_SOURCES, sharedKeysPresent } from './cluster.js';
import { closest, didYouMean } from './suggest.js';
import type {
  CaType, CertificateAuthorityConfig, DeviceGroupsConfig, Effect, GatehouseConfig, GatehouseSection, GroupDefinition, LogLevel, StatementConfig,
} from './types.js';

/** Only this module gives the brand: it is a type, with no value anything could copy. */
declare const VALIDATED: unique symbol;

/**
 * Device groups that validation accepted, with what it learnt while checking them. It
 * is the only input compileDeviceGroups takes, so configuration cannot reach the
 * compiler without having been validated; validateConfig and validateDeviceGroups are
 * the only makers (the brand cannot be written outside this module without a cast).
 */
export interface ValidatedDeviceGroups {
  readonly [VALIDATED]: true;
  /** The device groups as validated: frozen, the same object as the configuration's `deviceGroups`. */
  readonly config: DeviceGroupsConfig;
  /** The policies that use `${iot:ClientId}` or thing attributes (the others use neither). */
  readonly policies: ReadonlyMap<string, PolicyVariables>;
  /** Every group's selection rule, parsed, by its text. */
  readonly rules: ReadonlyMap<string, Rule>;
}

export type ValidationResult =
  | {
    readonly ok: true;
    readonly config: GatehouseConfig;
    /** `config.deviceGroups` as validated, for compileDeviceGroups. */
    readonly deviceGroups: ValidatedDeviceGroups;
    readonly warnings: readonly ConfigWarning[];
  }
  | { readonly ok: false; readonly errors: readonly ConfigError[]; readonly warnings: readonly ConfigWarning[] };

export type DeviceGroupsValidationResult =
  | { readonly ok: true; readonly deviceGroups: ValidatedDeviceGroups; readonly warnings: readonly ConfigWarning[] }
  | { readonly ok: false; readonly errors: readonly ConfigError[]; readonly warnings: readonly ConfigWarning[] };

const TOP_LEVEL = [
  'deviceGroups', 'certificates', 'performance', 'certificateAuthority', 'security', 'metrics', 'startupTimeoutSeconds',
  'ca_type', 'gatehouse',
] as const;

export const FORMAT_VERSION = '2021-03-05';
const INT_MAX = 2147483647;

/**
 * Validates a parsed configuration document (the result of JSON or YAML parsing) and
 * fills in defaults. Every problem is reported, each with a code, a path and a fix.
 */
export function validateConfig(doc: unknown): ValidationResult {
  const ck = new Checker();
  if (doc === undefined || doc === null) doc = {};
  if (!isPlainObject(doc)) {
    ck.error('CONFIG_NOT_AN_OBJECT', [], `the configuration must be an object (a mapping), found ${typeName(doc)}`,
      'start from examples/gatehouse.yaml');
    return { ok: false, errors: ck.errors, warnings: ck.warnings };
  }
  const top = ck.fields(doc, [], TOP_LEVEL, true) ?? {};

  const groups = checkDeviceGroups(ck, top['deviceGroups']);
  const deviceGroups = groups.config;

  const certs = ck.fields(top['certificates'], ['certificates'],
    ['serverCertificateValiditySeconds', 'clientCertificateValiditySeconds', 'disableCertificateRotation'], true) ?? {};
  const certificates = {
    serverCertificateValiditySeconds: ck.int(certs['serverCertificateValiditySeconds'], ['certificates', 'serverCertificateValiditySeconds'], 604800, 172800, 864000),
    clientCertificateValiditySeconds: ck.int(certs['clientCertificateValiditySeconds'], ['certificates', 'clientCertificateValiditySeconds'], 604800, 60, 864000),
    disableCertificateRotation: ck.bool(certs['disableCertificateRotation'], ['certificates', 'disableCertificateRotation'], false),
  };

  const perf = ck.fields(top['performance'], ['performance'], ['maxActiveAuthTokens', 'cloudRequestQueueSize', 'maxConcurrentCloudRequests'], true) ?? {};
  const performance = {
    maxActiveAuthTokens: ck.int(perf['maxActiveAuthTokens'], ['performance', 'maxActiveAuthTokens'], 2500, 1, 2147483646),
    cloudRequestQueueSize: ck.int(perf['cloudRequestQueueSize'], ['performance', 'cloudRequestQueueSize'], 100, 1, INT_MAX),
    maxConcurrentCloudRequests: ck.int(perf['maxConcurrentCloudRequests'], ['performance', 'maxConcurrentCloudRequests'], 1, 1, INT_MAX),
  };

  const certificateAuthority = checkCertificateAuthority(ck, top['certificateAuthority'], top['ca_type']);

  const sec = ck.fields(top['security'], ['security'], ['clientDeviceTrustDurationMinutes'], true) ?? {};
  const security = {
    clientDeviceTrustDurationMinutes: ck.int(sec['clientDeviceTrustDurationMinutes'], ['security', 'clientDeviceTrustDurationMinutes'], 1, 1, INT_MAX),
  };

  const met = ck.fields(top['metrics'], ['metrics'], ['disableMetrics', 'aggregatePeriodSeconds'], true) ?? {};
  const metrics = {
    disableMetrics: ck.bool(met['disableMetrics'], ['metrics', 'disableMetrics'], false),
    aggregatePeriodSeconds: ck.int(met['aggregatePeriodSeconds'], ['metrics', 'aggregatePeriodSeconds'], 3600, 1, INT_MAX),
  };

  const startupTimeoutSeconds = ck.int(top['startupTimeoutSeconds'], ['startupTimeoutSeconds'], 120, 1, 86400);
  const gatehouse = checkGatehouse(ck, top['gatehouse']);
  checkClusterSource(ck, top, gatehouse);

  if (ck.errors.length > 0) return { ok: false, errors: ck.errors, warnings: ck.warnings };
  const config: GatehouseConfig = {
    deviceGroups, certificates, performance, certificateAuthority, security, metrics, startupTimeoutSeconds, gatehouse,
  };
  deepFreeze(config);
  return { ok: true, config, deviceGroups: validated(groups), warnings: ck.warnings };
}

/**
 * Validates the `deviceGroups` section alone (what is under the `deviceGroups` key of
 * a configuration), for callers that hold no whole configuration. Paths in problems
 * start with `deviceGroups`, as in validateConfig.
 */
export function validateDeviceGroups(value: unknown): DeviceGroupsValidationResult {
  const ck = new Checker();
  const groups = checkDeviceGroups(ck, value);
  if (ck.errors.length > 0) return { ok: false, errors: ck.errors, warnings: ck.warnings };
  deepFreeze(groups.config);
  return { ok: true, deviceGroups: validated(groups), warnings: ck.warnings };
}

/** What checkDeviceGroups returns: the section and what it parsed in it. */
interface CheckedDeviceGroups {
  readonly config: DeviceGroupsConfig;
  readonly policies: ReadonlyMap<string, PolicyVariables>;
  readonly rules: ReadonlyMap<string, Rule>;
}

/** The brand, given to device groups that checkDeviceGroups found without error. */
function validated(groups: CheckedDeviceGroups): ValidatedDeviceGroups {
  return Object.freeze({ config: groups.config, policies: groups.policies, rules: groups.rules }) as ValidatedDeviceGroups;
}

function checkDeviceGroups(ck: Checker, value: unknown): CheckedDeviceGroups {
  const path = ['deviceGroups'];
  const dg = ck.fields(value, path, ['formatVersion', 'definitions', 'policies'], true) ?? {};
  const fv = dg['formatVersion'];
  if (fv !== undefined && fv !== FORMAT_VERSION) {
    ck.error('CONFIG_FORMAT_VERSION', [...path, 'formatVersion'], `unsupported format version ${typeof fv === 'string' ? `\`${fv}\`` : typeName(fv)}`,
      `use \`${FORMAT_VERSION}\` (the only version) or leave it out`);
  }

  const policies: Record<string, Record<string, StatementConfig>> = {};
  // The variables each policy uses, for compileDeviceGroups.
  const parsed = new Map<string, PolicyVariables>();
  const rawPolicies = dg['policies'];
  const policyNames = plainNames(rawPolicies);
  const policyEntries: Iterable<[string, unknown]> = policyNames !== undefined
    ? policyNames.map((n): [string, unknown] => [n, (rawPolicies as Record<string, unknown>)[n]])
    : ck.named(rawPolicies, [...path, 'policies'], 'policies');
  for (const [policyName, policyValue] of policyEntries) {
    const ppath = new LazyPath(POLICIES_PATH, policyName);
    const statements: Record<string, StatementConfig> = {};
    const known: PolicyVariables = { clientId: false, attributes: undefined };
    const names = plainNames(policyValue);
    if (names !== undefined) {
      for (const stmtName of names) {
        const st = checkStatement(ck, (policyValue as Record<string, unknown>)[stmtName], ppath, stmtName, known);
        if (st) statements[stmtName] = st;
      }
    } else {
      for (const [stmtName, stmtValue] of ck.named(policyValue, ppath.get(), 'statements')) {
        const st = checkStatement(ck, stmtValue, ppath, stmtName, known);
        if (st) statements[stmtName] = st;
      }
    }
    // Frozen as built (deepFreeze stops at frozen objects); unobservable when validation fails.
    policies[policyName] = Object.freeze(statements);
    if (known.clientId || known.attributes !== undefined) parsed.set(policyName, known);
  }

  const rules = new Map<string, Rule>();
  const definitions: Record<string, GroupDefinition> = {};
  const used = new Set<string>();
  for (const [groupName, groupValue] of ck.named(dg['definitions'], [...path, 'definitions'], 'groups')) {
    const gpath = new LazyPath(DEFINITIONS_PATH, groupName);
    const g = knownFields(ck, groupValue, gpath, GROUP_KEYS);
    if (!g) continue;
    // A blank rule is left to the rule parser, which reports RULE_EMPTY with its fix.
    const rawRule = g['selectionRule'];
    const rule = typeof rawRule === 'string' ? rawRule
      : requiredString(ck, rawRule, gpath.plus('selectionRule'), 'a selection rule such as `thingName: sensor*`', false);
    const rawPolicy = g['policyName'];
    const policyName = typeof rawPolicy === 'string' && rawPolicy.length > 0 && rawPolicy.charCodeAt(0) > 32 && rawPolicy.charCodeAt(0) < 127 ? rawPolicy
      : requiredString(ck, rawPolicy, gpath.plus('policyName'), 'the name of a policy under `deviceGroups.policies`');
    if (rule !== undefined) checkRule(ck, rule, gpath, rules);
    if (policyName !== undefined) {
      used.add(policyName);
      if (!Object.hasOwn(policies, policyName)) {
        const names = Object.keys(policies);
        ck.error('CONFIG_POLICY_NOT_FOUND', gpath.plus('policyName'), `policy \`${policyName}\` is not defined under \`deviceGroups.policies\``,
          didYouMean(policyName, names) ?? (names.length ? `define it, or use one of ${names.map((n) => `\`${n}\``).join(', ')}` : 'define it under `deviceGroups.policies`'));
      }
    }
    const iotPolicies = g['iotPolicies'] === undefined ? undefined : checkIotPolicyNames(ck, g['iotPolicies'], gpath);
    if (rule !== undefined && policyName !== undefined) {
      definitions[groupName] = Object.freeze(iotPolicies === undefined ? { selectionRule: rule, policyName } : { selectionRule: rule, policyName, iotPolicies });
    }
  }
  for (const name of Object.keys(policies)) {
    if (!used.has(name)) ck.warn('CONFIG_POLICY_UNUSED', [...path, 'policies', name], `policy \`${name}\` is not used by any group`, 'reference it from a group\'s `policyName`, or remove it');
  }
  Object.freeze(policies);
  return { config: { formatVersion: FORMAT_VERSION, definitions, policies }, policies: parsed, rules };
}

/** AWS IoT policy names: 1–128 characters of `[A-Za-z0-9_+=,.@-]` (CreatePolicy's policyName). */
const IOT_POLICY_NAME = /^[\w+=,.@-]{1,128}$/;

function checkIotPolicyNames(ck: Checker, value: unknown, group: LazyPath): readonly string[] | undefined {
  const path = group.plus('iotPolicies');
  const names = ck.strings(value, path);
  let ok = true;
  names.forEach((n, i) => {
    if (IOT_POLICY_NAME.test(n)) return;
    ok = false;
    ck.error('CONFIG_INVALID_VALUE', [...path, i], `\`${n}\` is not an AWS IoT policy name`, 'use 1 to 128 letters, digits and `_+=,.@-`, the name given to `gatehouse policies create`');
  });
  return ok ? Object.freeze([...new Set(names)]) : undefined;
}

function requiredString(ck: Checker, value: unknown, path: PathSegment[], what: string, nonBlank = true): string | undefined {
  if (value === undefined || value === null) {
    ck.error('CONFIG_MISSING_KEY', path, `\`${String(path.at(-1))}\` is required`, `add ${what}`);
    return undefined;
  }
  return ck.string(value, path, { nonBlank });
}

function checkRule(ck: Checker, rule: string, group: LazyPath, rules: Map<string, Rule>): void {
  try {
    if (!rules.has(rule)) rules.set(rule, parseRule(rule));
  } catch (e) {
    if (!(e instanceof RuleSyntaxError)) throw e;
    const at = e.line > 1 ? `line ${e.line}, column ${e.column}` : `column ${e.column}`;
    ck.error(e.code, group.plus('selectionRule'), `${e.message} at ${at} of \`${rule}\``, e.fix);
  }
}

const STATEMENT_KEYS = ['statementDescription', 'effect', 'operations', 'resources'] as const;
const POLICIES_PATH: readonly PathSegment[] = ['deviceGroups', 'policies'];
const DEFINITIONS_PATH: readonly PathSegment[] = ['deviceGroups', 'definitions'];
const GROUP_KEYS = ['selectionRule', 'policyName', 'iotPolicies'] as const;

/**
 * The keys ck.named() would return for a plain object none of whose keys it would
 * report (no `_` prefix, not blank); undefined when ck.named() must handle the value.
 */
function plainNames(value: unknown): string[] | undefined {
  if (value === undefined || value === null || !isPlainObject(value)) return undefined;
  const keys = Object.keys(value);
  for (const key of keys) {
    const c = key.charCodeAt(0);
    if (c === 95 /* _ */ || !(c > 32 && c < 127) && key.trim() === '') return undefined;
  }
  return keys;
}

/**
 * The path of a statement, built only when a problem is reported (most statements
 * have none, and a configuration may have a hundred thousand of them).
 */
class LazyPath {
  private path: PathSegment[] | undefined;
  constructor(private readonly parent: readonly PathSegment[] | LazyPath, private readonly key: string) {}
  get(): PathSegment[] {
    return (this.path ??= [...(this.parent instanceof LazyPath ? this.parent.get() : this.parent), this.key]);
  }
  plus(...more: PathSegment[]): PathSegment[] {
    return [...this.get(), ...more];
  }
}

/** ck.fields(value, path, keys, true), without building the path when every key is known (same result). */
function knownFields(ck: Checker, value: unknown, path: LazyPath, keys: readonly string[]): Record<string, unknown> | undefined {
  if (value !== undefined && value !== null && isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    let plain = true;
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (keys.includes(key)) out[key] = value[key];
      else {
        plain = false;
        break;
      }
    }
    // For own enumerable string keys, for-in visits them in Object.entries order.
    if (plain) return out;
  }
  return ck.fields(value, path.get(), keys, true);
}

/** ck.strings() without building a path when the value is a list of strings (same result). */
function stringList(ck: Checker, value: unknown, path: LazyPath, key: string): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    const out: string[] = [];
    let i = 0;
    for (; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'string' || !(i in value)) break;
      out.push(item);
    }
    if (i === value.length) return out;
  }
  return ck.strings(value, path.plus(key));
}

const OP_BIT: Readonly<Record<Operation, number>> = { 'mqtt:connect': 1, 'mqtt:publish': 2, 'mqtt:subscribe': 4 };

function checkStatement(ck: Checker, value: unknown, parent: LazyPath, name: string,
  variables: PolicyVariables): StatementConfig | undefined {
  const path = new LazyPath(parent, name);
  const st = knownFields(ck, value, path, STATEMENT_KEYS);
  if (!st) return undefined;
  const rawDescription = st['statementDescription'];
  const description = rawDescription === undefined || rawDescription === null ? undefined
    : typeof rawDescription === 'string' ? rawDescription : ck.string(rawDescription, path.plus('statementDescription'));

  // Greengrass reads the effect case-insensitively; DENY is Gatehouse's extension.
  let effect: Effect = 'ALLOW';
  const rawEffect = st['effect'];
  if (rawEffect !== undefined) {
    const upper = typeof rawEffect === 'string' ? rawEffect.toUpperCase() : undefined;
    if (upper === 'ALLOW' || upper === 'DENY') effect = upper;
    else ck.error('CONFIG_INVALID_VALUE', path.plus('effect'), `effect ${typeof rawEffect === 'string' ? `\`${rawEffect}\`` : typeName(rawEffect)} is not \`ALLOW\` or \`DENY\``,
      'use `ALLOW` (the default) or `DENY`');
  }

  const operations = stringList(ck, st['operations'], path, 'operations');
  // The operations granted, as a bit set and in the order they were first named.
  let ops = 0;
  const opOrder: Operation[] = [];
  for (let i = 0; i < operations.length; i++) {
    const op = operations[i]!;
    const k = operationIndex(op);
    if (k >= 0) {
      const o = OPERATIONS[k]!;
      if ((ops & OP_BIT[o]) === 0) {
        ops |= OP_BIT[o];
        opOrder.push(o);
      }
    } else if ((OPERATION_WILDCARDS as readonly string[]).includes(op)) {
      for (const o of OPERATIONS) {
        if ((ops & OP_BIT[o]) === 0) {
          ops |= OP_BIT[o];
          opOrder.push(o);
        }
      }
    } else {
      ck.error('CONFIG_UNKNOWN_OPERATION', path.plus('operations', i), `unknown operation \`${op}\``,
        didYouMean(op, [...OPERATIONS, ...OPERATION_WILDCARDS]) ?? 'use `mqtt:connect`, `mqtt:publish`, `mqtt:subscribe` or `*`');
    }
  }

  const resources = stringList(ck, st['resources'], path, 'resources');
  for (let i = 0; i < resources.length; i++) {
    const pattern = checkResource(ck, resources[i]!, path, i, ops, opOrder);
    if (pattern !== undefined && pattern.hasVariables) {
      for (const part of pattern.parts) {
        if (part.kind !== 'variable') continue;
        if (part.variable.kind === 'clientId') variables.clientId = true;
        else if (part.variable.kind === 'attribute') (variables.attributes ??= new Set()).add(part.variable.name);
      }
    }
  }

  if (operations.length === 0 || resources.length === 0) {
    ck.warn('CONFIG_STATEMENT_EMPTY', path.get(), `the statement has no ${operations.length === 0 ? 'operations' : 'resources'} and grants nothing`,
      'list at least one operation and one resource');
  }
  Object.freeze(operations);
  Object.freeze(resources);
  const out: StatementConfig = { effect, operations, resources };
  return Object.freeze(description === undefined ? out : { statementDescription: description, ...out });
}

const RESOURCE_FORMS = 'a resource is `*`, `mqtt:clientId:ID`, `mqtt:topic:TOPIC` or `mqtt:topicfilter:FILTER`, where `*` may stand for any run of characters';

const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;
const TOPIC_WILDCARD_CHARS = /[+#]/;
/** Matches a character that is not printable ASCII, or is `+` or `#`: absent in most resources. */
const UNUSUAL_CHARS = /[^\x20-\x22\x24-\x2A\x2C-\x7E]/;

/** Checks one resource; returns its pattern when it parsed (whether or not it was reported). */
function checkResource(ck: Checker, res: string, statement: LazyPath, i: number, ops: number, opOrder: readonly Operation[]): ResourcePattern | undefined {
  const parsed = parsePattern(res);
  if (Array.isArray(parsed)) {
    for (const p of parsed) {
      if (p.kind === 'unknown-variable') {
        ck.error('CONFIG_UNKNOWN_VARIABLE', statement.plus('resources', i), `unknown policy variable \`\${${p.name}}\``,
          didYouMean(p.name, KNOWN_VARIABLES) ?? `supported variables: ${KNOWN_VARIABLES.map((v) => `\`\${${v}}\``).join(', ')}`);
      } else {
        ck.error('CONFIG_MALFORMED_VARIABLE', statement.plus('resources', i), `\`${p.text}\` ${p.reason}`, 'write a variable as `${iot:Connection.Thing.ThingName}`');
      }
    }
    return undefined;
  }
  const pattern = parsed;
  const c = res.charCodeAt(0);
  if (res.length === 0 || (!(c > 32 && c < 127) && res.trim() === '')) {
    ck.error('CONFIG_MALFORMED_RESOURCE', statement.plus('resources', i), 'the resource is blank', RESOURCE_FORMS);
    return pattern;
  }
  // The literal text is made of the resource's own characters: printable ASCII throughout
  // means it is acceptable (the common case; otherwise check the joined text as written).
  const usual = !UNUSUAL_CHARS.test(res);
  if (!usual && !PRINTABLE_ASCII.test(res) && !validNameChars(literalTextOf(pattern))) {
    ck.error('CONFIG_MALFORMED_RESOURCE', statement.plus('resources', i), `\`${res}\` contains a control character or a symbol that no request can carry`, 'remove it');
    return pattern;
  }
  const types = resourceTypes(pattern);
  if ((types & ALL_OPS) === 0) {
    const parts = splitResource(res);
    const written = parts ? `${parts.service}:${parts.type}:` : undefined;
    const typo = written !== undefined ? closest(written, RESOURCE_PREFIXES) : undefined;
    // `mqtt:topic:` itself has the right prefix but no name: suggesting it again would not help.
    const suggestion = typo !== undefined && typo !== written ? `did you mean \`${typo}${parts!.name}\`? ` : '';
    ck.error('CONFIG_MALFORMED_RESOURCE', statement.plus('resources', i), `\`${res}\` can never match an MQTT resource`, suggestion + RESOURCE_FORMS);
    return pattern;
  }
  if (ops !== 0 && (types & ops) === 0) {
    ck.warn('CONFIG_RESOURCE_NEVER_MATCHES', statement.plus('resources', i), `\`${res}\` does not apply to ${opOrder.map((o) => `\`${o}\``).join(', ')}`,
      'mqtt:connect checks `mqtt:clientId:…`, mqtt:publish checks `mqtt:topic:…`, mqtt:subscribe checks `mqtt:topicfilter:…`');
  }
  // Variables cannot contain `+` or `#`, so a resource without them has none in its literal text.
  if (!usual && (types & TOPIC_LEAD) !== 0 && TOPIC_WILDCARD_CHARS.test(res) && TOPIC_WILDCARD_CHARS.test(literalTextOf(pattern).slice('mqtt:topic:'.length))) {
    ck.warn('CONFIG_RESOURCE_NEVER_MATCHES', statement.plus('resources', i), `\`+\` and \`#\` are literal characters in \`${res}\`; published topic names never contain them`,
      'use `*` to match any characters, or `mqtt:topicfilter:` to grant a subscription');
  }
  return pattern;
}

function literalTextOf(pattern: ResourcePattern): string {
  return pattern.parts.map((p) => (p.kind === 'literal' ? p.text : '')).join('');
}

const ALL_OPS = 7;
/** Bit in resourceTypes(): the pattern's first part is literal text starting with `mqtt:topic:`. */
const TOPIC_LEAD = 8;

/**
 * Which operations' resources the pattern can match (OP_BIT bits), plus TOPIC_LEAD.
 *
 * The pattern can match some `prefix + name` with a non-empty name when: with no
 * wildcard (variables count as wildcards: their value is unknown at load time), its
 * text extends the prefix; otherwise its literal text before the first wildcard and the
 * prefix agree on their common length (anything may follow a wildcard).
 */
function resourceTypes(pattern: ResourcePattern): number {
  const parts = pattern.parts;
  const first = parts[0];
  // Literal parts never follow each other, so the text before the first wildcard is the first part.
  const lead = first !== undefined && first.kind === 'literal' ? first.text : '';
  const wild = parts.length > (lead === '' ? 0 : 1);
  let types = 0;
  if (lead.length >= 17) {
    // At least as long as every prefix, and the prefixes differ within their first 11
    // characters: at most one of them can start it.
    const op: Operation = lead.charCodeAt(5) === 99 /* c */ ? 'mqtt:connect' : lead.charCodeAt(10) === 58 /* : */ ? 'mqtt:publish' : 'mqtt:subscribe';
    const prefix = RESOURCE_PREFIX[op];
    if ((wild || lead.length > prefix.length) && startsWith(lead, prefix)) types = OP_BIT[op];
  } else {
    for (const op of OPERATIONS) {
      const prefix = RESOURCE_PREFIX[op];
      const ok = wild ? (lead.length >= prefix.length ? startsWith(lead, prefix) : startsWith(prefix, lead)) : lead.length > prefix.length && startsWith(lead, prefix);
      if (ok) types |= OP_BIT[op];
    }
  }
  if (startsWith(lead, 'mqtt:topic:')) types |= TOPIC_LEAD;
  return types;
}

/** String.prototype.startsWith, faster as a native search on this engine. */
function startsWith(s: string, prefix: string): boolean {
  return s.length >= prefix.length && (prefix.length === 0 || s.indexOf(prefix) === 0);
}

const CA_TYPES: readonly CaType[] = ['RSA_2048', 'ECDSA_P256'];

function checkCertificateAuthority(ck: Checker, value: unknown, legacyCaType: unknown): CertificateAuthorityConfig {
  const path = ['certificateAuthority'];
  const ca = ck.fields(value, path, ['certificateUri', 'certificateChainUri', 'privateKeyUri', 'caType'], true) ?? {};
  const uri = (key: string): string | undefined => {
    const v = ck.string(ca[key], [...path, key]);
    if (v === undefined || v.trim() === '') return undefined; // blank means absent, as in Greengrass
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(v) && !/^(file|pkcs11):/i.test(v) && !/^[A-Za-z]:[\\/]/.test(v)) {
      ck.error('CONFIG_INVALID_VALUE', [...path, key], `\`${v}\` is neither a \`file:\` URI nor a path`, 'use `file:///path/to/file` or a plain path');
      return v; // reported; still counts as set, so that it is not also reported as missing
    }
    return v;
  };
  const certificateUri = uri('certificateUri');
  const certificateChainUri = uri('certificateChainUri');
  const privateKeyUri = uri('privateKeyUri');
  // Greengrass silently falls back to its managed CA when only one is set; fail closed instead.
  if ((certificateUri === undefined) !== (privateKeyUri === undefined)) {
    const missing = certificateUri === undefined ? 'certificateUri' : 'privateKeyUri';
    ck.error('CONFIG_MISSING_KEY', [...path, missing], `a custom CA needs both \`certificateUri\` and \`privateKeyUri\`; \`${missing}\` is missing`,
      `set \`${missing}\`, or remove the other to use the managed CA`);
  }
  if (certificateChainUri !== undefined && certificateUri === undefined && privateKeyUri === undefined) {
    ck.error('CONFIG_MISSING_KEY', [...path, 'certificateUri'], '`certificateChainUri` is set without a custom CA', 'set `certificateUri` and `privateKeyUri`, or remove `certificateChainUri`');
  }

  // caType may be a string or a list whose first element counts (Greengrass); `ca_type` is its deprecated top-level form.
  let caType: CaType = 'ECDSA_P256';
  const [raw, rawPath] = ca['caType'] !== undefined ? [ca['caType'], [...path, 'caType']] : [legacyCaType, ['ca_type']];
  if (raw !== undefined) {
    const first: unknown = Array.isArray(raw) ? raw[0] : raw;
    caType = ck.oneOf(first, Array.isArray(raw) ? [...rawPath, 0] : rawPath, CA_TYPES, 'ECDSA_P256');
  }
  const out: { -readonly [K in keyof CertificateAuthorityConfig]: CertificateAuthorityConfig[K] } = { caType };
  if (certificateUri !== undefined) out.certificateUri = certificateUri;
  if (certificateChainUri !== undefined) out.certificateChainUri = certificateChainUri;
  if (privateKeyUri !== undefined) out.privateKeyUri = privateKeyUri;
  return out;
}

/** The largest packet MQTT can frame: a fixed header plus 268,435,455 bytes (MQTT 3.1.1, section 2.2.3). */
const MQTT_MAX_PACKET = 268_435_460;

/**
 * Where IoT policy ARNs place this site's resources. The defaults name no real AWS
 * account, so a cloud policy naming its own account matches only once `accountId` (and
 * `region`) are set to the account's; `*` in those ARN segments matches either way.
 */
function checkIotDeployment(ck: Checker, value: unknown, path: PathSegment[]): GatehouseSection['iot'] {
  const f = ck.fields(value, path, ['partition', 'region', 'accountId'], false) ?? {};
  const text = (key: string, def: string, re: RegExp, fix: string): string => {
    const v = ck.string(f[key], [...path, key], { nonBlank: true });
    if (v === undefined) return def;
    if (!re.test(v)) {
      ck.error('CONFIG_INVALID_VALUE', [...path, key], `\`${v}\` is not a valid ${key}`, fix);
      return def;
    }
    return v;
  };
  return Object.freeze({
    partition: text('partition', DEFAULT_IOT_DEPLOYMENT.partition, /^aws(-[a-z]+)*$/, 'use `aws`, `aws-cn` or `aws-us-gov`'),
    region: text('region', DEFAULT_IOT_DEPLOYMENT.region, /^[a-z]{2}(-[a-z]+)+-\d+$/, 'use an AWS region name such as `eu-west-1`'),
    accountId: text('accountId', DEFAULT_IOT_DEPLOYMENT.accountId, /^\d{12}$/, 'use the 12-digit AWS account id, e.g. `123456789012`'),
  });
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function checkGatehouse(ck: Checker, value: unknown): GatehouseSection {
  const path = ['gatehouse'];
  const g = ck.fields(value, path, ['dataDir', 'hostAddresses', 'detectInterfaceAddresses', 'watchConfig', 'configSettleMilliseconds', 'iot', 'mqtt', 'api', 'management', 'dataPlane', 'shadows', 'retained', 'jobs', 'logging', 'sync', 'registry', 'cluster'], false) ?? {};
  const dataDir = ck.string(g['dataDir'], [...path, 'dataDir'], { nonBlank: true });
  const hostAddresses = ck.strings(g['hostAddresses'], [...path, 'hostAddresses']);
  // The certificate authority's own classifier: what validates here is what it can issue.
  hostAddresses.forEach((h, i) => {
    const r = checkHost(h);
    if (!r.ok) ck.error('CONFIG_INVALID_VALUE', [...path, 'hostAddresses', i], r.message, r.fix);
  });

  const mpath = [...path, 'mqtt'];
  const m = ck.fields(g['mqtt'], mpath, ['host', 'port', 'websocket', 'maxPacketSizeBytes', 'maxConnectPacketSizeBytes', 'connectTimeoutSeconds', 'maxPendingConnections', 'maxConnections', 'maxQueuedMessages', 'maxInflightMessages', 'reasonStrings', 'topicAliasMaximum', 'receiveMaximum'], false) ?? {};
  const wpath = [...mpath, 'websocket'];
  const w = ck.fields(m['websocket'], wpath, ['enabled', 'host', 'port', 'path'], false) ?? {};
  const apath = [...path, 'api'];
  const a = ck.fields(g['api'], apath, ['enabled', 'host', 'port', 'socketPath', 'bodyLimitBytes'], false) ?? {};
  const mgpath = [...path, 'management'];
  const mg = ck.fields(g['management'], mgpath, ['enabled', 'host', 'port', 'bodyLimitBytes', 'maxClockSkewSeconds', 'auditRetentionDays', 'console'], false) ?? {};
  const cnpath = [...mgpath, 'console'];
  const cn = ck.fields(mg['console'], cnpath, ['enabled', 'idleTimeoutSeconds', 'absoluteTimeoutSeconds', 'maxSessions', 'signInAttemptsPerMinute'], false) ?? {};
  const dppath = [...path, 'dataPlane'];
  const dp = ck.fields(g['dataPlane'], dppath, ['enabled', 'host', 'port', 'bodyLimitBytes'], false) ?? {};
  const shpath = [...path, 'shadows'];
  const sh = ck.fields(g['shadows'], shpath, ['enabled', 'maxDocumentSizeBytes'], false) ?? {};
  const rtpath = [...path, 'retained'];
  const rt = ck.fields(g['retained'], rtpath, ['maxPayloadBytes', 'maxMessages', 'maxTotalBytes'], false) ?? {};
  const jbpath = [...path, 'jobs'];
  const jb = ck.fields(g['jobs'], jbpath, ['enabled'], false) ?? {};
  const lpath = [...path, 'logging'];
  const l = ck.fields(g['logging'], lpath, ['level'], false) ?? {};

  const socketPath = ck.string(a['socketPath'], [...apath, 'socketPath'], { nonBlank: true });
  const wsPath = ck.string(w['path'], [...wpath, 'path'], { nonBlank: true }) ?? '/mqtt';
  if (!wsPath.startsWith('/')) ck.error('CONFIG_INVALID_VALUE', [...wpath, 'path'], `\`${wsPath}\` must start with \`/\``, `use \`/${wsPath}\``);

  const section: GatehouseSection = {
    hostAddresses,
    detectInterfaceAddresses: ck.bool(g['detectInterfaceAddresses'], [...path, 'detectInterfaceAddresses'], true),
    watchConfig: ck.bool(g['watchConfig'], [...path, 'watchConfig'], true),
    configSettleMilliseconds: ck.int(g['configSettleMilliseconds'], [...path, 'configSettleMilliseconds'], 1000, 0, 60_000),
    iot: checkIotDeployment(ck, g['iot'], [...path, 'iot']),
    mqtt: {
      host: ck.string(m['host'], [...mpath, 'host'], { nonBlank: true }) ?? '0.0.0.0',
      port: ck.int(m['port'], [...mpath, 'port'], 8883, 0, 65535),
      maxPacketSizeBytes: ck.int(m['maxPacketSizeBytes'], [...mpath, 'maxPacketSizeBytes'], 262_144, 1024, MQTT_MAX_PACKET),
      maxConnectPacketSizeBytes: ck.int(m['maxConnectPacketSizeBytes'], [...mpath, 'maxConnectPacketSizeBytes'], 65_536, 1024, MQTT_MAX_PACKET),
      connectTimeoutSeconds: ck.int(m['connectTimeoutSeconds'], [...mpath, 'connectTimeoutSeconds'], 10, 1, 300),
      maxPendingConnections: ck.int(m['maxPendingConnections'], [...mpath, 'maxPendingConnections'], 1000, 1, 1_000_000),
      maxConnections: ck.int(m['maxConnections'], [...mpath, 'maxConnections'], 0, 0, 10_000_000),
      maxQueuedMessages: ck.int(m['maxQueuedMessages'], [...mpath, 'maxQueuedMessages'], 1000, 1, 10_000_000),
      maxInflightMessages: ck.int(m['maxInflightMessages'], [...mpath, 'maxInflightMessages'], 1000, 1, 65_535),
      reasonStrings: ck.bool(m['reasonStrings'], [...mpath, 'reasonStrings'], false),
      topicAliasMaximum: ck.int(m['topicAliasMaximum'], [...mpath, 'topicAliasMaximum'], 0, 0, 100),
      // At most the inbound QoS 2 cap every connection has (1000, as aedes 1.2.0's maxInflightInbound).
      receiveMaximum: ck.int(m['receiveMaximum'], [...mpath, 'receiveMaximum'], 1000, 1, 1000),
      websocket: {
        enabled: ck.bool(w['enabled'], [...wpath, 'enabled'], false),
        host: ck.string(w['host'], [...wpath, 'host'], { nonBlank: true }) ?? '0.0.0.0',
        port: ck.int(w['port'], [...wpath, 'port'], 8443, 0, 65535),
        path: wsPath,
      },
    },
    api: {
      enabled: ck.bool(a['enabled'], [...apath, 'enabled'], true),
      host: ck.string(a['host'], [...apath, 'host'], { nonBlank: true }) ?? '127.0.0.1',
      port: ck.int(a['port'], [...apath, 'port'], 8090, 0, 65535),
      ...(socketPath !== undefined ? { socketPath } : {}),
      bodyLimitBytes: ck.int(a['bodyLimitBytes'], [...apath, 'bodyLimitBytes'], 65536, 1024, 16 * 1024 * 1024),
    },
    management: {
      enabled: ck.bool(mg['enabled'], [...mgpath, 'enabled'], true),
      host: ck.string(mg['host'], [...mgpath, 'host'], { nonBlank: true }) ?? '127.0.0.1',
      port: ck.int(mg['port'], [...mgpath, 'port'], 8444, 0, 65535),
      bodyLimitBytes: ck.int(mg['bodyLimitBytes'], [...mgpath, 'bodyLimitBytes'], 1024 * 1024, 1024, 16 * 1024 * 1024),
      maxClockSkewSeconds: ck.int(mg['maxClockSkewSeconds'], [...mgpath, 'maxClockSkewSeconds'], 900, 1, 3600),
      auditRetentionDays: ck.int(mg['auditRetentionDays'], [...mgpath, 'auditRetentionDays'], 90, 1, 36500),
      console: {
        enabled: ck.bool(cn['enabled'], [...cnpath, 'enabled'], true),
        idleTimeoutSeconds: ck.int(cn['idleTimeoutSeconds'], [...cnpath, 'idleTimeoutSeconds'], 900, 1, 86_400),
        absoluteTimeoutSeconds: ck.int(cn['absoluteTimeoutSeconds'], [...cnpath, 'absoluteTimeoutSeconds'], 28_800, 1, 604_800),
        maxSessions: ck.int(cn['maxSessions'], [...cnpath, 'maxSessions'], 64, 1, 10_000),
        signInAttemptsPerMinute: ck.int(cn['signInAttemptsPerMinute'], [...cnpath, 'signInAttemptsPerMinute'], 10, 1, 10_000),
      },
    },
    dataPlane: {
      enabled: ck.bool(dp['enabled'], [...dppath, 'enabled'], false),
      host: ck.string(dp['host'], [...dppath, 'host'], { nonBlank: true }) ?? '127.0.0.1',
      port: ck.int(dp['port'], [...dppath, 'port'], 8443, 0, 65535),
      bodyLimitBytes: ck.int(dp['bodyLimitBytes'], [...dppath, 'bodyLimitBytes'], 131_072, 1024, 16 * 1024 * 1024),
    },
    shadows: {
      enabled: ck.bool(sh['enabled'], [...shpath, 'enabled'], true),
      maxDocumentSizeBytes: ck.int(sh['maxDocumentSizeBytes'], [...shpath, 'maxDocumentSizeBytes'], DEFAULT_SHADOW_DOCUMENT_BYTES, 1024, MAX_SHADOW_DOCUMENT_BYTES),
    },
    retained: {
      maxPayloadBytes: ck.int(rt['maxPayloadBytes'], [...rtpath, 'maxPayloadBytes'], 131_072, 1, 16 * 1024 * 1024),
      maxMessages: ck.int(rt['maxMessages'], [...rtpath, 'maxMessages'], 10_000, 0, 10_000_000),
      maxTotalBytes: ck.int(rt['maxTotalBytes'], [...rtpath, 'maxTotalBytes'], 64 * 1024 * 1024, 0, 16 * 1024 * 1024 * 1024),
    },
    jobs: { enabled: ck.bool(jb['enabled'], [...jbpath, 'enabled'], true) },
    logging: { level: ck.oneOf(l['level'], [...lpath, 'level'], LOG_LEVELS, 'info') },
    sync: checkSync(ck, g['sync'], [...path, 'sync']),
    registry: checkRegistry(ck, g['registry'], [...path, 'registry']),
    cluster: checkCluster(ck, g['cluster'], [...path, 'cluster']),
  };
  return dataDir === undefined ? section : { dataDir, ...section };
}

const THING_GROUP_NAME = /^[A-Za-z0-9:_-]{1,128}$/;

function checkRegistry(ck: Checker, value: unknown, path: readonly string[]): GatehouseSection['registry'] {
  const r = ck.fields(value, path, ['url', 'schema', 'poolSize', 'statementTimeoutMs', 'connectTimeoutMs', 'busyTimeoutMs', 'unavailableGraceSeconds', 'controlKeyFile'], false) ?? {};
  const url = ck.string(r['url'], [...path, 'url'], { nonBlank: true });
  // Never echo the URL: it may carry a password.
  if (url !== undefined && !/^postgres(ql)?:\/\/[^\s]+$/i.test(url)) {
    ck.error('CONFIG_INVALID_VALUE', [...path, 'url'], 'the registry URL is not a postgres:// URL', 'write it as postgres://USER@HOST:PORT/DATABASE, or leave it out for the embedded SQLite registry');
  }
  const schema = ck.string(r['schema'], [...path, 'schema'], { nonBlank: true }) ?? 'gatehouse';
  if (!/^[a-z_][a-z0-9_]{0,39}$/.test(schema)) ck.error('CONFIG_INVALID_VALUE', [...path, 'schema'], `\`${schema}\` is not a usable schema name`, 'use lower-case letters, digits and underscores (at most 40), starting with a letter or underscore');
  const controlKeyFile = ck.string(r['controlKeyFile'], [...path, 'controlKeyFile'], { nonBlank: true });
  return {
    ...(url !== undefined ? { url } : {}),
    ...(controlKeyFile !== undefined ? { controlKeyFile } : {}),
    schema,
    poolSize: ck.int(r['poolSize'], [...path, 'poolSize'], 10, 1, 1000),
    statementTimeoutMs: ck.int(r['statementTimeoutMs'], [...path, 'statementTimeoutMs'], 10_000, 100, 600_000),
    connectTimeoutMs: ck.int(r['connectTimeoutMs'], [...path, 'connectTimeoutMs'], 5000, 100, 120_000),
    busyTimeoutMs: ck.int(r['busyTimeoutMs'], [...path, 'busyTimeoutMs'], 5000, 10, 600_000),
    unavailableGraceSeconds: ck.int(r['unavailableGraceSeconds'], [...path, 'unavailableGraceSeconds'], 60, 0, 86_400),
  };
}

/** `gatehouse.cluster.config`, `gatehouse.cluster.ca` and `gatehouse.cluster.redis` (docs/cluster.md). */
function checkCluster(ck: Checker, value: unknown, path: readonly string[]): GatehouseSection['cluster'] {
  const c = ck.fields(value, path, ['config', 'ca', 'redis'], false) ?? {};
  const cfgPath = [...path, 'config'];
  const cfg = ck.fields(c['config'], cfgPath, ['source'], false) ?? {};
  const caPath = [...path, 'ca'];
  const ca = ck.fields(c['ca'], caPath, ['requireShared'], false) ?? {};
  return {
    config: { source: ck.oneOf(cfg['source'], [...cfgPath, 'source'], CLUSTER_CONFIG_SOURCES, 'file') },
    ca: { requireShared: ck.bool(ca['requireShared'], [...caPath, 'requireShared'], true) },
    redis: checkClusterRedis(ck, c['redis'], [...path, 'redis']),
  };
}

/**
 * With `gatehouse.cluster.config.source: registry` the shared sections come from the
 * registry: the node's own file must not hold them (they would look in force and be
 * ignored), and the registry must be the shared one.
 */
function checkClusterSource(ck: Checker, top: Record<string, unknown>, gatehouse: GatehouseSection): void {
  if (gatehouse.cluster.config.source !== 'registry') return;
  if (gatehouse.registry.url === undefined) {
    ck.error('CONFIG_MISSING_KEY', ['gatehouse', 'registry', 'url'], 'gatehouse.cluster.config.source is `registry` but there is no shared registry',
      'set gatehouse.registry.url to the postgres:// URL every node uses, or set gatehouse.cluster.config.source: file');
  }
  for (const path of sharedKeysPresent(top)) {
    ck.error('CONFIG_CLUSTER_SHARED_KEY', path, `\`${formatPath(path)}\` is shared by the cluster: with gatehouse.cluster.config.source: registry it comes from the registry, not from this node's file`,
      'remove it from this file and publish it with `gatehouse config push FILE`');
  }
}

/** `gatehouse.cluster.redis`: MQTT routing and broker state shared through Redis. */
function checkClusterRedis(ck: Checker, value: unknown, rpath: readonly string[]): GatehouseSection['cluster']['redis'] {
  const r = ck.fields(value, rpath, ['url', 'keyPrefix', 'nodeName', 'connectTimeoutMs', 'unavailableGraceSeconds', 'nodeTimeoutSeconds'], false) ?? {};
  const url = ck.string(r['url'], [...rpath, 'url'], { nonBlank: true });
  // Never echo the URL: it may carry a password.
  if (url !== undefined && !/^rediss?:\/\/[^\s/?#]+(\/\d{1,2})?\/?$/i.test(url)) {
    ck.error('CONFIG_INVALID_VALUE', [...rpath, 'url'], 'the Redis URL is not a redis:// or rediss:// URL', 'write it as redis://HOST:PORT (or rediss:// for TLS, /N for a database number), or leave it out for a single gateway');
  }
  const keyPrefix = ck.string(r['keyPrefix'], [...rpath, 'keyPrefix'], { nonBlank: true }) ?? 'gatehouse:';
  // Also a pub/sub channel prefix: no MQTT wildcards, no Redis glob characters.
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(keyPrefix)) ck.error('CONFIG_INVALID_VALUE', [...rpath, 'keyPrefix'], `\`${keyPrefix}\` is not a usable key prefix`, 'use 1-64 characters of A-Z a-z 0-9 and _ . : -');
  const nodeName = ck.string(r['nodeName'], [...rpath, 'nodeName'], { nonBlank: true });
  if (nodeName !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(nodeName)) ck.error('CONFIG_INVALID_VALUE', [...rpath, 'nodeName'], `\`${nodeName}\` is not a usable node name`, 'use 1-64 characters of A-Z a-z 0-9 and _ . -');
  return {
    ...(url !== undefined ? { url } : {}),
    keyPrefix,
    ...(nodeName !== undefined ? { nodeName } : {}),
    connectTimeoutMs: ck.int(r['connectTimeoutMs'], [...rpath, 'connectTimeoutMs'], 5000, 100, 120_000),
    unavailableGraceSeconds: ck.int(r['unavailableGraceSeconds'], [...rpath, 'unavailableGraceSeconds'], 30, 0, 86_400),
    nodeTimeoutSeconds: ck.int(r['nodeTimeoutSeconds'], [...rpath, 'nodeTimeoutSeconds'], 60, 2, 3600),
  };
}

function checkSync(ck: Checker, value: unknown, path: readonly string[]): GatehouseSection['sync'] {
  const s = ck.fields(value, path, ['aws'], false) ?? {};
  const apath = [...path, 'aws'];
  const a = ck.fields(s['aws'], apath, ['enabled', 'region', 'profile', 'endpoint', 'caBundle', 'intervalSeconds', 'thingGroups', 'pageSize', 'requireTrustedCa'], false) ?? {};
  const region = ck.string(a['region'], [...apath, 'region'], { nonBlank: true });
  if (region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) ck.error('CONFIG_INVALID_VALUE', [...apath, 'region'], `\`${region}\` is not an AWS region name`, 'use a region such as `eu-west-1`');
  const profile = ck.string(a['profile'], [...apath, 'profile'], { nonBlank: true });
  const endpoint = ck.string(a['endpoint'], [...apath, 'endpoint'], { nonBlank: true });
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) ck.error('CONFIG_INVALID_VALUE', [...apath, 'endpoint'], `\`${endpoint}\` is not an http(s) URL`, 'write the endpoint as https://HOST[:PORT]');
  const caBundle = ck.string(a['caBundle'], [...apath, 'caBundle'], { nonBlank: true });
  const thingGroups = ck.strings(a['thingGroups'], [...apath, 'thingGroups']);
  thingGroups.forEach((gname, i) => {
    if (!THING_GROUP_NAME.test(gname)) ck.error('CONFIG_INVALID_VALUE', [...apath, 'thingGroups', i], `\`${gname}\` is not a thing group name`, 'use 1-128 characters of A-Z a-z 0-9 and : _ -');
  });
  return {
    aws: {
      enabled: ck.bool(a['enabled'], [...apath, 'enabled'], false),
      ...(region !== undefined ? { region } : {}),
      ...(profile !== undefined ? { profile } : {}),
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(caBundle !== undefined ? { caBundle } : {}),
      intervalSeconds: ck.int(a['intervalSeconds'], [...apath, 'intervalSeconds'], 300, 1, 86_400),
      thingGroups,
      pageSize: ck.int(a['pageSize'], [...apath, 'pageSize'], 100, 1, 250),
      requireTrustedCa: ck.bool(a['requireTrustedCa'], [...apath, 'requireTrustedCa'], false),
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
