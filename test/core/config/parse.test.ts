import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatFromName, parseConfig, parseConfigDocument } from '../../../src/core/config/parse.js';
import type { ValidationResult } from '../../../src/core/config/validate.js';
import type { ConfigIssue } from '../../../src/core/errors.js';
import { compileDeviceGroups } from '../../../src/core/policy/compile.js';
import type { GatehouseConfig } from '../../../src/core/config/types.js';

function value(text: string, format: 'yaml' | 'json' = 'yaml'): unknown {
  const r = parseConfigDocument(text, format);
  if (!r.ok) assert.fail(`expected ${JSON.stringify(text)} to parse: ${JSON.stringify(r.errors)}`);
  return r.value;
}

function syntaxErrors(text: string, format: 'yaml' | 'json' = 'yaml'): ConfigIssue[] {
  const r = parseConfigDocument(text, format);
  if (r.ok) assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
  // parseConfig reports the same errors.
  const full = parseConfig(text, format);
  assert.equal(full.ok, false);
  assert.deepEqual(full.ok ? [] : full.errors, r.errors);
  return r.errors;
}

function ok(result: ValidationResult): GatehouseConfig {
  return valid(result).config;
}

function valid(result: ValidationResult): Extract<ValidationResult, { ok: true }> {
  if (!result.ok) assert.fail(`expected a valid configuration, got ${JSON.stringify(result.errors, null, 1)}`);
  return result;
}

describe('formatFromName', () => {
  it('reads .json as JSON and everything else as YAML', () => {
    assert.equal(formatFromName('gatehouse.json'), 'json');
    assert.equal(formatFromName('/etc/GATEHOUSE.JSON'), 'json');
    assert.equal(formatFromName('gatehouse.yaml'), 'yaml');
    assert.equal(formatFromName('gatehouse.yml'), 'yaml');
    assert.equal(formatFromName('config'), 'yaml');
    assert.equal(formatFromName('a.json.bak'), 'yaml');
  });
});

