import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, type ValidationResult } from '../../../src/core/config/validate.js';
import { parseConfig } from '../../../src/core/config/parse.js';
import { localKeyErrors } from '../../../src/core/config/cluster.js';
import { CONFIG_CODES, WARNING_CODES, type ConfigIssue } from '../../../src/core/errors.js';
import type { GatehouseConfig } from '../../../src/core/config/types.js';

const THING = '${iot:Connection.Thing.ThingName}';
type Json = Record<string, unknown>;

function ok(result: ValidationResult): { config: GatehouseConfig; warnings: readonly ConfigIssue[] } {
  if (!result.ok) assert.fail(`expected a valid configuration, got ${JSON.stringify(result.errors, null, 1)}`);
  return result;
}

function errors(result: ValidationResult): readonly ConfigIssue[] {
  if (result.ok) assert.fail('expected the configuration to be rejected');
  return result.errors;
}

/** `[code, path]` pairs, the compact form most tests compare. */
const brief = (issues: readonly ConfigIssue[]): [string, string][] => issues.map((i) => [i.code, i.path]);

/** A configuration with one group `G` (selecting every thing) using policy `P`. */
function withPolicy(statements: Json, extraPolicies: Json = {}): Json {
  return {
    deviceGroups: {
      definitions: { G: { selectionRule: 'thingName: *', policyName: 'P' } },
      policies: { P: statements, ...extraPolicies },
    },
  };
}

function withGroup(group: Json): Json {
  return {
    deviceGroups: {
      definitions: { G: group },
      policies: { P: { S: { operations: ['*'], resources: ['*'] } } },
    },
  };
}

const DEFAULTS: GatehouseConfig = {
  deviceGroups: { formatVersion: '2021-03-05', definitions: {}, policies: {} },
  certificates: { serverCertificateValiditySeconds: 604800, clientCertificateValiditySeconds: 604800, disableCertificateRotation: false },
  performance: { maxActiveAuthTokens: 2500, cloudRequestQueueSize: 100, maxConcurrentCloudRequests: 1 },
  certificateAuthority: { caType: 'ECDSA_P256' },
  security: { clientDeviceTrustDurationMinutes: 1 },
  metrics: { disableMetrics: false, aggregatePeriodSeconds: 3600 },
  startupTimeoutSeconds: 120,
  gatehouse: {
    hostAddresses: [],
    detectInterfaceAddresses: true,
    watchConfig: true,
    configSettleMilliseconds: 1000,
    iot: { partition: 'aws', region: 'us-east-1', accountId: '000000000000' },
    mqtt: {
      host: '0.0.0.0', port: 8883,
      maxPacketSizeBytes: 262144, maxConnectPacketSizeBytes: 65536, connectTimeoutSeconds: 10, maxPendingConnections: 1000,
      maxConnections: 0, maxQueuedMessages: 1000, maxInflightMessages: 1000, reasonStrings: false, topicAliasMaximum: 0, receiveMaximum: 1000,
      websocket: { enabled: false, host: '0.0.0.0', port: 8443, path: '/mqtt' },
    },
    api: { enabled: true, host: '127.0.0.1', port: 8090, bodyLimitBytes: 65536 },
    management: { enabled: true, host: '127.0.0.1', port: 8444, bodyLimitBytes: 1048576, maxClockSkewSeconds: 900, auditRetentionDays: 90, console: { enabled: true, idleTimeoutSeconds: 900, absoluteTimeoutSeconds: 28800, maxSessions: 64, signInAttemptsPerMinute: 10 } },
    dataPlane: { enabled: false, host: '127.0.0.1', port: 8443, bodyLimitBytes: 131072 },
    shadows: { enabled: true, maxDocumentSizeBytes: 8192 },
    retained: { maxPayloadBytes: 131072, maxMessages: 10000, maxTotalBytes: 67108864 },
    jobs: { enabled: true },
    logging: { level: 'info' },
    sync: { aws: { enabled: false, intervalSeconds: 300, thingGroups: [], pageSize: 100, requireTrustedCa: false } },
    registry: { schema: 'gatehouse', poolSize: 10, statementTimeoutMs: 10_000, connectTimeoutMs: 5000, busyTimeoutMs: 5000, unavailableGraceSeconds: 60 },
    cluster: { config: { source: 'file' }, ca: { requireShared: true }, redis: { keyPrefix: 'gatehouse:', connectTimeoutMs: 5000, unavailableGraceSeconds: 30, nodeTimeoutSeconds: 60 } },
  },
};

