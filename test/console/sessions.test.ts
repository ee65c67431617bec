/**
 * The console's session store: timeouts, the CSRF check, the bound on sessions held and
 * the sign-in rate limit, driven by the clock passed in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSessions } from '../../src/console/sessions.js';

const LIMITS = { idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 600, maxSessions: 3, signInAttemptsPerMinute: 2 };
const USER = { accessKeyId: 'AKIAEXAMPLEEXAMPLE01', arn: 'arn:aws:iam::000000000000:user/op', name: 'op' };
const GET = (now: number) => ({ stateChanging: false, touch: true, now });

test('a session is found by its token only, and its CSRF token is required for state-changing calls', () => {
  const s = new ConsoleSessions(LIMITS);
  const { token, session } = s.create(USER, 0);
  assert.deepEqual(s.check(token, undefined, GET(1)), { ok: true, sessionId: session.sessionId, accessKeyId: USER.accessKeyId });
  assert.deepEqual(s.check(token + 'x', undefined, GET(1)), { ok: false, failure: 'CONSOLE_SESSION_INVALID' });
  assert.deepEqual(s.check(session.sessionId, undefined, GET(1)), { ok: false, failure: 'CONSOLE_SESSION_INVALID' }, 'the session id is not a token');
  const post = { stateChanging: true, touch: true, now: 2 };
  assert.deepEqual(s.check(token, undefined, post), { ok: false, failure: 'CONSOLE_CSRF_MISMATCH' });
  assert.deepEqual(s.check(token, 'wrong', post), { ok: false, failure: 'CONSOLE_CSRF_MISMATCH' });
  assert.deepEqual(s.check(token, session.csrfToken.slice(1), post), { ok: false, failure: 'CONSOLE_CSRF_MISMATCH' });
  assert.equal(s.check(token, session.csrfToken, post).ok, true);
  assert.notEqual(session.csrfToken, token);
});

test('idle timeout: only the operator\'s own requests extend it, background refreshes do not', () => {
  const s = new ConsoleSessions(LIMITS);
  const { token } = s.create(USER, 0);
  assert.equal(s.check(token, undefined, { stateChanging: false, touch: false, now: 59_000 }).ok, true);
  assert.equal(s.check(token, undefined, GET(60_000)).ok, false, 'background calls did not keep it alive');
  const b = s.create(USER, 100_000).token;
  assert.equal(s.check(b, undefined, GET(150_000)).ok, true);
  assert.equal(s.check(b, undefined, GET(209_000)).ok, true, 'a use 50 s in moved the idle deadline');
  assert.equal(s.check(b, undefined, GET(269_000)).ok, false);
});

test('absolute timeout: a session used all the time still ends', () => {
  const s = new ConsoleSessions(LIMITS);
  const { token } = s.create(USER, 0);
  for (let t = 30_000; t < 600_000; t += 30_000) assert.equal(s.check(token, undefined, GET(t)).ok, true);
  assert.equal(s.check(token, undefined, GET(600_000)).ok, false);
  assert.equal(s.size, 0, 'and is dropped');
});

test('the store holds at most maxSessions: expired ones go first, then the least recently used', () => {
  const s = new ConsoleSessions(LIMITS);
  const a = s.create(USER, 0).token;
  const b = s.create(USER, 1).token;
  const c = s.create(USER, 2).token;
  assert.equal(s.check(a, undefined, GET(3)).ok, true, 'a is now the most recently used');
  const d = s.create(USER, 4).token;
  assert.equal(s.size, 3);
  assert.equal(s.check(b, undefined, GET(5)).ok, false, 'b, least recently used, was evicted');
  assert.equal(s.check(a, undefined, GET(5)).ok, true);
  assert.equal(s.check(c, undefined, GET(5)).ok, true);
  assert.equal(s.check(d, undefined, GET(5)).ok, true);
});

test('end() removes the session; info() follows it', () => {
  const s = new ConsoleSessions(LIMITS);
  const { token, session } = s.create(USER, 0);
  assert.equal(s.info(session.sessionId)?.userArn, USER.arn);
  s.end(session.sessionId);
  assert.equal(s.info(session.sessionId), undefined);
  assert.equal(s.check(token, undefined, GET(1)).ok, false);
});

test('sign-in attempts are limited per address over a sliding minute', () => {
  const s = new ConsoleSessions(LIMITS);
  assert.equal(s.admitSignIn('10.0.0.1', 0), undefined);
  assert.equal(s.admitSignIn('10.0.0.1', 10_000), undefined);
  assert.equal(s.admitSignIn('10.0.0.1', 20_000), 40, 'the third within a minute waits until the first is a minute old');
  assert.equal(s.admitSignIn('10.0.0.2', 20_000), undefined, 'another address is not held back');
  assert.equal(s.admitSignIn('10.0.0.1', 60_001), undefined);
});