describe('parseConfigDocument', () => {
  it('reads YAML 1.2 with the core schema', () => {
    assert.deepEqual(value('a: yes\nb: on\nc: no\nd: Off\ne: y'), { a: 'yes', b: 'on', c: 'no', d: 'Off', e: 'y' });
    assert.deepEqual(value('a: 017\nb: 0o17\nc: 0x10\nd: 1_000\ne: "42"\nf: ~\ng: true'), { a: 17, b: 15, c: 16, d: '1_000', e: '42', f: null, g: true });
    assert.deepEqual(value('f: 2021-03-05'), { f: '2021-03-05' });
  });

  it('reads JSON with the JSON schema', () => {
    assert.deepEqual(value('{"a": [1, "x", true, null], "b": {"c": 1.5}}', 'json'), { a: [1, 'x', true, null], b: { c: 1.5 } });
    const [err] = syntaxErrors('{"a": yes}', 'json');
    assert.equal(err!.code, 'CONFIG_SYNTAX');
    assert.match(err!.message, /^JSON syntax error: /);
    assert.deepEqual([err!.line, err!.column], [1, 7]);
  });

  it('returns null for an empty document', () => {
    assert.equal(value(''), null);
    assert.equal(value('# only a comment\n'), null);
  });

  it('reports duplicate keys in YAML with line and column', () => {
    const errs = syntaxErrors('metrics:\n  disableMetrics: true\n  disableMetrics: false\n');
    assert.deepEqual(errs, [{
      code: 'CONFIG_DUPLICATE_KEY', path: '', message: 'a key appears twice in the same mapping', fix: 'keep one of the two entries', line: 3, column: 3,
    }]);
    const top = syntaxErrors('deviceGroups: {}\nmetrics: {}\ndeviceGroups: {}\n');
    assert.deepEqual(top.map((e) => [e.code, e.line, e.column]), [['CONFIG_DUPLICATE_KEY', 3, 1]]);
  });

  it('reports duplicate keys in JSON with line and column', () => {
    const errs = syntaxErrors('{\n  "deviceGroups": {\n    "definitions": {},\n    "definitions": {}\n  }\n}', 'json');
    assert.deepEqual(errs.map((e) => [e.code, e.path, e.line, e.column]), [['CONFIG_DUPLICATE_KEY', '', 4, 5]]);
    assert.ok(errs[0]!.fix);
  });

  it('finds JSON duplicates however the key is escaped, at any depth, and ignores braces and colons inside strings', () => {
    const errs = syntaxErrors('{"a": 1, "\\u0061": 2}', 'json');
    assert.deepEqual(errs.map((e) => [e.code, e.line, e.column]), [['CONFIG_DUPLICATE_KEY', 1, 10]]);
    const deep = syntaxErrors('{"x": [{"k": "{", "v": ":"}, {"k": 1, "k": 2}],\n "y": {"z": {"q": 1, "q": 1}}}', 'json');
    assert.deepEqual(deep.map((e) => [e.code, e.line, e.column]), [['CONFIG_DUPLICATE_KEY', 1, 39], ['CONFIG_DUPLICATE_KEY', 2, 22]]);
    // The same key in sibling or nested objects is not a duplicate.
    assert.deepEqual(value('{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}', 'json'), { a: { a: { a: 1 } }, b: [{ a: 1 }, { a: 2 }] });
  });

  it('finds every YAML duplicate, in block and flow mappings', () => {
    const errs = syntaxErrors('a: 1\nb: {x: 1, x: 2}\na: 3\n');
    assert.deepEqual(errs.map((e) => [e.code, e.line, e.column]), [['CONFIG_DUPLICATE_KEY', 2, 11], ['CONFIG_DUPLICATE_KEY', 3, 1]]);
  });

  it('reports syntax errors with line, column and a one-line message', () => {
    const errs = syntaxErrors('certificates:\n  serverCertificateValiditySeconds: [1\n');
    assert.equal(errs[0]!.code, 'CONFIG_SYNTAX');
    assert.equal(errs[0]!.path, '');
    assert.match(errs[0]!.message, /^YAML syntax error: /);
    assert.doesNotMatch(errs[0]!.message, /\n|at line/);
    assert.equal(errs[0]!.line, 3);
    assert.equal(errs[0]!.column, 1);
    assert.ok(errs[0]!.fix);

    const [json] = syntaxErrors('{"a": 1', 'json');
    assert.deepEqual([json!.code, json!.line, json!.column], ['CONFIG_SYNTAX', 1, 8]);
    const [tab] = syntaxErrors('\t a: 1');
    assert.deepEqual([tab!.code, tab!.line, tab!.column], ['CONFIG_SYNTAX', 1, 1]);
  });

  it('reports several syntax errors at once', () => {
    const errs = syntaxErrors('a: [1\nb: {2\n');
    assert.deepEqual(errs.map((e) => [e.code, e.line]), [['CONFIG_SYNTAX', 2], ['CONFIG_SYNTAX', 3]]);
  });

  it('rejects unknown tags and alias bombs', () => {
    const [tag] = syntaxErrors('a: !secret x');
    assert.equal(tag!.code, 'CONFIG_SYNTAX');
    assert.match(tag!.message, /!secret/);
    assert.deepEqual([tag!.line, tag!.column], [1, 4]);

    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x]'];
    for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c']]) bomb.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    bomb.push(`e: [${Array(9).fill('*d').join(',')}]`);
    const [alias] = syntaxErrors(bomb.join('\n'));
    assert.equal(alias!.code, 'CONFIG_SYNTAX');
    assert.match(alias!.message, /alias/i);
  });

  it('accepts a few aliases', () => {
    assert.deepEqual(value('ops: &ops ["mqtt:publish"]\nother: *ops'), { ops: ['mqtt:publish'], other: ['mqtt:publish'] });
  });
});