describe('validateConfig: every code is produced, with its path and fix', () => {
  // One input per code. `fix: true` means this code path gives a fix and must carry one.
  const table: { code: string; input: () => ValidationResult; path: string; fix: boolean }[] = [
    { code: 'CONFIG_SYNTAX', input: () => parseConfig('a: [1, 2\n'), path: '', fix: true },
    { code: 'CONFIG_DUPLICATE_KEY', input: () => parseConfig('{"metrics": {}, "metrics": {}}', 'json'), path: '', fix: true },
    { code: 'CONFIG_NOT_AN_OBJECT', input: () => validateConfig(['deviceGroups']), path: '', fix: true },
    { code: 'CONFIG_UNKNOWN_KEY', input: () => validateConfig(withGroup({ selectionRule: 'thingName: *', policyName: 'P', polcyName: 'P' })),
      path: 'deviceGroups.definitions.G.polcyName', fix: true },
    { code: 'CONFIG_MISSING_KEY', input: () => validateConfig(withGroup({ selectionRule: 'thingName: *' })),
      path: 'deviceGroups.definitions.G.policyName', fix: true },
    { code: 'CONFIG_WRONG_TYPE', input: () => validateConfig(withPolicy({ S: { operations: 'mqtt:publish', resources: ['*'] } })),
      path: 'deviceGroups.policies.P.S.operations', fix: true },
    { code: 'CONFIG_OUT_OF_RANGE', input: () => validateConfig({ certificates: { serverCertificateValiditySeconds: 86400 } }),
      path: 'certificates.serverCertificateValiditySeconds', fix: true },
    { code: 'CONFIG_INVALID_VALUE', input: () => validateConfig(withPolicy({ S: { effect: 'PERMIT', operations: ['*'], resources: ['*'] } })),
      path: 'deviceGroups.policies.P.S.effect', fix: true },
    { code: 'CONFIG_FORMAT_VERSION', input: () => validateConfig({ deviceGroups: { formatVersion: '2021-03-06' } }),
      path: 'deviceGroups.formatVersion', fix: true },
    { code: 'CONFIG_POLICY_NOT_FOUND', input: () => validateConfig(withGroup({ selectionRule: 'thingName: *', policyName: 'Q' })),
      path: 'deviceGroups.definitions.G.policyName', fix: true },
    { code: 'CONFIG_UNKNOWN_OPERATION', input: () => validateConfig(withPolicy({ S: { operations: ['mqtt:connect', 'mqtt:publsh'], resources: ['*'] } })),
      path: 'deviceGroups.policies.P.S.operations[1]', fix: true },
    { code: 'CONFIG_MALFORMED_RESOURCE', input: () => validateConfig(withPolicy({ S: { operations: ['*'], resources: ['mqtt:topic:a', 'mqtt:topc:b'] } })),
      path: 'deviceGroups.policies.P.S.resources[1]', fix: true },
    { code: 'CONFIG_UNKNOWN_VARIABLE', input: () => validateConfig(withPolicy({ S: { operations: ['*'], resources: ['mqtt:topic:${iot:Connection.Thing.Name}'] } })),
      path: 'deviceGroups.policies.P.S.resources[0]', fix: true },
    { code: 'CONFIG_MALFORMED_VARIABLE', input: () => validateConfig(withPolicy({ S: { operations: ['*'], resources: ['mqtt:topic:${iot:ClientId'] } })),
      path: 'deviceGroups.policies.P.S.resources[0]', fix: true },
    { code: 'CONFIG_CLUSTER_SHARED_KEY', input: () => validateConfig({ ...withPolicy({}), gatehouse: { registry: { url: 'postgres://gw@db/fleet' }, cluster: { config: { source: 'registry' } } } }),
      path: 'deviceGroups', fix: true },
    // Produced for a document pushed to a cluster (`gatehouse config push`), beside the validator's own.
    { code: 'CONFIG_CLUSTER_LOCAL_KEY', input: (): ValidationResult => ({ ok: false, errors: localKeyErrors({ gatehouse: { mqtt: { port: 1 } } }), warnings: [] }),
      path: 'gatehouse.mqtt', fix: true },
    { code: 'RULE_EMPTY', input: () => validateConfig(withGroup({ selectionRule: ' ', policyName: 'P' })),
      path: 'deviceGroups.definitions.G.selectionRule', fix: true },
    { code: 'RULE_INVALID_CHARACTER', input: () => validateConfig(withGroup({ selectionRule: 'thingName: a.b', policyName: 'P' })),
      path: 'deviceGroups.definitions.G.selectionRule', fix: true },
    { code: 'RULE_UNEXPECTED_TOKEN', input: () => validateConfig(withGroup({ selectionRule: 'thingName: a or thingName: b', policyName: 'P' })),
      path: 'deviceGroups.definitions.G.selectionRule', fix: true },
    { code: 'RULE_INVALID_WILDCARD', input: () => validateConfig(withGroup({ selectionRule: 'thingName: a*b', policyName: 'P' })),
      path: 'deviceGroups.definitions.G.selectionRule', fix: true },
    { code: 'CONFIG_KEY_IGNORED', input: () => validateConfig(withPolicy({ S: { operations: ['*'], resources: ['*'], _note: 'x' } })),
      path: 'deviceGroups.policies.P.S._note', fix: true },
    { code: 'CONFIG_KEY_CASE', input: () => validateConfig(withGroup({ SelectionRule: 'thingName: *', policyName: 'P' })),
      path: 'deviceGroups.definitions.G.SelectionRule', fix: true },
    { code: 'CONFIG_POLICY_UNUSED', input: () => validateConfig(withPolicy({ S: { operations: ['*'], resources: ['*'] } }, { Spare: {} })),
      path: 'deviceGroups.policies.Spare', fix: true },
    { code: 'CONFIG_STATEMENT_EMPTY', input: () => validateConfig(withPolicy({ S: { operations: ['mqtt:publish'] } })),
      path: 'deviceGroups.policies.P.S', fix: true },
    { code: 'CONFIG_RESOURCE_NEVER_MATCHES', input: () => validateConfig(withPolicy({ S: { operations: ['mqtt:connect'], resources: ['mqtt:topic:x'] } })),
      path: 'deviceGroups.policies.P.S.resources[0]', fix: true },
  ];

  for (const { code, input, path, fix } of table) {
    it(code, () => {
      const result = input();
      const isWarning = (WARNING_CODES as readonly string[]).includes(code);
      const issues = isWarning ? result.warnings : errors(result);
      const issue = issues.find((i) => i.code === code);
      assert.ok(issue, `${code} not among ${JSON.stringify(brief(issues))}`);
      assert.equal(issue.path, path);
      assert.ok(issue.message.length > 0);
      if (fix) assert.ok(issue.fix !== undefined && issue.fix.length > 0, `${code} has a fix`);
      if (isWarning) assert.equal(result.ok, true, 'a warning alone does not reject the configuration');
    });
  }

  it('covers every code in CONFIG_CODES and WARNING_CODES', () => {
    const covered = new Set(table.map((t) => t.code));
    for (const code of [...CONFIG_CODES, ...WARNING_CODES]) assert.ok(covered.has(code), `no test input for ${code}`);
  });
});

describe('validateConfig: defaults and freezing', () => {
  it('fills in every default for an empty, null or missing document', () => {
    for (const doc of [{}, null, undefined]) {
      const { config, warnings } = ok(validateConfig(doc));
      assert.deepEqual(config, DEFAULTS);
      assert.deepEqual(warnings, []);
    }
  });

  it('treats null sections as absent', () => {
    const { config } = ok(validateConfig({ deviceGroups: null, certificates: null, metrics: { disableMetrics: undefined } }));
    assert.deepEqual(config, DEFAULTS);
  });

  it('fills statement defaults: effect ALLOW, empty operations and resources', () => {
    const { config } = ok(validateConfig(withPolicy({ S: { statementDescription: 'd', resources: ['*'] }, T: { operations: ['*'] } })));
    assert.deepEqual(config.deviceGroups.policies['P'], {
      S: { statementDescription: 'd', effect: 'ALLOW', operations: [], resources: ['*'] },
      T: { effect: 'ALLOW', operations: ['*'], resources: [] },
    });
  });

  it('returns a deeply frozen configuration and leaves the input alone', () => {
    const input = withPolicy({ S: { operations: ['*'], resources: ['*'] } });
    const { config } = ok(validateConfig({ ...input, gatehouse: { hostAddresses: ['gw.local'] } }));
    const visit = (value: unknown, path: string): void => {
      if (typeof value !== 'object' || value === null) return;
      assert.ok(Object.isFrozen(value), `${path} is frozen`);
      for (const [k, v] of Object.entries(value)) visit(v, `${path}.${k}`);
    };
    visit(config, 'config');
    assert.throws(() => {
      (config.certificates as { serverCertificateValiditySeconds: number }).serverCertificateValiditySeconds = 1;
    }, TypeError);
    assert.throws(() => (config.deviceGroups.policies['P']!['S']!.resources as string[]).push('x'), TypeError);
    assert.throws(() => (config.gatehouse.hostAddresses as string[]).push('x'), TypeError);
    assert.equal(Object.isFrozen(input), false);
    assert.equal(Object.isFrozen((input['deviceGroups'] as Json)['policies']), false);
  });
});

