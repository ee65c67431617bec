/** The strict reader of IAM's XML answers used by the remote `gatehouse iam` commands. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fields, iamResult } from '../../src/cli/remote/iam.js';
import { CliError } from '../../src/cli/output.js';

const wrap = (action: string, result: string): string =>
  `<?xml version="1.0"?>\n<${action}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">\n  <${action}Result>${result}</${action}Result>\n  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n</${action}Response>\n`;

function protocolError(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof CliError && e.code === 'REMOTE_PROTOCOL_ERROR');
}

describe('iamResult', () => {
  test('reads fields, members with nested tags, self-closing elements, entities and URL-encoded documents', () => {
    const r = iamResult(wrap('GetRole', '<Role><RoleName>a&amp;b</RoleName><AssumeRolePolicyDocument>%7B%22a%22%3A1%7D</AssumeRolePolicyDocument>'
      + '<Tags><member><Key>k</Key><Value>&lt;v&gt;</Value></member><member><Key>e</Key><Value></Value></member></Tags><RoleLastUsed/><Empty /></Role>'), 'GetRole');
    const f = new Fields(r.node('Role')!, 'GetRole');
    assert.equal(f.req('RoleName'), 'a&b');
    assert.equal(f.document('AssumeRolePolicyDocument'), '{"a":1}');
    assert.deepEqual(f.tags(), { k: '<v>', e: '' });
    assert.equal(f.opt('RoleLastUsed'), '');
    assert.equal(f.opt('Empty'), '');
  });

  test('an answer that is not the expected XML is REMOTE_PROTOCOL_ERROR', () => {
    protocolError(() => iamResult(wrap('GetUser', '<User/>'), 'GetRole'));
    // Elements are read as far as they are used: a broken one fails when it is read.
    protocolError(() => new Fields(iamResult(wrap('GetRole', '<Role><RoleName>x</Role>'), 'GetRole').node('Role')!, 'GetRole'));
    protocolError(() => iamResult(wrap('GetRole', '<Role>'), 'GetRole'));
    protocolError(() => iamResult(wrap('GetRole', 'loose text<Role/>'), 'GetRole'));
    protocolError(() => iamResult(wrap('GetRole', '<Role/>') + '<Other/>', 'GetRole'));
    protocolError(() => iamResult('{"not":"xml"}', 'GetRole'));
    const f = iamResult(wrap('GetRole', '<RoleName>a&nbsp;b</RoleName><Doc>%E0%A4%A</Doc><Nested><X>1</X></Nested>'), 'GetRole');
    protocolError(() => f.req('RoleName'));
    protocolError(() => f.document('Doc'));
    protocolError(() => f.req('Nested'));
    protocolError(() => f.req('Missing'));
  });
});