describe('parseConfig', () => {
  it('validates what it parses, with defaults', () => {
    const config = ok(parseConfig('certificates:\n  serverCertificateValiditySeconds: "172800"\nsecurity:\n  clientDeviceTrustDurationMinutes: 017\n'));
    assert.equal(config.certificates.serverCertificateValiditySeconds, 172800);
    assert.equal(config.security.clientDeviceTrustDurationMinutes, 17);
    assert.equal(config.metrics.aggregatePeriodSeconds, 3600);
    assert.deepEqual(ok(parseConfig('')).deviceGroups, { formatVersion: '2021-03-05', definitions: {}, policies: {} });
  });

  it('keeps YAML `yes` a string, which is the wrong type for a boolean', () => {
    const r = parseConfig('metrics:\n  disableMetrics: yes\n');
    assert.equal(r.ok, false);
    assert.deepEqual(r.ok ? [] : r.errors.map((e) => [e.code, e.path]), [['CONFIG_WRONG_TYPE', 'metrics.disableMetrics']]);
  });

  it('rejects a document that is a scalar or a list', () => {
    for (const text of ['just text', '- a\n- b']) {
      const r = parseConfig(text);
      assert.deepEqual(r.ok ? [] : r.errors.map((e) => e.code), ['CONFIG_NOT_AN_OBJECT']);
    }
  });

  it('accepts a selection rule written as a YAML block scalar (trailing newline)', () => {
    const result = valid(parseConfig([
      'deviceGroups:',
      '  definitions:',
      '    Sensors:',
      '      selectionRule: |',
      '        thingName: sensor*',
      '        OR thingName: probe*',
      '      policyName: P',
      '  policies:',
      '    P:',
      '      Publish:',
      '        operations: [mqtt:publish]',
      '        resources: ["mqtt:topic:${iot:Connection.Thing.ThingName}/*"]',
      '',
    ].join('\n')));
    const snap = compileDeviceGroups(result.deviceGroups);
    assert.equal(snap.decide({ thingName: 'probe7' }, 'mqtt:publish', 'mqtt:topic:probe7/t').allowed, true);
    assert.equal(snap.decide({ thingName: 'probe7' }, 'mqtt:publish', 'mqtt:topic:sensor1/t').allowed, false);
  });

  it('reports where a JSON configuration is wrong', () => {
    const r = parseConfig('{"deviceGroups": {"definitions": {"G": {"selectionRule": "thingName: *", "policyName": "P"}}, "policies": {"P": {"S": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:a", "mqtt:topic:${iot:Thing}"]}}}}}', 'json');
    assert.deepEqual(r.ok ? [] : r.errors.map((e) => [e.code, e.path]), [['CONFIG_UNKNOWN_VARIABLE', 'deviceGroups.policies.P.S.resources[1]']]);
  });
});

// The three examples of the Greengrass client device auth documentation (v2.5.0,
// "Configuration merge update"), verbatim.
const RESTRICTIVE = '{ "deviceGroups": { "formatVersion": "2021-03-05", "definitions": { "MyDeviceGroup": { "selectionRule": "thingName: MyClientDevice*", "policyName": "MyRestrictivePolicy" } }, "policies": { "MyRestrictivePolicy": { "AllowConnect": { "statementDescription": "Allow client devices to connect.", "operations": [ "mqtt:connect" ], "resources": [ "*" ] }, "AllowPublish": { "statementDescription": "Allow client devices to publish on test/topic.", "operations": [ "mqtt:publish" ], "resources": [ "mqtt:topic:test/topic" ] }, "AllowSubscribe": { "statementDescription": "Allow client devices to subscribe to test/topic/response.", "operations": [ "mqtt:subscribe" ], "resources": [ "mqtt:topicfilter:test/topic/response" ] } } } } }';
const PERMISSIVE = '{ "deviceGroups": { "formatVersion": "2021-03-05", "definitions": { "MyPermissiveDeviceGroup": { "selectionRule": "thingName: *", "policyName": "MyPermissivePolicy" } }, "policies": { "MyPermissivePolicy": { "AllowAll": { "statementDescription": "Allow client devices to perform all actions.", "operations": [ "*" ], "resources": [ "*" ] } } } } }';
const THING_NAME = '{ "deviceGroups": { "formatVersion": "2021-03-05", "definitions": { "myThing": { "selectionRule": "thingName: *", "policyName": "MyThingNamePolicy" } }, "policies": { "MyThingNamePolicy": { "policyStatement": { "statementDescription": "mqtt publish", "operations": [ "mqtt:publish" ], "resources": [ "mqtt:topic:${iot:Connection.Thing.ThingName}/*/topic" ] } } } } }';