describe('validateConfig: scalars', () => {
  const ranges: [section: string[], def: number, min: number, max: number][] = [
    [['certificates', 'serverCertificateValiditySeconds'], 604800, 172800, 864000],
    [['certificates', 'clientCertificateValiditySeconds'], 604800, 60, 864000],
    [['performance', 'maxActiveAuthTokens'], 2500, 1, 2147483646],
    [['performance', 'cloudRequestQueueSize'], 100, 1, 2147483647],
    [['performance', 'maxConcurrentCloudRequests'], 1, 1, 2147483647],
    [['security', 'clientDeviceTrustDurationMinutes'], 1, 1, 2147483647],
    [['metrics', 'aggregatePeriodSeconds'], 3600, 1, 2147483647],
    [['startupTimeoutSeconds'], 120, 1, 86400],
    [['gatehouse', 'mqtt', 'port'], 8883, 0, 65535],
    [['gatehouse', 'mqtt', 'websocket', 'port'], 8443, 0, 65535],
    [['gatehouse', 'api', 'port'], 8090, 0, 65535],
    [['gatehouse', 'api', 'bodyLimitBytes'], 65536, 1024, 16777216],
  ];
  const build = (keys: string[], value: unknown): Json => keys.reduceRight<unknown>((acc, k) => ({ [k]: acc }), value) as Json;
  const read = (config: GatehouseConfig, keys: string[]): unknown => keys.reduce<unknown>((acc, k) => (acc as Json)[k], config);

  for (const [keys, def, min, max] of ranges) {
    const path = keys.join('.');
    it(`${path}: default ${def}, accepts ${min}..${max}, rejects outside`, () => {
      assert.equal(read(ok(validateConfig({})).config, keys), def);
      assert.equal(read(ok(validateConfig(build(keys, min))).config, keys), min);
      assert.equal(read(ok(validateConfig(build(keys, max))).config, keys), max);
      for (const bad of [min - 1, max + 1]) {
        const errs = errors(validateConfig(build(keys, bad)));
        assert.deepEqual(brief(errs), [['CONFIG_OUT_OF_RANGE', path]]);
        assert.match(errs[0]!.message, new RegExp(`between ${min} and ${max}`));
        assert.match(errs[0]!.fix!, new RegExp(`default ${def}`));
      }
    });
  }

  it('accepts integers written as decimal strings', () => {
    for (const [text, value] of [['172800', 172800], [' 604800 ', 604800], ['+864000', 864000]] as const) {
      assert.equal(ok(validateConfig({ certificates: { serverCertificateValiditySeconds: text } })).config.certificates.serverCertificateValiditySeconds, value);
    }
    assert.equal(ok(validateConfig({ performance: { maxActiveAuthTokens: '10' } })).config.performance.maxActiveAuthTokens, 10);
    assert.deepEqual(brief(errors(validateConfig({ startupTimeoutSeconds: '-5' }))), [['CONFIG_OUT_OF_RANGE', 'startupTimeoutSeconds']]);
  });

  it('rejects non-integers with CONFIG_WRONG_TYPE and a fix', () => {
    for (const bad of [1.5, '2.5', '1e3', '0x10', '12abc', '', 'ten', true, [], {}, Number.NaN, Number.POSITIVE_INFINITY]) {
      const errs = errors(validateConfig({ security: { clientDeviceTrustDurationMinutes: bad } }));
      assert.deepEqual(brief(errs), [['CONFIG_WRONG_TYPE', 'security.clientDeviceTrustDurationMinutes']], JSON.stringify(bad));
      assert.match(errs[0]!.fix!, /whole number/);
    }
  });

  it('gatehouse.mqtt.receiveMaximum: 1000 unless set, an integer from 1 to 1000', () => {
    assert.equal(ok(validateConfig({})).config.gatehouse.mqtt.receiveMaximum, 1000);
    assert.equal(ok(validateConfig({ gatehouse: { mqtt: { receiveMaximum: 20 } } })).config.gatehouse.mqtt.receiveMaximum, 20);
    for (const bad of [0, 1001]) {
      assert.deepEqual(brief(errors(validateConfig({ gatehouse: { mqtt: { receiveMaximum: bad } } }))), [['CONFIG_OUT_OF_RANGE', 'gatehouse.mqtt.receiveMaximum']]);
    }
  });

  it('gatehouse.mqtt.topicAliasMaximum: 0 unless set, an integer from 0 to 100', () => {
    assert.equal(ok(validateConfig({})).config.gatehouse.mqtt.topicAliasMaximum, 0);
    assert.equal(ok(validateConfig({ gatehouse: { mqtt: { topicAliasMaximum: 10 } } })).config.gatehouse.mqtt.topicAliasMaximum, 10);
    assert.deepEqual(brief(errors(validateConfig({ gatehouse: { mqtt: { topicAliasMaximum: 101 } } }))), [['CONFIG_OUT_OF_RANGE', 'gatehouse.mqtt.topicAliasMaximum']]);
    assert.deepEqual(brief(errors(validateConfig({ gatehouse: { mqtt: { topicAliasMaximum: 'ten' } } }))), [['CONFIG_WRONG_TYPE', 'gatehouse.mqtt.topicAliasMaximum']]);
  });

  it('gatehouse.mqtt.reasonStrings: false unless set, a flag, nothing else', () => {
    assert.equal(ok(validateConfig({})).config.gatehouse.mqtt.reasonStrings, false);
    assert.equal(ok(validateConfig({ gatehouse: { mqtt: { reasonStrings: true } } })).config.gatehouse.mqtt.reasonStrings, true);
    for (const bad of ['yes', 1, 'policy', null]) {
      const errs = errors(validateConfig({ gatehouse: { mqtt: { reasonStrings: bad } } }));
      assert.deepEqual(brief(errs), [['CONFIG_WRONG_TYPE', 'gatehouse.mqtt.reasonStrings']], JSON.stringify(bad));
    }
  });

  it('accepts booleans and the strings "true"/"false", nothing else', () => {
    assert.equal(ok(validateConfig({ metrics: { disableMetrics: true } })).config.metrics.disableMetrics, true);
    assert.equal(ok(validateConfig({ metrics: { disableMetrics: 'true' } })).config.metrics.disableMetrics, true);
    assert.equal(ok(validateConfig({ certificates: { disableCertificateRotation: 'false' } })).config.certificates.disableCertificateRotation, false);
    for (const bad of ['yes', 'TRUE', 'on', 1, 0, 'y']) {
      const errs = errors(validateConfig({ metrics: { disableMetrics: bad } }));
      assert.deepEqual(brief(errs), [['CONFIG_WRONG_TYPE', 'metrics.disableMetrics']], JSON.stringify(bad));
    }
  });

  it('rejects a non-object section with CONFIG_WRONG_TYPE', () => {
    assert.deepEqual(brief(errors(validateConfig({ metrics: 5 }))), [['CONFIG_WRONG_TYPE', 'metrics']]);
    assert.deepEqual(brief(errors(validateConfig({ deviceGroups: [] }))), [['CONFIG_WRONG_TYPE', 'deviceGroups']]);
    assert.deepEqual(brief(errors(validateConfig({ deviceGroups: { policies: ['P'] } }))), [['CONFIG_WRONG_TYPE', 'deviceGroups.policies']]);
    assert.deepEqual(brief(errors(validateConfig({ deviceGroups: { definitions: 'G' } }))), [['CONFIG_WRONG_TYPE', 'deviceGroups.definitions']]);
  });

  it('rejects a document that is not a mapping', () => {
    for (const doc of [[], 'text', 42, true]) {
      const errs = errors(validateConfig(doc));
      assert.deepEqual(brief(errs), [['CONFIG_NOT_AN_OBJECT', '']]);
    }
  });
});

