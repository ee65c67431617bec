/** `gatehouse.sync.aws`: defaults, accepted values, and the codes and paths of bad ones. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../../src/core/config/validate.js';

const aws = (value: unknown): unknown => ({ gatehouse: { sync: { aws: value } } });

test('gatehouse.sync.aws defaults to disabled, every 300 s, every thing, pages of 100', () => {
  const r = validateConfig({});
  assert.ok(r.ok);
  assert.deepEqual(r.config.gatehouse.sync, { aws: { enabled: false, intervalSeconds: 300, thingGroups: [], pageSize: 100, requireTrustedCa: false } });
});

test('gatehouse.sync.aws takes region, profile, endpoint, CA bundle, interval, scope and page size', () => {
  const r = validateConfig(aws({
    enabled: true, region: 'eu-west-1', profile: 'fleet', endpoint: 'https://127.0.0.1:8444', caBundle: 'ca.pem', intervalSeconds: 1, thingGroups: ['site-a', 'line:1'], pageSize: 250, requireTrustedCa: true,
  }));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.deepEqual(r.config.gatehouse.sync.aws, {
    enabled: true, region: 'eu-west-1', profile: 'fleet', endpoint: 'https://127.0.0.1:8444', caBundle: 'ca.pem', intervalSeconds: 1, thingGroups: ['site-a', 'line:1'], pageSize: 250, requireTrustedCa: true,
  });
});

test('bad gatehouse.sync.aws values are refused with their path', () => {
  const cases: [unknown, string, string][] = [
    [{ region: 'Europe' }, 'CONFIG_INVALID_VALUE', 'gatehouse.sync.aws.region'],
    [{ endpoint: 'iot.example.com' }, 'CONFIG_INVALID_VALUE', 'gatehouse.sync.aws.endpoint'],
    [{ intervalSeconds: 0 }, 'CONFIG_OUT_OF_RANGE', 'gatehouse.sync.aws.intervalSeconds'],
    [{ pageSize: 251 }, 'CONFIG_OUT_OF_RANGE', 'gatehouse.sync.aws.pageSize'],
    [{ thingGroups: ['has space'] }, 'CONFIG_INVALID_VALUE', 'gatehouse.sync.aws.thingGroups[0]'],
    [{ thingGroups: 'site-a' }, 'CONFIG_WRONG_TYPE', 'gatehouse.sync.aws.thingGroups'],
    [{ enabeld: true }, 'CONFIG_UNKNOWN_KEY', 'gatehouse.sync.aws.enabeld'],
    [{ requireTrustedCa: 'yes' }, 'CONFIG_WRONG_TYPE', 'gatehouse.sync.aws.requireTrustedCa'],
  ];
  for (const [value, code, path] of cases) {
    const r = validateConfig(aws(value));
    assert.equal(r.ok, false, JSON.stringify(value));
    assert.ok(!r.ok && r.errors.some((e) => e.code === code && e.path === path), `${JSON.stringify(value)}: ${JSON.stringify(!r.ok && r.errors)}`);
  }
});