describe('the reference documentation examples', () => {
  for (const [name, text] of [['restrictive', RESTRICTIVE], ['permissive', PERMISSIVE], ['thing name', THING_NAME]] as const) {
    it(`${name}: validates as JSON and as YAML, without warnings`, () => {
      for (const format of ['json', 'yaml'] as const) {
        const r = parseConfig(text, format);
        assert.equal(r.ok, true, `${format}: ${JSON.stringify(r)}`);
        assert.deepEqual(r.warnings, []);
      }
    });
  }

  it('restrictive: MyClientDevice* may connect, publish on test/topic and subscribe to test/topic/response', () => {
    const snap = compileDeviceGroups(valid(parseConfig(RESTRICTIVE, 'json')).deviceGroups);
    const dev = { thingName: 'MyClientDevice1' };
    assert.equal(snap.decide(dev, 'mqtt:connect', 'mqtt:clientId:MyClientDevice1').reason, 'ALLOWED_BY_STATEMENT');
    assert.equal(snap.decide(dev, 'mqtt:publish', 'mqtt:topic:test/topic').statement, 'AllowPublish');
    assert.equal(snap.decide(dev, 'mqtt:subscribe', 'mqtt:topicfilter:test/topic/response').statement, 'AllowSubscribe');
    assert.equal(snap.decide(dev, 'mqtt:publish', 'mqtt:topic:test/topic/response').reason, 'NO_MATCHING_STATEMENT');
    assert.equal(snap.decide(dev, 'mqtt:subscribe', 'mqtt:topicfilter:test/topic').reason, 'NO_MATCHING_STATEMENT');
    assert.equal(snap.decide(dev, 'mqtt:subscribe', 'mqtt:topicfilter:test/#').reason, 'NO_MATCHING_STATEMENT');
    assert.equal(snap.decide({ thingName: 'MyClientDevice' }, 'mqtt:connect', 'mqtt:clientId:MyClientDevice').allowed, true);
    assert.equal(snap.decide({ thingName: 'OtherDevice' }, 'mqtt:connect', 'mqtt:clientId:OtherDevice').reason, 'NO_GROUP_SELECTS_THING');
    assert.equal(snap.decide({ thingName: 'myclientdevice1' }, 'mqtt:connect', 'mqtt:clientId:myclientdevice1').reason, 'NO_GROUP_SELECTS_THING');
  });

  it('permissive: every device may do everything', () => {
    const snap = compileDeviceGroups(valid(parseConfig(PERMISSIVE, 'json')).deviceGroups);
    for (const thing of ['a', 'MyClientDevice1', 'x:y']) {
      assert.equal(snap.decide({ thingName: thing }, 'mqtt:connect', `mqtt:clientId:${thing}`).allowed, true);
      assert.equal(snap.decide({ thingName: thing }, 'mqtt:publish', 'mqtt:topic:any/topic').allowed, true);
      assert.equal(snap.decide({ thingName: thing }, 'mqtt:subscribe', 'mqtt:topicfilter:#').allowed, true);
    }
  });

  it('thing name: a device publishes on topics that begin with its name and end with `topic`', () => {
    const snap = compileDeviceGroups(valid(parseConfig(THING_NAME, 'json')).deviceGroups);
    const dev = { thingName: 'MyThing' };
    assert.equal(snap.decide(dev, 'mqtt:publish', 'mqtt:topic:MyThing/a/topic').allowed, true);
    assert.equal(snap.decide(dev, 'mqtt:publish', 'mqtt:topic:MyThing/a/b/topic').allowed, true);
    assert.equal(snap.decide(dev, 'mqtt:publish', 'mqtt:topic:MyThing//topic').allowed, true);
    assert.equal(snap.decide(dev, 'mqtt:publish', 'mqtt:topic:MyThing/a/topics').allowed, false);
    assert.equal(snap.decide(dev, 'mqtt:publish', 'mqtt:topic:OtherThing/a/topic').reason, 'NO_MATCHING_STATEMENT');
    // The example grants nothing else, not even connect.
    assert.equal(snap.decide(dev, 'mqtt:connect', 'mqtt:clientId:MyThing').reason, 'NO_MATCHING_STATEMENT');
    assert.equal(snap.decide(dev, 'mqtt:subscribe', 'mqtt:topicfilter:MyThing/a/topic').reason, 'NO_MATCHING_STATEMENT');
  });
});