describe('validateConfig: keys', () => {
  it('reports unknown keys with a suggestion', () => {
    const errs = errors(validateConfig({ deviceGroup: {}, metrics: { disableMetric: true } }));
    assert.deepEqual(brief(errs), [['CONFIG_UNKNOWN_KEY', 'deviceGroup'], ['CONFIG_UNKNOWN_KEY', 'metrics.disableMetric']]);
    assert.equal(errs[0]!.fix, 'did you mean `deviceGroups`?');
    assert.equal(errs[1]!.fix, 'did you mean `disableMetrics`?');
    // Unlike Greengrass, a typo such as `resource` is not silently ignored.
    assert.deepEqual(brief(errors(validateConfig(withPolicy({ S: { operations: ['*'], resource: ['*'] } })))),
      [['CONFIG_UNKNOWN_KEY', 'deviceGroups.policies.P.S.resource']]);
  });

  it('lists the known keys when nothing is close', () => {
    const [err] = errors(validateConfig({ metrics: { zzzzzzzz: 1 } }));
    assert.match(err!.fix!, /`disableMetrics`, `aggregatePeriodSeconds`/);
  });

  it('ignores keys and names starting with `_`, with a warning, at every Greengrass level', () => {
    const doc = {
      _comment: 'top',
      deviceGroups: {
        _x: 1,
        definitions: {
          G: { selectionRule: 'thingName: *', policyName: 'P', _note: 'n' },
          _Hidden: { selectionRule: 'thingName: *', policyName: 'Missing' },
        },
        policies: {
          P: { S: { operations: ['*'], resources: ['*'], _why: 'w' }, _Deny: { effect: 'DENY', operations: ['*'], resources: ['*'] } },
          _Unused: { S: { operations: ['*'], resources: ['*'] } },
        },
      },
      certificates: { _old: 1 },
    };
    const { config, warnings } = ok(validateConfig(doc));
    assert.deepEqual(brief(warnings), [
      ['CONFIG_KEY_IGNORED', '_comment'],
      ['CONFIG_KEY_IGNORED', 'deviceGroups._x'],
      ['CONFIG_KEY_IGNORED', 'deviceGroups.policies._Unused'],
      ['CONFIG_KEY_IGNORED', 'deviceGroups.policies.P._Deny'],
      ['CONFIG_KEY_IGNORED', 'deviceGroups.policies.P.S._why'],
      ['CONFIG_KEY_IGNORED', 'deviceGroups.definitions._Hidden'],
      ['CONFIG_KEY_IGNORED', 'deviceGroups.definitions.G._note'],
      ['CONFIG_KEY_IGNORED', 'certificates._old'],
    ]);
    assert.deepEqual(Object.keys(config.deviceGroups.definitions), ['G']);
    assert.deepEqual(Object.keys(config.deviceGroups.policies), ['P']);
    assert.deepEqual(Object.keys(config.deviceGroups.policies['P']!), ['S']);
    assert.match(warnings.find((w) => w.path === 'deviceGroups.policies._Unused')!.message, /^policy `_Unused`/);
    assert.match(warnings.find((w) => w.path === 'deviceGroups.definitions._Hidden')!.message, /^group `_Hidden`/);
    assert.match(warnings.find((w) => w.path === 'deviceGroups.policies.P._Deny')!.message, /^statement `_Deny`/);
  });

  it('accepts case variants of Greengrass keys with CONFIG_KEY_CASE', () => {
    const doc = {
      DeviceGroups: {
        DEFINITIONS: { G: { SelectionRule: 'thingName: a*', POLICYNAME: 'P' } },
        Policies: { P: { S: { Effect: 'deny', Operations: ['mqtt:publish'], resources: ['mqtt:topic:x'] } } },
      },
      Metrics: { disablemetrics: true },
    };
    const { config, warnings } = ok(validateConfig(doc));
    // The variant is named in its own path; paths below it use the canonical key.
    assert.deepEqual(brief(warnings), [
      ['CONFIG_KEY_CASE', 'DeviceGroups'],
      ['CONFIG_KEY_CASE', 'Metrics'],
      ['CONFIG_KEY_CASE', 'deviceGroups.DEFINITIONS'],
      ['CONFIG_KEY_CASE', 'deviceGroups.Policies'],
      ['CONFIG_KEY_CASE', 'deviceGroups.policies.P.S.Effect'],
      ['CONFIG_KEY_CASE', 'deviceGroups.policies.P.S.Operations'],
      ['CONFIG_KEY_CASE', 'deviceGroups.definitions.G.SelectionRule'],
      ['CONFIG_KEY_CASE', 'deviceGroups.definitions.G.POLICYNAME'],
      ['CONFIG_KEY_CASE', 'metrics.disablemetrics'],
    ]);
    assert.equal(warnings.find((w) => w.path === 'Metrics')!.fix, 'write it as `metrics`');
    assert.deepEqual(config.deviceGroups.definitions, { G: { selectionRule: 'thingName: a*', policyName: 'P' } });
    assert.deepEqual(config.deviceGroups.policies['P']!['S'], { effect: 'DENY', operations: ['mqtt:publish'], resources: ['mqtt:topic:x'] });
    assert.equal(config.metrics.disableMetrics, true);
  });

  it('rejects a key given both exactly and as a case variant, in either order', () => {
    const orders = [
      { operations: ['*'], Operations: ['mqtt:connect'], resources: ['*'] },
      { Operations: ['mqtt:connect'], operations: ['*'], resources: ['*'] },
    ];
    for (const st of orders) {
      const errs = errors(validateConfig(withPolicy({ S: st })));
      assert.deepEqual(brief(errs), [['CONFIG_UNKNOWN_KEY', 'deviceGroups.policies.P.S.Operations']], JSON.stringify(Object.keys(st)));
    }
  });

  it('does not relax the gatehouse section: no case variants, no `_` keys', () => {
    const errs = errors(validateConfig({ gatehouse: { Mqtt: {}, _x: 1, mqtt: { Port: 1 } } }));
    assert.deepEqual(brief(errs), [
      ['CONFIG_UNKNOWN_KEY', 'gatehouse.Mqtt'],
      ['CONFIG_UNKNOWN_KEY', 'gatehouse._x'],
      ['CONFIG_UNKNOWN_KEY', 'gatehouse.mqtt.Port'],
    ]);
  });

  it('quotes path segments that are not identifiers', () => {
    const errs = errors(validateConfig(withPolicy({ 'my statement': { operations: ['bad op'], resources: ['*'] } })));
    assert.deepEqual(brief(errs), [['CONFIG_UNKNOWN_OPERATION', 'deviceGroups.policies.P["my statement"].operations[0]']]);
  });

  it('rejects blank group, policy and statement names', () => {
    const errs = errors(validateConfig({
      deviceGroups: {
        definitions: { ' ': { selectionRule: 'thingName: *', policyName: 'P' } },
        policies: { P: { '': { operations: ['*'], resources: ['*'] } }, '\t': {} },
      },
    }));
    assert.deepEqual(brief(errs), [
      ['CONFIG_INVALID_VALUE', 'deviceGroups.policies["\\t"]'],
      ['CONFIG_INVALID_VALUE', 'deviceGroups.policies.P[""]'],
      ['CONFIG_INVALID_VALUE', 'deviceGroups.definitions[" "]'],
    ]);
    assert.match(errs[0]!.message, /^policy names must not be blank/);
    assert.match(errs[1]!.message, /^statement names must not be blank/);
    assert.match(errs[2]!.message, /^group names must not be blank/);
  });
});

