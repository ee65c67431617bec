/**
 * STS over the query protocol with the official client: AssumeRole (identity policy AND
 * trust policy, duration bounds, role chaining), the temporary credentials used for
 * other signed calls, and their expiry.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { registryBackends } from '../../helpers/registry-backends.js';
import { ACCOUNT, attachDocuments, call, REGION, startManagement, type Credentials, type Fixture } from './helpers.js';

const ROLE = (name: string): string => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const USER = (name: string): string => `arn:aws:iam::${ACCOUNT}:user/${name}`;

function client(f: Fixture, credentials: Credentials, systemClockOffset = 0): STSClient {
  return new STSClient({ endpoint: f.url, region: REGION, credentials, requestHandler: { httpsAgent: f.agent }, maxAttempts: 1, systemClockOffset });
}

function trust(principal: string | string[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: 'sts:AssumeRole', ...extra }] });
}

const allowAssume = (role: string): unknown => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: ROLE(role) }] });

async function rejects(p: Promise<unknown>, name: string, status: number): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `expected ${name}`);
  assert.equal(caught.name, name, caught.message);
  assert.equal((caught as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, status);
  return caught;
}

function temporary(out: { Credentials?: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string } }): Credentials {
  const c = out.Credentials;
  assert.ok(c?.AccessKeyId !== undefined && c.SecretAccessKey !== undefined && c.SessionToken !== undefined);
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

const backends = await registryBackends();

for (const b of backends) describe(`STS AssumeRole (${b.name})`, { skip: b.skip }, () => {
  test('assumes a role the user may assume and the role trusts; the temporary credentials sign other calls', async (t) => {
    const f = await startManagement(t, { backend: b });
    await f.control.createRole('auditor', trust(USER('alice')), { maxSessionDurationSeconds: 7200 });
    await attachDocuments(f.control, { kind: 'role', name: 'auditor' }, [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'gatehouse:ListAuditRecords', Resource: '*' }] }]);
    const alice = await f.user('alice', [allowAssume('auditor')]);
    const out = await client(f, alice).send(new AssumeRoleCommand({ RoleArn: ROLE('auditor'), RoleSessionName: 'night-shift', DurationSeconds: 7200 }));
    assert.equal(out.AssumedRoleUser?.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/auditor/night-shift`);
    assert.match(out.AssumedRoleUser?.AssumedRoleId ?? '', /^AROA[A-Z0-9]+:night-shift$/);
    assert.match(out.Credentials?.AccessKeyId ?? '', /^ASIA/);
    const expiresIn = (out.Credentials?.Expiration?.getTime() ?? 0) - Date.now();
    assert.ok(expiresIn > 7100_000 && expiresIn <= 7200_000, `expires in ${expiresIn} ms`);
    const creds = temporary(out);

    const me = await client(f, creds).send(new GetCallerIdentityCommand({}));
    assert.equal(me.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/auditor/night-shift`);
    const audit = await call(f, { path: '/gatehouse/audit?limit=5', credentials: creds });
    assert.equal(audit.status, 200, audit.body);
    // Alice herself may not read the audit log: the role may.
    assert.equal((await call(f, { path: '/gatehouse/audit?limit=5', credentials: alice })).status, 403);

    const records = await f.audit();
    const assumed = records.filter((r) => r.action === 'sts:AssumeRole' && r.principal === USER('alice'));
    assert.deepEqual(assumed.map((r) => r.reason).sort(), ['ALLOWED_BY_STATEMENT', 'ALLOWED_BY_TRUST_POLICY']);
    assert.ok(records.every((r) => !JSON.stringify(r).includes(creds.secretAccessKey) && !JSON.stringify(r).includes(creds.sessionToken!)));
  });

  test('refused: no identity policy, a trust policy that does not name the caller, a missing role — AccessDenied', async (t) => {
    const f = await startManagement(t, { backend: b });
    await f.control.createRole('ops', trust(USER('carol')));
    const bob = await f.user('bob', []);
    const e1 = await rejects(client(f, bob).send(new AssumeRoleCommand({ RoleArn: ROLE('ops'), RoleSessionName: 's1' })), 'AccessDenied', 403);
    assert.match(e1.message, new RegExp(`User: ${USER('bob')} is not authorized to perform: sts:AssumeRole on resource: ${ROLE('ops')}`));
    const dave = await f.user('dave', [allowAssume('ops'), allowAssume('ghost')]);
    await rejects(client(f, dave).send(new AssumeRoleCommand({ RoleArn: ROLE('ops'), RoleSessionName: 's1' })), 'AccessDenied', 403);
    await rejects(client(f, dave).send(new AssumeRoleCommand({ RoleArn: ROLE('ghost'), RoleSessionName: 's1' })), 'AccessDenied', 403);
    const records = await f.audit();
    assert.ok(records.some((r) => r.principal === USER('dave') && r.reason === 'NOT_TRUSTED' && r.status === 403));
    assert.ok(records.some((r) => r.principal === USER('dave') && r.reason === 'ROLE_NOT_FOUND'));
  });

  test('a trust policy condition is evaluated in the request context', async (t) => {
    const f = await startManagement(t, { backend: b });
    await f.control.createRole('agent', trust(USER('erin'), { Condition: { StringEquals: { 'aws:PrincipalTag/shift': 'night' } } }));
    const day = await f.user('erin', [allowAssume('agent')], { shift: 'day' });
    await rejects(client(f, day).send(new AssumeRoleCommand({ RoleArn: ROLE('agent'), RoleSessionName: 's1' })), 'AccessDenied', 403);
    await f.control.tagResource({ kind: 'user', name: 'erin' }, { shift: 'night' });
    const out = await client(f, day).send(new AssumeRoleCommand({ RoleArn: ROLE('agent'), RoleSessionName: 's1' }));
    assert.match(out.Credentials?.AccessKeyId ?? '', /^ASIA/);
  });

  test('DurationSeconds: 900 at least, at most the role\'s maximum, one hour when chaining roles', async (t) => {
    const f = await startManagement(t, { backend: b });
    await f.control.createRole('first', trust(USER('fay')), { maxSessionDurationSeconds: 3600 });
    await f.control.createRole('second', trust(ROLE('first')), { maxSessionDurationSeconds: 43200 });
    await attachDocuments(f.control, { kind: 'role', name: 'first' }, [allowAssume('second')]);
    const fay = await f.user('fay', [allowAssume('first')]);
    const e = await rejects(client(f, fay).send(new AssumeRoleCommand({ RoleArn: ROLE('first'), RoleSessionName: 's1', DurationSeconds: 3601 })), 'ValidationError', 400);
    assert.match(e.message, /MaxSessionDuration/);
    await rejects(client(f, fay).send(new AssumeRoleCommand({ RoleArn: ROLE('first'), RoleSessionName: 's1', DurationSeconds: 899 })), 'ValidationError', 400);
    const first = temporary(await client(f, fay).send(new AssumeRoleCommand({ RoleArn: ROLE('first'), RoleSessionName: 's1' })));
    const chained = await rejects(client(f, first).send(new AssumeRoleCommand({ RoleArn: ROLE('second'), RoleSessionName: 's2', DurationSeconds: 7200 })), 'ValidationError', 400);
    assert.match(chained.message, /role chaining/);
    const second = await client(f, first).send(new AssumeRoleCommand({ RoleArn: ROLE('second'), RoleSessionName: 's2', DurationSeconds: 3600 }));
    assert.equal(second.AssumedRoleUser?.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/second/s2`);
  });

  test('temporary credentials expire: ExpiredToken afterwards', async (t) => {
    const f = await startManagement(t, { backend: b });
    await f.control.createRole('brief', trust(USER('gus')));
    const gus = await f.user('gus', [allowAssume('brief')]);
    const creds = temporary(await client(f, gus).send(new AssumeRoleCommand({ RoleArn: ROLE('brief'), RoleSessionName: 's1', DurationSeconds: 900 })));
    assert.equal((await client(f, creds).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/brief/s1`);
    // 15 minutes and a second later, for the gateway and the client alike.
    f.clockOffsetMs = 901_000;
    await rejects(client(f, creds, 901_000).send(new GetCallerIdentityCommand({})), 'ExpiredToken', 403);
    const wrong = { ...creds, sessionToken: `${creds.sessionToken!}x` };
    await rejects(client(f, wrong, 901_000).send(new GetCallerIdentityCommand({})), 'InvalidClientTokenId', 403);
    const records = await f.audit();
    assert.ok(records.some((r) => r.reason === 'EXPIRED_SESSION_TOKEN' && r.status === 403));
  });
});
