/**
 * Resource and action matching: ARN segments, `*` and `?`, case, MQTT characters.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { iotArn } from '../../../../src/core/policy/iot/arn.js';
import { ANY, ANY_IN_SEGMENT, ONE, ONE_IN_SEGMENT, arnTokens, globMatch } from '../../../../src/core/policy/iot/glob.js';
import '../../../helpers/seed.js';
import { ARN, DEPLOYMENT, allow, allowed, policies } from './helpers.js';

const one = (resource: string, action = 'iot:Publish'): ReturnType<typeof policies> => policies([allow(action, resource)]);

describe('request ARNs', () => {
  it('are built from the deployment', () => {
    assert.equal(iotArn(DEPLOYMENT, 'client', 'a:b'), 'arn:aws:iot:us-east-1:123456789012:client/a:b');
    assert.equal(iotArn({ partition: 'aws-cn', region: 'cn-north-1', accountId: '1' }, 'topicfilter', 'a/#'), 'arn:aws-cn:iot:cn-north-1:1:topicfilter/a/#');
  });
});

describe('resource wildcards', () => {
  it('`*` matches any run, including none and including `/`; `x/*` does not match `x`', () => {
    const s = one(`${ARN}:topic/sensors/*`);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/sensors/a/b/c`));
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/sensors/`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/sensors`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/other/a`));
  });

  it('`?` matches exactly one character, `/` included', () => {
    const s = one(`${ARN}:topic/a?c`);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/abc`));
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/a/c`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/ac`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/abbc`));
  });

  it('a middle `*` backtracks', () => {
    const s = one(`${ARN}:topic/a/*/end`);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/a/x/end/y/end`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/a/x/end/y`));
  });

  it('resources are case-sensitive', () => {
    const s = one(`${ARN}:topic/Sensors`);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/Sensors`));
    assert.ok(!allowed(s, 'iot:Publish', `${ARN}:topic/sensors`));
    assert.ok(!allowed(one(`${ARN}:Topic/Sensors`), 'iot:Publish', `${ARN}:topic/Sensors`));
  });

  it('`*` alone matches every resource', () => {
    assert.ok(allowed(one('*'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(allowed(one('*'), 'iot:Publish', 'anything'));
  });
});

describe('ARN segments', () => {
  it('another partition, region or account does not match', () => {
    assert.ok(!allowed(one('arn:aws-cn:iot:us-east-1:123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(!allowed(one('arn:aws:iot:eu-west-1:123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(!allowed(one('arn:aws:iot:us-east-1:999999999999:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
  });

  it('a wildcard inside a segment stays in it; a `*` ending a segment may run past colons', () => {
    assert.ok(allowed(one('arn:aws:iot:us-*-1:123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(allowed(one('arn:aws:iot:*:123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(allowed(one('arn:aws:iot:us-east-1:*'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(allowed(one('arn:aws:iot:*'), 'iot:Publish', `${ARN}:topic/x`));
    // `us-*1` cannot swallow `us-east-1:123456789012:topic/x1`... the segment wildcard stops at `:`.
    assert.ok(!allowed(one('arn:aws:iot:u*t:123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(!allowed(one('arn:aws:iot:us-eas?1:123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(allowed(one('arn:aws:iot:us-east-?:123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
    // A `*` inside a segment cannot cross a colon into the next segments.
    assert.ok(allowed(one('arn:aws:iot:us-e*1:123456789012:client/x', 'iot:Connect'), 'iot:Connect', `${ARN}:client/x`));
    assert.ok(!allowed(one('arn:aws:iot:us-e*1:123456789012:client/x', 'iot:Connect'), 'iot:Connect', 'arn:aws:iot:us-e:9:1:123456789012:client/x'));
    // `?` in a segment never matches a colon.
    assert.ok(!allowed(one('arn:aws:iot:us-east-1?123456789012:topic/x'), 'iot:Publish', `${ARN}:topic/x`));
  });

  it('the resource part is one segment: client IDs and topics may contain `:`', () => {
    assert.ok(allowed(one(`${ARN}:client/urn:dev:*`, 'iot:Connect'), 'iot:Connect', `${ARN}:client/urn:dev:1`));
    assert.ok(allowed(one(`${ARN}:client/u*1`, 'iot:Connect'), 'iot:Connect', `${ARN}:client/urn:dev:1`));
    assert.ok(allowed(one(`${ARN}:topic/a?b`), 'iot:Publish', `${ARN}:topic/a:b`));
  });

  it('`…:topic*` is a prefix, not a type check: it also covers topicfilter/', () => {
    const s = one(`${ARN}:topic*`, 'iot:Subscribe');
    assert.ok(allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/a/#`));
  });
});

describe('MQTT characters are literal in policies', () => {
  it('a SUBSCRIBE is authorized by its filter string against topicfilter/ patterns', () => {
    const s = one(`${ARN}:topicfilter/some/+/topic`, 'iot:Subscribe');
    assert.ok(allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/some/+/topic`));
    assert.ok(!allowed(s, 'iot:Subscribe', `${ARN}:topicfilter/some/x/topic`));
    const h = one(`${ARN}:topicfilter/a/#`, 'iot:Subscribe');
    assert.ok(allowed(h, 'iot:Subscribe', `${ARN}:topicfilter/a/#`));
    assert.ok(!allowed(h, 'iot:Subscribe', `${ARN}:topicfilter/a/b`));
    const star = one(`${ARN}:topicfilter/a/*`, 'iot:Subscribe');
    for (const f of ['a/#', 'a/+', 'a/b/c']) assert.ok(allowed(star, 'iot:Subscribe', `${ARN}:topicfilter/${f}`), f);
    assert.ok(allowed(one(`${ARN}:topicfilter/*`, 'iot:Subscribe'), 'iot:Subscribe', `${ARN}:topicfilter/#`));
  });

  it('a topic/ grant never covers topicfilter/ and the reverse', () => {
    assert.ok(!allowed(one(`${ARN}:topic/a/*`, 'iot:Subscribe'), 'iot:Subscribe', `${ARN}:topicfilter/a/b`));
    assert.ok(!allowed(one(`${ARN}:topicfilter/a/*`), 'iot:Publish', `${ARN}:topic/a/b`));
  });

  it('`$` is literal', () => {
    const s = one(`${ARN}:topic/$aws/things/dev1/shadow/update`);
    assert.ok(allowed(s, 'iot:Publish', `${ARN}:topic/$aws/things/dev1/shadow/update`));
  });
});

describe('actions', () => {
  it('compare case-insensitively, with `*` and `?`', () => {
    assert.ok(allowed(one('*', 'IOT:PUBLISH'), 'iot:publish', `${ARN}:topic/x`));
    assert.ok(allowed(one('*', 'iot:?ublish'), 'iot:Publish', `${ARN}:topic/x`));
    assert.ok(allowed(one('*', 'iot:*'), 'iot:Receive', `${ARN}:topic/x`));
    assert.ok(allowed(one('*', '*'), 'iot:Receive', `${ARN}:topic/x`));
    assert.ok(!allowed(one('*', 'iot:Publish*'), 'iot:RetainPublish', `${ARN}:topic/x`));
    assert.ok(allowed(one('*', 'iot:*Publish'), 'iot:RetainPublish', `${ARN}:topic/x`));
    assert.ok(!allowed(one('*', 'greengrass:*'), 'iot:Publish', `${ARN}:topic/x`));
  });

  it('iot: and iotjobsdata: job actions are distinct strings', () => {
    assert.ok(!allowed(one('*', 'iot:*'), 'iotjobsdata:DescribeJobExecution', `${ARN}:thing/dev1`));
    assert.ok(allowed(one('*', 'iotjobsdata:*'), 'iotjobsdata:DescribeJobExecution', `${ARN}:thing/dev1`));
    assert.ok(allowed(one('*', 'iot:DescribeJobExecution'), 'iot:describejobexecution', `${ARN}:thing/dev1`));
  });

  it('an action outside the known list is still decided by its statements', () => {
    assert.ok(allowed(one('*', 'iot:Future*'), 'iot:FutureThing', `${ARN}:x`));
    assert.ok(!allowed(one('*', 'iot:Publish'), 'iot:FutureThing', `${ARN}:x`));
  });
});

describe('segment-confined wildcards and long topics', () => {
  /** The same matching rules written as a regular expression (short inputs only). */
  function oracle(tokens: readonly number[], s: string): boolean {
    const body = tokens.map((t) => (t === ANY ? '[\\s\\S]*' : t === ANY_IN_SEGMENT ? '[^:]*' : t === ONE ? '[\\s\\S]' : t === ONE_IN_SEGMENT ? '[^:]' : String.fromCharCode(t).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
    return new RegExp(`^${body}$`).test(s);
  }

  it('the matcher agrees with a regular expression of the same rules', () => {
    fc.assert(fc.property(fc.stringMatching(/^[ab:*?]{0,14}$/), fc.stringMatching(/^[ab:]{0,14}$/), (pattern, subject) => {
      const { tokens } = arnTokens(pattern, 0);
      assert.equal(globMatch(tokens, subject), oracle(tokens, subject), `${pattern} against ${subject}`);
    }), { numRuns: 3000 });
  });

  it('a long topic costs little against patterns that stop matching early', () => {
    // A region wildcard inside its segment (`us-*-1`) makes every entry use the general matcher.
    const entries = Array.from({ length: 30 }, (_, i) => `arn:aws:iot:us-*-1:123456789012:topic/x${i}*y*z`);
    const set = policies([allow('iot:Publish', entries)]);
    const topic = `x1${'y'.repeat(250_000)}`;
    const started = process.hrtime.bigint();
    assert.ok(!allowed(set, 'iot:Publish', `${ARN}:topic/${topic}`));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(ms < 400, `one decision took ${Math.round(ms)} ms: entries that cannot match any more must stop scanning`);
  });
});