describe('validateConfig: device groups', () => {
  it('accepts a complete configuration and keeps groups and policies in order', () => {
    const { config, warnings } = ok(validateConfig({
      deviceGroups: {
        formatVersion: '2021-03-05',
        definitions: {
          Sensors: { selectionRule: 'thingName: sensor*', policyName: 'SensorPolicy' },
          Admins: { selectionRule: 'thingName: admin1 OR thingName: admin2', policyName: 'SensorPolicy' },
        },
        policies: {
          SensorPolicy: {
            Connect: { statementDescription: 'connect', operations: ['mqtt:connect'], resources: [`mqtt:clientId:${THING}`] },
            Data: { effect: 'ALLOW', operations: ['mqtt:publish', 'mqtt:subscribe'], resources: [`mqtt:topic:data/${THING}/*`, 'mqtt:topicfilter:cmd/#'] },
            NoAdmin: { effect: 'DENY', operations: ['*'], resources: ['mqtt:topic:admin/*'] },
          },
        },
      },
    }));
    assert.deepEqual(warnings, []);
    assert.deepEqual(Object.keys(config.deviceGroups.definitions), ['Sensors', 'Admins']);
    assert.deepEqual(Object.keys(config.deviceGroups.policies['SensorPolicy']!), ['Connect', 'Data', 'NoAdmin']);
    assert.equal(config.deviceGroups.policies['SensorPolicy']!['NoAdmin']!.effect, 'DENY');
  });

  it('reads the effect case-insensitively and rejects other values', () => {
    for (const [written, effect] of [['allow', 'ALLOW'], ['Allow', 'ALLOW'], ['deny', 'DENY'], ['dEnY', 'DENY']] as const) {
      const { config } = ok(validateConfig(withPolicy({ S: { effect: written, operations: ['*'], resources: ['*'] } })));
      assert.equal(config.deviceGroups.policies['P']!['S']!.effect, effect);
    }
    for (const bad of ['PERMIT', '', ' ALLOW', null, true, ['ALLOW']]) {
      const errs = errors(validateConfig(withPolicy({ S: { effect: bad, operations: ['*'], resources: ['*'] } })));
      assert.deepEqual(brief(errs), [['CONFIG_INVALID_VALUE', 'deviceGroups.policies.P.S.effect']], JSON.stringify(bad));
      assert.match(errs[0]!.fix!, /`ALLOW`.*`DENY`/);
    }
  });

  it('accepts only the one format version', () => {
    ok(validateConfig({ deviceGroups: { formatVersion: '2021-03-05' } }));
    for (const bad of ['2021-03-5', '', 20210305, ['2021-03-05']]) {
      const errs = errors(validateConfig({ deviceGroups: { formatVersion: bad } }));
      assert.deepEqual(brief(errs), [['CONFIG_FORMAT_VERSION', 'deviceGroups.formatVersion']]);
      assert.match(errs[0]!.fix!, /2021-03-05/);
    }
  });

  it('requires selectionRule and policyName to be non-null strings', () => {
    assert.deepEqual(brief(errors(validateConfig(withGroup({ policyName: 'P' })))), [['CONFIG_MISSING_KEY', 'deviceGroups.definitions.G.selectionRule']]);
    assert.deepEqual(brief(errors(validateConfig(withGroup({ selectionRule: null, policyName: 'P' })))), [['CONFIG_MISSING_KEY', 'deviceGroups.definitions.G.selectionRule']]);
    assert.deepEqual(brief(errors(validateConfig(withGroup({ selectionRule: 5, policyName: 'P' })))), [['CONFIG_WRONG_TYPE', 'deviceGroups.definitions.G.selectionRule']]);
    assert.deepEqual(brief(errors(validateConfig(withGroup({ selectionRule: 'thingName: *', policyName: ' ' })))), [['CONFIG_INVALID_VALUE', 'deviceGroups.definitions.G.policyName']]);
    assert.deepEqual(brief(errors(validateConfig({ deviceGroups: { definitions: { G: 'thingName: *' } } }))), [['CONFIG_WRONG_TYPE', 'deviceGroups.definitions.G']]);
  });

  it('reports a rule error with its position in the message', () => {
    const [err] = errors(validateConfig(withGroup({ selectionRule: 'thingName: a\nOR thingName: b.c', policyName: 'P' })));
    assert.equal(err!.code, 'RULE_INVALID_CHARACTER');
    assert.match(err!.message, /at line 2, column 16/);
    const [err2] = errors(validateConfig(withGroup({ selectionRule: 'thingName: a*b', policyName: 'P' })));
    assert.match(err2!.message, /at column 12 of `thingName: a\*b`/);
  });

  it('looks policies up case-sensitively, suggesting the near miss', () => {
    const [err] = errors(validateConfig(withGroup({ selectionRule: 'thingName: *', policyName: 'p' })));
    assert.equal(err!.code, 'CONFIG_POLICY_NOT_FOUND');
    assert.equal(err!.fix, 'did you mean `P`?');
    const res = validateConfig({ deviceGroups: { definitions: { G: { selectionRule: 'thingName: *', policyName: 'Nope' } } } });
    assert.equal(errors(res)[0]!.fix, 'define it under `deviceGroups.policies`');
    // Prototype names are not policies.
    assert.deepEqual(brief(errors(validateConfig(withGroup({ selectionRule: 'thingName: *', policyName: 'toString' })))),
      [['CONFIG_POLICY_NOT_FOUND', 'deviceGroups.definitions.G.policyName']]);
  });

  it('warns about unused policies and empty statements', () => {
    const { warnings } = ok(validateConfig(withPolicy({ NoOps: { resources: ['*'] }, NoRes: { operations: ['*'] } }, { Spare: {} })));
    assert.deepEqual(brief(warnings), [
      ['CONFIG_STATEMENT_EMPTY', 'deviceGroups.policies.P.NoOps'],
      ['CONFIG_STATEMENT_EMPTY', 'deviceGroups.policies.P.NoRes'],
      ['CONFIG_POLICY_UNUSED', 'deviceGroups.policies.Spare'],
    ]);
    assert.match(warnings[0]!.message, /no operations/);
    assert.match(warnings[1]!.message, /no resources/);
  });

  it('checks every operation, accepting `*` and `mqtt:*`', () => {
    ok(validateConfig(withPolicy({ S: { operations: ['*', 'mqtt:*', 'mqtt:connect', 'mqtt:publish', 'mqtt:subscribe'], resources: ['*'] } })));
    const errs = errors(validateConfig(withPolicy({ S: { operations: ['mqtt:Publish', 'publish', 'mqtt:pub*', 'iot:*'], resources: ['*'] } })));
    assert.deepEqual(brief(errs), [0, 1, 2, 3].map((i) => ['CONFIG_UNKNOWN_OPERATION', `deviceGroups.policies.P.S.operations[${i}]`]));
    assert.equal(errs[0]!.fix, 'did you mean `mqtt:publish`?');
    assert.deepEqual(brief(errors(validateConfig(withPolicy({ S: { operations: ['mqtt:publish', 7], resources: ['*'] } })))),
      [['CONFIG_WRONG_TYPE', 'deviceGroups.policies.P.S.operations[1]']]);
  });

  it('checks resources: form, characters, variables', () => {
    const good = ['*', 'mqtt:*', 'mqtt:topic:a/b', 'mqtt:topicfilter:a/#', 'mqtt:clientId:c1', 'mqtt:topic:*/x/*', '*:x',
      `mqtt:topic:${THING}`, 'mqtt:clientId:${iot:ClientId}', 'mqtt:topic:${iot:Connection.Thing.Attributes[room]}/*', 'mqtt:topic:température',
      `${THING}*`, 'mqtt:topic:$aws/{x}'];
    const { warnings } = ok(validateConfig(withPolicy({ S: { operations: ['*'], resources: good } })));
    assert.deepEqual(warnings, []);

    const bad: [resource: string, code: string][] = [
      ['mqtt:topic:', 'CONFIG_MALFORMED_RESOURCE'],
      ['mqtt:topc:a', 'CONFIG_MALFORMED_RESOURCE'],
      ['topic:a', 'CONFIG_MALFORMED_RESOURCE'],
      ['', 'CONFIG_MALFORMED_RESOURCE'],
      ['  ', 'CONFIG_MALFORMED_RESOURCE'],
      ['mqtt:topic:a\u0000', 'CONFIG_MALFORMED_RESOURCE'],
      ['mqtt:topic:\u{1F600}', 'CONFIG_MALFORMED_RESOURCE'],
      ['MQTT:topic:a', 'CONFIG_MALFORMED_RESOURCE'],
      ['mqtt:topic:${iot:ThingName}', 'CONFIG_UNKNOWN_VARIABLE'],
      ['mqtt:topic:${iot:connection.thing.thingname}', 'CONFIG_UNKNOWN_VARIABLE'],
      ['mqtt:topic:${}', 'CONFIG_MALFORMED_VARIABLE'],
      ['mqtt:topic:${iot:ClientId', 'CONFIG_MALFORMED_VARIABLE'],
    ];
    const errs = errors(validateConfig(withPolicy({ S: { operations: ['*'], resources: bad.map(([r]) => r) } })));
    assert.deepEqual(brief(errs), bad.map(([, code], i) => [code, `deviceGroups.policies.P.S.resources[${i}]`]));
    for (const e of errs) assert.ok(e.fix, `${e.code} ${e.path} has a fix`);
    assert.match(errs[1]!.fix!, /^did you mean `mqtt:topic:a`\?/);
    // An empty name has the right prefix: the fix must not suggest the same text again.
    assert.doesNotMatch(errs[0]!.fix!, /did you mean/);
    assert.equal(errors(validateConfig(withPolicy({ S: { operations: ['*'], resources: ['mqtt:topic:${iot:ClientID}'] } })))[0]!.fix,
      'did you mean `iot:ClientId`?');
  });

  it('checks variables only where they are', () => {
    // Unlike the reference, unreferenced policies are checked too.
    const errs = errors(validateConfig(withPolicy({ S: { operations: ['*'], resources: ['*'] } }, { Spare: { S: { operations: ['*'], resources: ['mqtt:topic:${x}'] } } })));
    assert.deepEqual(brief(errs), [['CONFIG_UNKNOWN_VARIABLE', 'deviceGroups.policies.Spare.S.resources[0]']]);
  });

  it('warns about resources that cannot apply to the statement operations', () => {
    const { warnings } = ok(validateConfig(withPolicy({
      S: { operations: ['mqtt:connect'], resources: ['mqtt:topic:x', 'mqtt:clientId:x', 'mqtt:*'] },
      T: { operations: ['mqtt:publish'], resources: ['mqtt:topic:a/+/b', 'mqtt:topic:a/#', 'mqtt:topicfilter:a/+'] },
    })));
    assert.deepEqual(brief(warnings), [
      ['CONFIG_RESOURCE_NEVER_MATCHES', 'deviceGroups.policies.P.S.resources[0]'],
      ['CONFIG_RESOURCE_NEVER_MATCHES', 'deviceGroups.policies.P.T.resources[0]'],
      ['CONFIG_RESOURCE_NEVER_MATCHES', 'deviceGroups.policies.P.T.resources[1]'],
      ['CONFIG_RESOURCE_NEVER_MATCHES', 'deviceGroups.policies.P.T.resources[2]'],
    ]);
  });

  it('reports every problem at once', () => {
    const result = validateConfig({
      deviceGroups: {
        formatVersion: 'v2',
        definitions: {
          A: { selectionRule: 'thingName: a.b', policyName: 'P' },
          B: { selectionRule: 'thingName: *', policyName: 'Missing' },
          C: { selectionRule: 'thingName: *' },
        },
        policies: {
          P: { S: { effect: 'maybe', operations: ['mqtt:publsh'], resources: ['mqtt:topic:ok', 'mqtt:topic:${bad}'] } },
        },
      },
      certificates: { serverCertificateValiditySeconds: 60 },
      metrics: { disableMetrics: 'yes' },
      startupTimeoutSeconds: 'soon',
      unknown: true,
    });
    assert.deepEqual(brief(errors(result)), [
      ['CONFIG_UNKNOWN_KEY', 'unknown'],
      ['CONFIG_FORMAT_VERSION', 'deviceGroups.formatVersion'],
      ['CONFIG_INVALID_VALUE', 'deviceGroups.policies.P.S.effect'],
      ['CONFIG_UNKNOWN_OPERATION', 'deviceGroups.policies.P.S.operations[0]'],
      ['CONFIG_UNKNOWN_VARIABLE', 'deviceGroups.policies.P.S.resources[1]'],
      ['RULE_INVALID_CHARACTER', 'deviceGroups.definitions.A.selectionRule'],
      ['CONFIG_POLICY_NOT_FOUND', 'deviceGroups.definitions.B.policyName'],
      ['CONFIG_MISSING_KEY', 'deviceGroups.definitions.C.policyName'],
      ['CONFIG_OUT_OF_RANGE', 'certificates.serverCertificateValiditySeconds'],
      ['CONFIG_WRONG_TYPE', 'metrics.disableMetrics'],
      ['CONFIG_WRONG_TYPE', 'startupTimeoutSeconds'],
    ]);
  });
});

