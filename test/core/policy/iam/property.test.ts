/**
 * IAM ARNs have empty segments (`arn:aws:iam::123456789012:user/alice`) and policies
 * substitute principal variables into them: the compiled matcher must agree with a
 * naive regular-expression reference of the IAM resource rules on both.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import '../../../helpers/seed.js';
import { iamPolicies, isAllowed } from './helpers.js';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The IAM rules as a regular expression; `${aws:username}` stands for `username`, literally. */
function naiveMatch(pattern: string, arn: string, username: string | undefined): boolean {
  if (pattern === '*') return true;
  let colons = 0;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    if (pattern.startsWith('${aws:username}', i)) {
      if (username === undefined) return false;
      re += escape(username);
      i += '${aws:username}'.length - 1;
      continue;
    }
    const c = pattern[i]!;
    if (c === ':') {
      colons++;
      re += ':';
    } else if (c === '*') {
      const endsSegment = i + 1 === pattern.length || pattern[i + 1] === ':';
      re += colons < 5 && !endsSegment ? '[^:]*' : '.*';
    } else if (c === '?') {
      re += colons < 5 ? '[^:]' : '.';
    } else {
      re += escape(c);
    }
  }
  return new RegExp(`^${re}$`, 's').test(arn);
}

describe('property: IAM resource matching agrees with a naive reference', () => {
  it('on ARNs with empty region or account segments and principal variables', () => {
    const seg = fc.constantFrom('', 'a', '*', 'a*', '?', 'us-east-1', '123');
    const part = fc.constantFrom('user/', 'role/', 'a', '*', '?', ':', '${aws:username}', '/');
    const name = fc.constantFrom('', 'a', 'a:b', 'user/a', 'role/x*', 'user/a*b');
    fc.assert(fc.property(
      fc.tuple(fc.constantFrom('iam', 'iot'), seg, seg, fc.array(part, { maxLength: 5 })),
      fc.tuple(fc.constantFrom('iam', 'iot'), fc.constantFrom('', 'us-east-1'), fc.constantFrom('', '123'), name),
      fc.option(fc.constantFrom('a', 'a*', 'x?', 'a:b'), { nil: undefined }),
      ([service, region, account, rest], [rService, rRegion, rAccount, rName], username) => {
        const pattern = `arn:aws:${service}:${region}:${account}:${rest.join('')}`;
        const arn = `arn:aws:${rService}:${rRegion}:${rAccount}:${rName}`;
        const s = iamPolicies([{ Effect: 'Allow', Action: 'iam:GetUser', Resource: pattern }]);
        const ctx = username === undefined ? {} : { principal: { username } };
        assert.equal(isAllowed(s, 'iam:GetUser', arn, ctx), naiveMatch(pattern, arn, username), `${pattern} vs ${arn} (${String(username)})`);
      },
    ), { numRuns: 1500 });
  });
});
