/**
 * The split between what a cluster shares and what each node keeps: the node's file with
 * `gatehouse.cluster.config.source: registry` must not hold the shared sections, and a
 * document pushed to the cluster must hold nothing else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { localKeyErrors, mergeSharedConfig } from '../../../src/core/config/cluster.js';
import { validateConfig, type ValidationResult } from '../../../src/core/config/validate.js';
import type { GatehouseConfig } from '../../../src/core/config/types.js';
import type { ConfigIssue } from '../../../src/core/errors.js';

const URL = 'postgres://gw@db.example:5432/fleet';

function ok(result: ValidationResult): GatehouseConfig {
  if (!result.ok) assert.fail(`expected a valid configuration, got ${JSON.stringify(result.errors)}`);
  return result.config;
}
const brief = (issues: readonly ConfigIssue<string>[]): [string, string][] => issues.map((i) => [i.code, i.path]);

describe('gatehouse.cluster', () => {
  it('defaults: the node file is the source, the gateway CA must be the cluster\'s, no Redis', () => {
    const redis = { keyPrefix: 'gatehouse:', connectTimeoutMs: 5000, unavailableGraceSeconds: 30, nodeTimeoutSeconds: 60 };
    assert.deepEqual(ok(validateConfig({})).gatehouse.cluster, { config: { source: 'file' }, ca: { requireShared: true }, redis });
    const c = ok(validateConfig({ gatehouse: { registry: { url: URL }, cluster: { config: { source: 'registry' }, ca: { requireShared: false } } } }));
    assert.deepEqual(c.gatehouse.cluster, { config: { source: 'registry' }, ca: { requireShared: false }, redis });
  });

  it('refuses an unknown source, unknown keys, and the registry source without a shared registry', () => {
    const r = validateConfig({ gatehouse: { cluster: { config: { source: 'redis', other: 1 }, ca: { shared: true } } } });
    assert.ok(!r.ok);
    assert.deepEqual(brief(r.errors), [
      ['CONFIG_UNKNOWN_KEY', 'gatehouse.cluster.config.other'],
      ['CONFIG_UNKNOWN_KEY', 'gatehouse.cluster.ca.shared'],
      ['CONFIG_INVALID_VALUE', 'gatehouse.cluster.config.source'],
    ].sort((a, b) => r.errors.findIndex((e) => e.path === a[1]) - r.errors.findIndex((e) => e.path === b[1])) as [string, string][]);
    const noUrl = validateConfig({ gatehouse: { cluster: { config: { source: 'registry' } } } });
    assert.ok(!noUrl.ok);
    assert.deepEqual(brief(noUrl.errors), [['CONFIG_MISSING_KEY', 'gatehouse.registry.url']]);
  });

  it("refuses the shared sections in a node's file that takes them from the registry", () => {
    const r = validateConfig({
      deviceGroups: { definitions: {} },
      Security: { clientDeviceTrustDurationMinutes: 5 },
      gatehouse: { iot: { region: 'eu-west-1' }, registry: { url: URL }, cluster: { config: { source: 'registry' } } },
    });
    assert.ok(!r.ok);
    assert.deepEqual(brief(r.errors), [
      ['CONFIG_CLUSTER_SHARED_KEY', 'deviceGroups'],
      ['CONFIG_CLUSTER_SHARED_KEY', 'security'],
      ['CONFIG_CLUSTER_SHARED_KEY', 'gatehouse.iot'],
    ]);
    // The same file with the node file as the source is valid.
    ok(validateConfig({ deviceGroups: { definitions: {} }, gatehouse: { iot: { region: 'eu-west-1' }, registry: { url: URL } } }));
  });
});

describe('a document pushed to the cluster', () => {
  it('may hold deviceGroups, security and gatehouse.iot (in any letter case the validator reads), and keys it drops', () => {
    assert.deepEqual(localKeyErrors({ deviceGroups: {}, SECURITY: {}, gatehouse: { iot: {} }, _note: 'x' }), []);
    assert.deepEqual(localKeyErrors(null), []);
    assert.deepEqual(localKeyErrors({ gatehouse: null }), []);
  });

  it("refuses every node's own key with its path", () => {
    const errors = localKeyErrors({
      deviceGroups: {}, certificateAuthority: { certificateUri: '/ca.pem' }, performance: {}, startupTimeoutSeconds: 5,
      gatehouse: { iot: {}, mqtt: { port: 1 }, registry: { url: URL }, dataDir: '/x' },
    });
    assert.deepEqual(brief(errors), [
      ['CONFIG_CLUSTER_LOCAL_KEY', 'certificateAuthority'],
      ['CONFIG_CLUSTER_LOCAL_KEY', 'performance'],
      ['CONFIG_CLUSTER_LOCAL_KEY', 'startupTimeoutSeconds'],
      ['CONFIG_CLUSTER_LOCAL_KEY', 'gatehouse.mqtt'],
      ['CONFIG_CLUSTER_LOCAL_KEY', 'gatehouse.registry'],
      ['CONFIG_CLUSTER_LOCAL_KEY', 'gatehouse.dataDir'],
    ]);
    assert.ok(errors.every((e) => e.fix !== undefined));
    assert.ok(!JSON.stringify(errors).includes(URL), 'values are never echoed');
  });

  it("replaces the node's shared sections and keeps its own", () => {
    const local = ok(validateConfig({ gatehouse: { mqtt: { port: 9999 }, hostAddresses: ['node1.example'], registry: { url: URL } } }));
    const shared = ok(validateConfig({
      deviceGroups: { definitions: { G: { selectionRule: 'thingName: *', policyName: 'P' } }, policies: { P: {} } },
      security: { clientDeviceTrustDurationMinutes: 7 },
      gatehouse: { iot: { region: 'eu-west-1', accountId: '123456789012' } },
    }));
    const merged = mergeSharedConfig(local, shared);
    assert.deepEqual(Object.keys(merged.deviceGroups.definitions), ['G']);
    assert.equal(merged.security.clientDeviceTrustDurationMinutes, 7);
    assert.deepEqual(merged.gatehouse.iot, { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' });
    assert.equal(merged.gatehouse.mqtt.port, 9999);
    assert.deepEqual(merged.gatehouse.hostAddresses, ['node1.example']);
    assert.equal(merged.gatehouse.registry.url, URL);
    assert.ok(Object.isFrozen(merged) && Object.isFrozen(merged.gatehouse));
  });
});