describe('validateConfig: certificate authority and gatehouse', () => {
  it('accepts a custom CA given by file URI or path, and caType as string or list', () => {
    const { config } = ok(validateConfig({
      certificateAuthority: { certificateUri: 'file:///ca/cert.pem', privateKeyUri: '/ca/key.pem', certificateChainUri: 'file:///ca/chain.pem', caType: ['RSA_2048', 'junk'] },
    }));
    assert.deepEqual(config.certificateAuthority, {
      caType: 'RSA_2048', certificateUri: 'file:///ca/cert.pem', certificateChainUri: 'file:///ca/chain.pem', privateKeyUri: '/ca/key.pem',
    });
    assert.equal(ok(validateConfig({ certificateAuthority: { caType: 'RSA_2048' } })).config.certificateAuthority.caType, 'RSA_2048');
    assert.equal(ok(validateConfig({ ca_type: ['RSA_2048'] })).config.certificateAuthority.caType, 'RSA_2048');
    // certificateAuthority.caType wins over the deprecated top-level ca_type.
    assert.equal(ok(validateConfig({ ca_type: ['RSA_2048'], certificateAuthority: { caType: ['ECDSA_P256'] } })).config.certificateAuthority.caType, 'ECDSA_P256');
    // Blank URIs count as absent.
    assert.deepEqual(ok(validateConfig({ certificateAuthority: { certificateUri: ' ', privateKeyUri: '' } })).config.certificateAuthority, { caType: 'ECDSA_P256' });
  });

  it('rejects an incomplete custom CA and unknown key types', () => {
    assert.deepEqual(brief(errors(validateConfig({ certificateAuthority: { certificateUri: 'file:///c' } }))), [['CONFIG_MISSING_KEY', 'certificateAuthority.privateKeyUri']]);
    assert.deepEqual(brief(errors(validateConfig({ certificateAuthority: { privateKeyUri: 'file:///k' } }))), [['CONFIG_MISSING_KEY', 'certificateAuthority.certificateUri']]);
    assert.deepEqual(brief(errors(validateConfig({ certificateAuthority: { certificateChainUri: 'file:///c' } }))), [['CONFIG_MISSING_KEY', 'certificateAuthority.certificateUri']]);
    const errs = errors(validateConfig({ certificateAuthority: { caType: 'rsa_2048' } }));
    assert.deepEqual(brief(errs), [['CONFIG_INVALID_VALUE', 'certificateAuthority.caType']]);
    assert.equal(errs[0]!.fix, 'did you mean `RSA_2048`?');
    assert.deepEqual(brief(errors(validateConfig({ ca_type: ['RSA_4096'] }))), [['CONFIG_INVALID_VALUE', 'ca_type[0]']]);
    // An invalid URI is reported once, not also as missing.
    const uri = errors(validateConfig({ certificateAuthority: { certificateUri: 'https://x/c.pem', privateKeyUri: 'file:///k' } }));
    assert.deepEqual(brief(uri), [['CONFIG_INVALID_VALUE', 'certificateAuthority.certificateUri']]);
    assert.equal(uri[0]!.fix, 'use `file:///path/to/file` or a plain path');
    ok(validateConfig({ certificateAuthority: { certificateUri: 'C:\\ca\\cert.pem', privateKeyUri: 'pkcs11:object=key' } }));
  });

  it('validates the gatehouse section', () => {
    const { config } = ok(validateConfig({
      gatehouse: {
        dataDir: '/var/lib/gatehouse', hostAddresses: ['gw.local', '10.0.0.1', 'fe80::1'],
        mqtt: { port: '1883', websocket: { enabled: 'true', path: '/ws' } }, api: { socketPath: '/run/g.sock' }, logging: { level: 'debug' },
      },
    }));
    assert.equal(config.gatehouse.dataDir, '/var/lib/gatehouse');
    assert.deepEqual(config.gatehouse.hostAddresses, ['gw.local', '10.0.0.1', 'fe80::1']);
    assert.equal(config.gatehouse.mqtt.port, 1883);
    assert.deepEqual(config.gatehouse.mqtt.websocket, { enabled: true, host: '0.0.0.0', port: 8443, path: '/ws' });
    assert.equal(config.gatehouse.api.socketPath, '/run/g.sock');
    assert.equal(config.gatehouse.logging.level, 'debug');

    const errs = errors(validateConfig({
      gatehouse: { hostAddresses: ['gw.local:8883 x'], mqtt: { websocket: { path: 'ws' } }, logging: { level: 'verbose' }, dataDir: '' },
    }));
    assert.deepEqual(brief(errs), [
      ['CONFIG_INVALID_VALUE', 'gatehouse.dataDir'],
      ['CONFIG_INVALID_VALUE', 'gatehouse.hostAddresses[0]'],
      ['CONFIG_INVALID_VALUE', 'gatehouse.mqtt.websocket.path'],
      ['CONFIG_INVALID_VALUE', 'gatehouse.logging.level'],
    ]);
    assert.equal(errs[2]!.fix, 'use `/ws`');
  });

  it('gatehouse.hostAddresses: what the certificate authority can issue validates, the rest is refused here, not at start', () => {
    const accepted = ['gw.local', '10.0.0.1', 'fe80::1', '[fd00::1]', 'FD00::ABCD', '*.devices.example.com', 'münchen.de', 'gw.example.com.'];
    assert.deepEqual(ok(validateConfig({ gatehouse: { hostAddresses: accepted } })).config.gatehouse.hostAddresses, accepted);
    const refused = ['1.2.3', '256.0.0.1', '01.2.3.4', '10.0.0.1:8883', '[::1]:8883', 'fe80::1%eth0', '[fd00::1', 'mqtts://gw', 'a..b', 'x.123', '2001:db8::1::2'];
    const errs = errors(validateConfig({ gatehouse: { hostAddresses: refused } }));
    assert.deepEqual(brief(errs), refused.map((_, i) => ['CONFIG_INVALID_VALUE', `gatehouse.hostAddresses[${i}]`]));
    assert.match(errs[0]!.message, /"1\.2\.3" is not a valid IPv4 address/);
    assert.match(errs[3]!.message, /includes a port/);
    for (const e of errs) assert.ok(e.fix !== undefined && e.fix.length > 0);
  });
});

describe('validateConfig: gatehouse.cluster.redis', () => {
  it('accepts a redis:// or rediss:// URL with the prefix, node name, timeouts and grace', () => {
    const { config } = ok(validateConfig({ gatehouse: { cluster: { redis: { url: 'rediss://gw@cache.example:6380/2', keyPrefix: 'site-a:', nodeName: 'node-1', connectTimeoutMs: 1000, unavailableGraceSeconds: 0, nodeTimeoutSeconds: 2 } } } }));
    assert.deepEqual(config.gatehouse.cluster.redis, { url: 'rediss://gw@cache.example:6380/2', keyPrefix: 'site-a:', nodeName: 'node-1', connectTimeoutMs: 1000, unavailableGraceSeconds: 0, nodeTimeoutSeconds: 2 });
    assert.equal(ok(validateConfig({})).config.gatehouse.cluster.redis.url, undefined, 'no cluster unless a URL is given');
  });

  it('refuses another scheme without echoing the URL, a prefix with wildcards or glob characters, and an unusable node name', () => {
    const issues = errors(validateConfig({ gatehouse: { cluster: { redis: { url: 'http://:s3cret-pw@cache/0', keyPrefix: 'a/+', nodeName: 'a/b', unavailableGraceSeconds: -1, nodeTimeoutSeconds: 1 } } } }));
    assert.deepEqual(brief(issues), [
      ['CONFIG_INVALID_VALUE', 'gatehouse.cluster.redis.url'], ['CONFIG_INVALID_VALUE', 'gatehouse.cluster.redis.keyPrefix'],
      ['CONFIG_INVALID_VALUE', 'gatehouse.cluster.redis.nodeName'], ['CONFIG_OUT_OF_RANGE', 'gatehouse.cluster.redis.unavailableGraceSeconds'],
      ['CONFIG_OUT_OF_RANGE', 'gatehouse.cluster.redis.nodeTimeoutSeconds'],
    ]);
    assert.ok(!JSON.stringify(issues).includes('s3cret-pw'));
  });
});

describe('validateConfig: gatehouse.registry', () => {
  it('accepts a postgres:// URL and the pool, timeout and grace settings', () => {
    const { config } = ok(validateConfig({ gatehouse: { registry: { url: 'postgres://gw@db.example:5432/fleet', schema: 'site_a', poolSize: 4, unavailableGraceSeconds: 0 } } }));
    assert.deepEqual(config.gatehouse.registry, {
      url: 'postgres://gw@db.example:5432/fleet', schema: 'site_a', poolSize: 4, statementTimeoutMs: 10_000, connectTimeoutMs: 5000, busyTimeoutMs: 5000, unavailableGraceSeconds: 0,
    });
    assert.equal(ok(validateConfig({})).config.gatehouse.registry.url, undefined, 'SQLite unless a URL is given');
  });

  it('refuses another scheme without echoing the URL (it may carry a password), and an unusable schema name', () => {
    const issues = errors(validateConfig({ gatehouse: { registry: { url: 'mysql://gw:s3cret-pw@db/fleet', schema: 'Bad-Name' } } }));
    assert.deepEqual(brief(issues), [['CONFIG_INVALID_VALUE', 'gatehouse.registry.url'], ['CONFIG_INVALID_VALUE', 'gatehouse.registry.schema']]);
    assert.ok(!JSON.stringify(issues).includes('s3cret-pw'));
  });
});
